"""How far apart two images are: the measures the course's figures and findings use, each once.

* :func:`rms_distance`: root-mean-square pixel difference (``02_content``, ``04_style_layers``);
* :func:`correlation`, behind :func:`detail_correlation` (:func:`high_pass`: pixel-scale edges) and
  :func:`layout_correlation` (low-pass: where it is light and dark);
* :func:`content_distance`: feature maps at one layer of the paper's network, and :func:`local_content_distance`
  place by place;
* :func:`style_distance_by_layer` (a dict, one number per layer) and :func:`style_distance`
  (their mean, one number), with :func:`style_distance_matrix` (``00_welcome``);
* :func:`color_statistics` and :func:`color_distance` (``07_beyond``).

Images are anything :func:`~nstutils.images.load_image` takes; arrays may be ``[H, W, 3]`` or
``[1, H, W, 3]`` in [0, 1].
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from nstutils.color import LUMA_WEIGHTS, luminance_image
from nstutils.errors import SettingsError
from nstutils.features import get_extractor
from nstutils.images import load_image
from nstutils.losses import gram_matrix
from nstutils.settings import CONTENT_CHANNELS
from nstutils.recipes import PAPER_CONTENT_LAYER, PAPER_POOLING, PAPER_STYLE_LAYERS, PAPER_WEIGHTS
from nstutils.vgg19 import layer_name


def _pixels(image) -> np.ndarray:
    """``image`` as a float64 ``[H, W, C]`` array (arrays as they are, anything else through load_image)."""
    if not isinstance(image, np.ndarray) and not hasattr(image, "numpy"):  # a name, path, URL or PIL image
        image = load_image(image)
    array = np.asarray(image, np.float64)
    return array[0] if array.ndim == 4 else array


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise SettingsError(f"images differ in shape: {a.shape} vs {b.shape}")


def rms_distance(a, b) -> float:
    """Root-mean-square pixel difference of two images in [0, 1] (0 = identical)."""
    a, b = _pixels(a), _pixels(b)
    _same_shape(a, b)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _gray(image) -> np.ndarray:
    return _pixels(image) @ LUMA_WEIGHTS


def box_blur(gray: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2·radius+1)² window of a 2-D array, edges reflected."""
    size = 2 * radius + 1
    padded = np.pad(gray, radius, mode="reflect")
    summed = np.cumsum(np.cumsum(np.pad(padded, ((1, 0), (1, 0))), axis=0), axis=1)
    h, w = gray.shape
    window = summed[size:size + h, size:size + w] - summed[:h, size:size + w] - summed[size:size + h, :w] \
        + summed[:h, :w]
    return window / size ** 2


def high_pass(gray: np.ndarray, radius: int) -> np.ndarray:
    """Fine detail of a 2-D array: itself minus its :func:`box_blur` (edges and texture up to ``2·radius+1`` px)."""
    return gray - box_blur(gray, radius)


def blur_rgb(image, radius: int = 2) -> np.ndarray:
    """Each channel of an RGB image box-blurred (:func:`box_blur`)."""
    image = _pixels(image)
    return np.stack([box_blur(image[..., c], radius) for c in range(3)], axis=-1)


def correlation(a, b) -> float:
    """Pearson correlation (−1 … 1) of two arrays of the same shape, flattened (0 when one is constant)."""
    a, b = np.ravel(a), np.ravel(b)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def detail_correlation(image, photo, radius: int = 1) -> float:
    """Correlation (−1 … 1) of the fine detail of ``image`` and ``photo``.

    Fine detail is the grey image minus its ``(2·radius+1)²`` box blur (:func:`high_pass`:
    edges and texture at the pixel scale). 1 means the same edges in the same
    places; about 0 means none of the photo's pixel-level structure is left.
    """
    a, b = _gray(image), _gray(photo)
    _same_shape(a, b)
    return correlation(high_pass(a, radius), high_pass(b, radius))


def layout_correlation(image, photo, radius: int = 3) -> float:
    """Correlation (−1 … 1) of the coarse layout of ``image`` and ``photo``.

    The coarse layout is the grey image blurred by a ``(2·radius+1)²`` box (a low-pass
    filter: where it is light and dark, not the pixel detail); the counterpart of
    :func:`detail_correlation`. 1 means the same arrangement of light and dark; about 0
    means none (e.g. the photo's pixels shuffled). Used by ``02_content``: deep content
    reconstructions lose the detail but keep the layout.
    """
    a, b = _gray(image), _gray(photo)
    _same_shape(a, b)
    return correlation(box_blur(a, radius), box_blur(b, radius))


def content_features(image, photo, layer: str = PAPER_CONTENT_LAYER, weights: str | None = None,
                     channels: str = "rgb") -> Tuple[np.ndarray, np.ndarray]:
    """The feature maps ``(F, P)`` of ``image`` and ``photo`` at ``layer`` in the paper's network (float64), as
    :func:`content_distance` compares them."""
    name = layer_name(layer)
    extractor = get_extractor([name], PAPER_POOLING, weights or PAPER_WEIGHTS, "float32")
    a = np.asarray(load_image(image), np.float32)
    b = np.asarray(load_image(photo), np.float32)
    if a.shape != b.shape:
        raise SettingsError(f"images differ in shape: {a.shape[1:3]} vs {b.shape[1:3]}")
    if channels not in CONTENT_CHANNELS:
        raise SettingsError(f"channels must be one of {', '.join(CONTENT_CHANNELS)}, got {channels!r}")
    if channels == "luminance":
        a, b = (luminance_image(x).numpy() for x in (a, b))
    f = np.asarray(extractor(a)[name], np.float64)
    p = np.asarray(extractor(b)[name], np.float64)
    return f, p


