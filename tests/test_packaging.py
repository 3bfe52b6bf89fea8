"""environment.yml and pyproject.toml list the same dependencies with the same lower bounds (or the same pin)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name_and_bound(requirement: str):
    requirement = requirement.split(";")[0].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*((?:>=|==)\s*[0-9.]+)?", requirement)
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
        pinned_or_bounded = ">=" in item[1] or "==" in item[1]
        name, bound = _name_and_bound(item[1].replace("=", ">=", 1) if not pinned_or_bounded and "=" in item[1]
                                      else item[1])
        found[name] = bound
    return found


def test_dependencies_agree():
    assert pyproject_requirements() == environment_requirements()


def test_every_dependency_has_a_lower_bound():
    for name, bound in pyproject_requirements().items():
        assert bound.startswith((">=", "==")), f"{name} has no lower bound"


def test_nbgrader_is_pinned_in_the_test_extra_and_the_environment():
    """The course's metadata and teach/nbgrader_config.py are tested with one nbgrader release."""
    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert "nbgrader==0.9.6" in test_extra
    assert environment_requirements()["nbgrader"] == "==0.9.6"
    pins = [name for name, bound in pyproject_requirements().items() if bound.startswith("==")]
    assert pins == ["nbgrader"], f"only nbgrader is pinned; {pins}"


def test_core_stack_is_listed():
    names = set(pyproject_requirements())
    for needed in ("tensorflow", "numpy", "pillow", "matplotlib", "ipywidgets", "jupyterlab", "nbval",
                   "pytest", "pooch", "tqdm", "scikit-image"):
        assert needed in names


def test_the_engine_needs_no_notebook_packages_and_the_course_extra_brings_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_name_and_bound(r)[0] for r in project["dependencies"]}
    course = {_name_and_bound(r)[0] for r in project["optional-dependencies"]["course"]}
    notebook_stack = {"jupyterlab", "ipywidgets", "matplotlib"}
    assert not base & notebook_stack, base & notebook_stack
    assert notebook_stack <= course


def test_every_package_is_in_the_wheel_and_the_tools_are_not():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nstutils").rglob("__init__.py")}
    assert found <= set(packages), found - set(packages)
    assert "nstutils.course" in packages and "nstutils.course.check" in packages
    assert not any(p.startswith("tools") for p in packages) and (ROOT / "tools" / "notebooks.py").is_file()


def test_make_setup_installs_the_course_and_calls_the_notebook_tool_from_tools():
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[cpu,course,test]"' in makefile
    for action in ("check", "clean"):
        assert f"$(BIN)/python tools/notebooks.py {action} notebooks" in makefile
    assert "$(BIN)/python tools/nbgrader_cells.py --check notebooks" in makefile
    # make student is nbgrader's generate_assignment on the course laid out in build/course
    assert "$(BIN)/python tools/nbgrader_cells.py --course $(COURSE) notebooks" in makefile
    assert "nbgrader generate_assignment" in makefile
    assert "nstutils.notebooks" not in makefile and "notebooks.py student" not in makefile
