"""Make the README's pictures: one small JPEG per notebook, computed by nstutils.

    make gallery                    # the README's pictures and docs/paper.md (about an hour on a 2-core CPU)
    python docs/gallery.py 03 05    # only some of them; "paper" for docs/paper.md alone
    python docs/gallery.py fig4 fig7  # only those figures of docs/paper.md (its other sections are kept)

Each picture is made with the same functions the notebook uses, at a moderate size; the
paper's figures (docs/paper.md) at the notebooks' full quality, 256 px.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from nstutils.color import preserve_color  # noqa: E402
from nstutils.course import paper  # noqa: E402
from nstutils.course.beyond import blend_styles  # noqa: E402
from nstutils.course.experiments import compare_optimizers, layer_ratio_grid  # noqa: E402
from nstutils.course.explore import reconstruct_content, reconstruct_style, visualize_channel  # noqa: E402
from nstutils.course.plots import plot_history, show_grid, show_images  # noqa: E402
from nstutils.images import load_image  # noqa: E402
from nstutils.recipes import PAPER_CONTENT_RECONSTRUCTION_LAYERS as CONTENT_LAYERS_PAPER  # noqa: E402
from nstutils.recipes import PAPER_STYLE_LAYER_STACKS as STYLE_LAYER_STACKS  # noqa: E402
from nstutils.run import stylize  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"
#: One figure's section of docs/paper.md: name, image, the paper's finding, ours, whether it holds.
Row = Tuple[str, str, str, str, bool]
WIDTH = 520


def save(fig, name: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    image = Image.open(buffer).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    image.save(OUT / f"{name}.jpg", quality=80 if image.height < image.width else 60, optimize=True)
    print(f"wrote {OUT / name}.jpg ({(OUT / f'{name}.jpg').stat().st_size // 1024} KB)", flush=True)


def main(only: set) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    figures = only & set(PAPER_FIGURES)
    if not only or "paper" in only or figures:
        paper_figures(() if "paper" in only else figures)
    if only and only <= {"paper", *PAPER_FIGURES}:
        return
    photo, painting = load_image("tubingen", 256), load_image("starry_night", 256)
    if not only or "00" in only:
        result = stylize(photo, painting, max_dim=256, steps=200)
        save(show_images({"content": photo, "style": painting, "result": result.image}, size=3), "00_welcome")
    if not only or "01" in only:
        picks = [("conv1_1", 0), ("conv2_1", 10), ("conv3_1", 20), ("conv4_1", 30), ("conv5_1", 40)]
        save(show_images({f"{l} #{c}": visualize_channel(l, c, size=112, steps=150)[0] for l, c in picks},
                         columns=5, size=2.2), "01_cnn_features")
    if not only or "02" in only:
        images = {l: reconstruct_content(photo, l, steps=150, max_dim=160).image for l in CONTENT_LAYERS_PAPER}
        save(show_images(images, columns=5, size=2.2), "02_content")
    if not only or "03" in only:
        images = {"+".join(s).replace("conv", ""): reconstruct_style(painting, s, steps=150, max_dim=160).image
                  for s in STYLE_LAYER_STACKS}
        save(show_images(images, columns=5, size=2.2), "03_gram_style")
    if not only or "04" in only:
        ratios = (1e-5, 1e-4, 1e-3, 1e-2)
        grid = layer_ratio_grid(photo, painting, STYLE_LAYER_STACKS, ratios, steps=80, max_dim=112)
        save(show_grid(grid, ["+".join(s).replace("conv", "") for s in STYLE_LAYER_STACKS],
                       [f"α/β={r:g}" for r in ratios], size=1.8), "04_style_layers")
    if not only or "05" in only:
        result = stylize(photo, painting, optimizer="adam", steps=200, max_dim=256)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        axes[0].imshow(result.image); axes[0].axis("off"); axes[0].set_title("Adam, 200 steps")
        plot_history(result, ax=axes[1])
        save(fig, "05_full_transfer")
    if not only or "06" in only:
        results = compare_optimizers(photo, painting, steps=80, max_dim=192)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, r in results.items():
            ax.plot([h["evaluations"] for h in r.history], r.losses("total"), label=name)
        ax.set_yscale("log"); ax.set_xlabel("loss + gradient evaluations"); ax.set_ylabel("total loss")
        ax.grid(alpha=0.3); ax.legend()
        save(fig, "06_optimizers")
    if not only or "07" in only:
        base = stylize(photo, painting, steps=150, max_dim=256)
        blend = blend_styles(photo, [painting, load_image("the_scream", 256)], mix=(0.5, 0.5), steps=150, max_dim=256)
        save(show_images({"stylized": base.image, "photo's colours kept": preserve_color(base.image, photo[0]),
                          "Starry Night + Scream": blend.image}, size=3), "07_beyond")


#: docs/paper.md keeps everything below this line when the figures above it are made again.
NOTES_MARKER = "<!-- notes: kept as they are by `make gallery`, which rewrites everything above -->"


def _fig1(size: int, steps: int) -> List[Row]:
    content = paper.content_reconstructions(max_dim=size, steps=steps)
    style = paper.style_reconstructions(max_dim=size, steps=steps)
    save(show_images({"photo": content["photo"], **content["images"]}, columns=6, size=2.2), "paper_fig1_content")
    save(show_images({"painting": style["painting"], **style["images"]}, columns=6, size=2.2), "paper_fig1_style")
    errors = ", ".join(f"{k} {v:.3f}" for k, v in content["pixel_error"].items())
    losses = ", ".join(f"{k} {v:.3g}" for k, v in style["style_loss"].items())
    layout = min(style["layout_error"].values())
    return [("Figure 1, content reconstructions", "paper_fig1_content",
             "Lower layers reproduce the photo almost exactly; higher layers keep the objects and their arrangement "
             "but not the exact pixels.", f"RMS pixel error from noise, shallow to deep: {errors}.",
             content["findings"]["shallow_closer_than_deep"]),
            ("Figure 1, style reconstructions", "paper_fig1_style",
             "Matching Gram matrices keeps the painting's colours and textures but not its arrangement; more layers "
             "give larger-scale structure.", f"final style losses {losses}; the smallest RMS distance to the "
             f"painting itself is {layout:.2f} (its layout is not reconstructed).", layout > 0.1)]


def _fig3(size: int, steps: int) -> List[Row]:
    gallery = paper.style_gallery(max_dim=size, steps=steps)
    save(show_images({"photo": gallery["content"], **gallery["images"]}, columns=3, size=2.4), "paper_fig3_gallery")
    spread = ", ".join(f"{k} {v:.2f}" for k, v in gallery["content_distance"].items())
    speckle = ", ".join(f"{k} {v:.2f}" for k, v in gallery["speckle_excess"].items())
    sky = ", ".join(f"{k} {v:.1f}" for k, v in gallery["sky_dot_excess"].items())
    return [("Figure 3, one photo in several styles", "paper_fig3_gallery",
             "The same photograph rendered in the styles of several paintings: its layout stays, colours and strokes "
             "come from each painting.",
             f"started from the reference implementation's start; content distance at conv4_2 between the grey "
             f"images (0 = the photo's features): {spread}; pixel-scale energy over the crisper of photo and painting "
             f"(white noise left 5-6): {speckle}; dots of colour where the photo is flat, over the most dotted part of "
             f"the painting (at most "
             f"{paper.MAX_SKY_DOT_EXCESS:g}): {sky}.",
             all(gallery["findings"].values()))]


def _fig4(size: int, steps: int) -> List[Row]:
    grid = paper.ratio_grid(max_dim=size, steps=steps)
    labels = ["+".join(s).replace("conv", "") for s in grid["stacks"]]
    save(show_grid(grid["images"], labels, [f"α/β={r:g}" for r in grid["ratios"]], size=1.9), "paper_fig4_grid")
    last = ", ".join(f"{r:g}: {d:.2f}" for r, d in zip(grid["ratios"], grid["content_distance"][-1]))
    return [("Figure 4, style layers × α/β", "paper_fig4_grid",
             "More style layers match the style on larger scales; a larger α/β gives more of the photo's content.",
             f"started from the reference implementation's start (mean colour, tiny noise); all-layer row, content "
             f"distance by α/β: {last} (ratios scaled by {paper.PAPER_RATIO_SCALE:g}, see below); isolated white "
             f"dots over the painting's own, largest cell: {grid['dot_excess'].max():.2f}; dots of colour where the "
             f"photo is flat, all-layer row by α/β: {', '.join(f'{x:.1f}' for x in grid['sky_dot_excess'][-1])} "
             f"(largest cell of the shallower rows, whose colour grain is conv1_1's: "
             f"{grid['sky_dot_excess'][:-1].max(initial=0.0):.1f}).",
             all(grid["findings"].values()))]


def _fig5(size: int, steps: int) -> List[Row]:
    layer = paper.content_layer_comparison(max_dim=size, steps=steps)
    save(show_images({"photo": layer["content"], **{f"content at {k}": v for k, v in layer["images"].items()}},
                     size=3), "paper_fig5_content_layer")
    detail = ", ".join(f"{k} {v:.2f}" for k, v in layer["detail"].items())
    return [("Figure 5, content layer", "paper_fig5_content_layer",
             "Matching content at conv2_2 keeps much of the photo's fine structure; at conv4_2 the objects stay but "
             "are painted in the style's own strokes.", f"correlation of fine detail with the photo: {detail}.",
             layer["findings"]["shallow_keeps_more_detail"])]


def _fig6(size: int, steps: int) -> List[Row]:
    init = paper.initialization_comparison(max_dim=size, steps=steps)
    save(show_images(init["images"], columns=5, size=2.4), "paper_fig6_init")
    losses = ", ".join(f"{k} {v:.3g}" for k, v in init["losses"].items())
    return [("Figure 6, initialisation", "paper_fig6_init",
             "Different noise seeds give different images of similar quality; starting from the photo keeps more "
             "of it.", f"final losses: {losses}.", all(init["findings"].values()))]


def _fig7(size: int, steps: int) -> List[Row]:
    steps = max(steps, paper.PHOTO_STEPS)   # fewer leave the colours halfway (see PHOTO_STEPS)
    real = paper.photorealistic(max_dim=size, steps=steps)
    save(show_images({"content photo": real["content"], "style photo": real["style"], "result": real["image"]},
                     size=3), "paper_fig7_photorealistic")
    means = {k: "(" + ", ".join(f"{x:.2f}" for x in v) + ")" for k, v in real["mean_color"].items()}
    return [("Figure 7, photorealistic transfer", "paper_fig7_photorealistic",
             "A photo in the style of another photo takes its colours and lighting while keeping its structure; "
             "the caption says the synthesis started from the content photo (α/β 1e-2).",
             f"started from the photo at α/β {real['ratio']:g} (scaled like every ratio), {steps} "
             f"steps, with total variation "
             f"{paper.PHOTO_TV_WEIGHT:g} per pixel; mean RGB: content {means['content']}, style {means['style']}, result "
             f"{means['result']}; speckle (pixel-scale energy over the photo's) {real['speckle']:.2f}, colour blotches "
             f"where the photo is flat (its own: 1) {real['blotches']:.2f}, layout "
             f"correlation {real['layout']:.2f}, {real['dots']:.0f} isolated white dots per megapixel.",
             all(real["findings"].values()))]


#: docs/paper.md's figures in order: the name ``python docs/gallery.py`` takes, and what makes each.
PAPER_FIGURES = {"fig1": _fig1, "fig3": _fig3, "fig4": _fig4, "fig5": _fig5, "fig6": _fig6, "fig7": _fig7}


def _sections(text: str) -> Dict[str, str]:
    """docs/paper.md's figure sections above the notes, by image name (``paper_fig4_grid``)."""
    sections = {}
    for block in text.split(NOTES_MARKER)[0].split("\n## ")[1:]:
        image = re.search(r"images/(paper_\w+)\.jpg", block)
        if image:
            sections[image.group(1)] = "## " + block.rstrip("\n") + "\n"
    return sections


