"""Files that are whole or absent: atomic writes, stale temporaries, folder locks, free space.

Every file the library writes (colorized photos, checkpoints, run-folder JSON) is written to a
hidden temporary name in its own folder and renamed into place (:func:`atomic_path`):
:func:`os.replace` is atomic on POSIX and Windows, so a process killed mid-write, a full disk
or a read-only folder never leaves a partial file under a final name.  A temporary is removed
when the write fails; one left by a killed process (its PID is in the name) is removed by the
next writer of that folder (:func:`remove_stale_temporaries`).

:func:`folder_lock` makes a folder one process's at a time (a run folder while it trains): a
lock file holding the owner's PID and host, taken over when that process is gone.

Nothing here imports TensorFlow or the rest of the library, except :mod:`colorutils.errors`.

Examples
--------
>>> import tempfile, pathlib
>>> folder = tempfile.mkdtemp()
>>> target = os.path.join(folder, "photo_colorized.png")
>>> with atomic_path(target) as tmp:
...     _ = pathlib.Path(tmp).write_bytes(b"whole")
>>> sorted(os.listdir(folder))
['photo_colorized.png']

Progress bars for the long loops (a whole split, a training run), on a terminal only.

Every loop of the library that walks a whole split (scoring a model, counting the colour
prior, collecting a split into arrays, building the sample set) and training itself
(:class:`colorutils.train.ProgressCallback`) show their progress through :func:`bar`: one
line on stderr, updated in place (tqdm), with the count, the rate and the time left.

When a bar is shown (:func:`enabled`):

* never inside a Jupyter kernel (the rendered book, nbval, papermill): a bar there would be
  written into the notebook's outputs;
* otherwise when stderr is a terminal, so a bar never lands in a log file or a test's
  captured output;
* the environment variable ``COLORUTILS_PROGRESS`` overrides both (``1``: always, e.g. to
  follow a papermill run with ``--log-output``; ``0``: never);
* :func:`forced` (a context manager) overrides everything for a block of code (the command
  line's ``--quiet``).

Nothing here imports TensorFlow: a dataset's length is read through its ``cardinality()``.

Examples
--------
>>> with forced(False):
...     total = sum(bar(range(4), desc="counting"))
>>> total
6
>>> total_of([1, 2, 3]), total_of(iter([1]))
(3, None)

The run folder: the one place that knows how a training run is laid out on disk.

Every model the book trains lives in a **run folder** under the run root
(``$COLORBOOK_RUNS``, default ``runs``), at ``<root>/<scale>/<dataset>/<name>``::

    run_dir/
      config.json     what this run is: {"config": {...}, "seed": 0, "monitor": "val_loss",
                      "created": "..."}; a run with another config is refused, never mixed
      backup/         the resume state of the last two epochs (:mod:`colorutils.train`)
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

The model that ships inside the package, and the sidecar file that describes it.

A ``.keras`` file says how to rebuild a network, not how to use it.  Its sidecar
``<name>.json`` (written by :func:`colorutils.experiments.export_colorizer`) says that: the
training size (``image_size``), the head and colour space, the ab grid of its bins
(``grid_size``), its decoding defaults (``temperature``, ``smooth_sigma``), its rebalancing
``lambda``, and its ``provenance`` (recipe, data set and split, commit, date, training time and
speed, quality figures on held-out photos).

:data:`PHOTO_MODEL` is the photo model of ``make photo-model`` (the photo recipe on Caltech 101,
see ``colorutils/weights/README.md``): what ``colorutils colorize`` and
:func:`colorutils.colorize.open_colorizer` use when no model is given.

Photo files for the ``colorize`` command: read, reduce to lightness, save, find, name.

A colorization model sees only the lightness ``L`` of a photo.  This module turns photo files
into that input and the results back into files, within a bounded memory:

* :func:`read_image` decodes JPEG, PNG, 16-bit PNG, TIFF, ... with the EXIF orientation
  applied, and :func:`lightness` reduces any gray or colour photo to CIE L* at full
  resolution, converting in bands of about :data:`BAND_PIXELS` pixels (:func:`bands`), so the
  temporary memory does not grow with the photo;
* :func:`gray_version` (what the model sees, as RGB), :func:`side_by_side` and
  :func:`save_image` (PNG or JPEG at :data:`JPEG_QUALITY`) make the outputs;
* :func:`find_inputs` expands files and folders, :func:`output_paths` names the outputs and
  :func:`plan_outputs` lays them out: the input tree mirrored under the output folder
  (``in/airplane/0000.jpg`` -> ``out/airplane/0000_colorized.png``, one output per input),
  never over an input.

TensorFlow is imported through :func:`import_tf_quietly`, only when a conversion needs it, so
that the command answers argument errors in one line before TensorFlow starts.
"""

