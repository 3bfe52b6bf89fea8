"""Checks of ``03_gram_style``: the Gram matrix, ``tile`` (its size invariance), the style loss."""

from __future__ import annotations

import itertools

import numpy as np

from .core import (Case, CheckError, as_array, call_learner, close_to, constant, load_tf, report_ok,
                   require_callable, seeded_rng, verdict)
from .diagnose import shape_text
from .runner import gradient_verdict, hint_for, run_cases, run_taped


def _np_gram(f: np.ndarray, divide: float | None = None) -> np.ndarray:
    b, h, w, c = f.shape
    x = f.reshape(b, h * w, c).astype(np.float64)
    return np.einsum("bpc,bpd->bcd", x, x) / (h * w if divide is None else divide)


def gram_matrix(fn) -> None:
    """Check ``gram_matrix(F) -> G``: ``F`` a ``[B, H, W, C]`` tensor, ``G = FᵀF / (H·W)`` of shape ``[B, C, C]``."""
    from nstutils.losses import gram_matrix as reference

    hand = np.array([[[[1, 0], [2, 1]], [[0, 1], [1, 1]]]], np.float32)        # [1, 2, 2, 2]
    maps = [("a hand-worked map of shape [1, 2, 2, 2]", hand),
            ("a random square map of shape [1, 4, 4, 3]", seeded_rng(30).normal(size=(1, 4, 4, 3))),
            ("a random non-square map of shape [1, 3, 5, 4]", seeded_rng(31).normal(size=(1, 3, 5, 4))),
            ("a batch of one, shape [1, 6, 2, 3]", seeded_rng(32).random((1, 6, 2, 3))),
            ("a batch of two images, shape [2, 3, 4, 3]", seeded_rng(33).normal(size=(2, 3, 4, 3))),
            ("a single position, shape [1, 1, 1, 5]", seeded_rng(34).normal(size=(1, 1, 1, 5)))]
    cases = []
    for label, f in maps:
        f = np.asarray(f, np.float32)
        b, h, w, c = f.shape
        m = h * w
        expected = reference(f).numpy()
        mixed = f.reshape(b, c, m).astype(np.float64)
        centred = f - f.mean(axis=(1, 2), keepdims=True)
        variants = [(f"normalisation: divide by the number of positions M = H·W = {m}; yours is M times too "
                     f"big.", expected * m),
                    (f"divide by the number of positions M = H·W = {m} only, not by H·W·C = {m * c}.",
                     expected / c),
                    (f"divide by M = H·W = {m} once, not twice (M² = {m * m}).", expected / m),
                    ("you reshaped [B, H, W, C] straight to [B, C, H·W], which mixes channels and positions: "
                     "reshape to [B, H·W, C] (channels last, as stored) and compute Fᵀ F, or use "
                     "tf.einsum('bijc,bijd->bcd', F, F).", np.einsum("bcp,bdp->bcd", mixed, mixed) / m),
                    ("you subtracted the mean of each channel (that is a covariance); the Gram matrix uses the "
                     "features as they are.", _np_gram(centred))]
        if b == 1:
            variants.append((f"keep the batch dimension: expected [1, C, C] = [1, {c}, {c}]; reshape to "
                             f"[B, H·W, C] rather than [H·W, C].", expected[0]))
        hints = [((b, m, m), f"did you multiply F by its transpose the wrong way round (HW×HW = {m}×{m})? The "
                             f"Gram matrix compares channels: Fᵀ F with F of shape [B, H·W, C] gives [B, C, C]."),
                 ((m, m), f"did you multiply F by its transpose the wrong way round (HW×HW = {m}×{m})? The Gram "
                          f"matrix compares channels: Fᵀ F gives [B, C, C]."),
                 ((c, c), f"keep the batch dimension: one Gram matrix per image, [B, C, C] = [{b}, {c}, {c}]; "
                          f"reshape to [B, H·W, C], not [-1, C].")]
        cases.append(Case(label, (constant(f),), expected, variants, hints, reference=reference))

    require_callable("gram_matrix", fn)
    taped = []
    for case in cases:
        result, grads = run_taped(lambda F, c=case: call_learner("gram_matrix", fn, c.label, F), case.fresh_args(),
                                  (0,))
        got = as_array("gram_matrix", result, case.label)
        if (got.ndim == 3 and got.shape[1] == got.shape[2] and np.all(np.isfinite(got))
                and not close_to(got, np.swapaxes(got, 1, 2), 1e-3)):
            raise CheckError(f"gram_matrix: on {case.label} your matrix is not symmetric, but G[i, j] and G[j, i] "
                             f"both average channel i times channel j: compute Fᵀ F from one reshaped F "
                             f"([B, H·W, C]) and its own transpose.")
        verdict("gram_matrix", case, got, "Gram matrix")
        taped.append((case, result, grads))
    for case, result, grads in taped:        # values first: a wrong formula is named by its values
        gradient_verdict("gram_matrix", case, result, grads, fn)
    report_ok("gram_matrix", len(cases))


