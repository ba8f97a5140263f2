"""Training without a notebook: any model of the zoo, and the book's full-scale recipe.

Both are what ``colorutils train`` runs (:mod:`colorutils.cli` checks the arguments first),
and both are built on :class:`colorutils.studies.Study`, so their run folders follow the rules
of every chapter (:mod:`colorutils.train`): the same command again continues an interrupted
run, a finished run is loaded instead of retrained, asking for more epochs continues it, and a
run folder of another configuration is refused.

:func:`train_model`
    a model of the zoo by name (:data:`colorutils.models.BUILDERS`) on any source, at the
    presets of a scale (:func:`colorutils.settings.resolve`) or the sizes given.  A
    classification head can be rebalanced: ``lam < 1`` weights the loss by
    :func:`colorutils.quantize.rebalance_weights` of the training split's colour prior
    (:func:`colorutils.studies.training_prior`; Zhang et al. 2016, eq. 4); ``lam = 1`` is the
    plain cross-entropy.  The run folder is ``train/<model>_<head>_<size>px_w<width>[...]/seed<k>``
    under ``<runs root>/<scale>/<dataset>/``, so another size or width gets its own folder.
:func:`best_recipe`
    the book's best colorizer (:func:`colorutils.studies.train_best`: chapter 03's U-Net
    classifier rebalanced with :data:`~colorutils.studies.BEST_LAMBDA`) at a scale, in mixed
    precision on a GPU, then a short report (:func:`report_lines`, ``report.json`` in the run
    folder): epochs, training images per second, and the quality benchmark's three figures of
    the model against the gray image on the test split, with the goal
    (:func:`colorutils.quality.quality_figures`, decoded at
    :data:`~colorutils.studies.BEST_TEMPERATURE` with :data:`~colorutils.studies.BEST_SMOOTH_SIGMA`).

Errors caused by the input (an unknown model, a head the model lacks, a source that cannot
be read, a run folder of another configuration) are :class:`colorutils.errors.UserError`.

Examples
--------
>>> run = train_model("folder:photos", "unet", scale="smoke", image_size=32)  # doctest: +SKIP
>>> report = best_recipe("tfds:imagenette/160px", scale="full")               # doctest: +SKIP
>>> print("\\n".join(report_lines(report)))                                  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from typing import Any

from colorutils import data, models, quality, quantize, runs, settings, studies
from colorutils.errors import UserError, first_line

__all__ = ["HEADS", "RECIPES", "COLOUR_CHECK_IMAGES", "model_arm", "warn_if_gray",
           "train_model", "best_recipe", "report_lines"]

#: The heads ``colorutils train --head`` chooses between (where the model has both).
HEADS = ("classification", "regression")
#: The recipes of ``colorutils train --recipe``.
RECIPES = ("best",)
_DATA_ERRORS = (ValueError, FileNotFoundError, KeyError)
#: Training photos looked at for colour before a run trains (:func:`warn_if_gray`).
COLOUR_CHECK_IMAGES = 64


def _resolve(resolver, *args, **kwargs) -> settings.Settings:
    try:
        return resolver(*args, **kwargs)
    except ValueError as err:
        raise UserError(first_line(err)) from None


def _heads_of(name: str) -> tuple[dict, tuple[str, ...]]:
    """The builder's parameters and the heads it can have (none: an image classifier)."""
    params = inspect.signature(models.BUILDERS[name]).parameters
    if "num_classes" in params and params["num_classes"].default is inspect.Parameter.empty:
        return params, ()
    if "num_bins" not in params:
        return params, ("regression",)
    if params["num_bins"].default is inspect.Parameter.empty:
        return params, ("classification",)
    return params, HEADS


