"""The lesson budget: the size and step count of every picture the course paints at full quality, in one place.

A notebook has to fit a lesson (45-90 minutes) and a class-server seat (1-2 GiB): at full quality each one runs in
at most 10 minutes and 2 GiB on a 2-core CPU without fast bfloat16, the whole course in an hour
(``tools/measure_notebooks.py`` measures it; README's *Teach with it* has the numbers). The budget is spent where a
figure shows its finding, and no picture is computed twice (:mod:`nstutils.results` keeps every finished run).
Two floors keep full quality worth looking at: a single result is at least :data:`SINGLE_SIZE` px on its long
side, a tile of a grid or gallery at least :data:`TILE_SIZE` px.

The step counts were chosen by looking, not by the loss: on the CPU this budget is for (AMD EPYC, family 23,
float32), one evaluation of the tutorial's objective takes 0.78 s at 192 px, 1.2 s at 256, 3.1 s at 384 and 5.5 s at
512; the paper's transfer (content compared in luminance, a second pass to conv4_2) 1.1 s at 192 px. A picture
started from the recoloured photo looks finished after 20-40 L-BFGS steps and then only rearranges its strokes (at
384 px the image still changes by 5-6 grey levels RMS every 20 steps at step 150 while the loss falls 6 % per 30
steps), so neither the loss nor the change of the picture says when it is done; a transfer from the paper's grey
start needs 40-60 steps for the photo's layout to come through. Notebooks take every value through
``pick(full, fast)``; introduced in ``00_welcome``.
"""

from __future__ import annotations

#: Long side of a single result: the first picture (``00_welcome``), the capstone and the Style Lab
#: (``05_full_transfer``), the coarse-to-fine picture (``07_beyond``).
SINGLE_SIZE = 384
#: Long side of a tile of a grid or gallery: 00's gallery, 02/03's reconstructions, 04's Figures 4-5, 06's
#: comparison and Figure 6, 07's comparisons.
TILE_SIZE = 192

#: L-BFGS steps of the first picture (``00_welcome``), from the photo recoloured with the painting's colours: at 384 px
#: it looks finished from step 20-40 on (docs/paper.md, "The lesson budget"); 30 leaves 00 room for its gallery.
FIRST_STEPS = 30
#: L-BFGS steps of each painting of the paper's gallery (Figure 3, ``00_welcome``) from the reference start at
#: :data:`TILE_SIZE`: *The Starry Night*'s layout (content distance between the grey images) is 0.98 after 30
#: steps, 0.76 after 40, 0.65 after 60; at 60 the five paintings took 7.3 of 00's 10 minutes.
GALLERY_STEPS = 50
#: L-BFGS steps of each cell of Figure 4 (``04_style_layers``), of Figure 5 and of Figure 6 (``06_optimizers``), at
#: :data:`TILE_SIZE` from the reference start: twelve cells are most of a lesson.
GRID_STEPS = 36
#: L-BFGS steps of each content or style reconstruction (Figure 1, ``02_content``, ``03_gram_style``), from noise.
RECONSTRUCTION_STEPS = 80
#: Steps of each optimiser compared in ``06_optimizers`` at :data:`TILE_SIZE`.
OPTIMIZER_STEPS = 50
#: L-BFGS steps of ``07_beyond``'s comparisons (colour, scale, blend, pooling) at :data:`TILE_SIZE`, from the
#: recoloured photo: at 40, with the coarse-to-fine picture's 20, 07 took 12.3 min (2026-12-07), over a lesson.
COMPARISON_STEPS = 30
#: Adam steps of your style transfer at :data:`SINGLE_SIZE` (``05_full_transfer``'s capstone): your own functions
#: paint it, so it is never served from the results cache and is paid again on every run of the notebook.
CAPSTONE_STEPS = 40
#: Steps of each Style Lab run (``05_full_transfer``) at :data:`SINGLE_SIZE`, and of the layer explorer
#: (``04_style_layers``) at :data:`TILE_SIZE`.
LAB_STEPS = 40
#: Gradient-ascent steps of each channel picture of ``01_cnn_features`` at :data:`TILE_SIZE`.
CHANNEL_STEPS = 100
#: The second stage of ``07_beyond``'s coarse-to-fine picture: :data:`SINGLE_SIZE` after a stage at
#: :data:`TILE_SIZE` (the comparisons' base picture, so it is not painted twice), with this many steps (about 5 s
#: each at 384 px on the budget's CPU).
REFINE_STEPS = 10
#: Photo-to-photo transfer (Figure 7, ``07_beyond``): L-BFGS steps from the photo at :data:`TILE_SIZE`.
PHOTO_TRANSFER_STEPS = 150

#: The 1,024 px poster of ``07_beyond``, made only when asked: its stages and steps (coarse to fine).
POSTER_SIZES = (256, 512, 1024)
POSTER_STEPS = (150, 60, 30)
