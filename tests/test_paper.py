"""The paper's settings and figure functions, at tiny sizes (structure, not the findings)."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils.course import paper
from nstutils.course.artefacts import dot_excess, dots_per_megapixel, flat_places, sky_dot_excess
from nstutils.course.measures import content_distance
from nstutils.errors import SettingsError
from nstutils.course.experiments import weights_for_ratio
from nstutils.settings import make_settings

TINY = {"max_dim": 48, "steps": 3, "compute_dtype": "float32"}
TWO_STACKS = (("conv1_1",), paper.PAPER_STYLE_LAYERS)


def _is_image(image, shape=None):
    image = np.asarray(image)
    ok = image.ndim == 3 and image.shape[-1] == 3 and image.dtype == np.float32 and max(image.shape[:2]) == 48
    ok = ok and np.isfinite(image).all() and 0 <= image.min() and image.max() <= 1
    return ok and (shape is None or image.shape == shape)


def _bool_findings(result):
    return isinstance(result["findings"], dict) and result["findings"] and \
        all(isinstance(v, bool) for v in result["findings"].values())


def test_paper_options_are_the_papers_setup():
    options = paper.paper_options(1e-3, (48, 64))
    assert (options["pooling"], options["weights"]) == ("max", "normalized_max") and options["tv_weight"] == 0.0
    assert options["init"] == "noise" and options["optimizer"] == "lbfgs"
    assert options["content_layers"] == ("block4_conv2",)
    assert options["style_layers"] == ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                                       "block5_conv1")
    scale = paper.PAPER_RATIO_SCALE
    assert options["content_weight"] == pytest.approx(weights_for_ratio(1e-3 * scale, (48, 64), "conv4_2")[0])
    assert options["style_weight"] == 1.0
    assert options["content_weight"] == pytest.approx(2 * 6 * 8 * 512 * 1e-3 * scale)
    literal = paper.paper_options(1e-3, (48, 64), ratio_scale=1.0)
    assert (literal["content_weight"], literal["style_weight"]) == weights_for_ratio(1e-3, (48, 64), "conv4_2")
    with pytest.raises(SettingsError, match="ratio"):
        paper.paper_options(0.0, (48, 64))
    assert paper.paper_options(1e-2, (48, 64))["content_weight"] == pytest.approx(10 * options["content_weight"])
    assert paper.paper_options(1e-3, (1, 48, 64, 3))["content_weight"] == options["content_weight"]
    assert paper.PAPER_STYLE_LAYER_WEIGHT == pytest.approx(0.2)
    assert paper.PAPER_CONTENT_LAYER == "conv4_2" and paper.PAPER_RATIOS == (1e-5, 1e-4, 1e-3, 1e-2)
    settings = make_settings(**paper.paper_options(1e-4, (48, 64), max_dim=48, steps=2, seed=3,
                                                       compute_dtype="float32"))
    assert settings.objective.pooling == "max" and settings.run.seed == 3 and settings.run.steps == 2
    assert settings.objective.style_layer_weights is None  # stylize's default: w_l = 1/L = 1/5
    other = paper.paper_options(1e-3, (48, 64), content_layer="conv2_2", init="content")
    assert other["content_layers"] == ("block2_conv2",) and other["init"] == "content"
    assert other["content_weight"] == pytest.approx(weights_for_ratio(1e-3 * scale, (48, 64), "conv2_2")[0])


def test_content_reconstructions():
    result = paper.content_reconstructions("tubingen", layers=("conv1_2", "conv5_2"), **TINY)
    again = paper.content_reconstructions("tubingen", layers=("conv1_2",), pooling="avg", weights="normalized", **TINY)
    np.testing.assert_array_equal(again["images"]["conv1_2"], result["images"]["conv1_2"])  # the paper's network
    assert result["layers"] == ["conv1_2", "conv5_2"] and _is_image(result["photo"])
    assert set(result["images"]) == set(result["pixel_error"]) == set(result["detail"]) == {"conv1_2", "conv5_2"}
    assert all(_is_image(image, result["photo"].shape) for image in result["images"].values())
    assert _bool_findings(result)


def test_style_reconstructions():
    result = paper.style_reconstructions("starry_night", stacks=TWO_STACKS, **TINY)
    assert result["labels"] == ["conv1_1", "+conv5_1"]
    assert all(_is_image(result["images"][label]) for label in result["labels"])
    assert all(np.isfinite(result["style_loss"][label]) and result["layout_error"][label] > 0
               for label in result["labels"])


def test_style_gallery():
    result = paper.style_gallery("tubingen", styles=("shipwreck", "the_scream"), **TINY)
    assert result["styles"] == ["shipwreck", "the_scream"]
    assert result["ratios"] == {"shipwreck": 1e-3, "the_scream": 5e-3}
    assert all(_is_image(result["images"][s], result["content"].shape) for s in result["styles"])
    assert set(result["losses"]["shipwreck"]) == {"total", "content", "style"}
    assert all(result["content_distance"][s] > 0 for s in result["styles"])
    assert set(result["speckle_excess"]) == {"shipwreck", "the_scream"}
    assert set(result["findings"]) == {"layout_kept", "no_speckle", "no_sky_dots"}
    # from the near-grey reference start nothing is speckled; uniform white noise, 3 steps on, still is
    assert result["findings"]["no_speckle"] and max(result["speckle_excess"].values()) < 1.0
    noisy = paper.style_gallery("tubingen", styles=("shipwreck",), init="noise", **TINY)
    assert noisy["speckle_excess"]["shipwreck"] > paper.MAX_SPECKLE_EXCESS and not noisy["findings"]["no_speckle"]
    assert set(paper.GALLERY_RATIOS) >= {"shipwreck", "starry_night", "the_scream"}
    with pytest.raises(SettingsError, match="no α/β"):
        paper.style_gallery("tubingen", styles=("astronaut",), **TINY)


def test_ratio_grid():
    result = paper.ratio_grid("tubingen", "starry_night", stacks=TWO_STACKS, ratios=(1e-5, 1e-2), **TINY)
    assert result["ratios"] == [1e-5, 1e-2] and len(result["stacks"]) == 2
    scale = paper.PAPER_RATIO_SCALE
    assert result["effective_ratios"] == pytest.approx([1e-5 * scale, 1e-2 * scale])
    assert set(result["images"]) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert result["content_distance"].shape == (2, 2) and np.all(result["content_distance"] > 0)
    assert _bool_findings(result) and set(result["findings"]) == {
        "content_falls_with_ratio", "content_falls_along_every_row", "largest_ratio_closest", "every_cell_moved"}
    assert result["contrast"].shape == (2, 2) and np.all(result["contrast"] > 0)
    assert result["dots"].shape == (2, 2)
    assert result["dots"][1, 1] == dots_per_megapixel(result["images"][(1, 1)])
    assert result["dot_excess"][1, 1] == dot_excess(result["images"][(1, 1)], "starry_night")
    assert result["sky_dot_excess"][0, 1] == sky_dot_excess(result["images"][(0, 1)], result["content"], "starry_night")
    assert result["content_distance"][0, 1] == content_distance(result["images"][(0, 1)], result["content"],
                                                                channels="luminance")  # what the content loss compares
    # the same noise start in every cell: with 3 steps the cells still share much of it
    assert all(_is_image(image) for image in result["images"].values())


def test_content_layer_comparison():
    result = paper.content_layer_comparison("tubingen", "starry_night", **TINY)
    assert result["layers"] == ["conv2_2", "conv4_2"]
    assert all(-1 <= result["detail"][layer] <= 1 and result["blurred_error"][layer] >= 0
               for layer in result["layers"])
    assert all(_is_image(result["images"][layer]) for layer in result["layers"])
    assert _bool_findings(result)


def test_initialization_comparison():
    result = paper.initialization_comparison("tubingen", "starry_night", seeds=(0, 1), **TINY)
    assert result["starts"] == ["photo", "painting", "noise 0", "noise 1"]
    distance = result["distance"]
    assert distance.shape == (4, 4) and np.allclose(distance, distance.T) and np.all(np.diag(distance) == 0)
    assert distance[2, 3] > 0  # two seeds, two images
    assert all(np.isfinite(result["losses"][s]) and _is_image(result["images"][s]) for s in result["starts"])
    assert set(result["to_photo"]) == set(result["starts"])
    assert _bool_findings(result) and set(result["findings"]) == {"noise_losses_similar", "noise_images_differ",
                                                                   "photo_start_keeps_photo"}


def test_photorealistic():
    result = paper.photorealistic("tubingen", "chelsea", **TINY)
    assert _is_image(result["image"], result["content"].shape) and _is_image(result["style"])
    assert result["ratio"] == paper.PHOTO_RATIO and result["content_distance"] > 0
    assert set(result["mean_color"]) == {"content", "style", "result"}
    assert _bool_findings(result)
    # the paper's caption: Figure 7 starts from the photo, so even three steps leave it photographic
    assert result["init"] == "content"
    assert result["findings"]["stays_photographic"] and result["findings"]["structure_kept"]
    assert result["speckle"] < 1.5 and result["layout"] > 0.9


def test_photorealistic_smooths_with_a_tv_weight_per_pixel(monkeypatch):
    from nstutils.course import photoreal

    seen = []
    real = photoreal.stylize_paper

    def spy(photo, style, ratio, max_dim, steps, seed, options, **extra):
        seen.append((photo.shape, options["tv_weight"]))
        assert (options["pooling"], options["weights"]) == (paper.PAPER_POOLING, paper.PAPER_WEIGHTS)  # the paper's
        return real(photo, style, ratio, max_dim, steps, seed, options, **extra)

    monkeypatch.setattr(photoreal, "stylize_paper", spy)
    smoothed = paper.photorealistic("tubingen", "chelsea", **{**TINY, "steps": 10})
    plain = paper.photorealistic("tubingen", "chelsea", tv_weight=0.0, **{**TINY, "steps": 10})
    (shape, weight), (_, zero) = seen
    assert weight == pytest.approx(paper.PHOTO_TV_WEIGHT / (shape[1] * shape[2])) and zero == 0.0
    variation = [np.abs(np.diff(r["image"], axis=a)).sum() for r in (smoothed, plain) for a in (0, 1)]
    assert variation[0] + variation[1] < variation[2] + variation[3]


def test_photorealistic_from_noise_fails_its_findings():
    # the old Figure 7: a white-noise start leaves speckle; the findings must say the figure looks wrong
    result = paper.photorealistic("tubingen", "chelsea", init="noise", **TINY)
    assert result["speckle"] > paper.MAX_SPECKLE
    assert not result["findings"]["stays_photographic"] and not result["findings"]["structure_kept"]


def test_sizes_are_required():
    with pytest.raises(SettingsError, match="max_dim and steps"):
        paper.photorealistic("tubingen", "chelsea", max_dim=None, steps=3)


def test_the_paper_options_use_the_recipe_constants():
    from nstutils import recipes

    options = paper.paper_options(1e-3, (48, 64))
    assert (options["pooling"], options["weights"]) == (recipes.TRANSFER_POOLING, recipes.TRANSFER_WEIGHTS)
    assert (recipes.PAPER_POOLING, recipes.PAPER_WEIGHTS) == ("avg", "normalized")  # Figure 1 and the measures
    assert options["style_layers"] == tuple(f"block{i}_conv1" for i in range(1, 6))
    assert paper.PAPER_RATIOS is recipes.PAPER_RATIOS and not hasattr(paper, "paper_weights")


def test_reference_start_is_the_mean_colour_with_tiny_noise():
    from nstutils.course.paper_setup import REFERENCE_NOISE, reference_start

    start = reference_start((1, 48, 64, 3), seed=1)
    assert start.shape == (1, 48, 64, 3) and start.dtype == np.float32
    mean = np.array([123.68, 116.779, 103.939]) / 255  # the ImageNet mean colour, RGB
    assert np.allclose(start.reshape(-1, 3).mean(0), mean, atol=1e-5)
    assert 0.5 * REFERENCE_NOISE < start.std(axis=(0, 1, 2)).min() < 2 * REFERENCE_NOISE  # noise, not flat
    assert not np.array_equal(start, reference_start((48, 64), seed=2))
    assert np.array_equal(reference_start((48, 64), seed=1), start)
    from nstutils.images import load_image

    photo = load_image("tubingen", max_dim=48)
    result = paper.stylize_paper(photo, "starry_night", 1e-3, 48, 2, 0, {"compute_dtype": "float32"},
                                 init=reference_start(photo.shape))
    assert result.image.shape == photo.shape[1:] and np.isfinite(result.best_loss)
    with pytest.raises(SettingsError, match="amplitude"):
        reference_start((48, 64), amplitude=-1.0)


def test_style_gallery_fails_a_result_that_lost_the_photo(monkeypatch):
    import copy

    from nstutils.images import load_image, resize_image

    real = paper.stylize_paper

    def painting_only(photo, style, *args, **extra):   # the run, its picture replaced by the painting itself
        result = copy.copy(real(photo, style, *args, **extra))
        result.image = resize_image(load_image(style)[0], photo.shape[1:3])
        return result

    monkeypatch.setattr(paper, "stylize_paper", painting_only)
    result = paper.style_gallery("tubingen", styles=("starry_night",), max_dim=64, steps=1)
    assert result["content_distance"]["starry_night"] > paper.MAX_GALLERY_CONTENT_DISTANCE
    assert not result["findings"]["layout_kept"]


def test_style_gallery_fails_a_sky_of_hue_dots(monkeypatch):
    # the paper-setup gallery's Scream: dots of colour over a grey sky that luminance measures miss
    import copy

    from artefacts import hue_dots_over_sky

    real, runs = paper.stylize_paper, []

    def kept(*args, **extra):
        runs.append(real(*args, **extra))
        return runs[-1]

    def dotted(photo, *args, **extra):   # the same run, its picture dotted over the sky
        result = copy.copy(runs[0])
        result.image = hue_dots_over_sky(photo[0]).astype(np.float32)
        return result

    monkeypatch.setattr(paper, "stylize_paper", kept)
    clean = paper.style_gallery("tubingen", styles=("the_scream",), max_dim=256, steps=1)
    assert clean["findings"]["no_sky_dots"] and clean["sky_dot_excess"]["the_scream"] < 1.0
    monkeypatch.setattr(paper, "stylize_paper", dotted)
    result = paper.style_gallery("tubingen", styles=("the_scream",), max_dim=256, steps=1)
    assert result["sky_dot_excess"]["the_scream"] > paper.MAX_SKY_DOT_EXCESS
    assert not result["findings"]["no_sky_dots"] and result["findings"]["no_speckle"]


def _grid_with_pictures(monkeypatch, picture):
    """Figure 4 at 64 px, one step per cell, each cell's picture replaced by ``picture(row, column, shape)``."""
    import copy

    from nstutils.course import experiments

    real = experiments.layer_ratio_grid

    def replaced(*args, **options):
        results = real(*args, **options)
        for (row, column), result in results.items():
            results[(row, column)] = copy.copy(result)
            results[(row, column)].image = picture(row, column, result.image.shape).astype(np.float32)
        return results

    monkeypatch.setattr(paper, "layer_ratio_grid", replaced)
    return paper.ratio_grid("tubingen", "starry_night", TWO_STACKS, (1e-5, 1e-2), max_dim=64, steps=1,
                            compute_dtype="float32")


