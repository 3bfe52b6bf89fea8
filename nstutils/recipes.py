"""Every recipe constant, once: the TensorFlow tutorial's objective and the paper's setup.

Two recipes are taught in the course:

* **the tutorial's** (``05_full_transfer``): the TensorFlow style-transfer tutorial's layers
  and weights, with Keras' VGG19 (max pooling, the compact weights). ``stylize``'s defaults.
* **the paper's** (Gatys, Ecker & Bethge, CVPR 2016; ``02_content`` to ``04_style_layers``):
  its normalised network with average pooling (our transfers: max pooling in the network
  normalised for it, see :data:`TRANSFER_POOLING`), content layer conv4_2, five style layers
  weighted equally, white-noise start, no total variation.

Every other module (the settings' defaults, the speed measurement, the course's figures,
widgets and checks) imports these names instead of writing a layer list again. Layer names
are Keras' for the tutorial and the paper's own (``conv4_2``) for the paper; both spellings
are accepted everywhere (:func:`nstutils.vgg19.layer_names`).
"""

from __future__ import annotations

from typing import Dict, Tuple

# ---- the TensorFlow tutorial (stylize's defaults) -------------------------------------------------

#: The tutorial's content layer.
TUTORIAL_CONTENT_LAYERS: Tuple[str, ...] = ("block5_conv2",)
#: The tutorial's style layers, each weighted 1/5.
TUTORIAL_STYLE_LAYERS: Tuple[str, ...] = (
    "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
#: The tutorial's weights of the content, style and total-variation terms.
TUTORIAL_CONTENT_WEIGHT = 1e4
TUTORIAL_STYLE_WEIGHT = 1e-2
TUTORIAL_TV_WEIGHT = 30.0
#: The tutorial's Adam: learning rate, beta_1, beta_2, epsilon (``05_full_transfer``).
TUTORIAL_ADAM = (0.02, 0.99, 0.999, 0.1)
#: The tutorial's number of Adam steps (10 epochs of 100).
TUTORIAL_STEPS = 1000

# ---- the paper (Gatys et al. 2016) -----------------------------------------------------------------

#: The paper's content layer.
PAPER_CONTENT_LAYER = "conv4_2"
#: The paper's style layers, each weighted ``w_l = 1/5``.
PAPER_STYLE_LAYERS: Tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
#: ``w_l``: every style layer weighs the same.
PAPER_STYLE_LAYER_WEIGHT = 1.0 / len(PAPER_STYLE_LAYERS)
#: The paper's network: average pooling and the normalised weights (:mod:`nstutils.normalize`). Figure 1's
#: reconstructions (``02_content``, ``03_gram_style``) run in it and the course's measures are taken in it.
PAPER_POOLING = "avg"
PAPER_WEIGHTS = "normalized"
#: The network the course's paper *transfers* (Figures 3-6, ``00_welcome``, ``04_style_layers``) run in: max
#: pooling, with the weights normalised for max pooling. A measured departure from the paper: in its network,
#: our VGG19 leaves dots of colour a few pixels apart in every flat sky (Figure 3 at 256 px, 120 L-BFGS
#: steps: 3.5-46 times the painting's own hue dots; more steps, total variation, other layers and other ratios did
#: not remove them without blurring the picture or losing the photo). Max pooling in the network normalised for it
#: leaves 0.4-2.0 with the photo's layout kept; the avg-normalised network with max pooling lost the photo. The
#: weights' 8-bit rounding is not the cause (doubling its error left the dots as they were). See docs/paper.md,
#: "Dots of colour in the painted skies".
TRANSFER_POOLING = "max"
TRANSFER_WEIGHTS = "normalized_max"
#: What the transfers' content loss compares: the luminance of the result and of the photo (the grey images,
#: ``content_channels="luminance"``), a second measured departure. With the content in RGB the painted skies
#: fill with a lattice of violet dots a few pixels apart, more with more steps (*The Scream*, *The Shipwreck* at
#: 256 px, 200 L-BFGS steps: :func:`~nstutils.course.artefacts.sky_dot_excess` 11.0 and 26.1). The content loss pays
#: for them: the style pulls the sky to grey, the content asks for the photo's blue back, and a sprinkle of
#: coloured dots gives it at conv4_2 more cheaply than a blue sky the style would reject (smoothing them away raised
#: the content loss from 0.37 to 1.33 and left the style loss as it was). In luminance the photo gives the layout and
#: the painting all the colour: no lattice (0.5-2.8), the skies in the paintings' colours. Total variation, on RGB
#: or on the colour alone, blurred the strokes or turned the dots into light specks first (docs/paper.md).
TRANSFER_CONTENT_CHANNELS = "luminance"
#: The α/β ratios of the paper's Figure 4 grid (columns).
PAPER_RATIOS: Tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)
#: The paper's style reconstructions (Figure 1, Figure 4's rows): conv1_1; conv1_1+conv2_1; … conv1_1…conv5_1.
PAPER_STYLE_LAYER_STACKS: Tuple[Tuple[str, ...], ...] = tuple(
    tuple(f"conv{i}_1" for i in range(1, n + 1)) for n in range(1, 6))
