"""The audio engine (``nstutils.audio``, ``nstutils.audio_style``, ``nstutils.sounds``) against numpy/scipy
references: the STFT and its round trip, the log spectrogram, Griffin–Lim, the random features and their Gram
matrix, the objective's formula and gradient, WAV reading and writing, and a short transfer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.io import wavfile

from nstutils import audio, sounds
from nstutils.audio import HOP, N_FFT, SAMPLE_RATE, AudioError
from nstutils.audio_style import (AudioObjective, AudioSettings, feature_gram, random_features, random_filters,
                                  style_distance, transfer_audio)
from nstutils.errors import NSTError, OutputExistsError


def periodic_hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def numpy_stft(wave: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    frames = 1 + (wave.size - n_fft) // hop
    framed = np.stack([wave[t * hop:t * hop + n_fft] for t in range(frames)]).astype(np.float64)
    return np.fft.rfft(framed * periodic_hann(n_fft), axis=1)


def numpy_istft(spectrum: np.ndarray, n_fft: int = N_FFT, hop: int = HOP, exact_edges: bool = True) -> np.ndarray:
    """Windowed overlap-add divided by the summed squared window: Griffin & Lim's least-squares inverse, or with
    ``exact_edges=False`` divided everywhere by the sum a fully overlapped sample gets (``tf.signal``'s dual
    window, which differs only in the first and last ``n_fft - hop`` samples)."""
    window = periodic_hann(n_fft)
    frames = np.fft.irfft(spectrum, n_fft, axis=1) * window
    size = (spectrum.shape[0] - 1) * hop + n_fft
    out, weight = np.zeros(size), np.zeros(size)
    for t, frame in enumerate(frames):
        out[t * hop:t * hop + n_fft] += frame
        weight[t * hop:t * hop + n_fft] += window ** 2
    return out / (np.maximum(weight, 1e-12) if exact_edges else np.sum(window ** 2) / hop)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(5).uniform(-0.5, 0.5, 5003).astype(np.float32)


def test_stft_is_numpys_framed_periodic_hann_fft(noise):
    assert np.allclose(audio.stft(noise).numpy(), numpy_stft(noise), atol=2e-4)
    expected = np.log1p(np.abs(numpy_stft(noise, 64, 16)))
    assert np.allclose(audio.spectrogram(noise, 64, 16), expected, atol=1e-4)


@pytest.mark.parametrize("length", [N_FFT, 5003, 8000])
def test_padding_makes_the_stft_round_trip_exact(length):
    wave = np.random.default_rng(length).uniform(-1, 1, length).astype(np.float32)
    padded = audio.pad(wave)
    assert padded.size % HOP == 0 and np.all(padded[:N_FFT - HOP] == 0)
    back = audio.unpad(audio.istft(audio.stft(padded)).numpy(), length)
    assert back.shape == wave.shape and np.max(np.abs(back - wave)) < 1e-5


def test_istft_is_the_least_squares_inverse_inside_the_padding(noise):
    padded = audio.pad(noise)
    spectrum = numpy_stft(padded) * np.exp(1j * np.random.default_rng(0).uniform(-3, 3, (1,)))
    inside = slice(N_FFT - HOP, N_FFT - HOP + noise.size)
    assert np.allclose(audio.istft(spectrum).numpy()[inside], numpy_istft(spectrum)[inside], atol=1e-5)


def numpy_griffin_lim(magnitude, phase, iterations):
    spectrum = magnitude * np.exp(1j * phase)
    for _ in range(iterations):
        spectrum = magnitude * np.exp(1j * np.angle(numpy_stft(numpy_istft(spectrum, exact_edges=False))))
    return numpy_istft(spectrum, exact_edges=False)


def test_griffin_lim_matches_numpy_and_its_error_never_rises():
    tone = audio.pad(sounds.melody(0.5))
    magnitude = np.abs(numpy_stft(tone)).astype(np.float32)
    phase = audio.random_phase(magnitude.shape, seed=3)
    trace = audio.griffin_lim_trace(magnitude, 8, phase=phase)
    reference = numpy_griffin_lim(magnitude.astype(np.float64), phase.astype(np.float64), 8)
    assert np.max(np.abs(trace.wave - reference)) < 1e-4 * np.max(np.abs(reference))
    errors = trace.errors
    assert len(errors) == 9 and errors[-1] < errors[0] / 2
    assert all(later <= earlier * (1 + 1e-4) for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] == pytest.approx(audio.spectral_error(trace.wave, magnitude), rel=1e-4)


def test_griffin_lim_from_the_true_phase_gives_the_wave_back():
    wave = audio.pad(sounds.organ(0.3))
    spectrum = audio.stft(wave).numpy()
    back = audio.griffin_lim(np.abs(spectrum), 3, phase=np.angle(spectrum))
    assert np.max(np.abs(back - wave)) < 1e-4
    with pytest.raises(AudioError, match="whole number"):
        audio.griffin_lim(np.abs(spectrum), -1)
    with pytest.raises(AudioError, match="magnitude"):
        audio.griffin_lim(np.abs(spectrum)[:, :10], 1)


def test_spectral_flux_sums_the_rises():
    spec = np.array([[0, 1], [2, 0], [1, 3]], np.float32)
    assert np.allclose(audio.spectral_flux(spec), [0, 2, 3])


def numpy_features(spec: np.ndarray, filters: np.ndarray) -> np.ndarray:
    width = filters.shape[0]
    frames = spec.shape[0] - width + 1
    out = np.stack([np.einsum("wb,wbn->n", spec[t:t + width], filters) for t in range(frames)])
    return np.maximum(out, 0)[None]


def test_random_features_and_their_gram_match_numpy():
    filters = random_filters(40, count=24, width=5, seed=7)
    assert filters.shape == (5, 40, 24) and np.array_equal(filters, random_filters(40, 24, 5, seed=7))
    assert not np.array_equal(filters, random_filters(40, 24, 5, seed=8))
    spec = np.random.default_rng(2).uniform(0, 3, (30, 40)).astype(np.float32)
    features = random_features(spec, filters).numpy()
    expected = numpy_features(spec.astype(np.float64), filters.astype(np.float64))
    assert features.shape == (1, 26, 24) and np.allclose(features, expected, atol=1e-4)
    f = expected[0]
    assert np.allclose(feature_gram(features).numpy()[0], f.T @ f / f.shape[0], rtol=1e-4, atol=1e-4)
    big = random_filters(513, 512, 11)
    assert big.std() == pytest.approx(math.sqrt(2 / (11 * 513)), rel=0.01)


def test_the_objective_is_its_formula_and_its_gradient_is_right():
    rng = np.random.default_rng(4)
    content, style = rng.uniform(0, 2, (20, 513)), rng.uniform(0, 4, (25, 513))
    objective = AudioObjective(content, style, filters=16, content_weight=2.0, style_weight=5.0)
    assert objective.scale == pytest.approx(style.max(), rel=1e-6)
    x = rng.uniform(0, 1, (1, 20, 513)).astype(np.float32)
    filters = objective.filters.numpy().astype(np.float64)

    def grams(spec):
        f = numpy_features(spec, filters)[0]
        return f, f.T @ f / f.shape[0]

    fx, gx = grams(x[0].astype(np.float64))
    fc, _ = grams(content / objective.scale)
    _, gs = grams(style / objective.scale)
    terms = objective(x)
    assert terms["content"] == pytest.approx(2.0 * np.mean((fx - fc) ** 2), rel=1e-3)
    assert terms["style"] == pytest.approx(5.0 * np.mean((gx - gs) ** 2), rel=1e-3)
    assert terms["total"] == pytest.approx(terms["content"] + terms["style"], rel=1e-6)
    values, grad = objective.value_and_gradient(x)
    direction = rng.standard_normal(x.shape).astype(np.float32)
    step = 1e-3
    slope = (objective(x + step * direction)["total"] - objective(x - step * direction)["total"]) / (2 * step)
    assert float(np.sum(grad * direction)) == pytest.approx(slope, rel=2e-2)


@pytest.mark.parametrize("bad, words", [({"content_weight": -1.0}, "content_weight"),
                                        ({"content_weight": 0.0, "style_weight": 0.0}, "nothing to minimise"),
                                        ({"filters": 0}, "filters"), ({"width": 2.5}, "width"),
                                        ({"compute_dtype": "bfloat16"}, "float32")])
def test_bad_settings_are_one_line(bad, words):
    with pytest.raises(AudioError, match=words):
        AudioSettings(**bad).validated()


def test_a_short_transfer_stops_for_a_reason_and_keeps_the_best():
    content, style = sounds.melody(0.6), sounds.organ(0.6)
    steps = []
    result = transfer_audio(content, style, steps=6, filters=16, griffin_lim_iterations=2,
                            callback=lambda progress: steps.append(progress.step) or progress.step == 3)
    assert result.stop_reason == "stopped" and steps == [1, 2, 3]
    assert result.wave.shape == content.shape and np.all(np.isfinite(result.wave))
    assert result.spectrogram.shape == result.content_spectrogram.shape and result.spectrogram.min() >= 0
    assert result.run.best_loss == min(h["total"] for h in result.run.history)
    assert result.run.settings["filters"] == 16 and len(result.errors) == 3
    assert {k: result.run.settings[k] for k in ("init", "phase", "steps")} == {"init": "noise", "phase": "random",
                                                                               "steps": 6}
    objective = AudioObjective(result.content_spectrogram, result.style_spectrogram, filters=16)
    assert style_distance(result.style_spectrogram, result.style_spectrogram, objective) == 0.0


def test_transfer_refuses_silence_and_short_clips():
    with pytest.raises(AudioError, match="silent"):
        transfer_audio(np.zeros(4000, np.float32), sounds.organ(0.5), steps=1)
    with pytest.raises(AudioError, match="too short"):
        transfer_audio(sounds.melody(0.5)[:100], sounds.organ(0.5), steps=1)
    with pytest.raises(AudioError, match="init"):
        transfer_audio(sounds.melody(0.5), sounds.organ(0.5), steps=1, init="style", filters=4)


def test_sounds_are_repeatable_short_and_loud_enough():
    for name in sounds.list_sounds():
        wave = sounds.load_sound(name, seconds=1.0)
        assert wave.dtype == np.float32 and wave.shape == (SAMPLE_RATE,)
        assert np.max(np.abs(wave)) == pytest.approx(sounds.PEAK, rel=1e-5)
        assert np.array_equal(wave, sounds.load_sound(name, seconds=1.0))
    melody = audio.spectrogram(sounds.melody(1.0))
    assert int(np.argmax(melody[10, :40])) == round(sounds.frequency(60) * N_FFT / SAMPLE_RATE)   # middle C first
    with pytest.raises(AudioError, match="Did you mean 'organ'"):
        sounds.load_sound("orgn")


# ---- WAV files ------------------------------------------------------------------------------------


def test_wav_round_trip_and_atomic_refusals(tmp_path):
    wave = sounds.melody(0.5)
    path = audio.write_wav(tmp_path / "a.wav", wave)
    back = audio.read_wav(path)
    assert back.shape == wave.shape and np.max(np.abs(back - wave)) < 1e-4
    with pytest.raises(OutputExistsError):
        audio.write_wav(path, wave)
    loud = audio.write_wav(tmp_path / "loud.wav", 3 * wave)
    assert np.max(np.abs(audio.read_wav(loud))) == pytest.approx(0.99, abs=1e-3)   # scaled, not clipped
    with pytest.raises(AudioError, match=".wav"):
        audio.write_wav(tmp_path / "a.mp3", wave)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "loud.wav"]   # no temporary left behind


def test_read_wav_converts_formats_channels_and_rates(tmp_path, caplog):
    t = np.arange(int(0.5 * 44100)) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    wavfile.write(tmp_path / "stereo.wav", 44100, np.stack([tone, tone], axis=1).astype(np.float32))
    with caplog.at_level("WARNING", logger="nstutils"):
        wave = audio.read_wav(tmp_path / "stereo.wav")
    assert "mixed to mono" in caplog.text and "resampled to 16000" in caplog.text
    assert wave.shape == (8000,) and int(np.argmax(audio.spectrogram(wave)[3])) == 64   # still 1 kHz
    wavfile.write(tmp_path / "u8.wav", 16000, (128 + 100 * np.sin(np.arange(4000) / 5)).astype(np.uint8))
    assert np.max(np.abs(audio.read_wav(tmp_path / "u8.wav"))) == pytest.approx(100 / 128, rel=0.01)


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_text("not a sound"), "not a WAV file"),
    (lambda p: wavfile.write(p, 16000, np.zeros(0, np.int16)), "empty or too short"),
    (lambda p: wavfile.write(p, 16000, np.zeros(16000, np.int16)), "silent"),
    (lambda p: wavfile.write(p, 4000, np.ones(4000, np.int16) * 1000), "at least 8000 Hz"),
    (lambda p: wavfile.write(p, 16000, np.ones(11 * 16000, np.int16) * 1000), "the most is 10 s"),
])
def test_read_wav_refuses_in_one_line(tmp_path, make, words):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(NSTError, match=words) as refused:
        audio.read_wav(path)
    assert "\n" not in str(refused.value)
    with pytest.raises(AudioError, match="no such file"):
        audio.read_wav(tmp_path / "missing.wav")
