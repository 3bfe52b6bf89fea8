"""Checks of ``08_audio``: the log spectrogram, the random-filter features and Griffin–Lim (the Gram
matrix is ``03``'s own check, :func:`.gram_style.gram_matrix`)."""

from __future__ import annotations

import numpy as np

from .core import Case, CheckError, as_array, call_learner, close_to, constant, report_ok, require_callable, \
    seeded_rng, verdict
from .runner import hint_for, run_cases

COMPLEX = ("you returned complex numbers (the STFT itself): a spectrogram keeps only the magnitude, "
           "tf.abs(...), then log1p.")


def _tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 1320 * t)).astype(np.float32)


def _stft_magnitude(wave: np.ndarray, n_fft: int, hop: int, window: np.ndarray | None) -> np.ndarray:
    """|STFT| with ``window`` (None: no window), frames every ``hop`` samples, no padding (numpy)."""
    frames = 1 + (wave.size - n_fft) // hop
    framed = np.stack([wave[t * hop:t * hop + n_fft] for t in range(frames)]).astype(np.float64)
    return np.abs(np.fft.rfft(framed * (1.0 if window is None else window), axis=1))


def _spectrogram_mistakes(wave: np.ndarray, n_fft: int, hop: int):
    periodic = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    magnitude = _stft_magnitude(wave, n_fft, hop, periodic)
    with np.errstate(divide="ignore"):
        decibels = 20 * np.log10(np.maximum(magnitude, 1e-10))
    return [("you forgot the logarithm: a spectrogram here is log(1 + |STFT|) (tf.math.log1p), which compresses "
             "loud and soft parts as hearing does.", magnitude),
            ("you took log1p of the power |STFT|²: use the magnitude |STFT| (tf.abs), then log1p.",
             np.log1p(magnitude ** 2)),
            ("those are decibels (20·log10): the course's spectrogram is log(1 + |STFT|), tf.math.log1p.", decibels),
            ("you used no window: tf.signal.stft's default window_fn (a periodic Hann window) tapers each frame.",
             np.log1p(_stft_magnitude(wave, n_fft, hop, None))),
            ("you used a symmetric Hann window (np.hanning): tf.signal.stft's default is the periodic one, "
             "tf.signal.hann_window(n_fft).", np.log1p(_stft_magnitude(wave, n_fft, hop, np.hanning(n_fft))))]


