"""Checks of ``01_cnn_features``: Caffe preprocessing, a convolution, max and average pooling."""

from __future__ import annotations

import functools
import itertools
from typing import Callable

import numpy as np

from .core import Case, constant, load_tf, seeded_rng
from .runner import run_cases


def preprocess(fn) -> None:
    """Check ``preprocess(image) -> x``: Caffe preprocessing of ``[1, H, W, 3]`` images in [0, 1].

    RGB -> BGR (reverse the last axis), ×255, minus :data:`nstutils.vgg19.CAFFE_MEAN_BGR`; the
    result must be a tensor the gradient flows through (style transfer differentiates through it).
    """
    from nstutils.vgg19 import CAFFE_MEAN_BGR, preprocess as reference

    mean = CAFFE_MEAN_BGR.astype(np.float64)
    hand = np.array([[[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 1, 1], [0, 0, 0], [0.5, 0.5, 0.5]]]], np.float32)
    images = [("a 2×3 image of red, green, blue, white, black and grey pixels", hand),
              ("a random 4×5 image", seeded_rng(1).random((1, 4, 5, 3), np.float32)),
              ("a random 1×7 image", seeded_rng(2).random((1, 1, 7, 3), np.float32))]
    cases = []
    for label, image in images:
        x = image.astype(np.float64)
        variants = []
        for flip, scale, subtract in itertools.product((True, False), (255.0, 1.0, 1 / 255), ("bgr", "rgb", "none",
                                                                                          "add")):
            if flip and scale == 255.0 and subtract == "bgr":
                continue
            value = (x[..., ::-1] if flip else x) * scale
            value = {"bgr": value - mean, "rgb": value - mean[::-1], "none": value, "add": value + mean}[subtract]
            parts = []
            if not flip:
                parts.append("channels left in RGB order: the Caffe weights expect BGR, reverse the last axis "
                             "with image[..., ::-1]")
            if scale == 1.0:
                parts.append("forgot ×255: the weights expect pixels in 0–255, multiply the [0, 1] image by 255")
            if scale == 1 / 255:
                parts.append("divided by 255: the image is already in [0, 1], multiply it by 255 instead")
            if subtract == "none":
                parts.append("forgot the mean: subtract CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] after ×255")
            if subtract == "rgb" and flip:
                parts.append("mean subtracted in RGB order: CAFFE_MEAN_BGR is already in BGR order, subtract it "
                             "as it is from the BGR image")
            if subtract == "add":
                parts.append("added the mean: subtract CAFFE_MEAN_BGR instead")
            variants.append(("; and ".join(parts) + ".", value))
        cases.append(Case(label, (constant(image),), reference(image).numpy(), variants, reference=reference))
    run_cases("preprocess", fn, cases, "preprocessed image", gradient_args=(0,))


def _conv_reference(image, kernel) -> np.ndarray:
    tf = load_tf()
    return tf.nn.conv2d(image[None, :, :, None], kernel[:, :, None, None], 1, "VALID")[0, :, :, 0].numpy()


