"""The embedded CIFAR-10 pack: offline loading, split sizes, labels, checksums, the builder."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from colorutils import data

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACK = ROOT / "data" / "cifar10"
SHARED_CIFAR = ROOT.parent / "shared" / "data" / "cifar10"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")


def test_pack_is_small_few_files_and_its_checksums_match():
    files = sorted(p.name for p in PACK.iterdir())
    assert files == ["cifar10-0.bin", "cifar10-1.bin", "cifar10-2.bin", "cifar10-3.bin",
                     "cifar10-4.bin", "index.json"]
    assert sum(p.stat().st_size for p in PACK.iterdir()) < 15e6
    index = json.loads((PACK / "index.json").read_text())
    for shard in index["shards"]:
        blob = (PACK / shard["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == shard["sha256"]
        assert len(blob) == shard["bytes"]
    assert set(data.verify()) == {s["file"] for s in index["shards"]}
    assert "Krizhevsky" in index["citation"]


def test_a_damaged_shard_is_refused_with_a_clear_message(tmp_path):
    copy = tmp_path / "pack"
    shutil.copytree(PACK, copy)
    with open(copy / "cifar10-2.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(data.PackError, match="cifar10-2.bin is damaged.*SHA-256"):
        data.verify(str(copy))
    shutil.copy(PACK / "cifar10-2.bin", copy / "cifar10-2.bin")
    (copy / "cifar10-3.bin").unlink()
    with pytest.raises(data.PackError, match="cifar10-3.bin.*missing"):
        data.verify(str(copy))


def test_split_sizes_labels_and_class_balance():
    assert data.class_names() == CLASSES
    assert data.split_sizes() == {"train": 8000, "validation": 1000, "test": 1000}
    seen = set()
    for split, per_class in (("train", 800), ("validation", 100), ("test", 100)):
        photos, labels, names = data.load_split(split)
        assert len(photos) == len(labels) == len(names) == 10 * per_class
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
        assert all(p.startswith(b"\xff\xd8\xff") and p.endswith(b"\xff\xd9") for p in photos)
        # the label is the class folder of the original file name
        assert all(n.split("/")[0] == CLASSES[y] for n, y in zip(names, labels, strict=True))
        # the first 10 photos of a split are one of each class (limit= stays balanced)
        assert sorted(labels[:10].tolist()) == list(range(10))
        assert not seen & set(names), "a photo is in two splits"
        seen |= set(names)
    assert len(seen) == 10000


def test_loads_offline_with_the_right_shapes_and_identically_twice():
    ds = data.load("cifar10", "test", 32, batch_size=50, with_label=True, limit=100)
    first = [(x.numpy(), t["ab"].numpy(), t["label"].numpy()) for x, t in ds]
    assert [b[0].shape for b in first] == [(50, 32, 32, 1)] * 2
    assert first[0][1].shape == (50, 32, 32, 2) and first[0][2].dtype == np.int32
    again = [(x.numpy(), t["ab"].numpy(), t["label"].numpy()) for x, t in
             data.load("cifar10", "test", 32, batch_size=50, with_label=True, limit=100)]
    for a, b in zip(first, again, strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
    # the photos are in colour and decode exactly as TensorFlow decodes the stored JPEG
    photos, labels, _ = data.load_split("test")
    rgb = next(iter(data.load("cifar10", "test", 32, batch_size=4, output="rgb")))[0]
    direct = tf.io.decode_jpeg(photos[0], channels=3).numpy() / 255.0
    np.testing.assert_allclose(rgb[0].numpy(), direct, atol=1e-6)
    assert np.abs(first[0][1]).max() > 30


def test_info_and_label_counts_read_no_image():
    i = data.info("cifar10")
    assert i.class_names == CLASSES and i.split_sizes["train"] == 8000
    assert "Krizhevsky" in i.notes
    assert data.label_counts("cifar10", "validation") == {c: 100 for c in CLASSES}
    assert data.parse_source("cifar10") == ("cifar10", "")
    assert data.parse_source("tfds:cifar10") == ("tfds", "cifar10")


def test_a_missing_pack_names_where_it_looked_and_the_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DIR_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(data, "_candidates", lambda: [tmp_path])
    data.read_index.cache_clear()
    try:
        with pytest.raises(data.PackError, match="tfds:cifar10"):
            data.pack_dir()
    finally:
        data.read_index.cache_clear()


def test_an_installed_pack_is_found_as_a_namespace_package(tmp_path, monkeypatch):
    """A wheel (pip install from git, as on Colab) carries the pack as colorutils/cifar_pack
    without an __init__.py; the lookup must find that folder, not a MultiplexedPath."""
    import colorutils

    installed = tmp_path / "site" / "colorutils"
    shutil.copytree(PACK, installed / "cifar_pack")
    monkeypatch.setattr(colorutils, "__path__", [str(installed), *colorutils.__path__])
    monkeypatch.delitem(sys.modules, "colorutils.cifar_pack", raising=False)
    monkeypatch.delenv(data.DIR_ENV_VAR, raising=False)
    assert data._candidates()[0] == installed / "cifar_pack"
    data.read_index.cache_clear()
    try:
        assert data.pack_dir() == installed / "cifar_pack"
        assert data.split_sizes() == {"train": 8000, "validation": 1000, "test": 1000}
    finally:
        data.read_index.cache_clear()


@pytest.mark.realdata
def test_the_builder_recreates_the_committed_pack_byte_for_byte(tmp_path):
    if not SHARED_CIFAR.is_dir():
        pytest.skip(f"{SHARED_CIFAR} is absent: rebuilding the pack needs ../shared/data/cifar10")
    out = tmp_path / "pack"
    subprocess.run([sys.executable, str(ROOT / "data" / "build_cifar10.py"), str(SHARED_CIFAR),
                    "--out", str(out)], check=True, capture_output=True)
    for name in ("index.json", *(f"cifar10-{i}.bin" for i in range(5))):
        assert (out / name).read_bytes() == (PACK / name).read_bytes(), name
    # and the stored bytes are the original files, unchanged
    photos, _, names = data.load_split("validation")
    assert photos[7] == (SHARED_CIFAR / names[7]).read_bytes()
