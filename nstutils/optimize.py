"""The optimisation: make an image whose VGG19 features match a photo's content and a
painting's style.

:func:`stylize` is the one call most people need. It builds a :class:`StyleObjective`
(the weighted sum of content, style and total-variation losses, see
:mod:`nstutils.losses`) from :class:`~nstutils.settings.ObjectiveSettings`, starts from
the content image (or noise, the style image, or the photo in the painting's colours),
and runs L-BFGS, Adam or gradient descent as :class:`~nstutils.settings.RunSettings`
says, keeping the image with the lowest loss. Every run ends for a reason it reports in
``StylizeResult.stop_reason`` and ``StylizeResult.message``. With the default settings
it optimises exactly the TensorFlow tutorial's objective. Introduced in
``05_full_transfer``; optimisers compared in ``06_optimizers``.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np

from .errors import SettingsError
from .features import FeatureExtractor
from .images import MAX_DIM, load_image, resize_image
from .settings import INITS, ObjectiveSettings, RunSettings, Settings, make_settings, window_improvement

log = logging.getLogger(__name__)

#: Why a run ended (``StylizeResult.stop_reason``).
STOP_REASONS = {
    "finished": "did all the steps asked",
    "converged": "the loss stopped improving",
    "stopped": "stopped by the caller (callback or Stop button)",
    "interrupted": "interrupted (Ctrl-C)",
    "diverged": "the loss became NaN or infinite",
    "evaluation_limit": "used the most loss evaluations allowed",
}

#: Built extractors kept for reuse (building one costs about a second), least recently used dropped.
_EXTRACTORS: "OrderedDict[tuple, FeatureExtractor]" = OrderedDict()
EXTRACTOR_CACHE_SIZE = 6


def get_extractor(layers, pooling: str = "max", weights: str = "compact",
                  compute_dtype: str = "float32") -> FeatureExtractor:
    """A cached :class:`FeatureExtractor` (at most ``EXTRACTOR_CACHE_SIZE`` are kept)."""
    key = (tuple(layers), pooling, str(weights), compute_dtype)
    if key in _EXTRACTORS:
        _EXTRACTORS.move_to_end(key)
    else:
        _EXTRACTORS[key] = FeatureExtractor(list(layers), pooling=pooling, weights=weights,
                                            compute_dtype=compute_dtype)
        while len(_EXTRACTORS) > EXTRACTOR_CACHE_SIZE:
            _EXTRACTORS.popitem(last=False)
    return _EXTRACTORS[key]


def clear_extractor_cache() -> None:
    """Forget the cached feature extractors."""
    _EXTRACTORS.clear()


class StyleObjective:
    """The total loss of one content/style pair at one image size.

    ``objective(image)`` returns the weighted terms ``{"total", "content", "style", "tv"}``
    (``total`` is their sum) for an image ``[1, H, W, 3]`` in [0, 1];
    ``objective.value_and_gradient(image)`` also returns d total / d image. The style
    targets (Gram matrices) and content targets (feature maps) are computed once, here.
    ``settings`` is an :class:`~nstutils.settings.ObjectiveSettings`; keyword overrides
    change its fields (``StyleObjective(photo, painting, compute_dtype="float32")``).
    """

    def __init__(self, content_image, style_image, settings: ObjectiveSettings | None = None, **overrides: Any):
        import tensorflow as tf

        from .losses import gram_matrix

        self.settings = make_settings(settings or ObjectiveSettings(), **overrides).objective
        s = self.settings
        self.extractor = get_extractor(s.content_layers + tuple(l for l in s.style_layers if l not in s.content_layers),
                                       s.pooling, s.weights, s.compute_dtype)
        self._images = (load_image(content_image), load_image(style_image))  # for exact() below
        content = tf.constant(self._images[0], tf.float32)
        style = tf.constant(self._images[1], tf.float32)
        self._exact: Optional["StyleObjective"] = None
        self.shape = tuple(content.shape)
        content_features = self.extractor(content)
        style_features = self.extractor(style)
        self.content_targets = {k: tf.constant(content_features[k]) for k in s.content_layers}
        self.style_targets = {k: tf.constant(gram_matrix(style_features[k])) for k in s.style_layers}
        self.style_layer_weights = dict(zip(s.style_layers, s.style_layer_weights)) if s.style_layer_weights \
            else None
        self._targets_replaced = False
        self._compile()

    def _compile(self) -> None:
        import tensorflow as tf

        # The targets are captured as constants when these trace, so one graph serves every step.
        spec = [tf.TensorSpec([1, None, None, 3], tf.float32)]
        self._losses_fn = tf.function(self.terms, input_signature=spec)
        self._grad_fn = tf.function(self._value_and_gradient, input_signature=spec)

    def exact(self) -> "StyleObjective":
        """This objective computed entirely in float32 (itself if it already is), with the same targets.

        bfloat16 losses read about 1-2 % low with a jitter of ~2e-4, enough to stall L-BFGS's
        line search near the end; the optimiser finishes with this one (see ``_run_lbfgs``).
        """
        if self.settings.compute_dtype == "float32":
            return self
        if self._exact is None:
            from dataclasses import replace

            self._exact = StyleObjective(*self._images, replace(self.settings, compute_dtype="float32"))
            if self._targets_replaced:
                self._exact.use_style_targets(self.style_targets)
        return self._exact

    def style_grams(self, image) -> Dict[str, Any]:
        """Gram matrices of ``image`` at this objective's style layers (its style "fingerprint")."""
        from .losses import gram_matrix

        features = self.extractor(_as_batch(load_image(image)))
        return {k: gram_matrix(features[k]) for k in self.settings.style_layers}

    def use_style_targets(self, targets: Mapping[str, Any]) -> None:
        """Replace the style targets, e.g. by a blend of two paintings' Grams (``07_beyond``)."""
        import tensorflow as tf

        missing = [k for k in self.settings.style_layers if k not in targets]
        if missing:
            raise SettingsError(f"style targets lack layers {missing}")
        self.style_targets = {k: tf.constant(targets[k], tf.float32) for k in self.settings.style_layers}
        self._targets_replaced = True
        self._exact = None
        self._compile()

    def terms(self, image) -> Dict[str, Any]:
        """The weighted loss terms of ``image`` as tensors, differentiable (use inside ``tf.GradientTape``)."""
        import tensorflow as tf

        from .losses import content_loss, style_loss, total_variation_loss

        s = self.settings
        features = self.extractor(image)
        zero = tf.constant(0.0)
        content = (s.content_weight * content_loss({k: features[k] for k in s.content_layers}, self.content_targets)
                   if s.content_layers else zero)
        style = (s.style_weight * style_loss({k: features[k] for k in s.style_layers}, self.style_targets,
                                             self.style_layer_weights)
                 if s.style_layers else zero)
        tv = s.tv_weight * total_variation_loss(image, s.tv_kind)
        return {"total": content + style + tv, "content": content, "style": style, "tv": tv}

    def _value_and_gradient(self, image):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(image)
            losses = self.terms(image)
        return losses, tape.gradient(losses["total"], image)

    def __call__(self, image) -> Dict[str, float]:
        """Weighted loss terms of ``image`` as Python floats."""
        return {k: float(v) for k, v in self._losses_fn(_as_batch(image)).items()}

    def value_and_gradient(self, image):
        """``(losses as floats, gradient as float32 [1, H, W, 3] numpy)``."""
        losses, grad = self._grad_fn(_as_batch(image))
        return {k: float(v) for k, v in losses.items()}, grad.numpy()


