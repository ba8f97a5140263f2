"""Dataset sources and ``tf.data`` pipelines that feed colorization models ``(L, targets)``.

One entry point, :func:`load`, reads four kinds of source:

``"cifar10"``
    the embedded real photo set, the default of every chapter that trains a model: the
    10,000 CIFAR-10 test photos (32 x 32, 10 classes), packed as JPEG bytes in
    ``data/cifar10`` with a fixed 8,000 / 1,000 / 1,000 split (:mod:`colorutils.cifar`);
    works offline.
``"sample"``
    840 labelled 96 x 96 crops of ten high-resolution photos that ship with scikit-image,
    scikit-learn and matplotlib (:mod:`colorutils.sample`); works offline.  Too few scenes to
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

The pipeline, all TensorFlow ops (so it runs in parallel, off the Python interpreter):

1. decode JPEG / PNG (8- or 16-bit) / BMP, grayscale, gray+alpha and RGBA (:func:`read_image`;
   large JPEGs are decoded at reduced scale in the DCT domain, see :func:`decode_image`);
2. resize so the short side is ``image_size`` (antialiased), optionally drop near-gray
   images, take ``limit`` images, ``cache``;
3. train split: a random square crop of 80-100 % of the short side, resized to ``image_size``,
   and a random horizontal flip ("random-resized crop", as in most ImageNet pipelines);
   validation / test: the centre square;
4. batch, convert to CIE Lab (:func:`colorutils.color.rgb_to_lab`), emit
   ``(l_norm, {"ab": ab[, "label": label]})``; ``prefetch(AUTOTUNE)``.

Targets carry ab (2 channels, Lab units), not soft-encoded 313-bin tensors: the soft encoding
happens on the accelerator inside the loss (:mod:`colorutils.losses`), which keeps the input
pipeline 150x lighter.  Order and augmentation are deterministic for a given ``seed`` (seeded
shuffle and stateless random ops fed by ``tf.data.Dataset.random(seed)``).

Gray filter: Zhang et al. [1]_ train only on colour pictures; with ``filter_gray=True`` an
image is dropped when no pixel has ``|a|`` or ``|b|`` above
:data:`colorutils.quantize.GRAY_THRESHOLD` (5 Lab units), the criterion the empirical prior
uses too.

References
----------
.. [1] R. Zhang, P. Isola, A. A. Efros, "Colorful Image Colorization", ECCV 2016.
.. [2] TensorFlow, "Better performance with the tf.data API",
       https://www.tensorflow.org/guide/data_performance
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import os
import threading
import warnings

import numpy as np
import tensorflow as tf

from colorutils import cifar, color, quantize, sample

__all__ = [
    "AUTOTUNE", "IMAGE_EXTENSIONS", "SPLITS", "DatasetInfo",
    "BadImagesWarning", "DatasetNotAvailableError", "load", "info", "read_image",
    "decode_image", "label_counts", "parse_source", "throughput",
]

AUTOTUNE = tf.data.AUTOTUNE
SPLITS = ("train", "validation", "test")
#: Smallest side of the random training crop, as a fraction of the image's short side.
TRAIN_MIN_CROP = 0.8
#: File name endings read from a ``folder:`` source (case-insensitive).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
#: Folder names accepted for each split in a ``split/class/file`` layout.
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test", "testing"),
}
#: Hash buckets (of 100) of each split when a folder (or TFDS dataset) lacks that split.
DERIVED_SPLIT_PERCENT = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}
#: Shuffle buffer cap (elements are cached images of ``image_size``).
MAX_SHUFFLE_BUFFER = 4096
#: Where the offline check knocks before a TFDS download; ``COLORUTILS_OFFLINE=1`` skips it.
NETWORK_PROBE = ("storage.googleapis.com", 443)
OFFLINE_ENV_VAR = "COLORUTILS_OFFLINE"
#: How many bad paths the warning lists.
MAX_LISTED_BAD = 5


_JPEG, _PNG, _BMP = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM"  # file signatures


class BadImagesWarning(UserWarning):
    """Some files of a ``folder:`` source could not be read and were skipped."""


class DatasetNotAvailableError(FileNotFoundError):
    """A TFDS dataset is not prepared in ``data_dir`` and cannot be downloaded here (a
    ``FileNotFoundError``: its files are missing, like a missing ``folder:`` path)."""


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


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

def decode_image(data: tf.Tensor, min_side: int | None = None) -> tf.Tensor:
    """Decode encoded JPEG / PNG / BMP / GIF bytes to uint8 RGB ``[H, W, 3]`` (TF ops).

    Grayscale is repeated on three channels; 16-bit PNG is scaled to 8 bits
    (``round(v * 255 / 65535)``); an alpha channel is composited over white,
    ``rgb * alpha + 255 * (1 - alpha)``, so transparent regions do not turn into black.
    An animated GIF gives its first frame.

    Parameters
    ----------
    data : tf.Tensor (string)
        The encoded file.
    min_side : int, optional
        The short side the caller will resize to.  A JPEG whose short side is at least
        ``r * min_side`` (``r`` in 2, 4, 8) is then decoded at ``1/r`` scale in the DCT domain
        (libjpeg's scaled decoding: a proper low-pass, and 2-3x faster for large photos), so
        the result's short side is still ``>= min_side``.  ``None`` decodes at full size.
    """
    data = tf.convert_to_tensor(data, tf.string)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG)
    out = tf.cond(is_jpeg, lambda: _decode_jpeg(data, min_side), lambda: _decode_other(data))
    out.set_shape([None, None, 3])
    return out


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


def read_image(path, min_side: int | None = None) -> tf.Tensor:
    """Read an image file as uint8 RGB ``[H, W, 3]`` (TF ops: usable in ``tf.data.map``).

    Decodes JPEG, PNG (8/16-bit, gray, gray+alpha, RGBA) and BMP; see :func:`decode_image`
    (also for ``min_side``, the fast reduced-size JPEG decoding).

    Examples
    --------
    >>> read_image(sample.photo_path(sample.PHOTOS[1])).shape
    TensorShape([300, 451, 3])
    """
    return decode_image(tf.io.read_file(path), min_side)


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------

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
    if source in ("sample", cifar.NAME):
        return source, ""
    kind, sep, arg = source.partition(":")
    if sep and kind in ("tfds", "folder") and arg:
        return kind, arg
    hint = f" (did you mean 'tfds:{source}' or 'folder:{source}'?)" if not sep else ""
    raise ValueError(
        f"source={source!r} is not understood{hint}; use 'cifar10' (the embedded CIFAR-10 "
        f"photos), 'sample' (the embedded high-resolution crops), 'tfds:NAME[:CONFIG]' (e.g. "
        f"'tfds:cifar10') or 'folder:PATH' (an image folder).")


@dataclasses.dataclass
class _Source:
    """Internal: what a source contributes to the pipeline."""

    images: tf.data.Dataset  # elements (uint8 image [H, W, 3], int32 label)
    size: int | None
    class_names: tuple[str, ...]
    has_labels: bool


def _sample_source(split: str) -> _Source:
    arrays = sample.load_arrays()
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    # A fixed interleaving of the photos, so that ``limit`` takes crops of every photo.
    order = np.random.RandomState(0).permutation(len(labels))
    ds = tf.data.Dataset.from_tensor_slices((images[order], labels[order].astype(np.int32)))
    return _Source(ds, len(labels), tuple(str(c) for c in arrays["class_names"]), True)


def _cifar_source(split: str, min_side: int | None = None) -> _Source:
    photos, labels, _ = cifar.load_split(split)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(photos, dtype=object), labels))
    ds = ds.map(lambda data, y: (decode_image(data, min_side), y), num_parallel_calls=AUTOTUNE)
    return _Source(ds, len(labels), cifar.class_names(), True)


# -- folder ------------------------------------------------------------------------------------

def _bucket(relpath: str) -> int:
    """Stable hash bucket in [0, 100) of a file's ``class/name`` (md5, platform independent)."""
    return int(hashlib.md5(relpath.replace(os.sep, "/").encode()).hexdigest(), 16) % 100


def _image_files(folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in sorted(filenames)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
    return found


def _subdirs(folder: str) -> list[str]:
    return sorted(d.name for d in os.scandir(folder) if d.is_dir() and not d.name.startswith("."))


@dataclasses.dataclass
class _FolderListing:
    layout: str  # "split/class/file", "class/file" or "file"
    class_names: tuple[str, ...]
    files: dict[str, list[tuple[str, int]]]  # split -> [(path, label)]
    derived: tuple[str, ...]  # splits derived by hashing file names


def _list_folder(root: str) -> _FolderListing:
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
        kept = []
        for path, label in source_files:
            b = _bucket(os.path.relpath(path, root if layout != "split/class/file"
                                        else split_dirs["train"]))
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
    if not any(files.values()):
        raise ValueError(
            f"source='folder:{root}' holds no image files ({', '.join(IMAGE_EXTENSIONS)}); "
            f"expected PATH/train/CLASS/IMAGE or PATH/CLASS/IMAGE.")
    return _FolderListing(layout, class_names, files, derived)


_CHECKED: dict[tuple[str, int, float], str | None] = {}


def check_image_file(path: str) -> str | None:
    """Cheap validity check of an image file: ``None`` if it looks readable, else the reason.

    Reads the first and last kilobyte only: an empty file, a header that is not JPEG/PNG/BMP
    (e.g. a text file named ``.png``) and a JPEG without its end marker or a PNG without its
    ``IEND`` chunk (a truncated download) are reported.  Damage in the middle of a file is
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
            elif not head.startswith(_BMP):
                reason = "not a JPEG, PNG or BMP file"
    _CHECKED[key] = reason
    return reason


def _folder_source(root: str, split: str, min_side: int | None = None) -> _Source:
    listing = _list_folder(root)
    pairs = listing.files[split]
    if not pairs:
        raise ValueError(
            f"source='folder:{root}' has no images in split {split!r} "
            f"(layout {listing.layout}; sizes {_sizes(listing)}).")
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
    ds = ds.map(lambda p, y: (read_image(p, min_side), y), num_parallel_calls=AUTOTUNE)
    # Safety net for damage the header check cannot see: TF logs each skipped file.
    ds = ds.ignore_errors(log_warning=True)
    return _Source(ds, len(good), listing.class_names, listing.layout != "file")


def _sizes(listing: _FolderListing) -> dict[str, int]:
    return {s: len(listing.files[s]) for s in SPLITS}


# -- TFDS --------------------------------------------------------------------------------------

def _network_available(timeout: float = 3.0) -> bool:
    """Whether :data:`NETWORK_PROBE` accepts a TCP connection within ``timeout`` seconds.

    Runs in a daemon thread, so even a DNS lookup that hangs cannot block the caller.
    """
    if os.environ.get(OFFLINE_ENV_VAR, "").lower() in ("1", "true", "yes"):
        return False
    import socket

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


def _import_protos(module: str):
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


def _tfds():
    """``tensorflow_datasets``, imported after its metadata protos (see :func:`_import_protos`)."""
    try:
        _import_protos("tensorflow_metadata.proto")
    except ModuleNotFoundError:
        pass  # an older TFDS without tensorflow-metadata: nothing to prepare
    import tensorflow_datasets as tfds

    return tfds


@contextlib.contextmanager
def _quiet_absl():
    """Silence TFDS's absl warnings (e.g. "Variant folder ... has no dataset_info.json", which
    is the expected state of a dataset that is not prepared)."""
    from absl import logging as absl_logging

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def _tfds_builder(arg: str, data_dir: str | None, prepare: bool = True):
    """The TFDS builder of ``NAME[:CONFIG]``; with ``prepare``, download it if needed and
    possible, else raise :class:`DatasetNotAvailableError` (never hangs offline)."""
    tfds = _tfds()

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
        if not _network_available():
            raise DatasetNotAvailableError(
                f"source='tfds:{arg}' is not downloaded in data_dir={where} and this machine "
                f"is offline, so it cannot be downloaded. Either pass data_dir= pointing to a "
                f"folder where it is prepared (run tfds.builder({full!r}).download_and_prepare() "
                f"on a machine with network and copy the folder), or use 'folder:PATH' with "
                f"images on disk, or the embedded 'sample'.")
        builder.download_and_prepare()
    return builder


def _tfds_features(builder) -> tuple[str, str | None]:
    tfds = _tfds()

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


def _tfds_split(available, split: str) -> str:
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
                 min_side: int | None = None) -> _Source:
    tfds = _tfds()

    builder = _tfds_builder(arg, data_dir)
    image_key, label_key = _tfds_features(builder)
    expr = _tfds_split(builder.info.splits.keys(), split)
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
    return _Source(ds.map(element, num_parallel_calls=AUTOTUNE), size, names,
                   label_key is not None)


def _tfds_labels(arg: str, split: str, data_dir: str | None) -> tuple[list[str], np.ndarray]:
    """Class names and the labels of one split, read without decoding any image."""
    tfds = _tfds()

    builder = _tfds_builder(arg, data_dir)
    image_key, label_key = _tfds_features(builder)
    if label_key is None:
        return [], np.zeros(0, np.int64)
    expr = _tfds_split(builder.info.splits.keys(), split)
    ds = builder.as_dataset(split=expr, shuffle_files=False,
                            decoders={image_key: tfds.decode.SkipDecoding()})
    labels = ds.map(lambda ex: ex[label_key], num_parallel_calls=AUTOTUNE).batch(4096)
    values = [b for b in labels.as_numpy_iterator()]
    return (list(builder.info.features[label_key].names),
            np.concatenate(values) if values else np.zeros(0, np.int64))


def _open_source(source: str, split: str, data_dir: str | None, min_side: int) -> _Source:
    kind, arg = parse_source(source)
    if kind == "sample":
        return _sample_source(split)
    if kind == cifar.NAME:
        return _cifar_source(split, min_side)
    if kind == "folder":
        return _folder_source(arg, split, min_side)
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


def is_colourful(image: tf.Tensor, threshold: float = quantize.GRAY_THRESHOLD) -> tf.Tensor:
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


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

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
        Seed of the shuffle order and of the augmentation; the same seed gives the same batches.
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
        Cache the decoded, resized images in memory (``True``) or in this file prefix.
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

    def prepare(image, label):
        small = resize_short_side(image, size)
        return tf.cast(tf.clip_by_value(tf.round(small), 0.0, 255.0), tf.uint8), label

    ds = src.images.map(prepare, num_parallel_calls=AUTOTUNE)
    if filter_gray:
        ds = ds.filter(lambda image, label: is_colourful(image))
    count = src.size
    if limit is not None:
        ds = ds.take(int(limit))
        count = min(count, int(limit)) if count else int(limit)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if repeat:
        ds = ds.repeat()
    if shuffle:
        ds = ds.shuffle(min(count or MAX_SHUFFLE_BUFFER, MAX_SHUFFLE_BUFFER), seed=seed,
                        reshuffle_each_iteration=True)
    if augment:
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, randoms)).map(
            lambda pair, r: (random_crop_flip(pair[0], size, r), pair[1]),
            num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(lambda image, label: (centre_crop(image, size), label),
                    num_parallel_calls=AUTOTUNE)
    ds = ds.batch(int(batch_size), num_parallel_calls=AUTOTUNE)

    def to_output(rgb, label):
        rgb = tf.ensure_shape(rgb, [None, size, size, 3])
        if output == "rgb":
            return rgb, label
        l_norm, ab = color.split_lab(color.rgb_to_lab(rgb, validate=False))
        targets = {"ab": ab}
        if with_label:
            targets["label"] = label
        return l_norm, targets

    ds = ds.map(to_output, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def info(source: str, data_dir: str | None = None) -> DatasetInfo:
    """Names, classes and split sizes of ``source``, without decoding any image.

    For a TFDS dataset that is not prepared, ``split_sizes`` is empty (nothing is downloaded).
    """
    kind, arg = parse_source(source)
    if kind == "sample":
        arrays = sample.load_arrays()
        names = tuple(str(c) for c in arrays["class_names"])
        return DatasetInfo(
            "sample", names, len(names), {s: len(arrays[f"{s}_labels"]) for s in SPLITS},
            source, f"{sample.CROP_SIZE}px crops of {len(names)} photos shipped with "
                    f"scikit-image, scikit-learn and matplotlib; label = source photo.")
    if kind == cifar.NAME:
        names = cifar.class_names()
        return DatasetInfo(
            cifar.NAME, names, len(names), cifar.split_sizes(), source,
            "the CIFAR-10 test photos (Krizhevsky 2009), 32 px JPEGs embedded in data/cifar10; "
            "label = object class.")
    if kind == "folder":
        listing = _list_folder(arg)
        note = f"layout {listing.layout}"
        if listing.derived:
            note += f"; splits {', '.join(listing.derived)} derived by hashing file names"
        return DatasetInfo(os.path.basename(os.path.abspath(arg)), listing.class_names,
                           len(listing.class_names), _sizes(listing), source, note)
    builder = _tfds_builder(arg, data_dir, prepare=False)
    _, label_key = _tfds_features(builder)
    names = tuple(builder.info.features[label_key].names) if label_key else ()
    sizes = {}
    with _quiet_absl():
        prepared = builder.is_prepared()
    if prepared:
        sizes = {s: builder.info.splits[_tfds_split(builder.info.splits.keys(), s)].num_examples
                 for s in SPLITS}
    return DatasetInfo(builder.name, names, len(names), sizes, source,
                       "" if sizes else "not prepared in data_dir: split sizes unknown")


def label_counts(source: str, split: str, data_dir: str | None = None) -> dict[str, int]:
    """Number of images per class name in ``split`` (reads labels only, decodes no image)."""
    kind, arg = parse_source(source)
    if kind == "sample":
        arrays = sample.load_arrays()
        names = [str(c) for c in arrays["class_names"]]
        counts = np.bincount(arrays[f"{split}_labels"], minlength=len(names))
    elif kind == cifar.NAME:
        names = list(cifar.class_names())
        counts = np.bincount(cifar.load_split(split)[1], minlength=len(names))
    elif kind == "folder":
        listing = _list_folder(arg)
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
    import time

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


def to_arrays(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Collect a finite ``(l_norm, {"ab": ...})`` dataset into two numpy arrays.

    Chapters score every model on the same held-out images; holding them as arrays once
    avoids re-running the pipeline (and its random parts) per model.

    Returns
    -------
    (l_norm, ab) : ``float32 [N, S, S, 1]`` in [-1, 1] and ``float32 [N, S, S, 2]`` in Lab units.
    """
    ls, abs_ = [], []
    for l_norm, targets in dataset:
        ls.append(l_norm.numpy())
        abs_.append(targets["ab"].numpy())
    if not ls:
        raise ValueError("dataset is empty: nothing to collect (check split, limit, filters)")
    return np.concatenate(ls), np.concatenate(abs_)
