"""Checks of ``05_full_transfer``: total variation, the total loss, one Adam step."""

from __future__ import annotations

import itertools

import numpy as np

from .core import (Case, CheckError, as_array, call_learner, close_to, constant, load_tf, report_ok, require_callable,
                   name_the_mistake, same_number, seeded_rng)
from .diagnose import shape_text
from .runner import LOST, hint_for, run_cases


def _tv_parts(image: np.ndarray):
    x = image.astype(np.float64)
    return x[:, 1:, :, :] - x[:, :-1, :, :], x[:, :, 1:, :] - x[:, :, :-1, :]


def _tv_check(name: str, fn, images, kind: str, mistakes, hints=()) -> None:
    """Grade a total variation ``fn`` of ``kind`` ("l1" or "l2") on ``(label, image)`` pairs, against
    :func:`nstutils.losses.total_variation_loss`; ``mistakes(dy, dx)`` lists the known wrong values."""
    from nstutils.losses import total_variation_loss

    def reference(image):
        return total_variation_loss(image, kind)

    cases = [Case(label, (constant(image),), reference(image).numpy(), mistakes(*_tv_parts(image)), list(hints),
                  reference=reference) for label, image in images]
    run_cases(name, fn, cases, "loss", hint=_tv_shapes_hint, gradient_args=(0,))


_tv_shapes_hint = hint_for((("ncompatible shapes", "broadcast"),
                            "the vertical differences dy [1, H−1, W, 3] and the horizontal ones dx [1, H, W−1, 3] "
                            "have different shapes, so they cannot be added or multiplied entry by entry: reduce "
                            "each to one number first (tf.reduce_sum(...) of each), then add the two sums."))


def total_variation_loss(fn) -> None:
    """Check ``total_variation_loss(image) -> scalar``: ``Σ|dx| + Σ|dy|`` of a ``[1, H, W, 3]`` image.

    ``dx``/``dy`` are the differences between horizontal/vertical neighbours, summed over
    the whole image and all channels (``tf.image.total_variation``).
    """
    checker = np.indices((3, 4)).sum(axis=0) % 2
    hand = np.repeat(checker[None, :, :, None], 3, axis=3).astype(np.float32) * np.array([1, 0.5, 0.25], np.float32)
    images = [("a 3×4 checkerboard (hand-worked: 17 neighbour pairs, channel contrasts 1, 0.5, 0.25)", hand),
              ("a random 5×7 image", seeded_rng(80).random((1, 5, 7, 3), np.float32)),
              ("a constant image (the loss must be 0)", np.full((1, 4, 4, 3), 0.3, np.float32)),
              ("a random 2×9 image", seeded_rng(81).random((1, 2, 9, 3), np.float32))]

    def mistakes(dy, dx):
        return [("you squared the differences (that is the L2 total variation): use their absolute values, "
                 "Σ|dx| + Σ|dy|.", np.sum(dx ** 2) + np.sum(dy ** 2)),
                ("you averaged the differences: total variation is a sum, use tf.reduce_sum.",
                 np.mean(np.abs(dx)) + np.mean(np.abs(dy))),
                ("you averaged the differences: total variation is a sum, use tf.reduce_sum.",
                 np.mean(np.abs(np.concatenate([dx.ravel(), dy.ravel()])))),
                ("you only summed the horizontal differences (along the width): add the vertical ones.",
                 np.sum(np.abs(dx))),
                ("you only summed the vertical differences (along the height): add the horizontal ones.",
                 np.sum(np.abs(dy))),
                ("you forgot the absolute value: without it, the differences cancel out along each row.",
                 np.sum(dx) + np.sum(dy)),
                ("you took the square root of the sum of squares: use Σ|dx| + Σ|dy|.",
                 np.sqrt(np.sum(dx ** 2) + np.sum(dy ** 2)))]

    per_channel = "you returned one value per channel: sum over the channels too."
    _tv_check("total_variation_loss", fn, images, "l1", mistakes, hints=[((3,), per_channel), ((1, 3), per_channel)])


