"""Style blending, coarse-to-fine, style scale, the experiment helpers and the artefact measures."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils.course.artefacts import bright_dots, dot_excess, dots_per_megapixel, speckle_ratio, white_dots
from nstutils.course.beyond import STYLE_DETAIL_LIMIT, blend_styles, coarse_to_fine
from nstutils.errors import SettingsError
from nstutils.course.experiments import compare_optimizers, layer_ratio_grid, weights_for_ratio
from nstutils.objective import StyleObjective
from nstutils.run import stylize
from nstutils.settings import make_settings

from artefacts import blotched_sky, hue_dots_over_sky

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


def test_coarse_to_fine_never_matches_the_painting_above_its_detail_limit(tiny_content):
    painting = np.random.default_rng(3).uniform(0, 1, (60, 80, 3)).astype(np.float32)   # native long side 80
    staged = coarse_to_fine(tiny_content, painting, sizes=(32, 64), steps=(2, 2), optimizer="adam", **FAST)
    limit = int(STYLE_DETAIL_LIMIT * 80)
    assert {h["size"]: h["style_size"] for h in staged.history} == {32: 32, 64: limit}
    doubled = coarse_to_fine(tiny_content, painting, sizes=(16, 32), steps=(1, 1), style_scale=2, optimizer="adam",
                             **FAST)
    assert {h["size"]: h["style_size"] for h in doubled.history} == {16: 32, 32: limit}


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


def _smooth_photo(height=96, width=128):
    """A smooth gradient 'photo' with a dark lower half: no pixel-scale detail of its own except an edge."""
    rows, columns = np.mgrid[0:height, 0:width] / np.array([[[height]], [[width]]])
    image = np.stack([0.3 + 0.4 * columns, 0.4 + 0.2 * rows, 0.6 - 0.3 * columns], axis=-1)
    image[height // 2:] *= 0.5
    return image.astype(np.float32)


def test_white_dots_finds_isolated_specks_and_not_bright_areas():
    photo = _smooth_photo()
    assert len(white_dots(photo)) == 0 and dots_per_megapixel(photo) == 0
    dotted = photo.copy()
    spots = [(10, 12), (30, 70), (60, 33), (80, 100)]
    for row, column in spots:
        dotted[row, column] = 1.0
    assert sorted(map(tuple, white_dots(dotted))) == spots
    assert dots_per_megapixel(dotted[np.newaxis]) == pytest.approx(4e6 / (96 * 128))
    cloud = photo.copy()
    cloud[20:40, 20:50] = 0.97   # a white area is not a dot, not even at its corners
    assert len(white_dots(cloud)) == 0


def test_bright_dots_finds_round_spots_of_any_colour_and_not_strokes():
    photo = _smooth_photo() * 0.4                    # a dark, smooth picture
    assert len(bright_dots(photo)) == 0 and dots_per_megapixel(photo, "bright") == 0
    dotted = photo.copy()
    spots = [(20, 20), (30, 70), (60, 40), (75, 100)]
    colours = [(0.5, 0.8, 1.0), (1.0, 0.6, 0.1), (1.0, 1.0, 1.0), (0.6, 1.0, 0.6)]   # light blue, orange, ...
    for (row, column), colour in zip(spots, colours):
        dotted[row - 1:row + 2, column - 1:column + 2] = colour          # 3×3 px
    assert sorted(map(tuple, bright_dots(dotted))) == spots
    assert len(white_dots(dotted)) == 0                 # the white-dot measure misses all of them: 3 px wide
    assert dots_per_megapixel(dotted, "bright") == pytest.approx(4e6 / (96 * 128))
    stroked = photo.copy()
    stroked[50, 10:60] = 1.0                            # a light stroke is not a dot, nor is its end
    stroked[10:20, 90:100] = 1.0                        # nor a light area
    assert len(bright_dots(stroked)) == 0
    faint = photo.copy()
    faint[40, 40] = photo[40, 40] + 0.5                 # one pixel, not very bright: diluted below the contrast
    assert len(bright_dots(faint)) == 0
    with pytest.raises(SettingsError, match="dot kind"):
        dots_per_megapixel(photo, "grey")


def test_dot_excess_compares_with_the_painting_at_the_size_it_was_matched():
    def dotted(height, width):   # 3×3 px light dots every 16 px on a dark ground: the same density at any size
        image = np.full((height, width, 3), 0.2, np.float32)
        for row in range(8, height, 16):
            for column in range(8, width, 16):
                image[row - 1:row + 2, column - 1:column + 2] = 0.9
        return image

    painting, result = dotted(96, 128), dotted(192, 256)
    assert dot_excess(result, painting, kind="bright", reference_size=128) == pytest.approx(1.0)
    # shown at the result's size, the painting has a quarter as many dots per pixel (each is 6 px across)
    assert dot_excess(result, painting, kind="bright") == pytest.approx(4.0)


def test_a_dotted_figure_fails_the_paper_assertion():
    from nstutils.course.paper import MAX_DOTS_PER_MEGAPIXEL, photo_looks

    photo = _smooth_photo()
    assert photo_looks(photo, photo)["findings"] == {"stays_photographic": True, "structure_kept": True,
                                                     "nothing_transplanted": True}
    dotted = photo.copy()
    rng = np.random.default_rng(0)
    count = int(2 * MAX_DOTS_PER_MEGAPIXEL * photo.shape[0] * photo.shape[1] / 1e6) + 2
    for row, column in zip(rng.integers(2, 94, count), rng.integers(2, 126, count)):
        dotted[row, column] = 1.0
    looks = photo_looks(dotted, photo)
    assert looks["dots"] > MAX_DOTS_PER_MEGAPIXEL and not looks["findings"]["stays_photographic"]


def test_a_speckled_photo_fails_the_paper_assertion():
    from nstutils.course.paper import photo_looks

    photo = _smooth_photo()
    noise = np.random.default_rng(1).uniform(-0.15, 0.15, photo.shape)
    speckled = np.clip(photo + noise, 0, 1)
    assert speckle_ratio(speckled, photo) > 3
    looks = photo_looks(speckled, photo)
    assert not looks["findings"]["stays_photographic"] and looks["findings"]["structure_kept"]
    shuffled = np.random.default_rng(2).permutation(photo.reshape(-1, 3)).reshape(photo.shape)
    assert not photo_looks(shuffled, photo)["findings"]["structure_kept"]
    with pytest.raises(SettingsError):
        speckle_ratio(photo, photo[:10])


def test_dot_excess_is_relative_to_the_painting_at_the_same_size():
    from nstutils.course.artefacts import DOT_FLOOR, dot_excess

    photo = _smooth_photo()                     # 96 × 128, no dots
    assert dot_excess(photo, photo) == 0.0
    dotted = photo.copy()
    spots = [(10 + 8 * k, 12 + 9 * k) for k in range(10)]
    for row, column in spots:
        dotted[row, column] = 1.0
    assert dot_excess(dotted, photo) == pytest.approx(len(spots) / DOT_FLOOR)  # a clean painting: the floor
    assert dot_excess(dotted, dotted) == pytest.approx(1.0)                    # as many as the painting has
    assert dot_excess(dotted[np.newaxis], dotted, floor=1e4) == pytest.approx(len(spots) / 1e4)
    one = photo.copy()
    one[40, 40] = 1.0
    assert dot_excess(one, photo) == pytest.approx(1 / DOT_FLOOR)             # one chance dot passes 1.5
    assert dot_excess(photo, dotted) == 0.0


def test_speckle_excess_is_relative_to_the_crisper_source():
    from nstutils.course.artefacts import speckle_excess

    photo = _smooth_photo()
    noise = np.random.default_rng(0).uniform(-0.15, 0.15, photo.shape)
    speckled = np.clip(photo + noise, 0, 1).astype(np.float32)
    assert speckle_excess(photo, photo, photo) == pytest.approx(1.0)
    assert speckle_excess(speckled, photo, photo) > 2.0               # speckle neither source has
    # a painting as grainy as the result excuses it, at whatever size the painting comes in
    assert speckle_excess(speckled, photo, speckled) == pytest.approx(1.0)
    assert speckle_excess(photo[np.newaxis], photo, speckled) < 0.5
    # a painting 4× larger is shrunk to the result's long side first, and its grain still counts
    big = np.kron(speckled, np.ones((4, 4, 1))).astype(np.float32)
    assert speckle_excess(speckled, photo, big) < 0.6 * speckle_excess(speckled, photo, photo)


def _dot_grid(shape, period: int, amplitude: float, rows=slice(None)) -> np.ndarray:
    """A faint purple-green dot every ``period`` px (in ``rows`` only): the lattice a network's pooling prints."""
    grid = np.zeros(shape[:2])
    grid[3::period, 5::period] = 1.0
    mask = np.zeros(shape[:2])
    mask[rows] = 1.0
    return amplitude * (grid * mask)[..., None] * np.array([1.0, -1.0, 1.0])


