"""Colorization as classification {cite}`zhang2016colorful`: ab bins, soft targets, prior, decoding.

The ab plane is cut into square cells of side ``GRID_SIZE``; the cells holding sRGB colours
are the ``Q`` classes (262 at grid 10; Zhang et al. keep 313, 51 of which hold no sRGB colour).
A true ab is soft-encoded on its ``k`` nearest centres, the smoothed colour prior ``p`` gives
the weights ``w ∝ ((1 - λ) p + λ / Q)^-1`` and a prediction is decoded by the annealed mean.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import tensorflow as tf

from colorutils import color, files

__all__ = [
    "GRID_SIZE", "TEMPERATURE", "REBALANCE_LAMBDA", "ab_bins", "grid_size_for", "bins_to_grid",
    "soft_encode", "nearest_bin", "colour_photos", "empirical_prior", "rebalance_weights",
    "decode", "smooth_chroma",
]

GRID_SIZE = 10  # side of the square ab cells, in Lab units
TEMPERATURE = 0.38  # annealed mean: between the mean (T = 1) and the mode (T -> 0)
REBALANCE_LAMBDA = 0.5  # weight λ of the uniform distribution mixed into the prior
SOFT_SIGMA = 5.0  # Gaussian of the soft encoding and of the prior smoothing, in Lab units
SOFT_K = 10  # neighbours of the soft encoding (official code; the paper says 5)
GRAY_THRESHOLD = 5.0  # a photo has colour if some |a| or |b| exceeds it (colour_photos)
_NUM_BINS_GRID10 = 262
_DECODE_METHODS = ("annealed_mean", "mean", "mode")
_LUT_STEP = 1.0
_LUT_LIMIT = 130.0


@functools.lru_cache(maxsize=1)
def _gamut_ab_points() -> np.ndarray:
    """ab (float64 [N, 2]) of the RGB cube's 6 faces and, densely, its 12 edges.

    The ab projection of the cube's Lab image is that of its surface, outlined by the edges.
    """
    t = np.linspace(0.0, 1.0, 128)
    face = np.stack([g.ravel() for g in np.meshgrid(t, t, indexing="ij")], axis=1)
    e = np.linspace(0.0, 1.0, 20001)
    points = []
    for axis in range(3):  # the 2 faces orthogonal to `axis`, the 4 edges along it
        points += [np.insert(face, axis, value, axis=1) for value in (0.0, 1.0)]
        points += [np.insert(np.tile(corner, (e.size, 1)), axis, e, axis=1)
                   for corner in itertools.product((0.0, 1.0), repeat=2)]
    return color.rgb_to_lab(tf.constant(np.concatenate(points), tf.float64)).numpy()[:, 1:]


@functools.lru_cache(maxsize=256)
def _ab_bins_cached(grid_size: int) -> np.ndarray:
    cells = np.round(_gamut_ab_points() / grid_size).astype(np.int64)
    keys = np.unique((cells[:, 0] + 4096) * 8192 + (cells[:, 1] + 4096))  # sorted by a, then b
    ij = np.stack([keys // 8192 - 4096, keys % 8192 - 4096], axis=1)
    return (ij * grid_size).astype(np.float32)


def ab_bins(grid_size: int = GRID_SIZE) -> np.ndarray:
    """Centres (float32 [Q, 2], sorted by a then b; a copy) of the in-gamut ab bins.

    A centre ``c = grid_size * (i, j)`` is kept when its cell ``[c - g/2, c + g/2)²`` holds the
    ab value of some sRGB colour; ``grid_size`` is an integer from 2 to 128.

    >>> ab_bins(10).shape
    (262, 2)
    """
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) \
            or not 2 <= grid_size <= 128:
        raise ValueError(f"grid_size={grid_size!r} must be an integer between 2 and 128 "
                         f"(Lab units; Zhang et al. use {GRID_SIZE}).")
    return _ab_bins_cached(int(grid_size)).copy()


def grid_size_for(num_bins: int) -> int:
    """The grid size with ``num_bins`` in-gamut bins (the bins of a model from its outputs)."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
        raise ValueError(f"num_bins={num_bins!r} must be a positive integer.")
    # Q ~ 262 * 100 / g²: try the grids within a factor 2 of that estimate, nearest first.
    area = _NUM_BINS_GRID10 * GRID_SIZE**2
    lo, hi = np.sqrt(area / (2.0 * num_bins)), np.sqrt(2.0 * area / num_bins)
    estimate = np.sqrt(area / num_bins)
    candidates = sorted((g for g in range(2, 129) if lo <= g <= hi),
                        key=lambda g: abs(g - estimate))
    for g in candidates:
        if len(_ab_bins_cached(g)) == num_bins:
            return g
    examples = ", ".join(f"grid {g}: {len(_ab_bins_cached(g))}" for g in (5, 10, 20, 40))
    raise ValueError(f"num_bins={num_bins} is not the bin count of any ab grid ({examples}); "
                     f"build the model with num_bins=len(colorutils.quantize.ab_bins(grid_size)).")


