"""Style transfer for sound: Ulyanov & Lebedev's audio style transfer (2016) on the engine's optimiser
(``08_audio``).

The log spectrogram ``S [frames, bins]`` (:func:`nstutils.audio.spectrogram`) is read as a 1-D signal
in time whose **channels are the frequency bins**. One layer of :data:`FILTERS` random filters, each
:data:`WIDTH` frames long and spanning every bin (fixed seed, never trained), then a ReLU, gives the
features ``F = relu(conv1d(S, W))`` ``[1, T, N]``. Notation and normalisations, as in
:mod:`nstutils.losses` (a 1-D feature map is an image one row high, ``[1, 1, T, N]``, so the same
formulas serve):

* Gram matrix ``G = FᵀF / T`` (:func:`nstutils.losses.gram_matrix`), ``[1, N, N]``;
* content loss ``mean((F(x) − F(c))²)`` over the ``T·N`` features (:func:`nstutils.losses.content_loss`);
* style loss ``mean((G(x) − G(s))²)`` over the ``N²`` entries (:func:`nstutils.losses.style_loss`);
* total ``content_weight·content + style_weight·style``.

The variable ``x`` is the spectrogram divided by ``scale``, the largest value of the content's and the
style's spectrograms, so it lies in [0, 1]: the box L-BFGS already keeps images in
(:func:`nstutils.run.run_optimizer`), here meaning "no negative magnitude, nothing louder than the
loudest input". Dividing also makes the weights independent of the clips' loudness. The
optimisation is :func:`nstutils.run.run_optimizer` itself (stop reasons, callbacks, Ctrl-C keeping
the best spectrogram); :class:`AudioObjective` is the objective it needs: ``settings`` (with
``compute_dtype``), ``__call__`` and ``value_and_gradient``. Griffin–Lim turns the result back into a wave.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Dict, Optional

import numpy as np

from .audio import (SAMPLE_RATE, AudioError, check_wave, griffin_lim_trace, magnitude, pad, random_phase,
                    spectrogram, stft, unpad)
from .config import pick
from .run import Progress, StylizeResult, run_optimizer
from .settings import RunSettings, make_settings

#: Random filters of the one feature layer, and their width in frames (11 frames: 176 ms at 16 kHz, hop 256).
#: Ulyanov & Lebedev use 4,096; 512 keep a lesson's transfer to about 4 GFLOP per loss+gradient evaluation.
FILTERS = 512
WIDTH = 11
#: The objective's weights. On melody + organ (5 s, 150 steps from a quiet start) a style weight of 10 leaves
#: the plucked notes with a faint hiss, 100 lays the organ's drone under them, 300 makes the drone as loud as
#: the notes while their onsets still follow the melody (flux correlation 0.80-0.85): the default.
CONTENT_WEIGHT = 1.0
STYLE_WEIGHT = 300.0
#: Where Griffin–Lim starts the optimised spectrogram's phase: a random one (Ulyanov & Lebedev's choice) or the
#: content's. On melody + organ both end at the same spectral error (0.349 after 200 iterations).
PHASES = ("random", "content")
STARTS = ("noise", "content")


def default_steps() -> int:
    """L-BFGS steps of a transfer when none are given: 150 (30 in fast mode). On melody + organ (5 s) the loss
    is within 1 % of its level at step 300 from step 75 on (the first 20 steps, from near silence, are slow)."""
    return pick(150, 30)


def default_griffin_lim_iterations() -> int:
    """Griffin–Lim iterations that turn the result into a wave: 100 (20 in fast mode)."""
    return pick(100, 20)


@dataclass(frozen=True)
class AudioSettings:
    """What :class:`AudioObjective` minimises (``08_audio``). ``compute_dtype`` is always float32: the
    optimiser reads it (there is no bfloat16 variant of this small network)."""

    content_weight: float = CONTENT_WEIGHT
    style_weight: float = STYLE_WEIGHT
    filters: int = FILTERS
    width: int = WIDTH
    filter_seed: int = 0
    compute_dtype: str = "float32"

    def validated(self) -> "AudioSettings":
        """A copy with numbers checked; :class:`~nstutils.audio.AudioError` in one line otherwise."""
        weights = {}
        for name in ("content_weight", "style_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise AudioError(f"{name} must be a finite number ≥ 0, got {value!r}")
            weights[name] = float(value)
        if not any(weights.values()):
            raise AudioError("content_weight and style_weight are both 0: nothing to minimise")
        for name, low in (("filters", 1), ("width", 1), ("filter_seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise AudioError(f"{name} must be a whole number ≥ {low}, got {value!r}")
        if self.compute_dtype != "float32":
            raise AudioError(f"audio style transfer computes in float32, got compute_dtype={self.compute_dtype!r}")
        return replace(self, **weights)


def random_filters(bins: int, count: int = FILTERS, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    """``count`` random 1-D filters ``[width, bins, count]`` (float32): normal with standard deviation
    ``sqrt(2 / (width·bins))`` (He et al.'s choice for a ReLU layer, so the features keep the input's scale),
    the same for the same seed everywhere."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((width, bins, count)) * math.sqrt(2.0 / (width * bins))).astype(np.float32)


