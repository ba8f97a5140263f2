"""Dataset sources and ``tf.data`` pipelines that feed colorization models ``(L, targets)``.

One entry point, :func:`load`, reads four kinds of source:

``"cifar10"``
    the embedded real photo set, the default of every chapter that trains a model: the
    10,000 CIFAR-10 test photos (32 x 32, 10 classes), packed as JPEG bytes in
    ``data/cifar10`` with a fixed 8,000 / 1,000 / 1,000 split (:mod:`colorutils.data`);
    works offline.
``"sample"``
    840 labelled 96 x 96 crops of ten high-resolution photos that ship with scikit-image,
    scikit-learn and matplotlib (:mod:`colorutils.data`); works offline.  Too few scenes to
    learn colour from, but the book's photographs to look at.
``"tfds:NAME[:CONFIG]"``
    any TensorFlow Datasets image dataset (``stanford_dogs``, ``cifar10``, ``cifar100``,
    ``oxford_flowers102``, ``imagenette``, ...), read from ``data_dir``.  The image feature
    (and a ``ClassLabel`` feature, if any) is detected.  A dataset that is not prepared is
    downloaded only when the network answers within seconds; offline it fails at once with a
    message naming ``data_dir`` and the ``folder:`` alternative.
``"folder:PATH"``
    an image folder, ``PATH/split/class/file`` or ``PATH/class/file`` (or just
    ``PATH/file``), read without any network call.

The sources themselves (decoding, folders, the embedded sets) are :mod:`colorutils.data`;
their public names are re-exported here, so that ``colorutils.data`` is the one module a
chapter imports for data.  The ``tfds:NAME[:CONFIG]`` source lives here: the image feature
(and a ``ClassLabel`` feature, if any) is detected; a missing validation or test split is
derived by slicing ``train`` (:data:`colorutils.data.DERIVED_SPLIT_PERCENT`).  A dataset
that is not prepared in ``data_dir`` is downloaded only when the network answers within
seconds (:func:`network_available`); offline it fails at once with
:class:`DatasetNotAvailableError`, naming ``data_dir`` and the ``folder:`` alternative.

The pipeline, all TensorFlow ops (so it runs in parallel, off the Python interpreter):

1. decode JPEG / PNG (8- or 16-bit) / BMP, grayscale, gray+alpha and RGBA (:func:`decode_file`;
   large JPEGs are decoded at reduced scale in the DCT domain, see :func:`decode_image`);
2. resize so the short side is ``image_size`` (antialiased), optionally drop near-gray
   images, take ``limit`` images, ``cache`` (in memory within :data:`MEMORY_CACHE_BYTES`);
3. train split: a random square crop of 80-100 % of the short side, resized to ``image_size``,
   and a random horizontal flip ("random-resized crop", as in most ImageNet pipelines);
   validation / test: the centre square;
4. batch, convert to CIE Lab (:func:`colorutils.color.rgb_to_lab`), emit
   ``(l_norm, {"ab": ab[, "label": label]})``; ``prefetch(AUTOTUNE)``.

Targets carry ab (2 channels, Lab units), not soft-encoded 313-bin tensors: the soft encoding
happens on the accelerator inside the loss (:mod:`colorutils.losses`), which keeps the input
pipeline 150x lighter.  Order and augmentation depend only on ``seed`` and the epoch
(:func:`set_epoch`, which :func:`colorutils.train.fit` calls before every epoch): each pass
shuffles with a seed derived from both, statelessly, so a resumed run sees the same batches as
an uninterrupted one.

Gray filter: Zhang et al. [1]_ train only on colour pictures; with ``filter_gray=True`` an
image is dropped when no pixel has ``|a|`` or ``|b|`` above
:data:`colorutils.quantize.GRAY_THRESHOLD` (5 Lab units), the criterion the empirical prior
uses too.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] TensorFlow, "Better performance with the tf.data API",
       https://www.tensorflow.org/guide/data_performance

The embedded real photo set: the 10,000 CIFAR-10 test photos, packed as JPEG bytes.

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

The embedded sample set: labelled crops of real colour photos that ship inside Python packages.

The book must run offline (in CI, on a laptop on a train), so its default dataset is cut from
ten colour photographs that are installed together with scikit-image, scikit-learn and
matplotlib (credits and licences: ``data/README.md`` and :data:`PHOTOS`).  The label of a crop
is the photo it comes from, so the set doubles as a tiny 10-class classification problem.

Splits keep regions of each photo apart.  Every photo is cut into five equal bands along its
long side, assigned ``train | validation | train | test | train`` (:data:`BAND_LAYOUT`), and
every crop lies entirely inside one band, so no pixel of a validation or test crop was ever
seen in training.  Inside a band, a crop is a square whose side is drawn between 60 % and
100 % of the band's short extent (at least :data:`CROP_SIZE` pixels where the band allows it),
at a random position, and resized to ``CROP_SIZE x CROP_SIZE`` with a Lanczos filter.

The set is built deterministically (a fixed :class:`numpy.random.RandomState` seed per photo;
``RandomState`` streams are frozen by NumPy) in about a second, and cached on first use as an
``.npz`` file under :func:`cache_dir` (``$COLORUTILS_CACHE``, else ``$XDG_CACHE_HOME/colorutils``
or ``~/.cache/colorutils``).  Nothing binary is stored in git.

Sizes: :data:`CROPS_PER_PHOTO` crops per photo and split, i.e. 600 train, 120 validation and
120 test crops of 96 x 96 pixels.

Examples
--------
>>> from colorutils import data
>>> arrays = data.load_arrays()          # doctest: +SKIP
>>> arrays["train_images"].shape           # doctest: +SKIP
(600, 96, 96, 3)

Where the photos come from: decoding image files and the offline sources of the book.

:mod:`colorutils.data` reads four kinds of source through one entry point; this module holds
what the offline ones need (the TensorFlow Datasets source is in :mod:`colorutils.data`):

* decoding JPEG / PNG (8- or 16-bit) / BMP / GIF bytes to uint8 RGB as TensorFlow ops, with
  alpha composited over white, large JPEGs decoded at reduced scale in the DCT domain and a
  JPEG's EXIF orientation applied, as ``colorize`` does (:func:`decode_image`,
  :func:`decode_file`, :func:`exif_orientation`), and a cheap validity check of image files
  (:func:`check_image_file`);
* the ``cifar10`` and ``sample`` sources (:mod:`colorutils.data`, :mod:`colorutils.data`);
* the ``folder:PATH`` source: ``PATH/split/class/file``, ``PATH/class/file`` or ``PATH/file``,
  splits derived by hashing file names where the folder has none (:func:`list_folder`).

Every source becomes a :class:`Source`: a ``tf.data`` dataset of ``(uint8 image, int32
label)`` with its size and class names, which :func:`colorutils.data.load` turns into a
pipeline.

Examples
--------
>>> decode_file(photo_path(PHOTOS[1])).shape
TensorShape([300, 451, 3])
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import json
import os
import pathlib
import tempfile
import threading
import time
import warnings

import numpy as np
import tensorflow as tf
from PIL import Image

from colorutils import color, files, quantize
from colorutils.files import IMAGE_SUFFIXES

__all__ = [
    "NAME",
    "DIR_ENV_VAR",
    "INDEX_FILE",
    "SPLIT_FRACTIONS",
    "PackError",
    "pack_dir",
    "read_index",
    "verify",
    "load_split",
    "class_names",
    "split_sizes",
    "sha256",
    "AUTOTUNE",
    "SPLITS",
    "SPLIT_ALIASES",
    "DERIVED_SPLIT_PERCENT",
    "BadImagesWarning",
    "Source",
    "decode_image",
    "decode_file",
    "exif_orientation",
    "apply_orientation",
    "EXIF_SEARCH_BYTES",
    "check_image_file",
    "FolderListing",
    "list_folder",
    "folder_source",
    "folder_split_sizes",
    "sample_source",
    "cifar_source",
    "max_image_pixels",
    "OFFLINE_ENV_VAR",
    "DatasetInfo",
    "DatasetNotAvailableError",
    "load",
    "info",
    "label_counts",
    "parse_source",
    "throughput",
    "to_arrays",
    "resize_short_side",
    "is_colorful",
    "random_crop_flip",
    "centre_crop",
    "MEMORY_CACHE_BYTES",
    "cache_bytes",
    "NETWORK_PROBE",
    "PROTOBUF_CHECK_ENV_VAR",
    "network_available",
    "import_protos",
    "set_epoch",
    "canonical_source",
]


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


#: Side length (pixels) of the stored crops; ``load("sample", ..., image_size)`` works up to it.
CROP_SIZE = 96
#: Number of crops cut from each photo, per split.
CROPS_PER_PHOTO = {"train": 60, "validation": 12, "test": 12}
#: Split of each of the five equal bands along a photo's long side.
BAND_LAYOUT = ("train", "validation", "train", "test", "train")
#: Smallest crop side as a fraction of the band's short extent.
MIN_CROP_FRACTION = 0.6
#: Base seed of the crop positions (photo ``i`` uses ``SAMPLE_SEED + i``).
SAMPLE_SEED = 2024
#: Bump when the recipe changes: old cache files are then ignored.
SAMPLE_VERSION = 1
SPLITS = ("train", "validation", "test")
CACHE_ENV_VAR = "COLORUTILS_CACHE"


@dataclasses.dataclass(frozen=True)
class Photo:
    """One source photograph of the sample set."""

    name: str  # the class name of its crops
    package: str  # the installed package that ships it
    filename: str
    credit: str
    licence: str
    url: str


#: The photos, in label order.  Only real photographs (no synthetic or grayscale images).
PHOTOS: tuple[Photo, ...] = (
    Photo("astronaut", "skimage", "astronaut.png", "NASA (Eileen Collins)",
          "public domain", "https://flic.kr/p/r9qvLn"),
    Photo("cat", "skimage", "chelsea.png", "Stefan van der Walt (Chelsea the cat)",
          "CC0", "https://scikit-image.org/docs/stable/api/skimage.data.html"),
    Photo("coffee", "skimage", "coffee.png", "Rachel Michetti, courtesy of Pikolo Espresso Bar",
          "CC0", "https://scikit-image.org/docs/stable/api/skimage.data.html"),
    Photo("rocket", "skimage", "rocket.jpg", "SpaceX (DSCOVR launch on Falcon 9)",
          "public domain",
          "https://www.flickr.com/photos/spacexphotos/16511594820/"),
    Photo("motorcycle", "skimage", "motorcycle_left.png",
          "Middlebury 2014 stereo benchmark (Scharstein et al.), left view, downsampled 4x",
          "research use, redistributed with scikit-image",
          "https://vision.middlebury.edu/stereo/data/scenes2014/"),
    Photo("hubble", "skimage", "hubble_deep_field.jpg", "NASA / Hubble eXtreme Deep Field",
          "public domain",
          "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/"),
    Photo("retina", "skimage", "retina.jpg", "Mikael Haggstrom (fundus photograph)",
          "CC0",
          "https://commons.wikimedia.org/wiki/File:Fundus_photograph_of_normal_left_eye.jpg"),
    Photo("china", "sklearn", "china.jpg", "danielbuechele on Flickr (Summer Palace, China)",
          "CC BY 2.0", "https://www.flickr.com/photos/danielbuechele/6061409035/"),
    Photo("flower", "sklearn", "flower.jpg", "vultilion on Flickr",
          "CC BY 2.0", "https://www.flickr.com/photos/vultilion/6056698931/"),
    Photo("grace_hopper", "matplotlib", "grace_hopper.jpg",
          "U.S. Navy (Commodore Grace M. Hopper, 1984)", "public domain",
          "https://commons.wikimedia.org/wiki/File:Commodore_Grace_M._Hopper,_USN_(covered).jpg"),
)
CLASS_NAMES = tuple(p.name for p in PHOTOS)


def photo_path(photo: Photo) -> str:
    """The file of ``photo`` inside its installed package.

    Raises
    ------
    FileNotFoundError
        If the package is not installed or no longer ships the photo.
    """
    try:
        if photo.package == "skimage":
            import skimage.data

            folder = pathlib.Path(skimage.data.__file__).parent
        elif photo.package == "sklearn":
            import sklearn.datasets

            folder = pathlib.Path(sklearn.datasets.__file__).parent / "images"
        elif photo.package == "matplotlib":
            import matplotlib

            folder = pathlib.Path(matplotlib.get_data_path()) / "sample_data"
        else:  # pragma: no cover - a programming error in PHOTOS
            raise ValueError(f"unknown package {photo.package!r}")
    except ImportError as err:
        raise FileNotFoundError(
            f"the sample photo {photo.filename!r} ships with {photo.package}, which is not "
            f"installed; pip install scikit-image scikit-learn matplotlib") from err
    path = folder / photo.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: this version of {photo.package} no longer ships "
            f"{photo.filename!r}; install the versions pinned in pyproject.toml.")
    return str(path)


def read_photo(photo: Photo) -> np.ndarray:
    """The photo as uint8 RGB ``[H, W, 3]`` (:func:`colorutils.files.read_image`, the reader
    of ``colorutils colorize``; a gray photo on three channels)."""
    image = files.read_image(photo_path(photo))
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def split_regions(height: int, width: int) -> dict[str, list[tuple[int, int, int, int]]]:
    """The bands of a ``height x width`` photo that each split may crop from.

    The long side is cut into ``len(BAND_LAYOUT)`` equal bands (integer edges); band ``i``
    belongs to split ``BAND_LAYOUT[i]``.

    Returns
    -------
    dict
        split -> list of boxes ``(top, bottom, left, right)`` in pixels (bottom/right exclusive).
    """
    n = len(BAND_LAYOUT)
    long_side = max(height, width)
    edges = [round(i * long_side / n) for i in range(n + 1)]
    regions: dict[str, list[tuple[int, int, int, int]]] = {s: [] for s in SPLITS}
    for split, lo, hi in zip(BAND_LAYOUT, edges[:-1], edges[1:], strict=True):
        box = (0, height, lo, hi) if width >= height else (lo, hi, 0, width)
        regions[split].append(box)
    return regions


def crop_boxes(height: int, width: int, split: str, count: int,
               rng: np.random.RandomState) -> list[tuple[int, int, int]]:
    """``count`` random square crops ``(top, left, side)`` inside the bands of ``split``.

    The band of each crop is drawn uniformly among the split's bands; its side uniformly in
    ``[max(MIN_CROP_FRACTION * m, min(CROP_SIZE, m)), m]`` with ``m`` the band's short extent;
    its position uniformly where it fits.
    """
    bands = split_regions(height, width)[split]
    boxes = []
    for _ in range(count):
        top, bottom, left, right = bands[rng.randint(len(bands))]
        extent = min(bottom - top, right - left)
        lo = max(int(MIN_CROP_FRACTION * extent), min(CROP_SIZE, extent))
        side = rng.randint(lo, extent + 1)
        y = top + rng.randint(bottom - top - side + 1)
        x = left + rng.randint(right - left - side + 1)
        boxes.append((y, x, side))
    return boxes


def build_arrays(crop_size: int = CROP_SIZE, seed: int = SAMPLE_SEED) -> dict[str, np.ndarray]:
    """Cut the sample set from the installed photos (deterministic, ~1 s).

    Returns
    -------
    dict
        ``{split}_images`` uint8 ``[N, crop_size, crop_size, 3]``, ``{split}_labels`` int32
        ``[N]`` (index into ``class_names``) and ``{split}_boxes`` int32 ``[N, 3]``
        (top, left, side in the source photo) for each split, plus ``class_names``.
    """
    from PIL import Image  # start-up: only when the sample set is (re)built

    out: dict[str, list] = {}
    for label, photo in enumerate(files.bar(PHOTOS, desc="building the sample set",
                                               unit="photo")):
        rgb = read_photo(photo)
        image = Image.fromarray(rgb)
        height, width = rgb.shape[:2]
        rng = np.random.RandomState(seed + label)
        for split in SPLITS:
            for y, x, side in crop_boxes(height, width, split, CROPS_PER_PHOTO[split], rng):
                crop = image.resize((crop_size, crop_size), Image.Resampling.LANCZOS,
                                    box=(x, y, x + side, y + side))
                out.setdefault(f"{split}_images", []).append(np.asarray(crop))
                out.setdefault(f"{split}_labels", []).append(label)
                out.setdefault(f"{split}_boxes", []).append((y, x, side))
    arrays = {
        key: np.asarray(value, dtype=np.uint8 if key.endswith("images") else np.int32)
        for key, value in out.items()
    }
    arrays["class_names"] = np.asarray(CLASS_NAMES)
    return arrays


def cache_dir() -> pathlib.Path:
    """Folder of cached files: ``$COLORUTILS_CACHE``, else ``$XDG_CACHE_HOME/colorutils``,
    else ``~/.cache/colorutils``."""
    if os.environ.get(CACHE_ENV_VAR):
        return pathlib.Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "colorutils"


def cache_path(crop_size: int = CROP_SIZE, seed: int = SAMPLE_SEED) -> pathlib.Path:
    """The ``.npz`` file the sample set is cached in (recipe version, size and seed in the
    name, so a changed recipe never reads a stale file)."""
    return cache_dir() / f"sample-v{SAMPLE_VERSION}-{crop_size}px-seed{seed}.npz"


_MEMORY: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def load_arrays(crop_size: int = CROP_SIZE, seed: int = SAMPLE_SEED,
                cache: bool = True) -> dict[str, np.ndarray]:
    """The sample set as NumPy arrays (see :func:`build_arrays`), built on first use and cached.

    Parameters
    ----------
    cache : bool
        Read/write the ``.npz`` file at :func:`cache_path` (written atomically, so parallel
        processes never read a half-written file).  ``False`` always rebuilds in memory.
    """
    if not cache:
        return build_arrays(crop_size, seed)
    path = cache_path(crop_size, seed)
    key = (str(path), crop_size, seed)
    if key in _MEMORY:
        return _MEMORY[key]
    arrays = None
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError):  # a damaged cache file: rebuild it
            arrays = None
    if arrays is None:
        arrays = build_arrays(crop_size, seed)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is plain data
            os.replace(tmp, path)
        except OSError:  # read-only home: keep the in-memory copy
            pass
    _MEMORY[key] = arrays
    return arrays


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over all arrays (names, shapes and bytes): equal iff two builds are equal."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(key.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.astype(str).tobytes() if value.dtype.kind == "U" else value.tobytes())
    return digest.hexdigest()


def show_split_bands(ncols: int = 5, size: float = 2.6):
    """Figure: every photo with its bands shaded by split and the crop boxes of each split.

    Returns the matplotlib ``Figure``.
    """
    # start-up: pyplot loads only when the figure is drawn
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    colors = {"train": "tab:blue", "validation": "tab:orange", "test": "tab:red"}
    arrays = load_arrays()
    nrows = -(-len(PHOTOS) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.8),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for label, (photo, ax) in enumerate(zip(PHOTOS, axes.flat, strict=False)):
        rgb = read_photo(photo)
        step = max(1, max(rgb.shape[:2]) // 400)  # display at most ~400 px: faster figures
        ax.imshow(rgb[::step, ::step], extent=(0, rgb.shape[1], rgb.shape[0], 0))
        for split, boxes in split_regions(*rgb.shape[:2]).items():
            for top, bottom, left, right in boxes:
                ax.add_patch(Rectangle((left, top), right - left, bottom - top,
                                       color=colors[split], alpha=0.18, lw=0))
            for y, x, side in arrays[f"{split}_boxes"][arrays[f"{split}_labels"] == label]:
                ax.add_patch(Rectangle((x, y), side, side, fill=False, lw=0.6,
                                       edgecolor=colors[split]))
        ax.set_title(f"{label}: {photo.name} ({rgb.shape[1]}x{rgb.shape[0]})", fontsize=8)
    fig.legend(handles=[Patch(color=c, label=s) for s, c in colors.items()],
               loc="outside lower center", ncol=3, fontsize=8)
    fig.suptitle("Sample set: bands (shaded) and crop boxes (outlined) of each split",
                 fontsize=10)
    return fig


AUTOTUNE = tf.data.AUTOTUNE
SPLITS = ("train", "validation", "test")
#: Folder names accepted for each split in a ``split/class/file`` layout.
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test", "testing"),
}
#: Hash buckets (of 100) of each split when a folder (or TFDS dataset) lacks that split.
DERIVED_SPLIT_PERCENT = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}
#: How many bad paths the warning lists.
MAX_LISTED_BAD = 5

_JPEG, _PNG, _BMP = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM"  # file signatures
#: Signatures of the other formats a folder source reads (with Pillow): GIF, TIFF, WebP.
_PILLOW_SIGNATURES = (b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"RIFF")
#: Bytes at the start of a JPEG searched for its EXIF block.  Exif 2.3 (section 4.5.4) puts
#: the APP1 segment right after the start-of-image marker, or after a JFIF APP0 segment.
EXIF_SEARCH_BYTES = 1 << 16
_EXIF_HEADER = b"Exif\x00\x00"  # opens the APP1 payload, followed by a TIFF header
_ORIENTATION_TAG = 0x0112
#: IFD0 entries read when looking for the orientation tag (entries are sorted by tag, and
#: 0x0112 follows only the image-size, description, make and model tags).
_MAX_IFD_ENTRIES = 32
#: Bytes read from the APP1 marker on: the TIFF header, and IFD0 at the usual offsets.
_EXIF_BLOCK_BYTES = 1024


class BadImagesWarning(UserWarning):
    """Some files of a ``folder:`` source could not be read and were skipped."""


@dataclasses.dataclass
class Source:
    """What a source contributes to the pipeline."""

    images: tf.data.Dataset  # elements (uint8 image [H, W, 3], int32 label)
    size: int | None
    class_names: tuple[str, ...]
    has_labels: bool


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

def decode_image(data: tf.Tensor, min_side: int | None = None, *,
                 orient: bool = True) -> tf.Tensor:
    """Decode encoded JPEG / PNG / BMP / GIF bytes to uint8 RGB ``[H, W, 3]`` (TF ops).

    Grayscale is repeated on three channels; 16-bit PNG is scaled to 8 bits
    (``round(v * 255 / 65535)``); an alpha channel is composited over white,
    ``rgb * alpha + 255 * (1 - alpha)``, so transparent regions do not turn into black.
    An animated GIF gives its first frame.  A JPEG is turned the way its EXIF orientation
    tag says (:func:`exif_orientation`): a portrait phone photo comes out upright, as
    Pillow's ``ImageOps.exif_transpose`` (and ``colorutils colorize``) shows it.

    Parameters
    ----------
    data : tf.Tensor (string)
        The encoded file.
    min_side : int, optional
        The short side the caller will resize to.  A JPEG whose short side is at least
        ``r * min_side`` (``r`` in 2, 4, 8) is then decoded at ``1/r`` scale in the DCT domain
        (libjpeg's scaled decoding: a proper low-pass, and 2-3x faster for large photos), so
        the result's short side is still ``>= min_side``.  ``None`` decodes at full size.
    orient : bool
        Apply a JPEG's EXIF orientation (False: the pixels as stored, what ``tf.io`` gives).
    """
    data = tf.convert_to_tensor(data, tf.string)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG)

    def jpeg():
        image = _decode_jpeg(data, min_side)
        return apply_orientation(image, exif_orientation(data)) if orient else image

    out = tf.cond(is_jpeg, jpeg, lambda: _decode_other(data))
    out.set_shape([None, None, 3])
    return out


def _uint(b: tf.Tensor, big_endian: tf.Tensor) -> tf.Tensor:
    """Unsigned integers from bytes on the last axis (``[..., k]`` -> ``[...]``)."""
    k = b.shape[-1]
    weights = tf.constant([256 ** i for i in range(k)], tf.int32)
    return tf.where(big_endian, tf.reduce_sum(b * weights[::-1], -1),
                    tf.reduce_sum(b * weights, -1))


def _orientation_in(block: tf.Tensor) -> tf.Tensor:
    """The orientation tag's value in ``block`` (int32 bytes from the APP1 marker on), or 1."""
    tiff = 4 + len(_EXIF_HEADER)  # FF E1, the segment length, "Exif\\0\\0"
    big = tf.equal(block[tiff], ord("M"))  # "MM": big-endian; "II": little-endian
    ifd = tiff + _uint(block[tiff + 4:tiff + 8], big)
    last = _EXIF_BLOCK_BYTES - 1
    table = ifd + 2 + tf.range(12 * _MAX_IFD_ENTRIES)
    entries = tf.reshape(tf.gather(block, tf.minimum(table, last)), [_MAX_IFD_ENTRIES, 12])
    count = _uint(tf.gather(block, tf.minimum(ifd + tf.range(2), last)), big)
    is_tag = (tf.equal(_uint(entries[:, 0:2], big), _ORIENTATION_TAG)
              & (tf.range(_MAX_IFD_ENTRIES) < count)
              & (ifd + 2 + 12 * tf.range(_MAX_IFD_ENTRIES) + 12 <= _EXIF_BLOCK_BYTES))
    value = tf.reduce_max(tf.where(is_tag, _uint(entries[:, 8:10], big), 0))
    valid = (tf.equal(block[0], 0xFF) & tf.equal(block[1], 0xE1)
             & tf.equal(_uint(block[tiff + 2:tiff + 4], big), 42)
             & (value >= 1) & (value <= 8))
    return tf.where(valid, value, 1)


def exif_orientation(data: tf.Tensor) -> tf.Tensor:
    """The EXIF orientation (1..8) of encoded JPEG bytes; 1 (as stored) when there is none.

    TF ops on the bytes: find ``Exif\\0\\0`` (one string search in the first
    :data:`EXIF_SEARCH_BYTES` bytes), check that an APP1 marker (``FF E1``) opens its segment,
    read the TIFF header's byte order (``II`` little-endian or ``MM`` big-endian) and the
    offset of IFD0, and look for tag 0x0112 among its first entries.  Anything unexpected (no
    EXIF, a broken block, a value outside 1..8) gives 1.  A photo without EXIF costs the
    search only.

    References
    ----------
    CIPA DC-008 "Exif 2.3", sections 4.5.4 (APP1), 4.6.2 (IFD structure), 4.6.4 (Orientation).
    """
    data = tf.convert_to_tensor(data, tf.string)
    # The raw op: tf.strings.split would also build a ragged result (some 30 more ops).
    parts = tf.raw_ops.StringSplitV2(input=tf.strings.substr(data, 0, EXIF_SEARCH_BYTES)[None],
                                     sep=_EXIF_HEADER, maxsplit=1).values

    def parse():
        start = tf.maximum(tf.strings.length(parts[0]) - 4, 0)  # the APP1 marker
        block = tf.io.decode_raw(tf.strings.substr(data, start, _EXIF_BLOCK_BYTES), tf.uint8,
                                 fixed_length=_EXIF_BLOCK_BYTES)
        return _orientation_in(tf.cast(block, tf.int32))

    return tf.cond(tf.size(parts) > 1, parse, lambda: tf.constant(1, tf.int32))


def apply_orientation(image: tf.Tensor, orientation) -> tf.Tensor:
    """Turn a stored image ``[H, W, C]`` upright by its EXIF ``orientation`` (1..8).

    The same eight transforms as Pillow's ``ImageOps.exif_transpose``: 1 as stored, 2 mirror,
    3 rotate 180 degrees, 4 flip, 5 transpose, 6 rotate 90 degrees clockwise, 7 transverse,
    8 rotate 90 degrees counter-clockwise; each is a transpose (5-8) followed by a vertical
    (3, 4, 7, 8) and a horizontal (2, 3, 6, 7) flip, so the graph holds one branch, not eight.
    """
    o = tf.cast(orientation, tf.int32)
    image = tf.cond(o >= 5, lambda: tf.image.transpose(image), lambda: image)
    vertical = tf.reduce_any(tf.equal(o, [3, 4, 7, 8]))
    horizontal = tf.reduce_any(tf.equal(o, [2, 3, 6, 7]))
    return tf.reverse(image, tf.boolean_mask([0, 1], tf.stack([vertical, horizontal])))


def _decode_jpeg(data: tf.Tensor, min_side: int | None) -> tf.Tensor:
    if min_side is None:
        return tf.io.decode_jpeg(data, channels=3)
    shape = tf.image.extract_jpeg_shape(data)
    short = tf.minimum(shape[0], shape[1])
    index = tf.add_n([tf.cast(short >= r * int(min_side), tf.int32) for r in (2, 4, 8)])
    return tf.switch_case(index, [
        lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r) for r in (1, 2, 4, 8)])


