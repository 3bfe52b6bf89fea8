"""The checking engine behind :mod:`nstutils.course.check`: run the learner's function on
cases, compare with the reference, name the likely mistake.

A notebook's checks (one module per notebook) build :class:`Case` objects and hand
them to :func:`run_cases`; :func:`same` checks a single answer. Every call of the
learner's function gets fresh copies of its inputs, compared afterwards, so a function
that changes its input in place is named; a function whose result feeds a gradient is run
under ``tf.GradientTape`` and must return a tensor the gradient flows through.
"""

from __future__ import annotations

from typing import Any, Callable, List, NoReturn, Sequence, Tuple

import numpy as np

from nstutils.errors import NSTError

from .diagnose import describe_difference, shape_text, summarize, values_close
from .pieces import OwnImplementationCalled, graded_alone

GREEN = "\x1b[32m"
RESET = "\x1b[0m"
RTOL = 1e-4

IN_PLACE = ("your function changed its input in place (e.g. `xs -= ...` or `x[...] = ...` on an argument); work "
            "on a copy (`xs = xs - ...`, or `x = x.copy()` first): the caller's array must stay as it was.")


class CheckError(NSTError, AssertionError):
    """A check found a mistake; the message says which and how to fix it."""


def load_tf():
    import tensorflow as tf

    return tf


def first_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_ok(name: str, cases: int, note: str = "") -> None:
    print(f"{GREEN}✔ {name}: correct on {cases} cases{note}{RESET}")


def require_callable(name: str, fn) -> None:
    if not callable(fn):
        raise CheckError(f"check.{name} expects your function itself, e.g. check.{name}({name}), without "
                         f"parentheses after {name}; it got a {type(fn).__name__}.")


def _arrays(value) -> List[np.ndarray]:
    """The numpy arrays inside an argument (itself, or the values of a dict, list or tuple)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [a for item in value for a in _arrays(item)]
    return []


def call_learner(name: str, fn, label: str, *args, hint: Callable[[BaseException], str] | None = None):
    """Call the learner's function, turning its exceptions into diagnoses and naming in-place changes."""
    arrays = _arrays(list(args))
    before = [a.copy() for a in arrays]
    try:
        with graded_alone(fn, own=name):
            result = fn(*args)
    except NotImplementedError:
        raise CheckError(f"{name} is not implemented yet: replace the line `raise NotImplementedError(...)` in "
                         f"its cell by your code, run that cell, then run this check again.") from None
    except CheckError:
        raise
    except OwnImplementationCalled as exc:
        raise CheckError(str(exc)) from None
    except Exception as exc:  # the learner's bug: report it, never swallow it
        extra = hint(exc) if hint else ""
        where = f"on {label}; the lines above show where in your code"
        raise CheckError(f"{name} raised {type(exc).__name__}: {extra} ({first_line(exc)}, {where})" if extra else
                         f"{name} raised {type(exc).__name__}: {first_line(exc)} ({where})") from exc
    if any(a.shape != b.shape or not np.array_equal(a, b, equal_nan=True) for a, b in zip(arrays, before)):
        raise CheckError(f"{name}: {IN_PLACE} (on {label})")
    return result


def as_array(name: str, value, label: str) -> np.ndarray:
    """The learner's result as a float64 array (tensors, arrays, numbers accepted)."""
    if value is None:
        raise CheckError(f"{name} returned None on {label}: did you forget the `return` statement?")
    if isinstance(value, (tuple, list, dict, str)) and not _is_numeric_sequence(value):
        raise CheckError(f"{name} returned a {type(value).__name__} on {label}; expected a tensor, an array "
                         f"or a number.")
    array = None
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # the learner's object cannot become an array
        array = None
    if array is None or array.dtype.kind not in "fiub":
        raise CheckError(f"{name} returned {type(value).__name__} on {label}, which is not a tensor, an "
                         f"array or a number.") from None
    return array.astype(np.float64)


def _is_numeric_sequence(value) -> bool:
    try:
        return isinstance(value, (tuple, list)) and np.asarray(value).dtype.kind in "fiub"
    except (TypeError, ValueError):
        return False


def close_to(a: np.ndarray, b: np.ndarray, rtol: float = RTOL, atol: float = 0.0) -> bool:
    """True when ``a`` matches ``b`` in shape and values (``atol`` at least 1e-6 of ``b``'s largest entry)."""
    return values_close(a, b, rtol, atol)


def same_number(value: float, target: float, rtol: float = 1e-4) -> bool:
    """True when ``value`` is ``target`` to ``rtol`` of its size (absolutely, when it is below 1)."""
    return abs(value - target) <= rtol * max(1.0, abs(target))


def name_the_mistake(name: str, label: str, got, known_mistakes, otherwise: str, matches=same_number) -> NoReturn:
    """Raise a CheckError saying what the first ``(wrong answer, message)`` that ``got`` ``matches`` means,
    or ``otherwise`` when ``got`` matches none of them."""
    message = next((text for wrong, text in known_mistakes if matches(got, wrong)), otherwise)
    raise CheckError(f"{name}: {message} (on {label})")


