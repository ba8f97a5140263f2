"""Score colorization models and honest baselines on the same images: one tidy table.

:func:`evaluate` runs every *method* (trained models, prediction functions) and the
baselines over one held-out dataset and computes, per image, every metric of
:mod:`colorutils.metrics`.  The result is a :class:`ScoreTable`: one row per (method, image),
an aggregate per method (:meth:`ScoreTable.summary`), CSV export, and a results table
(:meth:`ScoreTable.table`, a :class:`colorutils.tables.Table`: units in the headers, the best
value of each metric in bold) that a notebook displays as it is.  No pandas needed.

Baselines (every results table of the book includes them):

``gray``
    ``ab = 0``: the lightness alone.  Hard to beat on PSNR, because squared error rewards
    a desaturated guess (the mean of all plausible colours).
``mean_ab``
    the mean ab of the **training** split, painted on every pixel (:func:`dataset_mean_ab`):
    the best constant colour in squared error.
``ground_truth``
    the true ab: the ceiling of every metric (SSIM 1, distance 0, AuC 1, colorfulness ratio
    1, the classifier's accuracy on real photos).  Its PSNR is infinite (MSE 0) and is
    reported as NaN, "not meaningful"; it is never marked best.

Which way each metric is better is said once, in :data:`HIGHER_IS_BETTER` (and
:func:`goodness`, which orients values so that higher is better).  The command
``colorutils evaluate`` (:mod:`colorutils.cli`) prints the summary and writes CSV files.

The quality benchmark (``benchmarks/bench_quality.py``, chapter 03's recipe section, the
full-scale recipe of ``colorutils train --recipe best``) asks for three figures at once, each
against the gray image (:func:`quality_of`, :func:`quality_figures`, :class:`QualityGoal`):

* the **colourfulness ratio** (Hasler & Süsstrunk 2003, the model's mean colourfulness over
  the true photos'): at least :data:`MIN_RATIO` (desaturated predictions fail);
* the **PSNR** against the true photos: at most :data:`MAX_PSNR_LOSS` dB below gray's
  (confidently wrong colours fail; squared error rewards dull guesses);
* the **AuC** of per-pixel ab accuracy over thresholds 0-150 (Zhang et al. 2016): above gray's.

Examples
--------
>>> goal = QualityGoal(ratio=0.82, psnr_gap=-1.6, auc_gap=-0.004)
>>> goal.met, goal.all_met
({'ratio': True, 'psnr': False, 'auc': False}, False)
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import tensorflow as tf

from colorutils import color, inference, progress, quantize, tables
from colorutils import metrics as M

__all__ = ["BASELINES", "HIGHER_IS_BETTER", "METRIC_NAMES", "METRIC_LABELS", "direction",
           "goodness", "ScoreTable", "evaluate", "dataset_mean_ab", "rebalancing_weights",
           "MIN_RATIO", "MAX_PSNR_LOSS", "QualityGoal", "recipe_rank",
           "choose_recipe", "quality_of", "quality_figures"]

BASELINES = ("gray", "mean_ab", "ground_truth")
#: Metrics in table order, and whether higher is better (None: best at 1).
HIGHER_IS_BETTER = {
    "psnr": True,
    "ssim": True,
    "ab_distance": False,
    "auc": True,
    "auc_rebalanced": True,
    "colorfulness": True,
    "colorfulness_ratio": None,  # best at 1
    "correct": True,
}
METRIC_NAMES = tuple(HIGHER_IS_BETTER)
#: Column headers of the results tables, with units.
METRIC_LABELS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "ab_distance": "ab distance (Lab units)",
    "auc": "AuC",
    "auc_rebalanced": "rebalanced AuC",
    "colorfulness": "colourfulness",
    "colorfulness_ratio": "colourfulness ratio (photo = 1)",
    "correct": "classifier accuracy",
}


def direction(metric: str) -> str:
    """The :class:`colorutils.tables.Table` direction of a metric: ``max``, ``min`` or ``one``.

    >>> direction("psnr"), direction("ab_distance"), direction("colorfulness_ratio")
    ('max', 'min', 'one')
    """
    higher = HIGHER_IS_BETTER.get(metric, True)
    return "one" if higher is None else ("max" if higher else "min")


def goodness(metric: str, values):
    """``values`` of ``metric`` oriented so that higher is better (``-|x - 1|`` for a ratio).

    >>> goodness("ab_distance", np.array([3.0, 1.0])).tolist()
    [-3.0, -1.0]
    """
    values = np.asarray(values, dtype=np.float64)
    higher = HIGHER_IS_BETTER.get(metric, True)
    if higher is None:
        return -np.abs(values - 1.0)
    return values if higher else -values


# --------------------------------------------------------------------------- the table
@dataclasses.dataclass
class ScoreTable:
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
        return list(dict.fromkeys(r["method"] for r in self.rows))

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

    def _aggregate(self, metric: str, method: str, agg) -> float:
        values = self.column(metric, method)
        if metric == "colorfulness_ratio":
            true = agg(self.column("colorfulness_true", method))
            return float(agg(self.column("colorfulness", method)) / true) if true > 0 else math.nan
        return math.nan if np.all(np.isnan(values)) else float(agg(values))

    def summary(self, stat: str = "mean") -> list[dict]:
        """One row per method: ``n`` and the ``mean`` (or ``median``) of every metric.

        NaNs (PSNR of the ground truth, colorfulness ratio of gray references) are left
        out of the aggregate.  ``colorfulness_ratio`` is aggregated as the ratio of the
        mean colorfulness of the method to the mean colorfulness of the photos (the mean
        of per-image ratios explodes on nearly gray photos); ``correct`` becomes the
        classifier's accuracy.
        """
        if stat not in ("mean", "median"):
            raise ValueError(f"stat={stat!r}: use 'mean' or 'median'.")
        agg = np.nanmean if stat == "mean" else np.nanmedian
        return [{"method": method, "n": len(self.column("psnr", method)),
                 **{metric: self._aggregate(metric, method, agg)
                    for metric in self.metric_names}}
                for method in self.methods]

    def best_and_worst(self, method: str, metric: str = "auc", k: int = 4):
        """Image indices of the ``k`` best and ``k`` worst images of ``method`` by ``metric``."""
        key = goodness(metric, self.column(metric, method))
        key = np.where(np.isnan(key), -np.inf, key)
        order = np.argsort(-key, kind="stable")
        images = np.array([r["image"] for r in self.rows if r["method"] == method])
        return images[order[:k]].tolist(), images[order[::-1][:k]].tolist()

    def to_csv(self, path: str | os.PathLike, summary: bool = False) -> str:
        """Write the per-image rows (or the summary) as CSV; returns the path."""
        rows = self.summary() if summary else self.rows
        fields = list(dict.fromkeys(k for r in rows for k in r))
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v
                                 for k, v in r.items()})
        return os.fspath(path)

    def table(self, digits: int = 3, stat: str = "mean", caption: str | None = None):
        """The summary as a :class:`colorutils.tables.Table`: one row per method, the metrics
        with their units, the best method of every metric in bold (never the ground truth)."""
        columns = {"method": "method", "n": "images",
                   **{m: METRIC_LABELS.get(m, m) for m in self.metric_names}}
        return tables.Table(self.summary(stat), columns, digits=digits, caption=caption,
                            best={m: direction(m) for m in self.metric_names},
                            reference_rows=("ground_truth",))

    def to_markdown(self, digits: int = 3, stat: str = "mean") -> str:
        """The summary as a Markdown table (:meth:`table`)."""
        return self.table(digits, stat).to_markdown()

    def format(self, digits: int = 3, stat: str = "mean") -> str:
        """The summary as aligned plain text (what the command prints)."""
        return self.table(digits, stat).to_text()

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


# --------------------------------------------------------------------------- data plumbing
def _batches(dataset, batch_size: int = 32) -> Iterable[tuple]:
    """Yield ``(l_norm, ab, labels_or_None)`` numpy batches from any supported input."""
    if isinstance(dataset, (tuple, list)):
        if len(dataset) not in (2, 3):
            raise ValueError("dataset as arrays must be (l_norm, ab) or (l_norm, ab, labels).")
        arrays_ = [np.asarray(a) for a in dataset]
        for start in range(0, len(arrays_[0]), batch_size):
            part = [a[start:start + batch_size] for a in arrays_]
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


def _batch_count(dataset, batch_size: int = 32) -> int | None:
    """How many batches :func:`_batches` yields, when known without iterating (for a bar)."""
    if isinstance(dataset, (tuple, list)):
        return -(-len(dataset[0]) // batch_size)
    return progress.total_of(dataset)


def dataset_mean_ab(dataset, limit: int | None = None) -> np.ndarray:
    """The mean ab (Lab units, shape ``[2]``) over every pixel of a (training) dataset.

    ``dataset`` is anything :func:`evaluate` accepts; ``limit`` caps the number of images.
    """
    total, count, seen = np.zeros(2, np.float64), 0, 0
    for _, ab, _ in progress.bar(_batches(dataset), total=_batch_count(dataset),
                                 desc="mean ab", unit="batch"):
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
    """A function ``l_norm -> ab [B, H, W, 2]`` for a Colorizer, a Keras model or a callable
    (a model is decoded with its recorded space and bins: ``inference.as_colorizer``)."""
    if isinstance(method, inference.Colorizer) or (hasattr(method, "inputs")
                                                   and hasattr(method, "predict")):
        return inference.as_colorizer(method).predict_ab
    if callable(method):
        return lambda l_norm, **kw: method(l_norm)
    raise TypeError(f"cannot evaluate {method!r}: pass a Keras model or a function "
                    "l_norm -> ab.")


def _resize_ab(ab, size):
    ab = np.asarray(ab, np.float32)
    if ab.shape[1:3] != tuple(size):
        ab = tf.image.resize(ab, size, method="bilinear").numpy()
    return ab


# --------------------------------------------------------------------------- evaluate
def _predictors(methods, baselines: tuple, limit) -> dict[str, Callable]:
    """Check the arguments of :func:`evaluate`; one prediction function per method."""
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
    return {name: _predictor(m) for name, m in methods.items()}


def _baseline_mean_ab(baselines, mean_ab, train_dataset, notes: list[str]):
    """The mean-ab baseline's colour: given, computed on the training split, or skipped."""
    if "mean_ab" in baselines and mean_ab is None:
        if train_dataset is not None:
            mean_ab = dataset_mean_ab(train_dataset)
        else:
            notes.append("mean_ab baseline skipped: pass mean_ab= or train_dataset=.")
    return None if mean_ab is None else np.asarray(mean_ab, np.float32).reshape(2)


