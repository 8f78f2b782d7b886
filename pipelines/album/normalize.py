"""``--normalize``: the shoot's exposure and white-balance statistics, computed once in planning.

One pass over the photos at NORMALIZE_SIZE px (``photostyle.imaging.exposure``); each photo's correction travels in
its task to the worker, which applies it before the look, and into the manifest, where it is part of what makes an
output up to date.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from photostyle import imageio
from photostyle.errors import PhotostyleError
from photostyle.imaging.exposure import MODES, Correction, Mode, TileStats, shoot_corrections, tile_stats
from photostyle.imaging.resize import resize_longest

NORMALIZE_SIZE = 256  # px, longest side, of the statistics pass

__all__ = ["MODES", "NORMALIZE_SIZE", "correction_of", "normalise_shoot"]


def _stats(path: Path) -> TileStats | None:
    try:
        small = resize_longest(imageio.read_image(path, role="photo").pixels, NORMALIZE_SIZE)
        return tile_stats(small)
    except (PhotostyleError, OSError, ValueError):  # a photo that cannot be read fails in its worker, with its error
        return None


def normalise_shoot(photos: Sequence[Path], mode: Mode) -> list[dict[str, Any]]:
    """Each photo's correction, as the manifest records it: {"mode", "ev", "wb": [r, g, b], "matched"}."""
    corrections = shoot_corrections([_stats(p) for p in photos], mode)
    return [{"mode": mode, **c.to_dict()} for c in corrections]


def correction_of(record: dict[str, Any]) -> Correction:
    """The Correction a manifest/task record describes."""
    r, g, b = (float(x) for x in record["wb"])
    return Correction(float(record["ev"]), (r, g, b), int(record.get("matched", 0)))
