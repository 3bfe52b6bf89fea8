"""VGG19 as a feature extractor: layer names, preprocessing, and the extractor itself.

Style transfer never classifies anything: it only reads VGG19's intermediate feature
maps. :class:`FeatureExtractor` runs the network only as far as the deepest layer you
ask for, with the Caffe preprocessing the original weights expect, and with max
pooling (Keras, the TensorFlow tutorial) or average pooling (Gatys et al. 2016).
Layer names may be Keras' (``block4_conv2``) or the paper's (``conv4_2``).
Introduced in ``01_cnn_features``.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Dict, Iterable, List, Tuple

import numpy as np

from .errors import SettingsError
from .weights import BLOCK_CHANNELS, load_vgg19_weights

#: Every VGG19 layer up to the last pooling layer, in order (ReLU is part of each conv).
LAYERS: Tuple[str, ...] = tuple(
    name
    for block, count in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
    for name in [f"block{block}_conv{i}" for i in range(1, count + 1)] + [f"block{block}_pool"]
)

#: Caffe's ImageNet mean in BGR order, subtracted from 0-255 pixels.
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

#: The TensorFlow tutorial's (and the paper's) layer choices.
DEFAULT_CONTENT_LAYERS: Tuple[str, ...] = ("block5_conv2",)
DEFAULT_STYLE_LAYERS: Tuple[str, ...] = (
    "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1",
)

_PAPER = re.compile(r"^(conv|relu)(\d)_(\d)$|^pool(\d)$")


def layer_name(name: str) -> str:
    """Return the Keras name of a VGG19 layer given as ``block4_conv2``, ``conv4_2`` or ``relu4_2``.

    Unknown names raise :class:`SettingsError` with a "did you mean" suggestion.
    """
    if not isinstance(name, str):
        raise SettingsError(f"layer names are strings like 'block4_conv2', got {name!r}")
    text = name.strip()
    match = _PAPER.match(text.lower())
    if match:
        text = f"block{match[4]}_pool" if match[4] else f"block{match[2]}_conv{match[3]}"
    if text in LAYERS:
        return text
    paper_names = [paper_layer_name(layer) for layer in LAYERS]
    close = difflib.get_close_matches(name.strip(), list(LAYERS) + paper_names, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise SettingsError(f"unknown VGG19 layer {name!r}.{hint} Layers: {', '.join(LAYERS)}")


def paper_layer_name(name: str) -> str:
    """The paper's name of a layer: ``block4_conv2`` -> ``conv4_2``, ``block1_pool`` -> ``pool1``."""
    keras_name = layer_name(name)
    block = keras_name[5]
    if keras_name.endswith("pool"):
        return f"pool{block}"
    return f"conv{block}_{keras_name[-1]}"


def layer_names(names: Iterable[str] | str) -> List[str]:
    """Normalise a list of layer names (a single string counts as one name); no duplicates."""
    if isinstance(names, str):
        names = [names]
    result: List[str] = []
    for name in names:
        keras_name = layer_name(name)
        if keras_name not in result:
            result.append(keras_name)
    return result


def preprocess(image):
    """Caffe preprocessing: [0, 1] RGB -> 0-255 BGR with the ImageNet mean removed."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image, dtype=tf.float32)
    return image[..., ::-1] * 255.0 - CAFFE_MEAN_BGR


def fast_compute_dtype() -> str:
    """``"bfloat16"`` where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), else ``"float32"``.

    ``NSTUTILS_COMPUTE_DTYPE=float32`` (or ``bfloat16``) overrides the choice. On such
    CPUs bfloat16 convolutions run about twice as fast; the losses stay float32.
    """
    forced = os.environ.get("NSTUTILS_COMPUTE_DTYPE", "").strip().lower()
    if forced in ("float32", "bfloat16"):
        return forced
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = handle.read(200_000)
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


class FeatureExtractor:
    """Map images in [0, 1] to VGG19 feature maps at the requested layers.

    >>> extract = FeatureExtractor(["conv1_1", "conv4_2"])      # doctest: +SKIP
    >>> features = extract(image)        # {"block1_conv1": [1, H, W, 64], ...}

    The network is written out with ``tf.nn`` ops (each conv followed by its ReLU, as in
    Keras' VGG19) and runs only as far as the deepest requested layer. Features are
    returned as float32; ``compute_dtype="bfloat16"`` runs the convolutions in bfloat16
    (about 2× faster on CPUs with native support, see :func:`fast_compute_dtype`).
    """

    def __init__(self, layers: Iterable[str] | str, pooling: str = "max",
                 weights: str | os.PathLike = "compact", compute_dtype: str = "float32"):
        import tensorflow as tf

        self.layers = layer_names(layers)
        if not self.layers:
            raise SettingsError("FeatureExtractor needs at least one layer")
        if pooling not in ("max", "avg"):
            raise SettingsError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        if compute_dtype not in ("float32", "bfloat16"):
            raise SettingsError(f"compute_dtype must be 'float32' or 'bfloat16', got {compute_dtype!r}")
        self.pooling = pooling
        self.compute_dtype = compute_dtype
        deepest = max(self.layers, key=LAYERS.index)
        self.path = LAYERS[: LAYERS.index(deepest) + 1]
        params = load_vgg19_weights(weights)
        dtype = tf.as_dtype(compute_dtype)
        self.params = {
            name: (tf.constant(params[name][0], dtype), tf.constant(params[name][1], dtype))
            for name in self.path if not name.endswith("pool")
        }

    def __call__(self, image) -> Dict[str, "object"]:
        """Features of ``image`` (``[B, H, W, 3]`` in [0, 1]) as ``{layer: [B, h, w, c]}``."""
        import tensorflow as tf

        x = tf.cast(preprocess(image), self.compute_dtype)
        wanted = set(self.layers)
        outputs = {}
        for name in self.path:
            if name.endswith("pool"):
                pool = tf.nn.max_pool2d if self.pooling == "max" else tf.nn.avg_pool2d
                x = pool(x, 2, 2, "VALID")
            else:
                kernel, bias = self.params[name]
                x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))
            if name in wanted:
                outputs[name] = tf.cast(x, tf.float32)
        return {name: outputs[name] for name in self.layers}


def describe_vgg19(height: int = 224, width: int = 224) -> List[Dict[str, object]]:
    """One row per layer: name, paper name, output shape, parameters, receptive field.

    Shows the architecture without running anything (used in ``01_cnn_features``).
    """
    rows = []
    h, w, channels = height, width, 3
    for name in LAYERS:
        params = 0
        if name.endswith("pool"):
            h, w = h // 2, w // 2
        else:
            out = BLOCK_CHANNELS[int(name[5])]
            params = 3 * 3 * channels * out + out
            channels = out
        rows.append({"layer": name, "paper": paper_layer_name(name), "output": (h, w, channels),
                     "parameters": params, "receptive_field": receptive_field(name)})
    return rows


def receptive_field(name: str) -> int:
    """Side, in input pixels, of the region one unit of layer ``name`` can see.

    Each 3×3 conv adds 2·jump pixels; each 2×2 pooling doubles the jump.
    """
    last = layer_name(name)
    size, jump = 1, 1
    for layer in LAYERS[: LAYERS.index(last) + 1]:
        if layer.endswith("pool"):
            size += jump
            jump *= 2
        else:
            size += 2 * jump
    return size