def _as_batch(image):
    import tensorflow as tf

    image = tf.convert_to_tensor(image, tf.float32)
    return image[tf.newaxis] if image.shape.rank == 3 else image


@dataclass
class Progress:
    """What a ``callback`` receives after each step."""

    step: int
    steps: int  # the most steps this run may take
    losses: Dict[str, float]
    seconds: float
    image: np.ndarray  # current image [H, W, 3] in [0, 1]
    best_loss: float
    evaluations: int = 0
    state: Optional[Dict[str, Any]] = None  # optimiser state after this step (Adam: m, v, t), for checkpoints
    #: how much the best loss fell over the last ``stop_window`` steps, as a fraction (None before that
    #: many steps, or just after L-BFGS switched to float32); an adaptive run stops below ``stop_tolerance``
    improvement: Optional[float] = None


@dataclass
class StylizeResult:
    """The outcome of :func:`stylize`.

    ``image``: the best image found, float32 ``[H, W, 3]`` in [0, 1].
    ``history``: one dict per step with the weighted terms ``total``, ``content``,
    ``style``, ``tv``, the cumulative ``seconds`` and the number of loss+gradient
    ``evaluations`` so far. ``settings``: every setting used (a flat dict).
    ``stop_reason``: one of :data:`STOP_REASONS`; ``message``: the same in a sentence.
    """

    image: np.ndarray
    history: List[Dict[str, float]]
    settings: Dict[str, Any]
    best_loss: float
    stop_reason: str = "finished"
    message: str = ""
    seconds: float = 0.0
    evaluations: int = 0

    @property
    def stopped_early(self) -> bool:
        """True when the run ended before its steps for a reason other than convergence."""
        return self.stop_reason in ("stopped", "interrupted", "diverged")

    def losses(self, term: str = "total") -> np.ndarray:
        """The history of one loss term as an array (``total``, ``content``, ``style`` or ``tv``)."""
        return np.array([h[term] for h in self.history])