def _copied(value):
    """``value`` with its numpy arrays copied (dicts and lists rebuilt), tensors shared (they are immutable)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


class Case:
    """One input for the learner's function with the reference result and known mistakes."""

    def __init__(self, label: str, args: Sequence[Any], expected, variants=(), shape_hints=(),
                 reference: Callable | None = None):
        self.label = label
        self.args = args                      # a callable returning fresh arguments, or a tuple
        self.expected = np.asarray(expected, np.float64)
        # (message, value or None when not computable) for known wrong answers of the same inputs
        self.variants: List[Tuple[str, Any]] = list(variants)
        # (shape tuple or predicate on the shape, message)
        self.shape_hints: List[Tuple[Any, str]] = list(shape_hints)
        self.reference = reference            # the reference function, to compare gradients

    def fresh_args(self):
        args = self.args() if callable(self.args) else self.args
        return tuple(_copied(a) for a in args)


def _shape_verdict(name: str, case: Case, got: np.ndarray, what: str) -> None:
    expected = case.expected
    shapes = f"expected shape {shape_text(expected.shape)}, got {shape_text(got.shape)}, on {case.label}"
    for shape, message in case.shape_hints:
        if (shape(got.shape) if callable(shape) else tuple(got.shape) == tuple(shape)):
            raise CheckError(f"{name}: {message} ({shapes})")
    for message, value in case.variants:
        if value is not None and close_to(got, value, 1e-3):
            raise CheckError(f"{name}: {message} ({shapes})")
    if expected.ndim == 0:
        raise CheckError(f"{name}: on {case.label} expected a single number (a scalar), got an array of "
                         f"shape {shape_text(got.shape)} — reduce over all entries (tf.reduce_mean or "
                         f"tf.reduce_sum without an axis).")
    detail = describe_difference(expected, got, what)
    raise CheckError(f"{name}: on {case.label} expected a {what} of shape {shape_text(expected.shape)}, got "
                     f"{shape_text(got.shape)}{' — ' + detail if detail else '.'}")


def verdict(name: str, case: Case, got: np.ndarray, what: str = "result", rtol: float = RTOL,
            atol: float = 0.0) -> None:
    """Raise a CheckError explaining how ``got`` differs from ``case.expected`` (return if equal)."""
    expected = case.expected
    if got.size and not np.all(np.isfinite(got)):
        raise CheckError(f"{name} returned NaN or infinity on {case.label} (got {summarize(got)}): look for a "
                         f"division by zero, the mean of an empty slice, a square root or log of a negative "
                         f"number, or an uninitialised array (np.empty).")
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        _shape_verdict(name, case, got, what)
    if close_to(got, expected, rtol, atol):
        return
    for message, value in case.variants:
        if value is not None and np.shape(value) == got.shape and close_to(got, value, max(rtol, 1e-3)):
            raise CheckError(f"{name}: {message} (wrong {what} on {case.label}: expected {summarize(expected)}, "
                             f"got {summarize(got)})")
    raise CheckError(f"{name}: wrong {what} on {case.label}: {describe_difference(expected, got, what)}")


def seeded_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def constant(array):
    return load_tf().constant(np.asarray(array, np.float32))


def key_hint(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "The dicts share the same layer names as keys: loop over them with `for layer in targets:`."
    return ""


def same(name: str, value, reference, rtol: float = RTOL, atol: float = 0.0, inputs: Sequence[Any] = ()) -> None:
    """Check that an exercise's answer ``value`` equals ``reference`` (numbers or arrays).

    ``value`` may also be a function of no arguments that returns the answer (so an
    unanswered exercise, still raising ``NotImplementedError``, reports "not implemented
    yet"). A wrong answer gets a diagnosis when it matches a common slip (sign, a factor 2,
    the reciprocal, off by one, transposed, rounded) and otherwise its largest error and where.
    ``inputs`` are the arrays the answer reads (e.g. ``inputs=(painting, photo)``): changing
    one of them in place is named as the mistake.
    """
    arrays = _arrays(list(inputs))
    before = [a.copy() for a in arrays]
    if callable(value):
        value = call_learner(name, value, "your answer")
    if any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(arrays, before)):
        for a, b in zip(arrays, before):
            a[...] = b                        # put the notebook's data back, so later cells still see it
        raise CheckError(f"{name}: {IN_PLACE}")
    raw_kind = np.asarray(value.numpy() if hasattr(value, "numpy") else value).dtype.kind \
        if not isinstance(value, (str, dict)) and value is not None else ""
    got = as_array(name, value, "your answer")
    expected = np.asarray(reference.numpy() if hasattr(reference, "numpy") else reference, np.float64)
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        detail = describe_difference(expected, got, "answer", rtol, atol)
        raise CheckError(f"{name}: expected shape {shape_text(expected.shape)}, got {shape_text(got.shape)}"
                         f"{' — ' + detail if detail else '.'}")
    if not np.all(np.isfinite(got)):
        raise CheckError(f"{name}: your answer is NaN or infinite ({summarize(got)}).")
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        rounded = raw_kind in "iub" and not np.allclose(expected, np.round(expected))
        extra = (" Your answer is made of integers but the expected one is not: use / rather than //, and do not "
                 "round or convert with int()." if rounded else "")
        raise CheckError(f"{name}: {describe_difference(expected, got, 'answer', rtol, atol)}{extra}")
    print(f"{GREEN}✔ {name}: correct{RESET}")
