"""The paper's settings and figures: Gatys, Ecker & Bethge, *Image Style Transfer Using
Convolutional Neural Networks*, CVPR 2016.

The paper's setup differs from the TensorFlow tutorial's (``stylize``'s defaults):

* VGG19 **normalised** so that every filter's mean activation is 1
  (:mod:`nstutils.normalize`) and run with **average pooling**;
* content layer ``conv4_2``; style layers ``conv1_1 … conv5_1`` with ``w_l = 1/5``;
* the ratio α/β of content to style weight (1e-5 … 1e-2), converted to our mean-based
  losses by :func:`nstutils.experiments.weights_for_ratio` after scaling by
  :data:`PAPER_RATIO_SCALE` (taken literally, the paper's ratios give the photo back
  unchanged: measured, see there);
* no total-variation term, a **white-noise** start and L-BFGS.

:func:`paper_options` returns exactly these as ``stylize`` keyword arguments. One
function per figure then returns plain data (images as float32 ``[H, W, 3]`` arrays in
[0, 1], numbers, and a ``findings`` dict of booleans) that a notebook shows and asserts
on. Every figure function takes ``max_dim`` and ``steps`` (notebooks pass
``pick(full, fast)`` values) and passes other keyword options on to ``stylize``.

Measured on this project's 2-core CPU (see each function for what holds at which size):
computing the normalised network takes 3-7 s once; a 100-step run at 256 px took about
190 s while the machine was shared with other jobs (load average 13), so expect less.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from .errors import SettingsError
from .experiments import layer_ratio_grid, weights_for_ratio
from .explore import CONTENT_LAYERS_PAPER, STYLE_LAYER_STACKS, reconstruct_content, reconstruct_style
from .images import load_image
from .vgg19 import layer_name, layer_names

#: The paper's content layer.
PAPER_CONTENT_LAYER = "conv4_2"
#: The paper's style layers, each weighted ``w_l = 1/5``.
PAPER_STYLE_LAYERS: Tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
#: ``w_l``: every style layer weighs the same (``stylize``'s default ``1/L``).
PAPER_STYLE_LAYER_WEIGHT = 1.0 / len(PAPER_STYLE_LAYERS)
#: The α/β ratios of the paper's Figure 4 grid (columns).
PAPER_RATIOS: Tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)
#: The paper's network: average pooling.
PAPER_POOLING = "avg"
#: Default size (long side) of the figures: the findings are stated at this size.
DEFAULT_SIZE = 256
#: Factor between the paper's stated α/β and the ratio that gives its balance here.
#:
#: Converted literally (:func:`~nstutils.experiments.weights_for_ratio`), the paper's
#: ratios 1e-5 … 1e-2 let the content win outright in the normalised network: measured
#: on Tübingen + The Starry Night with all five style layers, 100 L-BFGS steps from
#: noise, the result is the photo at every ratio from 1e-5 up (content distance at
#: conv4_2 0.024-0.028 at 256 px, 200 steps). The style only shows below about 1e-6, and
#: the paper's look (Figure 4's columns: texture only, mixed, the stylised photo, nearly
#: the photo) appears over 1e-8 … 1e-5: content distance 1.66, 0.77, 0.22, 0.075 at
#: 256 px, 100 steps (1.54 … 0.035 over 1e-9 … 1e-3 at 128 px). The paper's formulas are as written in its Eqs. 1-5
#: (checked by ``weights_for_ratio``); its stated ratios evidently went with an
#: implementation scaled differently. :func:`paper_options` therefore multiplies the
#: stated ratio by this factor (``ratio_scale=1`` gives the literal conversion).
PAPER_RATIO_SCALE = 1e-3

#: α/β per painting for the style gallery. The paper's Figure 3 (CVPR 2016) used 1e-3 for
#: The Shipwreck, 8e-4 for The Starry Night, 5e-3 for The Scream and 5e-4 for its Picasso
#: and Kandinsky; the last three rows are our choices for paintings the paper did not use
#: (Matisse's Woman with a Hat and Picabia's Udnie in place of the Picasso/Kandinsky).
GALLERY_RATIOS: Dict[str, float] = {
    "shipwreck": 1e-3,
    "starry_night": 8e-4,
    "the_scream": 5e-3,
    "woman_with_hat": 5e-4,
    "udnie": 5e-4,
    "great_wave": 1e-3,
}

Image = np.ndarray


def paper_weights() -> str:
    """The ``weights`` option for the paper's normalised network: the source ``"normalized"``
    (computed once and cached, see :mod:`nstutils.normalize`)."""
    return "normalized"


def paper_options(ratio: float, content_shape: Sequence[int], *, content_layer: str = PAPER_CONTENT_LAYER,
                  style_layers: Sequence[str] = PAPER_STYLE_LAYERS, ratio_scale: float = PAPER_RATIO_SCALE,
                  **overrides: Any) -> Dict[str, Any]:
    """``stylize`` keyword arguments for the paper's setup at content/style ratio α/β = ``ratio``.

    ``content_shape`` is the content image's ``(height, width)`` or ``[1, H, W, 3]`` shape
    *at the size it is optimised* (the conversion of α/β depends on the number of
    positions of the content layer: the paper's content loss is a sum, so the same ratio
    leans further towards the content on a larger image). The weights are
    ``weights_for_ratio(ratio × ratio_scale, ...)``; see :data:`PAPER_RATIO_SCALE` for why
    the stated ratios are scaled (``ratio_scale=1``: the literal conversion).
    ``overrides`` replace or add any option (``steps``, ``max_dim``, ``seed``, ``init``, ...).

    >>> options = paper_options(1e-3, (192, 256))            # doctest: +SKIP
    >>> stylize(photo, painting, max_dim=256, steps=300, **options)   # doctest: +SKIP
    """
    if not np.isfinite(ratio_scale) or ratio_scale <= 0:
        raise SettingsError(f"ratio_scale must be a positive number, got {ratio_scale}")
    if not np.isfinite(ratio) or ratio <= 0:
        raise SettingsError(f"the content/style ratio must be a positive number, got {ratio}")
    content_weight, style_weight = weights_for_ratio(ratio * ratio_scale, content_shape, content_layer)
    options: Dict[str, Any] = {
        "content_layers": (layer_name(content_layer),) if content_layer else (),
        "style_layers": tuple(layer_names(style_layers)),
        "content_weight": content_weight,
        "style_weight": style_weight,
        "tv_weight": 0.0,
        "pooling": PAPER_POOLING,
        "weights": paper_weights(),
        "init": "noise",
        "optimizer": "lbfgs",
    }
    options.update(overrides)
    return options


def _network_options(options: Mapping[str, Any], init: bool = True) -> Dict[str, Any]:
    """The paper's network, optimiser and (with ``init``) white-noise start, under any caller overrides."""
    base = {"pooling": PAPER_POOLING, "weights": paper_weights(), "optimizer": "lbfgs"}
    if init:
        base["init"] = "noise"
    return {**base, **options}


