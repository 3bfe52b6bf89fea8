"""Figures: the plain helpers of nstutils.course.plots (drawn off-screen with matplotlib's Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nstutils.course.plots import plot_curves  # noqa: E402
from nstutils.errors import SettingsError  # noqa: E402


def test_plot_curves_draws_one_line_per_curve_at_steps_from_one():
    fig = plot_curves({"by hand": [4.0, 2.0, 1.0], "stylize": np.array([4.0, 2.5, 1.5, 1.2])})
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["by hand", "stylize"]
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[0].get_ydata()) == [4.0, 2.0, 1.0]
    assert list(lines[1].get_xdata()) == [1, 2, 3, 4]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step" and ax.get_ylabel() == "total loss"
    assert ax.get_legend() is not None
    plt.close(fig)


def test_plot_curves_linear_scale_labels_and_given_axes():
    fig, ax = plt.subplots()
    returned = plot_curves({"a": [1, 2]}, ax=ax, log=False, xlabel="evaluation", ylabel="tv")
    assert returned is fig and ax.get_yscale() == "linear"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("evaluation", "tv")
    plt.close(fig)


def test_plot_curves_accepts_tensors_like_objects_and_rejects_empty_input():
    tf = pytest.importorskip("tensorflow")
    fig = plot_curves({"tensor": tf.constant([3.0, 1.0])})
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [3.0, 1.0]
    plt.close(fig)
    with pytest.raises(SettingsError, match="at least one"):
        plot_curves({})
    with pytest.raises(SettingsError, match="empty"):
        plot_curves({"nothing": []})
