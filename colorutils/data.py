"""Dataset sources and the ``tf.data`` pipelines that feed colorization models ``(L, targets)``.

:func:`load` reads ``"cifar10"`` (the 10,000 CIFAR-10 test photos
{cite}`krizhevsky2009learning` as JPEG bytes in ``data/cifar10``, split 8,000 / 1,000 / 1,000
by ``data/build_cifar10.py``), ``"sample"`` (840 labelled 96 x 96 crops of ten photos shipped
with scikit-image, scikit-learn and matplotlib, cut on first use and cached), a TensorFlow
Datasets set ``"tfds:NAME[:CONFIG]"`` or an image folder ``"folder:PATH"``; missing splits are
derived (:data:`DERIVED_SPLIT_PERCENT`).  Decoding is TF ops (JPEG EXIF orientation applied);
the pipeline resizes, caches, crops (random-resized crop and flip for training), batches and
converts to Lab, in an order that depends only on ``seed`` and :func:`set_epoch`.  Targets carry
ab (the soft encoding is in :mod:`colorutils.losses`); the gray filter follows Zhang et al.
{cite}`zhang2016colorful`.  ``data/README.md`` has the credits.
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
import threading
import time
import warnings

import numpy as np
import tensorflow as tf
from PIL import Image

from colorutils import color, files, quantize

__all__ = [
    "SPLITS", "MEMORY_CACHE_BYTES", "OFFLINE_ENV_VAR", "DatasetNotAvailableError",
    "BadImagesWarning", "load", "info", "label_counts", "to_arrays", "throughput",
    "decode_image", "decode_file", "resize_short_side", "centre_crop", "list_folder",
    "load_split", "class_names", "PHOTOS", "photo_path", "read_photo", "load_arrays",
    "cache_path", "fingerprint", "show_split_bands",
]

AUTOTUNE = tf.data.AUTOTUNE
SPLITS = ("train", "validation", "test")
DIR_ENV_VAR = "COLORUTILS_CIFAR_DIR"
_INDEX = "index.json"
_SPLIT_CODES = {"train": "t", "validation": "v", "test": "s"}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a split; use one of {', '.join(SPLITS)}.")


class PackError(FileNotFoundError):
    """The pack is missing or damaged (a checksum differs)."""


def _candidates() -> list[pathlib.Path]:
    found = [pathlib.Path(os.environ[DIR_ENV_VAR])] if os.environ.get(DIR_ENV_VAR) else []
    # A namespace package (no __init__.py): importlib.resources would give a MultiplexedPath.
    from importlib import util

    try:
        spec = util.find_spec("colorutils.cifar_pack")
    except ModuleNotFoundError:
        spec = None
    if spec is not None:  # None: an editable install maps no data package
        found += [pathlib.Path(p) for p in spec.submodule_search_locations or ()]
    return [*found, pathlib.Path(__file__).resolve().parents[1] / "data" / "cifar10"]


def pack_dir() -> pathlib.Path:
    """The pack's folder: ``$COLORUTILS_CIFAR_DIR``, the wheel's ``colorutils.cifar_pack`` or
    the checkout's ``data/cifar10``."""
    candidates = _candidates()
    for folder in candidates:
        if (folder / _INDEX).is_file():
            return folder
    raise PackError(
        f"the embedded CIFAR-10 pack is not installed (looked in "
        f"{', '.join(str(c) for c in candidates)}). Reinstall colorutils from the repository, "
        f"set ${DIR_ENV_VAR} to a folder holding {_INDEX} and its shards, or use "
        f"dataset='tfds:cifar10' or 'folder:PATH'.")


@functools.lru_cache(maxsize=4)
def read_index(directory: str | None = None) -> dict:
    """The parsed ``index.json`` of the pack in ``directory`` (default :func:`pack_dir`)."""
    folder = pathlib.Path(directory) if directory else pack_dir()
    with open(folder / _INDEX, encoding="utf-8") as f:
        return json.load(f)


def class_names(directory: str | None = None) -> tuple[str, ...]:
    """The ten class names, in label order."""
    return tuple(read_index(directory)["class_names"])


def split_sizes(directory: str | None = None) -> dict[str, int]:
    """Number of photos per split, read from the index."""
    codes = read_index(directory)["split"]
    return {s: codes.count(c) for s, c in _SPLIT_CODES.items()}


