"""Image arrays as the whole library passes them: batches ``[B, H, W, C]``, RGB in [0, 1].

Two conventions hold everywhere, so they are checked and converted in one place:

* an image batch is ``[B, H, W, C]``; a single image ``[H, W, C]`` is accepted and given a
  batch axis (and the result returned without it): :func:`as_batch`;
* RGB is float in ``[0, 1]`` inside the library and ``uint8`` in files and on screen:
  :func:`to_uint8` rounds to the nearest level, ``round(255 x)``, with ties to even as
  NumPy's :func:`numpy.round` and scikit-image's ``img_as_ubyte`` do.

Examples
--------
>>> import numpy as np
>>> to_uint8(np.array([0.0, 0.5, 1.0, 1.2, -0.1]))
array([  0, 128, 255, 255,   0], dtype=uint8)
>>> batch, single = as_batch(np.zeros((4, 4, 1)), 1, "l_norm")
>>> tuple(batch.shape), single
((1, 4, 4, 1), True)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["as_batch", "to_uint8"]


def as_batch(x, channels: int, name: str, *, rgb: bool = False, hint: str = ""):
    """``x`` as a float32 ``[B, H, W, channels]`` tensor, and whether a batch axis was added.

    Parameters
    ----------
    x : array_like ``[B, H, W, channels]`` or ``[H, W, channels]``
    channels : int
    name : str
        The argument's name, for the error message.
    rgb : bool
        ``x`` is RGB: uint8 is divided by 255, and (eagerly) floats outside ``[0, 1]`` are
        refused.
    hint : str
        What ``x`` should be, appended to the error message.

    Raises
    ------
    ValueError
        For another shape, or float RGB outside ``[0, 1]``.
    """
    x = tf.convert_to_tensor(x)
    if x.shape.rank not in (3, 4) or x.shape[-1] != channels:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}; expected [B, H, W, {channels}] or "
            f"[H, W, {channels}]" + (f" ({hint})." if hint else "."))
    if rgb and x.dtype == tf.uint8:
        x = tf.cast(x, tf.float32) / 255.0
    x = tf.cast(x, tf.float32)
    if rgb and tf.executing_eagerly() and tf.size(x) > 0:
        lo, hi = float(tf.reduce_min(x)), float(tf.reduce_max(x))
        if lo < -1e-3 or hi > 1.0 + 1e-3:
            raise ValueError(
                f"{name} has values in [{lo:.3g}, {hi:.3g}]; RGB must be floats in [0, 1] "
                f"(divide by 255 or pass uint8).")
    single = x.shape.rank == 3
    return (x[None] if single else x), single


def to_uint8(rgb) -> np.ndarray:
    """Float RGB in ``[0, 1]`` (any shape) -> uint8: ``clip(round(255 x), 0, 255)``."""
    return np.clip(np.round(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)
