"""Colorization as classification: the quantized ab plane, soft targets, priors and decoding.

Zhang, Isola and Efros {cite}`zhang2016colorful` turn colorization into classification: the ab
plane of CIE Lab is cut into square cells of side ``grid_size`` (10 Lab units), the cells that
hold colours of the output gamut become the ``Q`` classes, and the network predicts a
distribution ``Z`` over them at every pixel.  This module holds every piece of that recipe that
is not a network:

``ab_bins`` / ``grid_size_for``
    the in-gamut bin centres for a grid size, and the inverse (which grid gives ``Q`` bins).
``soft_encode``
    the training target: each true ab value spread over its ``k`` nearest bin centres with
    Gaussian weights (a TF op: a precomputed table of candidate bins per 1-unit ab cell, then
    exact distances to the candidates and ``tf.math.top_k``; no per-pixel Python search).
``nearest_bin``
    hard quantization (bin index of each ab value).
``empirical_prior`` / ``smooth_prior`` / ``rebalance_weights``
    the colour prior ``p`` of a dataset and the class-rebalancing weights
    ``w ∝ ((1 - λ) p + λ / Q)^-1`` with ``E_p[w] = 1``.
``decode`` / ``smooth_chroma``
    from a predicted distribution back to ab: mode, mean or annealed mean
    ``f_T(z) = exp(log z / T) / Σ exp(log z / T)`` (``T = 0.38``), and optional Gaussian
    smoothing of the predicted chroma.

The gamut
---------
A bin centre ``c = grid_size * (i, j)`` is kept when its cell ``[c - g/2, c + g/2)²`` contains
the ab coordinates of at least one sRGB colour (any lightness).  The set of ab values reachable
from sRGB is the projection of the Lab image of the RGB cube onto the ab plane; the projection of
a solid equals the projection of its surface, and its outline comes from the 12 edges of the
cube, so the module samples the 6 faces (128 x 128 each) plus the 12 edges (20 001 points each)
and converts them with the sRGB (D65, 2 degree observer) formula of :mod:`colorutils.color`.
This gives :data:`NUM_BINS_GRID10` = 262 bins at grid 10 (972 at grid 5, 77 at grid 20, 40 at
grid 30); denser sampling (1024 x 1024 per face) gives the same counts.

Zhang et al. keep Q = 313 bins at grid 10 (their ``pts_in_hull.npy``); the paper does not say
how that set was computed.  Their centres are also multiples of 10, so since every sRGB colour
falls in one of our 262 cells, at least 51 of their 313 cells contain no sRGB colour at all:
their "gamut" is wider than sRGB (the file name suggests the points inside a hull of some point
set).  A class that no training pixel can belong to only costs parameters, so the difference
does not change the method; the book uses the exact sRGB set, and any model built with
``num_bins = len(ab_bins())`` follows it.

The module is one recipe: its parts (bins, soft encoding, prior, decoding) share the bin set,
its checks and its lookup table, and a chapter reads it top to bottom as the method of the
paper.

References
----------
Zhang, R., Isola, P., Efros, A. A. (2016). Colorful Image Colorization. ECCV.
Official code: github.com/richzhang/colorization (``NNEncode``: k = 10, sigma = 5; the paper
text says 5 neighbours).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import tensorflow as tf

from colorutils import color, files

GRID_SIZE = 10
"""Side of the square ab cells, in Lab units (Zhang et al.: 10)."""
TEMPERATURE = 0.38
"""Annealed-mean temperature of Zhang et al. (between the mean, T = 1, and the mode, T -> 0)."""
REBALANCE_LAMBDA = 0.5
"""Weight λ of the uniform distribution mixed into the prior before inverting it."""
SOFT_SIGMA = 5.0
"""Standard deviation (Lab units) of the Gaussian soft encoding and of the prior smoothing."""
SOFT_K = 10
"""Neighbours of the soft encoding: 10 in the official training code (the paper says 5)."""
GRAY_THRESHOLD = 5.0
"""An image counts as colour (for the prior) if some pixel has |a| or |b| above this value."""
NUM_BINS_GRID10 = 262
"""Number of in-gamut bins at grid 10 for the sRGB gamut (Zhang et al.: 313; see module doc)."""
DECODE_METHODS = ("annealed_mean", "mean", "mode")

_FACE_SAMPLES = 128
_EDGE_SAMPLES = 20001


# --------------------------------------------------------------------------------------------
# The gamut and its bins
# --------------------------------------------------------------------------------------------

def _srgb_to_ab_numpy(rgb: np.ndarray) -> np.ndarray:
    """ab of sRGB colours in [0, 1] (float64 numpy; the formula of colorutils.color)."""
    lab = color.rgb_to_lab(tf.constant(rgb, tf.float64)).numpy()
    return lab[:, 1:]


@functools.lru_cache(maxsize=1)
def _gamut_ab_points() -> np.ndarray:
    """ab coordinates of the RGB cube's faces and (densely) of its 12 edges, float64 [N, 2]."""
    t = np.linspace(0.0, 1.0, _FACE_SAMPLES)
    u, v = (g.ravel() for g in np.meshgrid(t, t, indexing="ij"))
    e = np.linspace(0.0, 1.0, _EDGE_SAMPLES)
    points = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for value in (0.0, 1.0):  # the two faces orthogonal to `axis`
            p = np.empty((u.size, 3))
            p[:, axis], p[:, others[0]], p[:, others[1]] = value, u, v
            points.append(p)
        for c0, c1 in itertools.product((0.0, 1.0), repeat=2):  # the 4 edges along `axis`
            p = np.empty((e.size, 3))
            p[:, axis], p[:, others[0]], p[:, others[1]] = e, c0, c1
            points.append(p)
    return _srgb_to_ab_numpy(np.concatenate(points))


