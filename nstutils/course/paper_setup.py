"""The paper's setup as ``stylize`` options: Gatys, Ecker & Bethge, *Image Style Transfer Using
Convolutional Neural Networks*, CVPR 2016.

The paper's setup differs from the TensorFlow tutorial's (``stylize``'s defaults):

* VGG19 **normalised** so that every filter's mean activation is 1
  (:mod:`nstutils.normalize`) and run with **average pooling** for the reconstructions of
  Figure 1 (:func:`reconstruction_options`) and Figure 7; the other transfers run with **max pooling** in the
  network normalised for it (:data:`~nstutils.recipes.TRANSFER_POOLING`: the paper's average
  pooling leaves dots of colour in flat skies with our VGG19, measured there);
* content layer ``conv4_2``; style layers ``conv1_1 … conv5_1`` with ``w_l = 1/5``;
* the ratio α/β of content to style weight (1e-5 … 1e-2), converted to our mean-based
  losses by :func:`nstutils.course.experiments.weights_for_ratio` after scaling by
  :data:`~nstutils.recipes.PAPER_RATIO_SCALE` (taken literally, the paper's ratios give the
  photo back unchanged: measured, see there);
* no total-variation term, a **white-noise** start and L-BFGS; our transfers compare the content in
  luminance (:data:`~nstutils.recipes.TRANSFER_CONTENT_CHANNELS`: in RGB it dots the skies, measured there).

Every constant comes from :mod:`nstutils.recipes`. :func:`paper_options` returns exactly these
as ``stylize`` keyword arguments; the figures (:mod:`nstutils.course.paper`) run through
:func:`stylize_paper`, i.e. :func:`nstutils.run.stylize`.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence, Tuple

import numpy as np

from nstutils.errors import SettingsError
from nstutils.recipes import (PAPER_CONTENT_LAYER, PAPER_POOLING, PAPER_RATIO_SCALE, PAPER_STYLE_LAYERS,
                              PAPER_WEIGHTS, TRANSFER_CONTENT_CHANNELS, TRANSFER_POOLING, TRANSFER_WEIGHTS)
from nstutils.run import StylizeResult, stylize
from nstutils.vgg19 import CAFFE_MEAN_BGR, layer_name, layer_names

from .experiments import weights_for_ratio

#: Default size (long side) of the figures: the findings are stated at this size.
DEFAULT_SIZE = 256
#: L-BFGS steps of the figures in docs/paper.md and of 00's gallery at full quality: the findings are stated at this
#: many. (With the content compared in RGB, the dots of colour in flat skies grew with the steps, which set this
#: number; in luminance 200 steps stay clean: docs/paper.md.)
FIGURE_STEPS = 120


def paper_options(ratio: float, content_shape: Sequence[int], *, content_layer: str = PAPER_CONTENT_LAYER,
                  style_layers: Sequence[str] = PAPER_STYLE_LAYERS, ratio_scale: float = PAPER_RATIO_SCALE,
                  **overrides: Any) -> Dict[str, Any]:
    """``stylize`` keyword arguments for the paper's setup at content/style ratio α/β = ``ratio``.

    ``content_shape`` is the content image's ``(height, width)`` or ``[1, H, W, 3]`` shape
    *at the size it is optimised* (the conversion of α/β depends on the number of
    positions of the content layer: the paper's content loss is a sum, so the same ratio
    leans further towards the content on a larger image). The weights are
    ``weights_for_ratio(ratio × ratio_scale, ...)``; see :data:`~nstutils.recipes.PAPER_RATIO_SCALE`
    for why the stated ratios are scaled (``ratio_scale=1``: the literal conversion).
    ``overrides`` replace or add any option (``steps``, ``max_dim``, ``seed``, ``init``, ...).

    >>> options = paper_options(1e-3, (192, 256))            # doctest: +SKIP
    >>> stylize(photo, painting, max_dim=256, steps=300, **options)   # doctest: +SKIP
    """
    if not np.isfinite(ratio_scale) or ratio_scale <= 0:
        raise SettingsError(f"ratio_scale must be a positive number, got {ratio_scale}")
    if not np.isfinite(ratio) or ratio <= 0:
        raise SettingsError(f"the content/style ratio must be a positive number, got {ratio}")
    content_weight, style_weight = weights_for_ratio(ratio * ratio_scale, content_shape, content_layer)
    return transfer_options({
        "content_layers": (layer_name(content_layer),) if content_layer else (),
        "style_layers": tuple(layer_names(style_layers)),
        "content_weight": content_weight,
        "style_weight": style_weight,
        "tv_weight": 0.0,
        **overrides,
    })


#: Standard deviation, in [0, 1] pixel units, of the reference implementation's random start: jcjohnson/neural-style's
#: ``-init random`` is ``torch.randn(...):mul(0.001)`` in its preprocessed space (0-255 scale, ImageNet mean
#: subtracted), i.e. the mean colour plus noise of 0.001 / 255.
REFERENCE_NOISE = 0.001 / 255.0


#: Noise of Figure 4's start (``04_style_layers``): the reference start with this standard deviation instead of
#: :data:`REFERENCE_NOISE`. The reference implementation runs 1,000 steps; in the lesson's 40 (192 px), a flat grey start
#: can stall: ``conv1_1`` alone at ρ_label 1e-4 stayed a uniform grey-green (contrast 0.22 of the photo's or the
#: painting's). With 0.02 that cell moves (contrast 1.12; content distance 0.82) and the all-layer cell at 1e-3 gains no
#: specks (white specks 1.39× the painting's, sky dots 1.16, speckle 1.03, where the flat start measured 1.9 at 256 px).
GRID_START_NOISE = 0.02


def reference_start(shape: Sequence[int], seed: int = 0, amplitude: float = REFERENCE_NOISE) -> np.ndarray:
    """A ``[1, H, W, 3]`` start image as the reference implementation draws its "random" start
    (``04_style_layers``): VGG19's ImageNet mean colour plus Gaussian noise of standard deviation
    ``amplitude`` (default :data:`REFERENCE_NOISE`), almost flat grey.

    ``shape`` is ``(height, width)`` or ``[1, H, W, 3]``. Pass it as ``init``. Unlike the uniform
    white noise of ``init="noise"``, nothing of the start survives as pixel-scale speckle (measured on
    Figure 4's all-layer cell at α/β 1e-3, 256 px, 100 steps: see ``docs/paper.md``).
    """
    if not np.isfinite(amplitude) or amplitude < 0:
        raise SettingsError(f"amplitude must be a finite number ≥ 0, got {amplitude}")
    height, width = (shape[1], shape[2]) if len(shape) == 4 else shape[:2]
    mean = CAFFE_MEAN_BGR[::-1].astype(np.float64) / 255.0
    noise = np.random.default_rng(seed).standard_normal((1, int(height), int(width), 3))
    return np.clip(mean + amplitude * noise, 0.0, 1.0).astype(np.float32)


#: The paper's own network (normalised, average pooling): Figure 1's reconstructions and Figure 7.
PAPER_NETWORK = {"pooling": PAPER_POOLING, "weights": PAPER_WEIGHTS}


def reconstruction_options(options: Mapping[str, Any]) -> Dict[str, Any]:
    """Figure 1's network (:data:`PAPER_NETWORK`) and L-BFGS, under any caller overrides."""
    return {**PAPER_NETWORK, "optimizer": "lbfgs", **options}


def transfer_options(options: Mapping[str, Any]) -> Dict[str, Any]:
    """The transfers' network (:data:`~nstutils.recipes.TRANSFER_POOLING`), content compared in luminance
    (:data:`~nstutils.recipes.TRANSFER_CONTENT_CHANNELS`), L-BFGS and a white-noise start, under any caller
    overrides."""
    return {"pooling": TRANSFER_POOLING, "weights": TRANSFER_WEIGHTS, "content_channels": TRANSFER_CONTENT_CHANNELS,
            "optimizer": "lbfgs", "init": "noise", **options}


def figure_size(max_dim, steps) -> Tuple[int, int]:
    """``(max_dim, steps)`` of a figure as integers; both must be given."""
    if max_dim is None or steps is None:
        raise SettingsError("give max_dim and steps (notebooks pass pick(full, fast) values)")
    return int(max_dim), int(steps)


def stylize_paper(photo, style, ratio: float, max_dim: int, steps: int, seed: int, options: Mapping[str, Any],
                  **extra: Any) -> StylizeResult:
    """:func:`~nstutils.run.stylize` ``photo`` (already at ``max_dim``) in ``style`` with the paper's setup."""
    settings = paper_options(ratio, photo.shape, **{"max_dim": max_dim, "steps": steps, "seed": seed,
                                                    **extra, **options})
    return stylize(photo, style, **settings)


def final_losses(result) -> Dict[str, float]:
    """The best total loss and the last content and style losses of a run."""
    last = result.history[-1] if result.history else {}
    return {"total": float(result.best_loss), "content": float(last.get("content", np.nan)),
            "style": float(last.get("style", np.nan))}
