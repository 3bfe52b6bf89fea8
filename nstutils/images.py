"""Loading, converting, resizing and saving images.

Every image inside nstutils is a float32 array in [0, 1]: ``[1, H, W, 3]`` (a batch of
one, what TensorFlow wants) on the way in and ``[H, W, 3]`` in results. ``load_image``
turns whatever a learner has (a path, a URL, a course image name, a PIL image, an
array) into that form and refuses anything it cannot read with an :class:`ImageError`
that names the file and the problem. Introduced in ``00_welcome``.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .cache import atomic_path, write_fault
from .errors import ImageError, OutputError, OutputExistsError
from .vgg19 import CONV_LAYERS, min_side

log = logging.getLogger(__name__)

#: Largest image (width × height) nstutils will decode: 100 megapixels. Larger files,
#: and "decompression bombs" that only claim a huge size, are refused before decoding.
MAX_PIXELS = 100_000_000
#: Largest output long side ``load_image(max_dim=...)`` accepts.
MAX_DIM = 8192
#: Smallest short side a run can use, whatever its layers: VGG19 halves the image four times
#: before ``block5`` (16 → 1 px); a thinner image would leave no pixel for TensorFlow's MaxPool.
MIN_SIDE = min_side(CONV_LAYERS)

ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, Any]

#: The file extensions :func:`save_image` writes, and Pillow's format for each (the CLI checks ``--output`` with it).
SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP",
                ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def source_name(source: Any) -> str:
    """How messages name an image source: the path or URL as given, else ``<ndarray>``-like."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


def load_image(source: ImageSource, max_dim: int | None = None, min_side: int | None = None) -> np.ndarray:
    """Load ``source`` as a float32 ``[1, H, W, 3]`` array with values in [0, 1].

    ``source`` may be a file path, an ``https://`` URL, a course image name (see
    ``nstutils.data.list_images()``, e.g. ``"tubingen"``, ``"starry_night"``,
    ``"astronaut"``), a PIL image, or an array/tensor shaped ``[H, W]``,
    ``[H, W, 1|3|4]`` or ``[1, H, W, 3]`` (uint8, uint16, or floats in [0, 1]).

    EXIF orientation is applied; grayscale, palette, CMYK and 16-bit images become RGB;
    transparency is composited on white. With ``max_dim``, the image is resized (up or
    down, as in the TensorFlow tutorial) so that its long side is ``max_dim`` pixels. With
    ``min_side`` too (a run passes :data:`MIN_SIDE`, what VGG19's poolings need), an image whose
    short side would fall under it is enlarged to it, with a logged message, or refused with
    :class:`ImageError` when its long side would then exceed :data:`MAX_DIM`.
    """
    if max_dim is not None:
        if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)) or not 1 <= max_dim <= MAX_DIM:
            raise ImageError(f"max_dim must be an integer between 1 and {MAX_DIM}, got {max_dim!r}")
    name = source_name(source)
    if isinstance(source, Image.Image):
        array = _pil_to_array(source, name)
    elif isinstance(source, (str, os.PathLike)):
        array = _pil_to_array(_open(source), name)
    else:
        array = _array_to_rgb(source, name)
    if max_dim is not None:
        array = resize_image(array, fit_size(array.shape[:2], max_dim, min_side or 1, name))
    return array[np.newaxis]


def fit_size(shape: tuple, max_dim: int, min_side: int = MIN_SIDE, name: str = "the image") -> tuple[int, int]:
    """``(height, width)`` with the long side ``max_dim``, enlarged so the short side is at least
    ``min_side``; :class:`ImageError` when that would make the long side exceed :data:`MAX_DIM`."""
    size = _fit_long_side(shape, max_dim)
    short = min(size)
    if short >= min(min_side, max_dim):
        return size
    scale = min_side / (min(shape) / max(shape))  # the long side that gives min_side on the short one
    if round(scale) > MAX_DIM:
        raise ImageError(
            f"{name}: {shape[1]}×{shape[0]} px is too thin to paint: its short side would be {short} px at "
            f"size {max_dim}, and VGG19 needs at least {min_side} px; enlarging it would make the long side "
            f"{round(scale):,} px (limit {MAX_DIM}). Crop it to a less elongated shape")
    size = _fit_long_side(shape, round(scale))
    size = (max(size[0], min_side), max(size[1], min_side))
    log.warning("%s: %d×%d px at size %d would leave a short side of %d px; enlarged to %d×%d px (VGG19 needs "
                "at least %d px)", name, shape[1], shape[0], max_dim, short, size[1], size[0], min_side)
    return size