def test_lattice_peaks_find_a_faint_grid_and_no_peak_in_photos_or_paintings():
    from nstutils.course.artefacts import lattice_peaks
    from nstutils.images import load_image

    photo = load_image("tubingen", 256)[0]
    for name in ("starry_night", "the_scream", "udnie"):   # a scan's weave or resampling: a peak of up to ~8
        peaks = lattice_peaks(load_image(name, 256))
        assert len(peaks) == 3 * 40 and max(peaks.values()) < 10, name
    for period in (8, 4):
        latticed = np.clip(photo + _dot_grid(photo.shape, period, 0.02), 0, 1)
        peaks = lattice_peaks(latticed)
        channel, a, b = max(peaks, key=peaks.get)
        assert peaks[(channel, a, b)] > 30 and channel in "IQ", (period, peaks[(channel, a, b)])
        assert (a * period) % 8 == 0 and (b * period) % 8 == 0      # at a multiple of 1/period cycles per pixel


def test_lattice_excess_flags_a_grid_only_the_result_has():
    from nstutils.course.artefacts import lattice_excess
    from nstutils.images import load_image

    photo = load_image("tubingen", 256)[0]
    painting = load_image("starry_night", 256)[0]
    assert lattice_excess(photo, photo, painting) <= 1.0
    assert lattice_excess(load_image("the_scream", 256)[0][:192], photo, painting) < 2.0   # texture, no grid
    sky = np.clip(photo + _dot_grid(photo.shape, 8, 0.02, rows=slice(0, 64)), 0, 1)   # only in the sky
    assert lattice_excess(sky, photo, painting) > 5
    assert lattice_excess(sky, photo, sky) == pytest.approx(1.0, rel=1e-4)     # a source with the same grid excuses it
    assert lattice_excess(sky[np.newaxis], photo, "starry_night") == pytest.approx(lattice_excess(sky, photo, painting),
                                                                          rel=1e-4)


