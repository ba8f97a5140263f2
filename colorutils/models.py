"""The model zoo (Keras builders of the colorization networks), its diagrams and compiling.

Every builder (:data:`BUILDERS`) maps ``l_norm [B, H, W, 1]`` (``H, W`` multiples of 8) to a
dict: ``"ab"``, 2 channels ``tanh * AB_SCALE`` (Lab units) or ``Q`` logits over
:func:`colorutils.quantize.ab_bins` at ``1/output_stride`` of the input, and ``"label"``,
class logits; outputs are float32; channels are ``max(8, round(base * width))``.  Resize
upsampling follows {cite}`odena2016deconvolution`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import layers, ops
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from colorutils import losses, quantize
from colorutils.color import AB_SCALE

__all__ = [
    "BUILDERS", "JOINT_ALPHA", "MODEL_HEADS", "OPTIMIZERS", "block_graph", "build",
    "compile_model", "count_params", "fusion_net", "koalarization_net", "plot_blocks",
    "regression_cnn", "rgb_classifier", "targets_for", "unet", "zhang_classifier",
]

_UPSAMPLING = ("transpose", "bilinear", "nearest")
_UPSAMPLINGS_FROM_8 = {8: 0, 4: 1, 2: 2, 1: 3}  # output stride -> x2 stages after 1/8


def _channels(base: int, width: float) -> int:
    return max(8, int(round(base * width)))


def count_params(model: keras.Model) -> int:
    """Number of trainable parameters of ``model``."""
    return int(sum(int(ops.size(w)) for w in model.trainable_weights))


def _check_choice(name: str, value, allowed, note: str = "") -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; use one of "
                         f"{', '.join(map(repr, allowed))}{note}.")


def _check_positive(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive number.")


def _check_shared(width, output_stride=1, upsampling="nearest", dropout=0.0,
                  strides=(1, 2, 4, 8)) -> None:
    """Check the arguments most builders share."""
    _check_positive("width", width)
    _check_choice("output_stride", output_stride, strides,
                  " (the output is the input size divided by it)")
    _check_choice("upsampling", upsampling, _UPSAMPLING)
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} must be a number in [0, 1).")


def _check_count(name: str, value, none: str | None = None) -> None:
    """Refuse ``num_bins`` or ``num_classes`` below 2; ``none`` says what None means, if allowed."""
    if value is None and none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 2:
        example = {"num_bins": "len(colorutils.quantize.ab_bins())",
                   "num_classes": "colorutils.data.info(source).num_classes"}[name]
        alternative = f", or None {none}" if none else ""
        raise ValueError(f"{name}={value!r} must be an integer >= 2 (e.g. {example}){alternative}.")


def _regularizer(l2: float):
    if not isinstance(l2, (int, float)) or l2 < 0:
        raise ValueError(f"l2={l2!r} must be a non-negative number (0 disables weight decay).")
    return keras.regularizers.L2(l2) if l2 > 0 else None


def _conv_layers(filters, name, *, kernel=3, strides=1, dilation=1, batch_norm=False, l2=0.0,
                 transpose=False):
    """Conv2D or Conv2DTranspose (no bias before batch norm) [+ BatchNorm] + ReLU, unapplied."""
    kind = layers.Conv2DTranspose if transpose else layers.Conv2D
    stack = [kind(filters, kernel, strides=strides, dilation_rate=dilation, padding="same",
                  use_bias=not batch_norm, kernel_regularizer=_regularizer(l2), name=name)]
    if batch_norm:
        stack.append(layers.BatchNormalization(name=f"{name}_bn"))
    return stack + [layers.Activation("relu", name=f"{name}_relu")]


def _apply(stack, x):
    for layer in stack:
        x = layer(x)
    return x


def _conv(x, filters, name, **kwargs):
    return _apply(_conv_layers(filters, name, **kwargs), x)


def _upsample(x, filters, name, *, mode, batch_norm=False, l2=0.0):
    """Double the resolution: a transposed conv, or resize + 3x3 conv (Odena et al. 2016)."""
    if mode == "transpose":
        return _conv(x, filters, name, kernel=4, strides=2, batch_norm=batch_norm, l2=l2,
                     transpose=True)
    x = layers.UpSampling2D(2, interpolation=mode, name=f"{name}_resize")(x)
    return _conv(x, filters, name, batch_norm=batch_norm, l2=l2)


def _ab_head(x, num_bins):
    """Q logits (1x1 conv) or, for ``num_bins=None``, 2 channels ``tanh * AB_SCALE``."""
    if num_bins is None:
        x = layers.Conv2D(2, 1, activation="tanh", dtype="float32", name="ab_tanh")(x)
        return layers.Rescaling(AB_SCALE, dtype="float32", name="ab")(x)
    return layers.Conv2D(num_bins, 1, dtype="float32", name="ab")(x)


def _l_input():
    return keras.Input(shape=(None, None, 1), name="l_norm")


@keras.saving.register_keras_serializable(package="colorutils")
class TileToGrid(layers.Layer):
    """``TileToGrid()([vector, grid])``: ``[B, C]`` tiled to ``[B, H, W, C]`` (the fusion layer)."""

    def call(self, inputs):
        vector, grid = inputs
        ones = ops.ones_like(grid[..., :1], dtype=vector.dtype)
        return ones * vector[:, None, None, :]

    def compute_output_shape(self, input_shapes):
        vector_shape, grid_shape = input_shapes
        return (grid_shape[0], grid_shape[1], grid_shape[2], vector_shape[-1])


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


def _default_group(layer_name: str) -> str:
    """A layer's block: its name's first ``_``-token without digits (``low3_bn -> low``).

    >>> _default_group("low3_bn"), _default_group("global_conv2"), _default_group("l_norm")
    ('low', 'global', 'l')
    """
    head = layer_name.split("_")[0].rstrip("0123456789")
    return head or layer_name


def _source(tensor) -> str:
    """The name of the layer that produced a symbolic tensor (Keras internals, read only here)."""
    return tensor._keras_history.operation.name


def _depths(layers_) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Longest path from an input to every layer, and every layer's producers.

    A functional model's layers come in topological order, so one pass suffices.
    """
    depth: dict[str, int] = {}
    producers: dict[str, set[str]] = {}
    for layer in layers_:
        producers[layer.name] = {_source(t) for node in layer._inbound_nodes
                                 for t in node.input_tensors}
        depth[layer.name] = max((depth[src] + 1 for src in producers[layer.name]), default=0)
    return depth, producers


