"""The measured bfloat16-or-float32 choice: decision rule, cache key and cache file, one real quick run."""

from __future__ import annotations

import json

import pytest

from nstutils import arithmetic, clear_caches
from nstutils.errors import SettingsError


@pytest.fixture
def fake_timer(monkeypatch):
    """Replace the real timing by fixed seconds per dtype and count the calls."""
    calls = []
    seconds = {"float32": 1.0, "bfloat16": 0.5}

    def fake(dtype, device, shape=arithmetic.SHAPE, repeats=arithmetic.REPEATS, timer=None):
        calls.append((dtype, device, tuple(shape)))
        value = seconds[dtype]
        if isinstance(value, Exception):
            raise value
        return value

    monkeypatch.setattr(arithmetic, "time_evaluation", fake)
    monkeypatch.setattr(arithmetic, "cpu_model", lambda: "Test CPU 9000")
    monkeypatch.setattr(arithmetic, "thread_count", lambda: 2)
    monkeypatch.setattr(arithmetic, "machine_load", lambda: 0.1)
    return seconds, calls


@pytest.mark.parametrize("fp32, bf16, expected", [
    (1.0, 0.5, "bfloat16"),    # 2x faster
    (1.0, 0.85, "bfloat16"),   # 1.18x: just over the 1.15x bar
    (1.0, 0.9, "float32"),     # 1.11x: not worth the noise
    (1.0, 1.6, "float32"),     # emulated bfloat16 (no native support) is slower
])
def test_choice_by_speedup(tmp_path, fake_timer, fp32, bf16, expected):
    seconds, calls = fake_timer
    seconds.update(float32=fp32, bfloat16=bf16)
    cache = tmp_path / "tuning.json"
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == expected
    assert sorted(d for d, _, _ in calls) == ["bfloat16", "float32"]
    data = json.loads(cache.read_text())
    key = arithmetic.cache_key("Test CPU 9000", "CPU", __import__("tensorflow").__version__, 2)
    entry = data["entries"][key]
    assert entry["compute_dtype"] == expected
    assert entry["seconds"] == {"float32": fp32, "bfloat16": bf16}


def test_cache_is_read_and_keyed(tmp_path, fake_timer, monkeypatch):
    seconds, calls = fake_timer
    cache = tmp_path / "sub" / "tuning.json"
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16"
    assert len(calls) == 2
    seconds.update(bfloat16=5.0)  # a second call must not measure again
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16"
    assert len(calls) == 2
    clear_caches()  # a new process: the answer comes from the file
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16"
    assert len(calls) == 2
    # another thread count is another key: measured again, both entries kept
    monkeypatch.setattr(arithmetic, "thread_count", lambda: 8)
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "float32"
    assert len(calls) == 4
    assert len(json.loads(cache.read_text())["entries"]) == 2
    # refresh measures again
    monkeypatch.setattr(arithmetic, "thread_count", lambda: 2)
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0", refresh=True) == "float32"
    assert len(calls) == 6


def test_cache_key_fields():
    key = arithmetic.cache_key("AMD EPYC", "CPU", "2.21.0", 2)
    assert all(part in key for part in ("AMD EPYC", "CPU", "2.21.0", "2"))
    assert key != arithmetic.cache_key("AMD EPYC", "GPU:Tesla T4", "2.21.0", 2)
    assert arithmetic.cpu_model()  # never empty


def test_corrupt_cache_is_remeasured(tmp_path, fake_timer):
    _, calls = fake_timer
    cache = tmp_path / "tuning.json"
    cache.write_text("{not json")
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16"
    assert len(calls) == 2
    assert json.loads(cache.read_text())["version"] == arithmetic.CACHE_VERSION


def _chosen_when_timing_fails(dtype, fake_timer, cache):
    """The dtype measured_compute_dtype chooses when timing ``dtype`` raises (no such conv kernel, say)."""
    seconds, _ = fake_timer
    seconds[dtype] = RuntimeError(f"no {dtype} conv kernel")
    return arithmetic.measured_compute_dtype(cache, device="/CPU:0")


def test_bfloat16_failure_falls_back_to_float32(tmp_path, fake_timer):
    cache = tmp_path / "tuning.json"
    assert _chosen_when_timing_fails("bfloat16", fake_timer, cache) == "float32"
    entry = next(iter(json.loads(cache.read_text())["entries"].values()))
    assert "bfloat16" in entry["errors"]


def test_float32_failure_is_not_cached(tmp_path, fake_timer):
    cache = tmp_path / "tuning.json"
    assert _chosen_when_timing_fails("float32", fake_timer, cache) == "float32"
    assert not cache.exists()


def test_choose_rule():
    assert arithmetic.choose({"float32": 1.0, "bfloat16": 0.8}) == "bfloat16"
    assert arithmetic.choose({"float32": 1.0, "bfloat16": 0.9}) == "float32"
    assert arithmetic.choose({"float32": 1.0}) == "float32"
    assert arithmetic.choose({"float32": 1.0, "bfloat16": 0.9}, min_speedup=1.1) == "bfloat16"


