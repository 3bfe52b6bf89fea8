"""nbgrader runs the course as a teacher would (issue 21, part 1).

A course folder in a temporary directory, laid out as ``nbgrader quickstart`` would, with the shipped
``teach/nbgrader_config.py`` at its root and one assignment per notebook
(``source/03_gram_style/03_gram_style.ipynb``): a notebook is one unit of work a teacher releases,
collects and grades on its own. ``tools/nbgrader_cells.py`` writes the cell metadata into copies of the
repository's notebooks, then nbgrader itself, by its command line and default settings:

* ``generate_assignment`` releases every notebook (exit 0, at least 30 graded cells with points);
* ``autograde`` gives the reference solutions full marks in every notebook, the released stubs 0, and a
  submission with exactly one wrong function full marks minus that function's points, with the check's
  diagnosis in the graded notebook;
* ``generate_feedback`` writes HTML that shows the diagnosis;
* a graded cell of the reference shows nothing but its check's one line, and nbgrader prints no SAWarning;
* ``nbgrader validate`` (what a learner runs) shows the diagnosis of a wrong function, though it cuts every line
  of an error at about 83 characters.

Scores are read from the gradebook. Notebooks run in fast mode (``NSTUTILS_FAST=1``). The course is laid out and
generated once for the module (``tools/nbgrader_cells.py --course``, what ``make student`` runs), and every
submission (the reference on every notebook, the stubs and the mistakes on the one notebook each concerns) is
graded by one ``nbgrader autograde`` run: nbgrader starts once, each notebook's kernel once.
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import nbformat
import pytest

from course_tools import NBGRADER_CELLS, NOTEBOOKS, ROOT, lay_out_course, load_tool, nbgrader, require_nbgrader

require_nbgrader()
from nbgrader.api import Gradebook  # noqa: E402

CONFIG = ROOT / "teach" / "nbgrader_config.py"
COURSE_ID = "nstutils"
MIN_GRADED_CELLS = 30

# One wrong function per submission: (notebook, function, (text, replacement)) — the reference solution with one
# edit. 03's gram_matrix with the product the wrong way round (F F^T, [HW, HW]) is the mistake whose cost spreads
# furthest: layer_style_loss, style_loss and the mirrored-painting answer call gram_matrix. The checks grade each
# function with the library's pieces in place of the learner's (check.pieces), so exactly check_gram_matrix's point
# goes. 01's flipped kernel is the second case.
MISTAKES = {
    "gram_mistake": ("03_gram_style", "gram_matrix", ("transpose_a=True", "transpose_b=True")),
    "convolution_mistake": ("01_cnn_features", "convolution",
                            ("    kh, kw = kernel.shape", "    kernel = kernel[::-1, ::-1]\n    kh, kw = kernel.shape")),
}
STUBS_NOTEBOOK = "03_gram_style"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cell_text(cell) -> str:
    """A code cell's outputs as plain text (error name, message and traceback, without colours)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts += [output.ename, output.evalue, *output.traceback]
        else:
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return ANSI.sub("", "\n".join(parts))


def _by_grade_id(nb) -> Dict[str, nbformat.NotebookNode]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id")}


def _submit(course: Path, student: str, name: str, solutions: Dict[str, str]) -> None:
    """The released notebook with each solution cell in ``solutions`` (grade_id -> source) filled in."""
    nb = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
    for grade_id, cell in _by_grade_id(nb).items():
        if grade_id in solutions:
            cell.source = solutions[grade_id]
    target = course / "submitted" / student / name
    target.mkdir(parents=True)
    nbformat.write(nb, target / f"{name}.ipynb")


