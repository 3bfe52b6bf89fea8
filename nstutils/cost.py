"""How long and how much memory a run will take, said before it starts.

The package ships ``resources/cost_model.json`` (written by ``make benchmark``): seconds
per loss+gradient evaluation and peak memory measured at several sizes. We fit
``seconds = a · pixels^b`` and ``memory = c + d · pixels`` through the points. Machines
differ, so where this machine's speed has been measured (the one-time dtype measurement
of :mod:`nstutils.arithmetic`), the time is rescaled to it. That measurement cannot see a
program that starts using the CPU later, so a run re-estimates itself from its own step
times (:class:`PaceWatch`) and says when the machine is busy. Introduced in ``05_full_transfer``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

from .errors import SettingsError

#: Loss+gradient evaluations per step (L-BFGS line searches sometimes need a second one).
EVALUATIONS_PER_STEP = {"lbfgs": 1.05, "adam": 1.0, "gd": 1.0}
#: Steps a default (adaptive) run typically takes before the loss stops improving, by optimiser.
#: L-BFGS with the 0.7 % / 50-step rule stops at steps 591, 512 and 592 on the benchmark's recorded
#: runs at 512 px (``python -m benchmarks.stopping``); Adam and gradient descent are guesses.
TYPICAL_ADAPTIVE_STEPS = {"lbfgs": 590, "adam": 1500, "gd": 1500}
#: Bytes per pixel a run holds beyond one evaluation's peak (the scaling points measure that):
#: for L-BFGS mostly scipy's float64 workspace (history 20: 45 vectors of 3 numbers per pixel,
#: about 1.1 kB) plus the optimiser's copies of the image and gradient; Adam and gradient descent
#: keep a few image-sized arrays. Measured as the peak memory of short runs minus that of two
#: evaluations (``benchmarks/README.md``).
RUN_BYTES_PER_PIXEL = {"lbfgs": 2300, "adam": 360, "gd": 360}
#: Fallback fit (bfloat16 convolutions, 2 cores): 0.92 s and 1.6 GB at 512×384.
_FALLBACK = {"a": 0.92 / 196608, "b": 1.0, "c": 0.75e9, "d": 0.85e9 / 196608}
SETUP_SECONDS = 6.0
#: A whole stylize evaluation (all losses, the optimiser's bookkeeping) over the measured pass alone (:mod:`nstutils.arithmetic`).
EVALUATION_OVERHEAD = 1.15


@dataclass(frozen=True)
class CostEstimate:
    seconds: float
    peak_bytes: float

    @property
    def duration(self) -> str:
        """The time in words, e.g. ``12 min 05 s``."""
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"

    def __str__(self) -> str:
        return f"about {self.duration} and {self.peak_bytes / 2**30:.1f} GiB of memory"


@lru_cache(maxsize=1)
def _fit() -> dict:
    from importlib import resources

    try:
        text = resources.files("nstutils.resources").joinpath("cost_model.json").read_text(encoding="utf-8")
        points = json.loads(text)["points"]
        pixels = np.array([p["pixels"] for p in points], float)
        seconds = np.array([p["seconds_per_eval"] for p in points], float)
        memory = np.array([p["peak_bytes"] for p in points], float)
        b, log_a = np.polyfit(np.log(pixels), np.log(seconds), 1)
        d, c = np.polyfit(pixels, memory, 1)
        return {"a": float(np.exp(log_a)), "b": float(b), "c": float(c), "d": float(d)}
    except (OSError, KeyError, ValueError, TypeError):
        return dict(_FALLBACK)


def seconds_per_evaluation(pixels: float, measured: Optional[Tuple[float, float]] = None) -> float:
    """Seconds of one loss+gradient evaluation at ``pixels``.

    ``measured = (pixels, seconds)`` from this machine rescales the shipped fit to it.
    """
    fit = _fit()
    per_eval = fit["a"] * pixels ** fit["b"]
    if measured:
        at, seconds = measured
        per_eval *= seconds / (fit["a"] * at ** fit["b"])
    return per_eval


def _step_seconds(pixels: float, optimizer: str, measured: Optional[Tuple[float, float]]) -> float:
    """Seconds of one ``optimizer`` step on ``pixels`` pixels: its evaluations at the fitted (or measured) pace."""
    return seconds_per_evaluation(pixels, measured) * EVALUATIONS_PER_STEP.get(optimizer, 1.0)


def estimate_cost(max_dim: int, steps: int, optimizer: str = "lbfgs", aspect: float = 0.75,
                  measured: Optional[Tuple[float, float]] = None) -> CostEstimate:
    """Estimated wall time and peak memory of ``stylize`` at long side ``max_dim``.

    ``aspect`` is short side / long side (0.75 for a 4:3 photo).
    """
    fit = _fit()
    pixels = max_dim * max(1.0, round(max_dim * aspect))
    run_bytes = RUN_BYTES_PER_PIXEL.get(optimizer, RUN_BYTES_PER_PIXEL["lbfgs"]) * pixels
    return CostEstimate(seconds=SETUP_SECONDS + _step_seconds(pixels, optimizer, measured) * steps,
                        peak_bytes=max(fit["c"] + fit["d"] * pixels + run_bytes, 0.5e9))


def image_aspect(shape: Tuple[int, ...]) -> float:
    """Short side / long side of an image shape ``[1, H, W, 3]`` or ``[H, W, 3]``."""
    height, width = (shape[1], shape[2]) if len(shape) == 4 else shape[:2]
    return min(height, width) / max(height, width)


def expected_steps(run) -> int:
    """Steps a run is expected to take: all of them, or for an adaptive run the typical count."""
    if run.adaptive:
        return min(run.step_limit, TYPICAL_ADAPTIVE_STEPS.get(run.optimizer, run.step_limit))
    return run.step_limit


def progress_total(run, step: int) -> int:
    """The step count a progress bar should show after ``step`` steps, so its ETA stays honest.

    A fixed run counts to its steps. An adaptive run counts to the typical stopping step and,
    once past it, one ``stop_window`` beyond the current step (the soonest it can next stop),
    never beyond the cap.
    """
    expected = expected_steps(run)
    if run.adaptive and step >= expected:
        expected = min(run.step_limit, step + run.stop_window)
    return expected


def measured_speed(compute_dtype: str) -> Optional[Tuple[float, float]]:
    """``(pixels, seconds)`` of one full evaluation on this machine, from the dtype measurement, or None.

    :mod:`nstutils.arithmetic` times a representative pass (convolutions up to ``block5_conv2``
    and the Gram matrices, forward and input gradient); a whole ``stylize`` evaluation
    costs :data:`EVALUATION_OVERHEAD` times that (measured), which is added here.
    """
    from .arithmetic import SHAPE, measured_seconds

    seconds = measured_seconds(None, compute_dtype)
    if seconds is None:
        return None
    return float(SHAPE[1] * SHAPE[2]), seconds * EVALUATION_OVERHEAD


def estimate_run(run, shape: Tuple[int, ...], compute_dtype: str = "float32") -> CostEstimate:
    """The estimate for a validated :class:`~nstutils.settings.RunSettings` on an image ``[1, H, W, 3]``,
    whose objective computes in ``compute_dtype``."""
    return estimate_cost(max(shape[1], shape[2]), expected_steps(run), run.optimizer, image_aspect(shape),
                         measured_speed(compute_dtype))


def seconds_per_step(run, shape: Tuple[int, ...], compute_dtype: str = "float32") -> float:
    """The seconds one step of ``run`` on an image ``[1, H, W, 3]`` is expected to take (before any step)."""
    return _step_seconds(shape[1] * shape[2], run.optimizer, measured_speed(compute_dtype))


def describe_run(run, shape: Tuple[int, ...], compute_dtype: str = "float32") -> str:
    """One line said before a run: its steps, size, and the time and memory it will take."""
    height, width = shape[1], shape[2]
    if run.adaptive:
        steps_text = (f"{run.optimizer} until the loss stops improving (typically {expected_steps(run)} steps, "
                      f"at most {run.step_limit})")
    else:
        steps_text = f"{run.step_limit} {run.optimizer} steps"
    return f"{steps_text} at {width}×{height} px: {estimate_run(run, shape, compute_dtype)}"


# ---- does it fit? ---------------------------------------------------------------------------------


def available_memory() -> Optional[float]:
    """Bytes this process can still use: the smaller of the system's ``MemAvailable`` and what the
    cgroup (a container's memory limit) leaves; None where neither can be read (not Linux)."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(float(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v2: a container sees the host's meminfo, but this is what it may use
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            used = float(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            limits.append(float(limit) - used)
    except (OSError, ValueError):
        pass
    if not limits and hasattr(os, "sysconf"):
        try:
            limits.append(float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (ValueError, OSError):
            pass
    return max(min(limits), 0.0) if limits else None


def peak_memory(run, shape: Tuple[int, ...]) -> float:
    """Estimated peak bytes of a run (:class:`~nstutils.settings.RunSettings`) on an image ``[1, H, W, 3]``.
    Needs no measurement: memory does not depend on this machine's speed."""
    return estimate_cost(max(shape[1], shape[2]), 0, run.optimizer, image_aspect(shape)).peak_bytes


def largest_fitting_size(run, shape: Tuple[int, ...], available: float) -> Optional[int]:
    """The largest long side (a multiple of 32, at least 64) whose estimate fits in ``available`` bytes."""
    aspect = image_aspect(shape)
    for size in range(max(shape[1], shape[2]) // 32 * 32, 63, -32):
        if estimate_cost(size, 0, run.optimizer, aspect).peak_bytes <= available:
            return size
    return None


def check_memory(run, shape: Tuple[int, ...], force: bool = False) -> None:
    """Refuse (:class:`SettingsError`, one line) a run whose estimated peak memory exceeds what is
    available, before its first step, naming the estimate and a size that fits; ``force=True``
    (CLI ``--force``) runs it anyway. Where the free memory cannot be read nothing is refused."""
    available = available_memory()
    if force or available is None:
        return
    needed = peak_memory(run, shape)
    if needed <= available:
        return
    fits = largest_fitting_size(run, shape, available)
    hint = f"use a size of {fits} or less (--size {fits})" if fits else "free some memory"
    raise SettingsError(f"a {shape[2]}×{shape[1]} px {run.optimizer} run needs about {needed / 2**30:.1f} GiB "
                        f"of memory, but only {available / 2**30:.1f} GiB is available: {hint}, or pass "
                        "force=True (CLI: --force) to try anyway")


# ---- is it on time? -------------------------------------------------------------------------------

#: A run's own pace that differs from the one its estimate assumed by more than this gets a new estimate.
REVISE_BEYOND = 0.25
#: Step times behind each pace: the median of the last few (the first step, which traces the graph, is not one).
PACE_STEPS = 3
#: Steps between two looks at the pace after the first (a program may start using the CPU at any time).
LOOK_EVERY = 25
#: Below this share of the cores (CPU time / wall time / cores), another program is using the CPU.
BUSY_SHARE = 0.7


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class PaceWatch:
    """Re-estimates a running job from its own step times and says when the machine is busy.

    Call :meth:`observe` after every step. It returns one line when the pace of the last
    :data:`PACE_STEPS` steps differs from the pace the last estimate used by more than
    :data:`REVISE_BEYOND` (it looks once the first steps are timed and then every
    :data:`LOOK_EVERY` steps), else None. ``steps_left(step)`` gives the steps still expected
    after ``step``. Whether the machine is busy comes from this process's CPU time: a run that
    gets much less than every core while it computes is sharing them.
    """

    def __init__(self, seconds_per_step: float, steps_left: Callable[[int], int],
                 clock: Callable[[], float] = time.perf_counter, cpu_clock: Callable[[], float] = time.process_time,
                 cores: Optional[int] = None):
        self.pace, self.steps_left = seconds_per_step, steps_left
        self.clock, self.cpu_clock, self.cores = clock, cpu_clock, cores or usable_cores()
        self.durations: deque = deque(maxlen=PACE_STEPS)
        self.shares: deque = deque(maxlen=PACE_STEPS)
        self.last: Optional[Tuple[float, float]] = None
        self.next_look = 0

    def observe(self, step: int) -> Optional[str]:
        now = (self.clock(), self.cpu_clock())
        if self.last is not None and now[0] > self.last[0]:
            wall = now[0] - self.last[0]
            self.durations.append(wall)
            self.shares.append((now[1] - self.last[1]) / wall / self.cores)
        self.last = now
        if len(self.durations) < PACE_STEPS or step < self.next_look:
            return None
        self.next_look = step + LOOK_EVERY
        pace, share = statistics.median(self.durations), statistics.median(self.shares)
        if abs(pace / self.pace - 1) <= REVISE_BEYOND:
            return None
        before, self.pace = self.pace, pace
        cores = f"this run gets {share * self.cores:.1f} of the {self.cores} cores"
        busy = f"{cores}: another program is using the CPU" if share < BUSY_SHARE else cores
        left = CostEstimate(pace * max(0, self.steps_left(step)), 0).duration
        return (f"re-estimated from the last {PACE_STEPS} steps: {pace:.2f} s per step, not {before:.2f} s "
                f"({busy}); about {left} to go")
