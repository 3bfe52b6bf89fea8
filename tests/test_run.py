"""The pipeline (nstutils.run, nstutils.objective) end to end on tiny images: the loss falls, seeds repeat,
stops keep the best image, prepare loads the images at their sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from nstutils.errors import CallbackError, NSTError, SettingsError
from nstutils.features import FeatureExtractor
from nstutils.losses import gram_matrix
from nstutils.objective import StyleObjective
from nstutils.run import prepare, style_size, stylize
from nstutils.settings import ObjectiveSettings, make_settings

TINY = dict(max_dim=64, compute_dtype="float32")


@pytest.mark.parametrize("optimizer, steps, factor", [("lbfgs", 40, 10.0), ("adam", 30, 2.0), ("gd", 30, 1.5)])
def test_loss_falls(tiny_content, tiny_style, optimizer, steps, factor):
    result = stylize(tiny_content, tiny_style, optimizer=optimizer, steps=steps, **TINY)
    start = StyleObjective(tiny_content, tiny_style, ObjectiveSettings(compute_dtype="float32"))(tiny_content)
    assert len(result.history) >= 1
    assert start["total"] / result.best_loss > factor, (start["total"], result.best_loss)
    # the best image is the best of every scored image, the last step's included
    assert result.best_loss <= min(result.losses("total")) * (1 + 1e-6)
    assert result.best_loss == pytest.approx(StyleObjective(tiny_content, tiny_style, compute_dtype="float32")(
        result.image[None])["total"], rel=1e-3)
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
    assert result.stopped_early and len(result.history) == 2 and result.stop_reason == "interrupted"
    assert np.isfinite(result.best_loss)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_callback_that_raises_ends_the_run_and_hands_over_the_best_image(tiny_content, tiny_style, optimizer):
    seen = []

    def broken_hook(progress):
        seen.append(progress.best_loss)
        if progress.step == 3:
            raise OSError(28, "No space left on device", "/full/preview.png")

    with pytest.raises(CallbackError) as caught:
        stylize(tiny_content, tiny_style, optimizer=optimizer, steps=50, callback=broken_hook, **TINY)
    error = caught.value
    assert isinstance(error, NSTError) and isinstance(error.__cause__, OSError) and error.step == 3
    message = str(error)
    assert "\n" not in message and "at step 3" in message and "/full/preview.png" in message
    assert "the disk is full" in message and ".result" in message
    result = error.result
    assert result.stop_reason == "stopped" and result.stopped_early and len(result.history) == 3
    assert result.image.shape == (48, 64, 3) and result.best_loss == pytest.approx(min(seen))


def test_objective_is_the_tensorflow_tutorials(tiny_content, tiny_style):
    """Default settings = the tutorial: mean-of-layers Gram MSE × 1e-2, content MSE × 1e4,
    tf.image.total_variation × 30. Recomputed here independently of nstutils.losses."""
    objective = StyleObjective(tiny_content, tiny_style, ObjectiveSettings(compute_dtype="float32"))
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
    objective = StyleObjective(tiny_content, tiny_style, ObjectiveSettings(compute_dtype="float32"))
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
        make_settings(**change)


def test_content_on_the_luminance_sees_no_colour(tiny_content, tiny_style):
    """content_channels="luminance": the photo made grey costs no content, and the content term's gradient only
    moves each pixel's brightness (every channel by its luminance weight)."""
    from nstutils.color import LUMA_WEIGHTS

    grey = np.repeat((tiny_content @ LUMA_WEIGHTS)[..., None], 3, axis=-1).astype(np.float32)
    only_content = dict(compute_dtype="float32", style_weight=0.0, tv_weight=0.0, content_weight=1.0)
    rgb = StyleObjective(tiny_content, tiny_style, **only_content)
    luminance = StyleObjective(tiny_content, tiny_style, content_channels="luminance", **only_content)
    assert luminance(tiny_content)["content"] < 1e-9 and luminance(grey)["content"] < 1e-9
    assert rgb(grey)["content"] > 1e-3
    start = np.random.default_rng(0).uniform(size=(1, *tiny_content.shape[-3:])).astype(np.float32)
    _, gradient = luminance.value_and_gradient(start)
    per_luma = gradient / LUMA_WEIGHTS.astype(np.float32)
    assert np.abs(gradient).max() > 0
    np.testing.assert_allclose(per_luma[..., 1:], per_luma[..., :1].repeat(2, -1), rtol=1e-4, atol=1e-6 * np.abs(
        per_luma).max())
    with pytest.raises(SettingsError, match="content_channels"):
        make_settings(content_channels="grey")


