"""Small file helpers shared by the image, data and weights modules."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks so large files cost little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The rename is atomic (``os.replace``, on POSIX and Windows), so a reader (or a second process filling the same
    cache) sees either the old file or the complete new one, never a partial write.
    On error the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=suffix or target.suffix + ".tmp"
    )
    os.close(handle)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) while filling a cache.

    A second process asking for the same lock waits, then finds the cache filled.
    ``filelock`` does this the same way on Linux, macOS and Windows.
    """
    from filelock import FileLock, Timeout

    from .errors import DataError

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(os.fspath(path), timeout=timeout):
            yield
    except Timeout:
        raise DataError(f"waited {timeout:.0f} s for the lock {path}: another nstutils process is filling "
                        "the cache; try again when it is done, or delete the .lock file if none is") from None
