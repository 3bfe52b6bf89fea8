"""Where TensorFlow is missing, the library, the CLI and the notebooks say what to install in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nstutils import environment
from nstutils.errors import MissingDependencyError, NSTError

ROOT = Path(__file__).resolve().parents[1]
# Run Python as if TensorFlow were not installed: a None entry in sys.modules blocks the import.
WITHOUT_TF = "import sys; sys.modules['tensorflow'] = None\n"
#: How every notebook's Setup cell begins: the one setup call, behind a guard for a missing course install.
GUARD = "try:\n    from nstutils.course.notebook_setup import setup"


def test_require_tensorflow_passes_here():
    environment.require_tensorflow()
    assert environment.tensorflow_version() >= environment.MINIMUM_TENSORFLOW


def test_missing_tensorflow_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(environment, "tensorflow_version", lambda: None)
    with pytest.raises(MissingDependencyError, match="pip install tensorflow") as caught:
        environment.require_tensorflow()
    assert isinstance(caught.value, NSTError) and "\n" not in str(caught.value)


def test_too_old_tensorflow_is_named(monkeypatch):
    monkeypatch.setattr(environment, "tensorflow_version", lambda: (2, 12))
    with pytest.raises(MissingDependencyError, match="2.12 is too old"):
        environment.require_tensorflow()


def test_a_notebook_setup_cell_stops_with_one_line():
    """The Setup cell of every notebook, run where TensorFlow cannot be imported."""
    import json

    setup = next(c for c in json.loads((ROOT / "notebooks" / "02_content.ipynb").read_text())["cells"]
                 if c["cell_type"] == "code")
    code = "".join(setup["source"])
    assert code.startswith(GUARD)
    lines = code.splitlines()
    guard = "\n".join(lines[: next(i for i, line in enumerate(lines) if "setup()" in line) + 1])
    result = subprocess.run([sys.executable, "-c", WITHOUT_TF + guard], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert "Setup: TensorFlow is not installed" in result.stderr and "pip install" in result.stderr


def test_every_notebook_starts_with_the_guard():
    import json

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        assert "".join(first["source"]).startswith(GUARD), path


def test_the_cli_without_tensorflow_prints_one_line(tmp_path):
    code = WITHOUT_TF + "from nstutils.cli import main; raise SystemExit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", code, "stylize", "tubingen", "starry_night", "-o",
                             str(tmp_path / "out.png")], capture_output=True, text=True,
                            env={**os.environ, "NSTUTILS_FAST": "1"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("nst: error: TensorFlow is not installed")
    assert "Traceback" not in result.stderr


def test_importing_nstutils_does_not_need_tensorflow():
    result = subprocess.run([sys.executable, "-c", WITHOUT_TF + "import nstutils; print(sorted(dir(nstutils))[:3])"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_tensorflow_start_up_lines_stay_out_of_the_cli(tmp_path):
    out = tmp_path / "out.png"
    result = subprocess.run([sys.executable, "-m", "nstutils.cli", "stylize", "astronaut", "coffee", "-o", str(out),
                             "--size", "32", "--steps", "2", "--quiet"], capture_output=True, text=True,
                            env={**os.environ, "NSTUTILS_FAST": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.exists()
    for noise in ("oneDNN", "absl", "cpu_feature_guard", "I0000", "W0000"):
        assert noise not in result.stderr, result.stderr
    assert result.stderr.startswith("nst: ")
