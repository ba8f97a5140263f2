"""Training that survives Colab: one run folder per run, resume, finished runs reused.

Every chapter trains through :func:`fit`, which owns one **run folder** (its layout, and the
atomic writes that keep it whole when a session dies, are :mod:`colorutils.files`).  In steps:

1. **claim** the folder: write ``config.json``, or refuse a folder of another configuration
   (:func:`colorutils.files.claim`);
2. **build** the model: set the precision policy, pick the strategy, fix the seed, call
   ``model_fn`` inside ``strategy.scope()`` (:mod:`colorutils.train`);
3. a **finished** run (``metrics.json`` with at least ``epochs`` epochs) is loaded, not
   retrained, unless ``force=True``;
4. otherwise **train** the missing epochs: after every epoch the run-folder callback writes
   ``history.json``, ``last.keras`` and, if better, ``best.keras``, then commits the resume
   state (weights, optimizer state, history) in ``backup/`` (:mod:`colorutils.train`);
5. **finish**: write ``metrics.json`` (the completion marker) and load the best epoch.

The folder is locked while it trains (:func:`colorutils.files.locked`: a second training there
is refused, a read-only folder too, before any work), and the free space is checked before
every epoch's checkpoints are written.  A full disk, a write error or Ctrl-C ends the call with
one sentence saying which epochs are saved (:class:`Interrupted` for Ctrl-C).

Resuming
--------
Calling :func:`fit` again on the same folder continues from the last committed epoch, with the
history committed with it, so every epoch appears exactly once; a damaged state falls back to
the one before (:func:`colorutils.train.restore`).  An epoch interrupted midway is
trained again from its start.  Asking for more epochs than a finished run has continues it.
The data of epoch ``k`` depend only on the pipeline's seed and ``k``
(:func:`colorutils.data.set_epoch`, called before every epoch), so a resumed run sees exactly
the batches the uninterrupted run would have seen: its losses are the same.

Where and how training runs: seeds, the distribution strategy, the numeric precision.

:func:`set_seed` fixes every random generator a run uses.  :func:`get_strategy` picks
``TPUStrategy`` on a Colab TPU, ``MirroredStrategy`` with several GPUs and TensorFlow's default
strategy otherwise, and prints its choice.  :func:`set_mixed_precision` sets the Keras
``mixed_float16`` policy on GPUs only (a CPU gains nothing from float16, and TPUs prefer
bfloat16); the book's losses compute in float32 and the decoders (softmax, annealed mean) cast
the logits to float32 first, so only the convolutions run in half precision (Micikevicius et
al., 2018, "Mixed precision training", ICLR).  :func:`colorutils.train.fit` calls all three.

References
----------
Keras guide "Distributed training with TensorFlow",
https://www.tensorflow.org/guide/distributed_training.

The resume state of a run folder: ``backup/``, written atomically, read with fall-backs.

After every finished epoch ``k`` :func:`save_state` writes ``backup/state-000k.weights.h5``
(the weights and the optimizer's state) and then ``backup/state-000k.json`` (``{"epoch": k,
"history": [one record per epoch]}``): the JSON file is the commit, both are written to a
temporary name and renamed (:mod:`colorutils.files`), and the two newest states are kept.
:func:`restore` loads the newest state that reads back and falls back to the one before when
a file is damaged (saying which, in one line); the history it returns is the one committed
with the weights, so ``history.json`` and ``metrics.json`` always agree with the model.

Run folders of earlier versions hold Keras' ``BackupAndRestore`` files
(``latest.weights.h5``, ``training_metadata.json`` and their ``.bkp`` copies); they are read
too, with the history of ``history.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
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
from colorutils import data, files, losses, models  # noqa: F401
from colorutils.errors import UserError, first_line

__all__ = [
    "set_seed",
    "describe_strategy",
    "get_strategy",
    "set_mixed_precision",
    "check_float32_outputs",
    "KEEP_STATES",
    "CHECKPOINT_MARGIN",
    "state_paths",
    "saved_states",
    "save_state",
    "restore",
    "model_bytes",
    "load_weights",
    "load_best",
    "resume",
    "note",
    "CtrlC",
    "RunFolderCallback",
    "fit",
    "FitResult",
    "load_run",
    "load_model",
    "ProgressCallback",
    "Interrupted",
    "cost_line",
]


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
    return bool(tf.config.list_logical_devices("GPU"))


def set_mixed_precision(enabled: bool, verbose: bool = True) -> str:
    """Set the Keras dtype policy: ``mixed_float16`` if ``enabled`` and a GPU is present.

    Returns the policy name now in force.  On a CPU (or a TPU) the request is ignored with a
    printed note, since float16 there is slower or unsupported; the policy goes back to
    ``float32`` when ``enabled`` is False.  Call it *before* building the model.
    """
    policy = "float32"
    if enabled:
        if _has_gpu():
            policy = "mixed_float16"
        elif verbose:
            print("mixed_precision=True ignored: no GPU, training in float32.", flush=True)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def check_float32_outputs(model) -> None:
    """Warn if a model output is not float32 (under mixed precision a custom loss needs it)."""
    bad = [t.name for t in model.outputs if getattr(t, "dtype", "float32") != "float32"]
    if bad:
        warnings.warn(
            f"mixed precision: model outputs {bad} are not float32; the book's losses and "
            "decoders cast to float32, but a custom loss should too (or give the last layer "
            "dtype='float32').", stacklevel=3)


#: Resume states kept in ``backup/`` (the newest, and the one before in case it is damaged).
KEEP_STATES = 2
_STATE = re.compile(r"^state-(\d+)\.json$")
_LEGACY = (("latest.weights.h5", "training_metadata.json"),
           ("latest.weights.h5.bkp", "training_metadata.json.bkp"))


def state_paths(run_dir: str, epoch: int) -> tuple[str, str]:
    """``(weights, json)`` paths of the state after ``epoch``."""
    base = os.path.join(run_dir, files.BACKUP_DIR, f"state-{epoch:04d}")
    return f"{base}.weights.h5", f"{base}.json"


def saved_states(run_dir: str) -> list[tuple[int | None, str, str]]:
    """``(epoch, weights, json)`` of every state in ``backup/``, newest first (epoch None:
    a Keras ``BackupAndRestore`` state, whose epoch is in its JSON file)."""
    folder = os.path.join(run_dir, files.BACKUP_DIR)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    epochs = sorted((int(m.group(1)) for m in map(_STATE.match, names) if m), reverse=True)
    found: list[tuple[int | None, str, str]] = [(e, *state_paths(run_dir, e)) for e in epochs]
    found += [(None, os.path.join(folder, w), os.path.join(folder, j)) for w, j in _LEGACY
              if os.path.exists(os.path.join(folder, j))]
    return found


def model_bytes(model) -> int:
    """Bytes of a model's weights and optimizer state (what one checkpoint holds)."""
    variables = list(model.weights) + list(getattr(model.optimizer, "variables", []) or [])
    return int(sum(int(v.numpy().nbytes) for v in variables))


