"""Metrics with known answers (colorutils.metrics)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from colorutils import metrics


def _rng(seed=0):
    return np.random.default_rng(seed)


def _reference_auc(ab_true, ab_pred, pixel_w=None, max_t=150):
    """Slow, literal version: loop over images and thresholds, trapezoid over 0..150."""
    out = []
    for i in range(ab_true.shape[0]):
        d = np.sqrt(((ab_true[i].astype(np.float64) - ab_pred[i]) ** 2).sum(-1)).ravel()
        w = np.ones_like(d) if pixel_w is None else pixel_w[i].ravel()
        acc = [float((w * (d <= t)).sum() / w.sum()) for t in range(max_t + 1)]
        area = sum(0.5 * (acc[k] + acc[k + 1]) for k in range(max_t))
        out.append(area / max_t)
    return np.array(out)


# ------------------------------------------------------------------ PSNR / SSIM
def test_identical_images_give_max_psnr_and_ssim_one():
    rgb = _rng().uniform(size=(3, 16, 16, 3)).astype(np.float32)
    assert np.all(np.isinf(metrics.psnr(rgb, rgb)))
    np.testing.assert_allclose(metrics.ssim(rgb, rgb), 1.0, atol=1e-5)
    noisy = np.clip(rgb + 0.05 * _rng(1).normal(size=rgb.shape), 0, 1).astype(np.float32)
    p = np.asarray(metrics.psnr(rgb, noisy))
    assert p.shape == (3,) and np.all(np.isfinite(p)) and np.all((p > 15) & (p < 40))
    s = np.asarray(metrics.ssim(rgb, noisy))
    assert np.all(s < 0.99)


def test_psnr_matches_formula_and_accepts_uint8_and_single_images():
    a = np.zeros((8, 8, 3), np.float32)
    b = np.full((8, 8, 3), 0.1, np.float32)
    assert float(metrics.psnr(a, b)) == pytest.approx(20.0, abs=1e-3)  # 10 log10(1 / 0.01)
    u = (a * 255).astype(np.uint8)
    assert metrics.psnr(u[None], u[None]).shape == (1,)


def test_ssim_works_on_images_smaller_than_its_window():
    rgb = _rng().uniform(size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(metrics.ssim(rgb, rgb), 1.0, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    rgb = np.ones((2, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="divide by 255"):
        metrics.psnr(rgb * 255, rgb)
    with pytest.raises(ValueError, match=r"rgb_pred has shape"):
        metrics.psnr(rgb, rgb[..., :2])
    with pytest.raises(ValueError, match="resize the prediction"):
        metrics.ab_distance(np.zeros((1, 8, 8, 2)), np.zeros((1, 4, 4, 2)))


# ------------------------------------------------------------------ ab metrics
def test_ab_distance_known_values():
    ab = np.zeros((2, 4, 4, 2), np.float32)
    pred = ab.copy()
    pred[1, ..., 0] = 3.0
    pred[1, ..., 1] = 4.0
    np.testing.assert_allclose(metrics.ab_distance(ab, pred), [0.0, 5.0], atol=1e-6)


def test_auc_is_one_for_perfect_predictions():
    ab = _rng().uniform(-80, 80, size=(4, 8, 8, 2)).astype(np.float32)
    np.testing.assert_allclose(metrics.auc_accuracy(ab, ab), 1.0, atol=1e-6)
    w = np.array([1.0, 10.0], np.float32)
    bins = np.array([[0.0, 0.0], [60.0, 60.0]], np.float32)
    np.testing.assert_allclose(metrics.auc_accuracy(ab, ab, w, bins), 1.0, atol=1e-6)


def test_auc_matches_slow_reference_loop_on_random_data():
    rng = _rng(2)
    ab_true = rng.uniform(-100, 100, size=(3, 6, 7, 2)).astype(np.float32)
    ab_pred = (ab_true + rng.normal(scale=40, size=ab_true.shape)).astype(np.float32)
    ab_pred[0] = rng.uniform(-120, 120, size=ab_pred[0].shape)  # some beyond 150
    got = np.asarray(metrics.auc_accuracy(ab_true, ab_pred))
    np.testing.assert_allclose(got, _reference_auc(ab_true, ab_pred), atol=1e-5)
    # a gray guess lies between nothing and everything
    gray = np.asarray(metrics.auc_accuracy(ab_true, np.zeros_like(ab_true)))
    assert np.all((gray > 0.3) & (gray < 1.0))


def test_rebalanced_auc_weights_each_pixel_by_its_true_bin():
    rng = _rng(3)
    # skewed: most pixels gray (predicted well), a few saturated red (predicted gray)
    ab_true = np.zeros((1, 10, 10, 2), np.float32)
    ab_true[0, :2, :, 0] = 70.0
    ab_pred = np.zeros_like(ab_true) + rng.normal(scale=1.0, size=ab_true.shape).astype(np.float32)
    bins = np.array([[0.0, 0.0], [70.0, 0.0]], np.float32)
    weights = np.array([0.2, 4.0], np.float32)  # rare colour weighs more
    plain = float(metrics.auc_accuracy(ab_true, ab_pred)[0])
    rebal = float(metrics.auc_accuracy(ab_true, ab_pred, weights, bins)[0])
    assert rebal < plain - 0.1, (plain, rebal)
    pw = np.where(ab_true[..., 0] > 35, 4.0, 0.2)
    np.testing.assert_allclose(rebal, _reference_auc(ab_true, ab_pred, pw)[0], atol=1e-5)
    np.testing.assert_allclose(metrics._pixel_weights(ab_true, weights, bins), pw, atol=1e-6)


def test_pixel_weights_checks_bins_against_weights():
    with pytest.raises(ValueError, match="bins has shape"):
        metrics._pixel_weights(np.zeros((1, 2, 2, 2)), [1.0, 2.0, 3.0], np.zeros((2, 2)))


# ------------------------------------------------------------------ colourfulness
def test_gray_image_has_zero_colorfulness():
    g = _rng().uniform(size=(2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(metrics.colorfulness(np.repeat(g, 3, -1)), 0.0, atol=1e-3)


def test_colorfulness_matches_hasler_suesstrunk_formula():
    rgb = _rng(4).uniform(size=(5, 9, 9, 3)).astype(np.float32)
    x = rgb.astype(np.float64) * 255
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    want = (np.sqrt(rg.std(axis=(1, 2)) ** 2 + yb.std(axis=(1, 2)) ** 2)
            + 0.3 * np.sqrt(rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2))
    np.testing.assert_allclose(metrics.colorfulness(rgb), want, rtol=1e-4)
    # a uniform pure red is colourful only through the mean term: 0.3 * |(255, 127.5)|
    red = np.zeros((4, 4, 3), np.float32)
    red[..., 0] = 1.0
    assert float(metrics.colorfulness(red)) == pytest.approx(0.3 * np.hypot(255, 127.5), rel=1e-4)


def test_colourfulness_ratio_is_one_for_truth_and_nan_for_gray_reference():
    rgb = _rng(5).uniform(size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(metrics.colorfulness_ratio(rgb, rgb), 1.0, rtol=1e-5)
    gray = np.repeat(rgb[..., :1], 3, -1)
    r = np.asarray(metrics.colorfulness_ratio(gray, rgb))
    assert np.all(np.isnan(r))
    assert np.all(np.asarray(metrics.colorfulness_ratio(rgb, gray)) < 0.01)


# ------------------------------------------------------------------ semantic interpretability
def test_semantic_interpretability_uses_the_classifier_on_each_set():
    # a "classifier" that says class 1 iff the image is reddish (mean R - G > 0.1)
    def classifier(rgb, training=False):
        red = tf.reduce_mean(rgb[..., 0] - rgb[..., 1], axis=[1, 2])
        return tf.stack([-red, red], -1) - tf.constant([0.0, 0.1])

    rgb = np.full((4, 8, 8, 3), 0.4, np.float32)
    rgb[:2, ..., 0] = 0.9  # two red images, label 1; two gray images, label 0
    labels = np.array([1, 1, 0, 0])
    gray = np.repeat(rgb.mean(-1, keepdims=True), 3, -1)
    res = metrics.semantic_interpretability(classifier, rgb, labels, colorized={"m": rgb[::-1]},
                                            gray=gray, batch_size=3)
    assert res == {"ground_truth": 1.0, "gray": 0.5, "m": 0.0}
    with pytest.raises(ValueError, match="labels has 3 entries"):
        metrics.classifier_correct(classifier, rgb, labels[:3])


def test_colorization_metrics_rebuilds_rgb_from_true_l():
    color = pytest.importorskip("colorutils.color", reason="colorutils.color not written yet")
    rgb = _rng(6).uniform(0.1, 0.9, size=(2, 16, 16, 3)).astype(np.float32)
    lab = np.asarray(color.rgb_to_lab(rgb))
    l_norm = np.asarray(color.normalize_l(lab[..., :1]))
    ab = lab[..., 1:]
    perfect = metrics.colorization_metrics(l_norm, ab, ab, weights=np.ones(2), bins=np.zeros((2, 2)))
    np.testing.assert_allclose(perfect["ssim"], 1.0, atol=1e-4)
    np.testing.assert_allclose(perfect["auc"], 1.0)
    np.testing.assert_allclose(perfect["colorfulness_ratio"], 1.0, rtol=1e-4)
    gray = metrics.colorization_metrics(l_norm, ab, np.zeros_like(ab))
    assert np.all(gray["colorfulness"] < 1.0) and np.all(gray["psnr"] < 60)
    np.testing.assert_allclose(metrics.colorfulness(metrics._gray_rgb(rgb)), 0.0, atol=0.5)


def test_mean_colorfulness_ratio_is_the_ratio_of_the_sets_means_not_the_mean_of_ratios():
    rng = np.random.default_rng(3)
    true = rng.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    true[1] = true[1] * 0.2 + 0.4  # a dull photo: a per-image ratio would weigh it as much
    pred = true.copy()
    pred[1] = 0.5  # the dull photo's colorization is gray
    cf_true, cf_pred = (np.asarray(metrics.colorfulness(x)) for x in (true, pred))
    got = metrics.mean_colorfulness_ratio(true, pred)
    assert got == pytest.approx(cf_pred.mean() / cf_true.mean(), rel=1e-6)
    assert got != pytest.approx(float(np.mean(cf_pred / cf_true)), rel=1e-3)
    assert metrics.mean_colorfulness_ratio(true, true) == pytest.approx(1.0, rel=1e-6)
