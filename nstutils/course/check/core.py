"""The checking engine behind :mod:`nstutils.course.check`: run the learner's function on
cases, compare with the reference, name the likely mistake.

A notebook's checks (one module per notebook) build :class:`Case` objects and hand
them to :func:`run_cases`; :func:`same` checks a single answer.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from nstutils.errors import NSTError

GREEN = "\x1b[32m"
RESET = "\x1b[0m"
RTOL = 1e-4

#: check name -> the signature and meaning of the learner's function it expects.
SIGNATURES: Dict[str, str] = {
    "preprocess": "preprocess(image) -> x: image [1, H, W, 3] float tensor in [0, 1] (RGB); x = BGR, ×255, "
                  "minus CAFFE_MEAN_BGR, same shape",
    "convolution": "convolution(image, kernel) -> out: numpy image [H, W], kernel [kh, kw]; 'valid' 2-D "
                   "cross-correlation (what tf.nn.conv2d computes), out [H-kh+1, W-kw+1]",
    "max_pool": "max_pool(x) -> y: numpy x [H, W] (H, W even); 2×2 max pooling with stride 2, y [H/2, W/2]",
    "content_loss": "content_loss(F, P) -> scalar: F, P tensors [1, H, W, C]; mean((F - P)²)",
    "gram_matrix": "gram_matrix(F) -> G: F tensor [B, H, W, C]; G [B, C, C] = FᵀF / (H·W)",
    "layer_style_loss": "layer_style_loss(F, A) -> scalar: F tensor [1, H, W, C], A Gram tensor [1, C, C]; "
                        "mean((gram(F) - A)²)",
    "style_loss": "style_loss(features, target_grams, layer_weights) -> scalar: dicts layer -> F [1, H, W, C], "
                  "layer -> A [1, C, C], layer -> w_l; Σ_l w_l·mean((gram(F_l) - A_l)²)",
    "total_variation_loss": "total_variation_loss(image) -> scalar: image tensor [1, H, W, 3]; Σ|dx| + Σ|dy| "
                            "(= tf.image.total_variation)",
    "total_loss": "total_loss(content, style, tv, content_weight, style_weight, tv_weight) -> scalar: "
                  "content_weight·content + style_weight·style + tv_weight·tv (numbers or scalar tensors)",
    "adam_step": "adam_step(image, loss_fn, optimizer) -> loss before the step: image tf.Variable [1, H, W, 3], "
                 "loss_fn(image) -> scalar tensor, optimizer a tf.keras.optimizers.Adam; GradientTape, "
                 "optimizer.apply_gradients, then image.assign(tf.clip_by_value(image, 0, 1))",
    "scipy_objective": "scipy_objective(x, value_and_grad, shape) -> (loss float, gradient float64 1-D): x float64 "
                       "1-D numpy, value_and_grad(image [1, H, W, 3] float32) -> (loss tensor, grad tensor), "
                       "shape = (1, H, W, 3); for scipy.optimize.minimize(..., method='L-BFGS-B', jac=True)",
    "gram_size_invariance": "tile(F, k) -> bigger: F tensor [B, H, W, C], k ≥ 1; k×k copies of F side by side, "
                            "[B, k·H, k·W, C] (as tf.tile); the check shows gram(tile(F, k)) == gram(F)",
    "tv_l1_vs_l2": "total_variation_l2(image) -> scalar: image tensor [1, H, W, 3]; Σdx² + Σdy² (squared "
                   "differences instead of absolute ones)",
    "content_loss_layers": "content_loss_layers(features, targets) -> scalar: dicts layer -> [1, H, W, C]; "
                           "mean over layers of mean((F_l - P_l)²)",
    "same": "same(name, value, reference): value a number/array, or a function of no arguments returning one",
}


class CheckError(NSTError, AssertionError):
    """A check found a mistake; the message says which and how to fix it."""


def signature(name: str) -> str:
    """The learner's function that ``check.<name>`` expects (from :data:`SIGNATURES`)."""
    return SIGNATURES[name]


def load_tf():
    import tensorflow as tf

    return tf


def shape_text(shape) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def first_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_ok(name: str, cases: int, note: str = "") -> None:
    print(f"{GREEN}✔ {name}: correct on {cases} cases{note}{RESET}")


def require_callable(name: str, fn) -> None:
    if not callable(fn):
        raise CheckError(f"check.{name} expects your function itself, e.g. check.{name}({name}), without "
                         f"parentheses after {name}; it got a {type(fn).__name__}.")


def call_learner(name: str, fn, label: str, *args, hint: Callable[[BaseException], str] | None = None):
    """Call the learner's function, turning its exceptions into diagnoses."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckError(f"{name} is not implemented yet: replace the line `raise NotImplementedError(...)` in "
                         f"its cell by your code, run that cell, then run this check again.") from None
    except CheckError:
        raise
    except Exception as exc:  # the learner's bug: report it, never swallow it
        extra = hint(exc) if hint else ""
        raise CheckError(f"{name} raised {type(exc).__name__} on {label}: {first_line(exc)}. "
                         f"{extra + ' ' if extra else ''}The traceback above shows the line of your code "
                         f"where it happened.") from exc


def as_array(name: str, value, label: str) -> np.ndarray:
    """The learner's result as a float64 array (tensors, arrays, numbers accepted)."""
    if value is None:
        raise CheckError(f"{name} returned None on {label}: did you forget the `return` statement?")
    if isinstance(value, (tuple, list, dict, str)) and not _is_numeric_sequence(value):
        raise CheckError(f"{name} returned a {type(value).__name__} on {label}; expected a tensor, an array "
                         f"or a number.")
    try:
        if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
            value = value.numpy()
        array = np.asarray(value)
    except Exception:  # the learner's object cannot become an array
        array = None
    if array is None or array.dtype.kind not in "fiub":
        raise CheckError(f"{name} returned {type(value).__name__} on {label}, which is not a tensor, an "
                         f"array or a number.") from None
    return array.astype(np.float64)


