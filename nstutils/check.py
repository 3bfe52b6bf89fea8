"""Checks that teach: one-line tests for the course's "your turn" cells.

Introduced in ``01_cnn_features``. Each your-turn cell asks you to write one piece of
style transfer as a function; the cell after it calls the matching check with the
function itself (no parentheses)::

    def gram_matrix(F):
        ...                       # your code
        return G

    check.gram_matrix(gram_matrix)

The check runs your function on several cases (hand-worked and random inputs, batch of
one, non-square maps) and compares it with the tested reference in :mod:`nstutils`
(:mod:`nstutils.losses`, :mod:`nstutils.features`, ``tf.nn``). Convention:

* on success it prints **one green line**, e.g. ``✔ gram_matrix: correct on 6 cases``;
* on failure it raises :class:`CheckError` (an ``AssertionError``) whose message is a
  one-paragraph diagnosis: which case failed, what was expected, and, when your result
  matches a known mistake (sum instead of mean, kernel flipped, RGB instead of BGR, …),
  what that mistake is and how to fix it;
* a function that still raises ``NotImplementedError`` gives
  ``"<name> is not implemented yet"``; any other exception from your code is reported
  with its type and message (its traceback is chained above the check's);
* results may be TensorFlow tensors, numpy arrays or Python floats, compared with a
  relative tolerance of 1e-4.

:data:`SIGNATURES` lists, for every check, the function it expects.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from .errors import NSTError

GREEN = "\x1b[32m"
RESET = "\x1b[0m"
RTOL = 1e-4

#: check name -> the signature and meaning of the learner's function it expects.
SIGNATURES: Dict[str, str] = {
    "preprocess": "preprocess(image) -> x: image [1, H, W, 3] float tensor in [0, 1] (RGB); x = BGR, ×255, "
                  "minus CAFFE_MEAN_BGR, same shape",
    "convolution": "convolution(image, kernel) -> out: numpy image [H, W], kernel [kh, kw]; 'valid' 2-D "
                   "cross-correlation (what tf.nn.conv2d computes), out [H-kh+1, W-kw+1]",
    "max_pool": "max_pool(x) -> y: numpy x [H, W] (H, W even); 2×2 max pooling with stride 2, y [H/2, W/2]",
    "content_loss": "content_loss(F, P) -> scalar: F, P tensors [1, H, W, C]; mean((F - P)²)",
    "gram_matrix": "gram_matrix(F) -> G: F tensor [B, H, W, C]; G [B, C, C] = FᵀF / (H·W)",
    "layer_style_loss": "layer_style_loss(F, A) -> scalar: F tensor [1, H, W, C], A Gram tensor [1, C, C]; "
                        "mean((gram(F) - A)²)",
    "style_loss": "style_loss(features, target_grams, layer_weights) -> scalar: dicts layer -> F [1, H, W, C], "
                  "layer -> A [1, C, C], layer -> w_l; Σ_l w_l·mean((gram(F_l) - A_l)²)",
    "total_variation_loss": "total_variation_loss(image) -> scalar: image tensor [1, H, W, 3]; Σ|dx| + Σ|dy| "
                            "(= tf.image.total_variation)",
    "total_loss": "total_loss(content, style, tv, content_weight, style_weight, tv_weight) -> scalar: "
                  "content_weight·content + style_weight·style + tv_weight·tv (numbers or scalar tensors)",
    "adam_step": "adam_step(image, loss_fn, optimizer) -> loss before the step: image tf.Variable [1, H, W, 3], "
                 "loss_fn(image) -> scalar tensor, optimizer a tf.keras.optimizers.Adam; GradientTape, "
                 "optimizer.apply_gradients, then image.assign(tf.clip_by_value(image, 0, 1))",
    "scipy_objective": "scipy_objective(x, value_and_grad, shape) -> (loss float, gradient float64 1-D): x float64 "
                       "1-D numpy, value_and_grad(image [1, H, W, 3] float32) -> (loss tensor, grad tensor), "
                       "shape = (1, H, W, 3); for scipy.optimize.minimize(..., method='L-BFGS-B', jac=True)",
    "gram_size_invariance": "tile(F, k) -> bigger: F tensor [B, H, W, C], k ≥ 1; k×k copies of F side by side, "
                            "[B, k·H, k·W, C] (as tf.tile); the check shows gram(tile(F, k)) == gram(F)",
    "tv_l1_vs_l2": "total_variation_l2(image) -> scalar: image tensor [1, H, W, 3]; Σdx² + Σdy² (squared "
                   "differences instead of absolute ones)",
    "content_loss_layers": "content_loss_layers(features, targets) -> scalar: dicts layer -> [1, H, W, C]; "
                           "mean over layers of mean((F_l - P_l)²)",
    "same": "same(name, value, reference): value a number/array, or a function of no arguments returning one",
}


class CheckError(NSTError, AssertionError):
    """A check found a mistake; the message says which and how to fix it."""


def signature(name: str) -> str:
    """The learner's function that ``check.<name>`` expects (from :data:`SIGNATURES`)."""
    return SIGNATURES[name]


# ---------------------------------------------------------------------------------------------
# machinery


def _tf():
    import tensorflow as tf

    return tf


def _shape(shape) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ok(name: str, cases: int, note: str = "") -> None:
    print(f"{GREEN}✔ {name}: correct on {cases} cases{note}{RESET}")


def _callable(name: str, fn) -> None:
    if not callable(fn):
        raise CheckError(f"check.{name} expects your function itself, e.g. check.{name}({name}), without "
                         f"parentheses after {name}; it got a {type(fn).__name__}.")


def _call(name: str, fn, label: str, *args, hint: Callable[[BaseException], str] | None = None):
    """Call the learner's function, turning its exceptions into diagnoses."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckError(f"{name} is not implemented yet: replace the line `raise NotImplementedError(...)` in "
                         f"its cell by your code, run that cell, then run this check again.") from None
    except CheckError:
        raise
    except Exception as exc:  # the learner's bug: report it, never swallow it
        extra = hint(exc) if hint else ""
        raise CheckError(f"{name} raised {type(exc).__name__} on {label}: {_first_line(exc)}. "
                         f"{extra + ' ' if extra else ''}The traceback above shows the line of your code "
                         f"where it happened.") from exc


def _array(name: str, value, label: str) -> np.ndarray:
    """The learner's result as a float64 array (tensors, arrays, numbers accepted)."""
    if value is None:
        raise CheckError(f"{name} returned None on {label}: did you forget the `return` statement?")
    if isinstance(value, (tuple, list, dict, str)) and not _is_numeric_sequence(value):
        raise CheckError(f"{name} returned a {type(value).__name__} on {label}; expected a tensor, an array "
                         f"or a number.")
    try:
        if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
            value = value.numpy()
        array = np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise TypeError(array.dtype)
        return array.astype(np.float64)
    except Exception:
        raise CheckError(f"{name} returned {type(value).__name__} on {label}, which is not a tensor, an "
                         f"array or a number.") from None


