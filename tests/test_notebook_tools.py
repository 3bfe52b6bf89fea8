"""The notebook checker used by `make test`: outputs and unnormalised JSON are caught, clean passes."""

from __future__ import annotations

import os
import re
import json
import sys
from pathlib import Path

import nbformat
import pytest

from course_tools import load_tool

tool = load_tool("notebooks")
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


import pytest  # noqa: E402  (the student notebooks are nbgrader's: tests/test_student.py)


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


def test_readme_shows_the_measured_notebook_costs():
    tool = load_tool("measure_notebooks")
    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "teach" / "notebook_costs.json").read_text())
    assert tool.table(report) in (root / "README.md").read_text(), \
        "README's class-server table is stale: paste `python tools/measure_notebooks.py --table`"
    one = tool.table({"05_full_transfer": {"full": {"seconds": 905.4, "peak_gib": 2.345, "warm_seconds": 61.2}}})
    assert one.splitlines()[-1] == \
        "| 05_full_transfer | not measured | 15 min 05 s, 2.35 GiB | 1 min 01 s | not measured |"


def test_readme_cell_timings_are_the_measured_ones():
    """The minutes README gives for the whole course and 00's slowest cells are teach/notebook_costs.json's."""
    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "teach" / "notebook_costs.json").read_text())
    readme = " ".join((root / "README.md").read_text().split())
    minutes = {(name, heading): seconds / 60 for name, modes in report.items()
               for _, heading, seconds in modes.get("full", {}).get("slow_cells", [])}
    first = minutes["00_welcome", "Look at a finished result"]
    gallery = minutes["00_welcome", "Paint one photo in five styles"]
    assert f"takes {first:.1f} min and its gallery (five paintings, 192 px, 50 steps) {gallery:.1f} min" in readme
    total = sum(modes["full"]["seconds"] for modes in report.values() if "full" in modes) / 60
    again = sum(modes["full"].get("warm_seconds", 0) for modes in report.values() if "full" in modes) / 60
    assert f"the whole course takes {total:.0f} min at full quality" in readme
    assert f"{again:.0f} min when run again with its results kept" in readme
    capstone = minutes["05_full_transfer", "Paint with your own functions"]   # never served from the cache
    assert f"{capstone:.1f} of them 05's capstone" in readme


def test_every_recorded_full_quality_run_fits_the_lesson_budget():
    """The measurements README states keep the course's promise: each notebook at full quality in a lesson and a
    seat (10 min and 2 GiB without fast bfloat16, 5 min with it), the whole course within an hour; a measurement
    over budget fails here until the budget (nstutils/course/budget.py) is cut."""
    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "teach" / "notebook_costs.json").read_text())
    limits = {"full": 600, "full_bfloat16": 300}
    for name, modes in report.items():
        for kind, seconds in limits.items():
            if kind in modes:
                assert modes[kind]["seconds"] <= seconds, f"{name} at full quality ({kind}) is over a lesson"
                assert modes[kind]["peak_gib"] <= 2.0, f"{name} at full quality ({kind}) is over a seat's 2 GiB"
    assert sum(modes["full"]["seconds"] for modes in report.values() if "full" in modes) <= 3600
    assert all("full" in modes or "full_bfloat16" in modes for modes in report.values())