def test_flat_chroma_ratio_flags_colour_blotches_over_the_sky_not_an_even_recolouring():
    from nstutils.course.artefacts import flat_chroma_ratio
    from nstutils.images import load_image

    photo = load_image("tubingen", 256)[0]
    assert flat_chroma_ratio(photo, photo) == pytest.approx(1.0)
    warmer = np.clip(photo * np.array([1.1, 1.0, 0.85]) + 0.02, 0, 1)       # evenly recoloured: still flat
    assert flat_chroma_ratio(warmer, photo) < 1.5
    assert flat_chroma_ratio(blotched_sky(photo), photo[np.newaxis]) > 3
    grey_sky = blotched_sky(photo, amplitude=0.0)
    assert flat_chroma_ratio(grey_sky, photo) == pytest.approx(1.0)
    with pytest.raises(SettingsError):
        flat_chroma_ratio(photo[:100], photo)


def test_a_blotched_sky_fails_the_photorealistic_assertion():
    from nstutils.course.paper import MAX_FLAT_CHROMA, photo_looks
    from nstutils.images import load_image

    photo = load_image("tubingen", 256)[0]
    looks = photo_looks(blotched_sky(photo), photo)
    assert looks["blotches"] > MAX_FLAT_CHROMA and not looks["findings"]["stays_photographic"], looks
    assert looks["findings"]["structure_kept"] and looks["speckle"] < 1.5   # the luminance measures miss it