def bins_to_grid(values, bins, fill=np.nan):
    """Lay one value per bin on the 2-D ab grid, for heat maps.

    Returns ``(grid, extent)``: ``grid[j, i]`` (float64, ``fill`` where no bin) is the value at
    ``a_i``, ``b_j`` and ``extent = (a_min, a_max, b_min, b_max)`` of the cell edges, so that
    ``plt.imshow(grid, origin="lower", extent=extent)`` puts a on x and b on y.
    """
    values = np.asarray(values, np.float64)
    bins = np.asarray(bins, np.float64)
    if values.shape != (bins.shape[0],):
        raise ValueError(f"values has shape {values.shape}; expected ({bins.shape[0]},), one "
                         f"value per bin.")
    g, cells, lo = _grid_cells(bins)
    n = cells.max(0) + 1
    grid = np.full((n[1], n[0]), fill, np.float64)
    grid[cells[:, 1], cells[:, 0]] = values
    extent = ((lo[0] - 0.5) * g, (lo[0] + n[0] - 0.5) * g,
              (lo[1] - 0.5) * g, (lo[1] + n[1] - 0.5) * g)
    return grid, extent


def _grid_cells(bins: np.ndarray):
    """``(spacing g, cell (i, j) of each bin counted from the first, first cell)`` of centres."""
    diffs = np.abs(np.diff(np.unique(np.asarray(bins)[:, 0])))
    diffs = diffs[diffs > 0]
    g = float(diffs.min()) if diffs.size else float(GRID_SIZE)
    idx = np.round(bins / g).astype(int)
    return g, idx - idx.min(0), idx.min(0)


def check_bins(bins) -> np.ndarray:
    """``bins`` as float32 ``[Q, 2]`` ab centres, or a ValueError naming the expected shape."""
    bins = np.asarray(bins, np.float32)
    if bins.ndim != 2 or bins.shape[1] != 2 or bins.shape[0] < 1:
        raise ValueError(f"bins has shape {bins.shape}; expected [Q, 2] ab centres "
                         f"(colorutils.quantize.ab_bins()).")
    return bins


@functools.lru_cache(maxsize=16)
def _candidate_table(bins_bytes: bytes, q: int, k: int):
    """Candidate bins (int32 [cells, M], padded with a far bin ``q``), their centres (float32
    [cells, 2 M]) and cells per axis, for 1-Lab-unit cells of [-130, 130]².

    The k nearest bins of any point of a cell (centre ``x0``, half-diagonal ``r``) lie within
    ``d_k(x0) + 2r`` of ``x0``, so a top-k over these candidates is exact.
    """
    bins = np.frombuffer(bins_bytes, np.float32).reshape(q, 2).astype(np.float64)
    n = int(round(2 * _LUT_LIMIT / _LUT_STEP))
    c = -_LUT_LIMIT + _LUT_STEP * (np.arange(n) + 0.5)
    centres = np.stack([g.ravel() for g in np.meshgrid(c, c, indexing="ij")], axis=1)
    reach = 2.0 * _LUT_STEP / np.sqrt(2.0) + 1e-6
    masks, dists = [], []
    for start in range(0, len(centres), 2048):
        d = np.sqrt(((centres[start:start + 2048, None, :] - bins[None]) ** 2).sum(-1))
        dk = np.partition(d, k - 1, axis=1)[:, k - 1]
        masks.append(d <= dk[:, None] + reach)
        dists.append(d.astype(np.float32))
    mask, dist = np.concatenate(masks), np.concatenate(dists)
    m = int(mask.sum(1).max())
    order = np.argsort(np.where(mask, dist, np.inf), axis=1, kind="stable")[:, :m]
    table = np.where(np.take_along_axis(mask, order, 1), order, q).astype(np.int32)
    bins_ext = np.concatenate([bins, [[1e4, 1e4]]]).astype(np.float32)
    return table, bins_ext[table].reshape(len(table), 2 * m), n


