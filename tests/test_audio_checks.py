"""``08_audio``'s checks: the reference solutions pass, and realistic learner mistakes fail with a message that names
them (as ``tests/test_learner_mistakes.py`` does for notebooks 01-07). :data:`AUDIO_MISTAKES` is the catalogue."""

from __future__ import annotations

from typing import Callable, NamedTuple, Tuple

import numpy as np
import pytest
import tensorflow as tf

from nstutils.audio import HOP, N_FFT, istft, stft
from nstutils.course import check
from nstutils.course.check import CheckError


class Mistake(NamedTuple):
    check: str
    label: str
    fn: Callable
    words: Tuple[str, ...]


# ---- the notebook's reference solutions ------------------------------------------------------------------


def spectrogram(wave, n_fft=N_FFT, hop=HOP):
    return tf.math.log1p(tf.abs(tf.signal.stft(wave, frame_length=n_fft, frame_step=hop)))


def random_features(spec, filters):
    return tf.nn.relu(tf.nn.conv1d(spec[tf.newaxis], filters, stride=1, padding="VALID"))


def griffin_lim(magnitude, phase, iterations):
    spectrum = tf.complex(magnitude * np.cos(phase), magnitude * np.sin(phase))
    for _ in range(iterations):
        angle = tf.math.angle(stft(istft(spectrum)))
        spectrum = tf.complex(magnitude * tf.cos(angle), magnitude * tf.sin(angle))
    return istft(spectrum)


def griffin_lim_numpy(magnitude, phase, iterations):
    """The same in numpy, with a guarded division instead of the angle: also right."""
    spectrum = magnitude * np.exp(1j * phase)
    for _ in range(iterations):
        rebuilt = stft(istft(spectrum)).numpy()
        spectrum = magnitude * rebuilt / np.maximum(np.abs(rebuilt), 1e-12)
    return istft(spectrum).numpy()


@pytest.mark.parametrize("name, fn", [("spectrogram", spectrogram), ("random_features", random_features),
                                      ("griffin_lim", griffin_lim), ("griffin_lim", griffin_lim_numpy)])
def test_the_reference_solutions_pass(name, fn, capsys):
    getattr(check, name)(fn)
    assert "✔" in capsys.readouterr().out


# ---- the mistakes ------------------------------------------------------------------------------------------


def _stft(wave, n_fft, hop, **options):
    return tf.signal.stft(wave, frame_length=n_fft, frame_step=hop, **options)


def _gl(magnitude, phase, iterations, rounds=None, project=None, start=None):
    start = phase if start is None else start
    spectrum = tf.complex(magnitude * np.cos(start), magnitude * np.sin(start))
    for _ in range(iterations if rounds is None else rounds(iterations)):
        rebuilt = stft(istft(spectrum))
        spectrum = project(magnitude, rebuilt) if project else tf.complex(
            magnitude * tf.cos(tf.math.angle(rebuilt)), magnitude * tf.sin(tf.math.angle(rebuilt)))
    return istft(spectrum)


def _gl_unguarded(magnitude, phase, iterations):
    spectrum = magnitude * np.exp(1j * phase)
    for _ in range(iterations):
        rebuilt = stft(istft(spectrum)).numpy()
        with np.errstate(invalid="ignore"):       # the learner's 0/0 (numpy would warn, then the check names it)
            spectrum = magnitude * rebuilt / np.abs(rebuilt)
    return istft(spectrum).numpy()


def _gl_no_loop_result(magnitude, phase, iterations):
    spectrum = tf.complex(magnitude * np.cos(phase), magnitude * np.sin(phase))
    for _ in range(iterations):
        wave = istft(spectrum)
        angle = tf.math.angle(stft(wave))
        spectrum = tf.complex(magnitude * tf.cos(angle), magnitude * tf.sin(angle))
    return spectrum


