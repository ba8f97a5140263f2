"""Build the embedded CIFAR-10 pack (``data/cifar10``) from a ``class/file`` image folder.

Usage::

    python data/build_cifar10.py ../shared/data/cifar10 [--out data/cifar10] [--shards 5]

Reads every ``*.jpg`` of ``FOLDER/CLASS/``, keeps its bytes as they are (no re-encoding),
assigns the split (inside each class: order by MD5 of ``class/file``, first 80 % train, next
10 % validation, last 10 % test), orders each split round-robin over the classes, and writes
``--shards`` shard files (the concatenated JPEG bytes) and ``index.json`` (class names,
per-photo name, label, split code and byte length, and every shard's SHA-256).  Two builds
from the same folder are byte-identical.  :mod:`colorutils.data` reads the result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pathlib
import sys

SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
SPLIT_CODES = {"train": "t", "validation": "v", "test": "s"}
JPEG = b"\xff\xd8\xff"
ABOUT = {
    "name": "cifar10",
    "description": "The CIFAR-10 test split (10,000 colour photos of 32x32 pixels, 10 "
                   "classes), stored as the JPEG files of ../shared/data/cifar10 (quality "
                   "about 75, 4:2:0), concatenated into shards without re-encoding.",
    "citation": "Alex Krizhevsky. Learning Multiple Layers of Features from Tiny Images. "
                "Technical report, University of Toronto, 2009.",
    "url": "https://www.cs.toronto.edu/~kriz/cifar.html",
    "split_rule": "inside each class, photos ordered by md5('class/file'); first 80% train, "
                  "next 10% validation, last 10% test; each split stored round-robin over "
                  "the classes",
}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def collect(folder: pathlib.Path) -> tuple[list[str], list[tuple[str, int, str, bytes]]]:
    """``(class_names, [(name, label, split, jpeg_bytes)])`` in stored order."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise SystemExit(f"{folder}: no class folders (expected FOLDER/CLASS/*.jpg)")
    per_split: dict[str, list[list[tuple[str, int, bytes]]]] = {s: [] for s in SPLIT_FRACTIONS}
    for label, name in enumerate(classes):
        files = sorted((folder / name).glob("*.jpg"), key=lambda p: _md5(f"{name}/{p.name}"))
        n = len(files)
        cut1 = round(n * SPLIT_FRACTIONS["train"])
        cut2 = cut1 + round(n * SPLIT_FRACTIONS["validation"])
        for split, part in (("train", files[:cut1]), ("validation", files[cut1:cut2]),
                            ("test", files[cut2:])):
            items = []
            for path in part:
                data = path.read_bytes()
                if not data.startswith(JPEG):
                    raise SystemExit(f"{path}: not a JPEG file")
                items.append((f"{name}/{path.name}", label, data))
            per_split[split].append(items)
    ordered = []
    for split, by_class in per_split.items():
        for rank in range(max(len(c) for c in by_class)):
            for items in by_class:
                if rank < len(items):
                    name, label, data = items[rank]
                    ordered.append((name, label, split, data))
    return classes, ordered


def build(folder: pathlib.Path, out: pathlib.Path, shards: int) -> dict:
    classes, photos = collect(folder)
    out.mkdir(parents=True, exist_ok=True)
    per_shard = math.ceil(len(photos) / shards)
    shard_info = []
    for s in range(shards):
        part = photos[s * per_shard:(s + 1) * per_shard]
        blob = b"".join(p[3] for p in part)
        file = f"cifar10-{s}.bin"
        (out / file).write_bytes(blob)
        shard_info.append({"file": file, "images": len(part), "bytes": len(blob),
                           "sha256": hashlib.sha256(blob).hexdigest()})
    index = {**ABOUT, "version": 1, "class_names": classes, "shards": shard_info,
             "split": "".join(SPLIT_CODES[p[2]] for p in photos),
             "label": [p[1] for p in photos], "length": [len(p[3]) for p in photos],
             "name": [p[0] for p in photos]}
    (out / "index.json").write_text(json.dumps(index, separators=(",", ":")) + "\n")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path, help="FOLDER/CLASS/*.jpg")
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parent / "cifar10")
    parser.add_argument("--shards", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder", file=sys.stderr)
        return 2
    index = build(args.folder, args.out, args.shards)
    total = sum(s["bytes"] for s in index["shards"])
    counts = {s: index["split"].count(c) for s, c in SPLIT_CODES.items()}
    print(f"{args.out}: {len(index['name'])} photos, {len(index['class_names'])} classes, "
          f"splits {counts}, {total / 1e6:.2f} MB in {len(index['shards'])} shards")
    for s in index["shards"]:
        print(f"  {s['file']}  {s['images']} photos  {s['bytes']:,d} B  sha256 {s['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
