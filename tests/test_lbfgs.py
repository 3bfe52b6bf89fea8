"""nstutils.lbfgs: box-constrained L-BFGS that restarts instead of stopping on a noisy loss."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from box_problems import CENTRE, quadratic
from nstutils.errors import SettingsError
from nstutils.lbfgs import LbfgsOutcome, minimize_lbfgs
from nstutils.run import STOP_REASONS


def rosenbrock(x):
    x = x.astype(np.float64).ravel()
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return float(f), g.astype(np.float32)


def noisy(fn, relative=1e-3, offset=1.0):
    """``fn + offset`` with a relative noise like bfloat16's, deterministic in x (seeded by its bytes)."""
    def function(x):
        f, g = fn(x)
        rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(x, np.float32).tobytes()))
        f = (f + offset) * (1 + relative * rng.standard_normal())
        g = g * (1 + relative * rng.standard_normal(g.shape)).astype(np.float32)
        return float(f), g.astype(np.float32)
    return function


def scipy_plain_steps(fun, x0, max_steps):
    """Iterations plain SciPy L-BFGS-B (ftol=0, gtol=0) does before it gives up."""
    from scipy.optimize import minimize

    count = [0]
    minimize(lambda x: tuple((v if i == 0 else v.astype(np.float64)) for i, v in enumerate(fun(x.astype(np.float32)))),
             x0.astype(np.float64), jac=True, method="L-BFGS-B", bounds=[(0, 1)] * x0.size,
             callback=lambda xk: count.__setitem__(0, count[0] + 1),
             options={"maxiter": max_steps, "maxcor": 20, "ftol": 0.0, "gtol": 0.0})
    return count[0]


def test_quadratic_optimum_in_the_box():
    outcome = minimize_lbfgs(quadratic, np.full(40, 0.5, np.float32), max_steps=300)
    assert isinstance(outcome, LbfgsOutcome)
    np.testing.assert_allclose(outcome.x, np.clip(CENTRE, 0, 1), atol=1e-4)
    assert outcome.x.dtype == np.float32 and outcome.x.shape == (40,)
    assert outcome.stop_reason in ("finished", "converged")
    assert outcome.loss == pytest.approx(quadratic(np.clip(CENTRE, 0, 1))[0], rel=1e-6)


def test_rosenbrock_and_bounds():
    seen = []

    def watched(x):
        seen.append((float(x.min()), float(x.max())))
        return rosenbrock(x)

    x0 = np.full((2, 5), -1.0, np.float32)  # any shape works; the start is clipped into the box
    outcome = minimize_lbfgs(watched, x0, max_steps=500, lower=-1.5, upper=2.0)
    assert outcome.x.shape == (2, 5)
    np.testing.assert_allclose(outcome.x, 1.0, atol=1e-3)
    assert outcome.evaluations == len(seen)
    assert min(lo for lo, _ in seen) >= -1.5 and max(hi for _, hi in seen) <= 2.0
    # an active upper bound below the optimum
    outcome = minimize_lbfgs(rosenbrock, np.full(10, 0.1, np.float32), max_steps=500, upper=0.6)
    assert outcome.x.min() >= 0.0 and outcome.x.max() <= 0.6
    assert outcome.x[0] == pytest.approx(0.6, abs=1e-3)


def test_does_max_steps_and_calls_back_each_step():
    calls = []
    outcome = minimize_lbfgs(rosenbrock, np.zeros(30, np.float32), max_steps=12,
                             callback=lambda step, x, loss: calls.append((step, loss)))
    assert outcome.stop_reason == "finished" and outcome.steps == 12
    assert [s for s, _ in calls] == list(range(1, 13))
    assert all(math.isfinite(loss) for _, loss in calls)
    assert outcome.message.startswith("finished: 12 L-BFGS steps")
    assert outcome.loss == min(loss for _, loss in calls) or outcome.loss <= calls[-1][1]


def test_noisy_loss_restarts_and_keeps_going():
    """Plain SciPy stops at the first iteration that does not lower the noisy loss; we do not."""
    fun = noisy(quadratic)
    x0 = np.full(40, 0.5, np.float32)
    plain = scipy_plain_steps(fun, x0, 400)
    assert plain < 400  # the failure being fixed
    outcome = minimize_lbfgs(fun, x0, max_steps=400)
    assert outcome.stop_reason in ("finished", "converged"), outcome.message
    if outcome.stop_reason == "finished":
        assert outcome.steps == 400
    else:
        assert "restarts" in outcome.message and outcome.restarts >= 5
    assert outcome.restarts >= 1 and outcome.steps > plain
    optimum = quadratic(np.clip(CENTRE, 0, 1))[0]
    assert quadratic(outcome.x)[0] - optimum <= 2e-3 * (1 + optimum)  # the optimum, up to the noise


