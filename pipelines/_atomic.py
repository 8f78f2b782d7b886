"""Atomic writes of the album job's non-image files (manifest, .cube LUT, contact-sheet HTML).

The same temp-file-then-rename rule as images: ``photostyle.imageio.write_bytes_atomic`` does both.
"""

from __future__ import annotations

import os
from pathlib import Path

from photostyle.imageio import write_bytes_atomic

__all__ = ["write_bytes_atomic", "write_text_atomic"]


def write_text_atomic(path: str | os.PathLike[str], text: str, *, overwrite: bool = False) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
