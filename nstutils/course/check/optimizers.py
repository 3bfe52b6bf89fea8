"""Checks of ``06_optimizers``: the bridge to ``scipy.optimize``, a gradient-descent step, Adam's first step."""

from __future__ import annotations


from typing import Tuple

import numpy as np

from .core import (Case, CheckError, call_learner, close_to, load_tf, report_ok, require_callable, same_number,
                   name_the_mistake, seeded_rng)
from .diagnose import shape_text
from .runner import run_cases


def value_and_grad_for(shape, seed: int):
    tf = load_tf()
    rng = seeded_rng(seed)
    coeff = tf.constant(np.linspace(0.5, 3.0, int(np.prod(shape))).reshape(shape).astype(np.float32))
    target = tf.constant(rng.random(shape).astype(np.float32))

    def value_and_grad(image):
        if isinstance(image, np.ndarray) and image.dtype != np.float32:
            raise CheckError("scipy_objective: value_and_grad expects a float32 image, got a float64 numpy "
                             "array: convert with tf.constant(x.reshape(shape), tf.float32) (or "
                             ".astype(np.float32)).")
        if hasattr(image, "dtype") and getattr(image.dtype, "name", "") == "float64":
            raise CheckError("scipy_objective: value_and_grad expects a float32 image, got float64: convert "
                             "with tf.constant(x.reshape(shape), tf.float32).")
        image = tf.convert_to_tensor(image, tf.float32)
        if tuple(image.shape) != tuple(shape):
            raise CheckError(f"scipy_objective: value_and_grad expects an image of shape {shape_text(shape)}, got "
                             f"{shape_text(image.shape)}: reshape x with x.reshape(shape).")
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = tf.reduce_sum(coeff * tf.square(image - target) * (1.0 + image))
        return loss, tape.gradient(loss, image)

    return value_and_grad


def scipy_objective(fn) -> None:
    """Check ``scipy_objective(x, value_and_grad, shape) -> (loss, gradient)``: the bridge to scipy.

    ``scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B")`` calls ``fun(x)`` with
    a float64 1-D numpy ``x`` and expects ``(a float, a float64 1-D gradient)``. Reshape
    ``x`` to ``shape`` (``(1, H, W, 3)``), convert it to a float32 tensor, call
    ``value_and_grad(image)`` (it returns the loss and gradient tensors), and return
    ``float(loss)`` and ``grad.numpy().astype(np.float64).ravel()``.
    """
    tf = load_tf()
    name = "scipy_objective"
    require_callable(name, fn)
    count = 0
    for shape, seed in (((1, 2, 3, 3), 110), ((1, 4, 2, 3), 111), ((1, 1, 5, 3), 112)):
        label = f"x of {int(np.prod(shape))} numbers with shape {shape}"
        x = seeded_rng(seed).random(int(np.prod(shape)))
        value_and_grad = value_and_grad_for(shape, seed)
        loss, grad = value_and_grad(tf.constant(x.reshape(shape), tf.float32))
        f_loss, f_grad = value_and_grad(tf.constant(x.reshape(shape, order="F"), tf.float32))
        result = call_learner(name, fn, label, x.copy(), value_and_grad, shape)
        value, got_grad = _scipy_types(name, label, result)
        reference = (float(loss), grad.numpy().astype(np.float64), float(f_loss), f_grad.numpy().astype(np.float64))
        _scipy_values(name, label, value, got_grad, *reference)
        count += 1
    report_ok(name, count)


def _scipy_types(name: str, label: str, result) -> Tuple[float, np.ndarray]:
    """``(loss, gradient)`` from the learner's result, or a CheckError naming the wrong type or shape."""
    tf = load_tf()
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckError(f"{name}: on {label} returned {type(result).__name__}; return a pair "
                         f"(loss, gradient), e.g. `return float(loss), grad.numpy().astype(np.float64).ravel()`.")
    got_loss, got_grad = result
    problem = _loss_type_problem(tf, got_loss) or _gradient_type_problem(tf, got_grad)
    if problem:
        raise CheckError(f"{name}: on {label} {problem}")
    return float(np.asarray(got_loss).reshape(())), got_grad


def _loss_type_problem(tf, loss) -> str:
    """What keeps scipy from using the learner's loss ("" when nothing does)."""
    if isinstance(loss, (tf.Tensor, tf.Variable)):
        return "the loss is a TensorFlow tensor; scipy needs a Python float: return float(loss)."
    if isinstance(loss, (float, int, np.floating, np.integer)) or (isinstance(loss, np.ndarray) and loss.size == 1):
        return ""
    return f"the loss is a {type(loss).__name__}; return float(loss)."