def save_state(model, run_dir: str, epoch: int, records: list[dict]) -> None:
    """Commit the state after ``epoch`` (weights first, then the JSON file); older states
    beyond :data:`KEEP_STATES` and Keras' ones are removed once it is committed."""
    os.makedirs(os.path.join(run_dir, files.BACKUP_DIR), exist_ok=True)
    weights, meta = state_paths(run_dir, epoch)
    with files.atomic_path(weights) as tmp:
        model.save_weights(tmp)
    files.write_json_atomic(meta, {"epoch": epoch, "history": records})
    for _, old_weights, old_meta in saved_states(run_dir)[KEEP_STATES:]:
        for path in (old_meta, old_weights):  # the commit first
            if os.path.exists(path):
                os.remove(path)


def _load(model, epoch, weights: str, meta: str) -> tuple[int, list[dict] | None]:
    """The epoch and history of one state, its weights loaded into ``model``."""
    stored = files.read_json(meta)
    if not isinstance(stored, dict) or not isinstance(stored.get("epoch"), int):
        raise ValueError(f"{meta} is not a state file; delete it.")
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{weights} is missing")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    try:
        model.load_weights(weights)
    except Exception as err:  # noqa: BLE001 - h5py and Keras raise many kinds
        raise ValueError(f"{weights} is unreadable ({type(err).__name__}: "
                         f"{first_line(err, 120)})") from None
    history = stored.get("history") if epoch is not None else None
    return stored["epoch"], history


