"""Keras 3 model builders: the book's zoo of colorization networks.

Every builder returns a functional :class:`keras.Model` whose input is ``l_norm``, the
normalised lightness ``L / 50 - 1`` of shape ``[B, H, W, 1]`` with free ``H, W`` (multiples of
8 keep every resolution exact), and whose output is a **dict**:

``"ab"``
    either 2 channels in Lab units (regression heads: ``tanh(z) * AB_SCALE``) or ``Q`` logits
    over the in-gamut ab bins of :func:`colorutils.quantize.ab_bins` (classification heads),
    at the input resolution divided by the model's *output stride*;
``"label"``
    logits over ``num_classes`` image classes, for models with a classification head.

:func:`colorutils.inference.predict_ab` decodes and upsamples either kind of ``"ab"`` output.
The output layers compute in float32 (``dtype="float32"``), so the models train under the
``mixed_float16`` policy on a GPU without overflowing the logits.

Channel counts are ``max(8, round(base * width))``: ``width=1`` is the paper's size,
``width=0.25`` fits a CPU smoke run.

The zoo
-------
:func:`regression_cnn`
    small encoder-decoder regressing ab (the baseline chapter).
:func:`zhang_classifier`
    the classification network of Zhang et al. (2016) {cite}`zhang2016colorful`: conv blocks
    with batch norm, dilated middle blocks, a learned upsampling, logits over the ab bins at
    1/4 resolution.
:func:`unet`
    U-Net with skip connections {cite}`ronneberger2015unet`, classification or regression head.
:func:`fusion_net`
    the joint global/local network of Iizuka et al. (2016) {cite}`iizuka2016let` with its
    fusion layer and an optional classification head.
:func:`koalarization_net`
    Deep Koalarization {cite}`baldassarre2017deep`: a ``keras.applications`` backbone's
    embedding fused like the global vector of the fusion net.
:func:`fusion_classifier`, :func:`copy_matching_weights`
    the classification half of the fusion net and weight transfer, for colorization as a
    pretext task.
:func:`rgb_classifier`
    a small RGB classifier used to measure semantic interpretability.

Upsampling: ``"transpose"`` is a learned transposed convolution (stride 2, kernel 4);
``"bilinear"``/``"nearest"`` resize then convolve, the fix of Odena et al. (2016)
{cite}`odena2016deconvolution` for checkerboard artefacts.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import layers, ops

from colorutils.color import AB_SCALE

UPSAMPLING = ("transpose", "bilinear", "nearest")
HEADS = ("classification", "regression")
BACKBONES = {
    # name: (keras.applications constructor name, default input size, min size)
    "mobilenet_v2": ("MobileNetV2", 96, 32),
    "inception_resnet_v2": ("InceptionResNetV2", 299, 75),
}

__all__ = [
    "regression_cnn", "zhang_classifier", "unet", "fusion_net", "koalarization_net",
    "fusion_classifier", "copy_matching_weights", "rgb_classifier", "count_params",
    "TileToGrid", "channels", "UPSAMPLING", "HEADS", "BACKBONES", "Block", "BlockGraph",
    "block_graph", "default_group", "compile_colorizer", "make_optimizer", "targets_for",
    "JOINT_ALPHA", "OPTIMIZERS",
]


# --------------------------------------------------------------------------- helpers


def channels(base: int, width: float) -> int:
    """Channel count of a layer: ``max(8, round(base * width))``."""
    return max(8, int(round(base * width)))


def count_params(model: keras.Model) -> int:
    """Number of trainable parameters of ``model``."""
    return int(sum(int(ops.size(w)) for w in model.trainable_weights))


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(
            f"{name}={value!r} is not supported; use one of {', '.join(map(repr, allowed))}.")


def _check_positive(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive number.")


def _check_stride(value, allowed) -> None:
    if value not in allowed:
        raise ValueError(
            f"output_stride={value!r} is not supported; use one of "
            f"{', '.join(map(str, allowed))} (the output is the input size divided by it).")


def _check_rate(name: str, value) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} must be a number in [0, 1).")


def _regularizer(l2: float):
    if not isinstance(l2, (int, float)) or l2 < 0:
        raise ValueError(f"l2={l2!r} must be a non-negative number (0 disables weight decay).")
    return keras.regularizers.L2(l2) if l2 > 0 else None


def _conv(x, filters, name, *, kernel=3, strides=1, dilation=1, batch_norm=False, l2=0.0,
          activation="relu"):
    """Conv2D (+ BatchNorm) + activation; the conv has no bias when batch norm follows."""
    x = layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding="same",
                      use_bias=not batch_norm, kernel_regularizer=_regularizer(l2),
                      name=name)(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def _upsample(x, filters, name, *, mode, batch_norm=False, l2=0.0):
    """Double the resolution: transposed conv, or resize + 3x3 conv (Odena et al. 2016)."""
    if mode == "transpose":
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                   use_bias=not batch_norm,
                                   kernel_regularizer=_regularizer(l2), name=name)(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.UpSampling2D(2, interpolation=mode, name=f"{name}_resize")(x)
    return _conv(x, filters, name, batch_norm=batch_norm, l2=l2)


def _check_bins(num_bins, allow_none=True):
    if num_bins is None and allow_none:
        return
    if not isinstance(num_bins, int) or isinstance(num_bins, bool) or num_bins < 2:
        raise ValueError(f"num_bins={num_bins!r} must be an integer >= 2 "
                         "(e.g. len(colorutils.quantize.ab_bins()))"
                         + (", or None for a regression head." if allow_none else "."))


def _ab_head(x, num_bins, name="ab"):
    """The ``"ab"`` output: Q logits (1x1 conv) or 2 channels ``tanh * AB_SCALE`` (Lab units)."""
    if num_bins is None:
        x = layers.Conv2D(2, 1, activation="tanh", dtype="float32", name=f"{name}_tanh")(x)
        return layers.Rescaling(AB_SCALE, dtype="float32", name=name)(x)
    return layers.Conv2D(num_bins, 1, dtype="float32", name=name)(x)


def _check_classes(num_classes):
    if num_classes is not None and (not isinstance(num_classes, int)
                                    or isinstance(num_classes, bool) or num_classes < 2):
        raise ValueError(f"num_classes={num_classes!r} must be an integer >= 2 "
                         "(e.g. colorutils.data.info(source).num_classes), or None.")


def _l_input(name="l_norm"):
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


# --------------------------------------------------------------------------- builders


def regression_cnn(width: float = 1.0, *, batch_norm: bool = True, l2: float = 0.0,
                   name: str = "regression_cnn") -> keras.Model:
    """A small encoder-decoder that regresses ab directly (the baseline of the book).

    Two stride-2 stages, a dilated middle, two upsampling stages, and
    ``ab = AB_SCALE * tanh(conv(h))`` at full resolution, trained with the MSE on
    ``ab / AB_SCALE`` (:class:`colorutils.losses.ABRegressionLoss`). Its known weakness,
    desaturated (averaged) colours, motivates classification (Zhang et al. 2016).

    Parameters
    ----------
    width : float
        Width multiplier; channels are ``max(8, round(base * width))`` for bases 64-256.
    batch_norm : bool
        Batch normalisation after every convolution (Ioffe & Szegedy 2015).
    l2 : float
        L2 weight decay on the convolution kernels.

    Returns
    -------
    keras.Model
        ``l_norm [B, H, W, 1] -> {"ab": [B, H, W, 2]}`` (Lab units, ``|ab| < AB_SCALE``).
    """
    _check_positive("width", width)
    c = lambda base: channels(base, width)  # noqa: E731
    inp = _l_input()
    x = _conv(inp, c(64), "conv1", batch_norm=batch_norm, l2=l2)
    x = _conv(x, c(64), "down1", strides=2, batch_norm=batch_norm, l2=l2)
    x = _conv(x, c(128), "conv2", batch_norm=batch_norm, l2=l2)
    x = _conv(x, c(128), "down2", strides=2, batch_norm=batch_norm, l2=l2)
    x = _conv(x, c(256), "mid1", dilation=2, batch_norm=batch_norm, l2=l2)
    x = _conv(x, c(256), "mid2", dilation=2, batch_norm=batch_norm, l2=l2)
    x = _upsample(x, c(128), "up1", mode="bilinear", batch_norm=batch_norm, l2=l2)
    x = _upsample(x, c(64), "up2", mode="bilinear", batch_norm=batch_norm, l2=l2)
    return keras.Model(inp, {"ab": _ab_head(x, None)}, name=name)


# Zhang et al. (2016), table 4: (convolutions per block, base channels, stride of the last
# convolution, dilation). conv8 (the upsampling block) is added separately.
_ZHANG_BLOCKS = [
    (2, 64, 2, 1),
    (2, 128, 2, 1),
    (3, 256, 2, 1),
    (3, 512, 1, 1),
    (3, 512, 1, 2),
    (3, 512, 1, 2),
    (3, 512, 1, 1),
]


def zhang_classifier(num_bins: int, width: float = 1.0, output_stride: int = 4,
                     upsampling: str = "transpose", batch_norm: bool = True,
                     dropout: float = 0.0, *, l2: float = 0.0, convs_per_block: int | None = None,
                     name: str = "zhang_classifier") -> keras.Model:
    """The colorization classifier of Zhang et al. (2016) {cite}`zhang2016colorful`.

    Seven conv blocks (``conv1``-``conv7``; blocks 1-3 end with a stride-2 convolution, so
    the features are at 1/8 resolution; blocks 5-6 use dilation 2 to widen the receptive
    field without losing resolution), batch norm after each block, then ``conv8``: upsampling
    stages back to ``1/output_stride`` and a 1x1 convolution to ``Q`` logits, one per in-gamut
    ab bin. The paper's output stride is 4 (56x56 logits for a 224x224 input); the
    distribution ``softmax(logits)`` is decoded by the annealed mean
    (:func:`colorutils.quantize.decode`).

    Parameters
    ----------
    num_bins : int
        ``Q``, the number of ab bins (313 in the paper, ``len(ab_bins())`` here).
    width : float
        Width multiplier (base channels 64, 128, 256, 512 as in the paper).
    output_stride : {1, 2, 4, 8}
        Input size / output size. 8 skips conv8's upsampling; 4 is the paper.
    upsampling : {"transpose", "bilinear", "nearest"}
        How conv8 doubles the resolution: a transposed convolution (the paper) or a resize +
        3x3 convolution (Odena et al. 2016 {cite}`odena2016deconvolution`).
    batch_norm : bool
        Batch norm at the end of each block (Ioffe & Szegedy 2015 {cite}`ioffe2015batch`).
    dropout : float
        Dropout rate after blocks 3-7 (Srivastava et al. 2014 {cite}`srivastava2014dropout`);
        0 disables it.
    l2 : float
        L2 weight decay on the convolution kernels.
    convs_per_block : int, optional
        Convolutions per block; ``None`` keeps the paper's counts (2, 2, 3, 3, 3, 3, 3), 1
        gives a much lighter network for CPU budgets.

    Returns
    -------
    keras.Model
        ``l_norm [B, H, W, 1] -> {"ab": logits [B, H/s, W/s, Q]}`` with ``s = output_stride``.
    """
    _check_positive("width", width)
    _check_stride(output_stride, (1, 2, 4, 8))
    _check_choice("upsampling", upsampling, UPSAMPLING)
    _check_rate("dropout", dropout)
    if convs_per_block is not None and (not isinstance(convs_per_block, int)
                                        or convs_per_block < 1):
        raise ValueError(f"convs_per_block={convs_per_block!r} must be a positive integer "
                         "or None (the paper's counts).")
    _check_bins(num_bins, allow_none=False)
    inp = _l_input()
    x = inp
    for b, (n, base, stride, dilation) in enumerate(_ZHANG_BLOCKS, start=1):
        n = convs_per_block or n
        for i in range(1, n + 1):
            last = i == n
            x = _conv(x, channels(base, width), f"conv{b}_{i}",
                      strides=stride if last else 1, dilation=dilation,
                      batch_norm=batch_norm and last, l2=l2)
        if dropout and b >= 3:
            x = layers.Dropout(dropout, name=f"conv{b}_dropout")(x)
    base = 256  # conv8: one x2 stage per halving of the output stride, 256 -> 128 -> 64
    for i in range({8: 0, 4: 1, 2: 2, 1: 3}[output_stride]):
        base = 256 // 2 ** i
        x = _upsample(x, channels(base, width), f"conv8_up{i + 1}", mode=upsampling, l2=l2)
    x = _conv(x, channels(base, width), "conv8_out", l2=l2)
    return keras.Model(inp, {"ab": _ab_head(x, num_bins)}, name=name)


def unet(head: str = "classification", num_bins: int | None = None, width: float = 1.0,
         depth: int = 3, upsampling: str = "transpose", batch_norm: bool = True,
         dropout: float = 0.0, output_stride: int = 1, *, l2: float = 0.0,
         name: str = "unet") -> keras.Model:
    """A U-Net {cite}`ronneberger2015unet`: an encoder, a decoder, and skip connections.

    Each encoder level is two 3x3 convolutions (``base = 32 * 2**level`` channels) and a 2x2
    max-pool; the decoder upsamples and concatenates the encoder features of the same
    resolution, so fine detail (edges) reaches the output directly. The decoder stops at
    ``1/output_stride`` of the input resolution (a coarser output is cheaper and, for
    colour, which varies slowly, often better).

    Parameters
    ----------
    head : {"classification", "regression"}
        ``Q`` logits over the ab bins, or 2 channels ``tanh * AB_SCALE``.
    num_bins : int, optional
        ``Q``; required when ``head="classification"``.
    width : float
        Width multiplier.
    depth : int
        Number of down-sampling levels; H and W should be multiples of ``2**depth``.
    upsampling : {"transpose", "bilinear", "nearest"}
        Decoder upsampling (see :func:`zhang_classifier`).
    batch_norm, dropout, l2
        As in :func:`zhang_classifier`; dropout acts on the bottleneck.
    output_stride : int
        A power of two ``<= 2**depth``.

    Returns
    -------
    keras.Model
        ``l_norm [B, H, W, 1] -> {"ab": [B, H/s, W/s, Q or 2]}``.
    """
    _check_choice("head", head, HEADS)
    _check_positive("width", width)
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} must be a positive integer (levels of the U-Net).")
    _check_stride(output_stride, tuple(2 ** i for i in range(depth + 1)))
    _check_choice("upsampling", upsampling, UPSAMPLING)
    _check_rate("dropout", dropout)
    if head == "classification" and num_bins is None:
        raise ValueError("num_bins=None: head='classification' needs the number of ab bins, "
                         "e.g. num_bins=len(colorutils.quantize.ab_bins()); or use "
                         "head='regression'.")
    if head == "classification":
        _check_bins(num_bins, allow_none=False)
    if head == "regression":
        num_bins = None
    inp = _l_input()
    x, skips = inp, []
    for level in range(depth):
        c = channels(32 * 2 ** level, width)
        x = _conv(x, c, f"enc{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = _conv(x, c, f"enc{level + 1}_b", batch_norm=batch_norm, l2=l2)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    c = channels(32 * 2 ** depth, width)
    x = _conv(x, c, "bottleneck_a", batch_norm=batch_norm, l2=l2)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    x = _conv(x, c, "bottleneck_b", batch_norm=batch_norm, l2=l2)
    levels_up = depth - {2 ** i: i for i in range(depth + 1)}[output_stride]
    for i in range(levels_up):
        level = depth - 1 - i
        c = channels(32 * 2 ** level, width)
        x = _upsample(x, c, f"dec{level + 1}_up", mode=upsampling, batch_norm=batch_norm, l2=l2)
        x = layers.Concatenate(name=f"dec{level + 1}_skip")([x, skips[level]])
        x = _conv(x, c, f"dec{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = _conv(x, c, f"dec{level + 1}_b", batch_norm=batch_norm, l2=l2)
    return keras.Model(inp, {"ab": _ab_head(x, num_bins)}, name=name)


# Iizuka et al. (2016), table 1: low-level features (filters, stride), shared by both paths.
_LOW_LEVEL = [(64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1)]
_GLOBAL_CONV = [(512, 2), (512, 1), (512, 2), (512, 1)]


def _check_global_size(global_size):
    if not isinstance(global_size, int) or global_size < 32 or global_size % 32:
        raise ValueError(f"global_size={global_size!r} must be a multiple of 32 "
                         "(224 in the paper, 64 on a CPU).")


def _low_level_layers(width, batch_norm, l2):
    """The shared low-level feature network as a list of callables (same weights twice)."""
    stack = []
    for i, (base, stride) in enumerate(_LOW_LEVEL, start=1):
        stack.append(layers.Conv2D(channels(base, width), 3, strides=stride, padding="same",
                                   use_bias=not batch_norm, kernel_regularizer=_regularizer(l2),
                                   name=f"low{i}"))
        if batch_norm:
            stack.append(layers.BatchNormalization(name=f"low{i}_bn"))
        stack.append(layers.Activation("relu", name=f"low{i}_relu"))
    return stack


def _apply(stack, x):
    for layer in stack:
        x = layer(x)
    return x


def _global_path(inp, low_stack, width, global_size, batch_norm, l2):
    """Resize to ``global_size``, low-level features, 4 convs, flatten, 3 dense layers.

    Returns ``(mid_vector, global_vector)``: the 512-wide vector the classification head
    reads and the 256-wide global feature vector that is fused.
    """
    g = layers.Resizing(global_size, global_size, interpolation="bilinear",
                        name="resize_global")(inp)
    g = _apply(low_stack, g)
    for i, (base, stride) in enumerate(_GLOBAL_CONV, start=1):
        g = _conv(g, channels(base, width), f"global_conv{i}", strides=stride,
                  batch_norm=batch_norm, l2=l2)
    g = layers.Flatten(name="global_flatten")(g)
    g = layers.Dense(channels(1024, width), activation="relu", name="global_fc1")(g)
    mid = layers.Dense(channels(512, width), activation="relu", name="global_fc2")(g)
    vec = layers.Dense(channels(256, width), activation="relu", name="global_fc3")(mid)
    return mid, vec


def _class_head(mid, num_classes, width):
    h = layers.Dense(channels(256, width), activation="relu", name="class_fc1")(mid)
    return layers.Dense(num_classes, dtype="float32", name="label")(h)


def _colorization_decoder(x, num_bins, width, output_stride, upsampling, batch_norm, l2):
    """Iizuka's colorization network: conv, x2, two convs, x2, conv; more x2 if asked."""
    x = _conv(x, channels(128, width), "color_conv1", batch_norm=batch_norm, l2=l2)
    ups = {8: 0, 4: 1, 2: 2, 1: 3}[output_stride]
    bases = [64, 32, 32]
    for i in range(ups):
        x = _upsample(x, channels(bases[i], width), f"color_up{i + 1}", mode=upsampling,
                      batch_norm=batch_norm, l2=l2)
        x = _conv(x, channels(bases[i], width), f"color_conv{i + 2}", batch_norm=batch_norm,
                  l2=l2)
    return _ab_head(x, num_bins)


