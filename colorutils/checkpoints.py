"""The resume state of a run folder: ``backup/``, written atomically, read with fall-backs.

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
import math
import os
import re
import signal
import sys
import threading
import time

import keras

from colorutils import data, files, runs
from colorutils.errors import UserError, first_line

__all__ = ["KEEP_STATES", "CHECKPOINT_MARGIN", "state_paths", "saved_states", "save_state",
           "restore", "model_bytes", "load_weights", "load_best", "resume", "note",
           "CtrlC", "RunFolderCallback"]

#: Resume states kept in ``backup/`` (the newest, and the one before in case it is damaged).
KEEP_STATES = 2
_STATE = re.compile(r"^state-(\d+)\.json$")
_LEGACY = (("latest.weights.h5", "training_metadata.json"),
           ("latest.weights.h5.bkp", "training_metadata.json.bkp"))


def state_paths(run_dir: str, epoch: int) -> tuple[str, str]:
    """``(weights, json)`` paths of the state after ``epoch``."""
    base = os.path.join(run_dir, runs.BACKUP_DIR, f"state-{epoch:04d}")
    return f"{base}.weights.h5", f"{base}.json"


def saved_states(run_dir: str) -> list[tuple[int | None, str, str]]:
    """``(epoch, weights, json)`` of every state in ``backup/``, newest first (epoch None:
    a Keras ``BackupAndRestore`` state, whose epoch is in its JSON file)."""
    folder = os.path.join(run_dir, runs.BACKUP_DIR)
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
    os.makedirs(os.path.join(run_dir, runs.BACKUP_DIR), exist_ok=True)
    weights, meta = state_paths(run_dir, epoch)
    with files.atomic_path(weights) as tmp:
        model.save_weights(tmp)
    runs.write_json_atomic(meta, {"epoch": epoch, "history": records})
    for _, old_weights, old_meta in saved_states(run_dir)[KEEP_STATES:]:
        for path in (old_meta, old_weights):  # the commit first
            if os.path.exists(path):
                os.remove(path)


def _load(model, epoch, weights: str, meta: str) -> tuple[int, list[dict] | None]:
    """The epoch and history of one state, its weights loaded into ``model``."""
    stored = runs.read_json(meta)
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
                        f"delete {os.path.join(run_dir, runs.BACKUP_DIR)} to train this run "
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
    for name in (runs.BEST_MODEL, runs.LAST_MODEL):
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
    """The epochs done and their records (:func:`colorutils.checkpoints.restore`); the
    history file is rewritten to agree with them."""
    done, records = restore(model, run_dir, say=note)
    if records is None:  # a new run, or the state of an earlier version: history.json's
        records = [r for r in runs.records_from_history(runs.read_history(run_dir))
                   if r["epoch"] <= done] if done else []
    if runs.records_from_history(_history_or_none(run_dir)) != records:
        runs.write_history(run_dir, records)
    if done and verbose:
        print(f"Resuming {run_dir} after epoch {done} of {epochs}.", flush=True)
    return done, records


def _history_or_none(run_dir: str) -> dict | None:
    try:
        return runs.read_history(run_dir)
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
        runs.save_model_atomic(self.model, os.path.join(self.run_dir, runs.LAST_MODEL))
        best_path = os.path.join(self.run_dir, runs.BEST_MODEL)
        if improved or not os.path.exists(best_path):
            runs.save_model_atomic(self.model, best_path)
        save_state(self.model, self.run_dir, epoch + 1, self.records)  # the commit
        self.committed = epoch + 1
        runs.write_history(self.run_dir, self.records)
        self.epochs_trained += 1
        self.train_seconds += record["train_seconds"]
        if self.print_summary:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items()
                              if isinstance(v, (int, float)))
            mark = "  *best*" if improved else ""
            print(f"epoch {epoch + 1}/{self.epochs}  {shown}  ({seconds:.1f} s){mark}",
                  flush=True)