def convolution(fn) -> None:
    """Check ``convolution(image, kernel) -> out``: the 'valid' 2-D cross-correlation.

    ``image`` is a numpy ``[H, W]`` array, ``kernel`` ``[kh, kw]``; ``out[i, j] = Σ_a Σ_b
    image[i + a, j + b] · kernel[a, b]``, shape ``[H - kh + 1, W - kw + 1]``, as ``tf.nn.conv2d``
    with ``padding="VALID"`` computes it (CNNs do not flip the kernel).
    """
    edge = np.zeros((5, 5), np.float32)
    edge[:, 3:] = 1.0
    inputs = [("the 5×5 edge image with the [-1, 0, 1] kernel", edge, np.array([[-1, 0, 1]] * 3, np.float32)),
              ("a random 6×8 image with a random 3×3 kernel", seeded_rng(3).normal(size=(6, 8)).astype(np.float32),
               seeded_rng(4).normal(size=(3, 3)).astype(np.float32)),
              ("a random 7×5 image with a 2×3 kernel", seeded_rng(5).normal(size=(7, 5)).astype(np.float32),
               seeded_rng(6).normal(size=(2, 3)).astype(np.float32)),
              ("a random 4×4 image with a 1×1 kernel", seeded_rng(7).random((4, 4), np.float32),
               np.array([[2.5]], np.float32))]
    cases = []
    for label, image, kernel in inputs:
        (h, w), (kh, kw) = image.shape, kernel.shape
        expected = _conv_reference(image, kernel)
        flipped = _conv_reference(image, kernel[::-1, ::-1].copy())
        variants = [("you flipped the kernel, which is the mathematical convolution; CNNs (and tf.nn.conv2d) "
                     "compute the cross-correlation out[i, j] = Σ_a Σ_b image[i+a, j+b]·kernel[a, b], "
                     "without flipping.", flipped),
                    ("your output is transposed: out[i, j] has i running over rows (height) and j over "
                     "columns (width).", expected.T)]
        hints = [((h, w), f"'same' padding: only positions where the whole kernel fits inside the image count "
                          f"('valid'), which gives [H-kh+1, W-kw+1] = [{h - kh + 1}, {w - kw + 1}]."),
                 ((h + kh - 1, w + kw - 1), "that is a 'full' convolution (zero padding all round); keep only "
                                            "positions where the kernel fits inside the image."),
                 ((h - kh, w - kw), "one position short in each direction: loop over range(H - kh + 1) and "
                                    "range(W - kw + 1).")]
        if (w - kw + 1, h - kh + 1) != (h - kh + 1, w - kw + 1):
            hints.append(((w - kw + 1, h - kh + 1), "your output is transposed: rows run over the height H, "
                                                    "columns over the width W."))
        cases.append(Case(label, lambda image=image, kernel=kernel: (image.copy(), kernel.copy()), expected,
                           variants, hints))
    run_cases("convolution", fn, cases, "feature map")


