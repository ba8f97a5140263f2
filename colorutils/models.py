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

Channel counts are ``max(8, round(base * width))`` (:func:`colorutils.models.channels`):
``width=1`` is the paper's size, ``width=0.25`` fits a CPU smoke run.  The layers the builders
share are in :mod:`colorutils.models`; the fusion family (global features fused into local ones)
in :mod:`colorutils.models`, re-exported here so that the whole zoo is one namespace;
:func:`build` makes any of them by name.  Compiling (one loss per head type) is
:mod:`colorutils.models`; the block diagrams of chapters 04 and 05 are
:mod:`colorutils.models`.

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

The layers and checks the model zoo is built from (:mod:`colorutils.models`).

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

Block diagrams of the zoo: a model's layers grouped into blocks, and the figure that draws them.

Chapters 04 and 05 show a network as a handful of boxes (``low``, ``mid``, ``global``,
``fusion``, ``color``, ...) rather than hundreds of layers.  :func:`block_graph` groups a
functional Keras model's layers by name (:func:`default_group`), finds the connections between
the groups and measures the real output shapes by running a probe input through the model;
:func:`plot_blocks` draws the result.  It is the fallback of ``keras.utils.plot_model`` where
pydot and graphviz are missing, and it shows measured shapes rather than ``None``.

The graph walk reads Keras' functional-graph internals (``_keras_history``,
``_inbound_nodes``), which have no public equivalent in Keras 3; they are read here and
nowhere else.

Examples
--------
>>> default_group("low3_bn"), default_group("global_conv2"), default_group("l_norm")
('low', 'global', 'l')

The fusion family: a global feature vector fused into local features (Iizuka et al. 2016).

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
share with the other builders are :mod:`colorutils.models`.

Compiling a model of the zoo: one loss per head type, the optimizer, the targets it needs.

A model of :mod:`colorutils.models` has one or two heads, and each head type has exactly one
loss, chosen here and nowhere else:

=====================  ===================================================================
head                   loss
=====================  ===================================================================
``"ab"``, 2 channels   :class:`colorutils.losses.ABRegressionLoss` in the target ``space``
                       (MSE on ``ab / AB_SCALE``; YUV and HSV targets: chapter 02)
``"ab"``, Q channels   :class:`colorutils.losses.RebalancedCrossEntropy` over the ab bins,
                       weighted by the rebalancing ``weights`` (None: plain soft
                       cross-entropy; Zhang et al. 2016)
``"label"``            sparse categorical cross-entropy on the logits, weighted by ``alpha``
                       next to an ``"ab"`` head: the joint loss ``L_colour + alpha L_class``
                       of Iizuka et al. (2016) {cite}`iizuka2016let`; weight 1 alone
a plain tensor         the same cross-entropy: a classifier (``rgb_classifier``)
=====================  ===================================================================

