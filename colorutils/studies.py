"""The regression-versus-classification study of chapters 02 and 03, defined once.

Chapter 02 trains U-Nets with a regression head (L2 in Lab, YUV or HSV) and with a
classification head over the ab bins (Zhang et al. 2016); chapter 03 adds class rebalancing
and reuses chapter 02's finished runs. Reuse works only if both chapters name, build and
configure every run identically (:func:`colorutils.train.fit` refuses a run folder whose
configuration differs), so the definition lives here and not in two notebooks.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from colorutils import data, losses, models, settings, train


@dataclasses.dataclass(frozen=True)
class ClassificationStudy:
    """One budget shared by every arm (model) of the comparison.

    Parameters
    ----------
    cfg : Settings
        The chapter's resolved settings (dataset, image size, width, epochs, ...).
    bins : array [Q, 2]
        The ab bins of the classification head (:func:`colorutils.quantize.ab_bins`).
    output_stride : int
        The models predict at 1 / ``output_stride`` of the input resolution.
    learning_rate : float
        Adam's learning rate, the same for every arm.
    run_eagerly : bool
        Skip graph tracing (faster for the few steps of a smoke run; same result).
    """

    cfg: settings.Settings
    bins: np.ndarray
    output_stride: int = 4
    learning_rate: float = 1e-3
    run_eagerly: bool = False

    def run_dir(self, arm: str, seed: int) -> str:
        """The run folder of one arm and seed: ``classification/<arm>/seed<seed>``."""
        return self.cfg.run_dir(f"classification/{arm}/seed{seed}")

    def config(self, arm: str, head: str, space: str = "lab", lam: float | None = None) -> dict:
        """Everything that defines a run of the study (what ``train.fit`` compares)."""
        cfg = self.cfg
        return dict(chapters="02-03", arm=arm, model="unet", head=head, space=space, lam=lam,
                    width=cfg.width, output_stride=self.output_stride,
                    image_size=cfg.image_size, epochs=cfg.epochs,
                    train_images=cfg.train_images, dataset=cfg.dataset, optimizer="adam",
                    learning_rate=self.learning_rate, num_bins=len(self.bins),
                    hue_seam=losses.HUE_SEAM if space == "hsv" else None)

    def train(self, arm: str, head: str, seed: int, val_ds=None, *, space: str = "lab",
              weights=None, lam: float | None = None):
        """Train (or load, if finished) one arm; returns ``(model, seconds)``.

        ``head`` is ``"regression"`` (2 channels, trained in ``space``: lab, yuv or hsv) or
        ``"classification"`` (logits over ``bins``, cross-entropy on soft targets, weighted by
        the rebalancing ``weights`` if given; ``lam`` is recorded in the configuration).
        """
        if head not in ("regression", "classification"):
            raise ValueError(f"head={head!r}: use 'regression' or 'classification'")
        if head == "classification" and space != "lab":
            raise ValueError(f"space={space!r}: the classification head predicts Lab ab bins")
        cfg, num_bins = self.cfg, len(self.bins)

        def build():
            net = models.unet(head=head, num_bins=num_bins if head == "classification" else None,
                              width=cfg.width, output_stride=self.output_stride)
            loss = (losses.RebalancedCrossEntropy(self.bins, weights)
                    if head == "classification" else losses.ABRegressionLoss(space))
            net.compile(optimizer=models.make_optimizer("adam", self.learning_rate),
                        loss={"ab": loss}, run_eagerly=self.run_eagerly)
            return net

        def to_space(ds):
            if ds is None or space == "lab":
                return ds
            return ds.map(lambda x, t: (x, {"ab": losses.chroma_targets(x, t["ab"], space)}))

        train_ds = data.load(cfg.dataset, "train", cfg.image_size, cfg.batch_size, seed=seed,
                             limit=cfg.train_images)
        start = time.time()
        result = train.fit(build, to_space(train_ds), to_space(val_ds),
                           run_dir=self.run_dir(arm, seed), epochs=cfg.epochs,
                           config=self.config(arm, head, space, lam), seed=seed, verbose=0)
        return result.model, time.time() - start
