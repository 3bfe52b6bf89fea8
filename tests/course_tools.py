"""The repository's course tooling as the tests drive it: the scripts in tools/ loaded as modules, and the course
laid out and run through nbgrader the way ``make student`` does. Shared by test_nbgrader, test_student and
test_notebook_tools.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict

import pytest

from kernels import unix_socket_config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NBGRADER_CELLS = ROOT / "tools" / "nbgrader_cells.py"


def require_nbgrader() -> None:
    """Skip the calling test module where nbgrader is missing; in CI a missing nbgrader is a failure instead."""
    if os.environ.get("CI"):
        import nbgrader  # noqa: F401
    else:
        pytest.importorskip("nbgrader", reason="nbgrader is in the test extra: pip install -e '.[test]'")


def load_tool(stem: str) -> ModuleType:
    """tools/<stem>.py as a module, loaded once (the tools are scripts beside the package, not in the wheel)."""
    name = f"tools_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def course_env() -> Dict[str, str]:
    """The environment the course commands run in: fast notebooks, unbuffered output."""
    env = dict(os.environ, NSTUTILS_FAST="1", PYTHONUNBUFFERED="1")
    # nbgrader runs `alembic` by name when it creates the gradebook: the environment's scripts must be on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def lay_out_course(course: Path) -> None:
    """``tools/nbgrader_cells.py --course``: the course folder with every notebook's cell metadata written.

    The shipped nbgrader_config.py gets two lines more, so that autograde's kernels use Unix sockets
    (:mod:`kernels`): other test workers start kernels at the same time."""
    done = subprocess.run([sys.executable, str(NBGRADER_CELLS), "--course", str(course), str(NOTEBOOKS)],
                          cwd=ROOT, env=course_env(), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(unix_socket_config(course))


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader *args`` in the course folder, which must succeed."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=course_env(),
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done