Every classification head also reports its accuracy.  :func:`targets_for` gives a dataset of
:func:`colorutils.data.load` the targets a model trains on (its output keys; a YUV or HSV
regression head's chroma in its own space).

Examples
--------
>>> from colorutils import models
>>> net = compile_model(models.unet("regression", width=0.125, depth=2), space="yuv")
>>> type(net.loss["ab"]).__name__, net.loss["ab"].space
('ABRegressionLoss', 'yuv')
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
    "UPSAMPLING",
    "HEADS",
    "channels",
    "count_params",
    "check_choice",
    "check_positive",
    "check_stride",
    "check_rate",
    "check_num_bins",
    "check_num_classes",
    "regularizer",
    "conv",
    "upsample",
    "ab_head",
    "l_input",
    "TileToGrid",
    "Block",
    "BlockGraph",
    "default_group",
    "block_graph",
    "plot_blocks",
    "fusion_net",
    "fusion_classifier",
    "copy_matching_weights",
    "koalarization_net",
    "BACKBONES",
    "regression_cnn",
    "zhang_classifier",
    "unet",
    "rgb_classifier",
    "BUILDERS",
    "build",
    "JOINT_ALPHA",
    "OPTIMIZERS",
    "ModelHeads",
    "MODEL_HEADS",
    "model_outputs",
    "make_optimizer",
    "compile_model",
    "head_losses",
    "output_keys",
    "targets_for",
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


def _source(tensor) -> str:
    """The name of the layer that produced a symbolic tensor."""
    return tensor._keras_history.operation.name


def _depths(layers_) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Longest path from an input to every layer, and every layer's producers."""
    depth = {layer.name: 0 for layer in layers_}
    producers: dict[str, set[str]] = {layer.name: set() for layer in layers_}
    for _ in range(len(layers_)):
        changed = False
        for layer in layers_:
            for node in layer._inbound_nodes:
                for t in node.input_tensors:
                    src = _source(t)
                    producers[layer.name].add(src)
                    if depth[src] + 1 > depth[layer.name]:
                        depth[layer.name] = depth[src] + 1
                        changed = True
        if not changed:
            break
    return depth, producers


def _edges(layers_, name_of, producers) -> list[tuple[str, str]]:
    edges: list[tuple[str, str]] = []
    for layer in layers_:
        for src in sorted(producers[layer.name]):
            edge = (name_of[src], name_of[layer.name])
            if edge[0] != edge[1] and edge not in edges:
                edges.append(edge)
    return edges


def _exits(model, layers_, name_of) -> list[tuple[str, object]]:
    """``(block, tensor)`` for every tensor that leaves its block or the model."""
    exits = []
    model_outputs = {id(t) for t in model.outputs}
    for layer in layers_:
        group = name_of[layer.name]
        for node in layer._inbound_nodes:
            for t in node.output_tensors:
                consumers = {name_of[c.name] for c in layers_
                             if any(id(x) == id(t) for n in c._inbound_nodes
                                    for x in n.input_tensors)}
                if (consumers - {group}) or id(t) in model_outputs:
                    exits.append((group, t))
    return exits


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
                group=default_group) -> BlockGraph:
    """Group a functional model's layers into blocks, with connections and real shapes.

    Layers are grouped by ``group(layer_name)`` (default :func:`default_group`, which matches
    the naming of the zoo: ``low*``, ``mid*``, ``global*``, ``fusion*``, ``color*``, ...);
    input layers are blocks of their own.  The shapes are measured by running inputs of size
    ``input_size`` through a probe model that outputs every tensor leaving a block, so they
    show what the network really does (e.g. the fusion net's global path stays at
    ``global_size`` whatever the input size).  Layer depth (longest path from the input)
    orders the blocks into columns.

    Returns
    -------
    BlockGraph
    """
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    layers_ = list(model.layers)
    input_names = {_source(t) for t in model.inputs}
    name_of = {la.name: la.name if la.name in input_names else group(la.name) for la in layers_}
    depth, producers = _depths(layers_)
    order: list[str] = []
    for layer in sorted(layers_, key=lambda la: depth[la.name]):
        if name_of[layer.name] not in order:
            order.append(name_of[layer.name])
    first = {g: min(depth[la.name] for la in layers_ if name_of[la.name] == g) for g in order}
    columns = {d: i for i, d in enumerate(sorted(set(first.values())))}
    shapes = _measured_shapes(model, _exits(model, layers_, name_of), order, input_size)
    blocks = [Block(name=g, column=columns[first[g]],
                    layers=[la.name for la in layers_ if name_of[la.name] == g],
                    params=sum(la.count_params() for la in layers_ if name_of[la.name] == g),
                    shapes=shapes[g]) for g in order]
    return BlockGraph(blocks=blocks, edges=_edges(layers_, name_of, producers),
                      input_shape=(*input_size, model.inputs[0].shape[-1]))


# --------------------------------------------------------------------------- the figure


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