def check_k_sigma(k, sigma, q):
    """Refuse soft-encoding neighbours outside ``1..q`` or a non-positive width."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= q:
        raise ValueError(f"k={k!r} must be an integer between 1 and the number of bins ({q}).")
    if not sigma > 0:
        raise ValueError(f"sigma={sigma!r} must be positive (Lab units; default {SOFT_SIGMA}).")


def soft_encode_sparse(ab, bins, k: int = SOFT_K, sigma: float = SOFT_SIGMA):
    """:func:`soft_encode` as ``k`` bin indices (int32 [..., k], nearest first) and weights.

    The cross-entropy only needs these ``k`` terms. The ab value's cell of a 1-Lab-unit table
    gives a few candidate bins (at most 16 at grid 10), then exact distances and ``top_k``;
    values outside [-130, 130]² (never sRGB) use the nearest border cell, approximately.
    """
    bins = check_bins(bins)
    q = bins.shape[0]
    check_k_sigma(k, sigma, q)
    table, coords, n = _candidate_table(bins.tobytes(), q, int(k))
    m = table.shape[1]
    ab = tf.convert_to_tensor(ab)
    if ab.shape.rank is not None and (ab.shape.rank < 1 or ab.shape[-1] != 2):
        raise ValueError(f"ab has shape {ab.shape}; expected [..., 2] (a, b in Lab units).")
    ab = tf.cast(ab, tf.float32)
    flat, lead = tf.reshape(ab, [-1, 2]), tf.shape(ab)[:-1]
    ij = tf.clip_by_value(tf.cast(tf.floor((flat + _LUT_LIMIT) / _LUT_STEP), tf.int32), 0, n - 1)
    cell = ij[:, 0] * n + ij[:, 1]
    cand = tf.gather(tf.constant(table), cell)  # [N, M]
    diff = tf.reshape(tf.gather(tf.constant(coords), cell), [-1, m, 2]) - flat[:, None, :]
    d2 = tf.reduce_sum(diff * diff, axis=-1)  # [N, M]
    neg_d2, j = tf.math.top_k(-d2, k=int(k))  # [N, k], nearest first
    idx = tf.gather(cand, j, batch_dims=1)
    # Subtract the nearest distance before exponentiating: same weights, no underflow.
    w = tf.nn.softmax((neg_d2 - neg_d2[:, :1]) / (2.0 * float(sigma) ** 2), axis=-1)
    shape = tf.concat([lead, [int(k)]], axis=0)
    return tf.reshape(idx, shape), tf.reshape(w, shape)


def soft_encode(ab, bins, k: int = SOFT_K, sigma: float = SOFT_SIGMA) -> tf.Tensor:
    """Soft-encode ab ``[..., 2]`` on the ``k`` nearest bins: float32 ``[..., Q]``, rows sum to 1.

    ``z_q = exp(-|y - c_q|² / 2σ²) / Σ_j exp(-|y - c_j|² / 2σ²)`` over the k nearest centres,
    0 elsewhere {cite}`zhang2016colorful`; ``k = 1`` is one-hot.
    """
    bins = check_bins(bins)
    q = bins.shape[0]
    idx, w = soft_encode_sparse(ab, bins, k, sigma)
    lead = tf.shape(idx)[:-1]
    idx, w = tf.reshape(idx, [-1, int(k)]), tf.reshape(w, [-1, int(k)])
    rows = tf.repeat(tf.range(tf.shape(idx)[0])[:, None], int(k), axis=1)
    z = tf.scatter_nd(tf.stack([rows, idx], axis=-1), w, tf.stack([tf.shape(idx)[0], q]))
    return tf.reshape(z, tf.concat([lead, [q]], axis=0))


def nearest_bin(ab, bins) -> tf.Tensor:
    """Index of the nearest bin centre of every ab value: [..., 2] -> int32 [...]."""
    idx, _ = soft_encode_sparse(ab, check_bins(bins), k=1)
    return idx[..., 0]


def _smooth_prior(prior, bins, sigma: float = SOFT_SIGMA) -> np.ndarray:
    """Blur a distribution over bins on the ab grid (Gaussian of ``sigma`` Lab units; mass
    leaving the gamut is dropped) and renormalise it."""
    prior = np.asarray(prior, np.float64)
    if sigma is None or sigma <= 0:
        return prior / prior.sum()
    grid, _ = bins_to_grid(prior, bins, fill=0.0)
    g, cells, _ = _grid_cells(bins)
    kernel = _gaussian_kernel(float(sigma) / g)
    radius = (kernel.size - 1) // 2
    padded = np.pad(grid, radius)
    for axis in (0, 1):
        padded = np.apply_along_axis(np.convolve, axis, padded, kernel, mode="same")
    out = padded[radius:-radius, radius:-radius][cells[:, 1], cells[:, 0]]
    return out / out.sum()


def colour_photos(ab, threshold: float = GRAY_THRESHOLD):
    """Which photos have colour (bool tensor [B]): some ``|a|`` or ``|b|`` of ``ab`` [B, H, W, 2]
    above ``threshold`` Lab units.  The rest are gray photos: the colour prior skips them, as
    the official code does, and the quality goal leaves them out
    (:func:`colorutils.evaluation.quality_figures`).

    >>> colour_photos(np.stack([np.zeros((2, 2, 2)), np.full((2, 2, 2), 9.0)])).numpy()
    array([False,  True])
    """
    ab = tf.convert_to_tensor(ab, tf.float32)
    return tf.reduce_any(tf.abs(ab) > threshold, axis=[1, 2, 3])


def empirical_prior(dataset, bins, *, sigma: float = SOFT_SIGMA,
                    gray_threshold: float = GRAY_THRESHOLD, return_counts: bool = False):
    """The colour prior ``p`` (float64 [Q], sums to 1) of a dataset: how often each bin occurs.

    Counts the nearest bin of every pixel of ``dataset`` (batches ``(l_norm, {"ab": ...})``,
    ``(l_norm, ab)`` or ab) on the device; as in the official code, an image counts only if some
    ``|a|`` or ``|b|`` exceeds ``gray_threshold`` (negative: keep all). The histogram is smoothed
    with a Gaussian of ``sigma`` Lab units (0: raw) {cite}`zhang2016colorful`. With
    ``return_counts`` also returns the raw counts and the number of images used.
    """
    bins = check_bins(bins)
    q = bins.shape[0]

    @tf.function(reduce_retracing=True)
    def _count(ab):
        ab = tf.cast(ab, tf.float32)
        if ab.shape.rank == 3:
            ab = ab[None]
        colorful = colour_photos(ab, gray_threshold)  # [B]
        idx = nearest_bin(ab, bins)  # [B, H, W]
        weights = tf.broadcast_to(tf.cast(colorful, tf.float64)[:, None, None], tf.shape(idx))
        counts = tf.math.bincount(tf.reshape(idx, [-1]), weights=tf.reshape(weights, [-1]),
                                  minlength=q, maxlength=q, dtype=tf.float64)
        return counts, tf.reduce_sum(tf.cast(colorful, tf.int32))

    counts = np.zeros(q, np.float64)
    n_images = 0
    with files.bar(total=files.total_of(dataset), desc="colour prior", unit="batch") as shown:
        for element in dataset:
            if isinstance(element, (tuple, list)):
                element = element[1] if len(element) > 1 else element[0]
            if isinstance(element, dict):
                if "ab" not in element:
                    raise ValueError(f"dataset targets have keys {sorted(element)}; need 'ab' "
                                     f"(colorutils.data.load(..., output='lab')).")
                element = element["ab"]
            c, n = _count(element)
            counts += c.numpy()
            n_images += int(n)
            shown.update()
    if counts.sum() <= 0:
        raise ValueError("empirical_prior saw no colour pixel: the dataset is empty or every "
                         f"image is gray (|a|,|b| <= gray_threshold={gray_threshold}); pass a "
                         "colour dataset or a lower gray_threshold.")
    prior = _smooth_prior(counts, bins, sigma)
    return (prior, counts, n_images) if return_counts else prior


def rebalance_weights(prior, lam: float = REBALANCE_LAMBDA) -> np.ndarray:
    """Class-rebalancing weights (float64 [Q]): ``w ∝ ((1 - λ) p + λ / Q)^-1``, ``E_p[w] = 1``.

    Zhang et al. {cite}`zhang2016colorful`: λ = 1 gives uniform weights, λ = 0 the inverse prior
    (only if no bin is empty); ``Σ_q p_q w_q = 1`` keeps the loss's magnitude on data from ``p``.
    """
    p = np.asarray(prior, np.float64)
    if p.ndim != 1 or p.size < 1 or np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-4):
        raise ValueError("prior must be a non-negative vector [Q] that sums to 1 "
                         "(colorutils.quantize.empirical_prior).")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam={lam!r} must be in [0, 1] (Zhang et al.: {REBALANCE_LAMBDA}).")
    mix = (1.0 - lam) * p + lam / p.size
    if np.any(mix <= 0):
        raise ValueError("lam=0 with empty bins gives infinite weights; use lam > 0.")
    w = 1.0 / mix
    return w / np.sum(p * w)


def decode(logits, bins, method: str = "annealed_mean", temperature: float = TEMPERATURE,
           from_logits: bool = True) -> tf.Tensor:
    """A predicted distribution over bins ``[..., Q]`` -> one ab per pixel (float32 [..., 2]).

    ``mode``: the most probable centre (vivid, patchy); ``mean``: ``Σ_q z_q c_q`` (smooth,
    desaturated); ``annealed_mean`` {cite}`zhang2016colorful`: the mean of
    ``f_T(z) ∝ exp(log z / T)``, i.e. ``softmax(logits / T)`` (T = 1: mean, T -> 0: mode).
    ``logits`` are probabilities if ``from_logits=False``.
    """
    bins = check_bins(bins)
    if method not in _DECODE_METHODS:
        raise ValueError(f"method={method!r}; use one of {', '.join(_DECODE_METHODS)}.")
    x = tf.cast(tf.convert_to_tensor(logits), tf.float32)
    if x.shape.rank is not None and x.shape[-1] != bins.shape[0]:
        raise ValueError(f"logits have {x.shape[-1]} channels but there are {bins.shape[0]} "
                         f"bins; use ab_bins(grid_size_for({x.shape[-1]})).")
    if not from_logits:
        x = tf.math.log(tf.maximum(x, 0.0))  # -inf for empty bins: softmax gives them 0
    centres = tf.constant(bins)
    if method == "mode":
        return tf.gather(centres, tf.argmax(x, axis=-1))
    if method == "annealed_mean":
        if not temperature > 0:
            raise ValueError(f"temperature={temperature!r} must be > 0 (T -> 0 is the mode; "
                             f"use method='mode').")
        x = x / float(temperature)
    z = tf.nn.softmax(x, axis=-1)
    return tf.tensordot(z, centres, axes=[[-1], [0]])


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian ``exp(-x² / 2σ²)`` on ``-r..r``, ``r = max(1, ceil(3σ))``."""
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth_chroma(ab, sigma: float | None) -> tf.Tensor:
    """Gaussian blur (``sigma`` pixels; None or 0: none) of predicted ab [B, H, W, 2] or [H, W, 2].

    Removes speckles where neighbours decode to different modes; L keeps the detail. Separable
    depthwise convolution with symmetric padding.
    """
    ab = tf.cast(tf.convert_to_tensor(ab), tf.float32)
    if sigma is None or sigma == 0:
        return ab
    if sigma < 0:
        raise ValueError(f"sigma={sigma!r} must be >= 0 (pixels).")
    single = ab.shape.rank == 3
    if single:
        ab = ab[None]
    if ab.shape.rank != 4 or ab.shape[-1] != 2:
        raise ValueError(f"ab has shape {ab.shape}; expected [B, H, W, 2] or [H, W, 2].")
    k = _gaussian_kernel(float(sigma)).astype(np.float32)
    r = (k.size - 1) // 2
    h, w = ab.shape[1], ab.shape[2]
    if (h is not None and h <= r) or (w is not None and w <= r):
        raise ValueError(f"sigma={sigma} needs images larger than {r} pixels (got {h}x{w}).")
    x = tf.pad(ab, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
    for shape in ((-1, 1, 1, 1), (1, -1, 1, 1)):  # along y, then x
        kernel = tf.constant(np.tile(k.reshape(shape), (1, 1, 2, 1)))
        x = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID")
    return x[0] if single else x
