"""Files on disk, free of TensorFlow: atomic writes, run folders, progress bars, photo files.

Every file is written to a hidden temporary beside it and renamed into place
(:func:`atomic_path`), so a killed process or a full disk never leaves a partial file.  A run
folder ``<root>/<scale>/<dataset>/<name>`` (:func:`run_path`) holds ``config.json``,
``backup/``, ``last.keras``, ``best.keras``, ``history.json``, ``metrics.json`` (the
completion marker), ``report.json`` and, while a process trains there, ``lock``.

>>> with forced(False):
...     total = sum(bar(range(4), desc="counting"))
>>> total, total_of([1, 2, 3]), total_of(iter([1]))
(6, 3, None)
"""

from __future__ import annotations

import collections
import contextlib
import errno
import itertools
import json
import os
import pathlib
import re
import shutil
import socket
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from colorutils.errors import RunConflictError, UserError, first_line

__all__ = ["WriteError", "atomic_path", "write_json_atomic", "read_json", "bar", "forced",
           "default_root", "run_path", "chapter_path", "write_chapter_numbers", "shown_path",
           "is_finished", "model_file", "find_runs", "PHOTO_MODEL", "read_sidecar", "make_portable",
           "read_image", "lightness", "gray_version", "save_image", "find_images", "plan_outputs",
           "UnreadableImageError"]

#: Temporaries ``.name.tmp<pid>-<n>.ext`` (and ``name.tmp<pid>.ext``, ``name.json.tmp<pid>``
#: of earlier versions): the PID tells whether the writer lives.
_TEMPORARY = re.compile(r"\.tmp(\d+)(?:-\d+)?(?:\.|$)")
_COUNTER = itertools.count()


class WriteError(OSError):
    """A file could not be written (full disk, read-only folder, no permission)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path`` (``.x.tmp<pid>-<n>.png`` for ``x.png``: Keras
    checks the suffix) to write to; rename it into place when the block ends.

    On any failure the temporary is removed and ``path`` left as it was; an ``OSError`` (or an
    HDF5 ``RuntimeError``) becomes a :class:`WriteError` naming ``path``, with its ``errno``.

    >>> import tempfile, pathlib
    >>> folder = tempfile.mkdtemp()
    >>> with atomic_path(os.path.join(folder, "photo.png")) as tmp:
    ...     _ = pathlib.Path(tmp).write_bytes(b"whole")
    >>> os.listdir(folder)
    ['photo.png']
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    stem, dot, suffixes = name.partition(".")
    tmp = os.path.join(folder, f".{stem}.tmp{os.getpid()}-{next(_COUNTER)}{dot}{suffixes}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(err, (OSError, RuntimeError)) and not isinstance(err, WriteError):
            found = re.search(r"errno = (\d+)", str(err))  # h5py's messages
            code = getattr(err, "errno", None) or (int(found.group(1)) if found else None)
            reason = os.strerror(code) if code else str(err).splitlines()[0]
            raise WriteError(code, reason, path) from err
        raise


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Remove the temporaries in ``folder`` whose writer is gone; returns their paths."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        found = _TEMPORARY.search(name)
        if found and not _pid_alive(int(found.group(1))):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                os.remove(path)
                removed.append(path)
    return removed


def check_space(folder: str | os.PathLike, need: int) -> None:
    """Raise :class:`WriteError` (``ENOSPC``) if ``folder`` has less than ``need`` bytes free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    if free < need:
        raise WriteError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {free / 2**20:.1f} MB "
                         f"free, about {need / 2**20:.1f} MB needed", os.fspath(folder))


#: Environment variable forcing bars on (``1``) or off (``0``).
ENV_VAR = "COLORUTILS_PROGRESS"
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_forced: list[bool] = []  # a stack: the innermost forced() wins


def enabled(stream=None) -> bool:
    """Whether progress bars are shown now: as :func:`forced`, else as ``$COLORUTILS_PROGRESS``
    says, else never in a Jupyter kernel, else when ``stream`` (default stderr) is a terminal."""
    if _forced:
        return _forced[-1]
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if setting in _ON or setting in _OFF:
        return setting in _ON
    if "ipykernel" in sys.modules:
        return False
    try:
        return bool((sys.stderr if stream is None else stream).isatty())
    except (AttributeError, ValueError, OSError):  # no stream, or a closed one
        return False


