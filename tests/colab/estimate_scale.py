"""Minutes per chapter of a scale on a Colab T4, estimated from the models' FLOPs.

No GPU measured these numbers: they are an estimate, to be replaced by a measurement on a T4
(each chapter's JSON file records its seconds; the run folders' history, training seconds).

For every model a chapter trains (the plans below mirror the chapters' training cells), the
forward FLOPs per image are counted layer by layer (2 x multiply-adds of every convolution and
dense layer; a training step costs 3 x forward); then, per chapter::

    T4 minutes = set-up + non-training work + sum over models of
                 (trace + max(FLOPs / T4 rate, steps x step overhead))

Assumptions (named constants below): fp32 (the chapters train without mixed precision); a T4
delivers 8.1 TFLOP/s fp32 at peak, and small convnets at 32 px reach about 25 % of it (the
20-40 % range of such models); a training step costs at least 8 ms (Keras dispatch and the
tf.data pipeline on Colab's two vCPUs); each model costs 12 s of tracing and saving (measured
in the book build: a first epoch takes about 12 s longer than the next); the set-up cell (pip)
and imports take 90 s; the chapter's work besides training (evaluation, figures) takes the time
it took in the book build on 2 CPU cores (``BOOK_SECONDS`` less that build's estimated
training), times the ratio of photos evaluated -- conservative, as inference runs on the GPU
on Colab.  The CPU's training rate, which gives that build's training time, is the one the
book build measured in chapter 07 (the fusion net at 32 px, width 0.25: 2,000 images in 4.5 s
an epoch).

Usage: ``python tests/colab/estimate_scale.py [--scale colab]``.
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
T4_FLOPS = 8.1e12 * 0.25  # fp32 peak x utilisation
STEP_SECONDS = 0.008
TRACE_SECONDS = 12.0
SETUP_SECONDS = 90.0
#: Seconds per chapter of the last clean ``make book`` (2 CPU cores).
BOOK_SECONDS = {"00": 51, "01": 16, "02": 377, "03": 310, "04": 350, "05": 225, "06": 145,
                "07": 314, "08": 14}
TRAIN_SPLIT, EVAL_SPLIT = 8000, 1000  # the embedded CIFAR-10 pack


def forward_flops(model, size: int) -> float:
    """FLOPs of one ``size`` px image through ``model`` (TensorFlow's graph profiler)."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False))
    channels = model.inputs[0].shape[-1]
    graph = fn.get_concrete_function(tf.TensorSpec([1, size, size, channels], tf.float32)).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return float(tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops)


def chapter_presets(number: str, scale: str) -> dict:
    """The knobs of chapter ``number`` at ``scale``: its ``CHAPTER_PRESETS`` (or chapters
    02-03's), merged over the scale's."""
    from colorutils import experiments, settings

    nb_path = next((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    presets = experiments.CLASSIFICATION_PRESETS
    for cell in json.loads(nb_path.read_text())["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and "CHAPTER_PRESETS = {" in src:
            tree = ast.parse(src)
            node = next(n for n in tree.body if isinstance(n, ast.Assign)
                        and getattr(n.targets[0], "id", "") == "CHAPTER_PRESETS")
            presets = eval(compile(ast.Expression(node.value), "presets", "eval"), {"dict": dict})
            break
    return {**settings.PRESETS[scale], **presets.get(scale, {})}


def plan(number: str, p: dict, in_order: bool) -> list[tuple[str, dict, int, int]]:
    """``(builder, kwargs, models, epochs)`` that chapter ``number`` trains with knobs ``p``;
    ``in_order``: after the chapters before it (their runs reused from the run root)."""
    from colorutils import quantize

    q, s, w = len(quantize.ab_bins()), len(p["seeds"]), p["width"]
    unet = dict(width=w, output_stride=4)
    cls, reg = ("unet", dict(head="classification", num_bins=q, **unet)), ("unet", dict(
        head="regression", **unet))
    fusion = dict(width=w, global_size=32 if p["image_size"] <= 48 else 64)
    e = p["epochs"]
    plans = {
        "02": [(*reg, s + 2, e), (*cls, s, e)],
        "03": [(*cls, s + 2, e)] + ([] if in_order else [(*reg, s, e), (*cls, s, e)]),
        "04": [("regression_cnn", dict(width=w), 1, e),
               ("zhang_classifier", dict(num_bins=q, width=w, convs_per_block=1), 8, e),
               (*cls, 1, e), ("fusion_net", dict(num_bins=q, width=w, global_size=32), 1, e),
               ("koalarization_net", dict(num_bins=q, width=w, backbone_alpha=0.35,
                                          backbone_size=96, output_stride=4), 1, e)],
        "05": [("fusion_net", dict(num_classes=10, width=w, global_size=32), 2, e)],
        "06": [("rgb_classifier", dict(num_classes=10, width=w), 1, p.get("classifier_epochs", e))]
        + ([] if in_order else [(*reg, 1, e), (*cls, 1, e)]),
        "07": [("fusion_net", dict(num_classes=10, **fusion), 2 * s, e),
               ("fusion_classifier", dict(num_classes=10, **fusion), 2 * s, e),
               ("rgb_classifier", dict(num_classes=10, width=w), 1, e)],
        "08": [] if in_order else [(*cls, 1, e)],
    }
    return plans.get(number, [])


def train_seconds(items, p: dict, flops_per_s: float, step_s: float) -> tuple[float, float]:
    """(seconds, FLOPs) of training ``items`` at rate ``flops_per_s`` (at least ``step_s`` a
    step), with a validation pass per epoch, plus the tracing of each model."""
    from colorutils import models

    images = p["train_images"] or TRAIN_SPLIT
    val = p["eval_images"] or EVAL_SPLIT
    seconds = flops = 0.0
    for builder, kwargs, count, epochs in items:
        fwd = forward_flops(models.build(builder, **kwargs), p["image_size"])
        work = epochs * (3 * fwd * images + fwd * val)
        steps = epochs * (images + val) / p["batch_size"]
        seconds += count * (TRACE_SECONDS + max(work / flops_per_s, steps * step_s))
        flops += count * work
    return seconds, flops


def cpu_rate() -> float:
    """Training FLOP/s of the book build's CPU: chapter 07's fusion net (32 px, width 0.25,
    global 32) trained 2,000 images in 4.5 s an epoch."""
    from colorutils import models

    net = models.build("fusion_net", num_classes=10, width=0.25, global_size=32)
    return 3 * forward_flops(net, 32) * 2000 / 4.5


def estimate(scale: str) -> list[dict]:
    """One row per chapter: book seconds, estimated book training, T4 minutes at ``scale``."""
    cpu = cpu_rate()
    rows = []
    for number, book_s in BOOK_SECONDS.items():
        book, p = chapter_presets(number, "book"), chapter_presets(number, scale)
        cpu_train, _ = train_seconds(plan(number, book, True), book, cpu, 0.0)
        other = max(book_s - cpu_train, 10.0)
        eval_ratio = (p["eval_images"] or EVAL_SPLIT) / (book["eval_images"] or EVAL_SPLIT)
        row = {"chapter": number, "book_s": book_s, "book_train_s": round(cpu_train)}
        for order in (True, False):
            t4, flops = train_seconds(plan(number, p, order), p, T4_FLOPS, STEP_SECONDS)
            key = "in_order" if order else "alone"
            row[f"{key}_min"] = round((SETUP_SECONDS + other * eval_ratio + t4) / 60, 1)
            row[f"{key}_tflop"] = round(flops / 1e12)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="colab")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    rows = estimate(args.scale)
    print(f"estimated minutes on a Colab T4 at scale {args.scale!r} (not measured; "
          f"{T4_FLOPS / 1e12:.1f} TFLOP/s fp32, {STEP_SECONDS * 1e3:.0f} ms a step at least)")
    print("chapter  book s  book train s  in order: min  TFLOP  alone: min  TFLOP")
    for r in rows:
        print(f"{r['chapter']:>7} {r['book_s']:7} {r['book_train_s']:13} {r['in_order_min']:14} "
              f"{r['in_order_tflop']:6} {r['alone_min']:11} {r['alone_tflop']:6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
