"""The parts issue 19 measures: one trace per image shape, bfloat16 accuracy, the machine's peak
report (benchmarks/peak.py) and the optimiser's own time inside a run (benchmarks/measure.py)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.measure import overhead, time_evaluations
from benchmarks.peak import median_seconds, slow_dtypes, summary
from nstutils.images import load_image
from nstutils.objective import StyleObjective, initial_image


@pytest.fixture(scope="module")
def pair():
    return load_image("tubingen", max_dim=64), load_image("starry_night", max_dim=64)


def test_the_objective_traces_once_per_image_shape(pair):
    """Steps of one run share a graph built for the objective's own shape (not [1, None, None, 3])."""
    content, style = pair
    objective = StyleObjective(content, style, compute_dtype="float32")
    for _ in range(3):
        objective.value_and_gradient(np.clip(content + 0.01, 0, 1))
    assert objective.traces == 1 and objective.traced_shapes == [content.shape]  # every size known
    objective(content)
    objective(content * 0.5)
    assert objective.traces == 2  # the loss-only function traced once too


def test_bfloat16_losses_stay_within_their_known_error(pair):
    """bfloat16 reads the total 1-2 % low with a gradient ~5 % off (what L-BFGS's float32 finish
    is built around); a graph change that made it worse would show here."""
    content, style = pair
    image = initial_image("color", content, style)
    exact, _ = StyleObjective(content, style, compute_dtype="float32").value_and_gradient(image)
    fast, _ = StyleObjective(content, style, compute_dtype="bfloat16").value_and_gradient(image)
    assert abs(fast["total"] / exact["total"] - 1) < 0.025
    assert fast["tv"] == pytest.approx(exact["tv"], rel=1e-6)  # TV never leaves float32
    _, g32 = StyleObjective(content, style, compute_dtype="float32").value_and_gradient(image)
    _, g16 = StyleObjective(content, style, compute_dtype="bfloat16").value_and_gradient(image)
    assert np.linalg.norm(g16 - g32) / np.linalg.norm(g32) < 0.12


def test_a_dtype_whose_convolution_runs_at_under_half_speed_is_skipped():
    conv = {"float32": {"gflops_per_second": 100.0}, "bfloat16": {"gflops_per_second": 40.0}}
    assert list(slow_dtypes(conv)) == ["bfloat16"] and "40 GFLOP/s" in slow_dtypes(conv)["bfloat16"]
    conv["bfloat16"]["gflops_per_second"] = 60.0
    assert slow_dtypes(conv) == {}
    assert slow_dtypes({"float32": {"gflops_per_second": 10.0}, "bfloat16": {"error": "unsupported"}}) == {}


def test_median_seconds_warms_up_and_keeps_to_its_budget():
    calls = []
    result = median_seconds(lambda: calls.append(1), reps=4)
    assert len(calls) == 5 and len(result["times"]) == 4  # one warm-up, then the timed calls
    import time

    slow = median_seconds(lambda: time.sleep(0.05), reps=50, budget=0.12)
    assert 2 <= len(slow["times"]) <= 4 and slow["seconds"] >= 0.05


def test_the_peak_summary_names_the_cpu_family_and_the_ratio():
    report = {"machine": {"cpu": "AMD EPYC", "family": 25, "cores": 2}, "load": [0.1, 0.2], "date": "d",
              "conv": {"float32": {"gflops_per_second": 150.0}}, "matmul": {"float32": {"gflops_per_second": 140.0}},
              "keras": {"float32": {"seconds": 2.0}}, "ours": {"default": {"seconds": 2.1}, "bfloat16": {"skipped": "x"}},
              "shape": [384, 512], "best_keras_dtype": "float32", "ours_vs_keras": 1.05}
    text = summary(report)
    assert "CPU family 25" in text and "1.050×" in text and "bfloat16 skipped" in text and "512×384" in text


def test_the_optimisers_own_time_is_the_run_minus_the_evaluations():
    import time

    class Slow:
        def __init__(self):
            self.twin = None

        def value_and_gradient(self, image):
            time.sleep(0.02)
            return {"total": 1.0}, image

        def exact(self):
            self.twin = self.twin or Slow()
            return self.twin

    objective = Slow()
    spent = time_evaluations(objective)
    for _ in range(3):
        objective.value_and_gradient(np.zeros(2))
    objective.exact().value_and_gradient(np.zeros(2))  # the float32 twin is timed as well
    assert objective.exact() is objective.exact()
    objective.exact().value_and_gradient(np.zeros(2))
    assert spent["count"] == 5 and spent["seconds"] >= 0.1
    shares = overhead(optimising=0.5, evaluating=spent["seconds"], run_seconds=1.0)
    assert shares["optimiser_seconds"] == pytest.approx(0.5 - spent["seconds"])
    assert shares["share_of_run"] == pytest.approx(shares["optimiser_seconds"])
