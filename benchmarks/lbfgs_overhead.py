"""What SciPy's L-BFGS-B costs per iteration by itself, at the sizes stylize uses.

    python -m benchmarks.lbfgs_overhead [--sides 384,512] [--iterations 40]

A run's time is evaluations (the network) plus the optimiser's own work between them. This
times L-BFGS-B on a cheap smooth function with as many variables as a ``side × side`` RGB
image (in the pixel box [0, 1], and without bounds for comparison), for several history
sizes, and subtracts the function's own time: what is left is SciPy's per-iteration cost,
to compare with one evaluation (about 0.9 s at 512×384 in bfloat16 on the 2-core EPYC).
Writes ``results/lbfgs-overhead.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import cpu_info, save_json, utc_stamp

RESULTS = Path(__file__).resolve().parent / "results"


def overhead(variables: int, history: int, bounded: bool, iterations: int, seed: int = 0) -> dict:
    from scipy.optimize import Bounds, minimize

    rng = np.random.default_rng(seed)
    target, scale = rng.uniform(0.2, 0.8, variables), rng.uniform(0.5, 2.0, variables)
    spent = {"seconds": 0.0, "calls": 0}

    def fun(x):
        start = time.perf_counter()
        r = x - target
        value, grad = float(np.sum(scale * r * r + 0.1 * r ** 4)), 2 * scale * r + 0.4 * r ** 3
        spent["seconds"] += time.perf_counter() - start
        spent["calls"] += 1
        return value, grad

    x0 = np.clip(target + rng.normal(0, 0.3, variables), 0, 1)
    bounds = Bounds(np.zeros(variables), np.ones(variables)) if bounded else None
    start = time.perf_counter()
    result = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": iterations, "maxcor": history, "ftol": 0.0, "gtol": 0.0})
    total = time.perf_counter() - start
    return {"variables": variables, "history": history, "bounded": bounded, "iterations": int(result.nit),
            "calls": spent["calls"], "seconds": total,
            "seconds_per_iteration": (total - spent["seconds"]) / max(1, int(result.nit))}


def main() -> None:
    import scipy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="384,512", help="comma-separated image sides (RGB, square)")
    parser.add_argument("--histories", default="5,10,20")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS / "lbfgs-overhead.json")
    args = parser.parse_args()
    rows = []
    for side in (int(s) for s in args.sides.split(",")):
        for history in (int(h) for h in args.histories.split(",")):
            for bounded in (True, False):
                rows.append(overhead(side * side * 3, history, bounded, args.iterations))
                r = rows[-1]
                print(f"{side}×{side}: history {history:>2}, {'bounded  ' if bounded else 'unbounded'}: "
                      f"{r['seconds_per_iteration']:.3f} s per iteration", flush=True)
    report = {"date": utc_stamp(), "machine": cpu_info(), "scipy": scipy.__version__, "rows": rows}
    save_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
