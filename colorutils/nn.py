"""The layers and checks the model zoo is built from (:mod:`colorutils.models`).

Every builder of the zoo composes these: :func:`conv` (Conv2D + optional batch norm +
activation), :func:`upsample` (a transposed convolution, or a resize + 3x3 convolution, the fix
of Odena et al. 2016 for checkerboard artefacts), :func:`ab_head` (the ``"ab"`` output: ``Q``
logits, or 2 channels ``tanh * AB_SCALE`` in Lab units), :class:`TileToGrid` (the fusion layer's
tiling of a vector over a feature grid), and the argument checks that give every builder the
same error messages.

Channel counts are ``max(8, round(base * width))`` (:func:`channels`): ``width=1`` is the
paper's size, ``width=0.25`` fits a CPU smoke run.

Examples
--------
>>> channels(64, 0.25), channels(64, 0.05)
(16, 8)
>>> check_choice("upsampling", "cubic", UPSAMPLING)
Traceback (most recent call last):
...
ValueError: upsampling='cubic' is not supported; use one of 'transpose', 'bilinear', 'nearest'.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from colorutils.color import AB_SCALE

__all__ = [
    "UPSAMPLING", "HEADS", "channels", "count_params", "check_choice", "check_positive",
    "check_stride", "check_rate", "check_num_bins", "check_num_classes", "regularizer", "conv",
    "upsample", "ab_head", "l_input", "TileToGrid",
]

UPSAMPLING = ("transpose", "bilinear", "nearest")
HEADS = ("classification", "regression")


def channels(base: int, width: float) -> int:
    """Channel count of a layer: ``max(8, round(base * width))``."""
    return max(8, int(round(base * width)))


def count_params(model: keras.Model) -> int:
    """Number of trainable parameters of ``model``."""
    return int(sum(int(ops.size(w)) for w in model.trainable_weights))


def check_choice(name: str, value, allowed) -> None:
    """Refuse a value that is not one of ``allowed``, naming them."""
    if value not in allowed:
        raise ValueError(
            f"{name}={value!r} is not supported; use one of {', '.join(map(repr, allowed))}.")


def check_positive(name: str, value) -> None:
    """Refuse a value that is not a positive number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive number.")


def check_stride(value, allowed) -> None:
    """Refuse an output stride the builder cannot produce."""
    if value not in allowed:
        raise ValueError(
            f"output_stride={value!r} is not supported; use one of "
            f"{', '.join(map(str, allowed))} (the output is the input size divided by it).")


def check_rate(name: str, value) -> None:
    """Refuse a (dropout) rate outside [0, 1)."""
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} must be a number in [0, 1).")


def regularizer(l2: float):
    """L2 weight decay on a kernel (None for ``l2 = 0``)."""
    if not isinstance(l2, (int, float)) or l2 < 0:
        raise ValueError(f"l2={l2!r} must be a non-negative number (0 disables weight decay).")
    return keras.regularizers.L2(l2) if l2 > 0 else None


def conv(x, filters, name, *, kernel=3, strides=1, dilation=1, batch_norm=False, l2=0.0,
          activation="relu"):
    """Conv2D (+ BatchNorm) + activation; the conv has no bias when batch norm follows."""
    x = layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding="same",
                      use_bias=not batch_norm, kernel_regularizer=regularizer(l2),
                      name=name)(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def upsample(x, filters, name, *, mode, batch_norm=False, l2=0.0):
    """Double the resolution: transposed conv, or resize + 3x3 conv (Odena et al. 2016)."""
    if mode == "transpose":
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                   use_bias=not batch_norm,
                                   kernel_regularizer=regularizer(l2), name=name)(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.UpSampling2D(2, interpolation=mode, name=f"{name}_resize")(x)
    return conv(x, filters, name, batch_norm=batch_norm, l2=l2)


def check_num_bins(num_bins, allow_none=True):
    """Refuse a bin count that is not an integer >= 2 (None: a regression head, if allowed)."""
    if num_bins is None and allow_none:
        return
    if not isinstance(num_bins, int) or isinstance(num_bins, bool) or num_bins < 2:
        raise ValueError(f"num_bins={num_bins!r} must be an integer >= 2 "
                         "(e.g. len(colorutils.quantize.ab_bins()))"
                         + (", or None for a regression head." if allow_none else "."))


def ab_head(x, num_bins, name="ab"):
    """The ``"ab"`` output: Q logits (1x1 conv) or 2 channels ``tanh * AB_SCALE`` (Lab units)."""
    if num_bins is None:
        x = layers.Conv2D(2, 1, activation="tanh", dtype="float32", name=f"{name}_tanh")(x)
        return layers.Rescaling(AB_SCALE, dtype="float32", name=name)(x)
    return layers.Conv2D(num_bins, 1, dtype="float32", name=name)(x)


def check_num_classes(num_classes):
    """Refuse a class count that is not None or an integer >= 2."""
    if num_classes is not None and (not isinstance(num_classes, int)
                                    or isinstance(num_classes, bool) or num_classes < 2):
        raise ValueError(f"num_classes={num_classes!r} must be an integer >= 2 "
                         "(e.g. colorutils.data.info(source).num_classes), or None.")


def l_input(name="l_norm"):
    """The input of every colorization model: ``l_norm [B, H, W, 1]``, any ``H, W``."""
    return keras.Input(shape=(None, None, 1), name=name)


@keras.saving.register_keras_serializable(package="colorutils")
class TileToGrid(layers.Layer):
    """Tile a vector over the spatial grid of a feature map: ``[B, C] -> [B, H, W, C]``.

    The fusion layer of Iizuka et al. (2016): the global feature vector is copied to every
    position of the mid-level feature map, whose ``H, W`` may vary from call to call.
    Called as ``TileToGrid()([vector, grid])``.
    """

    def call(self, inputs):
        vector, grid = inputs
        ones = ops.ones_like(grid[..., :1], dtype=vector.dtype)
        return ones * vector[:, None, None, :]

    def compute_output_shape(self, input_shapes):
        vector_shape, grid_shape = input_shapes
        return (grid_shape[0], grid_shape[1], grid_shape[2], vector_shape[-1])
