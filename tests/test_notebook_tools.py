"""The notebook checker used by `make test`: outputs and unnormalised JSON are caught, clean passes."""

from __future__ import annotations

import importlib.util
import os
import re
import json
import sys
from pathlib import Path


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
main, normalised_text, problems = tool.main, tool.normalised_text, tool.problems


def _notebook(outputs):
    return {"cells": [{"cell_type": "code", "execution_count": 3 if outputs else None, "metadata": {},
                       "outputs": outputs, "source": "1 + 1"}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_outputs_are_reported_and_cleaned(tmp_path):
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(_notebook([{"output_type": "execute_result", "data": {"text/plain": "2"},
                                           "execution_count": 3, "metadata": {}}])))
    found = problems(path)
    assert "cell 0 has outputs" in found and "cell 0 has an execution count" in found
    assert main(["check", str(tmp_path)]) == 1
    assert main(["clean", str(tmp_path)]) == 0
    assert problems(path) == [] and main(["check", str(tmp_path)]) == 0


def test_unnormalised_json_is_reported(tmp_path):
    path = tmp_path / "compact.ipynb"
    path.write_text(json.dumps(_notebook([])))  # no indentation
    assert problems(path) == ["not normalised (run `make clean-notebooks`)"]
    path.write_text(normalised_text(_notebook([])))
    assert problems(path) == []


# --- student notebooks: solutions replaced by stubs ------------------------------------------

import pytest  # noqa: E402

STUB, SolutionMarkerError, clear_solutions = tool.STUB, tool.SolutionMarkerError, tool.clear_solutions
solution_cells, solution_count = tool.solution_cells, tool.solution_count
student_notebook, write_student = tool.student_notebook, tool.write_student

SOLVED = ("import numpy as np\n"
          "\n"
          "def gram_matrix(F):\n"
          "    \"\"\"[B, H, W, C] -> [B, C, C].\"\"\"\n"
          "    ### BEGIN SOLUTION\n"
          "    b, h, w, c = F.shape\n"
          "    x = tf.reshape(F, [b, h * w, c])\n"
          "    return tf.matmul(x, x, transpose_a=True) / (h * w)\n"
          "    ### END SOLUTION\n"
          "\n"
          "print('defined')")


def _course_notebook(source=SOLVED, as_list=True):
    code = {"cell_type": "code", "execution_count": None, "id": "c2", "metadata": {"tags": ["your-turn"]},
            "outputs": [], "source": source.splitlines(keepends=True) if as_list else source}
    return {"cells": [{"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["## Your turn"]},
                      code,
                      {"cell_type": "code", "execution_count": None, "id": "c3", "metadata": {}, "outputs": [],
                       "source": ["check.gram_matrix(gram_matrix)"]}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def test_stub_replaces_exactly_the_solution_at_its_indentation():
    student = student_notebook(_course_notebook())
    assert "".join(student["cells"][1]["source"]) == (
        "import numpy as np\n"
        "\n"
        "def gram_matrix(F):\n"
        "    \"\"\"[B, H, W, C] -> [B, C, C].\"\"\"\n"
        f"    {STUB}\n"
        "\n"
        "print('defined')")
    assert STUB == 'raise NotImplementedError("Your code here")'


def test_nothing_but_the_solution_changes():
    original = _course_notebook()
    student = student_notebook(original)
    assert original == _course_notebook()          # the input is not modified
    assert student["metadata"] == original["metadata"] and len(student["cells"]) == 3
    for before, after in zip(original["cells"], student["cells"]):
        assert {k: v for k, v in before.items() if k != "source"} == {k: v for k, v in after.items() if k != "source"}
    assert student["cells"][0] == original["cells"][0] and student["cells"][2] == original["cells"][2]
    assert isinstance(student["cells"][1]["source"], list)
    compiled = compile("".join(student["cells"][1]["source"]), "cell", "exec")   # still valid Python
    assert compiled


def test_string_sources_multiple_regions_and_end_at_the_last_line():
    source = ("def a():\n  ### BEGIN SOLUTION\n  return 1\n  ### END SOLUTION\n\n"
              "class B:\n    def f(self):\n        #### BEGIN SOLUTION  \n        return 2\n        ### END SOLUTION")
    text, count = clear_solutions(source)
    assert count == 2
    assert text == f"def a():\n  {STUB}\n\nclass B:\n    def f(self):\n        {STUB}"
    student = student_notebook(_course_notebook(source, as_list=False))
    assert student["cells"][1]["source"] == text
    assert solution_count(_course_notebook(source)) == 2 and solution_cells(_course_notebook(source)) == [(1, 2)]


def test_markers_are_gone():
    text = "".join(student_notebook(_course_notebook())["cells"][1]["source"])
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "tf.matmul" not in text


@pytest.mark.parametrize("source, phrase", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "on line 2 has no ### END SOLUTION"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "on line 3 without a ### BEGIN SOLUTION"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", "cannot nest"),
])
def test_unbalanced_markers_name_the_notebook_and_cell(source, phrase):
    with pytest.raises(SolutionMarkerError) as info:
        student_notebook(_course_notebook(source), "03_gram_style.ipynb")
    assert "03_gram_style.ipynb, cell 1" in str(info.value) and phrase in str(info.value)


def test_markers_outside_code_cells_are_refused():
    nb = _course_notebook()
    nb["cells"][0]["source"] = ["### BEGIN SOLUTION\n", "the answer\n", "### END SOLUTION"]
    with pytest.raises(SolutionMarkerError, match="02_content.ipynb, cell 0: solution markers belong in code"):
        student_notebook(nb, "02_content.ipynb")


def test_notebooks_without_markers_are_unchanged_and_the_folder_is_written(tmp_path):
    src, out = tmp_path / "notebooks", tmp_path / "build" / "student"
    src.mkdir()
    plain = _notebook([])
    (src / "00_plain.ipynb").write_text(normalised_text(plain))
    (src / "03_gram.ipynb").write_text(normalised_text(_course_notebook()))
    assert student_notebook(plain) == plain and solution_count(plain) == 0
    assert main(["student", str(src), str(out)]) == 0
    assert (out / "00_plain.ipynb").read_text() == (src / "00_plain.ipynb").read_text()
    written = json.loads((out / "03_gram.ipynb").read_text())
    assert (out / "03_gram.ipynb").read_text() == normalised_text(written)
    assert STUB in "".join(written["cells"][1]["source"]) and problems(out / "03_gram.ipynb") == []
    assert [(p.name, n) for p, n in write_student(src, out)] == [("00_plain.ipynb", 0), ("03_gram.ipynb", 1)]


def test_student_command_reports_bad_markers_and_writes_nothing(tmp_path, capsys):
    src, out = tmp_path / "notebooks", tmp_path / "student"
    src.mkdir()
    (src / "01_bad.ipynb").write_text(normalised_text(_course_notebook("def f():\n    ### BEGIN SOLUTION\n")))
    assert main(["student", str(src), str(out)]) == 2
    assert "01_bad.ipynb, cell 1" in capsys.readouterr().err and not out.exists()


# --- the course notebooks' shape: one H1, Overview with run time, a short Setup cell, Summary, Exercises ----

COURSE = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0[0-6]_*.ipynb"))


def _text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


@pytest.mark.parametrize("path", COURSE, ids=[p.stem for p in COURSE])
def test_every_notebook_has_the_course_shape(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = "\n".join(_text(c) for c in cells if c["cell_type"] == "markdown")
    lines = markdown.splitlines()
    assert sum(line.startswith("# ") for line in lines) == 1, "exactly one H1"
    headings = [line[3:].strip() for line in lines if line.startswith("## ")]
    assert headings[:2] == ["Overview", "Setup"] and "Summary" in headings and headings[-1] == "Exercises", headings
    overview = markdown.split("## Overview", 1)[1].split("## Setup", 1)[0]
    assert "Run time" in overview and re.search(r"learn|You\s+will", overview), "Overview: what you learn, run time"
    setup = next(_text(c) for c in cells if c["cell_type"] == "code")
    assert len(setup.splitlines()) <= 20, f"Setup cell has {len(setup.splitlines())} lines"
    assert "from nstutils.course.notebook_setup import setup" in setup and "setup()" in setup
    before_setup = setup.split("setup()", 1)[0]
    assert "import tensorflow" not in before_setup, "TensorFlow must be imported after setup() quiets it"


def test_setup_quiets_tensorflow_before_it_loads(monkeypatch):
    from nstutils.course import notebook_setup

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert notebook_setup.quiet_tensorflow() is True
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == notebook_setup.QUIET_TF_LEVEL
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")   # a learner who wants the lines keeps them
    notebook_setup.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_a_fresh_kernel_prints_no_tensorflow_start_up_lines():
    import subprocess

    code = ("from nstutils.course.notebook_setup import setup\nsetup()\n"
            "import tensorflow as tf\nprint(float(tf.reduce_sum(tf.ones([2, 2]))))")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["NSTUTILS_FAST"] = "1"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["fast mode (NSTUTILS_FAST=1): small images and few steps, for a quick run",
                                        "4.0"]
    assert "oneDNN" not in done.stderr and "cpu_feature_guard" not in done.stderr, done.stderr
