"""Studies: the models a chapter trains, each defined once, trained or reloaded by name.

A chapter that trains models describes each one as an :class:`Arm` (a builder of the zoo by
name and its keyword arguments, how to compile it, what else defines the run) and hands it to
a :class:`Study`, which owns everything around it:

run naming
    ``Study(run_name="05_{arm}")``: the run folder of every arm and seed
    (``cfg.run_dir(run_name.format(arm=..., seed=...))``, :mod:`colorutils.runs`);
configuration
    what ``config.json`` records: the settings every run shares (dataset, image size, width,
    train images), the study's own ``config`` and the arm's ``config``.  A later call with
    another configuration is refused by :func:`colorutils.train.fit`, so a chapter reuses an
    earlier chapter's run only if both describe it identically, which is why the description
    lives here and not in two notebooks;
build and compile
    :func:`colorutils.models.build` and :func:`colorutils.compiling.compile_model`: one loss
    per head type (regression ``"ab"``: :class:`~colorutils.losses.ABRegressionLoss` in the
    arm's ``space``; classification ``"ab"``: :class:`~colorutils.losses.RebalancedCrossEntropy`
    with the arm's ``weights``; ``"label"``: cross-entropy weighted by ``alpha``);
data
    the training split of the study's settings with the targets the model outputs
    (``with_label`` when it has a ``"label"`` head, RGB input for an RGB classifier, chroma
    targets in the arm's ``space``), unless the chapter passes its own pipeline;
fit and load
    :func:`colorutils.train.fit` (resume, reuse of finished runs), quietly by default: one
    line per model, no per-epoch log (``verbose=2`` shows it).

:class:`ClassificationStudy` is the regression-versus-classification study of chapters 02 and
03 (U-Nets with a regression head in Lab, YUV or HSV, or a classification head over the ab
bins, Zhang et al. 2016), built on :class:`Study`.

Examples
--------
A chapter writes (``cfg`` from :func:`colorutils.settings.resolve`)::

    study = studies.Study(cfg, run_name="05_{arm}", config={"chapter": "05"})
    joint = studies.Arm("joint", "fusion_net",
                        dict(num_bins=None, num_classes=10, width=cfg.width, global_size=32),
                        alpha=1 / 300)
    run = study.train(joint, seed=0, val_ds=val_ds)
    run.model, run.seconds, run.loaded, run.run_dir, run.history["val_loss"]

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] S. Iizuka, E. Simo-Serra, H. Ishikawa, "Let there be Color!", SIGGRAPH 2016.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from colorutils import compiling, data, devices, losses, models, quantize, runs, settings, train

__all__ = ["Arm", "Trained", "Study", "ClassificationStudy", "CLASSIFICATION_PRESETS",
           "BEST_LAMBDA", "BEST_TEMPERATURE", "BEST_SMOOTH_SIGMA", "classification_arm_name",
           "training_prior", "train_best"]

#: The budget of every arm of chapters 02 and 03 (and of the book's best recipe), per scale;
#: :func:`colorutils.settings.resolve_chapter` merges it with the scale's presets.  At book
#: scale: 6,000 of the embedded CIFAR-10 training photos at their 32 px for 4 epochs, a
#: quarter-width U-Net predicting at 1/4 resolution (the fastest model of the zoo in this
#: configuration, benchmarks/bench_models.py) and three seeds, so that every comparison has a
#: paired interval; sized so that ``make book`` holds its 30 minutes on 2 CPU cores.
CLASSIFICATION_PRESETS = {
    "smoke": dict(epochs=1, width=0.125, train_images=32, eval_images=16, seeds=(0,)),
    "book": dict(image_size=32, batch_size=32, epochs=4, width=0.25, train_images=6000,
                 seeds=(0, 1, 2)),
    "colab": dict(image_size=32, batch_size=64, epochs=20, width=0.5, seeds=(0, 1, 2)),
    "full": dict(epochs=30, width=0.5, seeds=(0, 1, 2)),
}
#: The book's best recipe (chapter 03, benchmarks/bench_quality.py): the U-Net classifier of
#: chapters 02-03 rebalanced with this lambda, decoded by the annealed mean at this
#: temperature with this chroma smoothing (pixels; 0: none).  The book model: chapter 03's run
#: of this lambda, seed 0, at the budget of CLASSIFICATION_PRESETS, which chapters 06 and 08
#: and `colorutils colorize` use.  First set against the quality goal of colorutils.evaluation
#: on the embedded test split (6 epochs on all 8,000 training photos at the time): lambda 0.7
#: between the dull unrebalanced classifier (lambda 1) and the vivid but often wrong paper
#: setting (0.5), the paper's temperature, no smoothing.  Chapter 03 now chooses (lambda, T)
#: on the validation split at every `make book` (evaluation.choose_recipe) and says on its page
#: whether its choice is this one; change these constants only from that choice.  The first
#: validation selection (make book on a clean clone, 2026-12-05; 1,000 validation photos,
#: seed 0) chose lambda 0.7 at T = 0.14, the only candidate meeting all three parts there
#: (ratio 0.714, PSNR -0.66 dB, AuC +0.0029 against gray); on the test split, used once, it
#: meets two (ratio 0.706, PSNR -1.26 dB, AuC +0.0019) where T = 0.38 met one (ratio 0.667).
BEST_LAMBDA = 0.7
BEST_TEMPERATURE = 0.14
BEST_SMOOTH_SIGMA = 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class Arm:
    """One model of a study: what to build, how to compile it, what defines its run.

    Parameters
    ----------
    name : str
        The arm's name: ``{arm}`` in the study's run name, and what the summary line shows.
    model : str
        A builder of the zoo (:data:`colorutils.models.BUILDERS`), e.g. ``"unet"``.
    kwargs : dict
        Its keyword arguments (``width``, ``num_bins``, ``num_classes``, ...).
    optimizer, learning_rate
        :func:`colorutils.compiling.make_optimizer` (None: the optimizer's default rate).
    weights : array [Q], optional
        Rebalancing weights of a classification ``"ab"`` head (None: plain cross-entropy).
    space : {"lab", "yuv", "hsv"}
        Target space of a regression ``"ab"`` head (the data are converted to it).
    alpha : float
        Weight of a ``"label"`` head next to an ``"ab"`` head.
    config : dict, optional
        What defines this arm's run besides the study's settings.  Default: the arm's
        ``name``, ``model``, ``kwargs``, compile settings (a digest of the rebalancing
        weights) and the name of ``init_from``, so that changing any of them trains a new
        run.  Give it explicitly to keep the configuration of existing runs.
    init_from : keras.Model, optional
        Copy the weights of layers with matching names from this model before training
        (:func:`colorutils.models.copy_matching_weights`; colorization as a pretext task).
    monitor : str
        The metric that picks the best epoch (``train.fit``'s ``monitor``).
    """

    name: str
    model: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    optimizer: str = "adam"
    learning_rate: float | None = None
    weights: Any = None
    space: str = "lab"
    alpha: float = compiling.JOINT_ALPHA
    config: Mapping[str, Any] | None = None
    init_from: Any = None
    monitor: str = "val_loss"

    def description(self) -> dict:
        """The arm's part of ``config.json`` (``config`` if given, else what defines it)."""
        if self.config is not None:
            return dict(self.config)
        weights = (None if self.weights is None else hashlib.sha1(
            np.asarray(self.weights, np.float32).tobytes()).hexdigest()[:12])
        return dict(arm=self.name, model=self.model, kwargs=dict(self.kwargs),
                    optimizer=self.optimizer, learning_rate=self.learning_rate,
                    space=self.space, alpha=self.alpha, rebalancing_weights=weights,
                    init_from=getattr(self.init_from, "name", None))


@dataclasses.dataclass
class Trained:
    """What :meth:`Study.train` returns: the model and what a chapter reports about it.

    Attributes
    ----------
    arm : str
    seed : int
    model : keras.Model
        The best epoch (by the arm's ``monitor``), compiled.
    run_dir : str
    seconds : float
        Wall time of this call (data, build, training or loading).
    loaded : bool
        True if the run had finished before and was loaded, not trained.
    history : dict
        ``{"epoch": [...], "loss": [...], ...}``: every epoch of the run.
    metrics : dict
        The run's ``metrics.json`` (best epoch, timings).
    """

    arm: str
    seed: int
    model: Any
    run_dir: str
    seconds: float
    loaded: bool
    history: dict
    metrics: dict

    def summary(self) -> str:
        """One line: trained or loaded, epochs, time, the best monitored value."""
        best = self.metrics.get("best")
        shown = f"best {self.metrics.get('monitor')} {best:.4g}" if best is not None else ""
        how = "loaded" if self.loaded else "trained"
        epochs = len(self.history.get("epoch", []))
        return (f"{self.arm} seed {self.seed}: {how}, {epochs} epoch{'s' if epochs != 1 else ''}"
                f", {self.seconds:.1f} s, {shown}".rstrip(", "))


class Study:
    """The training runs of one chapter, sharing one budget (:class:`Settings`).

    Parameters
    ----------
    cfg : colorutils.settings.Settings
        The chapter's resolved settings (dataset, image size, batch size, epochs, width, ...).
    run_name : str or callable
        The run folder of an arm and seed, relative to the settings' run root: a format string
        with ``{arm}`` and ``{seed}`` (default ``"{arm}_seed{seed}"``), or a function
        ``(arm_name, seed) -> str``.
    config : dict, optional
        What the study adds to every run's configuration (e.g. ``{"chapter": "04"}``).
    run_eagerly : bool
        Skip graph tracing (faster for the few steps of a smoke run; same result).
    verbose : {0, 1, 2}
        0: silent; 1 (default, what the book shows): one line per model trained or loaded;
        2: also ``train.fit``'s line per epoch and its strategy line.
    mixed_precision : bool
        Train in ``mixed_float16`` on a GPU (``train.fit``'s ``mixed_precision``; ignored on
        a CPU).  Not part of the configuration: a run continues in either precision.
    """

    def __init__(self, cfg: settings.Settings, *, run_name: str | Callable = "{arm}_seed{seed}",
                 config: Mapping[str, Any] | None = None, run_eagerly: bool = False,
                 verbose: int = 1, mixed_precision: bool = False):
        self.cfg = cfg
        self.run_name = run_name
        self.config = dict(config or {})
        self.run_eagerly = bool(run_eagerly)
        self.verbose = int(verbose)
        self.mixed_precision = bool(mixed_precision)

    # ------------------------------------------------------------------ naming, configuration
    def run_dir(self, arm: Arm | str, seed: int = 0) -> str:
        """The run folder of ``arm`` and ``seed`` (:meth:`Settings.run_dir`)."""
        name = arm.name if isinstance(arm, Arm) else arm
        rel = (self.run_name(name, seed) if callable(self.run_name)
               else self.run_name.format(arm=name, seed=seed))
        return self.cfg.run_dir(rel)

    def run_config(self, arm: Arm) -> dict:
        """Everything that defines the run of ``arm`` (what ``config.json`` records)."""
        cfg = self.cfg
        shared = dict(dataset=cfg.dataset, image_size=cfg.image_size, width=cfg.width,
                      train_images=cfg.train_images)
        return {**shared, **self.config, **arm.description()}

    # ------------------------------------------------------------------ build, data
    def build(self, arm: Arm):
        """The compiled model of ``arm`` (what ``train.fit`` calls, after fixing the seed)."""
        net = models.build(arm.model, **arm.kwargs)
        if arm.init_from is not None:
            models.copy_matching_weights(arm.init_from, net)
        return compiling.compile_model(net, optimizer=arm.optimizer,
                                       learning_rate=arm.learning_rate, weights=arm.weights,
                                       space=arm.space, alpha=arm.alpha,
                                       run_eagerly=self.run_eagerly)

    def dataset(self, arm: Arm, split: str = "train", seed: int = 0, **load_kwargs):
        """The ``split`` of the study's data as ``arm`` trains on it.

        ``with_label`` when the model has a ``"label"`` head and RGB input for an RGB
        classifier (:func:`colorutils.data.load` with the study's dataset, image size, batch
        size and, for the training split, train images).
        """
        keys, input_name = compiling.model_outputs(arm.model, arm.kwargs)
        cfg = self.cfg
        limit = cfg.train_images if split == "train" else cfg.eval_images
        load_kwargs.setdefault("limit", limit)
        if input_name == "rgb":
            load_kwargs.setdefault("output", "rgb")
        else:
            load_kwargs.setdefault("with_label", "label" in keys)
        return data.load(cfg.dataset, split, cfg.image_size, cfg.batch_size, seed=seed,
                         **load_kwargs)

    def targets(self, arm: Arm, dataset):
        """``dataset`` with the targets the model of ``arm`` trains on (its outputs, the
        regression head's chroma in the arm's ``space``); None stays None."""
        keys, _ = compiling.model_outputs(arm.model, arm.kwargs)
        return compiling.targets_for(keys, dataset, space=arm.space)

    # ------------------------------------------------------------------ fit, load
    def train(self, arm: Arm, seed: int = 0, *, train_ds=None, val_ds=None,
              epochs: int | None = None) -> Trained:
        """Train ``arm`` with ``seed`` (or load its finished run).

        Parameters
        ----------
        arm : Arm
        seed : int
            Fixes the initial weights and the data order of a freshly loaded training split.
        train_ds : tf.data.Dataset, optional
            The training pipeline (default: :meth:`dataset`, loaded now).  Pass one to share
            it between arms (its shuffling then continues from arm to arm, as ``tf.data``
            reshuffles on every pass).
        val_ds : tf.data.Dataset, optional
            Validation batches (None: the best epoch is picked on the training loss).
        epochs : int, optional
            Default: the study's ``cfg.epochs``.
        """
        start = time.time()
        if train_ds is None:
            # The shuffle order of tf.data combines the pipeline's seed with TensorFlow's
            # global one: fix it first, so the order does not depend on earlier runs.
            devices.set_seed(seed)
            train_ds = self.dataset(arm, "train", seed)
        result = train.fit(lambda: self.build(arm), self.targets(arm, train_ds),
                           self.targets(arm, val_ds), run_dir=self.run_dir(arm, seed),
                           epochs=epochs or self.cfg.epochs, config=self.run_config(arm),
                           seed=seed, monitor=arm.monitor,
                           verbose=2 if self.verbose >= 2 else 0,
                           mixed_precision=self.mixed_precision)
        done = Trained(arm=arm.name, seed=seed, model=result.model, run_dir=result.run_dir,
                       seconds=time.time() - start, loaded=result.loaded,
                       history=result.history, metrics=result.metrics)
        if self.verbose:
            print(done.summary(), flush=True)
        return done

    def load(self, arm: Arm, seed: int = 0, epochs: int | None = None) -> Trained:
        """The finished run of ``arm`` and ``seed``, rebuilt and reloaded without any data.

        Raises
        ------
        FileNotFoundError
            If that run has not finished (train it with :meth:`train`).
        ValueError
            If the run folder holds another configuration.
        """
        start = time.time()
        epochs = epochs or self.cfg.epochs
        if not runs.is_finished(self.run_dir(arm, seed), epochs):
            raise FileNotFoundError(
                f"arm {arm.name!r} seed {seed} has no finished run of {epochs} epochs at "
                f"{self.run_dir(arm, seed)!r}; train it with study.train(arm, seed).")
        result = train.load_run(lambda: self.build(arm), self.run_dir(arm, seed),
                                config=self.run_config(arm), seed=seed, epochs=epochs)
        done = Trained(arm=arm.name, seed=seed, model=result.model, run_dir=result.run_dir,
                       seconds=time.time() - start, loaded=True, history=result.history,
                       metrics=result.metrics)
        if self.verbose:
            print(done.summary(), flush=True)
        return done


class ClassificationStudy:
    """The study of chapters 02 and 03: U-Nets trained by regression or by classification.

    Runs are ``classification/<arm>/seed<seed>``; every arm shares one budget.

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
    verbose : {0, 1, 2}, mixed_precision : bool
        As in :class:`Study`.
    """

    def __init__(self, cfg: settings.Settings, bins, output_stride: int = 4,
                 learning_rate: float = 1e-3, run_eagerly: bool = False, verbose: int = 1,
                 mixed_precision: bool = False):
        self.cfg, self.bins = cfg, np.asarray(bins)
        self.output_stride, self.learning_rate = output_stride, learning_rate
        self.study = Study(cfg, run_name="classification/{arm}/seed{seed}",
                           run_eagerly=run_eagerly, verbose=verbose,
                           mixed_precision=mixed_precision, config=dict(
                               chapters="02-03", model="unet", width=cfg.width,
                               output_stride=output_stride, image_size=cfg.image_size,
                               epochs=cfg.epochs, train_images=cfg.train_images,
                               dataset=cfg.dataset, optimizer="adam",
                               learning_rate=learning_rate, num_bins=len(self.bins)))

    def run_dir(self, arm: str, seed: int) -> str:
        """The run folder of one arm and seed: ``classification/<arm>/seed<seed>``."""
        return self.study.run_dir(arm, seed)

    def arm(self, arm: str, head: str, space: str = "lab", weights=None,
            lam: float | None = None) -> Arm:
        """The :class:`Arm` of a U-Net with a ``head`` ("regression" in ``space``: lab, yuv
        or hsv; or "classification" over the bins, rebalanced by ``weights``; ``lam`` is
        recorded in the configuration)."""
        if head not in ("regression", "classification"):
            raise ValueError(f"head={head!r}: use 'regression' or 'classification'")
        if head == "classification" and space != "lab":
            raise ValueError(f"space={space!r}: the classification head predicts Lab ab bins")
        num_bins = len(self.bins) if head == "classification" else None
        description = dict(arm=arm, head=head, space=space, lam=lam,
                           hue_seam=losses.HUE_SEAM if space == "hsv" else None)
        return Arm(arm, "unet", dict(head=head, num_bins=num_bins, width=self.cfg.width,
                                     output_stride=self.output_stride),
                   learning_rate=self.learning_rate, space=space,
                   weights=weights if head == "classification" else None,
                   config=description)

    def config(self, arm: str, head: str, space: str = "lab", lam: float | None = None) -> dict:
        """Everything that defines a run of the study (what ``train.fit`` compares)."""
        return self.study.run_config(self.arm(arm, head, space, lam=lam))

    def train(self, arm: str, head: str, seed: int, val_ds=None, *, space: str = "lab",
              weights=None, lam: float | None = None) -> Trained:
        """Train (or load, if finished) one arm and seed; see :meth:`arm` and
        :meth:`Study.train`."""
        return self.study.train(self.arm(arm, head, space, weights, lam), seed, val_ds=val_ds)


def classification_arm_name(lam: float | None) -> str:
    """The arm name of a classifier rebalanced with ``lam`` in chapters 02-03:
    ``classification`` (``lam`` 1 or None: no rebalancing) or ``classification_lam<lam>``."""
    return "classification" if lam in (None, 1, 1.0) else f"classification_lam{lam:g}"


def training_prior(cfg: settings.Settings, bins, **kwargs):
    """The empirical ab prior of the study's training split (``quantize.empirical_prior``),
    counted on the photos as stored (centre crops, no augmentation, fixed order), so that it
    is the same in every chapter and every process; ``kwargs`` go to ``empirical_prior``
    (``return_counts=True`` adds the raw counts and the number of photos)."""
    ds = data.load(cfg.dataset, "train", cfg.image_size, 256, limit=cfg.train_images,
                   shuffle=False, augment=False)
    return quantize.empirical_prior(ds, bins, **kwargs)


def train_best(cfg: settings.Settings, seed: int = 0, *, val_ds=None, prior=None,
               verbose: int = 1, mixed_precision: bool = False,
               lam: float = BEST_LAMBDA) -> Trained:
    """Train (or load) the book's best colorizer: the classifier of chapters 02-03 rebalanced
    with ``lam`` (default :data:`BEST_LAMBDA`: the same run folder and configuration as
    chapter 03's arm; the photo recipe passes its own).

    Parameters
    ----------
    cfg : Settings
        Resolved with :data:`CLASSIFICATION_PRESETS` (``settings.resolve_chapter``) to share
        chapter 03's runs.
    prior : array [Q], optional
        The empirical ab prior of the training split (default: computed here).
    mixed_precision : bool
        ``mixed_float16`` on a GPU (the full-scale recipe, :mod:`colorutils.recipes`).

    Decode its output with :data:`BEST_TEMPERATURE` and :data:`BEST_SMOOTH_SIGMA`
    (``inference.predict_ab(model, l, temperature=..., smooth_sigma=...)``).
    """
    bins = quantize.ab_bins()
    if prior is None:
        prior = training_prior(cfg, bins)
    study = ClassificationStudy(cfg, bins, run_eagerly=cfg.scale == "smoke", verbose=verbose,
                                mixed_precision=mixed_precision)
    return study.train(classification_arm_name(lam), "classification", seed, val_ds,
                       weights=quantize.rebalance_weights(prior, lam), lam=lam)