def total_variation_l2(fn) -> None:
    """Exercise check for ``total_variation_l2(image) -> scalar``: ``Σdx² + Σdy²``.

    The squared (L2) total variation of a ``[1, H, W, 3]`` image, to compare with the
    absolute (L1) one: squares punish large jumps (edges) much more than small noise.
    """
    images = [("a random 5×7 image", seeded_rng(90).random((1, 5, 7, 3), np.float32)),
              ("a 4×4 image with one sharp edge", np.concatenate([np.zeros((1, 4, 2, 3)), np.ones((1, 4, 2, 3))],
                                                                 axis=2).astype(np.float32)),
              ("a random 3×2 image", seeded_rng(91).random((1, 3, 2, 3), np.float32))]

    def mistakes(dy, dx):
        return [("that is the L1 total variation (absolute values): square the differences instead.",
                 np.sum(np.abs(dx)) + np.sum(np.abs(dy))),
                ("you averaged the squared differences: sum them (tf.reduce_sum).",
                 np.mean(dx ** 2) + np.mean(dy ** 2)),
                ("you only used horizontal differences: add the vertical ones.", np.sum(dx ** 2)),
                ("you only used vertical differences: add the horizontal ones.", np.sum(dy ** 2)),
                ("no square root: the L2 total variation here is Σdx² + Σdy².",
                 np.sqrt(np.sum(dx ** 2) + np.sum(dy ** 2))),
                ("square each difference, not the sums.", np.sum(dx) ** 2 + np.sum(dy) ** 2)]

    _tv_check("total_variation_l2", fn, images, "l2", mistakes)


def total_loss(fn) -> None:
    """Check ``total_loss(content, style, tv, content_weight, style_weight, tv_weight) -> scalar``.

    The three loss values (numbers or scalar tensors) weighted and added:
    ``content_weight·content + style_weight·style + tv_weight·tv``; with tensor losses the
    result must be a tensor whose gradient reaches all three.
    """
    tf = load_tf()
    inputs = [((2e-3, 3e3, 0.5), (1e4, 1e-2, 30.0), "floats"),
              ((0.7, 1.9e3, 41.0), (3.0, 0.5, 0.01), "scalar tensors"),
              ((1.0, 2.0, 0.0), (10.0, 100.0, 7.0), "floats")]
    names = ("content_weight", "style_weight", "tv_weight")
    terms = ("content", "style", "tv")
    cases = []
    for losses, weights, kind in inputs:
        expected = sum(w * l for w, l in zip(weights, losses))
        variants = []
        for perm in itertools.permutations(range(3)):
            if perm == (0, 1, 2):
                continue
            moved = [f"{names[perm[i]]} on {terms[i]}" for i in range(3) if perm[i] != i]
            variants.append((f"weights swapped: you used {', '.join(moved)}; each loss takes its own weight.",
                             sum(weights[perm[i]] * losses[i] for i in range(3))))
        for i in range(3):
            variants.append((f"you forgot {names[i]}: multiply {terms[i]} by it.",
                             expected - weights[i] * losses[i] + losses[i]))
            variants.append((f"you left out the {terms[i]} term: add {names[i]}·{terms[i]}.",
                             expected - weights[i] * losses[i]))
        variants.append(("you averaged the three weighted terms: add them.", expected / 3))
        args = (losses + weights if kind == "floats" else
                tuple(tf.constant(v, tf.float32) for v in losses) + weights)
        label = (f"content={losses[0]:g}, style={losses[1]:g}, tv={losses[2]:g} ({kind}) with weights "
                 f"{weights[0]:g}, {weights[1]:g}, {weights[2]:g}")
        cases.append(Case(label, args, expected, variants))
    run_cases("total_loss", fn, cases, "total loss", gradient_args=(0, 1, 2))


def _quadratic_problem(seed: int):
    tf = load_tf()
    rng = seeded_rng(seed)
    start = rng.uniform(0.2, 0.8, (1, 3, 4, 3)).astype(np.float32)
    target = rng.uniform(0.0, 1.0, (1, 3, 4, 3)).astype(np.float32)
    start[0, 0, :2, 0], target[0, 0, :2, 0] = 0.03, -1.0        # pushed below 0: clipping matters
    start[0, 2, 3, 1], target[0, 2, 3, 1] = 0.97, 2.0           # pushed above 1
    coeff = tf.constant(rng.uniform(0.5, 2.0, start.shape).astype(np.float32))
    target_t = tf.constant(target)

    def loss_fn(image):
        return tf.reduce_sum(coeff * tf.square(image - target_t))

    return start, loss_fn


