"""Checks made before any work, so that nothing the user owns is overwritten and a run fails in its first second.
The one place for them: ``transfer``, ``photostyle masks`` and the album all use these.

- ``check_not_input`` / ``check_not_inputs``: an output is never one of the run's inputs (by path, through a
  symlink, or as the same file under another name), with or without ``--overwrite``.
- ``check_folder_writable``: the output's folder (or, with ``create=True``, the nearest existing folder it will be
  made in) is a folder and a file can really be created in it (a read-only mount refuses root too).
- ``check_free_space``: the folder's file system has room for what will be written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from photostyle.errors import OutputError

PathLike = str | os.PathLike[str]
Identity = str | tuple[int, int]


def file_identity(path: PathLike) -> set[Identity]:
    """What makes PATH the same file as another: its resolved path, and (when it exists) its device and inode."""
    p = Path(path)
    ids: set[Identity] = set()
    try:
        ids.add(str(p.resolve()))
    except OSError:
        ids.add(str(p.absolute()))
    try:
        st = p.stat()
        ids.add((st.st_dev, st.st_ino))
    except OSError:
        pass
    return ids


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when A and B name the same file: the same resolved path, or the same existing file (a hard link)."""
    return bool(file_identity(a) & file_identity(b))


def check_not_inputs(
    outputs: Iterable[PathLike],
    inputs: Mapping[str, PathLike | None] | Iterable[tuple[str, PathLike | None]],
    *,
    what: str = "this run",
    fix: str = "Choose another output name.",
) -> None:
    """Refuse any of OUTPUTS that is one of INPUTS ({role: path} or (role, path) pairs); the message names the
    role. --overwrite does not change this: photostyle never replaces what it reads. Each path is looked at once,
    so a shoot of thousands of photos is checked in one pass."""
    items = inputs.items() if isinstance(inputs, Mapping) else inputs
    index: dict[Identity, str] = {}
    for role, path in items:
        if path is not None:
            index.update(dict.fromkeys(file_identity(path), role))
    for out in outputs:
        for key in file_identity(out):
            if key in index:
                raise OutputError(
                    f"{out}: is {index[key]}, an input of {what}; photostyle never writes over its inputs "
                    f"(not even with --overwrite). {fix}"
                )


def check_not_input(
    output: PathLike, inputs: Mapping[str, PathLike | None] | Iterable[tuple[str, PathLike | None]]
) -> None:
    """``check_not_inputs`` for one output."""
    check_not_inputs([output], inputs)


def existing_folder(path: PathLike) -> Path:
    """PATH itself when it exists, else the nearest existing folder above it (where it would be made)."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_folder_writable(folder: PathLike, *, what: str = "output", create: bool = False) -> Path:
    """FOLDER must be a folder that accepts a new file; with CREATE it may be missing, and the nearest existing
    folder above it (where it will be made) is checked instead. One OutputError saying what to do otherwise."""
    d = Path(folder)
    if not d.exists() and not create:
        raise OutputError(f"{d}: the {what} folder does not exist; create it first.")
    probe = existing_folder(d) if create else d
    if not probe.is_dir():
        raise OutputError(f"{probe}: is a file, not a folder; the {what} needs a folder here.")
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".photostyle-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else "cannot create files"
        raise OutputError(
            f"{probe}: the {what} folder cannot be written ({reason}); choose a folder you can write to."
        ) from None
    return probe


def check_free_space(folder: PathLike, nbytes: int, *, what: str = "the output") -> None:
    """Refuse when FOLDER's file system (or that of the folder it will be made in) has less than NBYTES (plus a
    1 % margin and 1 MiB) free."""
    probe = existing_folder(folder)
    free = shutil.disk_usage(probe).free
    need = int(nbytes * 1.01) + (1 << 20)
    if free < need:
        raise OutputError(
            f"{folder}: not enough free space for {what} (needs about {_mb(need)}, {_mb(free)} free); "
            "free some space or choose another folder."
        )


def estimated_bytes(width: int, height: int, suffix: str, bit_depth: int = 8) -> int:
    """A generous estimate of an encoded RGB image's size: uncompressed for PNG and TIFF, 1 byte a pixel for JPEG."""
    if suffix.lower() in (".jpg", ".jpeg"):
        return width * height
    return width * height * 3 * (2 if bit_depth == 16 else 1)


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} kB"