def _is_numeric_sequence(value) -> bool:
    try:
        return isinstance(value, (tuple, list)) and np.asarray(value).dtype.kind in "fiub"
    except Exception:
        return False


def _close(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    return bool(np.allclose(a, b, rtol=rtol, atol=1e-6 * scale))


def _summary(array: np.ndarray) -> str:
    if array.size == 1:
        return f"{float(array.reshape(())):.6g}"
    with np.printoptions(precision=4, suppress=True, threshold=12, edgeitems=2):
        return " ".join(str(array).split())


class _Case:
    """One input for the learner's function with the reference result and known mistakes."""

    def __init__(self, label: str, args: Sequence[Any], expected, variants=(), shape_hints=()):
        self.label = label
        self.args = args                      # a callable returning fresh arguments, or a tuple
        self.expected = np.asarray(expected, np.float64)
        # (message, value or None when not computable) for known wrong answers of the same inputs
        self.variants: List[Tuple[str, Any]] = list(variants)
        # (shape tuple or predicate on the shape, message)
        self.shape_hints: List[Tuple[Any, str]] = list(shape_hints)

    def fresh_args(self):
        return self.args() if callable(self.args) else self.args


def _verdict(name: str, case: _Case, got: np.ndarray, what: str = "result") -> None:
    """Raise a CheckError explaining how ``got`` differs from ``case.expected`` (return if equal)."""
    expected = case.expected
    if got.size and not np.all(np.isfinite(got)):
        raise CheckError(f"{name} returned NaN or infinity on {case.label} (got {_summary(got)}): look for a "
                         f"division by zero, the mean of an empty slice, a square root or log of a negative "
                         f"number, or an uninitialised array (np.empty).")
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        for shape, message in case.shape_hints:
            if (shape(got.shape) if callable(shape) else tuple(got.shape) == tuple(shape)):
                raise CheckError(f"{name}: on {case.label} expected shape {_shape(expected.shape)}, got "
                                 f"{_shape(got.shape)} — {message}")
        for message, value in case.variants:
            if value is not None and _close(got, value, 1e-3):
                raise CheckError(f"{name}: on {case.label} expected shape {_shape(expected.shape)}, got "
                                 f"{_shape(got.shape)} — {message}")
        if expected.ndim == 0:
            raise CheckError(f"{name}: on {case.label} expected a single number (a scalar), got an array of "
                             f"shape {_shape(got.shape)} — reduce over all entries (tf.reduce_mean or "
                             f"tf.reduce_sum without an axis).")
        raise CheckError(f"{name}: on {case.label} expected a {what} of shape {_shape(expected.shape)}, got "
                         f"{_shape(got.shape)}.")
    if _close(got, expected):
        return
    for message, value in case.variants:
        if value is not None and np.shape(value) == got.shape and _close(got, value, 1e-3):
            raise CheckError(f"{name}: wrong {what} on {case.label} (expected {_summary(expected)}, got "
                             f"{_summary(got)}) — {message}")
    hint = ""
    mask = np.abs(expected) > 1e-8 * max(1.0, float(np.abs(expected).max()))
    if mask.any() and np.all(np.abs(got[~mask]) <= 1e-6 * max(1.0, float(np.abs(expected).max()))):
        ratios = got[mask] / expected[mask]
        if expected.size > 1 and np.allclose(ratios, ratios.flat[0], rtol=1e-3) and abs(ratios.flat[0] - 1) > 1e-3:
            hint = (f" Your {what} is {ratios.flat[0]:.6g} × the expected one everywhere: a scale factor "
                    f"(normalisation) is off.")
        elif expected.size == 1:
            hint = f" Yours is {float(ratios.flat[0]):.6g} × the expected value."
    raise CheckError(f"{name}: wrong {what} on {case.label}: expected {_summary(expected)}, got "
                     f"{_summary(got)} (largest difference {float(np.abs(got - expected).max()):.3g}).{hint}")


def _run(name: str, fn, cases: Sequence[_Case], what: str = "result",
         hint: Callable[[BaseException], str] | None = None, note: str = "") -> None:
    _callable(name, fn)
    for case in cases:
        result = _call(name, fn, case.label, *case.fresh_args(), hint=hint)
        _verdict(name, case, _array(name, result, case.label), what)
    _ok(name, len(cases), note)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _const(array):
    return _tf().constant(np.asarray(array, np.float32))


# ---------------------------------------------------------------------------------------------
# 01_cnn_features


def preprocess(fn) -> None:
    """Check ``preprocess(image) -> x``: Caffe preprocessing of ``[1, H, W, 3]`` images in [0, 1].

    RGB -> BGR (reverse the last axis), ×255, minus :data:`nstutils.features.CAFFE_MEAN_BGR`.
    """
    from .features import CAFFE_MEAN_BGR, preprocess as reference

    mean = CAFFE_MEAN_BGR.astype(np.float64)
    hand = np.array([[[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 1, 1], [0, 0, 0], [0.5, 0.5, 0.5]]]], np.float32)
    images = [("a 2×3 image of red, green, blue, white, black and grey pixels", hand),
              ("a random 4×5 image", _rng(1).random((1, 4, 5, 3), np.float32)),
              ("a random 1×7 image", _rng(2).random((1, 1, 7, 3), np.float32))]
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
        cases.append(_Case(label, (_const(image),), reference(image).numpy(), variants))
    _run("preprocess", fn, cases, "preprocessed image")


