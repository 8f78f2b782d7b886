"""Colour spaces, as plain array functions: YIQ (Gatys et al.'s luminance), sRGB <-> linear, Oklab (Ottosson 2020).

CIELAB comes from scikit-image (``skimage.color.rgb2lab``) where it is used.
"""

from __future__ import annotations

import numpy as np

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


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, None)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def rgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> Oklab (L in [0, 1]), float64."""
    lms = srgb_to_linear(np.clip(np.asarray(rgb, np.float64), 0.0, 1.0)) @ _M1.T
    return np.cbrt(lms) @ _M2.T


def oklab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Oklab -> (..., 3) sRGB, clipped to [0, 1], float64."""
    lms = (np.asarray(lab, np.float64) @ _M2_INV.T) ** 3
    return np.clip(linear_to_srgb(lms @ _M1_INV.T), 0.0, 1.0)
