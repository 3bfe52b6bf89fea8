"""``nst audio``: a real run writes a WAV (said before with its estimate), SIGTERM keeps the best sound, stereo and
other rates are converted with a line saying so, and every bad input is refused in one line before any work."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.io import wavfile

from nstutils.cli import main

NST = [sys.executable, "-m", "nstutils.cli"]
QUICK = ["--steps", "2", "--filters", "8", "--griffin-lim", "1", "--quiet"]


def test_audio_writes_a_wav_and_says_what_it_will_cost(tmp_path, capsys):
    out = tmp_path / "out.wav"
    code = main(["audio", "melody", "organ", "-o", str(out), *QUICK])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 L-BFGS steps on 5.0 s of sound" in captured.err and "timed on this machine" in captured.err
    assert f"wrote {out}" in captured.out
    rate, samples = wavfile.read(out)
    assert rate == 16000 and samples.dtype == np.int16 and samples.shape == (80000,)
    assert np.abs(samples).max() > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_sigterm_keeps_the_best_sound(tmp_path):
    out = tmp_path / "out.wav"
    process = subprocess.Popen([*NST, "audio", "melody", "rain", "-o", str(out), "--steps", "100000", "--filters",
                                "8", "--griffin-lim", "1", "--quiet"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        line = process.stderr.readline()
        if "nst: running" in line or not line:
            break
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and "stopped by SIGTERM" in stdout
    assert wavfile.read(out)[1].shape == (80000,)


def test_stereo_at_another_rate_is_converted_with_a_line(tmp_path, capsys):
    t = np.arange(int(0.5 * 22050)) / 22050
    tone = (0.4 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "stereo.wav", 22050, np.stack([tone, tone // 2], axis=1))
    code = main(["audio", str(tmp_path / "stereo.wav"), "organ", "-o", str(tmp_path / "out.wav"), *QUICK])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "has 2 channels: mixed to mono" in err and "sampled at 22050 Hz: resampled to 16000 Hz" in err
    assert wavfile.read(tmp_path / "out.wav")[1].shape == (8000,)


def _wav(path, rate, samples):
    wavfile.write(path, rate, np.asarray(samples))
    return path


@pytest.mark.parametrize("content, extra, message", [
    ("text.wav", [], "is not a WAV file"),
    ("empty.wav", [], "empty or too short"),
    ("silent.wav", [], "silent"),
    ("slow.wav", [], "at least 8000 Hz"),
    ("long.wav", [], "the most is 10 s"),
    ("missing.wav", [], "no such file"),
    ("orgn", [], "Did you mean 'organ'"),
    ("melody", ["-o", "{tmp}/out.mp3"], "ending in .wav"),
    ("melody", ["-o", "{tmp}/exists.wav"], "already exists"),
    ("melody", ["--style-weight", "-1"], "style_weight"),
    ("melody", ["--init", "style"], "unknown init"),
])
def test_bad_input_gives_one_line(tmp_path, capsys, content, extra, message):
    (tmp_path / "text.wav").write_text("hello")
    _wav(tmp_path / "empty.wav", 16000, np.zeros(0, np.int16))
    _wav(tmp_path / "silent.wav", 16000, np.zeros(16000, np.int16))
    _wav(tmp_path / "slow.wav", 4000, np.full(4000, 1000, np.int16))
    _wav(tmp_path / "long.wav", 16000, np.full(11 * 16000, 1000, np.int16))
    (tmp_path / "exists.wav").write_bytes(b"keep")
    source = content if content in ("melody", "orgn") else str(tmp_path / content)
    output = ["-o", str(tmp_path / "out.wav")] if "-o" not in extra else []
    code = main(["audio", source, "organ", *output, *[a.format(tmp=tmp_path) for a in extra], "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.startswith("nst: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "out.wav").exists() and (tmp_path / "exists.wav").read_bytes() == b"keep"