def _pool_variants(x: np.ndarray, op, expected: np.ndarray, kind: str):
    """Known wrong poolings of ``x`` (windows in the wrong place, the wrong reduction)."""
    h, w = x.shape
    name = "largest" if kind == "max" else "mean"
    shifted = np.pad(x, ((0, 1), (0, 1)), mode="edge")[1:, 1:]
    stride_one = np.array([[op(x[i:i + 2, j:j + 2]) for j in range(w // 2)] for i in range(h // 2)])
    return [(f"your windows run along the rows: x.reshape(H/2, W/2, 2, 2) (like x.reshape(-1, 4)) groups 4 "
             f"neighbours of one row, not a 2×2 square of two rows and two columns; use x.reshape(H/2, 2, W/2, 2) and take the {name} over axes 1 "
             f"and 3.", op(x.reshape(h // 2, w // 2, 2, 2), axis=(2, 3))),
            ("wrong stride: window (i, j) covers rows 2i, 2i+1 and columns 2j, 2j+1 — you started it at (i, j), "
             "so the windows overlap (stride 1); step by 2.", stride_one),
            ("off by one: your windows start at row/column 1; the first 2×2 window starts at (0, 0) "
             "(range(0, H, 2)).", op(shifted.reshape(h // 2, 2, w // 2, 2), axis=(1, 3))),
            (f"you kept the top-left value of each window (x[::2, ::2]), not its {name}.", x[::2, ::2]),
            (f"your output is transposed: rows run over the height, columns over the width.", expected.T)] + [
            (f"you took the {name} over axes {a} and {b} of x.reshape(H/2, 2, W/2, 2), but a 2×2 window's two rows "
             f"are its axis 1 and its two columns axis 3 (axes 0 and 2 count the windows): take the {name} over "
             f"axis=(1, 3).", op(x.reshape(h // 2, 2, w // 2, 2), axis=(a, b)))
            for a, b in itertools.combinations(range(4), 2) if (a, b) != (1, 3)] + [
            (f"x.reshape(2, H/2, 2, W/2) puts row i with row i + H/2, far apart, in one window: reshape to "
             f"x.reshape(H/2, 2, W/2, 2), whose axes 1 and 3 are a window's two rows and two columns, and take the "
             f"{name} over axis=(1, 3).", op(x.reshape(2, h // 2, 2, w // 2), axis=(0, 2)))]


def _pool_hints(h: int, w: int):
    hints = [((h - 1, w - 1), f"stride 1: the 2×2 windows must not overlap, step by 2 (stride 2), which "
                              f"gives [H/2, W/2] = [{h // 2}, {w // 2}]."),
             ((h, w), f"the output must be half the size in each direction: [H/2, W/2] = [{h // 2}, {w // 2}]."),
             ((h // 2 - 1, w // 2 - 1), "off by one: you lost the last window in each direction; loop over "
                                        "range(0, H, 2) (H/2 windows), not range(1, H, 2) or range(0, H - 2, 2)"
                                        + (" (or you pooled twice: one 2×2 window with stride 2)."
                                           if (h // 4, w // 4) == (h // 2 - 1, w // 2 - 1) else ".")),
             ((h // 4, w // 4), "you pooled twice (or used 4×4 windows): one 2×2 window with stride 2."),
             ((h // 2, w // 2, 2), "you reduced each window over its rows only: reduce over axes 1 and 3 of "
                                   "x.reshape(H/2, 2, W/2, 2)."),
             ((h // 2, 2, w // 2), "you reduced each window over its columns only: reduce over axes 1 and 3."),
             ((h, w // 2), "you pooled along the width only: windows are 2×2, pool along the height too."),
             ((h // 2, w), "you pooled along the height only: windows are 2×2, pool along the width too."),
             ((), "you reduced the whole map to one number: keep one value per 2×2 window.")]
    if h != w:
        hints.append(((w // 2, h // 2), "your output is transposed: rows run over the height H."))
    return hints


def _pool_inputs():
    hand = np.array([[1, 2, 0, -1], [3, 4, -2, -3], [0, 0, 5, 1], [0, 9, 1, 1]], np.float32)
    return [("a hand-worked 4×4 map", hand),
            ("a random 6×8 map", seeded_rng(8).normal(size=(6, 8)).astype(np.float32)),
            ("a random 2×2 map of negative numbers", -seeded_rng(9).random((2, 2), np.float32) - 0.1),
            ("a random 8×4 map", seeded_rng(10).normal(size=(8, 4)).astype(np.float32))]


def pool_2x2(op: Callable, x: np.ndarray) -> np.ndarray:
    """TensorFlow's 2×2, stride-2 pooling ``op`` (max or average) of an ``[H, W]`` map: the reference."""
    return op(x[None, :, :, None], 2, 2, "VALID")[0, :, :, 0].numpy()


def _pool_check(name: str, fn, kind: str, special_mistakes: Callable) -> None:
    """Grade a 2×2, stride-2 pooling ``fn`` of ``kind`` ("max" or "mean") on every pooling input.

    ``special_mistakes(x, pooled, expected)`` lists the wrong answers special to this pooling;
    ``pooled(op)`` is TensorFlow's pooling ``op`` of ``x``.
    """
    tf = load_tf()
    reference, reduce = (tf.nn.max_pool2d, np.max) if kind == "max" else (tf.nn.avg_pool2d, np.mean)
    cases = []
    for label, x in _pool_inputs():
        pooled = functools.partial(pool_2x2, x=x)
        expected = pooled(reference)
        variants = special_mistakes(x, pooled, expected) + _pool_variants(x, reduce, expected, kind)
        cases.append(Case(label, (x,), expected, variants, _pool_hints(*x.shape)))
    run_cases(name, fn, cases, "pooled map")


def max_pool(fn) -> None:
    """Check ``max_pool(x) -> y``: 2×2 max pooling with stride 2 of a numpy ``[H, W]`` map (H, W even)."""
    tf = load_tf()

    def mistakes(x, pooled, expected):
        h, w = x.shape
        return [("you averaged each window: max pooling keeps the largest value of each 2×2 window.",
                 pooled(tf.nn.avg_pool2d)),
                ("you took the minimum of each window: max pooling keeps the largest value.",
                 x.reshape(h // 2, 2, w // 2, 2).min(axis=(1, 3)))]

    _pool_check("max_pool", fn, "max", mistakes)


def avg_pool(fn) -> None:
    """Exercise check for ``avg_pool(x) -> y``: 2×2 average pooling with stride 2 of a numpy ``[H, W]`` map."""
    tf = load_tf()

    def mistakes(x, pooled, expected):
        return [("you took the largest value of each window: average pooling takes the mean of the 4 values.",
                 pooled(tf.nn.max_pool2d)),
                ("you summed each window: divide by its 4 values (take the mean).", 4 * expected)]

    _pool_check("avg_pool", fn, "mean", mistakes)
