"""nbgrader configuration for the nstutils course (tested by tests/test_nbgrader.py).

Copy this file into the root of an nbgrader course folder (where ``source/``, ``release/``, ``submitted/``
and ``gradebook.db`` live) and put each course notebook in its own assignment,
``source/<notebook name>/<notebook name>.ipynb`` (``source/03_gram_style/03_gram_style.ipynb``): one notebook is
one week's work, released, collected and graded on its own.

    nbgrader generate_assignment 03_gram_style       # the student version, solutions replaced by stubs
    NSTUTILS_FAST=1 nbgrader autograde 03_gram_style   # grades in seconds per notebook, same checks
    nbgrader generate_feedback 03_gram_style

The notebooks carry their nbgrader cell metadata (written by ``tools/nbgrader_cells.py``): each your-turn cell
is a solution cell, the check after it a locked autograder test worth one point.
"""
import os

c = get_config()  # noqa: F821 -- nbgrader provides get_config when it loads this file

c.CourseDirectory.course_id = "nstutils"

# Autograde runs every cell of a submission. A cell may take a few seconds with NSTUTILS_FAST=1 (the CI runs all
# eight notebooks in about 100 s on 2 cores) and several minutes at full quality (04's Figure 4 grid took 7 min on
# 2 cores, 07 takes about 15 min in all): the timeout catches a learner's endless loop, not a slow machine.
FAST = os.environ.get("NSTUTILS_FAST", "").strip().lower() in {"1", "true", "yes", "on"}
c.Execute.timeout = 600 if FAST else 3600        # seconds per cell
c.Execute.startup_timeout = 180                  # a kernel importing TensorFlow on a loaded server

# A learner's stub is nbgrader's default, which the checks recognise ("... is not implemented yet").
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
