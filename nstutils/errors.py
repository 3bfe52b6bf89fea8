"""Error types raised by nstutils.

Every problem a user can cause (a bad file, a bad option, a missing download) raises a
subclass of :class:`NSTError` with a message that names the culprit and says how to fix
it, so the CLI can print one line instead of a traceback; :func:`describe_error` puts any other exception
in one line too (the labs' status). Introduced in ``00_welcome``.
"""

from __future__ import annotations

import errno
from typing import Any


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
    """A file cannot be written where the caller asked (read-only folder, a file in the way, a full disk).

    ``reason`` is the cause alone ("the disk is full (No space left on device)"), for a caller that words
    its own line (a cache folder says so and names ``NSTUTILS_CACHE_DIR``).
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class CallbackError(NSTError, RuntimeError):
    """A run's ``callback`` raised: the run ended there, like a stop, and nothing it painted is lost.

    ``result`` is the run up to that step (a :class:`~nstutils.run.StylizeResult` whose ``image`` is the
    best image so far, ``stop_reason`` ``"stopped"``), ``step`` the step whose callback raised, and
    ``__cause__`` the callback's own exception, with its traceback.
    """

    def __init__(self, message: str, result: Any = None, step: int = 0):
        super().__init__(message)
        self.result, self.step = result, step


def describe_os_error(error: OSError) -> str:
    """``strerror`` of an OSError in words, with a hint for the two a user can fix by hand."""
    text = error.strerror or str(error) or type(error).__name__
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"{text}: the disk is full"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{text}: the folder is read-only for this user"
    return text


def describe_error(error: BaseException) -> str:
    """Any exception in one line: an :class:`NSTError`'s message as it is, an OSError in words with the file
    it names, anything else as ``Type: message`` (its first line)."""
    if isinstance(error, NSTError):
        text = str(error)
    elif isinstance(error, OSError):
        where = error.filename if error.filename is not None else None
        text = f"{where}: {describe_os_error(error)}" if where is not None else describe_os_error(error)
    else:
        first = str(error).strip().splitlines()[:1]
        text = f"{type(error).__name__}: {first[0]}" if first else type(error).__name__
    return " ".join(text.split())
