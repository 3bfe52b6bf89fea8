"""nstutils: neural style transfer (Gatys et al.) with TensorFlow, for learning and doing.

The course in ``notebooks/`` introduces each piece; the package holds all the code::

    from nstutils import stylize, save_image
    result = stylize("tubingen", "starry_night")
    save_image(result.image, "tubingen_starry_night.jpg")
    print(result.message)    # why and when the run ended

TensorFlow is imported only when something needs it (``stylize``, the losses), so
``import nstutils`` is quick and works without it. The library logs through
``logging.getLogger("nstutils")`` and never prints.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, List

from .config import fast_mode, pick
from .errors import (DataError, ImageError, MissingDependencyError, NSTError, OutputExistsError, SettingsError,
                     WeightsError)
from .images import load_image, save_image

if TYPE_CHECKING:  # seen by editors and type checkers; imported lazily at run time
    from .optimize import StyleObjective, StylizeResult, stylize
    from .settings import ObjectiveSettings, RunSettings, Settings

__version__ = "0.2.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Names imported on first use, with the module that holds them (importing TensorFlow takes seconds).
_LAZY = {
    "stylize": "optimize", "StylizeResult": "optimize", "StyleObjective": "optimize",
    "Settings": "settings", "ObjectiveSettings": "settings", "RunSettings": "settings",
}

__all__ = [
    "stylize", "StylizeResult", "StyleObjective", "Settings", "ObjectiveSettings", "RunSettings",
    "load_image", "save_image", "fast_mode", "pick", "clear_caches",
    "NSTError", "ImageError", "SettingsError", "DataError", "WeightsError", "OutputExistsError",
    "MissingDependencyError", "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nstutils' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))


def clear_caches() -> None:
    """Free what nstutils keeps in memory: decoded weights, built feature extractors, fits.

    Files in the cache folder (``nstutils.config.cache_dir()``) stay.
    """
    import sys

    from . import data, weights

    weights.clear_weights_cache()
    data.registry.cache_clear()
    optimize = sys.modules.get(f"{__name__}.optimize")
    if optimize is not None:
        optimize.clear_extractor_cache()
    cost = sys.modules.get(f"{__name__}.cost")
    if cost is not None:
        cost._fit.cache_clear()
