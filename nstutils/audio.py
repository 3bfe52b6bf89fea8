"""Sound as style transfer sees it: WAV files, the STFT and its inverse, log-magnitude spectrograms,
Griffin–Lim phase recovery and onsets (``08_audio``).

A sound here is a mono float32 wave in [-1, 1] at :data:`SAMPLE_RATE`. Its **spectrogram** is
``log(1 + |STFT|)``: frames of :data:`N_FFT` samples every :data:`HOP` samples, a periodic Hann
window (``tf.signal.stft``'s default), one row per frame and one column per frequency bin
(``N_FFT // 2 + 1`` of them), as Ulyanov & Lebedev's audio style transfer (2016) uses it. ``log1p``
keeps silence at 0 and every value ≥ 0, and compresses loud and soft parts the way hearing does.

A magnitude spectrogram has no phase; :func:`griffin_lim` (Griffin & Lim, 1984) finds a wave whose
STFT magnitude is close to it by alternating projections: invert with the current phase, take the
STFT of that wave, keep its phase and put the wanted magnitude back. :func:`pad` adds
``N_FFT - HOP`` zeros at each end so that every sample of the clip lies under ``N_FFT / HOP``
frames and :func:`istft` (``tf.signal.inverse_stft`` with its dual window) gives it back exactly;
:func:`unpad` removes them. TensorFlow is imported when a transform first runs.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

import numpy as np

from .cache import atomic_path
from .errors import NSTError, OutputError, OutputExistsError

log = logging.getLogger(__name__)

#: Samples per second of every sound the course uses (other rates are resampled on reading).
SAMPLE_RATE = 16000
#: Samples per STFT frame (64 ms at 16 kHz) and between two frames (16 ms: four frames cover each sample).
N_FFT = 1024
HOP = 256
#: The longest clip :func:`read_wav` accepts: longer ones would not fit the lesson's time budget.
MAX_SECONDS = 10.0
#: Rates below this carry too little of the spectrum to be worth stylising (telephone speech is 8 kHz).
MIN_RATE = 8000


class AudioError(NSTError, ValueError):
    """A sound could not be read, is not a WAV file, is empty, silent or too long."""


def read_wav(path: str | os.PathLike, rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The WAV file at ``path`` as a mono float32 wave in [-1, 1] at ``rate`` samples per second.

    Integer samples are scaled to [-1, 1]; several channels are averaged into one and another
    rate is resampled (``scipy.signal.resample_poly``), each said in one logged warning. Refused
    with :class:`AudioError`, one line each: a missing file, a file that is not WAV, an empty or
    silent clip, a rate below :data:`MIN_RATE`, a clip longer than ``max_seconds``.
    """
    from scipy.io import wavfile

    path = Path(path).expanduser()
    if not path.is_file():
        raise AudioError(f"{path}: no such file" if not path.exists() else f"{path} is a folder, not a WAV file")
    try:
        file_rate, data = wavfile.read(path)
    except (ValueError, EOFError, OSError) as error:   # scipy's words for "not a WAV I can read"
        raise AudioError(f"{path} is not a WAV file nstutils can read ({' '.join(str(error).split())}); convert "
                         f"it first, e.g. `ffmpeg -i input.mp3 -ac 1 -ar {rate} {path.stem}.wav`") from None
    wave = to_float(data, str(path))
    if wave.ndim == 2:
        log.warning("%s has %d channels: mixed to mono", path, wave.shape[1])
        wave = wave.mean(axis=1)
    seconds = wave.shape[0] / file_rate if file_rate else 0.0
    if file_rate < MIN_RATE:
        raise AudioError(f"{path} is sampled at {file_rate} Hz; nstutils needs at least {MIN_RATE} Hz")
    if seconds > max_seconds:
        raise AudioError(f"{path} is {seconds:.1f} s long; the most is {max_seconds:g} s: cut it first, e.g. "
                         f"`ffmpeg -i {path.name} -t {max_seconds:g} {path.stem}_short.wav`")
    if file_rate != rate:
        log.warning("%s is sampled at %d Hz: resampled to %d Hz", path, file_rate, rate)
        wave = resample(wave, file_rate, rate)
    return check_wave(wave, str(path))