def _scores(course: Path, student: str, name: str) -> Dict[str, tuple]:
    """grade_id -> (score, max score) of every graded cell, from the gradebook."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        notebook = gb.find_submission_notebook(name, name, student)
        return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course folder as ``make student`` makes it: metadata written, every assignment generated."""
    names = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))
    course = tmp_path_factory.mktemp("course") / "course"
    lay_out_course(course)
    assert sorted(p.name for p in (course / "source").iterdir()) == names
    sources = [str(course / "source" / name / f"{name}.ipynb") for name in names]
    done = subprocess.run([sys.executable, str(NBGRADER_CELLS), "--check", *sources], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr      # the copies pass the CI check
    nbgrader(course, "generate_assignment", "*")   # every assignment in source/, in one run
    return course


@pytest.fixture(scope="module")
def graded(course) -> Path:
    """Every submission in submitted/, then one autograde run over all of them, and the mistakes' feedback."""
    names = sorted(path.name for path in (course / "release").iterdir())
    for name in names:
        _submit(course, "reference", name, _reference(course, name))
    _submit(course, "stubs", STUBS_NOTEBOOK, {})
    for student, (name, function, _) in MISTAKES.items():
        solutions = _reference(course, name)
        solutions[function] = _wrong_source(course, student)
        _submit(course, student, name, solutions)
    done = nbgrader(course, "autograde", "*")                # every assignment, every student
    (course / "autograde.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    for student, (name, _, _) in MISTAKES.items():
        nbgrader(course, "generate_feedback", name, "--student", student)
    return course


def _wrong_source(course: Path, student: str) -> str:
    """The reference solution of the student's function with the student's one mistake made in it."""
    name, function, (text, replacement) = MISTAKES[student]
    reference = _reference(course, name)
    assert function in reference, (name, sorted(reference))
    assert text in reference[function], f"{name}'s {function} has no {text!r} to make the mistake in"
    return reference[function].replace(text, replacement, 1)


def _reference(course: Path, name: str) -> Dict[str, str]:
    nb = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    return {grade_id: cell.source for grade_id, cell in _by_grade_id(nb).items()
            if cell.metadata["nbgrader"]["solution"]}


def test_tool_check_mode_finds_missing_and_duplicate_ids(tmp_path):
    nb_path = tmp_path / "03_gram_style.ipynb"
    shutil.copy(NOTEBOOKS / nb_path.name, nb_path)
    module = load_tool("nbgrader_cells")
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    nbformat.write(nb, nb_path)
    assert module.main(["--check", str(nb_path)]) == 1          # no metadata yet
    assert module.main([str(nb_path)]) == 0
    written = nb_path.read_text(encoding="utf-8")
    assert module.main([str(nb_path)]) == 0 and nb_path.read_text(encoding="utf-8") == written   # idempotent
    assert module.main(["--check", str(nb_path)]) == 0
    nb = nbformat.read(nb_path, as_version=4)
    ids = [cell.metadata["nbgrader"] for cell in nb.cells if "nbgrader" in cell.metadata]
    assert {"solution": True, "grade": False, "locked": False, "grade_id": "gram_matrix",
            "schema_version": 3} in ids
    assert {"solution": False, "grade": True, "locked": True, "points": 1, "grade_id": "check_gram_matrix",
            "schema_version": 3} in ids
    graded = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    graded[1].metadata["nbgrader"]["grade_id"] = graded[0].metadata["nbgrader"]["grade_id"]   # a duplicate
    nbformat.write(nb, nb_path)
    assert module.main(["--check", str(nb_path)]) != 0


def test_generate_assignment_releases_every_notebook_with_graded_cells(course):
    count = len(list(NOTEBOOKS.glob("*.ipynb")))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        cells = {a.name: [(c.name, c.max_score) for nb in a.notebooks for c in nb.grade_cells] for a in gb.assignments}
    assert len(cells) == count and len(list((course / "release").glob("*/*.ipynb"))) == count
    graded = [cell for cells_of in cells.values() for cell in cells_of if cell[1] > 0]
    assert len(graded) >= MIN_GRADED_CELLS, cells
    for name in cells:
        text = (course / "release" / name / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text, name


def test_autograde_gives_the_reference_full_marks(graded):
    names = sorted(path.name for path in (graded / "release").iterdir())
    for name in names:
        scores = _scores(graded, "reference", name)
        lost = {grade_id: score for grade_id, score in scores.items() if score[0] != score[1]}
        assert not lost, f"{name}: the reference solutions lose points on {lost}"


def test_graded_cells_show_only_their_checks_line_and_autograde_no_warnings(graded):
    """A check cell of the reference shows one line, the check's green one: no stray value (05's capstone showed
    an array), no second print; and autograde's own output has no SQLAlchemy SAWarning (teach/nbgrader_config.py)."""
    extra = []
    for path in sorted((graded / "autograded" / "reference").glob("*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                shown = _cell_text(cell).strip()
                if len(shown.splitlines()) != 1 or not shown.startswith("✔"):
                    extra.append(f"{path.stem} {cell.metadata['nbgrader']['grade_id']}: {shown[:300]!r}")
    assert not extra, "\n".join(extra)
    assert "SAWarning" not in (graded / "autograde.log").read_text(encoding="utf-8")


def test_nbgrader_validate_shows_the_diagnosis_of_a_wrong_function(graded):
    """What a learner's Validate prints for the submission with the wrong Gram matrix: the check's diagnosis, whole,
    though nbgrader cuts every line of an error at about 83 characters."""
    student = "gram_mistake"
    name = MISTAKES[student][0]
    done = nbgrader(graded, "validate", str(graded / "submitted" / student / name / f"{name}.ipynb"))
    shown = ANSI.sub("", done.stdout)
    assert "VALIDATION FAILED ON 1 CELL(S)" in shown, shown[-3000:]
    assert "check.gram_matrix(gram_matrix)" in shown and "wrong way round" in shown, shown[-3000:]
    lines = [line.strip() for line in shown.splitlines()]
    first = next(line for line in lines if line.startswith("✘ gram_matrix"))
    assert "wrong way round" in first, first
    assert not any(line.endswith("...") for line in lines if line.startswith("✘")), shown[-3000:]


def test_autograde_gives_the_released_stubs_zero(graded):
    scores = _scores(graded, "stubs", STUBS_NOTEBOOK)
    assert scores and all(score == 0 for score, _ in scores.values()), scores
    notebook = nbformat.read(graded / "autograded" / "stubs" / STUBS_NOTEBOOK / f"{STUBS_NOTEBOOK}.ipynb",
                             as_version=4)
    shown = _cell_text(_by_grade_id(notebook)["check_gram_matrix"])
    assert "not implemented" in shown, shown   # the learner is told what is missing, not shown a bare traceback


def _diagnosis(course: Path, name: str, function: str, source: str) -> str:
    """What the course's own check says about the mistake, run here as the notebook's check cell runs it."""
    from nstutils.course import check
    import numpy as np
    import tensorflow as tf

    notebook = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    check_cell = _by_grade_id(notebook)[f"check_{function}"].source
    check_name = re.search(rf"check\.(\w+)\(\s*{function}\s*\)", check_cell).group(1)
    namespace = {"np": np, "tf": tf}
    exec(source, namespace)
    with pytest.raises(AssertionError) as failed:
        getattr(check, check_name)(namespace[function])
    return str(failed.value)


@pytest.mark.parametrize("student", sorted(MISTAKES))
def test_autograde_takes_exactly_the_wrong_functions_points_and_says_why(graded, student):
    name, function, _ = MISTAKES[student]
    source = _wrong_source(graded, student)
    scores = _scores(graded, student, name)
    lost = {grade_id: score for grade_id, score in scores.items() if score[0] != score[1]}
    assert lost == {f"check_{function}": (0, 1)}, lost

    diagnosis = _diagnosis(graded, name, function, source)
    assert "not implemented" not in diagnosis and function in diagnosis, diagnosis
    first_line = diagnosis.strip().splitlines()[0]
    notebook = nbformat.read(graded / "autograded" / student / name / f"{name}.ipynb", as_version=4)
    shown = _cell_text(_by_grade_id(notebook)[f"check_{function}"])
    assert first_line in shown, f"the graded notebook shows:\n{shown}\nnot the diagnosis:\n{first_line}"

    page = graded / "feedback" / student / name / f"{name}.html"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    words = " ".join(text.split())              # the message is shown in lines of at most 78 characters
    assert " ".join(first_line.split()) in words, "the feedback page does not show the check's diagnosis"
    total = sum(maximum for _, maximum in scores.values())
    assert re.search(rf"Score:\s*{total - 1:g}(\.0+)?\s*/\s*{total:g}", text), "the feedback shows the score"


def test_tool_check_mode_refuses_a_grade_resting_on_more_than_the_learner_s_function(tmp_path):
    module = load_tool("nbgrader_cells")
    nb_path = tmp_path / "05_full_transfer.ipynb"
    shutil.copy(NOTEBOOKS / nb_path.name, nb_path)
    assert module.main([str(nb_path)]) == 0 and module.main(["--check", str(nb_path)]) == 0
    nb = nbformat.read(nb_path, as_version=4)
    cells = _by_grade_id(nb)
    # the check's inputs left to the editable answer cell: the learner could change what is graded
    check_cell = cells["check_answer_l2_tv_of_the_edge_of_the_ramp"]
    check_cell.source = "\n".join(line for line in check_cell.source.splitlines() if not line.startswith(("row", "edge")))
    cells["answer_l2_tv_of_the_edge_of_the_ramp"].source = (
        "edge, ramp = 1, 2\n" + cells["answer_l2_tv_of_the_edge_of_the_ramp"].source)
    nbformat.write(nb, nb_path)
    assert module.main(["--check", str(nb_path)]) == 1
    shutil.copy(NOTEBOOKS / nb_path.name, nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.insert(7, nbformat.v4.new_code_cell("assert total_variation_loss(tf.zeros([1, 2, 2, 3])) == 0"))
    nbformat.write(nb, nb_path)
    assert module.main([str(nb_path)]) == 0       # the metadata is written: the problem is the assert
    assert module.main(["--check", str(nb_path)]) == 1