def restore(model, run_dir: str, say=print) -> tuple[int, list[dict] | None]:
    """Load the newest readable state into ``model``: ``(epochs done, their records)``.

    ``(0, None)`` when there is none (a new run).  A damaged state is reported through
    ``say`` and the one before is used; the records are None for a Keras state (then
    ``history.json`` holds them).

    Raises
    ------
    UserError
        If every state is damaged: which file, and what to do.
    """
    problems = []
    for epoch, weights, meta in saved_states(run_dir):
        try:
            done, history = _load(model, epoch, weights, meta)
        except (OSError, ValueError) as err:
            problems.append(first_line(err).rstrip("."))
            continue
        if problems:
            say(f"{problems[0]}; continuing from the state after epoch {done}.")
        return done, history
    if problems:
        raise UserError(f"run folder {run_dir}: {problems[0]}; no earlier state is left: "
                        f"delete {os.path.join(run_dir, files.BACKUP_DIR)} to train this run "
                        "again from epoch 1.")
    return 0, None


# --------------------------------------------------------------------------- after each epoch


#: Free space required before an epoch's checkpoints are written, in checkpoint sizes (last,
#: best and the resume state, and one more for the temporaries being renamed).
CHECKPOINT_MARGIN = 4


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def load_weights(model, path: str) -> None:
    """Weights (and optimizer state) of the ``.keras`` file ``path`` into ``model``."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    model.load_weights(path)


def note(message: str) -> None:
    """One line on stderr, ``note: ...``: something the user should know, not an error."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def load_best(model, run_dir: str) -> None:
    """The weights of ``best.keras``, else (damaged: said in a note) of ``last.keras``."""
    problems = []
    for name in (files.BEST_MODEL, files.LAST_MODEL):
        path = os.path.join(run_dir, name)
        if not os.path.exists(path):
            continue
        try:
            load_weights(model, path)
        except Exception as err:  # noqa: BLE001 - a damaged .keras file raises many kinds
            problems.append(f"{path} is unreadable ({type(err).__name__}: "
                            f"{first_line(err, 120)})")
            continue
        if problems:
            note(f"{problems[0]}; using {name} instead (delete the damaged file to silence "
                  "this note).")
        return
    raise UserError(f"{problems[0] if problems else 'no model in ' + run_dir}; delete the run "
                    f"folder {run_dir} and train it again.")


def resume(model, run_dir: str, epochs: int, verbose: int) -> tuple[int, list[dict]]:
    """The epochs done and their records (:func:`colorutils.train.restore`); the
    history file is rewritten to agree with them."""
    done, records = restore(model, run_dir, say=note)
    if records is None:  # a new run, or the state of an earlier version: history.json's
        records = [r for r in files.records_from_history(files.read_history(run_dir))
                   if r["epoch"] <= done] if done else []
    if files.records_from_history(_history_or_none(run_dir)) != records:
        files.write_history(run_dir, records)
    if done and verbose:
        print(f"Resuming {run_dir} after epoch {done} of {epochs}.", flush=True)
    return done, records


def _history_or_none(run_dir: str) -> dict | None:
    try:
        return files.read_history(run_dir)
    except ValueError:
        return None


class CtrlC:
    """Ctrl-C during training, honoured at the next batch boundary.

    The default handler raises ``KeyboardInterrupt`` wherever Python happens to be, and
    TensorFlow runs Python in places that swallow exceptions (a ``__del__``, a tf.data
    callback): on a loaded machine a Ctrl-C was lost and the run went on to the end.  Inside
    :meth:`deferred` (the main thread only) the first Ctrl-C only sets :attr:`pressed`;
    :class:`RunFolderCallback` raises ``KeyboardInterrupt`` at the next batch or epoch
    boundary.  A second Ctrl-C interrupts at once, as usual.
    """

    pressed = False

    @classmethod
    @contextlib.contextmanager
    def deferred(cls):
        """Install the deferring handler for the block (a no-op outside the main thread)."""
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
        """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed (once) since the block began."""
        if cls.pressed:
            cls.pressed = False
            raise KeyboardInterrupt