def check_min_side(image: Any, min_side: int = MIN_SIDE, name: str = "the image") -> None:
    """Raise :class:`ImageError` when ``image`` (``[1, H, W, 3]`` or ``[H, W, 3]``) has a side under ``min_side``."""
    shape = np.shape(image)
    height, width = (shape[1], shape[2]) if len(shape) == 4 else shape[:2]
    if min(height, width) < min_side:
        raise ImageError(f"{name}: {width}×{height} px is too small for VGG19, which needs at least {min_side} px "
                         f"on each side; load it with load_image(..., max_dim=N), which enlarges it")


def _open(source: str | os.PathLike) -> Image.Image:
    from . import data

    text = os.fspath(source)
    scheme = text.split("://", 1)[0].lower() if isinstance(source, str) and "://" in text else None
    if scheme in ("http", "https"):
        path = data.download_url(text)
    elif scheme == "file":
        path = _file_url_path(text)
    elif scheme is not None and len(scheme) > 1 and scheme.isalnum():  # "C://x" stays a Windows path
        raise ImageError(f"{text}: {scheme}:// URLs are not supported; use an https:// URL, a file:// URL or a path")
    elif isinstance(source, str) and data.is_registered(text) and not Path(text).exists():
        path = data.image_path(text)
        if isinstance(path, Image.Image):
            return path
    else:
        path = Path(text).expanduser()
        if not path.exists() and isinstance(source, str):
            _suggest_course_name(text)
    return open_image_file(path)


def _file_url_path(url: str) -> Path:
    """The local path of a ``file://`` URL (percent-escapes decoded; ``file://host/...`` refused)."""
    from urllib.parse import unquote, urlparse
    from urllib.request import url2pathname

    parts = urlparse(url)
    if parts.netloc not in ("", "localhost"):
        raise ImageError(f"{url}: file:// URLs must name a local file (file:///path), not host {parts.netloc!r}")
    return Path(url2pathname(unquote(parts.path)))


def _suggest_course_name(text: str) -> None:
    """A missing file that looks like a misspelt or shortened course image name gets a did-you-mean."""
    from . import data

    close = None if os.sep in text or "/" in text or Path(text).suffix else data.suggest_name(text)
    if close:
        raise ImageError(f"{text}: no such file or course image. Did you mean {close!r}? "
                         "(`nst images` lists the course images)")


def open_image_file(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file, or raise :class:`ImageError` saying why not."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes)")
    return _decode(path, path)


def open_image_bytes(data: bytes, name: str) -> Image.Image:
    """:func:`open_image_file` for the bytes of a file called ``name`` (an upload), decoded in memory:
    nothing is written to disk, so a full or read-only temp folder cannot get in the way."""
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    return _decode(io.BytesIO(data), name)


def _decode(source: Any, path: Any) -> Image.Image:
    """Open and fully decode ``source`` (a path or a file object); messages name it as ``path``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{path}: {width}×{height} pixels is larger than the limit of {MAX_PIXELS:,} "
                                 "pixels (nstutils.images.MAX_PIXELS); shrink it first")
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: refused as a possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{path}: the image data is damaged or truncated ({exc})") from None
    if width < 1 or height < 1:
        raise ImageError(f"{path}: the image has no pixels ({width}×{height})")
    return image


def _pil_to_array(image: Image.Image, name: str) -> np.ndarray:
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not stop us using the pixels
        pass
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        gray = np.clip(values / scale, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        gray = np.asarray(image, dtype=np.float32)
        if not np.isfinite(gray).all():
            raise ImageError(f"{name}: the image contains NaN or infinite values")
        high = float(gray.max(initial=0.0))
        gray = gray / (255.0 if high > 1.0 else 1.0)
        return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba).convert("RGB")
    elif mode != "RGB":
        image = image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    return np.asarray(image, dtype=np.float32) / 255.0


def _array_to_rgb(source: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(source)
    except Exception as exc:
        raise ImageError(f"cannot use a {type(source).__name__} as an image ({exc})") from None
    if array.dtype == object or array.size == 0:
        raise ImageError(f"{name}: not an image (an empty or non-numeric array)")
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ImageError(f"{name}: a batch of {array.shape[0]} images; pass one image")
        array = array[0]
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(f"{name}: array of shape {array.shape} is not an image; expected [H, W], "
                         "[H, W, 1|3|4] or [1, H, W, 3]")
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    elif array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.integer):
        raise ImageError(f"{name}: integer arrays must be uint8 or uint16, got {array.dtype}")
    else:
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise ImageError(f"{name}: the array contains NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ImageError(f"{name}: float values must lie in [0, 1], found [{low:.3g}, {high:.3g}] "
                             "(divide 0-255 data by 255)")
        array = np.clip(array, 0.0, 1.0)
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageError(f"{name}: {array.shape[1]}×{array.shape[0]} pixels exceeds MAX_PIXELS")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        rgb, alpha = array[..., :3], array[..., 3:]
        array = rgb * alpha + (1.0 - alpha)  # composite on white
    return np.ascontiguousarray(array, dtype=np.float32)


def _fit_long_side(shape: tuple, max_dim: int) -> tuple[int, int]:
    height, width = shape
    scale = max_dim / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``[H, W, 3]`` (or ``[1, H, W, 3]``) float image to ``size = (height, width)``.

    Each channel is resampled in float precision with a Lanczos filter (antialiased when
    shrinking), then clipped to [0, 1]. Used for ``max_dim`` and for coarse-to-fine runs.
    """
    array = np.asarray(image, dtype=np.float32)
    batched = array.ndim == 4
    if batched:
        array = array[0]
    height, width = int(size[0]), int(size[1])
    if (height, width) == array.shape[:2]:
        out = array.copy()
    else:
        channels = [
            np.asarray(Image.fromarray(array[..., c], mode="F").resize((width, height), Image.LANCZOS))
            for c in range(array.shape[2])
        ]
        out = np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)
    return out[np.newaxis] if batched else out


