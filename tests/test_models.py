"""The model zoo: output shapes at several sizes, .keras round trips, one training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from colorutils import models, quantize
from colorutils.color import AB_SCALE

Q = 12  # a small number of ab bins keeps the tests fast
W = 0.125  # every layer at the 8-channel floor

# name -> (builder, output stride of "ab", ab channels, has "label")
ZOO = {
    "regression_cnn": (lambda: models.regression_cnn(W), 1, 2, False),
    "zhang": (lambda: models.zhang_classifier(Q, W, convs_per_block=1), 4, Q, False),
    "zhang_s8_bilinear": (lambda: models.zhang_classifier(
        Q, W, output_stride=8, upsampling="bilinear", batch_norm=False, dropout=0.2,
        convs_per_block=1), 8, Q, False),
    "zhang_s1": (lambda: models.zhang_classifier(Q, W, output_stride=1, convs_per_block=1),
                 1, Q, False),
    "unet_cls": (lambda: models.unet("classification", Q, W, depth=2), 1, Q, False),
    "unet_reg_s2": (lambda: models.unet("regression", None, W, depth=3, output_stride=2,
                                        upsampling="bilinear", dropout=0.3), 2, 2, False),
    "fusion_reg_cls": (lambda: models.fusion_net(None, 5, W, global_size=32), 2, 2, True),
    "fusion_bins": (lambda: models.fusion_net(Q, None, W, global_size=32, output_stride=4),
                    4, Q, False),
    "koalarization": (lambda: models.koalarization_net(
        None, width=W, backbone_size=32, backbone_alpha=0.35), 1, 2, False),
}


def _batch(size, batch=2, seed=0):
    h, w = size
    return np.random.default_rng(seed).uniform(-1, 1, (batch, h, w, 1)).astype("float32")


@pytest.fixture(scope="module")
def built():
    keras.utils.set_random_seed(0)
    return {name: spec[0]() for name, spec in ZOO.items()}


@pytest.mark.parametrize("name", list(ZOO))
def test_output_shapes_at_several_sizes(built, name):
    model = built[name]
    _, stride, depth, has_label = ZOO[name]
    assert model.input_shape == (None, None, None, 1)
    # 64x96 is larger than the fusion net's global_size=32 on both sides
    for size in [(16, 16), (32, 48), (64, 96)]:
        out = model(_batch(size), training=False)
        assert set(out) == ({"ab", "label"} if has_label else {"ab"})
        assert tuple(out["ab"].shape) == (2, size[0] // stride, size[1] // stride, depth)
        if has_label:
            assert tuple(out["label"].shape) == (2, 5)
        assert np.all(np.isfinite(np.asarray(out["ab"])))
    if depth == 2:  # regression heads stay inside the tanh range, in Lab units
        ab = np.asarray(model(_batch((32, 32)) * 50, training=False)["ab"])
        assert np.abs(ab).max() <= AB_SCALE + 1e-3


@pytest.mark.parametrize("name", ["zhang", "fusion_reg_cls", "koalarization", "unet_reg_s2"])
def test_keras_file_round_trip_gives_identical_predictions(built, name, tmp_path):
    model = built[name]
    x = _batch((32, 32))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    before, after = model(x, training=False), loaded(x, training=False)
    assert set(before) == set(after)
    for key in before:
        np.testing.assert_allclose(before[key], after[key], rtol=1e-5, atol=1e-5)


def _targets(model, x, seed=0):
    """Random targets matching the model's outputs: ab in Lab units or bin indices, labels."""
    rng = np.random.default_rng(seed)
    out = model(x, training=False)
    y, losses = {}, {}
    if out["ab"].shape[-1] == 2:
        y["ab"] = rng.uniform(-60, 60, out["ab"].shape).astype("float32")
        losses["ab"] = keras.losses.MeanSquaredError()
    else:
        y["ab"] = rng.integers(0, out["ab"].shape[-1], out["ab"].shape[:-1]).astype("int32")
        losses["ab"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if "label" in out:
        y["label"] = rng.integers(0, out["label"].shape[-1], (x.shape[0],)).astype("int32")
        losses["label"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return y, losses


@pytest.mark.parametrize("name", list(ZOO))
def test_one_training_step_has_finite_loss_and_changes_weights(built, name):
    keras.utils.set_random_seed(1)
    model = ZOO[name][0]()
    x = _batch((32, 32), batch=4)
    y, losses = _targets(model, x)
    weights = {"ab": 1.0, "label": 1 / 300} if "label" in y else None
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses, loss_weights=weights,
                  run_eagerly=True)  # one step: tracing a graph would cost more than it saves
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(),
                                                                strict=True))
    assert changed > len(before) // 3


