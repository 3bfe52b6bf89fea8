"""Grading each function on its own: the library's versions of the pieces a learner's function calls.

Introduced in ``03_gram_style``, where ``layer_style_loss`` calls the learner's ``gram_matrix``. A check runs the
learner's function with the library's version of every *other* course function it calls put in its place in the
learner's namespace (``fn.__globals__``, the notebook's globals) for the duration of the call, and the learner's
own put back afterwards, even when the call raises. So a wrong ``gram_matrix`` loses ``check.gram_matrix``'s point
only: ``check.layer_style_loss``, ``check.style_loss`` and the exercises that call them grade those functions, not
the Gram matrix again. (The capstone in ``05_full_transfer`` is the exception by design: it grades the pieces
composed, so it runs them as written.)
"""

from __future__ import annotations

import contextlib
import types
from typing import Any, Callable, Dict, Iterator, Set


def reference_adam_step(image: Any, loss_fn: Callable[[Any], Any], optimizer: Any) -> Any:
    """The library's ``adam_step`` (``05_full_transfer``): one Adam step on ``image``, clipped to [0, 1]."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(image)
    optimizer.apply_gradients([(tape.gradient(loss, image), image)])
    image.assign(tf.clip_by_value(image, 0.0, 1.0))
    return loss


def _references() -> Dict[str, Callable[..., Any]]:
    """Course function name -> the library's function with the learner's signature (see ``SIGNATURES``)."""
    import tensorflow as tf

    from nstutils import losses
    from nstutils.vgg19 import preprocess

    return {
        "preprocess": preprocess,
        "content_loss": losses.content_loss,
        "content_loss_layers": losses.content_loss,
        "gram_matrix": losses.gram_matrix,
        "layer_style_loss": losses.style_loss,
        "style_loss": losses.style_loss,
        "tile": lambda F, k: tf.tile(F, [1, k, k, 1]),
        "total_variation_loss": losses.total_variation_loss,
        "total_variation_l2": lambda image: losses.total_variation_loss(image, "l2"),
        "total_loss": lambda content, style, tv, content_weight, style_weight, tv_weight: (
            content_weight * content + style_weight * style + tv_weight * tv),
        "adam_step": reference_adam_step,
    }


#: the course functions a learner writes that other course functions call (substituted by :func:`graded_alone`)
PIECES = ("preprocess", "content_loss", "content_loss_layers", "gram_matrix", "layer_style_loss", "style_loss",
          "tile", "total_variation_loss", "total_variation_l2", "total_loss", "adam_step")


def _global_names(code: types.CodeType) -> Set[str]:
    """Names ``code`` and the functions, lambdas and comprehensions inside it may look up as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


@contextlib.contextmanager
def graded_alone(fn: Any, own: str) -> Iterator[None]:
    """While inside, the course functions ``fn`` calls by name (other than ``own``) are the library's.

    Only names already bound in ``fn``'s globals are replaced (an undefined name still raises NameError), and the
    learner's bindings are restored on exit, error or not.
    """
    namespace = getattr(fn, "__globals__", None)
    code = getattr(fn, "__code__", None)
    if namespace is None or code is None:
        yield
        return
    wanted = [name for name in PIECES if name != own and name in namespace and name in _global_names(code)]
    if not wanted:
        yield
        return
    references = _references()
    saved = {name: namespace[name] for name in wanted}
    try:
        namespace.update({name: references[name] for name in wanted})
        yield
    finally:
        namespace.update(saved)