def tile(fn) -> None:
    """Exercise check for ``tile(F, k) -> bigger``: ``k×k`` copies of ``F`` side by side.

    ``F`` is a ``[B, H, W, C]`` tensor; the result is ``[B, k·H, k·W, C]`` (what
    ``tf.tile(F, [1, k, k, 1])`` gives). The check then shows, with the reference
    ``gram_matrix``, that the bigger texture has exactly the same Gram matrix: it is an
    average over positions, so it does not depend on the image size. The check compares the
    result itself with the copies, not only its Gram matrix (which many wrong answers share:
    ``tf.repeat`` of every position, copies in another order).
    """

    tf = load_tf()
    require_callable("tile", fn)
    count = 0
    for f, k in ((seeded_rng(40).random((1, 3, 4, 5)), 2), (seeded_rng(41).random((1, 2, 2, 3)), 3),
                 (seeded_rng(42).random((1, 5, 3, 2)), 1)):
        f = f.astype(np.float32)
        b, h, w, c = f.shape
        label = f"F of shape {shape_text(f.shape)} with k = {k}"
        got = as_array("tile", call_learner("tile", fn, label, constant(f), k, hint=_tile_error_hint), label)
        tiled = tf.tile(f, [1, k, k, 1]).numpy()
        repeated = np.repeat(np.repeat(f, k, axis=1), k, axis=2)
        if got.shape != tiled.shape:
            raise CheckError(f"tile: {_tile_shape_mistake((b, h, w, c), k, tuple(got.shape))} (expected shape "
                             f"{shape_text(tiled.shape)}, got {shape_text(got.shape)}, on {label})")
        if not close_to(got, tiled):
            raise CheckError(f"tile: on {label} the result is not k×k copies of F side by side "
                             f"(tf.tile(F, [1, k, k, 1])) — {_tile_mistake(f, k, got, repeated)}")
        count += 1
    report_ok("tile", count,
              ": gram_matrix(tile(F, k)) == gram_matrix(F), the Gram matrix ignores size")


_AXES = ("batch", "height", "width", "channels")


def _tile_shape_mistake(shape, k: int, got) -> str:
    """Name the copies behind a result of the wrong shape ``got`` (``shape`` is F's, [B, H, W, C])."""
    for multiples in itertools.product((1, k), repeat=4):
        if tuple(n * m for n, m in zip(shape, multiples)) == got:
            copied = [axis for axis, m in zip(_AXES, multiples) if m > 1]
            where = ("only along the " + copied[0] if len(copied) == 1 and copied[0] in ("height", "width") else
                     "along the " + " and the ".join(copied) if copied else "along no axis")
            wrong = " and ".join(f"not the {axis} axis" for axis in copied if axis in ("batch", "channels"))
            return (f"you tiled {where} (tf.tile's multiples {list(multiples)}): tf.tile takes one count per axis "
                    f"of F [B, H, W, C], and the copies go side by side along the height and the width only"
                    f"{', ' + wrong if wrong else ''}: multiples [1, k, k, 1].")
    for axis in (1, 2):
        if got == tuple(n * (k * k if i == axis else 1) for i, n in enumerate(shape)):
            return (f"you put all k×k = {k * k} copies along the {_AXES[axis]}: k copies along the height and k "
                    f"along the width, multiples [1, k, k, 1].")
    return "expected [B, k·H, k·W, C]: k copies along the height and k along the width, tf.tile(F, [1, k, k, 1])."


def _tile_error_hint(exc: BaseException) -> str:
    if "multiples" in str(exc):
        return ("tf.tile takes one count per axis of F, a list of 4 for [B, H, W, C]: [1, k, k, 1] copies F k "
                "times along the height and k times along the width.")
    return ""


