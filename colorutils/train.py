"""Training that survives Colab: one run folder per run, resume, finished runs reused.

Every chapter trains through :func:`fit`, which owns one **run folder** (its layout, and the
atomic writes that keep it whole when a session dies, are :mod:`colorutils.runs`).  In steps:

1. **claim** the folder: write ``config.json``, or refuse a folder of another configuration
   (:func:`colorutils.runs.claim`);
2. **build** the model: set the precision policy, pick the strategy, fix the seed, call
   ``model_fn`` inside ``strategy.scope()`` (:mod:`colorutils.devices`);
3. a **finished** run (``metrics.json`` with at least ``epochs`` epochs) is loaded, not
   retrained, unless ``force=True``;
4. otherwise **train** the missing epochs: after every epoch the run-folder callback writes
   ``history.json``, ``last.keras`` and, if better, ``best.keras``, then commits the resume
   state (weights, optimizer state, history) in ``backup/`` (:mod:`colorutils.checkpoints`);
5. **finish**: write ``metrics.json`` (the completion marker) and load the best epoch.

The folder is locked while it trains (:func:`colorutils.runs.locked`: a second training there
is refused, a read-only folder too, before any work), and the free space is checked before
every epoch's checkpoints are written.  A full disk, a write error or Ctrl-C ends the call with
one sentence saying which epochs are saved (:class:`Interrupted` for Ctrl-C).

Resuming
--------
Calling :func:`fit` again on the same folder continues from the last committed epoch, with the
history committed with it, so every epoch appears exactly once; a damaged state falls back to
the one before (:func:`colorutils.checkpoints.restore`).  An epoch interrupted midway is
trained again from its start.  Asking for more epochs than a finished run has continues it.
The data of epoch ``k`` depend only on the pipeline's seed and ``k``
(:func:`colorutils.data.set_epoch`, called before every epoch), so a resumed run sees exactly
the batches the uninterrupted run would have seen: its losses are the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import textwrap
import time
import warnings
import zipfile
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

import colorutils

# losses and models are imported for their side effect too: they register the book's Keras
# classes (losses, layers), which load_model needs to restore a compiled model.
from colorutils import checkpoints, data, devices, files, losses, models, progress, runs  # noqa: F401
from colorutils.errors import UserError, first_line

__all__ = ["fit", "FitResult", "load_run", "load_model", "ProgressCallback", "Interrupted",
           "cost_line"]

#: What this process trained and loaded, one entry per :func:`fit` / :func:`load_run` call:
#: ``{"run_dir", "trained": bool, "epochs", "steps", "train_seconds"}``
#: (what :func:`cost_line` sums up at the end of a chapter).
_LEDGER: list[dict] = []

class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`; the message says which epochs are saved."""


# --------------------------------------------------------------------------- callbacks


