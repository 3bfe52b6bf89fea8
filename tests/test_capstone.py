"""The capstone of 05_full_transfer: the learner's functions paint, and the graded check catches their mistakes.

Fed the reference functions, check_your_style_transfer passes (the loss curve within CURVE_RTOL of
stylize(optimizer="adam")); fed one realistic mistake at a time, it fails and names the function.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

# the learner's way of writing them, which the mistakes below change one thing in
from learner_code import adam_step as adam, gram_matrix as gram  # noqa: E402
from nstutils import losses  # noqa: E402
from nstutils.course import capstone  # noqa: E402
from nstutils.course.check import CheckError  # noqa: E402
from nstutils.course.check.pieces import reference_adam_step  # noqa: E402
from nstutils.vgg19 import CAFFE_MEAN_BGR  # noqa: E402

SIZE, STEPS = 64, 4


REFERENCE = capstone.YourPieces(
    preprocess=lambda image: image[..., ::-1] * 255.0 - CAFFE_MEAN_BGR,
    content_loss=lambda F, P: tf.reduce_mean(tf.square(F - P)),
    gram_matrix=gram,
    style_loss=lambda f, grams, w: tf.add_n([w[k] * tf.reduce_mean(tf.square(gram(f[k]) - grams[k])) for k in grams]),
    total_variation_loss=lambda image: losses.total_variation_loss(image),
    total_loss=lambda c, s, t, wc, ws, wt: wc * c + ws * s + wt * t,
    adam_step=reference_adam_step)


def test_the_reference_pieces_paint_stylizes_curve(capsys):
    difference = capstone.check_your_style_transfer(REFERENCE, max_dim=SIZE, steps=STEPS)
    assert difference.shape == (STEPS,) and difference.max() < capstone.CURVE_RTOL / 10
    assert "✔ your style transfer: the same loss curve" in capsys.readouterr().out


def test_paint_returns_the_picture_and_the_curve():
    result = capstone.YourStyleTransfer(REFERENCE, "tubingen", "starry_night", max_dim=SIZE, steps=3).paint()
    assert result.image.shape == (*result.content.shape[1:3], 3) and len(result.losses) == 3
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0 and result.losses[-1] < result.losses[0]


MISTAKES = {
    "preprocess": ("RGB kept", dict(preprocess=lambda image: image * 255.0 - CAFFE_MEAN_BGR)),
    "gram_matrix": ("no 1/M", dict(gram_matrix=lambda F: gram(F) * float(F.shape[1] * F.shape[2]))),
    "content_loss": ("a sum", dict(content_loss=lambda F, P: tf.reduce_sum(tf.square(F - P)))),
    "total_variation_loss": ("a mean", dict(total_variation_loss=lambda x: tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]))
                                            + tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1])))),
    "total_loss": ("weights swapped", dict(total_loss=lambda c, s, t, wc, ws, wt: ws * c + wc * s + wt * t)),
    "adam_step": ("no clip", dict(adam_step=lambda i, l, o: adam(i, l, o, clip=False))),
}


@pytest.mark.parametrize("piece", sorted(MISTAKES))
def test_one_wrong_piece_fails_the_check_and_is_named(piece):
    _, change = MISTAKES[piece]
    with pytest.raises(CheckError) as info:
        capstone.check_your_style_transfer(dataclasses.replace(REFERENCE, **change), max_dim=SIZE, steps=STEPS)
    assert f"your {piece}" in str(info.value), str(info.value)


def test_a_numpy_result_is_named_as_the_lost_gradient():
    pieces = dataclasses.replace(REFERENCE, total_variation_loss=lambda x: np.sum(np.abs(np.diff(np.asarray(x), axis=1))))
    with pytest.raises(CheckError, match="total_variation_loss returned a .* not a TensorFlow tensor"):
        capstone.check_your_style_transfer(pieces, max_dim=SIZE, steps=2)


def test_the_loss_after_the_step_is_named():
    problem = capstone.diagnose(dataclasses.replace(REFERENCE, adam_step=lambda i, l, o: adam(i, l, o, after=True)),
                                max_dim=SIZE)
    assert problem and "that is the loss after the step" in problem


def test_an_unfinished_piece_says_not_implemented():
    def stub(F):
        raise NotImplementedError("Your code here")
    with pytest.raises(CheckError, match="not implemented yet"):
        capstone.check_your_style_transfer(dataclasses.replace(REFERENCE, gram_matrix=stub), max_dim=SIZE, steps=2)


def test_pieces_from_a_namespace_list_what_is_missing():
    names = {name: getattr(REFERENCE, name) for name in capstone.PIECES if name != "adam_step"}
    with pytest.raises(CheckError, match="adam_step"):
        capstone.YourPieces.from_names(names)
    assert capstone.YourPieces.from_names({**names, "adam_step": adam}).adam_step is adam


def test_reconstruct_with_your_content_loss_lowers_it():
    from nstutils.features import FeatureExtractor
    from nstutils.images import load_image

    photo = load_image("tubingen", 48)
    targets = FeatureExtractor(["conv1_2"])(photo)
    mine = lambda f: tf.add_n([tf.reduce_mean(tf.square(f[k] - targets[k])) for k in targets])
    result = capstone.reconstruct_with(mine, ["conv1_2"], photo, steps=10)
    assert result.image.shape == photo.shape[1:] and result.losses[-1] < result.losses[0] / 10
    with pytest.raises(CheckError, match="no gradient"):
        capstone.reconstruct_with(lambda f: float(np.sum(f["block1_conv2"])), ["conv1_2"], photo, steps=2)
