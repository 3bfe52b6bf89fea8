"""L-BFGS in the box [lower, upper] that survives a noisy loss.

With bfloat16 convolutions the loss carries a relative noise of about 1e-3. SciPy's
L-BFGS-B, even with ``ftol=0``, stops with "CONVERGENCE: REL_REDUCTION_OF_F <=
FACTR*EPSMCH" (or an abnormal line-search termination) the first time one iteration
fails to lower that noisy value, often after a quarter of the steps asked. One stall on
a noisy loss is not convergence, so :func:`minimize_lbfgs` *restarts*: it drops the
L-BFGS memory and starts again from the best point seen. Only after ``max_restarts``
consecutive restarts that each improved the best loss by no more than ``tolerance``
(relative) does it report ``"converged"``. Steps are counted across restarts, so a run
does the ``max_steps`` asked or says why not (:attr:`LbfgsOutcome.stop_reason`).

Two engines, chosen with ``method``:

* ``"scipy"`` (default): SciPy's L-BFGS-B (Moré-Thuente line search, Cauchy point for
  the bounds) wrapped with the restarts above.
* ``"projected"``: a small numpy projected L-BFGS (two-loop recursion; active bounds
  frozen; Armijo backtracking along the projected path; memory reset on a failed line
  search).

``fallback`` (e.g. the float32 objective) takes over once ``fun`` has stalled twice
without progress (one restart), or for the last ``fallback_steps`` steps.

Measured 2026-11-25 on the 2-core EPYC (Tübingen + The Starry Night, 128 px, start =
photo, 1,000 steps asked, history 20; "loss" is the best point's loss evaluated in
float32; the machine was heavily shared, so the counts matter, not the times):

==============================  ========  =====  ========  ========  ==========
variant                         dtype     steps  evals     restarts  loss (f32)
==============================  ========  =====  ========  ========  ==========
SciPy L-BFGS-B alone (before)   float32   1000   1003      0         1.928e7
SciPy L-BFGS-B alone (before)   bfloat16  293    332       0         2.181e7
scipy + restarts                bfloat16  295    449       6         2.182e7
projected, noise 0              bfloat16  313    404       5         2.170e7
projected, noise 3e-4           bfloat16  1000   1001      0         2.049e7
projected 3e-4, f32 last 250    bfloat16  1000   1008      0         2.047e7
scipy + restarts, f32 fallback  bfloat16  1000   449+708   6         1.996e7
==============================  ========  =====  ========  ========  ==========

The same on 2026-11-26, starting from the photo in the painting's colours (the default
now), through ``stylize(..., max_dim=128, steps=1000)``: float32 1,004 evaluations, loss
1.986e7; bfloat16 with the float32 fallback after 5 restarts 1,146 evaluations, 2.031e7
(+2.3 %); handing over at the second stall (now) 1,070 evaluations, 2.030e7 (+2.2 %).
Doing the last 150 steps in float32 changes nothing here: the hand-over came earlier, and
handing over at the first stall ends at 2.034e7. What closed the gap was the input: rounded
to bfloat16, the image in Caffe units moves in steps of 0.5-1, so small steps do not change
the loss. With the first convolution in float32 (:meth:`FeatureExtractor.layer_dtype`),
bfloat16 ends at 1.999e7, **+0.6 %** (1,076 evaluations, ``benchmarks/results/dtypes-128.json``).

Restarting SciPy from the best point does not help on bfloat16: the best point is a
noise minimum (relative loss noise ~2e-4, gradient error ~10 %, cosine 0.994 to the
float32 gradient), so restarts stall too and the run reports "converged". Handing over
to float32 at that stall does all the steps and ends 3.6 % above float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np

#: ``LbfgsOutcome.stop_reason`` codes.
STOP_REASONS = {
    "finished": "did all the steps asked",
    "converged": "repeated memory restarts brought no improvement larger than the tolerance",
    "diverged": "the loss or its gradient became NaN or infinite",
    "evaluation_limit": "used the most loss evaluations allowed",
}

METHODS = ("scipy", "projected")


@dataclass
class LbfgsOutcome:
    """What :func:`minimize_lbfgs` found.

    ``x``: the best point (float32, shaped like ``x0``) and ``loss`` its loss; ``steps``:
    completed L-BFGS iterations across restarts; ``evaluations``: calls of ``fun``;
    ``restarts``: memory restarts; ``stop_reason``: a key of :data:`STOP_REASONS`;
    ``message``: the same in one sentence.
    """

    x: np.ndarray
    loss: float
    steps: int
    evaluations: int
    restarts: int
    stop_reason: str
    message: str
    method: str = "scipy"
    switched_at: Optional[int] = None  # the step at which ``fallback`` took over, if it did


class _Diverged(Exception):
    pass


class _Budget(Exception):
    pass


class _Function:
    """Wraps ``fun``: float32 in the caller's shape, counts evaluations, keeps the best point."""

    def __init__(self, fun, shape, max_evaluations: int):
        self.fun = fun
        self.shape = shape
        self.max_evaluations = max_evaluations
        self.evaluations = 0
        self.best_x: Optional[np.ndarray] = None  # flat float32
        self.best_f = math.inf
        self.best_g: Optional[np.ndarray] = None
        self.last_x: Optional[np.ndarray] = None
        self.last_f = math.inf
        self.bad = ""

    def __call__(self, flat) -> Tuple[float, np.ndarray]:
        """Loss and flat float32 gradient at ``flat``; the best point is answered from memory."""
        flat = np.asarray(flat, np.float32)
        if self.best_x is not None and np.array_equal(flat, self.best_x):
            self.last_x, self.last_f = self.best_x, self.best_f
            return self.best_f, self.best_g
        if self.evaluations >= self.max_evaluations:
            raise _Budget()
        x = flat.reshape(self.shape)
        f, g = self.fun(x)
        self.evaluations += 1
        f = float(f)
        g = np.asarray(g, np.float32).reshape(-1)
        if not math.isfinite(f) or not np.all(np.isfinite(g)):
            self.bad = f"the loss became {f} at evaluation {self.evaluations}" if not math.isfinite(f) else \
                f"the gradient became non-finite at evaluation {self.evaluations}"
            raise _Diverged()
        self.last_x, self.last_f = flat, f
        if f < self.best_f:
            self.best_x, self.best_f, self.best_g = flat.copy(), f, g.copy()
        return f, g


