"""``08_audio``'s course layer, headless: the players, the spectrogram figure and the balance widget (a Run click
that makes a sound, and one whose failure ends in the status line)."""

from __future__ import annotations

import numpy as np
import pytest

from nstutils import sounds
from nstutils.course.audio_lab import AudioLab, balance_transfer, players, show_spectrograms, spectrogram_png


def test_players_embed_one_wav_player_per_sound():
    page = players({"one": sounds.melody(0.2), "two <b>": sounds.organ(0.2)}).data
    assert page.count("<audio controls") == 2 and page.count("data:audio/wav;base64,UklGR") == 2   # "RIFF"
    assert "two &lt;b&gt;" in page


def test_spectrogram_figures():
    import matplotlib

    matplotlib.use("Agg")
    spec = np.random.default_rng(0).uniform(0, 3, (40, 513)).astype(np.float32)
    figure = show_spectrograms({"a": spec, "b": spec[None]})
    assert len(figure.axes) == 2 and figure.axes[0].get_ylabel() == "Hz"
    top = figure.axes[0].images[0].get_extent()[3]
    assert 3990 <= top <= 4020          # shown up to 4 kHz
    assert spectrogram_png(spec).startswith(b"\x89PNG")


def test_balance_sets_the_style_weight():
    result = balance_transfer(sounds.melody(0.5), "organ", 2.0, steps=2, seconds=0.5, filters=8,
                              griffin_lim_iterations=1)
    assert result.run.settings["style_weight"] == pytest.approx(100.0)
    assert result.run.settings["content_weight"] == 1.0


def test_a_run_click_plays_the_result():
    lab = AudioLab(sounds.melody(0.5), steps=2, seconds=0.5, filters=8, griffin_lim_iterations=1)
    lab.style.value = "rain"
    lab.log_style_weight.value = 1.0
    lab.run_button.click()
    assert lab.status.value.startswith("done"), lab.status.value
    assert bytes(lab.player.value)[:4] == b"RIFF" and bytes(lab.picture.value)[:4] == b"\x89PNG"
    assert lab.result.run.settings["style_weight"] == pytest.approx(10.0)
    assert not lab.run_button.disabled


def test_a_failing_run_ends_in_the_status_line():
    lab = AudioLab(np.zeros(8000, np.float32), steps=2, seconds=0.5, filters=8)
    lab.run_button.click()
    assert "silent" in lab.status.value and "⚠" in lab.status.value
    assert bytes(lab.player.value) == b"" and not lab.run_button.disabled
