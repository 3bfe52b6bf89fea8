"""Run the benchmark and write JSON + a Markdown table to benchmarks/results/.

    python -m benchmarks.run --full    # 4 pairs at 512 px, scaling: about 1 h on 2 cores (3 h uncached)
    python -m benchmarks.run --short   # 2 pairs at 128 px, quick check (about 4 min)
    python -m benchmarks.run --smoke --out DIR   # seconds; used by the test suite

Each measurement runs in its own process (see measure.py) so peak memory is its own.
The baseline's loss is cached under results/ keyed by a hash of its code, size and
steps, and reused while nothing it depends on has changed; its time is measured afresh in
every run (the median of a few of its steps × its step count: every Adam step costs the same).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from benchmarks.common import PAIRS, cpu_info, save_json, utc_stamp
from benchmarks.report import README_END, README_START, markdown, readme_table, update_readme  # noqa: F401 - re-exported
from nstutils.config import quiet_tensorflow

quiet_tensorflow()

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

MODES = {
    "full": dict(size=512, baseline_steps=1000, timing_steps=20, pairs=PAIRS, scaling=(128, 256, 512, 1024, 2048), reps=3,
                 c2f=((256, 512, 1024, 2048), (100, 50, 20, 10))),
    "short": dict(size=128, baseline_steps=200, timing_steps=20, pairs=PAIRS[:2], scaling=(64, 128, 256), reps=3, c2f=None),
    "smoke": dict(size=48, baseline_steps=6, timing_steps=3, pairs=PAIRS[:1], scaling=(32, 48), reps=1, c2f=None),
}


def run_measure(*args) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")  # the child's own environment: keep its stderr readable
    done = subprocess.run([sys.executable, "-m", "benchmarks.measure", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measurement {args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_peak(size: int, out: Path) -> dict:
    """``benchmarks/peak.py`` in its own process; its report (also written to ``out/peak.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "benchmarks.peak", "--size", str(size), "--out",
                           str(out / "peak.json")], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.peak failed:\n{done.stderr[-2000:]}")
    print(done.stdout, flush=True)
    return json.loads((out / "peak.json").read_text())


def baseline_key(size: int, steps: int, pair: str) -> str:
    import inspect

    from benchmarks.measure import measure_baseline

    digest = hashlib.sha256(inspect.getsource(measure_baseline).encode())
    for path in ("benchmarks/baseline.py", "nstutils/weights.py", "nstutils/images.py"):
        digest.update((ROOT / path).read_bytes())
    import tensorflow as tf

    digest.update(f"{size}/{steps}/{pair}/{tf.__version__}".encode())
    return digest.hexdigest()[:16]