def _decode_other(data: tf.Tensor) -> tf.Tensor:
    # A 16-bit PNG (bit depth, byte 24 of the IHDR chunk, is 16) is decoded at 16 bits and
    # rounded: decode_image(dtype=uint8) would truncate (v >> 8) instead.
    is_png16 = tf.logical_and(tf.equal(tf.strings.substr(data, 0, 8), _PNG),
                              tf.equal(tf.strings.substr(data, 24, 1), b"\x10"))
    x = tf.cond(
        is_png16,
        lambda: tf.cast(tf.io.decode_png(data, channels=0, dtype=tf.uint16), tf.float32)
        * (255.0 / 65535.0),
        lambda: tf.cast(tf.io.decode_image(data, channels=0, dtype=tf.uint8,
                                           expand_animations=False), tf.float32))
    channels = tf.shape(x)[-1]

    def gray():
        return tf.repeat(x[..., :1], 3, axis=-1)

    def gray_alpha():
        return _over_white(tf.repeat(x[..., :1], 3, axis=-1), x[..., 1:2])

    def rgb():
        return x[..., :3]

    def rgba():
        return _over_white(x[..., :3], x[..., 3:4])

    out = tf.switch_case(tf.clip_by_value(channels - 1, 0, 3), [gray, gray_alpha, rgb, rgba])
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)