def _draw_edge(ax, start_pos, end_pos, box_width, box_height, gap, vertical=False) -> None:
    (x0, y0), (x1, y1) = start_pos, end_pos
    if vertical:  # the data flow runs down the page: edges leave a box's bottom
        if y1 < y0:
            start, end = (x0, y0 - box_height / 2), (x1, y1 + box_height / 2)
        elif y1 > y0:
            start, end = (x0, y0 + box_height / 2), (x1, y1 - box_height / 2)
        else:
            sign = 1 if x1 > x0 else -1
            start, end = (x0 + sign * box_width / 2, y0), (x1 - sign * box_width / 2, y1)
        skips = abs(round((y1 - y0) / gap)) > 1
    else:
        if x1 > x0:
            start, end = (x0 + box_width / 2, y0), (x1 - box_width / 2, y1)
        elif x1 < x0:
            start, end = (x0 - box_width / 2, y0), (x1 + box_width / 2, y1)
        else:
            sign = 1 if y1 > y0 else -1
            start, end = (x0, y0 + sign * box_height / 2), (x1, y1 - sign * box_height / 2)
        skips = abs(round((x1 - x0) / gap)) > 1
    # an edge that skips a column (a row) bends further, so it does not cross the box between
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                 color="0.25",
                                 connectionstyle=f"arc3,rad={0.55 if skips else 0.05}"))


