"""Training that survives Colab: run folders, resume, seeds, distribution strategies.

Every chapter trains through :func:`fit`.  One call owns one **run folder**::

    run_dir/
      config.json     what this run is (the caller's config, the seed, the monitored metric);
                      a later call with another config is refused, never silently mixed
      backup/         keras.callbacks.BackupAndRestore state (weights, optimizer, epoch)
      last.keras      the model after the last finished epoch
      best.keras      the model of the best epoch so far (by ``monitor``)
      history.json    one entry per finished epoch, rewritten after every epoch
      metrics.json    written once training has finished: the completion marker

Every JSON file and every ``.keras`` file is written to a temporary name and then renamed
(:func:`os.replace` is atomic on POSIX and Windows), so a session that dies mid-write leaves
the previous version, never half a file.

Resuming
--------
Calling :func:`fit` again on the same folder continues from the last finished epoch:
``BackupAndRestore`` restores weights, optimizer state and the epoch counter; the history
callback of this module drops any entry at or after the epoch it restarts from, so every epoch
appears exactly once.  An epoch interrupted midway is trained again from its start (its weights
from the partial epoch are discarded).  A folder whose ``metrics.json`` records at least the
requested number of epochs is *finished*: its best model is loaded, not retrained, unless
``force=True``.  Asking for more epochs than a finished run has continues it.

One caveat: after a resume the data pipeline starts a fresh iterator, so the shuffling order of
the resumed epochs differs from the order an uninterrupted run would have seen (every epoch
still sees every example once).

Distribution and precision
--------------------------
:func:`get_strategy` picks ``TPUStrategy`` on a Colab TPU, ``MirroredStrategy`` with several
GPUs and TensorFlow's default strategy otherwise, and prints its choice.
``mixed_precision=True`` sets the Keras ``mixed_float16`` policy on GPUs only (a CPU gains
nothing from float16, and TPUs prefer bfloat16); the book's losses compute in float32 and the
decoders (softmax, annealed mean) cast the logits to float32 first, so only the convolutions run
in half precision (Micikevicius et al., 2018, "Mixed precision training", ICLR).

References
----------
Keras guide "Fault tolerance: BackupAndRestore" and "Distributed training with TensorFlow",
https://keras.io/api/callbacks/backup_and_restore/ and
https://www.tensorflow.org/guide/distributed_training.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
BEST_MODEL = "best.keras"
LAST_MODEL = "last.keras"
BACKUP_DIR = "backup"
#: Everything :func:`fit` writes in a run folder (``force=True`` removes exactly these).
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, BEST_MODEL, LAST_MODEL, BACKUP_DIR)


# --------------------------------------------------------------------------- small helpers


def _json_default(value: Any):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _normalize(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, numpy scalars numbers)."""
    return json.loads(json.dumps(obj, default=_json_default, sort_keys=True))


