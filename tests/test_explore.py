"""Channel visualisation and the reconstructions from noise."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils.course.measures import rms_distance
from nstutils.errors import SettingsError
from nstutils.course.explore import (channel_activation, pooling_gradients, reconstruct_content,
                                     reconstruct_style, visualize_channel)
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
    start_error = rms_distance(np.random.default_rng(0).uniform(size=tiny_content.shape).astype(np.float32),
                              tiny_content)
    assert rms_distance(shallow.image, tiny_content) < 0.5 * start_error
    assert shallow.history[-1]["content"] < shallow.history[0]["content"] / 10


def test_style_reconstruction_matches_grams_not_pixels(tiny_style):
    result = reconstruct_style(tiny_style, ["conv1_1", "conv2_1"], steps=40, max_dim=64, compute_dtype="float32")
    assert result.history[-1]["style"] < result.history[0]["style"] / 10
    extract = FeatureExtractor(["conv1_1"])
    grams = [gram_matrix(extract(x)["block1_conv1"]).numpy() for x in (result.image[None], tiny_style)]
    assert np.linalg.norm(grams[0] - grams[1]) / np.linalg.norm(grams[1]) < 0.2
    assert rms_distance(result.image, tiny_style) > 0.05  # same statistics, different arrangement


def test_pooling_gradients_max_to_the_winner_avg_a_quarter_each():
    x = np.array([[1, 2, 0, -1], [3, 4, -2, -3], [0, 0, 5, 1], [0, 9, 1, 1.5]])
    pooled, grad = pooling_gradients(x, "max")
    np.testing.assert_allclose(pooled, [[4, 0], [9, 5]])
    expected = np.zeros((4, 4))
    expected[1, 1] = expected[0, 2] = expected[3, 1] = expected[2, 2] = 1.0
    np.testing.assert_allclose(grad, expected)
    pooled, grad = pooling_gradients(x, "avg")
    np.testing.assert_allclose(pooled, [[2.5, -1.5], [2.25, 2.125]])
    np.testing.assert_allclose(grad, np.full((4, 4), 0.25))
    # An upstream gradient is routed the same way, scaled by its value per window.
    upstream = np.array([[2.0, -1.0], [0.5, 3.0]])
    _, grad = pooling_gradients(x, "max", upstream)
    assert grad[1, 1] == 2.0 and grad[0, 2] == -1.0 and grad[3, 1] == 0.5 and grad[2, 2] == 3.0
    assert np.count_nonzero(grad) == 4
    _, grad = pooling_gradients(x, "avg", upstream)
    np.testing.assert_allclose(grad, np.kron(upstream, np.ones((2, 2))) / 4)
    rng = np.random.default_rng(0).normal(size=(6, 8))
    for kind in ("max", "avg"):
        _, grad = pooling_gradients(rng, kind)
        assert grad.shape == (6, 8) and np.isclose(grad.sum(), 12)   # each of the 12 windows passes back 1
    with pytest.raises(SettingsError, match="kind"):
        pooling_gradients(x, "min")
    with pytest.raises(SettingsError, match="even"):
        pooling_gradients(np.zeros((3, 4)), "max")
    with pytest.raises(SettingsError, match="upstream"):
        pooling_gradients(x, "max", np.ones((3, 3)))
