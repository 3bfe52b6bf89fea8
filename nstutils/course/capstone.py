"""The capstone of ``05_full_transfer``: your own functions paint the picture.

The learner writes ``preprocess`` (``01_cnn_features``), ``content_loss`` (``02_content``),
``gram_matrix`` and ``style_loss`` (``03_gram_style``), ``total_variation_loss``,
``total_loss`` and ``adam_step`` (``05_full_transfer``). :class:`YourStyleTransfer` composes
them into the TensorFlow tutorial's style transfer: VGG19 features through *your*
preprocessing, *your* losses weighted by *your* total loss, and the tutorial's Adam loop made
of *your* train step. Only the network itself (the convolutions) is the engine's.

:func:`check_your_style_transfer` runs it beside ``stylize(optimizer="adam")`` with the same
settings and compares the two loss curves step by step (relative tolerance
:data:`CURVE_RTOL`); when they differ it finds the first of your functions that disagrees
with the library on the real tensors of the run, and names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..features import get_extractor
from ..images import load_image
from ..losses import content_loss, gram_matrix, style_loss, total_variation_loss
from ..objective import StyleObjective, initial_image
from ..run import adam_update, style_size, stylize
from ..settings import Settings, make_settings
from ..vgg19 import CAFFE_MEAN_BGR, preprocess
from .check import CheckError
from .check.core import GREEN, RESET

#: Largest relative difference allowed, at any step, between your loss curve and stylize's. With
#: the reference functions the two differ only by float32 round-off (eager ops against a
#: tf.function graph): at most 2.9e-5 over 6 Adam steps at 96 px, 1.0e-5 over 8 at 64 px
#: (measured), so 1e-3 leaves 30× headroom. Mistakes in the loss move step 1 by far more (RGB
#: kept in preprocess: 0.13; a summed content loss: 3e2 by step 2; a Gram without 1/M: 2e4).
#: Two mistakes stay under it over 6 steps (Adam without its clip to [0, 1]: 9.4e-4; TV as a
#: mean: 5.0e-4), so the check also compares each function with the library (relative 1e-4).
CURVE_RTOL = 1e-3

#: The tutorial's Adam (``05_full_transfer``): beta_2 and epsilon as ``nstutils.run.adam_update``.
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.99, 0.999, 0.1

#: The functions, in the order the course introduces them (and the order a diagnosis tries them).
PIECES = ("preprocess", "content_loss", "gram_matrix", "style_loss", "total_variation_loss", "total_loss",
          "adam_step")


@dataclass(frozen=True)
class YourPieces:
    """The learner's functions, each with the signature of its notebook's your-turn cell."""

    preprocess: Callable[[Any], Any]          # 01: [1, H, W, 3] RGB in [0, 1] -> Caffe input (BGR, 0-255, mean off)
    content_loss: Callable[[Any, Any], Any]   # 02: (F, P) -> mean((F − P)²)
    gram_matrix: Callable[[Any], Any]         # 03: [B, H, W, C] -> [B, C, C], divided by H·W
    style_loss: Callable[[Any, Any, Any], Any]  # 03: (features, target_grams, layer_weights) -> Σ w_l E_l
    total_variation_loss: Callable[[Any], Any]  # 05: Σ|dx| + Σ|dy|
    total_loss: Callable[..., Any]            # 05: (content, style, tv, w_c, w_s, w_tv) -> weighted sum
    adam_step: Callable[[Any, Callable, Any], Any]  # 05: (image variable, loss_fn, optimizer) -> loss before

    @classmethod
    def from_names(cls, namespace: Dict[str, Any]) -> "YourPieces":
        """Pick the functions out of a notebook's globals (``YourPieces.from_names(globals())``)."""
        missing = [name for name in PIECES if not callable(namespace.get(name))]
        if missing:
            raise CheckError(f"the capstone needs your functions {', '.join(missing)}: run the cells that define "
                             f"them first (the Bring your pieces section).")
        return cls(**{name: namespace[name] for name in PIECES})


@dataclass
class YourResult:
    """What your style transfer painted: ``image`` [H, W, 3], the loss before each step, the settings."""

    image: np.ndarray
    losses: List[float]
    settings: Settings
    content: np.ndarray = field(repr=False, default=None)