def _size(max_dim, steps) -> Tuple[int, int]:
    if max_dim is None or steps is None:
        raise SettingsError("give max_dim and steps (notebooks pass pick(full, fast) values)")
    return int(max_dim), int(steps)


# --------------------------------------------------------------------------------- measures


def _gray(image) -> np.ndarray:
    image = np.asarray(image, np.float64)
    if image.ndim == 4:
        image = image[0]
    return image @ np.array([0.299, 0.587, 0.114])


def _box_blur(gray: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2·radius+1)² window, edges reflected."""
    size = 2 * radius + 1
    padded = np.pad(gray, radius, mode="reflect")
    summed = np.cumsum(np.cumsum(np.pad(padded, ((1, 0), (1, 0))), axis=0), axis=1)
    h, w = gray.shape
    window = summed[size:size + h, size:size + w] - summed[:h, size:size + w] - summed[size:size + h, :w] \
        + summed[:h, :w]
    return window / size ** 2


def detail_correlation(image, photo, radius: int = 1) -> float:
    """Correlation (−1 … 1) of the fine detail of ``image`` and ``photo``.

    Fine detail is the grey image minus its ``(2·radius+1)²`` box blur (a high-pass
    filter: edges and texture at the pixel scale). 1 means the same edges in the same
    places; about 0 means none of the photo's pixel-level structure is left.
    """
    a, b = _gray(image), _gray(photo)
    if a.shape != b.shape:
        raise SettingsError(f"images differ in shape: {a.shape} vs {b.shape}")
    a = (a - _box_blur(a, radius)).ravel()
    b = (b - _box_blur(b, radius)).ravel()
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def rms_distance(a, b) -> float:
    """Root-mean-square pixel difference of two images in [0, 1] (0 = identical)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = (a[0] if a.ndim == 4 else a), (b[0] if b.ndim == 4 else b)
    if a.shape != b.shape:
        raise SettingsError(f"images differ in shape: {a.shape} vs {b.shape}")
    return float(np.sqrt(np.mean((a - b) ** 2)))


