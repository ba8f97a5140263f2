"""Training that survives Colab: seeds, strategy and precision, run folders, resume, cost.

:func:`fit` owns one run folder (:mod:`colorutils.files`): it claims it (``config.json``),
builds ``model_fn()`` in the strategy's scope, loads a finished run (``metrics.json``) instead
of retraining it, else trains the missing epochs.  After each epoch: ``history.json``,
``last.keras``, ``best.keras`` if better, then the resume state ``backup/state-000k.weights.h5``
+ ``.json`` (the JSON commits; the two newest kept, a damaged one falls back to the one before).
Epoch ``k``'s data depend only on the seed and ``k`` (:func:`colorutils.data.set_epoch`), so a
resumed run has the losses of an uninterrupted one.  Mixed precision: Micikevicius et al.
(2018), ICLR; strategies: https://www.tensorflow.org/guide/distributed_training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import signal
import sys
import textwrap
import threading
import time
import warnings
import zipfile
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

import colorutils
from colorutils import data, files, losses, models  # noqa: F401 - Keras classes for load_model
from colorutils.errors import UserError, first_line

__all__ = ["set_seed", "get_strategy", "set_mixed_precision", "fit", "FitResult", "load_run",
           "load_model", "cost_line", "Interrupted"]


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's, NumPy's, TensorFlow's and Keras' generators; ``deterministic`` also asks
    for deterministic TensorFlow kernels (slower; cannot be undone in the process)."""
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _describe_strategy(strategy) -> str:
    """One line: the strategy's class, replica count and devices."""
    name = type(strategy).__name__
    if name in ("_DefaultDistributionStrategy", "DefaultDistributionStrategy"):
        name = "default strategy"
    gpus = tf.config.list_logical_devices("GPU")
    where = "TPU" if "TPU" in name else f"{len(gpus)} GPU" if gpus else "CPU"
    return f"{name} ({strategy.num_replicas_in_sync} replica(s), {where})"


def get_strategy(verbose: bool = True):
    """``TPUStrategy`` on a TPU, ``MirroredStrategy`` with several GPUs, else TensorFlow's
    default strategy; printed if ``verbose``.  Each of N replicas sees ``batch_size / N``."""
    strategy, env = None, os.environ
    if env.get("COLAB_TPU_ADDR"):
        tpu = "grpc://" + env["COLAB_TPU_ADDR"]
    else:  # TPU_NAME, else a TPU VM
        local = env.get("TPU_ACCELERATOR_TYPE") or os.path.exists("/dev/accel0")
        tpu = env.get("TPU_NAME") or ("local" if local else None)
    if tpu is not None:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            if tpu != "local":
                tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as err:  # pragma: no cover
            print(f"TPU {tpu!r} announced but not usable ({err}); falling back.", flush=True)
    if strategy is None:
        several = len(tf.config.list_logical_devices("GPU")) > 1
        strategy = tf.distribute.MirroredStrategy() if several else tf.distribute.get_strategy()
    if verbose:
        print(f"Training with {_describe_strategy(strategy)}.", flush=True)
    return strategy


def _has_gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def set_mixed_precision(enabled: bool, verbose: bool = True) -> str:
    """Set the Keras policy ``mixed_float16`` if ``enabled`` and a GPU is present, else
    ``float32`` (with a note if ``enabled``); return its name.  Call it before building."""
    policy = "mixed_float16" if enabled and _has_gpu() else "float32"
    if enabled and verbose and policy == "float32":
        print("mixed_precision=True ignored: no GPU, training in float32.", flush=True)
    keras.mixed_precision.set_global_policy(policy)
    return policy


#: Resume states kept in ``backup/`` (the newest, and the one before in case it is damaged).
_KEEP_STATES = 2
#: Free space needed before an epoch's checkpoints, in checkpoint sizes (last, best, state, tmp).
_CHECKPOINT_MARGIN = 4
_STATE = re.compile(r"^state-(\d+)\.json$")
#: Keras' ``BackupAndRestore`` files, in run folders of earlier versions.
_LEGACY = (("latest.weights.h5", "training_metadata.json"),
           ("latest.weights.h5.bkp", "training_metadata.json.bkp"))


def _state_paths(run_dir: str, epoch: int) -> tuple[str, str]:
    base = os.path.join(run_dir, files.BACKUP_DIR, f"state-{epoch:04d}")
    return f"{base}.weights.h5", f"{base}.json"


