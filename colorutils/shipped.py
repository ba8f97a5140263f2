"""The model that ships inside the package, and the sidecar file that describes it.

A ``.keras`` file says how to rebuild a network, not how to use it.  Its sidecar
``<name>.json`` (written by :func:`colorutils.recipes.export_colorizer`) says that: the
training size (``image_size``), the head and colour space, the ab grid of its bins
(``grid_size``), its decoding defaults (``temperature``, ``smooth_sigma``), its rebalancing
``lambda``, and its ``provenance`` (recipe, data set and split, commit, date, training time and
speed, quality figures on held-out photos).

:data:`PHOTO_MODEL` is the photo model of ``make photo-model`` (the photo recipe on Caltech 101,
see ``colorutils/weights/README.md``): what ``colorutils colorize`` and
:func:`colorutils.colorize.open_colorizer` use when no model is given.
"""

from __future__ import annotations

import os
import pathlib

from colorutils import runs

__all__ = ["PHOTO_MODEL", "read_sidecar"]

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
        stored = runs.read_json(path.with_suffix(".json"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None