class _Stop(Exception):
    """Raised inside a run to end it; carries the stop reason and message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def initial_image(init, content: np.ndarray, style: np.ndarray, seed: int = 0) -> np.ndarray:
    """The start image ``[1, H, W, 3]``: the content photo, the photo recoloured with the
    painting's colour statistics (``"color"``), uniform noise, the style image resized to
    the content's size, or a given image."""
    shape = content.shape
    if isinstance(init, str):
        if init == "content":
            return content.copy()
        if init == "color":
            from .color import match_color

            return match_color(content, style)[np.newaxis]
        if init == "noise":
            return np.random.default_rng(seed).uniform(0.0, 1.0, size=shape).astype(np.float32)
        if init == "style":
            return resize_image(style, shape[1:3])
        raise SettingsError(f"init must be one of {', '.join(INITS)} or an image, got {init!r}")
    image = load_image(init)
    return resize_image(image, shape[1:3])


def stylize(content, style, settings: Settings | ObjectiveSettings | RunSettings | None = None, *,
            callback: Optional[Callable[[Progress], Any]] = None, **overrides: Any) -> StylizeResult:
    """Paint ``content`` in the style of ``style``; return a :class:`StylizeResult`.

    ``content`` and ``style`` are anything :func:`~nstutils.images.load_image` accepts
    (paths, URLs, course image names such as ``"tubingen"``, arrays). Settings come from
    ``settings`` (see :mod:`nstutils.settings`) and keyword overrides of any of its
    fields, e.g. ``stylize("tubingen", "the_scream", style_weight=0.1, max_dim=256)``.
    The defaults are the TensorFlow tutorial's objective, minimised with L-BFGS until the
    loss stops improving.

    ``callback(progress)`` is called after every step; returning ``True`` stops the run.
    Ctrl-C (KeyboardInterrupt) also stops it: either way the best image so far is
    returned, and ``stop_reason`` says why the run ended. A run whose loss becomes NaN
    returns the best image before that, with ``stop_reason="diverged"``. The same
    ``seed`` gives the same result.
    """
    settings = make_settings(settings, **overrides)
    run = settings.run
    content_image = load_image(content, max_dim=run.max_dim)
    style_image = load_image(style, max_dim=style_size(run))
    objective = StyleObjective(content_image, style_image, settings.objective)
    start = initial_image(run.init, content_image, style_image, run.seed)
    return run_optimizer(objective, start, run, callback=callback)


def style_size(run: RunSettings) -> int:
    """Long side at which the style image is used: ``max_dim × style_scale`` (at least 16 px)."""
    return max(16, min(MAX_DIM, round(run.max_dim * run.style_scale)))


