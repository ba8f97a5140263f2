"""Figures used by several chapters, the choice of their photos (:func:`pick_photos`) and
the numbers passed from a chapter's code to its prose (:func:`glue`).

Every figure function returns the matplotlib ``Figure`` so that a notebook can save or tweak it, and
gives each figure a title (and axes labels where the axes mean something).  The block diagrams
of the model zoo are :mod:`colorutils.models`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, LogNorm

from colorutils import color

#: Images across a grid at most: six tiles share the book's 704 px text column at about
#: 100 px each, the least at which a reader can judge colour (a wider grid is shrunk to fit).
MAX_COLUMNS = 6


def glue(name: str, value, display: bool = False) -> None:
    """Pass a computed ``value`` to the page's prose (``{glue:text}`name``` in markdown):
    myst-nb's ``glue`` in the book build, nothing where myst-nb is absent (Colab installs no
    book extras; the chapter prints what matters).  The chapters' one way to do it."""
    try:
        from myst_nb import glue as myst_glue  # start-up: only in a chapter that glues
    except ImportError:
        return None
    myst_glue(name, value, display=display)
    return None


def pick_photos(total: int, k: int = MAX_COLUMNS, labels=None) -> np.ndarray:
    """``k`` indices of photos for a figure, spread over ``range(total)`` and over the classes.

    Without ``labels``, the indices are evenly spaced.  With ``labels`` (one class per photo),
    the photos come from ``k`` classes spread over the classes present (all of them, and
    then again, if ``k`` is larger), each photo taken at a different place in its class's
    photos.  Evenly spaced indices alone can all fall on one class: the embedded CIFAR-10
    test split cycles through its ten classes, so every 99th photo is a truck.

    Examples
    --------
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
        if not members:
            continue
        picked.append(int(members[round(j / max(k - 1, 1) * (len(members) - 1))]))
    return np.asarray(picked, dtype=int)


def _as_display(image) -> np.ndarray:
    """Return ``image`` as a numpy array matplotlib can show (H, W) gray or (H, W, 3) RGB."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"image has shape {array.shape}; expected (H, W), (H, W, 1) or (H, W, 3)")
    if array.dtype.kind == "f":
        array = np.clip(array, 0.0, 1.0)
    return array