def cached_baseline(size: int, steps: int, cache_dir: Path, pair: str, stale_ok: bool = False) -> dict:
    """The tutorial's result for ``pair``: cached under its key, else run now (about an hour at 512 px).

    ``stale_ok``: when the key misses, take the newest entry for the same pair and steps instead
    (recorded as ``stale_key``), e.g. after an edit of images.py that leaves the pixels alone."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / "baseline_cache.json"
    entries = json.loads(cache.read_text()) if cache.exists() else {}
    key = baseline_key(size, steps, pair)
    if key in entries:
        return {**entries[key], "cached": True}
    same = [k for k, e in entries.items() if e.get("pair") == pair and e.get("steps") == steps]
    if stale_ok and same:
        return {**entries[same[-1]], "cached": True, "stale_key": same[-1]}
    result = run_measure("baseline", "--size", size, "--steps", steps, "--pair", pair)
    entries[key] = result
    save_json(cache, entries)
    return {**result, "cached": False}


def conv_flops(height: int, width: int, up_to: str = "block5_conv2") -> float:
    """FLOPs of one loss+gradient evaluation: forward convs + the input-gradient pass (same cost).

    Each 3×3 conv costs 2·H·W·9·C_in·C_out FLOPs; weight gradients are not needed.
    """
    from nstutils.vgg19 import conv_flops as forward_flops

    return 2.0 * forward_flops(height, width, up_to)


def machine() -> dict:
    info = cpu_info()
    import tensorflow as tf

    info["tensorflow"] = tf.__version__
    from nstutils.arithmetic import resolve_compute_dtype

    info["compute_dtype"] = resolve_compute_dtype("auto")
    return info


def measured_peak(out: Path = RESULTS) -> dict:
    """TensorFlow's own 3×3 convolution rate per dtype (FLOP/s) as ``benchmarks/peak.py`` measured it
    on this CPU, or {} (a nominal cores × clock × FLOPs/cycle figure was wrong by 3× here)."""
    path = out / "peak.json"
    if not path.exists():
        return {}
    report = json.loads(path.read_text())
    if report.get("machine", {}).get("cpu") != cpu_info().get("cpu") or \
            report.get("machine", {}).get("family") != cpu_info().get("family"):
        return {}
    return {d: r["gflops_per_second"] * 1e9 for d, r in report.get("conv", {}).items() if "gflops_per_second" in r}


def fit_exponent(pixels, values) -> float:
    return float(np.polyfit(np.log(pixels), np.log(values), 1)[0])


def known_pairs(pairs: Sequence[str]) -> tuple:
    unknown = [p for p in pairs if p not in PAIRS]
    if unknown:
        raise SystemExit(f"unknown pair(s) {', '.join(unknown)}; choose from {', '.join(PAIRS)}")
    return tuple(pairs)


def run(mode: str, out: Path, pairs: Optional[Sequence[str]] = None, scaling: bool = True) -> dict:
    """Measure ``mode``'s pairs (or only ``pairs``), and unless ``scaling`` is False the scaling points."""
    cfg = dict(MODES[mode])
    if pairs:
        cfg["pairs"] = known_pairs(pairs)
    if not scaling:
        cfg["scaling"], cfg["c2f"] = (), None
    size = cfg["size"]
    info = machine()
    started = time.time()
    report = {"mode": mode, "machine": info, "date": utc_stamp(),
              "note": "2-core machine; the baseline and ours run one after the other, each in its own process"}

    evals = {impl: run_measure("eval", "--size", size, "--reps", cfg["reps"], "--impl", impl)
             for impl in ("baseline", "float32", "bfloat16", "ours")}
    report["evaluation"] = evals
    if mode == "full":  # the machine's own limits, with ours against the plain Keras model in one process
        report["peak"] = run_peak(size, out)
    speedup = evals["baseline"]["seconds_per_eval"] / evals["ours"]["seconds_per_eval"]
    print(f"[{mode}] seconds per loss+gradient at {size} px: baseline {evals['baseline']['seconds_per_eval']:.3f}, "
          f"ours {evals['ours']['seconds_per_eval']:.3f} ({speedup:.2f}×)", flush=True)

    report["pairs"] = measure_pairs(mode, cfg, out)
    return finish_run(mode, cfg, out, report, started)


def measure_pairs(mode: str, cfg: dict, out: Path) -> list:
    """Per pair: the tutorial's loss (cached) and time (measured now), then a default run of ours."""
    size, pairs = cfg["size"], []
    for pair in cfg["pairs"]:
        print(f"[{mode}] {pair}: tutorial recipe, {cfg['baseline_steps']} Adam steps at {size} px", flush=True)
        baseline = cached_baseline(size, cfg["baseline_steps"], out, pair, cfg.get("stale_baseline", False))
        # The loss may come from a cached run (another day, another load); the time is measured now.
        timing = run_measure("tutorial-step", "--size", size, "--steps", cfg["timing_steps"], "--pair", pair)
        baseline = {**baseline, "recorded_seconds": baseline["seconds"], "timed_steps": cfg["timing_steps"],
                    "seconds_per_step": timing["seconds_per_step"],
                    "seconds": timing["seconds_per_step"] * cfg["baseline_steps"]}
        l_ref = baseline["final_loss"]
        print(f"  L_ref = {l_ref:.4g}, {baseline['seconds']:.1f} s ({baseline['seconds_per_step']:.3f} s/step)",
              flush=True)
        rule = () if cfg.get("stop_tolerance") is None else ("--stop-tolerance", cfg["stop_tolerance"])
        ours = run_measure("ours", "--size", size, "--target", l_ref, "--pair", pair, *rule)
        ours["time_ratio"] = baseline["seconds"] / ours["seconds"]
        ours["loss_ratio"] = ours["final_float32_loss"] / l_ref
        ours["estimate_error"] = {"seconds": ours["estimate"]["seconds"] / ours["seconds"] - 1,
                                  "peak_bytes": ours["estimate"]["peak_bytes"] / ours["peak_bytes"] - 1}
        print(f"  ours: {ours['message']}; {ours['seconds']:.1f} s, final {ours['final_float32_loss']:.4g} "
              f"({ours['loss_ratio']:.3f}× L_ref), {ours['time_ratio']:.1f}× faster", flush=True)
        pairs.append({"pair": pair, "baseline": baseline, "ours": ours})
    return pairs


