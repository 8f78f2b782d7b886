"""Closed-form per-region colour transfer: the start of the optimisation, the preview mode and the bench baseline.

Each photo region's colours are mapped to its partner reference region's by an affine map in CIELAB:

* ``luma_first`` (the default): the Gaussian transport that maps lightness from lightness alone, then chroma. L*
  gets the reference region's mean and spread; (a*, b*) get the reference's dependence on L* (its split toning) and,
  for what L* does not explain, the mean/covariance map of the conditional chroma. The result matches the region's
  mean and full covariance like ``mean_cov``, but an edge in the photo's lightness stays an edge of the same sign
  and a chroma edge never turns into a lightness edge (on the 20 DPST pairs: structure 0.988 against 0.985 for
  ``mean_cov``, colour distance about the same).
* ``mean_cov``: the symmetric mean/covariance (Monge-Kantorovich) map, which mixes all three channels.
* ``reinhard``: Reinhard's per-channel mean and spread (the bench's baseline).

Regions are blended with soft masks so no seam shows where two maps meet.
"""

from __future__ import annotations

import numpy as np
from skimage import color

from photostyle.imaging.transport import mean_cov_map
from photostyle.regions.labels import RegionPairs, soft_masks

_MIN_PIXELS = 16


def affine_map(src: np.ndarray, dst: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """A (3x3), b such that A x + b carries src's colour distribution to dst's (rows are pixels)."""
    ms, md = src.mean(0), dst.mean(0)
    if method == "reinhard":
        a = np.diag(dst.std(0) / np.maximum(src.std(0), 1e-3))
        return a, md - a @ ms
    cs = np.cov(src.T) + 1e-3 * np.eye(3)
    cd = np.cov(dst.T) + 1e-3 * np.eye(3)
    if method == "mean_cov":
        a = mean_cov_map(cs, cd)
    elif method == "luma_first":
        # L' = k L; chroma = beta L + e, e uncorrelated with L: e' = M e, chroma' = beta_d L' + M (chroma - beta_s L)
        k = np.sqrt(cd[0, 0] / cs[0, 0])
        beta_s, beta_d = cs[1:, 0] / cs[0, 0], cd[1:, 0] / cd[0, 0]
        m = mean_cov_map(
            cs[1:, 1:] - np.outer(cs[1:, 0], cs[0, 1:]) / cs[0, 0],
            cd[1:, 1:] - np.outer(cd[1:, 0], cd[0, 1:]) / cd[0, 0],
        )
        a = np.zeros((3, 3))
        a[0, 0] = k
        a[1:, 0] = beta_d * k - m @ beta_s
        a[1:, 1:] = m
    else:
        raise ValueError(f"unknown colour transfer method {method!r}")
    return a, md - a @ ms


def region_maps(
    photo_lab: np.ndarray, ref_lab: np.ndarray, pairs: RegionPairs, method: str = "luma_first"
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each photo region, the Lab affine map (A, b) toward its partner reference region."""
    p = photo_lab.reshape(-1, 3)
    r = ref_lab.reshape(-1, 3)
    pl = pairs.photo.ravel()
    rl = pairs.reference.ravel()
    maps = {}
    for k in pairs.photo_regions():
        src = p[pl == k]
        j = pairs.partner.get(k, -1)
        dst = r[rl == j] if j >= 0 else r
        if len(dst) < _MIN_PIXELS:
            dst = r
        if len(src) < _MIN_PIXELS:
            maps[k] = (np.eye(3), np.zeros(3))
            continue
        maps[k] = affine_map(src, dst, method)
    return maps


def region_colour_transfer(
    photo: np.ndarray,
    reference: np.ndarray,
    pairs: RegionPairs,
    *,
    method: str = "luma_first",
    soft_sigma: float | None = None,
) -> np.ndarray:
    """PHOTO recoloured region by region toward REFERENCE (float RGB in [0, 1]); soft masks blend the maps."""
    h, w = photo.shape[:2]
    pairs = pairs.resized((h, w), reference.shape[:2])
    lab = color.rgb2lab(photo).astype(np.float64)
    maps = region_maps(lab, color.rgb2lab(reference), pairs, method)
    regions = pairs.photo_regions()
    sigma = max(h, w) / 100.0 if soft_sigma is None else soft_sigma
    weights = soft_masks(pairs.photo, regions, sigma)
    flat = lab.reshape(-1, 3)
    out = np.zeros_like(flat)
    for wk, k in zip(weights, regions, strict=True):
        a, b = maps[k]
        out += wk.reshape(-1, 1) * (flat @ a.T + b)
    out[:, 0] = np.clip(out[:, 0], 0, 100)
    rgb = color.lab2rgb(out.reshape(h, w, 3))
    return np.clip(rgb, 0, 1).astype(np.float32)
