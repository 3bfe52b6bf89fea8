"""The course's sounds, synthesised by nstutils with a fixed seed: nothing to download, no licence
question (``08_audio``).

* ``melody`` (content): the opening of the traditional round *Frère Jacques* (public domain),
  plucked: each note a stack of harmonics that starts sharply and dies away, the higher ones
  faster, as on a guitar string. Clear onsets and pitches: the content a listener follows.
* ``organ`` (style): a sustained, breathy organ-like chord (a low drone with its fifth and
  octave, rich in harmonics, a 5 Hz tremolo and air noise): no onsets, a dense, buzzing timbre.
* ``rain`` (style): broadband noise with random drops (short bright clicks) on a low rumble: a
  texture with no pitch at all.

:func:`load_sound` takes one of these names or a path to a WAV file (:func:`nstutils.audio.read_wav`).
Every clip is a mono float32 wave at :data:`~nstutils.audio.SAMPLE_RATE`, peak 0.8, faded in and out
over 10 ms, and the same for the same arguments on every machine.
"""

from __future__ import annotations

import difflib
import os
from typing import Callable, Dict, List, Tuple

import numpy as np

from .audio import SAMPLE_RATE, AudioError, read_wav

#: Who made the sounds, for the notebook's credits.
CREDIT = "synthesised by nstutils (nstutils/sounds.py, fixed seed); the tune is the traditional Frère Jacques"
#: Frère Jacques' first three bars in MIDI note numbers (60 = middle C) and beats: C D E C | C D E C | E F G–.
MELODY_NOTES: Tuple[Tuple[int, float], ...] = ((60, 1), (62, 1), (64, 1), (60, 1), (60, 1), (62, 1), (64, 1),
                                               (60, 1), (64, 1), (65, 1), (67, 2))
BEAT_SECONDS = 0.4
PEAK = 0.8


def frequency(note: int) -> float:
    """The frequency in Hz of MIDI note ``note`` (69 = A4 = 440 Hz, equal temperament)."""
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def _finish(wave: np.ndarray, rate: int) -> np.ndarray:
    """``wave`` scaled to :data:`PEAK` and faded in and out over 10 ms (no click at either end)."""
    fade = min(wave.size // 2, int(0.01 * rate))
    ramp = np.linspace(0.0, 1.0, fade)
    wave = wave.copy()
    wave[:fade] *= ramp
    wave[wave.size - fade:] *= ramp[::-1]
    peak = float(np.max(np.abs(wave)))
    return (wave * (PEAK / peak if peak else 1.0)).astype(np.float32)


def pluck(note: int, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """One plucked note: harmonics ``k·f`` with amplitude ``1/k`` decaying at ``(2 + 1.5·k)`` per second."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = frequency(note)
    wave = np.zeros_like(t)
    for k in range(1, int(rate / 2 / f0)):
        wave += np.sin(2 * np.pi * k * f0 * t) * np.exp(-(2.0 + 1.5 * k) * t) / k
    attack = np.minimum(t / 0.004, 1.0)   # a 4 ms attack: sharp, but not a click
    return wave * attack


def melody(seconds: float = 5.0, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """The content clip: :data:`MELODY_NOTES` plucked, one beat every :data:`BEAT_SECONDS`, cut to ``seconds``
    (each note rings on under the next). ``seed`` only varies each note's loudness a little, as a player would."""
    rng = np.random.default_rng(seed)
    wave = np.zeros(int(seconds * rate))
    start = 0.05
    for note, beats in MELODY_NOTES:
        first = int(start * rate)
        if first >= wave.size:
            break
        tone = pluck(note, beats * BEAT_SECONDS + 0.6, rate) * rng.uniform(0.8, 1.0)
        end = min(wave.size, first + tone.size)
        wave[first:end] += tone[:end - first]
        start += beats * BEAT_SECONDS
    return _finish(wave, rate)


def organ(seconds: float = 5.0, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """The first style clip: a drone on G2 with its fifth (D3) and octave (G3), each a sawtooth-like stack of
    harmonics (``1/k``) with slight detuning, a 5 Hz tremolo, and breath noise band-limited to 1–4 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = np.zeros_like(t)
    for note in (43, 50, 55):
        f0 = frequency(note) * (1.0 + rng.uniform(-0.002, 0.002))
        phase = rng.uniform(0, 2 * np.pi)
        for k in range(1, int(rate / 2 / f0)):
            wave += np.sin(2 * np.pi * k * f0 * t + phase * k) / k
    wave *= 1.0 + 0.35 * np.sin(2 * np.pi * 5.0 * t)
    breath = _band_noise(rng, t.size, 1000.0, 4000.0, rate)
    wave = wave / np.max(np.abs(wave)) + 0.25 * breath / np.max(np.abs(breath))
    swell = np.minimum(t / 0.3, 1.0)   # the organ swells in over 0.3 s
    return _finish(wave * swell, rate)


def rain(seconds: float = 5.0, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """The second style clip: about 40 drops a second (each a 2–6 kHz click decaying in ~3 ms) over soft
    broadband hiss and a rumble below 300 Hz."""
    rng = np.random.default_rng(seed)
    size = int(seconds * rate)
    wave = 0.15 * _band_noise(rng, size, 100.0, 7000.0, rate) + 0.3 * _band_noise(rng, size, 30.0, 300.0, rate)
    drop_t = np.arange(int(0.02 * rate)) / rate
    for start in rng.integers(0, size, int(40 * seconds)):
        f = rng.uniform(2000.0, 6000.0)
        drop = np.sin(2 * np.pi * f * drop_t) * np.exp(-drop_t / 0.003) * rng.uniform(0.3, 1.0)
        end = min(size, start + drop.size)
        wave[start:end] += drop[:end - start]
    return _finish(wave, rate)


def _band_noise(rng: np.random.Generator, size: int, low: float, high: float, rate: int) -> np.ndarray:
    """White noise with everything outside ``[low, high]`` Hz removed (in the frequency domain), unit peak."""
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    noise = np.fft.irfft(spectrum, size)
    return noise / max(float(np.max(np.abs(noise))), 1e-12)


#: The course's sounds by name: what :func:`load_sound` accepts besides a path.
SOUNDS: Dict[str, Callable[..., np.ndarray]] = {"melody": melody, "organ": organ, "rain": rain}


def list_sounds() -> List[str]:
    """The names :func:`load_sound` knows."""
    return list(SOUNDS)


def load_sound(source, seconds: float = 5.0, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A course sound by name (``"melody"``, ``"organ"``, ``"rain"``; ``seconds`` long) or a WAV file by path
    (:func:`~nstutils.audio.read_wav`), or a wave given as an array; a mono float32 wave at ``rate``."""
    if isinstance(source, np.ndarray):
        return np.asarray(source, np.float32)
    name = os.fspath(source)
    if name in SOUNDS:
        return SOUNDS[name](seconds=seconds, rate=rate)
    if not os.path.exists(name) and not name.lower().endswith(".wav"):
        close = difflib.get_close_matches(name, list(SOUNDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AudioError(f"{name!r} is neither a course sound ({', '.join(SOUNDS)}) nor a file.{hint}")
    return read_wav(name, rate=rate)
