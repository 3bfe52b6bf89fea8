"""Error types raised by nstutils.

Every problem a user can cause (a bad file, a bad option, a missing download) raises a
subclass of :class:`NSTError` with a message that names the culprit and says how to fix
it, so the CLI can print one line instead of a traceback. Introduced in ``00_welcome``.
"""

from __future__ import annotations


class NSTError(Exception):
    """Base class of every error nstutils raises on purpose."""


class ImageError(NSTError, ValueError):
    """An image could not be read, is not an image, or is too large."""


class SettingsError(NSTError, ValueError):
    """An option (weight, layer name, size, step count, optimiser) is invalid."""


class DataError(NSTError, OSError):
    """A course image is missing, corrupt or could not be downloaded."""


class WeightsError(NSTError, OSError):
    """The VGG19 weights are missing, corrupt or in an unknown format."""


class OutputExistsError(NSTError, FileExistsError):
    """An output file exists and the caller did not ask to overwrite it."""


class MissingDependencyError(NSTError, ImportError):
    """A package nstutils needs (TensorFlow) is not installed."""


class CacheError(NSTError, OSError):
    """The cache folder cannot be created, read or written (read-only, a file in the way, a full disk)."""


class OutputError(NSTError, OSError):
    """The output file cannot be written where the caller asked (read-only folder, a file in the way)."""
