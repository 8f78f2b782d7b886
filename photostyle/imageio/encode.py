"""Encode: PNG, JPEG and TIFF in 8 and 16 bit, carrying the source's ICC profile, EXIF and XMP; written atomically."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from photostyle.errors import OutputError
from photostyle.imageio.atomic import write_bytes_atomic
from photostyle.imageio.photo import _JPEG, _TIFF, WRITE_SUFFIXES, Photo, to_uint
from photostyle.imageio.profiles import from_working


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Fail early (before any work) when PATH cannot be written or would be overwritten without permission."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p}: output is a folder; give a file name for the output, e.g. {p / 'styled.jpg'}.")
    if p.suffix.lower() not in WRITE_SUFFIXES:
        raise OutputError(f"{p}: cannot write '{p.suffix or '(none)'}' files; use .jpg, .png or .tif.")
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists; pass --overwrite to replace it, or choose another name.")
    if not p.parent.exists():
        raise OutputError(f"{p}: folder {p.parent} does not exist; create it first.")
    return p


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    like: Photo | None = None,
    bit_depth: int | None = None,
    overwrite: bool = False,
    quality: int = 95,
) -> Path:
    """Encode float sRGB PIXELS to PATH atomically, converted into LIKE's ICC profile and carrying it and its EXIF.

    bit_depth defaults to the source's (16 for 16-bit sources into PNG/TIFF); JPEG is always 8 bit.
    """
    p = check_output_path(path, overwrite=overwrite)
    suffix = p.suffix.lower()
    depth = bit_depth or (like.bit_depth if like else 8)
    if suffix in _JPEG:
        depth = 8
    if depth not in (8, 16):
        raise OutputError(f"{p}: bit depth must be 8 or 16, not {depth}.")
    a = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    if a.ndim != 3 or a.shape[2] != 3:
        raise OutputError(f"{p}: expected RGB pixels of shape (H, W, 3), got {a.shape}.")
    if like is not None:
        a = from_working(a, like.icc_profile)  # sRGB -> the photo's own profile, embedded by _encode
    data = _encode(a, suffix, depth, like, quality)

    def add_metadata(tmp: Path) -> None:
        if suffix in _TIFF and like is not None and like.exif:
            _tiff_exif(tmp, like.exif)
        if like is not None and like.xmp:
            _write_xmp(tmp, like.xmp)

    return write_bytes_atomic(p, data, overwrite=overwrite, before_rename=add_metadata)


def _encode(a: np.ndarray, suffix: str, depth: int, like: Photo | None, quality: int) -> bytes:
    icc = like.icc_profile if like else None
    exif = like.exif if like else None
    buf = io.BytesIO()
    if suffix in _TIFF:
        import tifffile

        extratags = [(34675, 7, len(icc), icc, True)] if icc else []
        tifffile.imwrite(buf, to_uint(a, depth), photometric="rgb", compression="zlib", extratags=extratags)
        return buf.getvalue()
    if suffix == ".png" and depth == 16:
        import png

        h, w = a.shape[:2]
        writer = png.Writer(w, h, greyscale=False, bitdepth=16, compression=6)
        writer.write(buf, to_uint(a, 16).reshape(h, w * 3))
        data = buf.getvalue()
        return _png_insert_chunks(data, icc, exif)
    im = Image.fromarray(to_uint(a, 8), "RGB")
    kw: dict[str, object] = {}
    if icc:
        kw["icc_profile"] = icc
    if exif:
        kw["exif"] = exif
    if suffix in _JPEG:
        im.save(buf, "JPEG", quality=quality, subsampling=0, **kw)
    else:
        im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _png_insert_chunks(data: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks after IHDR (pypng writes neither)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    extra = b""
    if icc:
        extra += chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc))
    if exif:
        body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += chunk(b"eXIf", body)
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + extra + data[ihdr_end:]


def _write_xmp(path: Path, xmp: bytes) -> None:
    """Copy the source's XMP packet (ratings, keywords, captions ...) into the encoded file (through pyexiv2)."""
    try:
        import pyexiv2
    except ImportError:
        warnings.warn(f"{path}: XMP not copied (install pyexiv2 to keep it).", stacklevel=3)
        return
    pyexiv2.set_log_level(3)  # errors only: exiv2 warns about harmless layout details of tifffile's TIFFs
    try:
        with pyexiv2.Image(str(path)) as img:
            img.modify_raw_xmp(xmp.decode("utf-8", errors="replace"))
    except Exception as exc:  # noqa: BLE001 - exiv2 raises plain Exceptions; the image itself is fine
        warnings.warn(f"{path}: XMP not copied ({exc}).", stacklevel=3)


def _tiff_exif(path: Path, exif: bytes) -> None:
    """Copy EXIF into a TIFF written by tifffile (best effort through pyexiv2 when installed)."""
    try:
        import pyexiv2
    except ImportError:
        warnings.warn(f"{path}: EXIF not copied into the TIFF (install pyexiv2 to keep it).", stacklevel=3)
        return
    pyexiv2.set_log_level(3)  # errors only: exiv2 warns about harmless layout details of tifffile's TIFFs
    src = Image.Exif()
    src.load(exif)
    with io.BytesIO() as b:
        Image.new("RGB", (1, 1)).save(b, "JPEG", exif=exif)
        jpeg = b.getvalue()
    with pyexiv2.ImageData(jpeg) as meta:
        data = meta.read_exif()
    data = {k: v for k, v in data.items() if not k.startswith("Exif.Thumbnail")}
    with pyexiv2.Image(str(path)) as img:
        img.modify_exif(data)