def to_uint8(image: Any) -> np.ndarray:
    """Convert a float image in [0, 1] (``[H, W, 3]`` or ``[1, H, W, 3]``) to ``uint8 [H, W, 3]``."""
    array = np.asarray(image)
    if array.ndim == 4:
        array = array[0]
    if array.dtype == np.uint8:
        return array
    array = np.nan_to_num(array.astype(np.float32), nan=0.0)
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def save_image(image: Any, path: str | os.PathLike, overwrite: bool = False, quality: int = 95) -> Path:
    """Write ``image`` to ``path`` (format from the extension) and return the path.

    The file is written to a temporary name beside ``path`` and renamed into place, so
    an interrupted save never leaves a half-written file. An existing file is only
    replaced with ``overwrite=True``; otherwise :class:`OutputExistsError` is raised. A file that
    cannot be written (a full disk, a read-only folder, a parent that is a file) raises
    :class:`OutputError`, one line naming the path and the fix, and leaves no temporary file.
    """
    path = Path(path).expanduser()
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image extension {path.suffix!r}; use one of "
                         f"{', '.join(sorted(SAVE_FORMATS))}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (CLI: --force) to replace it")
    pixels = Image.fromarray(to_uint8(image), mode="RGB")
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    try:
        with atomic_path(path) as tmp:  # removes its temporary file on any error
            pixels.save(tmp, format=fmt, **options)
    except OSError as error:  # a full disk, a read-only folder, a file where a folder should be
        raise write_fault(path, error) from None
    return path


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output :func:`save_image` could not write; return the path.

    The extension must be known, an existing file needs ``overwrite``, and a file is made beside it
    and removed at once (a missing or read-only folder, a parent that is a file). One-line errors.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in SAVE_FORMATS:
        raise ImageError(f"output {path}: unknown image extension {path.suffix!r}; use one of "
                         f"{', '.join(sorted(SAVE_FORMATS))}")
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name such as {path / 'result.jpg'}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (CLI: --force) to replace it")
    try:
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.probe-", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise write_fault(path, error) from None
    return path


def save_image_or_fallback(image: Any, path: str | os.PathLike, overwrite: bool = False,
                           fallback_dirs: tuple = ()) -> tuple[Path, str]:
    """Save ``image`` at ``path``, or, if that fails (full disk, folder gone or read-only), at the
    first of ``fallback_dirs``, the working folder and the temp folder that takes it.

    Returns ``(path, "")`` or ``(fallback, why path failed)``; :class:`OutputError` only when nowhere worked.
    """
    path = Path(path).expanduser()
    try:
        return save_image(image, path, overwrite=overwrite), ""
    except OSError as error:  # OutputError (its cause alone), or OutputExistsError: something appeared meanwhile
        reason = error.reason if isinstance(error, OutputError) else str(error)
    for folder in (*map(Path, fallback_dirs), Path.cwd(), Path(tempfile.gettempdir())):
        candidate = free_name(folder / (path.name if path.suffix.lower() in SAVE_FORMATS else path.stem + ".png"))
        if candidate is None or candidate == path:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return save_image(image, candidate), reason
        except OSError as error:
            log.warning("could not write the fallback %s either (%s)", candidate, error)
    raise OutputError(f"could not write {path} ({reason}) nor any fallback (the working folder, "
                      f"{tempfile.gettempdir()})")


def free_name(path: Path) -> Path | None:
    """``path``, or ``NAME-1.ext``, ``NAME-2.ext``, ... : the first that does not exist (None past 999)."""
    if not path.exists():
        return path
    for index in range(1, 1000):
        candidate = path.with_name(f"{path.stem}-{index}{path.suffix}")
        if not candidate.exists():
            return candidate
    return None


def image_to_bytes(image: Any, fmt: str = "PNG") -> bytes:
    """Encode an image as PNG/JPEG bytes (for widgets and HTML output)."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image), mode="RGB").save(buffer, format=fmt)
    return buffer.getvalue()