def _gradient_type_problem(tf, grad) -> str:
    """What keeps scipy from using the learner's gradient ("" when nothing does)."""
    fix = "grad.numpy().astype(np.float64).ravel()"
    if isinstance(grad, (tf.Tensor, tf.Variable)):
        return f"the gradient is a TensorFlow tensor; scipy needs a float64 numpy array: return {fix}."
    if not isinstance(grad, np.ndarray):
        return f"the gradient is a {type(grad).__name__}; return {fix}."
    if grad.ndim != 1:
        return (f"the gradient has shape {shape_text(grad.shape)}, not flattened: scipy's x is 1-D, so return the "
                f"gradient as 1-D too, with .ravel() (or .reshape(-1)).")
    if grad.dtype != np.float64:
        return (f"the gradient is {grad.dtype}; scipy's L-BFGS-B works in float64 and needs a float64 gradient: "
                f".astype(np.float64).")
    return ""


def _scipy_values(name: str, label: str, value: float, got_grad: np.ndarray, ref_loss: float, grad: np.ndarray,
                  f_loss: float, f_grad: np.ndarray) -> None:
    """Compare the learner's loss and gradient with value_and_grad's (``grad``, ``f_*``: C- and F-order inputs)."""
    ref_grad = grad.ravel()
    if not np.isfinite(value) or not np.all(np.isfinite(got_grad)):
        raise CheckError(f"{name}: on {label} returned NaN or infinity.")
    if not same_number(value, ref_loss):
        name_the_mistake(name, label, value, [(f_loss, "wrong reshape order: reshape x with x.reshape(shape) "
                                                       "(numpy's default C order, as scipy flattened it), not "
                                                       "order='F'.")],
                         f"the loss is {value:.6g}, expected {ref_loss:.6g}: pass x.reshape(shape) as a float32 "
                         f"tensor to value_and_grad and return float(loss).")
    if got_grad.shape != ref_grad.shape:
        raise CheckError(f"{name}: on {label} the gradient has {got_grad.size} entries, expected "
                         f"{ref_grad.size} (one per entry of x).")
    if close_to(got_grad, ref_grad, 1e-4):
        return
    known_mistakes = [
        (grad.ravel(order="F"), "wrong flattening order: flatten the gradient with .ravel() (C order), the same "
                                "order as x.reshape(shape)."),
        (f_grad.ravel(order="F"), "wrong reshape order: use x.reshape(shape) and .ravel() in numpy's default C "
                                  "order, not order='F'."),
        (-ref_grad, "the gradient has the wrong sign: return the gradient itself, scipy minimises.")]
    name_the_mistake(name, label, got_grad, known_mistakes,
                     f"the gradient differs from value_and_grad's (largest difference "
                     f"{float(np.abs(got_grad - ref_grad).max()):.3g}).",
                     matches=lambda got, wrong: close_to(got, wrong, 1e-4))


def _step_inputs(seed: int, shape=(1, 4, 5, 3), scale: float = 1e3):
    rng = seeded_rng(seed)
    x = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    x[0, 0, 0], x[0, 0, 1] = 0.001, 0.999                 # near the bounds: clipping matters
    g = (rng.normal(size=shape) * scale).astype(np.float32)
    g[0, 0, 0], g[0, 0, 1] = scale, -scale                # pushes them out of [0, 1]
    return x, g


def gd_step(fn) -> None:
    """Check ``gd_step(x, g, learning_rate) -> new image``: one step of normalised gradient descent.

    ``clip(x − learning_rate · g / mean(|g|), 0, 1)`` on numpy ``[1, H, W, 3]`` arrays
    (``06_optimizers``): dividing by the mean absolute gradient makes ``learning_rate`` a
    step in pixel units whatever the loss scale. ``x`` and ``g`` must be left unchanged.
    """
    cases = []
    for seed, lr, scale in ((120, 0.005, 1e3), (121, 0.1, 2.0), (122, 0.02, 1e-2)):
        x, g = _step_inputs(seed, scale=scale)
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        s = np.mean(np.abs(g64))
        step = lambda d: np.clip(x64 - d, 0.0, 1.0)  # noqa: E731
        variants = [("the step goes uphill (sign flipped): subtract the gradient, x − η·g/mean(|g|).",
                     step(-lr * g64 / s)),
                    ("not normalised: divide the gradient by its mean absolute value, mean(|g|), so the step is "
                     "η in pixel units whatever the loss scale.", step(lr * g64)),
                    ("normalise by the mean absolute value mean(|g|), not the largest |g|.",
                     step(lr * g64 / np.max(np.abs(g64)))),
                    ("normalise by the mean absolute value mean(|g|), not the norm of g.",
                     step(lr * g64 / np.linalg.norm(g64))),
                    ("normalise by mean(|g|), not mean(g): without the absolute value the signs cancel.",
                     step(lr * g64 / np.mean(g64))),
                    ("normalise by the mean absolute value mean(|g|), not the standard deviation.",
                     step(lr * g64 / np.std(g64))),
                    ("you moved every pixel by ±η (sign(g)): divide g by mean(|g|) instead, so pixels with larger "
                     "gradients move more.", step(lr * np.sign(g64))),
                    ("you multiplied by mean(|g|): divide by it.", step(lr * g64 * s)),
                    ("clip the new image to [0, 1] (np.clip(..., 0.0, 1.0)).", x64 - lr * g64 / s)]
        label = f"a [1, 4, 5, 3] image with learning_rate {lr:g} and gradients of size ~{scale:g}"
        cases.append(Case(label, (x, g, lr), step(lr * g64 / s), variants))
    run_cases("gd_step", fn, cases, "image after the step")