def _candidates(predictors, baselines, mean_ab, l_norm, ab_true, kwargs) -> dict:
    """Every method's and baseline's ab for one batch, at the batch's resolution."""
    size = l_norm.shape[1:3]
    out = {name: _resize_ab(predict(l_norm, **kwargs), size)
           for name, predict in predictors.items()}
    if "gray" in baselines:
        out["gray"] = np.zeros_like(ab_true)
    if "mean_ab" in baselines and mean_ab is not None:
        out["mean_ab"] = np.broadcast_to(mean_ab, ab_true.shape).copy()
    if "ground_truth" in baselines:
        out["ground_truth"] = ab_true
    return out


def _score_batch(candidates, l_norm, ab_true, labels, *, weights, bins, classifier,
                 keep_images: bool, first_image: int, rows: list, kept: dict) -> None:
    """Append one row per (method, image) of this batch to ``rows`` (images to ``kept``)."""
    rgb_true = color.recombine(l_norm, ab_true)
    for name, ab_pred in candidates.items():
        scores = M.colorization_metrics(l_norm, ab_true, ab_pred, weights, bins,
                                        rgb_true=rgb_true)
        if name == "ground_truth":
            scores["psnr"] = np.full(len(l_norm), np.nan)  # MSE 0: infinite, not meaningful
        rgb_pred = None
        if keep_images or (classifier is not None and labels is not None):
            rgb_pred = color.recombine(l_norm, ab_pred)
        if classifier is not None and labels is not None:
            scores["correct"] = np.asarray(
                M.classifier_correct(classifier, rgb_pred, labels), np.float64)
        for i in range(len(l_norm)):
            row = {"method": name, "image": first_image + i}
            if labels is not None:
                row["label"] = int(labels[i])
            row.update({k: float(v[i]) for k, v in scores.items()})
            rows.append(row)
        if keep_images:
            kept.setdefault(name, []).append(color.to_uint8(rgb_pred))
    if keep_images and "ground_truth" not in candidates:
        kept.setdefault("ground_truth", []).append(color.to_uint8(rgb_true))


