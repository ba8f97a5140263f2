"""Losses of the book's colorization models: rebalanced cross-entropy and chroma regression.

:class:`RebalancedCrossEntropy`
    the classification loss of Zhang et al. {cite}`zhang2016colorful`:
    ``L(Z, Ẑ) = - Σ_pixels v(Z) Σ_q Z_q log Ẑ_q`` where ``Z`` is the soft encoding of the true
    ab (:func:`colorutils.quantize.soft_encode`), ``Ẑ = softmax(logits)`` and ``v(Z) = w_q*``
    the rebalancing weight of the pixel's nearest bin ``q* = argmax_q Z_q``.
:class:`ABRegressionLoss`
    the L2 baseline ``mean(((ab - ab_hat) / AB_SCALE)²)``, also on other chroma targets (YUV
    UV, HSV hue + saturation with a circular hue error; :func:`chroma_targets`).

Both accept predictions at a reduced resolution (the true ab is resized to the prediction's
size on the device), compute in float32 under mixed precision, and are registered Keras
serializable objects (``package="colorutils"``), so ``.keras`` files of compiled models load
with :func:`colorutils.train.load_model` (or ``keras.saving.load_model`` once this module is
imported).

References
----------
Zhang, R., Isola, P., Efros, A. A. (2016). Colorful Image Colorization. ECCV.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from colorutils import color, quantize
from colorutils.color import AB_SCALE

CHROMA_SPACES = ("lab", "yuv", "hsv")
"""Regression targets: Lab ab, YUV UV, HSV hue + saturation (hue is circular)."""
UV_MAX = (0.436, 0.615)
"""Largest |U| and |V| of sRGB colours (BT.601 YUV); the YUV targets are UV / UV_MAX."""
HUE_SEAM = 0.5
"""HSV hue (0-1) placed at the ends of the model's output range, where it wraps around.

