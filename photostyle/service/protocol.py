"""The wire format: one JSON header line, then the binary blobs it lists; pixels in and out; settings from a request.

Shared by HTTP (``photostyle.service.http``) and the one-shot ``photostyle serve --once REQUEST RESPONSE`` fallback.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from photostyle import __version__
from photostyle.errors import InputError, PhotostyleError, SettingsError
from photostyle.imageio import to_uint
from photostyle.settings import Settings

PROTOCOL = 1
DTYPES = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}
# The largest photo the service takes, and so the largest request: that photo as 32-bit float RGB, its selection
# mask (one byte a pixel), a reference file of up to MAX_REFERENCE_BYTES and the header.
MAX_PHOTO_PIXELS = 200_000_000
MAX_REFERENCE_BYTES = 512 << 20
MAX_REQUEST_BYTES = MAX_PHOTO_PIXELS * (3 * 4 + 1) + MAX_REFERENCE_BYTES + (1 << 20)
# Settings that name files: the service opens no path a client sends (images travel in the request).
PATH_SETTINGS = ("vgg_weights", "region_reference")
# Settings the plug-in always sends. While the engine lacks one, its neutral value is accepted (and dropped).
NEUTRAL = {"preserve_color": ("off", "none", None), "strength": (1, 1.0, None)}


class Cancelled(PhotostyleError):
    """The client went away (GIMP's Cancel) or asked to stop: the transfer was stopped and nothing was returned."""


def pack(header: dict[str, Any], blobs: list[tuple[str, bytes]] | None = None) -> bytes:
    """Header line + blobs, as sent on the wire."""
    blobs = blobs or []
    h = dict(header, blobs=[[name, len(data)] for name, data in blobs])
    return json.dumps(h, separators=(",", ":")).encode() + b"\n" + b"".join(data for _, data in blobs)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The inverse of ``pack``; raises InputError with what is wrong."""
    nl = data.find(b"\n")
    if nl < 0:
        raise InputError("request: no header line (a JSON object followed by a newline) was found.")
    try:
        header = json.loads(data[:nl])
    except ValueError as exc:
        raise InputError(f"request: the header is not valid JSON ({exc}).") from exc
    if not isinstance(header, dict):
        raise InputError("request: the header must be a JSON object.")
    blobs: dict[str, bytes] = {}
    pos = nl + 1
    for entry in header.get("blobs", []):
        try:
            name, size = str(entry[0]), int(entry[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise InputError(f"request: bad blob entry {entry!r}; expected [name, size].") from exc
        if size < 0 or pos + size > len(data):
            raise InputError(f"request: blob {name!r} says {size} bytes but the request ends before.")
        blobs[name] = data[pos : pos + size]
        pos += size
    if pos != len(data):
        raise InputError(f"request: {len(data) - pos} bytes follow the blobs the header lists.")
    return header, blobs


def decode_pixels(spec: dict[str, Any], data: bytes, channels: int, what: str) -> np.ndarray:
    """Raw interleaved pixels -> array (H, W, channels) or (H, W) when channels == 1."""
    try:
        w, h = int(spec["width"]), int(spec["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"request: {what} needs integer width and height.") from exc
    name = spec.get("dtype", "u8")
    if name not in DTYPES:
        raise InputError(f"request: {what} dtype {name!r} is not one of {', '.join(DTYPES)}.")
    order = spec.get("byteorder", "little")
    if order not in ("little", "big"):
        raise InputError(f"request: {what} byteorder must be 'little' or 'big', not {order!r}.")
    dt = np.dtype(DTYPES[name]).newbyteorder("<" if order == "little" else ">")
    if w < 1 or h < 1:
        raise InputError(f"request: {what} is {w}x{h} pixels.")
    if w * h > MAX_PHOTO_PIXELS:
        raise InputError(
            f"request: {what} is {w}x{h} pixels, over the service's {MAX_PHOTO_PIXELS // 1_000_000} megapixels. "
            "Scale the image down first."
        )
    expected = w * h * channels * dt.itemsize
    if len(data) != expected:
        raise InputError(
            f"request: {what} data is {len(data)} bytes; {w}x{h} {name} with {channels} channel(s) needs {expected}."
        )
    a = np.frombuffer(data, dtype=dt).astype(dt.newbyteorder("="))
    return a.reshape((h, w, channels) if channels > 1 else (h, w))


def encode_pixels(image: np.ndarray, dtype: str) -> bytes:
    """Float RGB in [0, 1] -> little-endian bytes of DTYPE."""
    a = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if dtype == "u8":
        return to_uint(a, 8).tobytes()
    if dtype == "u16":
        return to_uint(a, 16).astype("<u2").tobytes()
    return a.astype("<f4").tobytes()


def build_settings(d: dict[str, Any], defaults: dict[str, Any] | None = None) -> Settings:
    """The Settings for a request's settings dict: the CLI's quality preset, then every other key as a field."""
    if not isinstance(d, dict):
        raise SettingsError("request: settings must be a JSON object.")
    for k in PATH_SETTINGS:
        if k in d:
            raise SettingsError(
                f"request: setting {k!r} names a file, and the service opens no file a request names "
                "(images travel in the request). Leave it out."
            )
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    if d.get("preserve_color") == "off":
        d["preserve_color"] = "none"  # the dialog's word for it
    base = Settings.preset(d.pop("quality", "best"))  # a bad quality is named before any other key
    known = {f.name for f in dataclasses.fields(Settings)}
    for k in [k for k in d if k not in known]:
        if k in NEUTRAL and d[k] in NEUTRAL[k]:
            del d[k]  # the engine has no such control yet; its neutral value changes nothing
        else:
            raise SettingsError(
                f"this photostyle engine ({__version__}) has no setting {k!r} (asked: {d[k]!r}). "
                "Update photostyle, or leave that control at its default."
            )
    extra = {k: v for k, v in (defaults or {}).items() if k not in d and v is not None}
    try:
        return base.with_(**extra, **d)
    except TypeError as exc:
        raise SettingsError(f"request: bad settings ({exc}).") from exc


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON error answer for EXC (a PhotostyleError's own message; memory and internal errors named)."""
    if isinstance(exc, PhotostyleError):
        return {"ok": False, "error": str(exc), "type": type(exc).__name__}
    if isinstance(exc, MemoryError):
        return {
            "ok": False,
            "error": "not enough memory for this image: use quality preview, a smaller image, or close programs.",
            "type": "MemoryError",
        }
    return {"ok": False, "error": f"internal error in the photostyle engine: {exc!r}", "type": type(exc).__name__}
