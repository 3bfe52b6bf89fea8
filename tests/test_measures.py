"""The course's measures (nstutils.course.measures): each distance and correlation once."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils.color import LUMA_WEIGHTS
from nstutils.course import measures
from nstutils.errors import SettingsError


def test_measures(tiny_content, tiny_style):
    photo = tiny_content[0]
    assert measures.detail_correlation(photo, photo) == pytest.approx(1.0)
    noise = np.random.default_rng(0).uniform(size=photo.shape).astype(np.float32)
    assert abs(measures.detail_correlation(noise, photo)) < 0.3
    assert measures.rms_distance(photo, photo) == 0 and measures.rms_distance(noise, photo) > 0.1
    assert measures.content_distance(photo, photo) == pytest.approx(0.0, abs=1e-9)
    assert measures.content_distance(tiny_style, tiny_content) > 0.05
    # between the grey images the colour does not count: the photo made grey is the photo
    grey = np.repeat((photo @ LUMA_WEIGHTS)[..., None], 3, axis=-1)
    assert measures.content_distance(grey, photo) > 0.01
    assert measures.content_distance(grey, photo, channels="luminance") == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(SettingsError, match="rgb, luminance"):
        measures.content_distance(grey, photo, channels="grey")
    with pytest.raises(SettingsError, match="differ in shape"):
        measures.detail_correlation(photo[:20], photo)


def test_layout_correlation(tiny_content):
    photo = tiny_content[0]
    assert measures.layout_correlation(photo, photo) == pytest.approx(1.0)
    shuffled = photo.reshape(-1, 3)[np.random.default_rng(0).permutation(photo.shape[0] * photo.shape[1])]
    assert abs(measures.layout_correlation(shuffled.reshape(photo.shape), photo)) < 0.3
    noisy = np.clip(photo + np.random.default_rng(1).normal(0, 0.3, photo.shape), 0, 1)
    assert measures.layout_correlation(noisy, photo) > 0.8 > measures.detail_correlation(noisy, photo)
    with pytest.raises(SettingsError, match="differ in shape"):
        measures.layout_correlation(photo[:20], photo)


def test_style_distance(tiny_content, tiny_style):
    same = measures.style_distance_by_layer(tiny_style, tiny_style, layers=("conv1_1", "conv3_1"))
    assert list(same) == ["conv1_1", "conv3_1"] and all(v == pytest.approx(0.0, abs=1e-9) for v in same.values())
    tiled = np.tile(np.asarray(tiny_style, np.float32).reshape((1,) + np.shape(tiny_style)[-3:]), (1, 2, 2, 1))
    other = measures.style_distance_by_layer(tiny_content, tiny_style, layers=("conv1_1",))
    assert other["conv1_1"] > 0.01
    # Gram matrices are averages over positions: a 2×2 tiling of the painting is nearly the same style
    assert measures.style_distance_by_layer(tiled, tiny_style, layers=("conv1_1",))["conv1_1"] < 0.1 * other["conv1_1"]


def test_style_distance_is_zero_for_the_painting_and_orders_styles(tiny_content, tiny_style):
    options = dict(layers=("conv1_1", "conv2_1"), weights="compact", pooling="max")
    assert measures.style_distance(tiny_style, tiny_style, **options) == pytest.approx(0.0, abs=1e-6)
    matrix = measures.style_distance_matrix([tiny_style, tiny_content], [tiny_style, tiny_content], **options)
    assert matrix.shape == (2, 2) and np.allclose(np.diag(matrix), 0.0, atol=1e-6)
    assert matrix[0, 1] > 0 and matrix[1, 0] > 0
    with pytest.raises(SettingsError):
        measures.style_distance(tiny_style, tiny_style, layers=(), weights="compact", pooling="max")


def test_color_distance_measures_mean_and_covariance():
    rng = np.random.default_rng(0)
    image = rng.random((16, 16, 3)).astype(np.float32)
    mean, cov = measures.color_statistics(image)
    assert mean.shape == (3,) and cov.shape == (3, 3)
    assert measures.color_distance(image, image) == pytest.approx(0.0, abs=1e-9)
    shifted = np.clip(image * 0.5 + 0.2, 0, 1)   # mean moves by 0.2 - 0.25 per channel, spread halves
    assert measures.color_distance(image, shifted) > measures.color_distance(image, np.clip(image * 0.9 + 0.05, 0, 1)) > 0
    assert measures.color_distance(image, np.clip(image + 0.1, 0, 1)) == pytest.approx(np.sqrt(3) * 0.1, rel=0.3)


def test_one_style_distance_is_the_mean_of_the_per_layer_one(tiny_content, tiny_style):
    layers = ("conv1_1", "conv2_1")
    by_layer = measures.style_distance_by_layer(tiny_content, tiny_style, layers, weights="compact", pooling="max")
    assert list(by_layer) == list(layers) and min(by_layer.values()) > 0
    one = measures.style_distance(tiny_content, tiny_style, layers, weights="compact", pooling="max")
    assert one == pytest.approx(np.mean(list(by_layer.values())), rel=1e-12)


def test_rms_distance_takes_batches_names_and_single_images(tiny_content):
    photo = tiny_content[0]
    shifted = np.clip(photo + 0.1, 0, 1)
    assert measures.rms_distance(tiny_content, shifted) == pytest.approx(measures.rms_distance(photo, shifted))
    assert measures.rms_distance(photo, photo + 0.25) == pytest.approx(0.25)
    with pytest.raises(SettingsError, match="differ in shape"):
        measures.rms_distance(photo[:20], photo)


def test_high_pass_is_the_array_minus_its_box_blur():
    from nstutils.course.measures import box_blur, high_pass

    flat = np.full((9, 9), 0.4)
    assert np.allclose(high_pass(flat, 1), 0.0)            # no detail in a constant
    spike = flat.copy()
    spike[4, 4] = 1.3
    detail = high_pass(spike, 1)
    assert detail[4, 4] == pytest.approx(0.9 * 8 / 9) and detail[3, 3] == pytest.approx(-0.1)
    assert np.allclose(detail, spike - box_blur(spike, 1))