The circular loss does not care where the seam is, but the network does: a ``tanh`` output
must saturate at +1 or -1 to reach the seam hue, and halfway between the two ends lies the
opposite hue.  With the seam at HSV's 0 (red), the commonest hues of photos (skin, wood,
brick) sit exactly there; at 0.5 (cyan, rare in photos) red maps to the output 0."""


def _resize_like(y_true, y_pred, method: str):
    """Resize y_true [B, H, W, C] to y_pred's spatial size (no-op when equal).

    The decision is static when both sizes are known; otherwise the resize always runs (at
    equal sizes "nearest" and "bilinear" return the input exactly).  No ``tf.cond``: XLA
    (``jit_compile=True``) gives a cond the static shape of one branch, which broke the loss.
    """
    known_true, known_pred = y_true.shape[1:3], y_pred.shape[1:3]
    if None not in known_true and None not in known_pred and known_true == known_pred:
        return y_true
    size = tf.shape(y_pred)[1:3]
    return tf.cast(tf.image.resize(y_true, size, method=method), y_true.dtype)


def _check_rank4(x, name):
    if x.shape.rank is not None and x.shape.rank != 4:
        raise ValueError(f"{name} has shape {x.shape}; expected [B, H, W, C].")


@keras.saving.register_keras_serializable(package="colorutils")
class RebalancedCrossEntropy(keras.losses.Loss):
    """Cross-entropy on soft-encoded ab targets with per-pixel class-rebalancing weights.

    ``loss = mean_pixels( w_{q*} · ( - Σ_q Z_q log softmax(logits)_q ) )`` per image, where
    ``Z`` is the Gaussian soft encoding of the true ab on its ``k`` nearest bins and ``q*``
    the nearest bin (Zhang et al. 2016, eq. 2-4).  Only the ``k`` non-zero terms are computed
    (:func:`colorutils.quantize.soft_encode_sparse`).  The true ab (full resolution) is
    subsampled to the logits' resolution with nearest-neighbour resizing, as the official
    code subsamples its targets.

    Parameters
    ----------
    bins : array [Q, 2], optional
        Bin centres; default :func:`colorutils.quantize.ab_bins` ().
    weights : array [Q], optional
        Rebalancing weights (:func:`colorutils.quantize.rebalance_weights`); None = all 1.
    k, sigma : int, float
        Soft-encoding neighbours and width (defaults: the official code's 10 and 5).

    Inputs: ``y_true`` ab in Lab units ``[B, H, W, 2]``; ``y_pred`` logits ``[B, h, w, Q]``.
    """

    def __init__(self, bins=None, weights=None, k: int = quantize.SOFT_K,
                 sigma: float = quantize.SOFT_SIGMA, name: str = "rebalanced_cross_entropy",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.bins = quantize.check_bins(quantize.ab_bins() if bins is None else bins)
        q = self.bins.shape[0]
        if weights is not None:
            weights = np.asarray(weights, np.float32)
            if weights.shape != (q,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError(f"weights must be {q} finite non-negative numbers, one per bin "
                                 f"(got shape {weights.shape}); use "
                                 f"colorutils.quantize.rebalance_weights(prior).")
        self.class_weights = weights
        quantize.check_k_sigma(k, sigma, q)
        self.k, self.sigma = int(k), float(sigma)

    def call(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.cast(y_true, tf.float32)
        _check_rank4(y_true, "y_true (ab)")
        _check_rank4(y_pred, "y_pred (logits)")
        q = self.bins.shape[0]
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != q:
            raise ValueError(f"logits have {y_pred.shape[-1]} channels but the loss has {q} "
                             f"bins; build the model with num_bins={q}.")
        ab = _resize_like(y_true, y_pred, "nearest")
        idx, z = quantize.soft_encode_sparse(ab, self.bins, self.k, self.sigma)  # [B,h,w,k]
        # -Σ_q z_q log softmax(x)_q = logsumexp(x) - Σ_j z_j x_{idx_j}, since Σ z = 1: only
        # k logits are gathered per pixel (a cheap sparse gradient). A batched gather, not a
        # flat one: the flat index built from tf.shape fails under XLA (jit_compile=True,
        # Keras' default on GPUs); same values, gradient and CPU speed.
        picked = tf.gather(y_pred, idx, batch_dims=3)
        ce = tf.reduce_logsumexp(y_pred, axis=-1) - tf.reduce_sum(z * picked, axis=-1)
        if self.class_weights is not None:
            ce = ce * tf.gather(tf.constant(self.class_weights), idx[..., 0])
        return tf.reduce_mean(ce, axis=[1, 2])

    def get_config(self):
        config = super().get_config()
        config.update(bins=self.bins.tolist(),
                      weights=None if self.class_weights is None else self.class_weights.tolist(),
                      k=self.k, sigma=self.sigma)
        return config


@keras.saving.register_keras_serializable(package="colorutils")
class ABRegressionLoss(keras.losses.Loss):
    """L2 regression of chroma: ``mean(((y - ŷ) / AB_SCALE)²)`` per image.

    The model emits two channels in ``[-AB_SCALE, AB_SCALE]`` (``tanh * AB_SCALE``).  With
    ``space="lab"`` (default) they are a and b and ``y_true`` is the pipeline's ab; with
    ``"yuv"`` or ``"hsv"`` the targets come from :func:`chroma_targets` and, for HSV, the hue
    error is circular (``d - 2 round(d / 2)`` in units where a full turn is 2) and weighted by
    the true saturation (the hue of a gray is undefined).  ``y_true`` is resized
    (bilinear, antialiased) to the prediction's size when they differ.
    """

    def __init__(self, space: str = "lab", name: str = "ab_regression",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if space not in CHROMA_SPACES:
            raise ValueError(f"space={space!r}; use one of {', '.join(CHROMA_SPACES)}.")
        self.space = space

    def call(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.cast(y_true, tf.float32)
        _check_rank4(y_true, "y_true")
        _check_rank4(y_pred, "y_pred")
        y_true = _resize_like(y_true, y_pred, "bilinear")
        d = (y_pred - y_true) / AB_SCALE
        if self.space == "hsv":
            hue = d[..., 0] - 2.0 * tf.round(d[..., 0] / 2.0)
            sat = (y_true[..., 1] / AB_SCALE + 1.0) / 2.0
            per_pixel = sat * tf.square(hue) + tf.square(d[..., 1])
        else:
            per_pixel = tf.reduce_sum(tf.square(d), axis=-1)
        return tf.reduce_mean(per_pixel, axis=[1, 2]) / 2.0

    def get_config(self):
        config = super().get_config()
        config.update(space=self.space)
        return config


def _check_space(space):
    if space not in CHROMA_SPACES:
        raise ValueError(f"space={space!r}; use one of {', '.join(CHROMA_SPACES)}.")


def chroma_targets(l_norm, ab, space: str = "lab") -> tf.Tensor:
    """Chroma regression targets in the model's output units (``[-AB_SCALE, AB_SCALE]``).

    ``lab``: ab itself.  ``yuv``: ``AB_SCALE · (U / 0.436, V / 0.615)`` of the sRGB colour.
    ``hsv``: ``AB_SCALE · (2 H' - 1, 2 S - 1)`` with ``H' = (H - HUE_SEAM) mod 1`` (hue
    as one circular channel, as in the source project that regressed H and S; the wrap-around
    moved to :data:`HUE_SEAM`).  Graph-safe: use it in ``dataset.map``.

    Parameters
    ----------
    l_norm : tensor [..., 1]
    ab : tensor [..., 2] Lab units
    """
    _check_space(space)
    ab = tf.cast(ab, tf.float32)
    if space == "lab":
        return ab
    rgb = color.lab_to_rgb(tf.concat([color.denormalize_l(tf.cast(l_norm, tf.float32)), ab], -1))
    if space == "yuv":
        uv = color.rgb_to_yuv(rgb, validate=False)[..., 1:]
        return AB_SCALE * uv / tf.constant(UV_MAX, tf.float32)
    hsv = color.rgb_to_hsv(rgb, validate=False)
    hue = tf.math.floormod(hsv[..., :1] - HUE_SEAM, 1.0)
    return AB_SCALE * (2.0 * tf.concat([hue, hsv[..., 1:2]], -1) - 1.0)


def chroma_to_ab(l_norm, chroma, space: str = "lab") -> tf.Tensor:
    """Invert :func:`chroma_targets`: model output in ``space`` -> ab in Lab units.

    YUV and HSV need a third channel that the model does not predict (Y, V); the value of the
    gray with the same lightness is used, the colour is converted to Lab, and its ab is kept
    (the true L is put back by :func:`colorutils.color.recombine`).
    """
    _check_space(space)
    chroma = tf.cast(chroma, tf.float32)
    if space == "lab":
        return chroma
    lightness = color.denormalize_l(tf.cast(l_norm, tf.float32))
    gray = color.lab_to_rgb(tf.concat([lightness, tf.zeros_like(chroma)], -1))[..., :1]
    t = chroma / AB_SCALE
    if space == "yuv":
        rgb = color.yuv_to_rgb(tf.concat([gray, t * tf.constant(UV_MAX, tf.float32)], -1))
    else:
        hs = tf.concat([tf.math.floormod((t[..., :1] + 1.0) / 2.0 + HUE_SEAM, 1.0),
                        tf.clip_by_value((t[..., 1:] + 1.0) / 2.0, 0.0, 1.0)], -1)
        rgb = color.hsv_to_rgb(tf.concat([hs, gray], -1))
    rgb = tf.clip_by_value(rgb, 0.0, 1.0)
    return color.rgb_to_lab(rgb, validate=False)[..., 1:]
