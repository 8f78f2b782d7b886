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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
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
def _tall_selection(d: Path) -> None:
    w, h = Image.open(d / "photo.jpg").size
    Image.new("L", (h, w), 255).save(d / "sel.png")  # drawn for another shape: would be stretched


TRANSFER_ROWS: list[Row] = [
    Row(
        "only-mask-of-another-shape",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/out.png", "--only", "{d}/sel.png", *FAST),
        2,
        "another shape",
        absent=("out.png",),
        setup=_tall_selection,
    ),
    Row(
        "output-is-photo",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/photo.jpg", "--overwrite", *FAST),
        2,
        "is the photo, an input",
        unchanged=("photo.jpg",),
    ),
    Row(
        "output-is-reference",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/ref.jpg", "--overwrite", *FAST),
        2,
        "is the reference, an input",
        unchanged=("ref.jpg",),
    ),
    Row(
        "output-is-photo-without-overwrite",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/photo.jpg", *FAST),
        2,
        "never writes over its inputs",
        unchanged=("photo.jpg",),
    ),
    Row(
        "output-is-photo-by-symlink",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/link.jpg", "--overwrite", *FAST),
        2,
        "is the photo",
        unchanged=("photo.jpg",),
        setup=lambda d: (d / "link.jpg").symlink_to(d / "photo.jpg"),
    ),
    Row(
        "output-is-photo-by-hard-link",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/same.jpg", "--overwrite", *FAST),
        2,
        "is the photo",
        unchanged=("photo.jpg",),
        setup=lambda d: os.link(d / "photo.jpg", d / "same.jpg"),
    ),
    Row(
        "output-is-photo-by-other-spelling",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/shoot/../photo.jpg", "--overwrite", *FAST),
        2,
        "is the photo",
        unchanged=("photo.jpg",),
    ),
    Row(
        "output-is-a-mask",
        (
            "transfer",
            "{d}/photo.png",
            "{d}/ref.jpg",
            "-o",
            "{d}/pm.png",
            "--overwrite",
            "--quality",
            "preview",
            "--photo-mask",
            "{d}/pm.png",
            "--reference-mask",
            "{d}/rm.png",
        ),
        2,
        "is the photo mask",
        unchanged=("pm.png",),
        setup=lambda d: _two_masks(d),
    ),
    Row(
        "output-is-a-region-reference",
        (
            "transfer",
            "{d}/photo.png",
            "{d}/ref.jpg",
            "-o",
            "{d}/shoot/b.jpg",
            "--overwrite",
            "--quality",
            "preview",
            "--photo-mask",
            "{d}/pm.png",
            "--reference-mask",
            "{d}/rm.png",
            "--region-reference",
            "blue={d}/shoot/b.jpg",
        ),
        2,
        "is the reference of region 0",
        unchanged=("shoot/b.jpg",),
        setup=lambda d: _two_masks(d),
    ),
    Row(
        "output-is-the-only-mask",
        (
            "transfer",
            "{d}/photo.png",
            "{d}/ref.jpg",
            "-o",
            "{d}/sel.png",
            "--overwrite",
            "--only",
            "{d}/sel.png",
            *FAST,
        ),
        2,
        "is the --only mask",
        unchanged=("sel.png",),
        setup=lambda d: _selection(d),
    ),
    Row(
        "misspelt-only-mask-fails-before-work",
        (
            "transfer",
            "{d}/photo.jpg",
            "{d}/ref.jpg",
            "-o",
            "{d}/out.png",
            "--only",
            "{d}/sle.png",
            "--quality",
            "best",
            "--masks",
            "none",
            "--vgg-weights",  # read when the engine starts: the --only error must come before it
            "{d}/no-weights.pth",
        ),
        2,
        "sle.png",
        absent=("out.png",),
    ),
    Row(
        "region-strength-without-masks",
        ("transfer", "{d}/photo.png", "{d}/ref.jpg", "-o", "{d}/out.png", *FAST, "--region-strength", "blue=0.5"),
        2,
        "region_strength needs a photo mask with regions",
        absent=("out.png",),
    ),
    Row(
        "missing-region-reference-fails-before-work",
        (
            "transfer",
            "{d}/photo.png",
            "{d}/ref.jpg",
            "-o",
            "{d}/out.png",
            "--quality",
            "best",
            "--photo-mask",
            "{d}/pm.png",
            "--reference-mask",
            "{d}/rm.png",
            "--region-reference",
            "blue={d}/nope.jpg",
        ),
        2,
        "nope.jpg",
        absent=("out.png",),
        setup=lambda d: _two_masks(d),
    ),
    Row(
        "output-folder-is-a-file",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/photo.png/out.jpg", *FAST),
        2,
        "photo.png",
        unchanged=("photo.png",),
    ),
    Row(
        "output-folder-missing",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/nope/out.jpg", *FAST),
        2,
        "does not exist",
        absent=("nope",),
    ),
    Row(
        "output-folder-read-only",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/ro/out.jpg", *FAST),
        2,
        "cannot be written",
        absent=("ro/out.jpg", "ro/.out.jpg.*"),
        setup=lambda d: _read_only_folder(d),
    ),
]


