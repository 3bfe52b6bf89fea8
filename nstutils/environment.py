"""Is this Python ready for the course? One clear line when it is not.

nstutils leaves the TensorFlow build to you, as Keras 3 leaves its backend: Colab and
GPU machines already have ``tensorflow``; elsewhere install ``nstutils[cpu]`` (the CPU
build) or ``nstutils[gpu]``. Each notebook's Setup cell calls :func:`notebook_setup`,
which stops the notebook with one line saying what to install instead of a traceback.
Introduced in ``00_welcome``.
"""

from __future__ import annotations

import importlib.util

from .errors import MissingDependencyError

INSTALL_HINT = ("install TensorFlow: `pip install tensorflow` (or `pip install 'nstutils[cpu]'` for the smaller "
                "CPU-only build; Colab already has it)")
MINIMUM_TENSORFLOW = (2, 16)


def tensorflow_version() -> tuple[int, int] | None:
    """TensorFlow's (major, minor) version without importing it, or None if it is missing."""
    try:
        if importlib.util.find_spec("tensorflow") is None:
            return None
    except (ImportError, ValueError):  # a broken or blocked installation
        return None
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"):
        try:
            parts = version(distribution).split(".")
            return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
        except (PackageNotFoundError, ValueError, IndexError):
            continue
    return MINIMUM_TENSORFLOW  # importable but installed by other means (a source build): trust it


def require_tensorflow() -> None:
    """Raise :class:`MissingDependencyError` (one line) unless TensorFlow ≥ 2.16 is installed."""
    found = tensorflow_version()
    if found is None:
        raise MissingDependencyError(f"TensorFlow is not installed: {INSTALL_HINT}")
    if found < MINIMUM_TENSORFLOW:
        raise MissingDependencyError(f"TensorFlow {found[0]}.{found[1]} is too old (nstutils needs ≥ 2.16): "
                                     "`pip install -U tensorflow`")


def notebook_setup() -> None:
    """For a notebook's Setup cell: stop with one line (no traceback) if TensorFlow is missing."""
    try:
        require_tensorflow()
    except MissingDependencyError as exc:
        raise SystemExit(f"Setup: {exc}") from None