from __future__ import annotations

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

__all__ = [
    "WriteError",
    "temporary_name",
    "atomic_path",
    "remove_stale_temporaries",
    "pid_alive",
    "folder_lock",
    "free_bytes",
    "check_space",
    "ENV_VAR",
    "enabled",
    "forced",
    "total_of",
    "bar",
    "CONFIG_FILE",
    "HISTORY_FILE",
    "METRICS_FILE",
    "BEST_MODEL",
    "LAST_MODEL",
    "BACKUP_DIR",
    "RUN_FILES",
    "RUNS_ENV_VAR",
    "default_root",
    "run_path",
    "write_json_atomic",
    "read_json",
    "save_model_atomic",
    "LOCK_FILE",
    "locked",
    "claim",
    "conflicts",
    "clear",
    "config_difference",
    "read_config",
    "read_history",
    "write_history",
    "read_metrics",
    "write_metrics",
    "REPORT_FILE",
    "is_finished",
    "model_file",
    "find_config",
    "config_value",
    "training_size",
    "find_runs",
    "history_from_records",
    "records_from_history",
    "CHAPTERS_DIR",
    "chapter_path",
    "write_chapter_numbers",
    "shown_path",
    "PHOTO_MODEL",
    "NEWER_KERAS_KEYS",
    "read_sidecar",
    "make_portable",
    "IMAGE_SUFFIXES",
    "BAND_PIXELS",
    "OUTPUT_SUFFIX",
    "JPEG_QUALITY",
    "PNG_COMPRESS_LEVEL",
    "import_tf_quietly",
    "UnreadableImageError",
    "read_image",
    "bands",
    "lightness",
    "gray_version",
    "side_by_side",
    "save_image",
    "output_paths",
    "read_lightness",
    "save_result",
    "find_inputs",
    "find_images",
    "Planned",
    "plan_outputs",
]


#: Temporaries of this library (``.name.tmp<pid>-<n>.ext``) and of its earlier versions
#: (``name.tmp<pid>.ext``, ``name.json.tmp<pid>``): the PID tells whether the writer lives.
TEMPORARY = re.compile(r"\.tmp(\d+)(?:-\d+)?(?:\.|$)")
_COUNTER = itertools.count()


class WriteError(OSError):
    """A file could not be written (full disk, read-only folder, no permission)."""


