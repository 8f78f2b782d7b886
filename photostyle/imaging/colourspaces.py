"""Colour spaces, as plain array functions: YIQ (Gatys et al.'s luminance), sRGB <-> linear, Oklab (Ottosson 2020),
and CIELAB in float32 for per-pixel work at full size.

CIELAB comes from scikit-image (``skimage.color.rgb2lab``, and back through ``lab_to_srgb`` here, which clips
without its warning) where it is used on small arrays; ``rgb_to_lab`` and ``lab_to_rgb`` here are the same
conversions (D65, 2 degrees, as scikit-image's defaults) in float32 torch, about four times faster at 1 MP, for
the full-size pass that keeps the photo's grain.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

_Array = TypeVar("_Array", np.ndarray, "torch.Tensor")  # torch is imported only where it is used

# ------------------------------------------------------------------------------------------------ YIQ

# FCC NTSC YIQ, on the encoded (gamma) RGB values as in Gatys et al.
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)  # its first column is (1, 1, 1): Y moves all three channels alike


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (..., 3) YIQ (float64)."""
    return np.asarray(rgb, np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """(..., 3) YIQ -> (..., 3) RGB (float64, not clipped)."""
    return np.asarray(yiq, np.float64) @ YIQ_TO_RGB.T


def luminance(rgb: np.ndarray) -> np.ndarray:
    """YIQ Y of an RGB image, (H, W) float64."""
    return np.asarray(rgb, np.float64) @ RGB_TO_YIQ[0]


# ------------------------------------------------------------------------------------------------ Oklab

_M1 = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_M2 = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_M1_INV = np.linalg.inv(_M1)
_M2_INV = np.linalg.inv(_M2)


# The sRGB transfer curve, written once for numpy arrays and torch tensors alike (``where`` is np.where or
# torch.where): the numpy functions below and the float32 CIELAB further down share it.


def _decode(c: _Array, where: Callable[..., _Array]) -> _Array:
    return where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _encode(c: _Array, where: Callable[..., _Array]) -> _Array:
    """c must be >= 0 (the power of a negative number is NaN)."""
    return where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return _decode(c, np.where)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    return _encode(np.clip(c, 0.0, None), np.where)


def rgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> Oklab (L in [0, 1]), float64."""
    lms = srgb_to_linear(np.clip(np.asarray(rgb, np.float64), 0.0, 1.0)) @ _M1.T
    return np.cbrt(lms) @ _M2.T


def oklab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Oklab -> (..., 3) sRGB, clipped to [0, 1], float64."""
    lms = (np.asarray(lab, np.float64) @ _M2_INV.T) ** 3
    return np.clip(linear_to_srgb(lms @ _M1_INV.T), 0.0, 1.0)


# ------------------------------------------------------------------------------------------------ CIELAB, float32

# sRGB (D65) -> XYZ, as scikit-image's xyz_from_rgb, and XYZ's D65 white (2 degrees)
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPSILON = 0.008856  # (6/29)^3: below it CIELAB's cube root is a straight line
_KNEE = 0.2068966  # 6/29: the same point after the cube root


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) -> (..., 3) sRGB clipped to [0, 1], float64: scikit-image's lab2rgb, quietly. A look's colour
    maps can reach CIELAB colours beyond sRGB (a negative XYZ Z); clipping them is what every caller means, so
    scikit-image's warning about it is not passed on to the user."""
    from skimage.color import lab2rgb

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Conversion from CIE-LAB", category=UserWarning)
        rgb = lab2rgb(lab)
    return np.clip(rgb, 0.0, 1.0)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> CIELAB (D65), float32: scikit-image's rgb2lab to float32 rounding."""
    import torch

    c = torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).clamp(0.0, 1.0)
    lin = _decode(c, torch.where)
    xyz = lin @ torch.from_numpy((_XYZ_FROM_RGB / _WHITE[:, None]).T.astype(np.float32))
    f = torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1 / 3), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], -1).numpy()


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) -> (..., 3) sRGB clipped to [0, 1], float32: scikit-image's lab2rgb (which also clips, and
    takes a negative Z as 0) to float32 rounding, without its warning about out-of-gamut colours."""
    import torch

    v = torch.from_numpy(np.ascontiguousarray(lab, np.float32))
    fy = (v[..., 0] + 16.0) / 116.0
    f = torch.stack([fy + v[..., 1] / 500.0, fy, (fy - v[..., 2] / 200.0).clamp(min=0.0)], -1)
    xyz = torch.where(f > _KNEE, f**3, (f - 16.0 / 116.0) / 7.787)
    lin = xyz @ torch.from_numpy((np.linalg.inv(_XYZ_FROM_RGB) * _WHITE[None, :]).T.astype(np.float32))
    rgb = _encode(lin.clamp(min=0.0), torch.where)
    return rgb.clamp_(0.0, 1.0).numpy()
