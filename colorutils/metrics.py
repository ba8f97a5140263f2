"""Colorization metrics per image (shape ``[B]``), as vectorized TensorFlow ops.

PSNR {cite}`huynh2008scope` (rewards gray guesses), SSIM {cite}`wang2004image`, the ab distance,
the AuC of per-pixel ab accuracy, plain or class-rebalanced {cite}`zhang2016colorful`, the
colourfulness {cite}`hasler2003measuring` and the semantic interpretability (does a colour-photo
classifier recognise the colorization?).  RGB is ``[B, H, W, 3]`` in ``[0, 1]`` (``uint8`` is
divided by 255), ab ``[B, H, W, 2]`` in Lab units; one image without the batch axis gives a
scalar.  PSNR and SSIM are meant for RGB rebuilt from the **true** L and the predicted ab
(:func:`colorutils.color.recombine`), so that they measure colour only.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from colorutils import color, quantize
from colorutils.color import as_batch

__all__ = ["psnr", "ssim", "ab_distance", "auc_accuracy", "colorfulness", "colorfulness_ratio",
           "mean_colorfulness_ratio", "classifier_correct", "semantic_interpretability",
           "colorization_metrics"]

#: Largest ab distance of the accuracy sweep of Zhang et al. (2016), in Lab units.
AUC_MAX_THRESHOLD = 150.0


def _pair(a, b, channels: int, names: tuple[str, str], *, rgb: bool = False):
    a, single = as_batch(a, channels, names[0], rgb=rgb)
    b, _ = as_batch(b, channels, names[1], rgb=rgb)
    if a.shape.is_fully_defined() and b.shape.is_fully_defined() and a.shape != b.shape:
        raise ValueError(
            f"{names[0]} has shape {tuple(a.shape)} but {names[1]} has {tuple(b.shape)}; "
            f"resize the prediction to the reference first (colorutils.inference.predict_ab "
            f"returns full resolution).")
    return a, b, single


def _out(values, single: bool):
    return values[0] if single else values


def psnr(rgb_true, rgb_pred, max_val: float = 1.0):
    """Peak signal-to-noise ratio per image in dB (``tf.image.psnr``), ``+inf`` if identical.

    .. math:: \\mathrm{PSNR} = 10 \\log_{10} \\frac{\\mathrm{MAX}^2}{\\mathrm{MSE}}

    A desaturated guess beats a vivid one in the wrong hue {cite}`zhang2016colorful`.
    """
    a, b, single = _pair(rgb_true, rgb_pred, 3, ("rgb_true", "rgb_pred"), rgb=True)
    return _out(tf.image.psnr(a, b, max_val=max_val), single)


def ssim(rgb_true, rgb_pred, max_val: float = 1.0, filter_size: int = 11):
    """Structural similarity per image (``tf.image.ssim``, Gaussian window, sigma 1.5).

    .. math:: \\mathrm{SSIM}(x, y) = \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
              {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)}

    averaged over windows and channels, ``C1 = (0.01 MAX)^2``, ``C2 = (0.03 MAX)^2``
    {cite}`wang2004image`.  The window shrinks to the side of tiny images.
    """
    a, b, single = _pair(rgb_true, rgb_pred, 3, ("rgb_true", "rgb_pred"), rgb=True)
    side = min(d for d in (a.shape[1], a.shape[2], filter_size) if d is not None)
    return _out(tf.image.ssim(a, b, max_val=max_val, filter_size=int(side)), single)


def _ab_dist(ab_true, ab_pred):
    a, b, single = _pair(ab_true, ab_pred, 2, ("ab_true", "ab_pred"))
    return tf.norm(a - b, axis=-1), single  # [B, H, W]


def ab_distance(ab_true, ab_pred):
    """Mean Euclidean distance in the ab plane per image, in Lab units.

    .. math:: d = \\frac{1}{HW} \\sum_x \\lVert ab_x - \\widehat{ab}_x \\rVert_2
    """
    d, single = _ab_dist(ab_true, ab_pred)
    return _out(tf.reduce_mean(d, axis=[1, 2]), single)


def _pixel_weights(ab_true, weights, bins=None, chunk: int = 65536):
    """``weights[q(ab_true)]`` per pixel ``[B, H, W]``, ``q`` the nearest of ``bins`` ``[Q, 2]``
    (default: the grid of ``len(weights)`` bins), ``chunk`` pixels at a time."""
    ab, _ = as_batch(ab_true, 2, "ab_true")
    weights = tf.convert_to_tensor(np.asarray(weights, dtype=np.float32).reshape(-1))
    if bins is None:
        bins = quantize.ab_bins(quantize.grid_size_for(int(weights.shape[0])))
    bins = tf.convert_to_tensor(np.asarray(bins, dtype=np.float32))
    if bins.shape.rank != 2 or bins.shape[-1] != 2 or bins.shape[0] != weights.shape[0]:
        raise ValueError(
            f"bins has shape {tuple(bins.shape)} but weights has {weights.shape[0]} entries; "
            f"pass the bins the weights were computed for ([Q, 2]).")
    flat = tf.reshape(ab, [-1, 2])
    b2 = tf.reduce_sum(bins**2, axis=-1)
    out = []
    for start in range(0, int(flat.shape[0]), chunk):
        x = flat[start:start + chunk]
        d2 = (tf.reduce_sum(x**2, -1, keepdims=True) - 2.0 * tf.matmul(x, bins, transpose_b=True)
              + b2)
        out.append(tf.gather(weights, tf.argmin(d2, axis=-1)))
    w = tf.concat(out, 0) if out else tf.zeros([0], tf.float32)
    return tf.reshape(w, tf.shape(ab)[:3])


def auc_accuracy(ab_true, ab_pred, weights=None, bins=None, *,
                 max_threshold: float = AUC_MAX_THRESHOLD, step: float = 1.0):
    """Area under the per-pixel ab accuracy curve per image, thresholds ``0, step, ..., 150``.

    .. math:: \\mathrm{acc}(t) = \\frac{\\sum_x w_x [d_x \\le t]}{\\sum_x w_x}, \\qquad
              \\mathrm{AuC} = \\frac{1}{150} \\int_0^{150} \\mathrm{acc}(t)\\, dt

    (trapezoidal rule) {cite}`zhang2016colorful`.  Plain: ``w_x = 1``; rebalanced: ``weights``
    ``[Q]`` of their ``bins`` ``[Q, 2]`` (:func:`colorutils.quantize.rebalance_weights`) weight
    each pixel by the bin of its true colour.
    """
    if max_threshold <= 0 or step <= 0:
        raise ValueError(f"max_threshold={max_threshold!r} and step={step!r} must be positive.")
    d, single = _ab_dist(ab_true, ab_pred)
    # Each pixel's share of the area in closed form: (n - I[d <= T]/2 - I[d == 0]/2) / K,
    # n the number of thresholds t_k >= d.
    k = float(max_threshold) / float(step)
    n = tf.clip_by_value(k - tf.math.ceil(d / float(step)) + 1.0, 0.0, k + 1.0)
    within = tf.cast(d <= float(max_threshold), tf.float32)
    scores = (n - 0.5 * within - 0.5 * tf.cast(d <= 0.0, tf.float32)) / k
    if weights is None:
        auc = tf.reduce_mean(scores, axis=[1, 2])
    else:
        w = _pixel_weights(ab_true if not single else ab_true[None], weights, bins)
        auc = tf.math.divide_no_nan(tf.reduce_sum(w * scores, axis=[1, 2]),
                                    tf.reduce_sum(w, axis=[1, 2]))
    return _out(auc, single)


def colorfulness(rgb):
    """Colourfulness per image on the 0-255 scale {cite}`hasler2003measuring`.

    .. math:: rg = R - G, \\quad yb = \\tfrac12 (R + G) - B, \\quad
              M = \\sqrt{\\sigma_{rg}^2 + \\sigma_{yb}^2} + 0.3 \\sqrt{\\mu_{rg}^2 + \\mu_{yb}^2}

    over the pixels (no absolute values).  Gray scores 0; 15 is "slightly", 33 "moderately",
    59 "quite" and 109 "extremely" colourful.
    """
    x, single = as_batch(rgb, 3, "rgb", rgb=True)
    r, g, b = tf.unstack(x * 255.0, axis=-1)
    mean_rg, var_rg = tf.nn.moments(r - g, axes=[1, 2])
    mean_yb, var_yb = tf.nn.moments(0.5 * (r + g) - b, axes=[1, 2])
    m = tf.sqrt(tf.maximum(var_rg + var_yb, 0.0)) + 0.3 * tf.sqrt(mean_rg**2 + mean_yb**2)
    return _out(m, single)


def colorfulness_ratio(rgb_true, rgb_pred, eps: float = 1e-6):
    """``colorfulness(rgb_pred) / colorfulness(rgb_true)`` per image; NaN where the reference
    is gray (below ``eps``)."""
    a, b, single = _pair(rgb_true, rgb_pred, 3, ("rgb_true", "rgb_pred"), rgb=True)
    mt, mp = colorfulness(a), colorfulness(b)
    ratio = tf.where(mt > eps, mp / tf.maximum(mt, eps), tf.fill(tf.shape(mt), np.nan))
    return _out(ratio, single)


def mean_colorfulness_ratio(rgb_true, rgb_pred) -> float:
    """Mean colourfulness of a set of colorizations over the true photos' mean."""
    return float(np.mean(colorfulness(rgb_pred)) / np.mean(colorfulness(rgb_true)))


