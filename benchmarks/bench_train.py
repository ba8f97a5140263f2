"""Training throughput (images/s) of the book's default model, with and without XLA.

Model: ``colorutils.models.zhang_classifier`` over the in-gamut ab bins
(``len(quantize.ab_bins())``), compiled by ``compiling.compile_model`` with
``losses.RebalancedCrossEntropy`` (the book's default colorizer), at 64x64.
Baseline: the same model compiled with ``jit_compile=False`` (TensorFlow graph execution);
candidate: ``jit_compile=True`` (XLA). Both train on the same in-memory batches of random L
and ab (throughput does not depend on the pixel values), in the same process, taking turns;
each variant first runs a warm-up epoch (tracing and XLA compilation, reported separately),
then ``--repeats`` timed epochs of ``--steps`` steps; the best epoch counts.  The printed figure
is the ratio of images per second.

Run: ``.venv/bin/python benchmarks/bench_train.py [--sizes 64 128] [--width W] [--batch B]
[--steps N] [--mixed-precision]``.  The defaults (64 px, width 0.25, batch 16) keep it under 2
minutes on a shared 2-core CPU.  On a GPU (the step time of the default classifier at 64 and
128 px, not measured yet: no GPU was lent when this was written)::

    python benchmarks/bench_train.py --sizes 64 128 --width 1 --batch 64 --steps 50 \
        --repeats 3 --mixed-precision --json bench_train_gpu.json

prints, per size, images/s and milliseconds per step of both variants (XLA is what Keras
picks by default there) and writes them to the JSON file for ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from colorutils import compiling, devices, models, quantize  # noqa: E402


def batches(batch: int, size: int, n: int = 4) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    l_norm = rng.uniform(-1, 1, (n * batch, size, size, 1)).astype("float32")
    ab = rng.uniform(-60, 60, (n * batch, size, size, 2)).astype("float32")
    return (tf.data.Dataset.from_tensor_slices((l_norm, {"ab": ab})).batch(batch).cache()
            .repeat().prefetch(tf.data.AUTOTUNE))


def build(jit: bool, width: float):
    """The default classifier, compiled as the book compiles it, XLA on or off."""
    devices.set_seed(0)
    num_bins = len(quantize.ab_bins())
    model = models.zhang_classifier(num_bins, width=width)
    return compiling.compile_model(model, jit_compile=jit)


def time_variants(built: dict, data, steps: int, repeats: int) -> tuple[dict, dict]:
    """Best seconds per timed epoch of each variant (taking turns), and the warm-up seconds."""
    warmup = {}
    for name, model in built.items():
        t0 = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
        warmup[name] = time.perf_counter() - t0
    best = dict.fromkeys(built, float("inf"))
    for _ in range(repeats):
        for name, model in built.items():
            t0 = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best, warmup


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64], help="image sizes (px)")
    p.add_argument("--size", type=int, default=None, help="one size (same as --sizes S)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=float, default=0.25,
                   help="width multiplier (smoke: 0.25, book: 0.5, full: 1)")
    p.add_argument("--steps", type=int, default=4, help="steps per timed epoch")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--mixed-precision", action="store_true",
                   help="mixed_float16 on a GPU (ignored on a CPU)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args()
    sizes = [args.size] if args.size else args.sizes

    policy = devices.set_mixed_precision(args.mixed_precision, verbose=True)
    strategy = devices.get_strategy()
    variants = {"graph (jit_compile=False)": False, "XLA (jit_compile=True)": True}
    with strategy.scope():
        built = {name: build(jit, args.width) for name, jit in variants.items()}
    print(f"zhang_classifier width {args.width}, {models.count_params(built[next(iter(built))]):,}"
          f" parameters, batch {args.batch}, {args.steps} steps/epoch, {policy}, device: "
          f"{devices.describe_strategy(strategy)}, keras {keras.__version__}")
    figures = {"device": devices.describe_strategy(strategy), "policy": policy,
               "width": args.width, "batch": args.batch, "sizes": {}}
    for size in sizes:
        best, warmup = time_variants(built, batches(args.batch, size), args.steps, args.repeats)
        rate = {name: args.steps * args.batch / t for name, t in best.items()}
        print(f"{size}x{size}:")
        for name in built:
            print(f"  {name:28s} {rate[name]:9.1f} images/s  {1e3 * best[name] / args.steps:8.1f}"
                  f" ms/step   (first epoch incl. tracing/compile: {warmup[name]:.1f} s)")
        base, cand = rate["graph (jit_compile=False)"], rate["XLA (jit_compile=True)"]
        print(f"  ratio XLA / graph: {cand / base:.2f}x")
        figures["sizes"][size] = {name: {"images_per_s": rate[name],
                                         "ms_per_step": 1e3 * best[name] / args.steps}
                                  for name in built}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