def fusion_net(num_bins: int | None = None, num_classes: int | None = None, width: float = 1.0,
               global_size: int = 64, *, output_stride: int = 2, upsampling: str = "nearest",
               batch_norm: bool = True, l2: float = 0.0,
               name: str = "fusion_net") -> keras.Model:
    """The joint global and local network of Iizuka et al. (2016) {cite}`iizuka2016let`.

    Four parts (the paper's figure 2):

    1. **low-level features**: six convolutions, three with stride 2 (1/8 resolution),
       whose weights are *shared* by the two paths below;
    2. **mid-level features**: two convolutions on the full-size input's low-level features
       (``H/8 x W/8``, any ``H, W``);
    3. **global features**: the input is resized to ``global_size x global_size`` (224 in
       the paper), passed through the same low-level layers, four convolutions (two with
       stride 2, ``global_size/32`` per side), flattened and reduced by three dense layers
       to a 256-wide vector (1024, 512, 256 at ``width=1``);
    4. **fusion layer**: the global vector is tiled over the mid-level grid, concatenated
       with the mid-level features and mixed by a 1x1 convolution:
       ``y = relu(b + W [global; mid])`` at every position;
    5. **colorization network**: convolutions and upsampling to ``1/output_stride`` (2 in
       the paper, whose output is then upsampled);
    6. **classification head** (when ``num_classes``): two dense layers on the 512-wide
       global vector, trained jointly with the loss
       ``L = L_colour + alpha * L_class`` (pass ``loss_weights={"ab": 1, "label": alpha}``
       to ``compile``; ``alpha = 1/300`` in a popular reimplementation, 1/300 being roughly the
       ratio of the two losses' scales).

    Because the global path works on a fixed-size copy, the model colours images of any
    size (multiples of 8): larger inputs still get a 256-wide global vector.

    Parameters
    ----------
    num_bins : int, optional
        ``None`` (the paper): regression head, ``tanh * AB_SCALE`` in Lab units; an integer:
        ``Q`` logits over the ab bins.
    num_classes : int, optional
        Adds the ``"label"`` output (logits) when given.
    width : float
        Width multiplier (also on the dense layers).
    global_size : int
        Side of the global path's copy of the input; a multiple of 32.
    output_stride : {1, 2, 4, 8}
        Input size / ab output size.
    upsampling : {"transpose", "bilinear", "nearest"}
        Decoder upsampling (the paper: nearest neighbour + convolution).
    batch_norm, l2
        Batch norm after each convolution (the paper uses it), L2 weight decay.

    Returns
    -------
    keras.Model
        ``l_norm [B, H, W, 1] -> {"ab": [B, H/s, W/s, 2 or Q], "label": [B, num_classes]}``.
    """
    _check_positive("width", width)
    _check_global_size(global_size)
    _check_stride(output_stride, (1, 2, 4, 8))
    _check_choice("upsampling", upsampling, UPSAMPLING)
    _check_classes(num_classes)
    _check_bins(num_bins)
    inp = _l_input()
    low = _low_level_layers(width, batch_norm, l2)
    local = _apply(low, inp)
    mid = _conv(local, channels(512, width), "mid_conv1", batch_norm=batch_norm, l2=l2)
    mid = _conv(mid, channels(256, width), "mid_conv2", batch_norm=batch_norm, l2=l2)
    global_mid, global_vec = _global_path(inp, low, width, global_size, batch_norm, l2)
    tiled = TileToGrid(name="fusion_tile")([global_vec, mid])
    fused = layers.Concatenate(name="fusion_concat")([mid, tiled])
    fused = _conv(fused, channels(256, width), "fusion", kernel=1, l2=l2)
    outputs = {"ab": _colorization_decoder(fused, num_bins, width, output_stride, upsampling,
                                           batch_norm, l2)}
    if num_classes is not None:
        outputs["label"] = _class_head(global_mid, num_classes, width)
    return keras.Model(inp, outputs, name=name)