def content_distance(image, photo, layer: str = PAPER_CONTENT_LAYER, weights: str | None = None) -> float:
    """How far ``image``'s content features are from ``photo``'s: ``‖F − P‖² / ‖P‖²`` at ``layer``.

    Measured in the paper's network (normalised, average pooling), float32. 0 means the
    same feature maps; about 1 means as far as an image with no activations at all.
    """
    from .optimize import get_extractor

    name = layer_name(layer)
    extractor = get_extractor([name], PAPER_POOLING, weights or paper_weights(), "float32")
    a = np.asarray(load_image(image), np.float32)
    b = np.asarray(load_image(photo), np.float32)
    if a.shape != b.shape:
        raise SettingsError(f"images differ in shape: {a.shape[1:3]} vs {b.shape[1:3]}")
    f = np.asarray(extractor(a)[name], np.float64)
    p = np.asarray(extractor(b)[name], np.float64)
    return float(np.sum((f - p) ** 2) / max(np.sum(p ** 2), 1e-12))


def _final_losses(result) -> Dict[str, float]:
    last = result.history[-1] if result.history else {}
    return {"total": float(result.best_loss), "content": float(last.get("content", np.nan)),
            "style": float(last.get("style", np.nan))}


# --------------------------------------------------------------------------------- Figure 1


def content_reconstructions(photo="tubingen", layers: Sequence[str] = CONTENT_LAYERS_PAPER, *,
                            max_dim: int = DEFAULT_SIZE, steps: int = 300, seed: int = 0,
                            **options: Any) -> Dict[str, Any]:
    """The paper's **Figure 1, bottom row (content reconstructions)**: from white noise,
    match the photo's feature maps at ``conv1_2``, ``conv2_2``, ``conv3_2``, ``conv4_2``,
    ``conv5_2`` in the normalised network with average pooling.

    Finding: reconstructions from the lower layers are almost perfect; from the higher
    layers the layout and objects are kept but the exact pixels are lost.

    Returns ``{"photo": image, "layers": [...], "images": {layer: image},
    "pixel_error": {layer: RMS error vs the photo}, "detail": {layer: detail_correlation},
    "findings": {"shallow_closer_than_deep": bool}}`` (``conv1_2``'s pixel error below
    the deepest layer's).
    """
    max_dim, steps = _size(max_dim, steps)
    image = load_image(photo, max_dim=max_dim)
    options = _network_options(options, init=False)  # reconstruct_content starts from noise
    images, errors, detail = {}, {}, {}
    for layer in layers:
        result = reconstruct_content(image, layer, steps=steps, max_dim=max_dim, seed=seed, **options)
        images[layer] = result.image
        errors[layer] = rms_distance(result.image, image)
        detail[layer] = detail_correlation(result.image, image)
    layers = list(layers)
    return {"photo": image[0], "layers": layers, "images": images, "pixel_error": errors, "detail": detail,
            "findings": {"shallow_closer_than_deep": bool(errors[layers[0]] < errors[layers[-1]])}}