def _saved_states(run_dir: str) -> list[tuple[int | None, str, str]]:
    """``(epoch, weights, json)`` of every state in ``backup/``, newest first (epoch None: a
    Keras state)."""
    folder = os.path.join(run_dir, files.BACKUP_DIR)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    epochs = sorted((int(m.group(1)) for m in map(_STATE.match, names) if m), reverse=True)
    found: list[tuple[int | None, str, str]] = [(e, *_state_paths(run_dir, e)) for e in epochs]
    found += [(None, os.path.join(folder, w), os.path.join(folder, j)) for w, j in _LEGACY
              if os.path.exists(os.path.join(folder, j))]
    return found


def _checkpoint_bytes(model) -> int:
    """:data:`_CHECKPOINT_MARGIN` times the weights and optimizer state, plus 1 MiB."""
    variables = list(model.weights) + list(getattr(model.optimizer, "variables", []) or [])
    return _CHECKPOINT_MARGIN * int(sum(int(v.numpy().nbytes) for v in variables)) + (1 << 20)


def _save_state(model, run_dir: str, epoch: int, records: list[dict]) -> None:
    """Commit the state after ``epoch`` (weights, then ``{"epoch", "history"}``, atomically);
    remove the states beyond :data:`_KEEP_STATES`."""
    os.makedirs(os.path.join(run_dir, files.BACKUP_DIR), exist_ok=True)
    weights, meta = _state_paths(run_dir, epoch)
    with files.atomic_path(weights) as tmp:
        model.save_weights(tmp)
    files.write_json_atomic(meta, {"epoch": epoch, "history": records})
    for _, old_weights, old_meta in _saved_states(run_dir)[_KEEP_STATES:]:
        for path in (old_meta, old_weights):  # the commit first
            if os.path.exists(path):
                os.remove(path)


def _load_weights(model, path: str) -> None:
    """Weights (and optimizer state) of ``path`` into ``model``; an error names the file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing")
    try:
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        model.load_weights(path)
    except Exception as err:  # noqa: BLE001 - h5py and Keras raise many kinds
        raise ValueError(f"{path} is unreadable ({type(err).__name__}: "
                         f"{first_line(err, 120)})") from None


def _restore(model, run_dir: str) -> tuple[int, list[dict] | None]:
    """Load the newest readable state: ``(epochs done, their records)``, ``(0, None)`` if none.

    A damaged state is noted and the one before used; records are None for a Keras state
    (``history.json`` holds them).  Every state damaged: a UserError.
    """
    problems = []
    for epoch, weights, meta in _saved_states(run_dir):
        try:
            stored = files.read_json(meta)
            if not isinstance(stored, dict) or not isinstance(stored.get("epoch"), int):
                raise ValueError(f"{meta} is not a state file; delete it.")
            _load_weights(model, weights)
        except (OSError, ValueError) as err:
            problems.append(first_line(err).rstrip("."))
            continue
        if problems:
            _note(f"{problems[0]}; continuing from the state after epoch {stored['epoch']}.")
        return stored["epoch"], (stored.get("history") if epoch is not None else None)
    if problems:
        raise UserError(f"run folder {run_dir}: {problems[0]}; no earlier state is left: "
                        f"delete {os.path.join(run_dir, files.BACKUP_DIR)} to train this run "
                        "again from epoch 1.")
    return 0, None


def _note(message: str) -> None:
    """``note: ...`` on stderr: something the user should know, not an error."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def _load_best(model, run_dir: str) -> None:
    """The weights of ``best.keras``, else (damaged: said in a note) of ``last.keras``."""
    problems = []
    for name in (files.BEST_MODEL, files.LAST_MODEL):
        path = os.path.join(run_dir, name)
        if not os.path.exists(path):
            continue
        try:
            _load_weights(model, path)
        except (OSError, ValueError) as err:
            problems.append(str(err))
            continue
        if problems:
            _note(f"{problems[0]}; using {name} instead (delete the damaged file to silence "
                  "this note).")
        return
    raise UserError(f"{problems[0] if problems else 'no model in ' + run_dir}; delete the run "
                    f"folder {run_dir} and train it again.")