@contextlib.contextmanager
def forced(on: bool) -> Iterator[None]:
    """Show (``True``) or hide (``False``) every bar inside the ``with`` block."""
    _forced.append(bool(on))
    try:
        yield
    finally:
        _forced.pop()


def total_of(iterable) -> int | None:
    """The ``len()`` of ``iterable``, or a dataset's known finite ``cardinality()``, else None."""
    cardinality = getattr(iterable, "cardinality", None)
    try:
        n = int(cardinality()) if callable(cardinality) else len(iterable)
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
        unit: str = "it", show: bool | None = None, **kwargs):
    """A ``tqdm`` progress bar on stderr over ``iterable`` (or updated by hand), disabled
    unless :func:`enabled` (or ``show``); ``total`` defaults to :func:`total_of` the iterable."""
    from tqdm import tqdm  # start-up: only when a loop runs

    if total is None and iterable is not None:
        total = total_of(iterable)
    on = enabled() if show is None else bool(show)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not on, file=sys.stderr,
                **{"dynamic_ncols": True, **kwargs})


CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
BEST_MODEL = "best.keras"
LAST_MODEL = "last.keras"
BACKUP_DIR = "backup"
REPORT_FILE = "report.json"
LOCK_FILE = "lock"
#: Everything a run wrote (``force=True`` removes exactly these).
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, BEST_MODEL, LAST_MODEL, BACKUP_DIR,
             REPORT_FILE)
RUNS_ENV_VAR = "COLORBOOK_RUNS"


def default_root() -> str:
    """Where run folders go: ``$COLORBOOK_RUNS`` or ``runs`` under the working directory."""
    return os.environ.get(RUNS_ENV_VAR, "runs")


def run_path(root: str, scale: str, dataset: str, name: str) -> str:
    """The run folder ``root/scale/dataset/name`` (the dataset made file-system safe).

    >>> run_path("runs", "book", "folder:/data/dogs", "05_joint")
    'runs/book/folder__data_dogs/05_joint'
    """
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return os.path.join(root, scale, slug, name)


def chapter_path(root: str, scale: str, dataset: str, notebook: str) -> str:
    """The JSON file of the numbers a chapter's prose quotes.

    >>> chapter_path("runs", "book", "cifar10", "02_regression_vs_classification")
    'runs/book/cifar10/chapters/02_regression_vs_classification.json'
    """
    return run_path(root, scale, dataset, os.path.join("chapters", f"{notebook}.json"))


