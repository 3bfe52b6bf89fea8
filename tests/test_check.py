"""The checks that teach (nstutils.course.check): right answers pass with one green line, known mistakes are named."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

# the course's functions written as a learner writes them (names that are not the pieces check.pieces swaps in)
from learner_code import adam_step as adam, gram_matrix as gram
from nstutils.course import check
from nstutils.course.check import CheckError
from nstutils.errors import NSTError
from nstutils.vgg19 import CAFFE_MEAN_BGR


def _stub(*args):
    raise NotImplementedError("Your code here")


def _passes(capsys, check_fn, fn, name):
    check_fn(fn)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith(f"\x1b[32m✔ {name}: correct on ") and lines[0].endswith("\x1b[0m"), out


def _fails(check_fn, fn, *phrases):
    with pytest.raises(CheckError) as info:
        check_fn(fn)
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message
    assert "\n" not in message
    return message


def test_check_error_is_an_nst_error_and_an_assertion():
    assert issubclass(CheckError, NSTError) and issubclass(CheckError, AssertionError)


def test_every_check_has_a_signature_and_reports_stubs():
    for name in check.SIGNATURES:
        assert callable(getattr(check, name)), name
        assert check.signature(name) == check.SIGNATURES[name]
        if name != "same":
            _fails(getattr(check, name), _stub, "not implemented yet")


def test_passing_the_result_instead_of_the_function_is_explained():
    _fails(check.gram_matrix, np.zeros((1, 3, 3)), "without parentheses")


def test_learner_exceptions_are_reported_with_type_and_message():
    def broken(F):
        return F.nonexistent_method()

    message = _fails(check.gram_matrix, broken, "raised AttributeError", "nonexistent_method")
    assert "where in your code" in message


def test_returning_none_is_explained():
    _fails(check.content_loss, lambda F, P: None, "returned None", "return")


def test_returning_something_that_is_not_a_number_is_explained():
    _fails(check.content_loss, lambda F, P: object(), "returned object", "which is not a tensor")
    _fails(check.content_loss, lambda F, P: np.array(["a"]), "returned ndarray", "which is not a tensor")


# --- preprocess ------------------------------------------------------------------------------


def test_preprocess(capsys):
    _passes(capsys, check.preprocess, lambda image: image[..., ::-1] * 255.0 - CAFFE_MEAN_BGR, "preprocess")
    _fails(check.preprocess, lambda image: (np.asarray(image)[..., ::-1] * 255.0 - CAFFE_MEAN_BGR),
           "returned a NumPy array where the course needs a tf.Tensor", "gradient is lost", "GradientTape")
    _fails(check.preprocess, lambda image: image * 255.0 - CAFFE_MEAN_BGR, "channels left in RGB order")
    _fails(check.preprocess, lambda image: image[..., ::-1] - CAFFE_MEAN_BGR, "forgot ×255")
    _fails(check.preprocess, lambda image: image[..., ::-1] * 255.0, "forgot the mean")
    _fails(check.preprocess, lambda image: image[..., ::-1] * 255.0 - CAFFE_MEAN_BGR[::-1],
           "mean subtracted in RGB order")
    _fails(check.preprocess, lambda image: image * 255.0, "RGB order", "forgot the mean")
    _fails(check.preprocess, lambda image: image[..., ::-1] * 255.0 + CAFFE_MEAN_BGR, "added the mean")


# --- convolution -----------------------------------------------------------------------------


def _correlate(image, kernel, flip=False, pad=False):
    if flip:
        kernel = kernel[::-1, ::-1]
    if pad:
        image = np.pad(image, ((kernel.shape[0] // 2,) * 2, (kernel.shape[1] // 2,) * 2))
    h, w = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.sum(image[i:i + kernel.shape[0], j:j + kernel.shape[1]] * kernel)
    return out


def test_convolution(capsys):
    _passes(capsys, check.convolution, _correlate, "convolution")
    _fails(check.convolution, lambda image, kernel: _correlate(image, kernel, flip=True), "flipped the kernel")
    _fails(check.convolution, lambda image, kernel: _correlate(image, kernel, pad=True), "'same' padding",
           "[3, 3]")
    _fails(check.convolution, lambda image, kernel: _correlate(image, kernel).T, "transposed")


# --- max pooling -----------------------------------------------------------------------------


def test_max_pool(capsys):
    def pool(x, op=np.max, step=2):
        h, w = x.shape
        return np.array([[op(x[i:i + 2, j:j + 2]) for j in range(0, w - 1, step)] for i in range(0, h - 1, step)])

    _passes(capsys, check.max_pool, pool, "max_pool")
    _passes(capsys, check.max_pool, lambda x: tf.nn.max_pool2d(x[None, :, :, None], 2, 2, "VALID")[0, :, :, 0],
            "max_pool")
    _fails(check.max_pool, lambda x: pool(x, np.mean), "averaged")
    _fails(check.max_pool, lambda x: pool(x, step=1), "stride")
    _fails(check.max_pool, lambda x: pool(x, np.min), "minimum")
    h2 = lambda x: (x.shape[0] // 2, x.shape[1] // 2)  # noqa: E731
    _fails(check.max_pool, lambda x: x.reshape(*h2(x), 2, 2).max(axis=(2, 3)), "windows run along the rows",
           "x.reshape(H/2, 2, W/2, 2)")
    _fails(check.max_pool, lambda x: x.reshape(-1, 4).max(axis=1).reshape(h2(x)), "windows run along the rows")
    _fails(check.max_pool, lambda x: np.array([[x[i:i + 2, j:j + 2].max() for j in range(h2(x)[1])]
                                               for i in range(h2(x)[0])]), "wrong stride", "2i")
    _fails(check.max_pool, lambda x: pool(np.pad(x, ((0, 1), (0, 1)), mode="edge")[1:, 1:]), "off by one")
    _fails(check.max_pool, lambda x: pool(x)[:-1, :-1], "off by one", "lost the last window")
    _fails(check.max_pool, lambda x: x[::2, ::2], "top-left value")
    _fails(check.max_pool, lambda x: x.reshape(h2(x)[0], 2, h2(x)[1], 2).max(axis=1), "over its rows only")
    _fails(check.max_pool, lambda x: np.max(x), "whole map to one number")


def test_avg_pool(capsys):
    _passes(capsys, check.avg_pool, lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).mean(axis=(1, 3)),
            "avg_pool")
    _fails(check.avg_pool, lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).max(axis=(1, 3)),
           "largest value")
    _fails(check.avg_pool, lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).sum(axis=(1, 3)), "summed")
    _fails(check.avg_pool, lambda x: x.reshape(x.shape[0] // 2, x.shape[1] // 2, 2, 2).mean(axis=(2, 3)),
           "windows run along the rows")


# --- content loss ----------------------------------------------------------------------------


def test_content_loss(capsys):
    _passes(capsys, check.content_loss, lambda F, P: tf.reduce_mean(tf.square(F - P)), "content_loss")
    _fails(check.content_loss, lambda F, P: float(np.mean((np.asarray(F) - np.asarray(P)) ** 2)),
           "returned a Python float", "gradient is lost")
    _fails(check.content_loss, lambda F, P: np.mean((F.numpy() - P.numpy()) ** 2), "NumPy number", "gradient")
    _fails(check.content_loss, lambda F, P: tf.constant(np.mean((F.numpy() - P.numpy()) ** 2)),
           "no gradient flows back to F")
    _fails(check.content_loss, lambda F, P: tf.reduce_mean(tf.square(tf.stop_gradient(F) - P)),
           "no gradient flows back to F")
    half = lambda F, P: 0.5 * tf.reduce_mean(tf.square(F - P))  # noqa: E731
    _fails(check.content_loss, lambda F, P: half(F, P) + tf.stop_gradient(half(F, P)),
           "the values are right but the gradient is not")
    _fails(check.content_loss, lambda F, P: tf.reduce_sum(tf.square(F - P)), "sum", "tf.reduce_mean")
    _fails(check.content_loss, lambda F, P: 0.5 * tf.reduce_sum(tf.square(F - P)), "paper's ½·Σ")
    _fails(check.content_loss, lambda F, P: tf.sqrt(tf.reduce_mean(tf.square(F - P))), "RMSE")
    _fails(check.content_loss, lambda F, P: tf.reduce_mean(tf.abs(F - P)), "absolute differences")
    _fails(check.content_loss, lambda F, P: tf.square(F - P), "entry by entry")


def test_content_loss_layers(capsys):
    def right(features, targets):
        return tf.add_n([tf.reduce_mean(tf.square(features[k] - targets[k])) for k in targets]) / len(targets)

    _passes(capsys, check.content_loss_layers, right, "content_loss_layers")
    _fails(check.content_loss_layers,
           lambda f, t: tf.add_n([tf.reduce_mean(tf.square(f[k] - t[k])) for k in t]), "summed the layers")
    _fails(check.content_loss_layers,
           lambda f, t: tf.reduce_mean(tf.concat([tf.reshape(tf.square(f[k] - t[k]), [-1]) for k in t], 0)),
           "pooled all entries")
    _fails(check.content_loss_layers, lambda f, t: tf.reduce_mean(tf.square(f["block4_conv2"] - t["block4_conv2"])),
           "only layer block4_conv2")
    _fails(check.content_loss_layers, lambda f, t: f["conv4_2"], "KeyError", "layer names")


# --- Gram matrix -----------------------------------------------------------------------------


def test_gram_matrix(capsys):
    _passes(capsys, check.gram_matrix, gram, "gram_matrix")
    _passes(capsys, check.gram_matrix, lambda F: tf.einsum("bijc,bijd->bcd", F, F)
            / tf.cast(tf.shape(F)[1] * tf.shape(F)[2], tf.float32), "gram_matrix")

    message = _fails(check.gram_matrix, lambda F: gram(F, wrong_way_round=True), "HW×HW", "expected shape [1, 2, 2], got [1, 4, 4]")
    assert "wrong way round" in message
    _fails(check.gram_matrix, lambda F: gram(F) * float(F.shape[1] * F.shape[2]),
           "divide by the number of positions M = H·W")
    _fails(check.gram_matrix, lambda F: gram(F) / float(F.shape[3]), "not by H·W·C")
    _fails(check.gram_matrix, lambda F: gram(F)[0], "keep the batch dimension")

    def mixed(F):
        b, h, w, c = F.shape
        x = tf.reshape(F, [b, c, h * w])
        return tf.matmul(x, x, transpose_b=True) / float(h * w)

    _fails(check.gram_matrix, mixed, "[B, C, H·W]")

    def lopsided(F):
        g = gram(F)
        return g + tf.linalg.band_part(tf.ones_like(g), 0, -1) * 0.1

    _fails(check.gram_matrix, lopsided, "not symmetric")

    def flat_batch(F):
        c = F.shape[3]
        x = tf.reshape(F, [-1, c])
        return tf.matmul(x, x, transpose_a=True) / float(F.shape[1] * F.shape[2])

    _fails(check.gram_matrix, flat_batch, "keep the batch dimension")


def test_tile(capsys):
    check.tile(lambda F, k: tf.tile(F, [1, k, k, 1]))
    out = capsys.readouterr().out
    assert out.startswith("\x1b[32m✔ tile: correct on 3 cases") and "ignores size" in out
    _passes(capsys, check.tile, lambda F, k: tf.concat([tf.concat([F] * k, axis=2)] * k, axis=1), "tile")
    # tf.repeat keeps the Gram matrix (a scale-invariant property) but is a zoom, not copies side by side
    _fails(check.tile, lambda F, k: tf.repeat(tf.repeat(F, k, axis=1), k, axis=2), "not k×k copies",
           "repeated every position", "tf.repeat")
    _fails(check.tile, lambda F, k: tf.tile(F[:, ::-1], [1, k, k, 1]), "same Gram matrix as F")
    _fails(check.tile, lambda F, k: tf.tile(F, [1, k, 1, 1]), "only along the height")
    _fails(check.tile, lambda F, k: tf.tile(F, [k, k, k, 1]), "not the batch axis")
    _fails(check.tile,
           lambda F, k: tf.pad(F, [[0, 0], [0, (k - 1) * F.shape[1]], [0, (k - 1) * F.shape[2]], [0, 0]]),
           "not k×k copies", "Gram matrix differs")


# --- style losses ----------------------------------------------------------------------------


def test_layer_style_loss(capsys):
    _passes(capsys, check.layer_style_loss, lambda F, A: tf.reduce_mean(tf.square(gram(F) - A)), "layer_style_loss")
    _fails(check.layer_style_loss, lambda F, A: tf.reduce_mean(tf.square(F - A)), "compared the feature maps")
    _fails(check.layer_style_loss, lambda F, A: tf.reduce_sum(tf.square(gram(F) - A)), "summed", "mean")

    def paper(F):
        def e_l(F, A):
            _, h, w, n = F.shape
            m = h * w
            return tf.reduce_sum(tf.square(gram(F) * m - A * m)) / (4.0 * n * n * m * m)
        return e_l

    message = _fails(check.layer_style_loss, paper(None), "paper's E_l", "4 times too small")
    assert "¼" in message
    _fails(check.layer_style_loss, lambda F, A: tf.reduce_mean(tf.square(gram(F) * F.shape[1] * F.shape[2] - A)),
           "normalised like A")


def test_layer_style_loss_names_broadcast_errors():
    """Subtracting A from F fails to broadcast on most shapes: the error still points at the Gram matrix."""
    message = _fails(check.layer_style_loss, lambda F, A: tf.reduce_mean(tf.square(F[:, :, :3] - A)),
                     "raised InvalidArgumentError")
    assert "Compute gram_matrix(F) first" in message


def _style(features, grams, weights):
    return tf.add_n([weights[k] * tf.reduce_mean(tf.square(gram(features[k]) - grams[k])) for k in grams])


def test_style_loss(capsys):
    _passes(capsys, check.style_loss, _style, "style_loss")
    _fails(check.style_loss, lambda f, a, w: _style(f, a, {k: 1 / len(a) for k in a}), "ignored layer_weights")
    _fails(check.style_loss, lambda f, a, w: _style(f, a, w) / len(a), "averaged instead of summing")
    _fails(check.style_loss, lambda f, a, w: _style(f, a, {k: 1.0 for k in a}), "forgot the weights")
    first = lambda f, a, w: _style({k: f[k] for k in list(a)[:1]}, {k: a[k] for k in list(a)[:1]}, w)  # noqa: E731
    _fails(check.style_loss, first, "only layer block1_conv1")


# --- total variation and total loss ----------------------------------------------------------


def _tv(image, power=1, reduce=tf.reduce_sum):
    dy = image[:, 1:] - image[:, :-1]
    dx = image[:, :, 1:] - image[:, :, :-1]
    f = tf.abs if power == 1 else tf.square
    return reduce(f(dx)) + reduce(f(dy))


def test_total_variation_loss(capsys):
    _passes(capsys, check.total_variation_loss, _tv, "total_variation_loss")
    _passes(capsys, check.total_variation_loss, tf.image.total_variation, "total_variation_loss")  # shape [1]
    _fails(check.total_variation_loss, lambda im: _tv(im, power=2), "squared the differences")
    _fails(check.total_variation_loss, lambda im: _tv(im, reduce=tf.reduce_mean), "averaged", "tf.reduce_sum")
    _fails(check.total_variation_loss, lambda im: tf.reduce_sum(tf.abs(im[:, :, 1:] - im[:, :, :-1])),
           "only summed the horizontal")
    _fails(check.total_variation_loss, lambda im: tf.reduce_sum(tf.abs(im[:, 1:] - im[:, :-1])),
           "only summed the vertical")
    _fails(check.total_variation_loss,
           lambda im: tf.reduce_sum(im[:, 1:] - im[:, :-1]) + tf.reduce_sum(im[:, :, 1:] - im[:, :, :-1]),
           "absolute value")


def test_total_variation_l2(capsys):
    _passes(capsys, check.total_variation_l2, lambda im: _tv(im, power=2), "total_variation_l2")
    _fails(check.total_variation_l2, _tv, "L1 total variation")
    _fails(check.total_variation_l2, lambda im: _tv(im, power=2, reduce=tf.reduce_mean), "averaged")
    _fails(check.total_variation_l2, lambda im: float(_tv(im, power=2)), "Python float", "gradient is lost")


def test_total_loss(capsys):
    def right(content, style, tv, content_weight, style_weight, tv_weight):
        return content_weight * content + style_weight * style + tv_weight * tv

    _passes(capsys, check.total_loss, right, "total_loss")
    _fails(check.total_loss, lambda c, s, t, cw, sw, tw: cw * c + s + tw * t, "forgot style_weight")
    _fails(check.total_loss, lambda c, s, t, cw, sw, tw: sw * c + cw * s + tw * t, "weights swapped",
           "style_weight on content")
    _fails(check.total_loss, lambda c, s, t, cw, sw, tw: cw * c + sw * s, "left out the tv term")
    _fails(check.total_loss, lambda c, s, t, cw, sw, tw: cw * float(c) + sw * float(s) + tw * float(t),
           "Python float", "gradient is lost")
    _fails(check.total_loss, lambda c, s, t, cw, sw, tw: cw * c + sw * tf.stop_gradient(s) + tw * t,
           "no gradient flows back to s:")   # named as the learner named it


# --- optimisation steps ----------------------------------------------------------------------


def test_adam_step(capsys):
    _passes(capsys, check.adam_step, adam, "adam_step")
    _fails(check.adam_step, lambda i, l, o: adam(i, l, o, apply=False), "did not change", "apply_gradients")
    _fails(check.adam_step, lambda i, l, o: adam(i, l, o, uphill=True), "uphill")
    _fails(check.adam_step, lambda i, l, o: adam(i, l, o, clip=False), "outside [0, 1]", "clip_by_value")
    _fails(check.adam_step, lambda i, l, o: adam(i, l, o, after=True), "loss after the step")
    _fails(check.adam_step, lambda i, l, o: adam(i, l, tf.keras.optimizers.Adam(0.1)), "not a new one")

    def numpy_image(image, loss_fn, optimizer):
        with tf.GradientTape() as tape:
            loss = loss_fn(image.numpy())
        optimizer.apply_gradients([(tape.gradient(loss, image), image)])
        return loss

    _fails(check.adam_step, numpy_image, "gradient was None", "gradient is lost")


def _objective(x, value_and_grad, shape, as_tensor=False, flatten=True, dtype=np.float64, order="C"):
    image = tf.constant(x.reshape(shape, order=order), tf.float32)
    loss, grad = value_and_grad(image)
    if as_tensor:
        return loss, grad
    grad = grad.numpy().astype(dtype)
    return float(loss), grad.ravel(order=order) if flatten else grad


def test_scipy_objective(capsys):
    _passes(capsys, check.scipy_objective, _objective, "scipy_objective")
    _fails(check.scipy_objective, lambda x, vg, s: _objective(x, vg, s, as_tensor=True), "TensorFlow tensor",
           "float(loss)")
    _fails(check.scipy_objective, lambda x, vg, s: _objective(x, vg, s, flatten=False), "not flattened")
    _fails(check.scipy_objective, lambda x, vg, s: _objective(x, vg, s, dtype=np.float32), "float32", "float64")
    _fails(check.scipy_objective, lambda x, vg, s: _objective(x, vg, s, order="F"), "reshape order")
    _fails(check.scipy_objective, lambda x, vg, s: vg(x.reshape(s)), "float32 image")


def test_scipy_objective_works_with_scipy():
    """The reference bridge really drives scipy's L-BFGS-B (what the check asks for is what scipy needs)."""
    from scipy.optimize import minimize

    from nstutils.course.check.optimizers import value_and_grad_for

    shape = (1, 2, 3, 3)
    value_and_grad = value_and_grad_for(shape, 0)
    start = np.full(int(np.prod(shape)), 0.5)
    result = minimize(lambda x: _objective(x, value_and_grad, shape), start, jac=True, method="L-BFGS-B")
    assert result.fun < _objective(start, value_and_grad, shape)[0]


