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
    classifier rebalanced with :data:`~colorutils.studies.BEST_LAMBDA`, or with
    :data:`PHOTO_LAMBDA` for the photo recipe) at a scale, in mixed
    precision on a GPU, then a short report (:func:`report_lines`, ``report.json`` in the run
    folder): epochs, training images per second, and the quality benchmark's three figures of
    the model against the gray image on the test split, with the goal
    (:func:`colorutils.evaluation.quality_figures`, decoded at
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

import math
import os
import subprocess
import sys
import time
from typing import Any

from colorutils import (
    compiling,
    data,
    evaluation,
    models,
    quantize,
    runs,
    settings,
    shipped,
    sources,
    studies,
    train,
)
from colorutils.errors import RunConflictError, UserError, first_line

__all__ = ["RECIPES", "PHOTO_PRESETS", "PHOTO_LAMBDA", "PHOTO_TEMPERATURES", "COLOUR_CHECK_IMAGES", "model_arm",
           "warn_if_gray", "train_model", "best_recipe", "choose_temperature", "export_colorizer",
           "report_lines"]

#: The recipes of ``colorutils train --recipe``: the book's best colorizer at chapter 03's
#: budget, and the same model at the photo recipe's (:data:`PHOTO_PRESETS`).
RECIPES = ("best", "photo")
#: The photo recipe (issue 25, benchmarks/README.md): the rebalanced U-Net classifier of
#: chapters 02-03 on real photos, sized by measurement on 2 CPU cores so that ``book`` (the
#: shipped model, ``make photo-model``) trains on caltech101's 6,567 training photos within 45
#: minutes: 64 px and width 0.25, 2.4-6x faster than 96 or 128 px or width 0.5; 15 epochs,
#: because 25 lowered the validation loss but cost 0.9 dB of validation PSNR and 0.01 AuC
#: (more saturated colours, ratio 1.04 at its best T); ``full`` is the Colab GPU setting.
PHOTO_PRESETS = {
    "smoke": dict(image_size=32, batch_size=16, epochs=1, width=0.125, train_images=32,
                  eval_images=16, seeds=(0,)),
    "book": dict(image_size=64, batch_size=32, epochs=15, width=0.25, train_images=None,
                 eval_images=None, seeds=(0,)),
    "full": dict(image_size=224, batch_size=64, epochs=30, width=0.5, train_images=None,
                 eval_images=None, seeds=(0,)),
}
#: The photo recipe's rebalancing lambda, chosen on caltech101's validation split among 0.7,
#: 0.8 and 0.9 (15 epochs each, every T of :data:`PHOTO_TEMPERATURES`) by chapter 03's rule
#: (:func:`colorutils.evaluation.choose_recipe`; table in benchmarks/README.md): 0.9 meets
#: all three parts of the goal at T = 0.25-0.58 with 0.2-0.3 dB of PSNR paid, where 0.8 pays
#: 0.7 dB and 0.7 misses AuC.  Milder than the CIFAR recipe's: 64 px photos of varied scenes
#: carry more colour evidence per pixel than 32 px thumbnails.
PHOTO_LAMBDA = 0.9
#: The temperatures the photo recipe decodes its validation split at to choose its own
#: (:func:`choose_temperature`; from the plain mean to near the mode).
PHOTO_TEMPERATURES = (1.0, 0.58, 0.38, 0.25, 0.15)
_DATA_ERRORS = (ValueError, FileNotFoundError, KeyError)
#: What the command line advises for a run folder of another configuration.
_NEW_RUN = "Use another --run-dir, or delete that folder to train anew."
#: Training photos looked at for colour before a run trains (:func:`warn_if_gray`).
COLOUR_CHECK_IMAGES = 64


def _resolve(resolver, *args, **kwargs) -> settings.Settings:
    try:
        return resolver(*args, **kwargs)
    except ValueError as err:
        raise UserError(first_line(err)) from None


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
    table = compiling.MODEL_HEADS[name]
    heads = table.colour
    if head is not None and head not in heads:
        has = f"only a {heads[0]} head" if heads else "no colorization head (a classifier)"
        raise UserError(f"--head {head}: {name} has {has}; drop --head or pick another model.")
    head = head or (heads[0] if heads else None)
    if lam != 1 and head != "classification":
        raise UserError(f"--lambda {lam:g} rebalances a classification head, and {name} "
                        f"{'has a ' + head + ' head' if head else 'is a classifier'}; drop "
                        "--lambda (or use --head classification).")
    kwargs: dict[str, Any] = {"width": cfg.width}
    if not heads:
        kwargs["num_classes"] = _num_classes(cfg.dataset)
    elif "classification" in heads:  # every builder with a classification head takes num_bins
        kwargs["num_bins"] = len(quantize.ab_bins()) if head == "classification" else None
    if table.chooses_by == "head":
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
    except RunConflictError as err:  # train.fit refusing the run folder
        raise UserError(str(RunConflictError(err.run_dir, err.diffs, _NEW_RUN))) from None
    except _DATA_ERRORS as err:
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
        raise UserError(str(RunConflictError(run_dir, diffs, _NEW_RUN)))
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


def best_recipe(dataset: str, *, recipe: str = "best", scale: str = "full", seed: int = 0,
                run_root: str | None = None, mixed_precision: bool = True, verbose: int = 1,
                **knobs) -> dict:
    """Train (or load) the book's best colorizer on ``dataset`` and report on it.

    Parameters
    ----------
    dataset : str
        A named source: ``tfds:NAME`` on Colab (e.g. ``tfds:imagenette/160px``), a
        ``folder:PATH`` elsewhere.
    recipe : {"best", "photo"}
        ``best``: chapter 03's budget (:data:`colorutils.studies.CLASSIFICATION_PRESETS`),
        decoded at :data:`~colorutils.studies.BEST_TEMPERATURE`; ``photo``: the photo
        recipe's (:data:`PHOTO_PRESETS`), its temperature chosen on the validation split
        (:func:`choose_temperature`).
    scale : {"smoke", "book", "full"}
        The budget (the recipe's presets over the scale's,
        :func:`colorutils.settings.resolve_chapter`); ``full`` is for a GPU.
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
    if recipe not in RECIPES:
        raise UserError(f"--recipe {recipe!r} is not a recipe; use one of {', '.join(RECIPES)}.")
    presets = PHOTO_PRESETS if recipe == "photo" else studies.CLASSIFICATION_PRESETS
    dataset = _data_call(data.canonical_source, dataset, source=dataset)
    cfg = _resolve(settings.resolve_chapter, scale, presets, dataset=dataset,
                   run_root=run_root, **knobs)

    def split(name: str, batch_size: int):
        return data.load(cfg.dataset, name, cfg.image_size, batch_size, limit=cfg.eval_images)

    try:  # the validation split picks the best epoch, as in chapter 03
        val_ds = split("validation", cfg.batch_size)
    except _DATA_ERRORS:  # a source without one: the training loss picks it
        val_ds = None
    lam = PHOTO_LAMBDA if recipe == "photo" else studies.BEST_LAMBDA
    run = _data_call(studies.train_best, cfg, seed, val_ds=val_ds, verbose=verbose, lam=lam,
                     mixed_precision=mixed_precision, source=dataset)
    temperature, sweep = studies.BEST_TEMPERATURE, None
    if recipe == "photo" and val_ds is not None:
        temperature, sweep = choose_temperature(run.model, *data.to_arrays(val_ds)[:2])
    l_test, ab_test = _data_call(lambda: data.to_arrays(split("test", 64))[:2], source=dataset)
    figures = evaluation.quality_figures(run.model, l_test, ab_test, temperature=temperature,
                                      smooth_sigma=studies.BEST_SMOOTH_SIGMA)
    goal = figures.pop("goal")
    report = dict(recipe=recipe, dataset=cfg.dataset, scale=cfg.scale, seed=seed,
                  image_size=cfg.image_size, width=cfg.width, run_dir=run.run_dir,
                  trained_now=not run.loaded, **_speed(run, cfg), test_images=len(l_test),
                  split_sizes=_split_sizes(cfg.dataset),
                  decoding=dict(temperature=temperature,
                                smooth_sigma=studies.BEST_SMOOTH_SIGMA),
                  rebalancing_lambda=lam, quality=figures,
                  goal={**goal.as_dict(), "sentence": goal.sentence()},
                  validation_temperatures=sweep, seconds_total=round(time.time() - start, 1))
    report["report_path"] = os.path.join(run.run_dir, runs.REPORT_FILE)
    runs.write_json_atomic(report["report_path"], report)
    return report


def _split_sizes(source: str) -> dict | None:
    try:
        return dict(data.info(source).split_sizes)
    except _DATA_ERRORS:
        return None


def choose_temperature(model, l_norm, ab_true, temperatures=PHOTO_TEMPERATURES):
    """The decoding temperature of ``model`` chosen on held-out photos, and the sweep.

    Each temperature is scored by :func:`colorutils.evaluation.quality_figures` (no retraining:
    the annealed mean only reshapes the predicted distribution).  The choice: the most parts
    of the quality goal met (colourfulness ratio, PSNR against gray, AuC against gray), then
    the highest PSNR, so that the colour it adds is the colour it gets right most often.

    Returns
    -------
    (float, list of dict)
        The temperature and, per temperature, ``{"temperature", "colorfulness_ratio",
        "psnr", "auc", "gray_psnr", "gray_auc", "goals_met"}``.
    """
    sweep = []
    for t in temperatures:
        figures = evaluation.quality_figures(model, l_norm, ab_true, temperature=t,
                                          smooth_sigma=studies.BEST_SMOOTH_SIGMA)
        m, g = figures["model"], figures["gray"]
        sweep.append(dict(temperature=t, colorfulness_ratio=round(m["colorfulness_ratio"], 4),
                          psnr=round(m["psnr"], 4), auc=round(m["auc"], 4),
                          gray_psnr=round(g["psnr"], 4), gray_auc=round(g["auc"], 4),
                          goals_met=sum(figures["goal"].met.values())))
    best = max(sweep, key=lambda row: (row["goals_met"], row["psnr"]))
    return best["temperature"], sweep


def _git_commit() -> str | None:
    """The commit of the checkout this package runs from (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)), timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def export_colorizer(report: dict, path: str, *, credit: str | None = None) -> dict:
    """Write the model of a :func:`best_recipe` report as a shippable ``.keras`` file (no
    optimizer state) and its sidecar ``<name>.json``: what a colorizer needs to run it
    (``image_size``, ``head``, ``space``, ``grid_size``, ``temperature``, ``smooth_sigma``,
    ``lambda``) and its ``provenance`` (recipe, data set and split, commit, date, training
    time and speed, the quality figures of the report).  Returns the sidecar."""
    if not str(path).endswith(".keras"):
        raise UserError(f"--export {path!r} must name a .keras file (e.g. photo_unet.keras).")
    model = train.load_model(os.path.join(report["run_dir"], "best.keras"), compile=False)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    runs.save_model_atomic(model, str(path))
    shipped.make_portable(path)  # loadable by older Keras 3 releases too (Colab's)
    keep = ("recipe", "dataset", "scale", "seed", "width", "epochs", "images_per_epoch",
            "train_seconds", "images_per_s", "precision", "device", "test_images",
            "split_sizes", "quality", "goal", "validation_temperatures")
    provenance = {k: report.get(k) for k in keep}
    kind, _, where = str(report["dataset"]).partition(":")
    if kind == "folder":  # the folder's name, not a path of the machine it was trained on
        provenance["dataset"] = f"folder:{os.path.basename(os.path.normpath(where))}"
    provenance.update(split_rule=_split_rule(), credit=credit, commit=_git_commit(),
                      date=time.strftime("%Y-%m-%d", time.gmtime()),
                      parameters=int(model.count_params()))
    sidecar = dict(image_size=report["image_size"], head="classification", space="lab",
                   grid_size=quantize.GRID_SIZE, temperature=report["decoding"]["temperature"],
                   smooth_sigma=report["decoding"]["smooth_sigma"],
                   **{"lambda": report["rebalancing_lambda"]}, provenance=provenance)
    runs.write_json_atomic(f"{path[:-len('.keras')]}.json", sidecar)
    return sidecar


def _split_rule() -> str:
    parts = ", ".join(f"{k} {lo}-{hi - 1}" for k, (lo, hi) in
                      sources.DERIVED_SPLIT_PERCENT.items())
    return (f"md5 of each file's class/name, modulo 100: {parts} "
            "(colorutils.sources.list_folder)")


def _figure(value, digits: int) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def report_lines(report: dict) -> list[str]:
    """The few lines ``colorutils train --recipe`` prints about a :func:`best_recipe` run."""
    q, rate = report["quality"], report.get("images_per_s")
    speed = f"{rate:,.1f} training images/s" if rate else "training speed unknown"
    per_epoch = report.get("images_per_epoch")
    how = "trained" if report.get("trained_now") else "loaded (finished earlier)"
    epochs = f"{report['epochs']} epoch{'s' if report['epochs'] != 1 else ''}"
    lines = [f"{report.get('recipe', 'best')} recipe, {report['dataset']} at "
             f"{report['scale']} scale: {how}, "
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
