"""Realistic learner mistakes fed to the course's checks: none passes, and at least 90 % get a message that
names the mistake (issue 21: "checks that never pass a wrong answer and always say why").

Each entry is what a learner might really write in a notebook's your-turn cell (the
reference solutions are in notebooks/*.ipynb), the check that grades it, and the words the
check's message must contain to count as naming the mistake.
"""

from __future__ import annotations

from typing import Callable, List, NamedTuple, Tuple

import numpy as np
import pytest
import tensorflow as tf

# the course's functions written as a learner writes them (names that are not the pieces check.pieces swaps in)
from learner_code import adam_step as adam, gram_matrix as gram
from nstutils.course import check
from nstutils.course.check import CheckError
from nstutils.vgg19 import CAFFE_MEAN_BGR


class Mistake(NamedTuple):
    check: str
    label: str
    fn: Callable
    words: Tuple[str, ...]


def _layer_style(F, A):
    return tf.reduce_mean(tf.square(gram(F) - A))


def _library_gram(F):
    from nstutils import losses

    return losses.gram_matrix(F)


def _diffs(image):
    return image[:, 1:] - image[:, :-1], image[:, :, 1:] - image[:, :, :-1]


def _pool_loops(x, start=0, step=2, op=np.max):
    h, w = x.shape
    return np.array([[op(x[i * step + start:i * step + start + 2, j * step + start:j * step + start + 2])
                      for j in range(w // 2)] for i in range(h // 2)])


def _adam_first(x, g, lr=0.02, b1=0.99, b2=0.999, eps=0.1, correct=True, in_place=False):
    m, v = (1 - b1) * g, (1 - b2) * np.square(g)
    alpha = lr * np.sqrt(1 - b2) / (1 - b1) if correct else lr
    if in_place:
        x -= alpha * m / (np.sqrt(v) + eps)
        return np.clip(x, 0.0, 1.0)
    return np.clip(x - alpha * m / (np.sqrt(v) + eps), 0.0, 1.0)


def _power(cov, p):
    values, vectors = np.linalg.eigh(cov)
    return vectors @ np.diag(values ** p) @ vectors.T


def _colour(painting, photo, in_place=False, covariance=True, transpose=True):
    xs = painting[0].reshape(-1, 3) if in_place else painting[0].reshape(-1, 3).astype(np.float64)
    xc = photo[0].reshape(-1, 3).astype(np.float64)
    a = _power(np.cov(xc, rowvar=False), 0.5) @ _power(np.cov(xs, rowvar=False), -0.5)
    if in_place:
        xs -= xs.mean(0)                              # changes the caller's painting
    else:
        xs = xs - xs.mean(0)
    if not covariance:
        return np.clip(xs + xc.mean(0), 0, 1).reshape(painting[0].shape)
    return np.clip(xs @ (a.T if transpose else a) + xc.mean(0), 0, 1).reshape(painting[0].shape)


M = Mistake
MISTAKES: List[Mistake] = [
    # 01 preprocess
    M("preprocess", "numpy result", lambda im: np.asarray(im)[..., ::-1] * 255.0 - CAFFE_MEAN_BGR,
      ("NumPy array", "gradient is lost")),
    M("preprocess", "RGB kept", lambda im: im * 255.0 - CAFFE_MEAN_BGR, ("RGB order",)),
    M("preprocess", "no ×255", lambda im: im[..., ::-1] - CAFFE_MEAN_BGR, ("forgot ×255",)),
    M("preprocess", "mean in RGB order", lambda im: im[..., ::-1] * 255.0 - CAFFE_MEAN_BGR[::-1],
      ("mean subtracted in RGB order",)),
    M("preprocess", "tf.constant of numpy", lambda im: tf.constant(im.numpy()[..., ::-1] * 255.0 - CAFFE_MEAN_BGR,
                                                                   tf.float32), ("no gradient flows",)),
    # 01 convolution, pooling
    M("convolution", "kernel flipped", lambda im, k: _conv(im, k[::-1, ::-1]), ("flipped the kernel",)),
    M("convolution", "off by one", lambda im, k: _conv(im, k)[:-1, :-1], ("one position short",)),
    M("convolution", "in place", lambda im, k: _conv_in_place(im, k), ("in place",)),
    M("max_pool", "windows along rows", lambda x: x.reshape(x.shape[0] // 2, x.shape[1] // 2, 2, 2).max(axis=(2, 3)),
      ("windows run along the rows",)),
    M("max_pool", "stride 1 windows", lambda x: _pool_loops(x, step=1), ("wrong stride",)),
    M("max_pool", "off by one start", lambda x: _pool_loops(np.pad(x, ((0, 1), (0, 1)), mode="edge"), start=1),
      ("off by one",)),
    M("max_pool", "average", lambda x: _pool_loops(x, op=np.mean), ("averaged",)),
    M("max_pool", "top-left only", lambda x: x[::2, ::2], ("top-left",)),
    M("max_pool", "axes 0 and 2", lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).max(axis=(0, 2)),
      ("over axes 0 and 2", "axis=(1, 3)")),
    M("max_pool", "rows only", lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).max(axis=1),
      ("over its rows only",)),
    M("avg_pool", "sum", lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).sum(axis=(1, 3)),
      ("summed each window",)),
    # 02 content
    M("content_loss", "sum", lambda F, P: tf.reduce_sum(tf.square(F - P)), ("tf.reduce_mean, not tf.reduce_sum",)),
    M("content_loss", "numpy mean", lambda F, P: np.mean((F.numpy() - P.numpy()) ** 2), ("NumPy", "gradient")),
    M("content_loss", "python float", lambda F, P: float(tf.reduce_mean(tf.square(F - P))),
      ("Python float", "gradient")),
    M("content_loss", "RMSE", lambda F, P: tf.sqrt(tf.reduce_mean(tf.square(F - P))), ("RMSE",)),
    M("content_loss", "no square", lambda F, P: tf.reduce_mean(F - P), ("square each difference",)),
    M("content_loss_layers", "sum of layers", lambda f, t: tf.add_n([tf.reduce_mean(tf.square(f[k] - t[k]))
                                                                     for k in t]), ("summed the layers",)),
    M("content_loss_layers", "numpy", lambda f, t: np.mean([np.mean((f[k].numpy() - t[k].numpy()) ** 2) for k in t]),
      ("NumPy", "gradient")),
    # 03 Gram and style
    M("gram_matrix", "not normalised", lambda F: gram(F) * float(F.shape[1] * F.shape[2]),
      ("divide by the number of positions",)),
    M("gram_matrix", "HW×HW", lambda F: tf.matmul(tf.reshape(F, [F.shape[0], -1, F.shape[3]]),
                                                 tf.reshape(F, [F.shape[0], -1, F.shape[3]]), transpose_b=True),
      ("wrong way round",)),
    M("gram_matrix", "reshape to [B, C, HW]", lambda F: (lambda x: tf.matmul(x, x, transpose_b=True))(
        tf.reshape(F, [F.shape[0], F.shape[3], -1])) / float(F.shape[1] * F.shape[2]), ("[B, C, H·W]",)),
    M("gram_matrix", "numpy einsum", lambda F: np.einsum("bijc,bijd->bcd", F, F) / (F.shape[1] * F.shape[2]),
      ("NumPy array", "gradient is lost")),
    M("gram_matrix", "no batch axis", lambda F: gram(F)[0], ("keep the batch dimension",)),
    M("layer_style_loss", "F instead of G", lambda F, A: tf.reduce_mean(tf.square(F - A)), ("gram_matrix(F)",)),
    M("layer_style_loss", "sum", lambda F, A: tf.reduce_sum(tf.square(gram(F) - A)), ("summed",)),
    M("layer_style_loss", "numpy", lambda F, A: np.mean((gram(F).numpy() - A.numpy()) ** 2), ("NumPy", "gradient")),
    M("style_loss", "weights ignored", lambda f, a, w: tf.add_n([_layer_style(f[k], a[k]) for k in a]),
      ("forgot the weight",)),
    M("style_loss", "averaged", lambda f, a, w: tf.add_n([w[k] * _layer_style(f[k], a[k]) for k in a]) / len(a),
      ("averaged instead of summing",)),
    M("style_loss", "python sum of floats", lambda f, a, w: sum(float(w[k] * _layer_style(f[k], a[k])) for k in a),
      ("Python float", "gradient")),
    M("tile", "batch and height", lambda F, k: tf.tile(F, [k, k, 1, 1]), ("not the batch axis", "[1, k, k, 1]")),
    M("style_loss", "loops over features", lambda f, a, w: tf.add_n([w[k] * _layer_style(f[k], a[k]) for k in f]),
      ("loop over the layers of target_grams",)),
    M("gram_matrix", "the library's own", lambda F: _library_gram(F), ("nstutils' own",)),
    M("tile", "tf.repeat", lambda F, k: tf.repeat(tf.repeat(F, k, axis=1), k, axis=2), ("repeated every position",)),
    M("tile", "height only", lambda F, k: tf.tile(F, [1, k, 1, 1]), ("only along the height",)),
    M("tile", "zeros padding", lambda F, k: tf.pad(F, [[0, 0], [0, (k - 1) * F.shape[1]], [0, (k - 1) * F.shape[2]],
                                                      [0, 0]]), ("Gram matrix differs",)),
    M("tile", "mirrored copies", lambda F, k: tf.tile(F[:, ::-1], [1, k, k, 1]), ("same Gram matrix", "not made of")),
    # 04 ratio to weights
    M("ratio_to_weights", "α/β inverted", lambda r, m, n: (2 * m * n / r, 1.0), ("α/β inverted",)),
    M("ratio_to_weights", "no factor 2", lambda r, m, n: (m * n * r, 1.0), ("factor 2 is missing",)),
    M("ratio_to_weights", "pair swapped", lambda r, m, n: (1.0, 2 * m * n * r), ("wrong order",)),
    M("ratio_to_weights", "style weight moved", lambda r, m, n: (2 * m * n, 1 / r), ("style_weight = 1.0",)),
    # 05 full transfer
    M("total_variation_loss", "squared", lambda im: sum(tf.reduce_sum(tf.square(d)) for d in _diffs(im)),
      ("squared the differences",)),
    M("total_variation_loss", "mean", lambda im: sum(tf.reduce_mean(tf.abs(d)) for d in _diffs(im)), ("averaged",)),
    M("total_variation_loss", "numpy", lambda im: sum(np.sum(np.abs(d.numpy())) for d in _diffs(im)),
      ("NumPy", "gradient")),
    M("total_variation_loss", "one direction", lambda im: tf.reduce_sum(tf.abs(_diffs(im)[1])),
      ("only summed the horizontal",)),
    M("total_variation_l2", "L1 kept", lambda im: sum(tf.reduce_sum(tf.abs(d)) for d in _diffs(im)),
      ("L1 total variation",)),
    M("total_variation_l2", "dx + dy", lambda im: tf.reduce_sum(tf.square(_diffs(im)[0] + _diffs(im)[1])),
      ("different shapes",)),
    M("total_variation_l2", "square root", lambda im: tf.sqrt(sum(tf.reduce_sum(tf.square(d)) for d in _diffs(im))),
      ("no square root",)),
    M("total_loss", "weights swapped", lambda c, s, t, cw, sw, tw: sw * c + cw * s + tw * t, ("weights swapped",)),
    M("total_loss", "tv left out", lambda c, s, t, cw, sw, tw: cw * c + sw * s, ("left out the tv term",)),
    M("total_loss", "floats", lambda c, s, t, cw, sw, tw: cw * float(c) + sw * float(s) + tw * float(t),
      ("Python float", "gradient")),
    M("adam_step", "no clip", lambda i, l, o: adam(i, l, o, clip=False), ("outside [0, 1]",)),
    M("adam_step", "numpy image in the tape", lambda i, l, o: adam(i, l, o, numpy_loss=True), ("gradient",)),
    M("adam_step", "loss after", lambda i, l, o: (adam(i, l, o), l(i))[1], ("loss after the step",)),
    # 06 optimizers
    M("scipy_objective", "float32 gradient", lambda x, vg, s: (lambda r: (float(r[0]), r[1].numpy().ravel()))(
        vg(tf.constant(x.reshape(s), tf.float32))), ("float64",)),
    M("scipy_objective", "not flattened", lambda x, vg, s: (lambda r: (float(r[0]), r[1].numpy().astype(np.float64)))(
        vg(tf.constant(x.reshape(s), tf.float32))), ("not flattened",)),
    M("gd_step", "sign flip", lambda x, g, lr: np.clip(x + lr * g / np.mean(np.abs(g)), 0, 1), ("uphill",)),
    M("gd_step", "not normalised", lambda x, g, lr: np.clip(x - lr * g, 0, 1), ("not normalised",)),
    M("gd_step", "no clip", lambda x, g, lr: x - lr * g / np.mean(np.abs(g)), ("clip",)),
    M("gd_step", "in place", lambda x, g, lr: _gd_in_place(x, g, lr), ("in place",)),
    M("gd_step", "mean without abs", lambda x, g, lr: np.clip(x - lr * g / np.mean(g), 0, 1), ("mean(|g|)",)),
    M("adam_first_step", "no bias correction", lambda x, g, lr=0.02, b1=0.99, b2=0.999, eps=0.1: _adam_first(
        x, g, lr, b1, b2, eps, correct=False), ("missing bias correction",)),
    M("adam_first_step", "sign flip", lambda x, g, lr=0.02, b1=0.99, b2=0.999, eps=0.1: np.clip(
        x + lr * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g / (np.sqrt((1 - b2) * g * g) + eps), 0, 1), ("uphill",)),
    M("adam_first_step", "in place", lambda x, g, lr=0.02, b1=0.99, b2=0.999, eps=0.1: _adam_first(
        x, g, lr, b1, b2, eps, in_place=True), ("in place",)),
    M("adam_first_step", "ε in the root", lambda x, g, lr=0.02, b1=0.99, b2=0.999, eps=0.1: np.clip(
        x - lr * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g / np.sqrt((1 - b2) * g * g + eps), 0, 1),
      ("outside the square root",)),
    # 07 colour matching
    M("color_matching", "xs -= mean (in place)", lambda p, c: _colour(p, c, in_place=True), ("in place",)),
    M("color_matching", "mean only", lambda p, c: _colour(p, c, covariance=False), ("mean colour only",)),
    M("color_matching", "A not transposed", lambda p, c: _colour(p, c, transpose=False), ("@ A.T",)),
    M("color_matching", "recoloured the photo", lambda p, c: _colour(c, p), ("photo's shape",)),
]


def _conv(image, kernel):
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out


def _conv_in_place(image, kernel):
    image -= image.mean()                       # "normalise" the caller's image
    return _conv(image + image.mean(), kernel)


def _gd_in_place(x, g, lr):
    x -= lr * g / np.mean(np.abs(g))
    return np.clip(x, 0.0, 1.0)


def _message(mistake: Mistake) -> str | None:
    """The check's message for the mistake, or None if the check passed it."""
    try:
        getattr(check, mistake.check)(mistake.fn)
    except CheckError as error:
        return str(error)
    return None


def test_the_catalogue_covers_every_learner_function():
    from test_audio_checks import AUDIO_MISTAKES   # 08's functions have their own catalogue

    covered = {m.check for m in MISTAKES + AUDIO_MISTAKES}
    learner_functions = set(check.SIGNATURES) - {"same"}
    assert len(MISTAKES) >= 40
    assert learner_functions <= covered, learner_functions - covered


def test_no_mistake_passes_and_at_least_90_percent_are_named(capsys):
    passed, unnamed = [], []
    for mistake in MISTAKES:
        message = _message(mistake)
        if message is None:
            passed.append(f"{mistake.check}: {mistake.label}")
        elif not all(word in message for word in mistake.words):
            unnamed.append(f"{mistake.check}: {mistake.label} -> {message}")
    capsys.readouterr()
    share = 1 - len(unnamed) / len(MISTAKES)
    print(f"{len(MISTAKES)} learner mistakes: none passes ({len(passed)} did), "
          f"{share:.0%} named ({len(MISTAKES) - len(unnamed)}/{len(MISTAKES)})")
    assert not passed, passed
    assert share >= 0.9, "\n".join(unnamed)


@pytest.mark.parametrize("mistake", MISTAKES, ids=[f"{m.check}-{m.label}" for m in MISTAKES])
def test_each_mistake_fails_its_check(mistake):
    assert _message(mistake) is not None, f"{mistake.check} passed: {mistake.label}"