def _resume(model, run_dir: str, epochs: int, verbose: int) -> tuple[int, list[dict]]:
    """The epochs done and their records; ``history.json`` is rewritten to agree."""
    done, records = _restore(model, run_dir)
    if records is None:  # a new run, or the state of an earlier version: history.json's
        records = [r for r in files.records_from_history(files.read_history(run_dir))
                   if r["epoch"] <= done] if done else []
    stored = None
    with contextlib.suppress(ValueError):  # a damaged history.json: rewritten
        stored = files.read_history(run_dir)
    if files.records_from_history(stored) != records:
        files.write_history(run_dir, records)
    if done and verbose:
        print(f"Resuming {run_dir} after epoch {done} of {epochs}.", flush=True)
    return done, records


class _CtrlC:
    """Ctrl-C during training, raised at the next batch or epoch boundary (:meth:`check`), not
    where TensorFlow would swallow it; a second Ctrl-C interrupts at once."""

    pressed = False

    @classmethod
    @contextlib.contextmanager
    def deferred(cls):
        """The deferring handler for the block (none outside the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        cls.pressed = False

        def handler(signum, frame):
            if cls.pressed:
                raise KeyboardInterrupt
            cls.pressed = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            cls.pressed = False

    @classmethod
    def check(cls) -> None:
        if cls.pressed:
            cls.pressed = False
            raise KeyboardInterrupt


class _RunFolderCallback(keras.callbacks.Callback):
    """Sets the data epoch; after each epoch writes the history, the models and the resume
    state (atomically) and a summary line if asked.  Records hold ``seconds`` (the epoch) and
    ``train_seconds`` (its training steps)."""

    def __init__(self, run_dir: str, records: list[dict], monitor: str, mode: str,
                 epochs: int, print_summary: bool):
        super().__init__()
        self.run_dir, self.records = run_dir, records
        self.monitor, self.mode, self.epochs = monitor, mode, epochs
        self.print_summary = print_summary
        self.committed = records[-1]["epoch"] if records else 0  # epochs in the state
        self.epochs_trained = 0
        self.steps_trained = 0  # training batches of this call (the chapter's cost line)
        self.train_seconds = 0.0  # their seconds, validation excluded
        self._t0 = 0.0
        self._steps_end: float | None = None

    def on_train_batch_end(self, batch, logs=None):
        self.steps_trained += 1
        _CtrlC.check()

    def on_epoch_begin(self, epoch, logs=None):
        _CtrlC.check()
        data.set_epoch(epoch)
        self._t0, self._steps_end = time.perf_counter(), None

    def on_train_end(self, logs=None):
        data.set_epoch(0)

    def on_test_begin(self, logs=None):  # validation, inside fit
        if self._steps_end is None:
            self._steps_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        now = time.perf_counter()
        seconds = now - self._t0
        sign = 1 if self.mode == "min" else -1  # compare sign * value: lower is better
        before = [sign * r[self.monitor] for r in self.records
                  if r.get(self.monitor) is not None]
        record = {"epoch": epoch + 1, "seconds": round(seconds, 3),
                  "train_seconds": round((self._steps_end or now) - self._t0, 3),
                  **{k: float(v) if math.isfinite(float(v)) else None for k, v in logs.items()}}
        self.records[:] = [r for r in self.records if r["epoch"] <= epoch] + [record]
        value = record.get(self.monitor)
        improved = value is not None and (not before or sign * value < min(before))
        files.check_space(self.run_dir, _checkpoint_bytes(self.model))
        files.save_model_atomic(self.model, os.path.join(self.run_dir, files.LAST_MODEL))
        best_path = os.path.join(self.run_dir, files.BEST_MODEL)
        if improved or not os.path.exists(best_path):
            files.save_model_atomic(self.model, best_path)
        _save_state(self.model, self.run_dir, epoch + 1, self.records)  # the commit
        self.committed = epoch + 1
        files.write_history(self.run_dir, self.records)
        self.epochs_trained += 1
        self.train_seconds += record["train_seconds"]
        if self.print_summary:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items()
                              if isinstance(v, (int, float)))
            mark = "  *best*" if improved else ""
            print(f"epoch {epoch + 1}/{self.epochs}  {shown}  ({seconds:.1f} s){mark}",
                  flush=True)


#: What this process trained and loaded, one entry per :func:`fit` / :func:`load_run` call:
#: ``{"run_dir", "trained": bool, "epochs", "steps", "train_seconds"}`` (for :func:`cost_line`).
_LEDGER: list[dict] = []


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`; the message says which epochs are saved."""


def _loss(logs) -> str:
    loss = (logs or {}).get("loss")
    return f"loss {float(loss):.4g}" if loss is not None else ""