def evaluate(methods, dataset, *, baselines: Iterable[str] = BASELINES,
             mean_ab=None, train_dataset=None, weights=None, bins=None, classifier=None,
             limit: int | None = None, keep_images: bool = False,
             predict_kwargs: dict | None = None, batch_size: int = 32) -> ScoreTable:
    """Score models and baselines on the same images, per image.

    Parameters
    ----------
    methods : Colorizer, keras.Model, callable, or dict ``name -> one of these``
        A :class:`colorutils.inference.Colorizer` or a compiled Keras colorization model
        (decoded in its own target space or over its own bins, any output resolution), or a
        function ``l_norm [B,H,W,1] -> ab [B,h,w,2]`` (Lab units).
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
        Keep the RGB images of every method in ``ScoreTable.images`` (for figures).
    predict_kwargs : dict, optional
        Passed to ``predict_ab`` (e.g. ``temperature``).

    Returns
    -------
    ScoreTable
    """
    baselines = tuple(baselines)
    predictors = _predictors(methods, baselines, limit)
    notes: list[str] = []
    mean_ab = _baseline_mean_ab(baselines, mean_ab, train_dataset, notes)
    rows: list[dict] = []
    kept: dict[str, list] = {}
    seen, candidates = 0, {}
    batches = progress.bar(_batches(dataset, batch_size), total=_batch_count(dataset, batch_size),
                           desc="scoring", unit="batch")
    for l_norm, ab_true, labels in batches:
        if limit is not None:
            keep = max(limit - seen, 0)
            l_norm, ab_true = l_norm[:keep], ab_true[:keep]
            labels = None if labels is None else labels[:keep]
        if l_norm.shape[0] == 0:
            break
        candidates = _candidates(predictors, baselines, mean_ab, l_norm, ab_true,
                                 dict(predict_kwargs or {}))
        _score_batch(candidates, l_norm, ab_true, labels, weights=weights, bins=bins,
                     classifier=classifier, keep_images=keep_images, first_image=seen,
                     rows=rows, kept=kept)
        seen += l_norm.shape[0]
        if limit is not None and seen >= limit:
            break
    batches.close()
    if not rows:
        raise ValueError("evaluate: the dataset yielded no images.")
    if classifier is not None and not any("label" in r for r in rows):
        notes.append("semantic interpretability skipped: the dataset has no labels.")
    rows.sort(key=lambda r: list(candidates).index(r["method"]))  # stable: method blocks
    return ScoreTable(rows=rows, images={k: np.concatenate(v) for k, v in kept.items()},
                      notes=notes)


