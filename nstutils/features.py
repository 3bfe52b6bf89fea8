"""VGG19 as a feature extractor: layer names, preprocessing, and the extractor itself.

Style transfer never classifies anything: it only reads VGG19's intermediate feature
maps. :class:`FeatureExtractor` runs the network only as far as the deepest layer you
ask for, with the Caffe preprocessing the original weights expect, and with max
pooling (Keras, the TensorFlow tutorial) or average pooling (Gatys et al. 2016).
Layer names may be Keras' (``block4_conv2``) or the paper's (``conv4_2``).
Introduced in ``01_cnn_features``.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable

import numpy as np

from .config import compute_dtype_override
from .errors import SettingsError
from .vgg19 import LAYERS, layer_names
from .weights import load_vgg19_weights

#: Caffe's ImageNet mean in BGR order, subtracted from 0-255 pixels.
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

#: The TensorFlow tutorial's layer choices (the paper's are in :mod:`nstutils.paper`).
DEFAULT_CONTENT_LAYERS = ("block5_conv2",)
DEFAULT_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


def preprocess(image):
    """Caffe preprocessing: [0, 1] RGB -> 0-255 BGR with the ImageNet mean removed."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image, dtype=tf.float32)
    return image[..., ::-1] * 255.0 - CAFFE_MEAN_BGR


def fast_compute_dtype() -> str:
    """The convolution dtype for ``compute_dtype="auto"``: ``"bfloat16"`` or ``"float32"``.

    ``NSTUTILS_COMPUTE_DTYPE`` (see :mod:`nstutils.config`) forces one. Otherwise the
    choice is measured once on this machine and device (:mod:`nstutils.tuning`) and
    cached: bfloat16 only where it really is faster. The losses always stay float32.
    """
    forced = compute_dtype_override()
    if forced:
        return forced
    from .config import cache_dir
    from .tuning import measured_compute_dtype

    return measured_compute_dtype(cache_dir() / "tuning.json")


class FeatureExtractor:
    """Map images in [0, 1] to VGG19 feature maps at the requested layers.

    >>> extract = FeatureExtractor(["conv1_1", "conv4_2"])      # doctest: +SKIP
    >>> features = extract(image)        # {"block1_conv1": [1, H, W, 64], ...}

    The network is written out with ``tf.nn`` ops (each conv followed by its ReLU, as in
    Keras' VGG19) and runs only as far as the deepest requested layer. Features are
    returned as float32; ``compute_dtype="bfloat16"`` runs the convolutions but the first in
    bfloat16 (about 2× faster on CPUs with native support, see :func:`fast_compute_dtype`
    and :meth:`layer_dtype`).
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
        self.params = {
            name: tuple(tf.constant(p, tf.as_dtype(self.layer_dtype(name))) for p in params[name])
            for name in self.path if not name.endswith("pool")
        }

    def layer_dtype(self, name: str) -> str:
        """The dtype ``name`` computes in: ``compute_dtype``, except the first convolution.

        ``block1_conv1`` sees the image itself, in Caffe units (0-255 minus the mean), where
        bfloat16's 8-bit mantissa rounds pixel values to steps of 0.5-1: an L-BFGS step
        smaller than that leaves the loss unchanged, which makes it noisy and stalls the line
        search. With 3 input channels it is about 0.2 % of the work, so it stays float32
        (measured: bfloat16 at 128 px ends 0.6 % above float32 instead of 2.2 %, see
        :mod:`nstutils.lbfgs`; 1-2 % slower per evaluation at 512 px).
        """
        return "float32" if name == "block1_conv1" else self.compute_dtype

    def __call__(self, image) -> Dict[str, "object"]:
        """Features of ``image`` (``[B, H, W, 3]`` in [0, 1]) as ``{layer: [B, h, w, c]}``."""
        import tensorflow as tf

        x = tf.cast(preprocess(image), tf.float32)
        wanted = set(self.layers)
        outputs = {}
        for name in self.path:
            if name.endswith("pool"):
                pool = tf.nn.max_pool2d if self.pooling == "max" else tf.nn.avg_pool2d
                x = pool(x, 2, 2, "VALID")
            else:
                kernel, bias = self.params[name]
                x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(tf.cast(x, kernel.dtype), kernel, 1, "SAME"), bias))
            if name in wanted:
                outputs[name] = tf.cast(x, tf.float32)
        return {name: outputs[name] for name in self.layers}
