"""The results cache: a finished run is kept on disk, so the same picture is never computed twice.

:func:`~nstutils.run.run_optimizer` (and so :func:`~nstutils.run.stylize`, the figures, the grids and the
blends) asks here before its first step. The key (:func:`run_key`) is a sha256 of everything that
defines a result:

* the objective's :meth:`~nstutils.objective.StyleObjective.fingerprint`: its class, every objective
  setting (the measured arithmetic included), the content and style images' pixels, a digest of the
  network's weights, and the name of hand-set style targets (a blend);
* the start image's pixels and every run setting (optimiser, steps, stopping rule, seed, ...);
* nstutils' version, a digest of the engine's source files, and TensorFlow's version.

So a learner who changes an image, a setting, the weights or the package gets a fresh run, and one
who runs a notebook again after a kernel restart gets the pictures in seconds. An objective that is
not the engine's own (a subclass, or one whose loss functions were replaced by a learner's) has no
fingerprint and is never served from here; nor is a run resumed from a checkpoint. Only runs that
ended by themselves (``finished``, ``converged``, ``evaluation_limit``) are kept: a stopped,
interrupted or diverged run is computed again next time.

The cache is off unless asked for: ``stylize(..., cache=True)``, :func:`enable` (the course's Setup
cell calls it), or ``NSTUTILS_RESULTS=on``; ``NSTUTILS_RESULTS=off`` turns it off for a whole server
whatever the notebooks ask. It lives in ``<cache folder>/results`` (``NSTUTILS_RESULTS_DIR`` moves
it; a read-only cache folder falls back to a per-user one). A damaged entry is removed and computed
again; a cache that cannot be written is used read-only, with one log line: a result is always
returned. :func:`clear` (also ``nstutils.clear_caches()`` and ``nst cache --clear``) empties it.
Introduced in ``00_welcome``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import numpy as np

from .cache import atomic_path, memory_cache, register_cache
from .config import RESULTS_DIR_ENV, cache_dir, results_dir_override, results_setting
from .errors import describe_os_error

log = logging.getLogger(__name__)

#: Bump when the stored layout changes: older entries are then simply not found.
FORMAT = 1
#: Stop reasons of runs worth keeping: they ended by themselves, so the same run ends the same way.
KEPT_REASONS = ("finished", "converged", "evaluation_limit")
SUFFIX = ".npz"

_switch: Optional[bool] = None
_warned: set = set()


# ---- on or off -----------------------------------------------------------------------------------


def enable(on: bool = True) -> None:
    """Turn the cache on (or off) for this process, for every call that does not pass ``cache=``.

    ``NSTUTILS_RESULTS=on|off`` in the environment wins over this (a server's policy)."""
    global _switch
    _switch = bool(on)


def enabled(cache: Optional[bool] = None) -> bool:
    """Whether a run uses the cache: ``cache`` if given, else ``NSTUTILS_RESULTS``, else :func:`enable`'s switch
    (off by default)."""
    if cache is not None:
        return bool(cache)
    setting = results_setting()
    if setting is not None:
        return setting
    return bool(_switch)


# ---- where ---------------------------------------------------------------------------------------


def folder() -> Path:
    """The folder of the cached results (created if missing).

    ``NSTUTILS_RESULTS_DIR`` if set, else ``<cache folder>/results``; where that cannot be written
    (a class server's shared, read-only cache) a per-user folder under the home or temp folder."""
    override = results_dir_override()
    if override is not None:
        return _usable(override) or override
    try:
        preferred = cache_dir() / "results"
    except OSError:  # CacheError: the cache folder itself is unusable; results can still live elsewhere
        preferred = None
    if preferred is not None and _usable(preferred):
        return preferred
    for fallback in (Path.home() / ".cache" / "nstutils-results",
                     Path(tempfile.gettempdir()) / f"nstutils-results-{_user()}"):
        if _usable(fallback):
            return fallback
    return preferred or Path(tempfile.gettempdir()) / f"nstutils-results-{_user()}"


def _usable(path: Path) -> Optional[Path]:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def _user() -> str:
    try:
        return str(os.getuid())
    except AttributeError:  # Windows
        return os.environ.get("USERNAME", "user")


# ---- the key -------------------------------------------------------------------------------------


def digest(array: Any) -> str:
    """sha256 of an array's dtype, shape and bytes (images are keyed by their pixels, not their names)."""
    data = np.ascontiguousarray(array)
    hasher = hashlib.sha256(f"{data.dtype.str}{data.shape}".encode())
    hasher.update(data.tobytes())
    return hasher.hexdigest()


@memory_cache(maxsize=8)
def weights_digest(source: str) -> str:
    """sha256 over every array of the VGG19 weights ``source`` resolves to (computed once per process)."""
    from .weights import load_vgg19_weights

    hasher = hashlib.sha256()
    for name, params in sorted(load_vgg19_weights(source).items()):
        hasher.update(name.encode())
        for array in params:
            hasher.update(digest(array).encode())
    return hasher.hexdigest()


@memory_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the engine's source files (``nstutils/*.py``): a change to the code that computes a picture
    makes new keys even where the version number stayed."""
    hasher = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        hasher.update(path.name.encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


@memory_cache(maxsize=1)
def versions() -> Dict[str, str]:
    """nstutils' installed version and TensorFlow's, as the key records them."""
    from importlib.metadata import PackageNotFoundError, version

    import tensorflow as tf

    try:
        own = version("nstutils")
    except PackageNotFoundError:  # run from a source tree that was never installed: the code digest still counts
        own = "unknown"
    return {"nstutils": own, "tensorflow": tf.__version__}


def canonical(value: Any) -> Any:
    """``value`` made JSON-exact: tuples as lists, numpy scalars as Python numbers, arrays by their digest."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"array": digest(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return repr(value)  # exact: 1e-3 and 0.0010000000000000002 are different settings
    return value


def run_key(objective: Any, start: np.ndarray, run_settings: Mapping[str, Any]) -> Optional[str]:
    """The cache key of a run of ``objective`` from ``start`` with ``run_settings`` (a dict of the
    :class:`~nstutils.settings.RunSettings` fields), or None when the objective has no fingerprint."""
    fingerprint = getattr(objective, "fingerprint", None)
    identity = fingerprint() if callable(fingerprint) else None
    if identity is None:
        return None
    settings = {k: v for k, v in run_settings.items() if k != "init" or isinstance(v, str)}
    text = json.dumps(canonical({
        "format": FORMAT, **versions(), "code": code_digest(), "objective": identity,
        "start": digest(np.asarray(start, np.float32)), "run": settings,
    }), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def call_key(name: str, arguments: Mapping[str, Any], weights: str = "compact") -> str:
    """The cache key of a computation other than a run (:func:`remembered`): its name, its arguments, the
    weights ``weights`` resolves to, and the versions and code digest that :func:`run_key` also counts."""
    text = json.dumps(canonical({"format": FORMAT, **versions(), "code": code_digest(), "call": name,
                                 "arguments": dict(arguments), "weights": weights_digest(weights)}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def remembered(name: str, arguments: Mapping[str, Any], compute: Callable[[], Tuple[np.ndarray, Dict[str, Any]]],
               *, weights: str = "compact", cache: Optional[bool] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """``compute()`` (an image ``[H, W, 3]`` and a JSON-able record) kept like a run: the same ``name`` and
    ``arguments`` give it back from disk while the cache is on (``01_cnn_features``' channel pictures)."""
    if not enabled(cache):
        return compute()
    key = call_key(name, arguments, weights)
    kept = load(key)
    if kept is not None:
        return kept[0], {k: v for k, v in kept[1].items() if k not in ("key", "stored")}
    image, record = compute()
    store(key, image, record)
    return image, record


def find(objective: Any, start: np.ndarray, run: Any, cache: Optional[bool] = None
         ) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    """``(key, fields)`` for a run of ``objective`` from ``start`` with ``run`` (a validated
    :class:`~nstutils.settings.RunSettings`): the key it is kept under (None when the cache is off or the
    objective has no fingerprint) and, when a result is kept there, the fields of its
    :class:`~nstutils.run.StylizeResult` (:func:`served`)."""
    if not enabled(cache):
        return None, None
    key = run_key(objective, start, asdict(run))
    return key, (served(key) if key else None)


# ---- read and write ------------------------------------------------------------------------------


def path_for(key: str) -> Path:
    """Where the result with ``key`` is (or would be) stored."""
    return folder() / f"{key}{SUFFIX}"


def load(key: str) -> Optional[Tuple[np.ndarray, Dict[str, Any]]]:
    """``(image, record)`` stored under ``key``, or None. A damaged entry is removed (logged), never raised."""
    path = path_for(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            image = np.array(data["image"], np.float32)   # [H, W, 3], or a spectrogram [frames, bins]
            record = json.loads(str(data["record"]))
        problem = None if record.get("key") == key and image.ndim in (2, 3) else "it does not match its name"
    except Exception as error:  # truncated, not an npz, wrong layout: compute it again
        problem = type(error).__name__
    if problem:
        log.warning("results cache: %s is damaged (%s); computing it again", path.name, problem)
        _discard(path)
        return None
    return image, record


def store(key: str, image: np.ndarray, record: Mapping[str, Any]) -> Optional[Path]:
    """Keep a finished run (atomically); returns the path, or None (logged once) where it cannot be written."""
    path = path_for(key)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, image=np.asarray(image, np.float32),
                         record=np.array(json.dumps({**record, "key": key, "stored": time.time()})))
    except OSError as error:  # read-only, full disk: the run's result is still returned to the caller
        reason = describe_os_error(error)
        if reason not in _warned:
            _warned.add(reason)
            log.warning("results cache: cannot keep results in %s (%s); set %s to a writable folder",
                        path.parent, reason, RESULTS_DIR_ENV)
        return None
    return path


def keep(key: str, result: Any) -> Optional[Path]:
    """Store a finished :class:`~nstutils.run.StylizeResult` under ``key`` (see :func:`store`)."""
    return store(key, result.image, {"history": result.history, "best_loss": float(result.best_loss),
                                     "stop_reason": result.stop_reason, "message": result.message,
                                     "seconds": float(result.seconds), "evaluations": int(result.evaluations)})


def served(key: str) -> Optional[Dict[str, Any]]:
    """The fields of the :class:`~nstutils.run.StylizeResult` kept under ``key`` (its ``settings`` aside), with
    ``cached=True`` and the message saying where it came from; None when there is none."""
    kept = load(key)
    if kept is None:
        return None
    image, record = kept
    message = f"{record['message']}; from the results cache (computed in {record['seconds']:.0f} s)"
    log.info("stylize: %s", message)
    return {"image": image, "history": record["history"], "best_loss": float(record["best_loss"]),
            "stop_reason": record["stop_reason"], "message": message, "seconds": float(record["seconds"]),
            "evaluations": int(record["evaluations"]), "cached": True}


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def entries() -> list:
    """The stored results' files."""
    try:
        return sorted(folder().glob(f"*{SUFFIX}"))
    except OSError:
        return []


def usage() -> Tuple[int, int]:
    """``(number of stored results, bytes on disk)``."""
    files = entries()
    return len(files), sum(_size(path) for path in files)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def clear() -> int:
    """Remove every stored result; returns how many went (``nst cache --clear``, ``nstutils.clear_caches()``)."""
    removed = 0
    for path in entries():
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed


register_cache(clear, "results.on_disk")
