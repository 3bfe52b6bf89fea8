"""The optimisation: make an image whose VGG19 features match a photo's content and a
painting's style.

:func:`stylize` is the one call most people need. It builds a :class:`StyleObjective`
(the weighted sum of content, style and total-variation losses, see
:mod:`nstutils.losses`), starts from the content image (or noise, or the style image),
and runs Adam or L-BFGS, keeping the image with the lowest loss. With the TensorFlow
tutorial's layers and weights (the defaults) it optimises exactly that tutorial's
objective. Introduced in ``05_full_transfer``; optimisers compared in ``06_optimizers``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .config import pick
from .errors import SettingsError
from .features import (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, FeatureExtractor,
                       fast_compute_dtype, layer_names)
from .images import MAX_DIM, load_image, resize_image

OPTIMIZERS = ("adam", "lbfgs", "gd")
INITS = ("content", "noise", "style")
LOSS_TERMS = ("total", "content", "style", "tv")


def default_steps(optimizer: str = "lbfgs") -> int:
    """Steps that give a finished image: 1,000 for Adam (the tutorial), 300 for L-BFGS; few in fast mode."""
    return pick({"adam": 1000, "gd": 1000}.get(optimizer, 300), 10)


def default_size() -> int:
    """Long side in pixels: 512 normally, 128 in fast mode."""
    return pick(512, 128)


@dataclass
class StyleSettings:
    """Everything that determines a style transfer run (stored with every result)."""

    content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS
    content_weight: float = 1e4
    style_weight: float = 1e-2
    tv_weight: float = 30.0
    style_layer_weights: Optional[Sequence[float]] = None
    optimizer: str = "lbfgs"
    steps: Optional[int] = None
    max_dim: Optional[int] = None
    init: Any = "content"
    seed: int = 0
    pooling: str = "max"
    learning_rate: float = 0.02
    tv_kind: str = "l1"
    weights: str = "compact"
    compute_dtype: str = "auto"
    style_scale: float = 1.0

    def validated(self) -> "StyleSettings":
        """Return a copy with names normalised and defaults filled in; raise SettingsError on bad values."""
        s = StyleSettings(**asdict(self))
        s.content_layers = layer_names(s.content_layers)
        s.style_layers = layer_names(s.style_layers)
        if not s.content_layers and not s.style_layers:
            raise SettingsError("give at least one content or style layer")
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate"):
            value = getattr(s, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise SettingsError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise SettingsError(f"{name} must be a finite number ≥ 0, got {value}")
            setattr(s, name, float(value))
        if isinstance(s.style_scale, bool) or not isinstance(s.style_scale, (int, float)) \
                or not math.isfinite(s.style_scale) or not 0.05 <= s.style_scale <= 8:
            raise SettingsError(f"style_scale must be a number from 0.05 to 8, got {s.style_scale!r}")
        s.style_scale = float(s.style_scale)
        if s.learning_rate == 0:
            raise SettingsError("learning_rate must be > 0")
        if s.optimizer not in OPTIMIZERS:
            import difflib

            close = difflib.get_close_matches(str(s.optimizer), OPTIMIZERS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SettingsError(f"unknown optimizer {s.optimizer!r}.{hint} Choose from {', '.join(OPTIMIZERS)}")
        if s.steps is None:
            s.steps = default_steps(s.optimizer)
        if isinstance(s.steps, bool) or not isinstance(s.steps, (int, np.integer)) or s.steps < 1:
            raise SettingsError(f"steps must be a whole number ≥ 1, got {s.steps!r}")
        s.steps = int(s.steps)
        if s.max_dim is None:
            s.max_dim = default_size()
        if isinstance(s.max_dim, bool) or not isinstance(s.max_dim, (int, np.integer)) or not 16 <= s.max_dim <= MAX_DIM:
            raise SettingsError(f"size (max_dim) must be a whole number from 16 to {MAX_DIM}, got {s.max_dim!r}")
        s.max_dim = int(s.max_dim)
        if isinstance(s.init, str) and s.init not in INITS:
            raise SettingsError(f"init must be one of {', '.join(INITS)} or an image, got {s.init!r}")
        if s.pooling not in ("max", "avg"):
            raise SettingsError(f"pooling must be 'max' or 'avg', got {s.pooling!r}")
        if s.tv_kind not in ("l1", "l2"):
            raise SettingsError(f"tv_kind must be 'l1' or 'l2', got {s.tv_kind!r}")
        if s.style_layer_weights is not None:
            from .losses import _layer_weights

            weights = _layer_weights(s.style_layers, s.style_layer_weights)
            s.style_layer_weights = [weights[k] for k in s.style_layers]
        if s.compute_dtype == "auto":
            s.compute_dtype = fast_compute_dtype()
        if s.compute_dtype not in ("float32", "bfloat16"):
            raise SettingsError(f"compute_dtype must be 'auto', 'float32' or 'bfloat16', got {s.compute_dtype!r}")
        if isinstance(s.seed, bool) or not isinstance(s.seed, (int, np.integer)) or s.seed < 0:
            raise SettingsError(f"seed must be a whole number ≥ 0, got {s.seed!r}")
        return s

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        if not isinstance(self.init, str):
            data["init"] = "image"
        data["content_layers"] = list(self.content_layers)
        data["style_layers"] = list(self.style_layers)
        return data


_EXTRACTORS: Dict[tuple, FeatureExtractor] = {}


def get_extractor(layers: Sequence[str], pooling: str = "max", weights: str = "compact",
                  compute_dtype: str = "float32") -> FeatureExtractor:
    """A cached :class:`FeatureExtractor` (building one costs about a second)."""
    key = (tuple(layers), pooling, str(weights), compute_dtype)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = FeatureExtractor(list(layers), pooling=pooling, weights=weights,
                                            compute_dtype=compute_dtype)
    return _EXTRACTORS[key]


class StyleObjective:
    """The total loss of one content/style pair at one image size.

    ``objective(image)`` returns the weighted terms ``{"total", "content", "style", "tv"}``
    (``total`` is their sum) for an image ``[1, H, W, 3]`` in [0, 1];
    ``objective.value_and_gradient(image)`` also returns d total / d image. The style
    targets (Gram matrices) and content targets (feature maps) are computed once, here.
    """

    def __init__(self, content_image, style_image, settings: StyleSettings | None = None, **overrides):
        import tensorflow as tf

        from .losses import gram_matrix

        settings = (settings or StyleSettings())
        if overrides:
            settings = StyleSettings(**{**asdict(settings), **overrides})
        self.settings = settings.validated()
        s = self.settings
        self.extractor = get_extractor(s.content_layers + [l for l in s.style_layers if l not in s.content_layers],
                                       s.pooling, s.weights, s.compute_dtype)
        content = tf.constant(load_image(content_image), tf.float32)
        style = tf.constant(load_image(style_image), tf.float32)
        self.shape = tuple(content.shape)
        content_features = self.extractor(content)
        style_features = self.extractor(style)
        self.content_targets = {k: tf.constant(content_features[k]) for k in s.content_layers}
        self.style_targets = {k: tf.constant(gram_matrix(style_features[k])) for k in s.style_layers}
        self.style_layer_weights = dict(zip(s.style_layers, s.style_layer_weights)) if s.style_layer_weights \
            else None
        self._compile()

    def _compile(self) -> None:
        import tensorflow as tf

        # The targets are captured as constants when these trace, so one graph serves every step.
        spec = [tf.TensorSpec([1, None, None, 3], tf.float32)]
        self._losses_fn = tf.function(self.terms, input_signature=spec)
        self._grad_fn = tf.function(self._value_and_gradient, input_signature=spec)

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
    steps: int
    losses: Dict[str, float]
    seconds: float
    image: np.ndarray  # current image [H, W, 3] in [0, 1]
    best_loss: float
    state: Optional[Dict[str, Any]] = None  # optimiser state after this step (Adam: m, v, t), for checkpoints


@dataclass
class StylizeResult:
    """The outcome of :func:`stylize`.

    ``image``: the best image found, float32 ``[H, W, 3]`` in [0, 1].
    ``history``: one dict per step with the weighted terms ``total``, ``content``,
    ``style``, ``tv``, the cumulative ``seconds`` and the number of loss+gradient
    ``evaluations`` so far. ``settings``: the settings used. ``stopped_early``: True
    when a callback, Ctrl-C or a Stop button ended the run before ``steps``.
    """

    image: np.ndarray
    history: List[Dict[str, float]]
    settings: Dict[str, Any]
    best_loss: float
    stopped_early: bool = False
    seconds: float = 0.0

    def losses(self, term: str = "total") -> np.ndarray:
        """The history of one loss term as an array (``total``, ``content``, ``style`` or ``tv``)."""
        return np.array([h[term] for h in self.history])


class _Stop(Exception):
    pass


def initial_image(init, content: np.ndarray, style: np.ndarray, seed: int = 0) -> np.ndarray:
    """The start image ``[1, H, W, 3]``: the content photo, uniform noise, the style image
    resized to the content's size, or a given image."""
    shape = content.shape
    if isinstance(init, str):
        if init == "content":
            return content.copy()
        if init == "noise":
            return np.random.default_rng(seed).uniform(0.0, 1.0, size=shape).astype(np.float32)
        if init == "style":
            return resize_image(style, shape[1:3])
        raise SettingsError(f"init must be one of {', '.join(INITS)} or an image, got {init!r}")
    image = load_image(init)
    return resize_image(image, shape[1:3])


