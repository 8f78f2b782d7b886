"""Skin: the person model's region restricted to skin-coloured pixels, as a soft mask that follows the photo's edges.

What the skin guard (photostyle.engine.skin) protects. A person comes from ``PersonSegmenter`` (mediapipe's selfie
segmentation confirmed by pose or face detection); inside it, skin is the pixels that pass a conservative
skin-colour rule in YCbCr (Chai and Ngan 1999: 77 <= Cb <= 127, 133 <= Cr <= 173 on 8-bit BT.601 values, here with
a floor on the luma so that deep shadows are left out) that also asks for a skin hue in CIELAB (blond and brown
hair pass the YCbCr rule at 75-90 degrees; the samples' astronaut's face lies at 51-73) and some chroma (white
and grey highlights pass it too). The hard mask is feathered with the guided filter (the photo
as guide), so its transitions sit on the photo's edges. No person (or mediapipe not installed): no mask, nothing to
guard.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from photostyle.imaging.filters import GuidedFilter
from photostyle.imaging.resize import resize_longest, resize_to

WORK_SIZE = 1024  # the mask is computed at most at this size (the person model's own), then resized
CB_RANGE = (77.0, 127.0)
CR_RANGE = (133.0, 173.0)
MIN_LUMA = 40.0  # 8-bit Y: darker pixels carry no reliable chroma
LAB_HUE = (10.0, 75.0)  # degrees of CIELAB hue angle
MIN_CHROMA = 8.0  # CIELAB chroma
MIN_SKIN_SHARE = 0.0005  # fewer skin pixels than this share of the photo: no skin
FLOOR = 0.02  # soft-mask values below this are 0 (the guard leaves those pixels exactly as the look made them)
SKIN_SUBSAMPLE = 2  # the soft mask's guided filter is fitted on the image shrunk 2x (He and Sun's fast guided filter)


def skin_colour(image: np.ndarray) -> np.ndarray:
    """(...) bool: the pixels of IMAGE ((..., 3) float RGB in [0, 1]) that pass the YCbCr skin-colour rule."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.clip(np.asarray(image, np.float64), 0.0, 1.0))
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360.0
    lab_ok = (hue >= LAB_HUE[0]) & (hue <= LAB_HUE[1]) & (np.hypot(lab[..., 1], lab[..., 2]) >= MIN_CHROMA)
    rgb = np.asarray(image, np.float64) * 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    ycc_ok = (cb >= CB_RANGE[0]) & (cb <= CB_RANGE[1]) & (cr >= CR_RANGE[0]) & (cr <= CR_RANGE[1]) & (y >= MIN_LUMA)
    return ycc_ok & lab_ok


def skin_from_person(image: np.ndarray, person: np.ndarray) -> np.ndarray | None:
    """The soft skin mask (H, W) float32 in [0, 1] for IMAGE given a person probability map PERSON of the same
    size (0 where there is no person); None when no skin is found."""
    hw = image.shape[:2]
    small = resize_longest(image, WORK_SIZE, "skimage")
    prob = person if person.shape == small.shape[:2] else resize_to(person, small.shape[:2])
    inside = prob > 0.5
    hard = np.zeros_like(inside)
    hard[inside] = skin_colour(small[inside])  # the colour rule per pixel, on the person's pixels only
    hard = ndimage.binary_opening(hard, iterations=1)
    if hard.mean() < MIN_SKIN_SHARE:
        return None
    radius = max(2, round(max(small.shape[:2]) / 200))
    soft = np.clip(GuidedFilter(small, radius, 1e-3, SKIN_SUBSAMPLE)(hard.astype(np.float64)), 0.0, 1.0)
    # never beyond the person (a little grown, for the feather on its outline)
    soft *= ndimage.binary_dilation(inside, iterations=radius)
    soft[soft < FLOOR] = 0.0
    mask = soft.astype(np.float32)
    if mask.shape != hw:
        mask = np.clip(resize_to(mask, hw), 0.0, 1.0)
        mask[mask < FLOOR] = 0.0
    return mask if mask.any() else None


def skin_mask(image: np.ndarray) -> np.ndarray | None:
    """The soft skin mask (H, W) float32 in [0, 1] of IMAGE (float RGB in [0, 1]), from the person model; None
    when mediapipe finds no person, the person shows no skin, or mediapipe is not installed."""
    from photostyle.regions.person import PersonSegmenter

    seg = PersonSegmenter()
    if not seg.available():
        return None
    small = resize_longest(image, WORK_SIZE, "skimage")
    person = seg.probability(small)
    if (person > seg.threshold).mean() < seg.min_share:
        return None
    return skin_from_person(image, person)
