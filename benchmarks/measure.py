"""One measurement per process, so each reports its own peak memory.

    python -m benchmarks.measure baseline --size 512 --steps 1000 [--pair tubingen:starry_night]
    python -m benchmarks.measure tutorial-step --size 512 --steps 20 --pair coffee:great_wave
    python -m benchmarks.measure eval --size 512 --reps 5 [--impl ours|float32|bfloat16|baseline]
    python -m benchmarks.measure ours --size 512 --target 5.27e6      # a default stylize run, start to finish
    python -m benchmarks.measure c2f --sizes 256,512,1024,2048 --steps 60,30,15,8

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time

from nstutils.config import quiet_tensorflow
from nstutils.losses import with_input_gradient

quiet_tensorflow()  # keep stderr for real errors
PAIR = "tubingen:starry_night"


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def pair_images(size: int, pair: str = PAIR):
    from nstutils.images import load_image

    content, style = pair.split(":")
    return load_image(content, size), load_image(style, size)


def measure_baseline(size: int, steps: int, pair: str = PAIR) -> dict:
    from benchmarks.baseline import run_tutorial

    content, style = pair_images(size, pair)
    result = run_tutorial(content, style, steps)
    image = result.pop("image")
    os.makedirs("build/benchmarks", exist_ok=True)
    import numpy as np

    np.save(f"build/benchmarks/baseline_{pair.replace(':', '+')}_{size}_{steps}.npy", image)
    return {**result, "pair": pair}


def measure_tutorial_step(size: int, steps: int, pair: str = PAIR) -> dict:
    from benchmarks.baseline import tutorial_seconds_per_step

    content, style = pair_images(size, pair)
    return {"pair": pair, "size": size, "steps_timed": steps,
            "seconds_per_step": tutorial_seconds_per_step(content, style, steps)}


def measure_eval(size: int, reps: int, impl: str, pair: str = PAIR) -> dict:
    """Seconds per loss+gradient evaluation (median of ``reps`` after one warm-up)."""
    import numpy as np
    import tensorflow as tf

    content, style = pair_images(size, pair)
    if impl == "baseline":
        from benchmarks.baseline import TutorialObjective

        objective = TutorialObjective(content, style)

        step = with_input_gradient(objective.loss)
        run = lambda: [t.numpy() for t in step(tf.constant(content))]
    else:
        from nstutils.objective import StyleObjective

        objective = StyleObjective(content, style, compute_dtype=impl if impl != "ours" else "auto")
        run = lambda: objective.value_and_gradient(content)
    run()
    load_before = os.getloadavg()[0]
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    # The dtype "ours" resolved to and the load around the timing: a timing that disagrees
    # with the others can then be told apart from a busy machine or a different dtype.
    return {"impl": impl, "size": size, "pixels": int(content.shape[1] * content.shape[2]),
            "seconds_per_eval": float(np.median(times)), "reps": reps, "times": times,
            "compute_dtype": "float32" if impl == "baseline" else objective.settings.compute_dtype,
            "load": [load_before, os.getloadavg()[0]]}


def measure_ours(size: int, target: float, check_every: int, pair: str = PAIR, **overrides) -> dict:
    """A default ``stylize`` run from start to finish, as a user waits for it.

    Every ``check_every`` steps the current image is saved (with the clock paused); after
    the run each is scored with the baseline's own float32 objective, to record when the
    run first crossed ``target``. Scoring afterwards keeps the tutorial's Keras model out
    of the run's peak memory, so ``peak_bytes`` is what a ``nst stylize`` user sees. The
    clock includes building the objective and tracing (a user waits for those too) but not
    importing TensorFlow or loading the images. Before the run, the estimate the CLI would
    print is recorded, to compare with the measured time and memory. ``overrides`` (e.g.
    ``stop_tolerance``) change the defaults, to measure another stopping rule.
    """
    import tempfile

    import numpy as np

    from nstutils.cost import estimate_run
    from nstutils.run import prepare, run_optimizer
    from nstutils.settings import make_settings

    content, style = pair_images(size, pair)
    settings = make_settings(max_dim=size, **overrides)
    estimate = estimate_run(settings.run, content.shape, settings.objective.compute_dtype)
    paused = {"seconds": 0.0}
    trace = []
    bests = []  # the run's best loss after each step: replays the stopping rule offline
    saved = tempfile.TemporaryDirectory(prefix="nstutils-bench-")

    def callback(progress):
        bests.append(progress.best_loss)
        if progress.step % check_every:
            return False
        pause = time.perf_counter()
        np.save(os.path.join(saved.name, f"{progress.step}.npy"), progress.image)
        paused["seconds"] += time.perf_counter() - pause
        trace.append({"step": progress.step, "seconds": time.perf_counter() - start - paused["seconds"],
                      "evaluations": progress.evaluations})
        return False

    start = time.perf_counter()
    prepared = prepare(content, style, max_dim=size, **overrides)  # what stylize does, with the evaluations timed
    evaluating = time_evaluations(prepared.objective)
    optimising = time.perf_counter()
    result = run_optimizer(prepared.objective, prepared.start, prepared.run, callback=callback)
    optimising = time.perf_counter() - optimising - paused["seconds"]
    seconds = time.perf_counter() - start - paused["seconds"]
    run_peak = peak_bytes()

    from benchmarks.baseline import TutorialObjective

    judge = TutorialObjective(content, style)
    reached = {}
    for entry in trace:
        entry["float32_loss"] = judge.evaluate(np.load(os.path.join(saved.name, f"{entry['step']}.npy")))
        if entry["float32_loss"] <= target and not reached:
            reached.update(seconds=entry["seconds"], step=entry["step"])
    saved.cleanup()
    final = judge.evaluate(result.image)
    return {"pair": pair, "size": size, "settings": {k: v for k, v in result.settings.items() if k != "init"},
            "target": target, "reached": bool(reached) or final <= target, "seconds": seconds,
            "seconds_to_target": reached.get("seconds"), "steps_to_target": reached.get("step"),
            "steps": len(result.history), "evaluations": result.evaluations, "stop_reason": result.stop_reason,
            "message": result.message, "final_float32_loss": final, "trace": trace,
            "best": [round(float(b), 1) if math.isfinite(b) else None for b in bests],
            "step_seconds": [round(float(h["seconds"]), 3) for h in result.history],
            "peak_bytes": run_peak, "process_peak_bytes": peak_bytes(),
            "overhead": overhead(optimising, evaluating["seconds"], seconds),
            "estimate": {"seconds": estimate.seconds, "peak_bytes": estimate.peak_bytes}}


def time_evaluations(objective) -> dict:
    """Add up the seconds ``objective`` (and its float32 twin, :meth:`exact`) spend evaluating.

    The optimiser's own time is then the optimisation's wall time minus these seconds
    (and the callbacks' paused time), measured inside the run instead of beside it.
    """
    spent = {"seconds": 0.0, "count": 0}

    def timed(target):
        evaluate = target.value_and_gradient

        def value_and_gradient(image):
            start = time.perf_counter()
            try:
                return evaluate(image)
            finally:
                spent["seconds"] += time.perf_counter() - start
                spent["count"] += 1

        target.value_and_gradient = value_and_gradient
        return target

    exact = objective.exact
    twin = {}
    objective.exact = lambda: twin.get("objective") or twin.setdefault("objective", timed(exact()))
    timed(objective)
    return spent


def overhead(optimising: float, evaluating: float, run_seconds: float) -> dict:
    """The optimiser's own seconds (optimisation minus evaluations) and their share of the run."""
    own = max(0.0, optimising - evaluating)
    return {"optimiser_seconds": own, "evaluation_seconds": evaluating, "optimisation_seconds": optimising,
            "share_of_run": own / run_seconds if run_seconds > 0 else float("nan")}


def measure_c2f(sizes, steps) -> dict:
    from nstutils.course.beyond import coarse_to_fine

    start = time.perf_counter()
    result = coarse_to_fine("tubingen", "starry_night", sizes=sizes, steps=steps)
    return {"sizes": sizes, "steps": steps, "seconds": time.perf_counter() - start,
            "shape": list(result.image.shape), "final_loss": result.history[-1]["total"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["baseline", "tutorial-step", "eval", "ours", "c2f"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", default="1000")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--impl", default="ours")
    parser.add_argument("--target", type=float, default=0.0)
    parser.add_argument("--check-every", type=int, default=10)
    parser.add_argument("--pair", default=PAIR, help="content:style course image names")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--stop-tolerance", type=float, help="ours: another stopping rule than the default")
    parser.add_argument("--fixed-steps", type=int, help="ours: this many steps instead of the stopping rule "
                                                          "(the optimiser's share of a run, measured sooner)")
    args = parser.parse_args()
    if args.what == "baseline":
        out = measure_baseline(args.size, int(args.steps), args.pair)
    elif args.what == "tutorial-step":
        out = measure_tutorial_step(args.size, int(args.steps), args.pair)
    elif args.what == "eval":
        out = measure_eval(args.size, args.reps, args.impl, args.pair)
    elif args.what == "ours":
        overrides = {} if args.stop_tolerance is None else {"stop_tolerance": args.stop_tolerance}
        overrides.update({} if args.fixed_steps is None else {"steps": args.fixed_steps})
        out = measure_ours(args.size, args.target, args.check_every, args.pair, **overrides)
    else:
        out = measure_c2f([int(s) for s in args.sizes.split(",")], [int(s) for s in args.steps.split(",")])
    out.setdefault("peak_bytes", peak_bytes())  # "ours" reports the run's own peak, before scoring
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