def _two_masks(d: Path) -> None:
    """Photo and reference masks of two regions (blue left half, green right half) at each image's size."""
    for name, image in (("pm.png", "photo.png"), ("rm.png", "ref.jpg")):
        w, h = Image.open(d / image).size
        m = Image.new("RGB", (w, h), (0, 0, 255))
        m.paste((0, 255, 0), (w // 2, 0, w, h))
        m.save(d / name)


def _selection(d: Path) -> None:
    w, h = Image.open(d / "photo.jpg").size
    m = Image.new("L", (w, h), 0)
    m.paste(255, (0, 0, w // 2, h // 2))
    m.save(d / "sel.png")


def _read_only_folder(d: Path) -> None:
    """A folder on a read-only mount when this test runs as root (root writes through permissions), else chmod."""
    ro = d / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        import subprocess

        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)], capture_output=True)
        if made.returncode != 0:
            pytest.skip("cannot mount a read-only folder here")
        _MOUNTS.append(ro)
    else:
        ro.chmod(0o555)


_MOUNTS: list[Path] = []


@pytest.fixture(autouse=True)
def _unmount() -> Iterator[None]:
    yield
    import subprocess

    while _MOUNTS:
        subprocess.run(["umount", str(_MOUNTS.pop())], capture_output=True)


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


def _grey_photo_mask(d: Path) -> None:
    """A grey photograph saved as a mask: refused (a grey mask with anti-aliased edges is not)."""
    Image.open(d / "photo.png").convert("L").save(d / "mask.png")


def _square_mask(d: Path) -> None:
    Image.new("RGB", (64, 64), (0, 0, 255)).save(d / "square.png")


def _existing_masks(d: Path) -> None:
    (d / "m").mkdir()
    (d / "m" / "legend.json").write_text("{}\n")


def _file_not_folder(d: Path) -> None:
    (d / "m").write_text("a file, not a folder\n")


def _output_is_input(d: Path) -> None:
    (d / "m").mkdir()
    os.symlink(d / "photo.png", d / "m" / "photo_labels.png")
    os.link(d / "ref.jpg", d / "m" / "reference_overlay.png")


# ``masks`` checks its outputs before any work: the rows with ``--segmenter detectron2`` (not installed here) show
# it, as the segmenter's own error would come first if the outputs were checked after segmentation.
MASKS = ("masks", "{d}/photo.jpg", "{d}/ref.jpg", "--no-person")
D2 = ("--segmenter", "detectron2")
MASK_ROWS: list[Row] = [
    Row("masks-existing-outputs", (*MASKS, "-o", "{d}/m", *D2), 2, "already holds legend.json",
        unchanged=("m/legend.json",), setup=_existing_masks),
    Row("masks-output-is-a-file", (*MASKS, "-o", "{d}/m", *D2), 2, "is not a folder", unchanged=("m",),
        setup=_file_not_folder),
    Row("masks-read-only-folder", (*MASKS, "-o", "{d}/ro/m", *D2), 2, "cannot be written", absent=("ro/m",),
        setup=_read_only_folder),
    Row("masks-output-is-the-photo", ("masks", "{d}/photo.png", "{d}/ref.jpg", "--no-person", "-o", "{d}/m",
        "--overwrite"), 2, "an input of this run", unchanged=("photo.png", "ref.jpg", "m"), setup=_output_is_input),
    Row(
        "mask-grey-photograph",
        ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/out.png", "--photo-mask", "{d}/mask.png",
         "--reference-mask", "{d}/mask.png", *FAST),
        2,
        "looks like a photograph",
        unchanged=("mask.png", "photo.jpg"),
        absent=("out.png",),
        setup=_grey_photo_mask,
    ),
    Row("mask-other-aspect", ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/out.png", "--photo-mask",
        "{d}/square.png", "--reference-mask", "{d}/square.png", *FAST), 2, "square.png: photo mask is 64x64 but its "
        "image is 96x64", unchanged=("square.png",), absent=("out.png",), setup=_square_mask),
]  # fmt: skip


