"""Results tables, summaries over seeds, and the scoring of colorizers against baselines.

:class:`Table` shows rows as HTML, Markdown or text, the best value of each ranked column in
bold.  Over seeds (records such as ``{"arm": "joint", "seed": 0, "psnr": 23.1}``),
:func:`summarize` gives Student-t intervals and :func:`compare` paired differences (Wasserman,
*All of Statistics*, 2004, sec. 10.1).  :func:`evaluate` scores models and the baselines
``gray``, ``mean_ab`` and ``ground_truth`` per image.  :class:`QualityGoal`, against the gray
image: colourfulness ratio {cite}`hasler2003measuring` at least :data:`MIN_RATIO`, PSNR at most
:data:`MAX_PSNR_LOSS` dB below gray's, AuC {cite}`zhang2016colorful` above gray's.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import tensorflow as tf

from colorutils import color, files, inference, metrics, quantize

__all__ = ["Table", "summarize", "compare", "summarize_records", "summary_table", "plot_seeds",
           "METRIC_LABELS", "direction", "goodness", "evaluate", "dataset_mean_ab",
           "rebalancing_weights", "QualityGoal", "choose_recipe", "quality_against_gray",
           "quality_figures"]

#: How a column ranks its values: higher, lower or closest to 1 is best.
DIRECTIONS = {"max": "↑", "min": "↓", "one": "→1"}
#: Inline styles of the HTML table (padded cells, small enough for eight or nine columns).
TABLE_STYLE = "border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0"
CELL_STYLE = "padding: 0.3em 0.5em; line-height: 1.3;"


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _has_spread(value) -> bool:
    return hasattr(value, "mean") and hasattr(value, "std") and _is_number(value.mean)


def format_value(value: Any, digits: int | str = 3) -> str:
    """One cell as text; ``digits`` is a number of decimals or a format such as ``".3g"``.

    A summary (``mean`` and ``std`` attributes) shows as ``mean ± std``.

    >>> format_value(0.12345), format_value(1234), format_value(float("nan")), format_value(None)
    ('0.123', '1,234', 'n/a', '')
    """
    spec = f".{digits}f" if isinstance(digits, int) else digits
    if value is None:
        return ""
    if _has_spread(value):
        mean, std = format(float(value.mean), spec), value.std
        return mean if std is None or math.isnan(std) else f"{mean} ± {format(float(std), spec)}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    if _is_number(value):
        value = float(value)
        if math.isnan(value):
            return "n/a"
        return format(value, spec) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return str(value)


class Table:
    """Rows of results with headers, units and the best value per column marked.

    ``columns``: keys in order or ``{key: header}`` (default every key).  ``best``: ``{column:
    "max" | "min" | "one"}``.  ``digits``: decimals or a format, for all or per column.
    ``reference_rows``: rows never marked best, named by their first cell.

    >>> t = Table([{"model": "regression", "PSNR (dB)": 22.91, "AuC": 0.871},
    ...            {"model": "classification", "PSNR (dB)": 21.4, "AuC": 0.902}],
    ...           best={"PSNR (dB)": "max", "AuC": "max"}, digits={"PSNR (dB)": 2})
    >>> print(t.to_markdown())
    | model | PSNR (dB) ↑ | AuC ↑ |
    |---|---:|---:|
    | regression | **22.91** | 0.871 |
    | classification | 21.40 | **0.902** |
    """

    def __init__(self, rows: Sequence[Mapping], columns: Sequence | Mapping | None = None, *,
                 best: Mapping[str, str] | None = None, digits: int | str | Mapping = 3,
                 reference_rows: Sequence[str] = (), caption: str | None = None):
        self.rows = [dict(r) for r in rows]
        if columns is None:
            columns = list(dict.fromkeys(k for r in self.rows for k in r))
        self.headers = (dict(columns) if isinstance(columns, Mapping)
                        else {c: str(c) for c in columns})
        self.columns = list(self.headers)
        self.best = {self._key(c): d for c, d in (best or {}).items()}
        for column, direction in self.best.items():
            if direction not in DIRECTIONS:
                raise ValueError(f"best[{column!r}]={direction!r}: use one of "
                                 f"{', '.join(map(repr, DIRECTIONS))}.")
        self.digits = ({self._key(c): d for c, d in digits.items()}
                       if isinstance(digits, Mapping) else {c: digits for c in self.columns})
        self.reference_rows = tuple(reference_rows)
        self.caption = caption

    def _key(self, column) -> str:
        """A column key from its key or its header."""
        if column in self.headers:
            return column
        for key, header in self.headers.items():
            if header == column:
                return key
        raise KeyError(f"no column {column!r}; columns: {', '.join(map(str, self.headers))}.")

    def header(self, column) -> str:
        """The header of ``column``, with the arrow of its direction if it is ranked."""
        arrow = DIRECTIONS.get(self.best.get(column, ""), "")
        return f"{self.headers[column]} {arrow}" if arrow else str(self.headers[column])

    def best_rows(self, column) -> set[int]:
        """Indices of the rows holding the best value of ``column`` (ties: all of them)."""
        direction = self.best.get(column)
        if direction is None:
            return set()
        digits = self.digits.get(column, 3)
        scores = {}
        for i, row in enumerate(self.rows):
            value = row.get(column)
            value = value.mean if _has_spread(value) else value  # a summary ranks by its mean
            if (not _is_number(value) or not math.isfinite(float(value))
                    or str(row.get(self.columns[0])) in self.reference_rows):
                continue
            value = float(value)
            if isinstance(digits, int):
                value = round(value, digits)
            scores[i] = {"max": value, "min": -value, "one": -abs(value - 1.0)}[direction]
        top = max(scores.values(), default=None)
        return {i for i, s in scores.items() if s == top}

    def _numeric(self, column) -> bool:
        present = [row.get(column) for row in self.rows if row.get(column) is not None]
        return bool(present) and all(_is_number(v) or _has_spread(v) for v in present)

    def _grid(self, mark, escape=str) -> list[list[str]]:
        """Cell texts (through ``escape``), row by row, best cells through ``mark``."""
        best = {c: self.best_rows(c) for c in self.columns}
        texts = [[escape(format_value(row.get(c), self.digits.get(c, 3))) for c in self.columns]
                 for row in self.rows]
        return [[mark(t) if i in best[c] else t for t, c in zip(cells, self.columns, strict=True)]
                for i, cells in enumerate(texts)]

    def to_markdown(self) -> str:
        """The table in Markdown (a pipe table), best cells in ``**bold**``."""
        align = ["---:" if self._numeric(c) else "---" for c in self.columns]
        lines = ["| " + " | ".join(self.header(c) for c in self.columns) + " |",
                 "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in self._grid(lambda t: f"**{t}**")]
        return (f"{self.caption}\n\n" if self.caption else "") + "\n".join(lines)

    def _repr_html_(self) -> str:
        """The table in HTML, with inline styles that hold in any theme (book, Jupyter, Colab)."""
        align = {c: "right" if self._numeric(c) else "left" for c in self.columns}

        def tr(tag, texts):  # numbers right-aligned, text left (whatever the theme)
            valign = "bottom" if tag == "th" else "top"
            return "<tr>" + "".join(
                f'<{tag} style="{CELL_STYLE} text-align: {align[c]}; white-space: normal; '
                f'vertical-align: {valign}">{text}</{tag}>'
                for text, c in zip(texts, self.columns, strict=True)) + "</tr>"

        def unbroken(text):  # a number never breaks; "mean ± std" may take two lines
            if not text:
                return text
            parts = html.escape(text).split(" ± ")
            return " ".join(f'<span style="white-space: nowrap">{"± " * (i > 0)}{p}</span>'
                            for i, p in enumerate(parts))

        head = tr("th", [html.escape(self.header(c)) for c in self.columns])
        body = "".join(tr("td", cells)
                       for cells in self._grid(lambda t: f"<strong>{t}</strong>", unbroken))
        caption = (f'<caption style="caption-side: top; text-align: left">'
                   f"{html.escape(self.caption)}</caption>" if self.caption else "")
        legend = self.legend()
        foot = (f'<tfoot><tr><td colspan="{len(self.columns)}" style="{CELL_STYLE} '
                f'text-align: left; font-size: smaller">{html.escape(legend)}</td></tr></tfoot>'
                if legend else "")
        return (f'<table class="colorutils-table" style="{TABLE_STYLE}">{caption}<thead>'
                f"{head}</thead><tbody>{body}</tbody>{foot}</table>")

    def legend(self) -> str:
        """What the marks mean, for the directions in use ("" when nothing is ranked)."""
        meaning = {"max": "↑ higher is better", "min": "↓ lower is better",
                   "one": "→1 closest to 1 is best"}
        used = [meaning[d] for d in DIRECTIONS if d in self.best.values()]
        return f"Bold: the best value of each column ({'; '.join(used)})." if used else ""

    def to_text(self) -> str:
        """Aligned plain text: first column left-aligned, the others right-aligned."""
        cells = [[self.header(c) for c in self.columns]] + self._grid(lambda t: t)
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                         .rstrip() for row in cells)

    __str__ = __repr__ = to_text


CONFIDENCE = 0.95


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1 "
                         "(e.g. 0.95 for a 95% interval).")


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (Wilson, 1927).

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    with :math:`z` the normal quantile of :math:`(1+c)/2` (Brown, Cai and DasGupta, 2001).

    >>> [round(x, 4) for x in wilson_interval(10, 25)]
    [0.234, 0.5926]
    """
    _check_confidence(confidence)
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"successes={successes!r} out of n={n!r}: need 0 <= successes <= n "
                         "and n >= 1.")
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, spread and confidence interval of one metric over ``n`` seeds."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    confidence: float
    values: tuple[float, ...]

    @property
    def has_spread(self) -> bool:
        return self.n > 1 and not math.isnan(self.std)

    def format(self, digits: int = 3) -> str:
        """``"0.512 ± 0.031 (n=3, 95% CI 0.436 to 0.588)"``, or ``"0.512 (n=1, no spread)"``."""
        if not self.has_spread:
            return f"{self.mean:.{digits}f} (n={self.n}, no spread)"
        return (f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n}, "
                f"{self.confidence:.0%} CI {self.low:.{digits}f} to {self.high:.{digits}f})")

    __str__ = format