def fusion_classifier(num_classes: int, width: float = 1.0, global_size: int = 64, *,
                      batch_norm: bool = True, l2: float = 0.0,
                      name: str = "fusion_classifier") -> keras.Model:
    """The classification half of :func:`fusion_net`: low-level + global path + class head.

    Its layers carry the fusion net's names (``low*``, ``global_*``, ``class_fc1``,
    ``label``), so :func:`copy_matching_weights` moves weights learned by colorization into
    it (colorization as a pretext task, Larsson et al. 2017) or back.

    Returns
    -------
    keras.Model
        ``l_norm [B, H, W, 1] -> {"label": logits [B, num_classes]}`` (any ``H, W``).
    """
    _check_positive("width", width)
    _check_global_size(global_size)
    if num_classes is None:
        raise ValueError("num_classes=None: fusion_classifier needs the number of classes.")
    _check_classes(num_classes)
    inp = _l_input()
    low = _low_level_layers(width, batch_norm, l2)
    global_mid, _ = _global_path(inp, low, width, global_size, batch_norm, l2)
    return keras.Model(inp, {"label": _class_head(global_mid, num_classes, width)}, name=name)


def copy_matching_weights(src: keras.Model, dst: keras.Model) -> int:
    """Copy the weights of every layer of ``src`` into the layer of ``dst`` with the same name.

    A layer is copied when both models have a layer of that name whose weights have the same
    shapes; others are left alone (e.g. a class head with another number of classes).

    Returns
    -------
    int
        The number of layers copied.
    """
    src_layers = {layer.name: layer for layer in src.layers}
    copied = 0
    for layer in dst.layers:
        other = src_layers.get(layer.name)
        if other is None or not layer.weights or other is layer:
            continue
        src_w, dst_w = other.get_weights(), layer.get_weights()
        if [w.shape for w in src_w] != [w.shape for w in dst_w]:
            continue
        layer.set_weights(src_w)
        copied += 1
    return copied


