"""Training sees photos the right way up: EXIF orientation in the ``tf.data`` decoder.

A phone stores a portrait photo as a landscape JPEG plus an EXIF ``Orientation`` tag (0x0112)
that says how to turn it for display.  ``tf.io.decode_jpeg`` ignores the tag; ``colorize``
(Pillow's ``ImageOps.exif_transpose``) applies it.  These tests hold the training decoder
(:func:`colorutils.data.decode_image`, used by every ``folder:`` source) to what Pillow
shows, for all eight orientations, both byte orders of the EXIF block, and the ``folder:``
source itself.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from colorutils import data

ORIENTATION = 0x0112


def _asymmetric(h=24, w=40):
    """A photo whose every flip and rotation looks different: a bright corner, gradients."""
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([255 * xx / (w - 1), 255 * yy / (h - 1), 60 + 0 * xx], -1)
    rgb[: h // 3, : w // 4] = (250, 250, 250)
    return rgb.astype(np.uint8)


def _jpeg(orientation: int, **kwargs) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    buf = io.BytesIO()
    Image.fromarray(_asymmetric(**kwargs)).save(buf, format="JPEG", quality=95, exif=exif)
    return buf.getvalue()


def _as_shown(encoded: bytes) -> np.ndarray:
    """What Pillow (and ``colorutils colorize``) shows: the EXIF orientation applied."""
    with Image.open(io.BytesIO(encoded)) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def _motorola_app1(orientation: int) -> bytes:
    """An APP1 Exif segment in big-endian ("MM") byte order holding only the orientation;
    a make (0x010F) entry comes first, so the tag is not the first entry."""
    make = b"Phone\x00"
    entries = [struct.pack(">HHI4s", 0x010F, 2, len(make), b"\x00\x00\x00\x26"),
               struct.pack(">HHIHH", ORIENTATION, 3, 1, orientation, 0)]
    ifd = struct.pack(">H", len(entries)) + b"".join(entries) + b"\x00\x00\x00\x00"
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    tiff += b"\x00" * (0x26 - len(tiff)) + make
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_image_applies_the_exif_orientation(orientation):
    encoded = _jpeg(orientation)
    expected = _as_shown(encoded)
    got = data.decode_image(tf.constant(encoded)).numpy()
    assert got.shape == expected.shape, (orientation, got.shape, expected.shape)
    assert np.abs(got.astype(int) - expected).mean() < 2.0, orientation


def test_the_orientation_is_read_in_big_endian_exif_too():
    plain = Image.fromarray(_asymmetric())
    buf = io.BytesIO()
    plain.save(buf, format="JPEG", quality=95)  # JFIF APP0, no EXIF
    jfif = buf.getvalue()
    app0_end = 4 + struct.unpack(">H", jfif[4:6])[0]
    for orientation in (3, 6, 8):
        encoded = jfif[:app0_end] + _motorola_app1(orientation) + jfif[app0_end:]
        expected = _as_shown(encoded)
        assert expected.shape != (24, 40, 3) or orientation == 3  # Pillow did turn it
        got = data.decode_image(tf.constant(encoded)).numpy()
        assert got.shape == expected.shape, orientation
        assert np.abs(got.astype(int) - expected).mean() < 2.0, orientation


def test_reduced_size_decoding_keeps_the_orientation():
    encoded = _jpeg(6, h=64, w=96)  # shown 64 wide, 96 high
    got = data.decode_image(tf.constant(encoded), min_side=32).numpy()  # 1/2 scale
    assert got.shape == (48, 32, 3)
    expected = np.asarray(Image.fromarray(_as_shown(encoded)).resize((32, 48), Image.BOX))
    assert np.abs(got.astype(int) - expected).mean() < 6.0


@pytest.mark.slow
def test_a_folder_source_trains_on_photos_the_right_way_up(tmp_path):
    folder = tmp_path / "phone" / "train" / "people"
    folder.mkdir(parents=True)
    (folder / "portrait.jpg").write_bytes(_jpeg(6))
    expected = _as_shown((folder / "portrait.jpg").read_bytes())
    assert expected.shape == (40, 24, 3)  # stored 40 wide x 24 high, shown 24 wide x 40 high
    src = data.folder_source(str(tmp_path / "phone"), "train")
    image, _ = next(iter(src.images))
    assert image.shape == expected.shape
    assert np.abs(image.numpy().astype(int) - expected).mean() < 2.0
    # and through the whole pipeline: the centre crop of the upright photo
    l_norm, _ = next(iter(data.load(f"folder:{tmp_path / 'phone'}", "train", 24,
                                    batch_size=1, shuffle=False, augment=False)))
    upright = data.centre_crop(expected, 24).numpy()
    from colorutils import color

    l_expected = color.split_lab(color.rgb_to_lab(upright))[0].numpy()
    assert np.abs(l_norm.numpy()[0] - l_expected).mean() < 0.02
