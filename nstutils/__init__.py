"""nstutils: neural style transfer (Gatys et al.) with TensorFlow, for learning and doing.

The course in ``notebooks/`` introduces each piece; the package holds all the code::

    from nstutils import stylize, save_image
    result = stylize("tubingen", "starry_night")
    save_image(result.image, "tubingen_starry_night.jpg")
"""

from __future__ import annotations

from .config import fast_mode, pick
from .errors import DataError, ImageError, NSTError, OutputExistsError, SettingsError, WeightsError
from .images import load_image, save_image

__version__ = "0.1.0"

__all__ = [
    "stylize", "load_image", "save_image", "fast_mode", "pick", "NSTError", "ImageError",
    "SettingsError", "DataError", "WeightsError", "OutputExistsError", "__version__",
]


def __getattr__(name: str):
    # Importing TensorFlow takes seconds; only pay for it when stylize is used.
    if name == "stylize":
        from .optimize import stylize

        return stylize
    raise AttributeError(f"module 'nstutils' has no attribute {name!r}")