def plot_blocks(graph: BlockGraph, title: str = "Architecture",
                colors: Mapping[str, str] | None = None, box_width: float = 2.3,
                box_height: float = 1.0, vertical: bool = True, fontsize: float = 9):
    """Draw a block diagram of a model from :func:`block_graph`.

    One box per block (name, number of layers, parameters, output shapes at the probe size),
    placed in rows (``vertical=True``, the data flow running down the page) or columns
    (``vertical=False``, left to right) along the data flow, with an arrow for every
    connection.  The vertical layout keeps the boxes' text readable in a 704 px text column
    however long the network is; a long network drawn left to right is shrunk to fit.

    Parameters
    ----------
    graph : BlockGraph
    title : str
    colors : mapping block name -> matplotlib colour, optional
    vertical : bool
        Data flow from top to bottom (default) or from left to right.
    fontsize : float
        Size of the boxes' text, in points.
    """
    if vertical:
        box_width, box_height = box_width * 1.25, box_height * 1.05
    xgap, ygap = box_width + 0.9, box_height + 0.6
    ncols = len({b.column for b in graph.blocks})
    nrows = max(sum(b.column == c for b in graph.blocks) for c in {b.column for b in graph.blocks})
    if vertical:  # depth goes down the page, parallel paths across it
        depth_gap, side_gap = box_height + 0.8, box_width + 0.5
        across = _layout(graph, depth_gap, side_gap)
        pos = {name: (-y, -x) for name, (x, y) in across.items()}
        fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * side_gap * nrows + 1.5),
                                        max(3.0, 0.75 * depth_gap * ncols + 1)))
        gap = depth_gap
    else:
        pos = _layout(graph, xgap, ygap)
        fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.65 * xgap * ncols)),
                                        max(2.5, 0.9 * ygap * nrows + 1)))
        gap = xgap
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
        _draw_edge(ax, pos[src], pos[dst], box_width, box_height, gap, vertical=vertical)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    if vertical:
        ax.set_xlim(min(xs) - 0.75 * box_width, max(xs) + 0.75 * box_width)
        ax.set_ylim(min(ys) - box_height, max(ys) + box_height)
        ax.set_xlabel("parallel paths")
        ax.set_ylabel("data flow (top to bottom)")
    else:
        ax.set_xlim(min(xs) - box_width, max(xs) + box_width)
        ax.set_ylim(min(ys) - 1.5 * box_height, max(ys) + box_height)
        ax.set_xlabel("data flow (left to right)")
        ax.set_ylabel("parallel paths")
    ax.set_xticks([])
    ax.set_yticks([])
    in_shape = "x".join(str(s) for s in graph.input_shape)
    ax.set_title(f"{title} (shapes for a {in_shape} input)")
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return fig


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
                                   use_bias=not batch_norm, kernel_regularizer=regularizer(l2),
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
        g = conv(g, channels(base, width), f"global_conv{i}", strides=stride,
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
    x = conv(x, channels(128, width), "color_conv1", batch_norm=batch_norm, l2=l2)
    ups = {8: 0, 4: 1, 2: 2, 1: 3}[output_stride]
    bases = [64, 32, 32]
    for i in range(ups):
        x = upsample(x, channels(bases[i], width), f"color_up{i + 1}", mode=upsampling,
                      batch_norm=batch_norm, l2=l2)
        x = conv(x, channels(bases[i], width), f"color_conv{i + 2}", batch_norm=batch_norm,
                  l2=l2)
    return ab_head(x, num_bins)


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
    check_positive("width", width)
    _check_global_size(global_size)
    check_stride(output_stride, (1, 2, 4, 8))
    check_choice("upsampling", upsampling, UPSAMPLING)
    check_num_classes(num_classes)
    check_num_bins(num_bins)
    inp = l_input()
    low = _low_level_layers(width, batch_norm, l2)
    local = _apply(low, inp)
    mid = conv(local, channels(512, width), "mid_conv1", batch_norm=batch_norm, l2=l2)
    mid = conv(mid, channels(256, width), "mid_conv2", batch_norm=batch_norm, l2=l2)
    global_mid, global_vec = _global_path(inp, low, width, global_size, batch_norm, l2)
    tiled = TileToGrid(name="fusion_tile")([global_vec, mid])
    fused = layers.Concatenate(name="fusion_concat")([mid, tiled])
    fused = conv(fused, channels(256, width), "fusion", kernel=1, l2=l2)
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
    check_positive("width", width)
    _check_global_size(global_size)
    if num_classes is None:
        raise ValueError("num_classes=None: fusion_classifier needs the number of classes.")
    check_num_classes(num_classes)
    inp = l_input()
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
    check_choice("backbone", backbone, tuple(BACKBONES))
    check_choice("weights", weights, (None, "imagenet"))
    check_positive("width", width)
    check_stride(output_stride, (1, 2, 4, 8))
    check_choice("upsampling", upsampling, UPSAMPLING)
    check_num_bins(num_bins)
    _, default_size, min_size = BACKBONES[backbone]
    size = default_size if backbone_size is None else backbone_size
    if not isinstance(size, int) or size < min_size:
        raise ValueError(f"backbone_size={backbone_size!r} must be an integer >= {min_size} "
                         f"for backbone={backbone!r}.")
    if train_backbone is None:
        train_backbone = weights is None
    inp = l_input()
    x = inp
    for i, (base, stride) in enumerate([(64, 2), (128, 1), (128, 2), (256, 1), (256, 2),
                                        (512, 1), (512, 1), (256, 1)], start=1):
        x = conv(x, channels(base, width), f"enc{i}", strides=stride, batch_norm=batch_norm,
                  l2=l2)
    rgb = layers.Concatenate(name="gray_to_rgb")([inp, inp, inp])
    rgb = layers.Resizing(size, size, interpolation="bilinear", name="backbone_resize")(rgb)
    net = _backbone(backbone, weights, size, backbone_alpha)
    net.trainable = bool(train_backbone)
    emb = net(rgb, training=False if not train_backbone else None)
    emb = layers.Dense(channels(256, width), activation="relu", name="embedding_fc")(emb)
    tiled = TileToGrid(name="fusion_tile")([emb, x])
    fused = layers.Concatenate(name="fusion_concat")([x, tiled])
    fused = conv(fused, channels(256, width), "fusion", kernel=1, l2=l2)
    ab = _colorization_decoder(fused, num_bins, width, output_stride, upsampling, batch_norm,
                               l2)
    return keras.Model(inp, {"ab": ab}, name=name)


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
    check_positive("width", width)
    c = lambda base: channels(base, width)  # noqa: E731
    inp = l_input()
    x = conv(inp, c(64), "conv1", batch_norm=batch_norm, l2=l2)
    x = conv(x, c(64), "down1", strides=2, batch_norm=batch_norm, l2=l2)
    x = conv(x, c(128), "conv2", batch_norm=batch_norm, l2=l2)
    x = conv(x, c(128), "down2", strides=2, batch_norm=batch_norm, l2=l2)
    x = conv(x, c(256), "mid1", dilation=2, batch_norm=batch_norm, l2=l2)
    x = conv(x, c(256), "mid2", dilation=2, batch_norm=batch_norm, l2=l2)
    x = upsample(x, c(128), "up1", mode="bilinear", batch_norm=batch_norm, l2=l2)
    x = upsample(x, c(64), "up2", mode="bilinear", batch_norm=batch_norm, l2=l2)
    return keras.Model(inp, {"ab": ab_head(x, None)}, name=name)


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
    check_positive("width", width)
    check_stride(output_stride, (1, 2, 4, 8))
    check_choice("upsampling", upsampling, UPSAMPLING)
    check_rate("dropout", dropout)
    if convs_per_block is not None and (not isinstance(convs_per_block, int)
                                        or convs_per_block < 1):
        raise ValueError(f"convs_per_block={convs_per_block!r} must be a positive integer "
                         "or None (the paper's counts).")
    check_num_bins(num_bins, allow_none=False)
    inp = l_input()
    x = inp
    for b, (n, base, stride, dilation) in enumerate(_ZHANG_BLOCKS, start=1):
        n = convs_per_block or n
        for i in range(1, n + 1):
            last = i == n
            x = conv(x, channels(base, width), f"conv{b}_{i}",
                      strides=stride if last else 1, dilation=dilation,
                      batch_norm=batch_norm and last, l2=l2)
        if dropout and b >= 3:
            x = layers.Dropout(dropout, name=f"conv{b}_dropout")(x)
    base = 256  # conv8: one x2 stage per halving of the output stride, 256 -> 128 -> 64
    for i in range({8: 0, 4: 1, 2: 2, 1: 3}[output_stride]):
        base = 256 // 2 ** i
        x = upsample(x, channels(base, width), f"conv8_up{i + 1}", mode=upsampling, l2=l2)
    x = conv(x, channels(base, width), "conv8_out", l2=l2)
    return keras.Model(inp, {"ab": ab_head(x, num_bins)}, name=name)


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
    check_choice("head", head, HEADS)
    check_positive("width", width)
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} must be a positive integer (levels of the U-Net).")
    check_stride(output_stride, tuple(2 ** i for i in range(depth + 1)))
    check_choice("upsampling", upsampling, UPSAMPLING)
    check_rate("dropout", dropout)
    if head == "classification" and num_bins is None:
        raise ValueError("num_bins=None: head='classification' needs the number of ab bins, "
                         "e.g. num_bins=len(colorutils.quantize.ab_bins()); or use "
                         "head='regression'.")
    if head == "classification":
        check_num_bins(num_bins, allow_none=False)
    if head == "regression":
        num_bins = None
    inp = l_input()
    x, skips = inp, []
    for level in range(depth):
        c = channels(32 * 2 ** level, width)
        x = conv(x, c, f"enc{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = conv(x, c, f"enc{level + 1}_b", batch_norm=batch_norm, l2=l2)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    c = channels(32 * 2 ** depth, width)
    x = conv(x, c, "bottleneck_a", batch_norm=batch_norm, l2=l2)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    x = conv(x, c, "bottleneck_b", batch_norm=batch_norm, l2=l2)
    levels_up = depth - {2 ** i: i for i in range(depth + 1)}[output_stride]
    for i in range(levels_up):
        level = depth - 1 - i
        c = channels(32 * 2 ** level, width)
        x = upsample(x, c, f"dec{level + 1}_up", mode=upsampling, batch_norm=batch_norm, l2=l2)
        x = layers.Concatenate(name=f"dec{level + 1}_skip")([x, skips[level]])
        x = conv(x, c, f"dec{level + 1}_a", batch_norm=batch_norm, l2=l2)
        x = conv(x, c, f"dec{level + 1}_b", batch_norm=batch_norm, l2=l2)
    return keras.Model(inp, {"ab": ab_head(x, num_bins)}, name=name)



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
    check_positive("width", width)
    if num_classes is None:
        raise ValueError("num_classes=None: rgb_classifier needs the number of classes.")
    check_num_classes(num_classes)
    check_rate("dropout", dropout)
    inp = keras.Input(shape=(None, None, 3), name="rgb")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(inp)
    for stage, base in enumerate((32, 64, 128), start=1):
        x = conv(x, channels(base, width), f"stage{stage}_a", batch_norm=batch_norm)
        x = conv(x, channels(base, width), f"stage{stage}_b", batch_norm=batch_norm)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    out = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inp, out, name=name)


