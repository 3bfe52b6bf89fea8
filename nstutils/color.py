"""Colour: keep the photo's colours while taking the painting's strokes.

Gatys et al., *Preserving Color in Neural Artistic Style Transfer* (2016), propose two
ways, both here:

* **luminance-only transfer** (:func:`preserve_color`): take the luminance Y of the
  stylized image and the chroma (I, Q) of the content photo, in the YIQ colour space;
* **colour matching** (:func:`match_color`): before stylizing, give the style image the
  content's colour mean and covariance (a linear map in RGB), so the painting's palette
  never enters.

Introduced in ``07_beyond``; the CLI's ``--preserve-color`` uses :func:`preserve_color`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .errors import ImageError

# NTSC YIQ (FCC 1953 coefficients), as in skimage.color.rgb2yiq.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.59590059, -0.27455667, -0.32134392],
                        [0.21153661, -0.52273617, 0.31119955]], dtype=np.float64)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)
#: The luminance (Y) weights of R, G and B: YIQ's first row. Every grey image in the course is ``rgb @ LUMA_WEIGHTS``.
LUMA_WEIGHTS = _RGB_TO_YIQ[0].copy()
LUMA_WEIGHTS.setflags(write=False)


def _hwc(image, name: str) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageError(f"{name} must be an [H, W, 3] image, got shape {array.shape}")
    return array


def luminance_image(image):
    """A ``[..., 3]`` image as a TensorFlow tensor of the same shape whose three channels are all its luminance
    ``Y = rgb @ LUMA_WEIGHTS``: what the content loss compares with ``content_channels="luminance"``
    (:class:`nstutils.settings.ObjectiveSettings`; docs/paper.md, the sky dots). Differentiable."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image, tf.float32)
    luma = tf.tensordot(image, tf.constant(LUMA_WEIGHTS, tf.float32), 1)[..., tf.newaxis]
    return tf.concat([luma, luma, luma], axis=-1)


def rgb_to_yiq(image: ArrayLike) -> np.ndarray:
    """RGB ``[H, W, 3]`` in [0, 1] -> YIQ (Y in [0, 1] is the luminance; I, Q carry colour)."""
    return (_hwc(image, "image") @ _RGB_TO_YIQ.T).astype(np.float32)


def yiq_to_rgb(image: ArrayLike) -> np.ndarray:
    """YIQ -> RGB (not clipped: out-of-gamut values are the caller's to handle)."""
    return (_hwc(image, "image") @ _YIQ_TO_RGB.T).astype(np.float32)


def preserve_color(stylized: ArrayLike, content: ArrayLike) -> np.ndarray:
    """Luminance from ``stylized``, colour (I, Q) from ``content``; both ``[H, W, 3]``, same size."""
    stylized, content = _hwc(stylized, "stylized"), _hwc(content, "content")
    if stylized.shape != content.shape:
        raise ImageError(f"stylized {stylized.shape} and content {content.shape} must have the same size")
    yiq = rgb_to_yiq(content)
    yiq[..., 0] = rgb_to_yiq(stylized)[..., 0]
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0)


def match_color(source: ArrayLike, target: ArrayLike) -> np.ndarray:
    """Recolour ``source`` so its RGB mean and covariance equal ``target``'s.

    Uses the symmetric (principal square root) map ``x ↦ Σt^½ Σs^-½ (x − μs) + μt``; the
    images may differ in size. Typical use: ``match_color(style, content)``.
    """
    source, target = _hwc(source, "source"), _hwc(target, "target")
    xs = source.reshape(-1, 3).astype(np.float64)
    xt = target.reshape(-1, 3).astype(np.float64)
    mu_s, mu_t = xs.mean(0), xt.mean(0)
    cov_s = np.cov(xs, rowvar=False) + 1e-5 * np.eye(3)
    cov_t = np.cov(xt, rowvar=False) + 1e-5 * np.eye(3)

    def sqrtm(matrix: np.ndarray, power: float) -> np.ndarray:
        values, vectors = np.linalg.eigh(matrix)
        return vectors @ np.diag(np.clip(values, 1e-12, None) ** power) @ vectors.T

    transform = sqrtm(cov_t, 0.5) @ sqrtm(cov_s, -0.5)
    out = (xs - mu_s) @ transform.T + mu_t
    return np.clip(out.reshape(source.shape), 0.0, 1.0).astype(np.float32)