def test_hue_dots_are_isolated_spots_of_colour_not_strokes_or_edges():
    from nstutils.course.artefacts import hue_dots

    grey = np.full((48, 64, 3), 0.5)
    dotted = grey.copy()
    dotted[10:12, 10:12] = [0.8, 0.3, 0.8]                   # magenta, 2 px, about as bright as the grey
    dotted[30:33, 40:43] = [0.3, 0.6, 0.3]                   # green, 3 px
    dotted[40, 20] = [0.0, 1.0, 0.0]                         # a single pixel is diluted 9× by the average
    found = sorted(map(tuple, hue_dots(dotted)))
    assert len(found) == 2 and abs(found[0][0] - 10.5) <= 1 and abs(found[0][1] - 10.5) <= 1 and found[1] == (31, 41)
    stroke = grey.copy()
    stroke[20:22, 5:60] = [0.8, 0.3, 0.8]                    # a stroke keeps its hue along its length
    halves = grey.copy()
    halves[:, 32:] = [0.7, 0.4, 0.3]                         # an edge between two colours: one side matches
    bright = grey.copy()
    bright[10:12, 10:12] = 0.95                              # a light grey spot has no hue
    assert len(hue_dots(stroke)) == 0 and len(hue_dots(halves)) == 0 and len(hue_dots(bright)) == 0


def test_sky_dots_count_against_the_most_dotted_part_of_the_painting():
    from nstutils.course.artefacts import hue_dots, sky_dot_excess
    from nstutils.course.paper import MAX_SKY_DOT_EXCESS
    from nstutils.images import load_image

    photo = load_image("tubingen", 256)[0]
    lattice = hue_dots_over_sky(photo, amplitude=0.25)
    assert sky_dot_excess(photo, photo, "the_scream") < 1.0
    assert sky_dot_excess(lattice, photo, "the_scream") > MAX_SKY_DOT_EXCESS
    # a painting with as dense dots in one quarter of it (a starry sky) allows them; spread thin, it does not
    grey = np.full((192, 256, 3), 0.5, np.float32)
    starry = hue_dots_over_sky(grey, amplitude=0.25, rows=96)                 # dots in the top half
    starry[:, 128:] = 0.5                                                      # ... left half only: a quarter
    assert sky_dot_excess(lattice, photo, starry) < 2.0
    sparse = hue_dots_over_sky(grey, amplitude=0.25, period=16, rows=192)      # a quarter as dense, everywhere
    assert len(hue_dots(sparse, contrast=0.07)) > 100
    assert sky_dot_excess(lattice, photo, sparse) > 2 * sky_dot_excess(lattice, photo, starry)
    with pytest.raises(SettingsError, match="same size"):
        sky_dot_excess(lattice[:100], photo, "the_scream")


