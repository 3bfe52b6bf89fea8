"""The objective: the weighted sum of content, style and total-variation losses of one
content/style pair, and the image the optimisation starts from.

:class:`StyleObjective` computes the style targets (Gram matrices) and content targets
(feature maps) once and then scores any image, with its gradient. ``compute_dtype="auto"``
is resolved here, when the objective is built (:func:`nstutils.arithmetic.resolve_compute_dtype`
measures the machine once), so the settings themselves stay pure. Introduced in
``05_full_transfer``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from typing import Any, Dict, Mapping, Optional

import numpy as np

from .errors import SettingsError
from .images import check_min_side, load_image, resize_image
from .settings import INITS, ObjectiveSettings, make_settings


class StyleObjective:
    """The total loss of one content/style pair at one image size (``05_full_transfer``).

    ``objective(image)`` returns the weighted terms ``{"total", "content", "style", "tv"}``
    (``total`` is their sum) for an image ``[1, H, W, 3]`` in [0, 1];
    ``objective.value_and_gradient(image)`` also returns d total / d image. The style
    targets (Gram matrices) and content targets (feature maps) are computed once, here.
    ``settings`` is an :class:`~nstutils.settings.ObjectiveSettings`; keyword overrides
    change its fields (``StyleObjective(photo, painting, compute_dtype="float32")``).
    """

    def __init__(self, content_image, style_image, settings: ObjectiveSettings | None = None, **overrides: Any):
        import tensorflow as tf

        from .arithmetic import resolve_compute_dtype
        from .features import get_extractor
        from .losses import gram_matrix

        s = make_settings(settings or ObjectiveSettings(), **overrides).objective
        self.settings = s = replace(s, compute_dtype=resolve_compute_dtype(s.compute_dtype))
        self.extractor = get_extractor(s.content_layers + tuple(l for l in s.style_layers if l not in s.content_layers),
                                       s.pooling, s.weights, s.compute_dtype)
        # content on the luminance: a second pass of the grey image, through the content layers only
        self._content_extractor = (get_extractor(s.content_layers, s.pooling, s.weights, s.compute_dtype)
                                   if s.content_channels == "luminance" and s.content_layers else None)
        self._images = (load_image(content_image), load_image(style_image))  # for exact() below
        for image, what in zip(self._images, ("the content image", "the style image")):
            check_min_side(image, name=what)  # VGG19's poolings need 16 px: one ImageError, not TensorFlow's
        content = tf.constant(self._images[0], tf.float32)
        style = tf.constant(self._images[1], tf.float32)
        self._exact: Optional["StyleObjective"] = None
        self.shape = tuple(content.shape)
        content_features = self.content_features(content, None)
        style_features = self.extractor(style)
        self.content_targets = {k: tf.constant(content_features[k]) for k in s.content_layers}
        self.style_targets = {k: tf.constant(gram_matrix(style_features[k])) for k in s.style_layers}
        self.style_layer_weights = dict(zip(s.style_layers, s.style_layer_weights)) if s.style_layer_weights \
            else None
        self._targets_replaced = False
        #: what the style targets were made from: None (the style image), a caller's name for hand-set targets,
        #: or False (hand-set, unnamed: the results cannot be reused, see :meth:`fingerprint`)
        self._targets_key: Any = None
        self._compile()

    def _compile(self) -> None:
        import tensorflow as tf

        # The targets are captured as constants when these trace, so one graph serves every step.
        # No input signature: each function traces once per image shape, so the graph of the
        # objective's own shape knows every size statically (with [1, None, None, 3] the
        # convolutions and Grams are planned for unknown sizes). ``traced_shapes`` lists the tracings.
        self.traced_shapes: list = []
        # autograph=False: no tensor-dependent Python control flow here, and autograph would write a generated
        # file per function into the temp folder, which a killed process leaves behind.
        self._losses_fn = tf.function(self._traced_terms, reduce_retracing=False, autograph=False)
        self._grad_fn = tf.function(self._value_and_gradient, reduce_retracing=False, autograph=False)

    @property
    def traces(self) -> int:
        """How many times the loss and gradient functions were traced (once each per image shape)."""
        return len(self.traced_shapes)

    def _traced_terms(self, image):
        self.traced_shapes.append(tuple(image.shape))  # Python runs here only while TensorFlow traces
        return self.terms(image)

    def exact(self) -> "StyleObjective":
        """This objective computed entirely in float32 (itself if it already is), with the same targets.

        bfloat16 losses read about 1-2 % low with a jitter of ~2e-4, enough to stall L-BFGS's
        line search near the end; the optimiser finishes with this one (see :mod:`nstutils.run`).
        """
        if self.settings.compute_dtype == "float32":
            return self
        if self._exact is None:
            self._exact = type(self)(*self._images, replace(self.settings, compute_dtype="float32"))
            if self._targets_replaced:
                self._exact.use_style_targets(self.style_targets)
        return self._exact

    def style_grams(self, image) -> Dict[str, Any]:
        """Gram matrices of ``image`` at this objective's style layers (its style "fingerprint")."""
        from .losses import gram_matrix

        features = self.extractor(as_batch(load_image(image)))
        return {k: gram_matrix(features[k]) for k in self.settings.style_layers}

    def use_style_targets(self, targets: Mapping[str, Any], key: Optional[str] = None) -> None:
        """Replace the style targets, e.g. by a blend of two paintings' Grams (``07_beyond``).

        ``key`` names what the targets were made from (the paintings' pixels and the mix), so that a run
        with them can be served from the results cache (:meth:`fingerprint`); without it, it never is."""
        import tensorflow as tf

        missing = [k for k in self.settings.style_layers if k not in targets]
        if missing:
            raise SettingsError(f"style targets lack layers {missing}")
        self.style_targets = {k: tf.constant(targets[k], tf.float32) for k in self.settings.style_layers}
        self._targets_replaced = True
        self._targets_key = key if key else False
        self._exact = None
        self._compile()

    def fingerprint(self) -> Optional[str]:
        """A sha256 of everything that defines this objective (the results cache's key, :mod:`nstutils.results`):
        its class, settings, the content and style pixels, the network weights and the style targets' name.

        None when a run of it must not be reused: a class defined outside nstutils, style targets set without
        a ``key``, or a loss function the objective calls replaced by one defined elsewhere (a learner's)."""
        from . import results

        if not type(self).__module__.startswith("nstutils.") or self._targets_key is False or \
                not engine_functions_intact():
            return None
        parts = {"class": f"{type(self).__module__}.{type(self).__qualname__}", "settings": asdict(self.settings),
                 "weights": results.weights_digest(self.settings.weights), "content": results.digest(self._images[0]),
                 "style": results.digest(self._images[1]), "style_targets": self._targets_key}
        return hashlib.sha256(json.dumps(results.canonical(parts), sort_keys=True).encode()).hexdigest()

    def content_features(self, image, features):
        """The content layers' feature maps of ``image``: from ``features`` (the pass that also gives the style
        layers), or with ``content_channels="luminance"`` from a pass of its grey version."""
        if self._content_extractor is not None:
            from .color import luminance_image

            return self._content_extractor(luminance_image(image))
        return features if features is not None else self.extractor(image)

    def tv_loss(self, image):
        """The unweighted total-variation term of ``image`` (``losses.total_variation_loss``).

        A subclass may override it to try another smoothness term (``benchmarks/variants.py``).
        """
        from .losses import total_variation_loss

        return total_variation_loss(image, self.settings.tv_kind)

    def terms(self, image) -> Dict[str, Any]:
        """The weighted loss terms of ``image`` as tensors, differentiable (use inside ``tf.GradientTape``)."""
        import tensorflow as tf

        from .losses import content_loss, style_loss

        s = self.settings
        features = self.extractor(image)
        zero = tf.constant(0.0)
        if s.content_layers:
            content_features = self.content_features(image, features)
            content = s.content_weight * content_loss({k: content_features[k] for k in s.content_layers},
                                                      self.content_targets)
        else:
            content = zero
        style = (s.style_weight * style_loss({k: features[k] for k in s.style_layers}, self.style_targets,
                                             self.style_layer_weights)
                 if s.style_layers else zero)
        tv = s.tv_weight * self.tv_loss(image)
        return {"total": content + style + tv, "content": content, "style": style, "tv": tv}

    def _value_and_gradient(self, image):
        import tensorflow as tf

        self.traced_shapes.append(tuple(image.shape))
        with tf.GradientTape() as tape:
            tape.watch(image)
            losses = self.terms(image)
        return losses, tape.gradient(losses["total"], image)

    def __call__(self, image) -> Dict[str, float]:
        """Weighted loss terms of ``image`` as Python floats."""
        return {k: float(v) for k, v in self._losses_fn(as_batch(image)).items()}

    def value_and_gradient(self, image):
        """``(losses as floats, gradient as float32 [1, H, W, 3] numpy)``."""
        losses, grad = self._grad_fn(as_batch(image))
        return {k: float(v) for k, v in losses.items()}, grad.numpy()