def summarize(values: Iterable[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, sample standard deviation and Student-t interval of the mean of ``values``.

    .. math:: \\bar x \\pm t_{(1+c)/2,\\,n-1}\\, s/\\sqrt{n}, \\quad
              s = \\sqrt{\\tfrac{1}{n-1}\\sum_i (x_i - \\bar x)^2}

    (Student, 1908; Wasserman, *All of Statistics*, 2004, sec. 6.3.2).

    >>> s = summarize([1.0, 2.0, 3.0])
    >>> round(s.mean, 3), round(s.std, 3), round(s.low, 3), round(s.high, 3)
    (2.0, 1.0, -0.484, 4.484)
    """
    _check_confidence(confidence)
    x = np.asarray(list(values), dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("summarize() got no values: pass one number per seed.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"summarize() got a non-finite value in {x.tolist()}: a run diverged "
                         "or a metric is undefined; inspect that run before averaging.")
    mean = float(x.mean())
    if x.size == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan, confidence, (mean,))
    from scipy import stats  # start-up: scipy loads only when an interval is computed

    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, x.size - 1)) * std / math.sqrt(x.size)
    return Summary(int(x.size), mean, std, mean - half, mean + half, confidence,
                   tuple(float(v) for v in x))


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The paired difference ``b - a`` of two arms over the same seeds, and what it supports."""

    a: str
    b: str
    metric: str
    diff: Summary
    higher_is_better: bool | None

    @property
    def wins(self) -> int:
        """On how many seeds ``b`` is better (a count, not a test: 3 of 3 happens 1 time in 8)."""
        values = np.asarray(self.diff.values)
        return int(np.sum(values < 0) if self.higher_is_better is False else np.sum(values > 0))

    @property
    def verdict(self) -> str:
        """better/worse (higher/lower without a direction), within spread or one seed."""
        if not self.diff.has_spread:
            return "one seed"
        if self.diff.low <= 0 <= self.diff.high:
            return "within spread"
        higher = self.diff.low > 0
        if self.higher_is_better is None:
            return "higher" if higher else "lower"
        return "better" if higher == bool(self.higher_is_better) else "worse"

    def sentence(self, digits: int = 3) -> str:
        """One plain-language sentence that says only what the interval supports."""
        d = self.diff
        change = f"{self.metric} of {self.b} minus {self.a}: {d.mean:+.{digits}f}"
        if self.verdict == "one seed":
            return (f"{change} from a single seed; one run has no spread, so this supports "
                    "no conclusion (run more seeds).")
        side = "higher" if self.higher_is_better is None else "better"
        interval = (f"{d.confidence:.0%} CI {d.low:+.{digits}f} to {d.high:+.{digits}f} "
                    f"over {d.n} paired seeds, {self.b} {side} on {self.wins} of them")
        if self.verdict == "within spread":
            return (f"{change} ({interval}); the interval contains zero, so the difference is "
                    "within the seed-to-seed spread: these runs show no effect either way.")
        return (f"{change} ({interval}); the interval excludes zero, so {self.b} is "
                f"{self.verdict} than {self.a} on {self.metric} in these runs.")

    __str__ = sentence


def compare(a: Sequence[float], b: Sequence[float], *, metric: str = "metric",
            names: tuple[str, str] = ("a", "b"), higher_is_better: bool | None = True,
            confidence: float = CONFIDENCE) -> Comparison:
    """Paired comparison of arm ``b`` against arm ``a`` (seed ``i`` with seed ``i``): the
    summary of ``b_i - a_i``; ``higher_is_better`` None for a metric without a better side."""
    if len(a) != len(b):
        raise ValueError(f"compare() pairs seeds: {names[0]} has {len(a)} values and "
                         f"{names[1]} has {len(b)}; run both arms with the same seeds.")
    diff = summarize(np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64),
                     confidence)
    return Comparison(names[0], names[1], metric, diff, higher_is_better)


def values_of(records: Iterable[Mapping], arm: str, metric: str, by: str = "arm") -> list[float]:
    """The values of ``metric`` for ``arm``, ordered by ``seed`` (the pairing order)."""
    rows = sorted((r for r in records if r[by] == arm and metric in r),
                  key=lambda r: r.get("seed", 0))
    return [float(r[metric]) for r in rows]


def summarize_records(records: Sequence[Mapping], metrics: Sequence[str], by: str = "arm",
                      confidence: float = CONFIDENCE) -> dict[str, dict[str, Summary]]:
    """``{arm: {metric: Summary}}`` for every arm (in first-seen order) holding the metric."""
    arms = list(dict.fromkeys(r[by] for r in records))
    out: dict[str, dict[str, Summary]] = {}
    for metric in metrics:
        if not any(metric in r for r in records):
            known = sorted({k for r in records for k in r if k not in (by, "seed")})
            raise ValueError(f"no record has metric {metric!r}; known: {', '.join(known)}.")
        for arm in arms:
            vals = values_of(records, arm, metric, by)
            if vals:
                out.setdefault(arm, {})[metric] = summarize(vals, confidence)
    return out


def summary_table(summaries: Mapping[str, Mapping[str, Summary]], metrics: Sequence[str],
                  digits: int = 3, labels: Mapping[str, str] | None = None,
                  best: Mapping[str, str] | None = None, reference_rows: Sequence[str] = (),
                  caption: str | None = None) -> Table:
    """A :class:`Table` of :func:`summarize_records`, one row per arm; ``labels`` name metrics
    (with units) and arms."""
    labels = dict(labels or {})
    rows = [{"arm": labels.get(arm, arm),
             "n": max((s.n for s in by_metric.values()), default=0),
             **{m: by_metric.get(m) for m in metrics}}
            for arm, by_metric in summaries.items()]
    columns = {"arm": "arm", "n": "n", **{m: labels.get(m, m) for m in metrics}}
    return Table(rows, columns, best=best, digits=digits,
                 reference_rows=[labels.get(r, r) for r in reference_rows], caption=caption)


def flat_metrics(summaries: Mapping[str, Mapping[str, Summary]]) -> dict[str, float]:
    """``{"arm.metric.mean" | "std" | "n": value}``, JSON-ready (a ``nan`` spread is ``None``)."""
    return {f"{arm}.{metric}.{key}": value
            for arm, by_metric in summaries.items() for metric, s in by_metric.items()
            for key, value in (("mean", s.mean), ("std", None if math.isnan(s.std) else s.std),
                               ("n", s.n))}


def plot_seeds(records: Sequence[Mapping], metric: str, arms: Sequence[str] | None = None,
               by: str = "arm", ax=None, title: str | None = None,
               ylabel: str | None = None, labels: Mapping[str, str] | None = None):
    """Per-seed dots of ``metric`` for each arm, joined across arms, the mean (tick) and ±1 std
    (bar); returns the axes."""
    import matplotlib.pyplot as plt  # start-up: only when the figure is drawn

    if arms is None:
        arms = list(dict.fromkeys(r[by] for r in records if metric in r))
    if not arms:
        raise ValueError(f"no record has metric {metric!r}; nothing to plot.")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.4 * len(arms), 3.2))
    seeds = sorted({r.get("seed", 0) for r in records if r[by] in arms and metric in r})
    offsets = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    colors = plt.get_cmap("tab10")
    first: dict[tuple, float] = {}  # (arm, seed) -> its first value
    for r in records:
        if metric in r and (r[by], r.get("seed", 0)) not in first:
            first[r[by], r.get("seed", 0)] = float(r[metric])
    for k, seed in enumerate(seeds):
        xs = [i + offsets[k] for i, arm in enumerate(arms) if (arm, seed) in first]
        ys = [first[arm, seed] for arm in arms if (arm, seed) in first]
        ax.plot(xs, ys, "-", color=colors(k % 10), alpha=0.25, lw=1)
        ax.plot(xs, ys, "o", color=colors(k % 10), ms=5, label=f"seed {seed}")
    for i, vals in enumerate(values_of(records, arm, metric, by) for arm in arms):
        if vals:
            s = summarize(vals)
            ax.hlines(s.mean, i - 0.25, i + 0.25, color="black", lw=2)
            if s.has_spread:
                ax.errorbar(i + 0.3, s.mean, yerr=s.std, color="black", capsize=3, lw=1)
    ax.set_xticks(range(len(arms)), [(labels or {}).get(a, a) for a in arms])
    ax.set_xlim(-0.6, len(arms) - 0.4)
    ax.set_xlabel("arm")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title or f"{metric}: per seed (dots), mean (bar) ± std")
    ax.legend(fontsize="small", frameon=False)
    return ax