#: The zoo by name (what :func:`build` and :class:`colorutils.experiments.Arm` accept).
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
    check_choice("model", name, tuple(BUILDERS))
    return BUILDERS[name](**kwargs)


#: Weight of the classification loss in the fusion net's joint loss
#: ``L = L_colour + alpha * L_class`` (1/300 in a popular reimplementation of Iizuka et al.).
JOINT_ALPHA = 1.0 / 300.0
#: Optimizers :func:`make_optimizer` knows, with their default learning rates: Adam
#: (Kingma & Ba 2015) at Keras' 1e-3, Adadelta (Zeiler 2012, used by Iizuka et al.) at 1.0,
#: the rate of the original method (Keras' own default, 1e-3, barely moves), SGD with momentum.
OPTIMIZERS = {"adam": 1e-3, "adadelta": 1.0, "sgd": 1e-2}


@dataclasses.dataclass(frozen=True)
class ModelHeads:
    """The heads a builder of :data:`colorutils.models.BUILDERS` can give its model.

    Attributes
    ----------
    colour : tuple of str
        The kinds of ``"ab"`` head it can have, the default first: ``"classification"``
        (``num_bins`` logits over the ab bins, :func:`colorutils.quantize.ab_bins`) and/or
        ``"regression"`` (2 chroma channels); ``()`` for an image classifier.
    label : {"none", "optional", "always", "plain"}
        Its ``"label"`` head: none, with ``num_classes`` given (the fusion net), always (a dict
        output ``{"label"}``), or a plain logits tensor (``rgb_classifier``).
    chooses_by : {"head", "num_bins", None}
        How the builder picks the ``"ab"`` head: a ``head=`` argument (the U-Net), or
        ``num_bins`` given (classification) or None (regression); None: it has one kind.
    input : {"l_norm", "rgb"}
        Its input: the lightness, or an RGB photo (a classifier of colour photos).
    """

    colour: tuple[str, ...]
    label: str = "none"
    chooses_by: str | None = None
    input: str = "l_norm"


