"""From a trained model to ab and RGB: run, decode, upsample, recombine.

Every model of the book maps ``l_norm [B, H, W, 1]`` to a dict whose ``"ab"`` entry is either

* 2 channels: a regression head, ab in Lab units (or another chroma space, see
  :func:`colorutils.losses.chroma_to_ab`), or
* ``Q`` channels: logits over the in-gamut bins ``ab_bins(grid_size_for(Q))``, decoded by
  :func:`colorutils.quantize.decode` (annealed mean, ``T = 0.38``, by default),

possibly at a reduced resolution (Zhang et al. predict at 1/4 size).  :func:`predict_ab` turns
either into ab at the input's full resolution (bilinear upsampling, optional Gaussian chroma
smoothing); :func:`colorize` recombines it with the true lightness.  For sweeps over decoding
settings, :func:`predict_raw` runs the network once and :func:`decode_output` decodes its
output as often as needed.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from colorutils import quantize


def _as_batch(l_norm):
    x = tf.convert_to_tensor(l_norm)
    if x.shape.rank == 3:
        return tf.cast(x[None], tf.float32), True
    if x.shape.rank != 4 or x.shape[-1] != 1:
        raise ValueError(f"l_norm has shape {x.shape}; expected [B, H, W, 1] (or [H, W, 1]) "
                         "normalised lightness in [-1, 1] (colorutils.color.split_lab).")
    return tf.cast(x, tf.float32), False


def _ab_output(out):
    if isinstance(out, dict):
        if "ab" not in out:
            raise ValueError(f"the model's outputs are {sorted(out)}; a colorization model "
                             "must have an 'ab' output.")
        out = out["ab"]
    elif isinstance(out, (list, tuple)):
        out = out[0]
    return tf.cast(out, tf.float32)


def predict_raw(model, l_norm, *, batch_size: int = 32) -> np.ndarray:
    """Run the model on ``l_norm`` in batches; return its ``"ab"`` output (float32 numpy).

    That is ab (2 channels) or logits (``Q`` channels) at the model's output resolution.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")
    x, _ = _as_batch(l_norm)
    outs = [_ab_output(model(x[i:i + batch_size], training=False)).numpy()
            for i in range(0, int(x.shape[0]), batch_size)]
    return np.concatenate(outs, axis=0)


def decode_output(output, size, *, method: str = "annealed_mean",
                  temperature: float = quantize.TEMPERATURE, smooth_sigma: float | None = None,
                  l_norm=None, space: str = "lab") -> np.ndarray:
    """Decode a model's ``"ab"`` output and bring it to full resolution.

    Parameters
    ----------
    output : array [B, h, w, C]
        ``C = 2``: ab (or chroma in ``space``); otherwise logits over ``ab_bins(grid_size_for(C))``.
    size : (H, W)
        Target resolution (bilinear upsampling when it differs).
    method, temperature
        Decoding of logits (:func:`colorutils.quantize.decode`); ignored for regression.
    smooth_sigma : float, optional
        Gaussian smoothing of the decoded chroma at full resolution, in pixels.
    l_norm : array [B, H, W, 1], optional
        Needed only for ``space`` other than ``"lab"``.
    space : {"lab", "yuv", "hsv"}
        Chroma space of a regression output (:func:`colorutils.losses.chroma_to_ab`).

    Returns
    -------
    np.ndarray float32 [B, H, W, 2], ab in Lab units.
    """
    out = tf.convert_to_tensor(output, tf.float32)
    if out.shape.rank != 4:
        raise ValueError(f"output has shape {out.shape}; expected [B, h, w, C].")
    channels = int(out.shape[-1])
    if channels == 2:
        ab = out
    else:
        bins = quantize.ab_bins(quantize.grid_size_for(channels))
        ab = quantize.decode(out, bins, method=method, temperature=temperature)
    size = tuple(int(s) for s in size)
    if channels == 2 and space != "lab":
        # Convert to ab at the output's resolution, then upsample ab: interpolating a hue
        # across its wrap-around (0.99 -> 0.01) would pass through every other hue.
        if l_norm is None:
            raise ValueError(f"space={space!r} needs l_norm to convert the chroma back to ab.")
        from colorutils.losses import chroma_to_ab

        l_small = _as_batch(l_norm)[0]
        if tuple(l_small.shape[1:3]) != tuple(ab.shape[1:3]):
            l_small = tf.image.resize(l_small, ab.shape[1:3], method="area")
        ab = chroma_to_ab(l_small, ab, space)
    if tuple(ab.shape[1:3]) != size:
        ab = tf.image.resize(ab, size, method="bilinear")
    if smooth_sigma:
        ab = quantize.smooth_chroma(ab, smooth_sigma)
    return ab.numpy().astype(np.float32)


def predict_ab(model, l_norm, *, method: str = "annealed_mean",
               temperature: float = quantize.TEMPERATURE, smooth_sigma: float | None = None,
               batch_size: int = 32, space: str = "lab") -> np.ndarray:
    """Predict ab at the full resolution of ``l_norm``, for any colorization model of the book.

    Parameters
    ----------
    model : keras.Model
        Output dict with ``"ab"``: 2 channels (regression, Lab units) or ``Q`` logits channels
        (classification over ``ab_bins(grid_size_for(Q))``), at any resolution.
    l_norm : array [B, H, W, 1] or [H, W, 1]
        Normalised lightness in [-1, 1].
    method : {"annealed_mean", "mean", "mode"}
        Decoding of a distribution (:func:`colorutils.quantize.decode`).
    temperature : float
        Annealed-mean temperature (default :data:`colorutils.quantize.TEMPERATURE`).
    smooth_sigma : float, optional
        Gaussian chroma smoothing in full-resolution pixels (None: off).
    batch_size : int
        Images per forward pass.
    space : str
        Chroma space of a 2-channel output (``"lab"`` for the book's regression models).

    Returns
    -------
    np.ndarray
        float32 ``[B, H, W, 2]`` (``[H, W, 2]`` for a single image), ab in Lab units.
    """
    x, single = _as_batch(l_norm)
    raw = predict_raw(model, x, batch_size=batch_size)
    ab = decode_output(raw, x.shape[1:3], method=method, temperature=temperature,
                       smooth_sigma=smooth_sigma, l_norm=x, space=space)
    return ab[0] if single else ab


def colorize(model, l_norm, **kwargs) -> np.ndarray:
    """RGB in [0, 1] (float32 ``[B, H, W, 3]``): ``recombine(l_norm, predict_ab(model, l_norm))``.

    Keyword arguments go to :func:`predict_ab`.
    """
    from colorutils import color

    x, single = _as_batch(l_norm)
    rgb = color.recombine(x, predict_ab(model, x, **kwargs)).numpy().astype(np.float32)
    return rgb[0] if single else rgb
