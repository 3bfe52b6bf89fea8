"""Grading each function on its own: the library's versions of the pieces a learner's function calls.

Introduced in ``03_gram_style``, where ``layer_style_loss`` calls the learner's ``gram_matrix``. A check runs the
learner's function with the library's version of every *other* course function it calls put in its place in the
learner's namespace (``fn.__globals__``, the notebook's globals) for the duration of the call, and the learner's
own put back afterwards, even when the call raises. So a wrong ``gram_matrix`` loses ``check.gram_matrix``'s point
only: ``check.layer_style_loss``, ``check.style_loss`` and the exercises that call them grade those functions, not
the Gram matrix again. (The capstone in ``05_full_transfer`` is the exception by design: it grades the pieces
composed, so it runs them as written.)

The reference is one import away in every notebook (``from nstutils import losses``), so calling it is not an
answer: while the learner's function runs, the library's own implementation of the *graded* function
(:data:`OWN_IMPLEMENTATIONS`, e.g. ``nstutils.losses.gram_matrix`` for ``gram_matrix``) is replaced by a tripwire,
wherever the learner's code can reach it (the library's modules and the learner's globals). Calling it raises
:class:`OwnImplementationCalled`, and a call the learner's code swallowed is reported all the same.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple


def reference_adam_step(image: Any, loss_fn: Callable[[Any], Any], optimizer: Any) -> Any:
    """The library's ``adam_step`` (``05_full_transfer``): one Adam step on ``image``, clipped to [0, 1]."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(image)
    optimizer.apply_gradients([(tape.gradient(loss, image), image)])
    image.assign(tf.clip_by_value(image, 0.0, 1.0))
    return loss


def _references() -> Dict[str, Callable[..., Any]]:
    """Course function name -> the library's function with the learner's signature (see ``SIGNATURES``).

    The library's functions are bound here, not looked up when called, so a tripwire set on a module's name
    afterwards (:func:`graded_alone`) does not catch these stand-ins."""
    import tensorflow as tf

    from nstutils import losses
    from nstutils.vgg19 import preprocess

    total_variation = losses.total_variation_loss
    return {
        "preprocess": preprocess,
        "content_loss": losses.content_loss,
        "content_loss_layers": losses.content_loss,
        "gram_matrix": losses.gram_matrix,
        "layer_style_loss": losses.style_loss,
        "style_loss": losses.style_loss,
        "tile": lambda F, k: tf.tile(F, [1, k, k, 1]),
        "total_variation_loss": total_variation,
        "total_variation_l2": lambda image: total_variation(image, "l2"),
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


#: graded function -> (module, name) of the library's own implementation of it, which an answer may not call
OWN_IMPLEMENTATIONS: Dict[str, Tuple[str, str]] = {
    "preprocess": ("nstutils.vgg19", "preprocess"),
    "content_loss": ("nstutils.losses", "content_loss"),
    "content_loss_layers": ("nstutils.losses", "content_loss"),
    "gram_matrix": ("nstutils.losses", "gram_matrix"),
    "layer_style_loss": ("nstutils.losses", "style_loss"),
    "style_loss": ("nstutils.losses", "style_loss"),
    "total_variation_loss": ("nstutils.losses", "total_variation_loss"),
    "total_variation_l2": ("nstutils.losses", "total_variation_loss"),
    "color_matching": ("nstutils.color", "match_color"),
}


class OwnImplementationCalled(AssertionError):
    """The learner's function called the library's implementation of the very function it is graded on."""


def _tripwire(own: str, where: str, calls: List[str]) -> Callable[..., Any]:
    def tripwire(*args: Any, **kwargs: Any) -> Any:
        calls.append(where)
        raise OwnImplementationCalled(own_implementation_message(own, where))
    return tripwire


def own_implementation_message(own: str, where: str) -> str:
    """What a check says to an answer that calls the library's implementation ``where`` of the graded ``own``."""
    return (f"{own} calls nstutils' own {where}, the answer this exercise asks you to write: no point for it. "
            f"Write {own} yourself with TensorFlow (or NumPy) operations, as the text above the cell describes.")


@contextlib.contextmanager
def _tripwires(fn: Any, own: str) -> Iterator[List[str]]:
    """While inside, the library's implementation of ``own`` is a tripwire in the library's modules and in
    ``fn``'s globals; yields the list of tripped calls (for a call the learner's code caught and swallowed)."""
    calls: List[str] = []
    if own not in OWN_IMPLEMENTATIONS:
        yield calls
        return
    module_name, attribute = OWN_IMPLEMENTATIONS[own]
    library = getattr(importlib.import_module(module_name), attribute)
    where = f"{module_name}.{attribute}"
    wire = _tripwire(own, where, calls)
    namespaces = [vars(module) for name, module in list(sys.modules.items())
                  if module is not None and (name == "nstutils" or name.startswith("nstutils."))]
    closure = [_contents(cell) for cell in getattr(fn, "__closure__", None) or ()]
    # the learner's globals: fn's, or those of the function a check wrapped fn in (color_matching's _batchless)
    namespaces += [getattr(f, "__globals__", {}) for f in [fn, *closure] if isinstance(f, types.FunctionType)]
    saved = [(namespace, key) for namespace in namespaces for key, value in list(namespace.items())
             if value is library]
    cells = [cell for cell in getattr(fn, "__closure__", None) or () if _holds(cell, library)]
    try:
        for namespace, key in saved:
            namespace[key] = wire
        for cell in cells:                      # a name the function closed over (a def inside a def)
            cell.cell_contents = wire
        yield calls
    finally:
        for namespace, key in saved:
            namespace[key] = library
        for cell in cells:
            cell.cell_contents = library


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:                          # an empty cell: the name is not bound yet
        return None


def _holds(cell: Any, value: Any) -> bool:
    return _contents(cell) is value


@contextlib.contextmanager
def graded_alone(fn: Any, own: str) -> Iterator[None]:
    """While inside, the course functions ``fn`` calls by name (other than ``own``) are the library's, and the
    library's implementation of ``own`` itself is out of reach (:data:`OWN_IMPLEMENTATIONS`).

    Only names already bound in ``fn``'s globals are replaced (an undefined name still raises NameError), and the
    learner's bindings and the library's are restored on exit, error or not.
    """
    namespace = getattr(fn, "__globals__", None)
    code = getattr(fn, "__code__", None)
    wanted = ([name for name in PIECES if name != own and name in namespace and name in _global_names(code)]
              if namespace is not None and code is not None else [])
    references = _references() if wanted else {}
    saved = {name: namespace[name] for name in wanted}
    with _tripwires(fn, own) as calls:
        try:
            if namespace is not None:
                namespace.update({name: references[name] for name in wanted})
            yield
        finally:
            if namespace is not None:
                namespace.update(saved)
        if calls:        # the learner's code caught the tripwire's error: still no point
            raise OwnImplementationCalled(own_implementation_message(own, calls[0]))
