"""The labs driven without a browser: set values, click Run, watch preview and plot change, Stop."""

from __future__ import annotations

import datetime
import errno
import io
import tempfile
import threading

import numpy as np
import pytest
from PIL import Image

from nstutils.course import lab as lab_module
from nstutils.course.lab import ALREADY_RUNNING, STOPPING, LabSession, check_poolable, error_status
from nstutils.course.plots import loss_plot_png
from nstutils.course.widgets import (LabRunner, LayerExplorer, RunInProgressError, StyleLab, load_uploaded,
                                     settings_from_controls)
from nstutils.data import registry
from nstutils.images import image_to_bytes
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


def test_an_upload_needs_no_temp_folder(tiny_style, tmp_path, monkeypatch):
    """A full or unusable temp folder cannot spoil an upload: it is decoded in memory."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))  # every temporary file would fail here
    with pytest.raises(OSError):
        tempfile.TemporaryDirectory()
    assert load_uploaded(({"name": "a.png", "content": memoryview(_png(tiny_style[0]))},)).shape == (1, 48, 64, 3)


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

    monkeypatch.setattr(lab_module, "field_spec", narrower)
    assert lab_module.slider_range("max_dim") == (100, 512)
    assert lab_module.slider_range("style_weight", log=True) == (-5.0, 1.0)
    assert lab_module.slider_range("content_weight", log=True) == (0.0, 8.0)  # minimum 0 has no logarithm


# ---- every failure ends in the status line ----------------------------------------------------------------------

def click(button) -> None:
    """Press ``button`` calling its handlers directly: ipywidgets would swallow (and only log) an exception,
    so a handler that raises fails the test here."""
    for handler in button._click_handlers.callbacks:
        handler(button)


def _upload(name: str, array) -> tuple:
    data = _png(array)
    return ({"name": name, "content": memoryview(data), "type": "image/png", "size": len(data),
             "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},)


def _idle_with(lab, *words) -> None:
    assert not lab.runner.running and not lab.session.active and not lab.run_button.disabled
    for word in words:
        assert word in lab.status.value, lab.status.value


def test_a_corrupt_course_image_is_shown_in_the_status(tmp_path, monkeypatch):
    (tmp_path / registry()["tubingen"].file).write_bytes(b"\xff\xd8\xff not the painting's bytes")
    monkeypatch.setenv("NSTUTILS_DATA_DIR", str(tmp_path))
    lab = StyleLab(content="tubingen", style="coffee", size=64, steps=2)
    click(lab.run_button)
    _idle_with(lab, "does not match the registry", "⚠")
    assert lab.stop_button.disabled and lab.runner.result is None


def test_a_missing_course_image_is_shown_in_the_status(tmp_path, monkeypatch):
    import pooch

    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setenv("NSTUTILS_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("NSTUTILS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", offline)
    lab = StyleLab(content="astronaut", style="starry_night", size=64, steps=2)
    click(lab.run_button)
    _idle_with(lab, "could not download", "NSTUTILS_DATA_DIR")
    explorer = LayerExplorer(content="astronaut", style="starry_night", size=32, steps=2)
    click(explorer.run_button)
    _idle_with(explorer, "could not download")


def test_an_unexpected_error_is_one_status_line_and_logged(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("the estimate divided by zero")

    monkeypatch.setattr("nstutils.course.widgets.describe_run", broken)
    lab = StyleLab(content="astronaut", style="coffee", size=64, steps=2)
    with caplog.at_level("ERROR", logger="nstutils.course.lab"):
        click(lab.run_button)
    _idle_with(lab, "unexpected error: ZeroDivisionError: the estimate divided by zero")
    assert any(record.exc_info for record in caplog.records if record.name == "nstutils.course.lab")


@pytest.mark.parametrize("make, stop", [
    (lambda: StyleLab(content="astronaut", style="coffee", size=64, steps=500, preview_every=1),
     lambda lab: click(lab.stop_button)),
    (lambda: LayerExplorer(content="astronaut", style="coffee", size=32, steps=200),
     lambda explorer: explorer.session.stop()),          # the explorer has no Stop button
], ids=["style lab", "layer explorer"])
def test_a_second_run_while_running_is_ignored(make, stop):
    widget = make()
    click(widget.run_button)
    first = widget.runner._thread
    click(widget.run_button)
    assert widget.status.value == ALREADY_RUNNING and widget.runner._thread is first and widget.runner.running
    stop(widget)
    assert widget.runner.wait(300)
    _idle_with(widget, "stopped early")


def test_stop_after_the_end_keeps_the_finished_status():
    lab = StyleLab(content="astronaut", style="coffee", size=64, steps=2)
    click(lab.run_button)
    assert lab.runner.wait(300)
    finished = lab.status.value
    assert "done" in finished
    click(lab.stop_button)
    assert lab.status.value == finished and STOPPING not in lab.status.value
    _idle_with(lab, "done")


def test_stop_during_a_run_is_not_overwritten_by_its_progress():
    shown = []
    gate = threading.Event()

    def progress(progress, history):
        gate.wait(60)
        return f"step {progress.step}"

    session = LabSession(shown.append, on_progress=progress, on_result=lambda result: shown.append("done"))
    content = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype(np.float32)
    assert session.run(lambda: (content, content, {"steps": 300, "max_dim": 32, "optimizer": "adam"}, "running"))
    assert session.stop() and shown[-1] == STOPPING
    gate.set()
    assert session.runner.wait(300)
    assert shown[-1] == "done" and not any(line.startswith("step") for line in shown)
    assert not session.stop() and shown[-1] == "done"  # nothing to stop: the status stays


def test_a_failure_drawing_the_result_is_shown_not_lost_in_the_thread(tiny_content, tiny_style):
    shown, busy = [], []

    def draw(result):
        raise ValueError("cannot encode the preview")

    session = LabSession(shown.append, busy.append, on_result=draw)
    assert session.run(lambda: (tiny_content, tiny_style, {"steps": 1, "max_dim": 64}, "running"))
    assert session.runner.wait(300)
    assert "unexpected error: ValueError: cannot encode the preview" in shown[-1]
    assert busy == [True, False] and not session.active


# ---- images too thin for VGG19's pooling ------------------------------------------------------------------------

def test_the_smallest_side_follows_the_deepest_layer_in_the_lab_and_the_engine():
    from nstutils.images import MIN_SIDE
    from nstutils.vgg19 import min_side

    assert min_side(["conv1_1"]) == 1 and min_side(["conv2_1"]) == 2
    assert min_side(["conv1_1", "conv4_2"]) == 8 and min_side(["block5_conv1"]) == 16
    assert MIN_SIDE == min_side(["conv5_4"]) == 16  # what a run enlarges a thin image to, whatever its layers
    check_poolable(np.zeros((1, 16, 300, 3)), ["conv5_1"], "content", 300)
    with pytest.raises(ImageError, match=r"300×15 px at size 300.*at least 16 px.*set size to 320 or more"):
        check_poolable(np.zeros((1, 15, 300, 3)), ["conv5_1"], "content", 300)
    with pytest.raises(ImageError, match="crop it: it would need size 4096"):
        check_poolable(np.zeros((1, 1, 256, 3)), ["conv5_1"], "style", 256)
    # the true proportions, not those of a side already rounded up to 1 px
    with pytest.raises(ImageError, match="crop it: it would need size 16000"):
        check_poolable(np.zeros((1, 64, 1, 3)), ["conv5_1"], "style", 64, original=(1, 5000, 5, 3))
    with pytest.raises(ImageError, match="set size to 640 or more"):  # a style at half size needs twice the size
        check_poolable(np.zeros((1, 4, 80, 3)), ["conv5_1"], "style", 160, scale=0.5, original=(1, 8, 160, 3))


def test_a_thin_upload_is_refused_with_the_size_that_works(rng):
    lab = StyleLab(content="astronaut", style="coffee", size=128, steps=1)
    lab.content_upload.value = _upload("banner.png", rng.uniform(size=(20, 800, 3)))
    lab.size.value = 128
    click(lab.run_button)
    _idle_with(lab, "content image is 128×3 px", "at least 16 px", "set size to")
    assert lab.runner.result is None and "Error" not in lab.status.value  # no raw TensorFlow error
    suggested = int(lab.status.value.split("set size to ")[1].split()[0])
    lab.size.value = suggested
    assert lab.size.value == suggested, "the suggestion must be a size the slider offers"
    click(lab.run_button)
    assert lab.runner.wait(300)
    _idle_with(lab, "done")
    assert lab.runner.result.image.shape[0] >= 16


def test_a_thin_style_upload_is_refused(rng):
    lab = StyleLab(content="astronaut", style="coffee", size=64, steps=1)
    lab.style_upload.value = _upload("strip.png", rng.uniform(size=(5000, 5, 3)))
    click(lab.run_button)
    _idle_with(lab, "style image is 1×64 px", "crop it")


# ---- a failing preview keeps the picture; an OSError is said in words ------------------------------------------

def test_an_os_error_is_said_in_words_not_as_unexpected():
    line = error_status(OSError(errno.ENOSPC, "No space left on device", "/tmp/upload.png"))
    assert "/tmp/upload.png: No space left on device: the disk is full" in line and "unexpected" not in line


def test_a_failing_preview_stops_the_run_and_shows_its_best_image(monkeypatch):
    lab = StyleLab(content="astronaut", style="coffee", size=64, steps=50, preview_every=1)
    blank = lab.preview.value
    failures = []

    def full_temp_folder(history):  # the loss plot fails once, as a full temp folder makes it
        if not failures:
            failures.append(len(history))
            raise OSError(errno.ENOSPC, "No space left on device", "/tmp/tmpplot.png")
        return loss_plot_png(history)

    monkeypatch.setattr("nstutils.course.widgets.loss_plot_png", full_temp_folder)
    click(lab.run_button)
    assert lab.runner.wait(300)
    _idle_with(lab, "the preview failed at step 1", "/tmp/tmpplot.png: No space left on device: the disk is full",
               "its best image is shown")
    assert "unexpected" not in lab.status.value
    result = lab.runner.result
    assert result is not None and result.stop_reason == "stopped" and len(result.history) == 1
    assert lab.preview.value != blank and lab.preview.value == image_to_bytes(result.image)