@functools.lru_cache(maxsize=4)
def _shards(directory: str | None = None) -> tuple[bytes, ...]:
    folder = pathlib.Path(directory) if directory else pack_dir()
    out = []
    for shard in read_index(directory)["shards"]:
        path = folder / shard["file"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PackError(f"shard {path} of the CIFAR-10 pack is missing; rebuild the pack "
                            f"with data/build_cifar10.py or check out data/ again.") from None
        if hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise PackError(f"shard {path} is damaged: its SHA-256 differs from "
                            f"{_INDEX}'s; check out data/ again (git checkout data/) or "
                            f"rebuild the pack with data/build_cifar10.py.")
        out.append(data)
    return tuple(out)


def verify(directory: str | None = None) -> dict[str, str]:
    """``{file: sha256}`` of the shards, each checked again (else :class:`PackError`)."""
    _shards.cache_clear()
    _shards(directory)
    return {s["file"]: s["sha256"] for s in read_index(directory)["shards"]}


def load_split(split: str, directory: str | None = None
               ) -> tuple[list[bytes], np.ndarray, list[str]]:
    """``(jpeg_bytes, int32 labels, "class/file" names)`` of one split, stored round-robin
    over the classes (so the first ``n``, what ``limit=n`` of :func:`load` takes, are balanced).

    >>> photos, labels, names = load_split("test")
    >>> len(photos), labels[:10].tolist(), names[0]
    (1000, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'airplane/0214.jpg')
    >>> photos[0][:3] == b"\\xff\\xd8\\xff"  # JPEG bytes as stored
    True
    """
    _check_split(split)
    index = read_index(directory)
    lengths = index["length"]
    photos, first = [], 0
    for blob, shard in zip(_shards(directory), index["shards"], strict=False):
        ends = np.cumsum(lengths[first:first + shard["images"]])
        photos += [blob[end - n:end] for end, n in zip(ends, lengths[first:], strict=False)]
        first += shard["images"]
    keep = [i for i, c in enumerate(index["split"]) if c == _SPLIT_CODES[split]]
    return ([photos[i] for i in keep], np.asarray([index["label"][i] for i in keep], np.int32),
            [index["name"][i] for i in keep])


#: Side length (pixels) of the stored crops; ``load("sample", ..., image_size)`` works up to it.
CROP_SIZE = 96
#: Number of crops cut from each photo, per split.
CROPS_PER_PHOTO = {"train": 60, "validation": 12, "test": 12}
# Five equal bands along the long side; each crop lies inside one band of its split.
_BAND_LAYOUT = ("train", "validation", "train", "test", "train")
_MIN_CROP_FRACTION = 0.6  # smallest crop side, as a fraction of the band's short extent
_SAMPLE_SEED = 2024  # photo i uses a RandomState seeded with _SAMPLE_SEED + i
_SAMPLE_VERSION = 1  # bump when the recipe changes: old cache files are then ignored
CACHE_ENV_VAR = "COLORUTILS_CACHE"
_PHOTO_MODULES = {"skimage": "skimage.data", "sklearn": "sklearn.datasets",
                  "matplotlib": "matplotlib"}


@dataclasses.dataclass(frozen=True)
class Photo:
    """One source photograph of the sample set: ``name`` (its crops' class), the installed
    ``package`` that ships ``filename``, and its credit, licence and url."""

    name: str
    package: str
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
          "public domain", "https://www.flickr.com/photos/spacexphotos/16511594820/"),
    Photo("motorcycle", "skimage", "motorcycle_left.png",
          "Middlebury 2014 stereo benchmark (Scharstein et al.), left view, downsampled 4x",
          "research use, redistributed with scikit-image",
          "https://vision.middlebury.edu/stereo/data/scenes2014/"),
    Photo("hubble", "skimage", "hubble_deep_field.jpg", "NASA / Hubble eXtreme Deep Field",
          "public domain", "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/"),
    Photo("retina", "skimage", "retina.jpg", "Mikael Haggstrom (fundus photograph)", "CC0",
          "https://commons.wikimedia.org/wiki/File:Fundus_photograph_of_normal_left_eye.jpg"),
    Photo("china", "sklearn", "china.jpg", "danielbuechele on Flickr (Summer Palace, China)",
          "CC BY 2.0", "https://www.flickr.com/photos/danielbuechele/6061409035/"),
    Photo("flower", "sklearn", "flower.jpg", "vultilion on Flickr",
          "CC BY 2.0", "https://www.flickr.com/photos/vultilion/6056698931/"),
    Photo("grace_hopper", "matplotlib", "grace_hopper.jpg",
          "U.S. Navy (Commodore Grace M. Hopper, 1984)", "public domain",
          "https://commons.wikimedia.org/wiki/File:Commodore_Grace_M._Hopper,_USN_(covered).jpg"),
)


def photo_path(photo: Photo) -> str:
    """The file of ``photo`` in its installed package (FileNotFoundError if not shipped)."""
    try:
        module = importlib.import_module(_PHOTO_MODULES[photo.package])
    except ImportError as err:
        raise FileNotFoundError(
            f"the sample photo {photo.filename!r} ships with {photo.package}, which is not "
            f"installed; pip install scikit-image scikit-learn matplotlib") from err
    if photo.package == "matplotlib":
        path = pathlib.Path(module.get_data_path()) / "sample_data" / photo.filename
    else:
        sub = "images" if photo.package == "sklearn" else ""
        path = pathlib.Path(module.__file__).parent / sub / photo.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: this version of {photo.package} no longer ships "
            f"{photo.filename!r}; install the versions pinned in pyproject.toml.")
    return str(path)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def read_photo(photo: Photo) -> np.ndarray:
    """The photo as uint8 RGB ``[H, W, 3]``, read as ``colorutils colorize`` reads it."""
    return _rgb(files.read_image(photo_path(photo)))


def split_regions(height: int, width: int) -> dict[str, list[tuple[int, int, int, int]]]:
    """``{split: [(top, bottom, left, right)]}``: the bands of a photo each split crops from."""
    n = len(_BAND_LAYOUT)
    edges = [round(i * max(height, width) / n) for i in range(n + 1)]
    regions: dict[str, list[tuple[int, int, int, int]]] = {s: [] for s in SPLITS}
    for split, lo, hi in zip(_BAND_LAYOUT, edges[:-1], edges[1:], strict=True):
        regions[split].append((0, height, lo, hi) if width >= height else (lo, hi, 0, width))
    return regions


def _crop_boxes(height: int, width: int, split: str, count: int,
                rng: np.random.RandomState) -> list[tuple[int, int, int]]:
    """``count`` random squares ``(top, left, side)`` in a uniformly drawn band of ``split``,
    side uniform in ``[max(0.6 m, min(CROP_SIZE, m)), m]`` (``m`` the band's short extent)."""
    bands = split_regions(height, width)[split]
    boxes = []
    for _ in range(count):
        top, bottom, left, right = bands[rng.randint(len(bands))]
        extent = min(bottom - top, right - left)
        lo = max(int(_MIN_CROP_FRACTION * extent), min(CROP_SIZE, extent))
        side = rng.randint(lo, extent + 1)
        y = top + rng.randint(bottom - top - side + 1)
        x = left + rng.randint(right - left - side + 1)
        boxes.append((y, x, side))
    return boxes