def _conv_reference(image, kernel) -> np.ndarray:
    tf = _tf()
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
              ("a random 6×8 image with a random 3×3 kernel", _rng(3).normal(size=(6, 8)).astype(np.float32),
               _rng(4).normal(size=(3, 3)).astype(np.float32)),
              ("a random 7×5 image with a 2×3 kernel", _rng(5).normal(size=(7, 5)).astype(np.float32),
               _rng(6).normal(size=(2, 3)).astype(np.float32)),
              ("a random 4×4 image with a 1×1 kernel", _rng(7).random((4, 4), np.float32),
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
        cases.append(_Case(label, lambda image=image, kernel=kernel: (image.copy(), kernel.copy()), expected,
                           variants, hints))
    _run("convolution", fn, cases, "feature map")


def max_pool(fn) -> None:
    """Check ``max_pool(x) -> y``: 2×2 max pooling with stride 2 of a numpy ``[H, W]`` map (H, W even)."""
    tf = _tf()
    hand = np.array([[1, 2, 0, -1], [3, 4, -2, -3], [0, 0, 5, 1], [0, 9, 1, 1]], np.float32)
    inputs = [("a hand-worked 4×4 map", hand),
              ("a random 6×8 map", _rng(8).normal(size=(6, 8)).astype(np.float32)),
              ("a random 2×2 map of negative numbers", -_rng(9).random((2, 2), np.float32) - 0.1),
              ("a random 8×4 map", _rng(10).normal(size=(8, 4)).astype(np.float32))]
    cases = []
    for label, x in inputs:
        h, w = x.shape
        pooled = lambda op, x=x: op(x[None, :, :, None], 2, 2, "VALID")[0, :, :, 0].numpy()  # noqa: E731
        expected = pooled(tf.nn.max_pool2d)
        windows = x.reshape(h // 2, 2, w // 2, 2)
        variants = [("you averaged each window: max pooling keeps the largest value of each 2×2 window.",
                     pooled(tf.nn.avg_pool2d)),
                    ("you took the minimum of each window: max pooling keeps the largest value.",
                     windows.min(axis=(1, 3))),
                    ("your output is transposed: rows run over the height, columns over the width.",
                     expected.T)]
        hints = [((h - 1, w - 1), f"stride 1: the 2×2 windows must not overlap, step by 2 (stride 2), which "
                                  f"gives [H/2, W/2] = [{h // 2}, {w // 2}]."),
                 ((h, w), f"the output must be half the size in each direction: [H/2, W/2] = [{h // 2}, {w // 2}]."),
                 ((h // 4, w // 4), "you pooled twice (or used 4×4 windows): one 2×2 window with stride 2.")]
        if h != w:
            hints.append(((w // 2, h // 2), "your output is transposed: rows run over the height H."))
        cases.append(_Case(label, lambda x=x: (x.copy(),), expected, variants, hints))
    _run("max_pool", fn, cases, "pooled map")


# ---------------------------------------------------------------------------------------------
# 02_content


def content_loss(fn) -> None:
    """Check ``content_loss(F, P) -> scalar``: ``mean((F − P)²)`` of two ``[1, H, W, C]`` tensors."""
    from .losses import content_loss as reference

    hand_f = np.array([[[[1.0, 2.0], [0.0, 1.0]]]], np.float32)           # [1, 1, 2, 2]
    hand_p = np.array([[[[0.0, 0.0], [1.0, 1.0]]]], np.float32)
    pairs = [("hand-worked maps F = [[1, 2], [0, 1]], P = [[0, 0], [1, 1]] of shape [1, 1, 2, 2]", hand_f, hand_p),
             ("random maps of shape [1, 4, 6, 3]", _rng(11).normal(size=(1, 4, 6, 3)),
              _rng(12).normal(size=(1, 4, 6, 3))),
             ("random maps of shape [1, 3, 3, 8]", _rng(13).random((1, 3, 3, 8)), _rng(14).random((1, 3, 3, 8))),
             ("two identical maps (the loss must be 0)", _rng(15).random((1, 2, 5, 4)), None)]
    cases = []
    for label, f, p in pairs:
        f = np.asarray(f, np.float32)
        p = f.copy() if p is None else np.asarray(p, np.float32)
        d = f.astype(np.float64) - p
        size = d.size
        variants = [(f"you returned the sum of squared differences, {size} (= number of entries N·M) times "
                     f"ours: use tf.reduce_mean, not tf.reduce_sum.", np.sum(d ** 2)),
                    (f"that is the paper's ½·Σ(F − P)²; this course normalises with the mean, which is "
                     f"{size / 2:g} (= N·M/2) times smaller: use tf.reduce_mean(tf.square(F - P)).",
                     0.5 * np.sum(d ** 2)),
                    ("drop the ½: the loss is mean((F − P)²).", 0.5 * np.mean(d ** 2)),
                    ("you took a square root (RMSE): the loss is the mean *squared* error, no square root.",
                     np.sqrt(np.mean(d ** 2))),
                    ("you averaged absolute differences |F − P|: square the differences instead.",
                     np.mean(np.abs(d))),
                    ("square each difference: without squaring, positive and negative differences cancel.",
                     np.mean(d)),
                    ("square each difference before averaging, not the average of the differences.",
                     np.mean(d) ** 2)]
        hints = [(f.shape, "you returned the squared differences entry by entry: average them all into one "
                           "number with tf.reduce_mean.")]
        cases.append(_Case(label, (_const(f), _const(p)), reference(f, p).numpy(), variants, hints))
    _run("content_loss", fn, cases, "loss")


def content_loss_layers(fn) -> None:
    """Exercise check for ``content_loss_layers(features, targets) -> scalar``.

    ``features`` and ``targets`` are dicts ``{layer: [1, H, W, C]}`` with the same keys;
    the result is the mean over layers of each layer's ``mean((F_l − P_l)²)``, so every
    layer counts equally whatever its size (``nstutils.losses.content_loss`` on dicts).
    """
    from .losses import content_loss as reference

    shapes = {"block4_conv2": (1, 4, 6, 8), "block5_conv2": (1, 2, 3, 16), "block2_conv2": (1, 8, 12, 4)}
    cases = []
    for index, layers in enumerate((["block4_conv2", "block5_conv2"], ["block2_conv2", "block4_conv2",
                                                                        "block5_conv2"], ["block5_conv2"])):
        rng = _rng(20 + index)
        f = {k: rng.normal(size=shapes[k]).astype(np.float32) for k in layers}
        p = {k: rng.normal(size=shapes[k]).astype(np.float32) * 0.5 for k in layers}
        per_layer = {k: float(np.mean((f[k].astype(np.float64) - p[k]) ** 2)) for k in layers}
        variants = [(f"you summed the layers' losses: average them (divide by the number of layers, "
                     f"{len(layers)}).", sum(per_layer.values())),
                    ("you pooled all entries of all layers into one mean, so big layers count more: take "
                     "each layer's mean first, then the mean over layers.",
                     np.mean(np.concatenate([((f[k].astype(np.float64) - p[k]) ** 2).ravel() for k in layers]))),
                    ] + [(f"you used only layer {k}: loop over all layers in targets.", v)
                         for k, v in per_layer.items()] + [
                    ("you summed squared differences within each layer: use each layer's mean.",
                     np.mean([np.sum((f[k].astype(np.float64) - p[k]) ** 2) for k in layers]))]
        label = f"{len(layers)} layer{'s' if len(layers) > 1 else ''} ({', '.join(layers)})"
        cases.append(_Case(label, lambda f=f, p=p: ({k: _const(v) for k, v in f.items()},
                                                    {k: _const(v) for k, v in p.items()}),
                           reference(f, p).numpy(), variants))
    _run("content_loss_layers", fn, cases, "loss", hint=_key_hint)


def _key_hint(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "The dicts share the same layer names as keys: loop over them with `for layer in targets:`."
    return ""


# ---------------------------------------------------------------------------------------------
# 03_gram_style


def _np_gram(f: np.ndarray, divide: float | None = None) -> np.ndarray:
    b, h, w, c = f.shape
    x = f.reshape(b, h * w, c).astype(np.float64)
    return np.einsum("bpc,bpd->bcd", x, x) / (h * w if divide is None else divide)


def gram_matrix(fn) -> None:
    """Check ``gram_matrix(F) -> G``: ``F`` a ``[B, H, W, C]`` tensor, ``G = FᵀF / (H·W)`` of shape ``[B, C, C]``."""
    from .losses import gram_matrix as reference

    hand = np.array([[[[1, 0], [2, 1]], [[0, 1], [1, 1]]]], np.float32)        # [1, 2, 2, 2]
    maps = [("a hand-worked map of shape [1, 2, 2, 2]", hand),
            ("a random square map of shape [1, 4, 4, 3]", _rng(30).normal(size=(1, 4, 4, 3))),
            ("a random non-square map of shape [1, 3, 5, 4]", _rng(31).normal(size=(1, 3, 5, 4))),
            ("a batch of one, shape [1, 6, 2, 3]", _rng(32).random((1, 6, 2, 3))),
            ("a batch of two images, shape [2, 3, 4, 3]", _rng(33).normal(size=(2, 3, 4, 3))),
            ("a single position, shape [1, 1, 1, 5]", _rng(34).normal(size=(1, 1, 1, 5)))]
    cases = []
    for label, f in maps:
        f = np.asarray(f, np.float32)
        b, h, w, c = f.shape
        m = h * w
        expected = reference(f).numpy()
        mixed = f.reshape(b, c, m).astype(np.float64)
        centred = f - f.mean(axis=(1, 2), keepdims=True)
        variants = [(f"normalisation: divide by the number of positions M = H·W = {m}; yours is M times too "
                     f"big.", expected * m),
                    (f"divide by the number of positions M = H·W = {m} only, not by H·W·C = {m * c}.",
                     expected / c),
                    (f"divide by M = H·W = {m} once, not twice (M² = {m * m}).", expected / m),
                    ("you reshaped [B, H, W, C] straight to [B, C, H·W], which mixes channels and positions: "
                     "reshape to [B, H·W, C] (channels last, as stored) and compute Fᵀ F, or use "
                     "tf.einsum('bijc,bijd->bcd', F, F).", np.einsum("bcp,bdp->bcd", mixed, mixed) / m),
                    ("you subtracted the mean of each channel (that is a covariance); the Gram matrix uses the "
                     "features as they are.", _np_gram(centred))]
        if b == 1:
            variants.append((f"keep the batch dimension: expected [1, C, C] = [1, {c}, {c}]; reshape to "
                             f"[B, H·W, C] rather than [H·W, C].", expected[0]))
        hints = [((b, m, m), f"did you multiply F by its transpose the wrong way round (HW×HW = {m}×{m})? The "
                             f"Gram matrix compares channels: Fᵀ F with F of shape [B, H·W, C] gives [B, C, C]."),
                 ((m, m), f"did you multiply F by its transpose the wrong way round (HW×HW = {m}×{m})? The Gram "
                          f"matrix compares channels: Fᵀ F gives [B, C, C]."),
                 ((c, c), f"keep the batch dimension: one Gram matrix per image, [B, C, C] = [{b}, {c}, {c}]; "
                          f"reshape to [B, H·W, C], not [-1, C].")]
        cases.append(_Case(label, (_const(f),), expected, variants, hints))

    _callable("gram_matrix", fn)
    for case in cases:
        got = _array("gram_matrix", _call("gram_matrix", fn, case.label, *case.fresh_args()), case.label)
        if (got.ndim == 3 and got.shape[1] == got.shape[2] and np.all(np.isfinite(got))
                and not _close(got, np.swapaxes(got, 1, 2), 1e-3)):
            raise CheckError(f"gram_matrix: on {case.label} your matrix is not symmetric, but G[i, j] and G[j, i] "
                             f"both average channel i times channel j: compute Fᵀ F from one reshaped F "
                             f"([B, H·W, C]) and its own transpose.")
        _verdict("gram_matrix", case, got, "Gram matrix")
    _ok("gram_matrix", len(cases))


def gram_size_invariance(fn) -> None:
    """Exercise check for ``tile(F, k) -> bigger``: ``k×k`` copies of ``F`` side by side.

    ``F`` is a ``[B, H, W, C]`` tensor; the result is ``[B, k·H, k·W, C]`` (what
    ``tf.tile(F, [1, k, k, 1])`` gives). The check then shows, with the reference
    ``gram_matrix``, that the bigger texture has exactly the same Gram matrix: it is an
    average over positions, so it does not depend on the image size.
    """
    from .losses import gram_matrix as reference

    tf = _tf()
    _callable("tile", fn)
    count = 0
    for f, k in ((_rng(40).random((1, 3, 4, 5)), 2), (_rng(41).random((1, 2, 2, 3)), 3),
                 (_rng(42).random((1, 5, 3, 2)), 1)):
        f = f.astype(np.float32)
        b, h, w, c = f.shape
        label = f"F of shape {_shape(f.shape)} with k = {k}"
        got = _array("tile", _call("tile", fn, label, _const(f), k), label)
        tiled = tf.tile(f, [1, k, k, 1]).numpy()
        repeated = np.repeat(np.repeat(f, k, axis=1), k, axis=2)
        if got.shape != tiled.shape:
            hints = {(b, k * h, w, c): "you tiled only along the height: use multiples [1, k, k, 1].",
                     (b, h, k * w, c): "you tiled only along the width: use multiples [1, k, k, 1].",
                     (k * b, k * h, k * w, c): "tile along height and width only, not the batch axis: [1, k, k, 1].",
                     (b, k * h, k * w, k * c): "tile along height and width only, not the channels: [1, k, k, 1].",
                     (b, k * h, k * w, c * k * k): "tile along height and width only, not the channels."}
            hint = hints.get(tuple(got.shape), f"expected [B, k·H, k·W, C] = {_shape(tiled.shape)}.")
            raise CheckError(f"tile: on {label} expected shape {_shape(tiled.shape)}, got {_shape(got.shape)} — "
                             f"{hint}")
        if not (_close(got, tiled) or _close(got, repeated)):
            g_got, g_ref = _np_gram(got), reference(f).numpy()
            extra = ("" if _close(g_got, g_ref, 1e-3) else
                     " Its Gram matrix differs from F's too: a bigger copy of a texture must contain only "
                     "copies of F's positions (no zeros or new values).")
            raise CheckError(f"tile: on {label} the result is not k×k copies of F (tf.tile(F, [1, k, k, 1])).{extra}")
        if not _close(reference(got).numpy(), reference(f).numpy(), 1e-4):
            raise CheckError("tile: unexpected: the Gram matrices differ")  # pragma: no cover
        count += 1
    _ok("gram_size_invariance", count, ": gram_matrix(tile(F, k)) == gram_matrix(F), the Gram matrix ignores size")


def layer_style_loss(fn) -> None:
    """Check ``layer_style_loss(F, A) -> scalar``: ``mean((gram(F) − A)²)``.

    ``F`` is a ``[1, H, W, C]`` feature tensor, ``A`` the style image's ``[1, C, C]`` Gram
    matrix (normalised by positions, as ``gram_matrix``).
    """
    from .losses import gram_matrix as gram, style_loss as reference

    specs = [((1, 3, 4, 4), 50), ((1, 5, 3, 2), 51), ((1, 4, 4, 6), 52), ((1, 2, 6, 3), None)]
    cases = []
    for shape, seed in specs:
        rng = _rng(60 + len(cases))
        f = rng.normal(size=shape).astype(np.float32)
        a = (gram(f).numpy() if seed is None
             else gram(_rng(seed).normal(size=(1, 6, 5, shape[3])).astype(np.float32) * 1.5).numpy())
        label = (f"features of shape {_shape(shape)} with the Gram matrix of their own (loss 0)" if seed is None
                 else f"features of shape {_shape(shape)} and a random style Gram matrix [1, {shape[3]}, {shape[3]}]")
        m, n = shape[1] * shape[2], shape[3]
        g = _np_gram(f)
        d = g - a
        variants = []
        try:
            variants.append(("you compared the feature maps F with the Gram matrix A: compute gram_matrix(F) "
                             "first, then mean((G − A)²).", np.mean((f.astype(np.float64) - a) ** 2)))
        except ValueError:
            pass
        variants += [(f"you summed over the N² = {n * n} Gram entries: use the mean (tf.reduce_mean).",
                      np.sum(d ** 2)),
                     ("that is the paper's E_l = Σ(Ĝ − Â)²/(4N²M²) with unnormalised Grams Ĝ = FᵀF; with our "
                      "normalised Grams (÷ M) it equals ¼·mean((G − A)²), so yours is 4 times too small: "
                      "this course uses mean((G − A)²) = 4·E_l.", np.mean(d ** 2) / 4),
                     (f"you applied the paper's 1/(4N²M²) to Grams already divided by M = {m}: with our Grams "
                      f"the layer loss is simply mean((G − A)²).", np.sum(d ** 2) / (4 * n * n * m * m)),
                     (f"the Gram matrix of F must be normalised like A: divide FᵀF by M = H·W = {m} "
                      f"(use gram_matrix).", np.mean((g * m - a) ** 2)),
                     ("you took a square root: the loss is the mean *squared* difference.",
                      np.sqrt(np.mean(d ** 2))),
                     ("drop the ½: the layer loss is mean((G − A)²).", 0.5 * np.mean(d ** 2)),
                     ("you averaged absolute differences: square them.", np.mean(np.abs(d)))]
        hints = [((1, n, n), "you returned the squared differences entry by entry: average them with "
                             "tf.reduce_mean."),
                 (tuple(shape), "you subtracted A from the feature maps: compute gram_matrix(F) first.")]
        cases.append(_Case(label, (_const(f), _const(a)), reference(f, a).numpy(), variants, hints))
    _run("layer_style_loss", fn, cases, "loss", hint=_broadcast_hint)


def _broadcast_hint(exc: BaseException) -> str:
    text = str(exc)
    if "ncompatible shapes" in text or "broadcast" in text:
        return ("Are you subtracting the Gram matrix A [1, C, C] from the feature maps F [1, H, W, C]? Compute "
                "gram_matrix(F) first.")
    return ""


def style_loss(fn) -> None:
    """Check ``style_loss(features, target_grams, layer_weights) -> scalar``.

    Dicts ``{layer: F_l [1, H, W, C]}``, ``{layer: A_l [1, C, C]}`` and ``{layer: w_l}``;
    the result is ``Σ_l w_l · mean((gram(F_l) − A_l)²)`` (a weighted *sum*, weights used as
    given).
    """
    from .losses import gram_matrix as gram, style_loss as reference

    setups = [{"block1_conv1": ((1, 8, 6, 4), 0.5), "block2_conv1": ((1, 4, 3, 8), 2.0),
               "block3_conv1": ((1, 2, 2, 16), 0.25)},
              {"block1_conv1": ((1, 6, 6, 3), 1.0), "block4_conv1": ((1, 3, 3, 6), 0.1)},
              {"block5_conv1": ((1, 2, 3, 5), 3.0)},
              {"block1_conv1": ((1, 4, 4, 2), 1.5), "block2_conv1": ((1, 2, 2, 4), 0.0)}]
    cases = []
    for index, setup in enumerate(setups):
        rng = _rng(70 + index)
        f = {k: rng.normal(size=s).astype(np.float32) for k, (s, _) in setup.items()}
        a = {k: gram(rng.normal(size=(1, 5, 4, s[3])).astype(np.float32) * 1.3).numpy() for k, (s, _) in setup.items()}
        w = {k: wl for k, (_, wl) in setup.items()}
        e = {k: float(np.mean((_np_gram(f[k]) - a[k]) ** 2)) for k in setup}
        expected = reference(f, a, w).numpy()
        n = len(setup)
        variants = []
        if n > 1:
            variants += [(f"you ignored layer_weights and gave every layer 1/L = 1/{n}: multiply each layer's "
                          f"loss by its own weight layer_weights[layer].", sum(e.values()) / n),
                         ("you forgot the weights: multiply each layer's loss by layer_weights[layer].",
                          sum(e.values())),
                         (f"you averaged instead of summing: the weights already set each layer's share, so "
                          f"return Σ w_l·E_l without dividing by the number of layers ({n}).", expected / n),
                         ("you divided by the sum of the weights: use the weights as given, Σ w_l·E_l.",
                          expected / sum(w.values()) if sum(w.values()) else None)]
            for k in setup:
                variants += [(f"you used only layer {k}: loop over all the layers in target_grams and add up "
                              f"w_l·E_l.", w[k] * e[k]),
                             (f"you used only layer {k}, and without its weight: loop over all layers and add "
                              f"up w_l·E_l.", e[k])]
        else:
            variants.append(("you forgot the weight: multiply the layer's loss by layer_weights[layer].",
                             sum(e.values())))
        variants.append(("you summed over the Gram entries: each layer's loss is a mean, mean((G − A)²).",
                         sum(w[k] * np.sum((_np_gram(f[k]) - a[k]) ** 2) for k in setup)))
        label = (f"{n} layer{'s' if n > 1 else ''} with weights "
                 + ", ".join(f"{k}: {wl:g}" for k, wl in w.items()))
        cases.append(_Case(label, lambda f=f, a=a, w=w: ({k: _const(v) for k, v in f.items()},
                                                         {k: _const(v) for k, v in a.items()}, dict(w)),
                           expected, variants))
    _run("style_loss", fn, cases, "loss", hint=_key_hint)


# ---------------------------------------------------------------------------------------------
# 05_full_transfer


def _tv_parts(image: np.ndarray):
    x = image.astype(np.float64)
    return x[:, 1:, :, :] - x[:, :-1, :, :], x[:, :, 1:, :] - x[:, :, :-1, :]


def total_variation_loss(fn) -> None:
    """Check ``total_variation_loss(image) -> scalar``: ``Σ|dx| + Σ|dy|`` of a ``[1, H, W, 3]`` image.

    ``dx``/``dy`` are the differences between horizontal/vertical neighbours, summed over
    the whole image and all channels (``tf.image.total_variation``).
    """
    from .losses import total_variation_loss as reference

    checker = np.indices((3, 4)).sum(axis=0) % 2
    hand = np.repeat(checker[None, :, :, None], 3, axis=3).astype(np.float32) * np.array([1, 0.5, 0.25], np.float32)
    images = [("a 3×4 checkerboard (hand-worked: 17 neighbour pairs, channel contrasts 1, 0.5, 0.25)", hand),
              ("a random 5×7 image", _rng(80).random((1, 5, 7, 3), np.float32)),
              ("a constant image (the loss must be 0)", np.full((1, 4, 4, 3), 0.3, np.float32)),
              ("a random 2×9 image", _rng(81).random((1, 2, 9, 3), np.float32))]
    cases = []
    for label, image in images:
        dy, dx = _tv_parts(image)
        variants = [("you squared the differences (that is the L2 total variation): use their absolute values, "
                     "Σ|dx| + Σ|dy|.", np.sum(dx ** 2) + np.sum(dy ** 2)),
                    ("you averaged the differences: total variation is a sum, use tf.reduce_sum.",
                     np.mean(np.abs(dx)) + np.mean(np.abs(dy))),
                    ("you averaged the differences: total variation is a sum, use tf.reduce_sum.",
                     np.mean(np.abs(np.concatenate([dx.ravel(), dy.ravel()])))),
                    ("you only summed the horizontal differences (along the width): add the vertical ones.",
                     np.sum(np.abs(dx))),
                    ("you only summed the vertical differences (along the height): add the horizontal ones.",
                     np.sum(np.abs(dy))),
                    ("you forgot the absolute value: without it, the differences cancel out along each row.",
                     np.sum(dx) + np.sum(dy)),
                    ("you took the square root of the sum of squares: use Σ|dx| + Σ|dy|.",
                     np.sqrt(np.sum(dx ** 2) + np.sum(dy ** 2)))]
        hints = [((3,), "you returned one value per channel: sum over the channels too."),
                 ((1, 3), "you returned one value per channel: sum over the channels too.")]
        cases.append(_Case(label, (_const(image),), reference(image).numpy(), variants, hints))
    _run("total_variation_loss", fn, cases, "loss")


def tv_l1_vs_l2(fn) -> None:
    """Exercise check for ``total_variation_l2(image) -> scalar``: ``Σdx² + Σdy²``.

    The squared (L2) total variation of a ``[1, H, W, 3]`` image, to compare with the
    absolute (L1) one: squares punish large jumps (edges) much more than small noise.
    """
    from .losses import total_variation_loss as reference

    images = [("a random 5×7 image", _rng(90).random((1, 5, 7, 3), np.float32)),
              ("a 4×4 image with one sharp edge", np.concatenate([np.zeros((1, 4, 2, 3)), np.ones((1, 4, 2, 3))],
                                                                 axis=2).astype(np.float32)),
              ("a random 3×2 image", _rng(91).random((1, 3, 2, 3), np.float32))]
    cases = []
    for label, image in images:
        dy, dx = _tv_parts(image)
        variants = [("that is the L1 total variation (absolute values): square the differences instead.",
                     np.sum(np.abs(dx)) + np.sum(np.abs(dy))),
                    ("you averaged the squared differences: sum them (tf.reduce_sum).",
                     np.mean(dx ** 2) + np.mean(dy ** 2)),
                    ("you only used horizontal differences: add the vertical ones.", np.sum(dx ** 2)),
                    ("you only used vertical differences: add the horizontal ones.", np.sum(dy ** 2)),
                    ("no square root: the L2 total variation here is Σdx² + Σdy².",
                     np.sqrt(np.sum(dx ** 2) + np.sum(dy ** 2))),
                    ("square each difference, not the sums.", np.sum(dx) ** 2 + np.sum(dy) ** 2)]
        cases.append(_Case(label, (_const(image),), reference(image, "l2").numpy(), variants))
    _run("tv_l1_vs_l2", fn, cases, "loss")


def total_loss(fn) -> None:
    """Check ``total_loss(content, style, tv, content_weight, style_weight, tv_weight) -> scalar``.

    The three loss values (numbers or scalar tensors) weighted and added:
    ``content_weight·content + style_weight·style + tv_weight·tv``.
    """
    tf = _tf()
    inputs = [((2e-3, 3e3, 0.5), (1e4, 1e-2, 30.0), "floats"),
              ((0.7, 1.9e3, 41.0), (3.0, 0.5, 0.01), "scalar tensors"),
              ((1.0, 2.0, 0.0), (10.0, 100.0, 7.0), "floats")]
    names = ("content_weight", "style_weight", "tv_weight")
    terms = ("content", "style", "tv")
    cases = []
    for losses, weights, kind in inputs:
        expected = sum(w * l for w, l in zip(weights, losses))
        variants = []
        for perm in itertools.permutations(range(3)):
            if perm == (0, 1, 2):
                continue
            moved = [f"{names[perm[i]]} on {terms[i]}" for i in range(3) if perm[i] != i]
            variants.append((f"weights swapped: you used {', '.join(moved)}; each loss takes its own weight.",
                             sum(weights[perm[i]] * losses[i] for i in range(3))))
        for i in range(3):
            variants.append((f"you forgot {names[i]}: multiply {terms[i]} by it.",
                             expected - weights[i] * losses[i] + losses[i]))
            variants.append((f"you left out the {terms[i]} term: add {names[i]}·{terms[i]}.",
                             expected - weights[i] * losses[i]))
        variants.append(("you averaged the three weighted terms: add them.", expected / 3))
        args = (losses + weights if kind == "floats" else
                tuple(tf.constant(v, tf.float32) for v in losses) + weights)
        label = (f"content={losses[0]:g}, style={losses[1]:g}, tv={losses[2]:g} ({kind}) with weights "
                 f"{weights[0]:g}, {weights[1]:g}, {weights[2]:g}")
        cases.append(_Case(label, args, expected, variants))
    _run("total_loss", fn, cases, "total loss")


def _quadratic_problem(seed: int):
    tf = _tf()
    rng = _rng(seed)
    start = rng.uniform(0.2, 0.8, (1, 3, 4, 3)).astype(np.float32)
    target = rng.uniform(0.0, 1.0, (1, 3, 4, 3)).astype(np.float32)
    start[0, 0, :2, 0], target[0, 0, :2, 0] = 0.03, -1.0        # pushed below 0: clipping matters
    start[0, 2, 3, 1], target[0, 2, 3, 1] = 0.97, 2.0           # pushed above 1
    coeff = tf.constant(rng.uniform(0.5, 2.0, start.shape).astype(np.float32))
    target_t = tf.constant(target)

    def loss_fn(image):
        return tf.reduce_sum(coeff * tf.square(image - target_t))

    return start, loss_fn


def adam_step(fn) -> None:
    """Check ``adam_step(image, loss_fn, optimizer) -> loss``: one step of gradient descent with Adam.

    ``image`` is a ``tf.Variable [1, H, W, 3]``, ``loss_fn(image)`` a scalar tensor and
    ``optimizer`` a ``tf.keras.optimizers.Adam``. Compute the loss and its gradient with
    ``tf.GradientTape``, ``optimizer.apply_gradients([(grad, image)])``, then keep the image
    valid with ``image.assign(tf.clip_by_value(image, 0.0, 1.0))``; return the loss computed
    *before* the step. The check runs three steps on a small quadratic loss against the same
    steps done by the reference on a copy with an identical optimizer.
    """
    tf = _tf()
    name = "adam_step"
    _callable(name, fn)
    start, loss_fn = _quadratic_problem(100)
    mine, ref = tf.Variable(start), tf.Variable(start)
    settings = dict(learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    opt_mine, opt_ref = tf.keras.optimizers.Adam(**settings), tf.keras.optimizers.Adam(**settings)
    steps = 3
    for step in range(1, steps + 1):
        label = f"step {step} of a small quadratic loss"
        before = ref.numpy().copy()
        with tf.GradientTape() as tape:
            ref_loss = loss_fn(ref)
        opt_ref.apply_gradients([(tape.gradient(ref_loss, ref), ref)])
        unclipped = ref.numpy().copy()
        ref.assign(tf.clip_by_value(ref, 0.0, 1.0))
        returned = _call(name, fn, label, mine, loss_fn, opt_mine)
        if not isinstance(mine, tf.Variable):  # pragma: no cover - the learner cannot rebind our variable
            raise CheckError(f"{name}: the image must stay a tf.Variable")
        got = mine.numpy()
        if np.allclose(got, before, rtol=0, atol=1e-7):
            raise CheckError(f"{name}: on {label} the image did not change — did you forget "
                             f"optimizer.apply_gradients([(grad, image)])? Computing the gradient is not enough: "
                             f"the optimizer must apply it to the variable.")
        delta_ref, delta_got = ref.numpy() - before, got - before
        if float(np.sum(delta_ref * delta_got)) < 0:
            raise CheckError(f"{name}: on {label} the image moved uphill (the loss went up): pass the gradient "
                             f"itself to apply_gradients, not its negative — the optimizer already subtracts "
                             f"it (learning_rate × Adam's normalised gradient).")
        if got.min() < -1e-6 or got.max() > 1 + 1e-6:
            near = " (it matches the step before clipping)" if _close(got, unclipped) else ""
            raise CheckError(f"{name}: on {label} the image has values outside [0, 1] (from {got.min():.3g} to "
                             f"{got.max():.3g}){near}: after the step, clip it in place with "
                             f"image.assign(tf.clip_by_value(image, 0.0, 1.0)).")
        if not _close(got, ref.numpy(), 1e-3):
            raise CheckError(f"{name}: on {label} the image differs from a reference Adam step (largest "
                             f"difference {float(np.abs(got - ref.numpy()).max()):.3g}): take the gradient of "
                             f"loss_fn(image) with respect to image with tf.GradientTape, apply it with the "
                             f"optimizer you were given (not a new one: Adam keeps running averages), then clip.")
        value = _array(name, returned, label)
        if value.size != 1:
            raise CheckError(f"{name}: on {label} returned an array of shape {_shape(value.shape)}; return the "
                             f"loss, a single number.")
        value = float(value.reshape(()))
        if abs(value - float(ref_loss)) <= 1e-4 * max(1.0, abs(float(ref_loss))):
            continue
        after = float(loss_fn(ref))
        if abs(value - after) <= 1e-4 * max(1.0, abs(after)):
            raise CheckError(f"{name}: on {label} you returned the loss after the step ({value:.6g}); return the "
                             f"loss computed inside the GradientTape, before the step ({float(ref_loss):.6g}).")
        raise CheckError(f"{name}: on {label} returned {value:.6g}, expected the loss before the step, "
                         f"{float(ref_loss):.6g}: return the value of loss_fn(image) computed in the tape.")
    _ok(name, steps, " (Adam steps)")


def _value_and_grad_for(shape, seed: int):
    tf = _tf()
    rng = _rng(seed)
    coeff = tf.constant(np.linspace(0.5, 3.0, int(np.prod(shape))).reshape(shape).astype(np.float32))
    target = tf.constant(rng.random(shape).astype(np.float32))

    def value_and_grad(image):
        if isinstance(image, np.ndarray) and image.dtype != np.float32:
            raise CheckError("scipy_objective: value_and_grad expects a float32 image, got a float64 numpy "
                             "array: convert with tf.constant(x.reshape(shape), tf.float32) (or "
                             ".astype(np.float32)).")
        if hasattr(image, "dtype") and getattr(image.dtype, "name", "") == "float64":
            raise CheckError("scipy_objective: value_and_grad expects a float32 image, got float64: convert "
                             "with tf.constant(x.reshape(shape), tf.float32).")
        image = tf.convert_to_tensor(image, tf.float32)
        if tuple(image.shape) != tuple(shape):
            raise CheckError(f"scipy_objective: value_and_grad expects an image of shape {_shape(shape)}, got "
                             f"{_shape(image.shape)}: reshape x with x.reshape(shape).")
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = tf.reduce_sum(coeff * tf.square(image - target) * (1.0 + image))
        return loss, tape.gradient(loss, image)

    return value_and_grad


def scipy_objective(fn) -> None:
    """Check ``scipy_objective(x, value_and_grad, shape) -> (loss, gradient)``: the bridge to scipy.

    ``scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B")`` calls ``fun(x)`` with
    a float64 1-D numpy ``x`` and expects ``(a float, a float64 1-D gradient)``. Reshape
    ``x`` to ``shape`` (``(1, H, W, 3)``), convert it to a float32 tensor, call
    ``value_and_grad(image)`` (it returns the loss and gradient tensors), and return
    ``float(loss)`` and ``grad.numpy().astype(np.float64).ravel()``.
    """
    tf = _tf()
    name = "scipy_objective"
    _callable(name, fn)
    count = 0
    for shape, seed in (((1, 2, 3, 3), 110), ((1, 4, 2, 3), 111), ((1, 1, 5, 3), 112)):
        label = f"x of {int(np.prod(shape))} numbers with shape {shape}"
        x = _rng(seed).random(int(np.prod(shape)))
        value_and_grad = _value_and_grad_for(shape, seed)
        loss, grad = value_and_grad(tf.constant(x.reshape(shape), tf.float32))
        ref_loss, ref_grad = float(loss), grad.numpy().astype(np.float64).ravel()
        f_loss, f_grad = value_and_grad(tf.constant(x.reshape(shape, order="F"), tf.float32))
        result = _call(name, fn, label, x.copy(), value_and_grad, shape)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise CheckError(f"{name}: on {label} returned {type(result).__name__}; return a pair "
                             f"(loss, gradient), e.g. `return float(loss), grad.numpy().astype(np.float64).ravel()`.")
        got_loss, got_grad = result
        if isinstance(got_loss, (tf.Tensor, tf.Variable)):
            raise CheckError(f"{name}: on {label} the loss is a TensorFlow tensor; scipy needs a Python float: "
                             f"return float(loss).")
        if not isinstance(got_loss, (float, int, np.floating, np.integer)) and not (
                isinstance(got_loss, np.ndarray) and got_loss.size == 1):
            raise CheckError(f"{name}: on {label} the loss is a {type(got_loss).__name__}; return float(loss).")
        if isinstance(got_grad, (tf.Tensor, tf.Variable)):
            raise CheckError(f"{name}: on {label} the gradient is a TensorFlow tensor; scipy needs a float64 "
                             f"numpy array: return grad.numpy().astype(np.float64).ravel().")
        if not isinstance(got_grad, np.ndarray):
            raise CheckError(f"{name}: on {label} the gradient is a {type(got_grad).__name__}; return "
                             f"grad.numpy().astype(np.float64).ravel().")
        if got_grad.ndim != 1:
            raise CheckError(f"{name}: on {label} the gradient has shape {_shape(got_grad.shape)}, not flattened: "
                             f"scipy's x is 1-D, so return the gradient as 1-D too, with .ravel() (or "
                             f".reshape(-1)).")
        if got_grad.dtype != np.float64:
            raise CheckError(f"{name}: on {label} the gradient is {got_grad.dtype}; scipy's L-BFGS-B works in "
                             f"float64 and needs a float64 gradient: .astype(np.float64).")
        value = float(np.asarray(got_loss).reshape(()))
        if not np.isfinite(value) or not np.all(np.isfinite(got_grad)):
            raise CheckError(f"{name}: on {label} returned NaN or infinity.")
        if abs(value - ref_loss) > 1e-4 * max(1.0, abs(ref_loss)):
            if abs(value - float(f_loss)) <= 1e-4 * max(1.0, abs(ref_loss)):
                raise CheckError(f"{name}: on {label} wrong reshape order: reshape x with x.reshape(shape) "
                                 f"(numpy's default C order, as scipy flattened it), not order='F'.")
            raise CheckError(f"{name}: on {label} the loss is {value:.6g}, expected {ref_loss:.6g}: pass "
                             f"x.reshape(shape) as a float32 tensor to value_and_grad and return float(loss).")
        if got_grad.shape != ref_grad.shape:
            raise CheckError(f"{name}: on {label} the gradient has {got_grad.size} entries, expected "
                             f"{ref_grad.size} (one per entry of x).")
        if not _close(got_grad, ref_grad, 1e-4):
            if _close(got_grad, grad.numpy().astype(np.float64).ravel(order="F"), 1e-4):
                raise CheckError(f"{name}: on {label} wrong flattening order: flatten the gradient with .ravel() "
                                 f"(C order), the same order as x.reshape(shape).")
            if _close(got_grad, f_grad.numpy().astype(np.float64).ravel(order="F"), 1e-4):
                raise CheckError(f"{name}: on {label} wrong reshape order: use x.reshape(shape) and .ravel() in "
                                 f"numpy's default C order, not order='F'.")
            if _close(got_grad, -ref_grad, 1e-4):
                raise CheckError(f"{name}: on {label} the gradient has the wrong sign: return the gradient "
                                 f"itself, scipy minimises.")
            raise CheckError(f"{name}: on {label} the gradient differs from value_and_grad's (largest "
                             f"difference {float(np.abs(got_grad - ref_grad).max()):.3g}).")
        count += 1
    _ok(name, count)


# ---------------------------------------------------------------------------------------------
# numbers


def same(name: str, value, reference, rtol: float = RTOL, atol: float = 0.0) -> None:
    """Check that an exercise's answer ``value`` equals ``reference`` (numbers or arrays).

    ``value`` may also be a function of no arguments that returns the answer (so an
    unanswered exercise, still raising ``NotImplementedError``, reports "not implemented
    yet").
    """
    if callable(value):
        value = _call(name, value, "your answer")
    got = _array(name, value, "your answer")
    expected = np.asarray(reference.numpy() if hasattr(reference, "numpy") else reference, np.float64)
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        raise CheckError(f"{name}: expected shape {_shape(expected.shape)}, got {_shape(got.shape)}.")
    if not np.all(np.isfinite(got)):
        raise CheckError(f"{name}: your answer is NaN or infinite ({_summary(got)}).")
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        raise CheckError(f"{name}: expected {_summary(expected)}, got {_summary(got)}.")
    print(f"{GREEN}✔ {name}: correct{RESET}")


__all__ = ["CheckError", "SIGNATURES", "signature", "same"] + [k for k in SIGNATURES if k != "same"]