def test_real_quick_measurement(tmp_path):
    """A real timing at a tiny size: a valid answer, both timings cached, the second call reads the cache."""
    cache = tmp_path / "tuning.json"
    chosen = arithmetic.measured_compute_dtype(cache, shape=(1, 32, 48, 3), repeats=1)
    assert chosen in ("float32", "bfloat16")
    (entry,) = json.loads(cache.read_text())["entries"].values()
    assert entry["compute_dtype"] == chosen
    assert entry["seconds"]["float32"] > 0 and entry["seconds"]["bfloat16"] > 0
    assert arithmetic.measured_compute_dtype(cache, shape=(1, 32, 48, 3), repeats=1) == chosen


def test_a_measurement_made_on_a_busy_machine_is_redone_when_it_is_quiet(tmp_path, fake_timer, monkeypatch):
    seconds, calls = fake_timer
    cache = tmp_path / "tuning.json"
    monkeypatch.setattr(arithmetic, "machine_load", lambda: 4.0)  # other jobs on every core
    seconds.update(float32=8.0, bfloat16=4.0)
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16" and len(calls) == 2
    key, = json.loads(cache.read_text())["entries"]
    assert json.loads(cache.read_text())["entries"][key]["load"] == 4.0
    # still busy: the cached answer stands
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16" and len(calls) == 2
    # quiet now: measured again, and the new seconds replace the inflated ones
    monkeypatch.setattr(arithmetic, "machine_load", lambda: 0.1)
    seconds.update(float32=1.0, bfloat16=0.9)
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "float32" and len(calls) == 4
    assert arithmetic.measured_seconds(cache, "float32", device="/CPU:0") == 1.0
    # a quiet measurement is kept whatever the load later
    monkeypatch.setattr(arithmetic, "machine_load", lambda: 4.0)
    assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "float32" and len(calls) == 4


def test_measured_while_busy_rule():
    assert arithmetic.measured_while_busy({"load": 2.0}, 0.1)
    assert not arithmetic.measured_while_busy({"load": 2.0}, 0.5)  # not quiet enough to do better
    assert not arithmetic.measured_while_busy({"load": 0.5}, 0.1)  # it was quiet then
    assert not arithmetic.measured_while_busy({}, 0.1)  # older entries without a load: kept
    assert not arithmetic.measured_while_busy({"load": 2.0}, None)  # no load average on this OS


def test_an_unwritable_cache_costs_one_measurement_per_process(tmp_path, fake_timer, caplog):
    _, calls = fake_timer
    cache = tmp_path / "not_a_folder" / "tuning.json"
    cache.parent.write_text("a file where the cache folder should be")  # nothing can be written there
    for _ in range(3):
        assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16"
    assert len(calls) == 2 and "could not write the compute dtype cache" in caplog.text
    assert arithmetic.measured_seconds(cache, "bfloat16", device="/CPU:0") == 0.5
    clear_caches()
    assert arithmetic.measured_seconds(cache, "bfloat16", device="/CPU:0") is None


def test_resolve_compute_dtype(tmp_path, fake_timer, monkeypatch):
    _, calls = fake_timer
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NSTUTILS_COMPUTE_DTYPE", raising=False)
    assert arithmetic.resolve_compute_dtype("float32") == "float32" and not calls
    assert arithmetic.resolve_compute_dtype("bfloat16") == "bfloat16" and not calls
    assert arithmetic.resolve_compute_dtype("auto") == "bfloat16" and len(calls) == 2
    assert (tmp_path / arithmetic.CACHE_FILE).exists()
    monkeypatch.setenv("NSTUTILS_COMPUTE_DTYPE", "float32")  # forces "auto" only
    assert arithmetic.resolve_compute_dtype("auto") == "float32"
    assert arithmetic.resolve_compute_dtype("bfloat16") == "bfloat16" and len(calls) == 2
    with pytest.raises(SettingsError, match="compute_dtype"):
        arithmetic.resolve_compute_dtype("float16")


def test_a_read_only_cache_with_a_busy_measurement_is_measured_again_once(tmp_path, fake_timer, monkeypatch):
    _, calls = fake_timer
    cache = tmp_path / "tuning.json"
    monkeypatch.setattr(arithmetic, "machine_load", lambda: 4.0)
    arithmetic.measured_compute_dtype(cache, device="/CPU:0")
    assert len(calls) == 2
    clear_caches()  # a later process, on a quiet machine, where the cache folder has become read-only

    def read_only(path, suffix=None):
        raise PermissionError(f"{path}: read-only file system")

    monkeypatch.setattr(arithmetic, "atomic_path", read_only)
    monkeypatch.setattr(arithmetic, "machine_load", lambda: 0.1)
    for _ in range(3):
        assert arithmetic.measured_compute_dtype(cache, device="/CPU:0") == "bfloat16"
    assert len(calls) == 4
