"""environment.yml and pyproject.toml list the same dependencies with the same lower bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name_and_bound(requirement: str):
    requirement = requirement.split(";")[0].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(>=\s*[0-9.]+)?", requirement)
    name = match[1].lower().replace("_", "-")
    if name == "tensorflow-cpu":
        name = "tensorflow"  # the CPU build and the full build are the same package for us
    return name, (match[2] or "").replace(" ", "")


def pyproject_requirements():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    found = dict(_name_and_bound(r) for r in project["dependencies"])
    for extra in project["optional-dependencies"].values():
        found.update(_name_and_bound(r) for r in extra)
    return found


def environment_requirements():
    found = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+.*)$", line)
        if not item or item[1].startswith(("pip:", "conda-forge")) or item[1].strip() == "pip":
            continue
        if item[1].startswith("python"):
            continue
        name, bound = _name_and_bound(item[1].replace("=", ">=", 1) if ">=" not in item[1] and "=" in item[1]
                                      else item[1])
        found[name] = bound
    return found


def test_dependencies_agree():
    assert pyproject_requirements() == environment_requirements()


def test_every_dependency_has_a_lower_bound():
    for name, bound in pyproject_requirements().items():
        assert bound.startswith(">="), f"{name} has no lower bound"


def test_core_stack_is_listed():
    names = set(pyproject_requirements())
    for needed in ("tensorflow", "numpy", "pillow", "matplotlib", "ipywidgets", "jupyterlab", "nbval",
                   "pytest", "pooch", "tqdm", "scikit-image"):
        assert needed in names
