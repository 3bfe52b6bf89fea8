"""Checks of ``07_beyond``: colour matching, the painting recoloured with the photo's colour statistics."""

from __future__ import annotations

import numpy as np

from .core import Case, seeded_rng
from .diagnose import shape_text
from .runner import run_cases


def _power(cov: np.ndarray, p: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return vectors @ np.diag(values ** p) @ vectors.T


def _coloured(seed: int, shape, mix) -> np.ndarray:
    rng = seeded_rng(seed)
    base = rng.normal(size=shape[:-1] + (3,)) @ np.asarray(mix, np.float64).T
    return np.clip(0.5 + 0.15 * base, 0.0, 1.0).astype(np.float32)


def _variants(painting: np.ndarray, photo: np.ndarray):
    xs, xc = painting[0].reshape(-1, 3).astype(np.float64), photo[0].reshape(-1, 3).astype(np.float64)
    mu_s, mu_c = xs.mean(0), xc.mean(0)
    cov_s, cov_c = np.cov(xs, rowvar=False), np.cov(xc, rowvar=False)
    a = _power(cov_c, 0.5) @ _power(cov_s, -0.5)
    out = lambda y: np.clip(y, 0, 1).reshape(painting[0].shape)  # noqa: E731
    chol = np.linalg.cholesky(cov_c) @ np.linalg.inv(np.linalg.cholesky(cov_s))
    return [("you matched the mean colour only: also map the covariance, (x − μ_painting) @ A.T with "
             "A = Σ_photo^½ Σ_painting^-½.", out(xs - mu_s + mu_c)),
            ("you matched each channel's spread separately (standard deviations): the covariance also matches how "
             "the channels vary together; use A = Σ_photo^½ Σ_painting^-½ (3×3).",
             out((xs - mu_s) * xc.std(0, ddof=1) / xs.std(0, ddof=1) + mu_c)),
            ("the pixels are rows of xs, so apply A as (x − μ) @ A.T, not @ A.", out((xs - mu_s) @ a + mu_c)),
            ("the powers are the wrong way round: A = Σ_photo^½ · Σ_painting^-½ (whiten the painting, then colour "
             "it like the photo).", out((xs - mu_s) @ (_power(cov_s, 0.5) @ _power(cov_c, -0.5)).T + mu_c)),
            ("add the photo's mean μ_photo at the end, not the painting's.", out((xs - mu_s) @ a.T + mu_s)),
            ("you forgot to subtract the painting's mean before applying A: (x − μ_painting) @ A.T + μ_photo.",
             out(xs @ a.T + mu_c)),
            ("that is the Cholesky colour transfer: valid, but this course (and match_color) uses the symmetric "
             "square roots of the covariances (np.linalg.eigh), A = Σ_photo^½ Σ_painting^-½.",
             out((xs - mu_s) @ chol.T + mu_c)),
            ("clip the result to [0, 1] (np.clip(..., 0, 1)).",
             ((xs - mu_s) @ a.T + mu_c).reshape(painting[0].shape))]


def color_matching(fn) -> None:
    """Check ``color_matching(painting, photo) -> recoloured painting`` (``07_beyond``).

    ``painting`` and ``photo`` are numpy ``[1, H, W, 3]`` images in [0, 1] (sizes may differ);
    the result, ``[H, W, 3]`` (or ``[1, H, W, 3]``), is the painting's pixels ``x`` mapped to
    ``Σ_photo^½ Σ_painting^-½ (x − μ_painting) + μ_photo`` and clipped to [0, 1], as
    :func:`nstutils.color.match_color` computes (up to its tiny regularisation). The
    inputs must be left unchanged.
    """
    from nstutils.color import match_color

    cases = []
    for seed, s_shape, c_shape in ((140, (1, 6, 5, 3), (1, 4, 7, 3)), (141, (1, 8, 8, 3), (1, 8, 8, 3)),
                                   (142, (1, 5, 9, 3), (1, 6, 3, 3))):
        painting = _coloured(seed, s_shape, [[1.0, 0.6, 0.1], [0.2, 1.0, 0.3], [0.4, 0.1, 0.7]])
        photo = _coloured(seed + 10, c_shape, [[0.5, 0.1, 0.0], [0.3, 0.9, 0.2], [0.1, 0.4, 1.2]])
        expected = match_color(painting, photo)
        hints = [(tuple(photo.shape[1:]), "that is the photo's shape: recolour the painting (its pixels, its size) "
                                          "with the photo's colour statistics, not the photo."),
                 ((photo[0].size // 3, 3), f"reshape the result back to the painting's {shape_text(expected.shape)}."),
                 ((painting[0].size // 3, 3), f"reshape the result back to the painting's "
                                              f"{shape_text(expected.shape)}.")]
        label = f"a painting {shape_text(painting.shape)} and a photo {shape_text(photo.shape)}"
        cases.append(Case(label, (painting, photo), expected, _variants(painting, photo), hints))
    run_cases("color_matching", _batchless(fn), cases, "recoloured painting", rtol=1e-3, atol=2e-3)


def _batchless(fn):
    """``fn`` with a ``[1, H, W, 3]`` result accepted as ``[H, W, 3]``."""
    if not callable(fn):
        return fn

    def squeezed(painting, photo):
        result = fn(painting, photo)
        shape = getattr(result, "shape", ())
        if len(shape) == 4 and shape[0] == 1 and tuple(shape[1:]) == tuple(painting.shape[1:]):
            return np.asarray(result)[0]
        return result

    return squeezed