class ProgressCallback(keras.callbacks.Callback):
    """Training progress as one line on stderr, updated in place (:func:`colorutils.files.bar`).

    ``epoch k/N``, a bar over the run's steps (epochs when the steps are unknown) from the
    resumed epoch, the running loss, the last ``val_loss``, elapsed time and time left.
    ``show`` overrides :func:`colorutils.files.enabled`.
    """

    def __init__(self, show: bool | None = None):
        super().__init__()
        self.show = show
        self.bar = None
        self._val = ""

    def on_epoch_begin(self, epoch, logs=None):
        epochs, steps = self.params.get("epochs") or 1, self.params.get("steps")
        if self.bar is None:
            total, done = (epochs * steps, epoch * steps) if steps else (epochs, epoch)
            self.bar = files.bar(total=total, initial=done, unit="step" if steps else "epoch",
                                 desc=f"epoch {epoch + 1}/{epochs}", show=self.show, leave=True)
            self.bar.unpause()  # time left counts from here, not from the bar's creation
        self.bar.set_description_str(f"epoch {epoch + 1}/{self.params.get('epochs')}",
                                     refresh=False)

    def on_train_batch_end(self, batch, logs=None):
        steps = self.params.get("steps")
        shown = _loss(logs) if steps else f"batch {batch + 1} {_loss(logs)}"
        self.bar.set_postfix_str(f"{shown}{self._val}", refresh=False)
        if steps:
            self.bar.update(1)
        else:
            self.bar.refresh()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if logs.get("val_loss") is not None:
            self._val = f", val_loss {float(logs['val_loss']):.4g}"
        if not self.params.get("steps"):
            self.bar.update(1)
        self.bar.set_postfix_str(_loss(logs) + self._val)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns: the best epoch's model, the run's history (``{"epoch": [1, 2,
    ...], "loss": [...], ...}``), whether the folder held progress, the epochs trained by this
    call and ``metrics.json``."""

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


def _build(model_fn, *, seed: int, strategy, mixed_precision: bool, deterministic: bool,
           verbose: int):
    """Precision policy, strategy, seed, then ``model_fn()`` in the strategy's scope."""
    set_mixed_precision(mixed_precision, verbose=verbose > 0)
    if strategy is None:
        strategy = get_strategy(verbose=verbose > 0)
    set_seed(seed, deterministic=deterministic)
    with strategy.scope():
        model = model_fn()
    outputs = model.outputs if mixed_precision else []  # a custom loss needs float32
    bad = [t.name for t in outputs if getattr(t, "dtype", "float32") != "float32"]
    if bad:
        warnings.warn(
            f"mixed precision: model outputs {bad} are not float32; the book's losses and "
            "decoders cast to float32, but a custom loss should too (or give the last layer "
            "dtype='float32').", stacklevel=2)
    return model, strategy


def _load_finished(model, run_dir: str, monitor: str, verbose: int,
                   epochs: int | None = None) -> FitResult:
    """A finished run's best weights, history and metrics (counted in the ledger)."""
    _LEDGER.append(dict(run_dir=run_dir, trained=False))
    metrics = files.read_metrics(run_dir)
    if epochs is not None and metrics.get("epochs", 0) > epochs:
        _note(f"run {run_dir} finished {metrics['epochs']} epochs, more than the {epochs} "
              f"asked for; loading all {metrics['epochs']} (for a run of {epochs}, use "
              "another run folder).")
    if verbose:
        print(f"Run {run_dir} finished ({metrics['epochs']} epochs, best {monitor} "
              f"{metrics.get('best')}); loading it instead of training "
              "(force=True retrains).", flush=True)
    _load_best(model, run_dir)
    try:
        history = files.read_history(run_dir)
    except ValueError as err:  # rebuilt from the resume state committed with the weights
        _, records = _restore(model, run_dir)
        history = files.history_from_records(records or [])
        _note(f"{first_line(err)}; rebuilt from {files.BACKUP_DIR}/.")
        _load_best(model, run_dir)
    return FitResult(model=model, history=history, run_dir=run_dir,
                     resumed=True, trained_epochs=0, metrics=metrics)


