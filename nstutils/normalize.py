"""The paper's normalised VGG19: every filter's mean activation rescaled to one.

Gatys et al. (2016) used VGG19 "normalised by scaling the weights such that the mean
activation of each convolutional filter over images and positions is equal to one".
Because ReLU, max pooling and average pooling are *positively homogeneous*
(``relu(s·x) = s·relu(x)`` for ``s > 0``), dividing a layer's kernel and bias by a
per-filter factor ``m_c`` and multiplying the next layer's kernel slice for input channel
``c`` by the same ``m_c`` leaves the next layer's pre-activations unchanged. The
normalised network therefore computes *the same feature maps up to a positive scale per
channel*; what changes is how much each filter, and each layer, weighs in a loss (the
Gram matrices and content errors of a layer are no longer dominated by its few
loudest filters).

The statistics come from a FIXED image set so that every machine builds the same
network: the course images of :func:`nstutils.data.registry` (the Tübingen photo and the
paintings) and scikit-image's offline photos ``astronaut``, ``coffee`` and ``chelsea``,
each at a long side of :data:`IMAGE_SIZE` pixels. That is a small stand-in for the
ImageNet statistics the paper used: means of the early layers are close to ImageNet's,
the deep ones depend more on the images, and none of it changes *what* the network
computes, only the per-channel scale.

This module is the arithmetic only: :func:`mean_activations` measures the statistics
(through :func:`nstutils.vgg19.forward`) and :func:`normalize` applies them, a pure function.
:mod:`nstutils.weights` computes the network once (3-7 s on 2 CPU cores: one pass of ten
images at 256 px), caches it as ``.npz`` (with a sha256 sidecar) under the name
:func:`inputs_key` gives, and serves it as ``load_vgg19_weights("normalized")`` and
``FeatureExtractor(..., weights="normalized")``; the same network with its statistics
measured under max pooling is ``"normalized_max"`` (the course's paper transfers run in it:
see :data:`nstutils.recipes.TRANSFER_POOLING`). Introduced in ``07_beyond`` and used by the
course's paper figures.
"""

from __future__ import annotations

import hashlib
import json
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from .errors import SettingsError, WeightsError
from .settings import check_pooling
from .vgg19 import CONV_LAYERS, LAYERS, forward

#: Bump when the recipe changes, so old cache files are not used.
NORMALIZE_VERSION = "v1"
#: Long side (pixels) at which every statistics image is used.
IMAGE_SIZE = 256
#: scikit-image's photos added to the course images (always available offline).
EXTRA_IMAGES: Tuple[str, ...] = ("astronaut", "coffee", "chelsea")
#: Pooling the statistics are measured with: the paper's network uses average pooling.
STATISTICS_POOLING = "avg"

Weights = Dict[str, Tuple[np.ndarray, np.ndarray]]


def normalization_images() -> Tuple[str, ...]:
    """Names of the images the statistics are measured on (fixed, in this order)."""
    from .data import registry

    return tuple(registry()) + EXTRA_IMAGES


def mean_activations(weights: Weights, images: Sequence, pooling: str = STATISTICS_POOLING,
                     until: str = "block5_conv4") -> Dict[str, np.ndarray]:
    """Each filter's mean activation (after ReLU) over all ``images`` and positions.

    Returns ``{conv layer: float64 [channels]}`` for every conv layer up to ``until``.
    ``images`` are ``[1, H, W, 3]`` (or ``[H, W, 3]``) arrays in [0, 1]; they may differ in
    size, and the mean is over all positions of all images (an image with more positions
    counts more). Images run one at a time through :func:`nstutils.vgg19.forward` in float32.
    """
    import tensorflow as tf

    check_pooling(pooling)
    if until not in CONV_LAYERS:
        raise SettingsError(f"until must be a conv layer, one of {', '.join(CONV_LAYERS)}; got {until!r}")
    if len(images) == 0:
        raise SettingsError("mean_activations needs at least one image")
    path = LAYERS[: LAYERS.index(until) + 1]
    names = [name for name in path if not name.endswith("pool")]
    params = {name: (tf.constant(weights[name][0], tf.float32), tf.constant(weights[name][1], tf.float32))
              for name in names}

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)], reduce_retracing=True,
                 autograph=False)  # no generated files left in the temp folder
    def channel_sums(image):
        outputs = forward(params, image, path, names, pooling)
        sums = [tf.reduce_sum(outputs[name], axis=[0, 1, 2]) for name in names]
        counts = [tf.cast(tf.shape(outputs[name])[1] * tf.shape(outputs[name])[2], tf.float32) for name in names]
        return sums, counts

    totals = {name: np.zeros(int(params[name][1].shape[0]), np.float64) for name in names}
    positions = {name: 0.0 for name in names}
    for image in images:
        sums, counts = channel_sums(tf.constant(_as_batch(image)))
        for name, total, count in zip(names, sums, counts):
            totals[name] += total.numpy().astype(np.float64)
            positions[name] += float(count)
    return {name: totals[name] / positions[name] for name in names}


