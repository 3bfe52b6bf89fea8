"""nbgrader runs the course as a teacher would (issue 21, part 1).

A course folder in a temporary directory, laid out as ``nbgrader quickstart`` would, with the shipped
``teach/nbgrader_config.py`` at its root and one assignment per notebook
(``source/03_gram_style/03_gram_style.ipynb``): a notebook is one unit of work a teacher releases,
collects and grades on its own. ``tools/nbgrader_cells.py`` writes the cell metadata into copies of the
repository's notebooks, then nbgrader itself, by its command line and default settings:

* ``generate_assignment`` releases all eight (exit 0, at least 30 graded cells with points);
* ``autograde`` gives the reference solutions full marks in every notebook, the released stubs 0, and a
  submission with exactly one wrong function full marks minus that function's points, with the check's
  diagnosis in the graded notebook;
* ``generate_feedback`` writes HTML that shows the diagnosis.

Scores are read from the gradebook. Notebooks run in fast mode (``NSTUTILS_FAST=1``); the stubs and the mistake
are graded on the one notebook they concern, the reference on all eight.
"""
from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import nbformat
import pytest

if os.environ.get("CI"):
    import nbgrader  # noqa: F401 -- in CI a missing nbgrader is a failure, not a skip
else:
    pytest.importorskip("nbgrader", reason="nbgrader is in the test extra: pip install -e '.[test]'")
from nbgrader.api import Gradebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TOOL = ROOT / "tools" / "nbgrader_cells.py"
CONFIG = ROOT / "teach" / "nbgrader_config.py"
COURSE_ID = "nstutils"
MIN_GRADED_CELLS = 30

# The one wrong function: 01's convolution with the kernel flipped (the mathematical convolution, not the
# cross-correlation CNNs compute), a learner's classic. No other graded cell calls convolution, so exactly its
# point goes. (A wrong gram_matrix would also fail the checks of layer_style_loss, style_loss, tile and the
# mirrored-painting answer, whose reference solutions call the learner's gram_matrix: 5 points for one mistake.)
MISTAKE_NOTEBOOK = "01_cnn_features"
MISTAKE_FUNCTION = "convolution"
MISTAKE_SOURCE = '''def convolution(image, kernel):
    """'Valid' 2-D cross-correlation: image [H, W], kernel [kh, kw] -> [H - kh + 1, W - kw + 1]."""
    kernel = kernel[::-1, ::-1]
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out
'''
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tool():
    """tools/nbgrader_cells.py (a script beside the package, not in the wheel)."""
    if "nbgrader_cells" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nbgrader_cells", TOOL)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nbgrader_cells"] = module
        spec.loader.exec_module(module)
    return sys.modules["nbgrader_cells"]


def _env() -> Dict[str, str]:
    env = dict(os.environ, NSTUTILS_FAST="1", PYTHONUNBUFFERED="1")
    # nbgrader runs `alembic` by name when it creates the gradebook: the environment's scripts must be on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=_env(),
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done


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
    """The course folder with every notebook's metadata written and every assignment generated."""
    names = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))
    assert len(names) == 8, names
    course = tmp_path_factory.mktemp("course")
    shutil.copy(CONFIG, course / "nbgrader_config.py")
    for name in names:
        (course / "source" / name).mkdir(parents=True)
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", course / "source" / name)
    sources = [str(course / "source" / name / f"{name}.ipynb") for name in names]
    for args in (sources, ["--check", *sources]):   # write, then the CI check passes on what was written
        done = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    nbgrader(course, "generate_assignment", "*")   # every assignment in source/, in one run
    return course


def _reference(course: Path, name: str) -> Dict[str, str]:
    nb = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    return {grade_id: cell.source for grade_id, cell in _by_grade_id(nb).items()
            if cell.metadata["nbgrader"]["solution"]}