class ProgressCallback(keras.callbacks.Callback):
    """Training progress as one line on stderr, updated in place (:func:`colorutils.progress.bar`).

    ``epoch k/N``, the bar over every step of the run, the running loss (and the last
    validation loss), elapsed time and time left.  A resumed run starts the bar at the epoch
    it resumes from, so the time left counts only what remains.  When the number of steps
    per epoch is unknown (a filtered dataset) the bar counts epochs.

    Parameters
    ----------
    show : bool, optional
        Override :func:`colorutils.progress.enabled` (shown on a terminal only).
    """

    def __init__(self, show: bool | None = None):
        super().__init__()
        self.show = show
        self.bar = None
        self._epoch = 0
        self._val = ""

    def _open(self, epoch: int) -> None:
        epochs, steps = self.params.get("epochs") or 1, self.params.get("steps")
        total, done = (epochs * steps, epoch * steps) if steps else (epochs, epoch)
        self.bar = progress.bar(total=total, initial=done, unit="step" if steps else "epoch",
                                desc=f"epoch {epoch + 1}/{epochs}", show=self.show, leave=True)
        self.bar.unpause()  # time left counts from here, not from the bar's creation

    def on_epoch_begin(self, epoch, logs=None):
        if self.bar is None:
            self._open(epoch)
        self._epoch = epoch
        self.bar.set_description_str(f"epoch {epoch + 1}/{self.params.get('epochs')}",
                                     refresh=False)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        shown = f"loss {float(loss):.4g}" if loss is not None else ""
        if not self.params.get("steps"):
            shown = f"batch {batch + 1} {shown}"
        self.bar.set_postfix_str(f"{shown}{self._val}", refresh=False)
        if self.params.get("steps"):
            self.bar.update(1)
        else:
            self.bar.refresh()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if logs.get("val_loss") is not None:
            self._val = f", val_loss {float(logs['val_loss']):.4g}"
        if not self.params.get("steps"):
            self.bar.update(1)
        loss = logs.get("loss")
        self.bar.set_postfix_str((f"loss {float(loss):.4g}" if loss is not None else "")
                                 + self._val)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# --------------------------------------------------------------------------- fit


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : keras.Model
        The model of the best epoch (by ``monitor``), compiled by ``model_fn``.
    history : dict
        ``{"epoch": [1, 2, ...], "loss": [...], "val_loss": [...], "seconds": [...]}``, every
        epoch of the run exactly once (also those trained by earlier, interrupted calls).
    run_dir : str
    resumed : bool
        True if the run folder already held progress: this call continued an interrupted (or
        shorter) run, or loaded a finished one (then ``trained_epochs == 0``, see ``loaded``).
    trained_epochs : int
        Epochs trained by *this* call (0 for a finished run loaded from disk).
    metrics : dict
        The content of ``metrics.json``.
    """

    model: Any
    history: dict
    run_dir: str
    resumed: bool
    trained_epochs: int
    metrics: dict

    @property
    def loaded(self) -> bool:
        """True if the run had finished before and was loaded, not trained."""
        return self.resumed and self.trained_epochs == 0

    @property
    def epochs(self) -> int:
        return len(self.history.get("epoch", []))


def _resolve_verbose(verbose) -> int:
    """``"auto"``: the Keras progress bar (1) in a terminal or notebook, else summaries only (2)."""
    if verbose != "auto":
        return int(verbose)
    interactive = sys.stdout.isatty() or "ipykernel" in sys.modules
    return 1 if interactive else 2


def _resolve_monitor(monitor: str, mode: str, has_validation: bool) -> tuple[str, str]:
    """Without validation data a ``val_`` monitor falls back to the training metric; ``auto``
    mode is max for accuracies and AuCs, else min."""
    if not has_validation and monitor.startswith("val_"):
        monitor = monitor[len("val_"):]
    if mode == "auto":
        mode = "max" if ("acc" in monitor or "auc" in monitor) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode={mode!r}: use 'min', 'max' or 'auto'.")
    return monitor, mode


def _build(model_fn, *, seed: int, strategy, mixed_precision: bool, deterministic: bool,
           verbose: int):
    """Precision policy, strategy, seed, then ``model_fn()`` in the strategy's scope."""
    devices.set_mixed_precision(mixed_precision, verbose=verbose > 0)
    if strategy is None:
        strategy = devices.get_strategy(verbose=verbose > 0)
    devices.set_seed(seed, deterministic=deterministic)
    with strategy.scope():
        model = model_fn()
    if mixed_precision:
        devices.check_float32_outputs(model)
    return model, strategy


def _load_finished(model, run_dir: str, monitor: str, verbose: int,
                   epochs: int | None = None) -> FitResult:
    metrics = runs.read_metrics(run_dir)
    if epochs is not None and metrics.get("epochs", 0) > epochs:
        checkpoints.note(f"run {run_dir} finished {metrics['epochs']} epochs, more than the "
                         f"{epochs} asked for; loading all {metrics['epochs']} (for a run of "
                         f"{epochs}, use another run folder).")
    if verbose:
        print(f"Run {run_dir} finished ({metrics['epochs']} epochs, best {monitor} "
              f"{metrics.get('best')}); loading it instead of training "
              "(force=True retrains).", flush=True)
    checkpoints.load_best(model, run_dir)
    try:
        history = runs.read_history(run_dir)
    except ValueError as err:  # rebuilt from the resume state committed with the weights
        _, records = checkpoints.restore(model, run_dir, say=checkpoints.note)
        history = runs.history_from_records(records or [])
        checkpoints.note(f"{first_line(err)}; rebuilt from {runs.BACKUP_DIR}/.")
        checkpoints.load_best(model, run_dir)
    return FitResult(model=model, history=history, run_dir=run_dir,
                     resumed=True, trained_epochs=0, metrics=metrics)


def _final_metrics(records: list[dict], monitor: str, mode: str, strategy,
                   seconds: float) -> dict:
    """The content of ``metrics.json``: the best epoch, the last one, timings, the set-up."""
    scored = [r for r in records if r.get(monitor) is not None]
    best = (min if mode == "min" else max)(scored, key=lambda r: r[monitor]) if scored else None
    return {
        "complete": True,
        "epochs": len(records),
        "monitor": monitor,
        "mode": mode,
        "best": best[monitor] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "best_logs": best,
        "final_logs": records[-1] if records else None,
        "train_seconds_total": round(sum(r.get("seconds", 0.0) for r in records), 3),
        "train_seconds_this_call": round(seconds, 3),
        "strategy": devices.describe_strategy(strategy),
        "precision": keras.mixed_precision.global_policy().name,
    }


