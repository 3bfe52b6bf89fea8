"""L-BFGS in the box [lower, upper] that survives a noisy loss (``06_optimizers``).

With bfloat16 convolutions the loss carries a relative noise of about 1e-3. SciPy's
L-BFGS-B, even with ``ftol=0``, stops with "CONVERGENCE: REL_REDUCTION_OF_F <=
FACTR*EPSMCH" (or an abnormal line-search termination) the first time one iteration
fails to lower that noisy value, often after a quarter of the steps asked. One stall on
a noisy loss is not convergence, so :func:`minimize_lbfgs` *restarts*: it drops the
L-BFGS memory and starts again from the best point seen. Only after ``max_restarts``
consecutive restarts that each improved the best loss by no more than ``tolerance``
(relative) does it report ``"converged"``. Steps are counted across restarts, so a run
does the ``max_steps`` asked or says why not (:attr:`LbfgsOutcome.stop_reason`, a key of
:data:`nstutils.run.STOP_REASONS`).

On a bfloat16 loss the restarts alone do not help: the best point is a minimum of the
noise (the gradient is off by about 10 %), so the restarts stall too. What does help is
``fallback``, a more exact loss (the float32 objective): it takes over from the best point
with a fresh memory once ``fun`` has stalled twice without progress (one restart in
between), so the run does all its steps, the fast arithmetic while the steps are large and
the exact one at the end. Measurements of these choices (restart counts, where to hand
over, a projected L-BFGS with a noise-tolerant line search) are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from .errors import SettingsError


@dataclass
class LbfgsOutcome:
    """What :func:`minimize_lbfgs` found.

    ``x``: the best point (float32, shaped like ``x0``) and ``loss`` its loss; ``steps``:
    completed L-BFGS iterations across restarts; ``evaluations``: calls of ``fun`` (and
    ``fallback``); ``restarts``: memory restarts; ``stop_reason``: a key of
    :data:`nstutils.run.STOP_REASONS`; ``detail``: why, in words (empty when finished);
    ``switched_at``: the step at which ``fallback`` took over, if it did, and
    ``switch_detail`` why (empty unless ``fun`` had converged).
    """

    x: np.ndarray
    loss: float
    steps: int
    evaluations: int
    restarts: int
    stop_reason: str
    detail: str = ""
    switched_at: Optional[int] = None
    switch_detail: str = ""

    @property
    def summary(self) -> str:
        """How the run ended, in one sentence without the counts."""
        if self.stop_reason == "finished":
            return f"finished: {self.steps} L-BFGS steps"
        if self.stop_reason == "converged":
            return f"converged at step {self.steps}: {self.detail}"
        if self.stop_reason == "diverged":
            return f"diverged: {self.detail} (step {self.steps}); kept the best point before that"
        return f"stopped at step {self.steps}: {self.detail}"

    @property
    def message(self) -> str:
        """:attr:`summary`, the hand-over to ``fallback`` if any, and the counts."""
        parts = [self.summary]
        if self.switched_at is not None:
            why = f" ({self.switch_detail})" if self.switch_detail else ""
            parts.append(f"switched to the fallback loss at step {self.switched_at}{why}")
        parts.append(f"{self.evaluations} evaluations, {self.restarts} restarts, best loss {self.loss:.6g}")
        return "; ".join(parts)


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
                   max_evaluations: Optional[int] = None,
                   fallback: Optional[Callable[[np.ndarray], Tuple[float, np.ndarray]]] = None,
                   engine: str = "scipy") -> LbfgsOutcome:
    """Minimise ``fun`` over the box ``[lower, upper]`` with at most ``max_steps`` L-BFGS iterations.

    ``fun(x)`` gets a float32 array shaped like ``x0`` and returns ``(loss, gradient)``.
    ``callback(step, x, loss)`` is called after each completed iteration (``step`` counts
    from 1 across restarts; ``x`` is the iterate, ``loss`` its loss); an exception it
    raises ends the run and propagates. When the underlying L-BFGS stalls (no decrease in
    one iteration, a failed line search), the memory is dropped and the search restarts
    from the best point; after ``max_restarts`` consecutive restarts each improving the
    best loss by at most ``tolerance`` (relative) the run ends as ``"converged"``.

    ``fallback``: a more exact ``fun`` (e.g. the float32 objective) used for the
    remaining steps once ``fun`` has stalled with one restart in between (more restarts
    do not help on a noisy loss); the search goes on from ``fun``'s best point with a
    fresh memory, and the returned ``x``/``loss`` are ``fallback``'s best (the two losses
    need not be comparable). ``max_evaluations`` (default ``20·max_steps + 100``) bounds
    the calls of both. A non-finite loss or gradient ends the run as ``"diverged"``.

    ``engine``: ``"scipy"`` (SciPy's L-BFGS-B) or ``"numpy"`` (:func:`projected_run`, a float32
    projected L-BFGS whose own work per step is a few passes over the image); both restart,
    hand over and stop the same way.
    """
    if engine not in ENGINES:
        raise SettingsError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if isinstance(max_steps, bool) or int(max_steps) < 1:
        raise SettingsError(f"max_steps must be at least 1, got {max_steps!r}")
    if not lower < upper:
        raise SettingsError(f"need lower < upper, got {lower}, {upper}")
    search = _Search(np.asarray(x0, np.float32).shape, int(max_steps), callback, history, lower, upper,
                     max_evaluations or 20 * int(max_steps) + 100)
    search.run = ENGINES[engine]
    start = np.clip(np.asarray(x0, np.float32), lower, upper).astype(np.float32).reshape(-1)
    phases = [fun] + ([fallback] if fallback is not None else [])
    outcome = None
    for index, phase_fun in enumerate(phases):
        last = index + 1 == len(phases)
        # Restarts do not help on the noisy loss (see above): hand over at its second stall.
        stalls = _Stalls(tolerance, max_restarts if last else min(max_restarts, 1))
        outcome = search.phase(phase_fun, start, stalls, previous=outcome)
        if outcome.stop_reason not in ("converged", "finished") or last or search.steps >= search.max_steps:
            break
        start = outcome.x.reshape(-1)
        outcome.switched_at = search.steps
        outcome.switch_detail = outcome.detail if outcome.stop_reason == "converged" else ""
    return outcome


class _Search:
    """The state shared by the phases of one :func:`minimize_lbfgs`: steps, restarts, evaluations."""

    def __init__(self, shape, max_steps: int, callback, history: int, lower: float, upper: float, budget: int):
        self.shape, self.max_steps, self.callback = shape, max_steps, callback
        self.history, self.lower, self.upper, self.budget = history, lower, upper, budget
        self.steps = self.restarts = self.evaluations = 0

    def done(self, step: int, flat: np.ndarray, loss: float) -> None:
        self.steps = step
        if self.callback is not None:
            self.callback(step, flat.reshape(self.shape), loss)

    def phase(self, fun, start: np.ndarray, stalls: "_Stalls", previous: Optional[LbfgsOutcome]) -> LbfgsOutcome:
        """Run SciPy's L-BFGS-B with restarts on ``fun`` from ``start``; the best point it found."""
        function = _Function(fun, self.shape, self.budget - self.evaluations)
        try:
            reason, detail = self.run(function, start, self, stalls)
        except _Diverged:
            reason, detail = "diverged", function.bad
        except _Budget:
            reason, detail = "evaluation_limit", f"used the {self.budget} evaluations allowed"
        self.evaluations += function.evaluations
        if function.best_x is None:
            best, loss = start.reshape(self.shape), math.inf
        else:
            best, loss = function.best_x.reshape(self.shape), function.best_f
        return LbfgsOutcome(x=best.copy(), loss=loss, steps=self.steps, evaluations=self.evaluations,
                            restarts=self.restarts, stop_reason=reason, detail=detail,
                            switched_at=previous.switched_at if previous else None,
                            switch_detail=previous.switch_detail if previous else "")


