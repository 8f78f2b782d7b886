"""The skin guard: on skin, the look keeps its lightness and contrast but not its hue and chroma shift.

Skin sits on a narrow line of hues (the vectorscope's "skin line"), about 20-50 degrees of CIELAB hue angle for
every complexion; a look that pushes it off that line (a blue night, a green film) reads as ill, not as a look. In
CIELAB, on the pixels of a soft skin mask (photostyle.regions.skin):

* L*: the look's (its lightness and local contrast are kept);
* hue: the look's, but moved from the photo's own hue by at most MAX_HUE_SHIFT degrees and never out of the skin
  band HUE_BAND (widened to hold the photo's own hue, where the photo's skin lies outside it: the guard never
  pushes skin further off the line than the photo had it, and only ever turns it back toward the band);
* chroma: the look's, limited to CHROMA_RANGE times the photo's chroma;

and the guarded colour is blended into the look by the mask. Where the mask is 0 the look comes back bit-identical.
"""

from __future__ import annotations

import numpy as np

from photostyle.imaging.colourspaces import lab_to_srgb

# degrees of CIELAB hue angle. Real skin spans more than the 20-50 degrees often quoted: the samples' astronaut's
# face measures 51-73 (10th-90th percentile, median 63), Grace Hopper's portrait (matplotlib's sample) 38-56.
HUE_BAND = (20.0, 70.0)
MAX_HUE_SHIFT = 10.0  # degrees: the most the guard lets the look turn a skin pixel's hue
CHROMA_RANGE = (0.7, 1.4)  # the guarded chroma, as a factor of the photo's


def lab_hue_chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L*, hue in degrees [0, 360), chroma) of float RGB in [0, 1] (sRGB, D65), each float64 (...)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.clip(np.asarray(rgb, np.float64), 0.0, 1.0))
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360.0
    return lab[..., 0], hue, np.hypot(lab[..., 1], lab[..., 2])


def skin_band(photo_hue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per pixel: the skin band HUE_BAND widened to hold the photo's own hue (degrees), so skin that was
    already off the band in the photo is never pushed further off, nor counted as pushed."""
    return np.minimum(HUE_BAND[0], photo_hue), np.maximum(HUE_BAND[1], photo_hue)


def _wrap(deg: np.ndarray) -> np.ndarray:
    """Angles in degrees wrapped to [-180, 180)."""
    return (deg + 180.0) % 360.0 - 180.0


def guarded_colours(photo: np.ndarray, look: np.ndarray) -> np.ndarray:
    """LOOK's colours with the skin rule applied everywhere (float RGB (..., 3) in [0, 1], float64).

    The hue moves from the photo's hue toward the look's along the shorter arc, by at most MAX_HUE_SHIFT and
    stopped at the band's edge (the band widened to hold the photo's own hue); the chroma is the look's clipped to
    CHROMA_RANGE x the photo's.
    """
    _, hp, cp = lab_hue_chroma(photo)
    lr, hr, cr = lab_hue_chroma(look)
    lo, hi = skin_band(hp)
    # hp is in [lo, hi]; the allowed moves are [lo - hp, hi - hp] (the band never wraps: it lies in [0, 360))
    move = np.clip(_wrap(hr - hp), np.maximum(lo - hp, -MAX_HUE_SHIFT), np.minimum(hi - hp, MAX_HUE_SHIFT))
    hue = np.radians(hp + move)
    chroma = np.clip(cr, CHROMA_RANGE[0] * cp, CHROMA_RANGE[1] * cp)
    lab = np.stack([lr, chroma * np.cos(hue), chroma * np.sin(hue)], -1)
    return lab_to_srgb(lab)


def guard_skin(photo: np.ndarray, look: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """LOOK (float RGB (H, W, 3), the styled PHOTO) with its skin held on the skin line, blended by MASK ((H, W)
    in [0, 1], photostyle.regions.skin.skin_mask). Float32; bit-identical to LOOK where MASK is 0 or None."""
    out = np.array(look, np.float32, copy=True)
    if mask is None:
        return out
    m = np.clip(np.asarray(mask, np.float64), 0.0, 1.0)
    on = m > 0
    if not on.any():
        return out
    guarded = guarded_colours(np.asarray(photo)[on], out[on])  # the skin pixels only: (N, 3)
    w = m[on][:, None]
    out[on] = ((1.0 - w) * out[on] + w * guarded).astype(np.float32)
    return out
