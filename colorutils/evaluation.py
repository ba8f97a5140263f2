"""Score colorization models and honest baselines on the same images: one tidy table.

:func:`evaluate` runs every *method* (trained models, prediction functions) and the
baselines over one held-out dataset and computes, per image, every metric of
:mod:`colorutils.metrics`.  The result is a :class:`Table`: one row per (method, image), an
aggregate per method (:meth:`Table.summary`), CSV export, and a markdown view for notebooks.
No pandas needed.

Baselines (every results table of the book includes them):

``gray``
    ``ab = 0``: the lightness alone.  Hard to beat on PSNR, because squared error rewards
    a desaturated guess (the mean of all plausible colours).
``mean_ab``
    the mean ab of the **training** split, painted on every pixel (:func:`dataset_mean_ab`):
    the best constant colour in squared error.
``ground_truth``
    the true ab: the ceiling of every metric (SSIM 1, distance 0, AuC 1, colourfulness ratio
    1, the classifier's accuracy on real photos).  Its PSNR is infinite (MSE 0) and is
    reported as NaN, "not meaningful".

The command ``colorutils evaluate --model RUN --dataset SOURCE`` (:func:`cli_main`) prints
the summary and writes ``per_image.csv`` and ``summary.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import pathlib
import sys
from collections.abc import Callable, Iterable, Mapping

import numpy as np

BASELINES = ("gray", "mean_ab", "ground_truth")
#: Metrics in table order, and whether higher is better.
HIGHER_IS_BETTER = {
    "psnr": True,
    "ssim": True,
    "ab_distance": False,
    "auc": True,
    "auc_rebalanced": True,
    "colourfulness": True,
    "colourfulness_ratio": None,  # best at 1
    "correct": True,
}
METRIC_NAMES = tuple(HIGHER_IS_BETTER)
#: Metric columns of the per-image table that are reported, and not diagnostic.
_HIDDEN = ("colourfulness_true",)


# --------------------------------------------------------------------------- the table
@dataclasses.dataclass
class Table:
    """Per-image scores of several methods on the same images.

    Attributes
    ----------
    rows : list of dict
        One row per (method, image): ``method``, ``image`` (index in the dataset order),
        ``label`` (if the dataset has labels), then one column per metric.
    images : dict
        With ``keep_images=True``: ``method -> RGB [N, H, W, 3]`` (uint8), including
        ``"ground_truth"`` (the real photos) and ``"gray"``.
    notes : list of str
        What was skipped and why (e.g. no training data for the mean-ab baseline).
    """

    rows: list[dict]
    images: dict = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.rows:
            seen.setdefault(r["method"], None)
        return list(seen)

    @property
    def metric_names(self) -> list[str]:
        present = {k for r in self.rows for k in r}
        return [m for m in METRIC_NAMES if m in present]

    def column(self, metric: str, method: str) -> np.ndarray:
        """The per-image values of ``metric`` for ``method``, in image order."""
        if method not in self.methods:
            raise KeyError(f"method {method!r} not in the table; have {self.methods}.")
        return np.array([r.get(metric, np.nan) for r in self.rows if r["method"] == method],
                        dtype=np.float64)

    def summary(self, stat: str = "mean") -> list[dict]:
        """One row per method: ``n`` and the ``mean`` (or ``median``) of every metric.

        NaNs (PSNR of the ground truth, colourfulness ratio of gray references) are left
        out of the aggregate.  ``colourfulness_ratio`` is aggregated as the ratio of the
        mean colourfulness of the method to the mean colourfulness of the photos (the mean
        of per-image ratios explodes on nearly gray photos); ``correct`` becomes the
        classifier's accuracy.
        """
        if stat not in ("mean", "median"):
            raise ValueError(f"stat={stat!r}: use 'mean' or 'median'.")
        agg = np.nanmean if stat == "mean" else np.nanmedian
        out = []
        for method in self.methods:
            row: dict = {"method": method, "n": len(self.column("psnr", method))}
            for metric in self.metric_names:
                values = self.column(metric, method)
                if metric == "colourfulness_ratio":
                    true = self.column("colourfulness_true", method)
                    pred = self.column("colourfulness", method)
                    value = float(agg(pred) / agg(true)) if agg(true) > 0 else math.nan
                elif np.all(np.isnan(values)):
                    value = math.nan
                else:
                    value = float(agg(values))
                row[metric] = value
            out.append(row)
        return out

    def best_and_worst(self, method: str, metric: str = "auc", k: int = 4):
        """Image indices of the ``k`` best and ``k`` worst images of ``method`` by ``metric``."""
        values = self.column(metric, method)
        higher = HIGHER_IS_BETTER.get(metric, True)
        key = -np.abs(values - 1.0) if higher is None else (values if higher else -values)
        key = np.where(np.isnan(key), -np.inf, key)
        order = np.argsort(-key, kind="stable")
        images = np.array([r["image"] for r in self.rows if r["method"] == method])
        return images[order[:k]].tolist(), images[order[::-1][:k]].tolist()

    def to_csv(self, path: str | os.PathLike, summary: bool = False) -> str:
        """Write the per-image rows (or the summary) as CSV; returns the path."""
        rows = self.summary() if summary else self.rows
        fields: list[str] = []
        for r in rows:
            fields += [k for k in r if k not in fields]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: _fmt_csv(v) for k, v in r.items()})
        return os.fspath(path)

    def to_markdown(self, digits: int = 3, stat: str = "mean") -> str:
        """The summary as a markdown table (what a notebook cell displays)."""
        rows = self.summary(stat)
        cols = ["method", "n"] + self.metric_names
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            lines.append("| " + " | ".join(_fmt_cell(r.get(c), digits) for c in cols) + " |")
        return "\n".join(lines)

    def format(self, digits: int = 3, stat: str = "mean") -> str:
        """The summary as aligned plain text (what the command prints)."""
        rows = self.summary(stat)
        cols = ["method", "n"] + self.metric_names
        cells = [cols] + [[_fmt_cell(r.get(c), digits) for c in cols] for r in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
        return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                         for row in cells)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _fmt_cell(v, digits: int) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _fmt_csv(v):
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


# --------------------------------------------------------------------------- data plumbing
def _batches(dataset, batch_size: int = 32) -> Iterable[tuple]:
    """Yield ``(l_norm, ab, labels_or_None)`` numpy batches from any supported input."""
    if isinstance(dataset, (tuple, list)):
        if len(dataset) not in (2, 3):
            raise ValueError("dataset as arrays must be (l_norm, ab) or (l_norm, ab, labels).")
        arrays = [np.asarray(a) for a in dataset]
        n = len(arrays[0])
        for start in range(0, n, batch_size):
            part = [a[start:start + batch_size] for a in arrays]
            yield part[0], part[1], (part[2] if len(part) == 3 else None)
        return
    for element in dataset:
        if not isinstance(element, (tuple, list)) or len(element) != 2:
            raise ValueError(
                "dataset elements must be (l_norm, targets) as made by "
                "colorutils.data.load(..., output='lab'); got "
                f"{type(element).__name__}.")
        l_norm, targets = element
        if isinstance(targets, Mapping):
            ab, labels = targets["ab"], targets.get("label")
        else:
            ab, labels = targets, None
        yield (np.asarray(l_norm, np.float32), np.asarray(ab, np.float32),
               None if labels is None else np.asarray(labels))


def dataset_mean_ab(dataset, limit: int | None = None) -> np.ndarray:
    """The mean ab (Lab units, shape ``[2]``) over every pixel of a (training) dataset.

    ``dataset`` is anything :func:`evaluate` accepts; ``limit`` caps the number of images.
    """
    total, count, seen = np.zeros(2, np.float64), 0, 0
    for _, ab, _ in _batches(dataset):
        if limit is not None:
            ab = ab[: max(limit - seen, 0)]
        total += ab.reshape(-1, 2).sum(0)
        count += ab.shape[0] * ab.shape[1] * ab.shape[2]
        seen += ab.shape[0]
        if limit is not None and seen >= limit:
            break
    if count == 0:
        raise ValueError("dataset_mean_ab: the dataset yielded no images.")
    return (total / count).astype(np.float32)


def _predictor(method) -> Callable:
    """A function ``l_norm -> ab [B, H, W, 2]`` for a Keras model or a callable."""
    if hasattr(method, "inputs") and hasattr(method, "predict"):  # a Keras model
        from colorutils import inference

        return lambda l_norm, **kw: inference.predict_ab(method, l_norm, **kw)
    if callable(method):
        return lambda l_norm, **kw: method(l_norm)
    raise TypeError(f"cannot evaluate {method!r}: pass a Keras model or a function "
                    "l_norm -> ab.")


def _resize_ab(ab, size):
    import tensorflow as tf

    ab = np.asarray(ab, np.float32)
    if ab.shape[1:3] != tuple(size):
        ab = tf.image.resize(ab, size, method="bilinear").numpy()
    return ab


def _to_uint8(rgb) -> np.ndarray:
    return np.clip(np.round(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- evaluate
def evaluate(methods, dataset, *, baselines: Iterable[str] = BASELINES,
             mean_ab=None, train_dataset=None, weights=None, bins=None, classifier=None,
             limit: int | None = None, keep_images: bool = False,
             predict_kwargs: dict | None = None, batch_size: int = 32) -> Table:
    """Score models and baselines on the same images, per image.

    Parameters
    ----------
    methods : keras.Model, callable, or dict ``name -> model or callable``
        A Keras colorization model (predicted with
        :func:`colorutils.inference.predict_ab`, any output resolution, regression or
        classification), or a function ``l_norm [B,H,W,1] -> ab [B,h,w,2]`` (Lab units).
        ``None`` or ``{}`` scores the baselines only.
    dataset : tf.data.Dataset or tuple of arrays
        Batches ``(l_norm, {"ab": ab[, "label": labels]})`` as made by
        ``colorutils.data.load(..., output="lab")``, or arrays ``(l_norm, ab[, labels])``.
    baselines : iterable of {"gray", "mean_ab", "ground_truth"}
    mean_ab : array ``[2]``, optional
        The dataset's mean ab; default: computed on ``train_dataset``.  Without either, the
        ``mean_ab`` baseline is skipped (a note says so): it must not be computed on the
        images it is scored on.
    train_dataset : optional
        The training split, for ``mean_ab``.
    weights, bins : optional
        Per-bin rebalancing weights (and their bin centres) for the rebalanced AuC
        (:func:`colorutils.metrics.auc_accuracy`); without them that column is absent.
    classifier : callable, optional
        A colour-photo classifier (RGB -> logits); with labelled data, the column
        ``correct`` (1 or 0) holds whether it recognises each image: its mean is the
        semantic interpretability (:func:`colorutils.metrics.semantic_interpretability`).
    limit : int, optional
        Score at most this many images.
    keep_images : bool
        Keep the RGB images of every method in ``Table.images`` (for figures).
    predict_kwargs : dict, optional
        Passed to ``predict_ab`` (e.g. ``temperature``).

    Returns
    -------
    Table
    """
    from colorutils import metrics as M

    baselines = tuple(baselines)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {BASELINES}.")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit={limit!r} must be a positive integer or None.")
    if methods is None:
        methods = {}
    elif not isinstance(methods, Mapping):
        methods = {getattr(methods, "name", None) or "model": methods}
    clash = [n for n in methods if n in BASELINES]
    if clash:
        raise ValueError(f"method names {clash} clash with the baselines; rename them.")
    predictors = {name: _predictor(m) for name, m in methods.items()}
    notes: list[str] = []
    if "mean_ab" in baselines and mean_ab is None:
        if train_dataset is not None:
            mean_ab = dataset_mean_ab(train_dataset)
        else:
            notes.append("mean_ab baseline skipped: pass mean_ab= or train_dataset=.")
    if mean_ab is not None:
        mean_ab = np.asarray(mean_ab, np.float32).reshape(2)
    kwargs = dict(predict_kwargs or {})

    rows: list[dict] = []
    kept: dict[str, list] = {}
    seen = 0
    for l_norm, ab_true, labels in _batches(dataset, batch_size):
        if limit is not None:
            keep = max(limit - seen, 0)
            l_norm, ab_true = l_norm[:keep], ab_true[:keep]
            labels = None if labels is None else labels[:keep]
        n = l_norm.shape[0]
        if n == 0:
            break
        size = l_norm.shape[1:3]
        candidates: dict[str, np.ndarray] = {}
        for name, predict in predictors.items():
            candidates[name] = _resize_ab(predict(l_norm, **kwargs), size)
        if "gray" in baselines:
            candidates["gray"] = np.zeros_like(ab_true)
        if "mean_ab" in baselines and mean_ab is not None:
            candidates["mean_ab"] = np.broadcast_to(mean_ab, ab_true.shape).copy()
        if "ground_truth" in baselines:
            candidates["ground_truth"] = ab_true
        rgb_true = M.rebuild_rgb(l_norm, ab_true)
        for name, ab_pred in candidates.items():
            scores = M.colorization_metrics(l_norm, ab_true, ab_pred, weights, bins,
                                            rgb_true=rgb_true)
            if name == "ground_truth":
                scores["psnr"] = np.full(n, np.nan)  # MSE 0: infinite, not meaningful
            rgb_pred = None
            if keep_images or (classifier is not None and labels is not None):
                rgb_pred = M.rebuild_rgb(l_norm, ab_pred)
            if classifier is not None and labels is not None:
                scores["correct"] = np.asarray(
                    M.classifier_correct(classifier, rgb_pred, labels), np.float64)
            for i in range(n):
                row = {"method": name, "image": seen + i}
                if labels is not None:
                    row["label"] = int(labels[i])
                row.update({k: float(v[i]) for k, v in scores.items()})
                rows.append(row)
            if keep_images:
                kept.setdefault(name, []).append(_to_uint8(rgb_pred))
        if keep_images and "ground_truth" not in candidates:
            kept.setdefault("ground_truth", []).append(_to_uint8(rgb_true))
        seen += n
        if limit is not None and seen >= limit:
            break
    if not rows:
        raise ValueError("evaluate: the dataset yielded no images.")
    if classifier is not None and not any("label" in r for r in rows):
        notes.append("semantic interpretability skipped: the dataset has no labels.")
    rows.sort(key=lambda r: list(candidates).index(r["method"]))  # stable: method blocks
    images = {k: np.concatenate(v) for k, v in kept.items()}
    return Table(rows=rows, images=images, notes=notes)


def rebalancing_weights(train_dataset, grid_size: int | None = None, lam: float | None = None):
    """``(weights, bins)`` of the class rebalancing (Zhang et al. 2016, eq. 4) on a training set.

    Uses :func:`colorutils.quantize.empirical_prior` and
    :func:`colorutils.quantize.rebalance_weights`: the weights the rebalanced AuC uses.
    """
    from colorutils import quantize

    bins = quantize.ab_bins(grid_size or quantize.GRID_SIZE)
    prior = quantize.empirical_prior(train_dataset, bins)
    lam = quantize.REBALANCE_LAMBDA if lam is None else lam
    return np.asarray(quantize.rebalance_weights(prior, lam), np.float32), bins


# --------------------------------------------------------------------------- command line
def _user_error(message: str) -> Exception:
    from colorutils.cli import UserError

    return UserError(message)


def cli_main(args) -> int:
    """``colorutils evaluate``: score a model and the baselines, print, write CSV files.

    Exit status 0 on success; user errors (missing model, unknown dataset or split, bad
    numbers) raise :class:`colorutils.cli.UserError`: one line on stderr, status 2.
    """
    if args.limit is not None and args.limit < 1:
        raise _user_error(f"--limit {args.limit} must be a positive integer.")
    if args.image_size is not None and args.image_size < 8:
        raise _user_error(f"--image-size {args.image_size} is too small; use 8 or more.")
    if args.out is not None and os.path.isfile(args.out):
        raise _user_error(f"--out {args.out!r} is a file; give a folder for the CSV files.")
    from colorutils import colorize

    try:
        model, size = colorize.load_colorizer(args.model, args.image_size)
    except Exception as err:
        if type(err).__name__ == "UserError":
            raise _user_error(str(err).replace("--size", "--image-size")) from None
        raise
    from colorutils import data

    try:
        test = data.load(args.dataset, args.split, size, batch_size=32, shuffle=False,
                         limit=args.limit)
    except (ValueError, FileNotFoundError, KeyError) as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise _user_error(f"--dataset {args.dataset!r} --split {args.split!r}: {first}") from None
    notes = []
    mean_ab = weights = bins = None
    train_limit = 2000 if args.limit is None else max(args.limit, 256)
    try:
        train = data.load(args.dataset, "train", size, batch_size=32, shuffle=False,
                          augment=False, limit=train_limit)
        mean_ab = dataset_mean_ab(train)
        try:
            weights, bins = rebalancing_weights(train)
        except ImportError:
            notes.append("rebalanced AuC skipped: colorutils.quantize is not available.")
    except (ValueError, FileNotFoundError, KeyError) as err:
        notes.append(f"no train split ({err}); mean_ab baseline skipped.")
    name = os.path.basename(os.path.normpath(args.model)) or "model"
    table = evaluate({name: model}, test, mean_ab=mean_ab, weights=weights, bins=bins)
    n = len(table.column("ssim", name))
    print(f"{args.dataset} {args.split}: {n} images at {size} px")
    print(table.format())
    for note in notes + table.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out:
        per_image = table.to_csv(os.path.join(args.out, "per_image.csv"))
        summary = table.to_csv(os.path.join(args.out, "summary.csv"), summary=True)
        print(f"wrote {per_image} and {summary}")
    return 0


# --------------------------------------------------------------------------- Turing test
#: Folder of the Turing-test page inside the book's static files.
TURING_DIR = os.path.join("book", "_static", "turing")


def write_turing_pairs(real, fake, out_dir: str | os.PathLike = TURING_DIR, *,
                       method: str | list[str] = "model", source: str = "",
                       variable: str = "TURING_PAIRS", script: str = "pairs.js",
                       images_dir: str = "pairs", seed: int = 0, note: str = "") -> dict:
    """Write (real, colorized) image pairs and their manifest for the Turing-test page.

    The page (``book/_static/turing/index.html``) is plain HTML and JavaScript; browsers
    refuse ``fetch()`` of a JSON file from ``file://``, so the manifest is a script,
    ``<out_dir>/<script>``, that sets ``window.<variable> = {title, source, pairs: [{id,
    real, fake, method}]}``.  The PNG files are named ``p000_a.png`` / ``p000_b.png`` with
    ``a`` and ``b`` assigned at random, so a file name does not tell which one is real.
    Earlier PNGs of this pattern in ``images_dir`` are removed first.

    Parameters
    ----------
    real, fake : arrays ``[N, H, W, 3]``
        uint8, or floats in ``[0, 1]``; ``fake[i]`` is the colorization of ``real[i]``.
    out_dir : path
        The page's folder (default ``book/_static/turing``, copied into the built book).
    method : str or list of str
        The method of every pair (or one name per pair), saved in the answers CSV.
    source : str
        A line shown on the page (e.g. "chapter 06, scale book, dataset sample").
    note : str
        One or two sentences on how the pairs were chosen (which photos, which model), shown
        above the game; the manifest's ``note`` (left out when empty).

    Returns
    -------
    dict : the manifest written.
    """
    import json
    import re

    from PIL import Image

    real, fake = _to_uint8_images(real, "real"), _to_uint8_images(fake, "fake")
    if real.shape != fake.shape:
        raise ValueError(f"real has shape {real.shape} but fake has {fake.shape}; give one "
                         "colorization per real photo, same size.")
    methods = [method] * len(real) if isinstance(method, str) else list(method)
    if len(methods) != len(real):
        raise ValueError(f"method has {len(methods)} names for {len(real)} pairs.")
    folder = os.path.join(os.fspath(out_dir), images_dir)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if re.fullmatch(r"p\d+_[ab]\.png", old):
            os.remove(os.path.join(folder, old))
    rng = np.random.default_rng(seed)
    pairs = []
    for i, (r, f) in enumerate(zip(real, fake, strict=True)):
        real_tag, fake_tag = ("a", "b") if rng.random() < 0.5 else ("b", "a")
        names = {}
        for tag, image in ((real_tag, r), (fake_tag, f)):
            names[tag] = f"{images_dir}/p{i:03d}_{tag}.png"
            Image.fromarray(image).save(os.path.join(folder, f"p{i:03d}_{tag}.png"),
                                        optimize=True)
        pairs.append({"id": f"p{i:03d}", "real": names[real_tag], "fake": names[fake_tag],
                      "method": methods[i]})
    manifest = {"title": "Which one is real?", "source": source, "pairs": pairs}
    if note:
        manifest["note"] = note
    with open(os.path.join(os.fspath(out_dir), script), "w") as fh:
        fh.write("// Written by colorutils.evaluation.write_turing_pairs; do not edit.\n")
        fh.write(f"window.{variable} = {json.dumps(manifest, indent=1)};\n")
    return manifest


def _to_uint8_images(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name} has shape {x.shape}; expected [N, H, W, 3] RGB images.")
    if x.dtype == np.uint8:
        return x
    if x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise ValueError(f"{name} has values outside [0, 1]; pass uint8 or floats in [0, 1].")
    return _to_uint8(x)


def write_default_turing_pairs(out_dir: str | os.PathLike = TURING_DIR, n: int = 6,
                               size: int = 64) -> dict:
    """The committed demo set of the Turing-test page (``pairs.default.js``, ``default/``).

    It lets the page work before chapter 06 has run.  No trained model is involved: the
    "colorized" image of each sample photo keeps its true L and rotates its ab by 120 degrees
    (a plausible-looking but wrong hue).  Chapter 06 writes the real pairs (``pairs.js``),
    which the page prefers.  Regenerate with
    ``python -c "from colorutils import evaluation; evaluation.write_default_turing_pairs()"``.
    """
    import tensorflow as tf

    from colorutils import color, data

    l_norm, targets = next(iter(data.load("sample", "test", size, batch_size=n, shuffle=False,
                                          limit=n)))
    ab = targets["ab"]
    angle = np.deg2rad(120.0)
    rot = tf.constant([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]],
                      tf.float32)
    fake_ab = tf.einsum("bhwc,cd->bhwd", ab, rot)
    return write_turing_pairs(color.recombine(l_norm, ab).numpy(),
                              color.recombine(l_norm, fake_ab).numpy(), out_dir,
                              method="demo: hue rotated 120 degrees",
                              source="demo set: run chapter 06 for model colorizations",
                              variable="TURING_DEFAULT_PAIRS", script="pairs.default.js",
                              images_dir="default",
                              note=f"the first {n} photos of the embedded sample set's test "
                                   f"split at {size} px; each 'colorization' keeps the photo's "
                                   "lightness and turns its colours by 120 degrees of hue, "
                                   "no model involved.")


# --------------------------------------------------------------------------- run discovery
def find_runs(root: str | os.PathLike, image_size: int | None = None,
              max_runs: int | None = None, exclude: tuple[str, ...] = (),
              names: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Finished colorization runs under ``root``, for a results table.

    A run folder counts when it holds ``metrics.json`` (written when
    :func:`colorutils.train.fit` finished) and ``best.keras`` or ``last.keras``.  With
    ``image_size``, runs whose ``config.json`` records another training size are left out
    (all methods of a table must see the same images at the same size).  Whether a run is a
    *colorization* model is checked when it is loaded (:func:`load_runs`).

    Parameters
    ----------
    root : path
        The run root of one scale and dataset (``os.path.dirname(cfg.run_dir("x"))``).
    image_size : int, optional
    max_runs : int, optional
        Keep at most this many (in name order); the rest are noted.
    exclude : tuple of str
        Run names (paths relative to ``root``) starting with one of these prefixes are
        skipped silently.
    names : mapping ``label -> relative run path``, optional
        Look only at these runs (e.g. ``{"regression": "classification/regression_lab"}``);
        missing or unfinished ones are noted.  Default: every run folder directly under
        ``root`` or one level further down (``root/group/run``).

    Returns
    -------
    (runs, notes) : ``{label: run_dir}`` and one line per run left out.
    """
    from colorutils import colorize, train

    root = os.fspath(root)
    runs: dict[str, str] = {}
    notes: list[str] = []

    def finished(run_dir):
        return (train.read_metrics(run_dir) is not None
                and any(os.path.exists(os.path.join(run_dir, f))
                        for f in (train.BEST_MODEL, train.LAST_MODEL)))

    if names is not None:
        candidates = dict(names)
    else:
        candidates = {}
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            path = os.path.join(root, name)
            if not os.path.isdir(path):
                continue
            if finished(path):
                candidates[name] = name
                continue
            for sub in sorted(os.listdir(path)):
                if os.path.isdir(os.path.join(path, sub)):
                    candidates[f"{name}/{sub}"] = f"{name}/{sub}"
    for label, rel in candidates.items():
        run_dir = os.path.join(root, rel)
        if rel.startswith(tuple(exclude)):
            continue
        if not os.path.isdir(run_dir) or not finished(run_dir):
            if names is not None:
                notes.append(f"{label}: no finished run at {run_dir}.")
            continue
        size = colorize.training_size(colorize.read_run_config(pathlib.Path(run_dir)))
        if image_size is not None and size is not None and size != image_size:
            notes.append(f"{label}: trained at {size} px, not {image_size} px; left out.")
            continue
        if max_runs is not None and len(runs) >= max_runs:
            notes.append(f"{label}: more than {max_runs} runs; left out.")
            continue
        runs[label] = run_dir
    return runs, notes


def load_runs(runs: Mapping[str, str]) -> tuple[dict, list[str]]:
    """Load ``{name: run_dir}`` with :func:`colorutils.train.load_model`, keeping only
    colorization models (one lightness input, a dict output with ``"ab"``).

    Returns ``({name: model}, notes)``; a run that fails to load or is not a colorization
    model (a classifier, say) is left out with a note.
    """
    from colorutils import colorize, train

    models, notes = {}, []
    for name, run_dir in runs.items():
        try:
            model = train.load_model(run_dir, compile=False)
            colorize.check_model(model)
        except Exception as err:  # noqa: BLE001 - reported, not raised: a table of the rest
            first = (str(err).strip().splitlines() or [""])[0][:120]
            notes.append(f"{name}: not scored ({type(err).__name__}: {first}).")
            continue
        models[name] = model
    return models, notes
