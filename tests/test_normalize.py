"""The paper's normalised VGG19: mean activation 1 per filter, same function up to a per-channel scale, caching."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from nstutils import cache, clear_caches, normalize
from nstutils import weights as W
from nstutils.errors import SettingsError
from nstutils.features import FeatureExtractor
from nstutils.images import load_image
from nstutils.vgg19 import CONV_LAYERS
from nstutils.weights import fetch_compact_weights, load_vgg19_weights, load_weights_npz, save_weights_npz

#: Checked through the whole stack: first, middle and last layers of several blocks.
CHECKED_LAYERS = ("block1_conv1", "block1_conv2", "block2_conv2", "block3_conv1", "block3_conv4", "block4_conv2",
                  "block5_conv1", "block5_conv4")


def _small_images():
    """Three small images of different sizes: smooth noise, stripes, and a real photo."""
    rng = np.random.default_rng(7)
    noise = rng.uniform(size=(1, 8, 10, 3))
    smooth = np.kron(noise, np.ones((1, 5, 5, 1)))[:, :40, :48].astype(np.float32)  # 40×48
    y, x = np.mgrid[0:48, 0:36].astype(np.float32)
    stripes = np.stack([0.5 + 0.5 * np.sin(x / 2), 0.5 + 0.5 * np.cos(y / 3), (x + y) / 84], -1)[None]
    return [smooth, stripes.astype(np.float32), load_image("coffee", max_dim=48)]


@pytest.fixture(scope="module")
def base_weights():
    return load_vgg19_weights("compact")


@pytest.fixture(scope="module")
def small_normalized(base_weights, tmp_path_factory):
    """The network normalised on the three small images, saved as an .npz for FeatureExtractor."""
    images = _small_images()
    weights = normalize.normalize_weights(base_weights, images)
    path = save_weights_npz(weights, tmp_path_factory.mktemp("normalized") / "small.npz")
    return {"images": images, "weights": weights, "path": str(path),
            "base_means": normalize.mean_activations(base_weights, images)}


def test_mean_activation_is_one_per_filter(small_normalized):
    means = normalize.mean_activations(small_normalized["weights"], small_normalized["images"])
    assert list(means) == list(CONV_LAYERS)
    for layer in CHECKED_LAYERS:
        alive = small_normalized["base_means"][layer] > 0
        assert alive.sum() > 0.2 * alive.size, layer  # tiny images: some deep filters never fire
        # 1 % : a filter that fires at one position of a 3×3 map is rounded more (float32)
        np.testing.assert_allclose(means[layer][alive], 1.0, rtol=1e-2, err_msg=layer)
        assert np.all(means[layer][~alive] == 0), layer


def test_same_features_up_to_a_positive_scale_per_channel(small_normalized, base_weights):
    image = np.random.default_rng(3).uniform(size=(1, 40, 40, 3)).astype(np.float32)  # not a statistics image
    layers = ["conv1_1", "conv2_2", "conv3_1", "conv4_2", "conv5_1"]
    for pooling in ("avg", "max"):  # both poolings commute with a positive scale
        base = FeatureExtractor(layers, pooling=pooling, weights="compact")(image)
        normed = FeatureExtractor(layers, pooling=pooling, weights=small_normalized["path"])(image)
        for name in base:
            scale = normalize.filter_scales(small_normalized["base_means"][name])
            old, new = np.asarray(base[name], np.float64), np.asarray(normed[name], np.float64)
            assert old.shape == new.shape
            # the normalised feature maps are the old ones divided by each filter's mean
            np.testing.assert_allclose(new * scale, old, rtol=2e-3, atol=2e-3 * old.max(), err_msg=name)
            # so every channel peaks at the same place, and the ratio of two channels is rescaled by the same factor
            strong = old.reshape(-1, old.shape[-1]).max(0) > 0.05 * old.max()
            flat_old, flat_new = old.reshape(-1, old.shape[-1]), new.reshape(-1, new.shape[-1])
            assert np.array_equal(flat_old.argmax(0)[strong], flat_new.argmax(0)[strong]), name
            assert new.mean() > 0


def test_dead_filters_keep_scale_one(base_weights):
    weights = dict(base_weights)
    kernel, bias = (array.copy() for array in base_weights["block1_conv1"])
    kernel[..., 5] = 0.0
    bias[5] = -1.0  # filter 5 of the first layer never fires
    weights["block1_conv1"] = (kernel, bias)
    images = _small_images()[:2]
    normalized = normalize.normalize_weights(weights, images)
    assert np.array_equal(normalized["block1_conv1"][0][..., 5], kernel[..., 5])
    assert normalized["block1_conv1"][1][5] == bias[5]
    means = normalize.mean_activations(normalized, images, until="block2_conv1")
    assert means["block1_conv1"][5] == 0
    np.testing.assert_allclose(np.delete(means["block1_conv1"], 5), 1.0, rtol=2e-3)
    np.testing.assert_allclose(means["block2_conv1"][means["block2_conv1"] > 0], 1.0, rtol=2e-3)
    # the next layer's slice for the dead channel is multiplied by 1: only its own output scale applies
    next_scale = normalize.filter_scales(normalize.mean_activations(weights, images, until="block1_conv2")
                                         ["block1_conv2"])
    np.testing.assert_allclose(normalized["block1_conv2"][0][:, :, 5, :], weights["block1_conv2"][0][:, :, 5, :]
                               / next_scale, rtol=1e-5)
    assert all(np.isfinite(k).all() and np.isfinite(b).all() for k, b in normalized.values())
    np.testing.assert_array_equal(normalize.filter_scales(np.array([0.0, 2.0, 0.5])), [1.0, 2.0, 0.5])


def test_bad_arguments(base_weights):
    with pytest.raises(SettingsError, match="pooling"):
        normalize.mean_activations(base_weights, _small_images(), pooling="median")
    with pytest.raises(SettingsError, match="at least one image"):
        normalize.mean_activations(base_weights, [])
    with pytest.raises(SettingsError, match="until"):
        normalize.mean_activations(base_weights, _small_images(), until="block5_pool")


def test_fixed_image_list():
    names = normalize.normalization_images()
    assert names[-3:] == ("astronaut", "coffee", "chelsea")
    assert "tubingen" in names and "starry_night" in names
    assert normalize.IMAGE_SIZE == 256 and normalize.STATISTICS_POOLING == "avg"


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch, base_weights):
    """An empty cache folder, the real compact weights via NSTUTILS_WEIGHTS, and a cheap fake computation."""
    compact = fetch_compact_weights()
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NSTUTILS_WEIGHTS", str(compact))
    calls = []  # the pooling of each computation

    def fake_compute(pooling):
        calls.append(pooling)
        return {name: (kernel * 2.0, bias * 2.0) for name, (kernel, bias) in base_weights.items()}

    monkeypatch.setattr(W, "_compute_normalized", fake_compute)
    clear_caches()
    yield calls
    clear_caches()


def test_cache_is_computed_once_then_read_from_the_file(isolated_cache, tmp_path, base_weights):
    calls = isolated_cache
    first = W.load_normalized_weights()
    path = W.normalized_cache_path()
    assert calls == ["avg"] and path.parent == tmp_path and path.exists()
    assert path.name.startswith(f"vgg19_normalized_{normalize.NORMALIZE_VERSION}_")
    assert path.with_name(path.name + ".sha256").exists()
    assert W.load_normalized_weights() is first  # memory cache
    clear_caches()
    second = W.load_normalized_weights()  # from the file
    assert calls == ["avg"]
    np.testing.assert_array_equal(second["block3_conv1"][0], base_weights["block3_conv1"][0] * 2.0)
    assert W.fetch_normalized_weights() == path


def test_corrupt_cache_file_is_recomputed(isolated_cache, caplog):
    calls = isolated_cache
    W.load_normalized_weights()
    path = W.normalized_cache_path()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    clear_caches()
    with caplog.at_level(logging.WARNING, logger="nstutils.cache"):
        weights = W.load_normalized_weights()
    assert calls == ["avg"] * 2 and "failed the hash check" in caplog.text
    assert load_weights_npz(path)["block1_conv1"][0].shape == weights["block1_conv1"][0].shape
    # a file cut short with a matching (rewritten) sidecar is not readable: recomputed too
    path.write_bytes(path.read_bytes()[:1000])
    path.with_name(path.name + ".sha256").write_text(cache.sha256_of(path) + "\n")
    clear_caches()
    W.load_normalized_weights()
    assert calls == ["avg"] * 3


def test_cache_name_depends_on_the_inputs(isolated_cache, monkeypatch):
    before = W.normalized_cache_path()
    monkeypatch.setattr(normalize, "IMAGE_SIZE", 128)
    assert W.normalized_cache_path() != before
    monkeypatch.setattr(normalize, "IMAGE_SIZE", 256)
    monkeypatch.setattr(normalize, "EXTRA_IMAGES", ("astronaut",))
    assert W.normalized_cache_path() != before


def test_each_pooling_has_its_own_network_and_file(isolated_cache):
    calls = isolated_cache
    assert W.normalized_cache_path("max") != W.normalized_cache_path("avg") == W.normalized_cache_path()
    W.load_vgg19_weights("normalized")
    W.load_vgg19_weights("normalized_max")
    assert calls == ["avg", "max"]
    assert W.normalized_cache_path("max").exists() and W.normalized_cache_path("avg").exists()
    W.load_normalized_weights("max")  # both kept in memory: neither is computed again
    W.load_normalized_weights("avg")
    assert calls == ["avg", "max"]
    with pytest.raises(SettingsError, match="unknown pooling 'median'. Choose from max, avg"):
        W.normalized_cache_path("median")
    with pytest.raises(SettingsError, match="unknown pooling 'mx'. Did you mean 'max'?"):
        W.normalized_cache_path("mx")


def test_real_normalized_network():
    """The real network (computed once, about 10 s, then cached): means of 1 on its own image set."""
    weights = W.load_normalized_weights()
    means = normalize.mean_activations(weights, normalize.load_statistics_images())
    for layer in CHECKED_LAYERS:
        alive = means[layer] > 0
        assert alive.mean() > 0.9, layer
        np.testing.assert_allclose(means[layer][alive], 1.0, rtol=2e-3, err_msg=layer)
    path = W.fetch_normalized_weights()
    features = FeatureExtractor(["conv4_2"], pooling="avg", weights=str(path))(load_image("coffee", max_dim=64))
    assert np.isfinite(np.asarray(features["block4_conv2"])).all()
    loaded = load_vgg19_weights("normalized")
    np.testing.assert_array_equal(loaded["block5_conv4"][0], weights["block5_conv4"][0])


def test_clear_caches_empties_every_registered_cache_including_the_normalized_network(isolated_cache):
    """Fill every in-memory cache there is, then one call empties them all."""
    from nstutils import arithmetic, data, features

    calls = isolated_cache
    W.load_vgg19_weights("normalized")
    features.get_extractor(["conv1_1"])
    data.registry()
    arithmetic._MEASURED[("somewhere", "key")] = {"compute_dtype": "float32"}
    assert len(W._NORMALIZED) == 1 and len(W._MEMORY_CACHE) >= 2 and len(features._EXTRACTORS) == 1
    assert data.registry.cache_info().currsize == 1
    names = cache.registered_caches()
    assert {"weights.decoded", "weights.normalized", "features.extractors", "arithmetic.measured",
            "nstutils.data.registry"} <= set(names)
    clear_caches()
    assert len(W._NORMALIZED) == 0 and len(W._MEMORY_CACHE) == 0 and len(features._EXTRACTORS) == 0
    assert data.registry.cache_info().currsize == 0 and not arithmetic._MEASURED
    W.load_normalized_weights()  # read from the file again, not recomputed
    assert calls == ["avg"]


def test_normalize_is_pure(base_weights):
    """normalize() only rescales by the means it is given, and changes nothing it is passed."""
    means = {name: np.full(base_weights[name][1].shape, 2.0) for name in CONV_LAYERS}
    before = base_weights["block2_conv1"][0].copy()
    out = normalize.normalize(base_weights, means)
    np.testing.assert_array_equal(base_weights["block2_conv1"][0], before)
    np.testing.assert_allclose(out["block1_conv1"][0], base_weights["block1_conv1"][0] / 2.0, rtol=1e-6)
    np.testing.assert_allclose(out["block2_conv1"][0], base_weights["block2_conv1"][0], rtol=1e-6)  # ×2 then /2
