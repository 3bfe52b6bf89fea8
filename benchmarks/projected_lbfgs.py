"""An experimental projected L-BFGS whose line search tolerates a noisy loss.

Two-loop recursion on the free variables (active bounds frozen), Armijo backtracking along
the projected path that accepts steps raising the loss by up to ``2·noise·|loss|``, memory
reset on a failed line search. On bfloat16 it did all its steps where SciPy stalled, but
ended above SciPy with the float32 finish the engine uses (``benchmarks/README.md``), so it
lives here, not in ``nstutils.lbfgs``.
"""

from __future__ import annotations

import math
from typing import Callable, List, Tuple

import numpy as np


def _dot(a, b) -> float:
    return float(np.dot(a, b))  # float32 BLAS; copying to float64 cost ~10x more at 512 px


def two_loop(g: np.ndarray, memory) -> np.ndarray:
    """``-H g`` by the L-BFGS two-loop recursion (``-g`` when the memory is empty)."""
    q = g.astype(np.float32).copy()
    if not memory:
        return -q
    alphas = []
    for s, y, rho in reversed(memory):
        a = rho * _dot(s, q)
        q -= np.float32(a) * y
        alphas.append(a)
    s, y, rho = memory[-1]
    q *= np.float32(1.0 / (rho * _dot(y, y)))
    for (s, y, rho), a in zip(memory, reversed(alphas)):
        b = rho * _dot(y, q)
        q += np.float32(a - b) * s
    return -q


def minimize_projected(fun: Callable[[np.ndarray], Tuple[float, np.ndarray]], x0, *, max_steps: int,
                       history: int = 20, lower: float = 0.0, upper: float = 1.0, noise: float = 0.0,
                       max_restarts: int = 5) -> dict:
    """Minimise ``fun`` over ``[lower, upper]``; ``{"x", "loss", "steps", "restarts", "stop_reason"}``."""
    shape = np.shape(x0)
    c1, shrink, max_backtracks = 1e-4, 0.5, 12
    best = {"x": None, "f": math.inf}

    def evaluate(flat):
        f, g = fun(flat.reshape(shape))
        f, g = float(f), np.asarray(g, np.float32).reshape(-1)
        if f < best["f"]:
            best["x"], best["f"] = flat.copy(), f
        return f, g

    x = np.clip(np.asarray(x0, np.float32), lower, upper).reshape(-1)
    f, g = evaluate(x)
    memory: List[Tuple[np.ndarray, np.ndarray, float]] = []
    steps = restarts = 0
    while steps < max_steps:
        active = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
        pg = np.where(active, np.float32(0), g)
        gnorm = float(np.linalg.norm(pg))
        if gnorm == 0.0:
            return _outcome(best, shape, steps, restarts, "converged")
        d = two_loop(pg, memory)
        d[active] = 0
        slope = _dot(pg, d)
        if not memory or not slope < 0:
            memory.clear()
            d = -pg / np.float32(gnorm)  # first trial moves distance 1 (as L-BFGS-B's first step)
        alpha = 1.0
        for _ in range(max_backtracks):
            trial = np.clip(x + np.float32(alpha) * d, lower, upper).astype(np.float32)
            ft, gt = evaluate(trial)
            if ft <= f + c1 * _dot(g, trial - x) + 2.0 * noise * abs(f):
                break
            alpha *= shrink
        else:  # the line search failed: fresh memory from the best point
            restarts += 1
            if restarts > max_restarts:
                return _outcome(best, shape, steps, restarts, "converged")
            memory.clear()
            x = best["x"]
            f, g = evaluate(x)
            continue
        s, y = trial - x, gt - g
        sy = _dot(s, y)
        if sy > 1e-10 * _dot(y, y):
            memory.append((s, y, 1.0 / sy))
            if len(memory) > history:
                memory.pop(0)
        x, f, g = trial, ft, gt
        steps += 1
    return _outcome(best, shape, steps, restarts, "finished")


def _outcome(best: dict, shape, steps: int, restarts: int, reason: str) -> dict:
    return {"x": best["x"].reshape(shape), "loss": best["f"], "steps": steps, "restarts": restarts,
            "stop_reason": reason}
