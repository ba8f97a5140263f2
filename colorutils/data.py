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

The sources themselves (decoding, folders, the embedded sets) are :mod:`colorutils.sources`;
their public names are re-exported here, so that ``colorutils.data`` is the one module a
chapter imports for data.  The ``tfds:NAME[:CONFIG]`` source lives here: the image feature
(and a ``ClassLabel`` feature, if any) is detected; a missing validation or test split is
derived by slicing ``train`` (:data:`colorutils.sources.DERIVED_SPLIT_PERCENT`).  A dataset
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
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import threading
import time
import warnings

import numpy as np
import tensorflow as tf

from colorutils import cifar, color, progress, quantize, sample, sources
from colorutils.sources import (
    AUTOTUNE,
    DERIVED_SPLIT_PERCENT,
    SPLIT_ALIASES,
    SPLITS,
    BadImagesWarning,
    Source,
    check_image_file,
    decode_file,
    decode_image,
)

__all__ = [
    "AUTOTUNE", "SPLITS", "OFFLINE_ENV_VAR", "DatasetInfo",
    "BadImagesWarning", "DatasetNotAvailableError", "load", "info", "decode_file",
    "decode_image", "check_image_file", "label_counts", "parse_source", "throughput",
    "to_arrays", "resize_short_side", "is_colorful", "random_crop_flip", "centre_crop",
    "MEMORY_CACHE_BYTES", "cache_bytes",
    "NETWORK_PROBE", "PROTOBUF_CHECK_ENV_VAR", "network_available", "import_protos",
    "set_epoch", "canonical_source",
]

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
        return sources.sample_source(split)
    if kind == cifar.NAME:
        return sources.cifar_source(split, min_side)
    if kind == "folder":
        return sources.folder_source(arg, split, min_side)
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
        listing = sources.list_folder(arg)
        note = f"layout {listing.layout}"
        if listing.derived:
            note += f"; splits {', '.join(listing.derived)} derived by hashing file names"
        return DatasetInfo(os.path.basename(os.path.abspath(arg)), listing.class_names,
                           len(listing.class_names), sources.folder_split_sizes(listing), source,
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
        arrays = sample.load_arrays()
        names = [str(c) for c in arrays["class_names"]]
        counts = np.bincount(arrays[f"{split}_labels"], minlength=len(names))
    elif kind == cifar.NAME:
        names = list(cifar.class_names())
        counts = np.bincount(cifar.load_split(split)[1], minlength=len(names))
    elif kind == "folder":
        listing = sources.list_folder(arg)
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
    for l_norm, targets in progress.bar(dataset, desc="loading", unit="batch"):
        arrays = [l_norm.numpy(), targets["ab"].numpy()]
        if "label" in targets:
            arrays.append(targets["label"].numpy())
        parts.append(arrays)
    if not parts:
        raise ValueError("dataset is empty: nothing to collect (check split, limit, filters)")
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