def show_images(images: Sequence, titles: Sequence[str] | None = None, ncols: int = 6,
                title: str | None = None, size: float = 1.8, cmap_gray: str = "gray"):
    """Show images in a grid.

    Parameters
    ----------
    images : sequence of arrays
        RGB float images in [0, 1] or uint8, or gray images (H, W) / (H, W, 1).
    titles : sequence of str, optional
        One short caption per image.
    ncols : int
        Images per row, at most :data:`MAX_COLUMNS` (more images wrap to further rows).
    title : str, optional
        Figure title.
    """
    images = list(images)
    if not images:
        raise ValueError("images is empty: nothing to show")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = max(1, min(ncols, MAX_COLUMNS, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            shown = _as_display(images[i])
            ax.imshow(shown, cmap=cmap_gray if shown.ndim == 2 else None, vmin=0,
                      vmax=1 if shown.dtype.kind == "f" else 255)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_rows(rows: Mapping[str, Sequence], title: str | None = None, size: float = 1.8,
                 max_cols: int = MAX_COLUMNS):
    """One row per method (gray input, ground truth, each model), one column per image.

    Row labels are written horizontally to the left of their row (wrapped at 14 characters),
    so that they read without turning the head.

    Parameters
    ----------
    rows : mapping of row label -> sequence of images
        All rows show the same images in the same order.
    max_cols : int
        Images shown per row, at most :data:`MAX_COLUMNS`.
    """
    labels = list(rows)
    if not labels:
        raise ValueError("rows is empty: nothing to compare")
    ncols = min(max_cols, MAX_COLUMNS, min(len(rows[k]) for k in labels))
    if ncols == 0:
        raise ValueError("every row must hold at least one image")
    fig, axes = plt.subplots(len(labels), ncols,
                             figsize=(size * ncols + 1.4, size * len(labels) + (0.5 if title else 0.1)),
                             squeeze=False)
    for r, label in enumerate(labels):
        for c in range(ncols):
            ax = axes[r, c]
            shown = _as_display(rows[label][c])
            ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0,
                      vmax=1 if shown.dtype.kind == "f" else 255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:  # horizontal, wrapped: long labels stay beside their row
                ax.set_ylabel(textwrap.fill(label, 14), fontsize=9, rotation=0,
                              ha="right", va="center", labelpad=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout(w_pad=0.3, h_pad=0.3)
    return fig


# ---- the ab plane (colour-spaces chapter, quantization and prior figures) ---------------------

def ab_plane(lightness: float, extent: float | None = None, resolution: int = 201,
             background: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The colours of the ab plane at one lightness, and where sRGB can show them.

    Parameters
    ----------
    lightness : float
        L in [0, 100].
    extent : float, optional
        The plane spans ``[-extent, extent]`` in a and b (default ``color.AB_SCALE``).
    resolution : int
        Samples per axis.
    background : float
        Gray level painted where the colour is outside the sRGB gamut.

    Returns
    -------
    rgb : np.ndarray, float32 [resolution, resolution, 3]
        Row 0 is the *largest* b (so ``imshow(origin="upper")`` puts +b at the top); column 0
        the smallest a.
    in_gamut : np.ndarray, bool [resolution, resolution]
    """
    extent = color.AB_SCALE if extent is None else float(extent)
    a = np.linspace(-extent, extent, resolution, dtype=np.float32)
    b = a[::-1]
    aa, bb = np.meshgrid(a, b)
    lab = np.stack([np.full_like(aa, lightness), aa, bb], axis=-1)
    rgb, out = color.lab_to_rgb(lab, clip=True, return_mask=True)
    rgb, inside = rgb.numpy(), ~out.numpy()
    rgb[~inside] = background
    return rgb, inside


def plot_ab_gamut(lightness: Sequence[float] = (25, 50, 75, 90), extent: float | None = None,
                  resolution: int = 201, title: str = "The sRGB gamut in the ab plane",
                  size: float = 2.6):
    """One panel per lightness: the ab plane coloured where sRGB can display it (white outside).

    The in-gamut fraction of the square is written in each panel's title.
    """
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
        ax.set_xlabel("a (green - red)")
        ax.set_ylabel("b (blue - yellow)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_ab_histogram(ab, bin_size: float = 4.0, extent: float | None = None,
                      lightness_outline: float | None = 50.0,
                      title: str = "ab histogram (log scale)", ax=None):
    """2-D histogram of ab values on a logarithmic colour scale.

    Parameters
    ----------
    ab : array_like [..., 2]
        ab in Lab units (any leading shape, e.g. a batch of ``targets["ab"]``).
    bin_size : float
        Bin width in Lab units.
    extent : float, optional
        Histogram range ``[-extent, extent]`` (default ``color.AB_SCALE``).
    lightness_outline : float, optional
        Draw the sRGB gamut boundary at this L for reference (None: no outline).
    """
    extent = color.AB_SCALE if extent is None else float(extent)
    ab = np.asarray(ab, dtype=np.float64).reshape(-1, 2)
    if ab.size == 0:
        raise ValueError("ab is empty: nothing to histogram")
    edges = np.arange(-extent, extent + bin_size, bin_size)
    counts, _, _ = np.histogram2d(ab[:, 1], ab[:, 0], bins=[edges, edges])  # rows: b
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
    else:
        fig = ax.figure
    prob = counts / counts.sum()
    mesh = ax.pcolormesh(edges, edges, np.where(prob > 0, prob, np.nan), cmap="viridis",
                         norm=LogNorm(vmin=max(prob[prob > 0].min(), 1e-7), vmax=prob.max()))
    fig.colorbar(mesh, ax=ax, label="fraction of pixels")
    if lightness_outline is not None:
        _, inside = ab_plane(lightness_outline, extent, 201)
        grid = np.linspace(-extent, extent, 201)
        ax.contour(grid, grid, inside[::-1].astype(float), levels=[0.5], colors="red",
                   linewidths=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("a (green - red)")
    ax.set_ylabel("b (blue - yellow)")
    ax.set_title(title + ("" if lightness_outline is None
                          else f"\nred: sRGB gamut at L = {lightness_outline:g}"), fontsize=9)
    fig.tight_layout()
    return fig


def plot_color_spaces(rgb, title: str = "One photo in four colour spaces", size: float = 2.0):
    """A 4 x 4 grid: the photo, then its three channels in RGB, CIE Lab, HSV and YUV.

    Each channel is drawn with a colour map that says what it means (gray for lightness-like
    channels, green-white-red for a, blue-white-yellow for b, the circular ``hsv`` map for
    hue), with a colour bar. Lightness, hue, saturation and RGB use their full range; the
    colour-difference channels (a, b, U, V) a symmetric range of their 99.5th percentile of
    ``|value|``, since photos rarely use more than a fraction of it.

    Parameters
    ----------
    rgb : array_like [H, W, 3]
        uint8 or float in [0, 1].
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
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig
