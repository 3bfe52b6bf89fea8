"""Channel visualisation and the reconstructions from noise."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils.errors import SettingsError
from nstutils.explore import (channel_activation, pixel_error, reconstruct_content, reconstruct_style,
                              visualize_channel)
from nstutils.losses import gram_matrix
from nstutils.features import FeatureExtractor


def test_visualize_channel_raises_the_activation():
    image, history = visualize_channel("conv2_1", channel=5, size=48, steps=20)
    assert image.shape == (48, 48, 3) and 0 <= image.min() and image.max() <= 1
    start = np.full((48, 48, 3), 0.5, np.float32)
    assert channel_activation(image, "conv2_1", 5) > 2 * channel_activation(start, "conv2_1", 5) + 1e-3
    assert history[-1] > history[0]
    with pytest.raises(SettingsError, match="channels 0..127"):
        visualize_channel("conv2_1", channel=500, size=16, steps=1)


def test_content_reconstruction_approaches_the_photo(tiny_content):
    shallow = reconstruct_content(tiny_content, "conv1_2", steps=40, max_dim=64, compute_dtype="float32")
    start_error = pixel_error(np.random.default_rng(0).uniform(size=tiny_content.shape).astype(np.float32),
                              tiny_content)
    assert pixel_error(shallow.image, tiny_content) < 0.5 * start_error
    assert shallow.history[-1]["content"] < shallow.history[0]["content"] / 10


def test_style_reconstruction_matches_grams_not_pixels(tiny_style):
    result = reconstruct_style(tiny_style, ["conv1_1", "conv2_1"], steps=40, max_dim=64, compute_dtype="float32")
    assert result.history[-1]["style"] < result.history[0]["style"] / 10
    extract = FeatureExtractor(["conv1_1"])
    grams = [gram_matrix(extract(x)["block1_conv1"]).numpy() for x in (result.image[None], tiny_style)]
    assert np.linalg.norm(grams[0] - grams[1]) / np.linalg.norm(grams[1]) < 0.2
    assert pixel_error(result.image, tiny_style) > 0.05  # same statistics, different arrangement
