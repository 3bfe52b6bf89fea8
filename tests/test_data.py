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


def test_credit_names_artist_and_licence():
    assert "Hokusai" in data.credit("great_wave") and "public domain" in data.credit("great_wave")


def test_data_readme_credits_every_image():
    readme = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text(encoding="utf-8")
    for entry in data.registry().values():
        assert entry.title in readme and entry.license in readme and f"`{entry.name}`" in readme
