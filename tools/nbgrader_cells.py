"""Write nbgrader's cell metadata into the course notebooks (a development tool, not part of the package).

    python tools/nbgrader_cells.py notebooks/           # write the metadata (idempotent: a second run changes nothing)
    python tools/nbgrader_cells.py --check notebooks/   # exit 1 if metadata is missing, stale or duplicated, or a
                                                        # grade could rest on more than the learner's function
    python tools/nbgrader_cells.py --list notebooks/    # what is graded, and the asserts that depend on learner code
    python tools/nbgrader_cells.py --course build/course notebooks/   # an nbgrader course folder (make student)

Arguments are notebooks or folders (a folder means its ``*.ipynb``). The metadata is a pure function of the
cells' sources, so the tool rewrites it from scratch each time and ``--check`` can compare.

The rules (nbgrader cell metadata schema version 3):

* **solution cell**: a code cell containing ``### BEGIN SOLUTION`` (and its ``### END SOLUTION``). The region
  must sit inside a top-level ``def``: that function is what the learner builds, and names the cell.
  ``{"solution": true, "grade": false, "locked": false, "grade_id": "<function>"}``.
* **check cell**: the next code cell after a solution cell; it must call ``check.<something>(...)`` and mention
  the learner's function by name. It becomes a locked autograder test, worth 1 point unless ``POINTS`` says
  otherwise: ``{"solution": false, "grade": true, "locked": true, "points": N, "grade_id": "check_<function>"}``.
* **capstone check**: a code cell, not after a solution cell, that calls a function named ``check_<something>``
  (``check_your_style_transfer(...)`` in 05) grades the learner's functions together: a locked test with that
  name as ``grade_id`` and the points ``POINTS`` gives it.
* **setup cell**: a code cell that binds the name ``check`` (``from ... import check``, ``check = ...``) is made
  read-only (``locked``, ``grade_id`` ``setup``): autograde then restores it from the teacher's copy, so the
  checks a grade rests on are the course's own.
* every other cell carries no ``nbgrader`` metadata (stale metadata is removed).

A generic function name (``answer``, used by many short exercises) or one defined twice in a notebook is
followed by the check's label, slugged: ``check.same("Gram matrix of [3, 1]", answer, ...)`` gives
``answer_gram_matrix_of_3_1`` and ``check_answer_gram_matrix_of_3_1``. Renaming a function or a label changes
its ids: do it before an assignment is released, not after (the gradebook keys grades by id).

Anything the rules cannot place (a check call with no solution cell before it, a solution cell with no check
after it, a check cell that does not mention the function) is an error: the tool writes nothing and exits 2.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import nbformat

SCHEMA_VERSION = 3
BEGIN = re.compile(r"^[ \t]*#+[ \t]*BEGIN SOLUTION[ \t]*$", re.M)
END = re.compile(r"^[ \t]*#+[ \t]*END SOLUTION[ \t]*$", re.M)
GENERIC_NAMES = {"answer"}
DEFAULT_POINTS = 1
# Points other than 1, per notebook (file stem) and check grade_id, e.g. a capstone:
#     POINTS = {"05_full_transfer": {"check_my_style_transfer": 5}}
# An entry that matches no check cell is an error, so the table cannot go stale silently.
POINTS: Dict[str, Dict[str, float]] = {"05_full_transfer": {"check_your_style_transfer": 3}}
SETUP_ID = "setup"
MAX_SLUG = 40


class CellError(Exception):
    """A notebook the rules cannot place: which cell, and why."""


@dataclass
class Graded:
    """One learner-built function: its solution cell, its check cell and their ids."""

    function: str
    solution_index: int
    check_index: int
    solution_id: str
    check_id: str
    points: float
    label: Optional[str] = None


@dataclass
class Plan:
    """The nbgrader metadata a notebook should carry, cell by cell."""

    path: Path
    metadata: Dict[int, dict] = field(default_factory=dict)   # cell index -> nbgrader metadata
    graded: List[Graded] = field(default_factory=list)
    setup: List[int] = field(default_factory=list)
    dependent_asserts: List[Tuple[int, List[str], str]] = field(default_factory=list)
    solution_inputs: List[Tuple[int, List[str]]] = field(default_factory=list)


def _parse(source: str, where: str) -> ast.Module:
    # IPython magics and shell escapes are not Python: blank them out, keeping the line numbers.
    text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise CellError(f"{where}: not valid Python ({exc.msg}, line {exc.lineno})") from None


def _solution_functions(tree: ast.Module, source: str, where: str) -> List[str]:
    """The top-level functions holding the cell's solution regions, in order (one region per function)."""
    begins = [source.count("\n", 0, m.start()) + 1 for m in BEGIN.finditer(source)]
    ends = [source.count("\n", 0, m.start()) + 1 for m in END.finditer(source)]
    if len(begins) != len(ends) or any(not b < e for b, e in zip(begins, ends)):
        raise CellError(f"{where}: unbalanced BEGIN SOLUTION / END SOLUTION markers")
    functions = []
    for line in begins:
        owner = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.lineno <= line <= node.end_lineno]
        if not owner:
            raise CellError(f"{where}: the solution region on line {line} is not inside a top-level def, so "
                            f"there is no function to name and check")
        if owner[0] in functions:
            raise CellError(f"{where}: two solution regions in {owner[0]}(); the tool expects one per function")
        functions.append(owner[0])
    return functions