def _final_metrics(records: list[dict], monitor: str, mode: str, strategy,
                   seconds: float) -> dict:
    """The content of ``metrics.json``: the best epoch, the last one, timings, the set-up."""
    scored = [r for r in records if r.get(monitor) is not None]
    best = (min if mode == "min" else max)(scored, key=lambda r: r[monitor]) if scored else None
    return {"complete": True, "epochs": len(records), "monitor": monitor, "mode": mode,
            "best": best[monitor] if best else None,
            "best_epoch": best["epoch"] if best else None, "best_logs": best,
            "final_logs": records[-1] if records else None,
            "train_seconds_total": round(sum(r.get("seconds", 0.0) for r in records), 3),
            "train_seconds_this_call": round(seconds, 3),
            "strategy": _describe_strategy(strategy),
            "precision": keras.mixed_precision.global_policy().name}


def _stopped(run_cb, what: str) -> str:
    """``"<what> in epoch N; epochs 1 to N-1 are saved in RUN; "``; the history file is made
    to say the same."""
    done = run_cb.committed
    with contextlib.suppress(OSError):  # a full disk may refuse this too: resuming fixes it
        files.write_history(run_cb.run_dir, [r for r in run_cb.records if r["epoch"] <= done])
    saved = (f"epochs 1 to {done} are saved" if done > 1 else
             "epoch 1 is saved" if done == 1 else "no epoch is saved yet")
    return f"{what} in epoch {done + 1}; {saved} in {run_cb.run_dir}; "


