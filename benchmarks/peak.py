"""Measure this machine's TensorFlow limits, in one process: what "at peak" means here.

    python -m benchmarks.peak [--size 512] [--out benchmarks/results/peak.json] [--all-dtypes]

A nominal peak computed as cores × clock × FLOPs per cycle says little about what
TensorFlow's kernels reach, so this measures it, per dtype (float32, bfloat16):

- ``conv``: one 3×3 convolution (96×128, 256 → 256 channels), GFLOP/s;
- ``matmul``: a square matmul (4096², 2048² when the dtype is slow), GFLOP/s;
- ``keras``: one loss + input-gradient evaluation of the plain Keras VGG19
  (``tf.keras.applications.VGG19(weights=None)`` with our weights, the ``mixed_bfloat16``
  policy for bfloat16, ``tf.function``, the tutorial's style layers and ``block5_conv2``) on
  the benchmark pair at ``--size``; also with ``jit_compile=True`` (XLA) for float32;
- ``ours``: :meth:`nstutils.objective.StyleObjective.value_and_gradient` on the same image,
  per dtype and with the defaults, and the same graph under XLA.

Seconds are medians after a warm-up call. A dtype whose convolution runs at less than half
the other's cannot be the best one; its model evaluations (tens of seconds each) are skipped
and the reason is recorded, unless ``--all-dtypes``. The report names the CPU family, the
load before and after, and ``ours_vs_keras``: the default evaluation over the best Keras one.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from benchmarks.common import cpu_info, save_json, sized_parser, utc_stamp
from nstutils.config import quiet_tensorflow
from nstutils.losses import with_input_gradient

quiet_tensorflow()

RESULTS = Path(__file__).resolve().parent / "results"
DTYPES = ("float32", "bfloat16")
CONV_SHAPE = (96, 128, 256, 256)  # height, width, input channels, output channels
PAIR = "tubingen:starry_night"


def median_seconds(call: Callable[[], object], reps: int = 3, budget: float = 20.0) -> Dict:
    """Median wall time of ``call`` after one warm-up; fewer than ``reps`` when they exceed ``budget`` s."""
    call()
    times: List[float] = []
    while len(times) < max(1, reps) and (not times or sum(times) < budget):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"seconds": float(statistics.median(times)), "times": times}


def conv_rate(dtype: str, reps: int = 5) -> Dict:
    """GFLOP/s of TensorFlow's 3×3 convolution at :data:`CONV_SHAPE` in ``dtype``."""
    import tensorflow as tf

    h, w, cin, cout = CONV_SHAPE
    x = tf.random.uniform((1, h, w, cin), dtype=tf.float32)
    k = tf.random.uniform((3, 3, cin, cout), dtype=tf.float32) * 0.01
    x, k = tf.cast(x, dtype), tf.cast(k, dtype)
    conv = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"))
    timing = median_seconds(lambda: conv(x, k).numpy(), reps)
    flops = 2.0 * h * w * 9 * cin * cout
    return {**timing, "gflops_per_second": flops / timing["seconds"] / 1e9, "shape": list(CONV_SHAPE)}


def matmul_rate(dtype: str, n: int = 4096, reps: int = 3) -> Dict:
    """GFLOP/s of an ``n × n`` matmul in ``dtype``."""
    import tensorflow as tf

    a = tf.cast(tf.random.uniform((n, n)), dtype)
    b = tf.cast(tf.random.uniform((n, n)), dtype)
    matmul = tf.function(tf.matmul)
    timing = median_seconds(lambda: matmul(a, b).numpy(), reps)
    return {**timing, "gflops_per_second": 2.0 * n ** 3 / timing["seconds"] / 1e9, "n": n}


def keras_evaluation(content, style, dtype: str, jit: bool = False, reps: int = 3) -> Dict:
    """One tutorial-style loss + input gradient through the plain Keras VGG19 in ``dtype``."""
    import keras
    import tensorflow as tf

    from benchmarks.baseline import CONTENT_LAYERS, STYLE_LAYERS, gram_matrix, vgg_layers

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if dtype == "bfloat16" else "float32")
    try:
        model = vgg_layers(STYLE_LAYERS + CONTENT_LAYERS)
    finally:
        keras.mixed_precision.set_global_policy("float32")

    def features(image):
        outputs = [tf.cast(o, tf.float32) for o in model(keras.applications.vgg19.preprocess_input(image * 255.0))]
        return [gram_matrix(o) for o in outputs[:-1]], outputs[-1]

    style_grams, _ = features(tf.constant(style))
    _, content_target = features(tf.constant(content))

    def loss_of(image):
        grams, content_features = features(image)
        loss = tf.add_n([tf.reduce_mean(tf.square(g - t)) for g, t in zip(grams, style_grams)]) * 2e-3
        loss += 1e4 * tf.reduce_mean(tf.square(content_features - content_target))
        return loss + 30.0 * tf.reduce_sum(tf.image.total_variation(image))

    evaluate, image = with_input_gradient(loss_of, jit), tf.constant(content)
    return {**median_seconds(lambda: evaluate(image)[1].numpy(), reps), "dtype": dtype, "jit_compile": jit}


