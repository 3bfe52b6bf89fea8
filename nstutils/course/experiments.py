"""Experiments that run many small style transfers and collect the results for a figure.

* :func:`layer_ratio_grid` (``04_style_layers``): the paper's grid of style-layer
  subsets × content/style ratio.
* :func:`compare_optimizers` (``06_optimizers``): several optimisers and start images
  on one objective, with their loss histories.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from .errors import SettingsError
from .explore import STYLE_LAYER_STACKS
from .vgg19 import output_shape
from .images import load_image
from .optimize import StyleObjective, StylizeResult, initial_image, run_optimizer, stylize
from .settings import make_settings


def weights_for_ratio(ratio: float, image_shape: Sequence[int], content_layer: str = "conv4_2"
                      ) -> Tuple[float, float]:
    """``(content_weight, style_weight)`` equivalent to the paper's ratio α/β.

    The paper's content loss is ``½ Σ (F − P)²`` (ours is the mean, ``M·N`` times
    smaller, with ``M`` positions and ``N`` channels of the content layer) and its style
    loss is ``Σ_l w_l E_l`` with ``E_l`` a quarter of our per-layer term. So
    ``α·L_content + β·L_style`` equals ours with ``content_weight = 2·M·N·α/β`` and
    ``style_weight = 1`` (times β/4, which only scales the whole loss).
    ``image_shape`` is the (height, width) or ``[1, H, W, 3]`` shape of the content image.
    """
    if not np.isfinite(ratio) or ratio <= 0:
        raise SettingsError(f"the content/style ratio must be a positive number, got {ratio}")
    height, width = (image_shape[1], image_shape[2]) if len(image_shape) == 4 else image_shape[:2]
    rows, columns, channels = output_shape(content_layer, height, width)
    return 2.0 * rows * columns * channels * ratio, 1.0


def layer_ratio_grid(content, style, layer_sets: Sequence[Sequence[str]] = STYLE_LAYER_STACKS,
                     ratios: Sequence[float] = (1e-5, 1e-4, 1e-3, 1e-2), *, steps: int = 100,
                     max_dim: int = 256, content_layers: Sequence[str] = ("conv4_2",),
                     **options: Any) -> Dict[Tuple[int, int], StylizeResult]:
    """Stylize once per (layer set, ratio); returns ``{(row, column): result}``.

    Rows are ``layer_sets`` (style layers, equally weighted), columns are the paper's
    ratios α/β (converted by :func:`weights_for_ratio`). Every run starts from the same noise, as in the
    paper's Figure 3, so only the two settings differ.
    """
    content_image = load_image(content, max_dim=max_dim)
    style_image = load_image(style, max_dim=max_dim)
    results = {}
    for row, layers in enumerate(layer_sets):
        for column, ratio in enumerate(ratios):
            content_weight, style_weight = weights_for_ratio(ratio, content_image.shape, content_layers[0])
            results[(row, column)] = stylize(
                content_image, style_image, style_layers=list(layers), content_layers=list(content_layers),
                content_weight=content_weight, style_weight=style_weight, tv_weight=0.0, steps=steps,
                max_dim=max_dim, **{"init": "noise", **options})
    return results


def compare_optimizers(content, style, runs: Sequence[Tuple[str, str]] = (
        ("lbfgs", "content"), ("adam", "content"), ("gd", "content"), ("lbfgs", "noise")),
        *, steps: int = 100, max_dim: int = 256, learning_rates: Dict[str, float] | None = None,
        **options: Any) -> Dict[str, StylizeResult]:
    """Run each ``(optimizer, init)`` pair on the same objective; returns ``{"lbfgs/content": result}``.

    All runs share one :class:`StyleObjective`, so their losses compare directly.
    ``learning_rates`` per optimiser default to Adam 0.02 (the tutorial) and gd 0.005.
    """
    rates = {"adam": 0.02, "gd": 0.005, "lbfgs": 0.02, **(learning_rates or {})}
    content_image = load_image(content, max_dim=max_dim)
    style_image = load_image(style, max_dim=max_dim)
    base = make_settings(max_dim=max_dim, steps=steps, **options)
    objective = StyleObjective(content_image, style_image, base.objective)
    results = {}
    for optimizer, init in runs:
        run = make_settings(base.run, optimizer=optimizer, init=init, learning_rate=rates[optimizer]).run
        start = initial_image(init, content_image, style_image, run.seed)
        results[f"{optimizer}/{init}"] = run_optimizer(objective, start, run)
    return results