def test_fusion_global_path_sees_a_fixed_size_copy():
    """The label logits depend on the image, not its size: a 2x (nearest) enlargement of an
    image resized back to global_size is the same image, so the class logits match."""
    keras.utils.set_random_seed(2)
    model = models.fusion_net(None, 4, W, global_size=32)
    x = _batch((32, 32), batch=1)
    big = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)  # 64x64, larger than global_size
    small_out, big_out = model(x, training=False), model(big, training=False)
    np.testing.assert_allclose(small_out["label"], big_out["label"], rtol=1e-4, atol=1e-5)
    assert big_out["ab"].shape[1:3] == (32, 32)  # 64 / output stride 2


def test_fusion_layer_shares_low_level_weights_between_paths():
    model = models.fusion_net(None, None, W, global_size=32)
    names = [w.path for w in model.weights if w.path.startswith("low1/")]
    assert names == ["low1/kernel"]  # one kernel, used by both the local and the global path


def test_tile_to_grid_copies_the_vector_everywhere():
    vec = np.arange(6, dtype="float32").reshape(2, 3)
    grid = np.zeros((2, 4, 5, 7), "float32")
    out = np.asarray(models.TileToGrid()([vec, grid]))
    assert out.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(out[1, 3, 4], vec[1])
    np.testing.assert_array_equal(out[0, 0, 0], vec[0])


def test_switches_change_the_architecture():
    def kinds(model):
        return {type(layer).__name__ for layer in model.layers}

    transpose = models.zhang_classifier(Q, W, convs_per_block=1)
    bilinear = models.zhang_classifier(Q, W, upsampling="bilinear", batch_norm=False,
                                       dropout=0.5, convs_per_block=1)
    assert "Conv2DTranspose" in kinds(transpose) and "Conv2DTranspose" not in kinds(bilinear)
    assert "BatchNormalization" in kinds(transpose)
    assert "BatchNormalization" not in kinds(bilinear)
    assert "Dropout" in kinds(bilinear) and "Dropout" not in kinds(transpose)
    decayed = models.zhang_classifier(Q, W, convs_per_block=1, l2=1e-4)
    decayed(_batch((16, 16)))
    assert len(decayed.losses) > 5 and float(sum(decayed.losses)) > 0
    # the paper's block counts give a deeper network than one convolution per block
    assert models.count_params(models.zhang_classifier(Q, W)) > models.count_params(transpose)


def test_width_multiplier_scales_channels():
    assert models._channels(64, 0.01) == 8
    assert models._channels(64, 0.5) == 32
    small, big = models.regression_cnn(0.25), models.regression_cnn(0.5)
    assert models.count_params(big) > 3 * models.count_params(small)


def test_mixed_precision_heads_are_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.fusion_net(Q, 3, W, global_size=32)
        out = model(_batch((32, 32)), training=False)
        assert model.get_layer("low1").compute_dtype == "float16"
        assert out["ab"].dtype == "float32" and out["label"].dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_copy_matching_weights_transfers_the_shared_layers():
    keras.utils.set_random_seed(3)
    net = models.fusion_net(None, 4, W, global_size=32)
    clf = models.fusion_classifier(4, W, global_size=32)
    copied = models.copy_matching_weights(net, clf)
    assert copied == sum(1 for layer in clf.layers if layer.weights)
    x = _batch((48, 48))
    np.testing.assert_allclose(net(x, training=False)["label"], clf(x, training=False)["label"],
                               rtol=1e-4, atol=1e-5)
    # a head with another number of classes is skipped, the rest still copied
    other = models.fusion_classifier(7, W, global_size=32)
    assert models.copy_matching_weights(net, other) == copied - 1


def test_rgb_classifier_gives_plain_logits():
    model = models.rgb_classifier(6, W)
    out = model(np.random.default_rng(0).uniform(0, 1, (3, 32, 40, 3)).astype("float32"))
    assert tuple(out.shape) == (3, 6)


