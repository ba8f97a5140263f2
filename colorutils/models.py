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

Channel counts are ``max(8, round(base * width))`` (:func:`colorutils.nn.channels`):
``width=1`` is the paper's size, ``width=0.25`` fits a CPU smoke run.  The layers the builders
share are in :mod:`colorutils.nn`; the fusion family (global features fused into local ones)
in :mod:`colorutils.fusion`, re-exported here so that the whole zoo is one namespace;
:func:`build` makes any of them by name.  Compiling (one loss per head type) is
:mod:`colorutils.compiling`; the block diagrams of chapters 04 and 05 are
:mod:`colorutils.blocks`.

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

import keras
from keras import layers

from colorutils import nn
from colorutils.fusion import (
    BACKBONES,
    copy_matching_weights,
    fusion_classifier,
    fusion_net,
    koalarization_net,
)
from colorutils.nn import HEADS, UPSAMPLING, TileToGrid, channels, count_params

__all__ = [
    "regression_cnn", "zhang_classifier", "unet", "fusion_net", "koalarization_net",
    "fusion_classifier", "copy_matching_weights", "rgb_classifier", "count_params",
    "TileToGrid", "channels", "UPSAMPLING", "HEADS", "BACKBONES", "BUILDERS", "build",
]


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
    nn.check_positive("width", width)
    c = lambda base: channels(base, width)  # noqa: E731
    inp = nn.l_input()
    x = nn.conv(inp, c(64), "conv1", batch_norm=batch_norm, l2=l2)
    x = nn.conv(x, c(64), "down1", strides=2, batch_norm=batch_norm, l2=l2)
    x = nn.conv(x, c(128), "conv2", batch_norm=batch_norm, l2=l2)
    x = nn.conv(x, c(128), "down2", strides=2, batch_norm=batch_norm, l2=l2)
    x = nn.conv(x, c(256), "mid1", dilation=2, batch_norm=batch_norm, l2=l2)
    x = nn.conv(x, c(256), "mid2", dilation=2, batch_norm=batch_norm, l2=l2)
    x = nn.upsample(x, c(128), "up1", mode="bilinear", batch_norm=batch_norm, l2=l2)
    x = nn.upsample(x, c(64), "up2", mode="bilinear", batch_norm=batch_norm, l2=l2)
    return keras.Model(inp, {"ab": nn.ab_head(x, None)}, name=name)


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
    nn.check_positive("width", width)
    nn.check_stride(output_stride, (1, 2, 4, 8))
    nn.check_choice("upsampling", upsampling, UPSAMPLING)
    nn.check_rate("dropout", dropout)
    if convs_per_block is not None and (not isinstance(convs_per_block, int)
                                        or convs_per_block < 1):
        raise ValueError(f"convs_per_block={convs_per_block!r} must be a positive integer "
                         "or None (the paper's counts).")
    nn.check_num_bins(num_bins, allow_none=False)
    inp = nn.l_input()
    x = inp
    for b, (n, base, stride, dilation) in enumerate(_ZHANG_BLOCKS, start=1):
        n = convs_per_block or n
        for i in range(1, n + 1):
            last = i == n
            x = nn.conv(x, channels(base, width), f"conv{b}_{i}",
                      strides=stride if last else 1, dilation=dilation,
                      batch_norm=batch_norm and last, l2=l2)
        if dropout and b >= 3:
            x = layers.Dropout(dropout, name=f"conv{b}_dropout")(x)
    base = 256  # conv8: one x2 stage per halving of the output stride, 256 -> 128 -> 64
    for i in range({8: 0, 4: 1, 2: 2, 1: 3}[output_stride]):
        base = 256 // 2 ** i
        x = nn.upsample(x, channels(base, width), f"conv8_up{i + 1}", mode=upsampling, l2=l2)
    x = nn.conv(x, channels(base, width), "conv8_out", l2=l2)
    return keras.Model(inp, {"ab": nn.ab_head(x, num_bins)}, name=name)


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
    nn.check_choice("head", head, HEADS)
    nn.check_positive("width", width)
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} must be a positive integer (levels of the U-Net).")
    nn.check_stride(output_stride, tuple(2 ** i for i in range(depth + 1)))
    nn.check_choice("upsampling", upsampling, UPSAMPLING)
    nn.check_rate("dropout", dropout)
    if head == "classification" and num_bins is None:
        raise ValueError("num_bins=None: head='classification' needs the number of ab bins, "
                         "e.g. num_bins=len(colorutils.quantize.ab_bins()); or use "
                         "head='regression'.")
    if head == "classification":
        nn.check_num_bins(num_bins, allow_none=False)
    if head == "regression":
        num_bins = None
    inp = nn.l_input()
    x, skips = inp, []
    for level in range(depth):
        c = channels(32 * 2 ** level, width)
        x = nn.conv(x, c, f"enc{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = nn.conv(x, c, f"enc{level + 1}_b", batch_norm=batch_norm, l2=l2)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    c = channels(32 * 2 ** depth, width)
    x = nn.conv(x, c, "bottleneck_a", batch_norm=batch_norm, l2=l2)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    x = nn.conv(x, c, "bottleneck_b", batch_norm=batch_norm, l2=l2)
    levels_up = depth - {2 ** i: i for i in range(depth + 1)}[output_stride]
    for i in range(levels_up):
        level = depth - 1 - i
        c = channels(32 * 2 ** level, width)
        x = nn.upsample(x, c, f"dec{level + 1}_up", mode=upsampling, batch_norm=batch_norm, l2=l2)
        x = layers.Concatenate(name=f"dec{level + 1}_skip")([x, skips[level]])
        x = nn.conv(x, c, f"dec{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = nn.conv(x, c, f"dec{level + 1}_b", batch_norm=batch_norm, l2=l2)
    return keras.Model(inp, {"ab": nn.ab_head(x, num_bins)}, name=name)



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
    nn.check_positive("width", width)
    if num_classes is None:
        raise ValueError("num_classes=None: rgb_classifier needs the number of classes.")
    nn.check_num_classes(num_classes)
    nn.check_rate("dropout", dropout)
    inp = keras.Input(shape=(None, None, 3), name="rgb")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)
    for stage, base in enumerate((32, 64, 128), start=1):
        x = nn.conv(x, channels(base, width), f"stage{stage}_a", batch_norm=batch_norm)
        x = nn.conv(x, channels(base, width), f"stage{stage}_b", batch_norm=batch_norm)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    out = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inp, out, name=name)


#: The zoo by name (what :func:`build` and :class:`colorutils.studies.Arm` accept).
BUILDERS = {
    "regression_cnn": regression_cnn,
    "zhang_classifier": zhang_classifier,
    "unet": unet,
    "fusion_net": fusion_net,
    "fusion_classifier": fusion_classifier,
    "koalarization_net": koalarization_net,
    "rgb_classifier": rgb_classifier,
}


def build(name: str, **kwargs) -> keras.Model:
    """The model ``BUILDERS[name](**kwargs)`` (uncompiled), e.g. ``build("unet", head="regression")``.

    Raises
    ------
    ValueError
        For a name that is not in the zoo, naming the ones that are.
    """
    nn.check_choice("model", name, tuple(BUILDERS))
    return BUILDERS[name](**kwargs)
