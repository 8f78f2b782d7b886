"""Colour management: pixels from a file's embedded ICC profile into the working space (sRGB) and back.

The engine works in sRGB. A photo, a reference or a region reference that carries another RGB profile (Adobe RGB,
ProPhoto RGB, Display P3 ...) is converted into sRGB on reading, and the result back into the photo's own profile
on writing (the profile stays embedded in the output). Rendering intent: relative colorimetric, no black-point
compensation, as LittleCMS does it; colours outside sRGB are clipped on the way in.

Matrix-shaper profiles (every common RGB working space is one) are converted here in float, from the profile's
colourants and tone curves, so 16-bit files keep 16-bit precision; this is the same arithmetic LittleCMS applies to
such profiles. Other RGB profiles (LUT-based) go through LittleCMS (Pillow's ImageCms) at 8 bits per channel. A
profile that describes sRGB (whoever made it) converts nothing: those pixels are used exactly as stored.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_CHUNK = 1 << 20  # pixels converted at a time (bounded temporary memory for 50-MP files)
_SAME = 1.0 / 1024  # colourants and tone curves within this of sRGB's: the profile is sRGB, nothing is converted


@dataclass(frozen=True)
class _Curve:
    """A tone curve: device value -> linear light, both in [0, 1]; the inverse from 65536 samples."""

    kind: str  # "gamma", "table" or "para"
    params: tuple[float, ...]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, 1.0)
        if self.kind == "gamma":
            return np.power(x, self.params[0])
        if self.kind == "table":
            table = np.asarray(self.params)
            return np.interp(x, np.linspace(0.0, 1.0, len(table)), table)
        ftype, p = int(self.params[0]), self.params[1:]
        g = p[0]
        if ftype == 0:
            return np.power(x, g)
        a, b = p[1], p[2]
        base = np.power(np.maximum(a * x + b, 0.0), g)
        if ftype == 1:
            return np.where(x >= -b / a, base, 0.0)
        if ftype == 2:
            return np.where(x >= -b / a, base + p[3], p[3])
        if ftype == 3:
            return np.where(x >= p[4], base, p[3] * x)
        return np.where(x >= p[4], base + p[5], p[3] * x + p[6])  # type 4

    def inverse(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "gamma" or (self.kind == "para" and int(self.params[0]) == 0):
            g = self.params[0] if self.kind == "gamma" else self.params[1]
            return np.power(np.clip(y, 0.0, 1.0), 1.0 / g)
        ys, xs = _inverse_samples(self)
        return np.interp(y, ys, xs)


@lru_cache(maxsize=16)
def _inverse_samples(curve: _Curve) -> tuple[np.ndarray, np.ndarray]:
    xs = np.linspace(0.0, 1.0, 65536)
    return np.maximum.accumulate(curve.forward(xs)), xs  # made monotonic for the interpolation


@dataclass(frozen=True)
class _Shaper:
    """A matrix-shaper RGB profile: tone curves, then the 3x3 matrix to XYZ (D50, the profile connection space)."""

    matrix: tuple[tuple[float, ...], ...]
    curves: tuple[_Curve, _Curve, _Curve]


def _tags(icc: bytes) -> dict[bytes, bytes]:
    (count,) = struct.unpack(">I", icc[128:132])
    out = {}
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", icc[132 + 12 * i : 144 + 12 * i])
        if off + size > len(icc):
            raise ValueError("tag outside the profile")
        out[sig] = icc[off : off + size]
    return out


def _s15(b: bytes) -> tuple[float, ...]:
    return tuple(v / 65536.0 for v in struct.unpack(f">{len(b) // 4}i", b))


def _curve(data: bytes) -> _Curve:
    kind = data[:4]
    if kind == b"curv":
        (n,) = struct.unpack(">I", data[8:12])
        if n == 0:
            return _Curve("gamma", (1.0,))
        if n == 1:
            return _Curve("gamma", (struct.unpack(">H", data[12:14])[0] / 256.0,))
        table = struct.unpack(f">{n}H", data[12 : 12 + 2 * n])
        return _Curve("table", tuple(v / 65535.0 for v in table))
    if kind == b"para":
        (ftype,) = struct.unpack(">H", data[8:10])
        n = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}[ftype]
        return _Curve("para", (float(ftype), *_s15(data[12 : 12 + 4 * n])))
    raise ValueError(f"tone curve of type {kind!r}")


def _parse(icc: bytes) -> _Shaper | None:
    """The matrix-shaper description of an RGB profile; None when the profile is LUT-based."""
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise ValueError("not an ICC profile")
    tags = _tags(icc)
    lut_tags = {b"A2B0", b"A2B1", b"B2A0", b"B2A1"}
    need = {b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC"}
    if lut_tags & tags.keys() or not need <= tags.keys():  # LittleCMS prefers a LUT when there is one
        return None
    cols = [_s15(tags[t][8:20]) for t in (b"rXYZ", b"gXYZ", b"bXYZ")]
    matrix = tuple(tuple(cols[c][r] for c in range(3)) for r in range(3))
    curves = (_curve(tags[b"rTRC"]), _curve(tags[b"gTRC"]), _curve(tags[b"bTRC"]))
    return _Shaper(matrix, curves)


@lru_cache(maxsize=1)
def _srgb() -> _Shaper:
    from PIL import ImageCms

    shaper = _parse(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    assert shaper is not None
    return shaper


def _apply(pixels: np.ndarray, src: _Shaper, dst: _Shaper) -> np.ndarray:
    m = np.linalg.inv(np.asarray(dst.matrix)) @ np.asarray(src.matrix)
    flat = pixels.reshape(-1, 3)
    out = np.empty(flat.shape, np.float32)
    for start in range(0, len(flat), _CHUNK):
        part = flat[start : start + _CHUNK].astype(np.float64)
        linear = np.stack([src.curves[c].forward(part[:, c]) for c in range(3)], 1)
        linear = np.clip(linear @ m.T, 0.0, 1.0)
        out[start : start + _CHUNK] = np.stack([dst.curves[c].inverse(linear[:, c]) for c in range(3)], 1)
    return out.reshape(pixels.shape)


def _is_srgb(shaper: _Shaper) -> bool:
    """Whether SHAPER is an sRGB profile (LittleCMS's, HP's 1024-entry one, ghostscript's ...)."""
    srgb = _srgb()
    if np.abs(np.asarray(shaper.matrix) - np.asarray(srgb.matrix)).max() >= _SAME:
        return False
    x = np.linspace(0.0, 1.0, 1024)
    pairs = zip(shaper.curves, srgb.curves, strict=True)
    return all(np.abs(c.forward(x) - s.forward(x)).max() < _SAME for c, s in pairs)


@dataclass(frozen=True)
class _Plan:
    kind: str  # "none" (sRGB, not RGB, unreadable), "shaper" or "lcms"
    shaper: _Shaper | None = None
    note: str | None = None


@lru_cache(maxsize=32)
def _plan(icc: bytes) -> _Plan:
    if icc[16:20] != b"RGB ":
        return _Plan("none")  # grey profiles of grey files: the grey values are used as they are
    try:
        shaper = _parse(icc)
    except (ValueError, KeyError, struct.error):
        return _Plan("none", note="its embedded ICC profile cannot be read: the colours are taken as sRGB.")
    if shaper is None:
        try:
            _lcms(icc, True)
        except Exception:  # noqa: BLE001 - ImageCms raises PyCMSError, OSError ... for profiles it cannot use
            return _Plan("none", note="its embedded ICC profile cannot be used: the colours are taken as sRGB.")
        return _Plan("lcms")
    if _is_srgb(shaper):
        return _Plan("none")
    return _Plan("shaper", shaper)


def _lcms(icc: bytes, to_srgb: bool) -> object:
    from PIL import ImageCms

    own = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.createProfile("sRGB")
    src, dst = (own, srgb) if to_srgb else (srgb, own)
    return ImageCms.buildTransform(src, dst, "RGB", "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC)


def _lcms_apply(pixels: np.ndarray, icc: bytes, to_srgb: bool) -> np.ndarray:
    from PIL import Image, ImageCms

    from photostyle.imageio.photo import to_uint

    im = Image.fromarray(to_uint(np.clip(pixels, 0.0, 1.0), 8), "RGB")
    transform = _lcms(icc, to_srgb)
    assert isinstance(transform, ImageCms.ImageCmsTransform)
    out = ImageCms.applyTransform(im, transform)
    assert out is not None
    return np.asarray(out, dtype=np.float32) / 255.0


def to_working(pixels: np.ndarray, icc: bytes | None, bit_depth: int) -> tuple[np.ndarray, str | None]:
    """PIXELS (in the profile ICC's encoding) in sRGB, and a note for the user when something was approximated."""
    if not icc:
        return pixels, None
    plan = _plan(icc)
    if plan.kind == "shaper" and plan.shaper is not None:
        return _apply(pixels, plan.shaper, _srgb()), None
    if plan.kind == "lcms":
        note = "its ICC profile is LUT-based: converted to sRGB at 8-bit precision." if bit_depth > 8 else None
        return _lcms_apply(pixels, icc, True), note
    return pixels, plan.note


def from_working(pixels: np.ndarray, icc: bytes | None) -> np.ndarray:
    """sRGB PIXELS in the encoding of the profile ICC (the source photo's), to be written with ICC embedded."""
    if not icc:
        return pixels
    plan = _plan(icc)
    if plan.kind == "shaper" and plan.shaper is not None:
        return _apply(pixels, _srgb(), plan.shaper)
    if plan.kind == "lcms":
        return _lcms_apply(pixels, icc, False)
    return pixels
