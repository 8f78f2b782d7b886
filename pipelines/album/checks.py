"""The album's outputs checked before any work: none of them is an input, their folders can be written, and the
disk has room for them. Each failure is one ``OutputError`` that says what to do."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from photostyle.errors import OutputError

SHEET_BYTES = 4 << 20  # room for the manifest, the contact sheet and its thumbnails


def _identity(p: Path) -> set[object]:
    """What makes P the same file as another: its resolved path, and its device and inode when it exists."""
    ids: set[object] = {str(p.resolve())}
    try:
        st = p.stat()
        ids.add((st.st_dev, st.st_ino))
    except OSError:
        pass
    return ids


def check_not_inputs(outputs: Iterable[Path], photos: Iterable[Path], reference: Path) -> None:
    """Refuse (even with --overwrite) any output that is a photo of the shoot or the reference: by path, through a
    symbolic link, or as the same file (a hard link)."""
    inputs: dict[object, str] = {}
    for p in photos:
        inputs.update(dict.fromkeys(_identity(p), f"the photo {p}"))
    inputs.update(dict.fromkeys(_identity(reference), f"the reference {reference}"))
    for out in outputs:
        for key in _identity(out):
            if key in inputs:
                raise OutputError(
                    f"{out}: is an input of this album ({inputs[key]}); the album never writes over its inputs, "
                    "even with --overwrite. Choose another output folder, --name or --look."
                )


def _existing_folder(p: Path) -> Path:
    folder = p.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(out_dir: Path, export_lut: Path | None, needed: int, *, export_look: Path | None = None) -> None:
    """OUT_DIR (or the folder it will be made in), the LUT's folder and the --export-look folder (or the folder it
    will be made in) can be written, with NEEDED bytes free."""
    if export_look is not None:
        look_folder = _existing_folder(Path(export_look))
        if not look_folder.is_dir():
            raise OutputError(f"{export_look}: {look_folder} is not a folder; give --export-look a folder.")
        if not os.access(look_folder, os.W_OK | os.X_OK):
            raise OutputError(f"{export_look}: cannot be written (read-only); choose a folder you can write to.")
    if export_lut is not None:
        lut = Path(export_lut)
        if lut.is_dir():
            raise OutputError(f"{lut}: is a folder; give --export-lut a file name ending in .cube.")
        if not lut.parent.is_dir():
            raise OutputError(f"{lut}: folder {lut.parent} does not exist; create it first or choose another path.")
        if not os.access(lut.parent, os.W_OK | os.X_OK):
            raise OutputError(f"{lut}: folder {lut.parent} cannot be written; choose a folder you can write to.")
    folder = _existing_folder(out_dir)
    if not folder.is_dir():
        raise OutputError(f"{out_dir}: {folder} is not a folder; choose an output folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: cannot be written (read-only); choose a folder you can write to.")
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OutputError(
            f"{out_dir}: not enough free space ({free / 1e6:.1f} MB free, about {needed / 1e6:.1f} MB needed); "
            "free some space or choose another output folder."
        )


def needed_bytes(inputs: Iterable[Path], *, tiff: bool) -> int:
    """A rough size of the outputs: the inputs' sizes (three times for 16-bit TIFFs), plus the job's own files."""
    total = sum(p.stat().st_size for p in inputs)
    return (3 * total if tiff else total) + SHEET_BYTES