# --- numbers ---------------------------------------------------------------------------------


def test_same(capsys):
    check.same("ratio", 4.0, 4.0)
    check.same("ratio", lambda: tf.constant(4.00001), 4.0)
    assert capsys.readouterr().out == "\x1b[32m✔ ratio: correct\x1b[0m\n" * 2
    with pytest.raises(CheckError, match="ratio: expected 4, got 5"):
        check.same("ratio", 5.0, 4.0)
    with pytest.raises(CheckError, match="not implemented yet"):
        check.same("ratio", _stub, 4.0)
    with pytest.raises(CheckError, match="expected shape"):
        check.same("grams", np.zeros((2, 2)), np.zeros((3, 3)))


def test_nan_and_odd_results_are_explained():
    _fails(check.content_loss, lambda F, P: tf.reduce_mean(tf.square(F - P)) / 0.0, "NaN or infinity")
    _fails(check.gram_matrix, lambda F: "G", "returned a str")
    _fails(check.scipy_objective, lambda x, vg, s: _objective(x, vg, s)[0], "return a pair")
    _fails(check.scipy_objective, lambda x, vg, s: (float(vg(tf.constant(x.reshape(s), tf.float32))[0]),
                                                    vg(tf.constant(x.reshape(s), tf.float32))[1]),
           "gradient is a TensorFlow tensor")