#: The paper's content reconstructions (Figure 1), shallow to deep.
PAPER_CONTENT_RECONSTRUCTION_LAYERS: Tuple[str, ...] = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
#: Factor between the paper's stated α/β and the ratio that gives its balance here.
#:
#: Converted literally, the paper's ratios 1e-5 … 1e-2 let the content win outright in the
#: normalised network: on Tübingen + The Starry Night with all five style layers, 100 L-BFGS
#: steps from noise, the result is the photo at every ratio from 1e-5 up (content distance at
#: conv4_2 0.024-0.028 at 256 px). The paper's look (Figure 4's columns: texture only, mixed, the
#: stylised photo, nearly the photo) appears over 1e-8 … 1e-5 (content distance 1.66, 0.77, 0.22,
#: 0.075 at 256 px, 100 steps). The formulas are the paper's Eqs. 1-5; its stated ratios
#: evidently went with an implementation scaled differently, so the course multiplies the
#: stated ratio by this factor.
PAPER_RATIO_SCALE = 1e-3
#: α/β per painting for the style gallery. The paper's Figure 3 used 1e-3 for The Shipwreck,
#: 8e-4 for The Starry Night, 5e-3 for The Scream and 5e-4 for its Picasso and Kandinsky; the
#: last three rows are our choices for paintings the paper did not use (at 5e-4, 192 px and 60 steps
#: *Woman with a Hat* and *Udnie* kept the photo's layout only just: content distance near 0.78 of 0.8).
GALLERY_RATIOS: Dict[str, float] = {
    "shipwreck": 1e-3,
    "starry_night": 8e-4,
    "the_scream": 5e-3,
    "woman_with_hat": 8e-4,
    "udnie": 8e-4,
    "great_wave": 1e-3,
}
#: Style layers of the photo-to-photo transfer (Figure 7, ``07_beyond``): the shallow ones, a measured departure. With all
#: five the style photo's objects move onto the content photo (192 px, 150 steps: a cat's eye and fur on Tübingen's
#: river bank, a launch tower in its sky; :func:`~nstutils.course.artefacts.transplant_excess` 5.45 and 5.50); the
#: deep layers' statistics describe objects, the shallow ones' colour, light and fine texture, which is what a photo in
#: another light should give. With these three Tübingen is only relit (1.77, as when darkened by hand, 2.13).
PHOTO_STYLE_LAYERS: Tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1")
#: Content layers offered in the Style Lab (paper names).
LAB_CONTENT_LAYERS: Tuple[str, ...] = ("conv4_2", "conv5_2")

# ---- the measurement images --------------------------------------------------------------------------

#: Layers of the representative pass used to time float32 against bfloat16 (:mod:`nstutils.arithmetic`):
#: the tutorial's style layers and content layer.
TIMING_LAYERS: Tuple[str, ...] = TUTORIAL_STYLE_LAYERS + TUTORIAL_CONTENT_LAYERS