def random_features(spec: Any, filters: Any):
    """``relu(conv1d(spec, filters))``: ``spec`` ``[frames, bins]`` (or ``[1, frames, bins]``), ``filters``
    ``[width, bins, N]``; features ``[1, frames − width + 1, N]`` ("valid" convolution, stride 1, no bias)."""
    import tensorflow as tf

    spec = tf.convert_to_tensor(spec, tf.float32)
    if spec.shape.rank == 2:
        spec = spec[tf.newaxis]
    return tf.nn.relu(tf.nn.conv1d(spec, tf.convert_to_tensor(filters, tf.float32), stride=1, padding="VALID"))


def feature_gram(features: Any):
    """The Gram matrix ``FᵀF / T`` ``[1, N, N]`` of features ``[1, T, N]``: :func:`nstutils.losses.gram_matrix`
    of the same features seen as an image one row high."""
    import tensorflow as tf

    from .losses import gram_matrix

    return gram_matrix(tf.convert_to_tensor(features)[:, tf.newaxis])


class AudioObjective:
    """``content_weight·mean((F(x) − F(c))²) + style_weight·mean((G(x) − G(s))²)`` for a spectrogram ``x``
    ``[1, frames, bins]`` divided by :attr:`scale` (``08_audio``).

    ``content`` and ``style`` are log spectrograms ``[frames, bins]`` (the style's length may differ:
    its Gram matrix is an average over time). The targets are computed once, here.
    """

    #: Silence is the box's lower edge, where much of a spectrogram lies: SciPy's L-BFGS-B then cuts every
    #: step short at the first bin that would go below 0 (1.12 → 1.10 in 100 steps from a quiet start, where
    #: the projected L-BFGS, which clips the step into the box instead, reaches 0.034 in 30).
    lbfgs_engine = "numpy"

    def __init__(self, content: Any, style: Any, settings: AudioSettings | None = None, **overrides: Any):
        import tensorflow as tf

        self.settings = s = replace(settings or AudioSettings(), **overrides).validated()
        content, style = (np.asarray(a, np.float32) for a in (content, style))
        if content.ndim != 2 or style.ndim != 2 or content.shape[1] != style.shape[1]:
            raise AudioError(f"content and style must be spectrograms [frames, bins] with the same bins, got "
                             f"{content.shape} and {style.shape}")
        for what, spec in (("content", content), ("style", style)):
            if spec.shape[0] < s.width:
                raise AudioError(f"the {what} is too short: {spec.shape[0]} frames, the filters span {s.width}")
        self.content_spectrogram, self.style_spectrogram = content, style
        self.scale = float(max(content.max(), style.max()))
        if not self.scale > 0:
            raise AudioError("the content and the style are both silent")
        self.filters = tf.constant(random_filters(content.shape[1], s.filters, s.width, s.filter_seed))
        self.shape = (1, *content.shape)
        self.content_target = random_features(content / self.scale, self.filters)
        self.style_target = feature_gram(random_features(style / self.scale, self.filters))
        self._terms_fn = tf.function(self.terms, autograph=False)   # no generated files left in the temp folder
        self._gradient_fn = tf.function(self._value_and_gradient, autograph=False)

    def terms(self, x) -> Dict[str, Any]:
        """The weighted terms ``{"total", "content", "style"}`` of ``x`` ``[1, frames, bins]`` as tensors."""
        import tensorflow as tf

        from .losses import content_loss, style_loss

        features = random_features(x, self.filters)
        s = self.settings
        content = s.content_weight * content_loss(features, self.content_target)
        style = s.style_weight * style_loss(features[:, tf.newaxis], self.style_target)
        return {"total": content + style, "content": content, "style": style}

    def _value_and_gradient(self, x):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            terms = self.terms(x)
        return terms, tape.gradient(terms["total"], x)

    def fingerprint(self) -> Optional[str]:
        """A sha256 of what defines this objective (its settings and both spectrograms), the results cache's key
        (:mod:`nstutils.results`); None for a subclass or when a loss function it calls was replaced."""
        from . import results
        from .objective import engine_functions_intact

        if type(self) is not AudioObjective or not engine_functions_intact():
            return None
        parts = {"class": "nstutils.audio_style.AudioObjective", "settings": asdict(self.settings),
                 "content": results.digest(self.content_spectrogram), "style": results.digest(self.style_spectrogram)}
        return hashlib.sha256(json.dumps(results.canonical(parts), sort_keys=True).encode()).hexdigest()

    def __call__(self, x) -> Dict[str, float]:
        """The weighted terms of ``x`` as Python floats."""
        return {k: float(v) for k, v in self._terms_fn(_batch(x)).items()}

    def value_and_gradient(self, x):
        """``(terms as floats, d total / d x as float32 numpy [1, frames, bins])``."""
        terms, grad = self._gradient_fn(_batch(x))
        return {k: float(v) for k, v in terms.items()}, grad.numpy()

    def start(self, init: str, content: Any, seed: int = 0) -> np.ndarray:
        """The first ``x``: ``"noise"`` (uniform in [0, 0.05], nearly silence, as Ulyanov & Lebedev start) or
        ``"content"`` (the content's spectrogram, scaled)."""
        if init == "content":
            return (np.asarray(content, np.float32) / self.scale)[np.newaxis]
        if init == "noise":
            return np.random.default_rng(seed).uniform(0.0, 0.05, size=self.shape).astype(np.float32)
        raise AudioError(f"init must be one of {', '.join(STARTS)}, got {init!r}")


