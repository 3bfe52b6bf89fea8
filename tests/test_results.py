"""The results cache (nstutils.results): a finished run is served again, anything that defines it makes a new
run, and learners' functions, stopped runs and damaged entries are never served.

Runs are tiny (48×64, 2-3 L-BFGS steps); the folder is a temporary NSTUTILS_RESULTS_DIR per test.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

from nstutils import clear_caches, losses, results
from nstutils.objective import StyleObjective
from nstutils.run import prepare, run_optimizer, stylize
from nstutils.settings import RUN_FIELDS


@pytest.fixture(autouse=True)
def results_folder(tmp_path, monkeypatch):
    """Each test its own results folder, the cache switched on for it and off after."""
    folder = tmp_path / "results"
    monkeypatch.setenv("NSTUTILS_RESULTS_DIR", str(folder))
    monkeypatch.delenv("NSTUTILS_RESULTS", raising=False)
    results.enable(True)
    yield folder
    results.enable(False)


def paint(content, style, **options):
    return stylize(content, style, **{"max_dim": 64, "steps": 2, **options})


def test_a_finished_run_is_served_from_the_cache_with_the_same_picture(tiny_content, tiny_style, results_folder):
    first = paint(tiny_content, tiny_style)
    assert not first.cached and len(list(results_folder.glob("*.npz"))) == 1
    seen = []
    again = paint(tiny_content, tiny_style, callback=seen.append)   # no step is taken, so no progress
    assert again.cached and "from the results cache" in again.message
    np.testing.assert_array_equal(again.image, first.image)
    assert again.history == first.history and again.best_loss == first.best_loss
    assert again.stop_reason == first.stop_reason and again.evaluations == first.evaluations
    assert seen == []
    watched = []
    assert not paint(tiny_content, tiny_style, cache=False, callback=watched.append).cached   # cache=False: live
    assert [progress.step for progress in watched] == [1, 2]


def _run_key(content, style, **options):
    """The key of a run as stylize would make it (images, objective and start built; nothing optimised)."""
    prepared = prepare(content, style, **{"max_dim": 64, "steps": 2, **options})
    run_fields = {k: v for k, v in prepared.settings.to_dict().items() if k in RUN_FIELDS}
    return results.run_key(prepared.objective, prepared.start, run_fields)


@pytest.mark.parametrize("change", ["content pixel", "style pixel", "content_weight", "style_layers", "steps",
                                    "seed", "init", "pooling", "stop_tolerance", "optimizer", "content_channels"])
def test_any_change_to_an_image_or_a_setting_makes_another_key(tiny_content, tiny_style, change):
    base = {"init": "noise", "seed": 0}
    content, style, options = tiny_content.copy(), tiny_style.copy(), dict(base)
    if change == "content pixel":
        content[0, 10, 10, 0] += 0.01
    elif change == "style pixel":
        style[0, 5, 5, 2] -= 0.01
    else:
        options[change] = {"content_weight": 2e4, "style_layers": ["conv1_1"], "steps": 3, "seed": 1,
                           "init": "content", "pooling": "avg", "stop_tolerance": 0.01, "optimizer": "adam",
                           "content_channels": "luminance"}[change]
    assert _run_key(content, style, **options) != _run_key(tiny_content, tiny_style, **base)
    assert _run_key(content, style, **options) == _run_key(content, style, **options)


def test_a_changed_setting_is_computed_then_kept(tiny_content, tiny_style):
    paint(tiny_content, tiny_style)
    assert not paint(tiny_content, tiny_style, content_weight=2e4).cached
    assert paint(tiny_content, tiny_style, content_weight=2e4).cached


def _key(content, style, **objective):
    built = StyleObjective(content, style, **objective)
    return results.run_key(built, content, {"steps": 2, "optimizer": "lbfgs"})


def test_other_weights_make_another_key(tiny_content, tiny_style, tmp_path):
    from nstutils.weights import load_vgg19_weights, save_weights_npz

    changed = {name: tuple(np.array(p) for p in params) for name, params in load_vgg19_weights("compact").items()}
    changed["block1_conv1"][1][0] += 0.5   # one bias of the first layer
    path = save_weights_npz(changed, tmp_path / "other.npz")
    assert _key(tiny_content, tiny_style) != _key(tiny_content, tiny_style, weights=str(path))
    assert _key(tiny_content, tiny_style) == _key(tiny_content, tiny_style)


def test_another_package_version_or_engine_code_makes_another_key(tiny_content, tiny_style, monkeypatch):
    before = _key(tiny_content, tiny_style)
    monkeypatch.setattr(results, "versions", lambda: {"nstutils": "9.9.9", "tensorflow": "2.21.0"})
    assert _key(tiny_content, tiny_style) != before
    monkeypatch.undo()
    monkeypatch.setattr(results, "code_digest", lambda: "another engine")
    assert _key(tiny_content, tiny_style) != before
    monkeypatch.undo()
    assert _key(tiny_content, tiny_style) == before


def a_learners_gram_matrix(features):   # defined outside nstutils, as a notebook's function is
    import tensorflow as tf

    height, width = tf.shape(features)[1], tf.shape(features)[2]
    return tf.linalg.einsum("bijc,bijd->bcd", features, features) / tf.cast(height * width, tf.float32)


def test_a_run_with_a_learners_function_in_the_engine_is_never_served_nor_kept(tiny_content, tiny_style,
                                                                                  monkeypatch, results_folder):
    paint(tiny_content, tiny_style)
    monkeypatch.setattr(losses, "gram_matrix", a_learners_gram_matrix)
    result = paint(tiny_content, tiny_style)
    assert not result.cached and len(list(results_folder.glob("*.npz"))) == 1


def test_an_objective_defined_elsewhere_or_with_unnamed_targets_has_no_fingerprint(tiny_content, tiny_style):
    class Mine(StyleObjective):
        pass

    assert Mine(tiny_content, tiny_style).fingerprint() is None
    objective = StyleObjective(tiny_content, tiny_style)
    assert objective.fingerprint() is not None
    grams = objective.style_grams(tiny_content)
    objective.use_style_targets(grams)
    assert objective.fingerprint() is None
    objective.use_style_targets(grams, key="the photo's own Grams")
    named = objective.fingerprint()
    objective.use_style_targets(grams, key="another name")
    assert named is not None and objective.fingerprint() not in (None, named)


def test_stopped_runs_and_resumed_runs_are_not_kept(tiny_content, tiny_style, results_folder):
    stopped = paint(tiny_content, tiny_style, steps=3, callback=lambda progress: progress.step == 1)
    assert stopped.stop_reason == "stopped" and not list(results_folder.glob("*.npz"))
    prepared = prepare(tiny_content, tiny_style, max_dim=64, steps=2, optimizer="adam")
    state = {"m": np.zeros_like(prepared.start), "v": np.zeros_like(prepared.start), "t": 3}
    run_optimizer(prepared.objective, prepared.start, prepared.run, state=state)
    assert not list(results_folder.glob("*.npz"))


def test_off_by_default_and_the_environment_is_the_servers_policy(tiny_content, tiny_style, results_folder,
                                                                   monkeypatch):
    results.enable(False)
    paint(tiny_content, tiny_style)
    assert not results_folder.exists() or not list(results_folder.glob("*.npz"))
    results.enable(True)
    monkeypatch.setenv("NSTUTILS_RESULTS", "off")
    paint(tiny_content, tiny_style)
    assert not list(results_folder.glob("*.npz")) if results_folder.exists() else True
    assert results.enabled(cache=True)   # a caller who asks explicitly still gets it
    monkeypatch.setenv("NSTUTILS_RESULTS", "on")
    results.enable(False)
    assert results.enabled()


def test_a_damaged_entry_is_computed_again(tiny_content, tiny_style, results_folder, caplog):
    first = paint(tiny_content, tiny_style)
    (entry,) = results_folder.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])   # truncated, as by a full disk or a killed writer
    with caplog.at_level(logging.WARNING, logger="nstutils"):
        again = paint(tiny_content, tiny_style)
    assert not again.cached and "damaged" in caplog.text
    np.testing.assert_allclose(again.image, first.image, atol=1e-4)
    assert paint(tiny_content, tiny_style).cached   # the entry was written again, whole


def test_an_unwritable_folder_still_returns_the_picture(tiny_content, tiny_style, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NSTUTILS_RESULTS_DIR", str(blocker / "results"))
    with caplog.at_level(logging.WARNING, logger="nstutils"):
        result = paint(tiny_content, tiny_style)
    assert result.image.shape == (48, 64, 3) and not result.cached
    assert "cannot keep results" in caplog.text and "NSTUTILS_RESULTS_DIR" in caplog.text


def test_a_blend_is_kept_under_its_paintings_and_mix(tiny_content, tiny_style):
    from nstutils.course.beyond import blend_styles

    options = {"max_dim": 64, "steps": 2}
    assert not blend_styles(tiny_content, [tiny_style, tiny_content], (0.5, 0.5), **options).cached
    assert blend_styles(tiny_content, [tiny_style, tiny_content], (0.5, 0.5), **options).cached
    assert not blend_styles(tiny_content, [tiny_style, tiny_content], (0.7, 0.3), **options).cached


def test_clear_caches_and_the_command_line_empty_it(tiny_content, tiny_style, results_folder):
    paint(tiny_content, tiny_style)
    clear_caches()
    assert not list(results_folder.glob("*.npz"))
    paint(tiny_content, tiny_style)
    shown = subprocess.run([sys.executable, "-m", "nstutils.cli", "cache"], capture_output=True, text=True)
    assert shown.returncode == 0 and "1 kept result" in shown.stdout and str(results_folder) in shown.stdout
    cleared = subprocess.run([sys.executable, "-m", "nstutils.cli", "cache", "--clear"], capture_output=True,
                             text=True)
    assert cleared.returncode == 0 and "removed 1" in cleared.stdout
    assert not list(results_folder.glob("*.npz"))



def test_a_channel_picture_is_remembered_and_another_channel_is_not(results_folder):
    from nstutils.course.explore import visualize_channel

    image, history = visualize_channel("conv1_1", 0, size=24, steps=3)
    again, history_again = visualize_channel("conv1_1", 0, size=24, steps=3)
    np.testing.assert_array_equal(image, again)
    assert history == history_again and len(list(results_folder.glob("*.npz"))) == 1
    other, _ = visualize_channel("conv1_1", 1, size=24, steps=3)
    assert not np.array_equal(image, other) and len(list(results_folder.glob("*.npz"))) == 2
    results.enable(False)
    visualize_channel("conv1_1", 2, size=24, steps=3)
    assert len(list(results_folder.glob("*.npz"))) == 2


def test_a_sound_transfer_is_kept_too(results_folder):
    from nstutils.audio_style import AudioObjective, transfer_audio
    from nstutils.sounds import melody, organ

    first = transfer_audio(melody(1.0), organ(1.0), steps=2, griffin_lim_iterations=2)
    assert len(list(results_folder.glob("*.npz"))) == 1
    again = transfer_audio(melody(1.0), organ(1.0), steps=2, griffin_lim_iterations=2)
    np.testing.assert_array_equal(again.spectrogram, first.spectrogram)
    assert len(list(results_folder.glob("*.npz"))) == 1
    transfer_audio(melody(1.0), organ(1.0), steps=2, griffin_lim_iterations=2, style_weight=10.0)
    assert len(list(results_folder.glob("*.npz"))) == 2

    class Mine(AudioObjective):
        pass

    spectrogram = np.abs(np.random.default_rng(0).normal(size=(40, 65))).astype(np.float32)
    assert AudioObjective(spectrogram, spectrogram).fingerprint() is not None
    assert Mine(spectrogram, spectrogram).fingerprint() is None
