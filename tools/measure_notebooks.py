"""Measure what each course notebook needs on a class server: wall time and peak memory.

    python tools/measure_notebooks.py [--fast] [--out teach/notebook_costs.json] notebooks/0*.ipynb
    python tools/measure_notebooks.py --table      # README's table, from the JSON

Each notebook runs in its own Jupyter kernel (nbclient), as a learner's would; the kernel's
peak resident memory is sampled every 0.2 s with psutil (children included), and the CPU
family, core count and 1-minute load are recorded with every timing, because a busy or
different machine gives other times. README's "Teach with it" table is written from the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Dict, List

import nbformat
import psutil
from nbclient import NotebookClient


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


def measure(path: Path, timeout: int) -> Dict[str, float]:
    """Run ``path`` top to bottom in a fresh kernel; its seconds and peak memory (GiB)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        sampler = PeakMemory(client.km.provisioner.process.pid)
        try:
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
        finally:
            peak = sampler.stop()
    return {"seconds": round(time.perf_counter() - start, 1), "peak_gib": round(peak / 2 ** 30, 2)}


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def table(report: Dict[str, Dict[str, Dict]]) -> str:
    """README's "What a class server needs per learner" table: time and peak memory in each mode measured."""
    cell = lambda entry: f"{_duration(entry['seconds'])}, {entry['peak_gib']:.2f} GiB" if entry else "not measured"
    lines = ["| notebook | fast mode (`NSTUTILS_FAST=1`): time, kernel's peak memory | full quality: time, kernel's "
             "peak memory |", "|---|---|---|"]
    lines += [f"| {name} | {cell(modes.get('fast'))} | {cell(modes.get('full'))} |"
              for name, modes in sorted(report.items())]
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--table", action="store_true", help="print README's table from --out and stop")
    parser.add_argument("--fast", action="store_true", help="set NSTUTILS_FAST=1 (CI's mode)")
    parser.add_argument("--out", type=Path, default=Path("teach/notebook_costs.json"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return 0
    if not args.notebooks:
        parser.error("name the notebooks to measure (or --table)")
    mode = "fast" if args.fast else "full"
    os.environ["NSTUTILS_FAST"] = "1" if args.fast else ""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    for path in args.notebooks:
        load = os.getloadavg()[0]
        result = measure(path, args.timeout)
        result.update(load_before=round(load, 2), cpu=cpu_family(), cores=os.cpu_count(),
                      date=time.strftime("%Y-%m-%d"))
        report.setdefault(path.stem, {})[mode] = result
        print(f"{path.stem} ({mode}): {result['seconds']} s, peak {result['peak_gib']} GiB, load {load:.2f}",
              flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