def build_arrays(crop_size: int = CROP_SIZE, seed: int = _SAMPLE_SEED) -> dict[str, np.ndarray]:
    """Cut the sample set from the installed photos (deterministic, ~1 s; Lanczos resize):
    ``{split}_images`` uint8 ``[N, S, S, 3]``, ``{split}_labels`` int32 ``[N]``,
    ``{split}_boxes`` int32 ``[N, 3]`` (top, left, side in the photo) and ``class_names``."""
    out: dict[str, list] = {f"{s}_{k}": [] for s in SPLITS for k in ("images", "labels", "boxes")}
    for label, photo in enumerate(files.bar(PHOTOS, desc="building the sample set",
                                               unit="photo")):
        rgb = read_photo(photo)
        image = Image.fromarray(rgb)
        rng = np.random.RandomState(seed + label)
        for split in SPLITS:
            for y, x, side in _crop_boxes(*rgb.shape[:2], split, CROPS_PER_PHOTO[split], rng):
                crop = image.resize((crop_size, crop_size), Image.Resampling.LANCZOS,
                                    box=(x, y, x + side, y + side))
                out[f"{split}_images"].append(np.asarray(crop))
                out[f"{split}_labels"].append(label)
                out[f"{split}_boxes"].append((y, x, side))
    arrays = {key: np.asarray(value, dtype=np.uint8 if key.endswith("images") else np.int32)
              for key, value in out.items()}
    arrays["class_names"] = np.asarray(tuple(p.name for p in PHOTOS))
    return arrays


def cache_path(crop_size: int = CROP_SIZE, seed: int = _SAMPLE_SEED) -> pathlib.Path:
    """The sample set's ``.npz`` cache file, under ``$COLORUTILS_CACHE``, else
    ``$XDG_CACHE_HOME/colorutils``, else ``~/.cache/colorutils``."""
    if os.environ.get(CACHE_ENV_VAR):
        folder = pathlib.Path(os.environ[CACHE_ENV_VAR]).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        folder = pathlib.Path(base) / "colorutils"
    return folder / f"sample-v{_SAMPLE_VERSION}-{crop_size}px-seed{seed}.npz"


_MEMORY: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def load_arrays(crop_size: int = CROP_SIZE, seed: int = _SAMPLE_SEED,
                cache: bool = True) -> dict[str, np.ndarray]:
    """The sample set (:func:`build_arrays`), built on first use and cached in memory and at
    :func:`cache_path` (written atomically); ``cache=False`` rebuilds.

    >>> load_arrays()["train_images"].shape  # doctest: +SKIP
    (600, 96, 96, 3)
    """
    if not cache:
        return build_arrays(crop_size, seed)
    path = cache_path(crop_size, seed)
    key = (str(path), crop_size, seed)
    if key in _MEMORY:
        return _MEMORY[key]
    arrays = None
    with contextlib.suppress(OSError, ValueError, EOFError):  # none, or damaged: rebuild it
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    if arrays is None:
        arrays = build_arrays(crop_size, seed)
        with contextlib.suppress(OSError):  # read-only home: keep the in-memory copy
            path.parent.mkdir(parents=True, exist_ok=True)
            with files.atomic_path(path) as tmp:
                np.savez(tmp, **arrays)
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
    """Figure: every photo with its bands shaded by split and the crop boxes of each split."""
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


_JPEG, _PNG, _BMP = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM"  # file signatures
#: Signatures of the other formats a folder source reads (with Pillow): GIF, TIFF, WebP.
_PILLOW_SIGNATURES = (b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"RIFF")
_EXIF_SEARCH_BYTES = 1 << 16  # where Exif 2.3 puts the APP1 segment: right after SOI or APP0
_EXIF_HEADER = b"Exif\x00\x00"  # opens the APP1 payload, followed by a TIFF header
_ORIENTATION_TAG = 0x0112
_MAX_IFD_ENTRIES = 32  # IFD0 entries read (sorted by tag: 0x0112 comes early)
_EXIF_BLOCK_BYTES = 1024  # bytes read from the APP1 marker on: TIFF header and IFD0


@dataclasses.dataclass
class Source:
    """What a source contributes to the pipeline."""

    images: tf.data.Dataset  # elements (uint8 image [H, W, 3], int32 label)
    size: int | None
    class_names: tuple[str, ...]
    has_labels: bool


def decode_image(data: tf.Tensor, min_side: int | None = None, *,
                 orient: bool = True) -> tf.Tensor:
    """Decode JPEG / PNG / BMP / GIF bytes to uint8 RGB ``[H, W, 3]`` (TF ops).

    Gray is repeated on three channels; 16-bit PNG becomes ``round(v * 255 / 65535)``; alpha
    is composited over white, ``rgb * alpha + 255 * (1 - alpha)``; a GIF gives its first frame.
    ``orient``: turn a JPEG by its EXIF orientation, as Pillow's ``ImageOps.exif_transpose``
    (and ``colorutils colorize``).  ``min_side``: decode a JPEG whose short side is at least
    ``r * min_side`` (``r`` in 2, 4, 8) at ``1/r`` scale (libjpeg's DCT scaling, 2-3x faster).
    """
    data = tf.convert_to_tensor(data, tf.string)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG)

    def jpeg():
        image = _decode_jpeg(data, min_side)
        return _apply_orientation(image, _exif_orientation(data)) if orient else image

    out = tf.cond(is_jpeg, jpeg, lambda: _decode_other(data))
    out.set_shape([None, None, 3])
    return out


def _uint(b: tf.Tensor, big_endian: tf.Tensor) -> tf.Tensor:
    """Unsigned integers from bytes on the last axis (``[..., k]`` -> ``[...]``)."""
    weights = tf.constant([256 ** i for i in range(b.shape[-1])], tf.int32)
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


