"""The chapters' shared figures (each returns its titled matplotlib ``Figure``; the model
diagrams are in :mod:`colorutils.models`), their photos (:func:`pick_photos`) and the numbers
passed to the prose (:func:`glue`)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, LogNorm

from colorutils import color

__all__ = ["glue", "pick_photos", "show_images", "compare_rows", "plot_ab_histogram",
           "plot_color_spaces"]

# At most six images across: ~100 px each in the book's 704 px column, the least to judge colour.
_MAX_COLUMNS = 6


def glue(name: str, value, display: bool = False) -> None:
    """Pass ``value`` to the prose (``{glue:text}`name```): myst-nb's ``glue``, or nothing
    where myst-nb is absent (Colab)."""
    try:
        from myst_nb import glue as myst_glue  # start-up: only in a chapter that glues
    except ImportError:
        return
    myst_glue(name, value, display=display)


def pick_photos(total: int, k: int = _MAX_COLUMNS, labels=None) -> np.ndarray:
    """``k`` photo indices spread evenly over ``range(total)`` and, given ``labels``, over classes.

    With ``labels`` each photo comes from a different class (cycling if ``k`` is larger) and a
    different place in its class: evenly spaced CIFAR-10 indices can all be trucks.

    >>> pick_photos(500, 6, labels=np.arange(500) % 10).tolist()
    [0, 102, 204, 295, 397, 499]
    """
    if total < 0 or k < 0:
        raise ValueError(f"total={total!r}, k={k!r}: give counts >= 0.")
    k = min(k, total)
    if labels is None:
        return np.unique(np.linspace(0, total - 1, k).astype(int)) if k else np.zeros(0, int)
    labels = np.asarray(labels)[:total]
    if len(labels) != total:
        raise ValueError(f"labels has {len(labels)} entries for total={total}: give one per photo.")
    classes = np.unique(labels)
    picked: list[int] = []
    chosen = (classes[np.linspace(0, len(classes) - 1, k).round().astype(int)]
              if k <= len(classes) else np.resize(classes, k))
    for j, cls in enumerate(chosen):
        members = [i for i in np.flatnonzero(labels == cls) if i not in picked]
        if members:
            picked.append(int(members[round(j / max(k - 1, 1) * (len(members) - 1))]))
    return np.asarray(picked, dtype=int)


def _draw(ax, image, cmap_gray: str) -> None:
    """Show an (H, W), (H, W, 1) or (H, W, 3) image: uint8, or floats clipped to [0, 1]."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"image has shape {array.shape}; expected (H, W), (H, W, 1) or (H, W, 3)")
    if array.dtype.kind == "f":
        array = np.clip(array, 0.0, 1.0)
    ax.imshow(array, cmap=cmap_gray if array.ndim == 2 else None, vmin=0,
              vmax=1 if array.dtype.kind == "f" else 255)


