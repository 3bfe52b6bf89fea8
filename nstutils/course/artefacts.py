"""What makes a result look wrong, measured: isolated white dots, dots of colour on a flat sky, speckle over a
photo, colour blotches, a lattice on the pooling grid.

Each measure compares a result with its sources (the photo and the painting), so a painting's own specks and a
photo's own detail do not count against it. The paper's figures assert on them (:mod:`nstutils.course.paper`),
as do ``00_welcome``, ``04_style_layers`` and ``07_beyond``, where they are introduced.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from nstutils.color import LUMA_WEIGHTS, rgb_to_yiq
from nstutils.errors import SettingsError
from nstutils.images import load_image

from .measures import box_blur, high_pass, local_content_distance

#: Fewest dots a reference is taken to have (:func:`dot_excess`): one or two dots are chance, not texture, and
#: on a small image each one is a large density.
DOT_FLOOR = 2
#: Period, in pixels, of the lattice :func:`lattice_peaks` looks for. VGG19's pooling layers take 2×2 windows at
#: strides of 2, 4, 8 and 16 px of the input, so what the deeper layers ask of the picture arrives on that grid; a
#: pattern repeated every 8 px has its power at k/8 cycles per pixel, which covers periods 4, 8/3 and 2 as well.
LATTICE_PERIOD = 8
#: At a frequency where it has no peak a picture's power stands about 1.4× above its spectral neighbourhood, and up
#: to about 3× at the most of :func:`lattice_peaks`' 120 places (the chance of 9 periodogram bins against a median);
#: :func:`lattice_excess` counts a source as at least this.
LATTICE_FLOOR = 3.0
#: Most :func:`lattice_excess` of a clean result: 07's transfers at 256 px measured 1.1-1.5 (max and average pooling,
#: The Starry Night and The Scream); a dot of 2 % every 8 px over the sky alone gives more than 5.
MAX_LATTICE_EXCESS = 3.0
def _luminance(image) -> np.ndarray:
    return _single(image) @ LUMA_WEIGHTS


def _single(image) -> np.ndarray:
    """One image as a float64 ``[H, W, 3]`` array (a ``[1, H, W, 3]`` batch loses its batch axis)."""
    array = np.asarray(image, np.float64)
    return array[0] if array.ndim == 4 else array


def white_dots(image, *, white: float = 0.85, contrast: float = 0.3) -> np.ndarray:
    """``[N, 2]`` (row, column) positions of isolated near-white dots (``07_beyond``, ``04_style_layers``).

    A dot is a near-white pixel (its darkest channel at least ``white``) with at most one
    near-white neighbour in its 3×3 window, whose luminance exceeds the mean luminance of
    the ring around it (the 5×5 window minus the central 3×3) by at least ``contrast``: a
    speck of light on a darker surround, not part of a bright area (a white cloud's pixels,
    even its corners, have more white neighbours or a bright ring). A 1-2 px dot counts: the
    ring starts two pixels away.
    """
    array = _single(image)
    luma = _luminance(array)
    ring = (box_blur(luma, 2) * 25 - box_blur(luma, 1) * 9) / 16
    near_white = array.min(axis=-1) >= white
    white_neighbours = np.rint(box_blur(near_white.astype(np.float64), 1) * 9)   # itself included
    mask = near_white & (white_neighbours <= 2) & (luma - ring >= contrast)
    return np.argwhere(mask)


_DIRECTIONS = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]


def bright_dots(image, *, contrast: float = 0.15, distance: int = 3) -> np.ndarray:
    """``[N, 2]`` (row, column) positions of bright dots of any colour, 1-3 px across (``07_beyond``).

    The luminance is averaged over 3×3 windows; a dot is a local maximum of that average that
    exceeds it ``distance`` pixels away in each of the eight directions by at least ``contrast`` (a flat
    top of several such pixels is one dot, at its centre):
    a spot lighter than its surround all round. A stroke is not a dot (it stays light along its
    length), and a single-pixel speck counts only if it is very bright (the average dilutes it 9×).
    """
    smooth = box_blur(_luminance(image), 1)
    lowest_drop = _lowest_difference(smooth[..., np.newaxis], distance, signed=True)
    return _peak_centres(smooth, lowest_drop >= contrast)


def hue_dots(image, *, contrast: float = 0.1, distance: int = 3) -> np.ndarray:
    """``[N, 2]`` (row, column) positions of dots that differ in hue from all around them, 2-4 px
    across, whatever their brightness (``00_welcome``: the gallery's skies).

    The two colour channels of YIQ (I and Q) are averaged over 3×3 windows; a dot is a local maximum
    of the smallest colour difference (Euclidean, in I and Q) to the pixels ``distance`` away in each
    of the eight directions, where that difference is at least ``contrast``: a magenta or green spot
    on a grey sky, not a stroke of colour (it keeps its hue along its length) and not an edge between
    two colours (one side matches). A single pixel does not count: the average dilutes it 9×.
    """
    yiq = rgb_to_yiq(_single(image))
    chroma = np.stack([box_blur(yiq[..., k], 1) for k in (1, 2)], axis=-1)
    lowest_difference = _lowest_difference(chroma, distance, signed=False)
    return _peak_centres(lowest_difference, lowest_difference >= contrast)


def _lowest_difference(channels: np.ndarray, distance: int, *, signed: bool) -> np.ndarray:
    """``[H, W]`` smallest difference between each pixel of ``channels`` ``[H, W, C]`` and the pixels
    ``distance`` away in the eight directions: of the one channel (``signed``) or the Euclidean norm."""
    height, width = channels.shape[:2]
    padded = np.pad(channels, ((distance, distance), (distance, distance), (0, 0)), mode="edge")
    lowest = np.full((height, width), np.inf)
    for dy, dx in _DIRECTIONS:
        around = padded[distance + dy * distance:distance + dy * distance + height,
                        distance + dx * distance:distance + dx * distance + width]
        difference = channels - around
        lowest = np.minimum(lowest, difference[..., 0] if signed else np.linalg.norm(difference, axis=-1))
    return lowest


def _peak_centres(height: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """``[N, 2]`` centres of the local maxima of ``height`` (3×3) where ``strong``; a flat top is one peak."""
    from scipy import ndimage

    window = np.lib.stride_tricks.sliding_window_view(np.pad(height, 1, mode="edge"), (3, 3))
    peaks = (height >= window.max(axis=(-2, -1))) & strong
    labels, count = ndimage.label(peaks, structure=np.ones((3, 3)))
    centres = ndimage.center_of_mass(peaks, labels, range(1, count + 1))
    return np.rint(np.array(centres, dtype=np.float64).reshape(-1, 2)).astype(np.int64)


def grid_locking(image, period: int = 4, *, contrast: float = 0.05) -> float:
    """How far the dots of colour in ``image`` (:func:`hue_dots` at ``contrast``) crowd onto one phase of a grid
    ``period`` px wide (docs/paper.md's notes on the sky dots): the count of the fullest of the ``period²``
    phases (row, column modulo ``period``) less the mean, over the square root of the mean (a Poisson z-score).

    A painting's dots keep to no grid: the five course paintings at 256 px measure 0.7-2.4. VGG19's first two
    2×2 poolings put what the deeper layers ask of a pixel on a 4-px grid; the paper-setup transfers at 256 px
    measured 3.7-8.0, clean-looking or dotted alike. 0 when there are fewer dots than phases.
    """
    dots = hue_dots(image, contrast=contrast)
    if period < 2 or len(dots) < period * period:
        return 0.0
    counts = np.bincount((dots[:, 0] % period) * period + dots[:, 1] % period, minlength=period * period)
    mean = len(dots) / period ** 2
    return float((counts.max() - mean) / np.sqrt(mean))


#: The dot measures :func:`dots_per_megapixel` and :func:`dot_excess` can count.
DOT_KINDS = {"white": white_dots, "bright": bright_dots, "hue": hue_dots}


def dots_per_megapixel(image, kind: str = "white", *, where: np.ndarray | None = None, **options: Any) -> float:
    """Dots per million pixels, so that sizes compare: ``kind="white"`` counts :func:`white_dots`,
    ``"bright"`` :func:`bright_dots`, ``"hue"`` :func:`hue_dots` (options go to that function).
    ``where`` (boolean ``[H, W]``, e.g. :func:`flat_places` of the photo) counts only the dots there,
    per million pixels of that area."""
    if kind not in DOT_KINDS:
        raise SettingsError(f"dot kind must be one of {', '.join(DOT_KINDS)}, got {kind!r}")
    array = np.asarray(image)
    dots = DOT_KINDS[kind](array, **options)
    if where is None:
        return float(len(dots) * 1e6 / np.prod(array.shape[-3:-1]))
    where = np.asarray(where, bool)
    if where.shape != tuple(array.shape[-3:-1]):
        raise SettingsError(f"where must be a [H, W] mask of the image's size {array.shape[-3:-1]}, got {where.shape}")
    return float(where[dots[:, 0], dots[:, 1]].sum() * 1e6 / max(where.sum(), 1))


def dot_excess(image, reference, floor: float = DOT_FLOOR, *, kind: str = "white",
               reference_size: int | None = None, where: np.ndarray | None = None) -> float:
    """:func:`dots_per_megapixel` of ``image`` over that of ``reference`` (the painting) shown at
    ``reference_size`` (default: ``image``'s long side), the latter counted as at least ``floor`` dots on
    ``image``'s area (``07_beyond``, ``04_style_layers``). Pass the size the painting was matched at
    (a coarse-to-fine history's ``style_size``) when it differs from the image's. With ``where``, only
    the image's dots in that area count (per its area; the floor is ``floor`` dots there), against
    the whole painting's.

    A painting has its own light specks, and more the larger it is shown (The Starry Night: 317 white
    dots per megapixel at 256 px, 1,178 at 512, 9,904 at its native 1,024), and matching its Gram matrices
    copies them. About 1 or below: no more dots than the painting has; a white-noise start that survived
    leaves 3-4× (the paper's Figure 4, 256 px, 100 steps: 1,160 against 317).
    """
    array = np.asarray(image)
    height, width = array.shape[-3:-1]
    painting = load_image(reference, max_dim=reference_size or max(height, width))
    own = dots_per_megapixel(painting, kind)
    area = height * width if where is None else max(int(np.sum(where)), 1)
    return dots_per_megapixel(array, kind, where=where) / max(own, floor * 1e6 / area)


#: :func:`hue_dots`' ``contrast`` for :func:`sky_dot_excess`: at 0.1 a plainly seen lattice counted 3 (docs/paper.md).
SKY_DOT_CONTRAST = 0.07


def sky_dot_excess(image, photo, painting, *, contrast: float = SKY_DOT_CONTRAST, window: float = 0.25) -> float:
    """:func:`hue_dots` where ``photo`` is flat (its sky, :func:`flat_places`) per area, over the painting's own in
    its most dotted window of ``window`` of its area (at least 2 dots), the painting at ``image``'s long side
    (``00_welcome``, ``04_style_layers``): a sky may be as dotted as the most dotted part of the painting (a
    starry sky), not more. The measured values are at :data:`nstutils.course.paper.MAX_SKY_DOT_EXCESS`."""
    array, sky = _single(image), flat_places(photo)
    if sky.shape != array.shape[:2]:
        raise SettingsError(f"image {array.shape[:2]} and photo {sky.shape} must have the same size")
    dots = hue_dots(array, contrast=contrast)
    reference = _single(load_image(painting, max_dim=max(array.shape[:2])))
    rows, columns = (max(1, int(round(side * np.sqrt(window)))) for side in reference.shape[:2])
    counts = np.zeros((reference.shape[0] + 1, reference.shape[1] + 1))
    np.add.at(counts, tuple(hue_dots(reference, contrast=contrast).T + 1), 1)
    total = counts.cumsum(0).cumsum(1)   # dots in every window at once, from the summed-area table
    most = (total[rows:, columns:] - total[:-rows, columns:] - total[rows:, :-columns] + total[:-rows, :-columns]).max()
    return float(sky[dots[:, 0], dots[:, 1]].sum() / max(sky.sum(), 1) / (max(most, 2) / (rows * columns)))

def speckle_ratio(image, photo, radius: int = 1) -> float:
    """High-frequency energy of ``image`` relative to ``photo``'s (``07_beyond``).

    The energy is the mean square of the luminance minus its ``(2·radius+1)²`` box blur
    (detail at the pixel scale). About 1: as crisp as the photo; well above 1: speckle
    the photo does not have (a noise start that was never smoothed away gives 3-10).
    """
    a, b = _luminance(image), _luminance(photo)
    if a.shape != b.shape:
        raise SettingsError(f"images differ in shape: {a.shape} vs {b.shape}")
    energy = [_pixel_energy(x, radius) for x in (a, b)]
    return energy[0] / energy[1] if energy[1] > 0 else float("inf")


def speckle_excess(image, photo, painting, radius: int = 1) -> float:
    """Pixel-scale energy of ``image`` (as in :func:`speckle_ratio`) over the larger of the photo's
    and the painting's, the painting shown at ``image``'s long side (``00_welcome``, the gallery).

    A styled photo may be as crisp as either of its sources, and no crisper: about 1 or below is
    fine; a white-noise start that was never smoothed away leaves 5-6 (the gallery at 256 px, 200
    steps, Tübingen in the styles of *The Shipwreck* and *The Scream*: 5.1 and 5.7 from uniform noise,
    1.0 and 1.2 from :func:`~nstutils.course.paper_setup.reference_start`).
    """
    array = np.asarray(image)
    height, width = array.shape[-3:-1]
    shown = load_image(painting, max_dim=max(height, width))
    sources = max(_pixel_energy(_luminance(photo), radius), _pixel_energy(_luminance(shown), radius))
    energy = _pixel_energy(_luminance(array), radius)
    return energy / sources if sources > 0 else float("inf")


def flat_chroma_ratio(image, photo, radius: int = 4, flat_fraction: float = 0.25) -> float:
    """Colour detail that ``image`` adds where the photo is flat, relative to the photo's own there
    (``07_beyond``: does a photo-to-photo transfer stay photographic?).

    The photo's flat places are the ``flat_fraction`` of its pixels with the least detail
    (:func:`flat_places`): sky, still water, plain walls. There the ratio compares the RMS of the two
    colour channels' detail (I and Q minus their ``(2·radius+1)²`` box blur) in ``image`` and in the
    photo. About 1: flat areas stay flat (recolouring them evenly is fine); blotches of colour a few
    pixels across, the style photo's texture painted over the sky, give 5-10 (Tübingen in Chelsea's
    style, 256 px, without total variation: 8.1).
    """
    result, source = (rgb_to_yiq(_single(x)) for x in (image, photo))
    if result.shape != source.shape:
        raise SettingsError(f"images differ in shape: {result.shape} vs {source.shape}")
    flat = flat_places(photo, radius, flat_fraction)
    rms = [np.sqrt(np.mean(_chroma_detail(yiq, radius)[flat])) for yiq in (result, source)]
    return float(rms[0] / rms[1]) if rms[1] > 0 else float("inf")


def flat_places(photo, radius: int = 4, flat_fraction: float = 0.25) -> np.ndarray:
    """Boolean ``[H, W]`` mask of the ``flat_fraction`` of ``photo``'s pixels with the least detail:
    each YIQ channel minus its ``(2·radius+1)²`` box blur, squared and averaged over the same window."""
    yiq = rgb_to_yiq(_single(photo))
    busy = sum(box_blur(high_pass(yiq[..., k], radius) ** 2, radius) for k in range(3))
    return busy <= np.quantile(busy, flat_fraction)


def _chroma_detail(yiq: np.ndarray, radius: int) -> np.ndarray:
    """``[H, W]`` mean square over I and Q of each channel minus its ``(2·radius+1)²`` box blur."""
    return sum(high_pass(yiq[..., k], radius) ** 2 for k in (1, 2)) / 2


def _pixel_energy(luma: np.ndarray, radius: int) -> float:
    """Mean square of the luminance minus its ``(2·radius+1)²`` box blur: detail at the pixel scale."""
    return float(np.mean(high_pass(luma, radius) ** 2))


def lattice_peaks(image, period: int = LATTICE_PERIOD) -> Dict[Tuple[str, int, int], float]:
    """How far a picture's power stands out at the frequencies of a lattice (``07_beyond``).

    For each YIQ channel (``"Y"``, ``"I"``, ``"Q"``) and each frequency ``(a/period, b/period)``
    cycles per pixel (down, across; ``a`` from 0 to ``period/2``, ``b`` from ``-period/2`` to
    ``period/2``, one of each ± pair): the mean power of the windowed spectrum in the 3×3 bins
    there over the median power of the ring around them (15×15 bins less the central 5×5); the window
    is flat but for the outer eighth of each side, where it falls to 0 (a Tukey window). A
    pattern repeated every ``period`` px across the picture, even a faint one, is a narrow peak
    (a 1 % dot every 8 px on a photo: about 50); paintings and photos have none (1-6, and a photo's
    own chroma checkerboard at ``(period/2, ±period/2)``). Keys are ``(channel, a, b)``.
    """
    from scipy.signal.windows import tukey

    yiq = rgb_to_yiq(_single(image))
    height, width = yiq.shape[:2]
    # flat in the middle, tapered over the outer eighth of each side: a lattice in the sky, at the top, still counts
    window = np.outer(tukey(height, 0.25), tukey(width, 0.25))
    ring = np.ones((15, 15), bool)
    ring[5:10, 5:10] = False
    offsets = np.arange(-7, 8)
    peaks = {}
    for k, name in enumerate("YIQ"):
        channel = yiq[..., k].astype(np.float64)
        power = np.abs(np.fft.fft2((channel - channel.mean()) * window)) ** 2
        for a, b in _lattice_frequencies(period):
            block = power[np.ix_((round(a * height / period) + offsets) % height,
                                 (round(b * width / period) + offsets) % width)]
            background = np.median(block[ring])
            peaks[(name, a, b)] = float(block[6:9, 6:9].mean() / background) if background > 0 else float("inf")
    return peaks


def _lattice_frequencies(period: int) -> List[Tuple[int, int]]:
    half = period // 2
    return [(a, b) for a in range(half + 1) for b in range(-half, half + 1) if a > 0 or b > 0]


def lattice_excess(image, photo, painting, period: int = LATTICE_PERIOD) -> float:
    """The largest :func:`lattice_peaks` value of ``image`` over the larger of the photo's and the
    painting's at the same place (each at least :data:`LATTICE_FLOOR`), the painting shown at
    ``image``'s long side (``07_beyond``, ``00_welcome``, the paper's figures).

    About 1 or below: no lattice the sources do not have; a grid printed by the network's pooling
    stands out 10× and more. ``painting`` is a course name, a file or an image.
    """
    array = np.asarray(image)
    height, width = array.shape[-3:-1]
    shown = load_image(painting, max_dim=max(height, width))
    own = lattice_peaks(array, period)
    sources = [lattice_peaks(np.asarray(photo), period), lattice_peaks(shown, period)]
    return max(value / max(LATTICE_FLOOR, *(source[key] for source in sources)) for key, value in own.items())


def transplant_excess(image, photo, grid: int = 6) -> float:
    """How much more the network's view changed in the most changed place than in a typical one: the largest of
    :func:`~nstutils.course.measures.local_content_distance` over its median (``07_beyond``).

    A photo relit or recoloured changes its content features everywhere alike (1.8-2.1 measured: Tübingen at dusk,
    Tübingen darkened by hand); an object of the style photo painted onto it changes them in one place (5.5: a cat's
    eye and fur on the river bank, a launch tower in the sky; a pasted patch of the cat: far more).
    """
    local = local_content_distance(image, photo, grid)
    typical, most = float(np.median(local)), float(local.max())
    if most == 0:
        return 0.0   # nothing changed anywhere
    return most / typical if typical > 0 else float("inf")
