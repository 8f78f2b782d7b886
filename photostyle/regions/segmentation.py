"""The result of automatic or user segmentation (``Segmentation``), the single-image ``Segmenter`` interface and
the sizes and limits the segmenters share."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from photostyle.regions.labels import DPST_COLOURS, RegionPairs

PathLike = str | os.PathLike[str]
MAX_REGIONS = len(DPST_COLOURS)  # the DPST colour code has nine colours
BACKENDS = ("auto", "features", "detectron2")
WORK_SIZE = 320  # longest side at which regions are found
SNAP_SIZE = 768  # longest side at which borders are snapped to image edges
MIN_REGION = 0.004  # connected pieces under this share of the image are merged into their neighbours


@dataclass
class Segmentation:
    """Paired label maps (``pairs``, canonical: ``partner[k]`` is k or -1) with region names and the backend used."""

    pairs: RegionPairs
    photo_names: dict[int, str] = field(default_factory=dict)
    reference_names: dict[int, str] = field(default_factory=dict)
    backend: str = "features"
    # how alike each photo region and its partner are, in [0, 1], and their area-weighted mean (automatic masks
    # only: photostyle.regions.confidence; empty and None for the user's masks)
    confidence: dict[int, float] = field(default_factory=dict)
    match_confidence: float | None = None

    def name(self, k: int) -> str:
        return self.photo_names.get(k) or self.reference_names.get(k) or ""

    def regions_named(self, name: str) -> list[int]:
        """Photo region ids with this name."""
        return [k for k in self.pairs.photo_regions() if self.photo_names.get(k) == name]

    def legend(self) -> dict[str, Any]:
        """Region id -> colour, name, area shares, partner and confidence, and the match confidence: legend.json."""
        p, r = self.pairs.photo, self.pairs.reference
        ids = sorted({int(k) for k in np.unique(p)} | {int(k) for k in np.unique(r)})
        regions = []
        for k in ids:
            colour_name, rgb = DPST_COLOURS[k] if 0 <= k < MAX_REGIONS else ("", (0, 0, 0))
            regions.append(
                {
                    "id": k,
                    "colour": colour_name,
                    "rgb": list(rgb),
                    "name": self.name(k),
                    "photo_area_pct": round(100.0 * float((p == k).mean()), 2),
                    "reference_area_pct": round(100.0 * float((r == k).mean()), 2),
                    "partner": ("whole reference" if self.pairs.partner.get(k, -1) < 0 else k)
                    if (p == k).any()
                    else None,
                    **({"confidence": self.confidence[k]} if k in self.confidence else {}),
                }
            )
        out: dict[str, Any] = {"backend": self.backend, "regions": regions}
        if self.match_confidence is not None:
            out["match_confidence"] = self.match_confidence
        return out


class Segmenter:
    """A single-image semantic segmenter: ``segment(image) -> (label map, {label: region name})``."""

    name = ""

    def available(self) -> bool:
        raise NotImplementedError

    def segment(self, image: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        raise NotImplementedError