BASELINES = ("gray", "mean_ab", "ground_truth")
#: Metrics in table order, and whether higher is better (None: best at 1).
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "ab_distance": False, "auc": True,
                    "auc_rebalanced": True, "colorfulness": True, "colorfulness_ratio": None,
                    "correct": True}
METRIC_NAMES = tuple(HIGHER_IS_BETTER)
#: Column headers of the results tables, with units.
METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "ab_distance": "ab distance (Lab units)",
                 "auc": "AuC", "auc_rebalanced": "rebalanced AuC", "colorfulness": "colourfulness",
                 "colorfulness_ratio": "colourfulness ratio (photo = 1)",
                 "correct": "classifier accuracy"}


def direction(metric: str) -> str:
    """The :class:`Table` direction of a metric.

    >>> direction("psnr"), direction("ab_distance"), direction("colorfulness_ratio")
    ('max', 'min', 'one')
    """
    higher = HIGHER_IS_BETTER.get(metric, True)
    return "one" if higher is None else ("max" if higher else "min")


def goodness(metric: str, values):
    """``values`` of ``metric`` oriented so that higher is better (``-|x - 1|`` for a ratio)."""
    values = np.asarray(values, dtype=np.float64)
    return {"max": values, "min": -values, "one": -np.abs(values - 1.0)}[direction(metric)]


