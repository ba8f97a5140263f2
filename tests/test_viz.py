"""The shared figures draw what they are given and refuse what they cannot draw."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from colorutils import viz  # noqa: E402


def test_show_images_grid_and_titles():
    imgs = [np.random.rand(8, 8, 3), np.random.rand(8, 8), (np.random.rand(8, 8, 1) * 255).astype("uint8")]
    fig = viz.show_images(imgs, titles=["a", "b", "c"], ncols=2, title="demo")
    axes = fig.axes
    assert len(axes) == 4  # 2 x 2 grid, last one empty
    assert [ax.get_title() for ax in axes[:3]] == ["a", "b", "c"]
    assert fig._suptitle.get_text() == "demo"


def test_show_images_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        viz.show_images([])
    with pytest.raises(ValueError, match="titles"):
        viz.show_images([np.zeros((4, 4, 3))], titles=["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        viz.show_images([np.zeros((4,))])


def test_compare_rows_labels_rows():
    rows = {"gray": [np.zeros((4, 4))] * 3, "truth": [np.ones((4, 4, 3))] * 3}
    fig = viz.compare_rows(rows, title="cmp")
    assert len(fig.axes) == 6
    assert fig.axes[0].get_ylabel() == "gray" and fig.axes[3].get_ylabel() == "truth"
    assert fig.axes[0].yaxis.label.get_rotation() == 0  # read without turning the head


def test_grids_are_at_most_six_images_wide():
    rows = {"gray input": [np.zeros((4, 4))] * 10, "a long model name (T = 0.38)": [np.ones((4, 4, 3))] * 10}
    fig = viz.compare_rows(rows, max_cols=10, title="ten photos asked for, six shown")
    assert len(fig.axes) == 2 * 6 == 12
    assert 704 * fig.axes[0].get_position().width >= 98  # shrunk to the 704 px column
    fig = viz.show_images([np.zeros((4, 4))] * 10, ncols=10)
    assert len(fig.axes) == 12  # two rows of six
    # at the book's 704 px column a row of six tiles gets >= 100 px per tile
    width_in = fig.get_size_inches()[0]
    tile_in = fig.axes[0].get_position().width * width_in
    assert 704 * tile_in / width_in >= 100


def test_pick_photos_spreads_over_the_classes():
    labels = np.arange(500) % 10  # the embedded test split cycles through its classes
    assert len(set(labels[viz.pick_photos(500, 6)])) == 2  # evenly spaced: mostly trucks
    picked = viz.pick_photos(500, 6, labels=labels)
    assert len(set(picked.tolist())) == 6 and len(set(labels[picked])) == 6
    assert picked.min() < 50 and picked.max() > 450  # from the whole split
    assert len(viz.pick_photos(4, 6, labels=[0, 0, 1, 1])) == 4
    with pytest.raises(ValueError, match="labels"):
        viz.pick_photos(5, 2, labels=[0, 1])


def test_glue_is_silent_without_myst_nb_and_passes_through_with_it(monkeypatch):
    import sys
    import types

    from colorutils import viz

    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails: a Colab without extras
    assert viz.glue("x", 1.5) is None
    calls = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    viz.glue("ratio", 0.75)
    viz.glue("shown", 2, display=True)
    assert calls == [("ratio", 0.75, False), ("shown", 2, True)]
