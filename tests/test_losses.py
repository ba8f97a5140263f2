"""colorutils.losses: rebalanced cross-entropy on soft targets and chroma regression."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorutils import color, losses, quantize

BINS = quantize.ab_bins()
Q = len(BINS)


def _ab(shape=(2, 16, 16), seed=0):
    rgb = np.random.default_rng(seed).uniform(0, 1, shape + (3,)).astype(np.float32)
    return color.rgb_to_lab(rgb)[..., 1:].numpy()


def test_cross_entropy_is_finite_differentiable_and_smallest_at_the_soft_target():
    ab = _ab()
    loss = losses.RebalancedCrossEntropy(BINS)
    logits = tf.Variable(np.random.default_rng(1).normal(0, 1, (2, 4, 4, Q)).astype(np.float32))
    with tf.GradientTape() as tape:
        value = loss(ab, logits)
    grad = tape.gradient(value, logits)
    assert np.isfinite(float(value)) and float(value) > 0
    assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).sum() > 0
    # the minimum over logits is the entropy of the target, reached at logits = log z
    small = tf.image.resize(ab, (4, 4), method="nearest")
    z = quantize.soft_encode(small, BINS).numpy()
    best = np.log(np.maximum(z, 1e-12))
    entropy = -np.sum(z * np.log(np.maximum(z, 1e-12)), -1).mean()
    assert float(loss(ab, best)) == pytest.approx(entropy, rel=1e-3)
    assert float(loss(ab, best)) < float(loss(ab, logits))


def test_same_resolution_and_reduced_resolution_targets():
    ab = _ab((1, 8, 8))
    loss = losses.RebalancedCrossEntropy(BINS)
    logits = np.zeros((1, 8, 8, Q), np.float32)  # uniform prediction: loss = log Q
    assert float(loss(ab, logits)) == pytest.approx(np.log(Q), rel=1e-5)
    assert float(loss(ab, logits[:, ::4, ::4])) == pytest.approx(np.log(Q), rel=1e-5)


def test_rebalancing_weights_scale_each_pixel_by_its_nearest_bin():
    ab = np.zeros((1, 4, 4, 2), np.float32)
    ab[:, :2] = [60.0, 40.0]  # half the image red, half gray
    logits = np.random.default_rng(2).normal(0, 1, (1, 4, 4, Q)).astype(np.float32)
    plain = losses.RebalancedCrossEntropy(BINS)
    ones = losses.RebalancedCrossEntropy(BINS, weights=np.ones(Q))
    assert float(ones(ab, logits)) == pytest.approx(float(plain(ab, logits)), rel=1e-6)
    w = np.ones(Q)
    w[int(quantize.nearest_bin(np.float32([60, 40]), BINS))] = 3.0
    per_pixel = plain.call(tf.constant(ab), tf.constant(logits))
    red_only = losses.RebalancedCrossEntropy(BINS, weights=w)
    ce = -np.sum(quantize.soft_encode(ab, BINS).numpy()
                 * tf.nn.log_softmax(logits).numpy(), -1)
    expected = (3 * ce[:, :2].sum() + ce[:, 2:].sum()) / 16
    assert float(red_only(ab, logits)) == pytest.approx(expected, rel=1e-5)
    assert float(red_only(ab, logits)) > float(per_pixel[0])


def test_mixed_precision_logits_give_a_float32_loss():
    ab = _ab((1, 8, 8))
    logits = tf.constant(np.random.default_rng(3).normal(0, 3, (1, 2, 2, Q)), tf.float16)
    value = losses.RebalancedCrossEntropy(BINS)(ab, logits)
    assert value.dtype == tf.float32 and np.isfinite(float(value))
    r = losses.ABRegressionLoss()(ab, tf.cast(ab, tf.float16))
    assert r.dtype == tf.float32 and float(r) < 1e-6


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="rebalance_weights"):
        losses.RebalancedCrossEntropy(BINS, weights=np.ones(5))
    with pytest.raises(ValueError, match="num_bins=262"):
        losses.RebalancedCrossEntropy(BINS)(_ab((1, 4, 4)), np.zeros((1, 4, 4, 10), np.float32))
    with pytest.raises(ValueError, match="space"):
        losses.ABRegressionLoss(space="rgb")


@pytest.mark.filterwarnings("ignore:Skipping variable loading")
def test_losses_serialize_with_their_bins_and_weights(tmp_path):
    w = quantize.rebalance_weights(np.full(Q, 1.0 / Q))
    w[0] = 2.5
    loss = losses.RebalancedCrossEntropy(quantize.ab_bins(20), weights=w[:77], k=5, sigma=4.0)
    back = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(back, losses.RebalancedCrossEntropy)
    np.testing.assert_allclose(back.bins, quantize.ab_bins(20))
    np.testing.assert_allclose(back.class_weights, w[:77], rtol=1e-6)
    assert (back.k, back.sigma) == (5, 4.0)

    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, {"ab": keras.layers.Conv2D(Q, 1)(inp)})
    model.compile("adam", loss={"ab": losses.RebalancedCrossEntropy(BINS, weights=w)})
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = loaded.loss["ab"]
    assert isinstance(restored, losses.RebalancedCrossEntropy)
    np.testing.assert_allclose(restored.class_weights, w, rtol=1e-6)
    ab, l_norm = _ab((2, 8, 8)), np.zeros((2, 8, 8, 1), np.float32)
    assert loaded.evaluate(l_norm, {"ab": ab}, verbose=0) == pytest.approx(
        model.evaluate(l_norm, {"ab": ab}, verbose=0), rel=1e-5)
    reg = keras.losses.deserialize(keras.losses.serialize(losses.ABRegressionLoss("hsv")))
    assert reg.space == "hsv"


def test_ab_regression_loss_value_and_resizing():
    ab = _ab((2, 8, 8))
    loss = losses.ABRegressionLoss()
    assert float(loss(ab, ab)) == pytest.approx(0.0, abs=1e-7)
    # an error of 11 Lab units on a and b: ((11 / 110)^2 * 2) / 2 = 0.01
    assert float(loss(ab, ab + 11.0)) == pytest.approx(0.01, rel=1e-5)
    flat = np.broadcast_to(np.float32([10, -20]), (1, 8, 8, 2))
    assert float(loss(flat, flat[:, :2, :2])) == pytest.approx(0.0, abs=1e-7)


def test_hsv_hue_error_is_circular_and_ignored_for_grays():
    loss = losses.ABRegressionLoss("hsv")
    s = color.AB_SCALE
    true = np.float32([[[[0.98 * s, s]]]])  # one end of the hue range, saturation 1
    near = np.float32([[[[-0.98 * s, s]]]])  # the other end: 0.02 of a turn away
    far = np.float32([[[[0.0, s]]]])  # half a turn away
    assert float(loss(true, near)) == pytest.approx(0.04**2 / 2, rel=1e-3)
    assert float(loss(true, far)) > 100 * float(loss(true, near))
    gray = np.float32([[[[0.5 * s, -s]]]])  # saturation 0: hue does not matter
    assert float(loss(gray, np.float32([[[[-0.7 * s, -s]]]]))) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("space", losses.CHROMA_SPACES)
def test_chroma_targets_round_trip_to_the_same_hue(space):
    rgb = np.random.default_rng(4).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    l_norm, ab = color.split_lab(color.rgb_to_lab(rgb))
    t = losses.chroma_targets(l_norm, ab, space)
    assert t.shape == ab.shape
    assert np.all(np.abs(t.numpy()) <= color.AB_SCALE + 1e-3)
    back = losses.chroma_to_ab(l_norm, t, space).numpy()
    chroma = np.linalg.norm(ab.numpy(), axis=-1)
    sel = chroma > 20
    cos = np.sum(back * ab.numpy(), -1)[sel] / (
        np.linalg.norm(back, axis=-1)[sel] * chroma[sel])
    assert np.median(cos) > 0.95
    if space == "lab":
        np.testing.assert_array_equal(back, ab.numpy())


def test_hsv_seam_is_at_cyan_so_red_is_mid_range():
    lab = np.float32([[[[50, 70, 50]], [[60, -35, -10]]]])  # red, cyan
    l_norm, ab = color.split_lab(lab)
    t = losses.chroma_targets(l_norm, ab, "hsv").numpy()[..., 0] / color.AB_SCALE
    assert abs(t[0, 0, 0]) < 0.1  # red: the middle of the tanh range
    assert abs(t[0, 1, 0]) > 0.9  # cyan: at the seam