def test_style_targets_are_grams_of_the_style_image(tiny_content, tiny_style):
    objective = StyleObjective(tiny_content, tiny_style, ObjectiveSettings(compute_dtype="float32"))
    features = FeatureExtractor(["conv3_1"])(tiny_style)["block3_conv1"]
    np.testing.assert_allclose(objective.style_targets["block3_conv1"], gram_matrix(features), rtol=1e-4)


def test_every_run_reports_why_it_ended(tiny_content, tiny_style):
    finished = stylize(tiny_content, tiny_style, optimizer="adam", steps=4, **TINY)
    assert finished.stop_reason == "finished" and len(finished.history) == 4
    assert finished.message.startswith("finished: 4 adam steps") and not finished.stopped_early


def test_an_adaptive_run_stops_when_the_loss_stops_improving(tiny_content, tiny_style):
    # a tolerance no step can meet: the run must end after one window, saying so
    result = stylize(tiny_content, tiny_style, optimizer="adam", stop_window=3, stop_tolerance=0.9,
                     max_steps=50, **TINY)
    assert result.stop_reason == "converged" and len(result.history) == 4
    assert "less than 90.00% over the last 3 steps" in result.message
    # steps given explicitly: all of them, whatever the tolerance
    fixed = stylize(tiny_content, tiny_style, optimizer="adam", steps=6, stop_window=3, stop_tolerance=0.9, **TINY)
    assert fixed.stop_reason == "finished" and len(fixed.history) == 6


def test_progress_reports_the_improvement_the_stopping_rule_uses(tiny_content, tiny_style):
    seen = []
    stylize(tiny_content, tiny_style, optimizer="adam", steps=6, stop_window=2,
            callback=lambda p: seen.append((p.best_loss, p.improvement)), **TINY)
    bests = [best for best, _ in seen]
    assert [improvement for _, improvement in seen[:2]] == [None, None]  # not yet a whole window
    for step in range(2, 6):  # the best loss two steps back against the best now
        assert seen[step][1] == pytest.approx((bests[step - 2] - bests[step]) / bests[step - 2], rel=1e-6)
    assert all(improvement >= 0 for _, improvement in seen[2:])


def test_window_improvement_is_the_relative_fall_of_the_best_loss():
    from nstutils.settings import window_improvement

    assert window_improvement([10.0, 9.0], 2) is None  # not yet a whole window
    assert window_improvement([10.0, 9.0, 8.0], 2) == pytest.approx(0.2)
    assert window_improvement([-10.0, -11.0], 1) == pytest.approx(0.1)  # relative to |before|
    assert window_improvement([0.0, 0.0], 1) == 0.0
    assert window_improvement([math.inf, 5.0, 4.0], 2) is None  # forgotten on the switch to float32


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_diverging_run_keeps_the_best_image_and_says_what_to_do(tiny_content, tiny_style, optimizer):
    # float32 overflows to inf once the style term passes 3.4e38: a forced divergence
    result = stylize(tiny_content, tiny_style, optimizer=optimizer, steps=5, style_weight=1e37, **TINY)
    assert result.stop_reason == "diverged" and result.stopped_early
    assert "Lower the style/content weights or the learning rate" in result.message
    assert result.image.shape == (48, 64, 3) and np.isfinite(result.image).all()


def test_unknown_settings_are_named_with_a_suggestion(tiny_content, tiny_style):
    with pytest.raises(SettingsError, match="Did you mean 'style_weight'"):
        stylize(tiny_content, tiny_style, style_wieght=1.0, **TINY)