# ----------------------------------------------------------------------------------------------- album
def _album_out_with_ref(d: Path) -> None:
    (d / "out").mkdir()
    (d / "out" / "a_ref.jpg").write_bytes((d / "ref.jpg").read_bytes())  # the reference, where a.jpg's output goes


def _album_out_links_photo(d: Path) -> None:
    (d / "out").mkdir()
    (d / "out" / "a_ref.jpg").symlink_to(d / "shoot" / "a.jpg")


def _album_lut_links_ref(d: Path) -> None:
    (d / "look.cube").symlink_to(d / "ref.jpg")


def _album_lut_is_folder(d: Path) -> None:
    (d / "look.cube").mkdir()


def _album_look_file_links_ref(d: Path) -> None:
    (d / "looks").mkdir()
    (d / "looks" / "photostyle-ref.pp3").symlink_to(d / "ref.jpg")  # the look is named after ref.jpg


ALBUM = ("album", "{d}/shoot", "-r", "{d}/ref.jpg", "-o", "{d}/out", *FAST, "-q")
ALBUM_ROWS: list[Row] = [
    Row(
        "album-output-is-the-reference",
        ("album", "{d}/shoot", "-r", "{d}/out/a_ref.jpg", "-o", "{d}/out", "--look", "ref", "--overwrite", "-q"),
        2,
        "an input of this album",
        unchanged=("out/a_ref.jpg", "shoot/a.jpg"),
        absent=("out/b_ref.jpg", "out/manifest.jsonl"),
        setup=_album_out_with_ref,
    ),
    Row(
        "album-output-links-to-a-photo",
        (*ALBUM, "--overwrite"),
        2,
        "an input of this album",
        unchanged=("shoot/a.jpg",),
        absent=("out/b_ref.jpg", "out/manifest.jsonl"),
        setup=_album_out_links_photo,
    ),
    Row(
        "album-lut-links-to-the-reference",
        (*ALBUM, "--export-lut", "{d}/look.cube", "--overwrite"),
        2,
        "an input of this album",
        unchanged=("ref.jpg",),
        absent=("out",),
        setup=_album_lut_links_ref,
    ),
    Row(
        "album-lut-folder-missing",
        (*ALBUM, "--export-lut", "{d}/nowhere/look.cube"),
        2,
        "does not exist",
        absent=("out", "nowhere"),
    ),
    Row("album-skin-unknown", (*ALBUM, "--skin", "Protect"), 2, "skin must be 'protect'", absent=("out",)),
    Row(
        "album-region-strength-with-automatic-masks",
        (*ALBUM, "--masks", "auto", "--region-strength", "blue=0.5"),
        2,
        "--region-strength: the album's masks are found anew in every photo",
        absent=("out",),
    ),
    Row(
        "album-region-reference-with-automatic-masks",
        (*ALBUM, "--masks", "auto", "--region-reference", "blue={d}/ref.jpg"),
        2,
        "--region-reference: the album's masks are found anew in every photo",
        absent=("out",),
    ),
    Row(
        "album-region-strength-without-masks",
        (*ALBUM, "--region-strength", "blue=0.5"),
        2,
        "--region-strength: with --masks none the album styles every photo as one region",
        absent=("out",),
    ),
    Row(
        "album-region-reference-without-masks",
        (*ALBUM, "--masks", "none", "--region-reference", "blue={d}/ref.jpg"),
        2,
        "--region-reference: with --masks none the album styles every photo as one region",
        absent=("out",),
    ),
    Row("album-masks-unknown", (*ALBUM, "--masks", "hand"), 2, "--masks must be one of auto, none", absent=("out",)),
    Row(
        "album-lut-is-a-folder",
        (*ALBUM, "--export-lut", "{d}/look.cube"),
        2,
        "is a folder",
        absent=("out",),
        setup=_album_lut_is_folder,
    ),
    Row(
        "album-look-dir-is-a-file",
        (*ALBUM, "--export-look", "{d}/ref.jpg", "--overwrite"),
        2,
        "is a file, not a folder",
        unchanged=("ref.jpg",),
        absent=("out",),
    ),
    Row(
        "album-look-dir-in-the-shoot",
        (*ALBUM, "--export-look", "{d}/shoot/looks"),
        2,
        "is inside the shoot folder",
        unchanged=("shoot",),
        absent=("out", "shoot/looks"),
    ),
    Row(
        "album-look-file-links-to-the-reference",
        (*ALBUM, "--export-look", "{d}/looks", "--overwrite"),
        2,
        "an input of this album",
        unchanged=("ref.jpg", "looks"),
        absent=("out",),
        setup=_album_look_file_links_ref,
    ),
    Row(
        "album-look-dir-read-only",
        (*ALBUM, "--export-look", "{d}/ro/looks"),
        2,
        "cannot be written",
        absent=("out", "ro/looks"),
        setup=_read_only_folder,
    ),
    Row(
        "album-normalize-unknown",
        (*ALBUM, "--normalize=colour"),
        2,
        "--normalize: invalid choice: 'colour'",
        absent=("out",),
    ),
]

