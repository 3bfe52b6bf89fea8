"""Bad input, measured: every odd file either loads correctly or raises ImageError naming it.

The counts of cases tried and handled are printed at the end of the pytest run.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from nstutils.errors import ImageError
from nstutils.images import load_image

COUNTS: Counter = Counter()


def check_file(path: Path) -> str:
    """Load ``path``; return "loaded" or "refused"; anything else fails the test."""
    COUNTS["tried"] += 1
    try:
        image = load_image(path)
    except ImageError as exc:
        assert path.name in str(exc), f"the message should name the file: {exc}"
        COUNTS["handled"] += 1
        COUNTS["refused"] += 1
        return "refused"
    assert image.dtype == np.float32 and image.ndim == 4 and image.shape[0] == 1 and image.shape[-1] == 3
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    COUNTS["handled"] += 1
    COUNTS["loaded"] += 1
    return "loaded"


def _png_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height pixels (a decompression bomb)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=2048), suffix=st.sampled_from([".jpg", ".png", ".gif", ".bin", ""]))
def test_random_bytes(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    check_file(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(min_value=0.0, max_value=0.99), fmt=st.sampled_from(["JPEG", "PNG"]))
def test_truncated_files(tmp_path, cut, fmt):
    pixels = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    data = _png_bytes(Image.fromarray(pixels), fmt)
    path = tmp_path / f"truncated.{fmt.lower()}"
    path.write_bytes(data[: int(len(data) * cut)])
    check_file(path)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=64), at=st.floats(min_value=0.1, max_value=0.9))
def test_corrupted_middle(tmp_path, data, at):
    pixels = np.random.default_rng(1).integers(0, 255, (30, 30, 3), dtype=np.uint8)
    original = _png_bytes(Image.fromarray(pixels), "PNG")
    position = int(len(original) * at)
    path = tmp_path / "corrupted.png"
    path.write_bytes(original[:position] + data + original[position + len(data):])
    check_file(path)


MODES = {
    "grayscale.png": lambda: Image.fromarray(np.full((8, 9), 100, np.uint8), mode="L"),
    "bilevel.png": lambda: Image.new("1", (7, 5), 1),
    "palette.png": lambda: Image.fromarray(np.full((6, 6, 3), 50, np.uint8)).convert("P"),
    "palette_transparent.gif": lambda: _transparent_palette(),
    "rgba.png": lambda: Image.new("RGBA", (5, 4), (10, 20, 30, 128)),
    "la.png": lambda: Image.new("LA", (5, 4), (10, 128)),
    "cmyk.jpg": lambda: Image.new("CMYK", (6, 5), (0, 128, 255, 0)),
    "gray16.png": lambda: Image.fromarray(np.full((4, 4), 40000, np.uint16)),
    "int32.tif": lambda: Image.fromarray(np.full((4, 4), 70000, np.int32), mode="I"),
    "float.tif": lambda: Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F"),
    "one_pixel.png": lambda: Image.new("RGB", (1, 1), (1, 2, 3)),
    "wide_10000x10.png": lambda: Image.new("RGB", (10000, 10), (200, 100, 0)),
    "tall_10x10000.jpg": lambda: Image.new("RGB", (10, 10000), (0, 100, 200)),
    "ycbcr.jpg": lambda: Image.new("RGB", (9, 9), (30, 60, 90)),
    "webp.webp": lambda: Image.new("RGB", (9, 9), (30, 60, 90)),
}


def _transparent_palette():
    image = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).convert("P")
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize("name", sorted(MODES))
def test_every_odd_format_loads_as_rgb(tmp_path, name):
    image = MODES[name]()
    path = tmp_path / name
    options = {"transparency": 0} if name.endswith(".gif") else {}
    image.save(path, **options)
    assert check_file(path) == "loaded"
    loaded = load_image(path)
    assert loaded.shape[1:3] == (image.size[1], image.size[0])


def test_wrong_extension_still_loads(tmp_path):
    path = tmp_path / "actually_a_png.jpg"
    Image.new("RGB", (3, 3), (255, 0, 0)).save(path, format="PNG")
    assert check_file(path) == "loaded"


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 6_000)])
def test_decompression_bomb_is_refused_without_decoding(tmp_path, size):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(*size))
    assert check_file(path) == "refused"
    with pytest.raises(ImageError, match="limit|bomb"):
        load_image(path)


@pytest.mark.parametrize("name, content", [("empty.png", b""), ("text.jpg", b"hello world"),
                                           ("html.png", b"<html><body>404</body></html>")])
def test_not_images(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert check_file(path) == "refused"


def test_a_folder_and_a_missing_file(tmp_path):
    (tmp_path / "folder.png").mkdir()
    assert check_file(tmp_path / "folder.png") == "refused"
    assert check_file(tmp_path / "missing.png") == "refused"


def test_cli_reports_bad_files_in_one_line_without_traceback(tmp_path):
    bomb, broken = tmp_path / "bomb.png", tmp_path / "broken.jpg"
    bomb.write_bytes(_bomb_png(90_000, 90_000))
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for bad in (bomb, broken):
        COUNTS["tried"] += 1
        done = subprocess.run([sys.executable, "-m", "nstutils.cli", "stylize", str(bad), "coffee", "-o",
                               str(tmp_path / "out.png")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith("nst: error:") and bad.name in done.stderr
        COUNTS["handled"] += 1


def test_bad_options_fail_before_tensorflow_is_loaded(tmp_path):
    """Option errors come first: no weights, no TensorFlow, no waiting."""
    script = (
        "import sys\nfrom nstutils.cli import main\n"
        "cases = [['--style-weight', 'nan'], ['--steps', '-3'], ['--size', '0'], ['--size', '99999'],"
        " ['--style-layers', 'conv4_9'], ['--optimizer', 'bfgs'], ['--content-weight', '-1'], ['--tv-weight', 'inf']]\n"
        "codes = [main(['stylize', 'astronaut', 'coffee', '-o', sys.argv[1]] + case) for case in cases]\n"
        "assert codes == [2] * len(cases), codes\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out.png")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 8 and all(line.startswith("nst: error:") for line in errors)
    assert "Did you mean 'conv4_" in done.stderr and "Did you mean 'lbfgs'" in done.stderr
    COUNTS["tried"] += 8
    COUNTS["handled"] += 8