def write_chapter_numbers(path: str | os.PathLike, numbers: Mapping) -> str:
    """Write a chapter's numbers to ``path`` (atomically, creating its folder); returns it."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    write_json_atomic(path, dict(numbers))
    return os.fspath(path)


def shown_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """``path`` without the machine's folders: ``<runs>/...`` inside ``root`` (default
    :func:`default_root`), else relative to the working directory, else its last two parts.

    >>> shown_path("/data/runs/book/cifar10/05_joint", root="/data/runs")
    '<runs>/book/cifar10/05_joint'
    """
    full = os.path.abspath(os.fspath(path))
    base = os.path.abspath(os.fspath(root if root is not None else default_root()))
    if full == base or full.startswith(base + os.sep):
        return os.path.join("<runs>", os.path.relpath(full, base))
    if full.startswith(os.getcwd() + os.sep):
        return os.path.relpath(full, os.getcwd())
    parent, name = os.path.split(full)
    return os.path.join("...", os.path.basename(parent), name)


def _json_default(value: Any):
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (np.integer, np.ndarray)):
        return value.tolist()
    return list(value) if isinstance(value, set) else str(value)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (numpy values, tuples and sets included)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=_json_default)


def read_json(path: str | os.PathLike) -> Any | None:
    """The content of a JSON file, None if there is none (a ValueError if it is not JSON)."""
    try:
        text = pathlib.Path(path).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"{os.fspath(path)} is not valid JSON ({err}); delete or repair "
                         "it.") from None


def _quiet_json(path: str | os.PathLike) -> Any | None:
    """:func:`read_json`, None where the file cannot be read."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def save_model_atomic(model, path: str) -> None:
    """``model.save`` to a temporary ``.keras`` name beside ``path``, then rename it."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def _owner(path: str) -> tuple[int, str] | None:
    """``(pid, host)`` written in a lock file, None if it cannot be read."""
    try:
        with open(path) as f:
            pid, _, host = f.read().strip().partition(" ")
        return int(pid), host
    except (OSError, ValueError):
        return None


#: Seconds :func:`locked` waits for a live holder on this host (default 0: refuse at once);
#: ``make book`` sets it, as tools/execute_book.py runs chapters side by side.
LOCK_WAIT_ENV = "COLORBOOK_LOCK_WAIT"


def _take(path: str, run_dir: str, wait: float) -> None:
    """Create the lock file: wait up to ``wait`` s for a live holder on this host, then refuse
    a live holder; a dead one's lock is taken over."""
    deadline, tries = time.monotonic() + wait, 0
    while tries < 3:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            here = owner is not None and owner[1] == socket.gethostname()
            if here and _pid_alive(owner[0]) and time.monotonic() < deadline:
                time.sleep(min(2.0, max(0.05, deadline - time.monotonic())))
                continue
            tries += 1
            if owner is not None and (not here or _pid_alive(owner[0])):
                raise UserError(
                    f"run folder {run_dir} is in use by process {owner[0]} on {owner[1]} (lock "
                    f"file {path}); wait for it to finish, or delete the lock file if it is gone."
                ) from None
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # a dead process's (or an empty) lock: taken over
            continue
        except OSError as err:
            raise UserError(f"run folder {run_dir} is not writable ({err.strerror}); give a "
                            "writable folder.") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        return
    raise UserError(f"run folder {run_dir}: could not take the lock file {path}; try again.")


@contextlib.contextmanager
def locked(run_dir: str, wait: float | None = None):
    """Hold the run folder's lock file (PID and host) while the block runs, one training at a
    time, and remove stale temporaries; ``wait`` defaults to ``$COLORBOOK_LOCK_WAIT`` (else 0).
    A :class:`UserError` names a live holder still there, or a folder that cannot be written."""
    if wait is None:
        try:
            wait = float(os.environ.get(LOCK_WAIT_ENV) or 0)
        except ValueError:
            raise UserError(f"{LOCK_WAIT_ENV}={os.environ[LOCK_WAIT_ENV]!r} must be a number of "
                            "seconds (or unset).") from None
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as err:
        raise UserError(f"run folder {run_dir} cannot be created ({err.strerror}); give a "
                        "writable folder.") from None
    path = os.path.join(run_dir, LOCK_FILE)
    _take(path, run_dir, wait)
    try:
        for folder in (run_dir, os.path.join(run_dir, BACKUP_DIR)):
            remove_stale_temporaries(folder)
        yield
    finally:
        if _owner(path) == (os.getpid(), socket.gethostname()):
            with contextlib.suppress(OSError):
                os.remove(path)


def _wanted(config: Mapping | None, seed: int, monitor: str | None) -> dict:
    """What ``config.json`` records, as it reads back from JSON (tuples become lists)."""
    wanted = {"config": dict(config or {}), "seed": int(seed), "monitor": monitor}
    return json.loads(json.dumps(wanted, default=_json_default, sort_keys=True))


