"""Measure what each course notebook needs on a class server: wall time and peak memory.

    python tools/measure_notebooks.py [--fast] [--out teach/notebook_costs.json] notebooks/0*.ipynb
    python tools/measure_notebooks.py --table      # README's table, from the JSON
    python tools/measure_notebooks.py --overviews  # each notebook's "Run time" line, from the JSON

Each notebook runs in its own Jupyter kernel (nbclient), as a learner's would; the kernel's
peak resident memory is sampled every 0.2 s with psutil (children included), and the CPU
family, core count and 1-minute load are recorded with every timing, because a busy or
different machine gives other times. Cells slower than ``SLOW_CELL_SECONDS`` are listed with their
section, so a teacher (or whoever shortens a notebook) sees where the time goes. README's "Teach
with it" table and the "Run time" paragraph of each notebook's Overview are written from the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def cpu_family() -> str:
    """``"AMD EPYC, family 25"``-like, from /proc/cpuinfo where there is one."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')}"


class PeakMemory:
    """Samples the resident memory of a process tree until stopped; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


SLOW_CELL_SECONDS = 5.0   # cells at least this slow are listed (index, section, seconds) with the measurement


def has_bfloat16() -> bool:
    """Whether the CPU has native bfloat16 (AVX512-BF16 or AMX): TensorFlow then computes VGG19 faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def measure_cold_and_warm(path: Path, timeout: int, keep: Path | None, warm: bool) -> Dict[str, Any]:
    """Run ``path`` with an empty results cache of its own (cold: every picture computed, as for a learner who
    opens only this notebook), then, with ``warm``, once more with what that run kept (a kernel restart)."""
    with tempfile.TemporaryDirectory(prefix="nstutils-results-") as folder:
        os.environ["NSTUTILS_RESULTS_DIR"] = folder
        result = measure(path, timeout, keep)
        if warm:
            again = measure(path, timeout, None)
            result.update(warm_seconds=again["seconds"], warm_peak_gib=again["peak_gib"])
    return result


def measure(path: Path, timeout: int, keep: Path | None = None) -> Dict[str, Any]:
    """Run ``path`` top to bottom in a fresh kernel; its seconds, peak memory (GiB) and slow cells.

    With ``keep``, the executed notebook (its figures included) is written into that folder,
    so the pictures a full-quality run made can be looked at, not only timed.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    slow_cells: List[List] = []
    start = time.perf_counter()
    with client.setup_kernel():
        sampler = PeakMemory(client.km.provisioner.process.pid)
        try:
            heading = ""
            for index, cell in enumerate(notebook.cells):
                heading = section(cell) or heading
                began = time.perf_counter()
                client.execute_cell(cell, index)
                seconds = round(time.perf_counter() - began, 1)
                if seconds >= SLOW_CELL_SECONDS:   # printed as it goes: a long run shows where it is
                    slow_cells.append([index, heading, seconds])
                    print(f"  cell {index} ({heading}): {seconds} s, peak so far {sampler.peak / 2 ** 30:.2f} GiB",
                          flush=True)
        finally:
            peak = sampler.stop()
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                nbformat.write(notebook, str(keep / path.name))
    return {"seconds": round(time.perf_counter() - start, 1), "peak_gib": round(peak / 2 ** 30, 2),
            "slow_cells": slow_cells}


def section(cell) -> str:
    """The first heading of a markdown cell ("" for other cells): names the section a slow cell is in."""
    if cell.cell_type != "markdown":
        return ""
    return next((line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")), "")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


#: The columns of README's table and the kinds of full-quality measurement, by their key in the JSON: a CPU
#: without fast bfloat16 (the slow machine the lesson budget is for) and one with it.
FULL_KINDS = {"full": "a CPU without bfloat16", "full_bfloat16": "a CPU with bfloat16"}


def mode_key(fast: bool, bfloat16: bool) -> str:
    """The JSON key a measurement is filed under: ``fast``, or ``full`` / ``full_bfloat16`` by the CPU's kind."""
    return "fast" if fast else ("full_bfloat16" if bfloat16 else "full")


def _cost(entry: Dict | None) -> str:
    return f"{_duration(entry['seconds'])}, {entry['peak_gib']:.2f} GiB" if entry else "not measured"


def _again(entry: Dict | None) -> str:
    return _duration(entry["warm_seconds"]) if entry and "warm_seconds" in entry else "not measured"


def table(report: Dict[str, Dict[str, Dict]]) -> str:
    """README's "What a class server needs per learner" table: time and peak memory in each mode and CPU kind, and
    the time of a second run with the results the first one kept."""
    lines = ["| notebook | fast mode (`NSTUTILS_FAST=1`) | full quality, CPU without bfloat16 | run again, results "
             "kept | full quality, CPU with bfloat16 |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {_cost(modes.get('fast'))} | {_cost(modes.get('full'))} | {_again(modes.get('full'))} | "
              f"{_cost(modes.get('full_bfloat16'))} |" for name, modes in sorted(report.items())]
    return "\n".join(lines)