def test_hue_dots_in_the_sky_count_against_the_painting():
    from nstutils.course.artefacts import dot_excess, dots_per_megapixel, flat_places, speckle_excess
    from nstutils.course.paper import MAX_SKY_DOT_EXCESS
    from nstutils.images import load_image

    photo = load_image("tubingen", 256)[0]
    sky = flat_places(photo)
    assert sky.mean() == pytest.approx(0.25, abs=0.01) and sky[:40].mean() > 0.5
    dotted = hue_dots_over_sky(photo)
    assert dot_excess(photo, "the_scream", kind="hue", where=sky) < 1.0
    assert dot_excess(dotted, "the_scream", kind="hue", where=sky) > MAX_SKY_DOT_EXCESS
    assert speckle_excess(dotted, photo, "the_scream") < 1.2              # brightness barely changes
    # per area of the mask: the dots sit in the sky, so they are denser there than over the whole image
    assert dots_per_megapixel(dotted, "hue", where=sky) > 2 * dots_per_megapixel(dotted, "hue")
    warmer = np.clip(photo * np.array([1.1, 1.0, 0.85]) + 0.02, 0, 1)   # an even recolouring adds no dots
    assert dot_excess(warmer, "the_scream", kind="hue", where=sky) < 1.0
    with pytest.raises(SettingsError, match="mask"):
        dots_per_megapixel(dotted, "hue", where=sky[:100])


def test_grid_locking_tells_dots_on_the_pooling_grid_from_dots_anywhere():
    from nstutils.course.artefacts import grid_locking

    rng = np.random.default_rng(0)

    def dotted(jitter):
        image = np.full((128, 128, 3), 0.5)
        for y in range(0, 128 - 9, 16):
            for x in range(0, 128 - 9, 16):
                dy, dx = jitter(), jitter()
                image[y + dy:y + dy + 3, x + dx:x + dx + 3] = [0.8, 0.3, 0.8]
        return image

    locked = dotted(lambda: 4 * int(rng.integers(2)))        # every dot on the same phase of a 4-px grid
    anywhere = dotted(lambda: int(rng.integers(8)))          # the same dots, any phase
    assert grid_locking(locked) > 10 > 4 > grid_locking(anywhere)   # 18.7 and 2.6
    assert grid_locking(np.full((64, 64, 3), 0.5)) == 0.0    # no dots, no grid


def test_a_transplanted_object_changes_the_content_in_one_place_and_relighting_does_not():
    from nstutils.course.artefacts import transplant_excess
    from nstutils.course.measures import local_content_distance
    from nstutils.course.paper import MAX_TRANSPLANT_EXCESS, photo_looks
    from nstutils.images import load_image

    photo = load_image("tubingen", 192)[0]
    relit = np.clip(photo * np.array([0.55, 0.6, 0.9]) + np.array([0.0, 0.02, 0.1]), 0, 1)   # dusk light, no new edges
    assert local_content_distance(photo, photo).shape == (6, 6) and local_content_distance(photo, photo).max() == 0
    assert transplant_excess(relit, photo) < MAX_TRANSPLANT_EXCESS
    cat = load_image("chelsea", 192)[0]
    transplanted = relit.copy()
    transplanted[90:130, 20:70] = cat[40:80, 60:110]   # an eye and fur on the river bank, relit around it
    assert transplant_excess(transplanted, photo) > MAX_TRANSPLANT_EXCESS
    assert transplant_excess(photo, photo) == 0.0
    looks = photo_looks(transplanted, photo)
    assert not looks["findings"]["nothing_transplanted"] and looks["transplant"] > MAX_TRANSPLANT_EXCESS
    assert photo_looks(relit, photo)["findings"]["nothing_transplanted"]
    with pytest.raises(SettingsError):
        transplant_excess(photo, photo[:10])


def test_the_poster_cost_is_the_sum_of_its_stages():
    from nstutils.cost import estimate_cost, measured_speed
    from nstutils.arithmetic import resolve_compute_dtype
    from nstutils.course.beyond import coarse_to_fine_cost

    speed = measured_speed(resolve_compute_dtype("auto"))
    stages = [estimate_cost(size, steps, "lbfgs", 0.75, speed) for size, steps in ((256, 150), (512, 60), (1024, 30))]
    cost = coarse_to_fine_cost("tubingen", (256, 512, 1024), (150, 60, 30))
    assert cost.seconds == pytest.approx(sum(stage.seconds for stage in stages))
    assert cost.peak_bytes == max(stage.peak_bytes for stage in stages) == stages[-1].peak_bytes
    assert coarse_to_fine_cost("tubingen", (256, 512), 60).seconds < cost.seconds
