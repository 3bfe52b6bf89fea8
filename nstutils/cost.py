"""How long and how much memory a run will take, said before it starts.

The package ships ``resources/cost_model.json`` (written by ``make benchmark``): seconds
per loss+gradient evaluation and peak memory measured at several sizes. We fit
``seconds = a · pixels^b`` and ``memory = c + d · pixels`` through the points. Machines
differ, so where this machine's speed has been measured (the one-time dtype measurement
of :mod:`nstutils.arithmetic`), the time is rescaled to it. Live progress bars then keep
the ETA honest from the run's own step times. Introduced in ``05_full_transfer``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .errors import SettingsError

#: Loss+gradient evaluations per step (L-BFGS line searches sometimes need a second one).
EVALUATIONS_PER_STEP = {"lbfgs": 1.05, "adam": 1.0, "gd": 1.0}
#: Steps a default (adaptive) run typically takes before the loss stops improving, by optimiser.
#: L-BFGS with the 0.5 % / 50-step rule stops after 500-700 steps on the benchmark's pairs at 512 px
#: (``benchmarks/README.md``); Adam and gradient descent are guesses.
TYPICAL_ADAPTIVE_STEPS = {"lbfgs": 600, "adam": 1500, "gd": 1500}
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

    def __str__(self) -> str:
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        duration = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
        return f"about {duration} and {self.peak_bytes / 2**30:.1f} GiB of memory"


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


def estimate_cost(max_dim: int, steps: int, optimizer: str = "lbfgs", aspect: float = 0.75,
                  measured: Optional[Tuple[float, float]] = None) -> CostEstimate:
    """Estimated wall time and peak memory of ``stylize`` at long side ``max_dim``.

    ``aspect`` is short side / long side (0.75 for a 4:3 photo).
    """
    fit = _fit()
    pixels = max_dim * max(1.0, round(max_dim * aspect))
    evaluations = steps * EVALUATIONS_PER_STEP.get(optimizer, 1.0)
    run_bytes = RUN_BYTES_PER_PIXEL.get(optimizer, RUN_BYTES_PER_PIXEL["lbfgs"]) * pixels
    return CostEstimate(seconds=SETUP_SECONDS + seconds_per_evaluation(pixels, measured) * evaluations,
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