@dataclasses.dataclass
class ScoreTable:
    """Per-image scores of several methods on the same images (what :func:`evaluate` returns).

    ``rows``: one dict per (method, image) with ``method``, ``image``, ``label`` (if known) and
    the metrics; ``images``: ``method -> uint8 RGB`` (``keep_images=True``); ``notes``: what
    was skipped and why.
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
        """One row per method: ``n`` and the ``mean`` (or ``median``) of every metric, NaNs
        left out; ``colorfulness_ratio`` is the ratio of the mean colourfulnesses."""
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
            writer.writerows({k: "" if isinstance(v, float) and math.isnan(v) else v
                              for k, v in r.items()} for r in rows)
        return os.fspath(path)

    def table(self, digits: int = 3, stat: str = "mean", caption: str | None = None):
        """The summary as a :class:`Table`, the best method (never the ground truth) in bold."""
        columns = {"method": "method", "n": "images",
                   **{m: METRIC_LABELS.get(m, m) for m in self.metric_names}}
        return Table(self.summary(stat), columns, digits=digits, caption=caption,
                     best={m: direction(m) for m in self.metric_names},
                     reference_rows=("ground_truth",))

    def format(self, digits: int = 3, stat: str = "mean") -> str:
        """The summary as aligned plain text (what the command prints)."""
        return self.table(digits, stat).to_text()

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


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
            raise ValueError("dataset elements must be (l_norm, targets) as made by colorutils."
                             f"data.load(..., output='lab'); got {type(element).__name__}.")
        l_norm, targets = element
        ab, labels = ((targets["ab"], targets.get("label")) if isinstance(targets, Mapping)
                      else (targets, None))
        yield (np.asarray(l_norm, np.float32), np.asarray(ab, np.float32),
               None if labels is None else np.asarray(labels))


def _bar(dataset, desc: str, batch_size: int = 32):
    """:func:`_batches` behind a progress bar (its total when known without iterating)."""
    total = (-(-len(dataset[0]) // batch_size) if isinstance(dataset, (tuple, list))
             else files.total_of(dataset))
    return files.bar(_batches(dataset, batch_size), total=total, desc=desc, unit="batch")


def dataset_mean_ab(dataset, limit: int | None = None) -> np.ndarray:
    """The mean ab ``[2]`` over every pixel of at most ``limit`` images of a (training) dataset."""
    total, count, seen = np.zeros(2, np.float64), 0, 0
    for _, ab, _ in _bar(dataset, "mean ab"):
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
    """``l_norm -> ab`` for a Colorizer, a Keras model or a callable."""
    if isinstance(method, inference.Colorizer) or (hasattr(method, "inputs")
                                                   and hasattr(method, "predict")):
        return inference.as_colorizer(method).predict_ab
    if callable(method):
        return lambda l_norm, **kw: method(l_norm)
    raise TypeError(f"cannot evaluate {method!r}: pass a Keras model or a function "
                    "l_norm -> ab.")


def _predictors(methods, baselines: tuple, limit) -> dict[str, Callable]:
    """Check the arguments of :func:`evaluate`; one prediction function per method."""
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {BASELINES}.")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit={limit!r} must be a positive integer or None.")
    if not isinstance(methods, Mapping):
        methods = {} if methods is None else {getattr(methods, "name", None) or "model": methods}
    clash = [n for n in methods if n in BASELINES]
    if clash:
        raise ValueError(f"method names {clash} clash with the baselines; rename them.")
    return {name: _predictor(m) for name, m in methods.items()}


def _candidates(predictors, baselines, mean_ab, l_norm, ab_true, kwargs) -> dict:
    """Every method's and baseline's ab for one batch, at the batch's resolution."""
    size, out = l_norm.shape[1:3], {}
    for name, predict in predictors.items():
        ab = np.asarray(predict(l_norm, **kwargs), np.float32)
        out[name] = (ab if ab.shape[1:3] == tuple(size)
                     else tf.image.resize(ab, size, method="bilinear").numpy())
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
    classify = classifier is not None and labels is not None
    for name, ab_pred in candidates.items():
        scores = metrics.colorization_metrics(l_norm, ab_true, ab_pred, weights, bins,
                                              rgb_true=rgb_true)
        if name == "ground_truth":
            scores["psnr"] = np.full(len(l_norm), np.nan)  # MSE 0: infinite, not meaningful
        rgb_pred = color.recombine(l_norm, ab_pred) if keep_images or classify else None
        if classify:
            scores["correct"] = np.asarray(
                metrics.classifier_correct(classifier, rgb_pred, labels), np.float64)
        rows.extend({"method": name, "image": first_image + i,
                     **({} if labels is None else {"label": int(labels[i])}),
                     **{k: float(v[i]) for k, v in scores.items()}} for i in range(len(l_norm)))
        if keep_images:
            kept.setdefault(name, []).append(color.to_uint8(rgb_pred))
    if keep_images and "ground_truth" not in candidates:
        kept.setdefault("ground_truth", []).append(color.to_uint8(rgb_true))


