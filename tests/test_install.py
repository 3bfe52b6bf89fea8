"""Installed the ordinary way: a built wheel, unpacked outside the repository, works on its own.

The wheel is built once per session (pip with build isolation, as a user's pip would),
installed with ``pip install --target`` into a temporary folder, and used from another
folder, so nothing from the repository's working tree can leak in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, text=True)
    (path,) = out.glob("nstutils-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "--target", str(target), str(wheel)], check=True, capture_output=True, text=True)
    return target


def _run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed), "NSTUTILS_FAST": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_carries_everything_the_package_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "nstutils/resources/images.json" in names
    assert "nstutils/resources/cost_model.json" in names
    assert not any(name.startswith(("tests/", "notebooks/", "benchmarks/", "data/")) for name in names)


def test_the_wheel_requires_no_tensorflow_build(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requirements = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist")]
    for requirement in requirements:
        if requirement.lower().startswith("tensorflow"):
            assert "extra ==" in requirement, f"TensorFlow must only come with an extra: {requirement}"
    assert "License-Expression: MIT" in metadata


def test_installing_where_tensorflow_is_present_adds_no_second_tensorflow(wheel, tmp_path):
    """pip's own resolver, in this environment (which has a TensorFlow build), installs nothing TensorFlow."""
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
                    "--report", str(report), str(wheel)], check=True, capture_output=True, text=True)
    names = [item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]]
    assert names == ["nstutils"], names


def test_the_installed_package_runs_outside_the_repository(installed, tmp_path):
    where = _run(installed, tmp_path, "-c", "import nstutils; print(nstutils.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed)

    images = _run(installed, tmp_path, "-m", "nstutils.cli", "images")
    assert images.returncode == 0, images.stderr
    assert "tubingen" in images.stdout and "starry_night" in images.stdout

    weights = _run(installed, tmp_path, "-m", "nstutils.cli", "weights")
    assert weights.returncode == 0, weights.stderr
    assert "16 conv layers" in weights.stdout

    script = ("from nstutils import stylize; r = stylize('tubingen', 'starry_night', max_dim=32, steps=3); "
              "print(r.stop_reason, r.image.shape)")
    painted = _run(installed, tmp_path, "-c", script)
    assert painted.returncode == 0, painted.stderr
    assert painted.stdout.split()[0] == "finished" and "(24, 32, 3)" in painted.stdout
