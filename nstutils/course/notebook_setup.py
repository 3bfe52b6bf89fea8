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
import sys

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


def setup(announce: bool = True) -> bool:
    """Prepare a course notebook's kernel; return whether the fast switch is on (``00_welcome``).

    Quiets TensorFlow (:func:`quiet_tensorflow`), stops the notebook with one line if
    TensorFlow is missing or too old (:func:`nstutils.environment.notebook_setup`), imports it
    (so its start-up cost is paid here, not in the first cell that uses it), keeps its Python
    logger to errors and, when
    ``announce``, prints which mode the notebook runs in.
    """
    quiet_tensorflow()
    notebook_setup()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")   # Python-side notices too (e.g. retracing of a rebuilt objective)

    fast = fast_mode()
    if announce:
        print("fast mode (NSTUTILS_FAST=1): small images and few steps, for a quick run" if fast
              else "full quality: the notebook's real sizes and step counts (set NSTUTILS_FAST=1 for a quick run)")
    return fast