def evaluate(methods, dataset, *, baselines: Iterable[str] = BASELINES,
             mean_ab=None, train_dataset=None, weights=None, bins=None, classifier=None,
             limit: int | None = None, keep_images: bool = False,
             predict_kwargs: dict | None = None, batch_size: int = 32) -> ScoreTable:
    """Score models and baselines on the same images, per image: a :class:`ScoreTable`.

    ``methods``: a Colorizer, Keras model, callable ``l_norm -> ab`` or dict ``name -> one``
    (None: baselines only).  ``dataset``: batches ``(l_norm, {"ab": ab[, "label": labels]})``
    (``data.load(..., output="lab")``) or arrays ``(l_norm, ab[, labels])``.  The ``mean_ab``
    baseline needs ``mean_ab`` or ``train_dataset`` (never the scored images).  ``weights``,
    ``bins``: for ``auc_rebalanced``.  ``classifier``: RGB -> logits, for the column
    ``correct`` on labelled data.  ``predict_kwargs`` go to ``predict_ab``.
    """
    baselines = tuple(baselines)
    predictors = _predictors(methods, baselines, limit)
    if "mean_ab" in baselines and mean_ab is None and train_dataset is not None:
        mean_ab = dataset_mean_ab(train_dataset)
    notes = (["mean_ab baseline skipped: pass mean_ab= or train_dataset=."]
             if "mean_ab" in baselines and mean_ab is None else [])
    mean_ab = None if mean_ab is None else np.asarray(mean_ab, np.float32).reshape(2)
    rows: list[dict] = []
    kept: dict[str, list] = {}
    seen, candidates = 0, {}
    batches = _bar(dataset, "scoring", batch_size)
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
    """``(weights, bins)`` of the class rebalancing {cite}`zhang2016colorful` (eq. 4)."""
    bins = quantize.ab_bins(grid_size or quantize.GRID_SIZE)
    prior = quantize.empirical_prior(train_dataset, bins)
    lam = quantize.REBALANCE_LAMBDA if lam is None else lam
    return np.asarray(quantize.rebalance_weights(prior, lam), np.float32), bins


