"""How a failing check looks in a notebook: its message in red, not a page of library frames.

Introduced in ``01_cnn_features``. A failing check raises :class:`CheckError`; inside
IPython, :func:`setup` (run when :mod:`nstutils.course.check` is imported) registers a
handler for it that shows only the learner's own frames (when their code raised) and the
message. The exception still propagates, so the cell fails for nbgrader and nbval exactly
as before; outside IPython nothing is registered (no IPython import).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import textwrap
import traceback
from typing import List, Tuple

from .core import CheckError

RED = "\x1b[31m"
RESET = "\x1b[0m"
#: a message is wrapped to lines this long: ``nbgrader validate`` cuts every line of an error at about 83 characters
WIDTH = 78
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _library_dirs() -> Tuple[str, ...]:
    """Folders whose code is not the learner's: the Python library, installed packages (TensorFlow), nstutils."""
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    return tuple(os.path.join(os.path.abspath(folder), "") for folder in folders | {_PACKAGE_DIR})


def learner_frames(exc: BaseException, limit: int = 4) -> List[str]:
    """The last ``limit`` frames of ``exc.__cause__`` in the learner's own code, one line each: not the check's,
    nor TensorFlow's or another library's, where an error raised by a library call in the learner's line ends."""
    cause = exc.__cause__
    if cause is None or cause.__traceback__ is None:
        return []
    libraries = _library_dirs()
    frames = [frame for frame in traceback.extract_tb(cause.__traceback__)
              if not os.path.abspath(frame.filename).startswith(libraries)]
    return [f"  {frame.filename}, line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}"
            for frame in frames[-limit:]]


def short_traceback(exc: BaseException) -> List[str]:
    """The lines a notebook shows for a failed check: where the learner's code raised (if it did), then the
    message in red, wrapped to :data:`WIDTH` columns so that ``nbgrader validate`` shows all of it."""
    lines = []
    frames = learner_frames(exc)
    if frames:
        lines.append(f"{type(exc.__cause__).__name__} in your code:")
        lines.extend(frames)
    message = textwrap.wrap(f"✘ {exc}", WIDTH, break_long_words=False, break_on_hyphens=False)
    lines.extend(f"{RED}{line}{RESET}" for line in message)
    return lines


def _handler(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: print the short traceback and hand it to the front end."""
    lines = short_traceback(value)
    shell._showtraceback(etype, value, lines)   # IPython's hook for custom handlers: sends an error reply
    return lines


def setup() -> bool:
    """Show failing checks as their message in the running IPython shell; idempotent, False outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((CheckError,), _handler)
    return True