def style_reconstructions(painting="starry_night", stacks: Sequence[Sequence[str]] = STYLE_LAYER_STACKS, *,
                          max_dim: int = DEFAULT_SIZE, steps: int = 300, seed: int = 0,
                          **options: Any) -> Dict[str, Any]:
    """The paper's **Figure 1, top row (style reconstructions)**: from white noise, match
    the painting's Gram matrices on ``conv1_1``; ``conv1_1+conv2_1``; … ``conv1_1 …
    conv5_1`` in the normalised network with average pooling.

    Finding: the reconstructions keep the painting's colours and textures but not its
    arrangement; with more (deeper) layers the texture grows larger in scale.

    Returns ``{"painting": image, "labels": ["conv1_1", "+conv2_1", ...], "stacks": [...],
    "images": {label: image}, "style_loss": {label: final style loss},
    "layout_error": {label: RMS difference from the painting}}``: the layout error stays
    large (the arrangement is not reconstructed).
    """
    max_dim, steps = _size(max_dim, steps)
    image = load_image(painting, max_dim=max_dim)
    options = _network_options(options, init=False)  # reconstruct_style starts from noise
    labels, images, losses, layout = [], {}, {}, {}
    for stack in stacks:
        stack = list(stack)
        label = stack[0] if len(stack) == 1 else "+" + stack[-1]
        result = reconstruct_style(image, stack, steps=steps, max_dim=max_dim, seed=seed, **options)
        labels.append(label)
        images[label] = result.image
        losses[label] = _final_losses(result)["style"]
        layout[label] = rms_distance(result.image, image)
    return {"painting": image[0], "labels": labels, "stacks": [list(s) for s in stacks], "images": images,
            "style_loss": losses, "layout_error": layout}


# --------------------------------------------------------------------------------- Figure 3


def style_gallery(content="tubingen", styles: Sequence[str] = ("shipwreck", "starry_night", "the_scream",
                                                                "woman_with_hat", "udnie"),
                  ratios: Mapping[str, float] | None = None, *, max_dim: int = DEFAULT_SIZE, steps: int = 300,
                  seed: int = 0, **options: Any) -> Dict[str, Any]:
    """The paper's **Figure 3 (Figure 2 of the arXiv version)**: one photograph (Tübingen)
    painted in the styles of several well-known artworks, each at the paper's α/β
    (:data:`GALLERY_RATIOS`, 5e-4 … 5e-3, scaled by :data:`PAPER_RATIO_SCALE` through
    :func:`paper_options`), from white noise.

    Finding: the same photo's layout survives under every style while colours and
    textures come from each painting.

    ``styles`` are course image names (or anything ``load_image`` takes, then give
    ``ratios``). Returns ``{"content": image, "styles": [...], "images": {style: image},
    "ratios": {style: α/β}, "losses": {style: {"total", "content", "style"}},
    "content_distance": {style: content_distance to the photo at conv4_2}}``.
    """
    max_dim, steps = _size(max_dim, steps)
    photo = load_image(content, max_dim=max_dim)
    ratios = {**GALLERY_RATIOS, **(ratios or {})}
    images, used, losses, distance = {}, {}, {}, {}
    for style in styles:
        if style not in ratios:
            raise SettingsError(f"no α/β for style {style!r}: pass ratios={{{style!r}: 1e-3}}")
        result = _stylize_paper(photo, style, ratios[style], max_dim, steps, seed, options)
        images[style], used[style], losses[style] = result.image, ratios[style], _final_losses(result)
        distance[style] = content_distance(result.image, photo)
    return {"content": photo[0], "styles": list(styles), "images": images, "ratios": used, "losses": losses,
            "content_distance": distance}


def _stylize_paper(photo, style, ratio, max_dim, steps, seed, options, **extra):
    from .optimize import stylize

    settings = paper_options(ratio, photo.shape, **{"max_dim": max_dim, "steps": steps, "seed": seed,
                                                    **extra, **options})
    return stylize(photo, style, **settings)


# --------------------------------------------------------------------------------- Figure 4


