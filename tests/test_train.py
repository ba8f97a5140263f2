"""colorutils.train: run folders survive interruptions, finished runs are reused, configs guarded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from colorutils import files, train  # noqa: E402

EPOCHS = 4
CONFIG = {"model": "tiny_dense", "dataset": "random", "units": 4}


def _dataset(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 2))).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _model_fn():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    return model


def _fit(run_dir, **kw):
    kw.setdefault("epochs", EPOCHS)
    kw.setdefault("config", CONFIG)
    return train.fit(_model_fn, _dataset(), _dataset(16, 1), run_dir=str(run_dir), verbose=2,
                     **kw)


class _RaiseIn(keras.callbacks.Callback):
    """Raise in the middle of epoch ``epoch`` (1-based), like a Colab disconnect would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.current = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 2:
            raise KeyboardInterrupt("simulated disconnect")


def _assert_complete_run(run_dir, result=None):
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == list(range(1, EPOCHS + 1)), history["epoch"]
    assert len(history["loss"]) == EPOCHS and all(np.isfinite(history["loss"]))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["complete"] and metrics["epochs"] == EPOCHS
    assert metrics["best"] == min(history["val_loss"])
    model = train.load_model(str(run_dir))
    pred = model.predict(np.zeros((3, 6), "float32"), verbose=0)
    assert pred.shape == (3, 2) and np.all(np.isfinite(pred))
    if result is not None:
        assert result.history["epoch"] == history["epoch"]
    return history


