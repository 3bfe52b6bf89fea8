"""Choose the convolution arithmetic (bfloat16 or float32) by measuring it, not by reading CPU flags.

bfloat16 convolutions are about 1.8× faster than float32 on a CPU with AVX512-BF16 (or
AMX), slower on one without, and on a GPU it depends on the card. So the ``"auto"``
choice times one loss + gradient evaluation of a representative VGG19 pass (the
extractor up to ``block5_conv2`` with the tutorial's style and content layers, on a
``1×192×256×3`` image, forward and input gradient) in both dtypes on the device
TensorFlow will use, and picks bfloat16 only when it is at least ``MIN_SPEEDUP`` times
faster. The answer is cached in a small JSON file keyed by the CPU model, the device,
the TensorFlow version and the thread count, so it is measured once per machine (a few
seconds; the first call also builds two extractors), and kept in memory for the rest of
the process, so a cache folder that cannot be written costs one measurement per process.

:func:`resolve_compute_dtype` is what a run calls: ``"auto"`` becomes the measured choice
(``NSTUTILS_COMPUTE_DTYPE`` forces one, see :mod:`nstutils.config`). Introduced in
``05_full_transfer``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from .cache import atomic_path, register_cache
from .config import cache_dir, compute_dtype_override
from .errors import SettingsError
from .recipes import TIMING_LAYERS

log = logging.getLogger(__name__)

#: bfloat16 must be at least this many times faster than float32 to be chosen.
MIN_SPEEDUP = 1.15
#: The representative input: batch, height, width, channels.
SHAPE = (1, 192, 256, 3)
#: Timed repeats after one warm-up call; the median is kept.
REPEATS = 3
CACHE_VERSION = 1
#: The file, in :func:`nstutils.config.cache_dir`, holding the measurements.
CACHE_FILE = "tuning.json"
#: The dtypes a run can compute in.
COMPUTE_DTYPES = ("float32", "bfloat16")
#: Load (runnable processes per CPU, 1-minute average) above which a measurement is suspect,
#: and below which the machine counts as quiet enough to measure it again.
BUSY_LOAD, QUIET_LOAD = 0.75, 0.3

#: Measurements made or read in this process, by (cache file, cache key).
_MEASURED: Dict[Tuple[str, str], Dict] = {}
register_cache(_MEASURED.clear, "arithmetic.measured")


def default_cache_path() -> Path:
    """The measurement file: ``tuning.json`` in :func:`nstutils.config.cache_dir`."""
    return cache_dir() / CACHE_FILE


def resolve_compute_dtype(value: str = "auto") -> str:
    """``"float32"`` or ``"bfloat16"`` for a run's ``compute_dtype`` setting (``05_full_transfer``).

    ``"float32"`` and ``"bfloat16"`` are returned as they are. ``"auto"`` is
    ``NSTUTILS_COMPUTE_DTYPE`` when that forces one, else the dtype measured faster on this
    machine (:func:`measured_compute_dtype`, once per machine, kept in memory for the process).
    The losses always stay float32.
    """
    if value in COMPUTE_DTYPES:
        return value
    if value != "auto":
        raise SettingsError(f"compute_dtype must be 'auto', 'float32' or 'bfloat16', got {value!r}")
    return compute_dtype_override() or measured_compute_dtype(default_cache_path())


def machine_load() -> Optional[float]:
    """The 1-minute load average per CPU, or None where the OS does not report it."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except (AttributeError, OSError):
        return None


def measured_while_busy(entry: Dict, load_now: Optional[float]) -> bool:
    """True for a cached measurement taken on a busy machine when this one is quiet now.

    Other processes slow both dtypes (their ratio may survive, their seconds do not), and
    :mod:`nstutils.cost` turns those seconds into every later time estimate: measuring
    again on a quiet machine keeps one busy afternoon from inflating estimates for good.
    """
    then = entry.get("load")
    return isinstance(then, (int, float)) and then > BUSY_LOAD and load_now is not None and load_now < QUIET_LOAD