def stylize(content, style, *, content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
            style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS, content_weight: float = 1e4,
            style_weight: float = 1e-2, tv_weight: float = 30.0,
            style_layer_weights: Optional[Sequence[float]] = None, optimizer: str = "lbfgs",
            steps: Optional[int] = None, max_dim: Optional[int] = None, init: Any = "content",
            seed: int = 0, pooling: str = "max", learning_rate: float = 0.02, tv_kind: str = "l1",
            weights: str = "compact", compute_dtype: str = "auto", style_scale: float = 1.0,
            callback: Optional[Callable[[Progress], Any]] = None,
            ) -> StylizeResult:
    """Paint ``content`` in the style of ``style``; return a :class:`StylizeResult`.

    ``content`` and ``style`` are anything :func:`~nstutils.images.load_image` accepts
    (paths, URLs, course image names such as ``"tubingen"``, arrays). ``max_dim`` is the
    long side of the result (default 512, or 128 in fast mode); the style image is used
    at that long side times ``style_scale``. ``optimizer``: ``"lbfgs"`` (default, fastest to a given loss),
    ``"adam"`` (the tutorial's: lr 0.02, β₁ 0.99, ε 0.1, clipping to [0, 1]) or ``"gd"``
    (plain gradient descent with step ``learning_rate``). ``steps`` defaults to
    :func:`default_steps`.

    ``style_scale`` sizes the style image relative to the result: 2 uses the painting at
    twice the result's long side, so its brush strokes come out about twice as big
    (see ``07_beyond``).

    ``callback(progress)`` is called after every step; returning ``True`` stops the run.
    Ctrl-C (KeyboardInterrupt) also stops it: either way the best image so far is
    returned with ``stopped_early=True``. The same ``seed`` gives the same result.
    """
    settings = StyleSettings(
        content_layers=content_layers, style_layers=style_layers, content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, style_layer_weights=style_layer_weights,
        optimizer=optimizer, steps=steps, max_dim=max_dim, init=init, seed=seed, pooling=pooling,
        learning_rate=learning_rate, tv_kind=tv_kind, weights=weights, compute_dtype=compute_dtype,
        style_scale=style_scale,
    ).validated()
    content_image = load_image(content, max_dim=settings.max_dim)
    style_image = load_image(style, max_dim=style_size(settings))
    objective = StyleObjective(content_image, style_image, settings)
    start = initial_image(settings.init, content_image, style_image, settings.seed)
    return run_optimizer(objective, start, callback=callback)


