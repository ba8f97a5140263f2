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

import json
import os
import pathlib
import zipfile

from colorutils import files, runs

__all__ = ["PHOTO_MODEL", "NEWER_KERAS_KEYS", "read_sidecar", "make_portable"]

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
        stored = runs.read_json(path.with_suffix(".json"))
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
    with files.atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as out:
        for info, data in members.items():
            out.writestr(info, portable if info.filename == "config.json" else data)
    return dropped

