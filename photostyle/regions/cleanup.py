"""Label-map clean-up: specks and thin lines refilled from their neighbours, borders snapped to the image's edges,
the number of regions limited."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from photostyle.imaging.resize import resize_longest
from photostyle.regions.labels import resize_labels
from photostyle.regions.segmentation import MAX_REGIONS, MIN_REGION, SNAP_SIZE
from photostyle.regions.targeting import snap_labels


def fill_small(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Connected pieces under MIN_PIXELS are refilled from their nearest neighbouring region."""
    small = np.zeros(labels.shape, bool)
    for k in np.unique(labels):
        comp, n = ndimage.label(labels == k)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())
        sizes[0] = min_pixels  # background of this label's map
        small |= (sizes < min_pixels)[comp]
    if not small.any() or small.all():
        return labels
    idx = ndimage.distance_transform_edt(small, return_distances=False, return_indices=True)
    return labels[tuple(idx)]


def drop_thin(labels: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Lines under 3 px wide (gone under a 3x3 opening) refilled from their neighbours, as
    ``photostyle.regions.labels.labels_from_colours`` does when it reads a mask back: written label maps read back
    exactly."""
    out = labels
    square = np.ones((3, 3), bool)
    for _ in range(rounds):
        thin = np.zeros(out.shape, bool)
        for k in np.unique(out):
            region = out == k
            thin |= region & ~ndimage.binary_opening(region, square)
        if not thin.any() or thin.all():
            break
        idx = ndimage.distance_transform_edt(thin, return_distances=False, return_indices=True)
        out = out[tuple(idx)]
    return out


def finish_labels(labels: np.ndarray, image: np.ndarray, *, min_share: float = MIN_REGION) -> np.ndarray:
    """A coarse label map made final at IMAGE's size: specks merged, borders snapped to the image's edges."""
    h, w = image.shape[:2]
    min_px = max(4, round(min_share * labels.size))
    lab = fill_small(labels, min_px)
    snap = resize_longest(image, SNAP_SIZE, "skimage")
    sh, sw = snap.shape[:2]
    lab = snap_labels(resize_labels(lab, (sw, sh)), snap)
    lab = fill_small(lab, max(4, round(min_share * lab.size)))
    if lab.shape != (h, w):
        lab = resize_labels(lab, (w, h))
    return lab.astype(np.int32)


def _merge_into_neighbours(labels: np.ndarray, drop: Sequence[int]) -> np.ndarray:
    """LABELS with the regions DROP refilled from their nearest other regions."""
    gone = np.isin(labels, list(drop))
    if not gone.any() or gone.all():
        return labels
    idx = ndimage.distance_transform_edt(gone, return_distances=False, return_indices=True)
    return labels[tuple(idx)]


def _limit_regions(labels: np.ndarray, names: dict[int, str], n: int = MAX_REGIONS - 1) -> np.ndarray:
    """At most N regions: the smallest are merged into their neighbours."""
    ks, counts = np.unique(labels, return_counts=True)
    if len(ks) <= n:
        return labels
    drop = [int(k) for k in ks[np.argsort(-counts)][n:]]
    for k in drop:
        names.pop(k, None)
    return _merge_into_neighbours(labels, drop)
