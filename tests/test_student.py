"""Student notebooks: with every solution replaced by a stub, each notebook stops at its first check.

A course notebook holds reference solutions between ``### BEGIN SOLUTION`` / ``### END
SOLUTION`` (inside function bodies) and a ``check.<name>(...)`` call in a later cell. Built
as a student notebook (``python tools/notebooks.py student``) and executed, it must run
cleanly up to the first check after the first solution, and fail there with the check's
``CheckError: … not implemented yet`` — so no check passes silently on an empty stub and
no earlier cell depends on a solution.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import List, Tuple

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError



def _load_notebook_tool():
    """tools/notebooks.py, the repository's notebook tool (a script beside the package, not in the wheel)."""
    if "notebook_tools" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "tools" / "notebooks.py"
        spec = importlib.util.spec_from_file_location("notebook_tools", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["notebook_tools"] = module
        spec.loader.exec_module(module)
    return sys.modules["notebook_tools"]


tool = _load_notebook_tool()
BEGIN_SOLUTION, END_SOLUTION, solution_cells, student_notebook = (
    tool.BEGIN_SOLUTION, tool.END_SOLUTION, tool.solution_cells, tool.student_notebook)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECK_CALL = re.compile(r"(?<![\w.])check\.\w+\s*\(")
CELL_TIMEOUT = 900


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _is_check_cell(cell: dict) -> bool:
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return cell.get("cell_type") == "code" and bool(CHECK_CALL.search(source))


def first_check_after_first_solution(nb: dict, name: str = "notebook") -> Tuple[int, int | None]:
    """(index of the first cell with a solution, index of the first later cell calling ``check.``)."""
    solutions = solution_cells(nb, name)
    if not solutions:
        raise ValueError(f"{name} has no solution")
    first = solutions[0][0]
    later = [i for i, cell in enumerate(nb["cells"]) if i > first and _is_check_cell(cell)]
    return first, (later[0] if later else None)


def run_until_error(nb: dict, cwd: Path, timeout: int = CELL_TIMEOUT) -> Tuple[int | None, str, str, List[str]]:
    """Execute ``nb`` cell by cell in a python3 kernel (cwd ``cwd``), stopping at the first error.

    Returns ``(index of the failing cell or None, exception name, exception value, printed text)``.
    """
    notebook = nbformat.reads(json.dumps(nb), as_version=4)   # joins list sources, as reading a file does
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(cwd)}})
    printed: List[str] = []
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                return index, exc.ename, exc.evalue, printed
            finally:
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "stream":
                        printed.append(output.get("text", ""))
    return None, "", "", printed


def stops_at_first_check(nb: dict, name: str, cwd: Path) -> str | None:
    """None when the student version of ``nb`` fails exactly as it should, else what went wrong."""
    first, check_cell = first_check_after_first_solution(nb, name)
    if check_cell is None:
        return f"{name}: no code cell calls check.… after the first solution (cell {first})"
    student = student_notebook(nb, name)
    index, ename, evalue, _ = run_until_error(student, cwd)
    if index is None:
        return f"{name}: the student version ran without any error: the check in cell {check_cell} passed on a stub"
    if index != check_cell:
        return (f"{name}: the first error is in cell {index} ({ename}: {evalue[:300]}), expected it in cell "
                f"{check_cell}, the first check after the first solution (cell {first})")
    if ename != "CheckError" or "not implemented yet" not in evalue:
        return f"{name}: cell {index} raised {ename}: {evalue[:300]}; expected CheckError: … not implemented yet"
    return None


@pytest.fixture
def fast_kernel_env(monkeypatch):
    """The kernel inherits this environment: fast mode, and the course images from ../shared when present."""
    monkeypatch.setenv("NSTUTILS_FAST", "1")


# --- the harness itself, on a small notebook written here ------------------------------------


def _cell(kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "id": f"cell-{abs(hash((kind, source))) % 10**8}", "metadata": {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _tiny_course(your_turn: str) -> dict:
    setup = ("import sys, os\n"
             f"assert sys.prefix == {sys.prefix!r}, sys.prefix   # the kernel runs the tests' Python\n"
             "assert os.environ.get('NSTUTILS_FAST') == '1'\n"
             "import tensorflow as tf\n"
             "from nstutils.course import check")
    return {"cells": [_cell("markdown", "# A tiny course"), _cell("code", setup),
                      _cell("markdown", "## Your turn: the Gram matrix"), _cell("code", your_turn),
                      _cell("code", "x = 1   # an ordinary cell between exercise and check"),
                      _cell("code", "check.gram_matrix(gram_matrix)"),
                      _cell("code", "def later():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION"),
                      _cell("code", "check.same('later', later, 2)")],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


GRAM_SOLVED = ("def gram_matrix(F):\n"
               f"    {BEGIN_SOLUTION}\n"
               "    b, h, w, c = F.shape\n"
               "    x = tf.reshape(F, [b, h * w, c])\n"
               "    return tf.matmul(x, x, transpose_a=True) / float(h * w)\n"
               f"    {END_SOLUTION}")


def test_harness_on_a_tiny_notebook(tmp_path, fast_kernel_env):
    nb = _tiny_course(GRAM_SOLVED)
    assert first_check_after_first_solution(nb) == (3, 5)
    # The solved notebook runs through, printing the checks' green lines.
    index, ename, evalue, printed = run_until_error(nb, tmp_path)
    assert index is None, (ename, evalue)
    assert "\x1b[32m✔ gram_matrix: correct on 6 cases\x1b[0m\n" in printed
    assert "\x1b[32m✔ later: correct\x1b[0m\n" in printed
    # Its student version stops at the first check with "not implemented yet".
    assert stops_at_first_check(nb, "tiny.ipynb", tmp_path) is None


def test_harness_catches_a_solution_outside_a_function(tmp_path, fast_kernel_env):
    nb = _tiny_course(f"{BEGIN_SOLUTION}\ngram_matrix = lambda F: F\n{END_SOLUTION}")
    problem = stops_at_first_check(nb, "tiny.ipynb", tmp_path)
    assert problem is not None and "first error is in cell 3 (NotImplementedError" in problem


# --- the course notebooks --------------------------------------------------------------------


COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_student_notebook_stops_at_its_first_check(path, fast_kernel_env):
    nb = _load(path)
    if not solution_cells(nb, path.name):
        pytest.skip(f"{path.name} has no ### BEGIN SOLUTION block")
    problem = stops_at_first_check(nb, path.name, NOTEBOOKS)
    assert problem is None, problem


def test_enough_exercises_each_followed_by_a_check():
    """At least 12 solution blocks across notebooks 01–06, each cell of them followed by a check cell."""
    total = 0
    unchecked = []
    for path in COURSE:
        if not "01" <= path.name[:2] <= "06":
            continue
        nb = _load(path)
        cells = solution_cells(nb, path.name)
        total += sum(count for _, count in cells)
        for position, (index, _) in enumerate(cells):
            end = cells[position + 1][0] if position + 1 < len(cells) else len(nb["cells"])
            if not any(_is_check_cell(nb["cells"][i]) for i in range(index + 1, end)):
                unchecked.append(f"{path.name} cell {index}")
    assert not unchecked, f"solutions with no check.… call after them (before the next solution): {unchecked}"
    assert total >= 12, f"notebooks 01–06 hold {total} solution blocks, the course needs at least 12"
