"""The run folder: the one place that knows how a training run is laid out on disk.

Every model the book trains lives in a **run folder** under the run root
(``$COLORBOOK_RUNS``, default ``runs``), at ``<root>/<scale>/<dataset>/<name>``::

    run_dir/
      config.json     what this run is: {"config": {...}, "seed": 0, "monitor": "val_loss",
                      "created": "..."}; a run with another config is refused, never mixed
      backup/         the resume state of the last two epochs (:mod:`colorutils.checkpoints`)
      last.keras      the model after the last finished epoch
      best.keras      the model of the best epoch so far (by ``monitor``)
      history.json    {"epoch": [1, 2, ...], "loss": [...], ...}, rewritten after every epoch
      metrics.json    written once training has finished: the completion marker
      report.json     what the full-scale recipe measured (speed, quality against gray), if run
      lock            while a process trains here: its PID and host (:func:`locked`)

:func:`colorutils.train.fit` writes these files through this module; the command line, the
evaluation and the studies read them through it.  Every file is written to a temporary name and
then renamed (:mod:`colorutils.files`), so a session that dies mid-write leaves the previous
version, never half a file.

Nothing here imports TensorFlow: the command line can check a path before TensorFlow loads.
Keras models are saved through their own ``save`` method and loaded by
:func:`colorutils.train.load_model` (which needs the book's losses and layers registered).

Examples
--------
>>> import tempfile
>>> run_dir = tempfile.mkdtemp()
>>> claim(run_dir, {"model": "unet", "width": 0.25}, seed=0, monitor="val_loss")
>>> read_config(run_dir)["config"]
{'model': 'unet', 'width': 0.25}
>>> is_finished(run_dir)
False
>>> claim(run_dir, {"model": "unet", "width": 0.5}, seed=0, monitor="val_loss")
Traceback (most recent call last):
...
colorutils.errors.RunConflictError: run folder ... belongs to another configuration; differing: width (was 0.25, now 0.5). Use another run_dir, or force=True to discard the old run and train anew.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from colorutils import files
from colorutils.errors import RunConflictError, UserError

__all__ = [
    "CONFIG_FILE", "HISTORY_FILE", "METRICS_FILE", "BEST_MODEL", "LAST_MODEL", "BACKUP_DIR",
    "RUN_FILES", "RUNS_ENV_VAR", "default_root", "run_path", "write_json_atomic", "read_json",
    "save_model_atomic", "LOCK_FILE", "locked", "claim", "conflicts", "clear", "config_difference", "read_config",
    "read_history",
    "write_history", "read_metrics", "write_metrics", "REPORT_FILE", "is_finished",
    "model_file",
    "find_config", "config_value", "training_size", "find_runs",
    "history_from_records", "records_from_history", "CHAPTERS_DIR", "chapter_path",
    "write_chapter_numbers", "shown_path",
]

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
BEST_MODEL = "best.keras"
LAST_MODEL = "last.keras"
BACKUP_DIR = "backup"
REPORT_FILE = "report.json"
#: Held while a process trains in the folder (its PID and host): :func:`locked`.
LOCK_FILE = "lock"
#: Everything a run folder holds (``force=True`` removes exactly these).
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, BEST_MODEL, LAST_MODEL, BACKUP_DIR, REPORT_FILE)
#: Environment variable naming the run root (e.g. a Google Drive folder on Colab).
RUNS_ENV_VAR = "COLORBOOK_RUNS"


# --------------------------------------------------------------------------- where runs live


def default_root() -> str:
    """Where run folders go: ``$COLORBOOK_RUNS`` or ``runs`` under the working directory."""
    return os.environ.get(RUNS_ENV_VAR, "runs")


def run_path(root: str, scale: str, dataset: str, name: str) -> str:
    """The run folder ``root/scale/dataset/name`` (the dataset made file-system safe).

    Keeping scale and dataset in the path means a smoke run never collides with a book run,
    and a chapter can reuse (not retrain) a model an earlier chapter finished.

    >>> run_path("runs", "book", "folder:/data/dogs", "05_joint")
    'runs/book/folder__data_dogs/05_joint'
    """
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return os.path.join(root, scale, slug, name)


#: Folder, next to a scale's and dataset's run folders, of the numbers each chapter quotes.
CHAPTERS_DIR = "chapters"


def chapter_path(root: str, scale: str, dataset: str, notebook: str) -> str:
    """The JSON file of the numbers a chapter's prose quotes:
    ``root/scale/dataset/chapters/<notebook>.json``.

    >>> chapter_path("runs", "book", "cifar10", "02_regression_vs_classification")
    'runs/book/cifar10/chapters/02_regression_vs_classification.json'
    """
    return run_path(root, scale, dataset, os.path.join(CHAPTERS_DIR, f"{notebook}.json"))


def write_chapter_numbers(path: str | os.PathLike, numbers: Mapping) -> str:
    """Write a chapter's numbers (means, intervals, per-seed values, model names) to ``path``
    atomically, creating its folder; returns ``path``.  Tests and scripts read them back with
    :func:`read_json` instead of parsing the rendered page."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    write_json_atomic(path, dict(numbers))
    return os.fspath(path)


