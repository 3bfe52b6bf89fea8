"""nbgrader configuration of a learner's server. teach/learner/ is the learners' Jupyter configuration folder: the
class image puts it on JUPYTER_CONFIG_PATH, and tests/test_hub.py gives it to each learner's server on a real hub.

The same course id and exchange as the instructor's ``teach/nbgrader_config.py`` (tests/test_hub.py checks that
they agree), and the learner's **hub name** as their student id: nbgrader's own default is the operating-system
user, which is the same for every learner of a hub whose servers run as one user (every container of an image,
or every process of a local spawner), so every submission would be filed under one name.
"""
import os

c = get_config()  # noqa: F821 -- nbgrader provides get_config when it loads this file

c.CourseDirectory.course_id = "nstutils"
c.Exchange.root = os.environ.get("NSTUTILS_EXCHANGE", "/srv/nbgrader/exchange")

# JupyterHub sets JUPYTERHUB_USER in every single-user server it spawns: submit and fetch_feedback file under it.
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]

# Validate runs the whole notebook, in fast mode whatever the learner's kernel runs in (the image runs them at full
# quality): the checks are the same in both modes, and Validate answers in seconds instead of a lesson's minutes,
# as autograde does (teach/nbgrader_config.py). The timeout catches an endless loop, not a slow server.
c.Execute.extra_arguments = ["--IPKernelApp.exec_lines=import os; os.environ['NSTUTILS_FAST'] = '1'"]
c.Execute.timeout = 600                          # seconds per cell
c.Execute.startup_timeout = 180                  # a kernel importing TensorFlow on a loaded server