def test_figure_4_fails_a_cell_that_stalled_at_its_grey_start(monkeypatch):
    from nstutils.images import load_image, resize_image

    photo = load_image("tubingen", 64)[0]
    painting = resize_image(load_image("starry_night", 64)[0], photo.shape[:2])
    blends = lambda row, column, shape: (0.3 + 0.7 * column) * photo + (0.7 - 0.7 * column) * painting
    grid = _grid_with_pictures(monkeypatch, blends)
    assert grid["findings"]["every_cell_moved"] and grid["contrast"].min() >= paper.MIN_CELL_CONTRAST
    assert grid["findings"]["content_falls_along_every_row"]
    stalled = lambda row, column, shape: blends(row, column, shape) if (row, column) != (0, 0) else \
        np.full(shape, 0.45) + np.random.default_rng(0).normal(0, 0.01, shape)   # uniform grey-green
    grid = _grid_with_pictures(monkeypatch, stalled)
    assert not grid["findings"]["every_cell_moved"] and grid["contrast"][0, 0] < paper.MIN_CELL_CONTRAST


def test_figure_4_fails_a_row_where_the_photo_does_not_come_back(monkeypatch):
    from nstutils.images import load_image, resize_image

    photo = load_image("tubingen", 64)[0]
    painting = resize_image(load_image("starry_night", 64)[0], photo.shape[:2])
    backwards = lambda row, column, shape: (photo if (row == 0) == (column == 0) else painting)
    grid = _grid_with_pictures(monkeypatch, backwards)   # the first row: the photo first, then the painting
    assert not grid["findings"]["content_falls_along_every_row"]
    assert grid["findings"]["content_falls_with_ratio"]   # the last row alone would still pass


def test_the_lesson_budget_keeps_its_floors():
    from nstutils.course import budget

    assert budget.SINGLE_SIZE >= 384 and budget.TILE_SIZE >= 192
    assert budget.POSTER_SIZES[-1] == 1024 and len(budget.POSTER_SIZES) == len(budget.POSTER_STEPS)