def _stopped(run_cb, what: str) -> str:
    """``"<what> in epoch N; epochs 1 to N-1 are saved in RUN; "`` (the committed ones); the
    history file is made to say the same."""
    done = run_cb.committed
    with contextlib.suppress(OSError):  # a full disk may refuse this too: resuming fixes it
        runs.write_history(run_cb.run_dir, [r for r in run_cb.records if r["epoch"] <= done])
    saved = (f"epochs 1 to {done} are saved" if done > 1 else
             "epoch 1 is saved" if done == 1 else "no epoch is saved yet")
    return f"{what} in epoch {done + 1}; {saved} in {run_cb.run_dir}; "


def _run_fit(model, train_ds, val_ds, run_cb, *, epochs: int, initial_epoch: int, callbacks,
             verbose: int, fit_kwargs: dict) -> None:
    """``model.fit``; Ctrl-C and write errors become one sentence saying what is saved."""
    with warnings.catch_warnings():
        # A dataset of unknown length (a folder source skips unreadable files) ends the first
        # epoch by running out, which is how a finite tf.data epoch ends: not worth a warning.
        warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)
        try:
            # The run-folder callback goes LAST: when it commits the state of epoch e,
            # everything else of epoch e is done.
            with checkpoints.CtrlC.deferred():  # honoured at a batch boundary, never lost
                model.fit(train_ds, validation_data=val_ds, epochs=epochs,
                          initial_epoch=initial_epoch, callbacks=[*callbacks, run_cb],
                          verbose=1 if verbose == 1 else 0,
                          **{"shuffle": False, **fit_kwargs})  # tf.data does the shuffling
        except KeyboardInterrupt:
            raise Interrupted(_stopped(run_cb, "stopped") + "run the same command to "
                              "continue.") from None
        except files.WriteError as err:
            raise UserError(_stopped(run_cb, f"cannot write {err.filename} ({err.strerror})")
                            + "free some space (or use another run folder), then run the "
                            "same command to continue.") from None
        finally:
            data.set_epoch(0)


def _train(model, train_ds, val_ds, *, run_dir: str, epochs: int, monitor: str, mode: str,
           strategy, jit_compile, callbacks, verbose: int, progress_bar: bool | None,
           fit_kwargs: dict) -> FitResult:
    """Train the epochs a run still lacks, write ``metrics.json``, return the best epoch."""
    if jit_compile is not None:
        model.jit_compile = bool(jit_compile)
        model.train_function = None  # rebuilt with the new setting
    done, records = checkpoints.resume(model, run_dir, epochs, verbose)
    run_cb = checkpoints.RunFolderCallback(run_dir, records, monitor, mode, epochs,
                               print_summary=verbose > 0)
    if progress_bar is None:
        progress_bar = progress.enabled() and verbose != 1  # 1: Keras' own bar instead
    if progress_bar:
        callbacks = [*callbacks, ProgressCallback(show=True)]
    need = checkpoints.CHECKPOINT_MARGIN * checkpoints.model_bytes(model) + (1 << 20)
    try:
        files.check_space(run_dir, need)
    except files.WriteError as err:
        raise UserError(f"run folder {run_dir}: {err.strerror} for the checkpoints; free "
                        "some space or use another run folder.") from None
    t0 = time.perf_counter()
    _run_fit(model, train_ds, val_ds, run_cb, epochs=epochs, initial_epoch=done,
             callbacks=callbacks, verbose=verbose, fit_kwargs=fit_kwargs)
    metrics = _final_metrics(run_cb.records, monitor, mode, strategy, time.perf_counter() - t0)
    _LEDGER.append(dict(run_dir=run_dir, trained=True, epochs=run_cb.epochs_trained,
                        steps=run_cb.steps_trained,
                        train_seconds=run_cb.train_seconds))
    runs.write_metrics(run_dir, metrics)
    checkpoints.load_best(model, run_dir)
    return FitResult(model=model, history=runs.history_from_records(run_cb.records),
                     run_dir=run_dir, resumed=done > 0,
                     trained_epochs=run_cb.epochs_trained, metrics=metrics)