AUDIO_MISTAKES = [
    Mistake("spectrogram", "no logarithm", lambda w, n_fft=N_FFT, hop=HOP: tf.abs(_stft(w, n_fft, hop)),
            ("logarithm",)),
    Mistake("spectrogram", "log instead of log1p",
            lambda w, n_fft=N_FFT, hop=HOP: tf.math.log(tf.abs(_stft(w, n_fft, hop))), ("log1p",)),
    Mistake("spectrogram", "power instead of magnitude",
            lambda w, n_fft=N_FFT, hop=HOP: tf.math.log1p(tf.abs(_stft(w, n_fft, hop)) ** 2), ("power",)),
    Mistake("spectrogram", "no abs: complex", lambda w, n_fft=N_FFT, hop=HOP: _stft(w, n_fft, hop), ("tf.abs",)),
    Mistake("spectrogram", "transposed", lambda w, n_fft=N_FFT, hop=HOP: tf.transpose(spectrogram(w, n_fft, hop)),
            ("[bins, frames]",)),
    Mistake("spectrogram", "hard-coded N_FFT and HOP",
            lambda w, n_fft=N_FFT, hop=HOP: tf.math.log1p(tf.abs(_stft(w, N_FFT, HOP))), ("arguments n_fft",)),
    Mistake("spectrogram", "no window",
            lambda w, n_fft=N_FFT, hop=HOP: tf.math.log1p(tf.abs(_stft(w, n_fft, hop, window_fn=None))),
            ("no window",)),
    Mistake("spectrogram", "frame length and step swapped",
            lambda w, n_fft=N_FFT, hop=HOP: tf.math.log1p(tf.abs(_stft(w, hop, n_fft, fft_length=n_fft))),
            ("swapped",)),
    Mistake("random_features", "no ReLU", lambda s, f: tf.nn.conv1d(s[tf.newaxis], f, 1, "VALID"), ("ReLU",)),
    Mistake("random_features", "SAME padding", lambda s, f: tf.nn.relu(tf.nn.conv1d(s[tf.newaxis], f, 1, "SAME")),
            ("VALID",)),
    Mistake("random_features", "no batch dimension", lambda s, f: tf.nn.relu(tf.nn.conv1d(s, f, 1, "VALID")),
            ("batch dimension",)),
    Mistake("random_features", "batch dropped from the result",
            lambda s, f: tf.nn.relu(tf.nn.conv1d(s[tf.newaxis], f, 1, "VALID"))[0], ("batch dimension",)),
    Mistake("random_features", "spectrogram transposed",
            lambda s, f: tf.nn.relu(tf.nn.conv1d(tf.transpose(s)[tf.newaxis], f, 1, "VALID")), ("channels",)),
    Mistake("random_features", "ReLU on the input",
            lambda s, f: tf.nn.conv1d(tf.nn.relu(s)[tf.newaxis], f, 1, "VALID"), ("ReLU",)),
    Mistake("random_features", "numpy in the middle",
            lambda s, f: tf.constant(np.maximum(tf.nn.conv1d(s[tf.newaxis], f, 1, "VALID").numpy(), 0)),
            ("gradient",)),
    Mistake("griffin_lim", "one round too few", lambda m, p, k: _gl(m, p, k, rounds=lambda k: max(k - 1, 0)),
            ("too few",)),
    Mistake("griffin_lim", "one round too many", lambda m, p, k: _gl(m, p, k, rounds=lambda k: k + 1),
            ("too many",)),
    Mistake("griffin_lim", "ignores the starting phase", lambda m, p, k: _gl(m, p, k, start=np.zeros_like(p)),
            ("phase",)),
    Mistake("griffin_lim", "magnitude not put back", lambda m, p, k: _gl(m, p, k, project=lambda m_, r: r),
            ("magnitude",)),
    Mistake("griffin_lim", "magnitude times the rebuilt spectrum",
            lambda m, p, k: _gl(m, p, k, project=lambda m_, r: tf.cast(m_, tf.complex64) * r), ("rebuilt / |rebuilt|",)),
    Mistake("griffin_lim", "0/0 where the rebuilt spectrum is silent", _gl_unguarded, ("NaN", "tf.math.angle")),
    Mistake("griffin_lim", "returns the spectrum", _gl_no_loop_result, ("istft(spectrum)",)),
]


def _message(mistake: Mistake) -> str | None:
    try:
        getattr(check, mistake.check)(mistake.fn)
    except CheckError as error:
        return str(error)
    return None


def test_every_audio_check_has_mistakes():
    assert {m.check for m in AUDIO_MISTAKES} == {"spectrogram", "random_features", "griffin_lim"}


@pytest.mark.parametrize("mistake", AUDIO_MISTAKES, ids=[f"{m.check}-{m.label}" for m in AUDIO_MISTAKES])
def test_each_mistake_fails_and_is_named(mistake, capsys):
    message = _message(mistake)
    capsys.readouterr()
    assert message is not None, f"{mistake.check} passed: {mistake.label}"
    assert all(word in message for word in mistake.words), message
    assert "\n" not in message