def content_distance(image, photo, layer: str = PAPER_CONTENT_LAYER, weights: str | None = None,
                     channels: str = "rgb") -> float:
    """How far ``image``'s content features are from ``photo``'s: ``‖F − P‖² / ‖P‖²`` at ``layer``.

    Measured in the paper's network (normalised, average pooling), float32. 0 means the
    same feature maps; about 1 means as far as an image with no activations at all.
    ``channels="luminance"``: between the grey images, as a content loss with ``content_channels="luminance"``
    compares them (the colour does not count).
    """
    f, p = content_features(image, photo, layer, weights, channels)
    return float(np.sum((f - p) ** 2) / max(np.sum(p ** 2), 1e-12))


def local_content_distance(image, photo, grid: int = 6, layer: str = PAPER_CONTENT_LAYER,
                           weights: str | None = None) -> np.ndarray:
    """:func:`content_distance` place by place: a ``[grid, grid]`` array, each the mean squared feature difference in
    one cell of a ``grid`` × ``grid`` division of the feature maps over the photo's mean squared feature
    (``07_beyond``: an object of the style photo painted onto the content changes what the network sees in one
    place far more than elsewhere; :func:`nstutils.course.artefacts.transplant_excess`)."""
    f, p = content_features(image, photo, layer, weights, "rgb")
    f, p = f[0], p[0]
    rows, columns = (np.linspace(0, side, grid + 1).astype(int) for side in f.shape[:2])
    scale = max(float(np.mean(p ** 2)), 1e-12)
    return np.array([[np.mean((f[top:bottom, left:right] - p[top:bottom, left:right]) ** 2) / scale
                      for left, right in zip(columns, columns[1:])] for top, bottom in zip(rows, rows[1:])])


def style_distance_by_layer(image, painting, layers: Sequence[str] = PAPER_STYLE_LAYERS,
                            weights: str | None = None, pooling: str = PAPER_POOLING) -> Dict[str, float]:
    """How far ``image``'s Gram matrices are from ``painting``'s, per layer: ``{layer: ‖G − A‖² / ‖A‖²}``.

    Measured in the paper's network (normalised, average pooling), float32, with the
    course's Gram matrix (``FᵀF / M``, so the two images may differ in size; both are used
    as given). 0 means the same statistics at that layer; about 1 means as far as an image
    with no activations. Used by ``03_gram_style``: a style reconstruction matches the
    layers of its stack and, with deeper stacks, the painting's statistics at more scales.
    """
    names = [layer_name(layer) for layer in layers]
    if not names:
        raise SettingsError("give at least one style layer")
    extractor = get_extractor(names, pooling, weights or PAPER_WEIGHTS, "float32")
    a = extractor(np.asarray(load_image(image), np.float32))
    b = extractor(np.asarray(load_image(painting), np.float32))
    distances = {}
    for layer, name in zip(layers, names):
        g = np.asarray(gram_matrix(a[name]), np.float64)
        t = np.asarray(gram_matrix(b[name]), np.float64)
        distances[layer] = float(np.sum((g - t) ** 2) / max(np.sum(t ** 2), 1e-12))
    return distances


def style_distance(image, painting, layers: Sequence[str] = PAPER_STYLE_LAYERS, weights: str = PAPER_WEIGHTS,
                   pooling: str = PAPER_POOLING) -> float:
    """How far ``image``'s style is from ``painting``'s, as one number: the mean over ``layers`` of
    :func:`style_distance_by_layer`. 0 means the same Gram matrices at every layer. The painting
    is used at the size of ``image``'s long side (Gram matrices are averages over positions, so
    the aspect ratios need not match).
    """
    a = load_image(image)
    b = load_image(painting, max_dim=max(a.shape[1:3]))
    distances = style_distance_by_layer(a, b, layers, weights=weights, pooling=pooling)
    return float(np.mean(list(distances.values())))


def style_distance_matrix(images: Sequence[Any], paintings: Sequence[Any], **options: Any) -> np.ndarray:
    """``[len(images), len(paintings)]`` array of :func:`style_distance` from every image to every painting."""
    return np.array([[style_distance(image, painting, **options) for painting in paintings] for image in images])


def color_statistics(image):
    """The colour mean ``μ`` (3,) and covariance ``Σ`` (3, 3) of an RGB image's pixels."""
    pixels = np.asarray(load_image(image), np.float64).reshape(-1, 3)
    return pixels.mean(0), np.cov(pixels, rowvar=False)


def color_distance(a, b) -> float:
    """How different the colour statistics of two images are:
    ``‖μ_a − μ_b‖ + ‖Σ_a^{1/2} − Σ_b^{1/2}‖_F`` (means and covariance square roots are both in units of intensity; 0 = same statistics)."""
    def root(cov):
        values, vectors = np.linalg.eigh(cov)
        return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T

    (mean_a, cov_a), (mean_b, cov_b) = color_statistics(a), color_statistics(b)
    return float(np.linalg.norm(mean_a - mean_b) + np.linalg.norm(root(cov_a) - root(cov_b)))
