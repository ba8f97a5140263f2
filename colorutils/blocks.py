"""Block diagrams of the zoo: a model's layers grouped into blocks, and the figure that draws them.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["Block", "BlockGraph", "default_group", "block_graph", "plot_blocks"]


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