@pytest.mark.slow
def test_interrupted_by_callback_resumes_each_epoch_once(tmp_path, capsys):
    reference = _fit(tmp_path / "reference")
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _fit(run_dir, callbacks=[_RaiseIn(2)])
    partial = json.loads((run_dir / "history.json").read_text())
    assert partial["epoch"] == [1], "only the finished epoch is recorded"
    assert not (run_dir / "metrics.json").exists(), "an interrupted run is not marked complete"

    result = _fit(run_dir)
    assert result.resumed and not result.loaded and result.trained_epochs == EPOCHS - 1
    history = _assert_complete_run(run_dir, result)
    out = capsys.readouterr().out
    assert "Training with " in out and "Resuming" in out and f"epoch {EPOCHS}/{EPOCHS}" in out
    # Weights and optimizer state were restored, not re-initialised: the resumed run follows the
    # uninterrupted one (the data order is fixed here, so the losses agree).
    np.testing.assert_allclose(history["loss"], reference.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(history["val_loss"], reference.history["val_loss"], rtol=1e-4)


KILLED_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import keras
    import test_train as t

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 2 and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    t._fit({run_dir!r}, callbacks=[Kill()])
""")


@pytest.mark.slow
def test_killed_subprocess_resumes(tmp_path):
    run_dir = tmp_path / "run"
    script = KILLED_SCRIPT.format(tests=os.path.dirname(__file__), run_dir=str(run_dir))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert json.loads((run_dir / "history.json").read_text())["epoch"] == [1]
    assert (run_dir / "backup").is_dir() and not (run_dir / "metrics.json").exists()

    result = _fit(run_dir)
    assert result.resumed and result.trained_epochs == EPOCHS - 1
    _assert_complete_run(run_dir, result)


def test_finished_run_is_loaded_not_retrained(tmp_path, capsys):
    run_dir = tmp_path / "run"
    first = _fit(run_dir)
    metrics_before = (run_dir / "metrics.json").read_bytes()
    best_mtime = os.path.getmtime(run_dir / "best.keras")

    again = _fit(run_dir)
    assert again.trained_epochs == 0 and again.loaded and again.resumed
    assert "finished" in capsys.readouterr().out
    assert (run_dir / "metrics.json").read_bytes() == metrics_before
    assert os.path.getmtime(run_dir / "best.keras") == best_mtime
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(2, 6)
    np.testing.assert_allclose(again.model.predict(x, verbose=0),
                               first.model.predict(x, verbose=0), rtol=1e-5)
    _assert_complete_run(run_dir, again)

    forced = _fit(run_dir, force=True)
    assert forced.trained_epochs == EPOCHS and not forced.resumed


def test_finished_run_extends_to_more_epochs(tmp_path):
    run_dir = tmp_path / "run"
    _fit(run_dir, epochs=2)
    result = _fit(run_dir, epochs=3)
    assert result.trained_epochs == 1 and result.history["epoch"] == [1, 2, 3]


def test_other_config_is_refused_with_the_differing_keys(tmp_path):
    run_dir = tmp_path / "run"
    _fit(run_dir, epochs=1)
    with pytest.raises(ValueError, match=r"dataset \(was 'random', now 'cifar10'\)"):
        _fit(run_dir, epochs=1, config={**CONFIG, "dataset": "cifar10"})
    with pytest.raises(ValueError, match="seed"):
        _fit(run_dir, epochs=1, seed=1)
    with pytest.raises(ValueError, match="epochs=0"):
        _fit(run_dir, epochs=0)


def test_default_strategy_on_cpu_is_chosen_and_printed(tmp_path, capsys, monkeypatch):
    for var in ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE"):
        monkeypatch.delenv(var, raising=False)
    if tf.config.list_logical_devices("GPU") or os.path.exists("/dev/accel0"):
        pytest.skip("an accelerator is present; this test is about the CPU")
    strategy = train.get_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert "default strategy" in capsys.readouterr().out
    # fit prints the choice before the first epoch and records it in metrics.json
    result = _fit(tmp_path / "run", epochs=1, mixed_precision=True)
    out = capsys.readouterr().out
    assert out.index("Training with default strategy") < out.index("epoch 1/1")
    assert "ignored: no GPU" in out
    assert result.metrics["precision"] == "float32"
    assert "default strategy" in result.metrics["strategy"]


def test_set_seed_fixes_initial_weights():
    train.set_seed(3)
    a = _model_fn().get_weights()[0]
    b0 = np.random.rand()
    train.set_seed(3)
    b = _model_fn().get_weights()[0]
    assert np.random.rand() == b0
    np.testing.assert_array_equal(a, b)


def test_atomic_json_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "m.json"
    files.write_json_atomic(str(path), {"x": np.float32(1.5), "t": (1, 2)})
    assert json.loads(path.read_text()) == {"x": 1.5, "t": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_load_model_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model"):
        train.load_model(str(tmp_path / "missing.keras"))
    with pytest.raises(FileNotFoundError, match="holds no best.keras"):
        train.load_model(str(tmp_path))


@pytest.mark.slow
def test_book_colorizer_trains_and_reloads_with_its_custom_loss(tmp_path):
    """A model of the zoo compiled with the book's RebalancedCrossEntropy survives the run
    folder: load_model restores it compiled (the loss is registered), and it predicts."""
    models = pytest.importorskip("colorutils.models")
    compiling = pytest.importorskip("colorutils.models")
    quantize = pytest.importorskip("colorutils.quantize")
    rng = np.random.default_rng(0)
    l_norm = rng.uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    ab = rng.uniform(-40, 40, (8, 16, 16, 2)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((l_norm, {"ab": ab})).batch(4)
    num_bins = len(quantize.ab_bins())

    def build():
        return compiling.compile_model(models.zhang_classifier(num_bins, width=0.125))

    result = train.fit(build, ds, None, run_dir=str(tmp_path / "zhang"), epochs=1,
                       config={"model": "zhang"}, verbose=0)
    loaded = train.load_model(str(tmp_path / "zhang"))
    assert type(loaded.loss["ab"]).__name__ == "RebalancedCrossEntropy"
    np.testing.assert_allclose(loaded.predict(l_norm[:2], verbose=0)["ab"],
                               result.model.predict(l_norm[:2], verbose=0)["ab"], atol=1e-5)


def test_mixed_precision_keeps_the_loss_in_float32(tmp_path, monkeypatch):
    """With a GPU (pretended here), fit trains under mixed_float16: float16 layers, loss
    scaling, a finite float32 loss; a float16 model output is flagged."""
    monkeypatch.setattr(train, "_has_gpu", lambda: True)
    try:
        with pytest.warns(UserWarning, match="not float32"):
            result = _fit(tmp_path / "run", epochs=2, mixed_precision=True)
        assert result.metrics["precision"] == "mixed_float16"
        assert result.model.layers[0].compute_dtype == "float16"
        assert type(result.model.optimizer).__name__ == "LossScaleOptimizer"
        assert all(np.isfinite(result.history["loss"]))
    finally:
        train.set_mixed_precision(False)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_cost_line_counts_what_this_process_trained_and_loaded(tmp_path, monkeypatch):
    """The chapters' closing line: models trained (epochs, images, images/s) and runs loaded."""
    monkeypatch.setattr(train, "_LEDGER", [])
    assert "trained nothing" in train.cost_line(8)
    _fit(tmp_path / "run", epochs=2)  # 48 photos in batches of 8: 6 steps an epoch
    _fit(tmp_path / "run", epochs=2)  # finished: loaded
    line = train.cost_line(batch_size=8, width=None)
    assert "\n" not in line and max(map(len, train.cost_line(8).splitlines())) <= 88
    assert "trained 1 model (2 epochs, about 96 images)" in line, line
    assert "images/s" in line and "loaded 1 finished run instead of training it" in line, line
    (entry,) = [e for e in train._LEDGER if e["trained"]]
    assert entry["steps"] == 12 and entry["train_seconds"] > 0
    assert "12 steps" in " ".join(train.cost_line().split()), train.cost_line()
