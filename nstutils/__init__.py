"""nstutils: neural style transfer (Gatys et al.) with TensorFlow, for learning and doing.

The course in ``notebooks/`` introduces each piece, starting with ``00_welcome``; the package holds all
the code::

    from nstutils import stylize, save_image
    result = stylize("tubingen", "starry_night")
    save_image(result.image, "tubingen_starry_night.jpg")
    print(result.message)    # why and when the run ended

TensorFlow is imported only when something needs it (``stylize``, the losses), so
``import nstutils`` is quick and works without it. ``clear_caches()`` frees what nstutils
keeps in memory (every cache registered in :mod:`nstutils.cache`) and empties the results cache
(:mod:`nstutils.results`, finished runs kept on disk when the cache is on). The library logs through
``logging.getLogger("nstutils")`` and never prints.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, List

from . import results  # registers the results cache with clear_caches
from .cache import clear_caches
from .config import fast_mode, pick
from .errors import (CacheError, CallbackError, DataError, ImageError, MissingDependencyError, NSTError, OutputError,
                     OutputExistsError, SettingsError, WeightsError)
from .images import load_image, save_image

if TYPE_CHECKING:  # seen by editors and type checkers; imported lazily at run time
    from .audio_style import transfer_audio
    from .objective import StyleObjective
    from .run import StylizeResult, stylize
    from .settings import ObjectiveSettings, RunSettings, Settings

__version__ = "0.2.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Names imported on first use, with the module that holds them (importing TensorFlow takes seconds).
_LAZY = {
    "stylize": "run", "StylizeResult": "run", "StyleObjective": "objective",
    "Settings": "settings", "ObjectiveSettings": "settings", "RunSettings": "settings",
    "transfer_audio": "audio_style",
}

__all__ = [
    "stylize", "StylizeResult", "StyleObjective", "Settings", "ObjectiveSettings", "RunSettings", "transfer_audio",
    "load_image", "save_image", "fast_mode", "pick", "clear_caches",
    "NSTError", "ImageError", "SettingsError", "DataError", "WeightsError", "OutputExistsError",
    "MissingDependencyError", "CacheError", "CallbackError", "OutputError", "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nstutils' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