def _batch(x):
    import tensorflow as tf

    x = tf.convert_to_tensor(x, tf.float32)
    return x[tf.newaxis] if x.shape.rank == 2 else x


@dataclass
class AudioResult:
    """What :func:`transfer_audio` made: the ``wave`` (float32, the content's length, at ``rate``), its log
    ``spectrogram`` as optimised, the content's and the style's, the optimiser's ``run`` (stop reason, message,
    history) and Griffin–Lim's ``errors`` (its spectral error after 0, 1, … iterations)."""

    wave: np.ndarray
    spectrogram: np.ndarray
    content_spectrogram: np.ndarray
    style_spectrogram: np.ndarray
    run: StylizeResult
    errors: list
    rate: int = SAMPLE_RATE

    @property
    def message(self) -> str:
        return self.run.message

    @property
    def stop_reason(self) -> str:
        return self.run.stop_reason


@dataclass
class PreparedAudio:
    """Everything a transfer needs before its first step (:func:`prepare_audio`): the ``objective``, the ``start``
    (``[1, frames, bins]``, scaled, made as ``init`` says), the padded ``content`` wave and its unpadded
    ``length`` in samples."""

    objective: AudioObjective
    start: np.ndarray
    content: np.ndarray
    length: int
    init: str = "noise"


