"""Colour preservation: YIQ round trips, luminance-only transfer, colour matching."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils.color import match_color, preserve_color, rgb_to_yiq, yiq_to_rgb
from nstutils.errors import ImageError


def test_yiq_round_trip_and_grey_has_no_chroma(rng):
    image = rng.uniform(size=(5, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-5)
    grey = np.full((2, 2, 3), 0.4, np.float32)
    np.testing.assert_allclose(rgb_to_yiq(grey), [[[0.4, 0, 0]] * 2] * 2, atol=1e-6)


def test_preserve_color_takes_luminance_and_chroma_from_the_right_image(rng):
    stylized = rng.uniform(size=(8, 8, 3)).astype(np.float32)
    content = np.clip(rng.normal(0.5, 0.1, size=(8, 8, 3)), 0, 1).astype(np.float32)
    out = preserve_color(stylized, content)
    inside = (out > 0.001).all(-1) & (out < 0.999).all(-1)  # where no clipping happened
    np.testing.assert_allclose(rgb_to_yiq(out)[..., 0][inside], rgb_to_yiq(stylized)[..., 0][inside], atol=1e-5)
    np.testing.assert_allclose(rgb_to_yiq(out)[..., 1:][inside], rgb_to_yiq(content)[..., 1:][inside], atol=1e-5)
    with pytest.raises(ImageError, match="same size"):
        preserve_color(stylized, content[:4])


def test_match_color_matches_mean_and_covariance(rng):
    source = rng.uniform(0.2, 0.6, size=(20, 30, 3)).astype(np.float32)
    mixing = np.array([[0.3, 0.1, 0.0], [0.1, 0.2, 0.05], [0.0, 0.05, 0.1]])
    target = (0.5 + rng.normal(size=(25, 25, 3)) @ mixing).clip(0, 1).astype(np.float32)
    out = match_color(source, target)
    assert out.shape == source.shape
    flat_out, flat_t = out.reshape(-1, 3), target.reshape(-1, 3)
    np.testing.assert_allclose(flat_out.mean(0), flat_t.mean(0), atol=0.01)
    np.testing.assert_allclose(np.cov(flat_out, rowvar=False), np.cov(flat_t, rowvar=False), atol=0.005)
