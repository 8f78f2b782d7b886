"""Which photos' looks are unreliable, and why: the reasons a photo is flagged in the manifest and the contact sheet.

* ``low_confidence``: the photo's regions correspond poorly to the reference's (``match_confidence``, the
  area-weighted mean of ``photostyle.regions.confidence``, below ``CONFIDENCE_THRESHOLD``). The threshold separates
  the DPST dev pairs (photo and reference of the same kind of scene) from the cross pairs (unrelated scenes) best;
  see bench/reports/flags-*.md for its precision and recall.
* ``clipped_highlights``: the look clipped highlights the photo did not have (the share of pixels at 1.0 in any
  channel is at least ``CLIP_RISE`` above the photo's own and at least ``CLIP_RATIO`` times it).

Skin pushed off the skin-tone line is not checked here: it needs the skin guard's person/skin model (issue 17 item
3), which this branch does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from photostyle.regions.confidence import LOW_CONFIDENCE

CONFIDENCE_THRESHOLD = LOW_CONFIDENCE  # calibrated on dpst-dev vs cross-dev: bench/flags.py
CLIP_LEVEL = 254.5 / 255  # a channel at this or above is clipped (the top code value of an 8-bit file)
CLIP_RISE = 0.02  # the look's clipped share must exceed the photo's by this much (2 % of the pixels) ...
CLIP_RATIO = 2.0  # ... and be at least this many times the photo's
FLAG_TEXT = {
    "low_confidence": "its regions match the reference's poorly",
    "clipped_highlights": "the look clipped highlights",
}


def clipped_share(pixels: np.ndarray) -> float:
    """Share of the pixels with any channel at 1.0 (float RGB in [0, 1])."""
    return float((np.asarray(pixels)[..., :3] >= CLIP_LEVEL).any(-1).mean())


def look_flags(
    photo: np.ndarray, result: np.ndarray, match_confidence: float | None
) -> tuple[list[str], dict[str, Any]]:
    """(reasons, measures): the reasons (keys of FLAG_TEXT) the look of RESULT on PHOTO is unreliable, and the
    measures they were decided on (for the manifest)."""
    reasons: list[str] = []
    before, after = clipped_share(photo), clipped_share(result)
    if match_confidence is not None and match_confidence < CONFIDENCE_THRESHOLD:
        reasons.append("low_confidence")
    if after >= before + CLIP_RISE and after >= CLIP_RATIO * before:
        reasons.append("clipped_highlights")
    return reasons, {"clipped_before": round(before, 4), "clipped_after": round(after, 4)}


def describe_flags(entry: Mapping[str, Any]) -> str:
    """A manifest entry's flags as words for the contact sheet ('' when it has none)."""
    parts = []
    for reason in entry.get("flags") or ():
        text = FLAG_TEXT.get(reason, reason)
        if reason == "low_confidence" and entry.get("match_confidence") is not None:
            text += f" ({entry['match_confidence']:.2f})"
        elif reason == "clipped_highlights" and entry.get("clipped_after") is not None:
            text += f" ({100 * entry['clipped_after']:.1f} % of pixels)"
        parts.append(text)
    return "; ".join(parts)


def flagged_first(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """ENTRIES sorted: flagged photos first, then the others; by input name within each group."""
    return sorted(entries, key=lambda e: (not e.get("flags"), e["input"]))
