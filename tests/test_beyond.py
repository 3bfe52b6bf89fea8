"""Style blending, coarse-to-fine, style scale and the experiment helpers."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils.course.beyond import blend_styles, coarse_to_fine
from nstutils.errors import SettingsError
from nstutils.course.experiments import compare_optimizers, layer_ratio_grid, weights_for_ratio
from nstutils.objective import StyleObjective
from nstutils.run import stylize
from nstutils.settings import make_settings

FAST = dict(compute_dtype="float32")


def test_blend_with_weight_one_is_the_single_style(tiny_content, tiny_style):
    single = stylize(tiny_content, tiny_style, optimizer="adam", steps=3, max_dim=64, **FAST)
    blended = blend_styles(tiny_content, [tiny_style, tiny_content], mix=(1.0, 0.0), optimizer="adam", steps=3,
                           max_dim=64, **FAST)
    np.testing.assert_allclose(blended.image, single.image, atol=1e-5)
    half = blend_styles(tiny_content, [tiny_style, tiny_content], mix=(1, 1), optimizer="adam", steps=3,
                        max_dim=64, **FAST)
    assert not np.allclose(half.image, single.image, atol=1e-3)
    with pytest.raises(SettingsError):
        blend_styles(tiny_content, [tiny_style], mix=(1.0, 2.0))
    with pytest.raises(SettingsError):
        blend_styles(tiny_content, [tiny_style, tiny_style], mix=(-1.0, 2.0))


def test_blended_targets_are_the_weighted_average(tiny_content, tiny_style):
    objective = StyleObjective(tiny_content, tiny_style, **FAST)
    a, b = objective.style_grams(tiny_style), objective.style_grams(tiny_content)
    objective.use_style_targets({k: 0.25 * a[k] + 0.75 * b[k] for k in a})
    np.testing.assert_allclose(objective.style_targets["block2_conv1"], 0.25 * a["block2_conv1"] + 0.75 * b["block2_conv1"],
                               rtol=1e-5)


def test_coarse_to_fine_beats_a_cold_start_with_the_same_budget(tiny_content, tiny_style):
    options = dict(optimizer="lbfgs", **FAST)
    staged = coarse_to_fine(tiny_content, tiny_style, sizes=(32, 64), steps=(20, 10), **options)
    cold = stylize(tiny_content, tiny_style, max_dim=64, steps=10, **options)
    assert staged.image.shape == (48, 64, 3)
    assert [h["size"] for h in staged.history][0] == 32 and staged.history[-1]["size"] == 64
    objective = StyleObjective(tiny_content, tiny_style, **FAST)
    assert objective(staged.image[None])["total"] < objective(cold.image[None])["total"]
    with pytest.raises(SettingsError):
        coarse_to_fine(tiny_content, tiny_style, sizes=(64, 32))


def test_style_scale_changes_the_style_targets(tiny_content, tiny_style):
    small = stylize(tiny_content, tiny_style, style_scale=0.5, optimizer="adam", steps=2, max_dim=64, **FAST)
    large = stylize(tiny_content, tiny_style, style_scale=2.0, optimizer="adam", steps=2, max_dim=64, **FAST)
    assert not np.allclose(small.image, large.image)
    with pytest.raises(SettingsError, match="style_scale"):
        make_settings(style_scale=0)


def test_layer_ratio_grid_and_ratios(tiny_content, tiny_style):
    # conv4_2 of a 64×48 image: 8×6 positions × 512 channels; content_weight = 2·M·N·ratio
    assert weights_for_ratio(1e-3, (48, 64), "conv4_2") == pytest.approx((2 * 48 * 512 * 1e-3, 1.0))
    assert weights_for_ratio(1.0, (1, 48, 64, 3), "conv1_1") == pytest.approx((2 * 48 * 64 * 64, 1.0))
    with pytest.raises(SettingsError):
        weights_for_ratio(-1, (48, 64))
    grid = layer_ratio_grid(tiny_content, tiny_style, [["conv1_1"], ["conv1_1", "conv2_1"]], [1e-4, 1e-1],
                            steps=5, max_dim=32, **FAST)
    assert set(grid) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert grid[(1, 0)].settings["style_layers"] == ["block1_conv1", "block2_conv1"]
    assert grid[(0, 1)].settings["content_weight"] == pytest.approx(2 * 4 * 3 * 512 * 1e-1)  # 32×24 input


def test_compare_optimizers_shares_one_objective(tiny_content, tiny_style):
    results = compare_optimizers(tiny_content, tiny_style, runs=[("lbfgs", "content"), ("adam", "noise")], steps=8,
                                 max_dim=32, **FAST)
    assert set(results) == {"lbfgs/content", "adam/noise"}
    assert results["lbfgs/content"].settings["optimizer"] == "lbfgs"
    assert results["adam/noise"].settings["init"] == "noise"
    assert results["lbfgs/content"].best_loss < results["adam/noise"].best_loss
