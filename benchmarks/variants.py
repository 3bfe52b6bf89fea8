"""Optimiser variants on one pair, compared at equal numbers of evaluations.

    python -m benchmarks.variants --pair astronaut:the_scream --size 512 --evaluations 300 plain float32 diagonal

Each variant minimises the default objective from the default start (unless it changes
one of them) with SciPy's L-BFGS-B, for a fixed number of loss+gradient evaluations (the
cost that matters: one evaluation is one pass through VGG19 and back). Every ``--every``
evaluations the best image so far is kept; afterwards each is scored with the tutorial's
own float32 objective (:class:`benchmarks.baseline.TutorialObjective`), so variants that
optimise a different surrogate (smoothed TV, bfloat16) are judged on the same loss.
Results are merged into ``results/variants-<content>+<style>-<size>.json`` (one entry per
variant; re-running a variant replaces its entry). Each variant runs in its own process.

Written for issue 11: the default L-BFGS run stays above the tutorial's 1,000-step Adam
loss on astronaut + *The Scream* at 512 px; these are the variants tried on it.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np

from benchmarks.common import save_json, utc_stamp
from nstutils.config import quiet_tensorflow

quiet_tensorflow()
RESULTS = Path(__file__).resolve().parent / "results"

#: name -> what it changes from the default run (start "color", bfloat16/auto convolutions, history 20).
VARIANTS: Dict[str, dict] = {
    "plain": {},
    "float32": {"dtype": "float32"},
    "content-start": {"init": "content"},
    "diagonal": {"diagonal_power": 0.5, "diagonal_blur": 4.0},
    "adam-100": {"adam_steps": 100},
    "smooth-tv": {"tv_epsilon": 0.005},
    "history-5": {"history": 5},
    "history-50": {"history": 50},
    "adam": {"adam_steps": 10 ** 9},  # the tutorial's Adam update throughout, for reference
    "lbfgs-300-then-adam": {"adam_after": 300, "adam_rate": 0.005},
}


class _Done(Exception):
    pass


class _HandOver(Exception):
    pass


def adam_steps_from(evaluate, x: np.ndarray, steps: int, rate: float = 0.02) -> np.ndarray:
    """``steps`` of the tutorial's Adam (:func:`nstutils.run.adam_update`) from ``x``, fresh moments."""
    from nstutils.run import adam_update

    m, v = np.zeros_like(x), np.zeros_like(x)
    for t in range(1, steps + 1):
        x = adam_update(x, evaluate(x)[1].reshape(x.shape).astype(np.float32), m, v, t, rate)
    return x


def smoothed_tv_loss(image, epsilon: float):
    """The L1 total variation made differentiable at 0: ``Σ sqrt(d² + ε²) - ε`` over the image differences."""
    import tensorflow as tf

    from nstutils.losses import image_differences

    dy, dx = image_differences(image)
    e = tf.constant(epsilon, tf.float32)
    return tf.reduce_sum(tf.sqrt(dx * dx + e * e) - e) + tf.reduce_sum(tf.sqrt(dy * dy + e * e) - e)


def smoothed_tv_objective(epsilon: float) -> type:
    """A :class:`~nstutils.objective.StyleObjective` whose total-variation term is
    :func:`smoothed_tv_loss` with ``epsilon`` (through the objective's ``tv_loss`` hook)."""
    from nstutils.objective import StyleObjective

    class SmoothedTVObjective(StyleObjective):
        def tv_loss(self, image):
            return smoothed_tv_loss(image, epsilon)

    return SmoothedTVObjective


def diagonal_scale(gradient: np.ndarray, power: float, blur: float) -> np.ndarray:
    """Per-pixel step scale ``(blurred Σ_c g²)^(-power/2)``, normalised to mean 1, for the
    change of variables ``x = scale ⊙ z`` (Adam's per-pixel scaling is ``power = 1``)."""
    from scipy.ndimage import gaussian_filter

    energy = np.square(gradient[0]).sum(-1)
    if blur > 0:
        energy = gaussian_filter(energy, blur)
    scale = (energy + 1e-12 * energy.mean() + 1e-30) ** (-power / 2)
    scale = np.repeat(scale[..., None], gradient.shape[-1], -1)[None]
    return (scale / scale.mean()).astype(np.float64)


