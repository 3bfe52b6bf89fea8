"""The one pipeline: load the images, build the objective, pick the start, run an optimiser.

:func:`stylize` is the one call most people need; it is :func:`prepare` (the images at
their sizes, the :class:`~nstutils.objective.StyleObjective`, the start image) followed by
:func:`run_optimizer` (L-BFGS, Adam or gradient descent as
:class:`~nstutils.settings.RunSettings` says, keeping the image with the lowest loss).
Every run ends for a reason it reports in ``StylizeResult.stop_reason`` (a key of
:data:`STOP_REASONS`) and ``StylizeResult.message``. With the default settings it
optimises exactly the TensorFlow tutorial's objective. Introduced in ``05_full_transfer``;
optimisers compared in ``06_optimizers``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import results
from .errors import CallbackError, SettingsError, describe_error
from .images import MAX_DIM, load_image
from .objective import StyleObjective, initial_image
from .settings import ObjectiveSettings, RunSettings, Settings, make_settings, window_improvement

log = logging.getLogger(__name__)

#: Why a run ended (``StylizeResult.stop_reason``; :func:`nstutils.lbfgs.minimize_lbfgs` uses
#: the same codes, ``converged`` there meaning repeated memory restarts brought no improvement).
STOP_REASONS = {
    "finished": "did all the steps asked",
    "converged": "the loss stopped improving",
    "stopped": "stopped by the caller (callback or Stop button)",
    "interrupted": "interrupted (Ctrl-C)",
    "diverged": "the loss became NaN or infinite",
    "evaluation_limit": "used the most loss evaluations allowed",
}


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
    #: True when the result came from the results cache (:mod:`nstutils.results`) instead of being computed
    cached: bool = False

    @property
    def stopped_early(self) -> bool:
        """True when the run ended before its steps for a reason other than convergence."""
        return self.stop_reason in ("stopped", "interrupted", "diverged")

    def losses(self, term: str = "total") -> np.ndarray:
        """The history of one loss term as an array (``total``, ``content``, ``style`` or ``tv``)."""
        return np.array([h[term] for h in self.history])


@dataclass
class Prepared:
    """Everything a run needs before its first step (:func:`prepare`).

    ``content`` ``[1, H, W, 3]`` at ``run.max_dim``; ``style`` at :func:`style_size`;
    ``objective`` built from them; ``start`` the first image; ``settings`` validated
    (``compute_dtype`` as the objective resolved it); ``run`` = ``settings.run``.
    """

    objective: StyleObjective
    start: np.ndarray
    settings: Settings
    run: RunSettings
    content: np.ndarray
    style: np.ndarray


class _Stop(Exception):
    """Raised inside a run to end it; carries the stop reason and message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class _CallbackFailed(_Stop):
    """The callback raised ``error`` after ``step``: the run stops there, and the error goes to the caller."""

    def __init__(self, error: Exception, step: int):
        super().__init__("stopped", f"stopped: the callback raised at step {step} ({describe_error(error)})")
        self.error, self.step = error, step


def style_size(run: RunSettings) -> int:
    """Long side at which the style image is used: ``max_dim × style_scale`` (at least 16 px)."""
    return max(16, min(MAX_DIM, round(run.max_dim * run.style_scale)))


def prepare(content, style, settings: Settings | ObjectiveSettings | RunSettings | None = None, *,
            force: bool = False, **overrides: Any) -> Prepared:
    """Load ``content`` at ``max_dim`` and ``style`` at :func:`style_size`, build the objective
    and the start image (``05_full_transfer``). Settings as for :func:`stylize`.

    Checked before any TensorFlow work: an image too thin for VGG19 is enlarged to
    :data:`~nstutils.images.MIN_SIDE` or refused (``ImageError``), and a run whose estimated
    peak memory exceeds what is available is refused (``SettingsError``) unless ``force``.
    """
    from .cost import check_memory
    from .images import MIN_SIDE, fit_size, resize_image, source_name

    settings = make_settings(settings, **overrides)
    run = settings.run
    content_image = load_image(content)  # as it is: the memory check needs only the size it will have
    size = fit_size(content_image.shape[1:3], run.max_dim, MIN_SIDE, source_name(content))
    check_memory(run, (1, *size, 3), force=force)
    content_image = resize_image(content_image, size)  # what load_image(content, max_dim=...) returns
    style_image = load_image(style, max_dim=style_size(run), min_side=MIN_SIDE)
    objective = StyleObjective(content_image, style_image, settings.objective)
    start = initial_image(run.init, content_image, style_image, run.seed)
    return Prepared(objective=objective, start=start, settings=Settings(objective.settings, run), run=run,
                    content=content_image, style=style_image)