def claim(run_dir: str, config: Mapping | None, seed: int, monitor: str,
          force: bool = False) -> None:
    """Make ``run_dir`` the folder of this run: create it and its ``config.json``, or check
    that it records the same ``config``, ``seed`` and ``monitor``; ``force`` first removes
    what a run wrote (:data:`RUN_FILES`).

    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> claim(run_dir, {"model": "unet", "width": 0.25}, seed=0, monitor="val_loss")
    >>> claim(run_dir, {"model": "unet", "width": 0.5}, seed=0, monitor="val_loss")
    Traceback (most recent call last):
    ...
    colorutils.errors.RunConflictError: run folder ... differing: width (was 0.25, now 0.5). ...
    """
    os.makedirs(run_dir, exist_ok=True)
    for name in RUN_FILES if force else ():
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    if read_config(run_dir) is None:
        write_json_atomic(os.path.join(run_dir, CONFIG_FILE), {
            **_wanted(config, seed, monitor), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    elif diffs := conflicts(run_dir, config, seed, monitor):
        raise RunConflictError(run_dir, diffs, "Use another run_dir, or force=True to discard "
                               "the old run and train anew.")


def conflicts(run_dir: str, config: Mapping | None, seed: int,
              monitor: str | None = None) -> list[str]:
    """What :func:`claim` would refuse (``[]``: nothing, or no run yet), one
    ``"key (was X, now Y)"`` each; ``monitor=None`` leaves the monitor out."""
    stored = read_config(run_dir) if os.path.isdir(run_dir) else None
    if stored is None:
        return []
    wanted = _wanted(config, seed, monitor)
    old, new = stored.get("config") or {}, wanted["config"]
    diffs = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            diffs.append(f"{key} (new: {new[key]!r})")
        elif key not in new:
            diffs.append(f"{key} (was {old[key]!r}, now missing)")
        elif old[key] != new[key]:
            diffs.append(f"{key} (was {old[key]!r}, now {new[key]!r})")
    keys = ("seed", "monitor") if monitor is not None else ("seed",)
    return diffs + [f"{k} (was {stored.get(k)!r}, now {wanted[k]!r})"
                    for k in keys if stored.get(k) != wanted[k]]


def read_config(run_dir: str) -> dict | None:
    """The ``config.json`` of a run folder (``{"config", "seed", "monitor", "created"}``)."""
    return read_json(os.path.join(run_dir, CONFIG_FILE))


def records_from_history(history: Mapping | None) -> list[dict]:
    """``{"epoch": [1, 2], "loss": [a, b]}`` -> ``[{"epoch": 1, "loss": a}, ...]``."""
    if not history:
        return []
    keys = [k for k in history if k != "epoch"]
    return [{"epoch": int(e), **{k: history[k][i] for k in keys}}
            for i, e in enumerate(history["epoch"])]


def history_from_records(records: list[dict]) -> dict[str, list]:
    """The inverse of :func:`records_from_history` (a key missing in a record gives None)."""
    keys = list(dict.fromkeys(k for r in records for k in r))
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
    """Whether the run finished (``metrics.json``; at least ``epochs`` epochs) and holds a model."""
    metrics = read_metrics(run_dir)
    if metrics is None or epochs is not None and not (
            metrics.get("complete") and metrics.get("epochs", 0) >= epochs):
        return False
    return any(os.path.exists(os.path.join(run_dir, name)) for name in (BEST_MODEL, LAST_MODEL))


def model_file(path_or_run_dir: str | os.PathLike) -> str:
    """A ``.keras`` file as given, or the model of a run folder: ``best.keras``, else
    ``last.keras`` (FileNotFoundError if there is none)."""
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


def find_config(model_path: str | os.PathLike) -> dict | None:
    """The ``config.json`` of a run folder, or of the run folder holding a ``.keras`` file
    (its folder or the one above); None when there is none or it is unreadable."""
    path = pathlib.Path(model_path)
    for folder in [path] if path.is_dir() else [path.parent, path.parent.parent]:
        if (folder / CONFIG_FILE).is_file():
            return _quiet_json(folder / CONFIG_FILE)
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
    return next((s[key] for s in _sections(stored) if s.get(key) is not None), None)


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


def _candidates(root: str) -> dict[str, str]:
    """Every run folder directly under ``root`` or one level further down (``group/run``)."""
    found: dict[str, str] = {}
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        path = os.path.join(root, name)
        if os.path.isdir(path) and is_finished(path):
            found[name] = name
        elif os.path.isdir(path):
            found.update({f"{name}/{sub}": f"{name}/{sub}" for sub in sorted(os.listdir(path))
                          if os.path.isdir(os.path.join(path, sub))})
    return found


def find_runs(root: str | os.PathLike, image_size: int | None = None,
              max_runs: int | None = None, exclude: tuple[str, ...] = (),
              names: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Finished runs under ``root`` for a results table: ``({label: run_dir}, notes)``.

    Left out, with a note: runs trained at another size than ``image_size``, beyond
    ``max_runs``, or missing from ``names`` (``{label: relative path}``, default every run
    folder, one level deep too); runs whose path starts with one of ``exclude``, silently.
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


#: Arguments that Keras 3.15 writes into a layer's config, with their defaults, and that older
#: Keras 3 releases (Colab's 3.13) refuse: :func:`make_portable` drops those at their default.
NEWER_KERAS_KEYS = {"input_axes": None, "output_axes": None, "renorm": False,
                    "renorm_clipping": None, "renorm_momentum": 0.99}
#: The photo model of ``make photo-model`` (``colorutils/weights/README.md``), what
#: ``colorutils colorize`` uses when no model is given; its sidecar is ``photo_unet.json``.
PHOTO_MODEL = pathlib.Path(__file__).resolve().parent / "weights" / "photo_unet.keras"


def read_sidecar(model_path: str | os.PathLike) -> dict | None:
    """The sidecar ``<name>.json`` of a ``.keras`` file
    (:func:`colorutils.experiments.export_colorizer`), None if there is none or it is unreadable."""
    path = pathlib.Path(model_path).expanduser()
    if path.suffix != ".keras" or not path.with_suffix(".json").is_file():
        return None
    stored = _quiet_json(path.with_suffix(".json"))
    return stored if isinstance(stored, dict) else None


def _without_newer_defaults(node):
    if isinstance(node, dict):
        return {k: _without_newer_defaults(v) for k, v in node.items()
                if not (k in NEWER_KERAS_KEYS and v == NEWER_KERAS_KEYS[k])}
    if isinstance(node, list):
        return [_without_newer_defaults(v) for v in node]
    return node


def make_portable(model_path: str | os.PathLike) -> int:
    """Drop the :data:`NEWER_KERAS_KEYS` at their default from a ``.keras`` file's config, so
    that older Keras 3 releases load it too (atomically; the weights are untouched); returns
    how many characters were dropped (0: already portable, the file is left)."""
    path = os.fspath(model_path)
    with zipfile.ZipFile(path) as archive:
        text = archive.read("config.json").decode("utf-8")
        members = {info: archive.read(info.filename) for info in archive.infolist()}
    config = json.loads(text)
    portable = json.dumps(_without_newer_defaults(config))
    dropped = len(text) - len(portable) if portable != json.dumps(config) else 0
    if not dropped:
        return 0
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as out:
        for info, data in members.items():
            out.writestr(info, portable if info.filename == "config.json" else data)
    return dropped


#: File name endings searched for inside input folders (explicit file inputs may have any).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")
#: Pixels per band of the full-resolution colour conversions (bounds their temporary memory).
BAND_PIXELS = 1 << 20
OUTPUT_SUFFIX = {"png": ".png", "jpeg": ".jpg"}
JPEG_QUALITY = 95
#: zlib level of PNG outputs: 1 encodes about 4x faster than Pillow's default 6 for files about
#: 10 % larger (benchmarks/bench_colorize.py).
PNG_COMPRESS_LEVEL = 1


def import_tf_quietly():
    """Import TensorFlow and Keras without their start-up chatter on file descriptor 2 (shown
    only if the import fails), so that the command's errors stay one line."""
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return sys.modules["tensorflow"], sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (e.g. some embedded interpreters)
        import keras
        import tensorflow as tf

        return tf, keras
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            import keras
            import tensorflow as tf
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tf, keras


def _color():
    """:mod:`colorutils.color`, after a quiet TensorFlow import."""
    import_tf_quietly()
    from colorutils import color  # start-up: after the quiet TensorFlow import

    return color


class UnreadableImageError(OSError):
    """A file that Pillow cannot decode (not an image, truncated, corrupt)."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a photo file with its EXIF orientation applied: uint8 ``[H, W]`` (8-bit gray),
    uint16 ``[H, W]`` (16-bit gray) or uint8 ``[H, W, 3]`` (transparency composited on white);
    :class:`UnreadableImageError`, with Pillow's reason, if it is not a readable image."""
    from PIL import Image, ImageOps  # start-up: Pillow loads with the first photo

    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise UnreadableImageError(f"not a readable image ({first_line(err)})") from err
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(img).astype(np.uint16)
    if img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if img.mode == "I" or arr.max(initial=0) > 1.0 else 1.0
        return np.clip(np.round(arr / scale * 65535.0), 0, 65535).astype(np.uint16)
    if img.mode in ("L", "1"):
        return np.asarray(img.convert("L"))
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(img.convert("RGB"))


def bands(height: int, width: int):
    """Row slices of at most about :data:`BAND_PIXELS` pixels covering an image."""
    rows = max(1, BAND_PIXELS // max(width, 1))
    for r0 in range(0, height, rows):
        yield slice(r0, min(r0 + rows, height))


def lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* (0..100, float32 ``[H, W]``) of a uint8/uint16 gray or uint8/float RGB image:
    gray levels through an exact lookup table, colour in bands (:func:`bands`)."""
    color = _color()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        if image.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"a gray image must be uint8 or uint16, got {image.dtype}; "
                             "convert with (x * 255).round().astype('uint8').")
        top = np.iinfo(image.dtype).max
        levels = np.arange(top + 1, dtype=np.float32) / float(top)
        table = np.asarray(color.rgb_to_lab(np.repeat(levels[:, None], 3, axis=1)))[:, 0]
        return table.astype(np.float32)[image]
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image shape {image.shape}: expected [H, W] gray or [H, W, 3] RGB.")
    if image.dtype != np.uint8:
        image = image.astype(np.float32)
        if image.size and (image.min() < 0.0 or image.max() > 1.0):
            raise ValueError("a float RGB image must lie in [0, 1]; divide by 255 or pass uint8.")
    out = np.empty(image.shape[:2], np.float32)
    for band in bands(*image.shape[:2]):
        lab = color.rgb_to_lab(np.ascontiguousarray(image[band]), validate=False)
        out[band] = np.asarray(lab)[..., 0]
    return out


def gray_version(image: np.ndarray) -> np.ndarray:
    """The photo as the model sees it: its lightness with ``a = b = 0``, uint8 RGB [H, W, 3]."""
    color = _color()
    L = lightness(image)
    out = np.empty(L.shape + (3,), np.uint8)
    zeros = np.zeros((1, 1, 2), np.float32)
    for band in bands(*L.shape):
        out[band] = color.to_uint8(color.recombine(color.normalize_l(L[band][..., None]), zeros))
    return out


def save_image(rgb: np.ndarray, path: str | os.PathLike, fmt: str = "png") -> None:
    """Write uint8 RGB as PNG or JPEG, atomically (:func:`atomic_path`)."""
    from PIL import Image  # start-up: Pillow loads with the first photo

    options = (dict(format="JPEG", quality=JPEG_QUALITY) if fmt == "jpeg"
               else dict(format="PNG", compress_level=PNG_COMPRESS_LEVEL))
    img = Image.fromarray(rgb)
    with atomic_path(path) as tmp:
        img.save(tmp, **options)


def read_lightness(path: str | os.PathLike):
    """``(L, None)`` of a photo file, or ``(None, reason)`` if it cannot be read."""
    try:
        return lightness(read_image(path)), None
    except OSError as err:  # UnreadableImageError, FileNotFoundError, a permission error
        return None, first_line(err)


def save_result(result, output: pathlib.Path, compare_output: pathlib.Path | None = None,
                fmt: str = "png", overwrite: bool = False) -> pathlib.Path:
    """Save a colorized photo (``rgb``, or ``(rgb, gray)`` with ``compare_output``: then the
    two side by side too), keeping files that exist unless ``overwrite``."""
    output = pathlib.Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(err.errno, err.strerror, str(output.parent)) from None
    rgb, gray = result if compare_output is not None else (result, None)
    if overwrite or not output.exists():
        save_image(rgb, output, fmt)
    if compare_output is not None and (overwrite or not pathlib.Path(compare_output).exists()):
        gap = np.full((gray.shape[0], 8, 3), 255, np.uint8)
        save_image(np.concatenate([gray, gap, rgb], axis=1), compare_output, fmt)
    return output


def output_paths(relative: str | os.PurePath, out_dir: str | os.PathLike, fmt: str = "png",
                 tag: str | None = None) -> tuple[pathlib.Path, pathlib.Path]:
    """``(colorized, comparison)`` paths under ``out_dir`` of an input at ``relative`` (its
    path inside the input folder); ``tag`` replaces its stem.

    >>> [p.as_posix() for p in output_paths("airplane/0000.jpg", "out")]
    ['out/airplane/0000_colorized.png', 'out/airplane/0000_compare.png']
    """
    ext, relative = OUTPUT_SUFFIX[fmt], pathlib.PurePath(relative)
    folder, stem = pathlib.Path(out_dir) / relative.parent, tag or relative.stem
    return folder / f"{stem}_colorized{ext}", folder / f"{stem}_compare{ext}"


def _find_inputs(inputs: Iterable[str | os.PathLike], exclude: str | os.PathLike | None = None
                 ) -> list[tuple[pathlib.Path, pathlib.PurePath]]:
    """``[(photo, its path relative to its input)]``, each once: files as given, folders searched
    recursively for :data:`IMAGE_SUFFIXES` (not hidden ones; not earlier outputs ``*_colorized.*``,
    ``*_compare.*`` inside ``exclude``)."""
    excluded = pathlib.Path(exclude).resolve() if exclude is not None else None
    found: dict[pathlib.Path, tuple[pathlib.Path, pathlib.PurePath]] = {}
    for item in inputs:
        p = pathlib.Path(item).expanduser()
        if not p.is_dir():
            found.setdefault(p.resolve(), (p, pathlib.PurePath(p.name)))
            continue
        for f in sorted(p.rglob("*")):
            if (f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                    and not any(part.startswith(".") for part in f.relative_to(p).parts)
                    and not (excluded is not None and f.resolve().is_relative_to(excluded)
                             and f.stem.endswith(("_colorized", "_compare")))):
                found.setdefault(f.resolve(), (f, pathlib.PurePath(f.relative_to(p))))
    return list(found.values())


def find_images(inputs: Iterable[str | os.PathLike],
                exclude: str | os.PathLike | None = None) -> list[pathlib.Path]:
    """The photo files among ``inputs`` (files, and folders searched recursively)."""
    return [f for f, _ in _find_inputs(inputs, exclude)]


def plan_outputs(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
                 fmt: str = "png", compare: bool = False
                 ) -> list[tuple[pathlib.Path, pathlib.Path, pathlib.Path]]:
    """``[(photo, colorized, comparison)]``: the input tree mirrored under ``out_dir``
    (:func:`output_paths`; ``x.jpg`` beside ``x.png`` become ``x_jpg_...``, ``x_png_...``).
    A :class:`UserError` if no photo is found, two share an output, or an output is an input."""
    out_dir = pathlib.Path(out_dir).expanduser()
    if fmt not in OUTPUT_SUFFIX:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(OUTPUT_SUFFIX)}.")
    inputs = list(inputs)
    found = _find_inputs(inputs, exclude=out_dir)
    if not found:
        raise UserError(f"no images found in {', '.join(map(str, inputs))} (looked for "
                        f"{', '.join(IMAGE_SUFFIXES)}).")
    first = [output_paths(rel, out_dir, fmt)[0] for _, rel in found]
    clash = {t for t, n in collections.Counter(first).items() if n > 1}
    plan, targets = [], {}
    for (f, rel), target in zip(found, first, strict=True):
        tag = f"{rel.stem}_{rel.suffix.lstrip('.').lower()}" if target in clash else None
        main, comp = output_paths(rel, out_dir, fmt, tag)
        if main in targets:
            raise UserError(f"inputs {targets[main]} and {f} would both be written to {main}; "
                            "colorize them into separate --out folders.")
        targets[main] = f
        plan.append((f, main, comp))
    inputs_resolved = {f.resolve() for f, _ in found}
    for _f, main, comp in plan:
        for target in (main, comp) if compare else (main,):
            if target.resolve() in inputs_resolved:
                raise UserError(f"output {target} would overwrite an input; choose another "
                                "--out (outputs are never written over inputs).")
    return plan