def _check_grid(grid_size) -> int:
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) \
            or not 2 <= grid_size <= 128:
        raise ValueError(f"grid_size={grid_size!r} must be an integer between 2 and 128 "
                         f"(Lab units; Zhang et al. use {GRID_SIZE}).")
    return int(grid_size)


@functools.lru_cache(maxsize=256)
def _ab_bins_cached(grid_size: int) -> np.ndarray:
    cells = np.round(_gamut_ab_points() / grid_size).astype(np.int64)
    keys = np.unique((cells[:, 0] + 4096) * 8192 + (cells[:, 1] + 4096))  # sorted by a, then b
    ij = np.stack([keys // 8192 - 4096, keys % 8192 - 4096], axis=1)
    return (ij * grid_size).astype(np.float32)


def ab_bins(grid_size: int = GRID_SIZE) -> np.ndarray:
    """Centres of the in-gamut ab bins for a square grid.

    A centre ``c = grid_size * (i, j)`` is kept when its cell ``[c - g/2, c + g/2)²`` contains
    the ab value of at least one sRGB colour (see the module docstring for how the gamut is
    sampled and why Zhang et al. have 313 bins at grid 10 where sRGB gives 262).

    Parameters
    ----------
    grid_size : int
        Side of a cell in Lab units (default :data:`GRID_SIZE` = 10); 2 to 128.

    Returns
    -------
    np.ndarray
        float32 ``[Q, 2]`` (a, b) centres, sorted by a then b.  A fresh copy: safe to modify.

    Examples
    --------
    >>> ab_bins(10).shape
    (262, 2)
    """
    return _ab_bins_cached(_check_grid(grid_size)).copy()


def grid_size_for(num_bins: int) -> int:
    """The grid size whose in-gamut bins number ``num_bins`` (the inverse of ``len(ab_bins(g))``).

    Used to recover the bins of a classification model from its output channels.

    Raises
    ------
    ValueError
        If no grid size between 2 and 128 gives ``num_bins`` bins.
    """
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
        raise ValueError(f"num_bins={num_bins!r} must be a positive integer.")
    # Q is about (262 * 100) / g² (area / cell area); look at the grids within a factor 2 of
    # that estimate, nearest first (boundary cells make the estimate rough at coarse grids).
    area = NUM_BINS_GRID10 * GRID_SIZE**2
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
    """Lay per-bin values on the 2-D ab grid, for heat maps.

    Parameters
    ----------
    values : array [Q]
        One value per bin (a prior, weights, counts).
    bins : array [Q, 2]
        Bin centres from :func:`ab_bins`.
    fill : float
        Value of grid cells that hold no bin.

    Returns
    -------
    grid : np.ndarray [n_b, n_a]
        ``grid[j, i]`` is the value at ``a = a_values[i]``, ``b = b_values[j]`` (row = b, so
        ``plt.imshow(grid, origin="lower", extent=extent)`` puts a on x and b on y).
    extent : tuple
        ``(a_min, a_max, b_min, b_max)`` of the cell edges, for ``imshow``.
    """
    values = np.asarray(values, np.float64)
    bins = np.asarray(bins, np.float64)
    if values.shape != (bins.shape[0],):
        raise ValueError(f"values has shape {values.shape}; expected ({bins.shape[0]},), one "
                         f"value per bin.")
    g = _grid_of(bins)
    idx = np.round(bins / g).astype(int)
    lo = idx.min(0)
    n = idx.max(0) - lo + 1
    grid = np.full((n[1], n[0]), fill, np.float64)
    grid[idx[:, 1] - lo[1], idx[:, 0] - lo[0]] = values
    extent = ((lo[0] - 0.5) * g, (lo[0] + n[0] - 0.5) * g,
              (lo[1] - 0.5) * g, (lo[1] + n[1] - 0.5) * g)
    return grid, extent


def _grid_of(bins: np.ndarray) -> float:
    """The grid spacing of a set of bin centres (smallest positive coordinate difference)."""
    diffs = np.abs(np.diff(np.unique(np.asarray(bins)[:, 0])))
    diffs = diffs[diffs > 0]
    return float(diffs.min()) if diffs.size else float(GRID_SIZE)


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------

def check_bins(bins) -> np.ndarray:
    """``bins`` as float32 ``[Q, 2]`` ab centres, or a ValueError naming the expected shape."""
    bins = np.asarray(bins, np.float32)
    if bins.ndim != 2 or bins.shape[1] != 2 or bins.shape[0] < 1:
        raise ValueError(f"bins has shape {bins.shape}; expected [Q, 2] ab centres "
                         f"(colorutils.quantize.ab_bins()).")
    return bins


def _flat_ab(ab, name: str = "ab"):
    ab = tf.convert_to_tensor(ab)
    if ab.shape.rank is not None and (ab.shape.rank < 1 or ab.shape[-1] != 2):
        raise ValueError(f"{name} has shape {ab.shape}; expected [..., 2] (a, b in Lab units).")
    ab = tf.cast(ab, tf.float32)
    return tf.reshape(ab, [-1, 2]), tf.shape(ab)[:-1]


_LUT_STEP = 1.0
_LUT_LIMIT = 130.0


@functools.lru_cache(maxsize=16)
def _candidate_table(bins_bytes: bytes, q: int, k: int):
    """Candidate bins for every cell of a fine lookup grid over the ab plane.

    The plane [-130, 130]² is cut into cells of side ``_LUT_STEP`` (1 Lab unit).  For a cell
    with centre ``x0`` and half-diagonal ``r``, every bin among the ``k`` nearest of any point
    ``x`` in the cell lies within ``d_k(x0) + 2r`` of ``x0`` (triangle inequality: its distance
    to ``x`` is at most ``d_k(x) <= d_k(x0) + r``).  Those bins are the cell's candidates, so a
    top-k over the candidates is exact.  Rows are padded with the sentinel index ``q`` (a bin
    placed far away).  Returns ``(table int32 [cells, M], coords float32 [cells, 2 M], n)``:
    the candidates' indices and their (a, b) centres, one contiguous row per cell.
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
    """The soft encoding of :func:`soft_encode` in sparse form: ``k`` bin indices and weights.

    This is what the loss uses (the cross-entropy only needs the ``k`` non-zero terms).  The
    neighbour search is a lookup plus a small exact search: the ab value's cell in a
    precomputed 1-Lab-unit grid gives at most 16 candidate bins at grid 10 (a set that provably contains the
    ``k`` nearest, see ``_candidate_table``), then distances to the candidates and
    ``tf.math.top_k``.  Values outside [-130, 130]² (never produced by sRGB) use the candidates
    of the nearest border cell, which is approximate.

    Returns
    -------
    idx : tf.Tensor int32 [..., k]
        Bin indices, nearest first.
    weights : tf.Tensor float32 [..., k]
        Gaussian weights ``exp(-d²/2σ²)`` normalised to sum 1.
    """
    bins = check_bins(bins)
    q = bins.shape[0]
    check_k_sigma(k, sigma, q)
    table, coords, n = _candidate_table(bins.tobytes(), q, int(k))
    m = table.shape[1]
    flat, lead = _flat_ab(ab)
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
    """Soft-encode ab values onto their ``k`` nearest bins with Gaussian weights.

    For a pixel with colour ``y`` and its ``k`` nearest centres ``c_1..c_k``::

        z_q = exp(-|y - c_q|² / (2 σ²)) / Σ_j exp(-|y - c_j|² / (2 σ²))   for the k nearest,
        z_q = 0                                                           otherwise.

    The official code of Zhang et al. (``NNEncode``) uses k = 10 and σ = 5; the paper text says
    5 neighbours.  The search is vectorized TF (lookup of candidate bins + ``tf.math.top_k``,
    see :func:`soft_encode_sparse`); no per-pixel Python.

    Parameters
    ----------
    ab : tensor [..., 2]
        ab in Lab units (any leading shape, e.g. [B, H, W, 2]).
    bins : array [Q, 2]
        Bin centres (:func:`ab_bins`).
    k : int
        Number of neighbours (1 gives a one-hot "hard" encoding), at most Q.
    sigma : float
        Gaussian standard deviation in Lab units.

    Returns
    -------
    tf.Tensor
        float32 ``[..., Q]``; every pixel's row sums to 1.
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


# --------------------------------------------------------------------------------------------
# Prior and rebalancing
# --------------------------------------------------------------------------------------------

def _ab_of(element):
    """The ab tensor of a dataset element: ``(l_norm, {"ab": ...})``, ``(l_norm, ab)`` or ab."""
    if isinstance(element, (tuple, list)):
        element = element[1] if len(element) > 1 else element[0]
    if isinstance(element, dict):
        if "ab" not in element:
            raise ValueError(f"dataset targets have keys {sorted(element)}; need 'ab' "
                             f"(colorutils.data.load(..., output='lab')).")
        element = element["ab"]
    return element


def smooth_prior(prior, bins, sigma: float = SOFT_SIGMA) -> np.ndarray:
    """Gaussian-smooth a distribution over bins on the ab plane and renormalise it.

    The values are laid on the full ab grid (zero outside the gamut), convolved with a Gaussian
    of standard deviation ``sigma`` Lab units (``sigma / grid`` cells; separable, zero padding)
    and read back at the bins; mass that leaves the gamut is dropped before renormalising.
    ``sigma <= 0`` only renormalises.
    """
    bins = check_bins(bins)
    prior = np.asarray(prior, np.float64)
    if sigma is None or sigma <= 0:
        return prior / prior.sum()
    grid, _ = bins_to_grid(prior, bins, fill=0.0)
    g = _grid_of(bins)
    kernel = gaussian_kernel(float(sigma) / g)
    radius = (kernel.size - 1) // 2
    padded = np.pad(grid, radius)
    smoothed = np.apply_along_axis(np.convolve, 0, padded, kernel, mode="same")
    smoothed = np.apply_along_axis(np.convolve, 1, smoothed, kernel, mode="same")
    smoothed = smoothed[radius:-radius, radius:-radius]
    idx = np.round(bins / g).astype(int)
    lo = idx.min(0)
    out = smoothed[idx[:, 1] - lo[1], idx[:, 0] - lo[0]]
    return out / out.sum()


def empirical_prior(dataset, bins, *, sigma: float = SOFT_SIGMA,
                    gray_threshold: float = GRAY_THRESHOLD, max_batches: int | None = None,
                    return_counts: bool = False):
    """The empirical colour prior ``p`` of a dataset: how often each ab bin occurs.

    Streams the dataset once and counts, on the device, the nearest bin of every pixel
    (``tf.math.bincount``).  As in the official code (``NonGrayMaskLayer``), an image counts
    only if some pixel has ``|a|`` or ``|b|`` above ``gray_threshold`` (grayscale photos would
    pile up at ab = 0).  The histogram is then smoothed with a Gaussian of ``sigma`` Lab units
    (:func:`smooth_prior`; Zhang et al. use σ = 5) and normalised.

    Parameters
    ----------
    dataset : iterable
        Batches ``(l_norm, {"ab": [B, H, W, 2]})`` as from ``colorutils.data.load`` (also
        ``(l_norm, ab)`` or bare ab batches).
    bins : array [Q, 2]
    sigma : float
        Smoothing in Lab units; 0 for the raw histogram.
    gray_threshold : float
        Images whose pixels all have ``|a|, |b| <= gray_threshold`` are skipped; 0 keeps every
        image that is not exactly gray; a negative value keeps all.
    max_batches : int, optional
        Stop after this many batches.
    return_counts : bool
        Also return the raw counts (float64 [Q]) and the number of images used.

    Returns
    -------
    np.ndarray
        float64 ``[Q]`` summing to 1 (and ``counts, n_images`` if ``return_counts``).

    Raises
    ------
    ValueError
        If no colour pixel was seen.
    """
    bins = check_bins(bins)
    q = bins.shape[0]
    bins_t = bins  # captured constant

    @tf.function(reduce_retracing=True)
    def _count(ab):
        ab = tf.cast(ab, tf.float32)
        if ab.shape.rank == 3:
            ab = ab[None]
        colorful = tf.reduce_any(tf.abs(ab) > gray_threshold, axis=[1, 2, 3])  # [B]
        idx = nearest_bin(ab, bins_t)  # [B, H, W]
        weights = tf.broadcast_to(tf.cast(colorful, tf.float64)[:, None, None], tf.shape(idx))
        counts = tf.math.bincount(tf.reshape(idx, [-1]), weights=tf.reshape(weights, [-1]),
                                  minlength=q, maxlength=q, dtype=tf.float64)
        return counts, tf.reduce_sum(tf.cast(colorful, tf.int32))

    counts = np.zeros(q, np.float64)
    n_images = 0
    total = files.total_of(dataset)
    if max_batches is not None:
        total = max_batches if total is None else min(total, max_batches)
    with files.bar(total=total, desc="colour prior", unit="batch") as shown:
        for i, element in enumerate(dataset):
            if max_batches is not None and i >= max_batches:
                break
            c, n = _count(_ab_of(element))
            counts += c.numpy()
            n_images += int(n)
            shown.update()
    if counts.sum() <= 0:
        raise ValueError("empirical_prior saw no colour pixel: the dataset is empty or every "
                         f"image is gray (|a|,|b| <= gray_threshold={gray_threshold}); pass a "
                         "colour dataset or a lower gray_threshold.")
    prior = smooth_prior(counts, bins, sigma)
    return (prior, counts, n_images) if return_counts else prior


def rebalance_weights(prior, lam: float = REBALANCE_LAMBDA) -> np.ndarray:
    """Class-rebalancing weights of Zhang et al.: ``w ∝ ((1 - λ) p + λ / Q)^-1``, ``E_p[w] = 1``.

    Mixing the prior with the uniform distribution (weight λ) before inverting it bounds the
    weight of bins that never occur; λ = 1 gives uniform weights (no rebalancing), λ = 0 the
    plain inverse prior.  The scale is fixed by ``Σ_q p_q w_q = 1`` so that the rebalanced
    loss has the same magnitude as the plain one on data drawn from ``p``.

    Parameters
    ----------
    prior : array [Q]
        Non-negative, summing to 1 (:func:`empirical_prior`).
    lam : float
        λ in (0, 1] (0 is allowed only when every bin has positive probability).

    Returns
    -------
    np.ndarray
        float64 ``[Q]``; larger for rarer bins.
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


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

def decode(logits, bins, method: str = "annealed_mean", temperature: float = TEMPERATURE,
           from_logits: bool = True) -> tf.Tensor:
    """Turn a predicted distribution over bins into one ab value per pixel.

    ``mode``
        the centre of the most probable bin (vivid, but patchy across bin boundaries);
    ``mean``
        ``Σ_q z_q c_q`` (smooth, but desaturated: the mean of a multimodal distribution);
    ``annealed_mean``
        the mean of the re-tempered distribution ``f_T(z) ∝ exp(log z / T)``; ``T = 1`` is the
        mean, ``T -> 0`` the mode; Zhang et al. use ``T = 0.38``.  With logits
        ``f_T(z) = softmax(logits / T)``.

    Parameters
    ----------
    logits : tensor [..., Q]
        Logits (default) or probabilities (``from_logits=False``).
    bins : array [Q, 2]
    method : {"annealed_mean", "mean", "mode"}
    temperature : float
        T > 0, used by ``annealed_mean``.

    Returns
    -------
    tf.Tensor
        float32 ``[..., 2]`` ab in Lab units.
    """
    bins = check_bins(bins)
    if method not in DECODE_METHODS:
        raise ValueError(f"method={method!r}; use one of {', '.join(DECODE_METHODS)}.")
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


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian, ``exp(-x² / 2σ²) / Σ``, for ``x`` in ``-r..r``,
    ``r = max(1, ceil(3σ))`` (float64; ``sigma`` in samples).

    >>> gaussian_kernel(0.5).round(3).tolist()
    [0.0, 0.106, 0.787, 0.106, 0.0]
    """
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth_chroma(ab, sigma: float | None) -> tf.Tensor:
    """Gaussian blur of the predicted chroma, channel by channel (``sigma`` in pixels).

    Removes isolated speckles where neighbouring pixels are decoded into different modes; the
    lightness (which carries the detail) is untouched because only ab is smoothed.  Separable
    depthwise convolution with symmetric padding; ``sigma`` None or 0 returns ``ab`` unchanged.

    Parameters
    ----------
    ab : tensor [B, H, W, 2] (or [H, W, 2])
    sigma : float or None
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
    k = gaussian_kernel(float(sigma)).astype(np.float32)
    r = (k.size - 1) // 2
    h, w = ab.shape[1], ab.shape[2]
    if (h is not None and h <= r) or (w is not None and w <= r):
        raise ValueError(f"sigma={sigma} needs images larger than {r} pixels (got {h}x{w}).")
    kx = tf.constant(np.tile(k[None, :, None, None], (1, 1, 2, 1)))
    ky = tf.constant(np.tile(k[:, None, None, None], (1, 1, 2, 1)))
    x = tf.pad(ab, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
    x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "VALID")
    return x[0] if single else x
