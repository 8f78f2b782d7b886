"""The Photo record (pixels and what travels with them), the file types photostyle knows, and array conversions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from photostyle.errors import InputError

RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw", ".nrw", ".raw"}
READ_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"} | RAW_SUFFIXES
WRITE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
_TIFF = {".tif", ".tiff"}
_JPEG = {".jpg", ".jpeg"}
ORIENTATION_TAG = 0x0112

# The one size limit: larger images are refused (before their pixels are decoded) with a line naming both sizes.
# Pillow's own "decompression bomb" guard is set to it, so Pillow never refuses anything below it.
MAX_PIXELS = 800_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass
class Photo:
    """An image with what must travel with it to the output."""

    pixels: np.ndarray  # float32 (H, W, 3) in [0, 1], sRGB (converted from icc_profile on reading)
    bit_depth: int = 8  # 8 or 16: the precision of the source file
    icc_profile: bytes | None = None  # the file's own profile: write_image converts back into it and embeds it
    exif: bytes | None = None  # raw EXIF block (b"Exif\0\0..."-less TIFF bytes as Pillow gives them)
    xmp: bytes | None = None
    path: Path | None = None
    notes: list[str] = field(default_factory=list)  # conversions made on reading (grey, alpha, CMYK ...)
    orientation: int = 1  # the file's EXIF orientation (1-8); the pixels are upright, the EXIF says 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


def from_array(pixels: np.ndarray, *, bit_depth: int | None = None) -> Photo:
    """A Photo from an array: uint8, uint16 or float in [0, 1]; grey (H, W) or (H, W, 1|3|4)."""
    a = np.asarray(pixels)
    if a.dtype == np.uint8:
        depth, f = 8, a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        depth, f = 16, a.astype(np.float32) / 65535.0
    else:
        f = a.astype(np.float32, copy=False)
        if f.size and (float(f.min()) < 0.0 or float(f.max()) > 1.0):  # no copy for in-range float32 input
            f = np.clip(f, 0.0, 1.0)
        depth = 16
    if f.ndim == 2:
        f = f[..., None]
    if f.ndim != 3 or f.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    elif f.shape[2] == 4:
        f = f[..., :3]
    return Photo(np.ascontiguousarray(f, dtype=np.float32), bit_depth=bit_depth or depth)


def as_pixels(img: np.ndarray | Photo) -> np.ndarray:
    """The float32 (H, W, 3) pixels of a Photo or of any image array ``from_array`` takes: the library's one door."""
    if isinstance(img, Photo):
        return img.pixels
    return from_array(np.asarray(img)).pixels


def to_uint(a: np.ndarray, depth: int) -> np.ndarray:
    if depth == 16:
        return np.round(a * 65535.0).astype(np.uint16)
    return np.round(a * 255.0).astype(np.uint8)
