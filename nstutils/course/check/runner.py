"""Running the learner's function on a check's cases, under ``tf.GradientTape`` when its result
feeds an optimiser (introduced in ``02_content``, the first loss).

``tf.GradientTape`` records TensorFlow operations only: a result computed with numpy
(``.numpy()``, ``np.mean``, ``float()``) has the right value but no gradient, and the image
would never change. The checks run the learner's function under a tape and name that mistake.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, List, Sequence, Tuple

import numpy as np

from .core import (CheckError, Case, as_array, call_learner, close_to, load_tf, report_ok, require_callable,
                   verdict)

LOST = ("the gradient is lost: tf.GradientTape only sees TensorFlow operations, so with numpy (.numpy(), np.…, "
        "float(), a list) in the way the optimiser gets no gradient and the image never changes. Use TensorFlow "
        "operations (tf.reduce_mean, tf.square, tf.reshape, tf.matmul, …) on the tensors you are given and return "
        "their tensor.")


def hint_for(*rules: Tuple[Tuple[str, ...], str]) -> Callable[[BaseException], str]:
    """A ``hint`` for :func:`run_cases`: the message of the first ``(phrases, message)`` rule with a phrase
    in the error's text ("" when none has): what a TensorFlow error most likely means for the learner."""
    def hint(exc: BaseException) -> str:
        text = str(exc)
        return next((message for phrases, message in rules if any(p in text for p in phrases)), "")
    return hint


def _watched(tf, arg) -> List[Any]:
    if isinstance(arg, (tf.Tensor, tf.Variable)):
        return [arg]
    if isinstance(arg, dict):
        return [v for v in arg.values() if isinstance(v, (tf.Tensor, tf.Variable))]
    return []


def run_taped(call: Callable, args: Tuple, gradient_args: Sequence[int]):
    """``call(*args)`` under a tape; returns ``(result, [(index, tensor, gradient or None), …])``."""
    tf = load_tf()
    watched = [(i, t) for i in gradient_args for t in _watched(tf, args[i])]
    with tf.GradientTape() as tape:
        for _, tensor in watched:
            tape.watch(tensor)
        result = call(*args)
    if not isinstance(result, tf.Tensor) or not watched or result.dtype not in (tf.float32, tf.float64):
        return result, [(i, t, None) for i, t in watched]
    grads = tape.gradient(result, [t for _, t in watched])
    return result, [(i, t, g) for (i, t), g in zip(watched, grads)]


def _arg_name(fn, index: int) -> str:
    try:
        names = list(inspect.signature(fn).parameters)
        return names[index] if index < len(names) else f"argument {index + 1}"
    except (TypeError, ValueError):
        return f"argument {index + 1}"


def gradient_verdict(name: str, case: Case, result, grads, fn=None) -> None:
    """Raise a CheckError if ``result`` is not a tensor or its gradient misses a watched input.

    An input the reference's result does not depend on either (a layer of weight 0, which a correct answer may
    skip, as :func:`nstutils.losses.style_loss` does) may have no gradient."""
    tf = load_tf()
    if not grads:
        return
    if not isinstance(result, tf.Tensor):
        kind = ("a NumPy array" if isinstance(result, np.ndarray) else
                "a NumPy number" if isinstance(result, np.generic) else f"a Python {type(result).__name__}")
        raise CheckError(f"{name}: on {case.label} returned {kind} where the course needs a tf.Tensor — the "
                         f"values are right, but {LOST}")
    expected = None
    if case.reference is not None:
        _, expected = run_taped(case.reference, case.fresh_args(), sorted({i for i, _, _ in grads}))
    missing = sorted({i for k, (i, _, g) in enumerate(grads)
                      if g is None and (expected is None or _flows(expected[k][2]))})
    if missing:
        names = " and ".join(_arg_name(fn, i) for i in missing) if fn is not None else "its input"
        raise CheckError(f"{name}: on {case.label} the result is a tensor but no gradient flows back to "
                         f"{names}: somewhere your function leaves TensorFlow (.numpy(), np.…, float()) and comes "
                         f"back with tf.constant, or uses tf.stop_gradient — {LOST}")
    for (_, _, g), (_, _, e) in zip(grads, expected or ()):
        if g is not None and e is not None and not close_to(g.numpy(), e.numpy(), 1e-3):
            raise CheckError(f"{name}: on {case.label} the values are right but the gradient is not (largest "
                             f"difference {float(np.max(np.abs(g.numpy() - e.numpy()))):.3g}): part of the "
                             f"computation is hidden from tf.GradientTape (tf.stop_gradient, or a value "
                             f"computed with numpy and turned back into a tensor) — {LOST}")


def _flows(gradient) -> bool:
    """True when the reference's ``gradient`` reaches its input (not None, not all zeros)."""
    return gradient is not None and bool(np.any(gradient.numpy() != 0))


def run_cases(name: str, fn, cases: Sequence[Case], what: str = "result",
              hint: Callable[[BaseException], str] | None = None, note: str = "",
              gradient_args: Sequence[int] | None = None, rtol: float = 1e-4, atol: float = 0.0) -> None:
    """Run ``fn`` on every case; with ``gradient_args`` (indices of the arguments a gradient flows back to)
    the result must also be a tensor whose gradient reaches those arguments, as the reference's does."""
    require_callable(name, fn)
    taped = []
    for case in cases:
        args = case.fresh_args()
        if gradient_args is None:
            result = call_learner(name, fn, case.label, *args, hint=hint)
            verdict(name, case, as_array(name, result, case.label), what, rtol, atol)
            continue
        result, grads = run_taped(lambda *a, c=case: call_learner(name, fn, c.label, *a, hint=hint), args,
                                  gradient_args)
        verdict(name, case, as_array(name, result, case.label), what, rtol, atol)
        taped.append((case, result, grads))
    for case, result, grads in taped:        # values first: a wrong formula is named by its values
        gradient_verdict(name, case, result, grads, fn)
    report_ok(name, len(cases), note)
