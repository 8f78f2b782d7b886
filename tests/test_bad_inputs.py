"""Bad input, table-driven: each row is a command line, the exit status, a fragment of the one-line message, and the
files that must be unchanged (or absent) afterwards. Every row runs the real CLI in-process on small real photos.

Placeholders in a row's arguments: ``{d}`` is the row's own folder (made fresh by ``make_files``: small copies of
the samples), ``{samples}`` the bundled samples. ``unchanged`` paths are hashed before and after the run; ``absent``
paths must not exist afterwards (``*`` globs allowed). A row's ``setup`` may prepare anything else in ``{d}``.

The sections are kept apart by area (transfer, image files, masks, album, service and flags) so each area's rows
live together.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from photostyle.cli import main

from .conftest import SAMPLES


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple[str, ...]
    code: int
    message: str  # a fragment of stderr (case-insensitive)
    unchanged: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    setup: Callable[[Path], None] | None = None
    root_ok: bool = True  # False: skipped when running as root (permission rows)
    extra: dict[str, str] = field(default_factory=dict)


def make_files(d: Path) -> None:
    """Small real photos: photo.jpg (the cat), ref.jpg (the rocket), photo.png, a shoot/ folder of two photos."""
    cat = Image.open(SAMPLES / "chelsea.png").convert("RGB")
    cat.thumbnail((96, 96))
    rocket = Image.open(SAMPLES / "rocket.jpg").convert("RGB")
    rocket.thumbnail((96, 96))
    cat.save(d / "photo.jpg", quality=90)
    cat.save(d / "photo.png")
    rocket.save(d / "ref.jpg", quality=90)
    (d / "shoot").mkdir()
    cat.save(d / "shoot" / "a.jpg", quality=90)
    coffee = Image.open(SAMPLES / "coffee.png").convert("RGB")
    coffee.thumbnail((96, 96))
    coffee.save(d / "shoot" / "b.jpg", quality=90)


FAST = ("--quality", "preview", "--masks", "none")

# ----------------------------------------------------------------------------------------------- transfer
TRANSFER_ROWS: list[Row] = []


# ----------------------------------------------------------------------------------------------- image files
def _nan_tiff(d: Path) -> None:
    import numpy as np
    import tifffile

    a = np.asarray(Image.open(d / "photo.png").convert("RGB"), dtype=np.float32) / 255
    a[10:12, 10:12] = np.nan  # 4 pixels
    tifffile.imwrite(d / "nan.tif", a, photometric="rgb")


def _huge_png(d: Path) -> None:
    """A PNG whose header says 30000x30000 pixels (900 MP): refused from the header, before any pixel."""
    import struct
    import zlib

    body = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body))
    (d / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + body + crc)


def _empty_jpg(d: Path) -> None:
    (d / "empty.jpg").write_bytes(b"")


def _text_jpg(d: Path) -> None:
    (d / "notes.jpg").write_text("Shopping list\n- coffee\n- film\n")


IMAGE_ROWS: list[Row] = [
    Row(
        "photo-is-an-empty-file",
        ("transfer", "{d}/empty.jpg", "{d}/ref.jpg", "-o", "{d}/out.jpg", *FAST),
        2,
        "empty.jpg: photo is an empty file (0 bytes)",
        absent=("out.jpg",),
        setup=_empty_jpg,
    ),
    Row(
        "reference-is-a-text-file",
        ("transfer", "{d}/photo.jpg", "{d}/notes.jpg", "-o", "{d}/out.jpg", *FAST),
        2,
        "notes.jpg: reference is not an image: it is a text file (it starts with 'Shopping list - coffee",
        absent=("out.jpg",),
        setup=_text_jpg,
    ),
    Row(
        "output-is-a-folder",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/shoot", *FAST),
        2,
        "shoot: output is a folder; give a file name for the output",
        unchanged=("shoot",),
    ),
    Row(
        "image-over-800-mp",
        ("transfer", "{d}/huge.png", "{d}/ref.jpg", "-o", "{d}/out.jpg", *FAST),
        2,
        "huge.png: photo is 30000x30000 pixels (900 MP); photostyle takes at most 800 MP",
        absent=("out.jpg",),
        setup=_huge_png,
    ),
    Row(
        "reference-over-800-mp",
        ("transfer", "{d}/photo.jpg", "{d}/huge.png", "-o", "{d}/out.jpg", *FAST),
        2,
        "huge.png: reference is 30000x30000 pixels",
        absent=("out.jpg",),
        setup=_huge_png,
    ),
    Row(
        "float-tiff-with-nan-pixels",
        ("transfer", "{d}/nan.tif", "{d}/ref.jpg", "-o", "{d}/out.tif", "--quality", "preview"),
        0,
        "nan.tif: 4 pixels with NaN or infinite values, filled from the neighbouring pixels",
        setup=_nan_tiff,
    ),
]

# ----------------------------------------------------------------------------------------------- masks
MASK_ROWS: list[Row] = []

# ----------------------------------------------------------------------------------------------- album
ALBUM_ROWS: list[Row] = []

# ----------------------------------------------------------------------------------------------- service and flags
FLAG_ROWS: list[Row] = []

ROWS = TRANSFER_ROWS + IMAGE_ROWS + MASK_ROWS + ALBUM_ROWS + FLAG_ROWS


def _digest(path: Path) -> str | None:
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not row.root_ok and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    d = tmp_path
    make_files(d)
    if row.setup:
        row.setup(d)
    fill = {"d": str(d), "samples": str(SAMPLES), **row.extra}
    args = [a.format(**fill) for a in row.args]
    before = {p: _digest(d / p) for p in row.unchanged}
    code = main(args)
    err = capsys.readouterr().err
    assert code == row.code, f"exit {code}, stderr:\n{err}"
    assert row.message.lower() in err.lower(), err
    assert "Traceback" not in err, err
    for p, digest in before.items():
        assert _digest(d / p) == digest, f"{p} changed"
    for pattern in row.absent:
        assert not list(d.glob(pattern)), f"{pattern} exists"
