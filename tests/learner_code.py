"""Course functions written as a learner writes them in the notebooks' your-turn cells, shared by the tests that
feed them to the checks (test_check, test_learner_mistakes, test_capstone).

Each keyword switches on one realistic mistake, so every test builds its wrong answers from the same right one.
"""

from __future__ import annotations

import tensorflow as tf


def gram_matrix(F, *, wrong_way_round=False):
    """03_gram_style's Gram matrix: F [B, H, W, C] -> [B, C, C], divided by H·W. The mistake
    ``wrong_way_round`` multiplies F Fᵀ, [B, HW, HW]."""
    b, h, w, c = F.shape
    x = tf.reshape(F, [b, h * w, c])
    return tf.matmul(x, x, transpose_a=not wrong_way_round, transpose_b=wrong_way_round) / float(h * w)


def adam_step(image, loss_fn, optimizer, *, uphill=False, apply=True, clip=True, after=False, numpy_loss=False):
    """05_full_transfer's Adam step. The defaults are right; each keyword is one mistake: ``uphill`` negates the
    gradient, ``apply=False`` never applies it, ``clip=False`` leaves [0, 1], ``after`` returns the loss after the
    step, ``numpy_loss`` hands the loss a NumPy copy the tape cannot follow."""
    with tf.GradientTape() as tape:
        loss = loss_fn(image.numpy() if numpy_loss else image)
    grad = tape.gradient(loss, image)
    if uphill:
        grad = -grad
    if apply:
        optimizer.apply_gradients([(grad, image)])
    if clip:
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
    return loss_fn(image) if after else loss
