"""Beyond the basic recipe: blending two styles and high resolution by coarse-to-fine.

Introduced in ``07_beyond`` (colour preservation lives in :mod:`nstutils.color`, the style and
colour distances in :mod:`nstutils.course.measures`).
"""

from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from nstutils.errors import SettingsError
from nstutils.images import load_image
from nstutils.run import StylizeResult, prepare, run_optimizer, style_size, stylize


def blend_styles(content, styles: Sequence[Any], mix: Sequence[float], **options: Any) -> StylizeResult:
    """Stylize with the weighted average of several paintings' Gram matrices.

    ``mix`` gives one non-negative weight per style (normalised to sum to 1), so
    ``mix=(1, 0)`` is exactly the first style alone. Other options are as for ``stylize``.
    """
    if len(styles) != len(mix) or not styles:
        raise SettingsError(f"give one mix weight per style: {len(styles)} styles, {len(mix)} weights")
    weights = np.asarray(mix, dtype=np.float64)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise SettingsError(f"mix weights must be ≥ 0 and not all zero, got {list(mix)}")
    weights = weights / weights.sum()
    prepared = prepare(content, styles[0], **options)  # the first style also gives the start image
    objective = prepared.objective
    style_images = [prepared.style] + [load_image(style, max_dim=style_size(prepared.run)) for style in styles[1:]]
    grams = [objective.style_grams(image) for image in style_images]
    objective.use_style_targets({layer: sum(w * g[layer] for w, g in zip(weights, grams))
                                 for layer in objective.settings.style_layers})
    return run_optimizer(objective, prepared.start, prepared.run)


def coarse_to_fine(content, style, sizes: Sequence[int] = (128, 256, 512), steps: Sequence[int] | int = 100,
                   **options: Any) -> StylizeResult:
    """Solve at the smallest size, upsample, refine at the next, …; returns the last result.

    The returned history concatenates every stage (each entry gains a ``size`` key) and
    its ``seconds`` run on across stages. Large images then need far fewer full-size steps.
    """
    sizes = [int(s) for s in sizes]
    if not sizes or sizes != sorted(sizes):
        raise SettingsError(f"sizes must be increasing, got {sizes}")
    stage_steps: List[int] = [int(steps)] * len(sizes) if np.isscalar(steps) else [int(s) for s in steps]
    if len(stage_steps) != len(sizes):
        raise SettingsError(f"give one step count per size: {len(sizes)} sizes, {len(stage_steps)} step counts")
    history, image, elapsed, result = [], None, 0.0, None
    for size, count in zip(sizes, stage_steps):
        stage_options = dict(options) if image is None else {**options, "init": image}  # default start first
        result = stylize(content, style, max_dim=size, steps=count, **stage_options)
        for entry in result.history:
            history.append({**entry, "seconds": entry["seconds"] + elapsed, "size": size})
        elapsed += result.seconds
        image = result.image
        if result.stopped_early:
            break
    result.history = history
    result.seconds = elapsed
    return result
