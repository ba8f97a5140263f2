"""Progress bars: one updating line on a terminal; nothing in logs, tests or notebooks."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from colorutils import files


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _terminal(monkeypatch) -> _Terminal:
    """stderr replaced by a fake terminal, no override from the environment.  Called in the
    test itself: pytest sets its own sys.stderr again between a fixture and the test."""
    stream = _Terminal()
    monkeypatch.delenv(files.ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    return stream


def test_shown_on_a_terminal_only(monkeypatch):
    _terminal(monkeypatch)
    assert files.enabled()
    assert not files.enabled(io.StringIO())  # a log file, a pipe, a captured stream
    with files.forced(False):
        assert not files.enabled()  # --quiet
    monkeypatch.setenv(files.ENV_VAR, "0")
    assert not files.enabled()
    monkeypatch.setenv(files.ENV_VAR, "1")
    assert files.enabled(io.StringIO())  # forced on, e.g. papermill --log-output


def test_never_inside_a_notebook_kernel(monkeypatch):
    terminal = _terminal(monkeypatch)
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert not files.enabled()
    assert list(files.bar(range(3), desc="x")) == [0, 1, 2]
    assert terminal.getvalue() == ""


def test_a_bar_is_one_line_updated_in_place(monkeypatch):
    terminal = _terminal(monkeypatch)
    for _ in files.bar(range(50), desc="scoring", unit="batch", mininterval=0):
        pass
    text = terminal.getvalue()
    assert "scoring" in text and "50/50" in text and "batch" in text
    assert text.count("\n") <= 1 and text.count("\r") > 1


def test_library_loops_over_a_split_show_a_bar(monkeypatch):
    """The prior, the mean-ab baseline and scoring walk a split with a bar."""
    terminal = _terminal(monkeypatch)
    from colorutils import evaluation, quantize

    rng = np.random.default_rng(0)
    l_norm = rng.uniform(-1, 1, (8, 8, 8, 1)).astype("float32")
    ab = rng.uniform(-40, 40, (8, 8, 8, 2)).astype("float32")
    quantize.empirical_prior([(l_norm, {"ab": ab})] * 3, quantize.ab_bins())
    evaluation.dataset_mean_ab((l_norm, ab))
    evaluation.evaluate(None, (l_norm, ab), baselines=("gray",), batch_size=4)
    text = terminal.getvalue()
    for label in ("colour prior", "mean ab", "scoring"):
        assert label in text, text


def test_silent_when_not_a_terminal(capfd):
    from colorutils import quantize

    ab = np.full((2, 4, 4, 2), 30.0, np.float32)
    quantize.empirical_prior([ab, ab], quantize.ab_bins())
    assert capfd.readouterr().err == ""


def test_training_shows_epoch_loss_and_time_left(monkeypatch, tmp_path):
    import keras
    import tensorflow as tf

    from colorutils import train

    rng = np.random.default_rng(0)
    ds = tf.data.Dataset.from_tensor_slices(
        (rng.random((16, 8, 8, 1), np.float32), {"ab": rng.random((16, 8, 8, 2), np.float32)})
    ).batch(4)

    def build():
        inp = keras.Input((None, None, 1))
        model = keras.Model(inp, {"ab": keras.layers.Conv2D(2, 3, padding="same")(inp)})
        model.compile("adam", {"ab": "mse"})
        return model

    terminal = _terminal(monkeypatch)
    train.fit(build, ds, run_dir=str(tmp_path / "run"), epochs=2, verbose=0)
    first = terminal.getvalue()
    assert "epoch 2/2" in first and "loss" in first and "8/8" in first
    assert "<" in first  # tqdm's "elapsed<remaining"
    assert first.count("\n") <= 1  # one line, updated in place
    train.fit(build, ds, run_dir=str(tmp_path / "run"), epochs=3, verbose=0)  # resumes
    resumed = terminal.getvalue()[len(first):]
    assert "epoch 3/3" in resumed and "epoch 1/3" not in resumed and "12/12" in resumed


def test_nothing_reaches_an_executed_notebook(tmp_path):
    """A notebook kernel (the book, nbval, papermill) shows no bar, even started from a
    terminal: the cell's outputs hold only what it printed."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from colorutils import files\n"
        "print(sum(files.bar(range(5), desc='scoring', mininterval=0)))")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.get("name") for o in outputs] == ["stdout"], outputs
    assert outputs[0]["text"].strip() == "10"