def style_size(settings: StyleSettings) -> int:
    """Long side at which the style image is used: ``max_dim × style_scale`` (at least 16 px)."""
    return max(16, min(MAX_DIM, round(settings.max_dim * settings.style_scale)))


def run_optimizer(objective: StyleObjective, start: np.ndarray,
                  callback: Optional[Callable[[Progress], Any]] = None,
                  state: Optional[Dict[str, Any]] = None) -> StylizeResult:
    """Minimise ``objective`` from ``start`` with the optimiser its settings name.

    ``state`` resumes an optimiser from a checkpoint (``progress.state`` of an earlier
    run): Adam continues with its moment estimates; L-BFGS and gradient descent keep no
    state worth saving and simply restart from ``start``.
    """
    s = objective.settings
    runner = {"adam": _run_adam, "gd": _run_gd, "lbfgs": _run_lbfgs}[s.optimizer]
    tracker = _Tracker(s.steps, callback)
    tracker.state = dict(state) if state else None
    try:
        runner(objective, np.asarray(start, np.float32), tracker)
    except (KeyboardInterrupt, _Stop):
        tracker.stopped_early = True
    if tracker.best_image is None:  # interrupted before the first evaluation finished
        tracker.best_image, tracker.best_loss = np.asarray(start, np.float32)[0], math.inf
    return StylizeResult(
        image=tracker.best_image, history=tracker.history, settings=s.to_dict(),
        best_loss=tracker.best_loss, stopped_early=tracker.stopped_early,
        seconds=time.perf_counter() - tracker.start,
    )


