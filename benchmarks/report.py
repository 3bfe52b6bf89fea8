"""The benchmark's Markdown: the table in benchmarks/results/<mode>.md and the README's speed table."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import PAIRS

ROOT = Path(__file__).resolve().parents[1]


README_START = "<!-- speed table: written by `make benchmark` from benchmarks/results/full.json, do not edit -->"
README_END = "<!-- end of speed table -->"


def readme_table(r: dict) -> str:
    """The README's speed table: the user's view of the full benchmark (whole default runs)."""
    s, e = r["summary"], r["evaluation"]
    lines = [f"Measured by `make benchmark` on {r['date'][:10]} ({r['machine'].get('cpu')}, {r['machine']['cores']} "
             f"cores, no GPU, TensorFlow {r['machine']['tensorflow']}): a default `stylize` run at "
             f"{r['evaluation']['ours']['size']} px, start to finish, against the TensorFlow tutorial's 1,000 Adam "
             "steps on the same pair, both scored with the tutorial's float32 objective.", "",
             "| photo + painting | tutorial | `stylize` defaults | speed-up | final loss / tutorial's | steps | "
             "stopping rule |", "|---|---|---|---|---|---|---|"]
    minutes = lambda run: f"{run['seconds'] / 60:.1f} min"
    lines += ["| " + " | ".join([pair.replace(":", " + ").replace("_", " "), minutes(b), minutes(o),
                                 f"{o['time_ratio']:.1f}×", f"{o['loss_ratio']:.3f}", str(o["steps"]), _rule(o)]) + " |"
              for pair, b, o in _pairs(r)]
    lines += ["", f"One loss + gradient evaluation at {r['evaluation']['ours']['size']} px: tutorial "
                  f"{e['baseline']['seconds_per_eval']:.2f} s; ours {e['bfloat16']['seconds_per_eval']:.2f} s in "
                  f"bfloat16, {e['float32']['seconds_per_eval']:.2f} s in float32 (this machine's measured choice: "
                  f"{r['machine']['compute_dtype']}). "
                  f"The time and memory estimate printed before each run was off by at most "
                  f"{s['worst_estimate_error']:.0%}. Details: [benchmarks/results/full.md](benchmarks/results/full.md)."]
    missing = [p for p in PAIRS if p not in {q["pair"] for q in r["pairs"]}]
    if missing:
        lines += ["", f"Not measured in this run: {', '.join(m.replace(':', ' + ') for m in missing)}."]
    return "\n".join(lines)


def _pairs(report: dict):
    """``(pair, tutorial's run, ours)`` for each pair the report measured."""
    return [(p["pair"], p["baseline"], p["ours"]) for p in report["pairs"]]


def _rule(ours: dict) -> str:
    """The stopping rule a recorded run used, e.g. ``1.0 % / 50 steps`` (runs kept across rule changes differ)."""
    s = ours.get("settings", {})
    if s.get("steps"):
        return f"{s['steps']} steps"
    return f"{s.get('stop_tolerance', float('nan')):.1%} / {s.get('stop_window', '?')} steps"


def update_readme(report: dict, path: Path = ROOT / "README.md") -> None:
    text = path.read_text()
    if README_START not in text or README_END not in text:
        raise RuntimeError(f"README.md has no speed-table markers ({README_START!r} … {README_END!r})")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_START}\n{readme_table(report)}\n{README_END}{tail}")


