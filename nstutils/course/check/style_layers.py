"""Checks of ``04_style_layers``: the paper's α/β as this course's loss weights."""

from __future__ import annotations

import numpy as np

from .core import Case
from .runner import run_cases


def ratio_to_weights(fn) -> None:
    """Check ``ratio_to_weights(ratio, M, N) -> (content_weight, style_weight)``.

    The paper's content loss is ``½ Σ (F − P)²``, ``M·N`` times our mean with ``M``
    positions and ``N`` channels of the content layer, times ½; so its ``α/β = ratio``
    is ours with ``content_weight = 2·M·N·ratio`` and ``style_weight = 1``.
    """
    cases = []
    for ratio, m, n in ((1e-3, 12 * 16, 512), (1e-4, 37 * 50, 128), (5e-3, 3, 7), (0.2, 24 * 32, 256)):
        right = 2.0 * m * n * ratio
        variants = [("α/β inverted: ratio is the paper's α/β (content over style); multiply by it, do not divide: "
                     "content_weight = 2·M·N·ratio.", (2.0 * m * n / ratio, 1.0)),
                    ("a factor 2 is missing: the paper's content loss is ½·Σ(F − P)² = ½·M·N × our mean, so "
                     "content_weight = 2·M·N·ratio.", (m * n * ratio, 1.0)),
                    ("you divided by 2 instead of multiplying: the paper's ½ makes its content term smaller, so "
                     "ours needs the factor 2·M·N·ratio.", (m * n * ratio / 2, 1.0)),
                    ("the pair is in the wrong order: return (content_weight, style_weight).", (1.0, right)),
                    ("you returned the ratio itself: our content loss is a mean, M·N times smaller than the "
                     "paper's sum, so content_weight = 2·M·N·ratio.", (ratio, 1.0)),
                    ("M (the number of positions) is missing: content_weight = 2·M·N·ratio.", (2.0 * n * ratio, 1.0)),
                    ("N (the number of channels) is missing: content_weight = 2·M·N·ratio.", (2.0 * m * ratio, 1.0)),
                    ("α/β inverted and the pair swapped: return (2·M·N·ratio, 1.0).", (1.0, 2.0 * m * n / ratio))]
        hints = [((), "return a pair (content_weight, style_weight), e.g. `return 2 * M * N * ratio, 1.0`."),
                 ((1,), "return a pair (content_weight, style_weight), e.g. `return 2 * M * N * ratio, 1.0`.")]
        label = f"ratio = {ratio:g}, M = {m}, N = {n}"
        cases.append(Case(label, (ratio, m, n), (right, 1.0), variants, hints))
    run_cases("ratio_to_weights", _with_ratio_hint(fn), cases, "pair of weights")


def _with_ratio_hint(fn):
    """``fn`` whose wrong pairs with the right ratio are named (style_weight must be 1.0, as the paper's table)."""
    from .core import CheckError, call_learner

    def checked(ratio, m, n):
        result = call_learner("ratio_to_weights", fn, f"ratio = {ratio:g}, M = {m}, N = {n}", ratio, m, n)
        try:
            content, style = (float(v) for v in result)
        except (TypeError, ValueError):
            return result
        right = 2.0 * m * n * ratio
        if style != 0 and abs(style - 1.0) > 1e-6 and np.isclose(content / style, right, rtol=1e-4):
            raise CheckError(f"ratio_to_weights: on ratio = {ratio:g}, M = {m}, N = {n} the ratio "
                             f"content_weight/style_weight is right but style_weight is {style:.6g}: keep "
                             f"style_weight = 1.0 and put everything in content_weight = 2·M·N·ratio.")
        return result

    return checked if callable(fn) else fn
