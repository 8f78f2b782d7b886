"""Atomic writes of the album job's non-image files (manifest, .cube LUT, contact-sheet HTML).

Images go through ``photostyle.imageio.write_image``; this is the same temp-file-then-rename rule for text.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from photostyle.errors import OutputError


def _file_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp's own is 0600: private to its owner)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> Path:
    """Write DATA to PATH through a temporary file beside it and a rename; refuse to replace without OVERWRITE."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists; pass --overwrite to replace it, or choose another name.")
    if not p.parent.is_dir():
        raise OutputError(f"{p}: folder {p.parent} does not exist; create it first.")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def write_text_atomic(path: str | os.PathLike[str], text: str, *, overwrite: bool = False) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