def cost_line(batch_size: int | None = None, width: int | None = 88) -> str:
    """What this chapter cost, in one line: its wall time so far (since colorutils was first
    imported, :data:`colorutils.IMPORTED_AT`), the models it trained (epochs, images, images/s of the training steps alone)
    and the finished runs it loaded instead of training them.

    ``images = steps x batch_size`` (the last, smaller batch of an epoch counted as full:
    an overestimate of at most one batch per epoch); pass the chapter's ``cfg.batch_size``.
    The sentence is wrapped at ``width`` characters (None: one line), to fit a page.
    """
    wall = time.perf_counter() - colorutils.IMPORTED_AT
    trained = [e for e in _LEDGER if e["trained"]]
    loaded = len(_LEDGER) - len(trained)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    where = (f"{len(gpus)} GPU{'s' * (len(gpus) > 1)}" if gpus
             else f"{os.cpu_count()} CPU cores, no GPU")
    line = f"This chapter: {wall / 60:.1f} min on this machine ({where})"
    if trained:
        steps = sum(e["steps"] for e in trained)
        seconds = sum(e["train_seconds"] for e in trained)
        epochs = sum(e["epochs"] for e in trained)
        images = steps * int(batch_size) if batch_size else None
        line += (f"; trained {len(trained)} model{'s' * (len(trained) != 1)} ({epochs} epochs"
                 + (f", about {images:,} images" if images else f", {steps:,} steps")
                 + f") in {seconds / 60:.1f} min of training steps")
        if images and seconds > 0:
            line += f": {images / seconds:,.0f} images/s"
    else:
        line += "; trained nothing"
    if loaded:
        line += (f"; loaded {loaded} finished run{'s' * (loaded != 1)} instead of training "
                 f"{'them' if loaded != 1 else 'it'}")
    line += "."
    return textwrap.fill(line, width, break_on_hyphens=False) if width else line


def fit(model_fn: Callable[[], Any], train_ds, val_ds=None, *, run_dir: str, epochs: int,
        config: dict | None = None, seed: int = 0, force: bool = False,
        monitor: str = "val_loss", mode: str = "auto", jit_compile: bool | None = None,
        mixed_precision: bool = False, strategy=None, callbacks=(), verbose="auto",
        deterministic: bool = False, progress_bar: bool | None = None,
        **fit_kwargs) -> FitResult:
    """Train ``model_fn()`` for ``epochs`` epochs in ``run_dir``, resuming whatever is there.

    Parameters
    ----------
    model_fn : callable
        Builds **and compiles** the model; called inside ``strategy.scope()`` after the seed is
        set, so that the initial weights depend only on ``seed``.
    train_ds, val_ds : tf.data.Dataset
        Finite datasets of ``(inputs, targets)`` batches (``val_ds`` may be None; ``train_ds``
        is not read when the run has finished).
    run_dir : str
        The run folder (created if missing); on Colab a folder in Google Drive.
    epochs : int
        Total epochs of the run (not "more epochs").
    config : dict
        What defines the run (model name and knobs, dataset, image size, ...), JSON-able.
        Stored in ``config.json``; a folder holding another config is refused.
    seed : int
        Fixes Python, NumPy, TensorFlow and Keras randomness
        (:func:`colorutils.devices.set_seed`); pass the same seed to the data pipeline to fix
        the data order.
    force : bool
        Discard what the run folder holds and train anew.
    monitor, mode : str
        The metric that picks ``best.keras`` and its direction (``"auto"``: max for names with
        "acc" or "auc", else min).  Without ``val_ds`` a ``val_`` monitor falls back to the
        training metric.
    jit_compile : bool, optional
        Override the model's XLA setting (None: keep what ``compile`` chose).
    mixed_precision : bool
        ``mixed_float16`` on GPUs (:func:`colorutils.devices.set_mixed_precision`).
    strategy : tf.distribute.Strategy, optional
        Default: :func:`colorutils.devices.get_strategy` (its choice is printed).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks (run before the run-folder bookkeeping).
    verbose : "auto", 0, 1 or 2
        1: Keras' progress bar and a summary line per epoch; 2: the summary line only (what a
        papermill log shows); 0: silent.  ``"auto"``: 1 in a terminal or notebook, else 2.
    deterministic : bool
        Also request deterministic TensorFlow kernels: identical reruns on a GPU.
    progress_bar : bool, optional
        One line on stderr with epoch, loss and time left (:class:`ProgressCallback`).
        Default: where :func:`colorutils.progress.enabled` (a terminal, never in a notebook)
        and ``verbose`` is not 1 (which shows Keras' own bar).
    **fit_kwargs
        Passed to ``keras.Model.fit`` (e.g. ``steps_per_epoch``, ``class_weight``).

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        If ``run_dir`` belongs to another configuration (the message lists the keys that
        differ), or ``epochs`` is not a positive integer.
    UserError
        If another process trains in ``run_dir``, it is not writable, the disk is full, or
        every resume state is damaged (one sentence: which file, what to do).
    Interrupted
        On Ctrl-C, saying which epochs are saved.
    """
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer.")
    epochs, verbose = int(epochs), _resolve_verbose(verbose)
    monitor, mode = _resolve_monitor(monitor, mode, val_ds is not None)
    with runs.locked(run_dir):
        runs.claim(run_dir, config, seed, monitor, force=force)
        finished = runs.is_finished(run_dir, epochs)
        model, strategy = _build(model_fn, seed=seed, strategy=strategy,
                                 mixed_precision=mixed_precision, deterministic=deterministic,
                                 verbose=verbose)
        if finished:
            _LEDGER.append(dict(run_dir=run_dir, trained=False))
            return _load_finished(model, run_dir, monitor, verbose, epochs)
        return _train(model, train_ds, val_ds, run_dir=run_dir, epochs=epochs,
                      monitor=monitor, mode=mode, strategy=strategy, jit_compile=jit_compile,
                      callbacks=callbacks, verbose=verbose, progress_bar=progress_bar,
                      fit_kwargs=fit_kwargs)


