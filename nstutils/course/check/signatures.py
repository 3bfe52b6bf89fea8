"""What each check of :mod:`nstutils.course.check` expects: the learner's function, named as the check.

Introduced in ``01_cnn_features`` (``check.signature("gram_matrix")`` prints one entry).
"""

from __future__ import annotations

from typing import Dict

#: check name (= the learner's function name) -> the signature and meaning of that function.
SIGNATURES: Dict[str, str] = {
    "preprocess": "preprocess(image) -> x: image [1, H, W, 3] float tensor in [0, 1] (RGB); x = BGR, ×255, "
                  "minus CAFFE_MEAN_BGR, same shape, a tf.Tensor (it feeds the gradient)",
    "convolution": "convolution(image, kernel) -> out: numpy image [H, W], kernel [kh, kw]; 'valid' 2-D "
                   "cross-correlation (what tf.nn.conv2d computes), out [H-kh+1, W-kw+1]",
    "max_pool": "max_pool(x) -> y: numpy x [H, W] (H, W even); 2×2 max pooling with stride 2, y [H/2, W/2]",
    "avg_pool": "avg_pool(x) -> y: numpy x [H, W] (H, W even); 2×2 average pooling with stride 2, y [H/2, W/2]",
    "content_loss": "content_loss(F, P) -> scalar tensor: F, P tensors [1, H, W, C]; mean((F - P)²)",
    "content_loss_layers": "content_loss_layers(features, targets) -> scalar tensor: dicts layer -> [1, H, W, C]; "
                           "mean over layers of mean((F_l - P_l)²)",
    "gram_matrix": "gram_matrix(F) -> G tensor: F tensor [B, H, W, C]; G [B, C, C] = FᵀF / (H·W)",
    "layer_style_loss": "layer_style_loss(F, A) -> scalar tensor: F tensor [1, H, W, C], A Gram tensor "
                        "[1, C, C]; mean((gram(F) - A)²)",
    "style_loss": "style_loss(features, target_grams, layer_weights) -> scalar tensor: dicts layer -> F "
                  "[1, H, W, C], layer -> A [1, C, C], layer -> w_l; Σ_l w_l·mean((gram(F_l) - A_l)²) over the "
                  "layers of target_grams (features may hold more layers)",
    "tile": "tile(F, k) -> bigger: F tensor [B, H, W, C], k ≥ 1; k×k copies of F side by side, "
            "[B, k·H, k·W, C] (as tf.tile(F, [1, k, k, 1])); the check shows gram(tile(F, k)) == gram(F)",
    "ratio_to_weights": "ratio_to_weights(ratio, M, N) -> (content_weight, style_weight): the paper's α/β = ratio, "
                        "content layer with M positions and N channels; (2·M·N·ratio, 1.0)",
    "total_variation_loss": "total_variation_loss(image) -> scalar tensor: image tensor [1, H, W, 3]; Σ|dx| + "
                            "Σ|dy| (= tf.image.total_variation)",
    "total_variation_l2": "total_variation_l2(image) -> scalar tensor: image tensor [1, H, W, 3]; Σdx² + Σdy² "
                          "(squared differences instead of absolute ones)",
    "total_loss": "total_loss(content, style, tv, content_weight, style_weight, tv_weight) -> scalar: "
                  "content_weight·content + style_weight·style + tv_weight·tv (numbers or scalar tensors; a "
                  "tensor when the losses are tensors)",
    "adam_step": "adam_step(image, loss_fn, optimizer) -> loss before the step: image tf.Variable [1, H, W, 3], "
                 "loss_fn(image) -> scalar tensor, optimizer a tf.keras.optimizers.Adam; GradientTape, "
                 "optimizer.apply_gradients, then image.assign(tf.clip_by_value(image, 0, 1))",
    "scipy_objective": "scipy_objective(x, value_and_grad, shape) -> (loss float, gradient float64 1-D): x float64 "
                       "1-D numpy, value_and_grad(image [1, H, W, 3] float32) -> (loss tensor, grad tensor), "
                       "shape = (1, H, W, 3); for scipy.optimize.minimize(..., method='L-BFGS-B', jac=True)",
    "gd_step": "gd_step(x, g, learning_rate) -> new image: numpy x and g [1, H, W, 3]; "
               "clip(x - learning_rate·g / mean(|g|), 0, 1), x left unchanged",
    "adam_first_step": "adam_first_step(x, g, learning_rate=0.02, beta_1=0.99, beta_2=0.999, epsilon=0.1) -> new "
                       "image: Adam's first step (m_0 = v_0 = 0, with bias correction) clipped to [0, 1], x left "
                       "unchanged",
    "color_matching": "color_matching(painting, photo) -> recoloured painting: numpy [1, H, W, 3] images in [0, 1]; "
                      "the painting's pixels mapped so their RGB mean and covariance are the photo's "
                      "(Σ_photo^½ Σ_painting^-½ (x − μ_painting) + μ_photo), clipped to [0, 1]; inputs unchanged",
    "spectrogram": "spectrogram(wave, n_fft=N_FFT, hop=HOP) -> S: wave float tensor [samples]; S = log(1 + "
                   "|tf.signal.stft(wave, frame_length=n_fft, frame_step=hop)|), [frames, n_fft // 2 + 1]",
    "random_features": "random_features(spec, filters) -> F tensor: spec tensor [frames, bins], filters [width, bins, "
                       "N]; F = relu(conv1d(spec[tf.newaxis], filters, stride 1, 'VALID')), [1, frames - width + 1, "
                       "N] (the gradient flows back to spec)",
    "griffin_lim": "griffin_lim(magnitude, phase, iterations) -> wave: numpy magnitude and phase [frames, bins]; "
                   "spectrum = magnitude·e^{i·phase}, then iterations × (wave = istft(spectrum), spectrum = "
                   "magnitude·e^{i·angle(stft(wave))}), return istft(spectrum) [samples]",
    "same": "same(name, value, reference): value a number/array, or a function of no arguments returning one",
}


def signature(name: str) -> str:
    """The learner's function that ``check.<name>`` expects (from :data:`SIGNATURES`)."""
    return SIGNATURES[name]