def _train(model, train_ds, val_ds, *, run_dir: str, epochs: int, monitor: str, mode: str,
           strategy, jit_compile, callbacks, verbose: int, progress_bar: bool | None,
           fit_kwargs: dict) -> FitResult:
    """Train the epochs a run still lacks, write ``metrics.json``, return the best epoch;
    Ctrl-C and write errors become one sentence saying what is saved."""
    if jit_compile is not None:
        model.jit_compile = bool(jit_compile)
        model.train_function = None  # rebuilt with the new setting
    done, records = _resume(model, run_dir, epochs, verbose)
    run_cb = _RunFolderCallback(run_dir, records, monitor, mode, epochs,
                                print_summary=verbose > 0)
    if progress_bar is None:
        progress_bar = files.enabled() and verbose != 1  # 1: Keras' own bar instead
    if progress_bar:
        callbacks = [*callbacks, ProgressCallback(show=True)]
    try:
        files.check_space(run_dir, _checkpoint_bytes(model))
    except files.WriteError as err:
        raise UserError(f"run folder {run_dir}: {err.strerror} for the checkpoints; free "
                        "some space or use another run folder.") from None
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # A dataset of unknown length (a folder source skips unreadable files) ends its first
        # epoch by running out: not worth a warning.
        warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)
        try:
            # The run-folder callback goes LAST: when it commits epoch e, the rest of e is done.
            with _CtrlC.deferred():  # honoured at a batch boundary, never lost
                model.fit(train_ds, validation_data=val_ds, epochs=epochs,
                          initial_epoch=done, callbacks=[*callbacks, run_cb],
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
    metrics = _final_metrics(run_cb.records, monitor, mode, strategy, time.perf_counter() - t0)
    _LEDGER.append(dict(run_dir=run_dir, trained=True, epochs=run_cb.epochs_trained,
                        steps=run_cb.steps_trained, train_seconds=run_cb.train_seconds))
    files.write_metrics(run_dir, metrics)
    _load_best(model, run_dir)
    return FitResult(model=model, history=files.history_from_records(run_cb.records),
                     run_dir=run_dir, resumed=done > 0,
                     trained_epochs=run_cb.epochs_trained, metrics=metrics)


def cost_line(batch_size: int | None = None, width: int | None = 88) -> str:
    """What this chapter cost, in one line wrapped at ``width`` (None: unwrapped): wall time
    since import (:data:`colorutils.IMPORTED_AT`), models trained (epochs, images, images/s of
    the training steps) and finished runs loaded.  ``images = steps x batch_size``."""
    wall = time.perf_counter() - colorutils.IMPORTED_AT
    trained = [e for e in _LEDGER if e["trained"]]
    loaded = len(_LEDGER) - len(trained)
    gpus = tf.config.list_logical_devices("GPU")
    where = (f"{len(gpus)} GPU{'s' * (len(gpus) > 1)}" if gpus
             else f"{os.cpu_count()} CPU cores, no GPU")
    line = f"This chapter: {wall / 60:.1f} min on this machine ({where})"
    if trained:
        steps, seconds, epochs = (sum(e[k] for e in trained)
                                  for k in ("steps", "train_seconds", "epochs"))
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
    """Train ``model_fn()`` (built and compiled in ``strategy.scope()`` after :func:`set_seed`)
    to ``epochs`` epochs in ``run_dir``, resuming whatever is there.

    ``config`` (JSON-able) guards the folder; ``force`` trains anew.  ``monitor`` picks
    ``best.keras`` (without ``val_ds``, ``val_x`` becomes ``x``), ``mode`` its direction
    (``"auto"``: max for "acc" or "auc").  ``verbose``: 1 Keras' bar and a line per epoch, 2
    the line, 0 nothing, ``"auto"`` 1 in a terminal or notebook, else 2.  ``progress_bar``:
    :class:`ProgressCallback` (default: where :func:`colorutils.files.enabled` and ``verbose``
    is not 1).  ``callbacks`` run before the run-folder ones; ``fit_kwargs`` go to Keras' fit.

    Raises ValueError for another configuration or bad ``epochs``, UserError for a folder in
    use, read-only or full, or every resume state damaged, :class:`Interrupted` on Ctrl-C.
    """
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a positive integer.")
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() or "ipykernel" in sys.modules else 2
    epochs, verbose = int(epochs), int(verbose)
    if val_ds is None and monitor.startswith("val_"):
        monitor = monitor[len("val_"):]
    if mode == "auto":
        mode = "max" if ("acc" in monitor or "auc" in monitor) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode={mode!r}: use 'min', 'max' or 'auto'.")
    with files.locked(run_dir):
        files.claim(run_dir, config, seed, monitor, force=force)
        finished = files.is_finished(run_dir, epochs)
        model, strategy = _build(model_fn, seed=seed, strategy=strategy,
                                 mixed_precision=mixed_precision, deterministic=deterministic,
                                 verbose=verbose)
        if finished:
            return _load_finished(model, run_dir, monitor, verbose, epochs)
        return _train(model, train_ds, val_ds, run_dir=run_dir, epochs=epochs,
                      monitor=monitor, mode=mode, strategy=strategy, jit_compile=jit_compile,
                      callbacks=callbacks, verbose=verbose, progress_bar=progress_bar,
                      fit_kwargs=fit_kwargs)


def load_run(model_fn: Callable[[], Any], run_dir: str, *, config: dict | None = None,
             seed: int = 0, epochs: int | None = None, monitor: str | None = None,
             strategy=None) -> FitResult:
    """A finished run (of at least ``epochs``) rebuilt by ``model_fn`` with its best weights, as
    :func:`fit` loads it; FileNotFoundError if unfinished, ValueError for another config."""
    if not files.is_finished(run_dir, epochs):
        raise FileNotFoundError(f"no finished run at {run_dir!r}"
                                + (f" with {epochs} epochs" if epochs else "")
                                + "; train it with colorutils.train.fit first.")
    if monitor is None:
        monitor = (files.read_config(run_dir) or {}).get("monitor", "val_loss")
    files.claim(run_dir, config, seed, monitor)
    model, _ = _build(model_fn, seed=seed, strategy=strategy, mixed_precision=False,
                      deterministic=False, verbose=0)
    return _load_finished(model, run_dir, monitor, verbose=0)


def load_model(path_or_run_dir: str, compile: bool = True):
    """A ``.keras`` file, or a run folder's ``best.keras`` (damaged: ``last.keras``, noted).

    A compiled state that cannot be restored (a loss defined in a notebook) gives
    ``compile=False`` and a warning.  FileNotFoundError if there is no model.
    """
    path = files.model_file(path_or_run_dir)
    later = os.path.join(os.path.dirname(path), files.LAST_MODEL)
    if os.path.isdir(path_or_run_dir) and path != later and os.path.exists(later):
        try:
            return _load_file(path, compile)
        except OSError as err:  # a damaged best.keras: the last epoch's model instead
            _note(f"{first_line(err)}; using {later} instead.")
            path = later
    return _load_file(path, compile)


def _load_file(path: str, compile: bool):
    """One ``.keras`` file; a damaged one is an OSError naming it."""
    try:
        try:
            return keras.saving.load_model(path, compile=compile)
        except (TypeError, ValueError) as err:
            if not compile or not zipfile.is_zipfile(path):
                raise
            warnings.warn(f"{path}: compiled state not restored ({err}); loaded with "
                          "compile=False (compile again before training).", stacklevel=3)
            return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        if zipfile.is_zipfile(path):
            raise
        raise OSError(f"{path} is not a readable .keras file ({type(err).__name__}: "
                      f"{first_line(err, 120)})") from None
