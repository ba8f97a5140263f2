"""Scale presets and the parameters check that every chapter runs after its parameters cell.

Every notebook has one papermill ``parameters`` cell with a ``scale`` knob:

``smoke``
    seconds on a laptop CPU; what ``make test`` (nbval) runs.
``book``
    a few minutes on a 2-core CPU; what ``make book`` renders.
``full``
    a Colab GPU; the settings that give publishable pictures.

The notebook's own knobs (``image_size``, ``epochs``, ...) default to ``None``, which means
"take the preset of this scale"; any value given explicitly wins.  The default scale comes from
the ``COLORBOOK_SCALE`` environment variable (the Makefile sets it to ``smoke`` for nbval), and
``book`` otherwise.
"""

from __future__ import annotations

import dataclasses

from colorutils import runs

SCALES = ("smoke", "book", "full")
SCALE_ENV_VAR = "COLORBOOK_SCALE"


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
        (:func:`colorutils.runs.run_path`)."""
        return runs.run_path(self.run_root, self.scale, self.dataset, name)

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
        (:func:`colorutils.runs.chapter_path`)."""
        return runs.chapter_path(self.run_root, self.scale, self.dataset, notebook)


PRESETS: dict[str, dict] = {
    "smoke": dict(image_size=32, batch_size=16, epochs=1, train_images=64, eval_images=32,
                  width=0.25, seeds=(0,)),
    "book": dict(image_size=48, batch_size=32, epochs=8, train_images=None, eval_images=None,
                 width=0.5, seeds=(0, 1, 2)),
    "full": dict(image_size=128, batch_size=64, epochs=30, train_images=None, eval_images=None,
                 width=1.0, seeds=(0, 1, 2)),
}


def resolve(scale: str, dataset: str = "cifar10", run_root: str | None = None,
            **overrides) -> Settings:
    """Check a notebook's parameters and fill the ``None`` ones from the preset of ``scale``.

    Parameters
    ----------
    scale : {"smoke", "book", "full"}
        The budget of the run.
    dataset : str
        A data source understood by :func:`colorutils.data.load` (``sample``, ``tfds:NAME``,
        ``folder:PATH``).
    run_root : str, optional
        Folder under which the chapter writes its run folders (a Google Drive path on Colab);
        default :func:`colorutils.runs.default_root` (``$COLORBOOK_RUNS`` or ``runs``).
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
    values["seeds"] = tuple(int(s) for s in values["seeds"])
    return Settings(scale=scale, dataset=dataset, run_root=run_root or runs.default_root(),
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