def ratio_grid(content="tubingen", style="starry_night", stacks: Sequence[Sequence[str]] = STYLE_LAYER_STACKS,
               ratios: Sequence[float] = PAPER_RATIOS, *, max_dim: int = DEFAULT_SIZE, steps: int = 200,
               seed: int = 0, ratio_scale: float = PAPER_RATIO_SCALE, **options: Any) -> Dict[str, Any]:
    """The paper's **Figure 4**: style-layer stacks (rows ``conv1_1`` … ``conv1_1+…+conv5_1``)
    × α/β (columns 1e-5, 1e-4, 1e-3, 1e-2), every cell from the same white noise.

    Findings: going down, the style is matched on larger scales (smoother, more
    painting-like structure); going right, the photo's content wins over the style. In
    the all-layer row the content distance at ``conv4_2`` falls as α/β grows, and at the
    largest ratio the content features are closer to the photo's than at the smallest.
    Measured (all-layer row, Tübingen + The Starry Night, 256 px, 100 steps, 13 min on a
    loaded 2-core CPU): 1.66, 0.77, 0.22, 0.075, both findings hold.

    The ratios are the paper's, scaled by ``ratio_scale`` (:data:`PAPER_RATIO_SCALE`).

    Returns ``{"content": image, "stacks": [...], "ratios": [...] (the paper's),
    "effective_ratios": [...] (as converted), "images": {(row, column): image},
    "content_distance": float array [rows, columns] (:func:`content_distance` at conv4_2), "losses": {(row, column): {...}},
    "findings": {"content_falls_with_ratio": bool, "largest_ratio_closest": bool}}``,
    both findings measured on the last row.
    """
    max_dim, steps = _size(max_dim, steps)
    photo = load_image(content, max_dim=max_dim)
    options = _network_options(options)
    effective = [ratio * ratio_scale for ratio in ratios]  # see PAPER_RATIO_SCALE
    results = layer_ratio_grid(photo, style, layer_sets=stacks, ratios=effective, steps=steps, max_dim=max_dim,
                               content_layers=(PAPER_CONTENT_LAYER,), seed=seed, **options)
    distance = np.zeros((len(stacks), len(ratios)))
    images, losses = {}, {}
    for (row, column), result in results.items():
        images[(row, column)] = result.image
        losses[(row, column)] = _final_losses(result)
        distance[row, column] = content_distance(result.image, photo, weights=options["weights"])
    last = distance[-1]
    return {"content": photo[0], "stacks": [list(s) for s in stacks], "ratios": list(ratios),
            "effective_ratios": effective, "images": images,
            "content_distance": distance, "losses": losses,
            "findings": {"content_falls_with_ratio": bool(np.all(np.diff(last) < 0)),
                         "largest_ratio_closest": bool(last[-1] < last[0])}}


# --------------------------------------------------------------------------------- Figure 5


def content_layer_comparison(content="tubingen", style="starry_night",
                             layers: Sequence[str] = ("conv2_2", "conv4_2"), ratio: float = 1e-3, *,
                             max_dim: int = DEFAULT_SIZE, steps: int = 300, seed: int = 0,
                             **options: Any) -> Dict[str, Any]:
    """The paper's **Figure 5**: the content matched at ``conv2_2`` versus ``conv4_2``, with
    all five style layers and the same α/β.

    Finding: with ``conv2_2`` much of the photo's fine structure survives and the style
    looks blended over it; with ``conv4_2`` the picture's objects survive but are painted
    in the style's own strokes (the paper's choice). Measured (Tübingen + The Starry
    Night, α/β 1e-3, 256 px, 100 steps, 6 min on a loaded CPU): detail correlation 0.30
    (conv2_2) vs 0.00 (conv4_2), blurred error 0.070 vs 0.162; the finding holds.

    Returns ``{"content": image, "layers": [...], "images": {layer: image},
    "detail": {layer: detail_correlation with the photo}, "blurred_error": {layer: RMS
    error of 4×4-blurred versions}, "findings": {"shallow_keeps_more_detail": bool}}``.
    """
    max_dim, steps = _size(max_dim, steps)
    photo = load_image(content, max_dim=max_dim)
    images, detail, blurred = {}, {}, {}
    for layer in layers:
        result = _stylize_paper(photo, style, ratio, max_dim, steps, seed, options, content_layer=layer)
        images[layer] = result.image
        detail[layer] = detail_correlation(result.image, photo)
        blurred[layer] = rms_distance(_blur_rgb(result.image), _blur_rgb(photo[0]))
    layers = list(layers)
    return {"content": photo[0], "layers": layers, "images": images, "detail": detail, "blurred_error": blurred,
            "findings": {"shallow_keeps_more_detail": bool(detail[layers[0]] > detail[layers[-1]])}}