def run_variant(pair: str, size: int, evaluations: int, every: int, dtype: str = "auto", init: str = "color",
                history: int = 20, adam_steps: int = 0, diagonal_power: float = 0.0, diagonal_blur: float = 0.0,
                tv_epsilon: float = 0.0, adam_after: int = 0, adam_rate: float = 0.005) -> dict:
    """One variant for ``evaluations`` evaluations; the best image's tutorial loss every ``every``.

    ``adam_steps``: the tutorial's Adam first; ``adam_after``: L-BFGS for that many
    evaluations, then Adam at ``adam_rate`` from the best point for the rest.
    """
    from scipy.optimize import Bounds, minimize

    from benchmarks.baseline import TutorialObjective
    from nstutils.images import load_image
    from nstutils.objective import StyleObjective, initial_image

    content, style = (load_image(name, size) for name in pair.split(":"))
    objective_class = smoothed_tv_objective(tv_epsilon) if tv_epsilon else StyleObjective
    objective = objective_class(content, style, compute_dtype=dtype)
    x = initial_image(init, content, style).astype(np.float32)
    shape = x.shape
    state = {"evaluations": 0, "best": math.inf, "best_x": x.copy()}
    kept, started = [], time.perf_counter()
    messages = []

    def evaluate(flat) -> tuple:
        image = np.asarray(flat, np.float32).reshape(shape)
        losses, gradient = objective.value_and_gradient(image)
        state["evaluations"] += 1
        if losses["total"] < state["best"]:
            state["best"], state["best_x"] = losses["total"], image.copy()
        if state["evaluations"] % every == 0:
            kept.append((state["evaluations"], time.perf_counter() - started, state["best_x"].copy()))
        if state["evaluations"] >= evaluations:
            raise _Done()
        if adam_after and state["evaluations"] == adam_after:
            raise _HandOver()
        return float(losses["total"]), np.asarray(gradient, np.float64).reshape(-1)

    try:
        x = adam_steps_from(evaluate, x, adam_steps)
        scale = np.ones(shape)
        if diagonal_power:
            scale = diagonal_scale(evaluate(x)[1].reshape(shape), diagonal_power, diagonal_blur)

        def in_z(z):
            value, gradient = evaluate(z * scale.reshape(-1))
            return value, gradient * scale.reshape(-1)

        while True:  # SciPy stops on one non-decreasing step of a noisy loss: go on from the best point
            result = minimize(in_z, (x / scale).reshape(-1), jac=True, method="L-BFGS-B",
                              bounds=Bounds(np.zeros(x.size), (1.0 / scale).reshape(-1)),
                              options={"maxiter": 10 ** 6, "maxcor": history, "ftol": 0, "gtol": 0,
                                       "maxfun": 10 ** 9})
            messages.append(f"SciPy stopped at evaluation {state['evaluations']}: {result.message}")
            x = state["best_x"]
    except _HandOver:
        try:
            adam_steps_from(evaluate, state["best_x"], 10 ** 9, adam_rate)
        except _Done:
            pass
    except _Done:
        pass
    judge = TutorialObjective(content, style)
    trace = [{"evaluations": n, "seconds": round(s, 1), "tutorial_loss": judge.evaluate(image)}
             for n, s, image in kept]
    best = state["best_x"][0]
    return {"pair": pair, "size": size, "evaluations": evaluations, "date": utc_stamp(), "trace": trace,
            "final_tutorial_loss": judge.evaluate(best), "restarts": messages,
            "at_bounds": float(np.mean((best <= 1e-6) | (best >= 1 - 1e-6)))}


def results_path(pair: str, size: int, out: Path = RESULTS) -> Path:
    return out / f"variants-{pair.replace(':', '+')}-{size}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", choices=sorted(VARIANTS))
    parser.add_argument("--pair", default="astronaut:the_scream")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--evaluations", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        (name,) = args.variants
        print(json.dumps(run_variant(args.pair, args.size, args.evaluations, args.every, **VARIANTS[name])))
        return
    path = results_path(args.pair, args.size, args.out)
    report = json.loads(path.read_text()) if path.exists() else {}
    for name in args.variants:
        child = subprocess.run([sys.executable, "-m", "benchmarks.variants", name, "--one", "--pair", args.pair,
                                "--size", str(args.size), "--evaluations", str(args.evaluations),
                                "--every", str(args.every)], capture_output=True, text=True, check=True)
        report[name] = {"changes": VARIANTS[name], **json.loads(child.stdout.strip().splitlines()[-1])}
        print(f"{name:>14}: " + ", ".join(f"{t['evaluations']}: {t['tutorial_loss']:.4g}"
                                         for t in report[name]["trace"]), flush=True)
        save_json(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
