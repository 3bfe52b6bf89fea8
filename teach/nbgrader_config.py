"""nbgrader configuration of the nstutils course: the instructor's side (tested by tests/test_nbgrader.py and
tests/test_hub.py).

It lives at the root of the course folder (where ``source/``, ``release/``, ``submitted/`` and ``gradebook.db``
live; ``make student`` and the instructor's image put it there), one assignment per notebook,
``source/<notebook name>/<notebook name>.ipynb``. Run nbgrader from that folder:

    nbgrader generate_assignment 03_gram_style    # the student version, solutions replaced by stubs
    nbgrader release_assignment 03_gram_style     # into the exchange below
    nbgrader collect 03_gram_style
    nbgrader autograde 03_gram_style              # in the quality mode set below, whatever the shell says
    nbgrader generate_feedback 03_gram_style
    nbgrader release_feedback 03_gram_style

The learners' side is ``teach/learner_nbgrader_config.py``: the same course id and exchange, and each learner's
hub name as their student id. The notebooks carry their nbgrader cell metadata (written by
``tools/nbgrader_cells.py``): each your-turn cell is a solution cell, the check after it a locked autograder test.
"""
import os
import warnings

c = get_config()  # noqa: F821 -- nbgrader provides get_config when it loads this file

c.CourseDirectory.course_id = "nstutils"

# The exchange: a folder every learner's server and the instructor's can reach (on a hub, one shared volume).
# Set here, never left to nbgrader's built-in default under the system's share folder. NSTUTILS_EXCHANGE moves it
# (tests/test_hub.py uses a temporary one); teach/learner_nbgrader_config.py names the same folder.
c.Exchange.root = os.environ.get("NSTUTILS_EXCHANGE", "/srv/nbgrader/exchange")

# The quality mode of autograde is the course's decision: fast. The checks are the same in both modes and a
# notebook grades in seconds instead of minutes. The grading kernels get it at start-up (and only they: the
# instructor's own kernels keep their mode), so the grader's shell cannot change a grade.
GRADE_FAST = True
c.Execute.extra_arguments = [f"--IPKernelApp.exec_lines=import os; os.environ['NSTUTILS_FAST'] = "
                             f"'{1 if GRADE_FAST else 0}'"]

# A cell may take a few seconds in fast mode and several minutes at full quality (04's Figure 4 grid took 7 min
# on 2 cores, 07 takes about 15 min in all): the timeout catches a learner's endless loop, not a slow machine.
c.Execute.timeout = 600 if GRADE_FAST else 3600   # seconds per cell
c.Execute.startup_timeout = 180                   # a kernel importing TensorFlow on a loaded server

# A learner's stub is nbgrader's default, which the checks recognise ("... is not implemented yet").
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# nbgrader 0.9.6's gradebook trips SQLAlchemy 2's autoflush warnings ("Object of type <SubmittedAssignment> not in
# session, add operation along ... will not proceed") on every autograde: they say nothing about a grade.
warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session")