def classifier_correct(classifier, rgb, labels, batch_size: int = 64):
    """Whether ``classifier`` (RGB in ``[0, 1]`` -> logits, or a dict with ``"label"``)
    labels each image right: bool ``[B]``."""
    x, _ = as_batch(rgb, 3, "rgb", rgb=True)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
    if labels.shape[0] != x.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} entries for {x.shape[0]} images.")
    logits = []
    for start in range(0, int(x.shape[0]), batch_size):
        y = classifier(x[start:start + batch_size], training=False)
        if isinstance(y, dict):
            if "label" not in y:
                raise ValueError(f"classifier returns a dict with keys {sorted(y)}; expected "
                                 f"plain logits or a dict with a 'label' entry.")
            y = y["label"]
        logits.append(tf.convert_to_tensor(y))
    return tf.equal(tf.argmax(tf.concat(logits, 0), axis=-1), labels)


def _gray_rgb(rgb):
    """The gray version of RGB images: true L, ``a = b = 0``."""
    x, single = as_batch(rgb, 3, "rgb", rgb=True)
    lab = color.rgb_to_lab(x)
    gray = color.lab_to_rgb(tf.concat([lab[..., :1], tf.zeros_like(lab[..., 1:])], -1))
    return _out(gray, single)


def semantic_interpretability(classifier, rgb_true, labels, colorized=None, *,
                              gray=None, batch_size: int = 64) -> dict[str, float]:
    """Accuracy of a colour-photo classifier on real, gray and colorized images
    {cite}`zhang2016colorful` (Table 1): ``{"ground_truth", "gray", <name or "colorized">}``.

    ``colorized`` is one array or a dict ``name -> array``; ``gray`` defaults to ``ab = 0``.
    """
    sets = {"ground_truth": rgb_true, "gray": _gray_rgb(rgb_true) if gray is None else gray}
    if isinstance(colorized, dict):
        sets.update(colorized)
    elif colorized is not None:
        sets["colorized"] = colorized
    return {name: float(tf.reduce_mean(tf.cast(
        classifier_correct(classifier, images, labels, batch_size), tf.float32)))
        for name, images in sets.items()}


def colorization_metrics(l_norm, ab_true, ab_pred, weights=None, bins=None,
                         rgb_true=None) -> dict[str, np.ndarray]:
    """Every per-image metric of one batch as float64 arrays ``[B]`` (``auc_rebalanced`` only
    with ``weights``); RGB from ``color.recombine`` unless ``rgb_true`` is given."""
    ab_pred = tf.convert_to_tensor(ab_pred, tf.float32)
    if rgb_true is None:
        rgb_true = color.recombine(l_norm, ab_true)
    rgb_pred = color.recombine(l_norm, ab_pred)
    out = {"psnr": psnr(rgb_true, rgb_pred), "ssim": ssim(rgb_true, rgb_pred),
           "ab_distance": ab_distance(ab_true, ab_pred), "auc": auc_accuracy(ab_true, ab_pred)}
    if weights is not None:
        out["auc_rebalanced"] = auc_accuracy(ab_true, ab_pred, weights, bins)
    out.update(colorfulness=colorfulness(rgb_pred), colorfulness_true=colorfulness(rgb_true),
               colorfulness_ratio=colorfulness_ratio(rgb_true, rgb_pred))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