def stylize(content, style, settings: Settings | ObjectiveSettings | RunSettings | None = None, *,
            callback: Optional[Callable[[Progress], Any]] = None, force: bool = False, cache: Optional[bool] = None,
            **overrides: Any) -> StylizeResult:
    """Paint ``content`` in the style of ``style``; return a :class:`StylizeResult`.

    ``content`` and ``style`` are anything :func:`~nstutils.images.load_image` accepts
    (paths, URLs, course image names such as ``"tubingen"``, arrays). Settings come from
    ``settings`` (see :mod:`nstutils.settings`) and keyword overrides of any of its
    fields, e.g. ``stylize("tubingen", "the_scream", style_weight=0.1, max_dim=256)``.
    The defaults are the TensorFlow tutorial's objective, minimised with L-BFGS until the
    loss stops improving.

    ``callback(progress)`` is called after every step; returning ``True`` stops the run.
    Ctrl-C (KeyboardInterrupt, in the callback too) also stops it: either way the best image so far is
    returned, and ``stop_reason`` says why the run ended. A callback that raises ends the run the same
    way, and the error reaches the caller as :class:`~nstutils.errors.CallbackError`: its ``result`` is
    the run so far (the best image, ``stop_reason="stopped"``), its ``__cause__`` the callback's
    exception. A run whose loss becomes NaN
    returns the best image before that, with ``stop_reason="diverged"``. The same
    ``seed`` gives the same start and, on small images, the same result; on larger ones
    TensorFlow's multi-threaded CPU sums round differently from call to call (measured at
    384 px: gradients 1e-7 apart, relative), and many L-BFGS steps can grow that into a
    small visible difference between two runs. A run that would not fit in memory is refused before it
    starts unless ``force=True``. ``cache=True`` keeps the result on disk and serves the same run from there
    next time (:mod:`nstutils.results`; None: as :func:`nstutils.results.enable` and ``NSTUTILS_RESULTS``
    say, off by default). Introduced in ``05_full_transfer``.
    """
    prepared = prepare(content, style, settings, force=force, **overrides)
    return run_optimizer(prepared.objective, prepared.start, prepared.run, callback=callback, cache=cache)


def run_optimizer(objective: StyleObjective, start: np.ndarray, run: RunSettings | None = None,
                  callback: Optional[Callable[[Progress], Any]] = None,
                  state: Optional[Dict[str, Any]] = None, *, cache: Optional[bool] = None,
                  **overrides: Any) -> StylizeResult:
    """Minimise ``objective`` from ``start`` as ``run`` (a :class:`RunSettings`) says (``06_optimizers``).

    ``state`` resumes an optimiser from a checkpoint (``progress.state`` of an earlier
    run): Adam continues with its moment estimates; L-BFGS and gradient descent keep no
    state worth saving and simply restart from ``start``. A ``callback`` that raises ends the
    run and raises :class:`~nstutils.errors.CallbackError` with the result so far (see :func:`stylize`).
    With the results cache on (``cache``, see :func:`stylize`) a run it holds is returned at once
    (``result.cached``: no step is taken, so ``callback`` is not called; pass ``cache=False`` to watch the
    steps), and a run that ended by itself is kept there.
    """
    run = make_settings(run or RunSettings(), **overrides).run
    key, kept = results.find(objective, start, run, cache) if state is None else (None, None)
    if kept is not None:
        return StylizeResult(settings=Settings(objective.settings, run).to_dict(), **kept)
    tracker = Tracker(run, callback)
    tracker.state = dict(state) if state else None
    reason, message, failed = "finished", "", None
    try:
        outcome = _RUNNERS[run.optimizer](objective, np.asarray(start, np.float32), run, tracker)
        if outcome is not None:
            reason, message = outcome
    except KeyboardInterrupt:
        reason, message = "interrupted", "interrupted (Ctrl-C)"
    except _Stop as stop:  # a callback's error too: the result is made, then handed over with it
        reason, message, failed = stop.reason, stop.message, stop
    if tracker.best_image is None:  # interrupted before the first evaluation finished
        tracker.best_image, tracker.best_loss = np.asarray(start, np.float32)[0], math.inf
    steps = len(tracker.history)
    if reason == "finished":
        message = f"finished: {steps} {run.optimizer} steps"
    message = f"{message} ({tracker.evaluations} evaluations, best loss {tracker.best_loss:.4g})"
    (log.warning if reason == "diverged" else log.info)("stylize: %s", message)
    settings = Settings(objective.settings, run).to_dict()
    result = StylizeResult(
        image=tracker.best_image, history=tracker.history, settings=settings, best_loss=tracker.best_loss,
        stop_reason=reason, message=message, seconds=time.perf_counter() - tracker.start,
        evaluations=tracker.evaluations,
    )
    if isinstance(failed, _CallbackFailed):
        raise CallbackError(f"{message}; the run ended there and this error's .result holds the best image so "
                            "far: save it, then fix the callback", result, failed.step) from failed.error
    if key and reason in results.KEPT_REASONS:
        results.keep(key, result)
    return result


