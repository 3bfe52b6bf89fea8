"""Beyond the basic recipe: blending two styles, and high resolution by coarse-to-fine, with what a large
picture will cost said before it is made.

Introduced in ``07_beyond`` (colour preservation lives in :mod:`nstutils.color`, the style and
colour distances in :mod:`nstutils.course.measures`, what makes a result look wrong in
:mod:`nstutils.course.artefacts`).
"""

from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from nstutils.cost import CostEstimate, estimate_cost, image_aspect, measured_speed
from nstutils.errors import SettingsError
from nstutils.images import load_image
from nstutils.results import digest
from nstutils.run import StylizeResult, prepare, run_optimizer, style_size, stylize
from nstutils.settings import field_spec, make_settings

#: :func:`coarse_to_fine` matches the painting at no more than this fraction of its own long side. At its full
#: scan size a painting's finest detail is 1-2 px specks of paint, scan and JPEG; a large final stage matched
#: there turns the coarse stage's light flecks into 2-3 px dots (07_beyond, measured in docs/paper.md's notes).
STYLE_DETAIL_LIMIT = 0.5
#: Gaussian blur (σ, in pixels of the coarser stage) of a stage's result before it is upsampled to start the
#: next: its pixel-scale flecks would become blobs of several pixels, which the next stage keeps as dots.
UPSAMPLE_BLUR = 0.5
#: Most bright dots of any colour a coarse-to-fine picture may have over the painting's own at the size it was matched
#: (:func:`~nstutils.course.artefacts.dot_excess` with ``kind="bright"``; ``07_beyond``). 07's 192 → 384 px picture
#: measured 1.7-2.5 over four runs (light-blue sparkles in the darkest trees, seen at 2×; the 192 px stage alone 1.04;
#: more refinement steps or a wider blur before upsampling changed it by less than the runs differ): the bound catches
#: a stage's flecks grown into a field of dots, not the last few.
MAX_BRIGHT_DOT_EXCESS = 3.0


def blend_styles(content, styles: Sequence[Any], mix: Sequence[float], **options: Any) -> StylizeResult:
    """Stylize with the weighted average of several paintings' Gram matrices.

    ``mix`` gives one non-negative weight per style (normalised to sum to 1), so
    ``mix=(1, 0)`` gives exactly the first style's Gram targets: the objective of the plain
    transfer (its picture matches ``stylize``'s up to the rounding noted there). Other options
    are as for ``stylize``.
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
    blend = "+".join(f"{w!r}*{digest(image)}" for w, image in zip(weights, style_images))  # what the targets are
    objective.use_style_targets({layer: sum(w * g[layer] for w, g in zip(weights, grams))
                                 for layer in objective.settings.style_layers}, key=f"blend {blend}")
    return run_optimizer(objective, prepared.start, prepared.run)


def coarse_to_fine(content, style, sizes: Sequence[int] = (128, 256, 512), steps: Sequence[int] | int = 100,
                   **options: Any) -> StylizeResult:
    """Solve at the smallest size, upsample, refine at the next, …; returns the last result (``07_beyond``).

    Each result is blurred slightly (:data:`UPSAMPLE_BLUR`) before it is upsampled to start the next
    stage, and the painting is matched at no more than :data:`STYLE_DETAIL_LIMIT` of its own long side
    (``style_scale`` is lowered for the stages that would exceed it): both keep the coarse stage's pixel
    flecks from growing into dots. The returned history concatenates every stage (each entry gains
    ``size`` and ``style_size`` keys) and its ``seconds`` run on across stages. Large images then need
    far fewer full-size steps.
    """
    from scipy.ndimage import gaussian_filter

    sizes = [int(s) for s in sizes]
    if not sizes or sizes != sorted(sizes):
        raise SettingsError(f"sizes must be increasing, got {sizes}")
    stage_steps: List[int] = [int(steps)] * len(sizes) if np.isscalar(steps) else [int(s) for s in steps]
    if len(stage_steps) != len(sizes):
        raise SettingsError(f"give one step count per size: {len(sizes)} sizes, {len(stage_steps)} step counts")
    painting = load_image(style)
    style_limit = max(16, int(STYLE_DETAIL_LIMIT * max(painting.shape[1:3])))
    scale = float(options.pop("style_scale", 1.0))
    history, image, elapsed, result = [], None, 0.0, None
    for size, count in zip(sizes, stage_steps):
        stage_scale = max(min(scale, style_limit / size), field_spec("style_scale").minimum)
        stage_options = {**options, "style_scale": stage_scale}
        if image is not None:
            array = np.asarray(image, np.float32)
            stage_options["init"] = gaussian_filter(array, [0] * (array.ndim - 3) + [UPSAMPLE_BLUR] * 2 + [0])
        result = stylize(content, painting, max_dim=size, steps=count, **stage_options)
        matched_at = style_size(make_settings(max_dim=size, style_scale=stage_scale).run)
        for entry in result.history:
            history.append({**entry, "seconds": entry["seconds"] + elapsed, "size": size, "style_size": matched_at})
        elapsed += result.seconds
        image = result.image
        if result.stopped_early:
            break
    result.history = history
    result.seconds = elapsed
    return result


def coarse_to_fine_cost(content, sizes: Sequence[int], steps: Sequence[int] | int, optimizer: str = "lbfgs",
                        compute_dtype: str = "auto") -> CostEstimate:
    """What :func:`coarse_to_fine` will take on this machine, said before it runs (``07_beyond``'s poster):
    the sum of each stage's time and the largest stage's memory, from :mod:`nstutils.cost` (scaled to this
    machine's measured speed where it has been measured)."""
    from nstutils.arithmetic import resolve_compute_dtype

    stage_steps = [int(steps)] * len(sizes) if np.isscalar(steps) else [int(s) for s in steps]
    aspect = image_aspect(load_image(content).shape)
    speed = measured_speed(resolve_compute_dtype(compute_dtype))
    stages = [estimate_cost(int(size), count, optimizer, aspect, speed) for size, count in zip(sizes, stage_steps)]
    return CostEstimate(seconds=sum(stage.seconds for stage in stages),
                        peak_bytes=max(stage.peak_bytes for stage in stages))