def _exits(model, layers_, name_of) -> list[tuple[str, object]]:
    """``(block, tensor)`` for every tensor that leaves its block or the model."""
    consumers: dict[int, set[str]] = {}
    for c in layers_:
        for t in (t for node in c._inbound_nodes for t in node.input_tensors):
            consumers.setdefault(id(t), set()).add(name_of[c.name])
    outputs = {id(t) for t in model.outputs}
    return [(name_of[la.name], t) for la in layers_ for node in la._inbound_nodes
            for t in node.output_tensors
            if id(t) in outputs or consumers.get(id(t), set()) - {name_of[la.name]}]


def _measured_shapes(model, exits, order, input_size) -> dict[str, list[tuple]]:
    """Run zeros of ``input_size`` through a probe model; the shapes leaving each block."""
    probe_in = [np.zeros((1, *input_size, t.shape[-1]), "float32") for t in model.inputs]
    probe = keras.Model(model.inputs, [t for _, t in exits])
    values = probe(probe_in, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]
    shapes: dict[str, list[tuple]] = {g: [] for g in order}
    for (group, _), v in zip(exits, values, strict=True):
        shape = tuple(int(s) for s in v.shape[1:])
        if shape not in shapes[group]:
            shapes[group].append(shape)
    return shapes


def block_graph(model: keras.Model, input_size: int | tuple[int, int] = 64,
                group=_default_group) -> BlockGraph:
    """Group a functional model's layers into blocks, with their connections and real shapes.

    A block is ``group(layer_name)`` (default: ``low3_bn -> low``) or an input; the longest path
    from the input gives its column; shapes are measured by a probe input of ``input_size``.
    """
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    layers_ = list(model.layers)
    input_names = {_source(t) for t in model.inputs}
    name_of = {la.name: la.name if la.name in input_names else group(la.name) for la in layers_}
    depth, producers = _depths(layers_)
    by_depth = sorted(layers_, key=lambda la: depth[la.name])
    order = list(dict.fromkeys(name_of[la.name] for la in by_depth))
    first = {g: min(depth[la.name] for la in layers_ if name_of[la.name] == g) for g in order}
    columns = {d: i for i, d in enumerate(sorted(set(first.values())))}
    shapes = _measured_shapes(model, _exits(model, layers_, name_of), order, input_size)
    blocks = [Block(name=g, column=columns[first[g]],
                    layers=[la.name for la in layers_ if name_of[la.name] == g],
                    params=sum(la.count_params() for la in layers_ if name_of[la.name] == g),
                    shapes=shapes[g]) for g in order]
    edges = dict.fromkeys((name_of[src], name_of[la.name]) for la in layers_
                          for src in sorted(producers[la.name]) if name_of[src] != name_of[la.name])
    return BlockGraph(blocks=blocks, edges=list(edges),
                      input_shape=(*input_size, model.inputs[0].shape[-1]))


def _layout(graph: BlockGraph, xgap: float, ygap: float) -> dict[str, tuple[float, float]]:
    """Box centres: one column per depth, each block level with its inputs (barycentre)."""
    columns: dict[int, list] = {}
    for block in graph.blocks:
        columns.setdefault(block.column, []).append(block)
    preds: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        preds.setdefault(dst, []).append(src)
    pos = {}
    for col in sorted(columns):
        wanted = {}
        for block in columns[col]:
            ys = [pos[p][1] for p in preds.get(block.name, []) if p in pos]
            wanted[block.name] = float(np.mean(ys)) if ys else 0.0
        blocks = sorted(columns[col], key=lambda b: -wanted[b.name])
        centre, n = float(np.mean(list(wanted.values()))), len(blocks)
        for i, block in enumerate(blocks):
            pos[block.name] = (col * xgap, centre + ((n - 1) / 2 - i) * ygap)
    return pos


def _draw_edge(ax, start_pos, end_pos, half_box, gap, vertical) -> None:
    """An arrow between box sides, along the data flow (or across it, between equals)."""
    p0, p1 = list(start_pos), list(end_pos)
    flow = 1 if vertical else 0  # the axis of the data flow
    axis = flow if p1[flow] != p0[flow] else 1 - flow
    sign = 1 if p1[axis] > p0[axis] else -1
    skips = abs(round((p1[flow] - p0[flow]) / gap)) > 1
    p0[axis] += sign * half_box[axis]
    p1[axis] -= sign * half_box[axis]
    # an edge that skips a column (a row) bends further, so it does not cross the box between
    ax.add_patch(FancyArrowPatch(tuple(p0), tuple(p1), arrowstyle="-|>", mutation_scale=12,
                                 color="0.25",
                                 connectionstyle=f"arc3,rad={0.55 if skips else 0.05}"))


def plot_blocks(graph: BlockGraph, title: str = "Architecture",
                colors: Mapping[str, str] | None = None, box_width: float = 2.3,
                box_height: float = 1.0, vertical: bool = True, fontsize: float = 9):
    """Draw a :func:`block_graph`: one box per block (layers, parameters, shapes), arrows.

    ``vertical=True`` runs the data flow down the page, which keeps the text readable in a
    narrow text column; ``colors`` maps block names to matplotlib colours.
    """
    if vertical:
        box_width, box_height = box_width * 1.25, box_height * 1.05
    columns = {b.column for b in graph.blocks}
    nrows = max(sum(b.column == c for b in graph.blocks) for c in columns)
    if vertical:  # depth goes down the page, parallel paths across it
        gap, side_gap = box_height + 0.8, box_width + 0.5
        pos = {name: (-y, -x) for name, (x, y) in _layout(graph, gap, side_gap).items()}
        size = (max(6.0, 0.75 * side_gap * nrows + 1.5), max(3.0, 0.75 * gap * len(columns) + 1))
    else:
        gap, ygap = box_width + 0.9, box_height + 0.6
        pos = _layout(graph, gap, ygap)
        size = (min(16.0, max(6.0, 0.65 * gap * len(columns))), max(2.5, 0.9 * ygap * nrows + 1))
    fig, ax = plt.subplots(figsize=size)
    palette = plt.get_cmap("tab10")
    for i, block in enumerate(graph.blocks):
        x, y = pos[block.name]
        face = (colors or {}).get(block.name, palette(i % 10))
        ax.add_patch(FancyBboxPatch((x - box_width / 2, y - box_height / 2), box_width,
                                    box_height, boxstyle="round,pad=0.05", facecolor=face,
                                    alpha=0.35, edgecolor="black"))
        shapes = ", ".join("x".join(str(s) for s in shape) for shape in block.shapes[:2])
        params = f"{block.params / 1e6:.2f}M" if block.params >= 1e5 else f"{block.params:,}"
        ax.text(x, y, f"{block.name}\n{len(block.layers)} layers, {params} params\n{shapes}",
                ha="center", va="center", fontsize=fontsize)
    for src, dst in graph.edges:
        _draw_edge(ax, pos[src], pos[dst], (box_width / 2, box_height / 2), gap, vertical)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    xpad, ypad = (0.75 * box_width, box_height) if vertical else (box_width, 1.5 * box_height)
    flow = f"data flow ({'top to bottom' if vertical else 'left to right'})"
    in_shape = "x".join(str(s) for s in graph.input_shape)
    ax.set(xlim=(min(xs) - xpad, max(xs) + xpad), ylim=(min(ys) - ypad, max(ys) + box_height),
           xlabel="parallel paths" if vertical else flow,
           ylabel=flow if vertical else "parallel paths", xticks=[], yticks=[],
           title=f"{title} (shapes for a {in_shape} input)")
    ax.spines[:].set_visible(False)
    fig.tight_layout()
    return fig


_BACKBONES = {  # name: (keras.applications constructor, default input size, min size)
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
    """The low-level feature network, unapplied, so both paths share its weights."""
    return [layer for i, (base, stride) in enumerate(_LOW_LEVEL, start=1)
            for layer in _conv_layers(_channels(base, width), f"low{i}", strides=stride,
                                      batch_norm=batch_norm, l2=l2)]


def _global_path(inp, low_stack, width, global_size, batch_norm, l2):
    """Resize, low-level features, 4 convs, 3 dense layers: (512-wide, 256-wide) vectors."""
    g = layers.Resizing(global_size, global_size, interpolation="bilinear",
                        name="resize_global")(inp)
    g = _apply(low_stack, g)
    for i, (base, stride) in enumerate(_GLOBAL_CONV, start=1):
        g = _conv(g, _channels(base, width), f"global_conv{i}", strides=stride,
                  batch_norm=batch_norm, l2=l2)
    g = layers.Flatten(name="global_flatten")(g)
    g = layers.Dense(_channels(1024, width), activation="relu", name="global_fc1")(g)
    mid = layers.Dense(_channels(512, width), activation="relu", name="global_fc2")(g)
    vec = layers.Dense(_channels(256, width), activation="relu", name="global_fc3")(mid)
    return mid, vec


def _class_head(mid, num_classes, width):
    h = layers.Dense(_channels(256, width), activation="relu", name="class_fc1")(mid)
    return layers.Dense(num_classes, dtype="float32", name="label")(h)


def _fuse_and_decode(vector, grid, num_bins, width, output_stride, upsampling, batch_norm, l2):
    """Fusion ``relu(b + W [vector; grid])`` at every position, then Iizuka's decoder."""
    tiled = TileToGrid(name="fusion_tile")([vector, grid])
    x = layers.Concatenate(name="fusion_concat")([grid, tiled])
    x = _conv(x, _channels(256, width), "fusion", kernel=1, l2=l2)
    x = _conv(x, _channels(128, width), "color_conv1", batch_norm=batch_norm, l2=l2)
    for i, base in enumerate([64, 32, 32][:_UPSAMPLINGS_FROM_8[output_stride]], start=1):
        c = _channels(base, width)
        x = _upsample(x, c, f"color_up{i}", mode=upsampling, batch_norm=batch_norm, l2=l2)
        x = _conv(x, c, f"color_conv{i + 1}", batch_norm=batch_norm, l2=l2)
    return _ab_head(x, num_bins)


def fusion_net(num_bins: int | None = None, num_classes: int | None = None, width: float = 1.0,
               global_size: int = 64, *, output_stride: int = 2, upsampling: str = "nearest",
               batch_norm: bool = True, l2: float = 0.0,
               name: str = "fusion_net") -> keras.Model:
    """The joint global and local network of Iizuka et al. (2016) {cite}`iizuka2016let`.

    Low-level features (six convs to 1/8, shared by both paths), two mid-level convs, a global
    path on a ``global_size`` copy of the input (four convs, three dense layers), the fusion
    ``y = relu(b + W [global; mid])`` at every position, and a decoder to
    ``1/output_stride``; ``num_classes`` adds a ``"label"`` head on the global path (joint loss
    ``L_colour + alpha L_class``).  ``num_bins=None`` (the paper): regression.
    """
    _check_shared(width, output_stride, upsampling)
    _check_global_size(global_size)
    _check_count("num_classes", num_classes, "(no label head)")
    _check_count("num_bins", num_bins, "for a regression head")
    inp = _l_input()
    low = _low_level_layers(width, batch_norm, l2)
    mid = _conv(_apply(low, inp), _channels(512, width), "mid_conv1", batch_norm=batch_norm,
                l2=l2)
    mid = _conv(mid, _channels(256, width), "mid_conv2", batch_norm=batch_norm, l2=l2)
    global_mid, global_vec = _global_path(inp, low, width, global_size, batch_norm, l2)
    outputs = {"ab": _fuse_and_decode(global_vec, mid, num_bins, width, output_stride,
                                      upsampling, batch_norm, l2)}
    if num_classes is not None:
        outputs["label"] = _class_head(global_mid, num_classes, width)
    return keras.Model(inp, outputs, name=name)


def fusion_classifier(num_classes: int, width: float = 1.0, global_size: int = 64, *,
                      batch_norm: bool = True, l2: float = 0.0,
                      name: str = "fusion_classifier") -> keras.Model:
    """The classification half of :func:`fusion_net` (low-level, global path, class head).

    Its layers carry the fusion net's names, so :func:`copy_matching_weights` moves weights
    learned by colorization into it (a pretext task {cite}`larsson2017colorization`).
    """
    _check_positive("width", width)
    _check_global_size(global_size)
    _check_count("num_classes", num_classes)
    inp = _l_input()
    low = _low_level_layers(width, batch_norm, l2)
    global_mid, _ = _global_path(inp, low, width, global_size, batch_norm, l2)
    return keras.Model(inp, {"label": _class_head(global_mid, num_classes, width)}, name=name)


def copy_matching_weights(src: keras.Model, dst: keras.Model) -> int:
    """Copy weights into ``dst``'s layers from same-named, same-shaped layers of ``src``;
    return the number of layers copied."""
    src_layers = {layer.name: layer for layer in src.layers}
    copied = 0
    for layer in dst.layers:
        other = src_layers.get(layer.name)
        if other is not None and layer.weights and other is not layer:
            src_w = other.get_weights()
            if [w.shape for w in src_w] == [w.shape for w in layer.get_weights()]:
                layer.set_weights(src_w)
                copied += 1
    return copied


def _backbone(backbone, weights, size, backbone_alpha):
    kwargs = dict(include_top=False, weights=weights, input_shape=(size, size, 3),
                  pooling="avg")
    if backbone == "mobilenet_v2":
        kwargs["alpha"] = backbone_alpha
    try:
        model = getattr(keras.applications, _BACKBONES[backbone][0])(**kwargs)
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

    An eight-conv encoder (1/8) on ``l_norm``, fused as in :func:`fusion_net` with the pooled
    embedding of a ``keras.applications`` classifier (MobileNetV2 {cite}`sandler2018mobilenetv2`
    by default; ``backbone_alpha`` is its width) of the gray image.  ``weights="imagenet"``
    downloads pretrained weights and freezes the backbone; ``None`` (offline) trains a random
    one, so results differ from the paper.
    """
    _check_choice("backbone", backbone, tuple(_BACKBONES))
    _check_choice("weights", weights, (None, "imagenet"))
    _check_shared(width, output_stride, upsampling)
    _check_count("num_bins", num_bins, "for a regression head")
    _, default_size, min_size = _BACKBONES[backbone]
    size = default_size if backbone_size is None else backbone_size
    if not isinstance(size, int) or size < min_size:
        raise ValueError(f"backbone_size={backbone_size!r} must be an integer >= {min_size} "
                         f"for backbone={backbone!r}.")
    if train_backbone is None:
        train_backbone = weights is None
    x = inp = _l_input()
    for i, (base, stride) in enumerate([(64, 2), (128, 1), (128, 2), (256, 1), (256, 2),
                                        (512, 1), (512, 1), (256, 1)], start=1):
        x = _conv(x, _channels(base, width), f"enc{i}", strides=stride, batch_norm=batch_norm,
                  l2=l2)
    rgb = layers.Concatenate(name="gray_to_rgb")([inp, inp, inp])
    rgb = layers.Resizing(size, size, interpolation="bilinear", name="backbone_resize")(rgb)
    net = _backbone(backbone, weights, size, backbone_alpha)
    net.trainable = bool(train_backbone)
    emb = net(rgb, training=False if not train_backbone else None)
    emb = layers.Dense(_channels(256, width), activation="relu", name="embedding_fc")(emb)
    ab = _fuse_and_decode(emb, x, num_bins, width, output_stride, upsampling, batch_norm, l2)
    return keras.Model(inp, {"ab": ab}, name=name)


def regression_cnn(width: float = 1.0, *, batch_norm: bool = True, l2: float = 0.0,
                   name: str = "regression_cnn") -> keras.Model:
    """A small encoder-decoder regressing ``ab = AB_SCALE tanh(conv(h))``, the book's baseline.

    Two stride-2 stages, a dilated middle and two upsampling stages, at full resolution.
    """
    _check_positive("width", width)
    c = lambda base: _channels(base, width)  # noqa: E731
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


# Zhang et al. (2016), table 4: (convolutions, base channels, stride of the last, dilation)
_ZHANG_BLOCKS = [(2, 64, 2, 1), (2, 128, 2, 1), (3, 256, 2, 1), (3, 512, 1, 1),
                 (3, 512, 1, 2), (3, 512, 1, 2), (3, 512, 1, 1)]


def zhang_classifier(num_bins: int, width: float = 1.0, output_stride: int = 4,
                     upsampling: str = "transpose", batch_norm: bool = True,
                     dropout: float = 0.0, *, l2: float = 0.0, convs_per_block: int | None = None,
                     name: str = "zhang_classifier") -> keras.Model:
    """The colorization classifier of Zhang et al. (2016) {cite}`zhang2016colorful`.

    Seven conv blocks (1-3 end with stride 2, 5-6 dilated; batch norm {cite}`ioffe2015batch`
    closes each; dropout {cite}`srivastava2014dropout` after 3-7), then ``conv8``: upsampling
    to ``1/output_stride`` (4 in the paper) and ``num_bins`` logits.  ``convs_per_block``
    replaces the paper's counts (1: a light network for CPUs).
    """
    _check_shared(width, output_stride, upsampling, dropout)
    if convs_per_block is not None and (not isinstance(convs_per_block, int)
                                        or convs_per_block < 1):
        raise ValueError(f"convs_per_block={convs_per_block!r} must be a positive integer "
                         "or None (the paper's counts).")
    _check_count("num_bins", num_bins)
    x = inp = _l_input()
    for b, (n, base, stride, dilation) in enumerate(_ZHANG_BLOCKS, start=1):
        n = convs_per_block or n
        for i in range(1, n + 1):
            last = i == n
            x = _conv(x, _channels(base, width), f"conv{b}_{i}", strides=stride if last else 1,
                      dilation=dilation, batch_norm=batch_norm and last, l2=l2)
        if dropout and b >= 3:
            x = layers.Dropout(dropout, name=f"conv{b}_dropout")(x)
    base = 256  # conv8: one x2 stage per halving of the output stride, 256 -> 128 -> 64
    for i in range(_UPSAMPLINGS_FROM_8[output_stride]):
        base = 256 // 2 ** i
        x = _upsample(x, _channels(base, width), f"conv8_up{i + 1}", mode=upsampling, l2=l2)
    x = _conv(x, _channels(base, width), "conv8_out", l2=l2)
    return keras.Model(inp, {"ab": _ab_head(x, num_bins)}, name=name)


def unet(head: str = "classification", num_bins: int | None = None, width: float = 1.0,
         depth: int = 3, upsampling: str = "transpose", batch_norm: bool = True,
         dropout: float = 0.0, output_stride: int = 1, *, l2: float = 0.0,
         name: str = "unet") -> keras.Model:
    """A U-Net {cite}`ronneberger2015unet`: an encoder, a decoder, and skip connections.

    ``depth`` levels of two 3x3 convs (``32 * 2**level`` channels) and a 2x2 max-pool; the
    decoder upsamples, concatenates the encoder features of the same resolution and stops at
    ``1/output_stride``; dropout acts on the bottleneck.  ``head="classification"`` needs
    ``num_bins``.
    """
    _check_choice("head", head, ("classification", "regression"))
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} must be a positive integer (levels of the U-Net).")
    strides = tuple(2 ** i for i in range(depth + 1))
    _check_shared(width, output_stride, upsampling, dropout, strides)
    if head == "regression":
        num_bins = None
    elif num_bins is None:
        raise ValueError("num_bins=None: head='classification' needs the number of ab bins, "
                         "e.g. num_bins=len(colorutils.quantize.ab_bins()); or use "
                         "head='regression'.")
    else:
        _check_count("num_bins", num_bins)
    x = inp = _l_input()
    skips = []
    for level in range(depth):
        c = _channels(32 * 2 ** level, width)
        x = _conv(x, c, f"enc{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = _conv(x, c, f"enc{level + 1}_b", batch_norm=batch_norm, l2=l2)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    c = _channels(32 * 2 ** depth, width)
    x = _conv(x, c, "bottleneck_a", batch_norm=batch_norm, l2=l2)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    x = _conv(x, c, "bottleneck_b", batch_norm=batch_norm, l2=l2)
    for level in reversed(range(output_stride.bit_length() - 1, depth)):  # log2(s) .. depth-1
        c = _channels(32 * 2 ** level, width)
        x = _upsample(x, c, f"dec{level + 1}_up", mode=upsampling, batch_norm=batch_norm, l2=l2)
        x = layers.Concatenate(name=f"dec{level + 1}_skip")([x, skips[level]])
        x = _conv(x, c, f"dec{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = _conv(x, c, f"dec{level + 1}_b", batch_norm=batch_norm, l2=l2)
    return keras.Model(inp, {"ab": _ab_head(x, num_bins)}, name=name)


def rgb_classifier(num_classes: int, width: float = 1.0, *, batch_norm: bool = True,
                   dropout: float = 0.0, name: str = "rgb_classifier") -> keras.Model:
    """A small CNN classifying RGB photos in [0, 1], to measure semantic interpretability.

    Three stages of two 3x3 convs (32, 64, 128 channels) and a max-pool, global average
    pooling, a dense layer; plain logits, not a dict.
    """
    _check_shared(width, dropout=dropout)
    _check_count("num_classes", num_classes)
    inp = keras.Input(shape=(None, None, 3), name="rgb")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)
    for stage, base in enumerate((32, 64, 128), start=1):
        x = _conv(x, _channels(base, width), f"stage{stage}_a", batch_norm=batch_norm)
        x = _conv(x, _channels(base, width), f"stage{stage}_b", batch_norm=batch_norm)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    out = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inp, out, name=name)


#: The zoo by name (what :func:`build` and :class:`colorutils.experiments.Arm` accept).
BUILDERS = {f.__name__: f for f in (regression_cnn, zhang_classifier, unet, fusion_net,
                                     fusion_classifier, koalarization_net, rgb_classifier)}


def build(name: str, **kwargs) -> keras.Model:
    """The uncompiled ``BUILDERS[name](**kwargs)``, e.g. ``build("unet", head="regression")``."""
    _check_choice("model", name, tuple(BUILDERS))
    return BUILDERS[name](**kwargs)


#: Weight of the classification loss in the joint loss ``L = L_colour + alpha * L_class``
#: (1/300 in a popular reimplementation of Iizuka et al.).
JOINT_ALPHA = 1.0 / 300.0
#: Optimizers and default learning rates: Adam {cite}`kingma2015adam` at Keras' 1e-3,
#: Adadelta {cite}`zeiler2012adadelta` (Iizuka et al.) at its original 1.0, SGD with momentum.
OPTIMIZERS = {"adam": 1e-3, "adadelta": 1.0, "sgd": 1e-2}


@dataclasses.dataclass(frozen=True)
class _ModelHeads:
    """A builder's heads: kinds of ``"ab"`` head (default first), ``"label"`` head (none,
    optional with ``num_classes``, always, or plain logits), the argument choosing the ``"ab"``
    head (``head``, ``num_bins``: None for regression, or None) and the input."""

    colour: tuple[str, ...]
    label: str = "none"
    chooses_by: str | None = None
    input: str = "l_norm"


#: Each model of the zoo and its heads (``colorutils train --model/--head``, the studies).
MODEL_HEADS = {
    "regression_cnn": _ModelHeads(("regression",)),
    "zhang_classifier": _ModelHeads(("classification",)),
    "unet": _ModelHeads(("classification", "regression"), chooses_by="head"),
    "fusion_net": _ModelHeads(("classification", "regression"), label="optional",
                              chooses_by="num_bins"),
    "fusion_classifier": _ModelHeads((), label="always"),
    "koalarization_net": _ModelHeads(("classification", "regression"), chooses_by="num_bins"),
    "rgb_classifier": _ModelHeads((), label="plain", input="rgb"),
}


def model_outputs(name: str, kwargs: Mapping | None = None) -> tuple[tuple[str, ...], str]:
    """``(output keys, input name)`` of ``BUILDERS[name](**kwargs)``, without building it.

    >>> model_outputs("fusion_net", {"num_bins": 262, "num_classes": 10})
    (('ab', 'label'), 'l_norm')
    >>> model_outputs("rgb_classifier", {"num_classes": 10})
    ((), 'rgb')
    """
    _check_choice("model", name, tuple(MODEL_HEADS))
    heads, kwargs = MODEL_HEADS[name], dict(kwargs or {})
    keys = ("ab",) if heads.colour else ()
    if heads.label == "always" or (heads.label == "optional" and kwargs.get("num_classes")):
        keys += ("label",)
    return keys, heads.input


def make_optimizer(name: str = "adam", learning_rate: float | None = None):
    """A fresh Keras optimizer by name, at the rate of :data:`OPTIMIZERS` by default."""
    _check_choice("optimizer", name, tuple(OPTIMIZERS))
    lr = OPTIMIZERS[name] if learning_rate is None else learning_rate
    _check_positive("learning_rate", lr)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9)
    return {"adam": keras.optimizers.Adam, "adadelta": keras.optimizers.Adadelta}[name](lr)


def _output_keys(model: keras.Model) -> tuple[str, ...]:
    return tuple(model.output) if isinstance(model.output, dict) else ()


def compile_model(model: keras.Model, *, optimizer: str = "adam",
                  learning_rate: float | None = None, weights=None, bins=None,
                  space: str = "lab", alpha: float = JOINT_ALPHA,
                  **compile_kwargs) -> keras.Model:
    """Compile a model of the zoo with the loss of each of its heads; return it.

    2-channel ``"ab"``: :class:`colorutils.losses.ABRegressionLoss` in ``space``; ``Q``
    channels: :class:`colorutils.losses.RebalancedCrossEntropy` (``weights``, ``bins``);
    ``"label"``: sparse cross-entropy and accuracy, weighted ``alpha`` next to ``"ab"``.

    >>> net = compile_model(unet("regression", width=0.125, depth=2), space="yuv")
    >>> type(net.loss["ab"]).__name__, net.loss["ab"].space
    ('ABRegressionLoss', 'yuv')
    """
    if not isinstance(alpha, (int, float)) or alpha < 0:
        raise ValueError(f"alpha={alpha!r} must be a non-negative number (0 ignores the "
                         "classification loss; 1/300 is the usual weight).")
    keys = _output_keys(model)
    loss, loss_weights, metrics = {}, {}, None
    if "ab" in keys:
        depth = model.output["ab"].shape[-1]
        if depth == 2:
            loss["ab"] = losses.ABRegressionLoss(space)
        else:
            bins = quantize.ab_bins(quantize.grid_size_for(depth)) if bins is None else bins
            loss["ab"] = losses.RebalancedCrossEntropy(bins, weights)
        loss_weights["ab"] = 1.0
    if "label" in keys or not keys:
        label_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if keys:
            loss["label"], metrics = label_loss, {"label": metrics}
            loss_weights["label"] = float(alpha) if "ab" in keys else 1.0
        else:  # a classifier: plain logits
            loss, loss_weights = label_loss, None
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=loss,
                  loss_weights=loss_weights, metrics=metrics, **compile_kwargs)
    return model


def targets_for(model, dataset, *, space: str | None = None):
    """``dataset`` of ``(inputs, targets)`` restricted to the outputs of ``model`` (or names).

    A regression head in another chroma ``space`` (default: its compiled loss's) gets its
    ``"ab"`` target through :func:`colorutils.losses.chroma_targets`.
    """
    if dataset is None:
        return None
    keys = tuple(model) if isinstance(model, (tuple, list)) else _output_keys(model)
    if space is None:
        loss = getattr(model, "loss", None)
        loss = loss.get("ab") if hasattr(loss, "get") else loss  # a dict of head losses
        space = getattr(loss, "space", "lab")
    spec = dataset.element_spec[1]
    if keys and isinstance(spec, dict):
        missing = [k for k in keys if k not in spec]
        if missing:
            raise ValueError(f"the model outputs {missing} but the dataset has no such targets; "
                             "load it with colorutils.data.load(..., with_label=True).")
        if tuple(spec) != keys:
            dataset = dataset.map(lambda x, y: (x, {k: y[k] for k in keys}))
    if space != "lab":
        dataset = dataset.map(
            lambda x, t: (x, {**t, "ab": losses.chroma_targets(x, t["ab"], space)}))
    return dataset
