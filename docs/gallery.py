"""Make the README's pictures: one small JPEG per notebook, computed by nstutils.

    make gallery      # about 10 minutes on a 2-core CPU

Each picture is made with the same functions the notebook uses, at a moderate size.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from nstutils.beyond import blend_styles  # noqa: E402
from nstutils.color import preserve_color  # noqa: E402
from nstutils.experiments import compare_optimizers, layer_ratio_grid  # noqa: E402
from nstutils.explore import (CONTENT_LAYERS_PAPER, STYLE_LAYER_STACKS, reconstruct_content,  # noqa: E402
                              reconstruct_style, visualize_channel)
from nstutils.images import load_image  # noqa: E402
from nstutils.optimize import stylize  # noqa: E402
from nstutils.plots import plot_history, show_grid, show_images  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"
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


if __name__ == "__main__":
    main(set(sys.argv[1:]))