def _exif_orientation(data: tf.Tensor) -> tf.Tensor:
    """The EXIF orientation (1..8) of JPEG bytes, 1 when absent or broken: tag 0x0112 of IFD0
    after ``Exif\\0\\0`` (CIPA DC-008 "Exif 2.3", sections 4.5.4, 4.6.2, 4.6.4)."""
    # The raw op: tf.strings.split would also build a ragged result (some 30 more ops).
    parts = tf.raw_ops.StringSplitV2(input=tf.strings.substr(data, 0, _EXIF_SEARCH_BYTES)[None],
                                     sep=_EXIF_HEADER, maxsplit=1).values

    def parse():
        start = tf.maximum(tf.strings.length(parts[0]) - 4, 0)  # the APP1 marker
        block = tf.io.decode_raw(tf.strings.substr(data, start, _EXIF_BLOCK_BYTES), tf.uint8,
                                 fixed_length=_EXIF_BLOCK_BYTES)
        return _orientation_in(tf.cast(block, tf.int32))

    return tf.cond(tf.size(parts) > 1, parse, lambda: tf.constant(1, tf.int32))


def _apply_orientation(image: tf.Tensor, orientation) -> tf.Tensor:
    """Turn ``image`` upright as ``ImageOps.exif_transpose``: a transpose (orientation 5-8),
    then a vertical (3, 4, 7, 8) and a horizontal (2, 3, 6, 7) flip."""
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
    # A 16-bit PNG (IHDR bit depth, byte 24, is 16) is decoded at 16 bits and rounded:
    # decode_image(dtype=uint8) would truncate (v >> 8).
    is_png16 = tf.logical_and(tf.equal(tf.strings.substr(data, 0, 8), _PNG),
                              tf.equal(tf.strings.substr(data, 24, 1), b"\x10"))
    x = tf.cond(
        is_png16,
        lambda: tf.cast(tf.io.decode_png(data, channels=0, dtype=tf.uint16), tf.float32)
        * (255.0 / 65535.0),
        lambda: tf.cast(tf.io.decode_image(data, channels=0, dtype=tf.uint8,
                                           expand_animations=False), tf.float32))

    def over_white(rgb, alpha):
        a = alpha / 255.0
        return rgb * a + 255.0 * (1.0 - a)

    out = tf.switch_case(tf.clip_by_value(tf.shape(x)[-1] - 1, 0, 3), [
        lambda: tf.repeat(x[..., :1], 3, axis=-1),
        lambda: over_white(tf.repeat(x[..., :1], 3, axis=-1), x[..., 1:2]),
        lambda: x[..., :3],
        lambda: over_white(x[..., :3], x[..., 3:4])])
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)