class _Stalls:
    """Counts consecutive restarts that did not improve the best loss by more than ``tolerance``."""

    def __init__(self, tolerance: float, max_restarts: int):
        self.tolerance, self.max_restarts = tolerance, max_restarts
        self.reference = math.inf
        self.count = 0

    def restart(self, best: float) -> bool:
        """Register a stall at ``best``; True when it is time to call the run converged."""
        if not math.isfinite(self.reference) or self.reference - best > self.tolerance * abs(self.reference):
            self.count = 0
        else:
            self.count += 1
        self.reference = min(self.reference, best)
        return self.count >= self.max_restarts

    def describe(self) -> str:
        return f"no improvement larger than {self.tolerance:g} relative over {self.count} memory restarts"


def minimize_lbfgs(fun: Callable[[np.ndarray], Tuple[float, np.ndarray]], x0, *, max_steps: int,
                   callback: Optional[Callable[[int, np.ndarray, float], object]] = None, history: int = 20,
                   lower: float = 0.0, upper: float = 1.0, max_restarts: int = 5, tolerance: float = 1e-7,
                   max_evaluations: Optional[int] = None, method: str = "scipy", noise: float = 0.0,
                   fallback: Optional[Callable[[np.ndarray], Tuple[float, np.ndarray]]] = None,
                   fallback_steps: int = 0) -> LbfgsOutcome:
    """Minimise ``fun`` over the box ``[lower, upper]`` with at most ``max_steps`` L-BFGS iterations.

    ``fun(x)`` gets a float32 array shaped like ``x0`` and returns ``(loss, gradient)``.
    ``callback(step, x, loss)`` is called after each completed iteration (``step`` counts
    from 1 across restarts; ``x`` is the iterate, ``loss`` its loss); an exception it
    raises ends the run and propagates. When the underlying L-BFGS stalls (no decrease in
    one iteration, a failed line search), the memory is dropped and the search restarts
    from the best point; after ``max_restarts`` consecutive restarts each improving the
    best loss by at most ``tolerance`` (relative) the run ends as ``"converged"``.

    ``noise``: the loss's relative noise (about 2e-4 for bfloat16 convolutions); the
    ``"projected"`` line search then accepts steps that raise the loss by up to
    ``2·noise·|loss|`` instead of stalling (SciPy's line search cannot be relaxed).
    ``fallback``: a more exact ``fun`` (e.g. the float32 objective) used for the
    remaining steps once ``fun`` has stalled with one restart in between (more restarts
    do not help on a noisy loss); the search goes on from ``fun``'s best
    point with a fresh memory, and the returned ``x``/``loss`` are ``fallback``'s best
    (the two losses need not be comparable); with ``fallback_steps`` it also does at
    least the last ``fallback_steps`` steps. ``max_evaluations`` (default
    ``20·max_steps + 100``) bounds the calls of both. A non-finite loss or gradient ends
    the run as ``"diverged"``. Returns the best point.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if int(max_steps) < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps!r}")
    if not lower < upper:
        raise ValueError(f"need lower < upper, got {lower}, {upper}")
    max_steps = int(max_steps)
    x0 = np.asarray(x0, np.float32)
    start = np.clip(x0, lower, upper).astype(np.float32).reshape(-1)
    budget = max_evaluations or 20 * max_steps + 100
    run = _scipy_run if method == "scipy" else _projected_run
    counters = {"steps": 0, "restarts": 0}
    evaluations = 0
    notes = []

    def done(step, flat, loss):
        counters["steps"] = step
        if callback is not None:
            callback(step, flat.reshape(x0.shape), loss)

    phases = [(fun, noise)] + ([(fallback, 0.0)] if fallback is not None else [])
    for index, (phase_fun, phase_noise) in enumerate(phases):
        function = _Function(phase_fun, x0.shape, budget - evaluations)
        # Restarts do not help on the noisy loss (see above): hand over at its second stall.
        stalls = _Stalls(tolerance, max_restarts if index + 1 == len(phases) else min(max_restarts, 1))
        end = max_steps - max(0, int(fallback_steps)) if index + 1 < len(phases) else max_steps
        try:
            reason, detail = run(function, start, end, done, history, lower, upper, stalls, counters,
                                 phase_noise)
        except _Diverged:
            reason, detail = "diverged", function.bad
        except _Budget:
            reason, detail = "evaluation_limit", f"used the {budget} evaluations allowed"
        evaluations += function.evaluations
        if function.best_x is not None:
            start = function.best_x
        if reason in ("converged", "finished") and index + 1 < len(phases) and counters["steps"] < max_steps:
            why = f" ({detail})" if reason == "converged" else ""
            notes.append(f"switched to the fallback loss at step {counters['steps']}{why}")
            continue
        break
    steps, restarts = counters["steps"], counters["restarts"]
    if function.best_x is None:
        best, loss = start.reshape(x0.shape), math.inf
    else:
        best, loss = function.best_x.reshape(x0.shape), function.best_f
    if reason == "finished":
        message = f"finished: {steps} L-BFGS steps"
    elif reason == "converged":
        message = f"converged at step {steps}: {detail}"
    elif reason == "diverged":
        message = f"diverged: {detail} (step {steps}); kept the best point before that"
    else:
        message = f"stopped at step {steps}: {detail}"
    for note in notes:
        message += f"; {note}"
    message += f"; {evaluations} evaluations, {restarts} restarts, best loss {loss:.6g}"
    return LbfgsOutcome(x=best.copy(), loss=loss, steps=steps, evaluations=evaluations,
                        restarts=restarts, stop_reason=reason, message=message, method=method,
                        switched_at=None if not notes else int(notes[0].split("step ")[1].split(" ")[0]))


def _scipy_run(function: _Function, start, max_steps, done, history, lower, upper, stalls: _Stalls, counters,
               noise=0.0):
    from scipy.optimize import Bounds, minimize

    bounds = Bounds(np.full(start.size, lower), np.full(start.size, upper))  # arrays: no list of n tuples
    steps = counters["steps"]
    x = start
    last_message = ""

    def fun64(flat64):
        f, g = function(flat64)
        return f, g.astype(np.float64)

    def on_iteration(xk):
        nonlocal steps
        steps += 1
        flat = np.asarray(xk, np.float32)
        loss = function.last_f if function.last_x is not None and np.array_equal(flat, function.last_x) \
            else float("nan")
        done(steps, flat, loss)

    while steps < max_steps:
        result = minimize(fun64, x.astype(np.float64), jac=True, method="L-BFGS-B",
                          bounds=bounds, callback=on_iteration,
                          options={"maxiter": max_steps - steps, "maxcor": history, "ftol": 0.0, "gtol": 0.0,
                                   "maxfun": 2 ** 31 - 1, "maxls": 20})
        if steps >= max_steps:
            break
        last_message = str(result.message)
        if stalls.restart(function.best_f):
            return "converged", f"{stalls.describe()} (SciPy's last stop: {last_message})"
        counters["restarts"] += 1
        x = function.best_x if function.best_x is not None else x
    return "finished", ""


def _dot(a, b) -> float:
    return float(np.dot(a, b))  # float32 BLAS; copying to float64 cost ~10x more at 512 px


def _projected_run(function: _Function, start, max_steps, done, history, lower, upper, stalls: _Stalls,
                   counters, noise=0.0):
    """Projected L-BFGS: two-loop direction on the free variables, Armijo backtracking on the projected path."""
    c1, shrink, max_backtracks = 1e-4, 0.5, 12
    x = start
    f, g = function(x)
    memory: List[Tuple[np.ndarray, np.ndarray, float]] = []
    steps = counters["steps"]
    while steps < max_steps:
        active = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
        pg = np.where(active, np.float32(0), g)
        gnorm = float(np.linalg.norm(pg))
        if gnorm == 0.0:
            return "converged", "the projected gradient is zero"
        d = _two_loop(pg, memory)
        d[active] = 0
        slope = _dot(pg, d)
        if not memory or not slope < 0:
            memory.clear()
            d = -pg / np.float32(gnorm)  # first trial moves distance 1 (as L-BFGS-B's first step)
            slope = -gnorm
        alpha, accepted = 1.0, False
        for _ in range(max_backtracks):
            trial = np.clip(x + np.float32(alpha) * d, lower, upper).astype(np.float32)
            ft, gt = function(trial)
            if ft <= f + c1 * _dot(g, trial - x) + 2.0 * noise * abs(f):
                accepted = True
                break
            alpha *= shrink
        if not accepted:
            if stalls.restart(function.best_f):
                return "converged", f"{stalls.describe()} (the line search failed)"
            counters["restarts"] += 1
            memory.clear()
            if function.best_x is not None and not np.array_equal(x, function.best_x):
                x = function.best_x
                f, g = function(x)
            else:  # restart steepest descent with a smaller first step
                d_scale = np.float32(shrink ** max_backtracks)
                trial = np.clip(x - d_scale * pg / np.float32(gnorm), lower, upper).astype(np.float32)
                ft, gt = function(trial)
                if ft < f:
                    x, f, g = trial, ft, gt
            continue
        s, y = trial - x, gt - g
        sy = _dot(s, y)
        if sy > 1e-10 * _dot(y, y):
            memory.append((s, y, 1.0 / sy))
            if len(memory) > history:
                memory.pop(0)
        x, f, g = trial, ft, gt
        steps += 1
        done(steps, x, f)
    return "finished", ""


def _two_loop(g: np.ndarray, memory) -> np.ndarray:
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