def _as_batch(image) -> np.ndarray:
    batch = np.asarray(image, np.float32)
    if batch.ndim == 3:
        batch = batch[np.newaxis]
    if batch.ndim != 4 or batch.shape[0] != 1 or batch.shape[-1] != 3:
        raise SettingsError(f"images must be [1, H, W, 3] or [H, W, 3], got shape {batch.shape}")
    return batch


def normalize_weights(weights: Weights, images: Sequence, pooling: str = STATISTICS_POOLING) -> Weights:
    """Rescale VGG19 so that each filter's mean activation over ``images`` and positions is 1.

    ``weights`` is ``{layer: (kernel [3, 3, in, out], bias [out])}`` as
    :func:`nstutils.weights.load_vgg19_weights` returns; ``images`` are arrays in [0, 1]
    (``[1, H, W, 3]`` or ``[H, W, 3]``). Returns new arrays (the input is not changed).

    Layer by layer in network order, filter ``c`` of a layer with mean activation
    ``m_c`` (measured with the network rescaled so far) gets kernel and bias divided by
    ``m_c``, and the next conv layer's kernel slice for input channel ``c`` is multiplied
    by ``m_c``. ReLU and pooling commute with a positive per-channel scale, so the next
    layer's pre-activations are unchanged: the new network's feature maps are the old
    ones divided by ``m_c`` channel by channel. For the same reason the means measured
    with the partly rescaled network equal those of the original one, so one pass of
    each image through the original network (:func:`mean_activations`) gives every
    layer's factors; this is what is computed, one image at a time.

    **Dead filters** (mean exactly 0: the filter never fires on these images) keep scale
    1, and the next layer's slice is left as it is; they stay dead and their mean stays 0.

    **Pooling**: the statistics are measured with average pooling by default because that
    is the paper's network; rescaling commutes with either pooling, but the means behind
    a max-pooling layer differ, so a network normalised with avg pooling has means of
    exactly 1 only when run with avg pooling (with max pooling they are near 1, larger).

    All 16 conv layers (to ``block5_conv4``) are normalised; the last layer has no next
    layer to compensate, so its outputs are simply divided by its means.
    """
    _check_layers(weights)
    return normalize(weights, mean_activations(weights, images, pooling=pooling))


def _check_layers(weights: Mapping) -> None:
    missing = [name for name in CONV_LAYERS if name not in weights]
    if missing:
        raise WeightsError(f"weights have no layer {missing[0]!r}")


def normalize(weights: Weights, means: Mapping[str, np.ndarray]) -> Weights:
    """Rescale VGG19 given each filter's mean activation: the pure half of :func:`normalize_weights`.

    ``means`` is ``{conv layer: [channels]}`` as :func:`mean_activations` returns for ``weights``.
    Filter ``c`` of each layer gets kernel and bias divided by its factor (:func:`filter_scales`),
    and the next conv layer's kernel slice for input channel ``c`` is multiplied by it. Returns
    new float32 arrays; ``weights`` is not changed (``07_beyond``).
    """
    _check_layers(weights)
    weights_out: Weights = {}
    incoming = None  # the previous layer's factors, to multiply into this layer's input channels
    for name in CONV_LAYERS:
        kernel = np.array(weights[name][0], np.float64)
        bias = np.array(weights[name][1], np.float64)
        if incoming is not None:
            kernel *= incoming[np.newaxis, np.newaxis, :, np.newaxis]
        scale = filter_scales(means[name])
        kernel /= scale
        bias /= scale
        weights_out[name] = (kernel.astype(np.float32), bias.astype(np.float32))
        incoming = scale
    return weights_out


def filter_scales(means: np.ndarray) -> np.ndarray:
    """The factor each filter is divided by: its mean activation, or 1 for a dead filter (mean 0)."""
    means = np.asarray(means, np.float64)
    return np.where(means > 0, means, 1.0)


def inputs_key(weights_sha256: str, pooling: str = STATISTICS_POOLING) -> str:
    """A short hash of everything the normalised network depends on: recipe version, base weights, images, sizes
    and the pooling its statistics are measured with.

    ``weights_sha256`` is the base network's file hash; :mod:`nstutils.weights` names the cache file after this key.
    """
    check_pooling(pooling)
    from .data import registry

    entries = registry()
    images = [[name, entries[name].sha256 if name in entries else "skimage"] for name in normalization_images()]
    description = {"version": NORMALIZE_VERSION, "weights_sha256": weights_sha256, "size": IMAGE_SIZE,
                   "pooling": pooling, "images": images}
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def load_statistics_images() -> list:
    """The statistics images as ``[1, H, W, 3]`` arrays, long side :data:`IMAGE_SIZE`."""
    from .images import load_image

    return [load_image(name, max_dim=IMAGE_SIZE) for name in normalization_images()]