def temporary_name(path: str | os.PathLike) -> str:
    """A hidden name beside ``path`` with its suffixes kept (Keras checks ``.keras`` and
    ``.weights.h5``): ``out/x_colorized.png`` -> ``out/.x_colorized.tmp<pid>-<n>.png``."""
    folder, name = os.path.split(os.fspath(path))
    stem, dot, suffixes = name.partition(".")
    return os.path.join(folder, f".{stem}.tmp{os.getpid()}-{next(_COUNTER)}{dot}{suffixes}")


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path to write ``path`` to; rename it into place when the block ends.

    On any failure (an exception, Ctrl-C) the temporary is removed and ``path`` is left as it
    was.  An ``OSError`` (or an HDF5 ``RuntimeError``) while writing becomes a
    :class:`WriteError` naming ``path``, with the system's reason and ``errno``.
    """
    path = os.fspath(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(err, (OSError, RuntimeError)) and not isinstance(err, WriteError):
            code = getattr(err, "errno", None) or _errno_in(str(err))
            reason = os.strerror(code) if code else str(err).splitlines()[0]
            raise WriteError(code, reason, path) from err
        raise


def _errno_in(message: str) -> int | None:
    """The ``errno = N`` h5py puts in its messages, if any."""
    found = re.search(r"errno = (\d+)", message)
    return int(found.group(1)) if found else None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Remove the temporaries in ``folder`` whose writer is gone; returns their paths."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        found = TEMPORARY.search(name)
        if found and not pid_alive(int(found.group(1))):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                os.remove(path)
                removed.append(path)
    return removed


def _owner(path: str) -> tuple[int, str] | None:
    """``(pid, host)`` written in a lock file, None if it cannot be read."""
    try:
        with open(path) as f:
            pid, _, host = f.read().strip().partition(" ")
        return int(pid), host
    except (OSError, ValueError):
        return None


def _take(path: str, what: str, folder: str) -> None:
    """Create the lock file, or refuse when a live process holds it."""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner is not None and (owner[1] != socket.gethostname() or pid_alive(owner[0])):
                raise UserError(
                    f"{what} {folder} is in use by process {owner[0]} on {owner[1]} (lock file "
                    f"{path}); wait for it to finish, or delete the lock file if it is gone."
                ) from None
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # a dead process's (or an empty) lock: taken over
            continue
        except OSError as err:
            raise UserError(f"{what} {folder} is not writable ({err.strerror}); give a "
                            "writable folder.") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        return
    raise UserError(f"{what} {folder}: could not take the lock file {path}; try again.")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, name: str = "lock", what: str = "folder"):
    """Hold ``folder/name`` while the block runs: one process in ``folder`` at a time.

    Raises
    ------
    UserError
        If a live process holds the lock (naming it and the lock file), or the folder is not
        writable (the lock file is the first thing written: a read-only folder is refused
        before any work).
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, name)
    _take(path, what, folder)
    try:
        yield path
    finally:
        if _owner(path) == (os.getpid(), socket.gethostname()):
            with contextlib.suppress(OSError):
                os.remove(path)


def free_bytes(folder: str | os.PathLike) -> int:
    """Bytes an unprivileged process may still write in ``folder``'s file system."""
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def check_space(folder: str | os.PathLike, need: int) -> None:
    """Raise :class:`WriteError` (``ENOSPC``) if ``folder`` has less than ``need`` bytes free:
    checked before a write that a full disk would leave half done."""
    free = free_bytes(folder)
    if free < need:
        raise WriteError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {free / 2**20:.1f} MB "
                         f"free, about {need / 2**20:.1f} MB needed", os.fspath(folder))


#: Environment variable forcing bars on (``1``) or off (``0``).
ENV_VAR = "COLORUTILS_PROGRESS"
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_forced: list[bool] = []  # a stack: the innermost forced() wins


def enabled(stream=None) -> bool:
    """Whether progress bars are shown now (see the module docstring for the rules).

    Parameters
    ----------
    stream : file, optional
        The stream a bar would be written to (default ``sys.stderr``).
    """
    if _forced:
        return _forced[-1]
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if setting in _ON:
        return True
    if setting in _OFF:
        return False
    if "ipykernel" in sys.modules:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
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
    """The number of items of ``iterable`` if it is known without iterating it.

    A sequence's ``len()``; a ``tf.data.Dataset``'s ``cardinality()`` when it is known and
    finite; else None.
    """
    cardinality = getattr(iterable, "cardinality", None)
    if callable(cardinality):
        try:
            n = int(cardinality())
        except (TypeError, ValueError):
            return None
        return n if n >= 0 else None
    try:
        return len(iterable)
    except TypeError:
        return None


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
        unit: str = "it", show: bool | None = None, **kwargs):
    """A progress bar over ``iterable`` (or one updated by hand: ``bar(total=n)``).

    Returns a ``tqdm`` object writing to stderr, disabled (printing nothing, costing almost
    nothing) unless :func:`enabled` (or ``show``) says otherwise.  Use it like ``tqdm``:
    iterate it, or call ``update(n)``, ``set_postfix_str(...)``, ``close()``; ``with`` works.

    Parameters
    ----------
    iterable : iterable, optional
    total : int, optional
        Number of steps (default :func:`total_of` the iterable).
    desc, unit : str
        The label before the bar and the name of one step (``"batch"``, ``"photo"``).
    show : bool, optional
        Override :func:`enabled`.
    **kwargs
        Passed to ``tqdm`` (e.g. ``leave=False``, ``initial=``).
    """
    from tqdm import tqdm  # start-up: only when a loop runs

    if total is None and iterable is not None:
        total = total_of(iterable)
    on = enabled() if show is None else bool(show)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not on, file=sys.stderr,
                **kwargs)


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
    with atomic_path(path) as tmp, open(tmp, "w") as f:
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
    with atomic_path(path) as tmp:
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
    with folder_lock(run_dir, LOCK_FILE, "run folder"):
        for folder in (run_dir, os.path.join(run_dir, BACKUP_DIR)):
            remove_stale_temporaries(folder)
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


