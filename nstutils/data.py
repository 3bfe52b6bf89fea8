"""The course's image registry: names, credits, pinned URLs and hashes.

The facts live in ``nstutils/resources/images.json`` (one source of truth, shipped
inside the package and rendered in the repository's ``data/README.md``). Files are found, in order:

1. in ``NSTUTILS_DATA_DIR`` when that variable names a folder holding them (CI points
   it at ``../shared/data/images``; teachers can point it at a USB stick);
2. in the cache (``nstutils.config.cache_dir() / "images"``);
3. by downloading the pinned URL over https with pooch, checking the sha256.

scikit-image's public-domain photos ``astronaut``, ``coffee`` and ``chelsea`` are
always available offline. Introduced in ``00_welcome``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Union

from .cache import memory_cache, remove_stale_temporaries, sha256_of
from .config import cache_dir, cache_fault, data_dir
from .errors import DataError, describe_os_error

log = logging.getLogger(__name__)

#: The registry, inside the package (read with importlib.resources, so it works from a wheel or a zip).
REGISTRY_RESOURCE = "images.json"
#: Largest download accepted from a URL given to ``load_image`` (bytes).
MAX_DOWNLOAD_BYTES = 50_000_000

SKIMAGE_PHOTOS = {
    "astronaut": "Eileen Collins, NASA astronaut (public domain, via scikit-image)",
    "coffee": "A cup of coffee, by Rachel Michetti (public domain, via scikit-image)",
    "chelsea": "Chelsea the cat, by Stefan van der Walt (public domain, via scikit-image)",
    "rocket": "A Falcon 9 on its launch pad at dusk, by SpaceX (public domain, via scikit-image)",
}


@dataclass(frozen=True)
class CourseImage:
    """One entry of the registry."""

    name: str
    file: str
    role: str
    title: str
    artist: str
    year: str
    license: str
    url: str
    sha256: str
    bytes: int
    width: int
    height: int

    @property
    def credit(self) -> str:
        year = f" ({self.year})" if self.year else ""
        return f"{self.title}{year}, {self.artist}; {self.license}"


@memory_cache(maxsize=1)
def registry() -> Dict[str, CourseImage]:
    """All course images by name, read from the package's ``resources/images.json``."""
    from importlib import resources

    try:
        text = resources.files("nstutils.resources").joinpath(REGISTRY_RESOURCE).read_text(encoding="utf-8")
        entries = json.loads(text)
    except (OSError, ValueError) as exc:
        raise DataError(f"the image registry inside nstutils is missing or damaged ({exc}); reinstall nstutils") \
            from None
    return {entry["name"]: CourseImage(**entry) for entry in entries}


def list_images() -> List[str]:
    """Names accepted by ``load_image``: the course images, then the scikit-image photos."""
    return list(registry()) + list(SKIMAGE_PHOTOS)


def is_registered(name: str) -> bool:
    """True if ``name`` is a course image or scikit-image photo name."""
    return name in registry() or name in SKIMAGE_PHOTOS or _by_file(name) is not None


def _by_file(name: str) -> CourseImage | None:
    for entry in registry().values():
        if entry.file == name:
            return entry
    return None


def credit(name: str) -> str:
    """A one-line credit for a course image (title, artist, licence)."""
    if name in SKIMAGE_PHOTOS:
        return SKIMAGE_PHOTOS[name]
    return _entry(name).credit


def suggest_name(text: str) -> str | None:
    """The course image ``text`` most likely means, or None: a close spelling of a whole name (``tubingn``),
    else the image one of whose words, or its file's, ``text`` spells or nearly spells (``wave``, ``scream``,
    ``matisse``)."""
    import difflib
    import re

    key = text.strip().lower()
    close = difflib.get_close_matches(key, list_images(), n=1, cutoff=0.6)
    if close:
        return close[0]
    words: Dict[str, str] = {}
    for name in list_images():
        entry = registry().get(name)
        for word in re.split(r"[\W_]+", f"{name} {Path(entry.file).stem if entry else ''}".lower()):
            words.setdefault(word, name)
    close = difflib.get_close_matches(key, [word for word in words if word], n=1, cutoff=0.8)
    return words[close[0]] if close else None


def _entry(name: str) -> CourseImage:
    entry = registry().get(name) or _by_file(name)
    if entry is None:
        close = suggest_name(name)
        hint = f" Did you mean {close!r}?" if close else ""
        raise DataError(f"unknown course image {name!r}.{hint} Known: {', '.join(list_images())}")
    return entry


