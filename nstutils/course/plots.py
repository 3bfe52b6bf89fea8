"""Figures: image grids, loss curves and feature maps (matplotlib).

Every function returns the matplotlib ``Figure`` so notebooks can save or tweak it.
Introduced in ``00_welcome`` (images) and ``05_full_transfer`` (loss curves; :func:`loss_plot_png` is the
Style Lab's thread-safe one).
"""

from __future__ import annotations

import io
from typing import Dict, Iterable, Mapping, Optional, Sequence

import numpy as np

from nstutils.errors import SettingsError



def figure_and_axes(ax=None):
    """``(figure, axes)``: the given axes and their figure, or a new 6×4 in figure with one axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(figsize=(6, 4))
    return ax.figure, ax

def _as_hwc(image) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4:
        array = array[0]
    return np.clip(array, 0.0, 1.0)


def show_images(images: Sequence | Mapping, titles: Optional[Sequence[str]] = None, columns: int | None = None,
                size: float = 4.0):
    """Show images side by side (a list, or a dict ``{title: image}``); returns the figure."""
    import matplotlib.pyplot as plt

    if isinstance(images, Mapping):
        titles, images = list(images.keys()), list(images.values())
    images = list(images)
    columns = columns or min(len(images), 4)
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows * 0.8), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            ax.imshow(_as_hwc(images[index]))
            if titles is not None and index < len(titles):
                ax.set_title(titles[index], fontsize=10)
    fig.tight_layout()
    return fig


def plot_history(history: Sequence[Mapping[str, float]] | object, x: str = "step", log: bool = True,
                 terms: Iterable[str] = ("total", "content", "style", "tv"), ax=None, label: str = ""):
    """Plot loss terms per step (``x="step"``), per evaluation or against ``"seconds"``.

    ``history`` is ``result.history`` or a :class:`~nstutils.run.StylizeResult`.
    """
    history = getattr(history, "history", history)
    fig, ax = figure_and_axes(ax)
    xs = np.arange(1, len(history) + 1) if x == "step" else np.array([h[x] for h in history])
    for term in terms:
        ys = np.array([h[term] for h in history])
        if np.any(ys > 0):
            ax.plot(xs, ys, label=f"{label} {term}".strip())
    if log:
        ax.set_yscale("log")
    ax.set_xlabel({"step": "step", "seconds": "seconds", "evaluations": "loss+gradient evaluations"}.get(x, x))
    ax.set_ylabel("weighted loss")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


def plot_feature_maps(features, channels: int = 8, title: str = "", size: float = 1.6):
    """Show the first ``channels`` channels of a ``[1, H, W, C]`` feature map in a row."""
    import matplotlib.pyplot as plt

    maps = np.asarray(features)[0]
    count = min(channels, maps.shape[-1])
    fig, axes = plt.subplots(1, count, figsize=(size * count, size * 1.1), squeeze=False)
    for c, ax in enumerate(axes[0]):
        ax.imshow(maps[..., c], cmap="viridis")
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_grid(images: Mapping, row_labels: Sequence[str], column_labels: Sequence[str], size: float = 2.6):
    """Show ``{(row, column): image}`` as a labelled grid (e.g. layers × ratios in ``04_style_layers``)."""
    import matplotlib.pyplot as plt

    rows, columns = len(row_labels), len(column_labels)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows * 0.8), squeeze=False)
    for (row, column), ax in np.ndenumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        image = images.get((row, column))
        if image is not None:
            ax.imshow(_as_hwc(getattr(image, "image", image)))
        if row == 0:
            ax.set_title(column_labels[column], fontsize=9)
        if column == 0:
            ax.set_ylabel(row_labels[row], fontsize=9)
    fig.tight_layout()
    return fig


def plot_curves(curves: Mapping[str, Sequence[float]], ax=None, log: bool = True, xlabel: str = "step",
                ylabel: str = "total loss"):
    """Plot several named loss curves against the step on one axes, e.g. a hand-written loop vs ``stylize``.

    ``curves`` maps a label to a sequence of numbers (a list of losses, an array,
    ``result.losses("total")``); curve ``k`` is drawn at steps ``1 … len(curve)``. Returns the figure.
    """
    if not curves:
        raise SettingsError("plot_curves needs at least one curve")
    fig, ax = figure_and_axes(ax)
    for label, values in curves.items():
        ys = np.asarray(values, dtype=np.float64).ravel()
        if ys.size == 0:
            raise SettingsError(f"curve {label!r} is empty")
        ax.plot(np.arange(1, ys.size + 1), ys, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


def loss_plot_png(history: Sequence[Dict[str, float]], width: float = 4.5, height: float = 3.0) -> bytes:
    """A PNG of the loss terms per step (thread-safe: no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    steps = np.arange(1, len(history) + 1)
    for term in ("total", "content", "style", "tv"):
        values = np.array([h[term] for h in history], dtype=float)
        if values.size and np.any(values > 0):
            ax.plot(steps, values, label=term)
    if history:
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