#: Colourfulness of the model over the true photos' (at least).
MIN_RATIO = 0.7
#: dB of PSNR the model may lose against the gray image (at most).
MAX_PSNR_LOSS = 1.0


@dataclasses.dataclass(frozen=True)
class QualityGoal:
    """A model's colourfulness ratio, and its PSNR (dB) and AuC minus the gray image's.

    >>> goal = QualityGoal(ratio=0.82, psnr_gap=-1.6, auc_gap=-0.004)
    >>> goal.met, goal.all_met
    ({'ratio': True, 'psnr': False, 'auc': False}, False)
    """

    ratio: float
    psnr_gap: float
    auc_gap: float

    @property
    def met(self) -> dict[str, bool]:
        return {"ratio": self.ratio >= MIN_RATIO, "psnr": self.psnr_gap >= -MAX_PSNR_LOSS,
                "auc": self.auc_gap > 0}

    @property
    def all_met(self) -> bool:
        return all(self.met.values())

    def sentence(self) -> str:
        """One sentence naming each part, its figure and whether it is met."""
        parts = [f"colourfulness ratio {self.ratio:.2f} (goal ≥ {MIN_RATIO:g}",
                 f"PSNR {self.psnr_gap:+.2f} dB against gray (goal ≥ -{MAX_PSNR_LOSS:g}",
                 f"AuC {self.auc_gap:+.4f} against gray (goal > 0"]
        met = self.met.values()
        text = "; ".join(f"{p}: {'met' if m else 'missed'})"
                         for p, m in zip(parts, met, strict=True))
        verdict = ("all three parts of the goal are met" if self.all_met else
                   f"{sum(met)} of the 3 parts of the goal are met")
        return f"{text}: {verdict}."

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "met": self.met, "all_met": self.all_met}


