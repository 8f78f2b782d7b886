"""Best quality's last check: wherever the optimised result stops being a photograph of the photo, the closed-form
look (the per-region colour transfer the preview gives, photostyle.engine.colour) takes over there.

The optimiser, even refitted as local affine maps of the photo (photostyle.engine.upsample.photographic), can still
carry the reference's shapes at the scale of its windows and above: a church's organ washed into a meadow's blur,
dark blotches of a night sky on a sunlit wall, a band of cloud across fog. Two local checks, both against things
the photographer can see:

* structure: the local correlation of the result's luminance with the photo's (the SSIM structure term, Gaussian
  windows of 1.5 and 4 px, the lower of the two). A colour map of the photo keeps it near 1 everywhere; an edge
  washed out, added or turned over lowers it. Below STRUCTURE[0] the closed-form look, above STRUCTURE[1] best's.
* tone: the Oklab distance between the low frequencies (Gaussian, TONE_SIGMA of the longest side) of the result
  and of the closed-form look. Best may move a region's tone; a blotch, a band or a ghost moves it much further,
  locally. Between TONE[0] and TONE[1] best's share falls from 1 to 0.

Best's share (the lower of the two checks, widened by a 5x5 minimum and softened by a 3-px Gaussian so no seam
shows) blends the two looks pixel by pixel: both are colour transforms of the photo, so is the blend. Grain in the
photo's smooth areas is the refit's business: it adds none where the photo is flat.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from photostyle.imaging.colourspaces import luminance, rgb_to_oklab

STRUCTURE = (0.80, 0.95)
STRUCTURE_SIGMAS = (1.5, 4.0)
TONE = (0.08, 0.20)  # Oklab distance (L in [0, 1]); about CIELAB 8 and 20
TONE_SIGMA = 0.02
_C3 = 0.03**2 / 2  # SSIM's structure constant for [0, 1] luminance


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def local_correlation(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """SSIM's structure term between two (H, W) luminance images, Gaussian windows of SIGMA px."""
    mu_a, mu_b = ndimage.gaussian_filter(a, sigma), ndimage.gaussian_filter(b, sigma)
    va = np.clip(ndimage.gaussian_filter(a * a, sigma) - mu_a**2, 0.0, None)
    vb = np.clip(ndimage.gaussian_filter(b * b, sigma) - mu_b**2, 0.0, None)
    cab = ndimage.gaussian_filter(a * b, sigma) - mu_a * mu_b
    out: np.ndarray = (cab + _C3) / (np.sqrt(va * vb) + _C3)
    return out


def best_share(photo: np.ndarray, guide: np.ndarray, result: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1]: how much of RESULT to keep over GUIDE, pixel by pixel (see the module's text)."""
    g, r = luminance(photo), luminance(result)
    corr = np.minimum.reduce([local_correlation(r, g, s) for s in STRUCTURE_SIGMAS])
    share = _ramp(corr, *STRUCTURE)
    s = TONE_SIGMA * max(photo.shape[:2])
    low_r = rgb_to_oklab(ndimage.gaussian_filter(np.asarray(result, np.float64), (s, s, 0)))
    low_g = rgb_to_oklab(ndimage.gaussian_filter(np.asarray(guide, np.float64), (s, s, 0)))
    share = np.minimum(share, 1.0 - _ramp(np.sqrt(((low_r - low_g) ** 2).sum(-1)), *TONE))
    out: np.ndarray = ndimage.gaussian_filter(ndimage.minimum_filter(share, 5), 3.0)
    return out


def keep_photograph(photo: np.ndarray, guide: np.ndarray, result: np.ndarray) -> tuple[np.ndarray, float]:
    """RESULT where it stays a photograph of PHOTO, GUIDE (the closed-form look) where it does not.

    All three (H, W, 3) in [0, 1] at one size. Returns the image and the share of RESULT kept (its mean).
    """
    share = best_share(photo, guide, result)
    guide = np.asarray(guide, np.float64)
    out = guide + share[..., None] * (np.asarray(result, np.float64) - guide)
    return np.clip(out, 0.0, 1.0).astype(np.float32), float(share.mean())
