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

import numpy as np

from colorutils import color, inference, metrics

__all__ = ["MIN_RATIO", "MAX_PSNR_LOSS", "QualityGoal", "quality_figures"]

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
