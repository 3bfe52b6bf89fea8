"""Settings read from the environment: the fast switch and the cache folder.

``NSTUTILS_FAST=1`` shrinks image sizes and step counts so every notebook runs in
seconds (CI sets it); without it, the notebooks produce full-quality figures.
Introduced in ``00_welcome``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

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
    """The folder for downloaded weights and images.

    ``NSTUTILS_CACHE_DIR`` overrides it; otherwise ``$XDG_CACHE_HOME/nstutils``
    (``~/.cache/nstutils`` on Linux).
    """
    override = os.environ.get("NSTUTILS_CACHE_DIR")
    if override:
        path = Path(override).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "nstutils"
    path.mkdir(parents=True, exist_ok=True)
    return path
