"""A run re-estimates itself from its own step times and says when another program is using the CPU.

PaceWatch is fed a fake wall clock and CPU clock, so each case is exact; the last test runs the real
``nst stylize`` with an estimate made 100× too slow and reads the corrected line it prints.
"""

from __future__ import annotations

import pytest

from nstutils import cost
from nstutils.cost import LOOK_EVERY, PACE_STEPS, PaceWatch


class FakeClocks:
    """A wall clock and a CPU clock the test advances one step at a time."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def step(self, seconds: float, cores_used: float) -> None:
        self.wall += seconds
        self.cpu += seconds * cores_used


def watch(clocks: FakeClocks, estimate: float, steps_left=lambda step: 100 - step) -> PaceWatch:
    return PaceWatch(estimate, steps_left, clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu, cores=2)


def run_steps(pace: PaceWatch, clocks: FakeClocks, durations, cores_used: float = 2.0, first: int = 1):
    """Observe one step per duration (the first observation marks the start); the lines said, by step."""
    said = {}
    for step, seconds in enumerate(durations, start=first):
        clocks.step(seconds, cores_used)
        line = pace.observe(step)
        if line:
            said[step] = line
    return said


def test_a_run_on_its_estimated_pace_says_nothing():
    clocks = FakeClocks()
    pace = watch(clocks, estimate=3.0)
    # the first step traces the graph (much slower) and is not counted; the others are within 25 %
    assert run_steps(pace, clocks, [40.0] + [3.0, 3.5, 2.6, 3.7] * 20) == {}


def test_a_slower_run_is_re_estimated_from_its_own_steps_with_the_time_left():
    clocks = FakeClocks()
    pace = watch(clocks, estimate=3.0, steps_left=lambda step: 590 - step)
    said = run_steps(pace, clocks, [40.0] + [6.0] * 10)
    first_look = 1 + PACE_STEPS  # the first step starts the clock, then PACE_STEPS steps are timed
    assert list(said) == [first_look]
    line = said[first_look]
    assert "6.00 s per step, not 3.00 s" in line
    left = cost.CostEstimate(6.0 * (590 - first_look), 0).duration
    assert line.endswith(f"about {left} to go") and left == "58 min 36 s"


def test_a_faster_run_is_re_estimated_too():
    clocks = FakeClocks()
    said = run_steps(watch(clocks, estimate=10.0), clocks, [40.0] + [4.0] * 5)
    assert len(said) == 1 and "4.00 s per step, not 10.00 s" in next(iter(said.values()))


@pytest.mark.parametrize("cores_used, busy", [(1.0, True), (1.9, False)])
def test_it_says_when_another_program_is_using_the_cpu(cores_used, busy):
    clocks = FakeClocks()
    line = next(iter(run_steps(watch(clocks, estimate=3.0), clocks, [40.0] + [6.0] * 4, cores_used).values()))
    assert f"this run gets {cores_used:.1f} of the 2 cores" in line
    assert ("another program is using the CPU" in line) is busy


def test_a_later_slowdown_is_caught_at_the_next_look_and_said_once():
    clocks = FakeClocks()
    pace = watch(clocks, estimate=3.0)
    quiet_steps = 1 + PACE_STEPS + 2 * LOOK_EVERY
    said = run_steps(pace, clocks, [40.0] + [3.0] * (quiet_steps - 1) + [7.0] * (2 * LOOK_EVERY))
    # silent while on pace; one revision once the slow steps fill the sample, none after (the pace is now 7 s)
    assert len(said) == 1
    (step, line), = said.items()
    assert quiet_steps < step <= quiet_steps + PACE_STEPS + LOOK_EVERY and "7.00 s per step, not 3.00 s" in line


def test_nst_stylize_prints_the_re_estimate(tmp_path, monkeypatch, capsys):
    from nstutils.cli import main

    # an estimate 100× too slow: the run's own steps must correct it within its first steps
    real = cost.seconds_per_step
    monkeypatch.setattr(cost, "seconds_per_step", lambda *a, **k: 100 * real(*a, **k))
    code = main(["stylize", "tubingen", "starry_night", "-o", str(tmp_path / "out.png"), "--size", "32",
                 "--steps", str(PACE_STEPS + 3), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    revised = [line for line in err.splitlines() if "re-estimated from the last" in line]
    assert len(revised) == 1 and revised[0].startswith("nst: re-estimated") and "to go" in revised[0], err


def test_the_estimate_benchmark_reads_the_times_nst_prints():
    from benchmarks.estimate import seconds_in

    assert seconds_in("nst: 300 lbfgs steps at 512×384 px: about 12 min 05 s and 1.5 GiB of memory") == 725
    assert seconds_in("nst: re-estimated from the last 3 steps: 0.14 s per step (…); about 40 s to go") == 40
    assert seconds_in("nst: running (Ctrl-C stops and keeps the best image)") is None
