"""Scale presets and the parameters check that every chapter runs after its parameters cell.

A chapter's ``scale`` (default ``$COLORBOOK_SCALE``, else ``book``) is ``smoke`` (seconds on a
laptop CPU, ``make test``), ``book`` (minutes on a 2-core CPU), ``colab`` (each chapter within
20 minutes on a Colab T4 GPU) or ``full`` (publishable pictures); a knob left ``None`` takes
the preset of the scale (:data:`PRESETS`).
"""

from __future__ import annotations

import dataclasses
import os
import sys

import yaml

from colorutils import errors, files

__all__ = ["Settings", "resolve", "resolve_chapter", "parse_list", "choose_run_root"]

SCALES = ("smoke", "book", "colab", "full")
#: Where Google Drive is mounted, if not ``/content/drive`` (``make test-colab``'s simulation).
DRIVE_MOUNT_ENV_VAR = "COLORBOOK_DRIVE_MOUNT"
DRIVE_RUN_ROOT = os.path.join("MyDrive", "colorization-book", "runs")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved knobs of one notebook run."""

    scale: str
    dataset: str
    image_size: int
    batch_size: int
    epochs: int
    train_images: int | None  # None: the whole split
    eval_images: int | None
    width: float  # width multiplier of the models
    seeds: tuple[int, ...]
    run_root: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def run_dir(self, name: str) -> str:
        """The run folder of experiment ``name`` (:func:`colorutils.files.run_path`)."""
        return files.run_path(self.run_root, self.scale, self.dataset, name)

    def describe(self) -> str:
        """One line for a chapter's output: dataset, scale and budget.

        >>> resolve("smoke", "cifar10").describe()
        'cifar10 at scale smoke: 32 px, batch 16, 1 epoch, width 0.25, seed 0, 64 training images'
        """
        photos = ("all training images" if self.train_images is None
                  else f"{self.train_images} training images")
        seeds = ", ".join(map(str, self.seeds))
        return (f"{self.dataset} at scale {self.scale}: {self.image_size} px, batch "
                f"{self.batch_size}, {self.epochs} epoch{'s' * (self.epochs != 1)}, width "
                f"{self.width:g}, seed{'s' * (len(self.seeds) != 1)} {seeds}, {photos}")

    def chapter_file(self, notebook: str) -> str:
        """The numbers file of chapter ``notebook`` (:func:`colorutils.files.chapter_path`)."""
        return files.chapter_path(self.run_root, self.scale, self.dataset, notebook)


PRESETS: dict[str, dict] = {
    "smoke": dict(image_size=32, batch_size=16, epochs=1, train_images=64, eval_images=32,
                  width=0.25, seeds=(0,)),
    "book": dict(image_size=48, batch_size=32, epochs=8, train_images=None, eval_images=None,
                 width=0.5, seeds=(0, 1, 2)),
    "colab": dict(image_size=32, batch_size=64, epochs=10, train_images=None, eval_images=None,
                  width=0.5, seeds=(0, 1, 2)),
    "full": dict(image_size=128, batch_size=64, epochs=30, train_images=None, eval_images=None,
                 width=1.0, seeds=(0, 1, 2)),
}


def resolve(scale: str, dataset: str = "cifar10", run_root: str | None = None,
            **overrides) -> Settings:
    """Check a notebook's parameters (:class:`Settings` fields, a data source of
    :func:`colorutils.data.load`) and fill the ``None`` ones from the preset of ``scale``; a
    ValueError names an unknown scale or knob, or a number that is not positive."""
    if scale not in PRESETS:
        raise ValueError(f"scale={scale!r} is not a known scale; use one of {', '.join(SCALES)} "
                         f"(e.g. papermill -p scale smoke).")
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset={dataset!r}: give 'sample', 'tfds:NAME' or 'folder:PATH'.")
    values = dict(PRESETS[scale])
    for name, value in overrides.items():
        if name not in values:
            raise ValueError(f"unknown parameter {name}={value!r}; known: "
                             f"{', '.join(sorted(values))}.")
        if value is not None:
            values[name] = value
    for name in ("image_size", "batch_size", "epochs"):
        if not isinstance(values[name], int) or values[name] < 1:
            raise ValueError(f"{name}={values[name]!r} must be a positive integer.")
    if values["width"] <= 0:
        raise ValueError(f"width={values['width']!r} must be positive.")
    values["seeds"] = tuple(parse_list("seeds", values["seeds"], int))
    if not values["seeds"]:
        raise ValueError("seeds=[] names no seed; give at least one, e.g. [0] (or None).")
    return Settings(scale=scale, dataset=dataset, run_root=run_root or files.default_root(),
                    **values)


def resolve_chapter(scale: str, presets: dict[str, dict], dataset: str = "cifar10",
                    run_root: str | None = None, **given) -> Settings:
    """:func:`resolve` with a chapter's own presets (``presets[scale]``) between the scale's
    and the reader's: a knob given as ``None`` takes the chapter's preset, then the scale's.

    >>> cfg = resolve_chapter("smoke", {"smoke": dict(epochs=2)}, epochs=None, width=0.5)
    >>> cfg.epochs, cfg.width, cfg.image_size
    (2, 0.5, 32)
    """
    if scale not in PRESETS:
        return resolve(scale, dataset=dataset)  # the message naming the scales
    chapter = presets.get(scale, {})
    merged = {k: (v if v is not None else chapter.get(k)) for k, v in given.items()}
    merged.update({k: v for k, v in chapter.items() if k not in given})
    return resolve(scale, dataset=dataset, run_root=run_root, **merged)


def parse_list(name: str, value, convert=None) -> list | None:
    """A list knob as a reader passes it (a list, one value, or its text, read as YAML: ``"[0, 1]"``
    or ``"0, 1"``), as a list with ``convert`` applied to every element.

    >>> parse_list("seeds", "[0, 1]", int), parse_list("lambdas", 0.5), parse_list("x", None)
    ([0, 1], [0.5], None)
    """
    if value is None:
        return None
    how = (f'pass a list, e.g. papermill -p {name} "[0, 1]" or -y "{name}: [0, 1]", '
           f"or set {name} = [0, 1] in the parameters cell")
    items = value if isinstance(value, (list, tuple, str)) else [value]
    if isinstance(value, str):
        text = value.strip()
        try:
            items = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
        except yaml.YAMLError:
            items = None
        if not isinstance(items, list):
            raise ValueError(f"{name}={value!r} is not a list; {how}.")
    try:
        return list(items) if convert is None else [convert(v) for v in items]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: every element must be a {convert.__name__}; "
                         f"{how}.") from None


def choose_run_root(run_root: str | None = None, use_drive: bool = True) -> str:
    """The folder of every chapter's run folders, also set as ``$COLORBOOK_RUNS``: ``run_root``,
    else ``$COLORBOOK_RUNS``, else on Colab with ``use_drive`` Google Drive (mounted here, one
    line if it cannot be: chapters share models, a disconnect resumes), else ``runs``."""
    root = (os.path.expanduser(os.fspath(run_root)) if run_root
            else os.environ.get(files.RUNS_ENV_VAR)
            or (use_drive and "google.colab" in sys.modules and _drive_run_root())
            or files.default_root())
    os.environ[files.RUNS_ENV_VAR] = root
    if "google.colab" in sys.modules:
        print(f"run folders: {root}")
    return root


def _drive_run_root() -> str | None:
    """Mount Google Drive if needed and return the run root on it (None if it cannot)."""
    mount = os.environ.get(DRIVE_MOUNT_ENV_VAR, "/content/drive")
    if not os.path.isdir(os.path.join(mount, "MyDrive")):
        try:
            from google.colab import drive

            drive.mount(mount)
        except Exception as err:  # noqa: BLE001 - any failure (declined, no Colab): fall back
            print(f"Google Drive not mounted ({errors.first_line(err, 120)}): the run folders "
                  f"go to {os.path.abspath(files.default_root())} and are lost when the Colab "
                  "runtime stops (set use_drive = False to skip Drive, or run_root = a folder).")
            return None
    root = os.path.join(mount, DRIVE_RUN_ROOT)
    os.makedirs(root, exist_ok=True)
    return root