def test_restart_counts_as_converged_only_after_repeated_stalls():
    """A function that cannot be improved: a few restarts, then "converged" with a reason."""
    def flat(x):
        return 1.0, np.full(x.shape, -1.0, np.float32)  # points into the upper bound; nothing to gain
    outcome = minimize_lbfgs(flat, np.ones(5, np.float32), max_steps=100, max_restarts=3)
    assert outcome.stop_reason == "converged"
    assert outcome.steps < 100 and outcome.message.startswith("converged")


def test_callback_exception_propagates():
    class Halt(Exception):
        pass

    def callback(step, x, loss):
        if step == 3:
            raise Halt()

    with pytest.raises(Halt):
        minimize_lbfgs(rosenbrock, np.zeros(10, np.float32), max_steps=50, callback=callback)


def rosenbrock_turning_nan():
    """Rosenbrock whose loss is NaN from the seventh evaluation on: a run that diverges after some progress."""
    count = [0]

    def breaks(x):
        count[0] += 1
        f, g = rosenbrock(x)
        return (float("nan"), g) if count[0] > 6 else (f, g)

    return breaks


def test_nan_loss_is_diverged_and_keeps_best():
    outcome = minimize_lbfgs(rosenbrock_turning_nan(), np.zeros(10, np.float32), max_steps=50)
    assert outcome.stop_reason == "diverged" and "nan" in outcome.message
    assert math.isfinite(outcome.loss) and outcome.loss == pytest.approx(rosenbrock(outcome.x)[0])


def test_deterministic():
    fun = noisy(rosenbrock)
    a = minimize_lbfgs(fun, np.zeros(20, np.float32), max_steps=80)
    b = minimize_lbfgs(fun, np.zeros(20, np.float32), max_steps=80)
    np.testing.assert_array_equal(a.x, b.x)
    assert (a.loss, a.steps, a.evaluations, a.restarts, a.message) == (b.loss, b.steps, b.evaluations, b.restarts,
                                                                       b.message)


def test_outcome_fields_and_bad_arguments():
    outcome = minimize_lbfgs(quadratic, np.zeros(40, np.float32), max_steps=5)
    assert outcome.stop_reason in STOP_REASONS and outcome.message
    assert outcome.evaluations >= outcome.steps and outcome.restarts >= 0
    with pytest.raises(SettingsError):
        minimize_lbfgs(quadratic, np.zeros(40, np.float32), max_steps=0)
    with pytest.raises(SettingsError):
        minimize_lbfgs(quadratic, np.zeros(40, np.float32), max_steps=5, lower=1.0, upper=0.0)


def test_evaluation_limit_is_reported():
    outcome = minimize_lbfgs(rosenbrock, np.zeros(30, np.float32), max_steps=1000, max_evaluations=15)
    assert outcome.stop_reason == "evaluation_limit" and outcome.evaluations == 15
    assert "15 evaluations" in outcome.message


def test_fallback_takes_over_after_a_stall():
    """A noisy loss that stalls hands over to the exact one; steps continue and x/loss are the exact one's."""
    x0 = np.full(40, 0.5, np.float32)
    steps = []
    outcome = minimize_lbfgs(noisy(quadratic, relative=1e-2), x0, max_steps=60, fallback=quadratic,
                             callback=lambda step, x, loss: steps.append(step))
    assert outcome.switched_at is not None and 0 < outcome.switched_at < 60
    assert "switched to the fallback loss" in outcome.message
    assert steps == list(range(1, outcome.steps + 1))
    assert outcome.loss == pytest.approx(quadratic(outcome.x)[0])
    optimum = quadratic(np.clip(CENTRE, 0, 1))[0]
    assert outcome.loss - optimum <= 1e-4 * optimum