def prepare_audio(content: Any, style: Any, settings: AudioSettings | None = None, *, init: str = "noise",
                  seed: int = 0, **overrides: Any) -> PreparedAudio:
    """Check both waves, pad them, take their log spectrograms, build the :class:`AudioObjective` and the start."""
    content = check_wave(content, "the content")
    style = check_wave(style, "the style")
    padded = pad(content)
    objective = AudioObjective(spectrogram(padded), spectrogram(pad(style)), settings, **overrides)
    content_spec = objective.content_spectrogram
    return PreparedAudio(objective=objective, start=objective.start(init, content_spec, seed), content=padded,
                         length=content.size, init=init)


def finish_audio(prepared: PreparedAudio, result: StylizeResult, griffin_lim_iterations: Optional[int] = None,
                 phase: str = "random", seed: int = 0) -> AudioResult:
    """The optimised spectrogram in ``result`` turned into a wave by Griffin–Lim from a ``"random"`` phase
    (``seed``) or the ``"content"``'s; the padding removed."""
    if phase not in PHASES:
        raise AudioError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    objective = prepared.objective
    spec = np.asarray(result.image, np.float32) * objective.scale
    start = (np.angle(stft(prepared.content).numpy()).astype(np.float32) if phase == "content"
             else random_phase(spec.shape, seed))
    iterations = default_griffin_lim_iterations() if griffin_lim_iterations is None else griffin_lim_iterations
    rebuilt = griffin_lim_trace(magnitude(spec), iterations, phase=start)
    result.settings = {**result.settings, "init": prepared.init, "phase": phase, "griffin_lim_iterations": iterations}
    return AudioResult(wave=unpad(rebuilt.wave, prepared.length), spectrogram=spec,
                       content_spectrogram=objective.content_spectrogram,
                       style_spectrogram=objective.style_spectrogram, run=result, errors=rebuilt.errors)


def transfer_audio(content: Any, style: Any, settings: AudioSettings | None = None, *, steps: Optional[int] = None,
                   init: str = "noise", seed: int = 0, griffin_lim_iterations: Optional[int] = None,
                   phase: str = "random", callback: Optional[Callable[[Progress], Any]] = None,
                   **overrides: Any) -> AudioResult:
    """The sound of ``content`` in the style of ``style`` (mono waves at :data:`~nstutils.audio.SAMPLE_RATE`;
    ``08_audio``).

    Both are padded (:func:`~nstutils.audio.pad`) and turned into log spectrograms; the spectrogram is
    optimised from ``init`` by L-BFGS (:func:`nstutils.run.run_optimizer`) for ``steps`` steps (default
    :func:`default_steps`). ``callback(progress)`` is called after every step (True stops the run); Ctrl-C
    stops it too, and the best spectrogram so far is kept either way. Griffin–Lim (:func:`finish_audio`)
    then makes the wave. ``overrides`` are :class:`AudioSettings` fields (``style_weight=1e3``).
    """
    prepared = prepare_audio(content, style, settings, init=init, seed=seed, **overrides)
    result = run_optimizer(prepared.objective, prepared.start, audio_run_settings(steps, seed), callback=callback)
    return finish_audio(prepared, result, griffin_lim_iterations, phase, seed)


def audio_run_settings(steps: Optional[int] = None, seed: int = 0) -> RunSettings:
    """The :class:`~nstutils.settings.RunSettings` of a transfer: L-BFGS for ``steps`` (default
    :func:`default_steps`)."""
    return make_settings(RunSettings(optimizer="lbfgs", steps=default_steps() if steps is None else steps,
                                     seed=seed)).run


def style_distance(spec: Any, style_spec: Any, objective: AudioObjective) -> float:
    """``‖G(x) − G(s)‖² / ‖G(s)‖²`` with ``objective``'s filters and scale: how far the spectrogram ``spec``'s
    feature statistics are from the style's (0 = the same; ``08_audio``'s first finding)."""
    grams = [feature_gram(random_features(np.asarray(a, np.float32) / objective.scale, objective.filters)).numpy()
             for a in (spec, style_spec)]
    return float(np.sum((grams[0] - grams[1]) ** 2) / np.sum(grams[1] ** 2))
