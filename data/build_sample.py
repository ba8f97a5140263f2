"""Build (or rebuild) the embedded sample set and print what it holds.

Usage: ``python data/build_sample.py [--force]``.  The library builds the set on
first use anyway (:func:`colorutils.data.load_arrays`); this script is for inspecting it or
refreshing the cache after an upgrade of scikit-image, scikit-learn or matplotlib.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from colorutils import data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    path = data.cache_path()
    if args.force and path.exists():
        path.unlink()
    start = time.perf_counter()
    arrays = data.load_arrays()
    seconds = time.perf_counter() - start
    print(f"sample set: {path} ({seconds:.1f} s)")
    for split in data.SPLITS:
        images = arrays[f"{split}_images"]
        counts = np.bincount(arrays[f"{split}_labels"], minlength=len(data.PHOTOS))
        print(f"  {split:<10} {images.shape} {images.dtype}, per photo {counts.tolist()}")
    print(f"  fingerprint {data.fingerprint(arrays)[:16]}")
    for photo in data.PHOTOS:
        print(f"  {photo.name:<13} {photo.package}/{photo.filename} ({photo.licence})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