def rebalancing_weights(train_dataset, grid_size: int | None = None, lam: float | None = None):
    """``(weights, bins)`` of the class rebalancing (Zhang et al. 2016, eq. 4) on a training set.

    Uses :func:`colorutils.quantize.empirical_prior` and
    :func:`colorutils.quantize.rebalance_weights`: the weights the rebalanced AuC uses.
    """
    bins = quantize.ab_bins(grid_size or quantize.GRID_SIZE)
    prior = quantize.empirical_prior(train_dataset, bins)
    lam = quantize.REBALANCE_LAMBDA if lam is None else lam
    return np.asarray(quantize.rebalance_weights(prior, lam), np.float32), bins


# --------------------------------------------------------------------------- quality goal
#: Colourfulness of the model over the true photos' (at least).
MIN_RATIO = 0.7
#: dB of PSNR the model may lose against the gray image (at most).
MAX_PSNR_LOSS = 1.0


@dataclasses.dataclass(frozen=True)
class QualityGoal:
    """Where a model stands against the goal: its colourfulness ratio, and its PSNR and AuC
    minus the gray image's (``psnr_gap`` in dB, ``auc_gap`` in AuC units)."""

    ratio: float
    psnr_gap: float
    auc_gap: float

    @property
    def met(self) -> dict[str, bool]:
        """Each part of the goal: met or not."""
        return {"ratio": self.ratio >= MIN_RATIO, "psnr": self.psnr_gap >= -MAX_PSNR_LOSS,
                "auc": self.auc_gap > 0}

    @property
    def all_met(self) -> bool:
        return all(self.met.values())

    def sentence(self) -> str:
        """One sentence naming each part, its figure and whether it is met."""
        met = self.met
        parts = [f"colourfulness ratio {self.ratio:.2f} (goal ≥ {MIN_RATIO:g}: "
                 f"{'met' if met['ratio'] else 'missed'})",
                 f"PSNR {self.psnr_gap:+.2f} dB against gray (goal ≥ -{MAX_PSNR_LOSS:g}: "
                 f"{'met' if met['psnr'] else 'missed'})",
                 f"AuC {self.auc_gap:+.4f} against gray (goal > 0: "
                 f"{'met' if met['auc'] else 'missed'})"]
        verdict = ("all three parts of the goal are met" if self.all_met else
                   f"{sum(met.values())} of the 3 parts of the goal are met")
        return f"{'; '.join(parts)}: {verdict}."

    def as_dict(self) -> dict:
        return {"ratio": self.ratio, "psnr_gap": self.psnr_gap, "auc_gap": self.auc_gap,
                "met": self.met, "all_met": self.all_met}


