"""Input pipeline throughput vs. the training throughput of the default classification model.

Question: is training ever input-bound?  For each image size (64 and 128 px) the script
measures, in the same process,

* **pipeline**: images/s that ``colorutils.data.load(source, "train", size, repeat=True)``
  delivers (random-resized crop, flip, Lab conversion, batching), after one warm-up epoch
  that fills the cache: the steady state of every epoch after the first;
* **training** (the named baseline): images/s that one ``train_on_batch`` step of the
  default classification model consumes, ``zhang_classifier(num_bins=len(ab_bins()),
  width=<book preset>)`` compiled with ``RebalancedCrossEntropy`` and Adam, on batches taken
  from that same pipeline (held in memory, so the step never waits for input);

and prints ``ratio = pipeline / training`` (goal: >= 3, so the accelerator is never starved).
When ``../shared/data/clothing10`` exists it also times the cold path (JPEG decode of 400 px
photos + resize, ``cache=False``), i.e. the first epoch of a folder source, and what reading
the EXIF orientation costs there: the same decode + resize map with and without it
(``data.decode_image(..., orient=False)``), taking turns, best of 3.

Run: ``.venv/bin/python benchmarks/bench_pipeline.py [--sizes 64 128] [--batch 16]``.
Finishes in about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from colorutils import data, losses, models, quantize, settings  # noqa: E402

CLOTHING = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing10"


def default_classifier(width: float) -> keras.Model:
    """The book's default classification model, compiled as the chapters compile it."""
    bins = quantize.ab_bins()
    model = models.zhang_classifier(num_bins=len(bins), width=width)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"ab": losses.RebalancedCrossEntropy(bins)})
    return model


def pipeline_rate(source: str, size: int, batch: int, batches: int, cache: bool = True,
                  epochs_warm: bool = True) -> float:
    ds = data.load(source, "train", size, batch_size=batch, repeat=True, cache=cache)
    if epochs_warm and cache:
        n = data.info(source).split_sizes["train"]
        data.throughput(ds, batches=-(-n // batch), warmup=0)  # fill the cache
    return data.throughput(ds, batches=batches, warmup=2)["images_per_s"]


def training_rate(model: keras.Model, source: str, size: int, batch: int, steps: int) -> float:
    ds = data.load(source, "train", size, batch_size=batch, repeat=True, seed=1)
    batches = list(ds.take(steps + 1))
    model.train_on_batch(*batches[0])  # trace and compile the step for this shape
    start = time.perf_counter()
    for x, y in batches[1:]:
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - start)


def exif_cost(folder: pathlib.Path, size: int = 128, files: int = 600,
              rounds: int = 3) -> dict[bool, float]:
    """Images/s of decode + resize of a folder's JPEGs with and without the EXIF orientation
    (interleaved rounds, best of ``rounds``)."""
    paths = sorted(str(p) for p in folder.rglob("*.jpg"))[:files]

    def rate(orient: bool) -> float:
        ds = tf.data.Dataset.from_tensor_slices(paths).map(
            lambda p: data.centre_crop(data.resize_short_side(
                data.decode_image(tf.io.read_file(p), size, orient=orient), size), size),
            num_parallel_calls=tf.data.AUTOTUNE)
        return data.throughput(ds.batch(16), warmup=1)["images_per_s"]

    best = {True: 0.0, False: 0.0}
    for _ in range(rounds):
        for orient in (False, True):
            best[orient] = max(best[orient], rate(orient))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--source", default="sample")
    parser.add_argument("--width", type=float, default=settings.PRESETS["book"]["width"],
                        help="model width (default: the book preset)")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per size")
    args = parser.parse_args(argv)

    print(f"TF {tf.__version__}, {os.cpu_count()} CPU cores, "
          f"GPUs: {len(tf.config.list_physical_devices('GPU'))}; source {args.source}, "
          f"batch {args.batch}, zhang_classifier width {args.width}")
    rows = []
    model = default_classifier(args.width)  # fully convolutional: one model for every size
    for size in args.sizes:
        pipe = pipeline_rate(args.source, size, args.batch, batches=30)
        train = training_rate(model, args.source, size, args.batch, args.steps)
        rows.append((size, pipe, train))
        print(f"  {size:>4} px: pipeline {pipe:8.0f} img/s | training {train:7.1f} img/s | "
              f"ratio {pipe / train:6.1f}x", flush=True)
    worst = min(p / t for _, p, t in rows)
    print(f"ratio pipeline / training (worst size): {worst:.1f}x "
          f"({'meets' if worst >= 3 else 'MISSES'} the >= 3x goal)")
    if CLOTHING.is_dir():
        cold = pipeline_rate(f"folder:{CLOTHING}", 128, args.batch, batches=10, cache=False)
        slowest_train = min(t for _, _, t in rows)
        print(f"  cold folder path (clothing10 JPEG decode + resize, 128 px, no cache): "
              f"{cold:.0f} img/s = {cold / slowest_train:.1f}x the slowest training rate")
        cost = exif_cost(CLOTHING)
        print(f"  EXIF orientation on that path: {cost[True]:.0f} img/s with, "
              f"{cost[False]:.0f} img/s without (ratio {cost[True] / cost[False]:.3f})")
    else:
        print(f"  ({CLOTHING} absent: cold folder path not measured)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