def _backbone(backbone, weights, size, backbone_alpha):
    constructor, _, _ = BACKBONES[backbone]
    kwargs = dict(include_top=False, weights=weights, input_shape=(size, size, 3),
                  pooling="avg")
    if backbone == "mobilenet_v2":
        kwargs["alpha"] = backbone_alpha
    try:
        model = getattr(keras.applications, constructor)(**kwargs)
    except Exception as err:  # download failure, bad alpha/size for the pretrained weights
        raise RuntimeError(
            f"could not build backbone={backbone!r} with weights={weights!r}: {err}. "
            "Pretrained weights need a network download (Colab); offline, pass weights=None "
            "(a randomly initialised backbone, so results differ from the paper).") from err
    model.name = "backbone"
    return model


def koalarization_net(num_bins: int | None = None, backbone: str = "mobilenet_v2",
                      weights: str | None = None, width: float = 1.0, *,
                      backbone_size: int | None = None, backbone_alpha: float = 1.0,
                      train_backbone: bool | None = None, output_stride: int = 1,
                      upsampling: str = "nearest", batch_norm: bool = True, l2: float = 0.0,
                      name: str = "koalarization_net") -> keras.Model:
    """Deep Koalarization (Baldassarre et al. 2017) {cite}`baldassarre2017deep`.

    An encoder (eight convolutions, 1/8 resolution) runs on ``l_norm``; in parallel the gray
    image, repeated to three channels and resized to the backbone's input size, goes through
    a ``keras.applications`` classifier (the paper: Inception-ResNet-v2 pretrained on
    ImageNet; here MobileNetV2 by default {cite}`sandler2018mobilenetv2`). The backbone's
    pooled embedding is tiled over the encoder grid and fused exactly like the global vector
    of :func:`fusion_net` (concat + 1x1 conv), then a decoder upsamples to the output.

    ``l_norm`` already lies in ``[-1, 1]``, the input range both backbones expect.

    Parameters
    ----------
    num_bins : int, optional
        ``None``: regression head (the paper); an integer: ``Q`` logits.
    backbone : {"mobilenet_v2", "inception_resnet_v2"}
        The embedding network.
    weights : {None, "imagenet"}
        ``"imagenet"`` downloads pretrained weights (Colab) and freezes the backbone;
        ``None`` (offline) uses a randomly initialised, trainable backbone, so the embedding
        carries no ImageNet semantics and results differ from the paper.
    width : float
        Width multiplier of the encoder, fusion and decoder (not of the backbone).
    backbone_size : int, optional
        Side of the backbone's input; default 96 (MobileNetV2) or 299 (Inception-ResNet-v2).
    backbone_alpha : float
        MobileNetV2's own width multiplier (0.35, 0.5, 0.75, 1.0, ... have ImageNet weights).
    train_backbone : bool, optional
        Default: frozen when pretrained, trained otherwise.
    output_stride, upsampling, batch_norm, l2
        As in :func:`fusion_net`.

    Returns
    -------
    keras.Model
        ``l_norm [B, H, W, 1] -> {"ab": [B, H/s, W/s, 2 or Q]}``.
    """
    _check_choice("backbone", backbone, tuple(BACKBONES))
    _check_choice("weights", weights, (None, "imagenet"))
    _check_positive("width", width)
    _check_stride(output_stride, (1, 2, 4, 8))
    _check_choice("upsampling", upsampling, UPSAMPLING)
    _check_bins(num_bins)
    _, default_size, min_size = BACKBONES[backbone]
    size = default_size if backbone_size is None else backbone_size
    if not isinstance(size, int) or size < min_size:
        raise ValueError(f"backbone_size={backbone_size!r} must be an integer >= {min_size} "
                         f"for backbone={backbone!r}.")
    if train_backbone is None:
        train_backbone = weights is None
    inp = _l_input()
    x = inp
    for i, (base, stride) in enumerate([(64, 2), (128, 1), (128, 2), (256, 1), (256, 2),
                                        (512, 1), (512, 1), (256, 1)], start=1):
        x = _conv(x, channels(base, width), f"enc{i}", strides=stride, batch_norm=batch_norm,
                  l2=l2)
    rgb = layers.Concatenate(name="gray_to_rgb")([inp, inp, inp])
    rgb = layers.Resizing(size, size, interpolation="bilinear", name="backbone_resize")(rgb)
    net = _backbone(backbone, weights, size, backbone_alpha)
    net.trainable = bool(train_backbone)
    emb = net(rgb, training=False if not train_backbone else None)
    emb = layers.Dense(channels(256, width), activation="relu", name="embedding_fc")(emb)
    tiled = TileToGrid(name="fusion_tile")([emb, x])
    fused = layers.Concatenate(name="fusion_concat")([x, tiled])
    fused = _conv(fused, channels(256, width), "fusion", kernel=1, l2=l2)
    ab = _colorization_decoder(fused, num_bins, width, output_stride, upsampling, batch_norm,
                               l2)
    return keras.Model(inp, {"ab": ab}, name=name)