def test_same_names_common_slips():
    def fails(value, reference, *phrases, **kw):
        with pytest.raises(CheckError) as info:
            check.same("answer", value, reference, **kw)
        for phrase in phrases:
            assert phrase in str(info.value), str(info.value)
        assert "\n" not in str(info.value)

    grid = np.arange(1.0, 13.0).reshape(3, 4)
    fails(-grid, grid, "sign is flipped", "largest error")
    fails(2 * grid, grid, "2 × the expected", "extra factor 2")
    fails(grid / 2, grid, "½ × the expected", "factor 2 is missing")
    fails(1 / 1e-3, 1e-3, "reciprocal", "inverted")
    fails(grid + 1, grid, "off by one")
    fails(np.arange(9.0).reshape(3, 3).T, np.arange(9.0).reshape(3, 3), "transposed")
    fails(grid.T, grid, "expected shape [3, 4], got [4, 3]", "transposed")
    fails(grid[None], grid, "values are right but the shape is not")
    fails(np.roll(grid, 1), grid, "right values in the wrong places")
    fails(3 * grid, grid, "3 × the expected answer everywhere")
    fails(np.array(7 // 2), 3.5, "made of integers", "//")
    odd = grid.copy()
    odd[2, 1] = 99.0
    fails(odd, grid, "largest error 89 at index [2, 1] (expected 10, got 99); 1 of 12 entries differ")


def test_same_names_an_answer_that_changes_its_inputs_in_place_and_restores_them():
    painting = np.linspace(0.0, 1.0, 12).reshape(1, 2, 2, 3)
    original = painting.copy()

    def answer():
        xs = painting[0].reshape(-1, 3)
        xs -= xs.mean(0)                           # a view: this changes the notebook's painting
        return xs + 0.5

    with pytest.raises(CheckError, match="changed its input in place"):
        check.same("colour-matched painting", answer, original[0].reshape(-1, 3) - original[0].reshape(-1, 3).mean(0)
                   + 0.5, inputs=(painting,))
    assert np.array_equal(painting, original)      # restored for the cells after the check


# --- 04 ratio_to_weights ---------------------------------------------------------------------


def test_ratio_to_weights(capsys):
    from nstutils.course.experiments import weights_for_ratio
    from nstutils.vgg19 import output_shape

    rows, columns, channels = output_shape("conv4_2", 192, 256)
    right = lambda r, m, n: (2 * m * n * r, 1.0)  # noqa: E731
    assert right(1e-3, rows * columns, channels) == weights_for_ratio(1e-3, (192, 256), "conv4_2")
    _passes(capsys, check.ratio_to_weights, right, "ratio_to_weights")
    _fails(check.ratio_to_weights, lambda r, m, n: (2 * m * n / r, 1.0), "α/β inverted")
    _fails(check.ratio_to_weights, lambda r, m, n: (m * n * r, 1.0), "factor 2 is missing")
    _fails(check.ratio_to_weights, lambda r, m, n: (1.0, 2 * m * n * r), "wrong order")
    _fails(check.ratio_to_weights, lambda r, m, n: (2 * n * r, 1.0), "M (the number of positions) is missing")
    _fails(check.ratio_to_weights, lambda r, m, n: (2 * m * n, 1 / r), "style_weight = 1.0")
    _fails(check.ratio_to_weights, lambda r, m, n: 2 * m * n * r, "return a pair")


# --- 06 gd_step and adam_first_step ----------------------------------------------------------


def _gd(x, g, lr):
    return np.clip(x - lr * g / np.mean(np.abs(g)), 0.0, 1.0)


def test_gd_step(capsys):
    _passes(capsys, check.gd_step, _gd, "gd_step")
    _fails(check.gd_step, lambda x, g, lr: np.clip(x + lr * g / np.mean(np.abs(g)), 0, 1), "uphill")
    _fails(check.gd_step, lambda x, g, lr: np.clip(x - lr * g, 0, 1), "not normalised")
    _fails(check.gd_step, lambda x, g, lr: np.clip(x - lr * g / np.abs(g).max(), 0, 1), "not the largest")
    _fails(check.gd_step, lambda x, g, lr: x - lr * g / np.mean(np.abs(g)), "clip")
    _fails(check.gd_step, lambda x, g, lr: np.clip(x - lr * np.sign(g), 0, 1), "sign(g)")

    def in_place(x, g, lr):
        x -= lr * g / np.mean(np.abs(g))
        return np.clip(x, 0.0, 1.0)

    _fails(check.gd_step, in_place, "changed its input in place", "`xs -= ...`", "work on a copy")


def _adam_first(x, g, learning_rate=0.02, beta_1=0.99, beta_2=0.999, epsilon=0.1, bias=(True, True), sign=1.0):
    m, v = (1 - beta_1) * g, (1 - beta_2) * np.square(g)
    m = m / (1 - beta_1) if bias[0] else m
    v = v / (1 - beta_2) if bias[1] else v
    if bias == (True, True):   # Keras' form: ε added to √v, the correction folded into the step size
        m, v = (1 - beta_1) * g, (1 - beta_2) * np.square(g)
        learning_rate = learning_rate * np.sqrt(1 - beta_2) / (1 - beta_1)
    return np.clip(x - sign * learning_rate * m / (np.sqrt(v) + epsilon), 0.0, 1.0)


def test_adam_first_step(capsys):
    from nstutils.run import adam_update

    x = np.random.default_rng(0).random((1, 3, 4, 3), np.float32)
    g = np.random.default_rng(1).normal(size=x.shape).astype(np.float32) * 10
    assert np.allclose(_adam_first(x, g), adam_update(x, g, np.zeros_like(x), np.zeros_like(x), 1), atol=1e-6)
    _passes(capsys, check.adam_first_step, _adam_first, "adam_first_step")
    _fails(check.adam_first_step, lambda x, g, lr=0.02: _adam_first(x, g, lr, bias=(False, False)),
           "missing bias correction")
    _fails(check.adam_first_step, lambda x, g, lr=0.02: _adam_first(x, g, lr, bias=(True, False)),
           "bias correction of m only")
    _fails(check.adam_first_step, lambda x, g, lr=0.02: _adam_first(x, g, lr, sign=-1.0), "uphill")

    def paper(x, g, lr=0.02, b1=0.99, b2=0.999, eps=0.1):
        m_hat, v_hat = g, np.square(g)
        return np.clip(x - lr * m_hat / (np.sqrt(v_hat) + eps), 0.0, 1.0)

    _fails(check.adam_first_step, paper, "paper's Algorithm 1")

    def in_place(x, g, lr=0.02):
        x -= lr * np.sqrt(0.001) / 0.01 * 0.01 * g / (np.sqrt(0.001 * g * g) + 0.1)
        return np.clip(x, 0.0, 1.0)

    _fails(check.adam_first_step, in_place, "changed its input in place")


# --- 07 colour matching ----------------------------------------------------------------------


def _power(cov, p):
    values, vectors = np.linalg.eigh(cov)
    return vectors @ np.diag(values ** p) @ vectors.T


def _matched(painting, photo, in_place=False):
    xs = painting[0].reshape(-1, 3)
    xc = photo[0].reshape(-1, 3).astype(np.float64)
    a = _power(np.cov(xc, rowvar=False), 0.5) @ _power(np.cov(xs, rowvar=False), -0.5)
    if in_place:
        xs -= xs.mean(0)                # the mistake: a view of the caller's painting
    else:
        xs = xs - xs.mean(0)
    return np.clip(xs @ a.T + xc.mean(0), 0, 1).reshape(painting[0].shape)


def test_color_matching(capsys):
    from nstutils.color import match_color

    _passes(capsys, check.color_matching, _matched, "color_matching")
    _passes(capsys, check.color_matching, lambda p, c: _matched(p, c)[None], "color_matching")
    _fails(check.color_matching, lambda p, c: _matched(p, c, in_place=True), "changed its input in place",
           "work on a copy")
    _fails(check.color_matching, lambda p, c: _matched(c, p), "photo's shape")
    _fails(check.color_matching, match_color, "calls nstutils' own nstutils.color.match_color")
    notebook = {}                                # as a notebook's cell defines it: the library a global name
    exec("from nstutils.color import match_color\n"
         "def color_matching(painting, photo):\n    return match_color(painting, photo)\n", notebook)
    _fails(check.color_matching, notebook["color_matching"], "nstutils.color.match_color")

    def mean_only(painting, photo):
        xs, xc = painting[0].reshape(-1, 3), photo[0].reshape(-1, 3)
        return np.clip(xs - xs.mean(0) + xc.mean(0), 0, 1).reshape(painting[0].shape)

    _fails(check.color_matching, mean_only, "mean colour only")


# --- how a failing check shows ---------------------------------------------------------------


def test_short_traceback_shows_the_learners_lines_and_the_message():
    from nstutils.course.check.display import short_traceback

    def broken(F, P):
        return F.nonexistent_method()

    with pytest.raises(CheckError) as info:
        check.content_loss(broken)
    lines = short_traceback(info.value)
    assert lines[0] == "AttributeError in your code:"
    message = [line for line in lines if line.startswith("\x1b[31m")]
    assert any("return F.nonexistent_method()" in line for line in lines[1:-len(message)])
    assert not any("nstutils/course/check" in line for line in lines)
    assert message[0].startswith("\x1b[31m✘ content_loss raised AttributeError")
    with pytest.raises(CheckError) as info:
        check.content_loss(lambda F, P: tf.reduce_sum(tf.square(F - P)))
    lines = short_traceback(info.value)
    assert all(line.startswith("\x1b[31m") and line.endswith("\x1b[0m") for line in lines)
    assert " ".join(line[5:-4] for line in lines) == f"✘ {' '.join(str(info.value).split())}"


def test_the_message_is_wrapped_so_nbgrader_validate_shows_all_of_it():
    """nbgrader validate cuts each line of an error at about 83 characters: the message comes in lines of at most
    78, and the diagnosis is in its first line."""
    from nstutils.course.check.display import WIDTH, short_traceback

    with pytest.raises(CheckError) as info:
        check.gram_matrix(lambda F: gram(F, wrong_way_round=True))
    lines = short_traceback(info.value)
    assert len(lines) > 1 and all(len(line) - len("\x1b[31m\x1b[0m") <= WIDTH for line in lines), lines
    assert "wrong way round" in lines[0][:85], lines[0]


def test_a_tensorflow_error_in_the_learners_function_shows_the_learners_line_not_tensorflows():
    from nstutils.course.check.display import short_traceback

    def total_variation_l2(image):
        dy = image[:, 1:, :, :] - image[:, :-1, :, :]
        dx = image[:, :, 1:, :] - image[:, :, :-1, :]
        return tf.reduce_sum(tf.square(dx + dy))          # shapes [1, H, W-1, 3] and [1, H-1, W, 3]

    with pytest.raises(CheckError) as info:
        check.total_variation_l2(total_variation_l2)
    lines = short_traceback(info.value)
    frames = [line for line in lines[1:] if not line.startswith("\x1b[31m")]
    assert frames and all("test_check.py" in line for line in frames), lines
    assert "return tf.reduce_sum(tf.square(dx + dy))" in frames[-1], frames
    assert not any("tensorflow" in line for line in frames), frames
    assert "different shapes" in str(info.value), str(info.value)


def test_setup_outside_ipython_registers_nothing():
    assert check.setup() is False


def test_a_failing_check_fails_its_notebook_cell_and_shows_only_its_message(tmp_path):
    """In a kernel (as nbval and nbgrader run notebooks) the cell still errors; its output is the short message."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from kernels import AsyncIPCKernelManager

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import tensorflow as tf\nfrom nstutils.course import check\n"
                                          "check.setup()"),
                nbformat.v4.new_code_cell("check.content_loss(lambda F, P: tf.reduce_sum(tf.square(F - P)))"),
                nbformat.v4.new_code_cell("def content_loss(F, P):\n    return F.oops()\n"
                                          "check.content_loss(content_loss)")]
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            kernel_manager_class=AsyncIPCKernelManager, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    for index, phrase in ((1, "use tf.reduce_mean, not tf.reduce_sum"), (2, "content_loss raised AttributeError")):
        errors = [o for o in nb.cells[index].outputs if o.output_type == "error"]
        assert len(errors) == 1, nb.cells[index].outputs
        assert errors[0].ename == "CheckError"
        shown = "\n".join(errors[0].traceback)
        words = " ".join(shown.replace("\x1b[31m", "").replace("\x1b[0m", "").split())   # wrapped at 78 columns
        assert phrase in words and "core.py" not in shown and "runner.py" not in shown, shown
        assert len(errors[0].traceback) <= 10 and all(len(line) <= 90 for line in errors[0].traceback), shown
    assert "return F.oops()" in "\n".join(nb.cells[2].outputs[-1].traceback)
    nb.cells = nb.cells[:2]
    with pytest.raises(CellExecutionError, match="use tf.reduce_mean, not tf.reduce_sum") as info:
        NotebookClient(nb, timeout=300, kernel_name="python3", kernel_manager_class=AsyncIPCKernelManager,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert info.value.ename == "CheckError"


# --- each function graded on its own (check.pieces) -------------------------------------------

WRONG_GRAM = '''
def gram_matrix(F):
    b, h, w, c = F.shape
    x = tf.reshape(F, [b, h * w, c])
    return tf.matmul(x, x, transpose_b=True) / float(h * w)      # F Fᵀ: [HW, HW], the product the wrong way round

def layer_style_loss(F, A):
    return tf.reduce_mean(tf.square(gram_matrix(F) - A))

def style_loss(features, target_grams, layer_weights):
    return tf.add_n([layer_weights[k] * layer_style_loss(features[k], target_grams[k]) for k in target_grams])

def broken_style_loss(features, target_grams, layer_weights):
    return tf.add_n([layer_style_loss(features[k], target_grams[k]) for k in target_grams])   # weights forgotten
'''


def test_a_wrong_gram_matrix_costs_only_its_own_check_and_is_put_back():
    namespace = {"tf": tf}
    exec(WRONG_GRAM, namespace)
    learner_gram = namespace["gram_matrix"]
    with pytest.raises(CheckError, match="wrong way round"):
        check.gram_matrix(namespace["gram_matrix"])
    check.layer_style_loss(namespace["layer_style_loss"])      # graded with the library's gram_matrix
    check.style_loss(namespace["style_loss"])                  # ... and the library's layer_style_loss
    with pytest.raises(CheckError, match="weight"):
        check.style_loss(namespace["broken_style_loss"])       # its own mistake still fails, and is named
    assert namespace["gram_matrix"] is learner_gram            # the learner's function is back, after an error too
    assert "layer_style_loss" in namespace and namespace["layer_style_loss"].__name__ == "layer_style_loss"


def test_an_answer_is_graded_with_the_library_s_pieces_and_undefined_names_still_fail():
    namespace = {"tf": tf, "np": np}
    exec(WRONG_GRAM + "\ndef answer():\n    return layer_style_loss(F0, gram_matrix(F0) * 0)\n"
         "\ndef missing():\n    return total_variation_loss(F0)\n", namespace)
    namespace["F0"] = tf.constant(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    from nstutils import losses

    F0 = namespace["F0"]
    check.same("a style loss", namespace["answer"], losses.style_loss(F0, losses.gram_matrix(F0) * 0))
    with pytest.raises(CheckError, match="NameError"):
        check.same("undefined", namespace["missing"], 0.0)    # no piece is invented where the learner has none


# --- issue 37: no false zeros for correct answers written differently, no free points for the library's answer


def _gram_einsum(F):
    return tf.einsum("bijc,bijd->bcd", F, F) / tf.cast(tf.shape(F)[1] * tf.shape(F)[2], F.dtype)


def _gram_loop(F):
    grams = []
    for image in tf.unstack(F):
        x = tf.reshape(image, [-1, F.shape[3]])
        grams.append(tf.transpose(x) @ x / float(x.shape[0]))
    return tf.stack(grams)


@pytest.mark.parametrize("answer", [_gram_einsum, _gram_loop], ids=["einsum", "loop over the batch"])
def test_gram_matrix_written_differently_passes(capsys, answer):
    _passes(capsys, check.gram_matrix, answer, "gram_matrix")


def _layer(F, A):
    return tf.reduce_mean(tf.square(gram(F) - A))


def _style_skipping_zero_weights(features, target_grams, layer_weights):
    total = 0.0
    for layer in target_grams:
        if layer_weights[layer] == 0:
            continue                                   # as nstutils.losses.style_loss does: nothing to add
        total += layer_weights[layer] * _layer(features[layer], target_grams[layer])
    return total


def _style_add_n(features, target_grams, layer_weights):
    return tf.add_n([layer_weights[k] * _layer(features[k], target_grams[k]) for k in target_grams
                     if layer_weights[k]])


@pytest.mark.parametrize("answer", [_style_skipping_zero_weights, _style_add_n], ids=["loop", "add_n"])
def test_style_loss_that_skips_layers_of_weight_zero_passes(capsys, answer):
    """A layer of weight 0 skipped: its features get no gradient, as with the library's own style_loss (the
    check's false zero was "no gradient flows back to features")."""
    _passes(capsys, check.style_loss, answer, "style_loss")


def test_style_loss_looping_over_the_features_instead_of_the_targets_fails():
    def style_loss(features, target_grams, layer_weights):
        return tf.add_n([layer_weights[k] * _layer(features[k], target_grams[k]) for k in features])

    _fails(check.style_loss, style_loss, "KeyError", "loop over the layers of target_grams")


def test_an_answer_that_calls_the_librarys_own_implementation_scores_nothing():
    from nstutils import losses
    from nstutils.vgg19 import preprocess

    _fails(check.gram_matrix, lambda F: losses.gram_matrix(F), "calls nstutils' own nstutils.losses.gram_matrix",
           "no point")
    _fails(check.style_loss, lambda f, a, w: losses.style_loss({k: f[k] for k in a}, a, w),
           "nstutils.losses.style_loss")
    _fails(check.layer_style_loss, lambda F, A: losses.style_loss(F, A, [1.0]), "nstutils.losses.style_loss")
    _fails(check.preprocess, lambda image: preprocess(image), "nstutils.vgg19.preprocess")
    _fails(check.total_variation_l2, lambda image: losses.total_variation_loss(image, "l2"),
           "nstutils.losses.total_variation_loss")

    def swallowed(F):             # the tripwire's error caught: still no point
        try:
            return losses.gram_matrix(F)
        except Exception:
            return gram(F)

    _fails(check.gram_matrix, swallowed, "nstutils.losses.gram_matrix")
    assert losses.gram_matrix.__name__ == "gram_matrix"          # the library is put back
    assert np.allclose(losses.gram_matrix(tf.ones([1, 2, 2, 1])), 1.0)


def test_a_piece_graded_alone_may_call_the_librarys_other_functions(capsys):
    """style_loss graded with the library's layer_style_loss in place of the learner's (check.pieces), which is
    nstutils.losses.style_loss itself: that stand-in is not the learner calling the library."""
    namespace = {"tf": tf, "layer_style_loss": lambda F, A: tf.constant(0.0)}
    exec("def style_loss(features, target_grams, layer_weights):\n"
         "    return tf.add_n([layer_weights[k] * layer_style_loss(features[k], target_grams[k])\n"
         "                     for k in target_grams])\n", namespace)
    _passes(capsys, check.style_loss, namespace["style_loss"], "style_loss")


def test_max_pool_over_the_wrong_axes_is_named():
    _fails(check.max_pool, lambda x: x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).max(axis=(0, 2)),
           "over axes 0 and 2", "axis=(1, 3)")
    _fails(check.max_pool, lambda x: x.reshape(2, x.shape[0] // 2, 2, x.shape[1] // 2).max(axis=(0, 2)),
           "axis=(1, 3)")          # on a 4×4 map the same numbers as axes 0 and 2 of x.reshape(H/2, 2, W/2, 2)


@pytest.mark.parametrize("multiples, words", [("[k, k, 1, 1]", "along the batch and the height"),
                                              ("[1, 1, k, k]", "along the width and the channels"),
                                              ("[1, k * k, 1, 1]", "all k×k")])
def test_tile_along_the_wrong_axes_is_named(multiples, words):
    tile = eval(f"lambda F, k: tf.tile(F, {multiples})")
    _fails(check.tile, tile, words, "[1, k, k, 1]")


def test_tile_with_too_few_multiples_is_named():
    _fails(check.tile, lambda F, k: tf.tile(F, [1, k, k]), "one count per axis")
