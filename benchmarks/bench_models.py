"""Training throughput of the model zoo, relative to the regression CNN, on this machine.

Baseline: :func:`colorutils.models.regression_cnn` at the same width, image size and batch,
trained with its own loss (:class:`colorutils.losses.ABRegressionLoss`). Every other model
is compiled by :func:`colorutils.models.compile_model` (rebalanced cross-entropy for the
classification heads) and fed the same in-memory batch, so the figure is the cost of the
network and its loss, not of the input pipeline. Each model's training step is traced once
(warm-up, not timed), then ``--steps`` steps are timed; the models take turns over
``--repeats`` rounds and the best round counts. Printed: images per second, parameters, and
the ratio ``model img/s / regression_cnn img/s`` (below 1: slower than the baseline).

Run: ``.venv/bin/python benchmarks/bench_models.py [--size S] [--width W] [--steps N]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from colorutils import models, quantize  # noqa: E402


def zoo(width: float, q: int) -> dict:
    return {
        "regression_cnn": lambda: models.regression_cnn(width),
        "zhang (1 conv/block)": lambda: models.zhang_classifier(q, width, convs_per_block=1),
        "zhang (paper blocks)": lambda: models.zhang_classifier(q, width),
        "unet": lambda: models.unet("classification", q, width),
        "unet, 1/4 output (ch. 02-03)": lambda: models.unet("classification", q, width,
                                                            output_stride=4),
        "fusion_net": lambda: models.fusion_net(q, None, width, global_size=32),
        "koalarization (frozen)": lambda: models.koalarization_net(
            q, width=width, backbone_alpha=0.35, backbone_size=32, train_backbone=False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="the chapters train at 32 px")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    q = len(quantize.ab_bins())
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch, args.size, args.size, 1)).astype("float32")
    y = {"ab": rng.uniform(-60, 60, (args.batch, args.size, args.size, 2)).astype("float32")}
    built = {}
    for name, make in zoo(args.width, q).items():
        model = models.compile_model(make())
        model.train_on_batch(x, y)  # trace the training step once
        built[name] = model
    best = {name: float("inf") for name in built}
    for _ in range(args.repeats):
        for name, model in built.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            best[name] = min(best[name], time.perf_counter() - t0)
    rate = {name: args.steps * args.batch / s for name, s in best.items()}
    base = rate["regression_cnn"]
    print(f"training throughput, {args.size} px, width {args.width}, batch {args.batch}, "
          f"{tf.config.list_logical_devices()[-1].device_type}")
    print(f"{'model':30s} {'params':>10s} {'img/s':>8s} {'vs regression_cnn':>18s}")
    for name, model in built.items():
        print(f"{name:30s} {models.count_params(model):10,d} {rate[name]:8.1f} "
              f"{rate[name] / base:17.2f}x")


if __name__ == "__main__":
    main()