def _adam_variants(x, g, lr, b1, b2, eps):
    step = lambda d: np.clip(x - d, 0.0, 1.0)  # noqa: E731
    m, v = (1 - b1) * g, (1 - b2) * np.square(g)
    m_hat, v_hat = m / (1 - b1), v / (1 - b2)
    alpha = lr * np.sqrt(1 - b2) / (1 - b1)
    return [("the step goes uphill (sign flipped): x − α·m/(√v + ε).", step(-alpha * m / (np.sqrt(v) + eps))),
            ("missing bias correction: at step k = 1 (m₀ = v₀ = 0) m = (1 − β₁)·g and v = (1 − β₂)·g² are far "
             "too small; divide by 1 − β₁ᵏ and 1 − β₂ᵏ, which Keras folds into the step size "
             "α = η·√(1 − β₂)/(1 − β₁).", step(lr * m / (np.sqrt(v) + eps))),
            ("bias correction of m only: v needs it too (÷ (1 − β₂)), as α = η·√(1 − β₂)/(1 − β₁) does.",
             step(lr * m_hat / (np.sqrt(v) + eps))),
            ("bias correction of v only: m needs it too (÷ (1 − β₁)), as α = η·√(1 − β₂)/(1 − β₁) does.",
             step(lr * m / (np.sqrt(v_hat) + eps))),
            ("that is the paper's Algorithm 1 (ε added to √v̂); Keras, and this course, add ε to √v and fold the "
             "bias correction into the step size: x − α·m/(√v + ε) with α = η·√(1 − β₂)/(1 − β₁).",
             step(lr * m_hat / (np.sqrt(v_hat) + eps))),
            ("ε goes outside the square root: √v + ε, not √(v + ε).", step(alpha * m / np.sqrt(v + eps))),
            ("β₁ and β₂ swapped: m uses β₁ (0.99), v uses β₂ (0.999).",
             step(lr * np.sqrt(1 - b1) / (1 - b2) * ((1 - b2) * g) / (np.sqrt((1 - b1) * g * g) + eps))),
            ("the first moment is m₁ = β₁·m₀ + (1 − β₁)·g = (1 − β₁)·g, not β₁·g.",
             step(alpha * b1 * g / (np.sqrt(v) + eps))),
            ("clip the new image to [0, 1] (np.clip(..., 0.0, 1.0)).", x - alpha * m / (np.sqrt(v) + eps))]


def adam_first_step(fn) -> None:
    """Check ``adam_first_step(x, g, learning_rate=0.02, beta_1=0.99, beta_2=0.999, epsilon=0.1)``.

    Adam's first step from ``m₀ = v₀ = 0`` as Keras computes it (``06_optimizers``,
    :func:`nstutils.run.adam_update`): ``m = (1 − β₁)·g``, ``v = (1 − β₂)·g²``,
    ``α = η·√(1 − β₂)/(1 − β₁)`` (the bias correction), ``clip(x − α·m/(√v + ε), 0, 1)``;
    ``x`` and ``g`` must be left unchanged.
    """
    cases = []
    for seed, lr, scale in ((130, 0.02, 1e3), (131, 0.05, 0.05), (132, 0.3, 1.0)):
        x, g = _step_inputs(seed, scale=scale)
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        variants = _adam_variants(x64, g64, lr, 0.99, 0.999, 0.1)
        alpha = lr * np.sqrt(1 - 0.999) / (1 - 0.99)
        expected = np.clip(x64 - alpha * 0.01 * g64 / (np.sqrt(0.001 * g64 ** 2) + 0.1), 0.0, 1.0)
        label = f"a [1, 4, 5, 3] image with learning_rate {lr:g} and gradients of size ~{scale:g}"
        cases.append(Case(label, (x, g, lr), expected, variants))
    run_cases("adam_first_step", fn, cases, "image after the step")
