"""Keep the course notebooks clean, and make the student versions of them.

    python tools/notebooks.py check notebooks   # exit 1 and list offenders
    python tools/notebooks.py clean notebooks   # strip outputs in place
    python tools/notebooks.py student notebooks build/student   # solutions replaced by stubs

A developer tool of this repository, not part of the ``nstutils`` wheel: it needs only the
standard library. ``make test`` runs the check, so a notebook committed with outputs fails CI;
``make clean-notebooks`` and ``make student`` run the other two.

Student notebooks: the committed notebooks hold reference solutions between nbgrader's
markers inside code cells::

    def gram_matrix(F):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

``student`` replaces each such region (markers included) by
``raise NotImplementedError("Your code here")`` at the indentation of its
``### BEGIN SOLUTION`` line, and changes nothing else (``make student``). Keep solutions
inside function bodies, so the stub only raises when the check after it calls the function.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import List, Tuple

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
STUB = 'raise NotImplementedError("Your code here")'
_BEGIN = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*BEGIN SOLUTION[ \t]*$")
_END = re.compile(r"^[ \t]*#+[ \t]*END SOLUTION[ \t]*$")


class SolutionMarkerError(ValueError):
    """``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers are unbalanced, nested or outside code cells."""


def _clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("collapsed", None)
        cell.get("metadata", {}).pop("scrolled", None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def normalised_text(nb: dict) -> str:
    """The canonical text of a clean notebook (what ``nbformat`` writes: 1-space indent, sorted keys)."""
    return json.dumps(_clean(nb), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def problems(path: Path) -> List[str]:
    """Why ``path`` is not a clean, normalised notebook (empty list when it is)."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("outputs"):
            found.append(f"cell {index} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {index} has an execution count")
    if not found and text != normalised_text(json.loads(text)):
        found.append("not normalised (run `make clean-notebooks`)")
    return found


def _source_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def clear_solutions(source: str, where: str = "cell") -> Tuple[str, int]:
    """``source`` with each solution region replaced by the stub, and how many regions there were.

    ``where`` names the cell in error messages (``"01_cnn_features.ipynb, cell 12"``).
    """
    out: List[str] = []
    count = 0
    begin_line = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        text = line.rstrip("\r\n")
        begin = _BEGIN.match(text)
        if begin:
            if begin_line is not None:
                raise SolutionMarkerError(f"{where}: {BEGIN_SOLUTION} on line {number} inside the solution "
                                          f"opened on line {begin_line} (markers cannot nest)")
            begin_line = number
            newline = line[len(text):]
            out.append(begin.group("indent") + STUB + (newline or ""))
            continue
        if _END.match(text):
            if begin_line is None:
                raise SolutionMarkerError(f"{where}: {END_SOLUTION} on line {number} without a "
                                          f"{BEGIN_SOLUTION} before it")
            begin_line = None
            count += 1
            if not line.endswith(("\n", "\r")) and out and out[-1].endswith("\n"):
                out[-1] = out[-1].rstrip("\r\n")   # the END marker was the last line: no trailing newline
            continue
        if begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise SolutionMarkerError(f"{where}: {BEGIN_SOLUTION} on line {begin_line} has no {END_SOLUTION}")
    return "".join(out), count


def solution_cells(nb: dict, name: str = "notebook") -> List[Tuple[int, int]]:
    """``[(cell index, number of solution regions)]`` for the cells that hold solutions (markers checked)."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        text = _source_text(cell)
        if cell.get("cell_type") != "code":
            if any(_BEGIN.match(line) or _END.match(line) for line in text.splitlines()):
                raise SolutionMarkerError(f"{name}, cell {index}: solution markers belong in code cells, "
                                          f"this is a {cell.get('cell_type')} cell")
            continue
        _, count = clear_solutions(text, f"{name}, cell {index}")
        if count:
            found.append((index, count))
    return found


def solution_count(nb: dict, name: str = "notebook") -> int:
    """How many ``### BEGIN SOLUTION`` … ``### END SOLUTION`` regions ``nb`` holds."""
    return sum(count for _, count in solution_cells(nb, name))


def student_notebook(nb: dict, name: str = "notebook") -> dict:
    """A copy of ``nb`` with every solution region replaced by the stub; everything else unchanged."""
    nb = copy.deepcopy(nb)
    solution_cells(nb, name)   # raises on markers outside code cells
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        text, count = clear_solutions(_source_text(cell), f"{name}, cell {index}")
        if count:
            source = cell.get("source", "")
            cell["source"] = text.splitlines(keepends=True) if isinstance(source, list) else text
    return nb


def write_student(src: Path, out: Path) -> List[Tuple[Path, int]]:
    """Write the student version of every notebook in ``src`` into ``out``: ``[(written path, solutions)]``."""
    src, out = Path(src), Path(out)
    paths = sorted(src.glob("*.ipynb"))
    # Check every notebook before writing any, so a bad marker leaves no half-built folder.
    converted = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        converted.append((path.name, student_notebook(nb, path.name), solution_count(nb, path.name)))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, nb, count in converted:
        target = out / name
        target.write_text(normalised_text(nb), encoding="utf-8")
        written.append((target, count))
    return written


def _student(src: Path, out: Path | None) -> int:
    if out is None:
        raise SolutionMarkerError("student needs an output folder: python tools/notebooks.py student SRC OUT")
    written = write_student(src, out)
    for path, count in written:
        print(f"{path}: {count} solution{'' if count == 1 else 's'} replaced by stubs")
    print(f"{len(written)} student notebooks written to {out}, {sum(count for _, count in written)} solutions in all")
    return 0


def _check_or_clean(action: str, folder: Path) -> int:
    paths = sorted(folder.glob("*.ipynb"))
    bad = 0
    for path in paths:
        if action == "clean":
            path.write_text(normalised_text(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
            continue
        for problem in problems(path):
            print(f"{path}: {problem}", file=sys.stderr)
            bad += 1
    if action == "check":
        print(f"{len(paths)} notebooks checked, {bad} problems")
    return 1 if bad else 0


def main(argv: List[str] | None = None) -> int:
    """``check|clean FOLDER`` or ``student SRC OUT``; exit 0 when clean, 1 on problems, 2 on bad markers."""
    parser = argparse.ArgumentParser(prog="tools/notebooks.py", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("check", "clean", "student"),
                        help="check: fail on outputs; clean: strip them; student: write versions without solutions")
    parser.add_argument("folder", type=Path, help="the notebooks' folder")
    parser.add_argument("out", type=Path, nargs="?", help="student: where to write the student notebooks")
    args = parser.parse_args(argv)
    try:
        if args.action == "student":
            return _student(args.folder, args.out)
        return _check_or_clean(args.action, args.folder)
    except SolutionMarkerError as exc:
        print(f"notebooks: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
