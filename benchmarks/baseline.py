"""The TensorFlow tutorial's style transfer, written out from its published recipe.

It shares nothing with nstutils' optimiser: a Keras VGG19 (weights set from the same
compact weights nstutils uses), the tutorial's Gram matrix, losses, Adam and clipping, in
float32. Only ``load_image`` and ``load_vgg19_weights`` come from nstutils, so both sides
see identical inputs and weights.
"""

from __future__ import annotations

import time
from typing import Dict, List

import numpy as np

CONTENT_LAYERS = ["block5_conv2"]
STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
STYLE_WEIGHT = 1e-2
CONTENT_WEIGHT = 1e4
TV_WEIGHT = 30.0


def vgg_layers(layer_names: List[str]):
    import keras

    from nstutils.weights import load_vgg19_weights

    vgg = keras.applications.VGG19(include_top=False, weights=None)
    for name, (kernel, bias) in load_vgg19_weights().items():
        vgg.get_layer(name).set_weights([kernel, bias])
    vgg.trainable = False
    return keras.Model([vgg.input], [vgg.get_layer(name).output for name in layer_names])


def gram_matrix(input_tensor):
    import tensorflow as tf

    result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
    shape = tf.shape(input_tensor)
    return result / tf.cast(shape[1] * shape[2], tf.float32)


class TutorialObjective:
    """style_content_loss + total variation, exactly as the tutorial computes them."""

    def __init__(self, content_image: np.ndarray, style_image: np.ndarray):
        import tensorflow as tf

        self.vgg = vgg_layers(STYLE_LAYERS + CONTENT_LAYERS)
        self.style_targets = self.extract(tf.constant(style_image))["style"]
        self.content_targets = self.extract(tf.constant(content_image))["content"]

    def extract(self, inputs):
        import keras

        preprocessed = keras.applications.vgg19.preprocess_input(inputs * 255.0)
        outputs = self.vgg(preprocessed)
        style = [gram_matrix(o) for o in outputs[: len(STYLE_LAYERS)]]
        return {"style": dict(zip(STYLE_LAYERS, style)),
                "content": dict(zip(CONTENT_LAYERS, outputs[len(STYLE_LAYERS):]))}

    def loss(self, image):
        import tensorflow as tf

        outputs = self.extract(image)
        style_loss = tf.add_n([tf.reduce_mean((outputs["style"][k] - self.style_targets[k]) ** 2)
                               for k in STYLE_LAYERS]) * STYLE_WEIGHT / len(STYLE_LAYERS)
        content_loss = tf.add_n([tf.reduce_mean((outputs["content"][k] - self.content_targets[k]) ** 2)
                                 for k in CONTENT_LAYERS]) * CONTENT_WEIGHT / len(CONTENT_LAYERS)
        return style_loss + content_loss + TV_WEIGHT * tf.reduce_sum(tf.image.total_variation(image))

    def evaluate(self, image: np.ndarray) -> float:
        """The tutorial's objective at ``image`` ([1, H, W, 3] or [H, W, 3]), in float32."""
        import tensorflow as tf

        image = np.asarray(image, np.float32)
        return float(self.loss(tf.constant(image if image.ndim == 4 else image[None])))


def _tutorial_loop(content_image: np.ndarray, style_image: np.ndarray):
    """The tutorial's loop: Adam(0.02, β₁ 0.99, ε 0.1), start from the content image, clip each step."""
    import tensorflow as tf

    objective = TutorialObjective(content_image, style_image)
    image = tf.Variable(content_image)
    opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)

    @tf.function()
    def train_step(image):
        with tf.GradientTape() as tape:
            loss = objective.loss(image)
        grad = tape.gradient(loss, image)
        opt.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0))
        return loss

    return objective, image, train_step


def tutorial_seconds_per_step(content_image: np.ndarray, style_image: np.ndarray, steps: int = 20) -> float:
    """Median wall time of one tutorial step (after the traced first one).

    Every step costs the same, so ``1000 ×`` this is the tutorial's run time on the machine
    as it is now, even when its loss comes from a cached run made on another day or under load.
    """
    _, image, train_step = _tutorial_loop(content_image, style_image)
    train_step(image).numpy()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step(image).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_tutorial(content_image: np.ndarray, style_image: np.ndarray, steps: int = 1000) -> Dict[str, object]:
    """The tutorial's 1,000 steps; returns its final loss (float32) and image, and the time it took."""
    objective, image, train_step = _tutorial_loop(content_image, style_image)
    train_step(image)  # step 1 also traces the graph: keep it off the clock
    start = time.perf_counter()
    for _ in range(steps - 1):
        train_step(image)
    per_step = (time.perf_counter() - start) / max(1, steps - 1)
    seconds = per_step * steps
    final = image.numpy()
    return {"steps": steps, "seconds": seconds, "seconds_per_step": seconds / steps,
            "final_loss": objective.evaluate(final), "image": final}
