"""load_image converts every common format correctly; save_image is atomic and careful."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nstutils.errors import ImageError, NSTError, OutputError, OutputExistsError
from nstutils.images import load_image, open_image_bytes, resize_image, save_image, to_uint8


def _check(array, shape):
    assert array.shape == (1, *shape, 3) and array.dtype == np.float32
    assert array.min() >= 0.0 and array.max() <= 1.0


def test_rgb_png_round_trip(tmp_path, rng):
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    _check(loaded, (5, 7))
    np.testing.assert_array_equal(to_uint8(loaded), pixels)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    Image.fromarray(np.full((4, 6), 51, np.uint8), mode="L").save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png")
    _check(loaded, (4, 6))
    np.testing.assert_allclose(loaded, 0.2, atol=1e-6)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[..., 3] = 0    # ... but fully transparent -> white
    rgba[0, 0, 3] = 255  # except one opaque red pixel
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    loaded = load_image(tmp_path / "t.png")[0]
    np.testing.assert_allclose(loaded[0, 0], [1, 0, 0])
    np.testing.assert_allclose(loaded[1, 1], [1, 1, 1])


def test_palette_cmyk_and_16_bit(tmp_path):
    Image.fromarray(np.full((3, 3, 3), 200, np.uint8)).convert("P").save(tmp_path / "p.png")
    np.testing.assert_allclose(load_image(tmp_path / "p.png"), 200 / 255, atol=0.02)
    Image.new("CMYK", (3, 2), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # pure red in CMYK
    cmyk = load_image(tmp_path / "c.jpg")[0]
    _check(cmyk[None], (2, 3))
    assert cmyk[..., 0].mean() > 0.8 and cmyk[..., 1].mean() < 0.2
    Image.fromarray(np.full((2, 2), 65535 // 2, np.uint16)).save(tmp_path / "16.png")
    np.testing.assert_allclose(load_image(tmp_path / "16.png"), 0.5, atol=1e-3)


def test_exif_orientation_is_honoured(tmp_path):
    image = Image.fromarray(np.zeros((10, 20, 3), np.uint8))  # 20 wide, 10 high
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (1, 20, 10, 3)


def test_arrays_and_max_dim():
    array = np.zeros((30, 60, 3), np.uint8)
    _check(load_image(array, max_dim=20), (10, 20))
    _check(load_image(np.zeros((1, 8, 8, 3), np.float32), max_dim=16), (16, 16))
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        load_image(np.full((4, 4, 3), 255.0))
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan))
    with pytest.raises(ImageError, match="max_dim"):
        load_image(array, max_dim=0)


def test_course_images_and_offline_photos():
    tubingen = load_image("tubingen", max_dim=64)
    _check(tubingen, (48, 64))
    _check(load_image("astronaut", max_dim=32), (32, 32))


def test_not_an_image_and_empty_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("hello")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="notes.jpg"):
        load_image(tmp_path / "notes.jpg")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")


def test_resize_keeps_a_constant_image_constant():
    flat = np.full((9, 13, 3), 0.3, np.float32)
    out = resize_image(flat, (20, 7))
    assert out.shape == (20, 7, 3)
    np.testing.assert_allclose(out, 0.3, atol=1e-5)


def test_save_never_overwrites_without_asking(tmp_path):
    path = tmp_path / "out.png"
    save_image(np.zeros((4, 4, 3)), path)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        save_image(np.ones((4, 4, 3)), path)
    assert load_image(path).max() == 0.0
    save_image(np.ones((1, 4, 4, 3)), path, overwrite=True)
    assert load_image(path).min() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary files left


def test_failed_save_leaves_no_file(tmp_path):
    with pytest.raises(ImageError, match="extension"):
        save_image(np.zeros((4, 4, 3)), tmp_path / "out.xyz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("below", ["", "sub"])
def test_saving_below_a_file_is_one_output_error_naming_it(tmp_path, below):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    target = blocker / below / "out.png" if below else blocker / "out.png"
    with pytest.raises(OutputError) as caught:  # FileExistsError / NotADirectoryError underneath
        save_image(np.zeros((4, 4, 3)), target)
    message = str(caught.value)
    assert isinstance(caught.value, NSTError) and "\n" not in message
    assert message.startswith(f"could not write {target}: {blocker} is a file, not a folder; choose another")
    assert caught.value.__suppress_context__  # no raw FileExistsError traceback with temp-file names
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_uploaded_bytes_are_decoded_in_memory_and_named_in_errors(tmp_path, rng):
    path = tmp_path / "a.png"
    Image.fromarray((rng.uniform(size=(6, 5, 3)) * 255).astype(np.uint8)).save(path)
    assert open_image_bytes(path.read_bytes(), "mine.png").size == (5, 6)
    with pytest.raises(ImageError, match=r"^mine\.png: not an image file Pillow can read$"):
        open_image_bytes(b"plain text", "mine.png")
    with pytest.raises(ImageError, match=r"^mine\.png: the file is empty"):
        open_image_bytes(b"", "mine.png")
    with pytest.raises(ImageError, match=r"^mine\.png: the image data is damaged"):
        open_image_bytes(path.read_bytes()[:60], "mine.png")