def rgb_classifier(num_classes: int, width: float = 1.0, *, batch_norm: bool = True,
                   dropout: float = 0.0, name: str = "rgb_classifier") -> keras.Model:
    """A small CNN classifying RGB images, to measure *semantic interpretability*.

    Three stages of two 3x3 convolutions (32, 64, 128 channels times ``width``) with 2x2
    max-pooling, global average pooling and a dense layer to logits. Zhang et al. (2016)
    score a colorization by how well a classifier trained on real colour photos recognises
    the colorized ones.

    Returns
    -------
    keras.Model
        ``rgb [B, H, W, 3] in [0, 1] -> logits [B, num_classes]`` (a plain tensor, not a dict).
    """
    _check_positive("width", width)
    if num_classes is None:
        raise ValueError("num_classes=None: rgb_classifier needs the number of classes.")
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    inp = keras.Input(shape=(None, None, 3), name="rgb")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)
    for stage, base in enumerate((32, 64, 128), start=1):
        x = _conv(x, channels(base, width), f"stage{stage}_a", batch_norm=batch_norm)
        x = _conv(x, channels(base, width), f"stage{stage}_b", batch_norm=batch_norm)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    out = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inp, out, name=name)


# --------------------------------------------------------------------------- structure


@dataclasses.dataclass
class Block:
    """A group of consecutive layers of a model, one box of an architecture diagram."""

    name: str
    column: int  # position along the data flow (0: the input)
    layers: list[str]
    params: int
    shapes: list[tuple]  # output shapes (without batch) leaving the block, for the probe size


