"""The album's outputs checked before any work: none of them is an input, their folders can be written, and the
disk has room for them (photostyle.imageio.guard's checks, with the album's words). Each failure is one
``OutputError`` that says what to do."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from photostyle.errors import OutputError
from photostyle.imageio.guard import check_folder_writable, check_free_space
from photostyle.imageio.guard import check_not_inputs as _check_not_inputs

SHEET_BYTES = 4 << 20  # room for the manifest, the contact sheet and its thumbnails


def check_not_inputs(outputs: Iterable[Path], photos: Iterable[Path], reference: Path) -> None:
    """Refuse (even with --overwrite) any output that is a photo of the shoot or the reference: by path, through a
    symbolic link, or as the same file (a hard link)."""
    inputs = [(f"the photo {p}", p) for p in photos] + [(f"the reference {reference}", reference)]
    _check_not_inputs(outputs, inputs, what="this album", fix="Choose another output folder, --name or --look.")


def check_writable(out_dir: Path, export_lut: Path | None, needed: int, *, export_look: Path | None = None) -> None:
    """OUT_DIR (or the folder it will be made in), the LUT's folder and the --export-look folder (or the folder it
    will be made in) can be written, with NEEDED bytes free."""
    if export_look is not None:  # a folder, or made in the nearest existing one: both checked by the guard
        check_folder_writable(export_look, what="--export-look", create=True)
    if export_lut is not None:
        lut = Path(export_lut)
        if lut.is_dir():
            raise OutputError(f"{lut}: is a folder; give --export-lut a file name ending in .cube.")
        check_folder_writable(lut.parent, what="--export-lut")  # it must exist: a LUT's folder is not made
    check_folder_writable(out_dir, what="album output", create=True)
    check_free_space(out_dir, needed, what="the album's outputs")


def needed_bytes(inputs: Iterable[Path], *, tiff: bool) -> int:
    """A rough size of the outputs: the inputs' sizes (three times for 16-bit TIFFs), plus the job's own files."""
    total = sum(p.stat().st_size for p in inputs)
    return (3 * total if tiff else total) + SHEET_BYTES