def run_optimizer(objective: StyleObjective, start: np.ndarray, run: RunSettings | None = None,
                  callback: Optional[Callable[[Progress], Any]] = None,
                  state: Optional[Dict[str, Any]] = None, **overrides: Any) -> StylizeResult:
    """Minimise ``objective`` from ``start`` as ``run`` (a :class:`RunSettings`) says.

    ``state`` resumes an optimiser from a checkpoint (``progress.state`` of an earlier
    run): Adam continues with its moment estimates; L-BFGS and gradient descent keep no
    state worth saving and simply restart from ``start``.
    """
    run = make_settings(run or RunSettings(), **overrides).run
    runner = {"adam": _run_adam, "gd": _run_gd, "lbfgs": _run_lbfgs}[run.optimizer]
    tracker = _Tracker(run, callback)
    tracker.state = dict(state) if state else None
    reason, message = "finished", ""
    try:
        outcome = runner(objective, np.asarray(start, np.float32), run, tracker)
        if outcome is not None:
            reason, message = outcome
    except KeyboardInterrupt:
        reason, message = "interrupted", "interrupted (Ctrl-C)"
    except _Stop as stop:
        reason, message = stop.reason, stop.message
    if tracker.best_image is None:  # interrupted before the first evaluation finished
        tracker.best_image, tracker.best_loss = np.asarray(start, np.float32)[0], math.inf
    steps = len(tracker.history)
    if reason == "finished":
        message = f"finished: {steps} {run.optimizer} steps"
    message = f"{message} ({tracker.evaluations} evaluations, best loss {tracker.best_loss:.4g})"
    (log.warning if reason == "diverged" else log.info)("stylize: %s", message)
    settings = Settings(objective.settings, run).to_dict()
    return StylizeResult(
        image=tracker.best_image, history=tracker.history, settings=settings, best_loss=tracker.best_loss,
        stop_reason=reason, message=message, seconds=time.perf_counter() - tracker.start,
        evaluations=tracker.evaluations,
    )


class _Tracker:
    """Keeps the history and the best image, asks the callback whether to go on, and
    ends an adaptive run once the loss stops improving."""

    def __init__(self, run: RunSettings, callback):
        self.run = run
        self.steps = run.step_limit
        self.callback = callback
        self.history: List[Dict[str, float]] = []
        self.best_image: Optional[np.ndarray] = None
        self.best_loss = math.inf
        self.best_by_step: List[float] = []
        self.evaluations = 0
        self.state: Optional[Dict[str, Any]] = None
        self.start = time.perf_counter()

    def evaluated(self, image: np.ndarray, losses: Dict[str, float]) -> None:
        """Record one loss evaluation of ``image`` (``[1, H, W, 3]``)."""
        self.evaluations += 1
        if not math.isfinite(losses["total"]):
            raise _Stop("diverged", f"diverged: the loss became {losses['total']} at evaluation "
                        f"{self.evaluations}; kept the best image before that. Lower the style/content "
                        "weights or the learning rate")
        if losses["total"] < self.best_loss:
            self.best_loss = losses["total"]
            self.best_image = np.array(image[0], dtype=np.float32)

    def step_done(self, losses: Dict[str, float], image: np.ndarray) -> None:
        entry = dict(losses)
        entry["seconds"] = time.perf_counter() - self.start
        entry["evaluations"] = self.evaluations
        self.history.append(entry)
        self.best_by_step.append(self.best_loss)
        step = len(self.history)
        window = self.run.stop_window
        improvement = window_improvement(self.best_by_step, window)
        if self.callback is not None:
            progress = Progress(step=step, steps=self.steps, losses=dict(losses), seconds=entry["seconds"],
                                image=image[0], best_loss=self.best_loss, evaluations=self.evaluations,
                                state=self.state, improvement=improvement)
            if self.callback(progress) is True:
                raise _Stop("stopped", f"stopped by the caller after {step} steps")
        if self.run.adaptive and improvement is not None:
            if improvement <= self.run.stop_tolerance:
                raise _Stop("converged", f"converged: the best loss fell by less than "
                            f"{self.run.stop_tolerance:.2%} over the last {window} steps, at step {step}")

    def restart_best(self) -> None:
        """Forget the best loss so far (the losses that follow are on another scale); keep the image
        in case nothing better comes."""
        self.best_loss = math.inf
        self.best_by_step = [math.inf] * len(self.best_by_step)