def adam_step(fn) -> None:
    """Check ``adam_step(image, loss_fn, optimizer) -> loss``: one step of gradient descent with Adam.

    ``image`` is a ``tf.Variable [1, H, W, 3]``, ``loss_fn(image)`` a scalar tensor and
    ``optimizer`` a ``tf.keras.optimizers.Adam``. Compute the loss and its gradient with
    ``tf.GradientTape``, ``optimizer.apply_gradients([(grad, image)])``, then keep the image
    valid with ``image.assign(tf.clip_by_value(image, 0.0, 1.0))``; return the loss computed
    *before* the step. The check runs three steps on a small quadratic loss against the same
    steps done by the reference on a copy with an identical optimizer.
    """
    tf = load_tf()
    name = "adam_step"
    require_callable(name, fn)
    start, loss_fn = _quadratic_problem(100)
    mine, ref = tf.Variable(start), tf.Variable(start)
    settings = dict(learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    opt_mine, opt_ref = tf.keras.optimizers.Adam(**settings), tf.keras.optimizers.Adam(**settings)
    steps = 3
    for step in range(1, steps + 1):
        label = f"step {step} of a small quadratic loss"
        before = ref.numpy().copy()
        with tf.GradientTape() as tape:
            ref_loss = loss_fn(ref)
        opt_ref.apply_gradients([(tape.gradient(ref_loss, ref), ref)])
        unclipped = ref.numpy().copy()
        ref.assign(tf.clip_by_value(ref, 0.0, 1.0))
        returned = call_learner(name, fn, label, mine, loss_fn, opt_mine, hint=_adam_hint)
        if not isinstance(mine, tf.Variable):  # pragma: no cover - the learner cannot rebind our variable
            raise CheckError(f"{name}: the image must stay a tf.Variable")
        _adam_image_verdict(name, label, mine.numpy(), before, unclipped, ref.numpy())
        _adam_loss_verdict(name, label, returned, float(ref_loss), float(loss_fn(ref)))
    report_ok(name, steps, " (Adam steps)")


_adam_hint = hint_for(
    (("No gradients provided", "NoneType", "None values not supported"),
     "The gradient was None: the loss was computed outside the tape's sight (loss_fn(image.numpy()), a numpy copy "
     "of the image, or the loss computed outside `with tf.GradientTape() as tape:`) — " + LOST),
    (("has no attribute 'assign'", "does not support item assignment"),
     "The image must stay the tf.Variable you were given: update it with optimizer.apply_gradients and "
     "image.assign(...), never replace it by a numpy array."))


def _adam_image_verdict(name: str, label: str, got, before, unclipped, expected) -> None:
    """Raise a CheckError naming how the learner's image after the step differs from the reference's."""
    if np.allclose(got, before, rtol=0, atol=1e-7):
        raise CheckError(f"{name}: on {label} the image did not change — did you forget "
                         f"optimizer.apply_gradients([(grad, image)])? Computing the gradient is not enough: "
                         f"the optimizer must apply it to the variable.")
    delta_ref, delta_got = expected - before, got - before
    if float(np.sum(delta_ref * delta_got)) < 0:
        raise CheckError(f"{name}: on {label} the image moved uphill (the loss went up): pass the gradient "
                         f"itself to apply_gradients, not its negative — the optimizer already subtracts "
                         f"it (learning_rate × Adam's normalised gradient).")
    if got.min() < -1e-6 or got.max() > 1 + 1e-6:
        near = " (it matches the step before clipping)" if close_to(got, unclipped) else ""
        raise CheckError(f"{name}: on {label} the image has values outside [0, 1] (from {got.min():.3g} to "
                         f"{got.max():.3g}){near}: after the step, clip it in place with "
                         f"image.assign(tf.clip_by_value(image, 0.0, 1.0)).")
    if not close_to(got, expected, 1e-3):
        raise CheckError(f"{name}: on {label} the image differs from a reference Adam step (largest "
                         f"difference {float(np.abs(got - expected).max()):.3g}): take the gradient of "
                         f"loss_fn(image) with respect to image with tf.GradientTape, apply it with the "
                         f"optimizer you were given (not a new one: Adam keeps running averages), then clip.")


def _adam_loss_verdict(name: str, label: str, returned, ref_loss: float, after: float) -> None:
    """Raise a CheckError unless the learner returned the loss before the step (``ref_loss``)."""
    value = as_array(name, returned, label)
    if value.size != 1:
        raise CheckError(f"{name}: on {label} returned an array of shape {shape_text(value.shape)}; return the "
                         f"loss, a single number.")
    value = float(value.reshape(()))
    if same_number(value, ref_loss):
        return
    name_the_mistake(name, label, value, [(after, f"you returned the loss after the step ({value:.6g}); return "
                                                  f"the loss computed inside the GradientTape, before the step "
                                                  f"({ref_loss:.6g}).")],
                     f"returned {value:.6g}, expected the loss before the step, {ref_loss:.6g}: return the value "
                     f"of loss_fn(image) computed in the tape.")