def write_json_atomic(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and :func:`os.replace`.

    A reader (or a resumed run) sees either the previous file or the complete new one.
    """
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=_json_default)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: str) -> Any | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _save_model_atomic(model, path: str) -> None:
    tmp = path[: -len(".keras")] + f".tmp{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, path)


def _load_weights(model, path: str) -> None:
    """Weights (and optimizer state) of the ``.keras`` file ``path`` into ``model``."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    model.load_weights(path)


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- seeds, devices


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Fix Python's, NumPy's, TensorFlow's and Keras' random generators with one ``seed``.

    Parameters
    ----------
    seed : int
        The seed; pass the same value to :func:`colorutils.data.load` to fix the data order.
    deterministic : bool
        Also ask TensorFlow for deterministic kernels
        (``tf.config.experimental.enable_op_determinism``): bit-identical reruns on a GPU, at
        some speed cost.  It cannot be switched off again in the same process.
    """
    import keras
    import tensorflow as tf

    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)  # python, numpy and the backend again, plus Keras' own
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _tpu_address() -> str | None:
    """The TPU to connect to on Colab, or None: the legacy ``COLAB_TPU_ADDR`` (a gRPC address)
    or a TPU VM (``TPU_NAME``/``TPU_ACCELERATOR_TYPE`` set, devices under ``/dev/accel*``)."""
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if os.environ.get("TPU_ACCELERATOR_TYPE") or os.path.exists("/dev/accel0"):
        return "local"
    return None


def describe_strategy(strategy) -> str:
    """One line: the strategy's class, replica count and devices."""
    import tensorflow as tf

    name = type(strategy).__name__
    if name in ("_DefaultDistributionStrategy", "DefaultDistributionStrategy"):
        name = "default strategy"
    gpus = tf.config.list_logical_devices("GPU")
    where = f"{len(gpus)} GPU" if gpus else "CPU"
    if "TPU" in name:
        where = "TPU"
    return f"{name} ({strategy.num_replicas_in_sync} replica(s), {where})"


def get_strategy(verbose: bool = True):
    """The ``tf.distribute`` strategy for the accelerator that is present.

    * a Colab TPU (``COLAB_TPU_ADDR``, or a TPU VM): ``TPUStrategy`` through
      ``TPUClusterResolver``;
    * more than one GPU: ``MirroredStrategy`` (synchronous data parallelism);
    * otherwise (one GPU, or the CPU): TensorFlow's default strategy.

    Build and compile the model inside ``strategy.scope()`` (``fit`` does).  The batch size is
    the *global* batch: with N replicas every replica sees ``batch_size / N`` examples.

    Parameters
    ----------
    verbose : bool
        Print the choice (one line), so that a log shows on what the run trained.
    """
    import tensorflow as tf

    strategy = None
    tpu = _tpu_address()
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
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy()
        else:
            strategy = tf.distribute.get_strategy()
    if verbose:
        print(f"Training with {describe_strategy(strategy)}.", flush=True)
    return strategy


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def set_mixed_precision(enabled: bool, verbose: bool = True) -> str:
    """Set the Keras dtype policy: ``mixed_float16`` if ``enabled`` and a GPU is present.

    Returns the policy name now in force.  On a CPU (or a TPU) the request is ignored with a
    printed note, since float16 there is slower or unsupported; the policy goes back to
    ``float32`` when ``enabled`` is False.  Call it *before* building the model.
    """
    import keras

    policy = "float32"
    if enabled:
        if _has_gpu():
            policy = "mixed_float16"
        elif verbose:
            print("mixed_precision=True ignored: no GPU, training in float32.", flush=True)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def _check_float32_outputs(model) -> None:
    bad = [t.name for t in model.outputs if getattr(t, "dtype", "float32") != "float32"]
    if bad:
        warnings.warn(
            f"mixed precision: model outputs {bad} are not float32; the book's losses and "
            "decoders cast to float32, but a custom loss should too (or give the last layer "
            "dtype='float32').", stacklevel=3)


# --------------------------------------------------------------------------- callbacks


def _history_to_records(history: dict | None) -> list[dict]:
    if not history:
        return []
    keys = [k for k in history if k != "epoch"]
    return [{"epoch": int(e), **{k: history[k][i] for k in keys}}
            for i, e in enumerate(history["epoch"])]


def _records_to_history(records: list[dict]) -> dict[str, list]:
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    return {k: [r.get(k) for r in records] for k in keys}


def _make_callbacks(run_dir: str, records: list[dict], monitor: str, mode: str,
                    epochs: int, print_summary: bool):
    import keras

    class RunFolderCallback(keras.callbacks.Callback):
        """After every epoch: history.json, last.keras and (if better) best.keras, atomically,
        and a one-line summary on stdout (what a papermill log shows)."""

        def __init__(self):
            super().__init__()
            self.records = records
            self.first_epoch: int | None = None
            self.epochs_trained = 0
            self._t0 = 0.0

        def _best(self):
            vals = [r.get(monitor) for r in self.records if r.get(monitor) is not None]
            if not vals:
                return None
            return min(vals) if mode == "min" else max(vals)

        def on_epoch_begin(self, epoch, logs=None):
            if self.first_epoch is None:
                # BackupAndRestore has set the starting epoch; forget anything from it on
                # (an epoch whose entry was written but whose backup was not).
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
            value = record.get(monitor)
            improved = value is not None and (
                best_before is None
                or (value < best_before if mode == "min" else value > best_before))
            _save_model_atomic(self.model, os.path.join(run_dir, LAST_MODEL))
            if improved or not os.path.exists(os.path.join(run_dir, BEST_MODEL)):
                _save_model_atomic(self.model, os.path.join(run_dir, BEST_MODEL))
            write_json_atomic(os.path.join(run_dir, HISTORY_FILE),
                              _records_to_history(self.records))
            self.epochs_trained += 1
            if print_summary:
                shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items()
                                  if isinstance(v, (int, float)))
                mark = "  *best*" if improved else ""
                print(f"epoch {epoch + 1}/{epochs}  {shown}  ({seconds:.1f} s){mark}",
                      flush=True)

    run_cb = RunFolderCallback()
    # BackupAndRestore goes LAST: when it records "epoch e finished", history and models of
    # epoch e are already on disk.  The backup is kept after training (a finished run can be
    # extended to more epochs); double_checkpoint keeps the previous state if a kill corrupts
    # the newest one.
    backup = keras.callbacks.BackupAndRestore(
        os.path.join(run_dir, BACKUP_DIR), save_freq="epoch", double_checkpoint=True,
        delete_checkpoint=False)
    return run_cb, backup


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