def recipe_rank(row: Mapping[str, float]) -> tuple:
    """The sort key of a candidate recipe (``ratio``, ``psnr_gap``, ``auc_gap``, optionally
    ``lambda`` and ``temperature``) against the quality goal; smaller is better.

    The colourfulness part met first (a dull candidate meets the PSNR part for free); meeting
    it: more parts met, then the larger PSNR gap; missing it: the larger ratio, then more parts
    met; then the larger AuC gap, lambda and T (the milder setting).
    """
    met = QualityGoal(row["ratio"], row["psnr_gap"], row["auc_gap"]).met
    colour, parts = met["ratio"], sum(met.values())
    middle = (-parts, -row["psnr_gap"]) if colour else (-row["ratio"], -parts)
    return (not colour, *middle, -row["auc_gap"], -row.get("lambda", 0.0),
            -row.get("temperature", 0.0))


def choose_recipe(rows: list[Mapping[str, float]]) -> dict:
    """The candidate (lambda, T) that meets the quality goal best, by :func:`recipe_rank`."""
    if not rows:
        raise ValueError("rows is empty: give one dict per (lambda, temperature) candidate.")
    for row in rows:
        missing = [k for k in ("ratio", "psnr_gap", "auc_gap") if k not in row]
        if missing:
            raise ValueError(f"a row lacks {missing}: {dict(row)!r}; give ratio, psnr_gap and "
                             "auc_gap (the figures of QualityGoal) for every row.")
    return dict(min(rows, key=recipe_rank))


