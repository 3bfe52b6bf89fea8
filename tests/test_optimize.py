"""stylize end to end on tiny images: the loss falls, seeds repeat, stops keep the best image."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nstutils.errors import SettingsError
from nstutils.features import FeatureExtractor
from nstutils.losses import gram_matrix
from nstutils.optimize import StyleObjective, StyleSettings, stylize

TINY = dict(max_dim=64, compute_dtype="float32")


@pytest.mark.parametrize("optimizer, steps, factor", [("lbfgs", 40, 10.0), ("adam", 30, 2.0), ("gd", 30, 1.5)])
def test_loss_falls(tiny_content, tiny_style, optimizer, steps, factor):
    result = stylize(tiny_content, tiny_style, optimizer=optimizer, steps=steps, **TINY)
    start = StyleObjective(tiny_content, tiny_style, StyleSettings(compute_dtype="float32"))(tiny_content)
    assert len(result.history) >= 1
    assert start["total"] / result.best_loss > factor, (start["total"], result.best_loss)
    assert result.best_loss == pytest.approx(min(result.losses("total")), rel=1e-6)
    assert result.image.shape == (48, 64, 3) and result.image.dtype == np.float32
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    for entry in result.history:
        assert set(entry) >= {"total", "content", "style", "tv", "seconds", "evaluations"}
        assert entry["total"] == pytest.approx(entry["content"] + entry["style"] + entry["tv"], rel=1e-4)
    assert result.settings["optimizer"] == optimizer and result.settings["steps"] == steps


def test_same_seed_same_result(tiny_content, tiny_style):
    run = lambda seed: stylize(tiny_content, tiny_style, init="noise", seed=seed, optimizer="adam", steps=5, **TINY)
    first, again, other = run(3), run(3), run(4)
    np.testing.assert_array_equal(first.image, again.image)
    assert not np.array_equal(first.image, other.image)


def test_callback_can_stop_and_best_image_is_kept(tiny_content, tiny_style):
    seen = []

    def stop_after_three(progress):
        seen.append(progress.losses["total"])
        assert progress.image.shape == (48, 64, 3)
        return progress.step >= 3

    result = stylize(tiny_content, tiny_style, optimizer="adam", steps=50, callback=stop_after_three, **TINY)
    assert result.stopped_early and len(result.history) == 3 and len(seen) == 3
    assert result.best_loss == pytest.approx(min(seen))


def test_keyboard_interrupt_returns_best_so_far(tiny_content, tiny_style):
    def interrupt(progress):
        if progress.step == 2:
            raise KeyboardInterrupt

    result = stylize(tiny_content, tiny_style, optimizer="lbfgs", steps=50, callback=interrupt, **TINY)
    assert result.stopped_early and len(result.history) == 2
    assert np.isfinite(result.best_loss)


def test_objective_is_the_tensorflow_tutorials(tiny_content, tiny_style):
    """Default settings = the tutorial: mean-of-layers Gram MSE × 1e-2, content MSE × 1e4,
    tf.image.total_variation × 30. Recomputed here independently of nstutils.losses."""
    objective = StyleObjective(tiny_content, tiny_style, StyleSettings(compute_dtype="float32"))
    image = np.clip(tiny_content + 0.05 * np.sin(np.arange(tiny_content.size)).reshape(tiny_content.shape),
                    0, 1).astype(np.float32)
    style_layers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
    extract = FeatureExtractor(style_layers + ["block5_conv2"])
    out, style, content = extract(image), extract(tiny_style), extract(tiny_content)

    def gram(f):
        f = f.numpy()[0]
        flat = f.reshape(-1, f.shape[-1])
        return flat.T @ flat / flat.shape[0]

    style_term = sum(np.mean((gram(out[l]) - gram(style[l])) ** 2) for l in style_layers) * 1e-2 / 5
    content_term = np.mean((out["block5_conv2"].numpy() - content["block5_conv2"].numpy()) ** 2) * 1e4
    tv_term = 30 * float(tf.reduce_sum(tf.image.total_variation(tf.constant(image))))
    losses = objective(image)
    assert losses["style"] == pytest.approx(style_term, rel=1e-3)
    assert losses["content"] == pytest.approx(content_term, rel=1e-3)
    assert losses["tv"] == pytest.approx(tv_term, rel=1e-4)
    assert losses["total"] == pytest.approx(style_term + content_term + tv_term, rel=1e-3)


def test_gradient_matches_finite_difference(tiny_content, tiny_style):
    objective = StyleObjective(tiny_content, tiny_style, StyleSettings(compute_dtype="float32"))
    rng = np.random.default_rng(0)
    image = np.clip(tiny_content + 0.1 * rng.normal(size=tiny_content.shape), 0.05, 0.95).astype(np.float32)
    _, grad = objective.value_and_gradient(image)
    direction = rng.normal(size=image.shape).astype(np.float32)
    eps = 1e-2
    up = objective(image + eps * direction)["total"]
    down = objective(image - eps * direction)["total"]
    predicted = float(np.sum(grad * direction))
    assert (up - down) / (2 * eps) == pytest.approx(predicted, rel=0.1)  # ReLU kinks: not exact


@pytest.mark.parametrize("change, message", [
    (dict(style_weight=-1.0), "style_weight"),
    (dict(content_weight=float("nan")), "content_weight"),
    (dict(steps=0), "steps"),
    (dict(steps=-3), "steps"),
    (dict(max_dim=0), "size"),
    (dict(max_dim=100_000), "size"),
    (dict(optimizer="adma"), "Did you mean 'adam'"),
    (dict(style_layers=["conv9_1"]), "unknown VGG19 layer"),
    (dict(init="zeros"), "init"),
    (dict(seed=-1), "seed"),
    (dict(style_layer_weights=[1.0, -1.0, 1.0, 1.0, 1.0]), "≥ 0"),
])
def test_bad_settings_fail_before_work(change, message):
    with pytest.raises(SettingsError, match=message):
        StyleSettings(**change).validated()


def test_style_targets_are_grams_of_the_style_image(tiny_content, tiny_style):
    objective = StyleObjective(tiny_content, tiny_style, StyleSettings(compute_dtype="float32"))
    features = FeatureExtractor(["conv3_1"])(tiny_style)["block3_conv1"]
    np.testing.assert_allclose(objective.style_targets["block3_conv1"], gram_matrix(features), rtol=1e-4)
