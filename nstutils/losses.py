"""The three losses of style transfer, each with its normalisation written down.

Notation: a feature map ``F`` of one layer has shape ``[B, H, W, C]``; ``M = H·W``
positions and ``N = C`` channels.

* ``gram_matrix(F) = Fᵀ F / M``: shape ``[B, C, C]``. Dividing by ``M`` makes the
  Gram matrix an *average* over positions, so images of different sizes compare.
* ``content_loss = mean over content layers of mean((F − P)²)``: the mean squared
  error of feature maps (the paper uses ½·Σ, i.e. ``M·N/2`` times ours per layer).
* ``style_loss = Σ_l w_l · mean((G_l − A_l)²)``, with ``w_l = 1/L`` by default, where
  ``mean`` runs over the ``N²`` Gram entries. With our Gram, this equals
  ``4 · w_l · E_l`` for the paper's ``E_l = Σ(G − A)² / (4 N² M²)`` (unnormalised Grams).
* ``total_variation_loss``: ``"l1"`` (default) is the sum over the image of the absolute
  differences between neighbouring pixels, in x and in y, as ``tf.image.total_variation``;
  ``"l2"`` sums the squared differences instead.

These are exactly the TensorFlow tutorial's terms, so with its weights
(content 1e4, style 1e-2, TV 30) ``total_loss`` is its objective. Every function
accepts numpy arrays or tensors and returns a scalar (or ``[B, C, C]``) tensor.
Introduced in ``02_content`` (content), ``03_gram_style`` (Gram, style) and
``05_full_transfer`` (total variation and total loss). TensorFlow is imported when a loss
is first computed, not when this module is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from .errors import SettingsError
from .vgg19 import layer_name

if TYPE_CHECKING:  # for the annotations only
    import tensorflow as tf

#: Feature maps, images or Gram matrices: numpy arrays or tensors.
TensorLike = Any


def gram_matrix(features: TensorLike) -> tf.Tensor:
    """``[B, H, W, C]`` feature maps -> ``[B, C, C]`` Gram matrices ``Fᵀ F / (H·W)``.

    Entry ``(i, j)`` is the average over positions of channel i times channel j: large
    when the two features fire together, regardless of where.
    """
    import tensorflow as tf

    features = tf.convert_to_tensor(features)
    if features.dtype not in (tf.float16, tf.bfloat16, tf.float32, tf.float64):
        features = tf.cast(features, tf.float32)
    if features.shape.rank != 4:
        raise SettingsError(f"gram_matrix expects [B, H, W, C] features, got shape {features.shape}")
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], features.dtype)
    return tf.einsum("bijc,bijd->bcd", features, features) / positions


def _as_dict(value) -> Dict[str, "tf.Tensor"]:
    if isinstance(value, Mapping):
        return dict(value)
    return {"_": value}


def content_loss(features: TensorLike | Mapping[str, TensorLike], targets: TensorLike | Mapping[str, TensorLike]
                 ) -> tf.Tensor:
    """Mean over layers of the mean squared error between feature maps.

    ``features`` and ``targets`` are tensors/arrays of equal shape, or dicts
    ``{layer: tensor}`` with the same keys.
    """
    import tensorflow as tf

    features, targets = _as_dict(features), _as_dict(targets)
    _same_keys(features, targets, "content")
    terms = [tf.reduce_mean(tf.square(tf.cast(features[k], tf.float32) - tf.cast(targets[k], tf.float32)))
             for k in targets]
    return tf.add_n(terms) / len(terms)


def style_loss(features: TensorLike | Mapping[str, TensorLike], target_grams: TensorLike | Mapping[str, TensorLike],
               layer_weights: Mapping[str, float] | Sequence[float] | None = None
               ) -> tf.Tensor:
    """``Σ_l w_l · mean((gram_matrix(F_l) − A_l)²)``; ``w_l = 1/L`` unless ``layer_weights`` is given.

    ``features`` are feature maps ``{layer: [B, H, W, C]}`` and ``target_grams`` the
    style image's Gram matrices ``{layer: [B, C, C]}`` (a single pair works too).
    ``layer_weights`` maps layer -> weight (or lists them in ``target_grams``' order);
    they are used as given, not renormalised, and must be non-negative.
    """
    import tensorflow as tf

    features, target_grams = _as_dict(features), _as_dict(target_grams)
    _same_keys(features, target_grams, "style")
    keys = list(target_grams)
    weights = resolve_layer_weights(keys, layer_weights)
    terms = [
        weights[k] * tf.reduce_mean(tf.square(gram_matrix(tf.cast(features[k], tf.float32))
                                              - tf.cast(target_grams[k], tf.float32)))
        for k in keys if weights[k] != 0.0
    ]
    if not terms:
        return tf.constant(0.0)
    return tf.add_n(terms)


def resolve_layer_weights(keys: Sequence[str], layer_weights: Mapping[str, float] | Sequence[float] | None
                          ) -> Dict[str, float]:
    """``{layer: w_l}`` for ``keys``: ``1/L`` each by default, else from a mapping or a list; all ≥ 0."""
    if layer_weights is None:
        return {k: 1.0 / len(keys) for k in keys}
    if isinstance(layer_weights, Mapping):
        by_name = {}
        for name, weight in layer_weights.items():
            by_name[name if name in keys else layer_name(name)] = weight
        missing = [k for k in keys if k not in by_name]
        if missing:
            raise SettingsError(f"layer_weights has no weight for {missing}")
        values = [float(by_name[k]) for k in keys]
    else:
        values = [float(w) for w in layer_weights]
        if len(values) != len(keys):
            raise SettingsError(f"got {len(values)} layer weights for {len(keys)} style layers")
    for key, value in zip(keys, values):
        if not value >= 0.0 or value == float("inf"):
            raise SettingsError(f"style layer weight for {key} must be a finite number ≥ 0, got {value}")
    return dict(zip(keys, values))


def _same_keys(a, b, what) -> None:
    if set(a) != set(b):
        raise SettingsError(f"{what} features have layers {sorted(a)} but targets have {sorted(b)}")


def image_differences(image: TensorLike) -> Tuple["tf.Tensor", "tf.Tensor"]:
    """Differences between vertical and horizontal neighbours: ``(dy [B,H-1,W,C], dx [B,H,W-1,C])``."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image, dtype=tf.float32)
    if image.shape.rank == 3:
        image = image[tf.newaxis]
    return image[:, 1:, :, :] - image[:, :-1, :, :], image[:, :, 1:, :] - image[:, :, :-1, :]


def total_variation_loss(image: TensorLike, kind: str = "l1") -> tf.Tensor:
    """Total variation summed over the image (and batch).

    ``"l1"``: ``Σ|dx| + Σ|dy|`` (equals ``tf.image.total_variation``); ``"l2"``:
    ``Σdx² + Σdy²``. Large when neighbouring pixels differ: it penalises noise.
    """
    import tensorflow as tf

    dy, dx = image_differences(image)
    if kind == "l1":
        return tf.reduce_sum(tf.abs(dx)) + tf.reduce_sum(tf.abs(dy))
    if kind == "l2":
        return tf.reduce_sum(tf.square(dx)) + tf.reduce_sum(tf.square(dy))
    raise SettingsError(f"total variation kind must be 'l1' or 'l2', got {kind!r}")


def with_input_gradient(loss_of: Callable[[Any], Any], jit_compile: Optional[bool] = None) -> Callable:
    """``image -> (loss_of(image), d loss / d image)`` as one ``tf.function`` (compiled by XLA when
    ``jit_compile``): the evaluation :mod:`nstutils.arithmetic` times and the benchmarks compare."""
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile, autograph=False)  # no generated files left in the temp folder
    def evaluate(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = loss_of(image)
        return loss, tape.gradient(loss, image)
    return evaluate