def test_every_overview_states_the_measured_run_time():
    tool = load_tool("measure_notebooks")
    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "teach" / "notebook_costs.json").read_text())
    for name, modes in report.items():
        if not tool.measured_in_both_modes(modes):
            continue
        overview = next(c for c in nbformat.read(root / "notebooks" / f"{name}.ipynb", as_version=4).cells
                        if "**Run time**" in c.source).source
        assert tool.with_run_time(overview, tool.run_time(modes)) == overview, \
            f"{name}'s Overview run time is stale: run `python tools/measure_notebooks.py --overviews`"
    cell = "Learn this.\n\n**Run time** old words\nover two lines.\n\nNext paragraph."
    assert tool.with_run_time(cell, "**Run time** new.") == "Learn this.\n\n**Run time** new.\n\nNext paragraph."
    with pytest.raises(ValueError, match="both modes"):
        tool.run_time({"fast": {"seconds": 1}})
    same = {"seconds": 30, "peak_gib": 0.9, "cpu": "AMD EPYC, family 25", "date": "2026-12-01"}
    both = tool.run_time({"full": {**same, "seconds": 600, "warm_seconds": 20}, "fast": same})
    assert "on a CPU without bfloat16 10 min 00 s and 0.90 GiB, 20 s when run again with its results kept (an AMD " \
           "EPYC, family 25, 2026-12-01)" in both
    assert "on a CPU with bfloat16 not measured yet" in both and "`NSTUTILS_FAST=1`: 30 s (an AMD EPYC" in both
    other = tool.run_time({"full_bfloat16": {**same, "seconds": 200}, "fast": same})
    assert "on a CPU without bfloat16 not measured yet; on a CPU with bfloat16 3 min 20 s and 0.90 GiB" in other
    assert tool.mode_key(False, True) == "full_bfloat16" and tool.mode_key(True, True) == "fast"


def test_measure_times_a_notebook_in_its_own_kernel_and_names_the_slow_cells(tmp_path, monkeypatch):
    tool = load_tool("measure_notebooks")
    monkeypatch.setattr(tool, "SLOW_CELL_SECONDS", 0.5)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Wait a little\n\nWhy we wait."),
        nbformat.v4.new_code_cell("import time\ntime.sleep(0.8)"),
        nbformat.v4.new_code_cell("x = [0] * 10"),
    ])
    path = tmp_path / "wait.ipynb"
    nbformat.write(notebook, str(path))
    result = tool.measure(path, timeout=60, keep=tmp_path / "kept")
    assert [cell[:2] for cell in result["slow_cells"]] == [[1, "Wait a little"]]
    assert 0.8 <= result["slow_cells"][0][2] < result["seconds"]
    assert result["peak_gib"] > 0.01   # a Python kernel's resident memory, sampled
    assert (tmp_path / "kept" / "wait.ipynb").exists()


def test_the_stopping_rule_in_the_texts_is_the_default_one():
    """The texts that state the stopping rule in numbers state RunSettings' defaults (they once said 0.5 % after the
    default became 0.7 %)."""
    from nstutils.settings import RunSettings

    root = Path(__file__).resolve().parents[1]
    texts = {path.name: path.read_text() for path in [root / "README.md", *sorted((root / "notebooks").glob("*.ipynb"))]}
    rule = re.compile(r"`?stop_tolerance`? \((\d+(?:\.\d+)?) ?%\)|less than (\d+(?:\.\d+)?) ?% over (?:the last )?(\d+)")
    found = [(name, match) for name, text in texts.items() for match in rule.finditer(text)]
    assert {name for name, _ in found} >= {"README.md", "00_welcome.ipynb", "05_full_transfer.ipynb"}
    default = RunSettings()
    for name, match in found:
        percent = float(match[1] or match[2])
        assert percent == pytest.approx(100 * default.stop_tolerance), (name, match[0])
        assert match[3] in (None, str(default.stop_window)), (name, match[0])
    windows = [(name, window) for name, text in texts.items() for window in re.findall(r"`stop_window` \((\d+)\)", text)]
    assert {name for name, _ in windows} >= {"00_welcome.ipynb", "05_full_transfer.ipynb"}
    assert all(window == str(default.stop_window) for _, window in windows), windows


def test_start_up_notices_are_dropped_and_errors_kept(capfd):
    from nstutils.course.notebook_setup import start_up_notices_dropped

    with start_up_notices_dropped():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1796218027.050338    6715 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"E0000 00:00:1796218027.050338    6715 something failed\n")
    assert capfd.readouterr().err == "E0000 00:00:1796218027.050338    6715 something failed\n"
