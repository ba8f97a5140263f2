"""Test images shared by the benchmarks: random crops of scikit-image's colour photographs."""

from __future__ import annotations

import numpy as np
import skimage.data


def photo_crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` uint8 crops of ``size`` x ``size`` from four scikit-image colour photographs."""
    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
               skimage.data.rocket()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = sources[i % len(sources)]
        y = rng.integers(0, img.shape[0] - size + 1)
        x = rng.integers(0, img.shape[1] - size + 1)
        out.append(img[y:y + size, x:x + size, :3])
    return np.stack(out)
