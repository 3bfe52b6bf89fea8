"""Each loss against a plain numpy reference and hand-worked tiny cases."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nstutils.errors import SettingsError
from nstutils.losses import content_loss, gram_matrix, image_differences, style_loss, total_variation_loss


def numpy_gram(features: np.ndarray) -> np.ndarray:
    b, h, w, c = features.shape
    flat = features.reshape(b, h * w, c)
    return np.einsum("bpc,bpd->bcd", flat, flat) / (h * w)


def test_gram_by_hand():
    # Two positions, two channels: F = [[1, 2], [3, 4]] -> FᵀF = [[10, 14], [14, 20]], / 2 positions.
    features = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32)  # [1, 1, 2, 2]
    np.testing.assert_allclose(gram_matrix(features).numpy(), [[[5.0, 7.0], [7.0, 10.0]]])


def test_gram_matches_numpy_and_is_symmetric(rng):
    features = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
    gram = gram_matrix(features).numpy()
    assert gram.shape == (2, 4, 4)
    np.testing.assert_allclose(gram, numpy_gram(features), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gram, np.transpose(gram, (0, 2, 1)), rtol=1e-6)


def test_gram_ignores_spatial_arrangement(rng):
    features = rng.normal(size=(1, 6, 6, 3)).astype(np.float32)
    shuffled = features.reshape(1, 36, 3)[:, rng.permutation(36)].reshape(1, 6, 6, 3)
    np.testing.assert_allclose(gram_matrix(features), gram_matrix(shuffled), rtol=1e-5)


def test_gram_rejects_wrong_rank():
    with pytest.raises(SettingsError, match=r"\[B, H, W, C\]"):
        gram_matrix(np.zeros((3, 3)))


def test_content_loss_is_mean_squared_error(rng):
    a = rng.normal(size=(1, 4, 5, 3)).astype(np.float32)
    b = rng.normal(size=(1, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(content_loss(a, b).numpy(), np.mean((a - b) ** 2), rtol=1e-6)
    assert content_loss(a, a).numpy() == 0.0


def test_content_loss_averages_over_layers():
    features = {"x": np.ones((1, 2, 2, 1), np.float32), "y": np.zeros((1, 2, 2, 1), np.float32)}
    targets = {"x": np.zeros((1, 2, 2, 1), np.float32), "y": np.full((1, 2, 2, 1), 3.0, np.float32)}
    # layer x: mean 1, layer y: mean 9 -> average 5
    assert content_loss(features, targets).numpy() == pytest.approx(5.0)


def test_style_loss_matches_numpy_with_default_and_given_weights(rng):
    feats = {k: rng.normal(size=(1, 4, 4, 3)).astype(np.float32) for k in ("a", "b")}
    other = {k: rng.normal(size=(1, 6, 5, 3)).astype(np.float32) for k in ("a", "b")}
    targets = {k: numpy_gram(v) for k, v in other.items()}
    per_layer = {k: np.mean((numpy_gram(feats[k]) - targets[k]) ** 2) for k in feats}
    expected_mean = (per_layer["a"] + per_layer["b"]) / 2
    np.testing.assert_allclose(style_loss(feats, targets).numpy(), expected_mean, rtol=1e-5)
    weighted = style_loss(feats, targets, {"a": 2.0, "b": 0.0}).numpy()
    np.testing.assert_allclose(weighted, 2.0 * per_layer["a"], rtol=1e-5)
    np.testing.assert_allclose(style_loss(feats, targets, [1.0, 1.0]).numpy(),
                               per_layer["a"] + per_layer["b"], rtol=1e-5)


def test_style_loss_rejects_negative_nan_and_missing_weights(rng):
    feats = {"a": rng.normal(size=(1, 2, 2, 2)).astype(np.float32)}
    targets = {"a": numpy_gram(feats["a"])}
    for bad in ({"a": -1.0}, {"a": float("nan")}, [1.0, 2.0]):
        with pytest.raises(SettingsError):
            style_loss(feats, targets, bad)
    with pytest.raises(SettingsError, match="layers"):
        style_loss(feats, {"b": targets["a"]})


def test_total_variation_by_hand():
    # One channel 2×2 image [[0, 1], [3, 5]]: |dx| = 1 + 2, |dy| = 3 + 4 -> 10; squared: 1+4+9+16 = 30.
    image = np.array([[0.0, 1.0], [3.0, 5.0]], np.float32)[None, :, :, None]
    assert total_variation_loss(image).numpy() == pytest.approx(10.0)
    assert total_variation_loss(image, "l2").numpy() == pytest.approx(30.0)
    with pytest.raises(SettingsError):
        total_variation_loss(image, "l3")


def test_total_variation_l1_equals_tensorflow(rng):
    image = rng.uniform(size=(1, 9, 11, 3)).astype(np.float32)
    expected = float(tf.reduce_sum(tf.image.total_variation(tf.constant(image))))
    assert float(total_variation_loss(image)) == pytest.approx(expected, rel=1e-5)
    dy, dx = image_differences(image)
    assert dy.shape == (1, 8, 11, 3) and dx.shape == (1, 9, 10, 3)


def test_gradients_match_finite_differences(rng):
    """d style_loss / d features from autodiff agrees with a central difference."""
    features = tf.Variable(rng.normal(size=(1, 3, 3, 2)).astype(np.float64))
    target = {"a": tf.constant(numpy_gram(rng.normal(size=(1, 3, 3, 2))), tf.float64)}

    def loss(f):
        gram = tf.einsum("bijc,bijd->bcd", f, f) / 9.0
        return tf.reduce_mean(tf.square(gram - target["a"]))

    with tf.GradientTape() as tape:
        value = loss(features)
    grad = tape.gradient(value, features).numpy()
    base = features.numpy()
    eps = 1e-6
    for index in [(0, 0, 0, 0), (0, 1, 2, 1), (0, 2, 1, 0)]:
        plus, minus = base.copy(), base.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric = (loss(tf.constant(plus)) - loss(tf.constant(minus))).numpy() / (2 * eps)
        assert grad[index] == pytest.approx(numeric, rel=1e-4, abs=1e-8)
    # and the library's float32 style_loss has the same gradient direction
    f32 = tf.Variable(base.astype(np.float32))
    with tf.GradientTape() as tape:
        value32 = style_loss({"a": f32}, {"a": tf.cast(target["a"], tf.float32)})
    np.testing.assert_allclose(tape.gradient(value32, f32).numpy(), grad, rtol=1e-3, atol=1e-5)


def test_total_variation_gradient_is_sign_of_differences():
    image = tf.Variable(np.array([[0.0, 1.0, 0.0]], np.float32)[None, :, :, None])
    with tf.GradientTape() as tape:
        value = total_variation_loss(image)
    # Raising the middle pixel raises both differences: gradient +2 there, -1 at each end.
    np.testing.assert_allclose(tape.gradient(value, image).numpy().ravel(), [-1.0, 2.0, -1.0])


def test_importing_the_losses_does_not_import_tensorflow():
    """TensorFlow is imported when a loss is first computed, so ``import nstutils.losses`` stays quick."""
    import subprocess
    import sys

    code = ("import sys, nstutils.losses as L, nstutils.vgg19, nstutils.features, nstutils.arithmetic\n"
            "assert 'tensorflow' not in sys.modules, 'imported too early'\n"
            "L.gram_matrix([[[[1.0]]]])\n"
            "assert 'tensorflow' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
