"""Checks of ``06_optimizers``: the bridge from a TensorFlow loss to ``scipy.optimize``."""

from __future__ import annotations


from typing import Tuple

import numpy as np

from .core import CheckError, call_learner, close_to, load_tf, report_ok, require_callable, seeded_rng, shape_text


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
    if isinstance(got_loss, (tf.Tensor, tf.Variable)):
        raise CheckError(f"{name}: on {label} the loss is a TensorFlow tensor; scipy needs a Python float: "
                         f"return float(loss).")
    if not isinstance(got_loss, (float, int, np.floating, np.integer)) and not (
            isinstance(got_loss, np.ndarray) and got_loss.size == 1):
        raise CheckError(f"{name}: on {label} the loss is a {type(got_loss).__name__}; return float(loss).")
    if isinstance(got_grad, (tf.Tensor, tf.Variable)):
        raise CheckError(f"{name}: on {label} the gradient is a TensorFlow tensor; scipy needs a float64 "
                         f"numpy array: return grad.numpy().astype(np.float64).ravel().")
    if not isinstance(got_grad, np.ndarray):
        raise CheckError(f"{name}: on {label} the gradient is a {type(got_grad).__name__}; return "
                         f"grad.numpy().astype(np.float64).ravel().")
    if got_grad.ndim != 1:
        raise CheckError(f"{name}: on {label} the gradient has shape {shape_text(got_grad.shape)}, not flattened: "
                         f"scipy's x is 1-D, so return the gradient as 1-D too, with .ravel() (or "
                         f".reshape(-1)).")
    if got_grad.dtype != np.float64:
        raise CheckError(f"{name}: on {label} the gradient is {got_grad.dtype}; scipy's L-BFGS-B works in "
                         f"float64 and needs a float64 gradient: .astype(np.float64).")
    return float(np.asarray(got_loss).reshape(())), got_grad


def _scipy_values(name: str, label: str, value: float, got_grad: np.ndarray, ref_loss: float, grad: np.ndarray,
                  f_loss: float, f_grad: np.ndarray) -> None:
    """Compare the learner's loss and gradient with value_and_grad's (``grad``, ``f_*``: C- and F-order inputs)."""
    ref_grad = grad.ravel()
    if not np.isfinite(value) or not np.all(np.isfinite(got_grad)):
        raise CheckError(f"{name}: on {label} returned NaN or infinity.")
    if abs(value - ref_loss) > 1e-4 * max(1.0, abs(ref_loss)):
        if abs(value - f_loss) <= 1e-4 * max(1.0, abs(ref_loss)):
            raise CheckError(f"{name}: on {label} wrong reshape order: reshape x with x.reshape(shape) "
                             f"(numpy's default C order, as scipy flattened it), not order='F'.")
        raise CheckError(f"{name}: on {label} the loss is {value:.6g}, expected {ref_loss:.6g}: pass "
                         f"x.reshape(shape) as a float32 tensor to value_and_grad and return float(loss).")
    if got_grad.shape != ref_grad.shape:
        raise CheckError(f"{name}: on {label} the gradient has {got_grad.size} entries, expected "
                         f"{ref_grad.size} (one per entry of x).")
    if close_to(got_grad, ref_grad, 1e-4):
        return
    if close_to(got_grad, grad.ravel(order="F"), 1e-4):
        raise CheckError(f"{name}: on {label} wrong flattening order: flatten the gradient with .ravel() "
                         f"(C order), the same order as x.reshape(shape).")
    if close_to(got_grad, f_grad.ravel(order="F"), 1e-4):
        raise CheckError(f"{name}: on {label} wrong reshape order: use x.reshape(shape) and .ravel() in "
                         f"numpy's default C order, not order='F'.")
    if close_to(got_grad, -ref_grad, 1e-4):
        raise CheckError(f"{name}: on {label} the gradient has the wrong sign: return the gradient "
                         f"itself, scipy minimises.")
    raise CheckError(f"{name}: on {label} the gradient differs from value_and_grad's (largest "
                     f"difference {float(np.abs(got_grad - ref_grad).max()):.3g}).")
