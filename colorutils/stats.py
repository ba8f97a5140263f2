"""Summaries over seeds: means with spread, paired comparisons, and a per-seed figure.

A single training run is one draw from a random process (initialisation, data order,
augmentation).  A claim such as "joint training colorizes better" is only as good as the
seed-to-seed spread allows, so the chapters that compare *arms* (configurations) train each arm
with several seeds and report

* the mean over seeds with the sample standard deviation
  :math:`s = \\sqrt{\\tfrac{1}{n-1}\\sum_i (x_i - \\bar x)^2}`, and
* a Student-t confidence interval of the mean,
  :math:`\\bar x \\pm t_{(1+c)/2,\\,n-1}\\, s/\\sqrt{n}` (Student, 1908; any statistics text,
  e.g. Wasserman, *All of Statistics*, 2004, sec. 6.3.2).

Two arms trained with the same seeds share their data order and split, so their comparison is
*paired*: the interval is computed on the per-seed differences :math:`d_i = b_i - a_i`, which
removes the variation the two arms share (the paired t-test, Wasserman 2004, sec. 10.1).  A
difference whose interval contains zero is reported as "within the spread": the runs do not
show an effect, which is not the same as showing that there is none.

Records are plain dicts (one per arm and seed), e.g. ``{"arm": "joint", "seed": 0,
"psnr": 23.1}``; no data-frame library is needed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from colorutils import tables

CONFIDENCE = 0.95


def _t_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``dof`` degrees of freedom."""
    from scipy import stats  # start-up: scipy loads only when an interval is computed

    return float(stats.t.ppf(p, dof))


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1 "
                         "(e.g. 0.95 for a 95% interval).")


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion: ``successes`` out of ``n`` trials.

    With :math:`\\hat p = k/n` and :math:`z` the standard normal quantile of
    :math:`(1+c)/2`, the interval is :math:`\\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat
    p)/n + z^2/4n^2}}{1 + z^2/n}` (Wilson, 1927, *J. Am. Stat. Assoc.* 22:209-212).  Unlike
    the textbook :math:`\\hat p \\pm z\\sqrt{\\hat p(1-\\hat p)/n}` it stays inside [0, 1] and
    keeps its coverage for small ``n`` and rates near 0 or 1 (Brown, Cai and DasGupta, 2001,
    *Statistical Science* 16:101-133).

    >>> [round(x, 4) for x in wilson_interval(10, 25)]
    [0.234, 0.5926]
    """
    _check_confidence(confidence)
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"successes={successes!r} out of n={n!r}: need 0 <= successes <= n "
                         "and n >= 1.")
    from statistics import NormalDist

    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, spread and confidence interval of one metric over ``n`` seeds.

    ``std``, ``low`` and ``high`` are ``nan`` when ``n == 1``: one run has no spread.
    """

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

    def __str__(self) -> str:
        return self.format()