def _over_white(rgb: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    a = alpha / 255.0
    return rgb * a + 255.0 * (1.0 - a)


def _pillow_rgb(path) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` of a file only Pillow reads (TIFF, WebP), EXIF-oriented."""
    path = np.asarray(path).item()  # bytes, as tf.numpy_function passes a string
    image = files.read_image(path.decode() if isinstance(path, bytes) else path)
    if image.dtype == np.uint16:
        image = np.round(image * (255.0 / 65535.0)).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def decode_file(path, min_side: int | None = None) -> tf.Tensor:
    """Read an image file as uint8 RGB ``[H, W, 3]`` (usable in ``tf.data.map``).

    JPEG (EXIF orientation applied), PNG (8/16-bit, gray, gray+alpha, RGBA), BMP and GIF are
    decoded with TF ops (:func:`decode_image`, also for ``min_side``, the fast reduced-size
    JPEG decoding); the other formats of :data:`colorutils.files.IMAGE_SUFFIXES` (TIFF, WebP)
    with Pillow, as ``colorutils colorize`` reads them (:func:`colorutils.files.read_image`).
    """
    path = tf.convert_to_tensor(path, tf.string)
    data = tf.io.read_file(path)
    native = tf.reduce_any([tf.equal(tf.strings.substr(data, 0, len(sig)), sig)
                            for sig in (_JPEG, _PNG, _BMP, b"GIF8")])

    def pillow():
        image = tf.numpy_function(_pillow_rgb, [path], tf.uint8, stateful=False)
        image.set_shape([None, None, 3])
        return image

    return tf.cond(native, lambda: decode_image(data, min_side), pillow)


# ---------------------------------------------------------------------------------------------
# The embedded sources
# ---------------------------------------------------------------------------------------------

def sample_source(split: str) -> Source:
    """The ``sample`` source: labelled crops of the photos shipped with the Python stack."""
    arrays = load_arrays()
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    # A fixed interleaving of the photos, so that ``limit`` takes crops of every photo.
    order = np.random.RandomState(0).permutation(len(labels))
    ds = tf.data.Dataset.from_tensor_slices((images[order], labels[order].astype(np.int32)))
    return Source(ds, len(labels), tuple(str(c) for c in arrays["class_names"]), True)


def cifar_source(split: str, min_side: int | None = None) -> Source:
    """The ``cifar10`` source: the embedded CIFAR-10 photos (:mod:`colorutils.data`)."""
    photos, labels, _ = load_split(split)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(photos, dtype=object), labels))
    ds = ds.map(lambda data, y: (decode_image(data, min_side), y), num_parallel_calls=AUTOTUNE)
    return Source(ds, len(labels), class_names(), True)



# ---------------------------------------------------------------------------------------------
# The folder source
# ---------------------------------------------------------------------------------------------

def _bucket(relpath: str) -> int:
    """Stable hash bucket in [0, 100) of a file's ``class/name`` (md5, platform independent)."""
    return int(hashlib.md5(relpath.replace(os.sep, "/").encode()).hexdigest(), 16) % 100


def _image_files(folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in sorted(filenames)
                  if f.lower().endswith(files.IMAGE_SUFFIXES) and not f.startswith(".")]
    return found


def _subdirs(folder: str) -> list[str]:
    return sorted(d.name for d in os.scandir(folder) if d.is_dir() and not d.name.startswith("."))


@dataclasses.dataclass
class FolderListing:
    """The images of a ``folder:`` source by split, with the layout found."""

    layout: str  # "split/class/file", "class/file" or "file"
    class_names: tuple[str, ...]
    files: dict[str, list[tuple[str, int]]]  # split -> [(path, label)]
    derived: tuple[str, ...]  # splits derived by hashing file names


def _derive_splits(files: dict, source_files: list, derived: tuple, layout: str,
                   base: str) -> None:
    """Move the files of ``source_files`` whose name hash falls in a derived split's buckets
    (:data:`DERIVED_SPLIT_PERCENT`) into that split; in a ``split/class/file`` layout the
    rest stay in ``train``."""
    kept = []
    for path, label in source_files:
        b = _bucket(os.path.relpath(path, base))
        for split in derived:
            lo, hi = DERIVED_SPLIT_PERCENT[split]
            if lo <= b < hi:
                files[split].append((path, label))
                break
        else:
            if layout == "split/class/file":
                kept.append((path, label))
    if layout == "split/class/file":
        files["train"] = kept


def list_folder(root: str) -> FolderListing:
    """List a ``folder:`` source: its layout, classes and the files of every split."""
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"source='folder:{root}': no such folder. Give the folder that holds "
            f"split/class/image or class/image files.")
    subdirs = _subdirs(root)
    split_dirs = {}
    for split, aliases in SPLIT_ALIASES.items():
        for d in subdirs:
            if d.lower() in aliases:
                split_dirs[split] = os.path.join(root, d)
                break
    files: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    if split_dirs:
        layout = "split/class/file"
        class_names = tuple(sorted({c for d in split_dirs.values() for c in _subdirs(d)}))
        if not class_names:  # split/file: one unnamed class
            class_names = (os.path.basename(root),)
        for split, d in split_dirs.items():
            if _subdirs(d):
                for label, name in enumerate(class_names):
                    if os.path.isdir(os.path.join(d, name)):
                        files[split] += [(p, label) for p in _image_files(os.path.join(d, name))]
            else:
                files[split] += [(p, 0) for p in _image_files(d)]
        source_files = files["train"]
        derived = tuple(s for s in ("validation", "test") if s not in split_dirs)
        if "train" not in split_dirs:
            raise ValueError(
                f"source='folder:{root}': found split folders {sorted(split_dirs.values())} "
                f"but no 'train' folder; add one or use the class/file layout.")
    else:
        if subdirs:
            layout, class_names = "class/file", tuple(subdirs)
            pairs = [(p, label) for label, name in enumerate(class_names)
                     for p in _image_files(os.path.join(root, name))]
        else:
            layout, class_names = "file", (os.path.basename(root),)
            pairs = [(p, 0) for p in _image_files(root)]
        source_files = pairs
        derived = SPLITS
    if derived:
        _derive_splits(files, source_files, derived, layout,
                       split_dirs["train"] if layout == "split/class/file" else root)
    if not any(files.values()):
        raise ValueError(
            f"source='folder:{root}' holds no image files ({', '.join(IMAGE_SUFFIXES)}); "
            f"expected PATH/train/CLASS/IMAGE or PATH/CLASS/IMAGE.")
    return FolderListing(layout, class_names, files, derived)


_CHECKED: dict[tuple[str, int, float], str | None] = {}


def max_image_pixels() -> int:
    """The most pixels a photo may have: Pillow's decompression-bomb limit, the one
    ``colorutils colorize`` applies too (twice ``PIL.Image.MAX_IMAGE_PIXELS``)."""
    return 2 * int(Image.MAX_IMAGE_PIXELS or 0) or (1 << 62)


def _too_large(path: str) -> str | None:
    """The reason to skip a photo above :func:`max_image_pixels` (read from its header)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        width = height = None
    except (OSError, ValueError, SyntaxError):
        return None  # decoding reports it
    if width is not None and width * height <= max_image_pixels():
        return None
    shown = f"{width} x {height} px, " if width is not None else ""
    return (f"too large ({shown}above the limit of {max_image_pixels() / 1e6:.0f} Mpx that "
            "colorize applies too; shrink it)")


def check_image_file(path: str) -> str | None:
    """Cheap validity check of an image file: ``None`` if it looks readable, else the reason.

    Reads the first and last kilobyte only: an empty file, a header that is not JPEG/PNG/BMP
    (e.g. a text file named ``.png``) and a JPEG without its end marker or a PNG without its
    ``IEND`` chunk (a truncated download) are reported, and so is a photo of more pixels
    than :func:`max_image_pixels` (its header says).  Damage in the middle of a file is
    caught later, when decoding, by ``tf.data``'s ``ignore_errors``.
    """
    try:
        stat = os.stat(path)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    key = (path, stat.st_size, stat.st_mtime)
    if key in _CHECKED:
        return _CHECKED[key]
    reason = None
    if stat.st_size == 0:
        reason = "empty file"
    else:
        try:
            with open(path, "rb") as f:
                head = f.read(16)
                f.seek(max(0, stat.st_size - 1024))
                tail = f.read()
        except OSError as err:
            reason = f"unreadable ({err.strerror})"
        else:
            if head.startswith(_JPEG):
                if b"\xff\xd9" not in tail:
                    reason = "truncated JPEG (no end-of-image marker)"
            elif head.startswith(_PNG):
                if b"IEND" not in tail:
                    reason = "truncated PNG (no IEND chunk)"
            elif not head.startswith((_BMP, *_PILLOW_SIGNATURES)):
                reason = "not a JPEG, PNG, BMP, GIF, TIFF or WebP file"
            reason = reason or _too_large(path)
    _CHECKED[key] = reason
    return reason


def folder_source(root: str, split: str, min_side: int | None = None) -> Source:
    """The ``folder:PATH`` source of one split; unreadable files are skipped with a warning."""
    listing = list_folder(root)
    pairs = listing.files[split]
    if not pairs:
        raise ValueError(
            f"source='folder:{root}' has no images in split {split!r} "
            f"(layout {listing.layout}; sizes {folder_split_sizes(listing)}).")
    good, bad = [], []
    for path, label in pairs:
        reason = check_image_file(path)
        if reason is None:
            good.append((path, label))
        else:
            bad.append((path, reason))
    if bad:
        listed = "; ".join(f"{p} ({r})" for p, r in bad[:MAX_LISTED_BAD])
        more = f"; and {len(bad) - MAX_LISTED_BAD} more" if len(bad) > MAX_LISTED_BAD else ""
        warnings.warn(
            f"folder:{root} split {split!r}: skipped {len(bad)} of {len(pairs)} files that "
            f"cannot be read as images: {listed}{more}.", BadImagesWarning, stacklevel=3)
    if not good:
        raise ValueError(f"source='folder:{root}' split {split!r}: none of the {len(pairs)} "
                         f"files is a readable image.")
    # A fixed interleaving of the classes, so that ``limit`` takes images of every class.
    order = np.random.RandomState(0).permutation(len(good))
    paths = [good[i][0] for i in order]
    labels = np.asarray([good[i][1] for i in order], np.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    ds = ds.map(lambda p, y: (decode_file(p, min_side), y), num_parallel_calls=AUTOTUNE)
    # Safety net for damage the header check cannot see: TF logs each skipped file.
    ds = ds.ignore_errors(log_warning=True)
    return Source(ds, len(good), listing.class_names, listing.layout != "file")


def folder_split_sizes(listing: FolderListing) -> dict[str, int]:
    """Images per split of a folder listing."""
    return {s: len(listing.files[s]) for s in SPLITS}


#: Smallest side of the random training crop, as a fraction of the image's short side.
TRAIN_MIN_CROP = 0.8
#: Shuffle buffer cap (elements are cached images of ``image_size``).
MAX_SHUFFLE_BUFFER = 4096
#: Most bytes :func:`load` caches in memory (``cache=True``): 2 GiB, a sixth of Colab's RAM.
#: A split whose resized images may need more (:func:`cache_bytes`) is not cached at all.
MEMORY_CACHE_BYTES = 2 * 1024**3
#: Long side over short side allowed for in :func:`cache_bytes` (photos are rarely wider
#: than 2:1; the images are cached with their short side at ``image_size``).
CACHE_ASPECT = 2.0


# --------------------------------------------------------------------------- tfds:NAME

#: Where the offline check knocks before a TFDS download; ``COLORUTILS_OFFLINE=1`` skips it.
NETWORK_PROBE = ("storage.googleapis.com", 443)
OFFLINE_ENV_VAR = "COLORUTILS_OFFLINE"


class DatasetNotAvailableError(FileNotFoundError):
    """A TFDS dataset is not prepared in ``data_dir`` and cannot be downloaded here (a
    ``FileNotFoundError``: its files are missing, like a missing ``folder:`` path)."""


def network_available(timeout: float = 3.0) -> bool:
    """Whether :data:`NETWORK_PROBE` accepts a TCP connection within ``timeout`` seconds.

    Runs in a daemon thread, so even a DNS lookup that hangs cannot block the caller.
    """
    if os.environ.get(OFFLINE_ENV_VAR, "").lower() in ("1", "true", "yes"):
        return False
    import socket  # start-up: only when a download is considered

    result = []

    def probe():
        try:
            socket.create_connection(NETWORK_PROBE, timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(result and result[0])


#: protobuf's switch for its generated-code/runtime version check (``"true"`` skips it).
PROTOBUF_CHECK_ENV_VAR = "TEMPORARILY_DISABLE_PROTOBUF_VERSION_CHECK"


def import_protos(module: str):
    """Import ``module`` (generated protobuf code), if need be without protobuf's version check.

    protobuf refuses generated code newer than its runtime with a ``VersionError``, even where
    the code runs fine.  That is what breaks ``import tensorflow_datasets`` on Colab's runtime:
    tensorflow-metadata 1.21.0 was generated by protobuf 6.31.1 but allows older runtimes
    (tensorflow/metadata#68), and Colab pairs it with protobuf 5.29.6.  Then the module is
    imported again with the check skipped for that import only, and a warning says so.
    """
    try:
        return importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - protobuf's VersionError, matched by name below
        if type(err).__name__ != "VersionError":
            raise
        warnings.warn(f"{module}: {err} Importing it without protobuf's version check (the "
                      f"book's TFDS sources work this way; upgrading protobuf would change "
                      f"a package the runtime ships).", RuntimeWarning, stacklevel=3)
        previous = os.environ.get(PROTOBUF_CHECK_ENV_VAR)
        os.environ[PROTOBUF_CHECK_ENV_VAR] = "true"
        try:
            return importlib.import_module(module)
        finally:
            if previous is None:
                os.environ.pop(PROTOBUF_CHECK_ENV_VAR, None)
            else:
                os.environ[PROTOBUF_CHECK_ENV_VAR] = previous


def _tensorflow_datasets():
    """The ``tensorflow_datasets`` module, imported after its metadata protos
    (:func:`import_protos`), so that it also loads with Colab's packages."""
    try:
        import_protos("tensorflow_metadata.proto")
    except ModuleNotFoundError:
        pass  # an older TFDS without tensorflow-metadata: nothing to prepare
    import tensorflow_datasets as tfds  # start-up: a heavy import, only for tfds: sources

    return tfds


@contextlib.contextmanager
def _quiet_absl():
    """Silence TFDS's absl warnings (e.g. "Variant folder ... has no dataset_info.json", which
    is the expected state of a dataset that is not prepared)."""
    from absl import logging as absl_logging  # start-up: with TFDS only

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def _get_builder(arg: str, data_dir: str | None, prepare: bool = True):
    """The TFDS builder of ``NAME[:CONFIG]``; with ``prepare``, download it if needed and
    possible, else raise :class:`DatasetNotAvailableError` (never hangs offline)."""
    tfds = _tensorflow_datasets()

    name, _, config = arg.partition(":")
    full = f"{name}/{config}" if config else name
    with _quiet_absl():
        try:
            builder = tfds.builder(full, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError:
            raise ValueError(
                f"source='tfds:{arg}': TensorFlow Datasets has no dataset {full!r}. See "
                f"https://www.tensorflow.org/datasets/catalog/overview for names (e.g. "
                f"'tfds:cifar10', 'tfds:stanford_dogs', 'tfds:imagenette:160px'), or use "
                f"'folder:PATH' for your own images.") from None
        prepared = builder.is_prepared()
    if prepare and not prepared:
        where = data_dir or "the default ~/tensorflow_datasets ($TFDS_DATA_DIR)"
        if not network_available():
            raise DatasetNotAvailableError(
                f"source='tfds:{arg}' is not downloaded in data_dir={where} and this machine "
                f"is offline, so it cannot be downloaded. Either pass data_dir= pointing to a "
                f"folder where it is prepared (run tfds.builder({full!r}).download_and_prepare() "
                f"on a machine with network and copy the folder), or use 'folder:PATH' with "
                f"images on disk, or the embedded photos ('cifar10').")
        builder.download_and_prepare()
    return builder


def _features(builder) -> tuple[str, str | None]:
    """The keys of the image feature and of the class label (None if unlabelled)."""
    tfds = _tensorflow_datasets()

    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not images:
        raise ValueError(
            f"source='tfds:{builder.name}' has no image feature (features: "
            f"{', '.join(features.keys())}); colorization needs an image dataset.")
    image_key = "image" if "image" in images else images[0]
    label_key = ("label" if "label" in labels else labels[0]) if labels else None
    return image_key, label_key


def _split_expression(available, split: str) -> str:
    """The TFDS split expression for our ``split``: the dataset's own split when it has it,
    else a slice of ``train`` (see :data:`DERIVED_SPLIT_PERCENT` for the percentages)."""
    available = set(available)
    own = {s: next((a for a in SPLIT_ALIASES[s] if a in available), None) for s in SPLITS}
    if own["train"] is None:
        raise ValueError(f"the TFDS dataset has no train split (splits: {sorted(available)}).")
    if own["validation"] and own["test"]:
        return own[split]
    if own["validation"] is None and own["test"] is None:  # train only: 80 / 10 / 10
        lo, hi = DERIVED_SPLIT_PERCENT[split]
        return f"{own['train']}[{lo}%:{hi}%]"
    # One held-out split exists: it becomes "test"; validation is the last 10 % of train.
    held_out = own["test"] or own["validation"]
    return {"train": f"{own['train']}[:90%]", "validation": f"{own['train']}[90%:]",
            "test": held_out}[split]


def _tfds_source(arg: str, split: str, data_dir: str | None,
                min_side: int | None = None) -> Source:
    """The ``tfds:`` source of one split (downloaded first if needed and possible)."""
    tfds = _tensorflow_datasets()

    builder = _get_builder(arg, data_dir)
    image_key, label_key = _features(builder)
    expr = _split_expression(builder.info.splits.keys(), split)
    size = builder.info.splits[expr].num_examples
    # Read the encoded bytes and decode them here: the same decoder as for folders, with the
    # fast reduced-size JPEG decoding when the target is small.
    ds = builder.as_dataset(split=expr, shuffle_files=False,
                            decoders={image_key: tfds.decode.SkipDecoding()})

    def element(ex):
        image = decode_image(ex[image_key], min_side)
        label = tf.cast(ex[label_key], tf.int32) if label_key else tf.constant(-1, tf.int32)
        return image, label

    names = tuple(builder.info.features[label_key].names) if label_key else ()
    return Source(ds.map(element, num_parallel_calls=AUTOTUNE), size, names,
                   label_key is not None)


def _tfds_labels(arg: str, split: str, data_dir: str | None) -> tuple[list[str], np.ndarray]:
    """Class names and the labels of one split, read without decoding any image."""
    tfds = _tensorflow_datasets()

    builder = _get_builder(arg, data_dir)
    image_key, label_key = _features(builder)
    if label_key is None:
        return [], np.zeros(0, np.int64)
    expr = _split_expression(builder.info.splits.keys(), split)
    ds = builder.as_dataset(split=expr, shuffle_files=False,
                            decoders={image_key: tfds.decode.SkipDecoding()})
    labels = ds.map(lambda ex: ex[label_key], num_parallel_calls=AUTOTUNE).batch(4096)
    values = [b for b in labels.as_numpy_iterator()]
    return (list(builder.info.features[label_key].names),
            np.concatenate(values) if values else np.zeros(0, np.int64))


# --------------------------------------------------------------------------- the pipeline

@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What :func:`info` knows about a source without reading its images.

    ``split_sizes`` maps each split to its number of images (files for a folder, before bad
    files are dropped); it is empty for a TFDS dataset that is not prepared yet.
    """

    name: str
    class_names: tuple[str, ...]
    num_classes: int
    split_sizes: dict[str, int]
    source: str = ""
    notes: str = ""


def parse_source(source: str) -> tuple[str, str]:
    """Split ``source`` into ``(kind, argument)``: ``("cifar10", "")``, ``("sample", "")``,
    ``("tfds", "NAME[:CONFIG]")`` or ``("folder", PATH)``.

    Raises
    ------
    ValueError
        For anything else, naming the accepted forms.
    """
    if not isinstance(source, str):
        raise ValueError(f"source={source!r} must be a string: 'cifar10', 'sample', "
                         f"'tfds:NAME' or 'folder:PATH'.")
    if source in ("sample", NAME):
        return source, ""
    kind, sep, arg = source.partition(":")
    if sep and kind in ("tfds", "folder") and arg:
        return kind, arg
    hint = f" (did you mean 'tfds:{source}' or 'folder:{source}'?)" if not sep else ""
    raise ValueError(
        f"source={source!r} is not understood{hint}; use 'cifar10' (the embedded CIFAR-10 "
        f"photos), 'sample' (the embedded high-resolution crops), 'tfds:NAME[:CONFIG]' (e.g. "
        f"'tfds:cifar10') or 'folder:PATH' (an image folder).")


def canonical_source(source: str) -> str:
    """``source`` as it identifies a dataset: a folder by its resolved absolute path
    (``folder:data/x`` and ``folder:/abs/data/x/`` are one dataset); others unchanged."""
    kind, arg = parse_source(source)
    if kind != "folder":
        return source
    return f"folder:{os.path.realpath(os.path.expanduser(arg))}"


#: The epoch whose order and augmentation a pipeline delivers (:func:`set_epoch`).
_EPOCH = tf.Variable(0, dtype=tf.int64, trainable=False, name="colorutils_data_epoch")


def set_epoch(epoch: int) -> None:
    """Make every pipeline of :func:`load` deliver epoch ``epoch``'s order and augmentation
    (from its next pass on): they depend only on the pipeline's seed and this number."""
    _EPOCH.assign(int(epoch))


def _epoch_seeds(seed: int, later: tf.Tensor) -> tf.Tensor:
    """Two int64 seeds of ``(seed, current epoch + later)``, stateless (the same in every
    process)."""
    key = tf.stack([tf.constant(seed, tf.int64), _EPOCH.read_value() + later])
    return tf.random.stateless_uniform([2], key, minval=None, maxval=None, dtype=tf.int64)


def _open_source(source: str, split: str, data_dir: str | None, min_side: int) -> Source:
    kind, arg = parse_source(source)
    if kind == "sample":
        return sample_source(split)
    if kind == NAME:
        return cifar_source(split, min_side)
    if kind == "folder":
        return folder_source(arg, split, min_side)
    return _tfds_source(arg, split, data_dir, min_side)


# ---------------------------------------------------------------------------------------------
# Pipeline steps (TF ops)
# ---------------------------------------------------------------------------------------------

def resize_short_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resize ``image`` [H, W, C] so its short side is ``size`` (antialiased bilinear), keeping
    the aspect ratio; returns float32 in the input's value range."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_min(shape)
    new = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    return tf.image.resize(tf.cast(image, tf.float32), new, antialias=True)


def is_colorful(image: tf.Tensor, threshold: float = quantize.GRAY_THRESHOLD) -> tf.Tensor:
    """``True`` if some pixel of ``image`` (uint8 RGB) has ``|a|`` or ``|b|`` above
    ``threshold`` (default :data:`colorutils.quantize.GRAY_THRESHOLD`, Zhang et al. 2016)."""
    lab = color.rgb_to_lab(image)
    return tf.reduce_any(tf.abs(lab[..., 1:]) > threshold)


def random_crop_flip(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Random-resized crop + horizontal flip of a uint8 image whose short side is ``size``.

    The crop is a square of side ``u * short_side``, ``u ~ U[TRAIN_MIN_CROP, 1]``, at a uniform
    position, resized bilinearly to ``size x size``; stateless ops seeded by ``seed`` (int64).
    Returns float32 RGB in [0, 1].
    """
    seeds = tf.random.experimental.stateless_split(tf.stack([seed, tf.constant(7, tf.int64)]), 4)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    side = tf.reduce_min(hw) * tf.random.stateless_uniform([], seeds[0], TRAIN_MIN_CROP, 1.0)
    top = tf.random.stateless_uniform([], seeds[1]) * (hw[0] - side)
    left = tf.random.stateless_uniform([], seeds[2]) * (hw[1] - side)
    # crop_and_resize maps a normalised coordinate y to the pixel centre y * (h - 1).
    last = tf.maximum(hw - 1.0, 1.0)
    box = tf.stack([top / last[0], left / last[1],
                    (top + side - 1.0) / last[0], (left + side - 1.0) / last[1]])
    crop = tf.image.crop_and_resize(tf.cast(image[None], tf.float32), box[None], [0],
                                    [size, size])[0]
    flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
    crop = tf.cond(flip, lambda: tf.reverse(crop, axis=[1]), lambda: crop)
    return tf.clip_by_value(crop / 255.0, 0.0, 1.0)


def centre_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The centre ``size x size`` square of an image whose short side is ``size``; float32
    RGB in [0, 1]."""
    crop = tf.image.resize_with_crop_or_pad(image, size, size)
    return tf.cast(crop, tf.float32) / 255.0


def _check_args(split, image_size, batch_size, output, limit):
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a split; use one of {', '.join(SPLITS)}.")
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer.")
    if output not in ("lab", "rgb"):
        raise ValueError(f"output={output!r}: use 'lab' (model input and targets) or 'rgb'.")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit={limit!r} must be a positive integer or None (all images).")


def cache_bytes(count: int | None, image_size: int) -> float:
    """Upper estimate of the memory that caching ``count`` resized images takes:
    ``count · S · (CACHE_ASPECT · S) · 3`` bytes (uint8 RGB, short side ``S``); infinite when
    the count is unknown.

    >>> cache_bytes(8000, 32) / 2**20  # CIFAR-10's training split at 32 px, in MiB
    46.875
    """
    if not count:
        return float("inf")
    return float(count) * image_size * CACHE_ASPECT * image_size * 3


def _images(src: Source, size: int, filter_gray: bool, limit, cache):
    """Resized uint8 images: short side ``size``, gray ones dropped, ``limit`` taken, cached.

    Returns ``(dataset, number of images or None)``.
    """
    def prepare(image, label):
        small = resize_short_side(image, size)
        return tf.cast(tf.clip_by_value(tf.round(small), 0.0, 255.0), tf.uint8), label

    ds = src.images.map(prepare, num_parallel_calls=AUTOTUNE)
    if filter_gray:
        ds = ds.filter(lambda image, label: is_colorful(image))
    count = src.size
    if limit is not None:
        ds = ds.take(int(limit))
        count = min(count, int(limit)) if count else int(limit)
    if isinstance(cache, str):
        ds = ds.cache(cache)
    elif cache and cache_bytes(count, size) <= MEMORY_CACHE_BYTES:
        ds = ds.cache()
    return ds, count


def _epoch_passes(ds, count, size: int, *, shuffle: bool, augment: bool, seed: int,
                   repeat: bool):
    """One pass (forever, with ``repeat``: pass ``k`` as epoch ``epoch + k``): shuffled, then
    cropped (random-resized crop and flip, or the centre square; RGB in [0, 1]), with seeds
    of ``(seed, epoch)`` read when the pass starts."""
    buffer = min(count or MAX_SHUFFLE_BUFFER, MAX_SHUFFLE_BUFFER)

    def one_pass(later):
        # Only this pass's graph: tf.data combines an op seed with the graph seed, and with a
        # graph seed of 0 (set_seed(0)) it cannot take a tensor op seed.
        tf.random.set_seed(1)
        seeds = _epoch_seeds(seed, later)
        images = ds
        if shuffle:
            images = images.shuffle(buffer, seed=seeds[0], reshuffle_each_iteration=False)
        if not augment:
            return images.map(lambda image, label: (centre_crop(image, size), label),
                              num_parallel_calls=AUTOTUNE)
        randoms = tf.data.Dataset.random(seed=seeds[1])
        return tf.data.Dataset.zip((images, randoms)).map(
            lambda pair, r: (random_crop_flip(pair[0], size, r), pair[1]),
            num_parallel_calls=AUTOTUNE)

    if not (shuffle or augment):
        return one_pass(tf.constant(0, tf.int64)).repeat() if repeat else one_pass(0)
    if repeat:
        return tf.data.Dataset.range(1 << 62).flat_map(one_pass)
    known = ds.cardinality()
    out = tf.data.Dataset.range(1).flat_map(one_pass)
    if int(known) >= 0:  # keep the length Keras' progress bar shows
        out = out.apply(tf.data.experimental.assert_cardinality(known))
    return out


def _outputs(ds, size: int, *, output: str, with_label: bool):
    """Batches of RGB -> ``(l_norm, {"ab"[, "label"]})`` (or ``(rgb, label)``)."""
    def to_output(rgb, label):
        rgb = tf.ensure_shape(rgb, [None, size, size, 3])
        if output == "rgb":
            return rgb, label
        l_norm, ab = color.split_lab(color.rgb_to_lab(rgb, validate=False))
        targets = {"ab": ab}
        if with_label:
            targets["label"] = label
        return l_norm, targets

    return ds.map(to_output, num_parallel_calls=AUTOTUNE)


def load(source: str, split: str, image_size: int, batch_size: int = 32, *,
         with_label: bool = False, output: str = "lab", shuffle: bool | None = None,
         seed: int = 0, limit: int | None = None, filter_gray: bool = False,
         repeat: bool = False, data_dir: str | None = None, cache: bool | str = True,
         augment: bool | None = None) -> tf.data.Dataset:
    """A batched ``tf.data`` pipeline of colorization examples.

    Parameters
    ----------
    source : str
        ``"sample"``, ``"tfds:NAME[:CONFIG]"`` or ``"folder:PATH"`` (see the module docstring).
    split : {"train", "validation", "test"}
        Sources without a validation or test split derive it deterministically: a folder by
        hashing ``class/file`` names (80 / 10 / 10 %), TFDS by slicing ``train``.
    image_size : int
        Side ``S`` of the square images.  The sample set stores 96 px crops (larger sizes are
        upsampled).
    batch_size : int
        Images per batch (the last batch may be smaller).
    with_label : bool
        Add ``"label"`` (int32 class index) to the targets; needs a labelled source.
    output : {"lab", "rgb"}
        ``"lab"``: ``(l_norm [B,S,S,1] in [-1, 1], {"ab": [B,S,S,2] Lab units[, "label": [B]]})``;
        ``"rgb"``: ``(rgb [B,S,S,3] float32 in [0, 1], label int32 [B])`` (-1 if unlabelled).
    shuffle : bool, optional
        Shuffle the images (default: only the train split).
    seed : int
        Seed of the shuffle order and of the augmentation; the same seed and epoch
        (:func:`set_epoch`) give the same batches.
    limit : int, optional
        Use only the first ``limit`` images (of a fixed interleaving of the classes, after the
        gray filter).
    filter_gray : bool
        Drop images with no pixel where ``|a|`` or ``|b|`` exceeds
        :data:`colorutils.quantize.GRAY_THRESHOLD`.
    repeat : bool
        Repeat forever (then pass ``steps_per_epoch`` to ``fit``).
    data_dir : str, optional
        TFDS data folder (default: TFDS's own, ``~/tensorflow_datasets``).
    cache : bool or str
        ``True``: cache the decoded, resized images in memory when they fit the budget,
        :func:`cache_bytes` ``<=`` :data:`MEMORY_CACHE_BYTES` (about 350,000 images at
        32 px, 5,000 at 256 px), otherwise not at all (every epoch decodes the files again:
        an ImageNet-sized folder at ``scale="full"`` does not exhaust the RAM).  A string:
        cache on disk under this file prefix, whatever the size.  ``False``: no cache.
    augment : bool, optional
        Random-resized crop and flip (default: the train split); otherwise the centre crop.

    Returns
    -------
    tf.data.Dataset

    Raises
    ------
    ValueError
        A bad argument, an unknown source or TFDS name, an empty folder, or ``with_label``
        on an unlabelled source.
    FileNotFoundError
        A ``folder:`` path that does not exist.
    DatasetNotAvailableError
        A TFDS dataset that is not prepared in ``data_dir`` while offline (raised within
        seconds).

    Examples
    --------
    >>> ds = load("sample", "train", 32, batch_size=8, with_label=True)
    >>> l_norm, targets = next(iter(ds))
    >>> l_norm.shape, targets["ab"].shape, targets["label"].shape
    (TensorShape([8, 32, 32, 1]), TensorShape([8, 32, 32, 2]), TensorShape([8]))
    """
    _check_args(split, image_size, batch_size, output, limit)
    size = int(image_size)
    src = _open_source(source, split, data_dir, size)
    if with_label and not src.has_labels:
        raise ValueError(f"with_label=True but source={source!r} has no class labels; use "
                         f"with_label=False, or a class/file folder layout.")
    shuffle = (split == "train") if shuffle is None else bool(shuffle)
    augment = (split == "train") if augment is None else bool(augment)
    ds, count = _images(src, size, filter_gray, limit, cache)
    ds = _epoch_passes(ds, count, size, shuffle=shuffle, augment=augment, seed=seed,
                       repeat=repeat)
    ds = ds.batch(int(batch_size), num_parallel_calls=AUTOTUNE)
    return _outputs(ds, size, output=output, with_label=with_label).prefetch(AUTOTUNE)


def info(source: str, data_dir: str | None = None) -> DatasetInfo:
    """Names, classes and split sizes of ``source``, without decoding any image.

    For a TFDS dataset that is not prepared, ``split_sizes`` is empty (nothing is downloaded).
    """
    kind, arg = parse_source(source)
    if kind == "sample":
        arrays = load_arrays()
        names = tuple(str(c) for c in arrays["class_names"])
        return DatasetInfo(
            "sample", names, len(names), {s: len(arrays[f"{s}_labels"]) for s in SPLITS},
            source, f"{CROP_SIZE}px crops of {len(names)} photos shipped with "
                    f"scikit-image, scikit-learn and matplotlib; label = source photo.")
    if kind == NAME:
        names = class_names()
        return DatasetInfo(
            NAME, names, len(names), split_sizes(), source,
            "the CIFAR-10 test photos (Krizhevsky 2009), 32 px JPEGs embedded in data/cifar10; "
            "label = object class.")
    if kind == "folder":
        listing = list_folder(arg)
        note = f"layout {listing.layout}"
        if listing.derived:
            note += f"; splits {', '.join(listing.derived)} derived by hashing file names"
        return DatasetInfo(os.path.basename(os.path.abspath(arg)), listing.class_names,
                           len(listing.class_names), folder_split_sizes(listing), source,
                           note)
    builder = _get_builder(arg, data_dir, prepare=False)
    _, label_key = _features(builder)
    names = tuple(builder.info.features[label_key].names) if label_key else ()
    sizes = {}
    with _quiet_absl():
        prepared = builder.is_prepared()
    if prepared:
        sizes = {s: builder.info.splits[_split_expression(builder.info.splits.keys(), s)].num_examples
                 for s in SPLITS}
    return DatasetInfo(builder.name, names, len(names), sizes, source,
                       "" if sizes else "not prepared in data_dir: split sizes unknown")


def label_counts(source: str, split: str, data_dir: str | None = None) -> dict[str, int]:
    """Number of images per class name in ``split`` (reads labels only, decodes no image)."""
    kind, arg = parse_source(source)
    if kind == "sample":
        arrays = load_arrays()
        names = [str(c) for c in arrays["class_names"]]
        counts = np.bincount(arrays[f"{split}_labels"], minlength=len(names))
    elif kind == NAME:
        names = list(class_names())
        counts = np.bincount(load_split(split)[1], minlength=len(names))
    elif kind == "folder":
        listing = list_folder(arg)
        names = list(listing.class_names)
        counts = np.bincount([y for _, y in listing.files[split]], minlength=len(names))
    else:
        names, labels = _tfds_labels(arg, split, data_dir)
        counts = np.bincount(labels[labels >= 0], minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts, strict=False)}


def throughput(dataset: tf.data.Dataset, batches: int | None = None,
               warmup: int = 1) -> dict[str, float]:
    """Measure how fast ``dataset`` delivers images: iterate it, count images, time it.

    Parameters
    ----------
    dataset : tf.data.Dataset
        A batched dataset (the first component's leading axis counts images).
    batches : int, optional
        Batches to time (default: until the dataset ends).
    warmup : int
        Batches consumed before the clock starts (start-up, autotuning).

    Returns
    -------
    dict
        ``images``, ``seconds`` and ``images_per_s`` of the timed part.
    """
    iterator = iter(dataset)
    for _ in range(warmup):
        if next(iterator, None) is None:
            break
    images, start = 0, time.perf_counter()
    for i, element in enumerate(iterator):
        if batches is not None and i >= batches:
            break
        first = element[0] if isinstance(element, tuple) else element
        images += int(first.shape[0])
    seconds = time.perf_counter() - start
    return {"images": images, "seconds": seconds,
            "images_per_s": images / seconds if seconds > 0 else float("inf")}


def to_arrays(dataset: tf.data.Dataset) -> tuple[np.ndarray, ...]:
    """Collect a finite ``(l_norm, {"ab": ...[, "label": ...]})`` dataset into numpy arrays.

    Chapters score every model on the same held-out images; holding them as arrays once
    avoids re-running the pipeline (and its random parts) per model.

    Returns
    -------
    (l_norm, ab) or (l_norm, ab, labels)
        ``float32 [N, S, S, 1]`` in [-1, 1], ``float32 [N, S, S, 2]`` in Lab units, and the
        int32 labels ``[N]`` when the dataset has them (``with_label=True``): the tuple
        :func:`colorutils.evaluation.evaluate` accepts.
    """
    parts: list[list[np.ndarray]] = []
    for l_norm, targets in files.bar(dataset, desc="loading", unit="batch"):
        arrays = [l_norm.numpy(), targets["ab"].numpy()]
        if "label" in targets:
            arrays.append(targets["label"].numpy())
        parts.append(arrays)
    if not parts:
        raise ValueError("dataset is empty: nothing to collect (check split, limit, filters)")
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
