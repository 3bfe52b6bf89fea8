"""Checks of ``02_content``: the content loss, on one layer and on several."""

from __future__ import annotations

import numpy as np

from .core import Case, constant, key_hint, seeded_rng
from .runner import run_cases


def content_loss(fn) -> None:
    """Check ``content_loss(F, P) -> scalar``: ``mean((F − P)²)`` of two ``[1, H, W, C]`` tensors.

    The result must be a tensor whose gradient reaches ``F`` (the image's features are optimised).
    """
    from nstutils.losses import content_loss as reference

    hand_f = np.array([[[[1.0, 2.0], [0.0, 1.0]]]], np.float32)           # [1, 1, 2, 2]
    hand_p = np.array([[[[0.0, 0.0], [1.0, 1.0]]]], np.float32)
    pairs = [("hand-worked maps F = [[1, 2], [0, 1]], P = [[0, 0], [1, 1]] of shape [1, 1, 2, 2]", hand_f, hand_p),
             ("random maps of shape [1, 4, 6, 3]", seeded_rng(11).normal(size=(1, 4, 6, 3)),
              seeded_rng(12).normal(size=(1, 4, 6, 3))),
             ("random maps of shape [1, 3, 3, 8]", seeded_rng(13).random((1, 3, 3, 8)),
              seeded_rng(14).random((1, 3, 3, 8))),
             ("two identical maps (the loss must be 0)", seeded_rng(15).random((1, 2, 5, 4)), None)]
    cases = []
    for label, f, p in pairs:
        f = np.asarray(f, np.float32)
        p = f.copy() if p is None else np.asarray(p, np.float32)
        d = f.astype(np.float64) - p
        size = d.size
        variants = [(f"you returned the sum of squared differences, {size} (= number of entries N·M) times "
                     f"ours: use tf.reduce_mean, not tf.reduce_sum.", np.sum(d ** 2)),
                    (f"that is the paper's ½·Σ(F − P)²; this course normalises with the mean, which is "
                     f"{size / 2:g} (= N·M/2) times smaller: use tf.reduce_mean(tf.square(F - P)).",
                     0.5 * np.sum(d ** 2)),
                    ("drop the ½: the loss is mean((F − P)²).", 0.5 * np.mean(d ** 2)),
                    ("you took a square root (RMSE): the loss is the mean *squared* error, no square root.",
                     np.sqrt(np.mean(d ** 2))),
                    ("you averaged absolute differences |F − P|: square the differences instead.",
                     np.mean(np.abs(d))),
                    ("square each difference: without squaring, positive and negative differences cancel.",
                     np.mean(d)),
                    ("square each difference before averaging, not the average of the differences.",
                     np.mean(d) ** 2)]
        hints = [(f.shape, "you returned the squared differences entry by entry: average them all into one "
                           "number with tf.reduce_mean.")]
        cases.append(Case(label, (constant(f), constant(p)), reference(f, p).numpy(), variants, hints,
                          reference=reference))
    run_cases("content_loss", fn, cases, "loss", gradient_args=(0,))


def content_loss_layers(fn) -> None:
    """Exercise check for ``content_loss_layers(features, targets) -> scalar``.

    ``features`` and ``targets`` are dicts ``{layer: [1, H, W, C]}`` with the same keys;
    the result is the mean over layers of each layer's ``mean((F_l − P_l)²)``, so every
    layer counts equally whatever its size (``nstutils.losses.content_loss`` on dicts).
    """
    from nstutils.losses import content_loss as reference

    shapes = {"block4_conv2": (1, 4, 6, 8), "block5_conv2": (1, 2, 3, 16), "block2_conv2": (1, 8, 12, 4)}
    cases = []
    for index, layers in enumerate((["block4_conv2", "block5_conv2"], ["block2_conv2", "block4_conv2",
                                                                        "block5_conv2"], ["block5_conv2"])):
        rng = seeded_rng(20 + index)
        f = {k: rng.normal(size=shapes[k]).astype(np.float32) for k in layers}
        p = {k: rng.normal(size=shapes[k]).astype(np.float32) * 0.5 for k in layers}
        per_layer = {k: float(np.mean((f[k].astype(np.float64) - p[k]) ** 2)) for k in layers}
        variants = [(f"you summed the layers' losses: average them (divide by the number of layers, "
                     f"{len(layers)}).", sum(per_layer.values())),
                    ("you pooled all entries of all layers into one mean, so big layers count more: take "
                     "each layer's mean first, then the mean over layers.",
                     np.mean(np.concatenate([((f[k].astype(np.float64) - p[k]) ** 2).ravel() for k in layers]))),
                    ] + [(f"you used only layer {k}: loop over all layers in targets.", v)
                         for k, v in per_layer.items()] + [
                    ("you summed squared differences within each layer: use each layer's mean.",
                     np.mean([np.sum((f[k].astype(np.float64) - p[k]) ** 2) for k in layers]))]
        label = f"{len(layers)} layer{'s' if len(layers) > 1 else ''} ({', '.join(layers)})"
        cases.append(Case(label, lambda f=f, p=p: ({k: constant(v) for k, v in f.items()},
                                                    {k: constant(v) for k, v in p.items()}),
                           reference(f, p).numpy(), variants))
    run_cases("content_loss_layers", fn, cases, "loss", hint=key_hint, gradient_args=(0,))
