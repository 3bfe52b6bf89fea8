"""Checks that teach: one-line tests for the course's "your turn" cells.

Introduced in ``01_cnn_features``. Each your-turn cell asks you to write one piece of
style transfer as a function; the cell after it calls the matching check with the
function itself (no parentheses)::

    def gram_matrix(F):
        ...                       # your code
        return G

    check.gram_matrix(gram_matrix)

The check runs your function on several cases (hand-worked and random inputs, batch of
one, non-square maps) and compares it with the tested reference in :mod:`nstutils`
(:mod:`nstutils.losses`, :mod:`nstutils.vgg19`, ``tf.nn``). Convention:

* on success it prints **one green line**, e.g. ``✔ gram_matrix: correct on 6 cases``;
* on failure it raises :class:`CheckError` (an ``AssertionError``) whose message is a
  one-paragraph diagnosis: which case failed, what was expected, and, when your result
  matches a known mistake (sum instead of mean, kernel flipped, RGB instead of BGR, …),
  what that mistake is and how to fix it;
* a function that still raises ``NotImplementedError`` gives
  ``"<name> is not implemented yet"``; any other exception from your code is reported
  with its type and message (its traceback is chained above the check's);
* results may be TensorFlow tensors, numpy arrays or Python floats, compared with a
  relative tolerance of 1e-4.

:data:`SIGNATURES` lists, for every check, the function it expects. The checking engine is
:mod:`.core`; each notebook's checks live in their own module and are re-exported here, so
``from nstutils.course import check; check.gram_matrix(gram_matrix)`` works.
"""

from __future__ import annotations

from .cnn_features import convolution, max_pool, preprocess
from .content import content_loss, content_loss_layers
from .core import SIGNATURES, CheckError, same, signature
from .full_transfer import adam_step, total_loss, total_variation_loss, tv_l1_vs_l2
from .gram_style import gram_matrix, gram_size_invariance, layer_style_loss, style_loss
from .optimizers import scipy_objective

__all__ = ["CheckError", "SIGNATURES", "signature", "same"] + [k for k in SIGNATURES if k != "same"]
