"""Experiments that run many small style transfers and collect the results for a figure.

* :func:`layer_ratio_grid` (``04_style_layers``): the paper's grid of style-layer
  subsets × content/style ratio.
* :func:`compare_optimizers` (``06_optimizers``): several optimisers and start images
  on one objective, with their loss histories.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from nstutils.errors import SettingsError
from nstutils.images import load_image
from nstutils.objective import initial_image
from nstutils.recipes import PAPER_CONTENT_LAYER, PAPER_RATIOS, PAPER_STYLE_LAYER_STACKS
from nstutils.run import StylizeResult, prepare, run_optimizer, style_size, stylize
from nstutils.settings import make_settings
from nstutils.vgg19 import output_shape


def weights_for_ratio(ratio: float, image_shape: Sequence[int], content_layer: str = PAPER_CONTENT_LAYER
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


def layer_ratio_grid(content, style, layer_sets: Sequence[Sequence[str]] = PAPER_STYLE_LAYER_STACKS,
                     ratios: Sequence[float] = PAPER_RATIOS, *, steps: int = 100,
                     max_dim: int = 256, content_layers: Sequence[str] = (PAPER_CONTENT_LAYER,),
                     **options: Any) -> Dict[Tuple[int, int], StylizeResult]:
    """Stylize once per (layer set, ratio); returns ``{(row, column): result}``.

    Rows are ``layer_sets`` (style layers, equally weighted), columns are the paper's
    ratios α/β (converted by :func:`weights_for_ratio`). Every run starts from the same noise, as in the
    paper's Figure 3, so only the two settings differ. The painting is used at
    :func:`~nstutils.run.style_size` (``style_scale`` is honoured).
    """
    options = {"init": "noise", **options}
    run = make_settings(max_dim=max_dim, steps=steps, **options).run
    content_image = load_image(content, max_dim=max_dim)
    style_image = load_image(style, max_dim=style_size(run))
    results = {}
    for row, layers in enumerate(layer_sets):
        for column, ratio in enumerate(ratios):
            content_weight, style_weight = weights_for_ratio(ratio, content_image.shape, content_layers[0])
            results[(row, column)] = stylize(
                content_image, style_image, style_layers=list(layers), content_layers=list(content_layers),
                content_weight=content_weight, style_weight=style_weight, tv_weight=0.0, steps=steps,
                max_dim=max_dim, **options)
    return results


def compare_optimizers(content, style, runs: Sequence[Tuple[str, str]] = (
        ("lbfgs", "content"), ("adam", "content"), ("gd", "content"), ("lbfgs", "noise")),
        *, steps: int = 100, max_dim: int = 256, learning_rates: Dict[str, float] | None = None,
        **options: Any) -> Dict[str, StylizeResult]:
    """Run each ``(optimizer, init)`` pair on the same objective; returns ``{"lbfgs/content": result}``.

    All runs share one :class:`~nstutils.objective.StyleObjective` (:func:`~nstutils.run.prepare`),
    so their losses compare directly. ``learning_rates`` per optimiser default to Adam 0.02 (the
    tutorial) and gd 0.005.
    """
    rates = {"adam": 0.02, "gd": 0.005, "lbfgs": 0.02, **(learning_rates or {})}
    prepared = prepare(content, style, max_dim=max_dim, steps=steps, **options)
    results = {}
    for optimizer, init in runs:
        run = make_settings(prepared.run, optimizer=optimizer, init=init, learning_rate=rates[optimizer]).run
        start = initial_image(init, prepared.content, prepared.style, run.seed)
        results[f"{optimizer}/{init}"] = run_optimizer(prepared.objective, start, run)
    return results