def measured_in_both_modes(modes: Dict[str, Dict]) -> bool:
    """Whether a notebook's entry in the JSON has a fast and a full-quality measurement (either CPU kind)."""
    return bool(modes.get("fast") and any(modes.get(kind) for kind in FULL_KINDS))


def run_time(modes: Dict[str, Dict]) -> str:
    """The "Run time" paragraph of a notebook's Overview, from its entry in the JSON: full quality on each CPU kind
    (or that it was not measured there), again with the results kept, and fast mode."""
    if not measured_in_both_modes(modes):
        raise ValueError("measure the notebook in both modes first (with and without --fast)")
    parts = []
    for kind, words in FULL_KINDS.items():
        entry = modes.get(kind)
        if entry is None:
            parts.append(f"on {words} not measured yet")
            continue
        again = f", {_duration(entry['warm_seconds'])} when run again with its results kept" \
            if "warm_seconds" in entry else ""
        parts.append(f"on {words} {_duration(entry['seconds'])} and {entry['peak_gib']:.2f} GiB{again} "
                     f"(an {entry['cpu']}, {entry['date']})")
    fast = modes["fast"]
    return (f"**Run time** at full quality on a 2-core CPU (no GPU): {'; '.join(parts)}. With `NSTUTILS_FAST=1`: "
            f"{_duration(fast['seconds'])} (an {fast['cpu']}, {fast['date']}). Measured one notebook at a time; "
            "README's *Teach with it* has every notebook's time and memory.")


def with_run_time(text: str, paragraph: str) -> str:
    """``text`` (a markdown cell) with its paragraph that starts "**Run time**" replaced by ``paragraph``."""
    start = text.find("**Run time**")
    if start < 0:
        raise ValueError("no paragraph starting with **Run time** in this cell")
    end = text.find("\n\n", start)
    return text[:start] + paragraph + (text[end:] if end >= 0 else "")


def write_overviews(report: Dict[str, Dict[str, Dict]], folder: Path) -> List[str]:
    """Rewrite the "Run time" paragraph of every notebook in ``folder`` measured in both modes;
    the names changed."""
    changed = []
    for name, modes in sorted(report.items()):
        if not measured_in_both_modes(modes):
            continue
        path = folder / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        cell = next(c for c in notebook.cells if c.cell_type == "markdown" and "**Run time**" in c.source)
        updated = with_run_time(cell.source, run_time(modes))
        if updated != cell.source:
            cell.source = updated
            nbformat.write(notebook, str(path))
            changed.append(name)
    return changed


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--table", action="store_true", help="print README's table from --out and stop")
    parser.add_argument("--overviews", action="store_true",
                        help="rewrite each notebook's Overview run time from --out and stop")
    parser.add_argument("--fast", action="store_true", help="set NSTUTILS_FAST=1 (CI's mode)")
    parser.add_argument("--out", type=Path, default=Path("teach/notebook_costs.json"))
    parser.add_argument("--keep", type=Path, help="also write each executed notebook (with its figures) here")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--warm", action="store_true",
                        help="run each notebook a second time with the results its first run kept")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return 0
    if args.overviews:
        folder = Path(__file__).resolve().parents[1] / "notebooks"
        print("rewrote:", ", ".join(write_overviews(json.loads(args.out.read_text()), folder)) or "nothing")
        return 0
    if not args.notebooks:
        parser.error("name the notebooks to measure (or --table)")
    mode = mode_key(args.fast, has_bfloat16())
    os.environ["NSTUTILS_FAST"] = "1" if args.fast else ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    failed = []
    for path in args.notebooks:
        load = os.getloadavg()[0]
        try:
            result = measure_cold_and_warm(path, args.timeout, args.keep, args.warm)
        except CellExecutionError as error:   # a failed notebook has no cost to record; the others still run
            print(f"{path.stem} ({mode}): FAILED, nothing recorded: {str(error).strip().splitlines()[-1]}", flush=True)
            failed.append(path.stem)
            continue
        result.update(load_before=round(load, 2), cpu=cpu_family(), bfloat16=has_bfloat16(), cores=os.cpu_count(),
                      date=time.strftime("%Y-%m-%d"))
        report.setdefault(path.stem, {})[mode] = result
        again = f", again with its results kept {result['warm_seconds']} s" if "warm_seconds" in result else ""
        print(f"{path.stem} ({mode}): {result['seconds']} s, peak {result['peak_gib']} GiB{again}, load {load:.2f}",
              flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
