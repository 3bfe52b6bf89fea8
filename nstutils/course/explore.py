"""Looking inside VGG19: channel visualisation and the paper's reconstructions from noise.

* :func:`visualize_channel` (``01_cnn_features``): gradient ascent on the input image to
  find a pattern that excites one channel.
* :func:`reconstruct_content` (``02_content``): start from noise and match one layer's
  feature maps; deep layers keep the layout but lose the exact pixels.
* :func:`reconstruct_style` (``03_gram_style``): start from noise and match the Gram
  matrices of a set of layers; more layers give larger-scale texture.
* :func:`pooling_gradients` (``01_cnn_features``): what 2×2 max and average pooling
  compute, and where each sends the gradient back (max: all to the winner; average: ¼
  to each input).

The reconstructions are :func:`~nstutils.run.stylize` with one of the two loss
terms switched off, so they share its optimiser, seeds and stopping. The layer lists they are
shown with are the paper's (:data:`~nstutils.recipes.PAPER_CONTENT_RECONSTRUCTION_LAYERS`,
:data:`~nstutils.recipes.PAPER_STYLE_LAYER_STACKS`); the pixel error is
:func:`nstutils.course.measures.rms_distance`.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from nstutils.errors import SettingsError
from nstutils.features import get_extractor
from nstutils.images import load_image
from nstutils.results import remembered
from nstutils.run import StylizeResult, stylize
from nstutils.settings import check_pooling
from nstutils.vgg19 import layer_name


def visualize_channel(layer: str, channel: int, size: int = 128, steps: int = 100, seed: int = 0,
                      step_size: float = 0.02, pooling: str = "max") -> Tuple[np.ndarray, List[float]]:
    """An image ``[size, size, 3]`` that strongly activates ``channel`` of ``layer``, and the
    channel's mean activation after each step.

    Starts from grey plus faint noise and climbs the gradient of the channel's mean
    activation; each step moves every pixel by at most ``step_size`` (the gradient is
    normalised), and a light blur every 10 steps keeps the pattern from turning into noise. With the results
    cache on (:mod:`nstutils.results`), the same arguments give the same picture back from disk.
    """
    arguments = {"layer": layer_name(layer), "channel": channel, "size": size, "steps": steps, "seed": seed,
                 "step_size": step_size, "pooling": pooling}
    image, record = remembered("visualize_channel", arguments, lambda: _climb(**arguments))
    return image, record["history"]


def _climb(layer: str, channel: int, size: int, steps: int, seed: int, step_size: float,
           pooling: str) -> Tuple[np.ndarray, dict]:
    """:func:`visualize_channel`'s gradient ascent, as ``(image, {"history": [...]})``."""
    import tensorflow as tf

    extractor = get_extractor([layer], pooling)
    channels = int(extractor.params[layer][1].shape[0]) if layer in extractor.params else None
    if channels is not None and not 0 <= channel < channels:
        raise SettingsError(f"{layer} has channels 0..{channels - 1}, got {channel}")
    rng = np.random.default_rng(seed)
    image = tf.Variable((0.5 + 0.05 * rng.standard_normal((1, size, size, 3))).astype(np.float32))

    @tf.function(autograph=False)  # no generated files left in the temp folder
    def ascend():
        with tf.GradientTape() as tape:
            activation = tf.reduce_mean(extractor(image)[layer][..., channel])
        grad = tape.gradient(activation, image)
        image.assign(tf.clip_by_value(image + step_size * grad / (tf.reduce_mean(tf.abs(grad)) + 1e-8), 0.0, 1.0))
        return activation

    history = []
    for step in range(steps):
        history.append(float(ascend()))
        if step % 10 == 9:
            blurred = tf.nn.avg_pool2d(tf.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], "REFLECT"), 3, 1, "VALID")
            image.assign(0.7 * image + 0.3 * blurred)
    return image.numpy()[0], {"history": history}


def channel_activation(image, layer: str, channel: int, pooling: str = "max") -> float:
    """Mean activation of one channel for an image (to check a visualisation worked)."""
    name = layer_name(layer)
    features = get_extractor([name], pooling)(load_image(image))[name]
    return float(np.mean(features[..., channel]))


def reconstruct_content(image, layer: str, steps: int = 200, max_dim: int | None = None, seed: int = 0,
                        **options) -> StylizeResult:
    """Start from noise and match ``image``'s feature maps at ``layer`` (content loss only)."""
    return stylize(image, image, content_layers=[layer], style_layers=[], content_weight=1.0, style_weight=0.0,
                   tv_weight=0.0, init="noise", steps=steps, max_dim=max_dim, seed=seed, **options)


def reconstruct_style(image, layers: Sequence[str], steps: int = 200, max_dim: int | None = None, seed: int = 0,
                      **options) -> StylizeResult:
    """Start from noise and match ``image``'s Gram matrices at ``layers`` (style loss only)."""
    return stylize(image, image, content_layers=[], style_layers=list(layers), content_weight=0.0, style_weight=1.0,
                   tv_weight=0.0, init="noise", steps=steps, max_dim=max_dim, seed=seed, **options)


def pooling_gradients(x, kind: str = "max", upstream=None) -> Tuple[np.ndarray, np.ndarray]:
    """2×2 pooling (stride 2) of a map ``x [H, W]`` and the gradient it sends back to ``x``.

    ``kind`` is ``"max"`` (``tf.nn.max_pool2d``) or ``"avg"`` (``tf.nn.avg_pool2d``);
    ``upstream`` is the gradient arriving at the pooled map ``[H/2, W/2]`` (default all
    ones, i.e. the gradient of the sum of the pooled values). Returns ``(pooled [H/2, W/2],
    gradient [H, W])`` as float64 numpy arrays, computed with ``tf.GradientTape``: max
    pooling puts each window's whole upstream gradient on the window's largest input and
    0 on the other three; average pooling gives each of the four inputs a quarter of it.
    """
    import tensorflow as tf

    check_pooling(kind, "kind")
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[0] % 2 or x.shape[1] % 2 or not x.size:
        raise SettingsError(f"pooling_gradients needs a 2-D map with even height and width, got shape {x.shape}")
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    if upstream is None:
        upstream = np.ones((x.shape[0] // 2, x.shape[1] // 2), np.float32)
    upstream = np.asarray(upstream, np.float32)
    if upstream.shape != (x.shape[0] // 2, x.shape[1] // 2):
        raise SettingsError(f"upstream must have the pooled shape {(x.shape[0] // 2, x.shape[1] // 2)}, "
                            f"got {upstream.shape}")
    image = tf.constant(x[None, :, :, None])
    with tf.GradientTape() as tape:
        tape.watch(image)
        pooled = pool(image, 2, 2, "VALID")
        weighted = tf.reduce_sum(pooled * upstream[None, :, :, None])
    gradient = tape.gradient(weighted, image)
    return pooled.numpy()[0, :, :, 0].astype(np.float64), gradient.numpy()[0, :, :, 0].astype(np.float64)
