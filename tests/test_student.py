"""Student notebooks, as ``make student`` makes them: each stops at its first check with "not implemented yet".

``make student`` lays out an nbgrader course (``tools/nbgrader_cells.py --course build/course notebooks``) and runs
nbgrader's own ``generate_assignment``, which replaces every ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region by
``raise NotImplementedError()``. Here the same two commands build a course in a temporary folder; every released
notebook, executed, must run cleanly up to the first graded check after its first solution cell and fail there
with the check's ``CheckError: … not implemented yet`` — so no check passes silently on an empty stub and no
earlier cell needs a solution.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_tools import NOTEBOOKS, lay_out_course, nbgrader, require_nbgrader
from kernels import AsyncIPCKernelManager

require_nbgrader()
CELL_TIMEOUT = 900


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """build/course/release as ``make student`` writes it, in a temporary folder."""
    course = tmp_path_factory.mktemp("student") / "course"
    lay_out_course(course)
    nbgrader(course, "generate_assignment", "*", "--force")
    return course / "release"


def first_check_after_first_solution(nb) -> Tuple[int, int | None]:
    """(index of the first solution cell, index of the first graded cell after it), from nbgrader's metadata."""
    kinds = [cell.metadata.get("nbgrader", {}) for cell in nb.cells]
    first = next(i for i, meta in enumerate(kinds) if meta.get("solution"))
    later = [i for i, meta in enumerate(kinds) if i > first and meta.get("grade")]
    return first, (later[0] if later else None)


def run_until_error(nb, cwd: Path, timeout: int = CELL_TIMEOUT) -> Tuple[int | None, str, str, List[str]]:
    """Execute ``nb`` cell by cell in a python3 kernel (cwd ``cwd``), stopping at the first error.

    Returns ``(index of the failing cell or None, exception name, exception value, printed text)``.
    """
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            kernel_manager_class=AsyncIPCKernelManager, resources={"metadata": {"path": str(cwd)}})
    printed: List[str] = []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                return index, exc.ename, exc.evalue, printed
            finally:
                printed += [out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream"]
    return None, "", "", printed


def test_make_student_releases_every_notebook_without_solutions(release):
    names = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))
    assert sorted(path.name for path in release.iterdir()) == names
    for name in names:
        text = (release / name / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text, name


COURSE = sorted(path.stem for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("name", COURSE)
def test_student_notebook_stops_at_its_first_check(release, name, monkeypatch):
    monkeypatch.setenv("NSTUTILS_FAST", "1")   # the kernel inherits it
    nb = nbformat.read(release / name / f"{name}.ipynb", as_version=4)
    first, check_cell = first_check_after_first_solution(nb)
    assert check_cell is not None, f"{name}: no graded check after the first solution (cell {first})"
    index, ename, evalue, _ = run_until_error(nb, NOTEBOOKS)
    assert index is not None, f"{name}: the student version ran without error: cell {check_cell} passed on a stub"
    assert index == check_cell, (f"{name}: the first error is in cell {index} ({ename}: {evalue[:300]}), expected "
                                 f"it in cell {check_cell}, the first check after the first solution (cell {first})")
    assert ename == "CheckError" and "not implemented yet" in evalue, f"{name}: cell {index} raised {ename}: {evalue}"


def test_enough_exercises_each_followed_by_a_check(release):
    """At least 12 graded functions in notebooks 01–06, each solution cell followed by its graded check."""
    total = 0
    for name in COURSE:
        if not "01" <= name[:2] <= "06":
            continue
        nb = nbformat.read(release / name / f"{name}.ipynb", as_version=4)
        meta = [cell.metadata.get("nbgrader", {}) for cell in nb.cells]
        solutions = [i for i, m in enumerate(meta) if m.get("solution")]
        for position, index in enumerate(solutions):
            end = solutions[position + 1] if position + 1 < len(solutions) else len(nb.cells)
            assert any(meta[i].get("grade") for i in range(index + 1, end)), f"{name} cell {index} has no check"
        total += sum(1 for m in meta if m.get("grade") and m.get("points"))
    assert total >= 12, f"notebooks 01–06 hold {total} graded checks, the course needs at least 12"
