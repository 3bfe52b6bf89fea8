"""Is the time ``nst stylize`` says within 25 % of the time it takes, also when another program takes a core?

    python -m benchmarks.estimate [--size 256] [--steps 150] [--pair tubingen:starry_night]

Runs ``nst stylize`` twice in a subprocess: on a quiet machine, and beside a busy loop that keeps one core
fully used from the start (after the one-time speed measurement, which the estimate said before the run is
based on). For each run it records the wall time from launch to exit, the estimate printed before the run,
and the last re-estimate printed during it (its ``to go`` added to the time it was printed at), and writes
``benchmarks/results/estimate.json`` with the CPU family.
"""

from __future__ import annotations

import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from benchmarks.common import cpu_info, save_json, sized_parser, utc_stamp

RESULTS = Path(__file__).resolve().parent / "results"
_DURATION = r"about (?:(\d+) min )?(\d+) s"


def seconds_in(text: str) -> Optional[float]:
    """Seconds of the first ``about 12 min 05 s`` (or ``about 40 s``) in ``text``, or None."""
    found = re.search(_DURATION, text)
    return None if found is None else 60 * int(found.group(1) or 0) + int(found.group(2))


def busy_loop() -> None:  # pragma: no cover - runs in the competing process
    while True:
        pass


def timed_run(pair: str, size: int, steps: int) -> Dict:
    """One ``nst stylize`` run: its wall time and the estimates it printed, each with when it was printed."""
    content, style = pair.split(":")
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "nstutils.cli", "stylize", content, style, "-o", f"{folder}/out.png",
                   "--size", str(size), "--steps", str(steps), "--quiet"]
        start = time.perf_counter()
        child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        lines: List[Tuple[float, str]] = [(time.perf_counter() - start, line.rstrip()) for line in child.stderr]
        code, seconds = child.wait(), time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"nst stylize exited with {code}: {lines[-3:]}")
    before = next(seconds_in(text) for _, text in lines if text.startswith("nst: ") and "GiB" in text)
    revisions = [(at, text, at + seconds_in(text)) for at, text in lines if "re-estimated" in text]
    said = revisions[-1][2] if revisions else before
    return {"seconds": seconds, "estimate_before": before, "revisions": [text for _, text, _ in revisions],
            "estimate_said": said, "error_before": before / seconds - 1, "error_said": said / seconds - 1}


def compare(pair: str, size: int, steps: int) -> Dict:
    """The quiet run and the run beside a busy core."""
    runs = {"quiet": timed_run(pair, size, steps)}
    print("quiet:", runs["quiet"], flush=True)
    hog = multiprocessing.Process(target=busy_loop, daemon=True)
    hog.start()
    try:
        runs["one_core_busy"] = timed_run(pair, size, steps)
    finally:
        hog.terminate()
        hog.join()
    print("one core busy:", runs["one_core_busy"], flush=True)
    worst = max(abs(r["error_said"]) for r in runs.values())
    return {"date": utc_stamp(), "machine": cpu_info(), "pair": pair, "size": size, "steps": steps, "runs": runs,
            "worst_error_said": worst, "within_25_percent": worst <= 0.25}


def main(argv: Optional[List[str]] = None) -> None:
    parser = sized_parser(__doc__, 256)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--pair", default="tubingen:starry_night")
    parser.add_argument("--out", type=Path, default=RESULTS / "estimate.json")
    args = parser.parse_args(argv)
    report = compare(args.pair, args.size, args.steps)
    path = save_json(args.out, report)
    print(f"the time said was off by at most {report['worst_error_said']:.0%}; wrote {path}")


if __name__ == "__main__":
    main()