def test_tool_check_mode_finds_missing_and_duplicate_ids(tmp_path):
    nb_path = tmp_path / "03_gram_style.ipynb"
    shutil.copy(NOTEBOOKS / nb_path.name, nb_path)
    module = _tool()
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
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        cells = {a.name: [(c.name, c.max_score) for nb in a.notebooks for c in nb.grade_cells] for a in gb.assignments}
    assert len(cells) == 8 and len(list((course / "release").glob("*/*.ipynb"))) == 8
    graded = [cell for cells_of in cells.values() for cell in cells_of if cell[1] > 0]
    assert len(graded) >= MIN_GRADED_CELLS, cells
    for name in cells:
        text = (course / "release" / name / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text, name


def test_autograde_gives_the_reference_full_marks(course):
    names = sorted(path.name for path in (course / "release").iterdir())
    for name in names:
        _submit(course, "reference", name, _reference(course, name))
    nbgrader(course, "autograde", "*", "--student", "reference")
    for name in names:
        scores = _scores(course, "reference", name)
        lost = {grade_id: score for grade_id, score in scores.items() if score[0] != score[1]}
        assert not lost, f"{name}: the reference solutions lose points on {lost}"


def test_autograde_gives_the_released_stubs_zero(course):
    _submit(course, "stubs", MISTAKE_NOTEBOOK, {})
    nbgrader(course, "autograde", MISTAKE_NOTEBOOK, "--student", "stubs")
    scores = _scores(course, "stubs", MISTAKE_NOTEBOOK)
    assert scores and all(score == 0 for score, _ in scores.values()), scores
    graded = nbformat.read(course / "autograded" / "stubs" / MISTAKE_NOTEBOOK / f"{MISTAKE_NOTEBOOK}.ipynb",
                           as_version=4)
    shown = _cell_text(_by_grade_id(graded)[f"check_{MISTAKE_FUNCTION}"])
    assert "not implemented" in shown, shown   # the learner is told what is missing, not shown a bare traceback


def _diagnosis(course: Path) -> str:
    """What the course's own check says about the mistake, run here as the notebook's check cell runs it."""
    try:
        from nstutils.course import check
    except ImportError:   # before the course modules moved
        from nstutils import check
    import numpy as np
    import tensorflow as tf

    source = nbformat.read(course / "source" / MISTAKE_NOTEBOOK / f"{MISTAKE_NOTEBOOK}.ipynb", as_version=4)
    check_cell = _by_grade_id(source)[f"check_{MISTAKE_FUNCTION}"].source
    name = re.search(rf"check\.(\w+)\(\s*{MISTAKE_FUNCTION}\s*\)", check_cell).group(1)
    namespace = {"np": np, "tf": tf}
    exec(MISTAKE_SOURCE, namespace)
    with pytest.raises(AssertionError) as failed:
        getattr(check, name)(namespace[MISTAKE_FUNCTION])
    return str(failed.value)


def test_autograde_takes_exactly_the_wrong_functions_points_and_says_why(course):
    solutions = _reference(course, MISTAKE_NOTEBOOK)
    assert MISTAKE_FUNCTION in solutions
    solutions[MISTAKE_FUNCTION] = MISTAKE_SOURCE
    _submit(course, "one_mistake", MISTAKE_NOTEBOOK, solutions)
    nbgrader(course, "autograde", MISTAKE_NOTEBOOK, "--student", "one_mistake")

    scores = _scores(course, "one_mistake", MISTAKE_NOTEBOOK)
    lost = {grade_id: score for grade_id, score in scores.items() if score[0] != score[1]}
    assert lost == {f"check_{MISTAKE_FUNCTION}": (0, 1)}, lost

    diagnosis = _diagnosis(course)
    assert "not implemented" not in diagnosis and MISTAKE_FUNCTION in diagnosis, diagnosis
    first_line = diagnosis.strip().splitlines()[0]
    graded = nbformat.read(course / "autograded" / "one_mistake" / MISTAKE_NOTEBOOK / f"{MISTAKE_NOTEBOOK}.ipynb",
                           as_version=4)
    shown = _cell_text(_by_grade_id(graded)[f"check_{MISTAKE_FUNCTION}"])
    assert first_line in shown, f"the graded notebook shows:\n{shown}\nnot the diagnosis:\n{first_line}"

    nbgrader(course, "generate_feedback", MISTAKE_NOTEBOOK, "--student", "one_mistake")
    page = course / "feedback" / "one_mistake" / MISTAKE_NOTEBOOK / f"{MISTAKE_NOTEBOOK}.html"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    assert first_line in text, "the feedback page does not show the check's diagnosis"
    total = sum(maximum for _, maximum in scores.values())
    assert re.search(rf"Score:\s*{total - 1:g}(\.0+)?\s*/\s*{total:g}", text), "the feedback shows the score"