def _is_numeric_sequence(value) -> bool:
    try:
        return isinstance(value, (tuple, list)) and np.asarray(value).dtype.kind in "fiub"
    except Exception:
        return False


def close_to(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    return bool(np.allclose(a, b, rtol=rtol, atol=1e-6 * scale))


def summarize(array: np.ndarray) -> str:
    if array.size == 1:
        return f"{float(array.reshape(())):.6g}"
    with np.printoptions(precision=4, suppress=True, threshold=12, edgeitems=2):
        return " ".join(str(array).split())


class Case:
    """One input for the learner's function with the reference result and known mistakes."""

    def __init__(self, label: str, args: Sequence[Any], expected, variants=(), shape_hints=()):
        self.label = label
        self.args = args                      # a callable returning fresh arguments, or a tuple
        self.expected = np.asarray(expected, np.float64)
        # (message, value or None when not computable) for known wrong answers of the same inputs
        self.variants: List[Tuple[str, Any]] = list(variants)
        # (shape tuple or predicate on the shape, message)
        self.shape_hints: List[Tuple[Any, str]] = list(shape_hints)

    def fresh_args(self):
        return self.args() if callable(self.args) else self.args


def verdict(name: str, case: Case, got: np.ndarray, what: str = "result") -> None:
    """Raise a CheckError explaining how ``got`` differs from ``case.expected`` (return if equal)."""
    expected = case.expected
    if got.size and not np.all(np.isfinite(got)):
        raise CheckError(f"{name} returned NaN or infinity on {case.label} (got {summarize(got)}): look for a "
                         f"division by zero, the mean of an empty slice, a square root or log of a negative "
                         f"number, or an uninitialised array (np.empty).")
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        for shape, message in case.shape_hints:
            if (shape(got.shape) if callable(shape) else tuple(got.shape) == tuple(shape)):
                raise CheckError(f"{name}: on {case.label} expected shape {shape_text(expected.shape)}, got "
                                 f"{shape_text(got.shape)} — {message}")
        for message, value in case.variants:
            if value is not None and close_to(got, value, 1e-3):
                raise CheckError(f"{name}: on {case.label} expected shape {shape_text(expected.shape)}, got "
                                 f"{shape_text(got.shape)} — {message}")
        if expected.ndim == 0:
            raise CheckError(f"{name}: on {case.label} expected a single number (a scalar), got an array of "
                             f"shape {shape_text(got.shape)} — reduce over all entries (tf.reduce_mean or "
                             f"tf.reduce_sum without an axis).")
        raise CheckError(f"{name}: on {case.label} expected a {what} of shape {shape_text(expected.shape)}, got "
                         f"{shape_text(got.shape)}.")
    if close_to(got, expected):
        return
    for message, value in case.variants:
        if value is not None and np.shape(value) == got.shape and close_to(got, value, 1e-3):
            raise CheckError(f"{name}: wrong {what} on {case.label} (expected {summarize(expected)}, got "
                             f"{summarize(got)}) — {message}")
    hint = ""
    mask = np.abs(expected) > 1e-8 * max(1.0, float(np.abs(expected).max()))
    if mask.any() and np.all(np.abs(got[~mask]) <= 1e-6 * max(1.0, float(np.abs(expected).max()))):
        ratios = got[mask] / expected[mask]
        if expected.size > 1 and np.allclose(ratios, ratios.flat[0], rtol=1e-3) and abs(ratios.flat[0] - 1) > 1e-3:
            hint = (f" Your {what} is {ratios.flat[0]:.6g} × the expected one everywhere: a scale factor "
                    f"(normalisation) is off.")
        elif expected.size == 1:
            hint = f" Yours is {float(ratios.flat[0]):.6g} × the expected value."
    raise CheckError(f"{name}: wrong {what} on {case.label}: expected {summarize(expected)}, got "
                     f"{summarize(got)} (largest difference {float(np.abs(got - expected).max()):.3g}).{hint}")


def run_cases(name: str, fn, cases: Sequence[Case], what: str = "result",
         hint: Callable[[BaseException], str] | None = None, note: str = "") -> None:
    require_callable(name, fn)
    for case in cases:
        result = call_learner(name, fn, case.label, *case.fresh_args(), hint=hint)
        verdict(name, case, as_array(name, result, case.label), what)
    report_ok(name, len(cases), note)


def seeded_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def constant(array):
    return load_tf().constant(np.asarray(array, np.float32))


def key_hint(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "The dicts share the same layer names as keys: loop over them with `for layer in targets:`."
    return ""


# ---------------------------------------------------------------------------------------------
# numbers


def same(name: str, value, reference, rtol: float = RTOL, atol: float = 0.0) -> None:
    """Check that an exercise's answer ``value`` equals ``reference`` (numbers or arrays).

    ``value`` may also be a function of no arguments that returns the answer (so an
    unanswered exercise, still raising ``NotImplementedError``, reports "not implemented
    yet").
    """
    if callable(value):
        value = call_learner(name, value, "your answer")
    got = as_array(name, value, "your answer")
    expected = np.asarray(reference.numpy() if hasattr(reference, "numpy") else reference, np.float64)
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        raise CheckError(f"{name}: expected shape {shape_text(expected.shape)}, got {shape_text(got.shape)}.")
    if not np.all(np.isfinite(got)):
        raise CheckError(f"{name}: your answer is NaN or infinite ({summarize(got)}).")
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        raise CheckError(f"{name}: expected {summarize(expected)}, got {summarize(got)}.")
    print(f"{GREEN}✔ {name}: correct{RESET}")
