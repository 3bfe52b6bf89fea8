"""The one call of every notebook's Setup cell (``00_welcome`` … ``07_beyond``).

A Setup cell is then five lines and the notebook's own imports::

    try:
        from nstutils.course.notebook_setup import setup
    except ModuleNotFoundError:
        raise SystemExit("Setup: install the course first: pip install -e '.[cpu,course]' (see README)") from None
    setup()

:func:`setup` keeps TensorFlow's C++ start-up lines (oneDNN, CPU instruction sets, CUDA
drivers) out of the notebook, stops with one line when TensorFlow is missing, and says in one
line whether the fast switch is on, so a learner knows which sizes the notebook will use.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

from .. import results
from ..config import fast_mode
from ..environment import notebook_setup

#: TensorFlow's C++ log level while it starts: 2 hides its INFO and WARNING lines (the oneDNN
#: notice, printed twice, and the CPU-instruction and CUDA-driver notices), keeps its errors.
QUIET_TF_LEVEL = "2"


def quiet_tensorflow() -> bool:
    """Hide TensorFlow's C++ start-up lines; True when that can still work (TensorFlow not imported yet).

    TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, when its library loads, so this must run
    before the first ``import tensorflow``. A level set by the user is kept.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LEVEL)
    return "tensorflow" not in sys.modules


#: TensorFlow's start-up notices, by their first words: absl's INFO/WARNING prefix (``I0000 …``), absl's note
#: that it logs to stderr, and the CPU-instruction notice's second line. TensorFlow 2.21 prints the oneDNN notice
#: through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``, so the level alone no longer hides it.
_START_UP_NOTICE = re.compile(r"^([IW]\d{4} |WARNING: All log messages before absl|To enable the following instructions)")


@contextmanager
def start_up_notices_dropped() -> Iterator[None]:
    """Run the block with the process's stderr (file descriptor 2, where TensorFlow's C++ side writes) caught in a
    file, then write back every caught line that is not a start-up notice: errors still show."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode(errors="replace").splitlines(keepends=True)
                    if not _START_UP_NOTICE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))


def setup(announce: bool = True) -> bool:
    """Prepare a course notebook's kernel; return whether the fast switch is on (``00_welcome``).

    Quiets TensorFlow (:func:`quiet_tensorflow`), stops the notebook with one line if
    TensorFlow is missing or too old (:func:`nstutils.environment.notebook_setup`), imports it
    (so its start-up cost is paid here, not in the first cell that uses it), keeps its Python
    logger to errors, turns the results cache on (:mod:`nstutils.results`: a picture the course
    computed once, in this notebook or another, comes back in seconds after a restart; a changed
    image or setting makes a fresh run) and, when ``announce``, prints which mode the notebook runs in.
    """
    quiet_tensorflow()
    notebook_setup()
    with start_up_notices_dropped():
        import tensorflow as tf

        tf.reduce_sum(tf.ones([1]))   # the first operation repeats the oneDNN notice: let it come here

    tf.get_logger().setLevel("ERROR")   # Python-side notices too (e.g. retracing of a rebuilt objective)

    results.enable()
    fast = fast_mode()
    if announce:
        print("fast mode (NSTUTILS_FAST=1): small images and few steps, for a quick run" if fast
              else "full quality: the notebook's real sizes and step counts (set NSTUTILS_FAST=1 for a quick run)")
    return fast
