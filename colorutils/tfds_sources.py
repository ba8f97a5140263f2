"""The ``tfds:NAME[:CONFIG]`` source: any TensorFlow Datasets image dataset, offline-safe.

The image feature (and a ``ClassLabel`` feature, if any) is detected; a missing validation or
test split is derived by slicing ``train`` (:data:`colorutils.sources.DERIVED_SPLIT_PERCENT`).
A dataset that is not prepared in ``data_dir`` is downloaded only when the network answers
within seconds (:func:`network_available`); offline it fails at once with
:class:`DatasetNotAvailableError`, naming ``data_dir`` and the ``folder:`` alternative.  Images
are read as encoded bytes and decoded by :func:`colorutils.sources.decode_image`, the decoder
of the other sources.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
import tensorflow as tf

from colorutils.sources import (
    AUTOTUNE,
    DERIVED_SPLIT_PERCENT,
    SPLIT_ALIASES,
    SPLITS,
    Source,
    decode_image,
)

__all__ = ["NETWORK_PROBE", "OFFLINE_ENV_VAR", "DatasetNotAvailableError", "network_available",
           "quiet_absl", "get_builder", "features", "split_expression", "tfds_source",
           "tfds_labels"]

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


@contextlib.contextmanager
def quiet_absl():
    """Silence TFDS's absl warnings (e.g. "Variant folder ... has no dataset_info.json", which
    is the expected state of a dataset that is not prepared)."""
    from absl import logging as absl_logging  # start-up: with TFDS only

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def get_builder(arg: str, data_dir: str | None, prepare: bool = True):
    """The TFDS builder of ``NAME[:CONFIG]``; with ``prepare``, download it if needed and
    possible, else raise :class:`DatasetNotAvailableError` (never hangs offline)."""
    import tensorflow_datasets as tfds  # start-up: a heavy import, only for tfds: sources

    name, _, config = arg.partition(":")
    full = f"{name}/{config}" if config else name
    with quiet_absl():
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


def features(builder) -> tuple[str, str | None]:
    """The keys of the image feature and of the class label (None if unlabelled)."""
    import tensorflow_datasets as tfds  # start-up: a heavy import, only for tfds: sources

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


def split_expression(available, split: str) -> str:
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


def tfds_source(arg: str, split: str, data_dir: str | None,
                min_side: int | None = None) -> Source:
    """The ``tfds:`` source of one split (downloaded first if needed and possible)."""
    import tensorflow_datasets as tfds  # start-up: a heavy import, only for tfds: sources

    builder = get_builder(arg, data_dir)
    image_key, label_key = features(builder)
    expr = split_expression(builder.info.splits.keys(), split)
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


def tfds_labels(arg: str, split: str, data_dir: str | None) -> tuple[list[str], np.ndarray]:
    """Class names and the labels of one split, read without decoding any image."""
    import tensorflow_datasets as tfds  # start-up: a heavy import, only for tfds: sources

    builder = get_builder(arg, data_dir)
    image_key, label_key = features(builder)
    if label_key is None:
        return [], np.zeros(0, np.int64)
    expr = split_expression(builder.info.splits.keys(), split)
    ds = builder.as_dataset(split=expr, shuffle_files=False,
                            decoders={image_key: tfds.decode.SkipDecoding()})
    labels = ds.map(lambda ex: ex[label_key], num_parallel_calls=AUTOTUNE).batch(4096)
    values = [b for b in labels.as_numpy_iterator()]
    return (list(builder.info.features[label_key].names),
            np.concatenate(values) if values else np.zeros(0, np.int64))
