"""Losses: the rebalanced cross-entropy of Zhang et al. {cite}`zhang2016colorful` and the L2
chroma regression (ab, YUV UV or HSV hue + saturation), Keras serializable, in float32, for
predictions at the input or a reduced resolution.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from colorutils import color, quantize
from colorutils.color import AB_SCALE

__all__ = ["RebalancedCrossEntropy", "chroma_targets", "chroma_to_ab"]

CHROMA_SPACES = ("lab", "yuv", "hsv")  # regression targets: ab, UV, hue (circular) + saturation
_UV_MAX = (0.436, 0.615)  # largest |U| and |V| of sRGB colours (BT.601): targets are UV / _UV_MAX
HUE_SEAM = 0.5  # hue at the tanh ends, where it wraps: cyan, rare in photos (unlike HSV's red)


def _resize_like(y_true, y_pred, method: str):
    """Resize y_true to y_pred's spatial size; no ``tf.cond``, which breaks under XLA."""
    known = y_true.shape[1:3]
    if None not in known and known == y_pred.shape[1:3]:
        return y_true
    return tf.cast(tf.image.resize(y_true, tf.shape(y_pred)[1:3], method=method), y_true.dtype)


def _float32_rank4(y_true, y_pred, true_name, pred_name):
    y_pred = tf.cast(y_pred, tf.float32)
    y_true = tf.cast(y_true, tf.float32)
    for x, name in ((y_true, true_name), (y_pred, pred_name)):
        if x.shape.rank is not None and x.shape.rank != 4:
            raise ValueError(f"{name} has shape {x.shape}; expected [B, H, W, C].")
    return y_true, y_pred


def _check_space(space):
    if space not in CHROMA_SPACES:
        raise ValueError(f"space={space!r}; use one of {', '.join(CHROMA_SPACES)}.")


@keras.saving.register_keras_serializable(package="colorutils")
class RebalancedCrossEntropy(keras.losses.Loss):
    """Cross-entropy on soft-encoded ab targets, weighted per pixel (Zhang et al. 2016, eq. 2-4).

    ``loss = mean_pixels(w_{q*} · (- Σ_q Z_q log softmax(logits)_q))`` per image, ``Z`` the soft
    encoding of the true ab (subsampled to the logits' size) on its ``k`` nearest bins, ``q*``
    the nearest bin; ``weights`` (:func:`colorutils.quantize.rebalance_weights`) default to 1.
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
        y_true, y_pred = _float32_rank4(y_true, y_pred, "y_true (ab)", "y_pred (logits)")
        q = self.bins.shape[0]
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != q:
            raise ValueError(f"logits have {y_pred.shape[-1]} channels but the loss has {q} "
                             f"bins; build the model with num_bins={q}.")
        ab = _resize_like(y_true, y_pred, "nearest")
        idx, z = quantize.soft_encode_sparse(ab, self.bins, self.k, self.sigma)  # [B,h,w,k]
        # -Σ_q z_q log softmax(x)_q = logsumexp(x) - Σ_j z_j x_{idx_j} since Σ z = 1; a batched
        # gather, because a flat index built from tf.shape fails under XLA
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
    """L2 regression of chroma: ``mean(((y - ŷ) / AB_SCALE)²) / 2`` per image.

    ``y_true`` (:func:`chroma_targets` of ``space``) is resized (bilinear) to the prediction's
    size; the HSV hue error is circular (``d - 2 round(d / 2)``) and weighted by saturation.
    """

    def __init__(self, space: str = "lab", name: str = "ab_regression",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        _check_space(space)
        self.space = space

    def call(self, y_true, y_pred):
        y_true, y_pred = _float32_rank4(y_true, y_pred, "y_true", "y_pred")
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


def chroma_targets(l_norm, ab, space: str = "lab") -> tf.Tensor:
    """Chroma targets in the model's output units ``[-AB_SCALE, AB_SCALE]``; graph-safe.

    ``lab``: ab.  ``yuv``: ``AB_SCALE · (U / 0.436, V / 0.615)``.  ``hsv``:
    ``AB_SCALE · (2 H' - 1, 2 S - 1)`` with ``H' = (H - HUE_SEAM) mod 1``.
    """
    _check_space(space)
    ab = tf.cast(ab, tf.float32)
    if space == "lab":
        return ab
    rgb = color.lab_to_rgb(tf.concat([color.denormalize_l(tf.cast(l_norm, tf.float32)), ab], -1))
    if space == "yuv":
        uv = color.rgb_to_yuv(rgb, validate=False)[..., 1:]
        return AB_SCALE * uv / tf.constant(_UV_MAX, tf.float32)
    hsv = color.rgb_to_hsv(rgb, validate=False)
    hue = tf.math.floormod(hsv[..., :1] - HUE_SEAM, 1.0)
    return AB_SCALE * (2.0 * tf.concat([hue, hsv[..., 1:2]], -1) - 1.0)


def chroma_to_ab(l_norm, chroma, space: str = "lab") -> tf.Tensor:
    """Invert :func:`chroma_targets` to ab in Lab units.

    The channel the model does not predict (Y, V) is that of the gray of the same lightness.
    """
    _check_space(space)
    chroma = tf.cast(chroma, tf.float32)
    if space == "lab":
        return chroma
    lightness = color.denormalize_l(tf.cast(l_norm, tf.float32))
    gray = color.lab_to_rgb(tf.concat([lightness, tf.zeros_like(chroma)], -1))[..., :1]
    t = chroma / AB_SCALE
    if space == "yuv":
        rgb = color.yuv_to_rgb(tf.concat([gray, t * tf.constant(_UV_MAX, tf.float32)], -1))
    else:
        hs = tf.concat([tf.math.floormod((t[..., :1] + 1.0) / 2.0 + HUE_SEAM, 1.0),
                        tf.clip_by_value((t[..., 1:] + 1.0) / 2.0, 0.0, 1.0)], -1)
        rgb = color.hsv_to_rgb(tf.concat([hs, gray], -1))
    rgb = tf.clip_by_value(rgb, 0.0, 1.0)
    return color.rgb_to_lab(rgb, validate=False)[..., 1:]