def shown_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """``path`` as a page or a log may show it, without the machine's absolute folders:
    relative to ``root`` (default: the run root, :func:`default_root`) as ``<runs>/...``
    when it lies inside it, else relative to the working directory when inside that, else
    only its last two parts.

    >>> shown_path("/data/runs/book/cifar10/05_joint", root="/data/runs")
    '<runs>/book/cifar10/05_joint'
    """
    full = os.path.abspath(os.fspath(path))
    base = os.path.abspath(os.fspath(root if root is not None else default_root()))
    if full == base or full.startswith(base + os.sep):
        return os.path.join("<runs>", os.path.relpath(full, base))
    here = os.getcwd()
    if full.startswith(here + os.sep):
        return os.path.relpath(full, here)
    parent, name = os.path.split(full)
    return os.path.join("...", os.path.basename(parent), name)


# --------------------------------------------------------------------------- atomic files


def _json_default(value: Any):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _normalize(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, numpy scalars numbers)."""
    return json.loads(json.dumps(obj, default=_json_default, sort_keys=True))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (:func:`colorutils.files.atomic_path`).

    A reader (or a resumed run) sees either the previous file or the complete new one.  Numpy
    numbers and arrays, tuples and sets are written as JSON numbers and lists.
    """
    with files.atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=_json_default)


def read_json(path: str | os.PathLike) -> Any | None:
    """The content of a JSON file, or None if there is no such file.

    Raises
    ------
    ValueError
        If the file exists but is not valid JSON (naming the file: delete or repair it).
    """
    try:
        text = pathlib.Path(path).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"{os.fspath(path)} is not valid JSON ({err}); delete or repair "
                         "it.") from None


def save_model_atomic(model, path: str) -> None:
    """``model.save`` to a temporary ``.keras`` name beside ``path``, then rename it."""
    with files.atomic_path(path) as tmp:
        model.save(tmp)


@contextlib.contextmanager
def locked(run_dir: str):
    """Hold the run folder's :data:`LOCK_FILE` (created with the folder): one training at a
    time; a lock left by a dead process is taken over, and a read-only folder is refused
    here, before any work (:func:`colorutils.files.folder_lock`)."""
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as err:
        raise UserError(f"run folder {run_dir} cannot be created ({err.strerror}); give a "
                        "writable folder.") from None
    with files.folder_lock(run_dir, LOCK_FILE, "run folder"):
        for folder in (run_dir, os.path.join(run_dir, BACKUP_DIR)):
            files.remove_stale_temporaries(folder)
        yield


# --------------------------------------------------------------------------- configuration


def config_difference(stored: Mapping, wanted: Mapping) -> list[str]:
    """One line per key whose value differs: ``"width (was 0.25, now 0.5)"``."""
    diffs = []
    for key in sorted(set(stored) | set(wanted)):
        if key not in stored:
            diffs.append(f"{key} (new: {wanted[key]!r})")
        elif key not in wanted:
            diffs.append(f"{key} (was {stored[key]!r}, now missing)")
        elif stored[key] != wanted[key]:
            diffs.append(f"{key} (was {stored[key]!r}, now {wanted[key]!r})")
    return diffs