class YourStyleTransfer:
    """The tutorial's style transfer made of the learner's functions (``05_full_transfer``).

    Settings as for ``stylize`` (``max_dim``, ``steps``, weights, layers …); the run is Adam from
    the photo, in float32, with the L1 total variation your ``total_variation_loss`` computes.
    """

    def __init__(self, pieces: YourPieces, content, style, settings: Settings | None = None, **overrides: Any):
        import tensorflow as tf

        self.pieces = pieces
        base = dict(optimizer="adam", init="content", compute_dtype="float32")
        self.settings = make_settings(settings, **{**base, **overrides})
        s, run = self.settings.objective, self.settings.run
        if run.optimizer != "adam" or s.compute_dtype != "float32" or s.tv_kind != "l1" or not run.steps:
            raise CheckError("YourStyleTransfer runs the tutorial's loop: optimizer='adam', compute_dtype='float32', "
                             "tv_kind='l1' and a number of steps.")
        self.content = load_image(content, max_dim=run.max_dim)
        self.style = load_image(style, max_dim=style_size(run))
        self.start = initial_image(run.init, self.content, self.style, run.seed)
        self.extractor = get_extractor(s.content_layers + tuple(l for l in s.style_layers if l not in s.content_layers),
                                       s.pooling, s.weights, "float32")
        content_features = self.features(tf.constant(self.content))
        style_features = self.features(tf.constant(self.style))
        self.content_targets = {k: tf.constant(content_features[k]) for k in s.content_layers}
        self.style_grams = {k: pieces.gram_matrix(style_features[k]) for k in s.style_layers}
        weights = s.style_layer_weights or [1.0 / len(s.style_layers)] * len(s.style_layers)
        self.layer_weights = dict(zip(s.style_layers, weights))

    def features(self, image) -> Dict[str, Any]:
        """VGG19's feature maps of ``image``, with your ``preprocess`` making the network's input.

        The engine's network takes images in [0, 1] and applies ``nstutils.vgg19.preprocess``
        itself, so we hand it the [0, 1] RGB image that preprocesses to exactly your output:
        (yours + mean) in RGB order / 255. A mistake in your preprocess reaches the network.
        """
        caffe = self.pieces.preprocess(image)
        return self.extractor((caffe + CAFFE_MEAN_BGR)[..., ::-1] / 255.0)

    def loss(self, image):
        """Your total loss of ``image``: your terms, weighted by your ``total_loss``."""
        import tensorflow as tf

        s, p = self.settings.objective, self.pieces
        features = self.features(image)
        content = (tf.add_n([p.content_loss(features[k], self.content_targets[k]) for k in s.content_layers])
                   / len(s.content_layers)) if s.content_layers else tf.constant(0.0)
        style = (p.style_loss({k: features[k] for k in s.style_layers}, self.style_grams, self.layer_weights)
                 if s.style_layers else tf.constant(0.0))
        tv = p.total_variation_loss(image)
        return p.total_loss(content, style, tv, s.content_weight, s.style_weight, s.tv_weight)

    def paint(self, callback: Optional[Callable[[int, float], Any]] = None) -> YourResult:
        """Run the tutorial's loop with your ``adam_step``: ``steps`` steps from the start image."""
        import tensorflow as tf

        run = self.settings.run
        image = tf.Variable(self.start)
        optimizer = tf.keras.optimizers.Adam(learning_rate=run.learning_rate, beta_1=ADAM_BETA_1,
                                             beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON)
        losses = []
        for step in range(1, run.steps + 1):
            losses.append(float(self.pieces.adam_step(image, self.loss, optimizer)))
            if callback is not None:
                callback(step, losses[-1])
        return YourResult(np.asarray(image.numpy()[0], np.float32), losses, self.settings, self.content)


def curve_difference(yours: List[float], reference: List[float]) -> np.ndarray:
    """Relative difference of two loss curves at each step, |yours − reference| / |reference|."""
    yours, reference = np.asarray(yours, np.float64), np.asarray(reference, np.float64)
    if yours.shape != reference.shape:
        raise CheckError(f"your loop took {yours.size} steps, stylize {reference.size}: call adam_step once per step.")
    return np.abs(yours - reference) / np.maximum(np.abs(reference), 1e-30)


