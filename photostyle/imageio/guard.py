"""Checks made before any work, so that nothing the user owns is overwritten and a run fails in its first second.

- ``check_not_input``: an output is never one of the run's inputs (by path, through a symlink, or as the same file
  under another name), with or without ``--overwrite``.
- ``check_folder_writable``: the output's folder exists, is a folder, and a file can really be created in it (a
  read-only mount refuses root too, which ``os.access`` does not see).
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


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when A and B name the same file: the same resolved path, or (both existing) the same inode."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.resolve() == pb.resolve():
            return True
    except OSError:
        pass
    try:
        return pa.exists() and pb.exists() and os.path.samefile(pa, pb)
    except OSError:
        return False


def check_not_input(
    output: PathLike, inputs: Mapping[str, PathLike | None] | Iterable[tuple[str, PathLike | None]]
) -> None:
    """Refuse OUTPUT when it is one of INPUTS ({role: path}); the message names the role. --overwrite does not
    change this: photostyle never replaces what it reads."""
    items = inputs.items() if isinstance(inputs, Mapping) else inputs
    for role, path in items:
        if path is not None and same_file(output, path):
            raise OutputError(
                f"{output}: this is the {role}, an input of this run; photostyle never writes over its inputs "
                "(not even with --overwrite). Choose another output name."
            )


def check_folder_writable(folder: PathLike, *, what: str = "output") -> Path:
    """FOLDER must exist, be a folder, and accept a new file; else one OutputError saying what to do."""
    d = Path(folder)
    if not d.exists():
        raise OutputError(f"{d}: the {what} folder does not exist; create it first.")
    if not d.is_dir():
        raise OutputError(f"{d}: is a file, not a folder; the {what} needs a folder here.")
    try:
        with tempfile.TemporaryFile(dir=d, prefix=".photostyle-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else "cannot create files"
        raise OutputError(
            f"{d}: the {what} folder is not writable ({reason}); choose a folder you can write to."
        ) from None
    return d


def check_free_space(folder: PathLike, nbytes: int, *, what: str = "the output") -> None:
    """Refuse when FOLDER's file system has less than NBYTES (plus a 1 % margin) free."""
    free = shutil.disk_usage(folder).free
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
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} kB"