def _tile_mistake(f: np.ndarray, k: int, got: np.ndarray, repeated: np.ndarray) -> str:
    """Name how ``got`` (of the right shape) differs from k×k copies of ``f``."""
    from nstutils.losses import gram_matrix as reference

    if close_to(got, repeated):
        return ("you repeated every position k×k times (tf.repeat / np.repeat, a zoom): tiling puts whole copies "
                "of F next to each other, tf.tile(F, [1, k, k, 1]) or tf.concat of k copies along each axis.")
    if close_to(reference(got.astype(np.float32)).numpy(), reference(f).numpy(), 1e-3):
        return ("it has the same Gram matrix as F but is not made of copies of F side by side (positions "
                "shuffled, flipped or interleaved): use tf.tile(F, [1, k, k, 1]).")
    return ("its Gram matrix differs from F's too: a bigger copy of a texture must contain only copies of F's "
            "positions (no zeros, no new or rescaled values).")


def layer_style_loss(fn) -> None:
    """Check ``layer_style_loss(F, A) -> scalar``: ``mean((gram(F) − A)²)``.

    ``F`` is a ``[1, H, W, C]`` feature tensor, ``A`` the style image's ``[1, C, C]`` Gram
    matrix (normalised by positions, as ``gram_matrix``).
    """
    from nstutils.losses import gram_matrix as gram, style_loss as reference

    specs = [((1, 3, 4, 4), 50), ((1, 5, 3, 2), 51), ((1, 4, 4, 6), 52), ((1, 2, 6, 3), None)]
    cases = []
    for shape, seed in specs:
        rng = seeded_rng(60 + len(cases))
        f = rng.normal(size=shape).astype(np.float32)
        a = (gram(f).numpy() if seed is None
             else gram(seeded_rng(seed).normal(size=(1, 6, 5, shape[3])).astype(np.float32) * 1.5).numpy())
        label = (f"features of shape {shape_text(shape)} with the Gram matrix of their own (loss 0)" if seed is None
                 else f"features of shape {shape_text(shape)} and a random style Gram matrix "
                      f"[1, {shape[3]}, {shape[3]}]")
        m, n = shape[1] * shape[2], shape[3]
        g = _np_gram(f)
        d = g - a
        variants = []
        try:
            variants.append(("you compared the feature maps F with the Gram matrix A: compute gram_matrix(F) "
                             "first, then mean((G − A)²).", np.mean((f.astype(np.float64) - a) ** 2)))
        except ValueError:
            pass
        variants += [(f"you summed over the N² = {n * n} Gram entries: use the mean (tf.reduce_mean).",
                      np.sum(d ** 2)),
                     ("that is the paper's E_l = Σ(Ĝ − Â)²/(4N²M²) with unnormalised Grams Ĝ = FᵀF; with our "
                      "normalised Grams (÷ M) it equals ¼·mean((G − A)²), so yours is 4 times too small: "
                      "this course uses mean((G − A)²) = 4·E_l.", np.mean(d ** 2) / 4),
                     (f"you applied the paper's 1/(4N²M²) to Grams already divided by M = {m}: with our Grams "
                      f"the layer loss is simply mean((G − A)²).", np.sum(d ** 2) / (4 * n * n * m * m)),
                     (f"the Gram matrix of F must be normalised like A: divide FᵀF by M = H·W = {m} "
                      f"(use gram_matrix).", np.mean((g * m - a) ** 2)),
                     ("you took a square root: the loss is the mean *squared* difference.",
                      np.sqrt(np.mean(d ** 2))),
                     ("drop the ½: the layer loss is mean((G − A)²).", 0.5 * np.mean(d ** 2)),
                     ("you averaged absolute differences: square them.", np.mean(np.abs(d)))]
        hints = [((1, n, n), "you returned the squared differences entry by entry: average them with "
                             "tf.reduce_mean."),
                 (tuple(shape), "you subtracted A from the feature maps: compute gram_matrix(F) first.")]
        cases.append(Case(label, (constant(f), constant(a)), reference(f, a).numpy(), variants, hints,
                          reference=reference))
    run_cases("layer_style_loss", fn, cases, "loss", hint=_broadcast_hint, gradient_args=(0,))


_broadcast_hint = hint_for((("ncompatible shapes", "broadcast"),
                            "Are you subtracting the Gram matrix A [1, C, C] from the feature maps F [1, H, W, C]? "
                            "Compute gram_matrix(F) first."))