def pairs_only(mode: str, out: Path, pairs: Sequence[str], stop_tolerance: Optional[float] = None,
               stale_baseline: bool = False) -> dict:
    """Only the named pairs, for ``--merge`` with a report that has the rest (evaluation timings etc.).

    ``stop_tolerance`` measures our runs with another stopping rule than the default;
    ``stale_baseline`` reuses the tutorial's cached loss under an outdated key (:func:`cached_baseline`)."""
    cfg = {**MODES[mode], "pairs": known_pairs(pairs), "stop_tolerance": stop_tolerance,
           "stale_baseline": stale_baseline}
    report = {"mode": mode, "machine": machine(), "date": utc_stamp(),
              "pairs": measure_pairs(mode, cfg, out)}
    path = out / f"{mode}-pairs-{time.strftime('%Y%m%d-%H%M')}.json"
    save_json(path, report)
    print(f"wrote {path}; combine it with --merge")
    return report


def finish_run(mode: str, cfg: dict, out: Path, report: dict, started: float) -> dict:
    size, evals = cfg["size"], report["evaluation"]
    scaling = []
    for s in cfg["scaling"]:
        scaling.append(run_measure("eval", "--size", s, "--reps", max(1, cfg["reps"] - (s >= 2048)), "--impl", "ours"))
        print(f"  scaling {s}px: {scaling[-1]['seconds_per_eval']:.3f} s/eval, "
              f"{scaling[-1]['peak_bytes'] / 2**30:.2f} GiB", flush=True)
    if scaling:
        pixels = [r["pixels"] for r in scaling]
        report["scaling"] = {"points": scaling,
                             "time_exponent": fit_exponent(pixels, [r["seconds_per_eval"] for r in scaling]),
                             "memory_exponent": fit_exponent(pixels, [r["peak_bytes"] for r in scaling])}
    if cfg["c2f"]:
        sizes, steps = cfg["c2f"]
        report["large"] = run_measure("c2f", "--sizes", ",".join(map(str, sizes)), "--steps", ",".join(map(str, steps)))
        print(f"  coarse-to-fine to {sizes[-1]} px: {report['large']['seconds']:.0f} s, "
              f"{report['large']['peak_bytes'] / 2**30:.2f} GiB", flush=True)

    height, width = [int(round(x)) for x in _shape_at(size)]
    flops = conv_flops(height, width)
    peaks = measured_peak(out)
    report["flops"] = {"per_eval": flops, "shape": [height, width],
                       "ours_per_second": flops / evals["ours"]["seconds_per_eval"],
                       "baseline_per_second": flops / evals["baseline"]["seconds_per_eval"],
                       "peak_per_second": peaks, "peak_source": "benchmarks/peak.py"}
    report["wall_seconds"] = time.time() - started
    return write_report(summarize(report), mode, out)


def summarize(report: dict) -> dict:
    pairs, evals = report["pairs"], report["evaluation"]
    ratios = [p["ours"]["time_ratio"] for p in pairs]
    report["summary"] = {
        "eval_speedup": evals["baseline"]["seconds_per_eval"] / evals["ours"]["seconds_per_eval"],
        "worst_time_ratio": min(ratios), "best_time_ratio": max(ratios),
        "worst_loss_ratio": max(p["ours"]["loss_ratio"] for p in pairs),
        "all_reached": all(p["ours"]["loss_ratio"] <= 1.0 for p in pairs),
        "worst_estimate_error": max(abs(v) for p in pairs for v in p["ours"]["estimate_error"].values()),
    }
    return report


