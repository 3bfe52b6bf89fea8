"""One measurement per process, so each reports its own peak memory.

    python -m benchmarks.measure baseline --size 512 --steps 1000
    python -m benchmarks.measure eval --size 512 --reps 5 [--impl ours|baseline]
    python -m benchmarks.measure ours --size 512 --target 5.27e6 --max-steps 400
    python -m benchmarks.measure c2f --sizes 256,512,1024,2048 --steps 60,30,15,8

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep stderr for real errors


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _images(size: int):
    from nstutils.images import load_image

    return load_image("tubingen", size), load_image("starry_night", size)


def measure_baseline(size: int, steps: int) -> dict:
    from benchmarks.baseline import run_tutorial

    content, style = _images(size)
    result = run_tutorial(content, style, steps)
    image = result.pop("image")
    os.makedirs("build/benchmarks", exist_ok=True)
    import numpy as np

    np.save(f"build/benchmarks/baseline_{size}_{steps}.npy", image)
    return result


def measure_eval(size: int, reps: int, impl: str) -> dict:
    """Seconds per loss+gradient evaluation (median of ``reps`` after one warm-up)."""
    import numpy as np
    import tensorflow as tf

    content, style = _images(size)
    if impl == "baseline":
        from benchmarks.baseline import TutorialObjective

        objective = TutorialObjective(content, style)

        @tf.function
        def step(image):
            with tf.GradientTape() as tape:
                tape.watch(image)
                loss = objective.loss(image)
            return loss, tape.gradient(loss, image)

        run = lambda: [t.numpy() for t in step(tf.constant(content))]
    else:
        from nstutils.optimize import StyleObjective, StyleSettings

        objective = StyleObjective(content, style, StyleSettings(compute_dtype=impl if impl != "ours" else "auto"))
        run = lambda: objective.value_and_gradient(content)
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"impl": impl, "size": size, "pixels": int(content.shape[1] * content.shape[2]),
            "seconds_per_eval": float(np.median(times)), "reps": reps}


def measure_ours(size: int, target: float, max_steps: int, check_every: int) -> dict:
    """Wall time for stylize's defaults to reach ``target`` on the tutorial objective in float32.

    The float32 checks of the current image are made with the clock paused.
    """
    from benchmarks.baseline import TutorialObjective
    from nstutils.optimize import StyleObjective, StyleSettings, initial_image, run_optimizer

    content, style = _images(size)
    judge = TutorialObjective(content, style)
    settings = StyleSettings(max_dim=size, steps=max_steps).validated()
    build_start = time.perf_counter()
    objective = StyleObjective(content, style, settings)
    objective.value_and_gradient(content)  # trace; the baseline's trace is off its clock too
    paused = {"seconds": 0.0}
    trace = []
    reached = {}
    start = time.perf_counter()

    def callback(progress):
        if progress.step % check_every and progress.step != progress.steps:
            return False
        pause = time.perf_counter()
        loss = judge.evaluate(progress.image)
        paused["seconds"] += time.perf_counter() - pause
        elapsed = time.perf_counter() - start - paused["seconds"]
        trace.append({"step": progress.step, "seconds": elapsed, "float32_loss": loss,
                      "evaluations": progress.step})
        if loss <= target and not reached:
            reached.update(seconds=elapsed, step=progress.step, float32_loss=loss)
            return True
        return False

    result = run_optimizer(objective, initial_image("content", content, style), callback=callback)
    final = judge.evaluate(result.image)
    return {"size": size, "settings": {k: v for k, v in result.settings.items() if k != "init"},
            "target": target, "reached": bool(reached), "seconds_to_target": reached.get("seconds"),
            "steps_to_target": reached.get("step"), "evaluations": result.history[-1]["evaluations"],
            "final_float32_loss": final, "trace": trace, "setup_seconds": start - build_start}


def measure_c2f(sizes, steps) -> dict:
    from nstutils.beyond import coarse_to_fine

    start = time.perf_counter()
    result = coarse_to_fine("tubingen", "starry_night", sizes=sizes, steps=steps)
    return {"sizes": sizes, "steps": steps, "seconds": time.perf_counter() - start,
            "shape": list(result.image.shape), "final_loss": result.history[-1]["total"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["baseline", "eval", "ours", "c2f"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", default="1000")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--impl", default="ours")
    parser.add_argument("--target", type=float, default=0.0)
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--check-every", type=int, default=5)
    parser.add_argument("--sizes", default="256,512")
    args = parser.parse_args()
    if args.what == "baseline":
        out = measure_baseline(args.size, int(args.steps))
    elif args.what == "eval":
        out = measure_eval(args.size, args.reps, args.impl)
    elif args.what == "ours":
        out = measure_ours(args.size, args.target, args.max_steps, args.check_every)
    else:
        out = measure_c2f([int(s) for s in args.sizes.split(",")], [int(s) for s in args.steps.split(",")])
    out["peak_bytes"] = peak_bytes()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
