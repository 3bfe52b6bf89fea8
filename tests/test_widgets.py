"""The labs driven without a browser: set values, click Run, watch preview and plot change, Stop."""

from __future__ import annotations

import datetime
import io
import threading

import numpy as np
import pytest
from PIL import Image

from nstutils.course import widgets
from nstutils.course.plots import loss_plot_png
from nstutils.course.widgets import (LabRunner, LayerExplorer, RunInProgressError, StyleLab, load_uploaded,
                                     settings_from_controls)
from nstutils.errors import ImageError, NSTError, SettingsError
from nstutils.settings import FieldSpec, field_spec


def _png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.asarray(array) * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_settings_from_controls_maps_logs_and_checkboxes():
    options = settings_from_controls({"log_content_weight": 3, "log_style_weight": -1, "tv_weight": 5, "steps": 7,
                                      "size": 96, "style_layers": {"conv1_1": True, "conv2_1": False},
                                      "content_layers": {"conv4_2": True}})
    assert options["content_weight"] == pytest.approx(1e3) and options["style_weight"] == pytest.approx(0.1)
    assert options["style_layers"] == ["block1_conv1"] and options["content_layers"] == ["block4_conv2"]
    assert options["steps"] == 7 and options["max_dim"] == 96
    with pytest.raises(SettingsError):
        settings_from_controls({"steps": 0, "style_layers": {"conv1_1": True}})


def test_load_uploaded_reads_images_and_reports_bad_files(tiny_style):
    image = load_uploaded(({"name": "a.png", "content": memoryview(_png(tiny_style[0]))},))
    assert image.shape == (1, 48, 64, 3)
    with pytest.raises(ImageError, match="notes.png"):
        load_uploaded(({"name": "notes.png", "content": b"not an image"},))
    with pytest.raises(ImageError, match="no file"):
        load_uploaded(())


def test_loss_plot_png_changes_with_history():
    empty = loss_plot_png([])
    history = [{"total": 10.0 / s, "content": 1.0, "style": 9.0 / s, "tv": 0.1} for s in range(1, 6)]
    assert loss_plot_png(history)[:8] == b"\x89PNG\r\n\x1a\n" and loss_plot_png(history) != empty


def test_runner_stop_keeps_the_best_image(tiny_content, tiny_style):
    started = threading.Event()
    runner = LabRunner(on_progress=lambda progress, history: started.set())
    runner.start(tiny_content, tiny_style, optimizer="adam", steps=500, max_dim=64)
    assert started.wait(120)
    runner.stop()
    assert runner.wait(120)
    assert runner.error is None and runner.result.stopped_early
    assert 1 <= len(runner.result.history) < 500 and runner.result.image.shape == (48, 64, 3)


def test_style_lab_run_updates_preview_plot_and_status(tiny_style):
    lab = StyleLab(content="astronaut", style="coffee", size=64, steps=4, preview_every=1)
    preview_before, plot_before = lab.preview.value, lab.loss_plot.value
    lab.steps.value, lab.size.value = 4, 64
    lab.run_button.click()
    assert lab.runner.wait(300)
    assert lab.runner.error is None, lab.runner.error
    assert lab.preview.value != preview_before and lab.loss_plot.value != plot_before
    assert "done" in lab.status.value and not lab.run_button.disabled and lab.stop_button.disabled
    plain = lab.preview.value
    lab.keep_colors.value = True
    lab.run_button.click()
    assert "GiB of memory" in lab.status.value  # the estimate is shown before the run
    assert lab.runner.wait(300) and lab.preview.value != plain
    # an upload replaces the dropdown; a bad upload is reported, not raised
    lab.style_upload.value = ({"name": "broken.jpg", "content": memoryview(b"\xff\xd8\xff broken"),
                               "type": "image/jpeg", "size": 10,
                               "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},)
    lab.run_button.click()
    assert "broken.jpg" in lab.status.value and not lab.runner.running


def test_style_lab_stop_button(tiny_style):
    lab = StyleLab(content="astronaut", style="coffee", size=64, steps=500, preview_every=1)
    lab.log_style_weight.value = -1.0
    lab.run_button.click()
    assert lab.runner.running
    lab.stop_button.click()
    assert lab.runner.wait(300)
    assert lab.runner.result.stopped_early and "stopped early" in lab.status.value


def test_layer_explorer_runs_with_the_chosen_layers():
    explorer = LayerExplorer(content="astronaut", style="coffee", size=32, steps=3)
    for name, box in explorer.style_layers.items():
        box.value = name == "conv2_1"
    explorer.run_button.click()
    assert explorer.runner.wait(300)
    assert explorer.runner.result.settings["style_layers"] == ["block2_conv1"]
    assert explorer.output.value and "done" in explorer.status.value


def test_a_second_run_is_refused_with_an_nst_error(tiny_content, tiny_style):
    runner = LabRunner()
    runner.start(tiny_content, tiny_style, optimizer="adam", steps=500, max_dim=64)
    try:
        with pytest.raises(RunInProgressError, match="already in progress") as info:
            runner.start(tiny_content, tiny_style, steps=1, max_dim=64)
        assert isinstance(info.value, NSTError)
    finally:
        runner.stop()
        assert runner.wait(120)


def test_the_lab_controls_come_from_the_settings_fields(monkeypatch):
    lab = StyleLab(content="astronaut", style="coffee", size=64, steps=4)
    assert tuple(lab.optimizer.options) == field_spec("optimizer").choices and lab.optimizer.value == "lbfgs"
    assert tuple(lab.init.options) == field_spec("init").choices
    assert (lab.size.min, lab.size.max) == (64, 1024) and lab.steps.min == field_spec("steps").minimum
    assert lab.tv_weight.description_tooltip == field_spec("tv_weight").help
    real = field_spec

    def narrower(name):
        spec = real(name)
        if name == "max_dim":
            return FieldSpec(**{**spec.__dict__, "minimum": 100, "maximum": 512})
        if name == "style_weight":
            return FieldSpec(**{**spec.__dict__, "maximum": 10.0})
        return spec

    monkeypatch.setattr(widgets, "field_spec", narrower)
    assert widgets.slider_range("max_dim") == (100, 512)
    assert widgets.slider_range("style_weight", log=True) == (-5.0, 1.0)
    assert widgets.slider_range("content_weight", log=True) == (0.0, 8.0)  # minimum 0 has no logarithm