def show_images(images: Sequence, titles: Sequence[str] | None = None, ncols: int = 6,
                title: str | None = None, size: float = 1.8, cmap_gray: str = "gray"):
    """Show RGB (float in [0, 1] or uint8) or gray images in a grid of at most 6 columns."""
    images = list(images)
    if not images:
        raise ValueError("images is empty: nothing to show")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = max(1, min(ncols, _MAX_COLUMNS, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            _draw(ax, images[i], cmap_gray)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_rows(rows: Mapping[str, Sequence], title: str | None = None, size: float = 1.8,
                 max_cols: int = _MAX_COLUMNS):
    """One row per method (``rows``: label -> the same images), one column per image.

    Labels are written horizontally left of their row, wrapped at 14 characters.
    """
    labels = list(rows)
    if not labels:
        raise ValueError("rows is empty: nothing to compare")
    ncols = min(max_cols, _MAX_COLUMNS, min(len(rows[k]) for k in labels))
    if ncols == 0:
        raise ValueError("every row must hold at least one image")
    height = size * len(labels) + (0.5 if title else 0.1)
    fig, axes = plt.subplots(len(labels), ncols, figsize=(size * ncols + 1.4, height),
                             squeeze=False)
    for r, label in enumerate(labels):
        for c in range(ncols):
            _draw(axes[r, c], rows[label][c], "gray")
            axes[r, c].set(xticks=[], yticks=[])
        # horizontal, wrapped: long labels stay beside their row
        axes[r, 0].set_ylabel(textwrap.fill(label, 14), fontsize=9, rotation=0, ha="right",
                              va="center", labelpad=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout(w_pad=0.3, h_pad=0.3)
    return fig


def ab_plane(lightness: float, extent: float | None = None, resolution: int = 201,
             background: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The ab plane at one lightness over ``[-extent, extent]²`` and where sRGB shows it.

    Returns ``(rgb float32 [n, n, 3], in-gamut bool [n, n])``, ``background`` gray outside the
    gamut; row 0 is the largest b (``imshow`` puts +b at the top), column 0 the smallest a.
    """
    extent = color.AB_SCALE if extent is None else float(extent)
    a = np.linspace(-extent, extent, resolution, dtype=np.float32)
    aa, bb = np.meshgrid(a, a[::-1])
    lab = np.stack([np.full_like(aa, lightness), aa, bb], axis=-1)
    rgb, out = color.lab_to_rgb(lab, clip=True, return_mask=True)
    rgb, inside = rgb.numpy(), ~out.numpy()
    rgb[~inside] = background
    return rgb, inside


def plot_ab_gamut(lightness: Sequence[float] = (25, 50, 75, 90), extent: float | None = None,
                  resolution: int = 201, title: str = "The sRGB gamut in the ab plane",
                  size: float = 2.6):
    """One panel per lightness: the ab plane where sRGB shows it, titled with its fraction."""
    extent = color.AB_SCALE if extent is None else float(extent)
    lightness = list(lightness)
    fig, axes = plt.subplots(1, len(lightness), figsize=(size * len(lightness), size + 0.6),
                             squeeze=False)
    for ax, L in zip(axes[0], lightness, strict=True):
        rgb, inside = ab_plane(L, extent, resolution)
        ax.imshow(rgb, extent=(-extent, extent, -extent, extent))
        ax.axhline(0, color="0.6", lw=0.5)
        ax.axvline(0, color="0.6", lw=0.5)
        ax.set_title(f"L = {L:g}: {inside.mean():.0%} in gamut", fontsize=9)
        ax.set(xlabel="a (green - red)", ylabel="b (blue - yellow)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_ab_histogram(ab, bin_size: float = 4.0, extent: float | None = None,
                      lightness_outline: float | None = 50.0,
                      title: str = "ab histogram (log scale)", ax=None):
    """2-D histogram of ab ``[..., 2]`` on a log colour scale, with the gamut outline at an L."""
    extent = color.AB_SCALE if extent is None else float(extent)
    ab = np.asarray(ab, dtype=np.float64).reshape(-1, 2)
    if ab.size == 0:
        raise ValueError("ab is empty: nothing to histogram")
    edges = np.arange(-extent, extent + bin_size, bin_size)
    counts, _, _ = np.histogram2d(ab[:, 1], ab[:, 0], bins=[edges, edges])  # rows: b
    fig, ax = plt.subplots(figsize=(4.6, 3.8)) if ax is None else (ax.figure, ax)
    prob = counts / counts.sum()
    mesh = ax.pcolormesh(edges, edges, np.where(prob > 0, prob, np.nan), cmap="viridis",
                         norm=LogNorm(vmin=max(prob[prob > 0].min(), 1e-7), vmax=prob.max()))
    fig.colorbar(mesh, ax=ax, label="fraction of pixels")
    if lightness_outline is not None:
        _, inside = ab_plane(lightness_outline, extent, 201)
        grid = np.linspace(-extent, extent, 201)
        ax.contour(grid, grid, inside[::-1].astype(float), levels=[0.5], colors="red",
                   linewidths=0.8)
    ax.set(aspect="equal", xlabel="a (green - red)", ylabel="b (blue - yellow)")
    ax.set_title(title + ("" if lightness_outline is None
                          else f"\nred: sRGB gamut at L = {lightness_outline:g}"), fontsize=9)
    fig.tight_layout()
    return fig


def plot_color_spaces(rgb, title: str = "One photo in four colour spaces", size: float = 2.0):
    """A 4 x 4 grid: the photo (uint8 or float [H, W, 3]) and its channels in RGB, Lab, HSV, YUV.

    Colour maps say what a channel means (circular ``hsv`` for hue); a, b, U and V span the
    99.5th percentile of ``|value|``, the other channels their full range.
    """
    green_red = LinearSegmentedColormap.from_list("a", ["#1a9641", "#ffffff", "#d7191c"])
    blue_yellow = LinearSegmentedColormap.from_list("b", ["#2c7bb6", "#ffffff", "#e6c619"])
    arr = np.asarray(rgb)
    rgb_f = arr.astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 1.0)
    lab = color.rgb_to_lab(rgb_f).numpy()  # raises ValueError for a 0-255 float photo
    yuv = color.rgb_to_yuv(rgb_f).numpy()

    def lim(values, floor):
        return max(floor, float(np.percentile(np.abs(values), 99.5)))

    la, lb = lim(lab[..., 1], 10.0), lim(lab[..., 2], 10.0)
    lu, lv = lim(yuv[..., 1], 0.05), lim(yuv[..., 2], 0.05)
    spaces = {
        "RGB": (rgb_f, [("R", 0, 1, "Reds_r"), ("G", 0, 1, "Greens_r"), ("B", 0, 1, "Blues_r")]),
        "Lab": (lab,
                [("L", 0, 100, "gray"), ("a", -la, la, green_red), ("b", -lb, lb, blue_yellow)]),
        "HSV": (color.rgb_to_hsv(rgb_f).numpy(),
                [("H (circular)", 0, 1, "hsv"), ("S", 0, 1, "magma"), ("V", 0, 1, "gray")]),
        "YUV": (yuv, [("Y (luma)", 0, 1, "gray"), ("U", -lu, lu, "PuOr_r"),
                      ("V", -lv, lv, "RdBu_r")]),
    }
    fig, axes = plt.subplots(4, 4, figsize=(size * 4.4, size * 4), squeeze=False)
    for row, (space, (values, channels)) in enumerate(spaces.items()):
        axes[row, 0].imshow(np.clip(rgb_f, 0, 1))
        axes[row, 0].set_title("photo", fontsize=9)
        axes[row, 0].set_ylabel(space, fontsize=11)
        for col, (name, lo, hi, cmap) in enumerate(channels, start=1):
            im = axes[row, col].imshow(values[..., col - 1], cmap=cmap, vmin=lo, vmax=hi)
            axes[row, col].set_title(f"{space}: {name}", fontsize=9)
            fig.colorbar(im, ax=axes[row, col], fraction=0.046, pad=0.02)
        for ax in axes[row]:
            ax.set(xticks=[], yticks=[])
    fig.suptitle(title)
    fig.tight_layout()
    return fig