class RunFolderCallback(keras.callbacks.Callback):
    """After every epoch: ``history.json``, ``last.keras``, (if better) ``best.keras`` and the
    resume state, atomically, and a one-line summary on stdout if asked (what a papermill log
    shows).  Before every epoch: the data epoch (:func:`colorutils.data.set_epoch`).

    Each epoch's record holds ``seconds`` (the whole epoch) and ``train_seconds`` (its
    training steps, before validation starts): what a throughput figure divides by."""

    def __init__(self, run_dir: str, records: list[dict], monitor: str, mode: str,
                 epochs: int, print_summary: bool):
        super().__init__()
        self.run_dir, self.records = run_dir, records
        self.monitor, self.mode, self.epochs = monitor, mode, epochs
        self.print_summary = print_summary
        self.first_epoch: int | None = None
        self.current = 0
        self.committed = records[-1]["epoch"] if records else 0  # epochs in the state
        self.epochs_trained = 0
        self.steps_trained = 0  # training batches of this call (the chapter's cost line)
        self.train_seconds = 0.0  # their seconds, validation excluded
        self._t0 = 0.0
        self._steps_end: float | None = None

    def _best(self):
        vals = [r.get(self.monitor) for r in self.records if r.get(self.monitor) is not None]
        if not vals:
            return None
        return min(vals) if self.mode == "min" else max(vals)

    def on_train_batch_end(self, batch, logs=None):
        self.steps_trained += 1
        CtrlC.check()

    def on_epoch_begin(self, epoch, logs=None):
        CtrlC.check()
        if self.first_epoch is None:
            self.first_epoch = epoch
        self.current = epoch + 1
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
        best_before = self._best()
        record = {"epoch": epoch + 1, "seconds": round(seconds, 3),
                  "train_seconds": round((self._steps_end or now) - self._t0, 3)}
        record.update({k: _finite(v) for k, v in logs.items()})
        self.records[:] = [r for r in self.records if r["epoch"] <= epoch] + [record]
        value = record.get(self.monitor)
        improved = value is not None and (
            best_before is None
            or (value < best_before if self.mode == "min" else value > best_before))
        files.check_space(self.run_dir,
                          CHECKPOINT_MARGIN * model_bytes(self.model) + (1 << 20))
        files.save_model_atomic(self.model, os.path.join(self.run_dir, files.LAST_MODEL))
        best_path = os.path.join(self.run_dir, files.BEST_MODEL)
        if improved or not os.path.exists(best_path):
            files.save_model_atomic(self.model, best_path)
        save_state(self.model, self.run_dir, epoch + 1, self.records)  # the commit
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


# losses and models are imported for their side effect too: they register the book's Keras
# classes (losses, layers), which load_model needs to restore a compiled model.


#: What this process trained and loaded, one entry per :func:`fit` / :func:`load_run` call:
#: ``{"run_dir", "trained": bool, "epochs", "steps", "train_seconds"}``
#: (what :func:`cost_line` sums up at the end of a chapter).
_LEDGER: list[dict] = []