class Tracker:
    """Keeps the history and the best image, asks the callback whether to go on, and
    ends an adaptive run once the loss stops improving (``05_full_transfer``)."""

    def __init__(self, run: RunSettings, callback: Optional[Callable[[Progress], Any]]):
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
        """Record one finished step; ask the callback; stop an adaptive run that stopped improving."""
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
            try:
                stop = self.callback(progress)
            except _Stop:  # (KeyboardInterrupt is no Exception: Ctrl-C in the callback still means "interrupted")
                raise
            except Exception as error:  # ends the run like a stop; run_optimizer hands the error over
                raise _CallbackFailed(error, step) from error
            if stop is True:
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


def _run_adam(objective: StyleObjective, start: np.ndarray, run: RunSettings, tracker: Tracker) -> None:
    """Adam exactly as Keras computes it, then clip to [0, 1] (the tutorial's loop, ``05_full_transfer``)."""
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


def _run_gd(objective: StyleObjective, start: np.ndarray, run: RunSettings, tracker: Tracker) -> None:
    """Normalised gradient descent: each step moves ``learning_rate`` in pixel units (``06_optimizers``).

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


class _LbfgsEvaluations:
    """What L-BFGS evaluates: the objective in its own arithmetic, then, once L-BFGS stalls on a
    bfloat16 loss, the float32 one (:meth:`StyleObjective.exact`); every evaluation goes to the tracker."""

    def __init__(self, objective: StyleObjective, tracker: Tracker):
        self.objective, self.tracker = objective, tracker
        self.on_float32 = False
        self.losses: Dict[str, float] = {}
        self.image: Optional[np.ndarray] = None

    def fast(self, x: np.ndarray):
        """Loss and gradient in the objective's own arithmetic."""
        return self._evaluate(self.objective, x)

    def float32(self, x: np.ndarray):
        """Loss and gradient in float32. The float32 objective is built on first use (most runs stop
        before they stall; it costs a forward pass over both images), and bfloat16 losses read low,
        so from here the best image is compared with float32 losses only."""
        if not self.on_float32:
            self.on_float32 = True
            self.tracker.restart_best()
        return self._evaluate(self.objective.exact(), x)

    def _evaluate(self, objective: StyleObjective, x: np.ndarray):
        losses, grad = objective.value_and_gradient(x)
        self.tracker.evaluated(x, losses)
        self.losses, self.image = losses, x
        return losses["total"], grad

    def step_done(self, step: int, x: np.ndarray, loss: float) -> None:
        """L-BFGS finished an iteration: its last evaluation is the step's."""
        self.tracker.step_done(self.losses, self.image)


def _run_lbfgs(objective: StyleObjective, start: np.ndarray, run: RunSettings, tracker: Tracker):
    """L-BFGS with the pixel bounds [0, 1]; one step is one L-BFGS iteration (``06_optimizers``).

    See :mod:`nstutils.lbfgs`: a stall restarts the memory from the best point instead of
    ending the run. With bfloat16 convolutions the loss is slightly biased and noisy, so
    once L-BFGS stalls on it the run goes on with the float32 objective
    (:meth:`StyleObjective.exact`) from the best point: fast steps while they are large,
    exact ones at the end. The best image is then judged in float32 only. An objective whose
    variable often sits on the box's edge (a spectrogram's silence, ``08_audio``) names the projected
    engine in ``lbfgs_engine`` (see :func:`nstutils.lbfgs.minimize_lbfgs`); the default is SciPy's.
    """
    from .lbfgs import minimize_lbfgs

    evaluations = _LbfgsEvaluations(objective, tracker)
    fallback = evaluations.float32 if objective.settings.compute_dtype != "float32" else None
    outcome = minimize_lbfgs(evaluations.fast, start, max_steps=tracker.steps, callback=evaluations.step_done,
                             fallback=fallback, engine=getattr(objective, "lbfgs_engine", "scipy"))
    if outcome.stop_reason == "finished":
        return None
    return outcome.stop_reason, outcome.summary  # run_optimizer adds the counts


_RUNNERS = {"adam": _run_adam, "gd": _run_gd, "lbfgs": _run_lbfgs}