def model_arm(name: str, cfg: settings.Settings, *, head: str | None = None,
              lam: float = 1.0) -> studies.Arm:
    """The :class:`~colorutils.studies.Arm` of zoo model ``name`` at the settings' width.

    ``head`` picks the classification (``Q`` logits over the ab bins) or the regression head
    where the builder has both (default: classification where possible); an image
    classifier (``rgb_classifier``, ``fusion_classifier``) gets the source's classes.
    ``lam < 1`` rebalances a classification head (the prior is counted on the training
    split first).

    Raises
    ------
    UserError
        An unknown model, a head it lacks, ``lam`` for a model without a classification head.
    """
    if name not in models.BUILDERS:
        raise UserError(f"--model {name!r} is not a model of the zoo; use one of "
                        f"{', '.join(models.BUILDERS)}.")
    params, heads = _heads_of(name)
    if head is not None and head not in heads:
        has = f"only a {heads[0]} head" if heads else "no colorization head (a classifier)"
        raise UserError(f"--head {head}: {name} has {has}; drop --head or pick another model.")
    head = head or (heads[0] if heads else None)
    if lam != 1 and head != "classification":
        raise UserError(f"--lambda {lam:g} rebalances a classification head, and {name} "
                        f"{'has a ' + head + ' head' if head else 'is a classifier'}; drop "
                        "--lambda (or use --head classification).")
    kwargs: dict[str, Any] = {"width": cfg.width} if "width" in params else {}
    if not heads:
        kwargs["num_classes"] = _num_classes(cfg.dataset)
    elif "num_bins" in params:
        kwargs["num_bins"] = len(quantize.ab_bins()) if head == "classification" else None
    if "head" in params and head:
        kwargs["head"] = head
    weights = None
    if head == "classification" and lam != 1:
        prior = _data_call(studies.training_prior, cfg, quantize.ab_bins(), source=cfg.dataset)
        weights = quantize.rebalance_weights(prior, lam)
    arm_name = name + (f"_{head}" if head else "") + (f"_lam{lam:g}" if lam != 1 else "")
    return studies.Arm(arm_name, name, kwargs, weights=weights)


def _num_classes(source: str) -> int:
    names = _data_call(data.info, source, source=source).class_names
    if len(names) < 2:
        raise UserError(f"--dataset {source!r} has {len(names)} class; an image classifier "
                        "needs a labelled source (a class/file folder, cifar10, sample).")
    return len(names)


def _data_call(func, *args, source: str, **kwargs):
    """``func(*args, **kwargs)``, a data error turned into a one-line :class:`UserError`."""
    try:
        return func(*args, **kwargs)
    except UserError:
        raise
    except _DATA_ERRORS as err:
        if "another configuration" in str(err):  # train.fit refusing the run folder
            raise UserError(first_line(err).replace(
                "Use another run_dir, or force=True to discard the old run and train anew.",
                "Use another --runs-dir, or delete that folder to train anew.")) from None
        raise UserError(f"--dataset {source!r}: {first_line(err)}") from None


def _run_name(cfg: settings.Settings, run_dir: str | None):
    """The study's run name: the folder given, or one that names what differs between runs."""
    if run_dir is not None:
        return lambda arm, seed: os.path.abspath(os.path.expanduser(run_dir))
    extra = f"_n{cfg.train_images}" if cfg.train_images else ""
    return lambda arm, seed: (f"train/{arm}_{cfg.image_size}px_w{cfg.width:g}{extra}"
                              f"/seed{seed}")


def _validation(study: studies.Study, arm: studies.Arm, seed: int):
    """The validation split as ``arm`` sees it, or None where the source has none."""
    try:
        return study.dataset(arm, "validation", seed)
    except _DATA_ERRORS:
        return None


def warn_if_gray(cfg: settings.Settings) -> bool:
    """Say on stderr (and return True) when none of the first :data:`COLOUR_CHECK_IMAGES`
    training photos has colour: a colorizer trained on them can only learn gray."""
    ds = data.load(cfg.dataset, "train", cfg.image_size, COLOUR_CHECK_IMAGES, shuffle=False,
                   augment=False, limit=COLOUR_CHECK_IMAGES)
    seen = colourful = 0
    for _, targets in ds:
        chroma = abs(targets["ab"].numpy()).max(axis=(1, 2, 3))
        seen, colourful = seen + len(chroma), colourful + int((chroma > quantize.GRAY_THRESHOLD).sum())
    if seen and not colourful:
        print(f"warning: --dataset {cfg.dataset}: none of the first {seen} training photos has "
              f"colour (no pixel with |a| or |b| above {quantize.GRAY_THRESHOLD:g}); the model "
              "can only learn gray. Give colour photos.", file=sys.stderr, flush=True)
    return seen > 0 and not colourful