def summarize(values: Iterable[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, sample standard deviation and Student-t interval of the mean of ``values``.

    Parameters
    ----------
    values : iterable of float
        One number per seed (finite).
    confidence : float
        Coverage of the interval, in (0, 1); default 0.95.

    Returns
    -------
    Summary
        ``low, high = mean -/+ t_{(1+c)/2, n-1} * std / sqrt(n)``; ``nan`` spread for ``n == 1``.

    Raises
    ------
    ValueError
        If ``values`` is empty or holds a non-finite number, or ``confidence`` is out of range.

    Examples
    --------
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
        nan = float("nan")
        return Summary(1, mean, nan, nan, nan, confidence, (mean,))
    std = float(x.std(ddof=1))
    half = _t_quantile((1.0 + confidence) / 2.0, x.size - 1) * std / math.sqrt(x.size)
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
        """On how many seeds ``b`` is better than ``a`` (higher, for a metric without a
        direction).  A count, not a test: 3 wins of 3 seeds happens by chance one time in 8
        when the arms are equal (the sign test)."""
        values = np.asarray(self.diff.values)
        return int(np.sum(values < 0) if self.higher_is_better is False else np.sum(values > 0))

    @property
    def verdict(self) -> str:
        """b relative to a: ``"better"``/``"worse"`` (``"higher"``/``"lower"`` for a metric
        without a direction), ``"within spread"`` or ``"one seed"``."""
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

    def __str__(self) -> str:
        return self.sentence()


def compare(a: Sequence[float], b: Sequence[float], *, metric: str = "metric",
            names: tuple[str, str] = ("a", "b"), higher_is_better: bool | None = True,
            confidence: float = CONFIDENCE) -> Comparison:
    """Paired comparison of arm ``b`` against arm ``a``: summary of ``b_i - a_i``.

    Parameters
    ----------
    a, b : sequence of float
        One value per seed, in the same seed order (seed ``i`` of ``a`` pairs with seed ``i``
        of ``b``).
    metric : str
        Name used in the sentence.
    names : (str, str)
        Display names of ``a`` and ``b``.
    higher_is_better : bool or None
        Direction of the metric (PSNR, accuracy: True; ab distance, loss: False; None for a
        metric without a "better" side, e.g. colourfulness: the verdict is then
        "higher"/"lower").
    confidence : float
        Coverage of the interval of the mean difference.

    Raises
    ------
    ValueError
        If the arms do not have the same number of seeds.
    """
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
    """``{arm: {metric: Summary}}`` for every arm (in first-seen order) holding the metric.

    Raises
    ------
    ValueError
        If no record holds one of ``metrics`` (a typo in a metric name).
    """
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
                  best: Mapping[str, str] | None = None,
                  reference_rows: Sequence[str] = (), caption: str | None = None
                  ) -> tables.Table:
    """A results table: one row per arm, ``n``, one ``mean ± std`` column per metric.

    Parameters
    ----------
    summaries : ``{arm: {metric: Summary}}`` (:func:`summarize_records`)
    metrics : sequence of str
        The columns, in order.
    digits : int
        Decimals of means and standard deviations.
    labels : mapping, optional
        Display names of metrics (headers, with units) and of arms (first column).
    best : mapping ``metric -> "max" | "min" | "one"``, optional
        Mark the best mean of these metrics (:class:`colorutils.tables.Table`).
    reference_rows : sequence of str
        Arms shown but never marked best (e.g. the ground truth).
    caption : str, optional
        A line under the table (:class:`colorutils.tables.Table`).

    Returns
    -------
    colorutils.tables.Table
        Displayed as HTML in a notebook; ``.to_markdown()`` for a file.
    """
    labels = dict(labels or {})
    rows = [{"arm": labels.get(arm, arm),
             "n": max((s.n for s in by_metric.values()), default=0),
             **{m: by_metric.get(m) for m in metrics}}
            for arm, by_metric in summaries.items()]
    columns = {"arm": "arm", "n": "n", **{m: labels.get(m, m) for m in metrics}}
    return tables.Table(rows, columns, best=best, digits=digits,
                        reference_rows=[labels.get(r, r) for r in reference_rows],
                        caption=caption)


def flat_metrics(summaries: Mapping[str, Mapping[str, Summary]]) -> dict[str, float]:
    """``{"arm.metric.mean": ..., "arm.metric.std": ..., "arm.metric.n": ...}``, JSON-ready.

    This is the shape a notebook writes to its ``metrics_path`` for the experiment runner
    (``nan`` spread becomes ``None``).
    """
    flat: dict[str, float] = {}
    for arm, by_metric in summaries.items():
        for metric, s in by_metric.items():
            flat[f"{arm}.{metric}.mean"] = s.mean
            flat[f"{arm}.{metric}.std"] = None if math.isnan(s.std) else s.std
            flat[f"{arm}.{metric}.n"] = s.n
    return flat


def plot_seeds(records: Sequence[Mapping], metric: str, arms: Sequence[str] | None = None,
               by: str = "arm", ax=None, title: str | None = None,
               ylabel: str | None = None, labels: Mapping[str, str] | None = None):
    """Per-seed points of ``metric`` for each arm, with the mean and a ±1 std bar.

    Each seed is a dot (with a small horizontal offset so equal values stay visible); the
    horizontal tick is the mean and the vertical bar the sample standard deviation.  Points
    of the same seed are joined across arms by a faint line, which shows pairing: parallel
    lines mean the arms differ consistently, crossing lines mean the seed matters more than
    the arm.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt  # start-up: only when the figure is drawn

    if arms is None:
        arms = list(dict.fromkeys(r[by] for r in records if metric in r))
    if not arms:
        raise ValueError(f"no record has metric {metric!r}; nothing to plot.")
    labels = dict(labels or {})
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.4 * len(arms), 3.2))
    seeds = sorted({r.get("seed", 0) for r in records if r[by] in arms and metric in r})
    offsets = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    colors = plt.get_cmap("tab10")
    for k, seed in enumerate(seeds):
        xs, ys = [], []
        for i, arm in enumerate(arms):
            vals = [r[metric] for r in records
                    if r[by] == arm and r.get("seed", 0) == seed and metric in r]
            if vals:
                xs.append(i + offsets[k])
                ys.append(float(vals[0]))
        ax.plot(xs, ys, "-", color=colors(k % 10), alpha=0.25, lw=1)
        ax.plot(xs, ys, "o", color=colors(k % 10), ms=5, label=f"seed {seed}")
    for i, arm in enumerate(arms):
        vals = values_of(records, arm, metric, by)
        if not vals:
            continue
        s = summarize(vals)
        ax.hlines(s.mean, i - 0.25, i + 0.25, color="black", lw=2)
        if s.has_spread:
            ax.errorbar(i + 0.3, s.mean, yerr=s.std, color="black", capsize=3, lw=1)
    ax.set_xticks(range(len(arms)), [labels.get(a, a) for a in arms])
    ax.set_xlim(-0.6, len(arms) - 0.4)
    ax.set_xlabel("arm")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title or f"{metric}: per seed (dots), mean (bar) ± std")
    ax.legend(fontsize="small", frameon=False)
    return ax
