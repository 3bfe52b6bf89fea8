"""The course image's build steps that need no container (teach/postBuild), and the Dockerfile that runs them.

teach/postBuild fetches, at build time, what each learner's kernel would otherwise download: the VGG19 weights
and the course images. Here it runs against an empty temporary NSTUTILS_CACHE_DIR (the package is already
installed, so its pip step is skipped); the weights are copied from this machine's cache when it holds them,
so the test needs no network then, and downloads them otherwise, as a build would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ("vgg19_compact_v1.npz", "vgg19_compact_v1.npz.sha256")


def test_post_build_fills_an_empty_cache_that_then_works(tmp_path):
    from nstutils.config import cache_dir

    cache = tmp_path / "cache"
    cache.mkdir()
    mine = cache_dir()
    if all((mine / name).is_file() for name in WEIGHTS):
        for name in WEIGHTS:
            shutil.copy(mine / name, cache / name)
    env = dict(os.environ, NSTUTILS_CACHE_DIR=str(cache), NSTUTILS_POSTBUILD_SKIP_INSTALL="1")
    env.pop("NSTUTILS_WEIGHTS", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])   # nst, python
    done = subprocess.run(["bash", str(ROOT / "teach" / "postBuild")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "VGG19 weights ready" in done.stdout and "postBuild: VGG19 weights and course images cached" in done.stdout
    assert (cache / "vgg19_compact_v1.npz").is_file()


def test_the_dockerfile_installs_the_course_and_runs_post_build():
    dockerfile = (ROOT / "teach" / "Dockerfile").read_text()
    assert 'pip install --no-cache-dir -e ".[cpu,course]" nbgrader==0.9.6' in dockerfile
    assert "bash teach/postBuild" in dockerfile and "USER learner" in dockerfile
    assert dockerfile.index("USER learner") < dockerfile.index("bash teach/postBuild")   # the cache is the learner's
