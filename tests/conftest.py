"""Shared fixtures: tiny deterministic images and an isolated output folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"

# Tests use the course images from ../shared when there and no folder was chosen.
if not os.environ.get("NSTUTILS_DATA_DIR") and SHARED_IMAGES.is_dir():
    os.environ["NSTUTILS_DATA_DIR"] = str(SHARED_IMAGES)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_content() -> np.ndarray:
    """A 48×64 smooth synthetic photo: gradients and a disc, float32 [1, H, W, 3]."""
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    disc = ((x - 40) ** 2 + (y - 20) ** 2 < 120).astype(np.float32)
    image = np.stack([x / 63, y / 47, 0.5 * disc + 0.25], axis=-1)
    return image[np.newaxis].astype(np.float32)


@pytest.fixture
def tiny_style() -> np.ndarray:
    """A 48×64 stripy 'painting': diagonal colour stripes, float32 [1, H, W, 3]."""
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((x + y) / 3.0)
    image = np.stack([stripes, 1 - stripes, 0.5 + 0.5 * np.cos(x / 5.0)], axis=-1)
    return image[np.newaxis].astype(np.float32)


def pytest_terminal_summary(terminalreporter):
    """Report how many bad inputs the bad-input suite tried and how many were handled cleanly."""
    module = sys.modules.get("test_bad_input") or sys.modules.get("tests.test_bad_input")
    counts = getattr(module, "COUNTS", None)
    if counts:
        terminalreporter.write_line(
            f"bad input: {counts['tried']} cases tried, {counts['handled']} handled "
            f"({counts['loaded']} loaded correctly, {counts['refused']} refused with ImageError; "
            f"plus CLI and option cases)")