def _train(study: studies.Study, arm: studies.Arm, seed: int) -> studies.Trained:
    """:meth:`Study.train`, a run folder of another configuration refused first (before any
    data is read), in words for the command line."""
    run_dir = study.run_dir(arm, seed)
    if os.path.isfile(run_dir):
        raise UserError(f"--run-dir {run_dir!r} is a file; give a folder.")
    diffs = runs.conflicts(run_dir, study.run_config(arm), seed)
    if diffs:
        raise UserError(f"run folder {run_dir!r} belongs to another configuration; differing: "
                        f"{'; '.join(diffs)}. Use another --run-dir, or delete that folder to "
                        "train anew.")
    if not runs.is_finished(run_dir, study.cfg.epochs):
        warn_if_gray(study.cfg)
    return study.train(arm, seed, val_ds=_validation(study, arm, seed))


def train_model(dataset: str, model: str = "unet", *, scale: str = "book",
                head: str | None = None, lam: float = 1.0, seed: int = 0,
                run_dir: str | None = None, run_root: str | None = None,
                mixed_precision: bool = False, verbose: int = 1,
                **knobs) -> studies.Trained:
    """Train (or continue, or load) zoo model ``model`` on ``dataset``.

    Parameters
    ----------
    dataset : str
        Any source of :func:`colorutils.data.load` (``cifar10``, ``sample``, ``folder:PATH``,
        ``tfds:NAME``).
    model, head, lam
        See :func:`model_arm`.
    scale : {"smoke", "book", "full"}
        The presets of the knobs not given (:data:`colorutils.settings.PRESETS`).
    seed : int
        Initial weights and data order.
    run_dir : str, optional
        The run folder (default: under ``run_root``, see the module docstring).
    run_root : str, optional
        Default :func:`colorutils.runs.default_root` (``$COLORBOOK_RUNS`` or ``runs``).
    mixed_precision : bool
        ``mixed_float16`` on a GPU.
    **knobs
        ``image_size``, ``epochs``, ``batch_size``, ``width``, ``train_images``,
        ``eval_images`` (None: the scale's preset).

    Returns
    -------
    colorutils.studies.Trained
        The model of the best epoch, its run folder, history and metrics.
    """
    dataset = _data_call(data.canonical_source, dataset, source=dataset)  # a folder: its path
    cfg = _resolve(settings.resolve, scale, dataset, run_root=run_root, **knobs)
    arm = model_arm(model, cfg, head=head, lam=lam)
    study = studies.Study(cfg, run_name=_run_name(cfg, run_dir), verbose=verbose,
                          config={"command": "colorutils train", "lambda": lam},
                          mixed_precision=mixed_precision,
                          run_eagerly=cfg.scale == "smoke")  # a few steps: tracing costs more
    return _data_call(_train, study, arm, seed, source=dataset)


# --------------------------------------------------------------------------- the best recipe


def _images_per_epoch(cfg: settings.Settings) -> int | None:
    try:
        n = data.info(cfg.dataset).split_sizes.get("train")
    except _DATA_ERRORS:
        n = None
    if n is None:
        return cfg.train_images
    return min(n, cfg.train_images) if cfg.train_images else n


def _speed(run: studies.Trained, cfg: settings.Settings) -> dict:
    """Epochs, images per epoch and training images/s of the run: its training steps only
    (not validation); the first epoch's graph tracing is counted, so short runs understate
    the steady rate."""
    history = run.history
    epochs = len(history.get("epoch", []))
    steps = [t if t is not None else s for t, s in
             zip(history.get("train_seconds") or [None] * epochs, history.get("seconds", []),
                 strict=False)]
    seconds = float(sum(t for t in steps if t is not None))
    per_epoch = _images_per_epoch(cfg)
    rate = per_epoch * epochs / seconds if per_epoch and seconds > 0 else None
    return dict(epochs=epochs, images_per_epoch=per_epoch, train_seconds=round(seconds, 3),
                epoch_seconds=round(float(run.metrics.get("train_seconds_total") or 0.0), 3),
                images_per_s=None if rate is None else round(rate, 2),
                precision=run.metrics.get("precision"), device=run.metrics.get("strategy"))


