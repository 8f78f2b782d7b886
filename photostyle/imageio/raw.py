"""Camera RAW decoding through rawpy (LibRaw): DNG, CR2, NEF, ARW ... into a 16-bit sRGB Photo.

The decode is the neutral one a photographer expects as the starting point of a look: the white balance the
camera recorded, no automatic brightening (the exposure stays as shot), 16 bits per channel, sRGB primaries and
the sRGB tone curve, and the picture turned upright as the camera's orientation flag says. The camera's EXIF
(make, model, exposure, lens, date, GPS) and embedded XMP travel with the Photo to the output; the output is
tagged with an sRGB ICC profile, since that is what the pixels are.

``imageio.read_image`` dispatches RAW suffixes here; call that rather than ``read_raw`` directly.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from photostyle.errors import InputError
from photostyle.imageio.photo import ORIENTATION_TAG, Photo

# Exif.Image keys that describe the picture (the rest of IFD0 in a RAW file describes the sensor data:
# strip offsets, CFA pattern, colour matrices ... which would be wrong in the output).
_IMAGE_KEYS = {
    "Make",
    "Model",
    "DateTime",
    "Artist",
    "Copyright",
    "Software",
    "ImageDescription",
    "Orientation",
}
_SKIP_PHOTO_KEYS = {"MakerNote", "InteroperabilityTag"}  # offsets into the RAW file: meaningless elsewhere


def _rawpy() -> Any:
    try:
        import rawpy
    except ImportError as exc:  # pragma: no cover - rawpy is a dependency of the album extra
        raise InputError(
            "camera RAW files need rawpy: install it with `pip install 'photostyle[raw]'` "
            "(or convert the RAW to a 16-bit TIFF first)."
        ) from exc
    return rawpy


def read_raw(path: str | os.PathLike[str]) -> Photo:
    """Decode the camera RAW file PATH: camera white balance, no auto brightening, 16-bit sRGB, upright.

    Raises InputError naming the file when rawpy cannot decode it (corrupt, truncated or an unsupported camera).
    """
    p = Path(path)
    rawpy = _rawpy()
    try:
        with rawpy.imread(str(p)) as raw:
            rgb = raw.postprocess(
                use_camera_wb=True,
                use_auto_wb=False,
                no_auto_bright=True,
                output_bps=16,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=(2.4, 12.92),  # the sRGB tone curve (LibRaw's default is BT.709's)
            )
    except rawpy.LibRawError as exc:
        raise InputError(
            f"{p}: cannot decode this camera RAW file ({type(exc).__name__}: {exc}). The file is corrupt, "
            "truncated or from a camera this LibRaw does not know; copy it from the card again, update rawpy, "
            "or convert it to DNG or a 16-bit TIFF with the camera maker's software."
        ) from exc
    pixels = np.ascontiguousarray(rgb, dtype=np.float32) / 65535.0
    exif, xmp = _raw_metadata(p)
    return Photo(pixels, bit_depth=16, icc_profile=_srgb_profile(), exif=exif, xmp=xmp, path=p)


@lru_cache(maxsize=1)
def _srgb_profile() -> bytes | None:
    """littleCMS's sRGB profile with a fixed creation date, so the same RAW always gives the same output bytes."""
    try:
        from PIL import ImageCms

        icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    except (ImportError, OSError):  # Pillow without littleCMS: outputs are untagged (and read as sRGB anyway)
        return None
    icc[24:36] = struct.pack(">6H", 2024, 1, 1, 0, 0, 0)  # header dateTime (littleCMS writes "now")
    if any(icc[84:100]):  # a profile ID is the MD5 of the profile with flags, intent and ID zeroed
        blank = bytearray(icc)
        blank[44:48] = blank[64:68] = bytes(4)
        blank[84:100] = bytes(16)
        icc[84:100] = hashlib.md5(bytes(blank), usedforsecurity=False).digest()
    return bytes(icc)


def _keep_exif_key(key: str) -> bool:
    group, _, rest = key.partition(".")
    section, _, name = rest.partition(".")
    if group != "Exif":
        return False
    if section == "Image":
        return name in _IMAGE_KEYS
    if section == "Photo":
        return name not in _SKIP_PHOTO_KEYS
    return section == "GPSInfo"


def _raw_metadata(p: Path) -> tuple[bytes | None, bytes | None]:
    """EXIF (as the TIFF-structured bytes Pillow writes) and XMP of a RAW file; (None, None) when unreadable.

    Metadata is best effort: a RAW whose pixels decode but whose tags exiv2 cannot parse is still styled.
    """
    try:
        import pyexiv2
        from PIL import Image
    except ImportError:
        return None, None
    try:
        with pyexiv2.Image(str(p)) as meta:
            tags = meta.read_exif()
            raw_xmp = meta.read_raw_xmp()
    except Exception:  # noqa: BLE001 - exiv2 raises plain Exception subclasses for any parse problem
        return None, None
    xmp = raw_xmp.encode("utf-8") if raw_xmp else None
    keep = {k: v for k, v in tags.items() if _keep_exif_key(k)}
    if not keep:
        return None, xmp
    keep["Exif.Image.Orientation"] = "1"  # LibRaw has turned the pixels upright
    # Let exiv2 encode the tags into a throw-away JPEG, then take Pillow's view of them: the same form
    # imageio gives for JPEG, PNG and TIFF sources, so write_image treats RAW sources like any other.
    with io.BytesIO() as buf:
        Image.new("RGB", (8, 8)).save(buf, "JPEG")
        jpeg = buf.getvalue()
    try:
        with pyexiv2.ImageData(jpeg) as carrier:
            for key, value in keep.items():
                try:
                    carrier.modify_exif({key: value})
                except Exception:  # noqa: BLE001 - one tag exiv2 cannot re-encode is dropped, not the rest
                    continue
            jpeg = carrier.get_bytes()
        with Image.open(io.BytesIO(jpeg)) as im:
            ex = im.getexif()
            ex[ORIENTATION_TAG] = 1
            return (ex.tobytes() if len(ex) else None), xmp
    except Exception:  # noqa: BLE001 - metadata is best effort; the pixels were decoded
        return None, xmp