def clear(run_dir: str) -> None:
    """Remove everything a run wrote (:data:`RUN_FILES`) from ``run_dir``."""
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def claim(run_dir: str, config: Mapping | None, seed: int, monitor: str,
          force: bool = False) -> None:
    """Make ``run_dir`` the folder of this run: create it and its ``config.json``, or check it.

    ``config`` (JSON-able) is compared with the stored one as it reads back from JSON (tuples
    equal lists), and so are ``seed`` and ``monitor`` (the metric that picks ``best.keras``);
    ``force`` discards what the folder holds first (:func:`clear`).

    Raises
    ------
    ValueError
        If the folder belongs to another configuration, seed or monitor; the message lists
        the keys that differ.
    """
    os.makedirs(run_dir, exist_ok=True)
    if force:
        clear(run_dir)
    if read_config(run_dir) is None:
        wanted = _normalize({"config": dict(config or {}), "seed": int(seed), "monitor": monitor})
        write_json_atomic(os.path.join(run_dir, CONFIG_FILE),
                          {**wanted, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return
    diffs = conflicts(run_dir, config, seed, monitor)
    if diffs:
        raise RunConflictError(run_dir, diffs, "Use another run_dir, or force=True to discard "
                               "the old run and train anew.")


def conflicts(run_dir: str, config: Mapping | None, seed: int,
              monitor: str | None = None) -> list[str]:
    """What :func:`claim` would refuse (``[]``: nothing, or no run yet), without touching the
    folder; ``monitor=None`` leaves the monitor out."""
    stored = read_config(run_dir) if os.path.isdir(run_dir) else None
    if stored is None:
        return []
    wanted = _normalize({"config": dict(config or {}), "seed": int(seed), "monitor": monitor})
    diffs = config_difference(stored.get("config") or {}, wanted["config"])
    keys = ("seed", "monitor") if monitor is not None else ("seed",)
    return diffs + [f"{k} (was {stored.get(k)!r}, now {wanted[k]!r})"
                    for k in keys if stored.get(k) != wanted[k]]


def read_config(run_dir: str) -> dict | None:
    """The ``config.json`` of a run folder (``{"config", "seed", "monitor", "created"}``)."""
    return read_json(os.path.join(run_dir, CONFIG_FILE))


# --------------------------------------------------------------------------- progress


def records_from_history(history: Mapping | None) -> list[dict]:
    """``{"epoch": [1, 2], "loss": [a, b]}`` -> ``[{"epoch": 1, "loss": a}, ...]``."""
    if not history:
        return []
    keys = [k for k in history if k != "epoch"]
    return [{"epoch": int(e), **{k: history[k][i] for k in keys}}
            for i, e in enumerate(history["epoch"])]


def history_from_records(records: list[dict]) -> dict[str, list]:
    """The inverse of :func:`records_from_history` (a key missing in a record gives None)."""
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    return {k: [r.get(k) for r in records] for k in keys}


def read_history(run_dir: str) -> dict:
    """The ``history.json`` of a run folder (``{}`` if none yet)."""
    return read_json(os.path.join(run_dir, HISTORY_FILE)) or {}


def write_history(run_dir: str, records: list[dict]) -> None:
    """Write one record per finished epoch as ``history.json``."""
    write_json_atomic(os.path.join(run_dir, HISTORY_FILE), history_from_records(records))


def read_metrics(run_dir: str) -> dict | None:
    """The ``metrics.json`` of a run folder, or None if the run has not finished."""
    return read_json(os.path.join(run_dir, METRICS_FILE))


def write_metrics(run_dir: str, metrics: Mapping) -> None:
    """Write ``metrics.json``: the run is complete from now on."""
    write_json_atomic(os.path.join(run_dir, METRICS_FILE), dict(metrics))


def is_finished(run_dir: str, epochs: int | None = None) -> bool:
    """Whether the run has finished (``metrics.json``, the completion marker) and holds a
    model; with ``epochs``, also whether it completed at least that many epochs."""
    metrics = read_metrics(run_dir)
    if metrics is None:
        return False
    if epochs is not None and not (metrics.get("complete")
                                   and metrics.get("epochs", 0) >= epochs):
        return False
    return any(os.path.exists(os.path.join(run_dir, name)) for name in (BEST_MODEL, LAST_MODEL))


def model_file(path_or_run_dir: str | os.PathLike) -> str:
    """A ``.keras`` file as given, or the model of a run folder: ``best.keras``, else
    ``last.keras``.

    Raises
    ------
    FileNotFoundError
        If the path does not exist or a run folder holds no model yet.
    """
    path = os.fspath(path_or_run_dir)
    if os.path.isdir(path):
        for name in (BEST_MODEL, LAST_MODEL):
            if os.path.exists(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(
            f"run folder {path!r} holds no {BEST_MODEL} or {LAST_MODEL} yet; has training "
            "finished at least one epoch?")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model at {path!r}: give a .keras file or a run folder.")
    return path


# --------------------------------------------------------------------------- what a run says


def find_config(model_path: str | os.PathLike) -> dict | None:
    """The ``config.json`` of a run folder, or of the run folder holding a ``.keras`` file
    (its folder or the one above); None when there is none or it is unreadable."""
    model_path = pathlib.Path(model_path)
    folders = ([model_path] if model_path.is_dir()
               else [model_path.parent, model_path.parent.parent])
    for folder in folders:
        if (folder / CONFIG_FILE).is_file():
            try:
                return read_config(str(folder))
            except (OSError, ValueError):
                return None
    return None


def _sections(stored: Mapping | None) -> list[Mapping]:
    """``stored`` and the dicts one level down (``{"config": {...}}``), in that order."""
    if not isinstance(stored, Mapping):
        return []
    return [stored] + [v for v in stored.values() if isinstance(v, Mapping)]


def config_value(stored: Mapping | None, key: str):
    """``stored[key]``, or the first ``stored[<section>][key]`` one level down (None if absent).

    >>> config_value({"config": {"space": "hsv"}, "seed": 0}, "space")
    'hsv'
    """
    for section in _sections(stored):
        if section.get(key) is not None:
            return section[key]
    return None


def training_size(stored: Mapping | None) -> int | None:
    """The training image size a run recorded (``image_size``, at the top or one level down).

    >>> training_size({"config": {"image_size": 32}})
    32
    """
    for section in _sections(stored):
        value = section.get("image_size")
        if isinstance(value, int) and value > 0:
            return value
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
            return min(value)
    return None


# --------------------------------------------------------------------------- finding runs


def _candidates(root: str) -> dict[str, str]:
    """Every run folder directly under ``root`` or one level further down (``group/run``)."""
    found: dict[str, str] = {}
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        path = os.path.join(root, name)
        if not os.path.isdir(path):
            continue
        if is_finished(path):
            found[name] = name
            continue
        for sub in sorted(os.listdir(path)):
            if os.path.isdir(os.path.join(path, sub)):
                found[f"{name}/{sub}"] = f"{name}/{sub}"
    return found


def find_runs(root: str | os.PathLike, image_size: int | None = None,
              max_runs: int | None = None, exclude: tuple[str, ...] = (),
              names: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Finished runs under ``root``, for a results table.

    A run folder counts when it holds ``metrics.json`` and ``best.keras`` or ``last.keras``.
    With ``image_size``, runs whose ``config.json`` records another training size are left out
    (all methods of a table must see the same images at the same size).  Whether a run is a
    *colorization* model is checked when it is loaded
    (:func:`colorutils.inference.load_colorizers`).

    ``root`` is the run root of one scale and dataset; ``max_runs`` keeps that many (in name
    order, the rest noted); runs whose relative path starts with one of ``exclude`` are skipped
    silently; ``names`` (``{label: relative run path}``) looks only at these runs and notes the
    missing or unfinished ones (default: every run folder under ``root``, one level deep too).

    Returns
    -------
    (runs, notes) : ``{label: run_dir}`` and one line per run left out.
    """
    root = os.fspath(root)
    candidates = dict(names) if names is not None else _candidates(root)
    runs: dict[str, str] = {}
    notes: list[str] = []
    for label, rel in candidates.items():
        run_dir = os.path.join(root, rel)
        if rel.startswith(tuple(exclude)):
            continue
        if not os.path.isdir(run_dir) or not is_finished(run_dir):
            if names is not None:
                notes.append(f"{label}: no finished run at {run_dir}.")
            continue
        size = training_size(find_config(run_dir))
        if image_size is not None and size is not None and size != image_size:
            notes.append(f"{label}: trained at {size} px, not {image_size} px; left out.")
        elif max_runs is not None and len(runs) >= max_runs:
            notes.append(f"{label}: more than {max_runs} runs; left out.")
        else:
            runs[label] = run_dir
    return runs, notes
