"""VGG19 as a feature extractor, and a cache of built extractors.

Style transfer never classifies anything: it only reads VGG19's intermediate feature
maps. :class:`FeatureExtractor` runs the network (:func:`nstutils.vgg19.forward`) only as far
as the deepest layer you ask for, with the Caffe preprocessing the original weights expect
(:func:`nstutils.vgg19.preprocess`), and with max pooling (Keras, the TensorFlow tutorial) or
average pooling (Gatys et al. 2016). Layer names may be Keras' (``block4_conv2``) or the
paper's (``conv4_2``). Introduced in ``01_cnn_features``.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable

from .cache import MemoryCache
from .errors import SettingsError
from .settings import check_pooling
from .vgg19 import LAYERS, forward, layer_names
from .weights import load_vgg19_weights

#: How many built extractors :func:`get_extractor` keeps (building one costs about a second).
EXTRACTOR_CACHE_SIZE = 6
_EXTRACTORS = MemoryCache(EXTRACTOR_CACHE_SIZE, "features.extractors")
#: The network's weights as TensorFlow constants, by weight source and compute dtype, shared by every extractor that
#: reads them: one copy per network (about 80 MB in float32), not one per set of layers.
_CONSTANTS = MemoryCache(EXTRACTOR_CACHE_SIZE, "features.constants")


class FeatureExtractor:
    """Map images in [0, 1] to VGG19 feature maps at the requested layers (``01_cnn_features``).

    >>> extract = FeatureExtractor(["conv1_1", "conv4_2"])      # doctest: +SKIP
    >>> features = extract(image)        # {"block1_conv1": [1, H, W, 64], ...}

    The network is written out with ``tf.nn`` ops (each conv followed by its ReLU, as in
    Keras' VGG19) and runs only as far as the deepest requested layer. Features are
    returned as float32; ``compute_dtype="bfloat16"`` runs the convolutions but the first in
    bfloat16 (about 2× faster on CPUs with native support, see
    :func:`nstutils.arithmetic.resolve_compute_dtype` and :meth:`layer_dtype`).
    """

    def __init__(self, layers: Iterable[str] | str, pooling: str = "max",
                 weights: str | os.PathLike = "compact", compute_dtype: str = "float32"):
        import tensorflow as tf

        self.layers = layer_names(layers)
        if not self.layers:
            raise SettingsError("FeatureExtractor needs at least one layer")
        check_pooling(pooling)
        if compute_dtype not in ("float32", "bfloat16"):
            raise SettingsError(f"compute_dtype must be 'float32' or 'bfloat16', got {compute_dtype!r}")
        self.pooling = pooling
        self.compute_dtype = compute_dtype
        deepest = max(self.layers, key=LAYERS.index)
        self.path = LAYERS[: LAYERS.index(deepest) + 1]
        params = load_vgg19_weights(weights)
        shared = _CONSTANTS.get((str(weights), compute_dtype), dict)
        for name in self.path:
            if not name.endswith("pool") and name not in shared:
                shared[name] = tuple(tf.constant(p, tf.as_dtype(self.layer_dtype(name))) for p in params[name])
        self.params = {name: shared[name] for name in self.path if not name.endswith("pool")}

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
        outputs = forward(self.params, image, self.path, self.layers, self.pooling)
        return {name: outputs[name] for name in self.layers}


def get_extractor(layers: Iterable[str], pooling: str = "max", weights: str | os.PathLike = "compact",
                  compute_dtype: str = "float32") -> FeatureExtractor:
    """A cached :class:`FeatureExtractor` (at most ``EXTRACTOR_CACHE_SIZE`` are kept; ``05_full_transfer``).

    ``nstutils.clear_caches()`` forgets them.
    """
    layers = tuple(layers)
    key = (layers, pooling, str(weights), compute_dtype)
    return _EXTRACTORS.get(key, lambda: FeatureExtractor(list(layers), pooling=pooling, weights=weights,
                                                         compute_dtype=compute_dtype))