def recipe_rank(row: Mapping[str, float]) -> tuple:
    """The sort key of one candidate recipe against the quality goal (smaller: better).

    ``row`` holds ``ratio`` (colourfulness over the true photos'), ``psnr_gap`` (dB, the
    candidate's PSNR minus gray's) and ``auc_gap`` (its AuC minus gray's), measured on the
    validation split.  The rule, in order:

    1. the colourfulness part of the goal (ratio >= ``MIN_RATIO``) met.  It comes
       first because a candidate that misses it is close to the gray image, which meets the
       PSNR part for free: counting parts alone would crown the dullest classifier;
    2. among candidates meeting it: more parts of the goal met (``QualityGoal.met``),
       then the larger PSNR gap (the least PSNR paid for the colour); among candidates
       missing it: the larger ratio (the closest to meeting it), then more parts met;
    3. the larger AuC gap, then the larger lambda and the larger T (the milder setting).
    """
    goal = QualityGoal(row["ratio"], row["psnr_gap"], row["auc_gap"])
    colour = goal.met["ratio"]
    parts = sum(goal.met.values())
    middle = (-parts, -row["psnr_gap"]) if colour else (-row["ratio"], -parts)
    return (not colour, *middle, -row["auc_gap"], -row.get("lambda", 0.0),
            -row.get("temperature", 0.0))