def _blur_rgb(image, radius: int = 2) -> np.ndarray:
    image = np.asarray(image, np.float64)
    return np.stack([_box_blur(image[..., c], radius) for c in range(3)], axis=-1)


# --------------------------------------------------------------------------------- Figure 6


def initialization_comparison(content="tubingen", style="starry_night", seeds: Sequence[int] = (0, 1, 2),
                              ratio: float = 1e-3, *, max_dim: int = DEFAULT_SIZE, steps: int = 300,
                              **options: Any) -> Dict[str, Any]:
    """The paper's **Figure 6**: the same objective started from the photo, from the
    painting, and from white noise with several seeds.

    Findings: the start does not change the result much in quality (noise seeds reach
    similar losses) but every noise seed gives a different image, which is how new
    images are sampled; a start from the photo keeps more of the photo.

    Returns ``{"content": image, "starts": ["photo", "painting", "noise 0", ...],
    "images": {start: image}, "losses": {start: final total loss}, "distance": float array
    [starts, starts] of RMS pixel distances, "to_photo": {start: RMS distance to the photo},
    "findings": {"noise_losses_similar": bool (within 20 %), "noise_images_differ": bool,
    "photo_start_keeps_photo": bool}}``.
    """
    from .optimize import StyleObjective, initial_image, run_optimizer
    from .settings import make_settings

    max_dim, steps = _size(max_dim, steps)
    photo = load_image(content, max_dim=max_dim)
    painting = load_image(style, max_dim=max_dim)
    settings = make_settings(**paper_options(ratio, photo.shape, max_dim=max_dim, steps=steps, **options))
    objective = StyleObjective(photo, painting, settings.objective)
    starts: List[Tuple[str, str, int]] = [("photo", "content", 0), ("painting", "style", 0)]
    starts += [(f"noise {seed}", "noise", seed) for seed in seeds]
    images, losses = {}, {}
    for label, init, seed in starts:
        run = make_settings(settings, init=init, seed=seed).run  # objective already resolved
        result = run_optimizer(objective, initial_image(init, photo, painting, seed), run)
        images[label], losses[label] = result.image, float(result.best_loss)
    labels = [label for label, _, _ in starts]
    distance = np.zeros((len(labels), len(labels)))
    for i, j in combinations(range(len(labels)), 2):
        distance[i, j] = distance[j, i] = rms_distance(images[labels[i]], images[labels[j]])
    to_photo = {label: rms_distance(images[label], photo) for label in labels}
    noise = [label for label in labels if label.startswith("noise")]
    noise_losses = [losses[label] for label in noise]
    noise_pairs = [distance[labels.index(a), labels.index(b)] for a, b in combinations(noise, 2)]
    findings = {
        "noise_losses_similar": bool(noise_losses and max(noise_losses) <= 1.2 * min(noise_losses)),
        "noise_images_differ": bool(noise_pairs and min(noise_pairs) > 0.01),
        "photo_start_keeps_photo": bool(all(to_photo["photo"] < to_photo[label] for label in noise)),
    }
    return {"content": photo[0], "starts": labels, "images": images, "losses": losses, "distance": distance,
            "to_photo": to_photo, "findings": findings}


# --------------------------------------------------------------------------------- Figure 7