class _Tracker:
    """Keeps the history, the best image, and asks the callback whether to go on."""

    def __init__(self, steps: int, callback):
        self.steps = steps
        self.callback = callback
        self.history: List[Dict[str, float]] = []
        self.best_image: Optional[np.ndarray] = None
        self.best_loss = math.inf
        self.evaluations = 0
        self.stopped_early = False
        self.state: Optional[Dict[str, Any]] = None
        self.start = time.perf_counter()

    def evaluated(self, image: np.ndarray, losses: Dict[str, float]) -> None:
        """Record one loss evaluation of ``image`` (``[1, H, W, 3]``)."""
        self.evaluations += 1
        if not math.isfinite(losses["total"]):
            raise FloatingPointError(
                f"the loss became {losses['total']} at evaluation {self.evaluations}; lower the "
                "learning rate or the weights"
            )
        if losses["total"] < self.best_loss:
            self.best_loss = losses["total"]
            self.best_image = np.array(image[0], dtype=np.float32)

    def step_done(self, losses: Dict[str, float], image: np.ndarray) -> None:
        entry = dict(losses)
        entry["seconds"] = time.perf_counter() - self.start
        entry["evaluations"] = self.evaluations
        self.history.append(entry)
        if self.callback is not None:
            progress = Progress(step=len(self.history), steps=self.steps, losses=dict(losses),
                                seconds=entry["seconds"], image=image[0], best_loss=self.best_loss,
                                state=self.state)
            if self.callback(progress) is True:
                raise _Stop()


def _run_adam(objective: StyleObjective, start: np.ndarray, tracker: _Tracker) -> None:
    """Adam exactly as Keras computes it, then clip to [0, 1] (the tutorial's loop)."""
    s = objective.settings
    beta_1, beta_2, epsilon = 0.99, 0.999, 0.1
    image = start.copy()
    resumed = tracker.state or {}
    m = np.array(resumed.get("m", np.zeros_like(image)), np.float32)
    v = np.array(resumed.get("v", np.zeros_like(image)), np.float32)
    done = int(resumed.get("t", 0))
    if m.shape != image.shape or v.shape != image.shape:
        raise SettingsError("the saved Adam state does not match the image size; start a new run")
    for t in range(done + 1, done + s.steps + 1):
        losses, grad = objective.value_and_gradient(image)
        tracker.evaluated(image, losses)
        m += (grad - m) * (1 - beta_1)
        v += (np.square(grad) - v) * (1 - beta_2)
        alpha = s.learning_rate * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        image = np.clip(image - alpha * m / (np.sqrt(v) + epsilon), 0.0, 1.0).astype(np.float32)
        tracker.state = {"m": m, "v": v, "t": t}
        tracker.step_done(losses, image)


def _run_gd(objective: StyleObjective, start: np.ndarray, tracker: _Tracker) -> None:
    """Plain gradient descent on a normalised gradient, clipped to [0, 1].

    The gradient is divided by its mean absolute value so that ``learning_rate`` is a
    step in pixel units whatever the loss scale.
    """
    s = objective.settings
    image = start.copy()
    for _ in range(s.steps):
        losses, grad = objective.value_and_gradient(image)
        tracker.evaluated(image, losses)
        scale = float(np.mean(np.abs(grad))) or 1.0
        image = np.clip(image - s.learning_rate * grad / scale, 0.0, 1.0).astype(np.float32)
        tracker.step_done(losses, image)


def _run_lbfgs(objective: StyleObjective, start: np.ndarray, tracker: _Tracker) -> None:
    """scipy's L-BFGS-B with the pixel bounds [0, 1]; one step is one L-BFGS iteration."""
    from scipy.optimize import minimize

    s = objective.settings
    shape = start.shape
    last: Dict[str, Any] = {}

    def fun(x):
        image = x.reshape(shape).astype(np.float32)
        losses, grad = objective.value_and_gradient(image)
        tracker.evaluated(image, losses)
        last["losses"], last["image"] = losses, image
        return losses["total"], grad.ravel().astype(np.float64)

    def on_iteration(*_args):
        tracker.step_done(last["losses"], last["image"])

    minimize(fun, start.ravel().astype(np.float64), jac=True, method="L-BFGS-B",
             bounds=_pixel_bounds(start.size),
             callback=on_iteration,
             options={"maxiter": s.steps, "maxfun": 2 * s.steps + 20, "maxcor": 20,
                      "ftol": 0.0, "gtol": 0.0})


def _pixel_bounds(size: int):
    from scipy.optimize import Bounds

    return Bounds(np.zeros(size), np.ones(size))