#: The functions an objective calls through their modules, by (module, name): :meth:`StyleObjective.fingerprint`
#: refuses to vouch for a run if any has been replaced by a function defined outside nstutils.
ENGINE_FUNCTIONS = (("losses", "content_loss"), ("losses", "style_loss"), ("losses", "gram_matrix"),
                    ("losses", "image_differences"), ("losses", "total_variation_loss"), ("color", "luminance_image"),
                    ("vgg19", "preprocess"), ("vgg19", "forward"))


def engine_functions_intact() -> bool:
    """True when every function of :data:`ENGINE_FUNCTIONS` is still nstutils' own."""
    import importlib

    for module, name in ENGINE_FUNCTIONS:
        function = getattr(importlib.import_module(f"nstutils.{module}"), name, None)
        if function is not None and not getattr(function, "__module__", "").startswith("nstutils"):
            return False
    return True


def as_batch(image):
    """``image`` as a float32 tensor ``[1, H, W, 3]`` (a batch of one added to ``[H, W, 3]``)."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image, tf.float32)
    return image[tf.newaxis] if image.shape.rank == 3 else image


def initial_image(init, content: np.ndarray, style: np.ndarray, seed: int = 0) -> np.ndarray:
    """The start image ``[1, H, W, 3]`` (``05_full_transfer``): the content photo, the photo
    recoloured with the painting's colour statistics (``"color"``), uniform noise, the style
    image resized to the content's size, or a given image."""
    shape = content.shape
    if isinstance(init, str):
        if init == "content":
            return content.copy()
        if init == "color":
            from .color import match_color

            return match_color(content, style)[np.newaxis]
        if init == "noise":
            return np.random.default_rng(seed).uniform(0.0, 1.0, size=shape).astype(np.float32)
        if init == "style":
            return resize_image(style, shape[1:3])
        raise SettingsError(f"init must be one of {', '.join(INITS)} or an image, got {init!r}")
    image = load_image(init)
    return resize_image(image, shape[1:3])
