"""Readable differences between an expected and a wrong answer, naming common slips.

Used by every check of :mod:`nstutils.course.check` (introduced in ``01_cnn_features``)
when no mistake specific to the exercise matches: a flipped sign, a factor 2, the
reciprocal (a ratio inverted), off by one, a transposed array, right values in the wrong
places; otherwise the largest error and where it is, never two truncated arrays.
"""

from __future__ import annotations

import numpy as np


def shape_text(shape) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def summarize(array: np.ndarray) -> str:
    array = np.asarray(array)
    if array.size == 1:
        return f"{float(array.reshape(())):.6g}"
    with np.printoptions(precision=4, suppress=True, threshold=12, edgeitems=2):
        return " ".join(str(array).split())


def values_close(a, b, rtol: float, atol: float = 0.0) -> bool:
    """Same shape and values within ``rtol``, with ``atol`` at least 1e-6 of ``b``'s largest entry."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    return bool(np.allclose(a, b, rtol=rtol, atol=max(atol, 1e-6 * scale)))


def _close(a, b, rtol: float, atol: float) -> bool:
    # a mistake's signature need not be exact: float32 round-off may sit above a tight tolerance
    return values_close(a, b, max(rtol, 1e-4), atol)


def _constant_ratio(expected: np.ndarray, got: np.ndarray):
    """The number r with got == r·expected everywhere, or None."""
    scale = max(1e-12, float(np.abs(expected).max()))
    mask = np.abs(expected) > 1e-6 * scale
    if not mask.any() or np.any(np.abs(got[~mask]) > 1e-5 * scale):
        return None
    ratios = got[mask] / expected[mask]
    r = float(np.median(ratios))
    return r if np.allclose(ratios, r, rtol=1e-3) else None


def known_slip(expected: np.ndarray, got: np.ndarray, what: str = "answer", rtol: float = 1e-4,
               atol: float = 0.0) -> str:
    """A sentence naming the slip that turns ``expected`` into ``got`` (same shapes), or ''."""
    if _close(got, -expected, rtol, atol):
        return ("the sign is flipped (yours is −1 × the expected value): look at the direction of a subtraction "
                "or of a step (x − η·g goes downhill, x + η·g uphill).")
    if expected.size == 1 and float(expected) != 0 and _close(got, 1.0 / expected, rtol, atol):
        return ("yours is the reciprocal of the expected value: a ratio is inverted (β/α instead of α/β, b/a "
                "instead of a/b).")
    ratio = _constant_ratio(expected, got)
    if ratio is not None and abs(ratio - 2) < 2e-3:
        return f"yours is exactly 2 × the expected {what}: an extra factor 2 (or a sum of two equal terms)."
    if ratio is not None and abs(ratio - 0.5) < 1e-3:
        return f"yours is exactly ½ × the expected {what}: a factor 2 is missing."
    for step in (1.0, -1.0):
        if _close(got, expected + step, rtol, atol) and np.any(np.abs(expected) > 0):
            return f"yours is off by one ({'+1' if step > 0 else '−1'} everywhere): check a range or an index."
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and _close(got, expected.T, rtol, atol):
        return f"your {what} is transposed: rows and columns are swapped."
    if expected.size > 1 and _close(np.sort(got, axis=None), np.sort(expected, axis=None), rtol, atol):
        return (f"your {what} has the right values in the wrong places: an axis or an order is mixed up "
                f"(reshape order, transposition, which axis you reduce or flip).")
    if ratio is not None:
        return f"yours is {ratio:.6g} × the expected {what} everywhere: a scale factor (normalisation) is off."
    return ""


def largest_error(expected: np.ndarray, got: np.ndarray) -> str:
    """'expected X, got Y' for a number; the largest error and where for an array."""
    if expected.size == 1:
        e, g = float(expected.reshape(())), float(got.reshape(()))
        times = f" ({g / e:.4g} × the expected value)" if e != 0 and g != 0 else ""
        return f"expected {e:.6g}, got {g:.6g}{times}."
    error = np.abs(got - expected)
    index = np.unravel_index(int(np.argmax(error)), error.shape)
    wrong = int(np.sum(error > 1e-4 * max(1.0, float(np.abs(expected).max()))))
    where = "[" + ", ".join(str(int(i)) for i in index) + "]"
    return (f"largest error {float(error[index]):.3g} at index {where} (expected {float(expected[index]):.6g}, "
            f"got {float(got[index]):.6g}); {wrong} of {expected.size} entries differ.")


def describe_difference(expected, got, what: str = "answer", rtol: float = 1e-4, atol: float = 0.0) -> str:
    """One or two sentences: how ``got`` differs from ``expected`` (shape, a known slip, or where)."""
    expected, got = np.asarray(expected, np.float64), np.asarray(got, np.float64)
    if got.shape != expected.shape:
        if got.size == expected.size and _close(got.reshape(expected.shape), expected, rtol, atol):
            return (f"the values are right but the shape is not: reshape to {shape_text(expected.shape)} (an axis "
                    f"of length 1 added or dropped?).")
        if got.shape == expected.shape[::-1] and _close(got.T, expected, rtol, atol):
            return f"your {what} is transposed: rows and columns are swapped."
        return ""
    slip = known_slip(expected, got, what, rtol, atol)
    return f"{largest_error(expected, got)} {slip}".strip() if slip else largest_error(expected, got)