def _check_calls(tree: ast.Module) -> List[ast.Call]:
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "check"]


def _names(tree: ast.AST) -> Set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _assigned(tree: ast.Module) -> Set[str]:
    """Names a cell binds at its top level (assignments, defs, imports, for targets)."""
    bound: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return bound


def _binds_check(tree: ast.Module) -> bool:
    return "check" in _assigned(tree)


def _label(call: ast.Call) -> Optional[str]:
    """The first string argument of a check call (check.same's label); f-strings keep their literal parts."""
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.JoinedStr):
            return "".join(part.value for part in arg.values if isinstance(part, ast.Constant))
    return None


def slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for word in words:
        candidate = f"{out}_{word}" if out else word
        if len(candidate) > MAX_SLUG:
            break
        out = candidate
    return out


def plan(path: Path, nb) -> Plan:
    """Place every cell of ``nb`` by the rules; raise :class:`CellError` on anything ambiguous."""
    result = Plan(path)
    trees: Dict[int, ast.Module] = {}
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    for i, cell in enumerate(nb.cells):
        where = f"{path.name} cell {i}"
        if cell.cell_type != "code":
            if BEGIN.search(cell.source) or END.search(cell.source):
                raise CellError(f"{where}: solution markers in a {cell.cell_type} cell (only code cells are "
                                f"supported)")
            continue
        trees[i] = _parse(cell.source, where)

    solutions = {i: _solution_functions(trees[i], nb.cells[i].source, f"{path.name} cell {i}")
                 for i in code if BEGIN.search(nb.cells[i].source) or END.search(nb.cells[i].source)}
    owner: Optional[int] = None       # the solution cell whose functions still wait for their checks
    pending: List[str] = []
    for i in code:
        where = f"{path.name} cell {i}"
        calls = _check_calls(trees[i])
        if i in solutions:
            if pending:
                raise CellError(f"{path.name} cell {owner}: no check cell for {', '.join(pending)}() before the "
                                f"next solution cell (each function's check must follow its solution cell)")
            if calls:
                raise CellError(f"{where}: a solution cell that also calls check.*: put the check in the next cell")
            owner, pending = i, list(solutions[i])
            continue
        capstone = [node.func.id for node in ast.walk(trees[i]) if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name) and node.func.id.startswith("check_")]
        if capstone and not calls and not pending:
            # a check of the learner's functions together (05's check_your_style_transfer): graded on its own
            if len(set(capstone)) != 1:
                raise CellError(f"{where}: calls {', '.join(sorted(set(capstone)))}: one capstone check per cell")
            result.graded.append(Graded(capstone[0], -1, i, "", capstone[0], DEFAULT_POINTS))
            continue
        if not calls:
            if pending:
                raise CellError(f"{path.name} cell {owner}: the solution cell for {', '.join(pending)}() is not "
                                f"followed by its check cells (cell {i} calls no check.<name>(...))")
            continue
        if not pending:
            raise CellError(f"{where}: calls check.{calls[0].func.attr}(...) but does not follow a solution "
                            f"cell, so it grades nothing the learner wrote")
        mentioned = [f for f in pending if f in _names(trees[i])]
        if len(mentioned) > 1:   # prefer the function handed to the check itself: check.gram_matrix(gram_matrix)
            direct = {arg.id for call in calls for arg in call.args if isinstance(arg, ast.Name)}
            mentioned = [f for f in mentioned if f in direct]
        if len(mentioned) != 1:
            raise CellError(f"{where}: cannot tell which of {', '.join(pending)}() this check grades "
                            f"(it mentions {len(mentioned)} of them)")
        function = mentioned[0]
        pending.remove(function)
        label = next((text for text in map(_label, calls) if text), None)
        result.graded.append(Graded(function, owner, i, "", "", DEFAULT_POINTS, label))
    if pending:
        raise CellError(f"{path.name} cell {owner}: no check cell for {', '.join(pending)}()")

    counts: Dict[str, int] = {}
    for g in result.graded:
        counts[g.function] = counts.get(g.function, 0) + 1
    seen: Set[str] = set()
    for g in result.graded:
        if g.solution_index < 0:   # a capstone check: its own name is its id
            if g.check_id in seen:
                raise CellError(f"{path.name} cell {g.check_index}: duplicate grade_id {g.check_id!r}")
            seen.add(g.check_id)
            continue
        base = g.function
        if base in GENERIC_NAMES or counts[base] > 1:
            label = g.label
            if not label or not slug(label):
                raise CellError(f"{path.name} cell {g.check_index}: {base}() needs a check label to tell it "
                                f"from the other {base}() (check.same(\"what it is\", {base}, ...))")
            base = f"{base}_{slug(label)}"
        if base in seen or f"check_{base}" in seen or base == SETUP_ID:
            raise CellError(f"{path.name} cell {g.solution_index}: duplicate grade_id {base!r}")
        seen.update({base, f"check_{base}"})
        g.solution_id, g.check_id = base, f"check_{base}"

    extra = dict(POINTS.get(path.stem, {}))
    for index in sorted({g.solution_index for g in result.graded if g.solution_index >= 0}):
        # a cell holding several learner functions (05's "bring your pieces") is one solution cell
        grade_id = "-".join(g.solution_id for g in result.graded if g.solution_index == index)
        if "-" in grade_id:   # single-function ids were checked above
            if grade_id in seen:
                raise CellError(f"{path.name} cell {index}: duplicate grade_id {grade_id!r}")
            seen.add(grade_id)
        result.metadata[index] = {"grade": False, "grade_id": grade_id, "locked": False,
                                  "schema_version": SCHEMA_VERSION, "solution": True}
    for g in result.graded:
        g.points = extra.pop(g.check_id, DEFAULT_POINTS)
        result.metadata[g.check_index] = {"grade": True, "grade_id": g.check_id, "locked": True,
                                          "points": g.points, "schema_version": SCHEMA_VERSION, "solution": False}
    if extra:
        raise CellError(f"{path.name}: POINTS names {sorted(extra)}, which are not check cells of this notebook")

    setups = [i for i in code if i not in result.metadata and _binds_check(trees[i])]
    if result.graded and not setups:
        raise CellError(f"{path.name}: check cells but no cell that imports `check`")
    for k, i in enumerate(setups):
        grade_id = SETUP_ID if k == 0 else f"{SETUP_ID}_{k + 1}"
        if grade_id in seen:
            raise CellError(f"{path.name} cell {i}: duplicate grade_id {grade_id!r}")
        seen.add(grade_id)
        result.setup.append(i)
        result.metadata[i] = {"grade": False, "grade_id": grade_id, "locked": True,
                              "schema_version": SCHEMA_VERSION, "solution": False}
    result.dependent_asserts = _dependent_asserts(nb, trees, result)
    result.solution_inputs = _solution_inputs(trees, result)
    return result