def choose_recipe(rows: list[Mapping[str, float]]) -> dict:
    """The candidate (a dict with ``lambda``, ``temperature``, ``ratio``, ``psnr_gap``,
    ``auc_gap``) that meets the quality goal best, by :func:`recipe_rank`.  Chapter 03 calls
    it on the validation split's figures of every (lambda, T) it trained and decoded; the
    library's recipe is ``studies.BEST_LAMBDA`` and ``studies.BEST_TEMPERATURE``.

    Raises
    ------
    ValueError
        If ``rows`` is empty or a row lacks one of the three figures.
    """
    if not rows:
        raise ValueError("rows is empty: give one dict per (lambda, temperature) candidate.")
    for row in rows:
        missing = [k for k in ("ratio", "psnr_gap", "auc_gap") if k not in row]
        if missing:
            raise ValueError(f"a row lacks {missing}: {dict(row)!r}; give ratio, psnr_gap and "
                             "auc_gap (the figures of QualityGoal) for every row.")
    return dict(min(rows, key=recipe_rank))


def quality_of(l_norm, ab_true, ab_pred, rgb_true=None) -> dict:
    """The quality figures of one colorization of a set of photos (means over the images).

    Returns ``{"colourfulness", "colorfulness_ratio", "psnr", "auc"}``: the mean colourfulness
    (Hasler & Süsstrunk 2003) and its ratio to the true photos' mean, the mean PSNR (dB)
    against the true photos and the mean AuC of per-pixel ab accuracy (Zhang et al. 2016).
    ``rgb_true`` defaults to ``color.recombine(l_norm, ab_true)``.
    """
    if rgb_true is None:
        rgb_true = color.recombine(l_norm, ab_true).numpy()
    rgb = color.recombine(l_norm, ab_pred).numpy()
    cf = float(np.mean(M.colorfulness(rgb).numpy()))
    return {"colourfulness": cf,
            "colorfulness_ratio": cf / float(np.mean(M.colorfulness(rgb_true).numpy())),
            "psnr": float(np.mean(M.psnr(rgb_true, rgb).numpy())),
            "auc": float(np.mean(M.auc_accuracy(ab_true, ab_pred).numpy()))}


def quality_figures(model, l_norm, ab_true, *, temperature: float | None = None,
                    smooth_sigma: float | None = None, batch_size: int = 64) -> dict:
    """The three figures of a colorizer and of the gray image on the same photos.

    Parameters
    ----------
    model : Colorizer or keras.Model
        Decoded in its own space or over its own bins
        (:func:`colorutils.inference.as_colorizer`).
    l_norm, ab_true : arrays [N, H, W, 1] and [N, H, W, 2]
        The test photos (``colorutils.data.to_arrays``).
    temperature, smooth_sigma
        Decoding of a classifier (None: the colorizer's defaults).

    Returns
    -------
    dict
        ``{"model": {...}, "gray": {...}, "goal": QualityGoal}`` where each of the first two
        holds ``colorfulness_ratio``, ``psnr`` (dB) and ``auc`` (:func:`quality_of`).
    """
    ab_pred = inference.as_colorizer(model).predict_ab(
        l_norm, temperature=temperature, smooth_sigma=smooth_sigma, batch_size=batch_size)
    rgb_true = color.recombine(l_norm, ab_true).numpy()
    out = {}
    for name, ab in (("model", ab_pred), ("gray", np.zeros_like(ab_true))):
        figures = quality_of(l_norm, ab_true, ab, rgb_true)
        out[name] = {k: figures[k] for k in ("colorfulness_ratio", "psnr", "auc")}
    out["goal"] = QualityGoal(out["model"]["colorfulness_ratio"],
                              out["model"]["psnr"] - out["gray"]["psnr"],
                              out["model"]["auc"] - out["gray"]["auc"])
    return out