def _config_difference(stored: dict, wanted: dict) -> list[str]:
    diffs = []
    for key in sorted(set(stored) | set(wanted)):
        if key not in stored:
            diffs.append(f"{key} (new: {wanted[key]!r})")
        elif key not in wanted:
            diffs.append(f"{key} (was {stored[key]!r}, now missing)")
        elif stored[key] != wanted[key]:
            diffs.append(f"{key} (was {stored[key]!r}, now {wanted[key]!r})")
    return diffs


def _resolve_verbose(verbose) -> int:
    """``"auto"``: the Keras progress bar (1) in a terminal or notebook, else summaries only (2)."""
    if verbose != "auto":
        return int(verbose)
    interactive = sys.stdout.isatty() or "ipykernel" in sys.modules
    return 1 if interactive else 2


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
        Finite datasets of ``(inputs, targets)`` batches (``val_ds`` may be None).
    run_dir : str
        The run folder (created if missing); on Colab a folder in Google Drive.
    epochs : int
        Total epochs of the run (not "more epochs").
    config : dict
        What defines the run (model name and knobs, dataset, image size, ...), JSON-able.
        Stored in ``config.json``; a folder holding another config is refused.
    seed : int
        Fixes Python, NumPy, TensorFlow and Keras randomness (:func:`set_seed`); pass the same
        seed to the data pipeline to fix the data order.
    force : bool
        Discard what the run folder holds (the files in :data:`RUN_FILES`) and train anew.
    monitor, mode : str
        The metric that picks ``best.keras`` and its direction (``"auto"``: max for names with
        "acc" or "auc", else min).  Without ``val_ds`` a ``val_`` monitor falls back to the
        training metric.
    jit_compile : bool, optional
        Override the model's XLA setting (None: keep what ``compile`` chose; Keras' "auto" uses
        XLA on GPUs only).
    mixed_precision : bool
        ``mixed_float16`` on GPUs (:func:`set_mixed_precision`).
    strategy : tf.distribute.Strategy, optional
        Default: :func:`get_strategy` (its choice is printed).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks (run before the run-folder bookkeeping).
    deterministic : bool
        Also request deterministic TensorFlow kernels (:func:`set_seed`): identical reruns on
        a GPU, somewhat slower.
    verbose : "auto", 0, 1 or 2
        1: Keras' progress bar and a summary line per epoch; 2: the summary line only (what a
        papermill log shows); 0: silent.  ``"auto"``: 1 in a terminal or notebook, else 2.
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
    epochs = int(epochs)
    config = dict(config or {})
    verbose = _resolve_verbose(verbose)
    if val_ds is None and monitor.startswith("val_"):
        monitor = monitor[len("val_"):]
    if mode == "auto":
        mode = "max" if ("acc" in monitor or "auc" in monitor) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode={mode!r}: use 'min', 'max' or 'auto'.")

    os.makedirs(run_dir, exist_ok=True)
    cfg_path = os.path.join(run_dir, CONFIG_FILE)
    wanted = _normalize({"config": config, "seed": int(seed), "monitor": monitor})
    if force:
        for name in RUN_FILES:
            path = os.path.join(run_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    stored = _read_json(cfg_path)
    if stored is not None:
        stored_cmp = {k: stored.get(k) for k in ("config", "seed", "monitor")}
        diffs = _config_difference(stored_cmp["config"] or {}, wanted["config"])
        diffs += [f"{k} (was {stored_cmp[k]!r}, now {wanted[k]!r})"
                  for k in ("seed", "monitor") if stored_cmp[k] != wanted[k]]
        if diffs:
            raise ValueError(
                f"run folder {run_dir!r} belongs to another configuration; differing: "
                f"{'; '.join(diffs)}. Use another run_dir, or force=True to discard the old "
                "run and train anew.")
    else:
        write_json_atomic(cfg_path, {**wanted, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})

    metrics = _read_json(os.path.join(run_dir, METRICS_FILE))
    history = _read_json(os.path.join(run_dir, HISTORY_FILE)) or {}
    finished = (metrics is not None and metrics.get("complete")
                and metrics.get("epochs", 0) >= epochs
                and os.path.exists(os.path.join(run_dir, BEST_MODEL)))

    import keras

    set_mixed_precision(mixed_precision, verbose=verbose > 0)
    if strategy is None:
        strategy = get_strategy(verbose=verbose > 0)
    set_seed(seed, deterministic=deterministic)
    with strategy.scope():
        model = model_fn()
    if mixed_precision:
        _check_float32_outputs(model)

    if finished:
        if verbose:
            print(f"Run {run_dir} finished ({metrics['epochs']} epochs, best {monitor} "
                  f"{metrics.get('best')}); loading it instead of training "
                  "(force=True retrains).", flush=True)
        _load_weights(model, os.path.join(run_dir, BEST_MODEL))
        return FitResult(model=model, history=history, run_dir=run_dir, resumed=True,
                         trained_epochs=0, metrics=metrics)

    if jit_compile is not None:
        model.jit_compile = bool(jit_compile)
        model.train_function = None  # rebuilt with the new setting
    records = _history_to_records(history)
    resumed = bool(records)
    if resumed and verbose:
        print(f"Resuming {run_dir} after epoch {len(records)} of {epochs}.", flush=True)
    run_cb, backup = _make_callbacks(run_dir, records, monitor, mode, epochs,
                                     print_summary=verbose > 0)
    t0 = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=epochs,
              callbacks=[*callbacks, run_cb, backup], verbose=1 if verbose == 1 else 0,
              **{"shuffle": False, **fit_kwargs})  # tf.data does the shuffling
    train_seconds = time.perf_counter() - t0
    resumed = resumed or (run_cb.first_epoch or 0) > 0

    history = _records_to_history(run_cb.records)
    scored = [r for r in run_cb.records if r.get(monitor) is not None]
    best = (min if mode == "min" else max)(scored, key=lambda r: r[monitor]) if scored else None
    metrics = {
        "complete": True,
        "epochs": len(run_cb.records),
        "monitor": monitor,
        "mode": mode,
        "best": best[monitor] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "best_logs": best,
        "final_logs": run_cb.records[-1] if run_cb.records else None,
        "train_seconds_total": round(sum(r.get("seconds", 0.0) for r in run_cb.records), 3),
        "train_seconds_this_call": round(train_seconds, 3),
        "strategy": describe_strategy(strategy),
        "precision": keras.mixed_precision.global_policy().name,
    }
    write_json_atomic(os.path.join(run_dir, METRICS_FILE), metrics)
    if os.path.exists(os.path.join(run_dir, BEST_MODEL)):
        _load_weights(model, os.path.join(run_dir, BEST_MODEL))
    return FitResult(model=model, history=history, run_dir=run_dir, resumed=resumed,
                     trained_epochs=run_cb.epochs_trained, metrics=metrics)


