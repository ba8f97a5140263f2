"""The network a chapter writes out in visible code is the network the library trains.

Chapter 04 shows the U-Net of chapters 02-03 in plain Keras, in the cell tagged
``unet-definition``. Here that cell is taken from the notebook source and run on its own (it
must need nothing else of the chapter), and the model it defines is compared with
``colorutils.models.unet``: the same layers (names and kinds) in the same order, the same
weight shapes, the same number of parameters, the same output, for the chapters' settings
and for others. A student who edits the chapter's function, or a change to the library's
builder, that makes the two differ fails here.

The chapters show the code a student needs to redo their experiment: at least 40 % of each
chapter's code lines visible (``book_checks.code_lines``, the Colab set-up cell aside), and
every cell that stays folded says in its first line what it does.
"""

from __future__ import annotations

import json
import pathlib

import book_checks
import numpy as np
import pytest

from colorutils import models, quantize

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = NOTEBOOKS / "04_architectures.ipynb"
# Chapter 08 (photos) is held to the same rule by tests/test_book_pages.py on the built book.
OPEN_CHAPTERS = sorted(NOTEBOOKS.glob("0[0-7]_*.ipynb"))
TAG = "unet-definition"


def tagged_cell_source(path: pathlib.Path, tag: str) -> str:
    """The source of the one code cell of notebook ``path`` tagged ``tag``."""
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code" and tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} code cells tagged {tag!r}, expected 1"
    source = cells[0]["source"]
    return "".join(source) if isinstance(source, list) else source


@pytest.fixture(scope="module")
def book_unet():
    namespace: dict = {}
    exec(compile(tagged_cell_source(NOTEBOOK, TAG), f"{NOTEBOOK.name}[{TAG}]", "exec"),
         namespace)
    return namespace["book_unet"]


def _layers(model):
    return [(layer.name, type(layer).__name__, [tuple(w.shape) for w in layer.weights])
            for layer in model.layers]


# (0.25, 4): chapters 02-03 at scale="book"; the others: other widths and decoder depths
@pytest.mark.parametrize("width,output_stride", [(0.25, 4), (0.125, 1), (0.5, 8)])
def test_the_written_out_unet_is_the_librarys(book_unet, width, output_stride):
    num_bins = len(quantize.ab_bins())
    mine = book_unet(num_bins, width=width, depth=3, output_stride=output_stride)
    library = models.build("unet", head="classification", num_bins=num_bins, width=width,
                           depth=3, output_stride=output_stride)
    assert _layers(mine) == _layers(library)
    assert models.count_params(mine) == models.count_params(library)
    assert mine.count_params() == library.count_params()  # batch-norm statistics included
    library.set_weights(mine.get_weights())  # same weights in, same logits out
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(library(x, training=False)["ab"].numpy(),
                               mine(x, training=False)["ab"].numpy(), rtol=1e-5, atol=1e-5)
    assert mine(x)["ab"].shape == (2, 32 // output_stride, 32 // output_stride, num_bins)



@pytest.mark.parametrize("path", OPEN_CHAPTERS, ids=[p.stem for p in OPEN_CHAPTERS])
def test_chapter_shows_its_code_and_names_each_fold(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    visible, folded = book_checks.code_lines(nb)
    assert visible >= book_checks.MIN_VISIBLE_CODE * (visible + folded), (
        f"{path.name}: {visible} of {visible + folded} code lines visible")
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or not tags & book_checks.FOLDED_TAGS:
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        first = source.lstrip().splitlines()[0] if source.strip() else ""
        assert first.startswith("# ") and len(first) > 8, (
            f"{path.name} cell {cell.get('id')}: a folded cell's first line says what it does "
            f"(e.g. '# Plumbing: load the test split'), not {first[:60]!r}")
