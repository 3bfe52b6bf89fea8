"""Replay stopping rules on the benchmark's recorded default runs.

    python -m benchmarks.stopping [benchmarks/results/full.json]

A default ``stylize`` run stops once its best loss fell by less than ``stop_tolerance``
over the last ``stop_window`` steps. The benchmark records, for each pair, the best loss
after every step and, every 10 steps, the tutorial's float32 loss of the current image
and the time so far. This replays other (tolerance, window) choices on those runs, so the
default rule is chosen from whole 512 px runs on several pairs, not from one.

A rule can only be replayed up to where the recorded run ended: a looser rule stops
earlier (replayable), a stricter one may need steps that were never run (reported as such).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from nstutils.settings import window_improvement

RESULTS = Path(__file__).resolve().parent / "results"


def _losses(best: Sequence[Optional[float]]) -> List[float]:
    return [math.inf if b is None else float(b) for b in best]


def switch_step(best: Sequence[Optional[float]]) -> Optional[int]:
    """The first step (1-based) evaluated in float32 after bfloat16, or None if the run never switched."""
    values = _losses(best)
    for i in range(1, len(values)):
        if values[i] > values[i - 1]:
            return i + 1
    return None


def stopping_step(best: Sequence[Optional[float]], tolerance: float, window: int) -> Optional[int]:
    """The step (1-based) at which the rule would stop, or None if not within the recorded steps.

    When L-BFGS switches from bfloat16 to float32 it forgets the best loss (the scales
    differ), so the recorded best rises once; from then on the rule sees no step before it,
    exactly as the run's own tracker does.
    """
    values = _losses(best)
    switched = switch_step(best)
    forgotten = values if switched is None else [math.inf] * (switched - 1) + values[switched - 1:]
    for step in range(window + 1, len(values) + 1):
        seen = forgotten if switched is not None and step >= switched else values
        improvement = window_improvement(seen[:step], window)
        if improvement is not None and improvement <= tolerance:
            return step
    return None


def replay(run: Dict, tolerance: float, window: int) -> Dict:
    """Where one recorded run would have stopped under the rule, with the tutorial's loss there."""
    step = stopping_step(run["best"], tolerance, window)
    if step is None:
        return {"step": None}
    checks = [t for t in run["trace"] if t["step"] <= step] or run["trace"][:1]
    at = checks[-1]  # the last scored step at or before the stop
    return {"step": step, "evaluations": at["evaluations"], "seconds": at["seconds"],
            "loss_ratio": at["float32_loss"] / run["target"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS / "full.json")
    parser.add_argument("--tolerances", default="0.005,0.006,0.007,0.008,0.01,0.02")
    parser.add_argument("--windows", default="30,40,50,60,100")
    args = parser.parse_args()
    report = json.loads(args.results.read_text())
    pairs = [p for p in report["pairs"] if "best" in p["ours"]]
    if not pairs:
        raise SystemExit(f"{args.results} has no per-step best losses (made before the benchmark recorded them)")
    for p in pairs:
        ours, switched = p["ours"], switch_step(p["ours"]["best"])
        if switched:
            seconds = ours["step_seconds"]
            share = 1 - seconds[switched - 2] / seconds[-1]
            print(f"{p['pair']}: bfloat16 until step {switched - 1}, then float32 to step {len(seconds)} "
                  f"({share:.0%} of the optimisation time in float32)")
        else:
            print(f"{p['pair']}: no switch to float32 ({ours['settings'].get('compute_dtype')})")
    print("rule | " + " | ".join(p["pair"] for p in pairs) + " | all ≤ L_ref | worst time ratio")
    for window in map(int, args.windows.split(",")):
        for tolerance in map(float, args.tolerances.split(",")):
            cells, ok, ratios = [], True, []
            for p in pairs:
                r = replay(p["ours"], tolerance, window)
                if r["step"] is None:
                    cells.append("beyond the run")
                    ok = False
                    continue
                ok &= r["loss_ratio"] <= 1.0
                ratios.append(p["baseline"]["seconds"] / r["seconds"])
                cells.append(f"step {r['step']}, {r['loss_ratio']:.3f}×, {r['seconds']:.0f} s")
            worst = f"{min(ratios):.1f}×" if ratios and len(ratios) == len(pairs) else "-"
            print(f"{tolerance:.1%}/{window} | " + " | ".join(cells) + f" | {'yes' if ok else 'no'} | {worst}")


if __name__ == "__main__":
    main()