@dataclasses.dataclass
class BlockGraph:
    """The blocks of a model and the connections between them (``(from, to)`` names)."""

    blocks: list[Block]
    edges: list[tuple[str, str]]
    input_shape: tuple

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"no block {name!r}; blocks: {', '.join(b.name for b in self.blocks)}")


def default_group(layer_name: str) -> str:
    """The block of a layer: its name's first ``_``-token without digits (``low3_bn -> low``)."""
    head = layer_name.split("_")[0].rstrip("0123456789")
    return head or layer_name


def block_graph(model: keras.Model, input_size: int | tuple[int, int] = 64,
                group=default_group) -> BlockGraph:
    """Group a functional model's layers into blocks, with connections and real shapes.

    Layers are grouped by ``group(layer_name)`` (default :func:`default_group`, which matches
    the naming of this module: ``low*``, ``mid*``, ``global*``, ``fusion*``, ``color*``, ...);
    input layers are blocks of their own.  The shapes are measured by running the model's
    inputs of size ``input_size`` through a probe model that outputs every tensor leaving a
    block, so they show what the network really does (e.g. the fusion net's global path stays
    at ``global_size`` whatever the input size).  Layer depth (longest path from the input)
    orders the blocks into columns.

    Returns
    -------
    BlockGraph
    """
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    layers_ = list(model.layers)
    input_names = {t._keras_history.operation.name for t in model.inputs}
    name_of = {}
    for layer in layers_:
        name_of[layer.name] = layer.name if layer.name in input_names else group(layer.name)

    depth = {layer.name: 0 for layer in layers_}
    producers: dict[str, set[str]] = {layer.name: set() for layer in layers_}
    for _ in range(len(layers_)):
        changed = False
        for layer in layers_:
            for node in layer._inbound_nodes:
                for t in node.input_tensors:
                    src = t._keras_history.operation.name
                    producers[layer.name].add(src)
                    if depth[src] + 1 > depth[layer.name]:
                        depth[layer.name] = depth[src] + 1
                        changed = True
        if not changed:
            break

    order: list[str] = []
    for layer in sorted(layers_, key=lambda la: depth[la.name]):
        if name_of[layer.name] not in order:
            order.append(name_of[layer.name])
    first = {g: min(depth[la.name] for la in layers_ if name_of[la.name] == g) for g in order}
    columns = {d: i for i, d in enumerate(sorted(set(first.values())))}

    edges: list[tuple[str, str]] = []
    exits: list = []  # (group, tensor)
    model_outputs = {id(t) for t in model.outputs}
    for layer in layers_:
        g = name_of[layer.name]
        for src in sorted(producers[layer.name]):
            e = (name_of[src], g)
            if e[0] != e[1] and e not in edges:
                edges.append(e)
    for layer in layers_:
        g = name_of[layer.name]
        for node in layer._inbound_nodes:
            for t in node.output_tensors:
                consumers = {name_of[c.name] for c in layers_
                             if any(id(x) == id(t) for n in c._inbound_nodes
                                    for x in n.input_tensors)}
                if (consumers - {g}) or id(t) in model_outputs:
                    exits.append((g, t))
    probe_in = [np.zeros((1, *input_size, t.shape[-1]), "float32") for t in model.inputs]
    probe = keras.Model(model.inputs, [t for _, t in exits])
    values = probe(probe_in, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]
    shapes: dict[str, list[tuple]] = {g: [] for g in order}
    for (g, _), v in zip(exits, values, strict=True):
        shape = tuple(int(s) for s in v.shape[1:])
        if shape not in shapes[g]:
            shapes[g].append(shape)
    blocks = [Block(name=g, column=columns[first[g]],
                    layers=[la.name for la in layers_ if name_of[la.name] == g],
                    params=sum(la.count_params() for la in layers_ if name_of[la.name] == g),
                    shapes=shapes[g]) for g in order]
    return BlockGraph(blocks=blocks, edges=edges,
                      input_shape=(*input_size, model.inputs[0].shape[-1]))