def _pillow_rgb(path) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` of a file only Pillow reads (TIFF, WebP), EXIF-oriented."""
    path = np.asarray(path).item()  # bytes, as tf.numpy_function passes a string
    image = files.read_image(path.decode() if isinstance(path, bytes) else path)
    if image.dtype == np.uint16:
        image = np.round(image * (255.0 / 65535.0)).astype(np.uint8)
    return _rgb(image)


def decode_file(path, min_side: int | None = None) -> tf.Tensor:
    """Read an image file as uint8 RGB ``[H, W, 3]`` (usable in ``tf.data.map``): JPEG, PNG,
    BMP and GIF with :func:`decode_image`, TIFF and WebP with :func:`colorutils.files.read_image`.

    >>> decode_file(photo_path(PHOTOS[1])).shape
    TensorShape([300, 451, 3])
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


_SPLIT_ALIASES = {  # folder names accepted for each split in a split/class/file layout
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test", "testing"),
}
#: Hash buckets (of 100) of each split when a folder (or TFDS dataset) lacks that split.
DERIVED_SPLIT_PERCENT = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}
_MAX_LISTED_BAD = 5  # how many bad paths the warning lists


class BadImagesWarning(UserWarning):
    """Some files of a ``folder:`` source could not be read and were skipped."""


def _image_files(folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in sorted(filenames)
                  if f.lower().endswith(files.IMAGE_SUFFIXES) and not f.startswith(".")]
    return found


def _subdirs(folder: str) -> list[str]:
    return sorted(d.name for d in os.scandir(folder) if d.is_dir() and not d.name.startswith("."))


def _labelled_files(folder: str, class_names: tuple[str, ...]) -> list[tuple[str, int]]:
    """``[(path, label)]`` of ``folder``: by class subfolder, or all of label 0 if it has none."""
    if not _subdirs(folder):
        return [(p, 0) for p in _image_files(folder)]
    return [(p, label) for label, name in enumerate(class_names)
            for p in _image_files(os.path.join(folder, name))]


@dataclasses.dataclass
class FolderListing:
    """The images of a ``folder:`` source by split, with the layout found."""

    layout: str  # "split/class/file", "class/file" or "file"
    class_names: tuple[str, ...]
    files: dict[str, list[tuple[str, int]]]  # split -> [(path, label)]
    derived: tuple[str, ...]  # splits derived by hashing file names


def list_folder(root: str) -> FolderListing:
    """List a ``folder:`` source: its layout, classes and the files of every split (a split
    it lacks derived from train by :data:`DERIVED_SPLIT_PERCENT`)."""
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"source='folder:{root}': no such folder. Give the folder that holds "
            f"split/class/image or class/image files.")
    subdirs = _subdirs(root)
    found = {s: next((d for d in subdirs if d.lower() in aliases), None)
             for s, aliases in _SPLIT_ALIASES.items()}
    split_dirs = {s: os.path.join(root, d) for s, d in found.items() if d is not None}
    if split_dirs:
        if "train" not in split_dirs:
            raise ValueError(
                f"source='folder:{root}': found split folders {sorted(split_dirs.values())} "
                f"but no 'train' folder; add one or use the class/file layout.")
        layout = "split/class/file"
        names = tuple(sorted({c for d in split_dirs.values() for c in _subdirs(d)}))
        derived = tuple(s for s in ("validation", "test") if s not in split_dirs)
    else:
        layout, names, derived = ("class/file" if subdirs else "file"), tuple(subdirs), SPLITS
    names = names or (os.path.basename(root),)  # no class folders: one unnamed class
    base = split_dirs.get("train", root)
    by_split: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    for split, folder in (split_dirs or {"train": root}).items():
        by_split[split] = _labelled_files(folder, names)
    if derived:  # train files whose md5 bucket of class/name falls in a derived split move
        train, by_split["train"] = by_split["train"], []
        for path, label in train:
            name = os.path.relpath(path, base).replace(os.sep, "/")
            bucket = int(hashlib.md5(name.encode()).hexdigest(), 16) % 100
            to = next((s for s in derived if bucket in range(*DERIVED_SPLIT_PERCENT[s])), "train")
            by_split[to].append((path, label))
    if not any(by_split.values()):
        raise ValueError(
            f"source='folder:{root}' holds no image files ({', '.join(files.IMAGE_SUFFIXES)}); "
            f"expected PATH/train/CLASS/IMAGE or PATH/CLASS/IMAGE.")
    return FolderListing(layout, names, by_split, derived)


def _check_image_file(path: str) -> str | None:
    """``None`` if an image file looks readable, else the reason (empty, not an image,
    truncated JPEG or PNG, too large); damage in the middle is left to decoding."""
    try:
        stat = os.stat(path)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    return _file_problem(path, stat.st_size, stat.st_mtime)


@functools.cache
def _file_problem(path: str, size: int, mtime: float) -> str | None:
    """:func:`_check_image_file` from the first and last kilobyte and the header's size
    (above twice Pillow's decompression-bomb limit, which ``colorize`` applies too)."""
    if size == 0:
        return "empty file"
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - 1024))
            tail = f.read()
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if head.startswith(_JPEG) and b"\xff\xd9" not in tail:
        return "truncated JPEG (no end-of-image marker)"
    if head.startswith(_PNG) and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk)"
    if not head.startswith((_JPEG, _PNG, _BMP, *_PILLOW_SIGNATURES)):
        return "not a JPEG, PNG, BMP, GIF, TIFF or WebP file"
    limit = 2 * int(Image.MAX_IMAGE_PIXELS or 0) or (1 << 62)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        width = height = None
    except (OSError, ValueError, SyntaxError):
        return None  # decoding reports it
    if width is not None and width * height <= limit:
        return None
    shown = f"{width} x {height} px, " if width is not None else ""
    return (f"too large ({shown}above the limit of {limit / 1e6:.0f} Mpx that "
            "colorize applies too; shrink it)")


def folder_source(root: str, split: str, min_side: int | None = None) -> Source:
    """The ``folder:PATH`` source of one split; unreadable files are skipped with a warning."""
    listing = list_folder(root)
    pairs = listing.files[split]
    if not pairs:
        sizes = {s: len(v) for s, v in listing.files.items()}
        raise ValueError(f"source='folder:{root}' has no images in split {split!r} "
                         f"(layout {listing.layout}; sizes {sizes}).")
    reasons = [_check_image_file(path) for path, _ in pairs]
    good = [pair for pair, reason in zip(pairs, reasons, strict=True) if reason is None]
    bad = [(p, r) for (p, _), r in zip(pairs, reasons, strict=True) if r is not None]
    if bad:
        listed = "; ".join(f"{p} ({r})" for p, r in bad[:_MAX_LISTED_BAD])
        more = f"; and {len(bad) - _MAX_LISTED_BAD} more" if len(bad) > _MAX_LISTED_BAD else ""
        warnings.warn(
            f"folder:{root} split {split!r}: skipped {len(bad)} of {len(pairs)} files that "
            f"cannot be read as images: {listed}{more}.", BadImagesWarning, stacklevel=3)
    if not good:
        raise ValueError(f"source='folder:{root}' split {split!r}: none of the {len(pairs)} "
                         f"files is a readable image.")
    # A fixed interleaving of the classes, so that ``limit`` takes images of every class.
    order = np.random.RandomState(0).permutation(len(good))
    labels = np.asarray([good[i][1] for i in order], np.int32)
    ds = tf.data.Dataset.from_tensor_slices(([good[i][0] for i in order], labels))
    ds = ds.map(lambda p, y: (decode_file(p, min_side), y), num_parallel_calls=AUTOTUNE)
    # Safety net for damage the header check cannot see: TF logs each skipped file.
    ds = ds.ignore_errors(log_warning=True)
    return Source(ds, len(good), listing.class_names, listing.layout != "file")


#: Where the offline check knocks before a TFDS download; ``COLORUTILS_OFFLINE=1`` skips it.
NETWORK_PROBE = ("storage.googleapis.com", 443)
OFFLINE_ENV_VAR = "COLORUTILS_OFFLINE"
#: protobuf's switch for its generated-code/runtime version check (``"true"`` skips it).
PROTOBUF_CHECK_ENV_VAR = "TEMPORARILY_DISABLE_PROTOBUF_VERSION_CHECK"


class DatasetNotAvailableError(FileNotFoundError):
    """A TFDS dataset is not prepared in ``data_dir`` and cannot be downloaded here."""


def network_available(timeout: float = 3.0) -> bool:
    """Whether :data:`NETWORK_PROBE` accepts a TCP connection within ``timeout`` seconds
    (probed in a daemon thread, so that a hanging DNS lookup cannot block the caller)."""
    if os.environ.get(OFFLINE_ENV_VAR, "").lower() in ("1", "true", "yes"):
        return False
    import socket  # start-up: only when a download is considered

    result = []

    def probe():
        with contextlib.suppress(OSError):
            socket.create_connection(NETWORK_PROBE, timeout=timeout).close()
            result.append(True)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(result)


def import_protos(module: str):
    """Import ``module`` (generated protobuf code), if need be without protobuf's version check.

    Colab pairs tensorflow-metadata 1.21.0 (generated by protobuf 6.31.1) with protobuf 5.29.6
    (tensorflow/metadata#68), and protobuf refuses newer generated code with a
    ``VersionError``: then the import is retried with the check off for it alone, with a warning.
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
    """``tensorflow_datasets``, imported after its metadata protos (:func:`import_protos`)."""
    with contextlib.suppress(ModuleNotFoundError):  # an older TFDS without tensorflow-metadata
        import_protos("tensorflow_metadata.proto")
    import tensorflow_datasets as tfds  # start-up: a heavy import, only for tfds: sources

    return tfds


@contextlib.contextmanager
def _quiet_absl():
    """Silence TFDS's absl warnings (e.g. "Variant folder ... has no dataset_info.json")."""
    from absl import logging as absl_logging  # start-up: with TFDS only

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def _get_builder(arg: str, data_dir: str | None, prepare: bool = True):
    """``(builder, image key, label key or None)`` of TFDS's ``NAME[:CONFIG]``; with
    ``prepare``, download it if needed and possible, else raise
    :class:`DatasetNotAvailableError` (never hangs offline)."""
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
    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not images:
        raise ValueError(
            f"source='tfds:{builder.name}' has no image feature (features: "
            f"{', '.join(features.keys())}); colorization needs an image dataset.")
    image_key = "image" if "image" in images else images[0]
    label_key = ("label" if "label" in labels else labels[0]) if labels else None
    return builder, image_key, label_key


def _split_expression(available, split: str) -> str:
    """The TFDS split expression for our ``split``: the dataset's own split, else a slice of
    ``train`` (:data:`DERIVED_SPLIT_PERCENT`; with one held-out split, that one is ``test``
    and validation is the last 10 % of train)."""
    available = set(available)
    own = {s: next((a for a in _SPLIT_ALIASES[s] if a in available), None) for s in SPLITS}
    if own["train"] is None:
        raise ValueError(f"the TFDS dataset has no train split (splits: {sorted(available)}).")
    if own["validation"] and own["test"]:
        return own[split]
    if own["validation"] is None and own["test"] is None:  # train only: 80 / 10 / 10
        lo, hi = DERIVED_SPLIT_PERCENT[split]
        return f"{own['train']}[{lo}%:{hi}%]"
    return {"train": f"{own['train']}[:90%]", "validation": f"{own['train']}[90%:]",
            "test": own["test"] or own["validation"]}[split]


def _tfds_split(builder, image_key: str, split: str):
    """``(split expression, dataset of undecoded examples)`` of one split."""
    tfds = _tensorflow_datasets()
    expr = _split_expression(builder.info.splits.keys(), split)
    return expr, builder.as_dataset(split=expr, shuffle_files=False,
                                    decoders={image_key: tfds.decode.SkipDecoding()})


def _tfds_source(arg: str, split: str, data_dir: str | None,
                 min_side: int | None = None) -> Source:
    """The ``tfds:`` source of one split, decoded by :func:`decode_image`."""
    builder, image_key, label_key = _get_builder(arg, data_dir)
    expr, ds = _tfds_split(builder, image_key, split)

    def element(ex):
        label = tf.cast(ex[label_key], tf.int32) if label_key else tf.constant(-1, tf.int32)
        return decode_image(ex[image_key], min_side), label

    names = tuple(builder.info.features[label_key].names) if label_key else ()
    return Source(ds.map(element, num_parallel_calls=AUTOTUNE),
                  builder.info.splits[expr].num_examples, names, label_key is not None)


def _tfds_labels(arg: str, split: str, data_dir: str | None) -> tuple[list[str], np.ndarray]:
    """Class names and the labels of one split, read without decoding any image."""
    builder, image_key, label_key = _get_builder(arg, data_dir)
    if label_key is None:
        return [], np.zeros(0, np.int64)
    ds = _tfds_split(builder, image_key, split)[1]
    labels = ds.map(lambda ex: ex[label_key], num_parallel_calls=AUTOTUNE).batch(4096)
    values = list(labels.as_numpy_iterator())
    return (list(builder.info.features[label_key].names),
            np.concatenate(values) if values else np.zeros(0, np.int64))


_TRAIN_MIN_CROP = 0.8  # smallest side of the random training crop, over the short side
_MAX_SHUFFLE_BUFFER = 4096  # elements are cached images of image_size
#: Most bytes :func:`load` caches in memory (``cache=True``): 2 GiB, a sixth of Colab's RAM.
#: A split whose resized images may need more (:func:`cache_bytes`) is not cached at all.
MEMORY_CACHE_BYTES = 2 * 1024**3
_CACHE_ASPECT = 2.0  # long side over short side allowed for in cache_bytes
#: The epoch whose order and augmentation a pipeline delivers (:func:`set_epoch`).
_EPOCH = tf.Variable(0, dtype=tf.int64, trainable=False, name="colorutils_data_epoch")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What :func:`info` knows about a source without reading its images; ``split_sizes``
    counts files for a folder (bad ones included), and is empty for an unprepared TFDS set."""

    name: str
    class_names: tuple[str, ...]
    num_classes: int
    split_sizes: dict[str, int]
    source: str = ""
    notes: str = ""


def parse_source(source: str) -> tuple[str, str]:
    """Split ``source`` into ``(kind, argument)``: ``("cifar10", "")``, ``("sample", "")``,
    ``("tfds", "NAME[:CONFIG]")`` or ``("folder", PATH)``; anything else raises ValueError."""
    if not isinstance(source, str):
        raise ValueError(f"source={source!r} must be a string: 'cifar10', 'sample', "
                         f"'tfds:NAME' or 'folder:PATH'.")
    if source in ("sample", "cifar10"):
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
    """``source`` with a folder as its resolved absolute path (one dataset, one name)."""
    kind, arg = parse_source(source)
    return f"folder:{os.path.realpath(os.path.expanduser(arg))}" if kind == "folder" else source


def set_epoch(epoch: int) -> None:
    """Make every :func:`load` pipeline deliver epoch ``epoch``'s order and augmentation from
    its next pass on (they depend only on the pipeline's seed and this number)."""
    _EPOCH.assign(int(epoch))


def _epoch_seeds(seed: int, later: tf.Tensor) -> tf.Tensor:
    """Two int64 seeds of ``(seed, current epoch + later)``, the same in every process."""
    key = tf.stack([tf.constant(seed, tf.int64), _EPOCH.read_value() + later])
    return tf.random.stateless_uniform([2], key, minval=None, maxval=None, dtype=tf.int64)


def _open_source(source: str, split: str, data_dir: str | None, min_side: int) -> Source:
    kind, arg = parse_source(source)
    if kind == "sample":
        arrays = load_arrays()
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        # A fixed interleaving of the photos, so that ``limit`` takes crops of every photo.
        order = np.random.RandomState(0).permutation(len(labels))
        ds = tf.data.Dataset.from_tensor_slices((images[order], labels[order].astype(np.int32)))
        return Source(ds, len(labels), tuple(arrays["class_names"].tolist()), True)
    if kind == "cifar10":
        photos, labels, _ = load_split(split)
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(photos, dtype=object), labels))
        ds = ds.map(lambda data, y: (decode_image(data, min_side), y),
                    num_parallel_calls=AUTOTUNE)
        return Source(ds, len(labels), class_names(), True)
    if kind == "folder":
        return folder_source(arg, split, min_side)
    return _tfds_source(arg, split, data_dir, min_side)


def resize_short_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """``image`` [H, W, C] resized (antialiased bilinear) to short side ``size``, aspect kept;
    float32 in the input's value range."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_min(shape)
    new = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    return tf.image.resize(tf.cast(image, tf.float32), new, antialias=True)


def _random_crop_flip(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Random-resized crop + horizontal flip of a uint8 image whose short side is ``size``:
    a square of side ``u * short_side``, ``u ~ U[0.8, 1]``, at a uniform position, resized
    bilinearly to ``size``; stateless, seeded by ``seed``.  float32 RGB in [0, 1]."""
    seeds = tf.random.experimental.stateless_split(tf.stack([seed, tf.constant(7, tf.int64)]), 4)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    side = tf.reduce_min(hw) * tf.random.stateless_uniform([], seeds[0], _TRAIN_MIN_CROP, 1.0)
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
    """The centre ``size x size`` square of an image of short side ``size``: RGB in [0, 1]."""
    return tf.cast(tf.image.resize_with_crop_or_pad(image, size, size), tf.float32) / 255.0


def _check_args(split, image_size, batch_size, output, limit):
    _check_split(split)
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer.")
    if output not in ("lab", "rgb"):
        raise ValueError(f"output={output!r}: use 'lab' (model input and targets) or 'rgb'.")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit={limit!r} must be a positive integer or None (all images).")


def cache_bytes(count: int | None, image_size: int) -> float:
    """Upper estimate of the memory that caching ``count`` resized images takes:
    ``count · S · 2S · 3`` bytes (uint8 RGB, short side ``S``, aspect up to 2:1); infinite
    when the count is unknown.

    >>> cache_bytes(8000, 32) / 2**20  # CIFAR-10's training split at 32 px, in MiB
    46.875
    """
    if not count:
        return float("inf")
    return float(count) * image_size * _CACHE_ASPECT * image_size * 3


def _images(src: Source, size: int, filter_gray: bool, limit, cache):
    """``(resized uint8 images, their number or None)``: short side ``size``, gray ones
    (no ``|a|`` or ``|b|`` above the threshold) dropped, ``limit`` taken, cached."""
    def prepare(image, label):
        small = resize_short_side(image, size)
        return tf.cast(tf.clip_by_value(tf.round(small), 0.0, 255.0), tf.uint8), label

    def colorful(image, label):
        lab = color.rgb_to_lab(image)
        return tf.reduce_any(tf.abs(lab[..., 1:]) > quantize.GRAY_THRESHOLD)

    ds = src.images.map(prepare, num_parallel_calls=AUTOTUNE)
    if filter_gray:
        ds = ds.filter(colorful)
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
    buffer = min(count or _MAX_SHUFFLE_BUFFER, _MAX_SHUFFLE_BUFFER)

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
            lambda pair, r: (_random_crop_flip(pair[0], size, r), pair[1]),
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


def load(source: str, split: str, image_size: int, batch_size: int = 32, *,
         with_label: bool = False, output: str = "lab", shuffle: bool | None = None,
         seed: int = 0, limit: int | None = None, filter_gray: bool = False,
         repeat: bool = False, data_dir: str | None = None, cache: bool | str = True,
         augment: bool | None = None) -> tf.data.Dataset:
    """A batched ``tf.data`` pipeline of colorization examples of square ``image_size`` images.

    ``source``: ``"cifar10"``, ``"sample"``, ``"tfds:NAME[:CONFIG]"`` (from ``data_dir``) or
    ``"folder:PATH"``; a split it lacks is derived (a folder's by hashing ``class/file``
    names, 80 / 10 / 10 %; TFDS by slicing ``train``).  ``output="lab"`` gives
    ``(l_norm [B,S,S,1] in [-1, 1], {"ab": [B,S,S,2][, "label": [B]]})`` (``with_label`` adds
    the int32 class), ``"rgb"`` gives ``(rgb [B,S,S,3] in [0, 1], label)`` (-1 if unlabelled).
    ``shuffle`` and ``augment`` (random-resized crop and flip, else the centre crop) default
    to the train split only; the same ``seed`` and epoch (:func:`set_epoch`) give the same
    batches.  ``limit``: the first images of a fixed interleaving of the classes, after
    ``filter_gray`` (drop images with no ``|a|`` or ``|b|`` above
    :data:`colorutils.quantize.GRAY_THRESHOLD`).  ``repeat``: forever (pass ``steps_per_epoch``
    to ``fit``).  ``cache``: ``True`` caches the resized images in memory when
    :func:`cache_bytes` ``<=`` :data:`MEMORY_CACHE_BYTES`, a string caches on disk under that
    prefix.

    Raises ValueError for a bad argument, source or TFDS name, an empty folder, or
    ``with_label`` on an unlabelled source; FileNotFoundError for a missing folder and
    :class:`DatasetNotAvailableError` for a TFDS dataset not prepared while offline.

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

    def to_output(rgb, label):
        rgb = tf.ensure_shape(rgb, [None, size, size, 3])
        if output == "rgb":
            return rgb, label
        l_norm, ab = color.split_lab(color.rgb_to_lab(rgb, validate=False))
        return l_norm, ({"ab": ab, "label": label} if with_label else {"ab": ab})

    ds = ds.batch(int(batch_size), num_parallel_calls=AUTOTUNE)
    return ds.map(to_output, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def info(source: str, data_dir: str | None = None) -> DatasetInfo:
    """Names, classes and split sizes of ``source``, without decoding any image (nor
    downloading: a TFDS dataset that is not prepared has empty ``split_sizes``)."""
    kind, arg = parse_source(source)
    if kind == "sample":
        arrays = load_arrays()
        names = tuple(arrays["class_names"].tolist())
        return DatasetInfo(
            "sample", names, len(names), {s: len(arrays[f"{s}_labels"]) for s in SPLITS},
            source, f"{CROP_SIZE}px crops of {len(names)} photos shipped with "
                    f"scikit-image, scikit-learn and matplotlib; label = source photo.")
    if kind == "cifar10":
        names = class_names()
        return DatasetInfo(
            "cifar10", names, len(names), split_sizes(), source,
            "the CIFAR-10 test photos (Krizhevsky 2009), 32 px JPEGs embedded in data/cifar10; "
            "label = object class.")
    if kind == "folder":
        listing = list_folder(arg)
        note = f"layout {listing.layout}"
        if listing.derived:
            note += f"; splits {', '.join(listing.derived)} derived by hashing file names"
        return DatasetInfo(os.path.basename(os.path.abspath(arg)), listing.class_names,
                           len(listing.class_names),
                           {s: len(v) for s, v in listing.files.items()}, source, note)
    builder, _, label_key = _get_builder(arg, data_dir, prepare=False)
    names = tuple(builder.info.features[label_key].names) if label_key else ()
    sizes = {}
    with _quiet_absl():
        prepared = builder.is_prepared()
    if prepared:
        splits = builder.info.splits
        sizes = {s: splits[_split_expression(splits.keys(), s)].num_examples for s in SPLITS}
    return DatasetInfo(builder.name, names, len(names), sizes, source,
                       "" if sizes else "not prepared in data_dir: split sizes unknown")


def label_counts(source: str, split: str, data_dir: str | None = None) -> dict[str, int]:
    """Number of images per class name in ``split`` (reads labels only, decodes no image)."""
    kind, arg = parse_source(source)
    if kind == "sample":
        arrays = load_arrays()
        names, labels = tuple(arrays["class_names"].tolist()), arrays[f"{split}_labels"]
    elif kind == "cifar10":
        names, labels = class_names(), load_split(split)[1]
    elif kind == "folder":
        listing = list_folder(arg)
        names, labels = listing.class_names, [y for _, y in listing.files[split]]
    else:
        names, labels = _tfds_labels(arg, split, data_dir)
        labels = labels[labels >= 0]
    counts = np.bincount(labels, minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts, strict=False)}


def throughput(dataset: tf.data.Dataset, batches: int | None = None,
               warmup: int = 1) -> dict[str, float]:
    """``images``, ``seconds`` and ``images_per_s`` of a batched ``dataset`` over ``batches``
    batches (default: all) after ``warmup`` batches."""
    iterator = iter(dataset)
    for _ in range(warmup):
        if next(iterator, None) is None:
            break
    images, start = 0, time.perf_counter()
    for i, element in enumerate(iterator):
        if batches is not None and i >= batches:
            break
        images += int((element[0] if isinstance(element, tuple) else element).shape[0])
    seconds = time.perf_counter() - start
    return {"images": images, "seconds": seconds,
            "images_per_s": images / seconds if seconds > 0 else float("inf")}


def to_arrays(dataset: tf.data.Dataset) -> tuple[np.ndarray, ...]:
    """Collect a finite ``(l_norm, {"ab"[, "label"]})`` dataset into NumPy arrays
    ``(l_norm, ab[, labels])``: the tuple :func:`colorutils.evaluation.evaluate` accepts."""
    parts: list[list[np.ndarray]] = []
    for l_norm, targets in files.bar(dataset, desc="loading", unit="batch"):
        parts.append([l_norm.numpy(), targets["ab"].numpy()])
        if "label" in targets:
            parts[-1].append(targets["label"].numpy())
    if not parts:
        raise ValueError("dataset is empty: nothing to collect (check split, limit, filters)")
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
