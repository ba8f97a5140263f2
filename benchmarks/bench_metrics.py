"""Speed of the AuC of per-pixel accuracy: closed form (colorutils.metrics) vs the literal sweep.

Baseline: the definition of Zhang et al. (2016) written as it reads, vectorised: the indicator
``d <= t`` for every pixel and every threshold ``t = 0..150`` (a ``[B, H, W, 151]`` tensor),
averaged over pixels, then integrated with the trapezoidal rule.  ``colorutils.metrics``
computes each pixel's share of the area in closed form instead (no threshold axis).  Both run
as TensorFlow ops on the same random ab images in the same process, after one warm-up call;
the best of ``--repeats`` timed calls counts.  The script also checks that both give the same
numbers, then prints the ratio of their times.

Run: ``.venv/bin/python benchmarks/bench_metrics.py [--images N] [--size S] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from colorutils import metrics  # noqa: E402


def auc_sweep(ab_true, ab_pred, max_threshold=150):
    """The literal definition: accuracy at every integer threshold, trapezoidal area."""
    d = tf.norm(ab_true - ab_pred, axis=-1)[..., None]  # [B, H, W, 1]
    t = tf.range(max_threshold + 1, dtype=tf.float32)  # [T + 1]
    acc = tf.reduce_mean(tf.cast(d <= t, tf.float32), axis=[1, 2])  # [B, T + 1]
    area = tf.reduce_sum(acc, -1) - 0.5 * (acc[:, 0] + acc[:, -1])
    return area / max_threshold


def best_time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.asarray(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.images, args.size, args.size, 2)
    ab_true = tf.constant(rng.uniform(-80, 80, shape), tf.float32)
    ab_pred = tf.constant(ab_true.numpy() + rng.normal(0, 30, shape), tf.float32)

    ours = np.asarray(metrics.auc_accuracy(ab_true, ab_pred))
    sweep = np.asarray(auc_sweep(ab_true, ab_pred))
    np.testing.assert_allclose(ours, sweep, atol=1e-5)

    t_ours = best_time(lambda: metrics.auc_accuracy(ab_true, ab_pred), args.repeats)
    t_sweep = best_time(lambda: auc_sweep(ab_true, ab_pred), args.repeats)
    pixels = args.images * args.size * args.size
    print(f"AuC of {args.images} images of {args.size}x{args.size} px ({pixels:,} pixels), "
          f"best of {args.repeats}:")
    print(f"  threshold sweep [B,H,W,151] (baseline): {1e3 * t_sweep:8.1f} ms")
    print(f"  closed form (colorutils.metrics):      {1e3 * t_ours:8.1f} ms")
    print(f"  speed-up: {t_sweep / t_ours:.1f}x (same values to 1e-5)")


if __name__ == "__main__":
    main()