# --------------------------------------------------------------------------- compiling

#: Weight of the classification loss in the fusion net's joint loss
#: ``L = L_colour + alpha * L_class`` (1/300 in a popular reimplementation of Iizuka et al.).
JOINT_ALPHA = 1.0 / 300.0
#: Optimizers :func:`compile_colorizer` knows, with their default learning rates: Adam
#: (Kingma & Ba 2015) at Keras' 1e-3, Adadelta (Zeiler 2012, used by Iizuka et al.) at 1.0,
#: the rate of the original method (Keras' own default, 1e-3, barely moves), SGD with momentum.
OPTIMIZERS = {"adam": 1e-3, "adadelta": 1.0, "sgd": 1e-2}


def make_optimizer(name: str = "adam", learning_rate: float | None = None):
    """A fresh Keras optimizer by name (see :data:`OPTIMIZERS` for the default rates)."""
    _check_choice("optimizer", name, tuple(OPTIMIZERS))
    lr = OPTIMIZERS[name] if learning_rate is None else learning_rate
    _check_positive("learning_rate", lr)
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "adadelta":
        return keras.optimizers.Adadelta(lr)
    return keras.optimizers.SGD(lr, momentum=0.9)


def compile_colorizer(model: keras.Model, *, optimizer: str = "adam",
                      learning_rate: float | None = None, weights=None,
                      alpha: float = JOINT_ALPHA, **compile_kwargs) -> keras.Model:
    """Compile a model of the zoo with the loss its outputs call for, and return it.

    - ``"ab"`` with 2 channels: :class:`colorutils.losses.ABRegressionLoss` (MSE on
      ``ab / AB_SCALE``);
    - ``"ab"`` with ``Q`` channels: :class:`colorutils.losses.RebalancedCrossEntropy` over
      ``ab_bins(grid_size_for(Q))`` with the rebalancing ``weights`` (None: plain soft
      cross-entropy);
    - ``"label"``: sparse categorical cross-entropy on the logits, weighted by ``alpha``,
      with an accuracy metric: the joint loss ``L_colour + alpha * L_class`` of Iizuka et al.
      (2016) {cite}`iizuka2016let`.

    Targets are the dicts of :func:`colorutils.data.load` (``with_label=True`` for a model
    with a ``"label"`` output; extra target keys are dropped by :func:`targets_for`).

    Parameters
    ----------
    optimizer : {"adam", "adadelta", "sgd"}
    learning_rate : float, optional
        Default: the optimizer's rate in :data:`OPTIMIZERS`.
    weights : array [Q], optional
        Rebalancing weights (:func:`colorutils.quantize.rebalance_weights`).
    alpha : float
        Weight of the classification loss (>= 0).
    **compile_kwargs
        Passed to ``keras.Model.compile`` (``run_eagerly``, ``jit_compile``, ...).
    """
    from colorutils import losses, quantize

    if not isinstance(alpha, (int, float)) or alpha < 0:
        raise ValueError(f"alpha={alpha!r} must be a non-negative number (0 ignores the "
                         "classification loss; 1/300 is the usual weight).")
    loss, loss_weights, metrics = {}, {}, {}
    depth = model.output["ab"].shape[-1]
    if depth == 2:
        loss["ab"] = losses.ABRegressionLoss()
    else:
        bins = quantize.ab_bins(quantize.grid_size_for(depth))
        loss["ab"] = losses.RebalancedCrossEntropy(bins, weights)
    loss_weights["ab"] = 1.0
    if "label" in model.output:
        loss["label"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        loss_weights["label"] = float(alpha)
        metrics["label"] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=loss,
                  loss_weights=loss_weights, metrics=metrics or None, **compile_kwargs)
    return model


def targets_for(model: keras.Model, dataset):
    """``dataset`` of ``(l_norm, targets)`` keeping only the target keys ``model`` outputs."""
    keys = tuple(model.output) if isinstance(model.output, dict) else ()
    missing = [k for k in keys if k not in dataset.element_spec[1]]
    if missing:
        raise ValueError(f"the model outputs {missing} but the dataset has no such targets; "
                         "load it with colorutils.data.load(..., with_label=True).")
    return dataset.map(lambda x, y: (x, {k: y[k] for k in keys}))