def markdown(r: dict) -> str:
    s, e = r["summary"], r["evaluation"]
    gib = lambda x: f"{x / 2**30:.2f} GiB"
    lines = [f"### Benchmark ({r['mode']} mode, {r['date']})", "",
             f"Machine: {r['machine'].get('cpu')}, {r['machine']['cores']} cores, TensorFlow "
             f"{r['machine']['tensorflow']}, ours computes in {r['machine']['compute_dtype']} (measured choice). "
             f"{r['note']}.", "",
             "A default `stylize` run, start to finish, against the TensorFlow tutorial's 1,000 Adam steps on the "
             "same pair (its final loss is L_ref; both scored with the tutorial's float32 objective; the tutorial's "
             "time is 1,000 × the median of 20 of its steps timed in this run):", "",
             "| pair | tutorial | ours (defaults) | time ratio | ours final / L_ref | steps (evaluations) | why ours "
             "stopped | stopping rule | estimate error (time, memory) |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {pair.replace(':', ' + ')} | {b['seconds']:.0f} s | {o['seconds']:.0f} s | "
              f"**{o['time_ratio']:.1f}×** | {o['loss_ratio']:.3f} | {o['steps']} ({o['evaluations']}) | "
              f"{o['stop_reason']} | {_rule(o)} | {o['estimate_error']['seconds']:+.0%}, "
              f"{o['estimate_error']['peak_bytes']:+.0%} |" for pair, b, o in _pairs(r)]
    lines += ["", f"Worst pair: {s['worst_time_ratio']:.1f}× faster (best {s['best_time_ratio']:.1f}×); every pair at "
                  f"or below L_ref: {'yes' if s['all_reached'] else 'no'} (worst {s['worst_loss_ratio']:.3f}× L_ref); "
                  f"worst estimate error {s['worst_estimate_error']:.0%}.", "",
              "| seconds per loss+gradient evaluation | tutorial | ours (defaults) | ours float32 | ours bfloat16 |",
              "|---|---|---|---|---|",
              f"| first pair | {e['baseline']['seconds_per_eval']:.3f} | {e['ours']['seconds_per_eval']:.3f} "
              f"(**{s['eval_speedup']:.2f}×**{', ' + e['ours']['compute_dtype'] if 'compute_dtype' in e['ours'] else ''}) | {e['float32']['seconds_per_eval']:.3f} | "
              f"{e['bfloat16']['seconds_per_eval']:.3f} |", ""]
    if "scaling" in r:
        lines += ["Scaling (ours, one loss+gradient evaluation):", "",
                  "| long side | pixels | seconds | peak memory |", "|---|---|---|---|"]
        for p in r["scaling"]["points"]:
            lines.append(f"| {p['size']} | {p['pixels']:,} | {p['seconds_per_eval']:.3f} | {gib(p['peak_bytes'])} |")
        lines += ["", f"Fitted exponents against pixel count: time {r['scaling']['time_exponent']:.2f}, "
                      f"peak memory {r['scaling']['memory_exponent']:.2f}."]
    if "large" in r:
        L = r["large"]
        lines += ["", f"Coarse-to-fine to {L['sizes'][-1]} px ({' → '.join(map(str, L['sizes']))}, steps "
                      f"{L['steps']}): {L['seconds']:.0f} s, peak {gib(L['peak_bytes'])}."]
    f = r["flops"]
    lines += ["", f"FLOPs per evaluation at {f['shape'][1]}×{f['shape'][0]}: {f['per_eval'] / 1e9:.0f} GFLOP "
                  f"(convolutions forward + input gradient). Achieved: ours {f['ours_per_second'] / 1e9:.0f} GFLOP/s, "
                  f"baseline {f['baseline_per_second'] / 1e9:.0f} GFLOP/s; " + peak_text(f)]
    if "peak" in r:
        p = r["peak"]
        lines += ["", f"In one process (benchmarks/peak.py, CPU family {p['machine'].get('family')}): ours with the "
                      f"defaults {p['ours']['default']['seconds']:.3f} s per evaluation, the plain Keras VGG19 in "
                      f"{p['best_keras_dtype']} {p['keras'][p['best_keras_dtype']]['seconds']:.3f} s: "
                      f"**{p['ours_vs_keras']:.2f}×**."]
    return "\n".join(lines)


def peak_text(flops: dict) -> str:
    peaks = flops.get("peak_per_second") or {}
    rates = ", ".join(f"{v / 1e9:.0f} GFLOP/s {d}" for d, v in peaks.items())
    if flops.get("peak_source") != "benchmarks/peak.py":  # reports made before the machine was measured
        return f"computed (not measured) nominal peak then: {rates or 'none'}."
    if not peaks:
        return "`python -m benchmarks.peak` measures what TensorFlow's kernels reach on this CPU."
    return f"TensorFlow's own 3×3 convolution on this CPU (benchmarks/peak.py): {rates}."