def ours_evaluation(content, style, dtype: str, jit: bool = False, reps: int = 3) -> Dict:
    """:meth:`StyleObjective.value_and_gradient` on ``content`` (``dtype`` may be ``"auto"``); with
    ``jit`` the same terms compiled by XLA instead (not how the package runs them)."""
    import tensorflow as tf

    from nstutils.objective import StyleObjective

    objective = StyleObjective(content, style, compute_dtype=dtype)
    if not jit:
        call = lambda: objective.value_and_gradient(content)
    else:
        compiled, image = with_input_gradient(lambda x: objective.terms(x)["total"], True), tf.constant(content)
        call = lambda: compiled(image)[1].numpy()
    return {**median_seconds(call, reps), "dtype": objective.settings.compute_dtype, "asked": dtype,
            "jit_compile": jit}


def slow_dtypes(conv: Dict[str, Dict]) -> Dict[str, str]:
    """Dtypes whose convolution runs below half the best one's, with the reason in words."""
    rates = {d: r["gflops_per_second"] for d, r in conv.items() if "gflops_per_second" in r}
    best = max(rates.values(), default=0.0)
    return {d: f"its 3×3 convolution runs at {rate:.0f} GFLOP/s, below half of the best {best:.0f}"
            for d, rate in rates.items() if rate < best / 2}


def measure(size: int = 512, all_dtypes: bool = False, reps: int = 3, pair: str = PAIR,
            dtypes: Sequence[str] = DTYPES) -> Dict:
    """Every measurement of the module docstring for ``dtypes``, as one JSON-ready report."""
    from benchmarks.measure import pair_images
    from nstutils.vgg19 import conv_flops

    report = {"date": utc_stamp(), "machine": cpu_info(), "size": size, "pair": pair, "load": [os.getloadavg()[0]]}
    conv = {d: _guarded(conv_rate, d) for d in dtypes}
    skip = {} if all_dtypes else slow_dtypes(conv)
    matmul = {d: _guarded(matmul_rate, d, 2048 if d in skip else 4096) for d in dtypes}
    content, style = pair_images(size, pair)
    keras_runs, ours_runs = {}, {}
    for d in dtypes:
        if d in skip:
            keras_runs[d] = ours_runs[d] = {"skipped": skip[d]}
            continue
        keras_runs[d] = _guarded(keras_evaluation, content, style, d, False, reps)
        ours_runs[d] = _guarded(ours_evaluation, content, style, d, False, reps)
    best = min((d for d in dtypes if "seconds" in keras_runs[d]), key=lambda d: keras_runs[d]["seconds"])
    keras_runs[f"{best}+xla"] = _guarded(keras_evaluation, content, style, best, True, reps)
    ours_runs["default"] = _guarded(ours_evaluation, content, style, "auto", False, reps)
    ours_runs["default+xla"] = _guarded(ours_evaluation, content, style, ours_runs["default"].get("dtype", best),
                                        True, reps)
    flops = 2.0 * conv_flops(content.shape[1], content.shape[2])
    for run in list(keras_runs.values()) + list(ours_runs.values()):
        if "seconds" in run:
            run["gflops_per_second"] = flops / run["seconds"] / 1e9
    report.update(conv=conv, matmul=matmul, keras=keras_runs, ours=ours_runs, best_keras_dtype=best,
                  flops_per_evaluation=flops, shape=list(content.shape[1:3]))
    report["ours_vs_keras"] = ours_runs["default"].get("seconds", float("nan")) / keras_runs[best]["seconds"]
    report["load"].append(os.getloadavg()[0])
    return report


def _guarded(function: Callable, *args) -> Dict:
    """``function(*args)``, or ``{"error": ...}`` when the dtype is not supported here."""
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 - an unsupported dtype is a result, not a crash
        return {"error": f"{type(error).__name__}: {error}"[:300]}


def summary(report: Dict) -> str:
    """A few lines for the terminal and for benchmarks/README.md."""
    m = report["machine"]
    lines = [f"{m.get('cpu')} (CPU family {m.get('family')}), {m.get('cores')} cores, load "
             f"{report['load'][0]:.1f} → {report['load'][-1]:.1f}; {report['date']}"]
    for kind in ("conv", "matmul"):
        lines.append(f"{kind}: " + ", ".join(f"{d} {r.get('gflops_per_second', float('nan')):.0f} GFLOP/s"
                                             for d, r in report[kind].items()))
    for who in ("keras", "ours"):
        cells = [f"{k} {r['seconds']:.3f} s" if "seconds" in r else f"{k} skipped/failed"
                 for k, r in report[who].items()]
        lines.append(f"{who} evaluation at {report['shape'][1]}×{report['shape'][0]}: " + ", ".join(cells))
    lines.append(f"ours (default) / plain Keras ({report['best_keras_dtype']}): {report['ours_vs_keras']:.3f}×")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = sized_parser(__doc__, 512)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "peak.json")
    parser.add_argument("--all-dtypes", action="store_true", help="time model evaluations in a slow dtype too")
    parser.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated subset of float32,bfloat16")
    args = parser.parse_args(argv)
    report = measure(args.size, args.all_dtypes, args.reps, dtypes=args.dtypes.split(","))
    save_json(args.out, report)
    print(summary(report))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