def to_float(data: np.ndarray, name: str = "the sound") -> np.ndarray:
    """WAV samples (8-bit unsigned, 16/32-bit signed integers or floats; ``[n]`` or ``[n, channels]``) as float32
    in [-1, 1]."""
    data = np.asarray(data)
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if data.dtype.kind == "i":
        return (data.astype(np.float64) / float(-np.iinfo(data.dtype).min)).astype(np.float32)
    if data.dtype.kind == "f":
        return np.clip(np.nan_to_num(data.astype(np.float32)), -1.0, 1.0)
    raise AudioError(f"{name} holds samples of type {data.dtype}, which is not audio")


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``wave`` at ``rate`` samples per second resampled to ``target`` (polyphase filter, no phase shift)."""
    from scipy.signal import resample_poly

    common = math.gcd(int(rate), int(target))
    return resample_poly(np.asarray(wave, np.float64), target // common, rate // common).astype(np.float32)


def check_wave(wave: Any, name: str = "the sound") -> np.ndarray:
    """``wave`` as a 1-D float32 array with at least one frame's worth of samples and some sound in it."""
    wave = np.asarray(wave, np.float32)
    if wave.ndim != 1:
        raise AudioError(f"{name}: expected a mono wave (one dimension), got shape {wave.shape}")
    if wave.size < N_FFT:
        raise AudioError(f"{name} is empty or too short: {wave.size} samples, at least {N_FFT} "
                         f"({N_FFT / SAMPLE_RATE * 1000:.0f} ms) needed")
    if not np.all(np.isfinite(wave)):
        raise AudioError(f"{name} contains NaN or infinite samples")
    if not np.any(np.abs(wave) > 1e-4):
        raise AudioError(f"{name} is silent: nothing to take content or style from")
    return wave


def check_wav_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output :func:`write_wav` could not write (not ``.wav``, an existing file
    without ``overwrite``, a folder where no file can be made); return the path."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".wav":
        raise AudioError(f"output {path}: the result is written as WAV; give a name ending in .wav")
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name such as {path / 'result.wav'}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (CLI: --force) to replace it")
    try:
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.probe-", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error} (in {path.parent})") from None
    return path


def pcm16(wave: Any) -> np.ndarray:
    """``wave`` as 16-bit samples; a wave that goes beyond [-1, 1] is scaled down to a peak of 0.99, not clipped."""
    samples = np.nan_to_num(np.asarray(wave, np.float64).reshape(-1))
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 1.0:
        samples = samples * (0.99 / peak)
    return np.round(samples * 32767).astype(np.int16)


def write_wav(path: str | os.PathLike, wave: Any, rate: int = SAMPLE_RATE, overwrite: bool = False) -> Path:
    """Write ``wave`` as 16-bit mono WAV (:func:`pcm16`), atomically: never a half-written file. Returns the path."""
    from scipy.io import wavfile

    path = check_wav_output(path, overwrite)
    with atomic_path(path) as tmp:
        wavfile.write(tmp, int(rate), pcm16(wave))
    return path


def wav_bytes(wave: Any, rate: int = SAMPLE_RATE) -> bytes:
    """``wave`` encoded as a 16-bit WAV file in memory (:func:`pcm16`), for audio players."""
    import io

    from scipy.io import wavfile

    buffer = io.BytesIO()
    wavfile.write(buffer, int(rate), pcm16(wave))
    return buffer.getvalue()


# ---- the transforms ---------------------------------------------------------------------------------


def padding(n_fft: int = N_FFT, hop: int = HOP) -> int:
    """Zeros :func:`pad` adds before a clip: enough for its first sample to lie under ``n_fft / hop`` frames."""
    return n_fft - hop


def pad(wave: Any, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``wave`` with ``n_fft - hop`` zeros before it and enough after it that every sample is covered by
    ``n_fft / hop`` frames (so :func:`istft` restores it exactly); :func:`unpad` undoes it."""
    wave = np.asarray(wave, np.float32).reshape(-1)
    before = padding(n_fft, hop)
    after = before + (-wave.size) % hop
    return np.pad(wave, (before, after))


def unpad(wave: Any, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """The ``length`` samples of a clip :func:`pad` padded, out of ``wave``."""
    start = padding(n_fft, hop)
    return np.asarray(wave, np.float32)[start:start + int(length)]


def stft(wave: Any, n_fft: int = N_FFT, hop: int = HOP):
    """The STFT of ``wave`` ``[samples]``: complex64 tensor ``[frames, n_fft // 2 + 1]`` (``tf.signal.stft``,
    periodic Hann window, no padding: frame ``t`` starts at sample ``t·hop``)."""
    import tensorflow as tf

    return tf.signal.stft(tf.convert_to_tensor(wave, tf.float32), frame_length=n_fft, frame_step=hop,
                          fft_length=n_fft)


def istft(spectrum: Any, n_fft: int = N_FFT, hop: int = HOP):
    """The wave (float32 tensor, ``(frames - 1)·hop + n_fft`` samples) whose :func:`stft` is ``spectrum`` when
    there is one, else the least-squares closest (``tf.signal.inverse_stft`` with the dual of the Hann window).
    Its first and last ``n_fft - hop`` samples, under fewer frames, are only approximate: :func:`pad` makes them
    padding."""
    import tensorflow as tf

    return tf.signal.inverse_stft(tf.convert_to_tensor(spectrum, tf.complex64), frame_length=n_fft, frame_step=hop,
                                  fft_length=n_fft,
                                  window_fn=tf.signal.inverse_stft_window_fn(hop))


def spectrogram(wave: Any, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``log(1 + |STFT(wave)|)``: float32 ``[frames, n_fft // 2 + 1]``, time down, frequency across (``08_audio``)."""
    import tensorflow as tf

    return tf.math.log1p(tf.abs(stft(wave, n_fft, hop))).numpy()


def magnitude(log_spectrogram: Any) -> np.ndarray:
    """The STFT magnitude a log spectrogram stands for: ``exp(S) - 1`` (negative values read as 0)."""
    return np.expm1(np.maximum(np.asarray(log_spectrogram, np.float32), 0.0))


def spectral_error(wave: Any, target_magnitude: Any, n_fft: int = N_FFT, hop: int = HOP) -> float:
    """How far ``|STFT(wave)|`` is from ``target_magnitude``: ``‖ |STFT| − M ‖ / ‖M‖`` (0 = the same magnitude;
    Griffin–Lim's "spectral convergence")."""
    import tensorflow as tf

    target = np.asarray(target_magnitude, np.float32)
    rebuilt = tf.abs(stft(wave, n_fft, hop)).numpy()
    return float(np.linalg.norm(rebuilt - target) / max(np.linalg.norm(target), 1e-12))


def random_phase(shape, seed: int = 0) -> np.ndarray:
    """Phase angles uniform in [-π, π), float32, from ``seed``: Griffin–Lim's usual start."""
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, size=tuple(shape)).astype(np.float32)


