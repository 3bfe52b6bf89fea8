"""Artefacts seen in real results, drawn on a clean photo, so that the measures and the figures'
assertions can be shown to fail on them."""

from __future__ import annotations

import numpy as np


def hue_dots_over_sky(photo: np.ndarray, amplitude: float = 0.4, period: int = 8, rows: int = 64) -> np.ndarray:
    """Magenta, green and blue dots about 3 px across, one near every ``period``-th pixel of the top
    ``rows`` (the sky), as in the paper-setup gallery's *Scream* (sky hue-dot excess 82 here, 46 there)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:photo.shape[0], :photo.shape[1]]
    dots = np.zeros(photo.shape)
    hues = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [-0.5, -0.5, 1.0]])
    for y in range(period // 2, rows, period):
        for x in range(period // 2, photo.shape[1], period):
            y0, x0 = y + rng.uniform(-2, 2), x + rng.uniform(-2, 2)
            dots += np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / 2)[..., None] * hues[rng.integers(3)]
    return np.clip(photo + amplitude * dots, 0, 1)


def blotched_sky(photo: np.ndarray, amplitude: float = 0.1) -> np.ndarray:
    """Purple-green blobs about 4 px across every ~10 px, placed at random, over the top rows (the sky),
    as the cat photo's texture lands on Tübingen's sky in Figure 7 without total variation."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:photo.shape[0], :photo.shape[1]]
    blobs = np.zeros(photo.shape[:2])
    for _ in range(photo.shape[1] * 60 // 100):
        y, x, sign = rng.uniform(0, 60), rng.uniform(0, photo.shape[1]), rng.choice([-1.0, 1.0])
        blobs += sign * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5 ** 2))
    return np.clip(photo + amplitude * blobs[..., None] * np.array([1.0, -1.0, 1.0]), 0, 1)
