"""Write small, valid DNG files with tifffile, for the RAW tests (no camera files in the repository).

The DNG holds an RGGB Bayer mosaic of a linear-light image whose camera primaries are sRGB's (ColorMatrix1 is
XYZ(D65) -> linear sRGB), so LibRaw's colour pipeline maps it back to sRGB. ``neutral`` is the camera's as-shot
white balance (AsShotNeutral): the raw values of each channel are multiplied by it, as a camera whose green
channel is more sensitive would record them; decoding with the camera white balance divides it out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# XYZ (D65) -> linear sRGB, the inverse of sRGB's primaries matrix
XYZ_TO_SRGB = (3.2404542, -1.5371385, -0.4985314, -0.9692660, 1.8760108, 0.0415560, 0.0556434, -0.2040259, 1.0572252)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _rational(values: Sequence[float], den: int = 1_000_000) -> list[int]:
    out: list[int] = []
    for v in values:
        out += [int(round(v * den)), den]
    return out


def write_dng(
    path: str | Path,
    srgb: np.ndarray,
    *,
    neutral: tuple[float, float, float] = (1.0, 1.0, 1.0),
    white: int = 4095,
    black: int = 0,
    orientation: int = 1,
    make: str = "Photostyle",
    model: str = "Test Camera",
    artist: str | None = "Album Tester",
    datetime: str | None = "2024:05:06 07:08:09",
) -> Path:
    """Mosaic SRGB (float (H, W, 3) in [0, 1], even H and W) into an uncompressed 12-bit RGGB DNG at PATH."""
    import tifffile

    lin = srgb_to_linear(np.clip(srgb, 0.0, 1.0)) * np.asarray(neutral, np.float64)
    h, w = lin.shape[:2]
    if h % 2 or w % 2:
        raise ValueError("width and height must be even for a 2x2 Bayer pattern")
    cfa = np.empty((h, w), np.float64)
    cfa[0::2, 0::2] = lin[0::2, 0::2, 0]  # R
    cfa[0::2, 1::2] = lin[0::2, 1::2, 1]  # G
    cfa[1::2, 0::2] = lin[1::2, 0::2, 1]  # G
    cfa[1::2, 1::2] = lin[1::2, 1::2, 2]  # B
    mosaic = np.round(black + np.clip(cfa, 0, 1) * (white - black)).astype(np.uint16)
    tags: list[tuple[int, str, int, object]] = [
        (271, "s", 0, make),  # Make
        (272, "s", 0, model),  # Model
        (274, "H", 1, orientation),  # Orientation
        (33421, "H", 2, (2, 2)),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2)),  # CFAPattern: R G / G B
        (50706, "B", 4, (1, 4, 0, 0)),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0)),  # DNGBackwardVersion
        (50708, "s", 0, f"{make} {model}"),  # UniqueCameraModel
        (50714, "H", 1, black),  # BlackLevel
        (50717, "H", 1, white),  # WhiteLevel
        (50721, "2i", 9, _rational(XYZ_TO_SRGB)),  # ColorMatrix1
        (50778, "H", 1, 21),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, _rational(neutral)),  # AsShotNeutral
    ]
    if artist:
        tags.append((315, "s", 0, artist))
    if datetime:
        tags.append((306, "s", 0, datetime))
    tifffile.imwrite(path, mosaic, photometric=32803, subfiletype=0, extratags=tags, metadata=None)
    return Path(path)
