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
   ``history.json``, ``last.keras`` and, if better, ``best.keras``; ``BackupAndRestore``
   keeps weights, optimizer state and epoch counter in ``backup/``;
5. **finish**: write ``metrics.json`` (the completion marker) and load the best epoch.

Resuming
--------
Calling :func:`fit` again on the same folder continues from the last finished epoch:
``BackupAndRestore`` restores the state; the history callback drops any entry at or after the
epoch it restarts from, so every epoch appears exactly once.  An epoch interrupted midway is
trained again from its start.  Asking for more epochs than a finished run has continues it.
After a resume the data pipeline starts a fresh iterator, so the shuffling order of the
resumed epochs differs from the order an uninterrupted run would have seen.

References
----------
Keras guide "Fault tolerance: BackupAndRestore",
https://keras.io/api/callbacks/backup_and_restore/.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from typing import Any, Callable

import keras
import numpy as np

# losses and models are imported for their side effect too: they register the book's Keras
# classes (losses, layers), which load_model needs to restore a compiled model.
from colorutils import devices, losses, models, runs  # noqa: F401

__all__ = ["fit", "FitResult", "load_run", "load_model"]


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _load_weights(model, path: str) -> None:
    """Weights (and optimizer state) of the ``.keras`` file ``path`` into ``model``."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    model.load_weights(path)


# --------------------------------------------------------------------------- callbacks


class RunFolderCallback(keras.callbacks.Callback):
    """After every epoch: ``history.json``, ``last.keras`` and (if better) ``best.keras``,
    atomically, and a one-line summary on stdout if asked (what a papermill log shows)."""

    def __init__(self, run_dir: str, records: list[dict], monitor: str, mode: str,
                 epochs: int, print_summary: bool):
        super().__init__()
        self.run_dir, self.records = run_dir, records
        self.monitor, self.mode, self.epochs = monitor, mode, epochs
        self.print_summary = print_summary
        self.first_epoch: int | None = None
        self.epochs_trained = 0
        self._t0 = 0.0

    def _best(self):
        vals = [r.get(self.monitor) for r in self.records if r.get(self.monitor) is not None]
        if not vals:
            return None
        return min(vals) if self.mode == "min" else max(vals)

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            # BackupAndRestore has set the starting epoch; forget anything from it on (an
            # epoch whose entry was written but whose backup was not).
            self.first_epoch = epoch
            self.records[:] = [r for r in self.records if r["epoch"] <= epoch]
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        seconds = time.perf_counter() - self._t0
        best_before = self._best()
        record = {"epoch": epoch + 1, "seconds": round(seconds, 3)}
        record.update({k: _finite(v) for k, v in logs.items()})
        self.records[:] = [r for r in self.records if r["epoch"] <= epoch] + [record]
        value = record.get(self.monitor)
        improved = value is not None and (
            best_before is None
            or (value < best_before if self.mode == "min" else value > best_before))
        runs.save_model_atomic(self.model, os.path.join(self.run_dir, runs.LAST_MODEL))
        best_path = os.path.join(self.run_dir, runs.BEST_MODEL)
        if improved or not os.path.exists(best_path):
            runs.save_model_atomic(self.model, best_path)
        runs.write_history(self.run_dir, self.records)
        self.epochs_trained += 1
        if self.print_summary:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items()
                              if isinstance(v, (int, float)))
            mark = "  *best*" if improved else ""
            print(f"epoch {epoch + 1}/{self.epochs}  {shown}  ({seconds:.1f} s){mark}",
                  flush=True)


def _backup_callback(run_dir: str):
    # The backup is kept after training (a finished run can be extended to more epochs);
    # double_checkpoint keeps the previous state if a kill corrupts the newest one.
    return keras.callbacks.BackupAndRestore(
        os.path.join(run_dir, runs.BACKUP_DIR), save_freq="epoch", double_checkpoint=True,
        delete_checkpoint=False)


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


def _load_finished(model, run_dir: str, monitor: str, verbose: int) -> FitResult:
    metrics = runs.read_metrics(run_dir)
    if verbose:
        print(f"Run {run_dir} finished ({metrics['epochs']} epochs, best {monitor} "
              f"{metrics.get('best')}); loading it instead of training "
              "(force=True retrains).", flush=True)
    _load_weights(model, runs.model_file(run_dir))
    return FitResult(model=model, history=runs.read_history(run_dir), run_dir=run_dir,
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


def _train(model, train_ds, val_ds, *, run_dir: str, epochs: int, monitor: str, mode: str,
           strategy, jit_compile, callbacks, verbose: int, fit_kwargs: dict) -> FitResult:
    """Train the epochs a run still lacks, write ``metrics.json``, return the best epoch."""
    if jit_compile is not None:
        model.jit_compile = bool(jit_compile)
        model.train_function = None  # rebuilt with the new setting
    records = runs.records_from_history(runs.read_history(run_dir))
    resumed = bool(records)
    if resumed and verbose:
        print(f"Resuming {run_dir} after epoch {len(records)} of {epochs}.", flush=True)
    run_cb = RunFolderCallback(run_dir, records, monitor, mode, epochs,
                               print_summary=verbose > 0)
    t0 = time.perf_counter()
    # BackupAndRestore goes LAST: when it records "epoch e finished", history and models of
    # epoch e are already on disk.
    model.fit(train_ds, validation_data=val_ds, epochs=epochs,
              callbacks=[*callbacks, run_cb, _backup_callback(run_dir)],
              verbose=1 if verbose == 1 else 0,
              **{"shuffle": False, **fit_kwargs})  # tf.data does the shuffling
    metrics = _final_metrics(run_cb.records, monitor, mode, strategy, time.perf_counter() - t0)
    runs.write_metrics(run_dir, metrics)
    if os.path.exists(os.path.join(run_dir, runs.BEST_MODEL)):
        _load_weights(model, os.path.join(run_dir, runs.BEST_MODEL))
    return FitResult(model=model, history=runs.history_from_records(run_cb.records),
                     run_dir=run_dir, resumed=resumed or (run_cb.first_epoch or 0) > 0,
                     trained_epochs=run_cb.epochs_trained, metrics=metrics)


def fit(model_fn: Callable[[], Any], train_ds, val_ds=None, *, run_dir: str, epochs: int,
        config: dict | None = None, seed: int = 0, force: bool = False,
        monitor: str = "val_loss", mode: str = "auto", jit_compile: bool | None = None,
        mixed_precision: bool = False, strategy=None, callbacks=(), verbose="auto",
        deterministic: bool = False, **fit_kwargs) -> FitResult:
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
    """
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer.")
    epochs, verbose = int(epochs), _resolve_verbose(verbose)
    monitor, mode = _resolve_monitor(monitor, mode, val_ds is not None)
    runs.claim(run_dir, config, seed, monitor, force=force)
    finished = runs.is_finished(run_dir, epochs)
    model, strategy = _build(model_fn, seed=seed, strategy=strategy,
                             mixed_precision=mixed_precision, deterministic=deterministic,
                             verbose=verbose)
    if finished:
        return _load_finished(model, run_dir, monitor, verbose)
    return _train(model, train_ds, val_ds, run_dir=run_dir, epochs=epochs, monitor=monitor,
                  mode=mode, strategy=strategy, jit_compile=jit_compile, callbacks=callbacks,
                  verbose=verbose, fit_kwargs=fit_kwargs)


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
    if not compile:
        return keras.saving.load_model(path, compile=False)
    try:
        return keras.saving.load_model(path)
    except (TypeError, ValueError) as err:
        warnings.warn(f"{path}: compiled state not restored ({err}); loaded with "
                      "compile=False (compile again before training).", stacklevel=2)
        return keras.saving.load_model(path, compile=False)