def best_recipe(dataset: str, *, scale: str = "full", seed: int = 0,
                run_root: str | None = None, mixed_precision: bool = True, verbose: int = 1,
                **knobs) -> dict:
    """Train (or load) the book's best colorizer on ``dataset`` and report on it.

    Parameters
    ----------
    dataset : str
        A named source: ``tfds:NAME`` on Colab (e.g. ``tfds:imagenette/160px``), a
        ``folder:PATH`` elsewhere.
    scale : {"smoke", "book", "full"}
        The budget (:data:`colorutils.studies.CLASSIFICATION_PRESETS` over the scale's
        presets, :func:`colorutils.settings.resolve_chapter`); ``full`` is for a GPU.
    mixed_precision : bool
        ``mixed_float16`` on a GPU (ignored, with a note, on a CPU).
    **knobs
        Overrides: ``epochs``, ``train_images``, ``eval_images``, ``image_size``, ``width``,
        ``batch_size`` (e.g. a quick CPU check of the full-scale code path).

    Returns
    -------
    dict
        The report, also written as ``report.json`` in the run folder (``report_path``).
    """
    start = time.time()
    dataset = _data_call(data.canonical_source, dataset, source=dataset)
    cfg = _resolve(settings.resolve_chapter, scale, studies.CLASSIFICATION_PRESETS,
                   dataset=dataset, run_root=run_root, **knobs)

    def split(name: str, batch_size: int):
        return data.load(cfg.dataset, name, cfg.image_size, batch_size, limit=cfg.eval_images)

    try:  # the validation split picks the best epoch, as in chapter 03
        val_ds = split("validation", cfg.batch_size)
    except _DATA_ERRORS:  # a source without one: the training loss picks it
        val_ds = None
    run = _data_call(studies.train_best, cfg, seed, val_ds=val_ds, verbose=verbose,
                     mixed_precision=mixed_precision, source=dataset)
    l_test, ab_test = _data_call(lambda: data.to_arrays(split("test", 64))[:2], source=dataset)
    figures = quality.quality_figures(run.model, l_test, ab_test,
                                      temperature=studies.BEST_TEMPERATURE,
                                      smooth_sigma=studies.BEST_SMOOTH_SIGMA)
    goal = figures.pop("goal")
    report = dict(recipe="best", dataset=cfg.dataset, scale=cfg.scale, seed=seed,
                  image_size=cfg.image_size, width=cfg.width, run_dir=run.run_dir,
                  trained_now=not run.loaded, **_speed(run, cfg), test_images=len(l_test),
                  decoding=dict(temperature=studies.BEST_TEMPERATURE,
                                smooth_sigma=studies.BEST_SMOOTH_SIGMA),
                  rebalancing_lambda=studies.BEST_LAMBDA, quality=figures,
                  goal={**goal.as_dict(), "sentence": goal.sentence()},
                  seconds_total=round(time.time() - start, 1))
    report["report_path"] = os.path.join(run.run_dir, runs.REPORT_FILE)
    runs.write_json_atomic(report["report_path"], report)
    return report


def _figure(value, digits: int) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def report_lines(report: dict) -> list[str]:
    """The few lines ``colorutils train --recipe`` prints about a :func:`best_recipe` run."""
    q, rate = report["quality"], report.get("images_per_s")
    speed = f"{rate:,.1f} training images/s" if rate else "training speed unknown"
    per_epoch = report.get("images_per_epoch")
    how = "trained" if report.get("trained_now") else "loaded (finished earlier)"
    epochs = f"{report['epochs']} epoch{'s' if report['epochs'] != 1 else ''}"
    lines = [f"best recipe, {report['dataset']} at {report['scale']} scale: {how}, "
             f"{epochs} of {per_epoch or '?'} images at "
             f"{report['image_size']} px, {speed} ({report.get('precision')}, "
             f"{report.get('device')})"]
    lines.append(f"quality on {report['test_images']} test images (model | gray): "
                 f"PSNR {_figure(q['model']['psnr'], 2)} | {_figure(q['gray']['psnr'], 2)} dB, "
                 f"AuC {_figure(q['model']['auc'], 3)} | {_figure(q['gray']['auc'], 3)}, "
                 f"colourfulness ratio {_figure(q['model']['colorfulness_ratio'], 2)} | "
                 f"{_figure(q['gray']['colorfulness_ratio'], 2)}")
    lines.append(f"goal: {report['goal']['sentence']}")
    lines.append(f"report: {report['report_path']} ({report['seconds_total']:.0f} s in all)")
    return lines