def spectrogram(fn) -> None:
    """Check ``spectrogram(wave, n_fft, hop) -> S``: ``log(1 + |STFT(wave)|)``, ``[frames, n_fft // 2 + 1]``
    (``tf.signal.stft`` with ``frame_length=n_fft``, ``frame_step=hop``, its default window)."""
    from nstutils.audio import HOP, N_FFT, spectrogram as reference

    rng = seeded_rng(90)
    click = np.zeros(48, np.float32)
    click[30] = 1.0
    inputs = [("a 440 + 1320 Hz tone of 0.1 s with the course's n_fft = 1024, hop = 256", _tone(0.1), N_FFT, HOP),
              ("a ramp of 64 samples with n_fft = 16, hop = 4", np.linspace(-1, 1, 64, dtype=np.float32), 16, 4),
              ("200 samples of noise with n_fft = 32, hop = 8", rng.uniform(-1, 1, 200).astype(np.float32), 32, 8),
              ("silence, then a click (48 samples, n_fft = 8, hop = 2)", click, 8, 2)]
    require_callable("spectrogram", fn)
    for label, wave, n_fft, hop in inputs:
        expected = reference(wave, n_fft, hop)
        frames, bins = expected.shape
        case = Case(label, (constant(wave), n_fft, hop), expected, _spectrogram_mistakes(wave, n_fft, hop),
                    [(lambda shape, small=(n_fft, hop) != (N_FFT, HOP): small and shape[-1:] == (N_FFT // 2 + 1,),
                      "use the arguments n_fft and hop, not the constants N_FFT and HOP."),
                     ((bins, frames), "your spectrogram is [bins, frames]: keep tf.signal.stft's layout, one row per "
                                      "frame (time down, frequency across)."),
                     (lambda shape, swapped=1 + (wave.size - hop) // n_fft, right=frames:
                      len(shape) == 2 and shape[0] == swapped != right,
                      "frame_length and frame_step are swapped: frames are n_fft samples long, hop apart."),
                     (lambda shape: len(shape) == 1, "you took one FFT of the whole wave: tf.signal.stft cuts it into "
                                                     "frames of n_fft samples every hop samples.")])
        result = call_learner("spectrogram", fn, label, *case.fresh_args())
        if np.iscomplexobj(result.numpy() if hasattr(result, "numpy") else np.asarray(result)):
            raise CheckError(f"spectrogram: on {label} {COMPLEX}")
        got = as_array("spectrogram", result, label)
        if got.shape == expected.shape and np.any(np.isneginf(got)):
            raise CheckError(f"spectrogram: on {label} you got −∞ where |STFT| is 0 (silence, or a bin with no "
                             f"energy): log(0) = −∞. Use log(1 + |STFT|), tf.math.log1p, which is 0 there.")
        verdict("spectrogram", case, got, "spectrogram", rtol=1e-3, atol=1e-4)
    report_ok("spectrogram", len(inputs))


def random_features(fn) -> None:
    """Check ``random_features(spec, filters) -> F``: ``relu(conv1d(spec[tf.newaxis], filters))``, "valid",
    stride 1; ``spec`` ``[frames, bins]``, ``filters`` ``[width, bins, N]``, ``F`` ``[1, frames − width + 1, N]``."""
    import tensorflow as tf

    from nstutils.audio_style import random_features as reference

    hand_spec = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.float32)                  # 4 frames, 2 bins
    hand_filters = np.array([[[1, -1, 0.5], [0, 1, 0.5]], [[-1, 0, 0.5], [1, 1, -0.5]]], np.float32)  # [2, 2, 3]
    specs = [("a hand-worked 4-frame, 2-bin spectrogram with 3 filters of width 2", hand_spec, hand_filters),
             ("a random 10×6 spectrogram (values in [0, 2]) with 5 filters of width 3",
              seeded_rng(91).uniform(0, 2, (10, 6)), seeded_rng(92).normal(size=(3, 6, 5))),
             ("a 7×4 spectrogram with negative values and 4 filters of width 1",
              seeded_rng(93).normal(size=(7, 4)), seeded_rng(94).normal(size=(1, 4, 4))),
             ("a random 12×8 spectrogram with 6 filters of width 5",
              seeded_rng(95).uniform(0, 1, (12, 8)), seeded_rng(96).normal(size=(5, 8, 6)))]
    cases = []
    for label, spec, filters in specs:
        spec, filters = np.asarray(spec, np.float32), np.asarray(filters, np.float32)
        width, n = filters.shape[0], filters.shape[2]
        frames = spec.shape[0]
        linear = tf.nn.conv1d(spec[None], filters, 1, "VALID").numpy()
        variants = [("you left out the ReLU: the features are relu(conv1d(...)), never negative.", linear),
                    ("you applied the ReLU to the spectrogram, not to the filters' responses: "
                     "relu(conv1d(spec, filters)).", tf.nn.conv1d(np.maximum(spec, 0)[None], filters, 1,
                                                                  "VALID").numpy()),
                    ("you flipped the filters in time (a true convolution): tf.nn.conv1d slides them as they are.",
                     np.maximum(tf.nn.conv1d(spec[None], filters[::-1].copy(), 1, "VALID").numpy(), 0))]
        hints = [((1, frames, n), "\"valid\" convolution: the filters only sit where they fit, so there are "
                                  "frames − width + 1 outputs; use padding=\"VALID\"."),
                 ((frames - width + 1, n), "keep the batch dimension: [1, frames − width + 1, N].")]
        cases.append(Case(label, (constant(spec), constant(filters)), reference(spec, filters).numpy(), variants,
                          hints, reference=reference))
    run_cases("random_features", fn, cases, "feature map", hint=_conv_hint, gradient_args=(0,))


_conv_hint = hint_for(
    (("must be rank 3", "must be 3-dimensional", "4-dimensional", "rank 2", "rank 3"),
     "tf.nn.conv1d wants [batch, frames, bins]: add the batch dimension with spec[tf.newaxis]."),
    (("evenly divisible", "depth", "Depth"),
     "The bins are the channels: spec is [frames, bins] as given (time down); do not transpose it, add a batch "
     "dimension with spec[tf.newaxis]."))


