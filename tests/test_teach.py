"""The class image and Binder, what can be tested without a container (no Docker daemon runs here or in CI).

* ``binder/postBuild`` runs for real in a copy of the repository: ``teach/postBuild`` fills an empty cache with the
  VGG19 weights and the course images (the package is already installed, so its pip step is skipped; the weights
  are copied from this machine's cache when it holds them, else downloaded as a build would), then ``notebooks/``
  is replaced by nbgrader's student versions;
* ``teach/start-learner`` copies the student notebooks into the learner's home and never over their own work;
* ``teach/Dockerfile`` builds the student notebooks with the commands ``make student`` runs, serves them with
  ``jupyterhub-singleuser``, keeps the cache outside ``$HOME`` and read-only, and sets the learners' quality mode;
  ``.dockerignore`` keeps the virtual environment, ``.git`` and ``build/`` out of the build context.

tests/test_hub.py starts both start commands on a real JupyterHub.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ("vgg19_compact_v1.npz", "vgg19_compact_v1.npz.sha256")
DOCKERFILE = (ROOT / "teach" / "Dockerfile").read_text()


def _env(**extra: str) -> dict:
    env = dict(os.environ, **extra)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])   # nst, nbgrader
    return env


def test_binder_post_build_fills_an_empty_cache_and_leaves_only_student_notebooks(tmp_path):
    from nstutils.config import cache_dir

    repo = tmp_path / "repo"
    for folder in ("notebooks", "tools", "teach", "binder"):
        shutil.copytree(ROOT / folder, repo / folder)
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = cache_dir()
    if all((mine / name).is_file() for name in WEIGHTS):
        for name in WEIGHTS:
            shutil.copy(mine / name, cache / name)
    env = _env(NSTUTILS_CACHE_DIR=str(cache), NSTUTILS_POSTBUILD_SKIP_INSTALL="1")
    env.pop("NSTUTILS_WEIGHTS", None)
    done = subprocess.run(["bash", "binder/postBuild"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "VGG19 weights ready" in done.stdout and "postBuild: VGG19 weights and course images cached" in done.stdout
    assert (cache / "vgg19_compact_v1.npz").is_file()
    notebooks = sorted(path.name for path in (repo / "notebooks").glob("*.ipynb"))
    assert notebooks == sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
    for name in notebooks:
        text = (repo / "notebooks" / name).read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text, name


def test_start_learner_copies_the_student_notebooks_once_and_keeps_the_learners_work(tmp_path):
    student, home, bin_dir = tmp_path / "student", tmp_path / "home", tmp_path / "bin"
    for folder in (student, home, bin_dir):
        folder.mkdir()
    (student / "01_a.ipynb").write_text("release 01")
    (student / "02_b.ipynb").write_text("release 02")
    server = bin_dir / "jupyterhub-singleuser"        # what the hub's single-user server is started with
    server.write_text('#!/usr/bin/env bash\necho "single-user server in $PWD with $*"\n')
    server.chmod(0o755)
    env = dict(os.environ, HOME=str(home), NSTUTILS_STUDENT_NOTEBOOKS=str(student), JUPYTERHUB_API_TOKEN="x",
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    start = ["bash", str(ROOT / "teach" / "start-learner"), "--port=1"]
    done = subprocess.run(start, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"single-user server in {home} with --port=1"
    assert (home / "nstutils" / "01_a.ipynb").read_text() == "release 01"
    (home / "nstutils" / "01_a.ipynb").write_text("the learner's answers")
    (student / "03_c.ipynb").write_text("release 03")                      # a new notebook in a new image
    assert subprocess.run(start, env=env, capture_output=True, text=True, timeout=60).returncode == 0
    assert (home / "nstutils" / "01_a.ipynb").read_text() == "the learner's answers"
    assert sorted(p.name for p in (home / "nstutils").iterdir()) == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]


def test_the_dockerfile_serves_the_student_notebooks_with_jupyterhub_singleuser():
    stages = DOCKERFILE.split("\nFROM ")
    learner = next(stage for stage in stages if stage.startswith("base AS learner"))
    instructor = next(stage for stage in stages if stage.startswith("base AS instructor"))
    # the student notebooks are made by nbgrader with make student's commands, and only they reach the learner
    assert "python tools/nbgrader_cells.py --course /opt/nstutils/course notebooks" in DOCKERFILE
    assert 'nbgrader generate_assignment "*"' in DOCKERFILE
    makefile = (ROOT / "Makefile").read_text()
    assert "tools/nbgrader_cells.py --course $(COURSE) notebooks" in makefile and "generate_assignment" in makefile
    assert "COPY --from=course /opt/nstutils/student /opt/nstutils/student" in learner
    assert "/opt/nstutils/course" not in learner and "COPY . ." not in learner and "notebooks" not in learner
    assert "COPY teach/learner /etc/nstutils/jupyter" in learner
    assert "JUPYTER_CONFIG_PATH=/etc/nstutils/jupyter" in learner
    assert "NSTUTILS_FAST=0" in learner and 'CMD ["bash", "/usr/local/bin/start-learner"]' in learner
    assert stages[-1].startswith("base AS learner")                        # the default target
    assert 'CMD ["bash", "/usr/local/bin/start-instructor"]' in instructor
    for script in ("start-learner", "start-instructor"):
        assert "exec jupyterhub-singleuser" in (ROOT / "teach" / script).read_text()
    # the package from a wheel, the single-user server, nbgrader at the tested version
    assert '"jupyterhub' in DOCKERFILE and "nbgrader==0.9.6" in DOCKERFILE and "pip wheel" in DOCKERFILE
    # the weights and images: a shared cache outside $HOME, filled at build time, read-only for the learners
    assert "NSTUTILS_CACHE_DIR=/opt/nstutils/cache" in DOCKERFILE and "/home/" not in DOCKERFILE.split(
        "NSTUTILS_CACHE_DIR=")[1].split()[0]
    assert "bash /opt/nstutils/postBuild" in DOCKERFILE and "chmod -R a+rX,go-w /opt/nstutils/cache" in DOCKERFILE
    assert DOCKERFILE.index("postBuild") < DOCKERFILE.index("USER learner")   # filled by root, before the learner


def test_dockerignore_keeps_the_environment_git_and_builds_out_of_the_context():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        return any(fnmatch.fnmatch("/".join(parts[:n]), pattern.replace("**/", "*"))
                   for pattern in patterns for n in range(1, len(parts) + 1))

    for path in (".venv/lib/python3.11/site-packages/tensorflow/__init__.py", ".git/HEAD", "build/course/x.ipynb",
                 "outputs/tubingen_starry_night.jpg", "nstutils/__pycache__/config.cpython-311.pyc"):
        assert ignored(path), path
    for path in ("nstutils/losses.py", "notebooks/03_gram_style.ipynb", "tools/nbgrader_cells.py",
                 "teach/postBuild", "teach/learner/nbgrader_config.py", "pyproject.toml", "README.md", "LICENSE"):
        assert not ignored(path), path
