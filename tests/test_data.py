"""The image registry: facts match ../shared's manifest, hashes are enforced, errors say how to fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nstutils import data
from nstutils.errors import DataError

MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "manifest.json"


def test_registry_lists_the_course_images():
    names = data.list_images()
    for name in ("tubingen", "starry_night", "the_scream", "great_wave", "astronaut", "coffee", "chelsea"):
        assert name in names
    for entry in data.registry().values():
        assert entry.url.startswith("https://") and len(entry.sha256) == 64
        assert entry.license and entry.title


@pytest.mark.skipif(not MANIFEST.exists(), reason="the course's shared folder is not beside this checkout")
def test_registry_matches_the_shared_manifest():
    manifest = {e["file"]: e for e in json.loads(MANIFEST.read_text())}
    for entry in data.registry().values():
        assert manifest[entry.file]["sha256"] == entry.sha256
        assert manifest[entry.file]["url"] == entry.url


def test_local_folder_with_a_corrupt_file_is_refused(tmp_path, monkeypatch):
    source = Path(data.image_path("udnie"))
    shutil.copy(source, tmp_path / "udnie.jpg")
    monkeypatch.setenv("NSTUTILS_DATA_DIR", str(tmp_path))
    assert data.image_path("udnie") == tmp_path / "udnie.jpg"
    with open(tmp_path / "udnie.jpg", "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(DataError, match="sha256"):
        data.image_path("udnie")


def test_unknown_name_suggests_a_known_one():
    with pytest.raises(DataError, match="Did you mean 'starry_night'"):
        data.image_path("stary_night")
    with pytest.raises(DataError, match="Did you mean 'the_scream'"):
        data.image_path("scream")


@pytest.mark.parametrize("typed, meant", [
    ("tubingn", "tubingen"), ("wave", "great_wave"), ("Wave", "great_wave"), ("wav", "great_wave"),
    ("scream", "the_scream"), ("night", "starry_night"), ("matisse", "woman_with_hat"), ("hat", "woman_with_hat"),
    ("xyzzy", None), ("painting", None)])
def test_a_course_image_is_suggested_by_any_word_of_its_name_or_file(typed, meant):
    assert data.suggest_name(typed) == meant


def test_a_failed_download_leaves_no_empty_folder(tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.delenv("NSTUTILS_DATA_DIR", raising=False)
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("urllib.request.urlopen", unreachable)
    with pytest.raises(DataError, match="could not download the image from https://example.invalid/a.jpg"):
        data.download_url("https://example.invalid/a.jpg")
    with pytest.raises(DataError, match="could not download course image 'udnie'"):
        data.image_path("udnie")
    assert list(tmp_path.iterdir()) == []  # neither downloads/ nor images/ stays behind, empty
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "earlier.jpg").write_bytes(b"kept")
    with pytest.raises(DataError):
        data.download_url("https://example.invalid/b.jpg")
    assert [p.name for p in (tmp_path / "downloads").iterdir()] == ["earlier.jpg"]  # a folder in use stays


def test_credit_names_artist_and_licence():
    assert "Hokusai" in data.credit("great_wave") and "public domain" in data.credit("great_wave")


def test_data_readme_credits_every_image():
    readme = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text(encoding="utf-8")
    for entry in data.registry().values():
        assert entry.title in readme and entry.license in readme and f"`{entry.name}`" in readme
