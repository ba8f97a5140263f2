"""Throughput of RGB -> Lab inside a parallel tf.data map: colorutils.color vs scikit-image.

Baseline: ``skimage.color.rgb2lab`` called per image through ``tf.numpy_function`` in the same
parallel map (the usual way to put a NumPy conversion into a TensorFlow input pipeline).
Both pipelines read the same uint8 photos (crops of scikit-image's sample photographs), return
float32 Lab, run with ``num_parallel_calls=AUTOTUNE`` and are timed in the same process after
one warm-up pass, taking turns; the best pass of each counts. The printed figure is the ratio
of images per second (goal: >= 3).

Roofline: the conversion must read 3 bytes and write 12 (float32 Lab) per pixel; the bytes it
moves per second at that minimum are printed against the machine's memory bandwidth, measured
in the same run by copying a 256 MB array (read + write), so a reader can see how far the
conversion is from being memory-bound.  (In a graph, ``rgb_to_lab`` is one XLA kernel and
uint8 input is linearised by a 256-entry lookup; unfused, its dozen element-wise passes each
read and write the whole image.)

Run: ``.venv/bin/python benchmarks/bench_color.py [--images N] [--size S] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from photos import photo_crops  # noqa: E402  (benchmarks/photos.py)
from skimage import color as skcolor  # noqa: E402

from colorutils import color  # noqa: E402


def _skimage_lab(img: np.ndarray) -> np.ndarray:
    return skcolor.rgb2lab(img).astype(np.float32)


def pipelines(images: np.ndarray) -> dict[str, tf.data.Dataset]:
    base = tf.data.Dataset.from_tensor_slices(images)
    size = images.shape[1:3]

    def baseline(img):
        lab = tf.numpy_function(_skimage_lab, [img], tf.float32, stateful=False)
        return tf.ensure_shape(lab, (*size, 3))

    opts = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return {
        "colorutils.color.rgb_to_lab": base.map(color.rgb_to_lab, **opts).prefetch(4),
        "skimage rgb2lab via tf.numpy_function": base.map(baseline, **opts).prefetch(4),
    }


def one_pass(ds: tf.data.Dataset, n: int) -> float:
    """Images/second of one full pass over ``ds``."""
    start = time.perf_counter()
    for _ in ds:
        pass
    return n / (time.perf_counter() - start)


def throughputs(named: dict[str, tf.data.Dataset], n: int, repeats: int) -> dict[str, float]:
    """Best images/second of each pipeline over ``repeats`` passes, after one warm-up pass.

    The pipelines take turns, so a load change on a shared machine hits both alike.
    """
    for ds in named.values():  # warm-up: tracing, thread pools, AUTOTUNE
        one_pass(ds, n)
    best = dict.fromkeys(named, 0.0)
    for _ in range(repeats):
        for name, ds in named.items():
            best[name] = max(best[name], one_pass(ds, n))
    return best


def copy_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Bytes per second of a large array copy (read + write), best of ``repeats``."""
    src = np.ones(megabytes * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    images = photo_crops(args.images, args.size)
    named = pipelines(images)
    ours_ds, base_ds = named.values()
    # Same images, same answer: check before timing.
    a = next(iter(ours_ds)).numpy()
    b = next(iter(base_ds)).numpy()
    assert np.abs(a - b).max() < 1e-2, np.abs(a - b).max()

    rates = throughputs(named, len(images), args.repeats)
    print(f"{len(images)} images of {args.size}x{args.size} uint8, parallel tf.data map, "
          f"{os.cpu_count()} CPUs, TF {tf.__version__}")
    for name, rate in rates.items():
        print(f"  {name:40s} {rate:8.1f} images/s")
    ours, base = rates.values()
    bandwidth = copy_bandwidth()
    moved = ours * args.size * args.size * (3 + 12)
    print(f"roofline: {moved / 1e9:.2f} GB/s of input and output (3 + 12 bytes a pixel) "
          f"against {bandwidth / 1e9:.1f} GB/s for a 256 MB copy ({moved / bandwidth:.0%})")
    print(f"ratio colorutils / scikit-image: {ours / base:.2f}x")


if __name__ == "__main__":
    main()
