"""The embedded real photo set: the 10,000 CIFAR-10 test photos, packed as JPEG bytes.

The book trains its models on real photographs without any network: the CIFAR-10 test
split (Krizhevsky 2009 {cite}`krizhevsky2009learning`; 10 classes x 1,000 photos of 32 x 32
pixels) ships inside the repository in ``data/cifar10/`` as a few *shards*, each the plain
concatenation of the photos' JPEG files (the bytes exactly as they were given, never
re-encoded), and one ``index.json`` that says where every photo starts, its class, its
split and its original file name, with the SHA-256 of every shard.  ``data/build_cifar10.py``
recreates the pack from a ``class/file`` folder; ``data/README.md`` has the credits.

The split is fixed in the index: inside each class the photos are ordered by the MD5 of
their ``class/file`` name and the first 80 % go to ``train``, the next 10 % to
``validation`` and the last 10 % to ``test`` (800 / 100 / 100 per class, 8,000 / 1,000 /
1,000 in all).  Inside a split the photos are stored round-robin over the classes, so the
first ``n`` photos of a split are class-balanced (what ``limit=n`` of
:func:`colorutils.data.load` takes).

The photos are JPEGs of quality about 75 with 4:2:0 chroma subsampling: their colour is
softer than the official arrays' (``tfds:cifar10``), and about 140 of them are nearly gray.

Where the pack is looked for, in order: ``$COLORUTILS_CIFAR_DIR``; the package data
``colorutils.cifar_pack`` (a wheel, e.g. ``pip install`` from git on Colab, carries
``data/cifar10`` under that name); ``data/cifar10`` of the source checkout (an editable
install).

Examples
--------
>>> photos, labels, names = load_split("test")
>>> len(photos), labels[:10].tolist(), names[0]
(1000, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'airplane/0214.jpg')
>>> photos[0][:3] == b"\\xff\\xd8\\xff"  # JPEG bytes as stored
True
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib

import numpy as np

__all__ = ["NAME", "DIR_ENV_VAR", "INDEX_FILE", "SPLIT_FRACTIONS", "PackError",
           "pack_dir", "read_index", "verify", "load_split", "class_names", "split_sizes",
           "sha256"]

#: The source name of the pack in :func:`colorutils.data.load`.
NAME = "cifar10"
DIR_ENV_VAR = "COLORUTILS_CIFAR_DIR"
INDEX_FILE = "index.json"
#: Fraction of each class in each split (in this order, after sorting by name hash).
SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
_SPLITS = tuple(SPLIT_FRACTIONS)
#: Split codes of the index's ``split`` string.
SPLIT_CODES = {"train": "t", "validation": "v", "test": "s"}


class PackError(FileNotFoundError):
    """The pack is missing or damaged (a checksum differs)."""


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _candidates() -> list[pathlib.Path]:
    found = []
    if os.environ.get(DIR_ENV_VAR):
        found.append(pathlib.Path(os.environ[DIR_ENV_VAR]))
    # The data package has no __init__.py (a namespace package), so ask the import system
    # for its folders: importlib.resources would hand back a MultiplexedPath, not a folder.
    from importlib import util

    try:
        spec = util.find_spec("colorutils.cifar_pack")
    except ModuleNotFoundError:
        spec = None
    if spec is not None:  # None: an editable install maps no data package
        found += [pathlib.Path(p) for p in spec.submodule_search_locations or ()]
    found.append(pathlib.Path(__file__).resolve().parents[1] / "data" / "cifar10")
    return found


def pack_dir() -> pathlib.Path:
    """The folder that holds the pack (see the module docstring for the search order).

    Raises
    ------
    PackError
        If no candidate folder has an ``index.json``.
    """
    candidates = _candidates()
    for folder in candidates:
        if (folder / INDEX_FILE).is_file():
            return folder
    raise PackError(
        f"the embedded CIFAR-10 pack is not installed (looked in "
        f"{', '.join(str(c) for c in candidates)}). Reinstall colorutils from the repository, "
        f"set ${DIR_ENV_VAR} to a folder holding {INDEX_FILE} and its shards, or use "
        f"dataset='tfds:cifar10' or 'folder:PATH'.")


@functools.lru_cache(maxsize=4)
def read_index(directory: str | None = None) -> dict:
    """The parsed ``index.json`` of the pack in ``directory`` (default :func:`pack_dir`)."""
    folder = pathlib.Path(directory) if directory else pack_dir()
    with open(folder / INDEX_FILE, encoding="utf-8") as f:
        return json.load(f)


def class_names(directory: str | None = None) -> tuple[str, ...]:
    """The ten class names, in label order."""
    return tuple(read_index(directory)["class_names"])


def split_sizes(directory: str | None = None) -> dict[str, int]:
    """Number of photos per split, read from the index."""
    codes = read_index(directory)["split"]
    return {s: codes.count(c) for s, c in SPLIT_CODES.items()}


@functools.lru_cache(maxsize=4)
def _shards(directory: str | None = None, check: bool = True) -> tuple[bytes, ...]:
    folder = pathlib.Path(directory) if directory else pack_dir()
    out = []
    for shard in read_index(directory)["shards"]:
        path = folder / shard["file"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PackError(f"shard {path} of the CIFAR-10 pack is missing; rebuild the pack "
                            f"with data/build_cifar10.py or check out data/ again.") from None
        if check and sha256(data) != shard["sha256"]:
            raise PackError(f"shard {path} is damaged: its SHA-256 differs from "
                            f"{INDEX_FILE}'s; check out data/ again (git checkout data/) or "
                            f"rebuild the pack with data/build_cifar10.py.")
        out.append(data)
    return tuple(out)


def verify(directory: str | None = None) -> dict[str, str]:
    """Check every shard against its SHA-256 in the index; returns ``{file: sha256}``.

    Raises
    ------
    PackError
        If a shard is missing or its checksum differs.
    """
    _shards.cache_clear()
    _shards(directory, check=True)
    return {s["file"]: s["sha256"] for s in read_index(directory)["shards"]}


def load_split(split: str, directory: str | None = None
               ) -> tuple[list[bytes], np.ndarray, list[str]]:
    """The photos of one split: ``(jpeg_bytes, labels, names)`` in stored order.

    Parameters
    ----------
    split : {"train", "validation", "test"}
    directory : str, optional
        A pack folder (default :func:`pack_dir`).

    Returns
    -------
    jpeg_bytes : list of bytes
        Each photo's JPEG file, as stored.
    labels : int32 array
        Class indices into :func:`class_names`.
    names : list of str
        Original ``class/file`` names.
    """
    if split not in SPLIT_CODES:
        raise ValueError(f"split={split!r} is not a split; use one of {', '.join(_SPLITS)}.")
    index = read_index(directory)
    shards = _shards(directory)
    code = SPLIT_CODES[split]
    photos, labels, names = [], [], []
    position = 0
    lengths = index["length"]
    shard_of = np.repeat(np.arange(len(shards)), [s["images"] for s in index["shards"]])
    starts = np.zeros(len(lengths), np.int64)
    for s in range(len(shards)):
        members = np.flatnonzero(shard_of == s)
        starts[members] = np.concatenate([[0], np.cumsum(np.take(lengths, members))[:-1]])
    for position, c in enumerate(index["split"]):
        if c != code:
            continue
        start, n = int(starts[position]), lengths[position]
        photos.append(shards[shard_of[position]][start:start + n])
        labels.append(int(index["label"][position]))
        names.append(index["name"][position])
    return photos, np.asarray(labels, np.int32), names
