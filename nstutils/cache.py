"""Caches, on disk and in memory, in one place.

On disk: :func:`sha256_of`, :func:`atomic_path` (write beside, then rename), :func:`file_lock`
and :func:`fill_once`, the one routine that fills a cache file under a lock so that two
processes never compute or download the same file twice and a reader never sees half of it.

In memory: every cache nstutils keeps (decoded weights, built feature extractors, the image
registry, the measured arithmetic, ...) registers here, with :func:`register_cache`, the
:class:`MemoryCache` class or the :func:`memory_cache` decorator; :func:`clear_caches`
(``nstutils.clear_caches()``) empties them all. Introduced in ``00_welcome``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, Iterator, List, Optional, TypeVar

from .config import cache_fault
from .errors import DataError, NSTError, OutputError, describe_os_error

log = logging.getLogger(__name__)

T = TypeVar("T")

# ---- files ---------------------------------------------------------------------------------------


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
    # The writer's pid is in the name, so a later run can tell a killed writer's leftover
    # (see remove_stale_temporaries) from a file another process is still writing.
    handle, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.{TEMP_TAG}{os.getpid()}-", suffix=suffix or target.suffix + ".tmp"
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

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(os.fspath(path), timeout=timeout):
            yield
    except Timeout:
        raise DataError(f"waited {timeout:.0f} s for the lock {path}: another nstutils process is filling "
                        "the cache; try again when it is done, or delete the .lock file if none is") from None


def fill_once(path: str | os.PathLike, make: Callable[[Path], Any], is_valid: Callable[[Path], bool], *,
              force: bool = False, stale_message: str = "cached file %s failed its check; making it again") -> Path:
    """Make sure the cache file ``path`` exists and is valid; return its path.

    ``is_valid(path)`` says whether the file there can be used; ``make(path)`` writes it (atomically,
    with :func:`atomic_path`). The file is made under a lock (``<path>.lock``), after checking again
    once the lock is held: another process may have filled it while this one waited. A file that
    exists but fails ``is_valid`` is logged with ``stale_message`` and made again, never used.
    ``force=True`` makes it again whatever is there.
    """
    path = Path(path)
    if not force and is_valid(path):
        return path  # a read-only cache holding valid files is used as it is: no lock needed to read
    try:
        with file_lock(path.with_name(path.name + ".lock")):
            if not force and is_valid(path):  # another process filled it while we waited
                return path
            if path.exists() and not force:
                log.warning(stale_message, path)
            make(path)
    except OutputError as error:  # a writer (save_weights_npz) already put the OSError in words
        raise cache_fault(path.parent, f"could not write {path.name} ({error.reason})") from None
    except NSTError:
        raise
    except OSError as error:  # read-only folder, full disk, a file in the way: one line naming the folder
        raise cache_fault(path.parent, f"could not write {path.name} ({write_fault(path, error).reason})") from None
    return path


def write_fault(path: str | os.PathLike, error: OSError) -> OutputError:
    """The one-line :class:`~nstutils.errors.OutputError` for a file that could not be written at ``path``:
    what stood in the way (a file for a folder, a missing or read-only folder, a full disk) and the fix."""
    path = Path(path)
    folder = path.parent
    blocker = next((p for p in [folder, *folder.parents] if p.exists()), folder)
    if not blocker.is_dir():
        reason, fix = f"{blocker} is a file, not a folder", "choose another folder"
    elif error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        reason, fix = f"the disk is full ({error.strerror or error})", "free some space or write it elsewhere"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):  # the folder, or the one it would be made in
        reason = f"the folder {blocker} is not writable, read-only for this user ({error.strerror or error})"
        fix = "choose a folder you can write to"
    elif not folder.exists():
        reason, fix = f"the folder {folder} does not exist", "create it or choose another folder"
    else:
        reason, fix = describe_os_error(error), "check the folder and try again"
    return OutputError(f"could not write {path}: {reason}; {fix}", reason=reason)


# ---- leftovers of killed writers ------------------------------------------------------------------

#: Marks the writer's pid in temporary names (``.NAME.p1234-XXXX.tmp``, ``.nstutils-wheel-p1234-XXXX``).
TEMP_TAG = "p"
#: A temporary file older than this is a leftover even when its writer's pid cannot be checked.
STALE_SECONDS = 3600.0
_PID = re.compile(rf"[.-]{TEMP_TAG}(\d+)-")
#: Folders already swept in this process (one sweep per process is enough).
_SWEPT: set = set()


def _writer_gone(name: str) -> bool:
    """True when ``name`` carries a writer pid and that process no longer exists (POSIX only:
    on Windows ``os.kill(pid, 0)`` would end the process, so there only age counts)."""
    match = _PID.search(name)
    if match is None or os.name == "nt":
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _is_leftover(entry: Path, now: float) -> bool:
    name = entry.name
    ours = (name.startswith(".") and name.endswith(".tmp")) or name.startswith((".nstutils-wheel-", "nstutils-wheel-"))
    pooch_tmp = name.startswith("tmp") and entry.parent.name in ("images", "downloads")  # pooch's partial download
    if not (ours or pooch_tmp):
        return False
    try:
        age = now - entry.lstat().st_mtime
    except OSError:
        return False
    return age > STALE_SECONDS or _writer_gone(name)


def remove_stale_temporaries(folder: str | os.PathLike, *, force: bool = False) -> List[Path]:
    """Remove what killed writers left in ``folder`` (and its ``images``/``downloads`` subfolders):
    ``.NAME.*.tmp`` files of :func:`atomic_path`, wheel download folders, pooch's partial downloads.

    Only leftovers go: older than :data:`STALE_SECONDS`, or whose writer pid is no longer running,
    so a file a concurrent process is writing now stays. Each folder is swept once per process
    (``force=True`` sweeps again). Returns what was removed; nothing here ever raises.
    """
    folder = Path(folder)
    if str(folder) in _SWEPT and not force:
        return []
    _SWEPT.add(str(folder))
    removed: List[Path] = []
    now = time.time()
    for where in (folder, folder / "images", folder / "downloads"):
        try:
            entries = list(where.iterdir())
        except OSError:
            continue
        for entry in entries:
            if _is_leftover(entry, now) and _remove(entry):
                removed.append(entry)
    if removed:
        log.info("removed %d leftover temporary file(s) of an interrupted run from %s", len(removed), folder)
    return removed


def remove_stale_wheel_folders() -> List[Path]:
    """Remove ``nstutils-wheel-*`` folders an older nstutils left in the system temp folder."""
    removed, now = [], time.time()
    try:
        entries = list(Path(tempfile.gettempdir()).glob("nstutils-wheel-*"))
    except OSError:
        return []
    for entry in entries:
        if _is_leftover(entry, now) and _remove(entry):
            removed.append(entry)
    return removed


def _remove(entry: Path) -> bool:
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    except OSError:  # read-only cache, or another process removed it first: not our problem
        return False
    return True


def check_writable(folder: str | os.PathLike) -> None:
    """Raise :class:`~nstutils.errors.CacheError` unless a file can be created in ``folder`` (made and
    removed at once); what the run would write later fails now, before any work."""
    folder = Path(folder)
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".probe.{TEMP_TAG}{os.getpid()}-", suffix=".tmp")
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        raise cache_fault(folder, describe_os_error(error)) from None


# ---- memory --------------------------------------------------------------------------------------

#: name -> function that empties that cache.
_REGISTRY: Dict[str, Callable[[], None]] = {}


def register_cache(clear: Callable[[], None], name: Optional[str] = None) -> Callable[[], None]:
    """Register ``clear`` (a function emptying an in-memory cache) for :func:`clear_caches`; returns it.

    ``name`` (default: the function's module and qualified name) identifies the cache; registering
    a name again replaces the earlier entry (a reloaded module does not register twice).
    """
    key = name or f"{getattr(clear, '__module__', '?')}.{getattr(clear, '__qualname__', repr(clear))}"
    _REGISTRY[key] = clear
    return clear


def registered_caches() -> List[str]:
    """Names of the registered in-memory caches (the modules imported so far register theirs)."""
    return sorted(_REGISTRY)


def clear_caches() -> None:
    """Empty every registered in-memory cache. Files in the cache folder stay."""
    for clear in list(_REGISTRY.values()):
        clear()


class MemoryCache:
    """A small least-recently-used cache, registered for :func:`clear_caches`.

    >>> extractors = MemoryCache(6, "features.extractors")     # doctest: +SKIP
    >>> extractor = extractors.get(key, lambda: FeatureExtractor(...))
    """

    def __init__(self, maxsize: Optional[int], name: str):
        self.maxsize = maxsize
        self.name = name
        self._items: "OrderedDict[Hashable, Any]" = OrderedDict()
        register_cache(self.clear, name)

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value stored under ``key``, made with ``make()`` (and stored) when missing."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self.put(key, value)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value``; the least recently used entries go beyond ``maxsize``."""
        self._items[key] = value
        self._items.move_to_end(key)
        while self.maxsize is not None and len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every entry."""
        self._items.clear()


def memory_cache(maxsize: Optional[int] = 128) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``functools.lru_cache(maxsize)`` whose ``cache_clear`` is registered for :func:`clear_caches`."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        cached = functools.lru_cache(maxsize=maxsize)(function)
        register_cache(cached.cache_clear, f"{function.__module__}.{function.__qualname__}")
        return cached

    return decorate
