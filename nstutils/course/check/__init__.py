"""Checks that teach: one-line tests for the course's "your turn" cells.

Introduced in ``01_cnn_features``. Each your-turn cell asks you to write one piece of
style transfer as a function; the cell after it calls the check of the same name with
the function itself (no parentheses)::

    def gram_matrix(F):
        ...                       # your code
        return G

    check.gram_matrix(gram_matrix)

The check runs your function on several cases (hand-worked and random inputs, batch of
one, non-square maps) and compares it with the tested reference in :mod:`nstutils`
(:mod:`nstutils.losses`, :mod:`nstutils.vgg19`, ``tf.nn``). Convention:

* on success it prints **one green line**, e.g. ``✔ gram_matrix: correct on 6 cases``;
* on failure it raises :class:`CheckError` (an ``AssertionError``, so the cell fails for
  nbgrader and nbval) whose message is a one-paragraph diagnosis: first, when your result
  matches a known mistake (sum instead of mean, kernel flipped, RGB instead of BGR, a
  missing bias correction, …), what it is and how to fix it, then which case failed and
  what was expected; in a notebook only that message shows (in red, in lines of at most
  78 characters, which ``nbgrader validate`` shows whole), with the lines of your own code
  when it raised, not the check's or TensorFlow's internals (:func:`setup`);
* calling the library's own implementation of the function you are asked to write
  (``losses.gram_matrix`` in your ``gram_matrix``) fails the check (:mod:`.pieces`);
* your function gets copies of its inputs: changing them in place is named as a mistake;
* a function whose result feeds a gradient (preprocessing, the losses, the Gram matrix)
  must return a TensorFlow tensor the gradient flows through: a NumPy result is named
  (the gradient would be lost);
* a function that still raises ``NotImplementedError`` gives
  ``"<name> is not implemented yet"``; any other exception from your code is reported
  with its type and message.

:data:`SIGNATURES` lists, for every check, the function it expects. The checking engine is
:mod:`.core` (with :mod:`.runner` and :mod:`.diagnose`); each notebook's checks live in their
own module and are re-exported here, so ``from nstutils.course import check;
check.gram_matrix(gram_matrix)`` works.
"""

from __future__ import annotations

from .audio import griffin_lim, random_features, spectrogram
from .beyond import color_matching
from .cnn_features import avg_pool, convolution, max_pool, preprocess
from .content import content_loss, content_loss_layers
from .core import CheckError, same
from .display import setup, short_traceback
from .full_transfer import adam_step, total_loss, total_variation_l2, total_variation_loss
from .gram_style import gram_matrix, layer_style_loss, style_loss, tile
from .optimizers import adam_first_step, gd_step, scipy_objective
from .signatures import SIGNATURES, signature
from .style_layers import ratio_to_weights

__all__ = ["CheckError", "SIGNATURES", "signature", "same", "setup", "short_traceback"] + [
    k for k in SIGNATURES if k != "same"]

setup()