def merge(reports: Sequence[dict]) -> dict:
    """One report from runs of different pairs (e.g. made on different days with ``--pairs``).

    Pairs are taken in the order of :data:`PAIRS`, a later report's pair replacing an earlier
    one's; the per-evaluation timings, FLOPs and machine come from the first report, the
    scaling points from the last report that has them. Each pair keeps its own date.
    """
    if not reports:
        raise ValueError("nothing to merge")
    machines = {r["machine"].get("cpu") for r in reports}
    if len(machines) > 1:
        raise ValueError(f"reports from different machines cannot be merged: {sorted(machines)}")
    complete = [r for r in reports if "evaluation" in r]
    if not complete:
        raise ValueError("at least one report must be a whole run (with the per-evaluation timings)")
    merged = json.loads(json.dumps(complete[0]))
    by_pair = {}
    for r in reports:
        for p in r["pairs"]:
            by_pair[p["pair"]] = {**p, "date": p.get("date", r["date"])}
    merged["pairs"] = [by_pair[name] for name in PAIRS if name in by_pair]
    with_scaling = [r for r in reports if "scaling" in r]
    if with_scaling:
        merged["scaling"] = with_scaling[-1]["scaling"]
    merged["date"] = max(r["date"] for r in reports)
    merged["merged_from"] = [r["date"] for r in reports]
    return summarize(merged)


def write_report(report: dict, mode: str, out: Path) -> dict:
    save_json(out / f"{mode}.json", report)
    (out / f"{mode}.md").write_text(markdown(report) + "\n")
    if mode == "full" and out == RESULTS:
        if "scaling" in report:
            write_cost_model(report)
        update_readme(report)
    print(markdown(report))
    return report


def write_cost_model(report: dict) -> None:
    """The scaling points the package ships for its time and memory estimates (nstutils.cost)."""
    model = {"source": "benchmarks/results/full.json (make benchmark writes this file)", "machine": report["machine"],
             "date": report["date"],
             "points": [{k: p[k] for k in ("size", "pixels", "seconds_per_eval", "peak_bytes")}
                        for p in report["scaling"]["points"]]}
    save_json(ROOT / "nstutils" / "resources" / "cost_model.json", model)


def _shape_at(size: int):
    from nstutils.data import registry

    entry = registry()["tubingen"]
    scale = size / max(entry.width, entry.height)
    return entry.height * scale, entry.width * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    for mode in MODES:
        group.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--pairs", help="comma-separated content:style pairs, a subset of the mode's")
    parser.add_argument("--skip-scaling", action="store_true", help="skip the scaling and coarse-to-fine runs")
    parser.add_argument("--pairs-only", action="store_true",
                        help="measure only --pairs (no evaluation timings or scaling), for --merge")
    parser.add_argument("--stop-tolerance", type=float,
                        help="with --pairs-only: measure our runs with another stopping rule than the default")
    parser.add_argument("--stale-baseline", action="store_true",
                        help="with --pairs-only: reuse the tutorial's cached loss for the pair when its key is outdated")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="combine reports of different pairs into <mode>.json (and the README table)")
    parser.add_argument("--readme", action="store_true",
                        help="only rewrite README.md's speed table from results/full.json")
    args = parser.parse_args()
    if args.pairs_only:
        if not args.pairs:
            raise SystemExit("--pairs-only needs --pairs")
        pairs_only(args.mode or "full", args.out, args.pairs.split(","), args.stop_tolerance, args.stale_baseline)
        return
    if args.stop_tolerance is not None:
        raise SystemExit("--stop-tolerance is only for --pairs-only runs (a full run measures the defaults)")
    if args.merge:
        write_report(merge([json.loads(path.read_text()) for path in args.merge]), args.mode or "full", args.out)
        return
    if args.readme:
        update_readme(json.loads((RESULTS / "full.json").read_text()))
        return
    run(args.mode or "short", args.out, args.pairs.split(",") if args.pairs else None, not args.skip_scaling)


if __name__ == "__main__":
    main()