#: Arguments that Keras 3.15 writes into a layer's config, with their defaults, and that older
#: Keras 3 releases refuse (Colab's 3.13: "could not be deserialized properly"): the
#: initializers' ``input_axes`` / ``output_axes`` and batch normalisation's renormalisation.
#: :func:`make_portable` drops those at their default.
NEWER_KERAS_KEYS = {"input_axes": None, "output_axes": None, "renorm": False,
                    "renorm_clipping": None, "renorm_momentum": 0.99}
#: The shipped photo model; its sidecar is ``photo_unet.json`` beside it.
PHOTO_MODEL = pathlib.Path(__file__).resolve().parent / "weights" / "photo_unet.keras"


def read_sidecar(model_path: str | os.PathLike) -> dict | None:
    """The sidecar ``<name>.json`` of a ``.keras`` file, or None where there is none (a run
    folder, another file) or it is unreadable.

    >>> read_sidecar(PHOTO_MODEL)["provenance"]["recipe"]  # doctest: +SKIP
    'photo'
    """
    path = pathlib.Path(model_path).expanduser()
    if path.suffix != ".keras" or not path.with_suffix(".json").is_file():
        return None
    try:
        stored = read_json(path.with_suffix(".json"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def _without_newer_defaults(node):
    if isinstance(node, dict):
        return {k: _without_newer_defaults(v) for k, v in node.items()
                if not (k in NEWER_KERAS_KEYS and v == NEWER_KERAS_KEYS[k])}
    if isinstance(node, list):
        return [_without_newer_defaults(v) for v in node]
    return node


def make_portable(model_path: str | os.PathLike) -> int:
    """Rewrite a ``.keras`` file so that older Keras 3 releases load it too: the arguments
    :data:`NEWER_KERAS_KEYS` that are at their default are dropped from its
    ``config.json`` (the weights are untouched).  The file is replaced atomically; returns how
    many characters of configuration were dropped (0: already portable, the file is left).
    """
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
#: File name endings of the outputs.
OUTPUT_SUFFIX = {"png": ".png", "jpeg": ".jpg"}
JPEG_QUALITY = 95
#: zlib level of PNG outputs: 1 encodes a 512 px photo about 4x faster than Pillow's default 6
#: for files about 10 % larger (the same pixels: PNG is lossless); encoding was the slowest
#: stage of colorizing a photo (benchmarks/bench_colorize.py).
PNG_COMPRESS_LEVEL = 1


def import_tf_quietly():
    """Import TensorFlow and Keras without their start-up chatter on stderr.

    The command promises one-line errors; TensorFlow prints several INFO lines to file
    descriptor 2 while it loads (before Python's logging can filter them).  They are captured
    and shown only if the import itself fails.
    """
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


class UnreadableImageError(OSError):
    """A file that Pillow cannot decode (not an image, truncated, corrupt)."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode a photo file with its EXIF orientation applied.

    Returns uint8 ``[H, W]`` (8-bit gray), uint16 ``[H, W]`` (16-bit gray), or uint8
    ``[H, W, 3]`` (anything else: palette, RGB, CMYK, and transparent images composited on
    white).  16-bit colour PNGs are reduced to 8 bits by Pillow.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    UnreadableImageError
        If the file is not a readable image (with Pillow's reason).
    """
    from PIL import Image, ImageOps  # start-up: Pillow loads with the first photo

    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        # what Pillow raises for a file that is not a complete, sane image
        reason = first_line(err)
        raise UnreadableImageError(f"not a readable image ({reason})") from err
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
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"))


def bands(height: int, width: int):
    """Row slices of at most about :data:`BAND_PIXELS` pixels covering an image."""
    rows = max(1, BAND_PIXELS // max(width, 1))
    for r0 in range(0, height, rows):
        yield slice(r0, min(r0 + rows, height))


def lightness(image: np.ndarray) -> np.ndarray:
    """CIE L* (0..100, float32 ``[H, W]``) of a uint8/uint16 gray or uint8/float RGB image.

    Gray levels go through a lookup table built with :func:`colorutils.color.rgb_to_lab`
    (exact, one table entry per level); colour images are converted in bands of
    :data:`BAND_PIXELS` pixels, so the temporary memory does not grow with the photo.
    """
    import_tf_quietly()
    from colorutils import color  # start-up: after the quiet TensorFlow import

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        if image.dtype == np.uint8:
            levels = np.arange(256, dtype=np.float32) / 255.0
        elif image.dtype == np.uint16:
            levels = np.arange(65536, dtype=np.float32) / 65535.0
        else:
            raise ValueError(f"a gray image must be uint8 or uint16, got {image.dtype}; "
                             "convert with (x * 255).round().astype('uint8').")
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
    import_tf_quietly()
    from colorutils import color  # start-up: after the quiet TensorFlow import

    L = lightness(image)
    out = np.empty(L.shape + (3,), np.uint8)
    zeros = np.zeros((1, 1, 2), np.float32)
    for band in bands(*L.shape):
        out[band] = color.to_uint8(color.recombine(color.normalize_l(L[band][..., None]), zeros))
    return out


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Two uint8 RGB images of equal height, separated by a white gap."""
    height = left.shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def save_image(rgb: np.ndarray, path: str | os.PathLike, fmt: str = "png") -> None:
    """Write uint8 RGB as PNG (zlib level :data:`PNG_COMPRESS_LEVEL`) or JPEG (quality
    :data:`JPEG_QUALITY`), atomically: a killed process or a full disk never leaves a partial
    file under ``path`` (:func:`colorutils.files.atomic_path`).

    Raises
    ------
    colorutils.files.WriteError
        If the file cannot be written (naming it, with the system's reason).
    """
    from PIL import Image  # start-up: Pillow loads with the first photo

    img = Image.fromarray(rgb)
    with atomic_path(path) as tmp:
        if fmt == "jpeg":
            img.save(tmp, format="JPEG", quality=JPEG_QUALITY)
        else:
            img.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def read_lightness(path: str | os.PathLike):
    """``(L, None)`` of a photo file (:func:`read_image`, :func:`lightness`), or
    ``(None, reason)`` if it cannot be read."""
    try:
        return lightness(read_image(path)), None
    except OSError as err:  # UnreadableImageError, FileNotFoundError, a permission error
        return None, first_line(err)


def save_result(result, output: pathlib.Path, compare_output: pathlib.Path | None = None,
                fmt: str = "png", overwrite: bool = False) -> pathlib.Path:
    """Save a colorized photo (``rgb``, or ``(rgb, gray)`` with ``compare_output``: then the
    side-by-side comparison too), keeping files that exist unless ``overwrite``."""
    output = pathlib.Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(err.errno, err.strerror, str(output.parent)) from None
    rgb, gray = result if compare_output is not None else (result, None)
    if overwrite or not output.exists():
        save_image(rgb, output, fmt)
    if compare_output is not None and (overwrite or not pathlib.Path(compare_output).exists()):
        save_image(side_by_side(gray, rgb), compare_output, fmt)
    return output


def output_paths(relative: str | os.PurePath, out_dir: str | os.PathLike, fmt: str = "png",
                 tag: str | None = None) -> tuple[pathlib.Path, pathlib.Path]:
    """``(colorized, comparison)`` paths of an input at ``relative`` (its path inside the input
    folder, or its file name) under ``out_dir``.

    ``a/x.jpg`` -> ``out_dir/a/x_colorized.<ext>`` and ``out_dir/a/x_compare.<ext>``; ``tag``
    replaces the stem ``x`` (:func:`plan_outputs` uses ``x_jpg`` when ``x.jpg`` and ``x.png``
    sit side by side).

    >>> [p.as_posix() for p in output_paths("airplane/0000.jpg", "out")]
    ['out/airplane/0000_colorized.png', 'out/airplane/0000_compare.png']
    """
    ext = OUTPUT_SUFFIX[fmt]
    relative = pathlib.PurePath(relative)
    folder = pathlib.Path(out_dir) / relative.parent
    stem = tag or relative.stem
    return folder / f"{stem}_colorized{ext}", folder / f"{stem}_compare{ext}"


def find_inputs(inputs: Iterable[str | os.PathLike], exclude: str | os.PathLike | None = None
                ) -> list[tuple[pathlib.Path, pathlib.PurePath]]:
    """Expand files and folders into ``[(photo, its path relative to its input)]``.

    A folder is searched recursively for :data:`IMAGE_SUFFIXES` (hidden files and folders
    skipped) and each photo keeps its path inside it (``airplane/0000.jpg``); a file given
    explicitly keeps its name, whatever its suffix (and whether or not it exists: reading
    reports it).  Earlier outputs found inside ``exclude`` (the output folder), named
    ``*_colorized.*`` or ``*_compare.*``, are left out, so a second run does not colorize its
    own outputs.  A photo reached twice is listed once.
    """
    excluded = pathlib.Path(exclude).resolve() if exclude is not None else None
    found: list[tuple[pathlib.Path, pathlib.PurePath]] = []
    seen: set[pathlib.Path] = set()
    for item in inputs:
        p = pathlib.Path(item).expanduser()
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in IMAGE_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if excluded is not None:
                files = [f for f in files if not _is_earlier_output(f, excluded)]
            pairs = [(f, pathlib.PurePath(f.relative_to(p))) for f in files]
        else:
            pairs = [(p, pathlib.PurePath(p.name))]
        for f, relative in pairs:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append((f, relative))
    return found


def find_images(inputs: Iterable[str | os.PathLike],
                exclude: str | os.PathLike | None = None) -> list[pathlib.Path]:
    """The photos of :func:`find_inputs`, without their relative paths."""
    return [f for f, _ in find_inputs(inputs, exclude)]


#: One photo of a plan: ``(source, colorized output, comparison output)``.
Planned = tuple[pathlib.Path, pathlib.Path, pathlib.Path]


def _named(found, out_dir, fmt) -> list[Planned]:
    """Mirrored output names; ``x.jpg`` beside ``x.png`` become ``x_jpg_...``, ``x_png_...``."""
    first = [output_paths(rel, out_dir, fmt)[0] for _, rel in found]
    clash = {t for t in first if first.count(t) > 1} if len(set(first)) < len(first) else set()
    plan = []
    for (f, rel), target in zip(found, first, strict=True):
        tag = f"{rel.stem}_{rel.suffix.lstrip('.').lower()}" if target in clash else None
        plan.append((f, *output_paths(rel, out_dir, fmt, tag)))
    targets: dict[pathlib.Path, pathlib.Path] = {}
    for f, main, _ in plan:
        if main in targets:
            raise UserError(f"inputs {targets[main]} and {f} would both be written to {main}; "
                            "colorize them into separate --out folders.")
        targets[main] = f
    return plan


def plan_outputs(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
                 fmt: str = "png", compare: bool = False) -> list[Planned]:
    """The photos to colorize and their outputs, the input tree mirrored under ``out_dir``.

    One output per input (:func:`output_paths`); checked for every photo before anything is
    written.

    Raises
    ------
    UserError
        If no photo is found, two inputs would share an output (two explicit files of the same
        name from different folders), or an output path is an input.
    """
    out_dir = pathlib.Path(out_dir).expanduser()
    if fmt not in OUTPUT_SUFFIX:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(OUTPUT_SUFFIX)}.")
    inputs = list(inputs)
    found = find_inputs(inputs, exclude=out_dir)
    if not found:
        raise UserError(f"no images found in {', '.join(map(str, inputs))} (looked for "
                        f"{', '.join(IMAGE_SUFFIXES)}).")
    plan = _named(found, out_dir, fmt)
    inputs_resolved = {f.resolve() for f, _ in found}
    for _f, main, comp in plan:
        for target in (main, comp) if compare else (main,):
            if target.resolve() in inputs_resolved:
                raise UserError(f"output {target} would overwrite an input; choose another "
                                "--out (outputs are never written over inputs).")
    return plan


def _is_earlier_output(path: pathlib.Path, out_dir: pathlib.Path) -> bool:
    return (path.resolve().is_relative_to(out_dir)
            and path.stem.endswith(("_colorized", "_compare")))
