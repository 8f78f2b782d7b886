"""Which photos' looks are unreliable, and why: the reasons a photo is flagged in the manifest and the contact sheet.

* ``low_confidence``: the photo's regions correspond poorly to the reference's (``match_confidence``, the
  area-weighted mean of ``photostyle.regions.confidence``, below ``CONFIDENCE_THRESHOLD``). The threshold separates
  the DPST dev pairs (photo and reference of the same kind of scene) from the cross pairs (unrelated scenes) best;
  see bench/reports/flags-*.md for its precision and recall.
* ``clipped_highlights``: the look clipped highlights the photo did not have (the share of pixels at 1.0 in any
  channel is at least ``CLIP_RISE`` above the photo's own and at least ``CLIP_RATIO`` times it).

* ``skin_off_line``: where the person model found skin, more than ``SKIN_OFF_SHARE`` of it (weighted by the soft
  skin mask) has a hue outside the skin band (photostyle.engine.skin.HUE_BAND, widened to hold the photo's own hue,
  as the guard does) after the look. With ``--skin protect`` (the default) the guard keeps skin on the line, so this
  flags ``--skin free`` looks that turned faces blue or green.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from photostyle.engine.skin import lab_hue_chroma, skin_band
from photostyle.regions.confidence import LOW_CONFIDENCE

CONFIDENCE_THRESHOLD = LOW_CONFIDENCE  # calibrated on dpst-dev vs cross-dev: bench/flags.py
CLIP_LEVEL = 254.5 / 255  # a channel at this or above is clipped (the top code value of an 8-bit file)
CLIP_RISE = 0.02  # the look's clipped share must exceed the photo's by this much (2 % of the pixels) ...
CLIP_RATIO = 2.0  # ... and be at least this many times the photo's
SKIN_OFF_SHARE = 0.25  # share of the skin whose hue may leave the skin band before the photo is flagged
FLAG_TEXT = {
    "low_confidence": "its regions match the reference's poorly",
    "clipped_highlights": "the look clipped highlights",
    "skin_off_line": "skin pushed off the skin-tone line",
}


def clipped_share(pixels: np.ndarray) -> float:
    """Share of the pixels with any channel at 1.0 (float RGB in [0, 1])."""
    return float((np.asarray(pixels)[..., :3] >= CLIP_LEVEL).any(-1).mean())


def skin_off_share(photo: np.ndarray, result: np.ndarray, skin: np.ndarray | None) -> float | None:
    """The share of the skin (weighted by the soft mask SKIN) whose hue in RESULT lies outside the skin band widened
    to hold the photo's own hue; None where there is no skin."""
    if skin is None:
        return None
    m = np.clip(np.asarray(skin, np.float64), 0.0, 1.0)
    on = m > 0.5
    if not on.any():
        return None
    _, hp, _ = lab_hue_chroma(np.asarray(photo)[on])
    _, hr, _ = lab_hue_chroma(np.asarray(result)[on])
    lo, hi = skin_band(hp)
    w = m[on]
    return float((w * ((hr < lo) | (hr > hi))).sum() / w.sum())


def look_flags(
    photo: np.ndarray, result: np.ndarray, match_confidence: float | None, skin: np.ndarray | None = None
) -> tuple[list[str], dict[str, Any]]:
    """(reasons, measures): the reasons (keys of FLAG_TEXT) the look of RESULT on PHOTO is unreliable, and the
    measures they were decided on (for the manifest). SKIN: the photo's soft skin mask, or None."""
    reasons: list[str] = []
    before, after = clipped_share(photo), clipped_share(result)
    if match_confidence is not None and match_confidence < CONFIDENCE_THRESHOLD:
        reasons.append("low_confidence")
    if after >= before + CLIP_RISE and after >= CLIP_RATIO * before:
        reasons.append("clipped_highlights")
    off = skin_off_share(photo, result, skin)
    if off is not None and off > SKIN_OFF_SHARE:
        reasons.append("skin_off_line")
    measures: dict[str, Any] = {"clipped_before": round(before, 4), "clipped_after": round(after, 4)}
    if off is not None:
        measures["skin_off_line"] = round(off, 4)
    return reasons, measures


def describe_flags(entry: Mapping[str, Any]) -> str:
    """A manifest entry's flags as words for the contact sheet ('' when it has none)."""
    parts = []
    for reason in entry.get("flags") or ():
        text = FLAG_TEXT.get(reason, reason)
        if reason == "low_confidence" and entry.get("match_confidence") is not None:
            text += f" ({entry['match_confidence']:.2f})"
        elif reason == "skin_off_line" and entry.get("skin_off_line") is not None:
            text += f" ({100 * entry['skin_off_line']:.0f} % of the skin)"
        elif reason == "clipped_highlights" and entry.get("clipped_after") is not None:
            text += f" ({100 * entry['clipped_after']:.1f} % of pixels)"
        parts.append(text)
    return "; ".join(parts)


def flagged_first(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """ENTRIES sorted: flagged photos first, then the others; by input name within each group."""
    return sorted(entries, key=lambda e: (not e.get("flags"), e["input"]))