@dataclass
class Reconstruction:
    """What :func:`griffin_lim_trace` found: the ``wave`` (float32 numpy) and the :func:`spectral_error` of the
    wave after 0, 1, …, ``iterations`` projections (``errors``, one more than the iterations)."""

    wave: np.ndarray
    errors: List[float]


def griffin_lim_trace(target_magnitude: Any, iterations: int = 100, phase: Optional[Any] = None, seed: int = 0,
                      n_fft: int = N_FFT, hop: int = HOP) -> Reconstruction:
    """Griffin–Lim from ``phase`` (default :func:`random_phase` with ``seed``), recording the error of every wave.

    ``spectrum = M·e^{iφ}``; then ``iterations`` times: ``wave = istft(spectrum)``, ``φ = angle(stft(wave))``,
    ``spectrum = M·e^{iφ}``; the result is ``istft(spectrum)``. (Where the rebuilt STFT is exactly 0 its angle
    is taken as 0.) Each projection can only lower the squared error it minimises (Griffin & Lim, 1984).
    """
    import tensorflow as tf

    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 0:
        raise AudioError(f"iterations must be a whole number ≥ 0, got {iterations!r}")
    target = tf.constant(np.asarray(target_magnitude, np.float32))
    if target.shape.rank != 2 or target.shape[1] != n_fft // 2 + 1:
        raise AudioError(f"expected a magnitude [frames, {n_fft // 2 + 1}], got shape {tuple(target.shape)}")
    angles = tf.constant(random_phase(target.shape, seed) if phase is None else np.asarray(phase, np.float32))
    spectrum = tf.complex(target * tf.cos(angles), target * tf.sin(angles))
    norm = max(float(tf.norm(target)), 1e-12)
    errors = []
    for done in range(int(iterations) + 1):
        wave = istft(spectrum, n_fft, hop)
        rebuilt = stft(wave, n_fft, hop)
        errors.append(float(tf.norm(tf.abs(rebuilt) - target)) / norm)
        if done < iterations:
            angles = tf.math.angle(rebuilt)
            spectrum = tf.complex(target * tf.cos(angles), target * tf.sin(angles))
    return Reconstruction(wave=wave.numpy(), errors=errors)


def griffin_lim(target_magnitude: Any, iterations: int = 100, phase: Optional[Any] = None, seed: int = 0,
                n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """A wave whose STFT magnitude is close to ``target_magnitude`` ``[frames, n_fft // 2 + 1]``
    (:func:`griffin_lim_trace`'s wave; ``08_audio``)."""
    return griffin_lim_trace(target_magnitude, iterations, phase, seed, n_fft, hop).wave


def spectral_flux(log_spectrogram: Any) -> np.ndarray:
    """Onset strength per frame: the sum over bins of the rise of the log spectrogram since the previous frame,
    ``Σ_f max(0, S[t, f] − S[t−1, f])`` (0 for the first frame). Peaks mark note onsets."""
    spec = np.asarray(log_spectrogram, np.float64)
    rise = np.maximum(np.diff(spec, axis=0), 0.0).sum(axis=1)
    return np.concatenate([[0.0], rise])
