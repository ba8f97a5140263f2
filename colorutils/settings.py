"""Scale presets and the parameters check that every chapter runs after its parameters cell.

Every notebook has one papermill ``parameters`` cell with a ``scale`` knob:

``smoke``
    seconds on a laptop CPU; what ``make test`` (nbval) runs.
``book``
    a few minutes on a 2-core CPU; what ``make book`` renders.
``colab``
    a free Colab session: every chapter within 20 minutes on a T4 GPU (an estimate from the
    models' FLOPs, ``tests/colab/estimate_scale.py``, until a GPU measures it).
``full``
    a Colab GPU; the settings that give publishable pictures.

The notebook's own knobs (``image_size``, ``epochs``, ...) default to ``None``, which means
"take the preset of this scale"; any value given explicitly wins.  The default scale comes from
the ``COLORBOOK_SCALE`` environment variable (the Makefile sets it to ``smoke`` for nbval), and
``book`` otherwise.

On Colab the run folders go to Google Drive (:func:`choose_run_root`), so that the chapters
share their models and a disconnect resumes; a list knob typed as text (``papermill -p seeds
"[0, 1]"``) is read by :func:`parse_list`.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import yaml

from colorutils import errors, files

SCALES = ("smoke", "book", "colab", "full")
SCALE_ENV_VAR = "COLORBOOK_SCALE"
#: Where Colab mounts Google Drive; ``$COLORBOOK_DRIVE_MOUNT`` moves it (the simulated Colab of
#: ``make test-colab`` mounts a local folder).
DRIVE_MOUNT = "/content/drive"
DRIVE_MOUNT_ENV_VAR = "COLORBOOK_DRIVE_MOUNT"
#: The run root inside the mounted Drive: ``MyDrive/colorization-book/runs``.
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
        """The run folder of experiment ``name``: ``run_root/scale/dataset/name``
        (:func:`colorutils.files.run_path`)."""
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
        """Where chapter ``notebook`` writes the numbers its prose quotes
        (:func:`colorutils.files.chapter_path`)."""
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
    """Check a notebook's parameters and fill the ``None`` ones from the preset of ``scale``.

    Parameters
    ----------
    scale : {"smoke", "book", "colab", "full"}
        The budget of the run.
    dataset : str
        A data source understood by :func:`colorutils.data.load` (``sample``, ``tfds:NAME``,
        ``folder:PATH``).
    run_root : str, optional
        Folder under which the chapter writes its run folders (a Google Drive path on Colab);
        default :func:`colorutils.files.default_root` (``$COLORBOOK_RUNS`` or ``runs``).
    **overrides
        Any field of :class:`Settings`; ``None`` means "use the preset".

    Raises
    ------
    ValueError
        If ``scale`` is unknown, a knob is unknown, or a number is not positive.
    """
    if scale not in PRESETS:
        raise ValueError(
            f"scale={scale!r} is not a known scale; use one of {', '.join(SCALES)} "
            f"(e.g. papermill -p scale smoke)."
        )
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset={dataset!r}: give 'sample', 'tfds:NAME' or 'folder:PATH'.")
    values = dict(PRESETS[scale])
    for name, value in overrides.items():
        if name not in values:
            raise ValueError(
                f"unknown parameter {name}={value!r}; known: {', '.join(sorted(values))}."
            )
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
    """:func:`resolve` with a chapter's own presets between the scale's and the reader's.

    Every knob in ``given`` that is ``None`` takes the chapter's preset for ``scale``
    (``presets[scale]``), then the scale's (:data:`PRESETS`); a value given explicitly wins.

    Examples
    --------
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
    """A list knob as a reader passes it: a list, one value, or the text of a list.

    ``papermill -p seeds "[0, 1]"`` hands the notebook the string ``"[0, 1]"``; it is read as
    YAML (``"[0, 1]"``, ``"0, 1"``, ``"[stride_8, l2]"``).  ``None`` stays ``None``; one value
    becomes a list of one.  ``convert`` (e.g. ``int``, ``float``) is applied to every element.

    Raises
    ------
    ValueError
        One line naming the knob and the value, and how to pass a list.

    Examples
    --------
    >>> parse_list("seeds", "[0, 1]", int), parse_list("lambdas", 0.5), parse_list("x", None)
    ([0, 1], [0.5], None)
    """
    if value is None:
        return None
    how = (f'pass a list, e.g. papermill -p {name} "[0, 1]" or -y "{name}: [0, 1]", '
           f"or set {name} = [0, 1] in the parameters cell")
    typed = value
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
        except yaml.YAMLError:
            parsed = None
        if not isinstance(parsed, list):
            raise ValueError(f"{name}={value!r} is not a list; {how}.")
        value = parsed
    elif not isinstance(value, (list, tuple)):
        value = [value]
    if convert is None:
        return list(value)
    try:
        return [convert(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={typed!r}: every element must be a {convert.__name__}; "
                         f"{how}.") from None


def choose_run_root(run_root: str | None = None, use_drive: bool = True) -> str:
    """The folder every chapter keeps its run folders in; also written to ``$COLORBOOK_RUNS``.

    In this order: ``run_root`` when given; ``$COLORBOOK_RUNS`` when set (``colorutils
    experiments`` sets it); on Google Colab with ``use_drive``, Google Drive
    (``/content/drive/MyDrive/colorization-book/runs``, mounted here: Colab asks for access
    once), so that later chapters reuse the models of earlier ones and a disconnect resumes;
    else ``runs`` in the working folder.  If Drive cannot be mounted, one line says so and the
    runs stay on the Colab machine.
    """
    if run_root:
        root = os.path.expanduser(os.fspath(run_root))
    elif os.environ.get(files.RUNS_ENV_VAR):
        root = os.environ[files.RUNS_ENV_VAR]
    elif use_drive and "google.colab" in sys.modules:
        root = drive_run_root() or files.default_root()
    else:
        root = files.default_root()
    os.environ[files.RUNS_ENV_VAR] = root
    if "google.colab" in sys.modules:
        print(f"run folders: {root}")
    return root


def drive_run_root() -> str | None:
    """Mount Google Drive (Colab) if it is not mounted, and return the run root on it; ``None``,
    with one printed line, if it cannot be mounted."""
    mount = os.environ.get(DRIVE_MOUNT_ENV_VAR, DRIVE_MOUNT)
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