def quality_of(l_norm, ab_true, ab_pred, rgb_true=None) -> dict:
    """Means over the images: ``colourfulness``, ``colorfulness_ratio``, ``psnr`` and ``auc``."""
    if rgb_true is None:
        rgb_true = color.recombine(l_norm, ab_true).numpy()
    rgb = color.recombine(l_norm, ab_pred).numpy()
    cf = float(np.mean(metrics.colorfulness(rgb).numpy()))
    return {"colourfulness": cf,
            "colorfulness_ratio": cf / float(np.mean(metrics.colorfulness(rgb_true).numpy())),
            "psnr": float(np.mean(metrics.psnr(rgb_true, rgb).numpy())),
            "auc": float(np.mean(metrics.auc_accuracy(ab_true, ab_pred).numpy()))}


def _colour_mask(ab_true, colour_only: bool) -> np.ndarray:
    """The photos the goal reads (:func:`quantize.colour_photos`, or all), never none."""
    keep = (quantize.colour_photos(ab_true).numpy() if colour_only
            else np.ones(len(ab_true), bool))
    if not keep.any():
        raise ValueError(f"all {len(ab_true)} photos are gray (no |a| or |b| above "
                         f"{quantize.GRAY_THRESHOLD:g}): the goal needs colour photos, or pass "
                         "colour_only=False.")
    return keep


def quality_against_gray(l_norm, ab_true, ab_pred, *, colour_only: bool = True) -> dict:
    """``{"model": figures, "gray": figures, "goal": QualityGoal, "photos": n, "gray_photos":
    m}`` of a colorization ``ab_pred`` and of the gray image on the same photos, figures being
    ``colorfulness_ratio``, ``psnr``, ``auc`` (:func:`quality_of`).

    With ``colour_only`` (the goal's rule) the ``m`` gray photos (:func:`quantize.colour_photos`
    false) are left out: there is no colour to predict on them, and the gray image reproduces
    them almost exactly (85 dB on average on CIFAR-10's), so a few of them would outweigh the
    rest in the mean of per-photo decibels; Larsson et al. test on photos without the grayscale
    ones {cite}`larsson2016learning`.
    """
    l_norm, ab_true, ab_pred = np.asarray(l_norm), np.asarray(ab_true), np.asarray(ab_pred)
    keep = _colour_mask(ab_true, colour_only)
    l_norm, ab_true, ab_pred = l_norm[keep], ab_true[keep], ab_pred[keep]
    rgb_true = color.recombine(l_norm, ab_true).numpy()
    out = {}
    for name, ab in (("model", ab_pred), ("gray", np.zeros_like(ab_true))):
        figures = quality_of(l_norm, ab_true, ab, rgb_true)
        out[name] = {k: figures[k] for k in ("colorfulness_ratio", "psnr", "auc")}
    out["goal"] = QualityGoal(out["model"]["colorfulness_ratio"],
                              out["model"]["psnr"] - out["gray"]["psnr"],
                              out["model"]["auc"] - out["gray"]["auc"])
    out["photos"], out["gray_photos"] = int(keep.sum()), int((~keep).sum())
    return out


def quality_figures(model, l_norm, ab_true, *, temperature: float | None = None,
                    smooth_sigma: float | None = None, batch_size: int = 64,
                    colour_only: bool = True) -> dict:
    """:func:`quality_against_gray` of ``model`` (any colorizer,
    :func:`colorutils.inference.as_colorizer`) decoded at ``temperature`` and
    ``smooth_sigma`` (None: its defaults); only the photos the goal reads are predicted."""
    l_norm, ab_true = np.asarray(l_norm), np.asarray(ab_true)
    keep = _colour_mask(ab_true, colour_only)
    ab_pred = inference.as_colorizer(model).predict_ab(
        l_norm[keep], temperature=temperature, smooth_sigma=smooth_sigma, batch_size=batch_size)
    out = quality_against_gray(l_norm[keep], ab_true[keep], ab_pred, colour_only=False)
    out["gray_photos"] = int((~keep).sum())
    return out
