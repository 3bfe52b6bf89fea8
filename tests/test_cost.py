"""Run-time and memory estimates grow sensibly with size and steps."""

from __future__ import annotations

import pytest

from nstutils.cost import TYPICAL_ADAPTIVE_STEPS, CostEstimate, estimate_cost, image_aspect, progress_total
from nstutils.settings import make_settings


def test_estimates_grow_with_size_and_steps():
    small, large = estimate_cost(256, 100), estimate_cost(512, 100)
    assert large.seconds > 2.5 * (small.seconds - 6.0)
    assert large.peak_bytes > small.peak_bytes
    assert estimate_cost(512, 200).seconds > estimate_cost(512, 100).seconds
    assert estimate_cost(512, 100, "lbfgs").seconds > estimate_cost(512, 100, "adam").seconds


def test_estimate_is_in_the_measured_range_at_512():
    # measured here: ~0.9 s per evaluation at 512×384 with bfloat16 convolutions
    per_step = (estimate_cost(512, 1000, "adam").seconds - estimate_cost(512, 0, "adam").seconds) / 1000
    assert 0.3 < per_step < 2.5


def test_human_readable_and_aspect():
    assert str(CostEstimate(125, 2 * 2**30)) == "about 2 min 05 s and 2.0 GiB of memory"
    assert image_aspect((1, 384, 512, 3)) == pytest.approx(0.75)


def test_a_measurement_on_this_machine_rescales_the_estimate():
    from nstutils.cost import seconds_per_evaluation

    shipped = seconds_per_evaluation(196608)
    # this machine measured twice the shipped fit's time at 49,152 pixels: every size takes twice as long
    twice = (49152.0, 2 * seconds_per_evaluation(49152))
    assert seconds_per_evaluation(196608, twice) == pytest.approx(2 * shipped)
    assert estimate_cost(512, 100, "adam", measured=twice).seconds > estimate_cost(512, 100, "adam").seconds


def test_progress_total_keeps_an_adaptive_eta_honest():
    fixed = make_settings(steps=300).run
    assert [progress_total(fixed, step) for step in (0, 299, 300)] == [300, 300, 300]
    adaptive = make_settings(max_steps=1000, stop_window=50).run
    typical = TYPICAL_ADAPTIVE_STEPS["lbfgs"]
    assert progress_total(adaptive, 0) == typical  # the typical L-BFGS stopping step
    assert progress_total(adaptive, typical - 1) == typical
    assert progress_total(adaptive, typical) == typical + 50  # past it: at least one more window
    assert progress_total(adaptive, 980) == 1000  # never beyond the cap
    short = make_settings(max_steps=200).run
    assert progress_total(short, 0) == 200


def test_memory_estimate_covers_the_optimisers_own_arrays():
    lbfgs, adam = estimate_cost(512, 100, "lbfgs"), estimate_cost(512, 100, "adam")
    pixels = 512 * 384
    # scipy's L-BFGS-B keeps 2 × 20 history vectors and 5 more, in float64, of 3 numbers per pixel
    assert lbfgs.peak_bytes - adam.peak_bytes > (2 * 20 + 5) * 3 * 8 * pixels - 360 * pixels
    # peak RSS of a 512 px L-BFGS run here was 1.48 GiB (30 steps, bfloat16); the issue asks for ±25 %
    assert 0.75 * 1.48 < lbfgs.peak_bytes / 2**30 < 1.25 * 1.48