@pytest.mark.parametrize("call, match", [
    (lambda: models.zhang_classifier(Q, upsampling="deconv"), "upsampling='deconv'"),
    (lambda: models.zhang_classifier(Q, output_stride=3), "output_stride=3"),
    (lambda: models.zhang_classifier(None), "num_bins=None"),
    (lambda: models.zhang_classifier(Q, dropout=1.5), "dropout=1.5"),
    (lambda: models.unet("classification", None), "num_bins=None"),
    (lambda: models.unet("softmax", Q), "head='softmax'"),
    (lambda: models.unet("regression", depth=2, output_stride=8), "output_stride=8"),
    (lambda: models.fusion_net(global_size=50), "global_size=50"),
    (lambda: models.fusion_net(num_classes=1), "num_classes=1"),
    (lambda: models.regression_cnn(width=0), "width=0"),
    (lambda: models.regression_cnn(l2=-1), "l2=-1"),
    (lambda: models.koalarization_net(backbone="vgg16"), "backbone='vgg16'"),
    (lambda: models.koalarization_net(weights="coco"), "weights='coco'"),
    (lambda: models.koalarization_net(backbone_size=16), "backbone_size=16"),
    (lambda: models.rgb_classifier(None), "num_classes=None"),
])
def test_bad_arguments_name_the_argument_and_value(call, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(")):
        call()


def test_block_graph_of_the_fusion_net_measures_both_paths():
    model = models.fusion_net(None, 4, W, global_size=32)
    graph = models.block_graph(model, input_size=96)
    names = [b.name for b in graph.blocks]
    for name in ("l_norm", "resize", "low", "mid", "global", "fusion", "color", "ab", "label"):
        assert name in names
    # the shared low-level block runs at 1/8 of the input and of the global copy
    low = graph.block("low")
    assert (12, 12, models._channels(512, W)) in low.shapes
    assert (4, 4, models._channels(512, W)) in low.shapes
    assert graph.block("resize").shapes == [(32, 32, 1)]
    assert graph.block("ab").shapes == [(48, 48, 2)]
    for edge in [("resize", "low"), ("low", "mid"), ("low", "global"), ("global", "fusion"),
                 ("mid", "fusion"), ("fusion", "color"), ("global", "class")]:
        assert edge in graph.edges
    assert graph.block("fusion").column > graph.block("global").column
    assert sum(b.params for b in graph.blocks) == model.count_params()
    with pytest.raises(KeyError, match="no block 'nope'"):
        graph.block("nope")


def test_plot_blocks_draws_one_box_per_block():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    graph = models.block_graph(models.unet("regression", None, W, depth=2), input_size=32)
    fig = models.plot_blocks(graph, title="U-Net")
    ax = fig.axes[0]
    assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == len(graph.blocks)
    assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == len(graph.edges)
    assert "U-Net" in ax.get_title() and ax.get_xlabel()
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "bottleneck" in texts and "8x8x" in texts


def test_compile_model_picks_the_loss_of_each_head():
    import tensorflow as tf

    from colorutils import losses, quantize

    q = len(quantize.ab_bins())
    clf = models.compile_model(models.zhang_classifier(q, W, convs_per_block=1),
                                   optimizer="adadelta", run_eagerly=True)
    assert isinstance(clf.loss["ab"], losses.RebalancedCrossEntropy)
    assert isinstance(clf.optimizer, keras.optimizers.Adadelta)
    assert float(clf.optimizer.learning_rate) == models.OPTIMIZERS["adadelta"]
    joint = models.compile_model(models.fusion_net(None, 3, W, global_size=32), alpha=0.5,
                                     run_eagerly=True)
    assert isinstance(joint.loss["ab"], losses.ABRegressionLoss)
    # the joint loss is L_colour + alpha * L_class, and the dataset's extra keys are dropped
    x = _batch((32, 32), batch=4)
    y = {"ab": np.zeros((4, 32, 32, 2), "float32"), "label": np.array([0, 1, 2, 0], "int32")}
    ds = models.targets_for(joint, tf.data.Dataset.from_tensors((x, y)))
    logs = joint.evaluate(ds, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], logs["ab_loss"] + 0.5 * logs["label_loss"],
                               rtol=1e-4)
    only_ab = models.targets_for(clf, tf.data.Dataset.from_tensors((x, y)))
    assert set(only_ab.element_spec[1]) == {"ab"}
    assert np.isfinite(clf.fit(only_ab, epochs=1, verbose=0).history["loss"][0])
    with pytest.raises(ValueError, match="with_label=True"):
        models.targets_for(joint, tf.data.Dataset.from_tensors((x, {"ab": y["ab"]})))
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        models.make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="alpha=-1"):
        models.compile_model(models.regression_cnn(W), alpha=-1)


@pytest.mark.parametrize("name", sorted(models.MODEL_HEADS))
def test_the_heads_table_says_what_each_builder_makes(name):
    """models.MODEL_HEADS (what train --head and the studies read) matches the builders."""
    heads = models.MODEL_HEADS[name]
    variants = [dict(num_classes=3)] if not heads.colour else []
    for head in heads.colour:
        kwargs = {"num_bins": len(quantize.ab_bins()) if head == "classification" else None}
        if heads.chooses_by == "head":
            kwargs["head"] = head
        if head == "regression" and heads.chooses_by is None:
            kwargs = {}
        variants.append(kwargs)
        if heads.label == "optional":
            variants.append(dict(kwargs, num_classes=3))
    for kwargs in variants:
        extra = {"global_size": 32} if name.startswith("fusion") else {}
        net = models.build(name, width=0.125, **kwargs, **extra)
        keys, input_name = models.model_outputs(name, kwargs)
        assert models._output_keys(net) == keys and net.inputs[0].name == input_name, kwargs
        if "ab" in keys:
            depth = net.output["ab"].shape[-1]
            assert depth == (2 if kwargs.get("num_bins") is None else kwargs["num_bins"]), kwargs
    assert set(models.MODEL_HEADS) == set(models.BUILDERS)
