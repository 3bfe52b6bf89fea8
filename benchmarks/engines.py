"""Compare the L-BFGS engines (SciPy's L-BFGS-B, the float32 projected one) at equal evaluations.

    python -m benchmarks.engines --size 256 --evaluations 300 --pairs tubingen:starry_night,chelsea:woman_with_hat

Each engine minimises the default objective of each pair from the default start for the
same number of evaluations (restarts and the float32 hand-over as in a run); recorded per
engine: the best loss after every evaluation, the steps, the restarts, and the optimiser's
own seconds (the run's wall time minus the evaluations'). The default objective is the
tutorial's, so the losses compare directly. Writes ``results/engines-<size>.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Sequence

from benchmarks.common import cpu_info, save_json, sized_parser, utc_stamp
from nstutils.config import quiet_tensorflow

quiet_tensorflow()

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = ("scipy", "numpy")


def run_engine(prepared, engine: str, evaluations: int) -> Dict:
    """One engine on one prepared pair for ``evaluations`` calls of the objective."""
    import numpy as np

    from nstutils.lbfgs import minimize_lbfgs

    spent, best = {"seconds": 0.0}, []

    def make(objective):
        def fun(x):
            start = time.perf_counter()
            losses, grad = objective.value_and_gradient(x)
            spent["seconds"] += time.perf_counter() - start
            best.append(min(losses["total"], best[-1] if best else np.inf))
            return losses["total"], grad
        return fun

    objective = prepared.objective
    fallback = make(objective.exact()) if objective.settings.compute_dtype != "float32" else None
    start = time.perf_counter()
    outcome = minimize_lbfgs(make(objective), prepared.start, max_steps=10 * evaluations,
                             max_evaluations=evaluations, fallback=fallback, engine=engine)
    wall = time.perf_counter() - start
    return {"engine": engine, "loss": outcome.loss, "steps": outcome.steps, "evaluations": outcome.evaluations,
            "restarts": outcome.restarts, "stop_reason": outcome.stop_reason, "seconds": wall,
            "optimiser_seconds": wall - spent["seconds"], "evaluation_seconds": spent["seconds"],
            "best_every_10": [float(b) for b in best[9::10]], "compute_dtype": objective.settings.compute_dtype}


def compare(pairs: Sequence[str], size: int, evaluations: int) -> Dict:
    """Both engines on each pair; ``numpy / scipy`` final-loss ratios per pair."""
    from benchmarks.measure import pair_images
    from nstutils.run import prepare

    report = {"date": utc_stamp(), "machine": cpu_info(), "size": size, "evaluations": evaluations, "pairs": []}
    for pair in pairs:
        content, style = pair_images(size, pair)
        prepared = prepare(content, style, max_dim=size)
        runs: List[Dict] = [run_engine(prepared, engine, evaluations) for engine in ENGINES]
        ratio = runs[1]["loss"] / runs[0]["loss"]
        report["pairs"].append({"pair": pair, "runs": runs, "numpy_over_scipy": ratio})
        print(f"{pair} at {size} px, {evaluations} evaluations: " + "; ".join(
            f"{r['engine']} {r['loss']:.5g} ({r['steps']} steps, {r['restarts']} restarts, optimiser "
            f"{r['optimiser_seconds'] / max(1, r['steps']):.3f} s/step)" for r in runs) + f"; numpy/scipy {ratio:.4f}",
            flush=True)
    return report


def main() -> None:
    parser = sized_parser(__doc__, 256)
    parser.add_argument("--evaluations", type=int, default=300)
    parser.add_argument("--pairs", default="tubingen:starry_night,chelsea:woman_with_hat")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = compare(args.pairs.split(","), args.size, args.evaluations)
    out = args.out or RESULTS / f"engines-{args.size}.json"
    save_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