def image_path(name: str) -> Union[Path, Any]:
    """Return a local path to course image ``name``, fetching it if needed.

    For the scikit-image photos a PIL image is returned instead (they live inside
    scikit-image). A file whose sha256 does not match the registry is never used.
    """
    if name in SKIMAGE_PHOTOS:
        from PIL import Image
        import skimage.data

        return Image.fromarray(getattr(skimage.data, name)())
    entry = _entry(name)
    local_dir = data_dir()
    if local_dir:
        candidate = local_dir / entry.file
        if candidate.exists():
            if sha256_of(candidate) != entry.sha256:
                raise DataError(
                    f"{candidate} does not match the registry's sha256 for {name!r}: the "
                    f"file is corrupt or a different image. Replace it with the one from {entry.url}"
                )
            return candidate
    cached = cache_dir() / "images" / entry.file
    if cached.exists():
        if sha256_of(cached) == entry.sha256:
            return cached
        log.warning("cached %s failed the hash check; downloading it again", cached)
        cached.unlink()
    return _fetch(entry.url, entry.sha256, cached, what=f"course image {name!r}")


def fetch_all() -> Dict[str, Path]:
    """Make every course image available locally; return their paths."""
    return {name: image_path(name) for name in registry()}


def _capped_downloader(url: str, output_file, pooch_instance) -> None:
    """A pooch downloader that streams over https and aborts past MAX_DOWNLOAD_BYTES."""
    import urllib.request

    if not url.startswith("https://"):
        raise DataError(f"refusing to download {url}: only https:// URLs are allowed")
    request = urllib.request.Request(url, headers={"User-Agent": "nstutils"})
    total = 0
    with urllib.request.urlopen(request, timeout=30) as response:
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > MAX_DOWNLOAD_BYTES:
            raise DataError(f"{url} is {declared:,} bytes, more than the {MAX_DOWNLOAD_BYTES:,}-byte limit")
        handle = open(output_file, "wb") if isinstance(output_file, (str, os.PathLike)) else output_file
        try:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                total += len(chunk)
                if total > MAX_DOWNLOAD_BYTES:
                    raise DataError(f"{url} sent more than {MAX_DOWNLOAD_BYTES:,} bytes; download aborted")
                handle.write(chunk)
        finally:
            if handle is not output_file:
                handle.close()


#: OSError numbers that mean the cache folder, not the network, is at fault.
_DISK_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EEXIST, errno.ENOTDIR,
                getattr(errno, "EDQUOT", errno.ENOSPC)}


def _download(url: str, sha256: str | None, target: Path) -> Path:
    """``url`` into ``target`` (its hash checked when given), by pooch; a folder made for it goes again if the
    download fails and leaves it empty."""
    import pooch

    remove_stale_temporaries(target.parent.parent)  # partial downloads of a killed run go first
    made = not target.parent.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # pooch downloads to a temporary file beside the target and checks the hash before the rename.
        path = pooch.retrieve(url, known_hash=f"sha256:{sha256}" if sha256 else None, fname=target.name,
                              path=target.parent, progressbar=False, downloader=_capped_downloader)
    except BaseException:
        if made:
            _remove_if_empty(target.parent)  # a failed first download leaves no empty folder behind
        raise
    return Path(path)


def _fetch(url: str, sha256: str | None, target: Path, what: str) -> Path:
    """:func:`_download` with its faults in one line: the cache's (read-only, full), or the network's."""
    if not url.startswith("https://"):
        raise DataError(f"refusing to download {url}: only https:// URLs are allowed")
    try:
        return _download(url, sha256, target)
    except DataError:
        raise
    except OSError as exc:
        if exc.errno in _DISK_ERRNOS:
            # the cache, not the network: read-only, full, or a file in the way
            raise cache_fault(target.parent, f"could not save {what} there ({describe_os_error(exc)})") from None
        raise _download_failed(what, url, exc) from None
    except Exception as exc:
        raise _download_failed(what, url, exc) from None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only an empty folder can go; another process's download keeps it
    except OSError:
        pass


def _download_failed(what: str, url: str, exc: Exception) -> DataError:
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}" if str(exc) else type(exc).__name__
    return DataError(
        f"could not download {what} from {url} ({reason}). If you are offline, copy the image files "
        "into a folder and set NSTUTILS_DATA_DIR to it (run `nst images` to see the file names)."
    )


def download_url(url: str) -> Path:
    """Download an arbitrary https image URL into the cache (size-capped) and return its path."""
    import hashlib

    name = hashlib.sha256(url.encode()).hexdigest()[:16] + Path(url.split("?")[0]).suffix[:8]
    target = cache_dir() / "downloads" / name
    if target.exists():
        return target
    return _fetch(url, None, target, what="the image")