# ----------------------------------------------------------------------------------------------- service and flags
_T = ("transfer", "{d}/photo.jpg", "{d}/ref.jpg", "-o", "{d}/out.jpg")
FLAG_ROWS: list[Row] = [
    Row("threads-0", (*_T, "--threads", "0", *FAST), 2, "threads must be at least 1", absent=("out.jpg",)),
    Row("threads-negative", (*_T, "--threads", "-3", *FAST), 2, "threads must be at least 1", absent=("out.jpg",)),
    Row("bit-depth-16-jpeg", (*_T, "--bit-depth", "16", *FAST), 2, "JPEG holds 8 bits only", absent=("out.jpg",)),
    Row("skin-unknown", (*_T, "--skin", "keep", *FAST), 2, "skin must be 'protect'", absent=("out.jpg",)),
    Row(
        "serve-port-out-of-range",
        ("serve", "--port", "80000", "--service-file", "{d}/s.json"),
        2,
        "--port 80000",
        absent=("s.json",),
    ),  # fmt: skip
    *(
        []
        if torch.cuda.is_available()
        else [Row("device-cuda-without-gpu", (*_T, "--device", "cuda", *FAST), 2, "no CUDA", absent=("out.jpg",))]
    ),
]

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
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refusing a flag's value (choices) exits with status 2
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == row.code, f"exit {code}, stderr:\n{err}"
    assert row.message.lower() in err.lower(), err
    assert "Traceback" not in err, err
    for p, digest in before.items():
        assert _digest(d / p) == digest, f"{p} changed"
    for pattern in row.absent:
        assert not list(d.glob(pattern)), f"{pattern} exists"
