"""Colorization metrics, per image, as vectorized TensorFlow ops.

There is no single right colour for a shirt, so no single number says how good a colorization
is.  This module gathers the metrics the literature uses, each computed **per image** on a
batch (shape ``[B]``), so that a results table can show a distribution, not only a mean:

=========================  ==============================================  =====================
metric                     what it rewards                                 reference
=========================  ==============================================  =====================
:func:`psnr`               small RGB error; *rewards gray*, desaturated     Huynh-Thu & Ghanbari
                           guesses (the mean minimises squared error)       2008
:func:`ssim`               preserved local structure (mostly L, which is    Wang et al. 2004
                           given, so it moves little)
:func:`ab_distance`        small mean Euclidean error in the ab plane       Zhang et al. 2016
:func:`auc_accuracy`       the share of pixels whose ab lies within a       Zhang et al. 2016
                           threshold, swept 0..150; rebalanced: rare
                           colours count as much as common ones
:func:`colorfulness`      vivid images (no reference needed); compared to  Hasler & Suesstrunk
                           the truth by :func:`colorfulness_ratio`         2003
:func:`semantic_           whether a classifier trained on colour photos    Zhang et al. 2016
interpretability`          still recognises the colorized image
=========================  ==============================================  =====================

Conventions: RGB images are ``[B, H, W, 3]`` floats in ``[0, 1]`` (``uint8`` is divided by
255); ab images are ``[B, H, W, 2]`` in Lab units (a, b roughly in ``[-128, 127]``).  A single
image without the batch axis gives a scalar.  Every function returns a ``tf.Tensor``
(``np.asarray`` turns it into an array).  PSNR and SSIM are meant for RGB images rebuilt from
the **true** L and the predicted ab (:func:`colorutils.color.recombine`), so that they measure colour only.

References
----------
Hasler, D. and Suesstrunk, S. (2003). Measuring colourfulness in natural images. Proc. SPIE
5007, Human Vision and Electronic Imaging VIII.
Wang, Z., Bovik, A. C., Sheikh, H. R. and Simoncelli, E. P. (2004). Image quality assessment:
from error visibility to structural similarity. IEEE Trans. Image Processing 13(4).
Zhang, R., Isola, P. and Efros, A. A. (2016). Colorful image colorization. ECCV.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from colorutils import color, quantize
from colorutils.color import as_batch

#: Largest ab distance of the accuracy sweep of Zhang et al. (2016), in Lab units.
AUC_MAX_THRESHOLD = 150.0
#: Window of SSIM (Wang et al. 2004); shrunk to the image side for tiny images.
SSIM_FILTER_SIZE = 11
#: Weight of the mean term in the colourfulness of Hasler & Suesstrunk (2003).
COLORFULNESS_MEAN_WEIGHT = 0.3


# --------------------------------------------------------------------------- input checks
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


# --------------------------------------------------------------------------- RGB metrics
def psnr(rgb_true, rgb_pred, max_val: float = 1.0):
    """Peak signal-to-noise ratio per image, in dB (``tf.image.psnr``).

    .. math:: \\mathrm{PSNR} = 10 \\log_{10} \\frac{\\mathrm{MAX}^2}{\\mathrm{MSE}},
              \\quad \\mathrm{MSE} = \\frac{1}{3HW} \\sum_{x,c} (I_{x,c} - \\hat I_{x,c})^2

    Identical images have ``MSE = 0`` and the maximal PSNR, ``+inf``.  Because the mean
    minimises squared error, a desaturated guess scores *better* than a vivid colour in the
    wrong hue: PSNR rewards gray (Zhang et al. 2016, Sec. 3.1).

    Parameters
    ----------
    rgb_true, rgb_pred : array-like, ``[B, H, W, 3]`` or ``[H, W, 3]``
        Floats in ``[0, 1]`` (or uint8).
    max_val : float
        The dynamic range, 1 for images in ``[0, 1]``.

    Returns
    -------
    tf.Tensor float32 ``[B]`` (a scalar for a single image).

    References
    ----------
    Huynh-Thu, Q. and Ghanbari, M. (2008). Scope of validity of PSNR in image/video quality
    assessment. Electronics Letters 44(13).
    """
    a, b, single = _pair(rgb_true, rgb_pred, 3, ("rgb_true", "rgb_pred"), rgb=True)
    return _out(tf.image.psnr(a, b, max_val=max_val), single)


def ssim(rgb_true, rgb_pred, max_val: float = 1.0, filter_size: int = SSIM_FILTER_SIZE):
    """Structural similarity per image (``tf.image.ssim``, Gaussian window, sigma 1.5).

    .. math:: \\mathrm{SSIM}(x, y) = \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
              {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)}

    averaged over windows and channels; ``C1 = (0.01 MAX)^2``, ``C2 = (0.03 MAX)^2``.  It is 1
    for identical images.  ``filter_size`` is shrunk to the image side for images smaller than
    the window (the book's smoke runs use 16-32 px).

    References
    ----------
    Wang, Z., Bovik, A. C., Sheikh, H. R. and Simoncelli, E. P. (2004). Image quality
    assessment: from error visibility to structural similarity. IEEE TIP 13(4).
    """
    a, b, single = _pair(rgb_true, rgb_pred, 3, ("rgb_true", "rgb_pred"), rgb=True)
    side = min(d for d in (a.shape[1], a.shape[2], filter_size) if d is not None)
    return _out(tf.image.ssim(a, b, max_val=max_val, filter_size=int(side)), single)


# --------------------------------------------------------------------------- ab metrics
def _ab_dist(ab_true, ab_pred):
    a, b, single = _pair(ab_true, ab_pred, 2, ("ab_true", "ab_pred"))
    return tf.norm(a - b, axis=-1), single  # [B, H, W]


def ab_distance(ab_true, ab_pred):
    """Mean Euclidean distance in the ab plane per image, in Lab units.

    .. math:: d = \\frac{1}{HW} \\sum_x \\lVert ab_x - \\widehat{ab}_x \\rVert_2

    Zero for a perfect prediction; the gray baseline scores the mean chroma of the image.
    """
    d, single = _ab_dist(ab_true, ab_pred)
    return _out(tf.reduce_mean(d, axis=[1, 2]), single)


def _auc_pixel_scores(d, max_threshold: float, step: float):
    """The normalised area each pixel adds to the accuracy curve (closed form).

    A pixel at distance ``d`` is "correct" at every threshold ``t_k = k * step >= d``.  With
    ``K = max_threshold / step`` intervals, the trapezoidal area under its indicator curve,
    normalised by ``K``, is ``(n - I[d <= T]/2 - I[d == 0]/2) / K`` with ``n`` the number of
    thresholds ``t_k >= d``.  Summing these scores is exactly the trapezoidal AuC of the
    mean accuracy curve, without materialising a ``[pixels, thresholds]`` array.
    """
    k = max_threshold / step
    n = tf.clip_by_value(k - tf.math.ceil(d / step) + 1.0, 0.0, k + 1.0)
    within = tf.cast(d <= max_threshold, tf.float32)
    exact = tf.cast(d <= 0.0, tf.float32)
    return (n - 0.5 * within - 0.5 * exact) / k


def pixel_weights(ab_true, weights, bins=None, chunk: int = 65536):
    """The rebalancing weight of every pixel: ``weights[q(ab_true)]``.

    ``q`` is the nearest bin centre of the ab quantization (``colorutils.quantize.ab_bins``);
    ``weights`` are the per-bin rebalancing weights (``colorutils.quantize.rebalance_weights``).

    Parameters
    ----------
    ab_true : ``[B, H, W, 2]`` Lab units.
    weights : array-like ``[Q]``
    bins : array-like ``[Q, 2]``, optional
        Bin centres; default ``quantize.ab_bins(quantize.grid_size_for(Q))``.
    chunk : int
        Pixels per nearest-neighbour block (bounds memory to ``chunk * Q`` floats).

    Returns
    -------
    tf.Tensor float32 ``[B, H, W]``.
    """
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
        d2 = tf.reduce_sum(x**2, -1, keepdims=True) - 2.0 * tf.matmul(x, bins, transpose_b=True) + b2
        out.append(tf.gather(weights, tf.argmin(d2, axis=-1)))
    w = tf.concat(out, 0) if out else tf.zeros([0], tf.float32)
    return tf.reshape(w, tf.shape(ab)[:3])


def auc_accuracy(ab_true, ab_pred, weights=None, bins=None, *,
                 max_threshold: float = AUC_MAX_THRESHOLD, step: float = 1.0):
    """Area under the cumulative per-pixel accuracy curve, per image, in ``[0, 1]``.

    Zhang et al. (2016) count a pixel as correct at threshold ``t`` when its predicted ab lies
    within Euclidean distance ``t`` of the truth, sweep ``t = 0, 1, ..., 150`` and report the
    normalised area under the accuracy curve:

    .. math:: \\mathrm{acc}(t) = \\frac{\\sum_x w_x [d_x \\le t]}{\\sum_x w_x}, \\qquad
              \\mathrm{AuC} = \\frac{1}{150} \\int_0^{150} \\mathrm{acc}(t)\\, dt

    (trapezoidal rule on the integer thresholds).  A perfect prediction scores 1.

    *Plain*: ``w_x = 1``.  *Class-rebalanced*: pass the per-bin ``weights`` (e.g. the
    rebalancing weights of :mod:`colorutils.quantize`); each pixel is weighted by the weight
    of the bin of its **ground-truth** colour, so rare, saturated colours count as much as
    the common desaturated ones, and a gray guess no longer wins.

    Parameters
    ----------
    ab_true, ab_pred : ``[B, H, W, 2]`` (or ``[H, W, 2]``), Lab units.
    weights : array-like ``[Q]``, optional
        Per-bin weights; None gives the plain AuC.
    bins : array-like ``[Q, 2]``, optional
        The bin centres of ``weights`` (see :func:`pixel_weights`).
    max_threshold, step : float
        The sweep ``0, step, ..., max_threshold`` (150 and 1 in the paper).

    Returns
    -------
    tf.Tensor float32 ``[B]`` (a scalar for a single image).

    References
    ----------
    Zhang, R., Isola, P. and Efros, A. A. (2016). Colorful image colorization. ECCV, Sec. 3.1
    and Table 1.
    """
    if max_threshold <= 0 or step <= 0:
        raise ValueError(f"max_threshold={max_threshold!r} and step={step!r} must be positive.")
    d, single = _ab_dist(ab_true, ab_pred)
    scores = _auc_pixel_scores(d, float(max_threshold), float(step))
    if weights is None:
        auc = tf.reduce_mean(scores, axis=[1, 2])
    else:
        w = pixel_weights(ab_true if not single else ab_true[None], weights, bins)
        auc = tf.math.divide_no_nan(tf.reduce_sum(w * scores, axis=[1, 2]),
                                    tf.reduce_sum(w, axis=[1, 2]))
    return _out(auc, single)


# --------------------------------------------------------------------------- colourfulness
def colorfulness(rgb):
    """Colourfulness of Hasler & Suesstrunk (2003), per image, on the 0-255 scale.

    With ``R, G, B`` in ``[0, 255]`` (the paper's scale; our ``[0, 1]`` images are multiplied
    by 255):

    .. math:: rg = R - G, \\quad yb = \\tfrac12 (R + G) - B,

    .. math:: M = \\sqrt{\\sigma_{rg}^2 + \\sigma_{yb}^2}
              + 0.3 \\sqrt{\\mu_{rg}^2 + \\mu_{yb}^2}

    with means and standard deviations over the pixels of the image.  We use the published
    formula **without absolute values** (some implementations take ``|R - G|``, which makes
    a uniform-hue image look colourful when it is not).  Any gray image (``R = G = B``)
    scores 0; the paper's scale calls about 15 "slightly", 33 "moderately", 45 "averagely",
    59 "quite", 82 "highly" and 109 "extremely" colourful.

    References
    ----------
    Hasler, D. and Suesstrunk, S. (2003). Measuring colourfulness in natural images. Proc.
    SPIE 5007, Human Vision and Electronic Imaging VIII, pp. 87-95.
    """
    x, single = as_batch(rgb, 3, "rgb", rgb=True)
    x = x * 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    mean_rg, var_rg = tf.nn.moments(rg, axes=[1, 2])
    mean_yb, var_yb = tf.nn.moments(yb, axes=[1, 2])
    m = (tf.sqrt(tf.maximum(var_rg + var_yb, 0.0))
         + COLORFULNESS_MEAN_WEIGHT * tf.sqrt(mean_rg**2 + mean_yb**2))
    return _out(m, single)


def colorfulness_ratio(rgb_true, rgb_pred, eps: float = 1e-6):
    """``colorfulness(rgb_pred) / colorfulness(rgb_true)`` per image.

    1 means "as colourful as the photo", below 1 washed out (the usual failure of regression),
    above 1 over-saturated.  NaN where the reference itself is gray (colourfulness below
    ``eps``): the ratio is undefined there.
    """
    a, b, single = _pair(rgb_true, rgb_pred, 3, ("rgb_true", "rgb_pred"), rgb=True)
    mt, mp = colorfulness(a), colorfulness(b)
    ratio = tf.where(mt > eps, mp / tf.maximum(mt, eps), tf.fill(tf.shape(mt), np.nan))
    return _out(ratio, single)


# --------------------------------------------------------------------------- semantics
def _logits(classifier, rgb, batch_size: int):
    out = []
    for start in range(0, int(rgb.shape[0]), batch_size):
        y = classifier(rgb[start:start + batch_size], training=False)
        if isinstance(y, dict):
            if "label" not in y:
                raise ValueError(f"classifier returns a dict with keys {sorted(y)}; expected "
                                 f"plain logits or a dict with a 'label' entry.")
            y = y["label"]
        out.append(tf.convert_to_tensor(y))
    return tf.concat(out, 0)


def classifier_correct(classifier, rgb, labels, batch_size: int = 64):
    """Whether ``classifier`` (RGB in ``[0, 1]`` -> logits) labels each image right: bool ``[B]``."""
    x, _ = as_batch(rgb, 3, "rgb", rgb=True)
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
    if labels.shape[0] != x.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} entries for {x.shape[0]} images.")
    pred = tf.argmax(_logits(classifier, x, batch_size), axis=-1)
    return tf.equal(pred, labels)


def gray_rgb(rgb):
    """The gray version of RGB images: true L, ``a = b = 0`` (the "gray" baseline)."""
    x, single = as_batch(rgb, 3, "rgb", rgb=True)
    lab = color.rgb_to_lab(x)
    gray = color.lab_to_rgb(tf.concat([lab[..., :1], tf.zeros_like(lab[..., 1:])], -1))
    return _out(gray, single)


def semantic_interpretability(classifier, rgb_true, labels, colorized=None, *,
                              gray=None, batch_size: int = 64) -> dict[str, float]:
    """Accuracy of a colour-photo classifier on real, gray and colorized images.

    Zhang et al. (2016) fed colorized images to a classifier trained on real colour photos
    (VGG on ImageNet): if the colours are plausible, accuracy recovers from the gray
    image's level towards the real photos'.  Here the classifier is any model mapping RGB in
    ``[0, 1]`` to logits (e.g. ``colorutils.models.rgb_classifier``, trained on colour
    images), or one returning a dict with a ``"label"`` entry.

    Parameters
    ----------
    classifier : callable
        ``classifier(rgb, training=False) -> logits [B, C]``.
    rgb_true : ``[B, H, W, 3]`` the real photos.
    labels : int ``[B]``.
    colorized : array ``[B, H, W, 3]`` or dict ``name -> array``, optional
        Colorized versions of ``rgb_true`` (one method, or several by name).
    gray : array, optional
        The gray images; default :func:`gray_rgb` of ``rgb_true`` (true L, ab = 0).

    Returns
    -------
    dict
        ``{"ground_truth": acc, "gray": acc, <name or "colorized">: acc, ...}``, accuracies in
        ``[0, 1]``.

    References
    ----------
    Zhang, R., Isola, P. and Efros, A. A. (2016). Colorful image colorization. ECCV, Table 1
    ("VGG top-1 class acc").
    """
    sets = {"ground_truth": rgb_true, "gray": gray_rgb(rgb_true) if gray is None else gray}
    if isinstance(colorized, dict):
        sets.update(colorized)
    elif colorized is not None:
        sets["colorized"] = colorized
    return {name: float(tf.reduce_mean(tf.cast(
        classifier_correct(classifier, images, labels, batch_size), tf.float32)))
        for name, images in sets.items()}


# --------------------------------------------------------------------------- all at once
def colorization_metrics(l_norm, ab_true, ab_pred, weights=None, bins=None,
                         rgb_true=None) -> dict[str, np.ndarray]:
    """Every per-image metric of one batch, as numpy arrays ``[B]``.

    RGB metrics compare ``color.recombine(l_norm, ab_pred)`` with ``rgb_true`` (default
    ``color.recombine(l_norm, ab_true)``).  Keys: ``psnr``, ``ssim``, ``ab_distance``,
    ``auc``, ``auc_rebalanced`` (only with ``weights``), ``colorfulness``,
    ``colorfulness_true``, ``colorfulness_ratio``.
    """
    ab_pred = tf.convert_to_tensor(ab_pred, tf.float32)
    if rgb_true is None:
        rgb_true = color.recombine(l_norm, ab_true)
    rgb_pred = color.recombine(l_norm, ab_pred)
    out = {
        "psnr": psnr(rgb_true, rgb_pred),
        "ssim": ssim(rgb_true, rgb_pred),
        "ab_distance": ab_distance(ab_true, ab_pred),
        "auc": auc_accuracy(ab_true, ab_pred),
    }
    if weights is not None:
        out["auc_rebalanced"] = auc_accuracy(ab_true, ab_pred, weights, bins)
    out["colorfulness"] = colorfulness(rgb_pred)
    out["colorfulness_true"] = colorfulness(rgb_true)
    out["colorfulness_ratio"] = colorfulness_ratio(rgb_true, rgb_pred)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
