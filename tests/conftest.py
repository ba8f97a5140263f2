"""Fixtures several test modules share."""

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """class/file folder: 2 classes x 16 colourful 24 x 32 photos (blurred colour fields)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for c, name in enumerate(("meadow", "sunset")):
        (root / name).mkdir()
        for i in range(16):
            coarse = rng.uniform(0, 255, (2, 3, 3)) * (0.5 + 0.5 * c)
            img = Image.fromarray(coarse.astype(np.uint8)).resize((32, 24), Image.BILINEAR)
            img.save(root / name / f"{i:02d}.jpg", quality=95)
    return root
