"""Figures used by several chapters.

Every function returns the matplotlib ``Figure`` so that a notebook can save or tweak it, and
gives each figure a title (and axes labels where the axes mean something).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


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
        Images per row.
    title : str, optional
        Figure title.
    """
    images = list(images)
    if not images:
        raise ValueError("images is empty: nothing to show")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = max(1, min(ncols, len(images)))
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


def compare_rows(rows: Mapping[str, Sequence], title: str | None = None, size: float = 1.6,
                 max_cols: int = 8):
    """One row per method (gray input, ground truth, each model), one column per image.

    Parameters
    ----------
    rows : mapping of row label -> sequence of images
        All rows show the same images in the same order.
    """
    labels = list(rows)
    if not labels:
        raise ValueError("rows is empty: nothing to compare")
    ncols = min(max_cols, min(len(rows[k]) for k in labels))
    if ncols == 0:
        raise ValueError("every row must hold at least one image")
    fig, axes = plt.subplots(len(labels), ncols, figsize=(size * ncols + 1.2, size * len(labels)),
                             squeeze=False)
    for r, label in enumerate(labels):
        for c in range(ncols):
            ax = axes[r, c]
            shown = _as_display(rows[label][c])
            ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0,
                      vmax=1 if shown.dtype.kind == "f" else 255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None,
                 title: str = "Training history"):
    """Plot loss curves from a Keras-style history dict (``{"loss": [...], "val_loss": [...]}``)."""
    keys = list(keys) if keys is not None else [k for k in history if "loss" in k]
    if not keys:
        raise ValueError(f"no loss keys in history (keys: {sorted(history)})")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in keys:
        values = list(history[key])
        ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