#: Each model of the zoo and its heads: what ``colorutils train --model/--head`` may ask for
#: and which targets a study feeds it.  ``tests/test_models.py`` checks it against the builders.
MODEL_HEADS = {
    "regression_cnn": ModelHeads(("regression",)),
    "zhang_classifier": ModelHeads(("classification",)),
    "unet": ModelHeads(("classification", "regression"), chooses_by="head"),
    "fusion_net": ModelHeads(("classification", "regression"), label="optional",
                             chooses_by="num_bins"),
    "fusion_classifier": ModelHeads((), label="always"),
    "koalarization_net": ModelHeads(("classification", "regression"), chooses_by="num_bins"),
    "rgb_classifier": ModelHeads((), label="plain", input="rgb"),
}


def model_outputs(name: str, kwargs: Mapping | None = None) -> tuple[tuple[str, ...], str]:
    """``(output keys, input name)`` of the model ``BUILDERS[name](**kwargs)``, from
    :data:`MODEL_HEADS` (no model is built).

    >>> model_outputs("fusion_net", {"num_bins": 262, "num_classes": 10})
    (('ab', 'label'), 'l_norm')
    >>> model_outputs("rgb_classifier", {"num_classes": 10})
    ((), 'rgb')
    """
    check_choice("model", name, tuple(MODEL_HEADS))
    heads, kwargs = MODEL_HEADS[name], dict(kwargs or {})
    keys = ("ab",) if heads.colour else ()
    if heads.label == "always" or (heads.label == "optional" and kwargs.get("num_classes")):
        keys += ("label",)
    return keys, heads.input


def make_optimizer(name: str = "adam", learning_rate: float | None = None):
    """A fresh Keras optimizer by name (see :data:`OPTIMIZERS` for the default rates)."""
    check_choice("optimizer", name, tuple(OPTIMIZERS))
    lr = OPTIMIZERS[name] if learning_rate is None else learning_rate
    check_positive("learning_rate", lr)
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "adadelta":
        return keras.optimizers.Adadelta(lr)
    return keras.optimizers.SGD(lr, momentum=0.9)


