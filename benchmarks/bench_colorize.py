"""How close to the machine's limit ``colorutils colorize`` runs, and what batching buys.

Workload: a folder of 512 x 512 JPEG photos (crops of scikit-image's colour photographs,
enlarged where needed; or the 400 px photos of ``../shared/data/clothing10`` with
``--clothing``), colorized into PNG files by the book's best colorizer (chapter 03's U-Net
classifier, width 0.25, output stride 4; untrained: speed does not depend on the weights)
at its training size (32 px, ``--size``) and at 128 px.

Measured in the same process, taking turns, best of ``--repeats`` passes:

* **colorize**: :func:`colorutils.colorize.colorize_paths`, the function the command calls,
  batched as it batches (photos of one model shape share a forward pass);
* **naive loop** (the baseline): the same model and outputs, one photo at a time
  (:func:`colorutils.colorize.colorize_file` per photo: one eager model call each);
* **matmul peak**: float32 FLOP/s of a 2048 x 2048 matrix product (``tf.linalg.matmul``),
  the most this CPU does; the **roofline ratio** is the model's FLOP/s during the colorize
  pass (FLOPs per photo from its convolution and dense layers, counted analytically at the
  model-side size, times photos/s) over that peak.

Printed: photos/s of both, the speed-up, FLOPs per photo, the ratio, and a breakdown of one
photo's time by stage (read, lightness, model, colour back to RGB, PNG encoding) so the
ratio can be read: the model is a small part of colorizing a photo at these sizes.

Run: ``.venv/bin/python benchmarks/bench_colorize.py [--photos 24] [--sizes 32 128]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from colorutils import colorize, files, models, quantize  # noqa: E402

CLOTHING = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing10"


def make_photos(folder: pathlib.Path, n: int, side: int = 512) -> list[pathlib.Path]:
    """``n`` JPEG photos of ``side`` x ``side``: random crops of four scikit-image photos,
    enlarged (Lanczos) so that their short side is at least ``side``."""
    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
               skimage.data.rocket()]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = Image.fromarray(sources[i % len(sources)][..., :3])
        scale = max(1.0, side / min(img.size))
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        x = rng.integers(0, img.width - side + 1)
        y = rng.integers(0, img.height - side + 1)
        path = folder / f"photo_{i:03d}.jpg"
        img.crop((x, y, x + side, y + side)).save(path, quality=92)
        paths.append(path)
    return paths


def colorizer(width: float = 0.25) -> keras.Model:
    """The book's best colorizer's architecture (chapters 02-03): U-Net, classification head."""
    return models.build("unet", head="classification", num_bins=len(quantize.ab_bins()),
                        width=width, output_stride=4)


def model_flops(model: keras.Model, h: int, w: int) -> float:
    """Multiply-adds x 2 of the model's convolution and dense layers for one ``h x w`` input.

    Output shapes come from one forward pass of a model exposing every such layer's output.
    """
    kinds = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)
    layers = [layer for layer in model.layers if isinstance(layer, kinds)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe([np.zeros((1, h, w, 1), np.float32)])
    total = 0.0
    for layer, out in zip(layers, outputs, strict=True):
        kernel = layer.kernel.shape  # conv: (kh, kw, in, out); transpose: (kh, kw, out, in)
        positions = float(np.prod(out.shape[1:-1]))
        if isinstance(layer, keras.layers.Conv2DTranspose):
            strides = np.prod(layer.strides)
            total += 2.0 * positions * np.prod(kernel) / strides
        elif isinstance(layer, keras.layers.Conv2D):
            total += 2.0 * positions * np.prod(kernel) / getattr(layer, "groups", 1)
        else:
            total += 2.0 * positions * np.prod(kernel)
    return total


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """float32 FLOP/s of an ``n x n`` matrix product, best of ``repeats``."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.linalg.matmul(a, b).numpy()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def naive_loop(model, files, out: pathlib.Path, size: int) -> None:
    """One photo at a time: read, colorize (one eager forward pass), write."""
    for f in files:
        colorize.colorize_file(model, f, out, size)