# --------------------------------------------------------------------------- loading


def load_run(model_fn: Callable[[], Any], run_dir: str, *, config: dict | None = None,
             seed: int = 0, epochs: int | None = None, monitor: str | None = None,
             strategy=None) -> FitResult:
    """A finished run, rebuilt by ``model_fn`` and given its best weights; no data needed.

    What :func:`fit` does for a finished run (the same configuration check, the same build),
    for a caller that has no training data at hand.  ``monitor`` defaults to the one the run
    recorded.

    Raises
    ------
    FileNotFoundError
        If the run has not finished (at least ``epochs`` epochs, if given).
    ValueError
        If the run folder belongs to another configuration or seed.
    """
    if not runs.is_finished(run_dir, epochs):
        raise FileNotFoundError(f"no finished run at {run_dir!r}"
                                + (f" with {epochs} epochs" if epochs else "")
                                + "; train it with colorutils.train.fit first.")
    if monitor is None:
        monitor = (runs.read_config(run_dir) or {}).get("monitor", "val_loss")
    runs.claim(run_dir, config, seed, monitor)
    model, _ = _build(model_fn, seed=seed, strategy=strategy, mixed_precision=False,
                      deterministic=False, verbose=0)
    _LEDGER.append(dict(run_dir=run_dir, trained=False))
    return _load_finished(model, run_dir, monitor, verbose=0)


def load_model(path_or_run_dir: str, compile: bool = True):
    """Load a ``.keras`` file, or the best model of a run folder (``best.keras``, else
    ``last.keras``; :func:`colorutils.runs.model_file`).

    The book's custom losses and layers are registered (this module imports
    :mod:`colorutils.losses` and :mod:`colorutils.models`).  If the compiled state still
    cannot be restored (a loss defined in a notebook, say), the model is loaded with
    ``compile=False`` and a warning: fine for prediction, compile it again to train.

    Raises
    ------
    FileNotFoundError
        If the path does not exist or a run folder holds no model yet.
    """
    path = runs.model_file(path_or_run_dir)
    later = os.path.join(os.path.dirname(path), runs.LAST_MODEL)
    if os.path.isdir(path_or_run_dir) and path != later and os.path.exists(later):
        try:
            return _load_file(path, compile)
        except OSError as err:  # a damaged best.keras: the last epoch's model instead
            checkpoints.note(f"{first_line(err)}; using {later} instead.")
            path = later
    return _load_file(path, compile)


def _load_file(path: str, compile: bool):
    """One ``.keras`` file; a damaged one is an OSError naming it."""
    try:
        if not compile:
            return keras.saving.load_model(path, compile=False)
        try:
            return keras.saving.load_model(path)
        except (TypeError, ValueError) as err:
            if not zipfile.is_zipfile(path):
                raise
            warnings.warn(f"{path}: compiled state not restored ({err}); loaded with "
                          "compile=False (compile again before training).", stacklevel=3)
            return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        if zipfile.is_zipfile(path):
            raise
        raise OSError(f"{path} is not a readable .keras file ({type(err).__name__}: "
                      f"{first_line(err, 120)})") from None