# --------------------------------------------------------------------------- loading


def read_history(run_dir: str) -> dict:
    """The ``history.json`` of a run folder (``{}`` if none yet)."""
    return _read_json(os.path.join(run_dir, HISTORY_FILE)) or {}


def read_metrics(run_dir: str) -> dict | None:
    """The ``metrics.json`` of a run folder, or None if the run has not finished."""
    return _read_json(os.path.join(run_dir, METRICS_FILE))


def load_model(path_or_run_dir: str, compile: bool = True):
    """Load a ``.keras`` file, or the best model of a run folder (``best.keras``, else
    ``last.keras``).

    The book's custom losses and layers are registered when :mod:`colorutils.losses` and
    :mod:`colorutils.models` are imported, which this function does first.  If the compiled
    state still cannot be restored (a loss defined in a notebook, say), the model is loaded
    with ``compile=False`` and a warning: fine for prediction, compile it again to train.

    Raises
    ------
    FileNotFoundError
        If the path does not exist or a run folder holds no model yet.
    """
    import importlib

    import keras

    path = os.fspath(path_or_run_dir)
    if os.path.isdir(path):
        for name in (BEST_MODEL, LAST_MODEL):
            if os.path.exists(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise FileNotFoundError(
                f"run folder {path_or_run_dir!r} holds no {BEST_MODEL} or {LAST_MODEL} yet; "
                "has training finished at least one epoch?")
    elif not os.path.exists(path):
        raise FileNotFoundError(f"no model at {path!r}: give a .keras file or a run folder.")
    for module in ("colorutils.losses", "colorutils.models"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    if not compile:
        return keras.saving.load_model(path, compile=False)
    try:
        return keras.saving.load_model(path)
    except (TypeError, ValueError) as err:
        warnings.warn(f"{path}: compiled state not restored ({err}); loaded with "
                      "compile=False (compile again before training).", stacklevel=2)
        return keras.saving.load_model(path, compile=False)