def test_defaults_live_in_one_place():
    """stylize, the CLI and the Style Lab all start from the settings' own defaults."""
    from nstutils.cli import build_parser
    from nstutils.settings import ObjectiveSettings, RunSettings

    args = build_parser().parse_args(["stylize", "a.jpg", "b.jpg", "-o", "c.jpg"])
    assert all(getattr(args, name) is None for name in ("content_weight", "style_weight", "steps", "max_dim"))
    assert "default: 0.01" in build_parser()._subparsers._group_actions[0].choices["stylize"].format_help()
    assert "(default: lbfgs)" in build_parser()._subparsers._group_actions[0].choices["stylize"].format_help()
    assert RunSettings().optimizer == "lbfgs" and ObjectiveSettings().style_weight == 0.01


def test_a_bfloat16_lbfgs_run_does_not_stop_silently_and_ends_near_float32():
    """The bug report: bfloat16 L-BFGS ended after a quarter of its steps and said "done".
    Now it switches to float32 when the noisy loss stalls, and does its steps or says why not."""
    from nstutils.images import load_image

    content, style = load_image("tubingen", 64), load_image("starry_night", 64)
    judge = StyleObjective(content, style, compute_dtype="float32")
    bf16 = stylize(content, style, steps=120, compute_dtype="bfloat16", max_dim=64)
    fp32 = stylize(content, style, steps=120, compute_dtype="float32", max_dim=64)
    assert bf16.stop_reason in ("finished", "converged"), bf16.message
    assert bf16.stop_reason == "converged" or len(bf16.history) == 120
    # The two dtypes take different paths: at this size and step count their final losses differ by a few per
    # cent either way (measured: bfloat16/float32 = 0.978 from the photo, 1.032 from the recoloured photo;
    # 0.996 at 96 px / 200 steps). The silent stop cost 10 %. Issue 11's 2 % bound, at 128 px / 1,000 steps,
    # is measured by `python -m benchmarks.dtypes` (results/dtypes-128.json: 1.006): where bfloat16 is
    # emulated (no AVX512-BF16) that run takes many minutes, too long for every CI run.
    assert judge(bf16.image[None])["total"] <= 1.05 * judge(fp32.image[None])["total"]


def test_adam_update_is_keras_adam_then_a_clip():
    import tensorflow as tf

    from nstutils.run import adam_update

    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.8, (1, 4, 4, 3)).astype(np.float32)
    variable = tf.Variable(image)
    keras_adam = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, beta_2=0.999, epsilon=0.1)
    m, v = np.zeros_like(image), np.zeros_like(image)
    for t in range(1, 4):
        grad = rng.normal(0, 50, image.shape).astype(np.float32)
        image = adam_update(image, grad, m, v, t)
        keras_adam.apply_gradients([(tf.constant(grad), variable)])
        variable.assign(tf.clip_by_value(variable, 0.0, 1.0))
        np.testing.assert_allclose(image, variable.numpy(), atol=1e-6)


def test_prepare_honours_style_scale(tiny_content, tiny_style):
    """The style image is loaded at style_size(run) = max_dim × style_scale, the content at max_dim."""
    big_style = np.repeat(np.repeat(tiny_style, 4, axis=1), 4, axis=2)  # room to load it larger
    for scale in (0.5, 1.0, 2.0):
        prepared = prepare(tiny_content, big_style, style_scale=scale, **TINY)
        assert max(prepared.content.shape[1:3]) == 64
        assert max(prepared.style.shape[1:3]) == style_size(prepared.run) == round(64 * scale)
        assert prepared.start.shape == prepared.content.shape
    assert prepared.objective.shape == prepared.content.shape
    assert prepared.settings.run.style_scale == 2.0 and prepared.settings.objective.compute_dtype == "float32"


def test_auto_compute_dtype_is_resolved_by_the_objective_not_the_settings(tiny_content, tiny_style):
    assert make_settings().objective.compute_dtype == "auto"
    objective = StyleObjective(tiny_content, tiny_style, compute_dtype="auto")
    assert objective.settings.compute_dtype in ("float32", "bfloat16")


def test_a_subclass_can_change_the_tv_term(tiny_content, tiny_style):
    class NoTV(StyleObjective):
        def tv_loss(self, image):
            return tf.constant(0.0)

    image = tiny_content.astype(np.float32)
    assert StyleObjective(tiny_content, tiny_style, compute_dtype="float32")(image)["tv"] > 0
    assert NoTV(tiny_content, tiny_style, compute_dtype="float32")(image)["tv"] == 0.0
