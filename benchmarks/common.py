"""What every benchmark report records: when it ran and on which CPU (no TensorFlow import)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

#: Photo/painting pairs from the course images: a photo of a town, a person, an object and an animal,
#: each with a painting of a different kind.
PAIRS = ("tubingen:starry_night", "astronaut:the_scream", "coffee:great_wave", "chelsea:woman_with_hat")


def sized_parser(doc: str, size: int) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring's first line as the description and ``--size`` (the long
    side in pixels) defaulting to ``size``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", type=int, default=size, help="long side of the images, in pixels")
    return parser


def save_json(path: Path, report) -> Path:
    """Write ``report`` as indented JSON at ``path`` (its folder made if needed) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    return path


def utc_stamp() -> str:
    """The report's date, e.g. ``2026-11-26 09:10 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def cpu_info() -> dict:
    """Python version, cores, CPU model and family, clock and the bfloat16/AMX flags, from /proc/cpuinfo.

    Cheap enough for numpy-only timings (``lbfgs_overhead``); ``run.machine`` adds the
    TensorFlow version and the measured compute dtype.
    """
    info = {"python": platform.python_version(), "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
        info["mhz"] = max(mhz) if mhz else None
        family = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("cpu family")]
        info["family"] = int(family[0]) if family and family[0].isdigit() else None
        info["avx512_bf16"] = "avx512_bf16" in text
        info["amx"] = "amx_bf16" in text
    except (OSError, StopIteration):
        pass
    return info
