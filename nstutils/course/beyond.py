"""Beyond the basic recipe: blending two styles and high resolution by coarse-to-fine.

Introduced in ``07_beyond`` (colour preservation lives in :mod:`nstutils.color`).
"""

from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from .errors import SettingsError
from .images import load_image
from .optimize import StyleObjective, StylizeResult, initial_image, run_optimizer, style_size, stylize
from .settings import make_settings


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
    settings = make_settings(**options)
    run = settings.run
    content_image = load_image(content, max_dim=run.max_dim)
    style_images = [load_image(style, max_dim=style_size(run)) for style in styles]
    objective = StyleObjective(content_image, style_images[0], settings.objective)
    grams = [objective.style_grams(image) for image in style_images]
    objective.use_style_targets({layer: sum(w * g[layer] for w, g in zip(weights, grams))
                                 for layer in objective.settings.style_layers})
    start = initial_image(run.init, content_image, style_images[0], run.seed)
    return run_optimizer(objective, start, run)


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


def style_distance(image, painting, layers: Sequence[str] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
                   weights: str = "normalized", pooling: str = "avg") -> float:
    """How far ``image``'s style is from ``painting``'s: the mean over ``layers`` of
    :func:`nstutils.paper.style_distance` (``‖G_l − A_l‖² / ‖A_l‖²``), by default in the
    paper's network. 0 means the same Gram matrices at every layer. The painting is used
    at the size of ``image``'s long side (Gram matrices are averages over positions, so
    the sizes need not match).
    """
    from .paper import style_distance as per_layer

    a = load_image(image)
    b = load_image(painting, max_dim=max(a.shape[1:3]))
    return float(np.mean(list(per_layer(a, b, layers, weights=weights, pooling=pooling).values())))


def style_distance_matrix(images: Sequence[Any], paintings: Sequence[Any], **options: Any) -> np.ndarray:
    """``[len(images), len(paintings)]`` array of :func:`style_distance` from every image to every painting."""
    return np.array([[style_distance(image, painting, **options) for painting in paintings] for image in images])


def color_statistics(image):
    """The colour mean ``μ`` (3,) and covariance ``Σ`` (3, 3) of an RGB image's pixels."""
    pixels = np.asarray(load_image(image), np.float64).reshape(-1, 3)
    return pixels.mean(0), np.cov(pixels, rowvar=False)


def color_distance(a, b) -> float:
    """How different the colour statistics of two images are: ``‖μ_a − μ_b‖ + ‖Σ_a^{1/2} − Σ_b^{1/2}‖_F``
    (means and covariance square roots are both in units of intensity; 0 = same statistics)."""
    def root(cov):
        values, vectors = np.linalg.eigh(cov)
        return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T

    (mean_a, cov_a), (mean_b, cov_b) = color_statistics(a), color_statistics(b)
    return float(np.linalg.norm(mean_a - mean_b) + np.linalg.norm(root(cov_a) - root(cov_b)))
