"""The benchmark keeps working: its smoke mode runs end to end and its arithmetic is right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.run import (README_END, README_START, conv_flops, fit_exponent, markdown, merge, readme_table,
                            update_readme)

ROOT = Path(__file__).resolve().parents[1]


def test_conv_flops_by_hand():
    # block1_conv1 only, on 2×2: 2·H·W·9·3·64 forward, doubled for the input gradient.
    assert conv_flops(2, 2, "block1_conv1") == 2 * (2 * 2 * 2 * 9 * 3 * 64)
    # VGG19 convolutions at 224×224 up to block5_conv4: the well-known ~19.5 GMACs forward.
    forward_gflops = conv_flops(224, 224, "block5_conv4") / 2 / 1e9
    assert 38 < forward_gflops < 40


def test_fit_exponent_recovers_a_power_law():
    pixels = np.array([1e4, 4e4, 1.6e5])
    assert fit_exponent(pixels, 3.0 * pixels ** 1.1) == pytest.approx(1.1)


def test_smoke_mode_writes_json_and_markdown(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "smoke.json").read_text())
    summary = report["summary"]
    assert summary["eval_speedup"] > 0
    (pair,) = report["pairs"]
    assert pair["baseline"]["steps"] == 6 and pair["baseline"]["final_loss"] > 0
    ours = pair["ours"]
    assert ours["stop_reason"] in ("finished", "converged") and ours["steps"] >= 1
    assert ours["seconds"] > 0 and ours["estimate"]["seconds"] > 0 and ours["peak_bytes"] > 0
    # the run's own peak is taken before the tutorial's model scores its saved images
    assert ours["process_peak_bytes"] >= ours["peak_bytes"]
    assert ours["trace"] and all(t["float32_loss"] > 0 and t["step"] % 10 == 0 for t in ours["trace"])
    assert report["evaluation"]["ours"]["compute_dtype"] in ("float32", "bfloat16")
    assert {p["size"] for p in report["scaling"]["points"]} == {32, 48}
    table = (tmp_path / "smoke.md").read_text()
    assert "seconds per loss+gradient evaluation" in table and table == markdown(report) + "\n"
    assert not pair["baseline"].get("cached")
    # --pairs-only measures only the named pairs, with another stopping rule when asked; the tutorial's run
    # on the pair is the one the first run cached
    only = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--pairs-only", "--pairs",
                           "tubingen:starry_night", "--stop-tolerance", "0.25", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert only.returncode == 0, only.stderr[-3000:]
    (written,) = tmp_path.glob("smoke-pairs-*.json")
    (measured,) = json.loads(written.read_text())["pairs"]
    assert measured["ours"]["settings"]["stop_tolerance"] == 0.25 and measured["baseline"]["cached"]
    misspelt = subprocess.run([sys.executable, "-m", "benchmarks.run", "--pairs-only", "--pairs",
                               "chelsea:woman_with_a_hat", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
    assert misspelt.returncode != 0 and "unknown pair(s) chelsea:woman_with_a_hat" in misspelt.stderr
    # reports of different pairs merge into one, in the benchmark's pair order, with the summary recomputed
    other = json.loads(json.dumps(report))
    other["pairs"][0]["pair"] = "astronaut:the_scream"
    other["pairs"][0]["ours"]["loss_ratio"] = 1.5
    for key in ("scaling", "evaluation", "flops"):  # as --pairs-only writes it
        other.pop(key)
    merged = merge([other, report])
    assert [p["pair"] for p in merged["pairs"]] == ["tubingen:starry_night", "astronaut:the_scream"]
    assert merged["summary"]["worst_loss_ratio"] == 1.5 and not merged["summary"]["all_reached"]
    assert merged["scaling"] == report["scaling"]
    other["machine"] = {**other["machine"], "cpu": "Another CPU"}
    with pytest.raises(ValueError, match="different machines"):
        merge([report, other])
    with pytest.raises(ValueError, match="whole run"):
        merge([other])
    # the README's speed table is rewritten between its markers, and only there
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Speed\n\nIntro.\n\n{README_START}\nold table\n{README_END}\n\n## Next\n")
    update_readme(report, readme)
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# Title\n\n## Speed\n\nIntro.\n\n")
    assert text.endswith(f"{README_END}\n\n## Next\n") and "| tubingen + starry night |" in text
    update_readme(report, readme)
    assert readme.read_text() == text
    readme.write_text("# no markers\n")
    with pytest.raises(RuntimeError, match="markers"):
        update_readme(report, readme)


def test_readme_speed_table_is_made_from_the_committed_results():
    text = (ROOT / "README.md").read_text()
    assert text.index(README_START) < text.index(README_END)
    report = json.loads((ROOT / "benchmarks" / "results" / "full.json").read_text())
    assert readme_table(report) in text, "run `python -m benchmarks.run --readme`"
    assert (ROOT / "benchmarks" / "results" / "full.md").read_text() == markdown(report) + "\n"


def test_stopping_replay_matches_the_rule_and_the_float32_switch():
    from benchmarks.stopping import replay, stopping_step, switch_step

    # best loss halves each step for 10 steps, then creeps down by 0.1 % per step
    best = [100.0 * 0.5 ** i for i in range(10)] + [100.0 * 0.5 ** 9 * 0.999 ** i for i in range(1, 31)]
    assert stopping_step(best, tolerance=0.01, window=5) == 15  # first window lying wholly in the slow part
    assert stopping_step(best, tolerance=0.0001, window=5) is None  # stricter than anything recorded
    # the float32 switch at step 4 (the best rises once): from then on the rule forgets what came before
    switched = [10.0, 9.0, 8.0, 8.5, 8.4, 8.3, 8.2]
    assert stopping_step(switched, tolerance=0.05, window=2) == 6  # 8.5 → 8.3, not 8.0 → 8.3
    assert stopping_step(switched, tolerance=0.5, window=2) == 3  # a loose rule stops before the switch
    assert switch_step(switched) == 4 and switch_step(best) is None
    run = {"best": best, "target": 2.0,
           "trace": [{"step": s, "evaluations": s + 1, "seconds": s * 0.5, "float32_loss": 4.0 - s / 10}
                     for s in (10, 20, 30, 40)]}
    assert replay(run, 0.01, 5) == {"step": 15, "evaluations": 11, "seconds": 5.0, "loss_ratio": 1.5}


def test_dtype_comparison_scores_both_runs_in_float32(tmp_path):
    from benchmarks.dtypes import compare

    report = compare(size=32, steps=4, pair="astronaut:the_scream")
    runs = report["runs"]
    assert set(runs) == {"float32", "bfloat16"}
    for run in runs.values():
        assert run["float32_loss"] > 0 and run["steps"] == 4 and run["stop_reason"] == "finished"
    assert report["bfloat16_over_float32"] == pytest.approx(runs["bfloat16"]["float32_loss"] /
                                                            runs["float32"]["float32_loss"])


def test_lbfgs_overhead_subtracts_the_function_time():
    from benchmarks.lbfgs_overhead import overhead

    row = overhead(variables=3 * 16 * 16, history=5, bounded=True, iterations=8)
    assert row["iterations"] == 8 and row["calls"] >= 8 and row["bounded"]
    assert 0 < row["seconds_per_iteration"] * row["iterations"] < row["seconds"]
    assert overhead(variables=3 * 16 * 16, history=5, bounded=False, iterations=3)["iterations"] == 3


def test_reports_record_the_cpu_without_importing_tensorflow():
    import os
    import re

    # A numpy-only timing (lbfgs_overhead) must not pay for TensorFlow just to say which CPU it ran on.
    code = ("import sys, json; from benchmarks.common import cpu_info, utc_stamp; "
            "print(json.dumps([cpu_info(), utc_stamp(), 'tensorflow' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    info, stamp, imported_tf = json.loads(out.stdout)
    assert info["cores"] == os.cpu_count() and not imported_tf
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", stamp)


def test_variant_runs_are_scored_by_the_tutorial_objective():
    from benchmarks.baseline import TutorialObjective
    from benchmarks.variants import run_variant
    from nstutils.images import load_image
    from nstutils.objective import initial_image

    content, style = load_image("chelsea", 32), load_image("coffee", 32)
    start = TutorialObjective(content, style).evaluate(initial_image("color", content, style))
    for changes in ({}, {"diagonal_power": 0.5, "diagonal_blur": 1.0}, {"tv_epsilon": 0.005}, {"adam_steps": 3},
                    {"adam_after": 5, "adam_rate": 0.005}):
        report = run_variant("chelsea:coffee", 32, evaluations=8, every=4, **changes)
        assert [t["evaluations"] for t in report["trace"]] == [4, 8], changes
        assert report["final_tutorial_loss"] < start, changes


def test_smoothed_tv_changes_the_objective_and_diagonal_scale_favours_quiet_pixels():
    from benchmarks.variants import diagonal_scale, smoothed_tv_loss, smoothed_tv_objective
    from nstutils.images import load_image
    from nstutils.losses import total_variation_loss
    from nstutils.objective import StyleObjective

    image = np.zeros((1, 4, 4, 3), np.float32)
    image[:, :, 2:] = 1.0  # one vertical edge: 4 rows × 3 channels of |dx| = 1
    assert float(smoothed_tv_loss(image, 0.1)) == pytest.approx(12 * (np.sqrt(1.01) - 0.1), rel=1e-5)
    assert float(total_variation_loss(image)) == pytest.approx(12.0)  # the engine's loss is left alone
    # the objective the variant optimises really uses it, through the objective's tv_loss hook, and so
    # does its float32 twin; a plain objective does not
    photo, painting = load_image("chelsea", 32), load_image("coffee", 32)
    smoothed = smoothed_tv_objective(0.1)(photo, painting, compute_dtype="bfloat16")
    plain = StyleObjective(photo, painting, compute_dtype="float32")(photo)["tv"]
    assert smoothed(photo)["tv"] < plain * 0.99
    assert smoothed.exact()(photo)["tv"] < plain * 0.99
    gradient = np.ones((1, 8, 8, 3))
    gradient[:, :4] = 10.0
    scale = diagonal_scale(gradient, power=1.0, blur=0.0)
    assert scale.mean() == pytest.approx(1.0)
    assert scale[0, 6, 0, 0] / scale[0, 1, 0, 0] == pytest.approx(10.0)


def test_projected_lbfgs_reaches_the_box_optimum_of_a_quadratic():
    from benchmarks.projected_lbfgs import minimize_projected, two_loop
    from box_problems import CENTRE, quadratic

    outcome = minimize_projected(quadratic, np.full(40, 0.5, np.float32), max_steps=300)
    np.testing.assert_allclose(outcome["x"], np.clip(CENTRE, 0, 1), atol=1e-4)
    assert outcome["stop_reason"] in ("finished", "converged")
    g = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(two_loop(g, []), -g)


def test_a_stale_baseline_key_is_reused_only_when_asked(tmp_path):
    from benchmarks.run import cached_baseline

    entry = {"steps": 1000, "seconds": 10.0, "final_loss": 5.3e6, "pair": "tubingen:starry_night"}
    (tmp_path / "baseline_cache.json").write_text(json.dumps({"oldkey": entry}))
    reused = cached_baseline(512, 1000, tmp_path, "tubingen:starry_night", stale_ok=True)
    assert reused["final_loss"] == 5.3e6 and reused["stale_key"] == "oldkey" and reused["cached"]
    with pytest.raises(RuntimeError):  # another pair has no entry: it would run the tutorial (here: fails fast)
        import benchmarks.run as run_module

        original = run_module.run_measure
        run_module.run_measure = lambda *a: (_ for _ in ()).throw(RuntimeError("would run the tutorial"))
        try:
            cached_baseline(512, 1000, tmp_path, "coffee:great_wave", stale_ok=True)
        finally:
            run_module.run_measure = original


def test_the_flop_line_says_whether_the_peak_was_measured(tmp_path):
    from benchmarks.common import cpu_info
    from benchmarks.report import peak_text
    from benchmarks.run import measured_peak

    assert "not measured" in peak_text({"peak_per_second": {"float32": 1.66e11}})
    assert "benchmarks/peak.py): 150 GFLOP/s float32" in peak_text(
        {"peak_per_second": {"float32": 1.5e11}, "peak_source": "benchmarks/peak.py"})
    assert measured_peak(tmp_path) == {}
    report = {"machine": cpu_info(), "conv": {"float32": {"gflops_per_second": 150.0}, "bfloat16": {"error": "x"}}}
    (tmp_path / "peak.json").write_text(json.dumps(report))
    assert measured_peak(tmp_path) == {"float32": 150e9}
    report["machine"] = {**report["machine"], "family": -1}  # another CPU's measurement is not used
    (tmp_path / "peak.json").write_text(json.dumps(report))
    assert measured_peak(tmp_path) == {}


def test_coarse_to_fine_measurement_runs_on_tiny_sizes():
    from benchmarks.measure import measure_c2f

    report = measure_c2f((32, 48), (1, 1))
    assert report["shape"][:2] == [36, 48] and report["seconds"] > 0 and np.isfinite(report["final_loss"])
