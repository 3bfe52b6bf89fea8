"""Everything nstutils reads from the environment, in one place.

=============================  ===========================================================
``NSTUTILS_FAST``              ``1`` shrinks image sizes and step counts so every notebook
                               runs in seconds (CI sets it); unset: full-quality figures
``NSTUTILS_DATA_DIR``          a folder already holding the course images (no download)
``NSTUTILS_CACHE_DIR``         where weights and images are cached (default
                               ``$XDG_CACHE_HOME/nstutils`` or ``~/.cache/nstutils``)
``NSTUTILS_WEIGHTS``           a local VGG19 weights file to use instead of the download
``NSTUTILS_COMPUTE_DTYPE``     ``float32`` or ``bfloat16``: overrides the measured choice
``NSTUTILS_RESULTS``           ``on`` or ``off``: the results cache (:mod:`nstutils.results`)
                               for every run, whatever the notebooks ask
``NSTUTILS_RESULTS_DIR``       where finished runs are kept (default ``<cache>/results``)
=============================  ===========================================================

No other module reads ``os.environ``. Introduced in ``00_welcome``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, TypeVar

from .errors import CacheError

T = TypeVar("T")

#: The variable that moves the cache; every cache fault names it, so the user knows the way out.
CACHE_ENV = "NSTUTILS_CACHE_DIR"

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when the environment variable ``NSTUTILS_FAST`` is set to 1/true/yes/on."""
    return os.environ.get("NSTUTILS_FAST", "").strip().lower() in _TRUE


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise.

    Notebooks use it for every size and step count, e.g. ``steps = pick(1000, 20)``.
    """
    return fast if fast_mode() else full


def cache_dir() -> Path:
    """The folder for downloaded weights and images (created if missing).

    ``NSTUTILS_CACHE_DIR`` overrides it; otherwise ``$XDG_CACHE_HOME/nstutils``
    (``~/.cache/nstutils`` on Linux and macOS, ``%LOCALAPPDATA%\\nstutils`` on Windows).
    A folder that cannot be created raises :class:`~nstutils.errors.CacheError` (one line).
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        path = Path(override).expanduser()
    elif os.environ.get("XDG_CACHE_HOME"):
        path = Path(os.environ["XDG_CACHE_HOME"]) / "nstutils"
    elif os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        path = Path(os.environ["LOCALAPPDATA"]) / "nstutils"
    else:
        path = Path.home() / ".cache" / "nstutils"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise cache_fault(path, "it is a file, not a folder") from None
    except OSError as error:  # below a file, read-only parent, full disk: one line, not a traceback
        raise cache_fault(path, f"cannot create it ({error.strerror or error})") from None
    return path


def cache_fault(folder: Path, reason: str) -> CacheError:
    """The one-line error for a cache folder that cannot be used: names the folder and :data:`CACHE_ENV`."""
    return CacheError(f"the cache folder {folder} cannot be used: {reason}. Free it up, or set {CACHE_ENV} "
                      "to a folder you can write to")


def data_dir() -> Optional[Path]:
    """The folder named by ``NSTUTILS_DATA_DIR`` (course images already on disk), or None."""
    value = os.environ.get("NSTUTILS_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def weights_override() -> Optional[str]:
    """The weights file named by ``NSTUTILS_WEIGHTS``, or None."""
    value = os.environ.get("NSTUTILS_WEIGHTS", "").strip()
    return value or None


def compute_dtype_override() -> Optional[str]:
    """``"float32"`` or ``"bfloat16"`` when ``NSTUTILS_COMPUTE_DTYPE`` forces one, else None."""
    value = os.environ.get("NSTUTILS_COMPUTE_DTYPE", "").strip().lower()
    return value if value in ("float32", "bfloat16") else None


#: The variable that moves the results cache (:mod:`nstutils.results`).
RESULTS_DIR_ENV = "NSTUTILS_RESULTS_DIR"
_FALSE = {"0", "false", "no", "off"}


def results_setting() -> Optional[bool]:
    """True/False when ``NSTUTILS_RESULTS`` turns the results cache on or off, else None (no policy)."""
    value = os.environ.get("NSTUTILS_RESULTS", "").strip().lower()
    return True if value in _TRUE else False if value in _FALSE else None


def results_dir_override() -> Optional[Path]:
    """The folder named by ``NSTUTILS_RESULTS_DIR``, or None."""
    value = os.environ.get(RESULTS_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def quiet_tensorflow() -> None:
    """Ask TensorFlow's C++ core not to log INFO/WARNING lines (call before importing it).

    The command line and the benchmark call this so their output stays readable; a
    value the user set is kept.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