def _solution_inputs(trees: Dict[int, ast.Module], result: Plan) -> List[Tuple[int, List[str]]]:
    """Check cells that read a name a solution cell binds besides the learner's functions (``edge = ...`` beside
    ``def answer``): the learner may change it, so the grade would rest on it. The check cell must bind it itself."""
    learner = {g.function for g in result.graded}
    editable: Set[str] = set()
    for index in {g.solution_index for g in result.graded if g.solution_index >= 0}:
        editable |= {name for statement in trees[index].body for name in _bound_by(statement)} - learner
    found = []
    for g in result.graded:
        tree = trees[g.check_index]
        loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        used = sorted((loaded - _assigned(tree)) & editable)
        if used:
            found.append((g.check_index, used))
    return found


def _bound_by(statement: ast.stmt) -> Set[str]:
    """Names one top-level statement binds (not the loop variables of its comprehensions)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    targets: List[ast.AST] = []
    if isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        targets = [statement.target]
    elif isinstance(statement, (ast.For, ast.AsyncFor)):
        targets = [statement.target]
    elif isinstance(statement, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in statement.items if item.optional_vars is not None]
    return {node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)}


def _dependent_asserts(nb, trees: Dict[int, ast.Module], result: Plan) -> List[Tuple[int, List[str], str]]:
    """Cells outside the solution cells with an ``assert`` whose outcome depends on learner code.

    A name depends on learner code if it is a learner function, or a top-level statement that uses such a
    name binds it, or it is passed to a learner function called as a statement (``adam_step(x, ...)`` changes
    ``x``), followed in notebook order. A rough rule (a lambda parameter spelt like a dependent name counts as
    dependent): review the list by eye.
    Reported: ``(cell index, learner-dependent names the asserts use, "graded" | "ungraded")``.
    """
    learner = {g.function for g in result.graded}
    tainted = set(learner)
    checks = {g.check_index for g in result.graded}
    solutions = {g.solution_index for g in result.graded}
    found = []
    for i in sorted(trees):
        used: Set[str] = set()
        for statement in trees[i].body:
            names = _names(statement) & tainted
            if i not in solutions and names and any(isinstance(node, ast.Assert) for node in ast.walk(statement)):
                used |= names
            if names:
                tainted |= _bound_by(statement) - {"check"}
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                    # a learner function called for its effect (adam_step(x, ...)): its arguments change
                    tainted |= {arg.id for arg in statement.value.args if isinstance(arg, ast.Name)}
            elif i not in solutions:
                tainted -= _bound_by(statement) - learner   # bound again to a value learner code did not make
        if used:
            found.append((i, sorted(used), "graded" if i in checks else "ungraded"))
    return found


def expected_cells(nb, p: Plan):
    """``nb`` with its nbgrader metadata replaced by the plan's (everything else unchanged)."""
    out = nbformat.reads(nbformat.writes(nb), as_version=4)
    for i, cell in enumerate(out.cells):
        cell.metadata.pop("nbgrader", None)
        if i in p.metadata:
            cell.metadata["nbgrader"] = nbformat.from_dict(p.metadata[i])
    return out


