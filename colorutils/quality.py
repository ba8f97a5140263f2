"""The quality benchmark's three figures and its goal: colour, fidelity and accuracy at once.

No single number says whether a colorization is good.  The book's quality benchmark
(``benchmarks/bench_quality.py``, chapter 03's recipe section, the full-scale recipe of
``colorutils train --recipe best``) asks for three together, each against the gray image
(ab = 0, the lightness alone):

* the **colourfulness ratio** (Hasler & Süsstrunk 2003, the model's mean colourfulness
  over the true photos'): at least :data:`MIN_RATIO` (desaturated predictions fail);
* the **PSNR** against the true photos: at most :data:`MAX_PSNR_LOSS` dB below gray's
  (confidently wrong colours fail; gray is hard to beat because squared error rewards dull
  guesses);
* the **AuC** of per-pixel ab accuracy over thresholds 0-150 (Zhang et al. 2016): above
  gray's.

Zhang et al. trade PSNR for colour on purpose; a model meeting all three is vivid *and*
rarely wrong.

Examples
--------
>>> goal = QualityGoal(ratio=0.82, psnr_gap=-1.6, auc_gap=-0.004)
>>> goal.met, goal.all_met
({'ratio': True, 'psnr': False, 'auc': False}, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from colorutils import color, inference, metrics

__all__ = ["MIN_RATIO", "MAX_PSNR_LOSS", "QualityGoal", "recipe_rank", "choose_recipe",
           "quality_figures"]

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


def quality_figures(model, l_norm, ab_true, *, temperature: float | None = None,
                    smooth_sigma: float | None = None, batch_size: int = 64) -> dict:
    """The three figures of a colorizer and of the gray image on the same photos.

    Parameters
    ----------
    model : keras.Model
        Any colorizer of the book (``inference.predict_ab`` decodes it).
    l_norm, ab_true : arrays [N, H, W, 1] and [N, H, W, 2]
        The test photos (``colorutils.data.to_arrays``).
    temperature, smooth_sigma
        Decoding of a classifier (None: the library's defaults, no smoothing).

    Returns
    -------
    dict
        ``{"model": {...}, "gray": {...}, "goal": QualityGoal}`` where each of the first two
        holds ``colorfulness_ratio``, ``psnr`` (dB) and ``auc``.
    """
    kwargs = {} if temperature is None else {"temperature": temperature}
    ab_pred = inference.predict_ab(model, l_norm, smooth_sigma=smooth_sigma,
                                   batch_size=batch_size, **kwargs)
    rgb_true = color.recombine(l_norm, ab_true).numpy()
    truth = float(np.mean(metrics.colorfulness(rgb_true).numpy()))
    out = {}
    for name, ab in (("model", ab_pred), ("gray", np.zeros_like(ab_true))):
        rgb = color.recombine(l_norm, ab).numpy()
        out[name] = {"colorfulness_ratio": float(np.mean(metrics.colorfulness(rgb).numpy()))
                     / truth,
                     "psnr": float(np.mean(metrics.psnr(rgb_true, rgb).numpy())),
                     "auc": float(np.mean(metrics.auc_accuracy(ab_true, ab).numpy()))}
    out["goal"] = QualityGoal(out["model"]["colorfulness_ratio"],
                              out["model"]["psnr"] - out["gray"]["psnr"],
                              out["model"]["auc"] - out["gray"]["auc"])
    return out
