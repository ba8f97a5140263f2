"""Colour-space conversions as TensorFlow ops, and the model's L / ab normalisation.

sRGB (IEC 61966-2-1 {cite}`iec61966`, D65 white, 2 degree observer, scikit-image's constants
{cite}`van2014scikit`) is the hub of CIE XYZ, CIE L*a*b* {cite}`fairchild2013color`, HSV (Smith
1978) and YUV (BT.601). Functions take any shape ``[..., 3]``, run eagerly, in ``tf.function``,
``tf.data`` and Keras, with finite gradients (fractional powers see a clamped argument). RGB is
uint8 in [0, 255] or float in [0, 1] (float16 computed in float32; uint8 gives float32); float
RGB up to 255 raises a ``ValueError`` naming the fix (in a graph a ``tf.debugging`` assertion,
which XLA drops, so :mod:`colorutils.data` checks before). The network sees ``normalize_l(L) =
L / 50 - 1`` and ab in Lab units (over ``AB_SCALE`` where bounded); see :func:`recombine`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = [
    "AB_SCALE", "rgb_to_lab", "lab_to_rgb", "rgb_to_hsv", "hsv_to_rgb", "rgb_to_yuv",
    "normalize_l", "denormalize_l", "split_lab", "recombine", "rotate_hue", "to_uint8",
]

# "What from what": linear sRGB -> XYZ (D65) as in scikit-image; BT.601 YUV as tf.image.
_xyz_from_rgb = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_yuv_from_rgb = np.array([[0.299, 0.587, 0.114], [-0.14714119, -0.28886916, 0.43601035],
                          [0.61497538, -0.51496512, -0.10001026]])
_rgb_from_yuv = np.linalg.inv(_yuv_from_rgb)
# The D65 white (Y = 1): the rows above sum to it to 4 digits, so grays get |a|, |b| < 0.005.
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])

# Lab is linear in f = f(XYZ / white): with the white folded in, two GEMMs and two curves.
_lab_from_f = np.array([[0.0, 116.0, 0.0], [500.0, -500.0, 0.0], [0.0, 200.0, -200.0]])
_LAB_FROM_F_OFFSET = np.array([-16.0, 0.0, 0.0])
_f_from_lab = np.linalg.inv(_lab_from_f)
_F_FROM_LAB_OFFSET = -_f_from_lab @ _LAB_FROM_F_OFFSET
_white_xyz_from_rgb = _xyz_from_rgb / _D65_WHITE[:, None]
_rgb_from_white_xyz = np.linalg.inv(_xyz_from_rgb) * _D65_WHITE[None, :]

#: ab over ``AB_SCALE`` is a bounded target: sRGB ab lies within about [-86, 98] x [-108, 95],
#: so tanh * 110 stays off its asymptotes.
AB_SCALE = 110.0

_RANGE_TOLERANCE = 1e-3  # float RGB may exceed [0, 1] by this (float16 rounding, resampling)
_GAMUT_TOLERANCE = 0.25 / 255.0  # out of gamut: RGB off [0, 1] by more than 1/4 of an 8-bit step
# uint8 input is linearised by a lookup: the sRGB curve in float64, rounded to float32.
_SRGB_LINEAR_UINT8 = np.array([((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92
                               for c in np.arange(256) / 255.0], np.float32)


def _check_shape(x: tf.Tensor, name: str, channels: int = 3) -> None:
    rank = x.shape.rank
    if rank is not None and rank < 1:
        raise ValueError(f"{name} must have shape [..., {channels}], got a scalar.")
    last = x.shape[-1] if rank is not None else None
    if last is not None and last != channels:
        hint = {1: " (grayscale: tile it to 3 channels, or use it as L).",
                4: " (RGBA: drop the alpha channel with x[..., :3])."}.get(last, ".")
        raise ValueError(f"{name} must have {channels} channels in its last axis, got shape "
                         f"{tuple(x.shape)}{hint}")


def _prepare(x, name: str, *, is_rgb: bool, validate: bool = True):
    """``(x checked, as float in the compute dtype; dtype to return)``: uint8/16 RGB -> [0, 1]."""
    x = tf.convert_to_tensor(x)
    _check_shape(x, name)
    dtype = x.dtype
    if dtype in (tf.uint8, tf.uint16):
        if not is_rgb:
            raise ValueError(f"{name} must be a float tensor, got {dtype.name}.")
        return tf.cast(x, tf.float32) / float(dtype.max), tf.float32
    if not dtype.is_floating:
        raise ValueError(
            f"{name} has dtype {dtype.name}; pass uint8 in [0, 255] or float in [0, 1] "
            "(e.g. tf.cast(x, tf.uint8) or tf.cast(x, tf.float32) / 255).")
    x = tf.cast(x, tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype)
    if is_rgb and validate:
        x = _check_range(x, name)
    return x, dtype


def _check_range(x: tf.Tensor, name: str) -> tf.Tensor:
    """Refuse float RGB outside [0, 1] with advice: eagerly a ValueError, in a graph an assert."""
    lo_ok, hi_ok = -_RANGE_TOLERANCE, 1.0 + _RANGE_TOLERANCE
    if tf.executing_eagerly():
        if tf.size(x) == 0:
            return x
        lo, hi = float(tf.reduce_min(x)), float(tf.reduce_max(x))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{name} contains NaN or infinite values.")
        if hi > 1.5:
            raise ValueError(f"{name} has values up to {hi:.1f} but float RGB must lie in "
                             "[0, 1]: divide by 255 or pass uint8.")
        if -1.0 - _RANGE_TOLERANCE <= lo < lo_ok:
            raise ValueError(f"{name} has values down to {lo:.3f} but float RGB must lie in "
                             "[0, 1]: it looks scaled to [-1, 1]; use (x + 1) / 2.")
        if lo < lo_ok or hi > hi_ok:
            raise ValueError(f"{name} has values in [{lo:.4g}, {hi:.4g}] but float RGB must lie "
                             "in [0, 1]: clip it (resampling can overshoot) or divide by 255 if "
                             "it is in [0, 255].")
        return x
    empty, hi, lo = tf.size(x) == 0, tf.reduce_max(x), tf.reduce_min(x)
    checks = [
        tf.debugging.Assert(empty | (hi <= hi_ok), [
            f"{name} has float values above 1 (the max follows); float RGB must lie in [0, 1]: "
            "if they go up to 255, divide by 255 or pass uint8.", hi]),
        tf.debugging.Assert(empty | (lo >= lo_ok), [
            f"{name} has float values below 0 (the min follows); float RGB must lie in [0, 1]: "
            "if it is scaled to [-1, 1], use (x + 1) / 2.", lo]),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(x)


def _apply_matrix(x: tf.Tensor, matrix: np.ndarray, offset: np.ndarray | None = None
                  ) -> tf.Tensor:
    """``x @ matrix.T (+ offset)`` over the last axis: one GEMM on ``[-1, 3]``."""
    m = tf.constant(matrix.T, dtype=x.dtype)
    y = tf.matmul(tf.reshape(x, [-1, 3]), m)
    if offset is not None:
        y = y + tf.constant(offset, dtype=x.dtype)
    y = tf.reshape(y, tf.shape(x))
    y.set_shape(x.shape)
    return y


def _piecewise(upper: tf.Tensor, upper_value: tf.Tensor, lower_value: tf.Tensor) -> tf.Tensor:
    """``where(upper, u, l)`` as ``u m + l (1 - m)``: exact for finite u, l, 2x faster on CPU."""
    m = tf.cast(upper, upper_value.dtype)
    return upper_value * m + lower_value * (1.0 - m)


def rgb_to_lab(rgb, *, validate: bool = True) -> tf.Tensor:
    """Convert sRGB to CIE L*a*b* (D65, 2 degree observer) {cite}`fairchild2013color`.

    With ``lin(c) = ((c + 0.055) / 1.055) ** 2.4`` above 0.04045, else ``c / 12.92`` (sRGB),
    ``(X, Y, Z) = M lin(rgb)`` and the white ``(Xn, Yn, Zn)``::

        L = 116 f(Y/Yn) - 16,  a = 500 (f(X/Xn) - f(Y/Yn)),  b = 200 (f(Y/Yn) - f(Z/Zn))
        f(t) = t ** (1/3) if t > 0.008856 else 7.787 t + 16/116

    L is in [0, 100], a and b roughly in [-128, 127] (float32 for integer input, else the input
    dtype); ``validate=False`` skips the range check.

    >>> rgb_to_lab(tf.constant([[255, 0, 0]], tf.uint8)).numpy().round(1)  # sRGB red
    array([[53.2, 80.1, 67.2]], dtype=float32)
    """
    rgb = tf.convert_to_tensor(rgb)
    if rgb.dtype == tf.uint8:
        _check_shape(rgb, "rgb")
        x, out_dtype = rgb, tf.float32
    else:
        x, out_dtype = _prepare(rgb, "rgb", is_rgb=True, validate=validate)
    if not tf.executing_eagerly() and rgb.dtype in (tf.uint8, tf.float32):
        return _lab_fused(x)
    return tf.cast(_lab(x), out_dtype)


def _lab(x: tf.Tensor) -> tf.Tensor:
    """Lab of checked sRGB ``x`` (uint8 or float in the compute dtype)."""
    if x.dtype == tf.uint8:
        linear = tf.gather(_SRGB_LINEAR_UINT8, tf.cast(x, tf.int32))
    else:  # powers as exp(p log x), 10x faster than tf.pow, of a clamped argument
        safe = tf.maximum(x, 0.04045)
        linear = _piecewise(x > 0.04045,
                            tf.exp(2.4 * tf.math.log((safe + 0.055) / (1.0 + 0.055))), x / 12.92)
    t = _apply_matrix(linear, _white_xyz_from_rgb)  # (X/Xn, Y/Yn, Z/Zn)
    safe = tf.maximum(t, 0.008856)  # cube root: infinite slope at 0, NaN below
    f = _piecewise(t > 0.008856, tf.exp(1.0 / 3.0 * tf.math.log(safe)), 7.787 * t + 16.0 / 116.0)
    return _apply_matrix(f, _lab_from_f, _LAB_FROM_F_OFFSET)


# In a graph rgb_to_lab is one XLA kernel (the chain's passes touch the image once; see
# benchmarks/bench_color.py). Eager calls stay unfused: XLA would compile once per shape.
_lab_fused = tf.function(_lab, jit_compile=True, reduce_retracing=True)


def lab_to_rgb(lab, clip: bool = True, return_mask: bool = False):
    """Convert CIE L*a*b* to sRGB, the inverse of :func:`rgb_to_lab`.

    ``f^-1(t) = t ** 3`` above ``6/29``, else ``(t - 16/116) / 7.787``; then XYZ -> sRGB.
    ``clip=False`` keeps RGB outside [0, 1]; ``return_mask`` also returns where a channel leaves
    it by over 1/4 of an 8-bit step. Unlike scikit-image's, negative Z is not clipped.

    >>> rgb, out = lab_to_rgb([[53.24, 80.09, 67.20], [20.0, 80.0, -80.0]], return_mask=True)
    >>> rgb.numpy().round(2)  # red, then a dark saturated purple clipped into the gamut
    array([[1.  , 0.  , 0.  ],
           [0.31, 0.  , 0.67]], dtype=float32)
    >>> out.numpy()
    array([False,  True])
    """
    x, out_dtype = _prepare(lab, "lab", is_rgb=False)
    f = _apply_matrix(x, _f_from_lab, _F_FROM_LAB_OFFSET)  # (fx, fy, fz)
    xyz = _piecewise(f > 0.2068966, f * f * f, (f - 16.0 / 116.0) / 7.787)
    c = _apply_matrix(xyz, _rgb_from_white_xyz)  # linear RGB
    safe = tf.maximum(c, 0.0031308)
    rgb = _piecewise(c > 0.0031308,
                     (1.0 + 0.055) * tf.exp(1.0 / 2.4 * tf.math.log(safe)) - 0.055, c * 12.92)
    if return_mask:
        mask = tf.reduce_any((rgb < -_GAMUT_TOLERANCE) | (rgb > 1.0 + _GAMUT_TOLERANCE), axis=-1)
    if clip:
        rgb = tf.clip_by_value(rgb, 0.0, 1.0)
    rgb = tf.cast(rgb, out_dtype)
    return (rgb, mask) if return_mask else rgb


def rgb_to_hsv(rgb, *, validate: bool = True) -> tf.Tensor:
    """Convert sRGB to HSV in [0, 1]^3 (hue 1 = 360 degrees; Smith 1978).

    ``V = max``, ``S = (max - min) / max`` (0 for black), hue from the sector of the largest
    channel (0 for grays); matches ``tf.image.rgb_to_hsv``. Hue is circular.
    """
    x, out_dtype = _prepare(rgb, "rgb", is_rgb=True, validate=validate)
    r, g, b = tf.unstack(x, axis=-1)
    v = tf.reduce_max(x, axis=-1)
    delta = v - tf.reduce_min(x, axis=-1)
    gray = delta <= 0
    safe_delta = tf.where(gray, tf.ones_like(delta), delta)
    h = tf.where(b >= v, 4.0 + (r - g) / safe_delta,
                 tf.where(g >= v, 2.0 + (b - r) / safe_delta, (g - b) / safe_delta))
    h = tf.math.floormod(h / 6.0, 1.0)
    h = tf.where(gray | (h >= 1.0), tf.zeros_like(h), h)  # a tiny negative h mods to 1.0
    s = tf.where(v > 0, delta / tf.where(v > 0, v, tf.ones_like(v)), tf.zeros_like(v))
    return tf.cast(tf.stack([h, s, v], axis=-1), out_dtype)


def hsv_to_rgb(hsv) -> tf.Tensor:
    """Convert HSV (hue wraps around) to sRGB.

    ``c_n = V - V S max(0, min(k, 4 - k, 1))``, ``k = (n + 6 H) mod 6``, ``n = 5, 3, 1`` for R,
    G, B: continuous in H, no sector switch.
    """
    x, out_dtype = _prepare(hsv, "hsv", is_rgb=False)
    h, s, v = tf.unstack(x, axis=-1)
    ks = [tf.math.floormod(n + 6.0 * h, 6.0) for n in (5.0, 3.0, 1.0)]
    channels = [v - v * s * tf.clip_by_value(tf.minimum(k, 4.0 - k), 0.0, 1.0) for k in ks]
    return tf.cast(tf.stack(channels, axis=-1), out_dtype)


def rgb_to_yuv(rgb, *, validate: bool = True) -> tf.Tensor:
    """Convert sRGB to YUV (ITU-R BT.601 luma, PAL chroma), as ``tf.image.rgb_to_yuv``.

    Y in [0, 1], U in about ±0.436, V in about ±0.615. The matrix acts on gamma-encoded RGB:
    Y is luma, not the CIE luminance behind Lab's L.
    """
    x, out_dtype = _prepare(rgb, "rgb", is_rgb=True, validate=validate)
    return tf.cast(_apply_matrix(x, _yuv_from_rgb), out_dtype)


def yuv_to_rgb(yuv) -> tf.Tensor:
    """Convert YUV to sRGB (no clipping), the inverse of :func:`rgb_to_yuv`."""
    x, out_dtype = _prepare(yuv, "yuv", is_rgb=False)
    return tf.cast(_apply_matrix(x, _rgb_from_yuv), out_dtype)


def normalize_l(L):
    """Lab lightness [0, 100] -> model input [-1, 1]: ``L / 50 - 1``."""
    return L / 50.0 - 1.0


def denormalize_l(l_norm):
    """Model input [-1, 1] -> Lab lightness [0, 100]: ``(l_norm + 1) * 50``."""
    return (l_norm + 1.0) * 50.0


def split_lab(lab):
    """Lab ``[..., 3]`` -> ``(normalize_l(L) [..., 1], ab [..., 2] in Lab units)``."""
    lab = tf.convert_to_tensor(lab)
    _check_shape(lab, "lab", 3)
    return normalize_l(lab[..., :1]), lab[..., 1:]


def recombine(l_norm, ab) -> tf.Tensor:
    """Predicted ``ab`` with the true lightness, as RGB in [0, 1] {cite}`zhang2016colorful`.

    ``ab`` ([B, h, w, 2] or [h, w, 2], Lab units) is resized bilinearly to the size of
    ``l_norm`` ([B, H, W, 1] or [H, W, 1]) and converted with it: the full-resolution L keeps
    the result sharp. float32, or float64 for float64 ``l_norm``.
    """
    l_norm = tf.convert_to_tensor(l_norm)
    ab = tf.convert_to_tensor(ab)
    _check_shape(l_norm, "l_norm", 1)
    _check_shape(ab, "ab", 2)
    if l_norm.shape.rank not in (None, 3, 4) or ab.shape.rank not in (None, 3, 4):
        raise ValueError(f"l_norm and ab must be [B, H, W, C] or [H, W, C]; got shapes "
                         f"{tuple(l_norm.shape)} and {tuple(ab.shape)}.")
    dtype = tf.float64 if l_norm.dtype == tf.float64 else tf.float32
    l_norm, ab = tf.cast(l_norm, dtype), tf.cast(ab, dtype)
    if l_norm.shape[-3:-1] != ab.shape[-3:-1] or not l_norm.shape[-3:-1].is_fully_defined():
        size = tf.shape(l_norm)[-3:-1]
        ab = tf.cast(tf.image.resize(ab, size, method="bilinear"), dtype)
    lab = tf.concat([denormalize_l(l_norm), ab], axis=-1)
    return lab_to_rgb(lab, clip=True)


def rotate_hue(ab, degrees: float) -> tf.Tensor:
    r"""Rotate ab about the gray axis: the hue changes, the chroma does not.

    .. math:: (a', b') = (a \cos t - b \sin t,\; a \sin t + b \cos t), \quad t = \pi d / 180

    float32 (float64 for float64 input); a vivid but wrong "prediction" for chapter 06.

    >>> np.round(rotate_hue([10.0, 0.0], 90).numpy(), 4)
    array([ 0., 10.], dtype=float32)
    """
    ab = tf.convert_to_tensor(ab)
    _check_shape(ab, "ab", 2)
    dtype = tf.float64 if ab.dtype == tf.float64 else tf.float32
    t = np.deg2rad(float(degrees))
    rotation = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return tf.einsum("...c,cd->...d", tf.cast(ab, dtype), tf.constant(rotation, dtype))


def as_batch(x, channels: int, name: str, *, rgb: bool = False, hint: str = ""):
    """``(x as float32 [B, H, W, channels], whether a batch axis was added)`` of ``x`` in
    ``[B, H, W, channels]`` or ``[H, W, channels]``; with ``rgb``, uint8 is divided by 255 and
    (eagerly) floats outside [0, 1] are refused.

    >>> batch, single = as_batch(np.zeros((4, 4, 1)), 1, "l_norm")
    >>> tuple(batch.shape), single
    ((1, 4, 4, 1), True)
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
    """Float RGB in [0, 1] (any shape) -> uint8: ``clip(round(255 x), 0, 255)`` (ties to even).

    >>> to_uint8(np.array([0.0, 0.5, 1.0, 1.2, -0.1]))
    array([  0, 128, 255, 255,   0], dtype=uint8)
    """
    return np.clip(np.round(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)