class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`; the message says which epochs are saved."""


# --------------------------------------------------------------------------- callbacks


class ProgressCallback(keras.callbacks.Callback):
    """Training progress as one line on stderr, updated in place (:func:`colorutils.files.bar`).

    ``epoch k/N``, the bar over every step of the run, the running loss (and the last
    validation loss), elapsed time and time left.  A resumed run starts the bar at the epoch
    it resumes from, so the time left counts only what remains.  When the number of steps
    per epoch is unknown (a filtered dataset) the bar counts epochs.

    Parameters
    ----------
    show : bool, optional
        Override :func:`colorutils.files.enabled` (shown on a terminal only).
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
        self.bar = files.bar(total=total, initial=done, unit="step" if steps else "epoch",
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
    set_mixed_precision(mixed_precision, verbose=verbose > 0)
    if strategy is None:
        strategy = get_strategy(verbose=verbose > 0)
    set_seed(seed, deterministic=deterministic)
    with strategy.scope():
        model = model_fn()
    if mixed_precision:
        check_float32_outputs(model)
    return model, strategy


def _load_finished(model, run_dir: str, monitor: str, verbose: int,
                   epochs: int | None = None) -> FitResult:
    metrics = files.read_metrics(run_dir)
    if epochs is not None and metrics.get("epochs", 0) > epochs:
        note(f"run {run_dir} finished {metrics['epochs']} epochs, more than the "
                         f"{epochs} asked for; loading all {metrics['epochs']} (for a run of "
                         f"{epochs}, use another run folder).")
    if verbose:
        print(f"Run {run_dir} finished ({metrics['epochs']} epochs, best {monitor} "
              f"{metrics.get('best')}); loading it instead of training "
              "(force=True retrains).", flush=True)
    load_best(model, run_dir)
    try:
        history = files.read_history(run_dir)
    except ValueError as err:  # rebuilt from the resume state committed with the weights
        _, records = restore(model, run_dir, say=note)
        history = files.history_from_records(records or [])
        note(f"{first_line(err)}; rebuilt from {files.BACKUP_DIR}/.")
        load_best(model, run_dir)
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
        "strategy": describe_strategy(strategy),
        "precision": keras.mixed_precision.global_policy().name,
    }


def _stopped(run_cb, what: str) -> str:
    """``"<what> in epoch N; epochs 1 to N-1 are saved in RUN; "`` (the committed ones); the
    history file is made to say the same."""
    done = run_cb.committed
    with contextlib.suppress(OSError):  # a full disk may refuse this too: resuming fixes it
        files.write_history(run_cb.run_dir, [r for r in run_cb.records if r["epoch"] <= done])
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
            with CtrlC.deferred():  # honoured at a batch boundary, never lost
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
    done, records = resume(model, run_dir, epochs, verbose)
    run_cb = RunFolderCallback(run_dir, records, monitor, mode, epochs,
                               print_summary=verbose > 0)
    if progress_bar is None:
        progress_bar = files.enabled() and verbose != 1  # 1: Keras' own bar instead
    if progress_bar:
        callbacks = [*callbacks, ProgressCallback(show=True)]
    need = CHECKPOINT_MARGIN * model_bytes(model) + (1 << 20)
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
    files.write_metrics(run_dir, metrics)
    load_best(model, run_dir)
    return FitResult(model=model, history=files.history_from_records(run_cb.records),
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
        (:func:`colorutils.train.set_seed`); pass the same seed to the data pipeline to fix
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
        ``mixed_float16`` on GPUs (:func:`colorutils.train.set_mixed_precision`).
    strategy : tf.distribute.Strategy, optional
        Default: :func:`colorutils.train.get_strategy` (its choice is printed).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks (run before the run-folder bookkeeping).
    verbose : "auto", 0, 1 or 2
        1: Keras' progress bar and a summary line per epoch; 2: the summary line only (what a
        papermill log shows); 0: silent.  ``"auto"``: 1 in a terminal or notebook, else 2.
    deterministic : bool
        Also request deterministic TensorFlow kernels: identical reruns on a GPU.
    progress_bar : bool, optional
        One line on stderr with epoch, loss and time left (:class:`ProgressCallback`).
        Default: where :func:`colorutils.files.enabled` (a terminal, never in a notebook)
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
    with files.locked(run_dir):
        files.claim(run_dir, config, seed, monitor, force=force)
        finished = files.is_finished(run_dir, epochs)
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
    if not files.is_finished(run_dir, epochs):
        raise FileNotFoundError(f"no finished run at {run_dir!r}"
                                + (f" with {epochs} epochs" if epochs else "")
                                + "; train it with colorutils.train.fit first.")
    if monitor is None:
        monitor = (files.read_config(run_dir) or {}).get("monitor", "val_loss")
    files.claim(run_dir, config, seed, monitor)
    model, _ = _build(model_fn, seed=seed, strategy=strategy, mixed_precision=False,
                      deterministic=False, verbose=0)
    _LEDGER.append(dict(run_dir=run_dir, trained=False))
    return _load_finished(model, run_dir, monitor, verbose=0)


def load_model(path_or_run_dir: str, compile: bool = True):
    """Load a ``.keras`` file, or the best model of a run folder (``best.keras``, else
    ``last.keras``; :func:`colorutils.files.model_file`).

    The book's custom losses and layers are registered (this module imports
    :mod:`colorutils.losses` and :mod:`colorutils.models`).  If the compiled state still
    cannot be restored (a loss defined in a notebook, say), the model is loaded with
    ``compile=False`` and a warning: fine for prediction, compile it again to train.

    Raises
    ------
    FileNotFoundError
        If the path does not exist or a run folder holds no model yet.
    """
    path = files.model_file(path_or_run_dir)
    later = os.path.join(os.path.dirname(path), files.LAST_MODEL)
    if os.path.isdir(path_or_run_dir) and path != later and os.path.exists(later):
        try:
            return _load_file(path, compile)
        except OSError as err:  # a damaged best.keras: the last epoch's model instead
            note(f"{first_line(err)}; using {later} instead.")
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