def output_keys(model: keras.Model) -> tuple[str, ...]:
    """The names of a model's outputs (``()`` for a single tensor, e.g. a classifier)."""
    return tuple(model.output) if isinstance(model.output, dict) else ()


def _class_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _accuracy():
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def head_losses(model: keras.Model, *, weights=None, bins=None, space: str = "lab",
                alpha: float = JOINT_ALPHA) -> tuple:
    """``(loss, loss_weights, metrics)`` for ``keras.Model.compile``: the table above.

    Parameters
    ----------
    weights : array [Q], optional
        Rebalancing weights of a classification ``"ab"`` head.
    bins : array [Q, 2], optional
        Its bin centres; default ``ab_bins(grid_size_for(Q))``.
    space : {"lab", "yuv", "hsv"}
        Target space of a regression ``"ab"`` head.
    alpha : float
        Weight of a ``"label"`` head next to an ``"ab"`` head (>= 0).
    """
    if not isinstance(alpha, (int, float)) or alpha < 0:
        raise ValueError(f"alpha={alpha!r} must be a non-negative number (0 ignores the "
                         "classification loss; 1/300 is the usual weight).")
    keys = output_keys(model)
    if not keys:  # a classifier: plain logits
        return _class_loss(), None, [_accuracy()]
    loss, loss_weights, metrics = {}, {}, {}
    if "ab" in keys:
        depth = model.output["ab"].shape[-1]
        if depth == 2:
            loss["ab"] = losses.ABRegressionLoss(space)
        else:
            bins = quantize.ab_bins(quantize.grid_size_for(depth)) if bins is None else bins
            loss["ab"] = losses.RebalancedCrossEntropy(bins, weights)
        loss_weights["ab"] = 1.0
    if "label" in keys:
        loss["label"] = _class_loss()
        loss_weights["label"] = float(alpha) if "ab" in keys else 1.0
        metrics["label"] = [_accuracy()]
    return loss, loss_weights, metrics or None


def compile_model(model: keras.Model, *, optimizer: str = "adam",
                  learning_rate: float | None = None, weights=None, bins=None,
                  space: str = "lab", alpha: float = JOINT_ALPHA,
                  **compile_kwargs) -> keras.Model:
    """Compile a model of the zoo with the loss each of its heads calls for; return it.

    Parameters
    ----------
    optimizer : {"adam", "adadelta", "sgd"}
    learning_rate : float, optional
        Default: the optimizer's rate in :data:`OPTIMIZERS`.
    weights, bins, space, alpha
        See :func:`head_losses`.
    **compile_kwargs
        Passed to ``keras.Model.compile`` (``run_eagerly``, ``jit_compile``, ...).
    """
    loss, loss_weights, metrics = head_losses(model, weights=weights, bins=bins, space=space,
                                              alpha=alpha)
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=loss,
                  loss_weights=loss_weights, metrics=metrics, **compile_kwargs)
    return model


def targets_for(model, dataset, *, space: str | None = None):
    """``dataset`` of ``(inputs, targets)`` with the targets ``model`` trains on.

    Keeps only the target keys the model outputs, and converts the ``"ab"`` target of a
    regression head compiled in another chroma space (YUV, HSV; :func:`compile_model` with
    ``space=``) from the pipeline's Lab ab to that space (:func:`colorutils.losses.chroma_targets`):
    the loss compares the model's output with targets in its own space, so Lab targets would
    train a YUV head on the wrong numbers.  Graph-safe (``dataset.map``).

    Parameters
    ----------
    model : keras.Model or tuple of str
        A compiled model of the zoo, or its output names (:func:`output_keys`).
    dataset : tf.data.Dataset
        ``(l_norm, {"ab": ab[, "label": label]})`` as :func:`colorutils.data.load` makes it.
    space : {"lab", "yuv", "hsv"}, optional
        The regression head's target space; default: the space of its compiled loss, else Lab.

    Raises
    ------
    ValueError
        If the model outputs a key the dataset has no target for.
    """
    if dataset is None:
        return None
    keys = tuple(model) if isinstance(model, (tuple, list)) else output_keys(model)
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
