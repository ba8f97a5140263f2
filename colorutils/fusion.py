"""The fusion family: a global feature vector fused into local features (Iizuka et al. 2016).

:func:`fusion_net`
    the joint global/local network of Iizuka et al. (2016) {cite}`iizuka2016let` with its
    fusion layer and an optional classification head.
:func:`fusion_classifier`, :func:`copy_matching_weights`
    the classification half of the fusion net and weight transfer between models, for
    colorization as a pretext task (Larsson et al. 2017).
:func:`koalarization_net`
    Deep Koalarization {cite}`baldassarre2017deep`: a ``keras.applications`` backbone's
    embedding fused like the global vector of the fusion net.

All are part of the zoo of :mod:`colorutils.models` (which re-exports them); the layers they
share with the other builders are :mod:`colorutils.nn`.
"""

from __future__ import annotations

import keras
from keras import layers

from colorutils import nn
from colorutils.nn import UPSAMPLING, TileToGrid, channels

__all__ = ["fusion_net", "fusion_classifier", "copy_matching_weights", "koalarization_net",
           "BACKBONES"]

BACKBONES = {
    # name: (keras.applications constructor name, default input size, min size)
    "mobilenet_v2": ("MobileNetV2", 96, 32),
    "inception_resnet_v2": ("InceptionResNetV2", 299, 75),
}


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
                                   use_bias=not batch_norm, kernel_regularizer=nn.regularizer(l2),
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
        g = nn.conv(g, channels(base, width), f"global_conv{i}", strides=stride,
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
    x = nn.conv(x, channels(128, width), "color_conv1", batch_norm=batch_norm, l2=l2)
    ups = {8: 0, 4: 1, 2: 2, 1: 3}[output_stride]
    bases = [64, 32, 32]
    for i in range(ups):
        x = nn.upsample(x, channels(bases[i], width), f"color_up{i + 1}", mode=upsampling,
                      batch_norm=batch_norm, l2=l2)
        x = nn.conv(x, channels(bases[i], width), f"color_conv{i + 2}", batch_norm=batch_norm,
                  l2=l2)
    return nn.ab_head(x, num_bins)


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
    nn.check_positive("width", width)
    _check_global_size(global_size)
    nn.check_stride(output_stride, (1, 2, 4, 8))
    nn.check_choice("upsampling", upsampling, UPSAMPLING)
    nn.check_num_classes(num_classes)
    nn.check_num_bins(num_bins)
    inp = nn.l_input()
    low = _low_level_layers(width, batch_norm, l2)
    local = _apply(low, inp)
    mid = nn.conv(local, channels(512, width), "mid_conv1", batch_norm=batch_norm, l2=l2)
    mid = nn.conv(mid, channels(256, width), "mid_conv2", batch_norm=batch_norm, l2=l2)
    global_mid, global_vec = _global_path(inp, low, width, global_size, batch_norm, l2)
    tiled = TileToGrid(name="fusion_tile")([global_vec, mid])
    fused = layers.Concatenate(name="fusion_concat")([mid, tiled])
    fused = nn.conv(fused, channels(256, width), "fusion", kernel=1, l2=l2)
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
    nn.check_positive("width", width)
    _check_global_size(global_size)
    if num_classes is None:
        raise ValueError("num_classes=None: fusion_classifier needs the number of classes.")
    nn.check_num_classes(num_classes)
    inp = nn.l_input()
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
    nn.check_choice("backbone", backbone, tuple(BACKBONES))
    nn.check_choice("weights", weights, (None, "imagenet"))
    nn.check_positive("width", width)
    nn.check_stride(output_stride, (1, 2, 4, 8))
    nn.check_choice("upsampling", upsampling, UPSAMPLING)
    nn.check_num_bins(num_bins)
    _, default_size, min_size = BACKBONES[backbone]
    size = default_size if backbone_size is None else backbone_size
    if not isinstance(size, int) or size < min_size:
        raise ValueError(f"backbone_size={backbone_size!r} must be an integer >= {min_size} "
                         f"for backbone={backbone!r}.")
    if train_backbone is None:
        train_backbone = weights is None
    inp = nn.l_input()
    x = inp
    for i, (base, stride) in enumerate([(64, 2), (128, 1), (128, 2), (256, 1), (256, 2),
                                        (512, 1), (512, 1), (256, 1)], start=1):
        x = nn.conv(x, channels(base, width), f"enc{i}", strides=stride, batch_norm=batch_norm,
                  l2=l2)
    rgb = layers.Concatenate(name="gray_to_rgb")([inp, inp, inp])
    rgb = layers.Resizing(size, size, interpolation="bilinear", name="backbone_resize")(rgb)
    net = _backbone(backbone, weights, size, backbone_alpha)
    net.trainable = bool(train_backbone)
    emb = net(rgb, training=False if not train_backbone else None)
    emb = layers.Dense(channels(256, width), activation="relu", name="embedding_fc")(emb)
    tiled = TileToGrid(name="fusion_tile")([emb, x])
    fused = layers.Concatenate(name="fusion_concat")([x, tiled])
    fused = nn.conv(fused, channels(256, width), "fusion", kernel=1, l2=l2)
    ab = _colorization_decoder(fused, num_bins, width, output_stride, upsampling, batch_norm,
                               l2)
    return keras.Model(inp, {"ab": ab}, name=name)