def _scipy_run(function: _Function, start: np.ndarray, search: _Search, stalls: _Stalls) -> Tuple[str, str]:
    """SciPy's L-BFGS-B from ``start``, restarted from the best point at each stall, until
    ``search.max_steps`` steps or ``stalls`` says converged; ``(stop reason, detail)``."""
    from scipy.optimize import Bounds, minimize

    lower, upper, max_steps = search.lower, search.upper, search.max_steps
    bounds = Bounds(np.full(start.size, lower), np.full(start.size, upper))  # arrays: no list of n tuples
    steps = search.steps
    x = start

    def fun64(flat64):
        f, g = function(flat64)
        return f, g.astype(np.float64)

    def on_iteration(xk):
        nonlocal steps
        steps += 1
        flat = np.asarray(xk, np.float32)
        loss = function.last_f if function.last_x is not None and np.array_equal(flat, function.last_x) \
            else float("nan")
        search.done(steps, flat, loss)

    while steps < max_steps:
        result = minimize(fun64, x.astype(np.float64), jac=True, method="L-BFGS-B",
                          bounds=bounds, callback=on_iteration,
                          options={"maxiter": max_steps - steps, "maxcor": search.history, "ftol": 0.0,
                                   "gtol": 0.0, "maxfun": 2 ** 31 - 1, "maxls": 20})
        if steps >= max_steps:
            break
        if stalls.restart(function.best_f):
            return "converged", f"{stalls.describe()} (SciPy's last stop: {result.message})"
        search.restarts += 1
        x = function.best_x if function.best_x is not None else x
    return "finished", ""


