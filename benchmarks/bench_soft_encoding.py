"""Throughput of the soft encoding of ab targets: colorutils.quantize vs a per-pixel k-NN search.

Baseline (named): the per-pixel k-nearest-neighbour search of the original training layer of
Zhang et al. written pixel by pixel in NumPy: for every pixel, distances to all ``Q`` bin
centres, ``np.argpartition`` for the ``k`` nearest, Gaussian weights, written into that
pixel's row of the dense target.  Ours: :func:`colorutils.quantize.soft_encode_sparse` (the
form the loss consumes: ``k`` indices and weights per pixel) and
:func:`colorutils.quantize.soft_encode` (the dense ``[..., Q]`` target), both compiled with
``tf.function``.  A third line shows, for reference, scikit-learn's ``NearestNeighbors``
(ball tree) on the whole batch, which is what the official Caffe layer calls.

All methods encode the same ab arrays (Lab of real photo crops from scikit-image), k = 10,
sigma = 5, grid 10; the slow per-pixel baseline runs on the first ``--baseline-pixels`` pixels
and the figure compared is pixels per second.  The outputs are checked to agree.

Run: ``.venv/bin/python benchmarks/bench_soft_encoding.py [--images N] [--size S]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from photos import photo_crops  # noqa: E402  (benchmarks/photos.py)
from sklearn.neighbors import NearestNeighbors  # noqa: E402

from colorutils import color, quantize  # noqa: E402


def photo_ab(n: int, size: int) -> np.ndarray:
    """ab (Lab units) of ``n`` random ``size`` x ``size`` crops of scikit-image photographs."""
    return color.rgb_to_lab(photo_crops(n, size)).numpy()[..., 1:]


def per_pixel_knn(ab_flat: np.ndarray, bins: np.ndarray, k: int, sigma: float) -> np.ndarray:
    """The baseline: one pixel at a time, NumPy distances + argpartition + Gaussian weights."""
    out = np.zeros((len(ab_flat), len(bins)), np.float32)
    for i, y in enumerate(ab_flat):
        d2 = np.sum((bins - y) ** 2, axis=1)
        nn = np.argpartition(d2, k)[:k]
        w = np.exp(-(d2[nn] - d2[nn].min()) / (2 * sigma**2))
        out[i, nn] = w / w.sum()
    return out


def sklearn_batch(ab_flat, nbrs, q, sigma):
    """Reference: the official layer's batch call to scikit-learn, then the dense target."""
    dist, idx = nbrs.kneighbors(ab_flat)
    w = np.exp(-(dist**2 - dist[:, :1] ** 2) / (2 * sigma**2))
    w /= w.sum(1, keepdims=True)
    out = np.zeros((len(ab_flat), q), np.float32)
    np.put_along_axis(out, idx, w, axis=1)
    return out


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (tracing, caches)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--baseline-pixels", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    k, sigma = quantize.SOFT_K, quantize.SOFT_SIGMA
    bins = quantize.ab_bins()
    ab = photo_ab(args.images, args.size).astype(np.float32)
    flat = ab.reshape(-1, 2)
    n = len(flat)
    sub = flat[:args.baseline_pixels]
    print(f"{args.images} images of {args.size}x{args.size} = {n} pixels, Q = {len(bins)} "
          f"bins, k = {k}, sigma = {sigma}; device: CPU/GPU as TensorFlow places it")

    x = tf.constant(ab)
    sparse_fn = tf.function(lambda t: quantize.soft_encode_sparse(t, bins, k, sigma))
    dense_fn = tf.function(lambda t: quantize.soft_encode(t, bins, k, sigma))
    t_sparse = best_time(lambda: [v.numpy() for v in sparse_fn(x)], args.repeats)
    t_dense = best_time(lambda: dense_fn(x).numpy(), args.repeats)
    t_base = best_time(lambda: per_pixel_knn(sub, bins, k, sigma), 1)
    nbrs = NearestNeighbors(n_neighbors=k, algorithm="ball_tree").fit(bins)
    t_sk = best_time(lambda: sklearn_batch(flat, nbrs, len(bins), sigma), 1)

    # the methods agree on the pixels the baseline encoded
    dense = dense_fn(x).numpy().reshape(-1, len(bins))
    np.testing.assert_allclose(dense[:len(sub)], per_pixel_knn(sub, bins, k, sigma), atol=1e-4)

    rate = {
        "per-pixel k-NN (NumPy, baseline)": len(sub) / t_base,
        "scikit-learn ball tree, batch (reference)": n / t_sk,
        "quantize.soft_encode (dense [N, Q])": n / t_dense,
        "quantize.soft_encode_sparse (k idx + w)": n / t_sparse,
    }
    base = rate["per-pixel k-NN (NumPy, baseline)"]
    for name, r in rate.items():
        print(f"{name:45s} {r / 1e6:8.3f} Mpixel/s   x{r / base:8.1f}")
    print(f"ratio soft_encode_sparse / per-pixel k-NN: {rate['quantize.soft_encode_sparse (k idx + w)'] / base:.1f}x"
          f"  (dense soft_encode: {rate['quantize.soft_encode (dense [N, Q])'] / base:.1f}x; goal >= 50x)")


if __name__ == "__main__":
    main()
