"""Decode: PNG, JPEG and TIFF in 8 and 16 bit (camera RAW through ``raw``), with EXIF, XMP and ICC profile kept."""

from __future__ import annotations

import codecs
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photostyle.errors import InputError
from photostyle.imageio.photo import _TIFF, MAX_PIXELS, ORIENTATION_TAG, RAW_SUFFIXES, READ_SUFFIXES, Photo
from photostyle.imageio.profiles import to_working


def _unsupported(path: Path) -> InputError:
    return InputError(
        f"{path}: unsupported image format '{path.suffix or '(none)'}'. photostyle reads PNG, JPEG and TIFF "
        "(8 or 16 bit) and camera RAW files (DNG, CR2, NEF, ARW ...); convert the file to one of these first."
    )


def read_image(path: str | os.PathLike[str], *, role: str = "image") -> Photo:
    """Decode PATH into a Photo. Raises InputError naming the file and the fix when it cannot be used."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {role} not found. Check the path.")
    if p.is_dir():
        raise InputError(f"{p}: {role} is a folder, not an image file. Give the path of an image file.")
    if not p.is_file():
        raise InputError(f"{p}: {role} is not a regular file. Give the path of an image file.")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: {role} is an empty file (0 bytes). Copy or export the image again.")
    if p.suffix.lower() not in READ_SUFFIXES:
        raise _unsupported(p)
    try:
        _check_size(p, role)
        if p.suffix.lower() in RAW_SUFFIXES:
            from photostyle.imageio.raw import read_raw  # camera RAW through rawpy

            photo = read_raw(p)
        else:
            photo = _read_tiff(p) if p.suffix.lower() in _TIFF else _read_pillow(p)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        text = _text_start(p)
        if text is not None:
            raise InputError(
                f"{p}: {role} is not an image: it is a text file (it starts with {text!r}). Give the image file itself."
            ) from exc
        raise InputError(
            f"{p}: cannot decode this {role} ({exc}). The file is corrupt or truncated; export it again."
        ) from exc
    photo.path = p
    photo.pixels, note = to_working(photo.pixels, photo.icc_profile, photo.bit_depth)
    if note:
        photo.notes.append(note)
    h, w = photo.pixels.shape[:2]
    if min(h, w) < 16:
        raise InputError(f"{p}: {role} is only {w}x{h} pixels; photostyle needs at least 16 pixels on each side.")
    for note in photo.notes:
        warnings.warn(f"{p}: {note}", stacklevel=2)
    return photo


def _text_start(p: Path) -> str | None:
    """The first words of P when it is a text file (a renamed note, an HTML error page ...), else None."""
    try:
        with open(p, "rb") as f:
            head = f.read(512)
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # a character cut at byte 512 is no error
    except (OSError, UnicodeDecodeError):
        return None
    if not text.strip() or any(c < " " and c not in "\t\r\n\f" for c in text):
        return None
    first = " ".join(text.split())
    return first[:40] + ("..." if len(first) > 40 else "")


def _check_size(p: Path, role: str) -> None:
    """Refuse an image over MAX_PIXELS from its header, before any pixel is decoded."""
    suffix = p.suffix.lower()
    if suffix in RAW_SUFFIXES:
        return  # no camera comes near the limit; LibRaw checks its own
    if suffix in _TIFF:
        import tifffile

        with tifffile.TiffFile(p) as tf:
            page = tf.pages.first
            w, h = int(page.imagewidth), int(page.imagelength)
    elif suffix == ".png" and _png_size(p):
        w, h = _png_size(p) or (0, 0)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(p) as im:
                    w, h = im.size
            except Image.DecompressionBombError:  # over twice the limit: Pillow does not say the size
                raise _too_large(p, role, f"over {2 * MAX_PIXELS / 1e6:.0f} MP") from None
    if w * h > MAX_PIXELS:
        raise _too_large(p, role, f"{w}x{h} pixels ({w * h / 1e6:.0f} MP)")


def _too_large(p: Path, role: str, size: str) -> InputError:
    return InputError(
        f"{p}: {role} is {size}; photostyle takes at most {MAX_PIXELS / 1e6:.0f} MP. Scale it down or crop it first."
    )


def _png_size(p: Path) -> tuple[int, int] | None:
    with open(p, "rb") as f:
        head = f.read(24)
    if head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _read_pillow(p: Path) -> Photo:
    with Image.open(p) as f:
        f.load()
        im: Image.Image = f
        icc = im.info.get("icc_profile")
        exif_obj = im.getexif()
        xmp = im.info.get("xmp")
        notes: list[str] = []
        orientation = int(exif_obj.get(ORIENTATION_TAG, 1) or 1)
        if orientation != 1:
            im = ImageOps.exif_transpose(im)
            exif_obj[ORIENTATION_TAG] = 1  # the pixels are now upright
        exif = exif_obj.tobytes() if len(exif_obj) else None
        mode = im.mode
        if mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im).astype(np.float32) / 65535.0
            notes.append("grey-scale image: styled as RGB (the output will be in colour).")
            return Photo(np.repeat(arr[..., None], 3, 2), 16, icc, exif, xmp, notes=notes, orientation=orientation)
        if p.suffix.lower() == ".png" and im.info.get("bitdepth", 8) == 16 or _png_is_16bit(p):
            return _read_png16(p, icc, exif, xmp)
        if mode == "CMYK":
            notes.append("CMYK image: converted to RGB without colour management; export it as RGB for exact colours.")
            icc = None  # the CMYK profile does not describe the RGB pixels
        elif mode in ("L", "LA", "1", "P") and not (mode == "P" and "transparency" not in im.info and False):
            if mode in ("L", "LA", "1"):
                notes.append("grey-scale image: styled as RGB (the output will be in colour).")
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
            notes.append("has an alpha channel: transparency is ignored and the output is opaque.")
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return Photo(rgb, 8, icc, exif, xmp, notes=notes, orientation=orientation)


def _png_is_16bit(p: Path) -> bool:
    if p.suffix.lower() != ".png":
        return False
    with open(p, "rb") as f:
        head = f.read(26)
    return len(head) >= 25 and head[12:16] == b"IHDR" and head[24] == 16


def _read_png16(p: Path, icc: bytes | None, exif: bytes | None, xmp: bytes | None) -> Photo:
    import png  # pypng: Pillow reads 16-bit RGB PNGs as 8 bit

    w, h, rows, info = png.Reader(filename=str(p)).asDirect()
    planes = info["planes"]
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(h, w, planes)
    notes = []
    if planes in (2, 4):
        notes.append("has an alpha channel: transparency is ignored and the output is opaque.")
        arr = arr[..., : planes - 1]
    if arr.shape[2] == 1:
        notes.append("grey-scale image: styled as RGB (the output will be in colour).")
        arr = np.repeat(arr, 3, 2)
    scale = float(2 ** info["bitdepth"] - 1)
    return Photo(arr.astype(np.float32) / scale, 16, icc, exif, xmp, notes=notes)


def _read_tiff(p: Path) -> Photo:
    import tifffile

    with tifffile.TiffFile(p) as tf:
        page = tf.pages.first
        arr = page.asarray()
        icc = page.tags.get(34675)
        icc_b = bytes(icc.value) if icc is not None else None
        xmp_tag = page.tags.get(700)
        tiff_xmp = bytes(xmp_tag.value) if xmp_tag is not None else None
        photometric = page.photometric
        extrasamples = page.extrasamples
    notes: list[str] = []
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.dtype == np.uint16:
        depth, f = 16, arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.uint8:
        depth, f = 8, arr.astype(np.float32) / 255.0
    elif arr.dtype.kind == "f":
        depth, f = 16, _finite_in_range(arr.astype(np.float32), notes)
    else:
        raise InputError(f"{p}: TIFF sample type {arr.dtype} is not supported; save it as 8 or 16 bit.")
    if int(photometric) == 5:  # separated (CMYK)
        c, m, y, k = (f[..., i] for i in range(4))
        f = np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], -1)
        notes.append("CMYK image: converted to RGB without colour management; export it as RGB for exact colours.")
        icc_b = None
    elif f.ndim == 2 or f.shape[2] in (1, 2):
        if f.ndim == 3 and f.shape[2] == 2:
            notes.append("has an alpha channel: transparency is ignored and the output is opaque.")
        f = f if f.ndim == 2 else f[..., 0]
        notes.append("grey-scale image: styled as RGB (the output will be in colour).")
        f = np.repeat(f[..., None], 3, 2)
    elif f.shape[2] > 3:
        if extrasamples:
            notes.append("has an alpha channel: transparency is ignored and the output is opaque.")
        f = f[..., :3]
    exif, xmp = None, tiff_xmp
    try:
        with Image.open(p) as im:
            ex = im.getexif()
            exif = ex.tobytes() if len(ex) else None
    except Exception:  # noqa: BLE001 - metadata is best effort; the pixels were read
        exif = None
    return Photo(np.ascontiguousarray(f, dtype=np.float32), depth, icc_b, exif, xmp, notes=notes)


def _finite_in_range(f: np.ndarray, notes: list[str]) -> np.ndarray:
    """Float samples made usable: NaN/infinite pixels filled from their neighbours, values outside [0, 1] clipped."""
    bad = ~np.isfinite(f)
    if bad.any():
        count = int(bad.any(axis=-1).sum()) if f.ndim == 3 else int(bad.sum())
        f = _fill_from_neighbours(f, bad)
        notes.append(
            f"{count} pixel{'s' if count != 1 else ''} with NaN or infinite values, filled from the neighbouring "
            "pixels; check the export that made this file."
        )
    outside = (f < 0.0) | (f > 1.0)
    if outside.any():
        count = int(outside.any(axis=-1).sum()) if f.ndim == 3 else int(outside.sum())
        notes.append(
            f"{count} pixel{'s' if count != 1 else ''} with values outside 0-1 (HDR or scene-referred data), "
            "clipped to 0-1; tone-map the image to a display-referred one first to keep its highlights."
        )
        f = np.clip(f, 0.0, 1.0)
    return f


def _fill_from_neighbours(f: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Each non-finite sample the mean of its finite 3x3 neighbours, growing inwards; 0 where none is left."""
    f = np.where(bad, 0.0, f).astype(np.float32)
    for _ in range(8):
        if not bad.any():
            break
        pad = [(1, 1), (1, 1)] + [(0, 0)] * (f.ndim - 2)
        good = np.pad(~bad, pad).astype(np.float32)
        vals = np.pad(f, pad) * good
        h, w = f.shape[:2]
        total = sum(vals[i : i + h, j : j + w] for i in range(3) for j in range(3))
        n = sum(good[i : i + h, j : j + w] for i in range(3) for j in range(3))
        fill = bad & (n > 0)
        f = np.where(fill, total / np.maximum(n, 1), f)
        bad = bad & ~fill
    return f