def cpu_model() -> str:
    """The CPU model string: ``model name`` from /proc/cpuinfo, else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def default_device() -> str:
    """``"/GPU:0"`` when TensorFlow sees a GPU, else ``"/CPU:0"``."""
    import tensorflow as tf

    return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"


def device_name(device: str) -> str:
    """A stable description of ``device`` for the cache key (the GPU's model when TensorFlow knows it)."""
    import tensorflow as tf

    kind = "GPU" if "GPU" in device.upper() else "CPU"
    if kind == "GPU":
        gpus = tf.config.list_physical_devices("GPU")
        index = int(device.rsplit(":", 1)[-1]) if device.rsplit(":", 1)[-1].isdigit() else 0
        if index < len(gpus):
            try:
                details = tf.config.experimental.get_device_details(gpus[index])
                return f"GPU:{details.get('device_name', index)}"
            except Exception:  # noqa: BLE001 - details are optional
                pass
        return f"GPU:{index}"
    return "CPU"


def thread_count() -> int:
    """The intra-op threads TensorFlow will use (its setting, else the CPUs this process may run on)."""
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured:
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cache_key(cpu: str, device: str, tf_version: str, threads: int) -> str:
    """The cache key: ``cpu | device | tensorflow version | threads``."""
    return f"{cpu} | {device} | tf {tf_version} | {threads} threads"


def time_evaluation(dtype: str, device: str, shape: Sequence[int] = SHAPE, repeats: int = REPEATS,
                    timer: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds of one loss + input-gradient evaluation of the representative pass in ``dtype``."""
    import numpy as np
    import tensorflow as tf

    from .features import FeatureExtractor
    from .losses import gram_matrix, with_input_gradient

    layers = TIMING_LAYERS
    with tf.device(device):
        extractor = FeatureExtractor(list(layers), compute_dtype=dtype)
        image = tf.constant(np.random.default_rng(0).uniform(0, 1, size=tuple(shape)).astype(np.float32))

        def loss_of(x):
            features = extractor(x)
            loss = tf.add_n([tf.reduce_mean(tf.square(gram_matrix(features[k]))) for k in layers[:-1]])
            return loss + tf.reduce_mean(tf.square(features[layers[-1]]))

        evaluate = with_input_gradient(loss_of)

        evaluate(image)[1].numpy()  # trace and warm up
        seconds = []
        for _ in range(max(1, repeats)):
            start = timer()
            evaluate(image)[1].numpy()
            seconds.append(timer() - start)
    return float(statistics.median(seconds))


def _read(cache_path: Path) -> Dict:
    try:
        data = json.loads(Path(cache_path).read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION and isinstance(data.get("entries"), dict):
            return data
    except (OSError, ValueError):
        pass
    return {"version": CACHE_VERSION, "entries": {}}


def _write(cache_path: Path, key: str, entry: Dict) -> None:
    cache_path = Path(cache_path)
    _MEASURED[(str(cache_path), key)] = entry
    data = _read(cache_path)  # re-read: keep what another process wrote meanwhile
    data["entries"][key] = entry
    try:
        with atomic_path(cache_path) as temporary:
            temporary.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    except OSError as error:  # a read-only cache only costs a re-measurement in the next process
        log.warning("could not write the compute dtype cache %s: %s", cache_path, error)


def _entry(cache_path: Path, key: str) -> Optional[Dict]:
    """The measurement under ``key``: the one this process made or read, else the file's."""
    memory_key = (str(cache_path), key)
    if memory_key not in _MEASURED:
        entry = _read(Path(cache_path))["entries"].get(key)
        if not isinstance(entry, dict):
            return None
        _MEASURED[memory_key] = entry
    return _MEASURED[memory_key]


def choose(seconds: Dict[str, float], min_speedup: float = MIN_SPEEDUP) -> str:
    """``"bfloat16"`` when it took at most ``1/min_speedup`` of float32's time, else ``"float32"``."""
    bf16, fp32 = seconds.get("bfloat16"), seconds.get("float32")
    if bf16 is None or fp32 is None or not bf16 > 0:
        return "float32"
    return "bfloat16" if fp32 / bf16 >= min_speedup else "float32"


def measured_compute_dtype(cache_path: Path, device: Optional[str] = None, *, min_speedup: float = MIN_SPEEDUP,
                           shape: Sequence[int] = SHAPE, repeats: int = REPEATS, refresh: bool = False) -> str:
    """``"bfloat16"`` or ``"float32"``: whichever evaluates the network faster on ``device``, measured once.

    ``device`` defaults to the one TensorFlow will use (:func:`default_device`). The
    result and both timings are cached in ``cache_path`` (JSON) under
    :func:`cache_key` and in memory; later calls read them (``refresh=True`` measures again).
    If bfloat16 fails on the device, float32 is chosen; if float32 itself cannot be timed,
    float32 is returned and nothing is cached.
    """
    device = device or default_device()
    key = _machine_key(device)
    if not refresh:
        entry = _entry(Path(cache_path), key)
        if isinstance(entry, dict) and entry.get("compute_dtype") in COMPUTE_DTYPES:
            if not measured_while_busy(entry, machine_load()):
                return entry["compute_dtype"]
            log.info("the compute dtype was measured while the machine was busy (load %.2f per CPU); measuring "
                     "again now that it is quiet", entry["load"])
    entry = _measure(device, min_speedup, shape, repeats)
    if entry is None:
        return "float32"
    _write(Path(cache_path), key, entry)
    seconds = entry["seconds"]
    log.info("compute dtype measured on %s: float32 %.3f s, bfloat16 %s -> %s", key, seconds["float32"],
             f"{seconds['bfloat16']:.3f} s" if "bfloat16" in seconds else "failed", entry["compute_dtype"])
    return entry["compute_dtype"]


def _machine_key(device: str) -> str:
    import tensorflow as tf

    return cache_key(cpu_model(), device_name(device), tf.__version__, thread_count())


def _measure(device: str, min_speedup: float, shape: Sequence[int], repeats: int) -> Optional[Dict]:
    """Time both dtypes; the cache entry, or None when float32 itself cannot be timed."""
    load = machine_load()
    seconds: Dict[str, float] = {}
    errors: Dict[str, str] = {}
    for dtype in COMPUTE_DTYPES:
        try:
            seconds[dtype] = time_evaluation(dtype, device, shape=shape, repeats=repeats)
        except Exception as error:  # noqa: BLE001 - an unsupported dtype must not break stylize
            errors[dtype] = f"{type(error).__name__}: {error}"[:300]
    if "float32" not in seconds:
        log.warning("could not time the float32 pass (%s); using float32 without caching", errors.get("float32"))
        return None
    entry = {"compute_dtype": choose(seconds, min_speedup), "seconds": seconds,
             "speedup": seconds["float32"] / seconds["bfloat16"] if seconds.get("bfloat16") else None,
             "min_speedup": min_speedup, "shape": list(shape), "repeats": repeats, "load": load,
             "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if errors:
        entry["errors"] = errors
    return entry


def measured_seconds(cache_path: Optional[Path] = None, dtype: str = "float32",
                     device: Optional[str] = None) -> Optional[float]:
    """Seconds of one representative evaluation in ``dtype`` measured earlier on this machine, or None.

    Reads the measurement (in memory, else ``cache_path``, default :func:`default_cache_path`)
    and never measures; :mod:`nstutils.cost` scales it to a run's size.
    """
    device = device or default_device()
    entry = _entry(Path(cache_path or default_cache_path()), _machine_key(device))
    if isinstance(entry, dict):
        value = entry.get("seconds", {}).get(dtype)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None
    return None