def check_your_style_transfer(pieces: YourPieces, content="tubingen", style="starry_night", max_dim: int = 96,
                              steps: int = 6, rtol: float = CURVE_RTOL) -> np.ndarray:
    """The capstone's graded check: your style transfer's loss curve equals ``stylize(optimizer="adam")``'s.

    Prints one green line and returns the relative differences per step, or raises
    :class:`~nstutils.course.check.CheckError` naming the first of your functions that
    disagrees with the library (``05_full_transfer``).
    """
    try:
        transfer = YourStyleTransfer(pieces, content, style, max_dim=max_dim, steps=steps)
        yours = transfer.paint()
    except NotImplementedError:
        raise CheckError("one of your functions is not implemented yet: run the Bring your pieces cell with your "
                         "code in it, then this check again.") from None
    except Exception as exc:
        raise CheckError(diagnose(pieces, content, style, max_dim) or f"your style transfer raised "
                         f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc
    reference = stylize(content, style, yours.settings)   # the same settings: Adam, float32, from the photo
    difference = curve_difference(yours.losses, reference.losses("total"))
    problem = diagnose(pieces, content, style, max_dim)   # small mistakes hide in a 6-step curve: test each piece
    if not np.all(difference <= rtol):
        step = int(np.argmax(~(difference <= rtol)))
        raise CheckError(f"your style transfer's loss curve leaves stylize's at step {step + 1} of {steps}: yours "
                         f"{yours.losses[step]:.6g}, stylize {reference.losses('total')[step]:.6g} (relative "
                         f"difference {difference[step]:.2g} > {rtol:g}). " + (problem or "Each of your functions "
                         "agrees with the library on this run's tensors, so look at how the loop calls them."))
    if problem:
        raise CheckError(f"your loss curve stays within {rtol:g} of stylize's for {steps} steps, but {problem}")
    print(f"{GREEN}✔ your style transfer: the same loss curve as stylize(optimizer=\"adam\") over {steps} steps at "
          f"{max_dim} px (largest relative difference {difference.max():.1e}, tolerance {rtol:g}){RESET}")
    return difference


# --- which of your functions differs ------------------------------------------------------------


def _disagreement(name: str, got, expected, on: str, in_gradient: bool = True) -> Optional[str]:
    """Why ``got`` (your ``name`` on ``on``) is not ``expected``, or None when they agree."""
    import tensorflow as tf

    if in_gradient and not isinstance(got, (tf.Tensor, tf.Variable)):
        return (f"your {name} returned a {type(got).__name__} on {on}, not a TensorFlow tensor: the gradient "
                f"cannot flow back through numpy, so adam_step gets no gradient. Use tf operations "
                f"(tf.reduce_sum, tf.square, …) instead of np ones.")
    got_a, expected_a = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got_a.shape != expected_a.shape:
        return f"your {name} gives shape {list(got_a.shape)} on {on}, the library {list(expected_a.shape)}."
    scale = max(float(np.abs(expected_a).max()), 1e-12)
    if np.abs(got_a - expected_a).max() > 1e-4 * scale:
        return (f"your {name} disagrees with the library on {on} (largest difference "
                f"{np.abs(got_a - expected_a).max():.3g}, values up to {scale:.3g}): run check.{name}({name}) "
                f"again and fix what it says.")
    return None


def _loss_pieces(pieces: YourPieces, photo: np.ndarray, objective: StyleObjective) -> Optional[str]:
    """The first loss function of yours that disagrees with the library on this run's tensors."""
    import tensorflow as tf

    s = objective.settings
    image = tf.constant(np.clip(photo + np.random.default_rng(0).normal(0, 0.05, photo.shape), 0, 1), tf.float32)
    features = objective.extractor(image)
    layer = s.style_layers[0]
    weights = {k: 1.0 / len(s.style_layers) for k in s.style_layers}
    style_features = {k: features[k] for k in s.style_layers}
    checks = [
        ("preprocess", lambda: pieces.preprocess(image), lambda: preprocess(image), "the photo"),
        ("content_loss", lambda: pieces.content_loss(features[s.content_layers[0]],
                                                     objective.content_targets[s.content_layers[0]]),
         lambda: content_loss(features[s.content_layers[0]], objective.content_targets[s.content_layers[0]]),
         f"a noisy photo's {s.content_layers[0]} features"),
        ("gram_matrix", lambda: pieces.gram_matrix(features[layer]), lambda: gram_matrix(features[layer]),
         f"the {layer} features"),
        ("style_loss", lambda: pieces.style_loss(style_features, objective.style_targets, weights),
         lambda: style_loss(style_features, objective.style_targets, weights), "the style layers' features"),
        ("total_variation_loss", lambda: pieces.total_variation_loss(image),
         lambda: total_variation_loss(image), "a noisy photo"),
        ("total_loss", lambda: pieces.total_loss(tf.constant(2e-3), tf.constant(3e3), tf.constant(0.5), 1e4, 1e-2,
                                                 30.0), lambda: 65.0, "content 2e-3, style 3e3, tv 0.5"),
    ]
    for name, yours, library, on in checks:
        try:
            got = yours()
        except Exception as exc:  # the learner's bug: name it
            return f"your {name} raised {type(exc).__name__} on {on}: {' '.join(str(exc).split())[:200]}"
        problem = _disagreement(name, got, library(), on)
        if problem:
            return problem
    return None


def _adam_step_problem(adam_step: Callable) -> Optional[str]:
    """Why your ``adam_step`` is not the tutorial's step (two steps on a small quadratic), or None."""
    import tensorflow as tf

    target = np.linspace(-0.5, 1.5, 12, dtype=np.float32).reshape(1, 2, 2, 3)
    start = np.where(target > 0.5, 0.95, 0.05).astype(np.float32)   # one step of 0.1 crosses a bound
    image = tf.Variable(start)
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.1, beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2,
                                         epsilon=ADAM_EPSILON)
    loss_fn = lambda x: tf.reduce_sum(tf.square(x - target))
    expected, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t in (1, 2):
        before = float(np.sum(np.square(expected - target)))
        try:
            returned = float(adam_step(image, loss_fn, optimizer))
        except Exception as exc:  # the learner's bug: name it
            return f"your adam_step raised {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        expected = adam_update(expected, 2 * (expected - target), m, v, t, 0.1)
        if not np.isclose(returned, before, rtol=1e-4):
            after = float(np.sum(np.square(image.numpy() - target)))
            what = " (that is the loss after the step)" if np.isclose(returned, after, rtol=1e-4) else ""
            return (f"your adam_step returned {returned:.6g} at step {t}, not the loss before the step, "
                    f"{before:.6g}{what}: compute the loss inside the tape and return it.")
        if not np.allclose(image.numpy(), expected, atol=1e-5):
            clip = " Pixels left [0, 1]: clip them after the step." if image.numpy().max() > 1 or \
                image.numpy().min() < 0 else ""
            return (f"your adam_step moved the image differently from the tutorial's Adam step at step {t} (largest "
                    f"difference {np.abs(image.numpy() - expected).max():.3g}).{clip} Run check.adam_step(adam_step).")
    return None


