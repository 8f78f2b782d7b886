"""Decode and encode: PNG, JPEG and TIFF in 8 and 16 bit, with the photo's EXIF and ICC profile carried along.

``read_image`` is the decode stage and ``write_image`` the encode stage of the pipeline; the CLI, the GIMP
service and the album job all go through them. Pixels are float32 RGB in [0, 1], shape (H, W, 3), in the file's
own (usually sRGB) encoding. Writes are atomic: a temporary file beside the target, then a rename, so a
failed or interrupted run never leaves a half-written image, and an existing file is only replaced when asked.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, OutputError

RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw", ".nrw", ".raw"}
READ_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"} | RAW_SUFFIXES
WRITE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
_TIFF = {".tif", ".tiff"}
_JPEG = {".jpg", ".jpeg"}
ORIENTATION_TAG = 0x0112

# Pillow would refuse large camera files as "decompression bombs"; photostyle is meant for them.
Image.MAX_IMAGE_PIXELS = 400_000_000


@dataclass
class Photo:
    """An image with what must travel with it to the output."""

    pixels: np.ndarray  # float32 (H, W, 3) in [0, 1]
    bit_depth: int = 8  # 8 or 16: the precision of the source file
    icc_profile: bytes | None = None
    exif: bytes | None = None  # raw EXIF block (b"Exif\0\0..."-less TIFF bytes as Pillow gives them)
    xmp: bytes | None = None
    path: Path | None = None
    notes: list[str] = field(default_factory=list)  # conversions made on reading (grey, alpha, CMYK ...)

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
    if not p.is_file():
        raise InputError(f"{p}: {role} is not a file.")
    if p.suffix.lower() not in READ_SUFFIXES:
        raise _unsupported(p)
    try:
        if p.suffix.lower() in RAW_SUFFIXES:
            from .raw import read_raw  # camera RAW through rawpy (photostyle/raw.py)

            photo = read_raw(p)
        else:
            photo = _read_tiff(p) if p.suffix.lower() in _TIFF else _read_pillow(p)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(
            f"{p}: cannot decode this {role} ({exc}). The file is corrupt or truncated; export it again."
        ) from exc
    photo.path = p
    h, w = photo.pixels.shape[:2]
    if min(h, w) < 16:
        raise InputError(f"{p}: {role} is only {w}x{h} pixels; photostyle needs at least 16 pixels on each side.")
    for note in photo.notes:
        warnings.warn(f"{p}: {note}", stacklevel=2)
    return photo


def _read_pillow(p: Path) -> Photo:
    with Image.open(p) as f:
        f.load()
        im: Image.Image = f
        icc = im.info.get("icc_profile")
        exif_obj = im.getexif()
        xmp = im.info.get("xmp")
        notes: list[str] = []
        if exif_obj.get(ORIENTATION_TAG, 1) != 1:
            im = ImageOps.exif_transpose(im)
            exif_obj[ORIENTATION_TAG] = 1  # the pixels are now upright
        exif = exif_obj.tobytes() if len(exif_obj) else None
        mode = im.mode
        if mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im).astype(np.float32) / 65535.0
            notes.append("grey-scale image: styled as RGB (the output will be in colour).")
            return Photo(np.repeat(arr[..., None], 3, 2), 16, icc, exif, xmp, notes=notes)
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
    return Photo(rgb, 8, icc, exif, xmp, notes=notes)


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
        depth, f = 16, np.clip(arr.astype(np.float32), 0, 1)
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


# ------------------------------------------------------------------------------------------------ encode
def check_output_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Fail early (before any work) when PATH cannot be written or would be overwritten without permission."""
    p = Path(path)
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
    """Encode float RGB PIXELS to PATH atomically, carrying LIKE's ICC profile and EXIF.

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
    data = _encode(a, suffix, depth, like, quality)

    def add_metadata(tmp: Path) -> None:
        if suffix in _TIFF and like is not None and like.exif:
            _tiff_exif(tmp, like.exif)
        if like is not None and like.xmp:
            _write_xmp(tmp, like.xmp)

    return write_bytes_atomic(p, data, overwrite=overwrite, before_rename=add_metadata)


def write_bytes_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    overwrite: bool = False,
    before_rename: Callable[[Path], None] | None = None,
) -> Path:
    """Write DATA to PATH through a temporary file beside it and a rename; never replace a file without OVERWRITE.

    BEFORE_RENAME(temp_path) may finish the file (metadata) first. On any failure the temporary file is removed and
    PATH is untouched. Used for images (write_image) and the album job's text files alike.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists; pass --overwrite to replace it, or choose another name.")
    if not p.parent.is_dir():
        raise OutputError(f"{p}: folder {p.parent} does not exist; create it first.")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a new file gets the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename(Path(tmp))
        if not overwrite and p.exists():
            raise OutputError(f"{p}: appeared while writing; pass --overwrite to replace it.")
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_uint(a: np.ndarray, depth: int) -> np.ndarray:
    if depth == 16:
        return np.round(a * 65535.0).astype(np.uint16)
    return np.round(a * 255.0).astype(np.uint8)


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