def photorealistic(content="tubingen", style="chelsea", ratio: float = 1e-3, *, max_dim: int = DEFAULT_SIZE,
                   steps: int = 300, seed: int = 0, **options: Any) -> Dict[str, Any]:
    """The paper's **Figure 7**: photorealistic style transfer, one photograph in the
    style of another (the paper put New York by night on London by day). Course photos:
    ``tubingen`` and scikit-image's ``astronaut``, ``coffee``, ``chelsea``.

    Finding: the method is not restricted to paintings: the colours and lighting of the
    style photo move onto the content photo, while its structure stays (with some
    low-level noise the method cannot avoid, as the paper notes).

    Returns ``{"content": image, "style": image, "image": result, "ratio": α/β,
    "losses": {...}, "content_distance": float, "mean_color": {"content", "style",
    "result": RGB means}, "findings": {"colors_move_to_style": bool}}`` (the result's mean
    colour nearer the style photo's than the content photo's is).
    """
    max_dim, steps = _size(max_dim, steps)
    photo = load_image(content, max_dim=max_dim)
    style_image = load_image(style, max_dim=max_dim)
    result = _stylize_paper(photo, style_image, ratio, max_dim, steps, seed, options)
    means = {"content": photo[0].reshape(-1, 3).mean(0), "style": style_image[0].reshape(-1, 3).mean(0),
             "result": result.image.reshape(-1, 3).mean(0)}
    to_style = float(np.linalg.norm(means["result"] - means["style"]))
    to_content = float(np.linalg.norm(means["result"] - means["content"]))
    return {"content": photo[0], "style": style_image[0], "image": result.image, "ratio": ratio,
            "losses": _final_losses(result), "content_distance": content_distance(result.image, photo),
            "mean_color": {k: [float(x) for x in v] for k, v in means.items()},
            "findings": {"colors_move_to_style": bool(to_style < to_content)}}


# --------------------------------------------------------------------------------- Figure 1 measures


def layout_correlation(image, photo, radius: int = 3) -> float:
    """Correlation (−1 … 1) of the coarse layout of ``image`` and ``photo``.

    The coarse layout is the grey image blurred by a ``(2·radius+1)²`` box (a low-pass
    filter: where it is light and dark, not the pixel detail); the counterpart of
    :func:`detail_correlation`. 1 means the same arrangement of light and dark; about 0
    means none (e.g. the photo's pixels shuffled). Used by ``02_content``: deep content
    reconstructions lose the detail but keep the layout.
    """
    a, b = _gray(image), _gray(photo)
    if a.shape != b.shape:
        raise SettingsError(f"images differ in shape: {a.shape} vs {b.shape}")
    a = _box_blur(a, radius).ravel()
    b = _box_blur(b, radius).ravel()
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def style_distance(image, painting, layers: Sequence[str] = PAPER_STYLE_LAYERS,
                   weights: str | None = None, pooling: str = PAPER_POOLING) -> Dict[str, float]:
    """How far ``image``'s Gram matrices are from ``painting``'s, per layer: ``‖G − A‖² / ‖A‖²``.

    Measured in the paper's network (normalised, average pooling), float32, with the
    course's Gram matrix (``FᵀF / M``, so the two images may differ in size). 0 means
    the same statistics at that layer; about 1 means as far as an image with no
    activations. Used by ``03_gram_style``: a style reconstruction matches the layers of
    its stack and, with deeper stacks, the painting's statistics at more scales.
    """
    from .losses import gram_matrix
    from .optimize import get_extractor

    names = [layer_name(layer) for layer in layers]
    if not names:
        raise SettingsError("give at least one style layer")
    extractor = get_extractor(names, pooling, weights or paper_weights(), "float32")
    a = extractor(np.asarray(load_image(image), np.float32))
    b = extractor(np.asarray(load_image(painting), np.float32))
    distances = {}
    for layer, name in zip(layers, names):
        g = np.asarray(gram_matrix(a[name]), np.float64)
        t = np.asarray(gram_matrix(b[name]), np.float64)
        distances[layer] = float(np.sum((g - t) ** 2) / max(np.sum(t ** 2), 1e-12))
    return distances
