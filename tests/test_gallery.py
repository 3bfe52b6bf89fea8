"""docs/gallery.py remakes the figures asked for and keeps every other section of docs/paper.md, and its notes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_gallery():
    spec = importlib.util.spec_from_file_location("docs_gallery", ROOT / "docs" / "gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_remaking_one_figure_keeps_the_other_sections_and_the_notes(tmp_path, monkeypatch):
    gallery = load_gallery()
    monkeypatch.setattr(gallery, "OUT", tmp_path / "images")
    made = []

    def fake(key):
        def make(size, steps):
            made.append(key)
            return [(f"Figure {key}", f"paper_{key}_new", "paper says", f"measured {size} px.", key != "fig6")]
        return make

    monkeypatch.setattr(gallery, "PAPER_FIGURES", {key: fake(key) for key in ("fig1", "fig6", "fig7")})
    old = {key: f"## Old {key}\n\n![Old](images/paper_{key}_old.jpg)\n\n**Measured here:** old {key}.\n"
           for key in ("fig1", "fig6", "fig7")}
    notes = f"{gallery.NOTES_MARKER}\n\n## Notes\n\nhand-written\n"
    (tmp_path / "paper.md").write_text("# Title\n\nintro\n\n" + "\n".join(old.values()) + "\n" + notes)

    gallery.paper_figures({"fig6"})
    text = (tmp_path / "paper.md").read_text()
    assert made == ["fig6"]
    assert old["fig1"] in text and old["fig7"] in text and old["fig6"] not in text
    assert "![Figure fig6](images/paper_fig6_new.jpg)" in text and "The finding **does not hold**." in text
    assert text.index("Old fig1") < text.index("Figure fig6") < text.index("Old fig7") < text.index("hand-written")

    gallery.paper_figures(())
    text = (tmp_path / "paper.md").read_text()
    assert made == ["fig6", "fig1", "fig6", "fig7"] and "Old" not in text and text.endswith(notes)