def notebook_paths(args: List[str]) -> List[Path]:
    paths: List[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            paths.extend(sorted(path.glob("*.ipynb")))
        elif path.suffix == ".ipynb" and path.is_file():
            paths.append(path)
        else:
            raise SystemExit(f"nbgrader_cells: {arg} is neither a notebook nor a folder")
    if not paths:
        raise SystemExit(f"nbgrader_cells: no notebooks in {' '.join(args)}")
    return paths


def _validate(nb, path: Path) -> Optional[str]:
    """nbgrader's own validator, when nbgrader is installed (it is in the test extra)."""
    try:
        from nbgrader.nbgraderformat import MetadataValidator, ValidationError
    except ImportError:
        return None
    try:
        MetadataValidator().validate_nb(nb)
    except ValidationError as exc:
        return f"{path.name}: nbgrader rejects the metadata: {exc}"
    return None


def describe(p: Plan) -> List[str]:
    lines = [f"{p.path.name}: {len(p.graded)} graded functions, "
             f"{sum(g.points for g in p.graded):g} points; setup (read-only) cell(s) {p.setup}"]
    for g in p.graded:
        lines.append(f"  cells {g.solution_index:>2} -> {g.check_index:>2}  {g.check_id:<52} {g.points:g} point(s)")
    lines += grade_risks(p)
    return lines


def grade_risks(p: Plan) -> List[str]:
    """What makes a grade rest on more than the learner's function (``--check`` fails on any)."""
    lines = [f"  assert in {kind} cell {i} depends on learner code: {', '.join(used)} (grade it in a check, or "
             f"print it)" for i, used, kind in p.dependent_asserts]
    lines += [f"  check cell {i} reads {', '.join(used)}, bound in an editable solution cell: bind it in the check "
              f"cell" for i, used in p.solution_inputs]
    return lines


CONFIG = Path(__file__).resolve().parents[1] / "teach" / "nbgrader_config.py"


def _lay_out_course(course: Path, texts: Dict[Path, Tuple[str, object]]) -> int:
    """``course``/nbgrader_config.py and ``course``/source/<name>/<name>.ipynb (replacing any older copy)."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    for path, (text, _) in texts.items():
        folder = course / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_text(text, encoding="utf-8")
    print(f"{len(texts)} assignments in {course / 'source'}; next: cd {course} && nbgrader generate_assignment '*'")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="notebooks, or folders of notebooks")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if any notebook is not up to date")
    mode.add_argument("--course", type=Path, metavar="DIR",
                      help="lay out an nbgrader course in DIR: the shipped nbgrader_config.py and one assignment per "
                           "notebook, source/<name>/<name>.ipynb, with its metadata written (the notebooks are "
                           "left as they are)")
    mode.add_argument("--list", action="store_true", help="change nothing; print the graded cells and the asserts "
                                                          "that depend on learner code")
    args = parser.parse_args(argv)

    paths = notebook_paths(args.paths)
    plans, texts, stale, problems = [], {}, [], []
    for path in paths:
        raw = path.read_text(encoding="utf-8")
        nb = nbformat.reads(raw, as_version=4)
        try:
            p = plan(path, nb)
        except CellError as exc:
            problems.append(str(exc))
            continue
        plans.append(p)
        new = expected_cells(nb, p)
        text = nbformat.writes(new) + "\n"
        if text != raw:
            stale.append(path)
        texts[path] = (text, new)
        problem = _validate(new, path)
        if problem:
            problems.append(problem)
    if problems:
        print("\n".join(f"nbgrader_cells: {problem}" for problem in problems), file=sys.stderr)
        return 2
    total = sum(g.points for p in plans for g in p.graded)
    cells = sum(len(p.graded) for p in plans)
    if args.list:
        for p in plans:
            print("\n".join(describe(p)))
        print(f"{cells} graded cells, {total:g} points in {len(plans)} notebooks")
        return 0
    if args.course:
        return _lay_out_course(args.course, texts)
    if args.check:
        found = [f"{p.path.name}:\n" + "\n".join(grade_risks(p)) for p in plans if grade_risks(p)]
        if found:
            print("nbgrader_cells: " + "\n".join(found), file=sys.stderr)
            return 1
        if stale:
            print(f"nbgrader_cells: nbgrader metadata missing or out of date in {', '.join(map(str, stale))}: "
                  f"run python tools/nbgrader_cells.py on them", file=sys.stderr)
            return 1
        print(f"nbgrader metadata up to date: {cells} graded cells, {total:g} points in {len(plans)} notebooks")
        return 0
    for path in stale:
        path.write_text(texts[path][0], encoding="utf-8")
    print(f"{len(stale)} of {len(plans)} notebooks updated: {cells} graded cells, {total:g} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