def adam_update(image: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int,
                learning_rate: float = 0.02) -> np.ndarray:
    """Step ``t`` (from 1) of Adam exactly as Keras computes it with the tutorial's beta_1 0.99,
    beta_2 0.999 and epsilon 0.1, then a clip to [0, 1]; updates the moments ``m`` and ``v`` in
    place and returns the new image (float32). Written out in ``05_full_transfer``."""
    beta_1, beta_2, epsilon = 0.99, 0.999, 0.1
    m += (grad - m) * (1 - beta_1)
    v += (np.square(grad) - v) * (1 - beta_2)
    alpha = learning_rate * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return np.clip(image - alpha * m / (np.sqrt(v) + epsilon), 0.0, 1.0).astype(np.float32)


def _run_adam(objective: StyleObjective, start: np.ndarray, run: RunSettings, tracker: _Tracker):
    """Adam exactly as Keras computes it, then clip to [0, 1] (the tutorial's loop)."""
    image = start.copy()
    resumed = tracker.state or {}
    m = np.array(resumed.get("m", np.zeros_like(image)), np.float32)
    v = np.array(resumed.get("v", np.zeros_like(image)), np.float32)
    done = int(resumed.get("t", 0))
    if m.shape != image.shape or v.shape != image.shape:
        raise SettingsError("the saved Adam state does not match the image size; start a new run")
    for t in range(done + 1, done + tracker.steps + 1):
        losses, grad = objective.value_and_gradient(image)
        tracker.evaluated(image, losses)
        image = adam_update(image, grad, m, v, t, run.learning_rate)
        tracker.state = {"m": m, "v": v, "t": t}
        tracker.step_done(losses, image)
    tracker.evaluated(image, objective(image))  # the last step's image has not been scored yet


def _run_gd(objective: StyleObjective, start: np.ndarray, run: RunSettings, tracker: _Tracker):
    """Normalised gradient descent: each step moves ``learning_rate`` in pixel units.

    The gradient is divided by its mean absolute value so that ``learning_rate`` is a
    step in pixel units whatever the loss scale; then the image is clipped to [0, 1].
    """
    image = start.copy()
    for _ in range(tracker.steps):
        losses, grad = objective.value_and_gradient(image)
        tracker.evaluated(image, losses)
        scale = float(np.mean(np.abs(grad))) or 1.0
        image = np.clip(image - run.learning_rate * grad / scale, 0.0, 1.0).astype(np.float32)
        tracker.step_done(losses, image)
    tracker.evaluated(image, objective(image))  # the last step's image has not been scored yet


def _run_lbfgs(objective: StyleObjective, start: np.ndarray, run: RunSettings, tracker: _Tracker):
    """L-BFGS with the pixel bounds [0, 1]; one step is one L-BFGS iteration.

    See :mod:`nstutils.lbfgs`: a stall restarts the memory from the best point instead of
    ending the run. With bfloat16 convolutions the loss is slightly biased and noisy, so
    once L-BFGS stalls on it the run goes on with the float32 objective
    (:meth:`StyleObjective.exact`) from the best point: fast steps while they are large,
    exact ones at the end. The best image is then judged in float32 only.
    """
    from .lbfgs import minimize_lbfgs

    last: Dict[str, Any] = {}

    def evaluate(x, exact: bool = False):
        if exact and not last.get("switched"):
            # The float32 objective is built on first use (most runs stop before they stall; it
            # costs a forward pass over both images), and bfloat16 losses read low, so from here
            # the best image is compared with float32 losses only.
            last["switched"] = True
            tracker.restart_best()
        losses, grad = (objective.exact() if exact else objective).value_and_gradient(x)
        tracker.evaluated(x, losses)
        last["losses"], last["image"] = losses, x
        return losses["total"], grad

    fallback = functools.partial(evaluate, exact=True) if objective.settings.compute_dtype != "float32" else None

    def on_iteration(step, x, loss):
        tracker.step_done(last["losses"], last["image"])

    outcome = minimize_lbfgs(evaluate, start, max_steps=tracker.steps, callback=on_iteration,
                             fallback=fallback)
    if outcome.stop_reason == "finished":
        return None
    return outcome.stop_reason, outcome.message.split(";")[0]  # run_optimizer adds the counts