def diagnose(pieces: YourPieces, content="tubingen", style="starry_night", max_dim: int = 96) -> Optional[str]:
    """The first of your functions that disagrees with the library on this run's tensors, in a sentence."""
    photo = load_image(content, max_dim=max_dim)
    objective = StyleObjective(photo, load_image(style, max_dim=max_dim), compute_dtype="float32")
    return _loss_pieces(pieces, photo, objective) or _adam_step_problem(pieces.adam_step)


# --- reconstructions with your losses (02_content, 03_gram_style) --------------------------------


@dataclass
class Reconstruction:
    """An image found from noise by L-BFGS: ``image`` [H, W, 3]; ``losses``: at the start, then after each step."""

    image: np.ndarray
    losses: List[float]


def reconstruct_with(loss: Callable[[Dict[str, Any]], Any], layers, like: np.ndarray, steps: int = 200,
                     seed: int = 0) -> Reconstruction:
    """Start from uniform noise shaped ``like`` and minimise ``loss(features)`` with L-BFGS (``02_content``).

    ``features`` are the noise image's VGG19 feature maps ``{Keras layer name: [1, h, w, c]}`` at
    ``layers``, in the TensorFlow tutorial's network (max pooling, Keras' weights); ``loss``
    is yours, e.g. ``lambda f: content_loss_layers(f, targets)``. Pixels stay in [0, 1].
    """
    import tensorflow as tf

    from ..lbfgs import minimize_lbfgs

    extractor = get_extractor(tuple(layers), "max", "compact", "float32")
    start = initial_image("noise", np.asarray(like, np.float32).reshape((1,) + np.shape(like)[-3:]), None, seed)

    def value_and_gradient(x: np.ndarray):
        image = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(image)
            value = loss(extractor(image))
        gradient = tape.gradient(value, image) if isinstance(value, (tf.Tensor, tf.Variable)) else None
        if gradient is None:
            raise CheckError(f"your loss returned a {type(value).__name__} with no gradient to the pixels: build it "
                             f"from tf operations on the features it is given (numpy drops the gradient).")
        return float(value), gradient.numpy()

    losses = [value_and_gradient(start)[0]]
    outcome = minimize_lbfgs(value_and_gradient, start, max_steps=steps,
                             callback=lambda step, x, value: losses.append(float(value)))
    return Reconstruction(np.asarray(outcome.x, np.float32).reshape(start.shape)[0], losses)
