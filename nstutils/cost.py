"""How long and how much memory a run will take, from the benchmark's scaling fit.

``benchmarks/results/full.json`` holds seconds per loss+gradient evaluation and peak
memory measured at several sizes on the reference machine (2 cores); we fit
``seconds = a · pixels^b`` and ``memory = c + d · pixels`` through them. Without that
file, constants measured the same way are used. The CLI and the Style Lab print the
estimate before a run starts. Introduced in ``05_full_transfer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Tuple

import numpy as np

RESULTS_FILE = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "full.json"
#: Loss+gradient evaluations per step (L-BFGS line searches sometimes need a second one).
EVALUATIONS_PER_STEP = {"lbfgs": 1.1, "adam": 1.0, "gd": 1.0}
#: Fallback fit (bfloat16 convolutions, 2 cores): 0.92 s and 1.6 GB at 512×384.
_FALLBACK = {"a": 0.92 / 196608, "b": 1.0, "c": 0.75e9, "d": 0.85e9 / 196608}
SETUP_SECONDS = 6.0


@dataclass(frozen=True)
class CostEstimate:
    seconds: float
    peak_bytes: float

    def __str__(self) -> str:
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        duration = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
        return f"about {duration} and {self.peak_bytes / 2**30:.1f} GiB of memory (on a 2-core CPU)"


@lru_cache(maxsize=1)
def _fit() -> dict:
    try:
        points = json.loads(RESULTS_FILE.read_text())["scaling"]["points"]
        pixels = np.array([p["pixels"] for p in points], float)
        seconds = np.array([p["seconds_per_eval"] for p in points], float)
        memory = np.array([p["peak_bytes"] for p in points], float)
        b, log_a = np.polyfit(np.log(pixels), np.log(seconds), 1)
        d, c = np.polyfit(pixels, memory, 1)
        return {"a": float(np.exp(log_a)), "b": float(b), "c": float(c), "d": float(d)}
    except (OSError, KeyError, ValueError, TypeError):
        return dict(_FALLBACK)


def estimate_cost(max_dim: int, steps: int, optimizer: str = "lbfgs", aspect: float = 0.75) -> CostEstimate:
    """Estimated wall time and peak memory of ``stylize`` at long side ``max_dim``.

    ``aspect`` is short side / long side (0.75 for a 4:3 photo).
    """
    fit = _fit()
    pixels = max_dim * max(1.0, round(max_dim * aspect))
    per_eval = fit["a"] * pixels ** fit["b"]
    evaluations = steps * EVALUATIONS_PER_STEP.get(optimizer, 1.0)
    return CostEstimate(seconds=SETUP_SECONDS + per_eval * evaluations,
                        peak_bytes=max(fit["c"] + fit["d"] * pixels, 0.5e9))


def image_aspect(shape: Tuple[int, ...]) -> float:
    """Short side / long side of an image shape ``[1, H, W, 3]`` or ``[H, W, 3]``."""
    height, width = (shape[1], shape[2]) if len(shape) == 4 else shape[:2]
    return min(height, width) / max(height, width)
