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

Run: ``.venv/bin/python benchmarks/bench_train.py [--width W] [--batch B] [--steps N]``.
The defaults (width 0.25, batch 16) keep it under 2 minutes on a shared 2-core CPU; on a GPU
use ``--width 1 --batch 64 --steps 50``, where XLA is what Keras picks by default.
"""

from __future__ import annotations

import argparse
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
    devices.set_seed(0)
    num_bins = len(quantize.ab_bins())
    model = models.zhang_classifier(num_bins, width=width)
    return compiling.compile_model(model, jit_compile=jit)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=float, default=0.25,
                   help="width multiplier (smoke: 0.25, book: 0.5, full: 1)")
    p.add_argument("--steps", type=int, default=4, help="steps per timed epoch")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    strategy = devices.get_strategy()
    data = batches(args.batch, args.size)
    variants = {"graph (jit_compile=False)": False, "XLA (jit_compile=True)": True}
    with strategy.scope():
        built = {name: build(jit, args.width) for name, jit in variants.items()}
    print(f"zhang_classifier width {args.width}, {models.count_params(built[next(iter(built))]):,}"
          f" parameters, {args.size}x{args.size}, batch {args.batch}, {args.steps} steps/epoch")
    warmup = {}
    for name, model in built.items():
        t0 = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
        warmup[name] = time.perf_counter() - t0
    best = dict.fromkeys(built, float("inf"))
    for _ in range(args.repeats):
        for name, model in built.items():
            t0 = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, shuffle=False)
            best[name] = min(best[name], time.perf_counter() - t0)
    rate = {name: args.steps * args.batch / t for name, t in best.items()}
    for name in built:
        print(f"{name:28s} {rate[name]:9.1f} images/s   (first epoch incl. tracing/compile: "
              f"{warmup[name]:.1f} s)")
    base, cand = rate["graph (jit_compile=False)"], rate["XLA (jit_compile=True)"]
    print(f"ratio XLA / graph: {cand / base:.2f}x  (device: "
          f"{devices.describe_strategy(strategy)}, keras {keras.__version__})")


if __name__ == "__main__":
    main()