def _griffin_lim_variants(magnitude: np.ndarray, phase: np.ndarray, iterations: int):
    """``(message, wave)`` for the usual slips, computed with the library's STFT."""
    import tensorflow as tf

    from nstutils.audio import griffin_lim as reference, istft, stft

    def run(steps: int, start: np.ndarray, project) -> np.ndarray:
        spectrum = tf.complex(magnitude * np.cos(start), magnitude * np.sin(start))
        for _ in range(steps):
            spectrum = project(stft(istft(spectrum)))
        return istft(spectrum).numpy()

    unit = lambda rebuilt: tf.complex(magnitude * tf.cos(tf.math.angle(rebuilt)),  # noqa: E731
                                      magnitude * tf.sin(tf.math.angle(rebuilt)))
    variants = [("you ignored `phase`: Griffin–Lim here starts from magnitude · e^{i·phase}, not from phase 0.",
                 run(iterations, np.zeros_like(phase), unit))]
    if iterations > 0:
        variants += [(f"one projection too few: loop `iterations` = {iterations} times, then invert once more.",
                      reference(magnitude, iterations - 1, phase=phase)),
                     ("the wave never changes: each iteration must keep the new phase, angle(stft(wave)), and put "
                      "the target magnitude back: spectrum = magnitude · e^{i·angle}.", run(0, phase, unit)),
                     ("you multiplied the magnitude by the rebuilt spectrum itself: keep only its phase, "
                      "rebuilt / |rebuilt| (or e^{i·tf.math.angle(rebuilt)}).",
                      run(iterations, phase, lambda rebuilt: tf.cast(magnitude, tf.complex64) * rebuilt)),
                     ("you kept the rebuilt spectrum as it is: put the target magnitude back with its phase, "
                      "magnitude · e^{i·angle(rebuilt)}.", run(iterations, phase, lambda rebuilt: rebuilt))]
    variants.append((f"one projection too many: loop exactly `iterations` = {iterations} times.",
                     reference(magnitude, iterations + 1, phase=phase)))
    return variants


def griffin_lim(fn) -> None:
    """Check ``griffin_lim(magnitude, phase, iterations) -> wave``: start from ``magnitude · e^{i·phase}``, then
    ``iterations`` times ``wave = istft(spectrum)``, ``spectrum = magnitude · e^{i·angle(stft(wave))}``; return
    ``istft(spectrum)`` (with :func:`nstutils.audio.stft` and :func:`~nstutils.audio.istft`)."""
    from nstutils.audio import griffin_lim as reference, pad, random_phase, stft

    tone = np.abs(stft(pad(_tone(0.12))).numpy())
    quiet = np.zeros(4000, np.float32)
    quiet[2000:2040] = np.hanning(40)
    lonely = np.abs(stft(pad(quiet)).numpy())           # frames far from the blip are exactly silent
    rng = seeded_rng(97)
    invented = rng.uniform(0, 2, tone.shape).astype(np.float32) * (np.arange(tone.shape[1]) < 200)
    inputs = [("a tone's magnitude, random phase, 3 iterations", tone, random_phase(tone.shape, 1), 3),
              ("a tone's magnitude, random phase, 0 iterations (just the first inversion)", tone,
               random_phase(tone.shape, 2), 0),
              ("a blip in silence (exactly silent frames), zero phase, 2 iterations", lonely,
               np.zeros(lonely.shape, np.float32), 2),
              ("a magnitude no sound has (random), random phase, 5 iterations", invented,
               random_phase(invented.shape, 3), 5)]
    require_callable("griffin_lim", fn)
    for label, magnitude, phase, iterations in inputs:
        expected = reference(magnitude, iterations, phase=phase)
        case = Case(label, (magnitude.astype(np.float32), phase.astype(np.float32), iterations), expected,
                    _griffin_lim_variants(magnitude, phase, iterations),
                    [(tuple(magnitude.shape), "you returned a spectrogram: return the wave, istft(spectrum).")])
        result = call_learner("griffin_lim", fn, label, *case.fresh_args())
        if np.iscomplexobj(result.numpy() if hasattr(result, "numpy") else np.asarray(result)):
            raise CheckError(f"griffin_lim: on {label} you returned complex numbers (a spectrum): return the wave, "
                             f"istft(spectrum).")
        got = as_array("griffin_lim", result, label)
        if got.shape == expected.shape and not np.all(np.isfinite(got)):
            raise CheckError(f"griffin_lim: on {label} the wave has NaN: rebuilt / |rebuilt| divides 0 by 0 where "
                             f"the rebuilt spectrum is exactly 0 (silence). Take the phase with tf.math.angle "
                             f"(0 there) and use magnitude · e^{{i·angle}}.")
        verdict("griffin_lim", case, got, "wave", rtol=1e-3, atol=1e-4)
    report_ok("griffin_lim", len(inputs), ": the wave's magnitude moves towards the target")
