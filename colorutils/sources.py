"""Where the photos come from: decoding image files and the offline sources of the book.

:mod:`colorutils.data` reads four kinds of source through one entry point; this module holds
what the offline ones need (the TensorFlow Datasets source is in :mod:`colorutils.data`):

* decoding JPEG / PNG (8- or 16-bit) / BMP / GIF bytes to uint8 RGB as TensorFlow ops, with
  alpha composited over white, large JPEGs decoded at reduced scale in the DCT domain and a
  JPEG's EXIF orientation applied, as ``colorize`` does (:func:`decode_image`,
  :func:`decode_file`, :func:`exif_orientation`), and a cheap validity check of image files
  (:func:`check_image_file`);
* the ``cifar10`` and ``sample`` sources (:mod:`colorutils.cifar`, :mod:`colorutils.sample`);
* the ``folder:PATH`` source: ``PATH/split/class/file``, ``PATH/class/file`` or ``PATH/file``,
  splits derived by hashing file names where the folder has none (:func:`list_folder`).

Every source becomes a :class:`Source`: a ``tf.data`` dataset of ``(uint8 image, int32
label)`` with its size and class names, which :func:`colorutils.data.load` turns into a
pipeline.

Examples
--------
>>> decode_file(sample.photo_path(sample.PHOTOS[1])).shape
TensorShape([300, 451, 3])
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings

import numpy as np
import tensorflow as tf
from PIL import Image

from colorutils import cifar, photos, sample

__all__ = [
    "AUTOTUNE", "SPLITS", "SPLIT_ALIASES", "DERIVED_SPLIT_PERCENT",
    "BadImagesWarning", "Source", "decode_image", "decode_file", "exif_orientation",
    "apply_orientation", "EXIF_SEARCH_BYTES", "check_image_file",
    "FolderListing", "list_folder", "folder_source", "folder_split_sizes", "sample_source",
    "cifar_source", "max_image_pixels",
]

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
    image = photos.read_image(path.decode() if isinstance(path, bytes) else path)
    if image.dtype == np.uint16:
        image = np.round(image * (255.0 / 65535.0)).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def decode_file(path, min_side: int | None = None) -> tf.Tensor:
    """Read an image file as uint8 RGB ``[H, W, 3]`` (usable in ``tf.data.map``).

    JPEG (EXIF orientation applied), PNG (8/16-bit, gray, gray+alpha, RGBA), BMP and GIF are
    decoded with TF ops (:func:`decode_image`, also for ``min_side``, the fast reduced-size
    JPEG decoding); the other formats of :data:`colorutils.photos.IMAGE_SUFFIXES` (TIFF, WebP)
    with Pillow, as ``colorutils colorize`` reads them (:func:`colorutils.photos.read_image`).
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
    arrays = sample.load_arrays()
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    # A fixed interleaving of the photos, so that ``limit`` takes crops of every photo.
    order = np.random.RandomState(0).permutation(len(labels))
    ds = tf.data.Dataset.from_tensor_slices((images[order], labels[order].astype(np.int32)))
    return Source(ds, len(labels), tuple(str(c) for c in arrays["class_names"]), True)


def cifar_source(split: str, min_side: int | None = None) -> Source:
    """The ``cifar10`` source: the embedded CIFAR-10 photos (:mod:`colorutils.cifar`)."""
    photos, labels, _ = cifar.load_split(split)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(photos, dtype=object), labels))
    ds = ds.map(lambda data, y: (decode_image(data, min_side), y), num_parallel_calls=AUTOTUNE)
    return Source(ds, len(labels), cifar.class_names(), True)



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
                  if f.lower().endswith(photos.IMAGE_SUFFIXES) and not f.startswith(".")]
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
            f"source='folder:{root}' holds no image files ({', '.join(photos.IMAGE_SUFFIXES)}); "
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