def test_the_outcome_is_structured_and_the_message_is_made_from_it():
    """The caller reads stop_reason, summary and switched_at; nobody parses the message."""
    outcome = minimize_lbfgs(noisy(quadratic, relative=1e-2), np.full(40, 0.5, np.float32), max_steps=60,
                             fallback=quadratic)
    assert outcome.summary == f"finished: {outcome.steps} L-BFGS steps" or outcome.summary.startswith("converged at")
    assert outcome.message.startswith(outcome.summary + "; switched to the fallback loss at step "
                                      f"{outcome.switched_at}")
    assert outcome.message.endswith(f"{outcome.evaluations} evaluations, {outcome.restarts} restarts, "
                                    f"best loss {outcome.loss:.6g}")
    plain = minimize_lbfgs(quadratic, np.zeros(40, np.float32), max_steps=5)
    assert plain.switched_at is None and "switched" not in plain.message


@pytest.mark.parametrize("engine", ["scipy", "numpy"])
def test_both_engines_solve_in_the_box_and_report_the_same_way(engine):
    """The float32 projected engine keeps SciPy's contract: the boxed optimum, every step called back,
    the evaluation limit, divergence and the hand-over to the fallback."""
    outcome = minimize_lbfgs(quadratic, np.full(40, 0.5, np.float32), max_steps=300, engine=engine)
    np.testing.assert_allclose(outcome.x, np.clip(CENTRE, 0, 1), atol=1e-4)
    assert outcome.stop_reason == "converged" and outcome.x.dtype == np.float32
    bounded = minimize_lbfgs(rosenbrock, np.full(10, 0.1, np.float32), max_steps=500, upper=0.6, engine=engine)
    assert bounded.x.min() >= 0.0 and bounded.x.max() <= 0.6 and bounded.x[0] == pytest.approx(0.6, abs=1e-3)
    calls = []
    done = minimize_lbfgs(rosenbrock, np.zeros(30, np.float32), max_steps=12, engine=engine,
                          callback=lambda step, x, loss: calls.append((step, loss)))
    assert done.stop_reason == "finished" and [s for s, _ in calls] == list(range(1, 13))
    assert all(math.isfinite(loss) for _, loss in calls)
    limited = minimize_lbfgs(rosenbrock, np.zeros(30, np.float32), max_steps=1000, max_evaluations=15, engine=engine)
    assert limited.stop_reason == "evaluation_limit" and limited.evaluations == 15
    handed = minimize_lbfgs(noisy(quadratic, relative=1e-2), np.full(40, 0.5, np.float32), max_steps=60,
                            fallback=quadratic, engine=engine)
    assert handed.switched_at is not None and handed.loss == pytest.approx(quadratic(handed.x)[0])


def test_the_numpy_engine_restarts_keeps_the_best_point_and_diverges_cleanly():
    def flat(x):
        return 1.0, np.full(x.shape, -1.0, np.float32)  # points into the upper bound: no step can help
    stuck = minimize_lbfgs(flat, np.ones(5, np.float32), max_steps=100, max_restarts=3, engine="numpy")
    assert stuck.stop_reason == "converged" and stuck.restarts == 3 and stuck.steps == 0
    assert "line search" in stuck.message
    broken = minimize_lbfgs(rosenbrock_turning_nan(), np.zeros(10, np.float32), max_steps=50, engine="numpy")
    assert broken.stop_reason == "diverged" and broken.loss == pytest.approx(rosenbrock(broken.x)[0])
    with pytest.raises(SettingsError, match="engine"):
        minimize_lbfgs(quadratic, np.zeros(40, np.float32), max_steps=5, engine="fortran")


def test_the_numpy_engines_direction_meets_the_secant_equation():
    """BFGS's inverse Hessian maps the newest y to its s exactly; from an empty memory the first step
    moves distance 1 downhill; pairs with no positive curvature are not kept."""
    from nstutils.lbfgs import TwoLoopMemory

    rng = np.random.default_rng(0)
    a = np.diag(np.geomspace(1.0, 10.0, 6)).astype(np.float32)
    memory = TwoLoopMemory(3)
    g = rng.standard_normal(6).astype(np.float32)
    np.testing.assert_allclose(memory.direction(g), -g / np.linalg.norm(g), rtol=1e-6)
    for _ in range(5):
        s = rng.standard_normal(6).astype(np.float32)
        memory.push(s, a @ s)
    assert len(memory.pairs) == 3  # only the newest `history` pairs
    np.testing.assert_allclose(memory.direction(a @ s), -s, rtol=1e-3, atol=1e-4)
    memory.push(s, -s)  # negative curvature: skipped
    assert len(memory.pairs) == 3
    assert memory.direction(np.zeros(6, np.float32)).tolist() == [0.0] * 6