def paper_figures(only: Iterable[str] = ()) -> None:
    """docs/images/paper_*.jpg and docs/paper.md: each figure next to the paper's finding and ours.

    ``only``: keys of :data:`PAPER_FIGURES` to make again (all when empty); the other figures'
    sections of docs/paper.md are kept as they are, as are the hand-written notes.
    """
    target = OUT.parent / "paper.md"
    previous = target.read_text(encoding="utf-8") if target.exists() else ""
    kept = _sections(previous)
    size, steps = paper.DEFAULT_SIZE, paper.FIGURE_STEPS   # 00's gallery at full quality runs the same
    lines = ["# The paper, figure by figure", "",
             "Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional Neural Networks*, CVPR 2016, reproduced",
             f"with `nstutils.course.paper` at {size} px, {steps} L-BFGS steps, with the paper's network",
             "(VGG19 normalised so every filter's mean activation is 1 — over the course's own photos and paintings,",
             "an approximation of the paper's ImageNet statistics), content layer `conv4_2`,",
             "style layers `conv1_1`…`conv5_1` with $w_l = 1/5$ and no total variation but in Figure 7. Each figure "
             "starts where",
             "the paper's did: white noise for Figures 1 and 6, the reference implementation's near-grey start for",
             "Figures 3 and 4 (uniform noise survives there as speckle, see the notes), the photo for Figure 7. The",
             "notebooks 00, 02–04 and 07 make the same figures and assert the same findings. Made by",
             "`make gallery`.", "",
             "**Two differences.** The paper runs its network with average pooling; Figures 1 and 7 do too, but the "
             "transfers of Figures 3-6 use max pooling in the network normalised for max pooling "
             "(`recipes.TRANSFER_POOLING`): in our VGG19 average pooling left dots of colour a few "
             "pixels apart in every flat sky (see the notes). And the paper's printed α/β, converted exactly to our normalisation, give the photo back "
             f"at every ratio with this network; its progression appears {1 / paper.PAPER_RATIO_SCALE:g}× lower, so "
             "the figures use the paper's ratios times `PAPER_RATIO_SCALE` and are labelled with the paper's values.",
             ""]
    for key, make in PAPER_FIGURES.items():
        if only and key not in only:
            lines += [section for image, section in kept.items() if image.startswith(f"paper_{key}_")]
            continue
        for name, figure, found, measured, holds in make(size, steps):
            verdict = "holds" if holds else "**does not hold**"
            lines += [f"## {name}", "", f"![{name}](images/{figure}.jpg)", "", f"**The paper:** {found}", "",
                      f"**Measured here:** {measured} The finding {verdict}.", ""]
    if NOTES_MARKER in previous:  # hand-written notes (measurements, causes) below the marker are kept
        lines += [previous[previous.index(NOTES_MARKER):]]
    target.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {target}", flush=True)


if __name__ == "__main__":
    main(set(sys.argv[1:]))