def projected_run(function: _Function, start: np.ndarray, search: _Search, stalls: _Stalls) -> Tuple[str, str]:
    """Projected L-BFGS in float32 numpy from ``start``, with the contract of SciPy's run above.

    Each step: the two-loop direction, a move along it clipped into the box, accepted by an
    Armijo test on the clipped move with a quadratic backtrack. A failed line search is a
    stall: fresh memory from the best point, as with SciPy. Zeroing the directions of the
    variables a bound holds (before or after the two-loop) ended 0.3-2 % higher at 64 px
    after 200 evaluations on two pairs; the plain clip ended within 0.5 % of SciPy.
    """
    steps = search.steps
    memory = TwoLoopMemory(search.history)
    x = start.astype(np.float32, copy=True)
    f, g = function(x)
    while steps < search.max_steps:
        direction = memory.direction(g)
        step = _line_search(function, x, f, g, direction, search.lower, search.upper)
        if step is None:
            if stalls.restart(function.best_f):
                return "converged", f"{stalls.describe()} (the last line search found no lower loss)"
            search.restarts += 1
            memory.clear()
            x = function.best_x.copy()
            f, g = function(x)  # answered from memory, not evaluated again
            continue
        x_new, f, g_new = step
        memory.push(x_new - x, g_new - g)
        x, g = x_new, g_new
        steps += 1
        search.done(steps, x, f)
    return "finished", ""


class TwoLoopMemory:
    """The last ``size`` pairs (s, y) of one L-BFGS run, float32, and the two-loop recursion."""

    def __init__(self, size: int):
        self.size = max(1, int(size))
        self.pairs: list = []

    def clear(self) -> None:
        self.pairs.clear()

    def push(self, s: np.ndarray, y: np.ndarray) -> None:
        sy = float(np.dot(s, y))
        if sy > 1e-10 * float(np.dot(y, y)):  # keep the approximation positive definite
            self.pairs.append((s, y, 1.0 / sy))
            del self.pairs[:-self.size]

    def direction(self, g: np.ndarray) -> np.ndarray:
        """``-H g``; the first step of a memory moves distance 1 (as L-BFGS-B's)."""
        norm = float(np.linalg.norm(g))
        if norm == 0.0:
            return g
        if not self.pairs:
            return -g / np.float32(norm)
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            alpha = rho * float(np.dot(s, q))
            q -= np.float32(alpha) * y
            alphas.append(alpha)
        s, y, rho = self.pairs[-1]
        q *= np.float32(1.0 / (rho * float(np.dot(y, y))))
        for (s, y, rho), alpha in zip(self.pairs, reversed(alphas)):
            q += np.float32(alpha - rho * float(np.dot(y, q))) * s
        if not float(np.dot(g, q)) > 0:  # not a descent direction: start the memory again
            self.clear()
            return -g / np.float32(norm)
        return -q


def _line_search(function: _Function, x: np.ndarray, f: float, g: np.ndarray, d: np.ndarray, lower: float,
                 upper: float, c1: float = 1e-4, tries: int = 10):
    """``(x', f', g')`` with ``x' = clip(x + a·d)`` passing Armijo's test, or None (no descent found)."""
    if not np.any(d):
        return None
    alpha = 1.0
    for _ in range(tries):
        trial = np.clip(x + np.float32(alpha) * d, lower, upper)
        moved = trial - x
        slope = float(np.dot(g, moved))  # the decrease a linear model predicts for this move
        if not slope < 0:
            return None
        f_trial, g_trial = function(trial)
        if f_trial <= f + c1 * slope:
            return trial, f_trial, g_trial
        # minimum of the quadratic through f, the slope and f_trial, kept within [0.1, 0.5] of the step
        alpha *= min(0.5, max(0.1, -slope / (2.0 * (f_trial - f - slope))))
    return None


#: The L-BFGS implementations :func:`minimize_lbfgs` can run (its ``engine`` argument).
ENGINES = {"scipy": _scipy_run, "numpy": projected_run}