def style_loss(fn) -> None:
    """Check ``style_loss(features, target_grams, layer_weights) -> scalar``.

    Dicts ``{layer: F_l [1, H, W, C]}``, ``{layer: A_l [1, C, C]}`` and ``{layer: w_l}``;
    the result is ``Σ_l w_l · mean((gram(F_l) − A_l)²)`` over the layers of ``target_grams`` (a weighted
    *sum*, weights used as given). ``features`` may hold more layers (an extractor's content layer too): two
    cases give it one, so an answer must loop over ``target_grams``. A layer of weight 0 may be skipped.
    """
    from nstutils.losses import gram_matrix as gram, style_loss as library

    def reference(features, target_grams, layer_weights):
        return library({k: features[k] for k in target_grams}, target_grams, layer_weights)

    setups = [{"block1_conv1": ((1, 8, 6, 4), 0.5), "block2_conv1": ((1, 4, 3, 8), 2.0),
               "block3_conv1": ((1, 2, 2, 16), 0.25)},
              {"block1_conv1": ((1, 6, 6, 3), 1.0), "block4_conv1": ((1, 3, 3, 6), 0.1)},
              {"block5_conv1": ((1, 2, 3, 5), 3.0)},
              {"block1_conv1": ((1, 4, 4, 2), 1.5), "block2_conv1": ((1, 2, 2, 4), 0.0)}]
    content_layer = {1: (1, 3, 3, 6), 2: (1, 2, 3, 5)}     # setup index -> an extra feature map, no style target
    cases = []
    for index, setup in enumerate(setups):
        rng = seeded_rng(70 + index)
        f = {k: rng.normal(size=s).astype(np.float32) for k, (s, _) in setup.items()}
        a = {k: gram(rng.normal(size=(1, 5, 4, s[3])).astype(np.float32) * 1.3).numpy() for k, (s, _) in setup.items()}
        w = {k: wl for k, (_, wl) in setup.items()}
        e = {k: float(np.mean((_np_gram(f[k]) - a[k]) ** 2)) for k in setup}
        expected = reference(f, a, w).numpy()
        if index in content_layer:
            f["block5_conv2"] = rng.normal(size=content_layer[index]).astype(np.float32)
        n = len(setup)
        variants = []
        if n > 1:
            variants += [(f"you ignored layer_weights and gave every layer 1/L = 1/{n}: multiply each layer's "
                          f"loss by its own weight layer_weights[layer].", sum(e.values()) / n),
                         ("you forgot the weights: multiply each layer's loss by layer_weights[layer].",
                          sum(e.values())),
                         (f"you averaged instead of summing: the weights already set each layer's share, so "
                          f"return Σ w_l·E_l without dividing by the number of layers ({n}).", expected / n),
                         ("you divided by the sum of the weights: use the weights as given, Σ w_l·E_l.",
                          expected / sum(w.values()) if sum(w.values()) else None)]
            for k in setup:
                variants += [(f"you used only layer {k}: loop over all the layers in target_grams and add up "
                              f"w_l·E_l.", w[k] * e[k]),
                             (f"you used only layer {k}, and without its weight: loop over all layers and add "
                              f"up w_l·E_l.", e[k])]
        else:
            variants.append(("you forgot the weight: multiply the layer's loss by layer_weights[layer].",
                             sum(e.values())))
        variants.append(("you summed over the Gram entries: each layer's loss is a mean, mean((G − A)²).",
                         sum(w[k] * np.sum((_np_gram(f[k]) - a[k]) ** 2) for k in setup)))
        label = (f"{n} layer{'s' if n > 1 else ''} with weights "
                 + ", ".join(f"{k}: {wl:g}" for k, wl in w.items())
                 + (" (features also hold block5_conv2, a content layer)" if index in content_layer else ""))
        cases.append(Case(label, lambda f=f, a=a, w=w: ({k: constant(v) for k, v in f.items()},
                                                         {k: constant(v) for k, v in a.items()}, dict(w)),
                           expected, variants, reference=reference))
    run_cases("style_loss", fn, cases, "loss", hint=_layers_hint, gradient_args=(0,))


def _layers_hint(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return (f"features can hold more layers than the style targets (here {exc}, a content layer): loop over "
                f"the layers of target_grams, `for layer in target_grams:`, not over features.")
    return ""
