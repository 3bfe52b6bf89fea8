"""Layer names, the feature extractor and its cache, preprocessing, the forward pass and the receptive field."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils import clear_caches
from nstutils.errors import SettingsError
from nstutils.features import FeatureExtractor, get_extractor
from nstutils.vgg19 import (CAFFE_MEAN_BGR, LAYERS, describe_vgg19, forward, layer_name, layer_names, output_shape,
                            paper_layer_name, preprocess, receptive_field)
from nstutils.weights import load_vgg19_weights


def test_layer_names_in_both_forms():
    assert layer_name("conv4_2") == "block4_conv2"
    assert layer_name("relu1_1") == "block1_conv1"
    assert layer_name("pool3") == "block3_pool"
    assert layer_name("block5_conv1") == "block5_conv1"
    assert paper_layer_name("block4_conv2") == "conv4_2"
    assert layer_names(["conv1_1", "block1_conv1", "conv2_1"]) == ["block1_conv1", "block2_conv1"]
    assert len(LAYERS) == 21


@pytest.mark.parametrize("bad, suggestion", [("conv4_5", "conv4_"), ("block4_conv22", "block4_conv2"),
                                             ("blok1_conv1", "block1_conv1")])
def test_unknown_layer_suggests(bad, suggestion):
    with pytest.raises(SettingsError, match=f"Did you mean '{suggestion}"):
        layer_name(bad)


def test_preprocess_is_caffe():
    image = np.zeros((1, 1, 1, 3), np.float32)
    image[..., 0] = 1.0  # pure red
    out = preprocess(image).numpy().ravel()
    np.testing.assert_allclose(out, [-103.939, -116.779, 255.0 - 123.68], rtol=1e-6)
    np.testing.assert_array_equal(CAFFE_MEAN_BGR, np.float32([103.939, 116.779, 123.68]))


def test_forward_is_the_extractors_network(tiny_content):
    """The one forward pass, written against plain numpy-held weights: pool, ReLU and the layers kept."""
    import tensorflow as tf

    weights = load_vgg19_weights()
    params = {name: tuple(tf.constant(p) for p in weights[name]) for name in ("block1_conv1", "block1_conv2")}
    path = ("block1_conv1", "block1_conv2", "block1_pool")
    outputs = forward(params, tiny_content, path, ["block1_pool", "block1_conv1"], pooling="avg")
    assert list(outputs) == ["block1_conv1", "block1_pool"]  # in path order, only those asked for
    x = preprocess(tiny_content)
    for name in path[:2]:
        x = tf.nn.relu(tf.nn.conv2d(x, params[name][0], 1, "SAME") + params[name][1])
    np.testing.assert_allclose(outputs["block1_pool"], tf.nn.avg_pool2d(x, 2, 2, "VALID"), rtol=1e-5, atol=1e-4)
    extracted = FeatureExtractor(["conv1_1"])(tiny_content)["block1_conv1"]
    np.testing.assert_array_equal(extracted, outputs["block1_conv1"])


def test_get_extractor_is_cached_until_clear_caches():
    first = get_extractor(["conv1_1"], "max", "compact", "float32")
    assert get_extractor(("conv1_1",)) is first
    assert get_extractor(["conv1_1"], pooling="avg") is not first
    clear_caches()
    assert get_extractor(["conv1_1"]) is not first


def test_extractors_of_one_network_share_its_weights_and_clear_caches_forgets_them():
    """Two layer sets of one network hold one copy of its weights (07_beyond builds five extractors); another
    compute dtype or weight source gets its own, and ``clear_caches`` forgets them with the extractors."""
    shallow, deep = get_extractor(["conv1_1", "conv2_1"]), get_extractor(["conv4_2"])
    assert all(shallow.params[name][0] is deep.params[name][0] for name in shallow.params)
    assert deep.params["block1_conv1"][0] is not get_extractor(["conv1_1"], weights="normalized").params[
        "block1_conv1"][0]
    assert deep.params["block2_conv1"][0] is not get_extractor(["conv2_1"], compute_dtype="bfloat16").params[
        "block2_conv1"][0]
    clear_caches()
    assert get_extractor(["conv1_1"]).params["block1_conv1"][0] is not shallow.params["block1_conv1"][0]


def test_extractor_shapes_and_depth(tiny_content):
    extract = FeatureExtractor(["conv1_1", "conv3_1"])
    assert extract.path[-1] == "block3_conv1"  # stops at the deepest requested layer
    features = extract(tiny_content)
    assert list(features) == ["block1_conv1", "block3_conv1"]
    assert features["block1_conv1"].shape == (1, 48, 64, 64)
    assert features["block3_conv1"].shape == (1, 12, 16, 256)
    assert float(np.min(features["block3_conv1"])) >= 0.0  # after ReLU


def test_avg_and_max_pooling_differ(tiny_content):
    maxed = FeatureExtractor(["conv2_1"], pooling="max")(tiny_content)["block2_conv1"]
    averaged = FeatureExtractor(["conv2_1"], pooling="avg")(tiny_content)["block2_conv1"]
    assert maxed.shape == averaged.shape
    assert not np.allclose(maxed, averaged)
    with pytest.raises(SettingsError):
        FeatureExtractor(["conv2_1"], pooling="median")


def test_bfloat16_features_are_close_to_float32(tiny_content):
    f32 = FeatureExtractor(["conv4_1"])(tiny_content)["block4_conv1"].numpy()
    b16 = FeatureExtractor(["conv4_1"], compute_dtype="bfloat16")(tiny_content)["block4_conv1"].numpy()
    assert b16.dtype == np.float32
    relative = np.linalg.norm(b16 - f32) / np.linalg.norm(f32)
    assert relative < 0.05


def test_bfloat16_extractor_sees_steps_smaller_than_bfloat16_spacing(tiny_content):
    # 1e-4 in [0, 1] is 0.0255 in Caffe units, far below bfloat16's spacing of 0.5-1 there:
    # with the image rounded to bfloat16 the first layer would not move at all.
    extract = FeatureExtractor(["conv1_1", "conv2_1"], compute_dtype="bfloat16")
    assert extract.layer_dtype("block1_conv1") == "float32" and extract.layer_dtype("block2_conv1") == "bfloat16"
    nudged = np.clip(tiny_content + 1e-4, 0, 1).astype(np.float32)
    before, after = extract(tiny_content)["block1_conv1"].numpy(), extract(nudged)["block1_conv1"].numpy()
    exact = FeatureExtractor(["conv1_1"])(tiny_content)["block1_conv1"].numpy()
    np.testing.assert_allclose(before, exact, rtol=1e-5, atol=1e-3)  # the first layer is float32's
    assert np.mean(before != after) > 0.5


def test_receptive_field_grows():
    assert receptive_field("conv1_1") == 3
    assert receptive_field("conv1_2") == 5
    assert receptive_field("pool1") == 6
    assert receptive_field("conv2_1") == 10
    sizes = [receptive_field(name) for name in LAYERS]
    assert sizes == sorted(sizes) and sizes[-1] > 200


def test_describe_vgg19():
    rows = describe_vgg19(224, 224)
    assert rows[-1]["output"] == (7, 7, 512)
    assert sum(r["parameters"] for r in rows) == 20_024_384


def test_output_shapes_follow_the_pools():
    assert output_shape("conv1_1", 384, 512) == (384, 512, 64)
    assert output_shape("pool1", 384, 512) == (192, 256, 64)
    assert output_shape("conv4_2", 384, 512) == (48, 64, 512)
    assert output_shape("block5_conv2", 48, 64) == (3, 4, 512)
