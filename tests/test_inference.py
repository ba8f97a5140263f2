"""colorutils.inference: predict_ab / colorize for regression and classification heads."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorutils import color, inference, models, quantize
from colorutils.errors import UserError

BINS = quantize.ab_bins()


def _constant_model(channels, values, stride=1):
    """l_norm -> {"ab": constant [B, H/stride, W/stride, channels]} (zero kernel, set bias)."""
    inp = keras.Input((None, None, 1))
    x = keras.layers.AveragePooling2D(stride)(inp) if stride > 1 else inp
    conv = keras.layers.Conv2D(channels, 1, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(0.0))
    out = conv(x)
    conv.bias.assign(np.asarray(values, np.float32))
    return keras.Model(inp, {"ab": out})


def _l(batch=3, size=32):
    return np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 1)).astype(np.float32)


def test_regression_output_is_returned_in_lab_units_at_full_resolution():
    model = _constant_model(2, [12.0, -34.0], stride=4)
    ab = inference.predict_ab(model, _l(), batch_size=2)
    assert ab.shape == (3, 32, 32, 2) and ab.dtype == np.float32
    np.testing.assert_allclose(ab, np.broadcast_to([12.0, -34.0], ab.shape), atol=1e-4)


@pytest.mark.parametrize("method", ("annealed_mean", "mean", "mode"))
def test_classification_logits_are_decoded_with_the_bins_given(method):
    q = 100
    logits = np.full(len(BINS), -30.0)
    logits[q] = 30.0
    model = _constant_model(len(BINS), logits, stride=4)
    ab = inference.predict_ab(model, _l(), method=method, bins=BINS)
    assert ab.shape == (3, 32, 32, 2)
    np.testing.assert_allclose(ab, np.broadcast_to(BINS[q], ab.shape), atol=1e-3)
    coarse = quantize.ab_bins(20)
    model20 = _constant_model(len(coarse), np.eye(len(coarse))[5] * 60, stride=2)
    np.testing.assert_allclose(inference.predict_ab(model20, _l(1, 16), bins=coarse)[0, 3, 3],
                               coarse[5], atol=1e-3)


def test_temperature_moves_between_mean_and_mode():
    logits = np.full(len(BINS), -30.0)
    i, j = 40, 200
    logits[i], logits[j] = 1.0, 0.0
    model = _constant_model(len(BINS), logits)
    l_norm = _l(1, 8)
    mean = inference.predict_ab(model, l_norm, method="mean", bins=BINS)[0, 0, 0]
    hot = inference.predict_ab(model, l_norm, temperature=1.0, bins=BINS)[0, 0, 0]
    cold = inference.predict_ab(model, l_norm, temperature=0.05, bins=BINS)[0, 0, 0]
    np.testing.assert_allclose(hot, mean, atol=1e-3)
    np.testing.assert_allclose(cold, BINS[i], atol=0.1)
    p = np.exp(1.0) / (np.exp(1.0) + 1.0)
    np.testing.assert_allclose(mean, p * BINS[i] + (1 - p) * BINS[j], atol=1e-3)


def test_zoo_models_at_reduced_resolution():
    l_norm = _l(2, 32)
    reg = models.regression_cnn(width=0.125)
    cls = models.zhang_classifier(len(BINS), width=0.125, output_stride=4, convs_per_block=1)
    cls = inference.as_colorizer(cls, bins=BINS)
    for model in (reg, cls):
        ab = inference.predict_ab(model, l_norm)
        assert ab.shape == (2, 32, 32, 2) and np.all(np.isfinite(ab))
        assert np.abs(ab).max() <= 130
    single = inference.predict_ab(cls, l_norm[0])
    assert single.shape == (32, 32, 2)
    np.testing.assert_allclose(single, inference.predict_ab(cls, l_norm)[0], atol=1e-3)


def test_colorize_recombines_with_the_true_lightness():
    l_norm = _l(2, 16)
    def colorize(model, l_norm):
        return color.recombine(l_norm, inference.predict_ab(model, l_norm)).numpy()

    gray = colorize(_constant_model(2, [0.0, 0.0]), l_norm)
    assert gray.shape == (2, 16, 16, 3) and gray.min() >= 0 and gray.max() <= 1
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=2e-3)
    np.testing.assert_allclose(gray[..., 1], gray[..., 2], atol=2e-3)
    red = colorize(_constant_model(2, [40.0, 30.0], stride=4), l_norm)
    mid = (np.abs(l_norm[..., 0]) < 0.5)
    assert np.all(red[..., 0][mid] > red[..., 2][mid])


def test_smoothing_and_raw_decoding_paths():
    rng = np.random.default_rng(1)
    raw = rng.normal(0, 3, (1, 8, 8, len(BINS))).astype(np.float32)
    sharp = inference.decode_output(raw, (32, 32), bins=BINS, method="mode")
    smooth = inference.decode_output(raw, (32, 32), bins=BINS, method="mode", smooth_sigma=2.0)
    assert sharp.shape == smooth.shape == (1, 32, 32, 2)
    assert np.abs(np.diff(smooth, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\[B, H, W, 1\]"):
        inference.predict_ab(_constant_model(2, [0, 0]), np.zeros((2, 8, 8, 3), np.float32))
    inp = keras.Input((None, None, 1))
    no_ab = keras.Model(inp, {"label": keras.layers.Conv2D(2, 1)(inp)})
    with pytest.raises(UserError, match="not a dict with an 'ab' entry"):
        inference.predict_ab(no_ab, _l(1, 8))
    with pytest.raises(ValueError, match="7 logits but no ab bins are recorded"):
        inference.predict_ab(_constant_model(7, np.zeros(7)), _l(1, 8))
    with pytest.raises(ValueError, match="7 logits but bins has 262 centres"):
        inference.predict_ab(_constant_model(7, np.zeros(7)), _l(1, 8), bins=BINS)


def test_hsv_output_is_converted_before_upsampling():
    """Outputs +0.99 and -0.99 are both next to the hue seam (cyan, losses.HUE_SEAM);
    interpolating them would give the output 0, the opposite hue (red)."""
    inp = keras.Input((None, None, 1))
    x = keras.layers.AveragePooling2D(4)(inp)
    out = keras.layers.Lambda(
        lambda t: tf.concat([tf.where(tf.range(tf.shape(t)[2])[None, None, :, None] % 2 == 0,
                                      0.99, -0.99) * 110.0 + 0 * t, 0 * t + 0.6 * 110.0], -1))(x)
    model = keras.Model(inp, {"ab": out})
    l_norm = np.zeros((1, 32, 32, 1), np.float32)
    ab = inference.predict_ab(model, l_norm, space="hsv")
    assert ab.shape == (1, 32, 32, 2)
    assert np.all(ab[..., 0] < -10), "every pixel stays cyan (a < 0): no red from the wrap"