def batched(model, folder, out: pathlib.Path, size: int) -> None:
    report = colorize.colorize_paths(model, [folder], out, size,
                                     progress=False)
    assert report.ok, report.failures


def stages(model, path: pathlib.Path, size: int, out: pathlib.Path) -> dict[str, float]:
    """Milliseconds of each stage of one photo (best of 3)."""
    from colorutils import color, inference

    def best(f):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            result = f()
            times.append(time.perf_counter() - start)
        return 1e3 * min(times), result

    t_read, image = best(lambda: files.read_image(path))
    t_l, L = best(lambda: files.lightness(image))
    h, w = colorize.model_shape(*L.shape, size, model)
    x = color.normalize_l(tf.image.resize(L[None, :, :, None], (h, w), "area", antialias=True))
    t_model, ab = best(lambda: inference.predict_ab(model, x))
    big = tf.image.resize(ab, L.shape, "bilinear")
    t_rgb, rgb = best(lambda: color.to_uint8(color.recombine(color.normalize_l(
        L[None, :, :, None]), big)[0]))
    t_png, _ = best(lambda: files.save_image(rgb, out / "stage.png"))
    return {"read": t_read, "lightness": t_l, "model (one photo)": t_model,
            "colour back to RGB": t_rgb, "PNG encoding": t_png}


def measure(model, folder, files, size, repeats, scratch) -> dict:
    rates = {"colorize": 0.0, "naive loop": 0.0}
    runs = {"colorize": lambda out: batched(model, folder, out, size),
            "naive loop": lambda out: naive_loop(model, files, out, size)}
    for name, run in runs.items():  # warm-up: tracing, thread pools
        run(scratch / f"warm_{name.replace(' ', '_')}")
    for r in range(repeats):
        for name, run in runs.items():
            out = scratch / f"{name.replace(' ', '_')}_{r}"
            start = time.perf_counter()
            run(out)
            rates[name] = max(rates[name], len(files) / (time.perf_counter() - start))
            shutil.rmtree(out)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128],
                        help="model-side sizes (32: the book's training size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clothing", action="store_true",
                        help="use clothing10's 400 px photos instead of generated 512 px ones")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="bench_colorize_"))
    try:
        folder = scratch / "photos"
        folder.mkdir()
        if args.clothing and CLOTHING.is_dir():
            files = sorted(CLOTHING.rglob("*.jpg"))[:args.photos]
            for i, f in enumerate(files):
                shutil.copy(f, folder / f"{i:03d}.jpg")
            files = sorted(folder.glob("*.jpg"))
        else:
            files = make_photos(folder, args.photos)
        side = Image.open(files[0]).size
        model = colorizer()
        peak = matmul_peak()
        print(f"{len(files)} photos of {side[0]}x{side[1]} px -> PNG, {os.cpu_count()} CPUs, "
              f"TF {tf.__version__}; matmul peak {peak / 1e9:.1f} GFLOP/s (float32, 2048^2)")
        figures = {"photos": len(files), "side": side, "matmul_gflops": peak / 1e9}
        for size in args.sizes:
            h, w = colorize.model_shape(side[1], side[0], size, model)
            flops = model_flops(model, h, w)
            rates = measure(model, folder, files, size, args.repeats, scratch)
            achieved = flops * rates["colorize"]
            parts = stages(model, files[0], size, scratch)
            figures[size] = dict(model_shape=(h, w), mflops_per_photo=flops / 1e6, **{
                f"{k}_photos_per_s": v for k, v in rates.items()},
                speedup=rates["colorize"] / rates["naive loop"],
                roofline_ratio=achieved / peak, stages_ms=parts)
            print(f"  model at {h}x{w}: {flops / 1e6:.1f} MFLOP/photo | colorize "
                  f"{rates['colorize']:.1f} photos/s | naive loop {rates['naive loop']:.1f} "
                  f"photos/s | speed-up {rates['colorize'] / rates['naive loop']:.2f}x | model "
                  f"{achieved / 1e9:.3f} GFLOP/s = {achieved / peak:.2%} of the matmul peak")
            print("    one photo, by stage (ms): " + ", ".join(
                f"{k} {v:.1f}" for k, v in parts.items()))
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps(figures, indent=1, default=str))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
