"""How alike each photo region and the reference region it takes its look from are (``region_confidence``): a score
in [0, 1] per photo region, and the photo's ``match_confidence`` (the area-weighted mean over its regions).

A measurement only: it does not change which regions pair. It is made of the descriptors the feature segmenter
already computes for both images (``features.describe``, cached, so measuring costs no second VGG pass): the
regions' mean VGG-19 features (relu3_1 and relu4_1, un-centred: two unrelated scenes differ there as a whole),
their mean colour (CIELAB), their centroid and their share of each image. A photo region with no partner is scored
against the whole reference, whose look it takes. The weights and scales below were calibrated on the DPST dev
pairs (matched scenes) against the cross pairs (unrelated scenes): see bench/reports/flags-*.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photostyle.regions.features import _Described, describe
from photostyle.regions.labels import RegionPairs, resize_labels
from photostyle.regions.segmentation import PathLike

# each component is mapped to [0, 1] (1: alike); the confidence is their weighted mean
DEEP_LOW, DEEP_HIGH = 0.55, 0.90  # cosine of the regions' mean VGG features: at or below LOW 0, at or above HIGH 1
COLOUR_SCALE = 40.0  # CIELAB distance of the regions' mean colours at which the colour term is exp(-1)
POSITION_SCALE = 0.35  # centroid distance (image heights/widths) at which the position term is exp(-1)
WEIGHTS = {"deep": 0.55, "colour": 0.15, "position": 0.15, "size": 0.15}
# a match confidence below this: the photo's regions do not correspond to the reference's (the album flags the
# photo, GIMP says so); the value that best separates matched from unrelated scenes (bench/flags.py)
LOW_CONFIDENCE = 0.59
# a photo region takes its partner's texture (best quality's every Gram layer) when its confidence reaches this;
# below it, only its partner's colour and tone (``textured_regions``)
TEXTURE_CONFIDENCE = 0.65


@dataclass(frozen=True)
class Components:
    """The raw measures of one photo region against its partner."""

    deep: float  # cosine similarity of the mean VGG features
    colour: float  # CIELAB distance of the mean colours
    position: float  # distance of the centroids, in image fractions
    size: float  # smaller over larger share of its image
    area: float  # the photo region's share of the photo


def _weights(labels: np.ndarray, d: _Described, k: int | None) -> np.ndarray:
    """Superpixel weights of region K of LABELS (None: the whole image): pixel share times overlap."""
    if k is None:
        return d.weight
    small = resize_labels(labels, (d.sp.shape[1], d.sp.shape[0]))
    n = len(d.weight)
    overlap = np.bincount(d.sp[small == k], minlength=n).astype(np.float64)
    return overlap / np.maximum(np.bincount(d.sp.ravel(), minlength=n), 1) * d.weight


def _mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (x * w[:, None]).sum(0) / max(float(w.sum()), 1e-12)


def components(pairs: RegionPairs, dp: _Described, dr: _Described) -> dict[int, Components]:
    """The raw measures (``Components``) of each photo region of PAIRS against its partner."""
    out: dict[int, Components] = {}
    p, r = pairs.photo, pairs.reference
    for k in pairs.photo_regions():
        j = pairs.partner.get(k, -1)
        wp = _weights(p, dp, k)
        wr = _weights(r, dr, j if j >= 0 and (r == j).any() else None)
        if wp.sum() <= 0 or wr.sum() <= 0:
            continue
        fp, fr = _mean(dp.deep, wp), _mean(dr.deep, wr)
        cos = float(fp @ fr / max(float(np.linalg.norm(fp) * np.linalg.norm(fr)), 1e-12))
        colour = float(np.linalg.norm(_mean(dp.lab, wp) - _mean(dr.lab, wr)))
        position = float(np.linalg.norm(_mean(dp.pos, wp) - _mean(dr.pos, wr)))
        ap, ar = float(wp.sum() / dp.weight.sum()), float(wr.sum() / dr.weight.sum())
        out[k] = Components(cos, colour, position, min(ap, ar) / max(ap, ar, 1e-12), float((p == k).mean()))
    return out


def score(c: Components) -> float:
    """One region's confidence in [0, 1] from its raw measures."""
    parts = {
        "deep": float(np.clip((c.deep - DEEP_LOW) / (DEEP_HIGH - DEEP_LOW), 0.0, 1.0)),
        "colour": float(np.exp(-c.colour / COLOUR_SCALE)),
        "position": float(np.exp(-c.position / POSITION_SCALE)),
        "size": float(np.clip(c.size, 0.0, 1.0)),
    }
    return float(sum(WEIGHTS[name] * v for name, v in parts.items()) / sum(WEIGHTS.values()))


def overall(per_region: dict[int, float], comps: dict[int, Components]) -> float:
    """The area-weighted mean of the regions' confidences (0 when there is none)."""
    area = sum(comps[k].area for k in per_region)
    if area <= 0:
        return 0.0
    return float(sum(per_region[k] * comps[k].area for k in per_region) / area)


def region_confidence(
    photo: np.ndarray, reference: np.ndarray, pairs: RegionPairs, *, vgg_weights: PathLike | None = None
) -> tuple[dict[int, float], float]:
    """({photo region: confidence in [0, 1]}, the area-weighted mean) for PAIRS of PHOTO and REFERENCE (float RGB
    at the size the segmenter described them, ``SNAP_SIZE``: the descriptors are then cached)."""
    dp, dr = describe(photo, vgg_weights), describe(reference, vgg_weights)
    comps = components(pairs, dp, dr)
    per_region = {k: round(score(c), 4) for k, c in comps.items()}
    return per_region, round(overall(per_region, comps), 4)


def corresponds(pairs: RegionPairs) -> bool:
    """Whether PAIRS' regions correspond at all: the user's masks always; automatic masks when the photo's match
    confidence reaches LOW_CONFIDENCE. When they do not, the whole photo takes one global look."""
    return not pairs.confidence or pairs.match_confidence is None or pairs.match_confidence >= LOW_CONFIDENCE


def textured_regions(pairs: RegionPairs) -> set[int]:
    """The photo regions of PAIRS that take their partner's texture (every Gram layer, best quality); the others
    take only its colour and tone. The user's masks (no confidence) are trusted as drawn; with automatic masks a
    region's confidence must reach TEXTURE_CONFIDENCE, and none does when the regions do not correspond at all
    (``corresponds``: the photo then takes one global look)."""
    regions = pairs.photo_regions()
    if not pairs.confidence:
        return set(regions)
    if not corresponds(pairs):
        return set()
    return {k for k in regions if pairs.confidence.get(k, 0.0) >= TEXTURE_CONFIDENCE}
