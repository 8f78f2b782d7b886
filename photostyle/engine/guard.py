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

First, the photo's flat areas (an overcast sky, a wall, a studio backdrop), which neither check can judge (no edge
to correlate with, and a smudge fainter than TONE[0] is still a smudge where nothing else varies): a colour
transform of a flat area is a function of its colours, so whatever varies across it at the scale of blotches
(TONE_SIGMA) and is no colour map of it, a dark smoke around a tower against an overcast sky, a glow around a
bottle on black, is taken out (``even_flat_areas``; each area read from its own pixels, so a neighbour's colour
does not leak in across a thin edge). The area keeps best's overall tone, and the photo's grain and best's finer
detail are left as they are; a colour best varies across the area unlike the photo goes too (DPST pair 13's crimson
clouds dull to purple: bench/reports/guard-flat-areas-2026-12-05.md). Where the photo is still (within its own
area it varies by under STILL over a few px, and sits within STILL_OFF of the area's low frequencies: a studio
backdrop, the middle of a clear sky), a colour map of it has no finer detail either, so best's detail finer than
the blotches goes as well: faint waves and halos of a level or two, which 8-bit output turns into contour lines
(bench/reports/cross-pairs-still-2026-12-05.md: cross pair 16_37's black backdrop). And a still area takes one
share throughout (``still_share``: the area's mean over its still pixels): where the checks hand an object beside
it to the closed-form look, a share that falls across the backdrop would blend its two looks into a glow of several
levels round the object, as smooth as the photo is flat, and drawn in contour lines by 8-bit output
(bench/reports/cross-pairs-stillshare-2026-12-06.md).

And by region: a region (one of the automatic masks' photo regions) where the pixel checks had to take much of the
closed-form look back is one where best painted, and the pixels the checks let through are the same painting's
fainter parts (the rest of a band of cloud waving across fog, of a purple cast over a wheat field). Where the
region's mean share is below REGION_SHARE[0] the whole region takes the closed-form look, above REGION_SHARE[1] the
pixel checks alone decide, in between the region's share is capped in proportion. The regions' soft masks are
feathered along the photo's edges, so the switch follows them. A still area's one share is taken after this rule:
where two regions share a still backdrop, it takes one share across both.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from photostyle.imaging.colourspaces import luminance, oklab_to_rgb, rgb_to_oklab
from photostyle.imaging.filters import local_spread

STRUCTURE = (0.80, 0.95)
STRUCTURE_SIGMAS = (1.5, 4.0)
TONE = (0.08, 0.20)  # Oklab distance (L in [0, 1]); about CIELAB 8 and 20
TONE_SIGMA = 0.02
FLAT = (0.01, 0.03)  # the photo's local luminance spread (FLAT_SIGMA px windows): flat below, not flat above
FLAT_SIGMA = 1.0
STILL = (1.0 / 255, 2.5 / 255)  # the photo's spread over STILL_SIGMA px (its flat pixels only): still below
STILL_SIGMA = 3.0
STILL_OFF = (2.0 / 255, 4.0 / 255)  # and how far from its area's low frequencies a still pixel may be
REGION_SHARE = (0.70, 0.90)  # a region's mean share: below, all of it the closed-form look; above, pixels decide
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


def region_cap(share: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(H, W): the most of best's result each region may keep, from its mean SHARE (see the module's text).

    REGIONS: (K, H, W) soft masks summing to 1 where they cover (photostyle.regions.targeting.soft_region_masks).
    """
    cap = np.clip(1.0 - regions.sum(0), 0.0, 1.0).astype(np.float32)  # outside every region: the pixel checks
    for m in regions:
        mean = float((m * share).sum() / max(float(m.sum()), 1e-6))
        cap += m * float(_ramp(np.asarray(mean), *REGION_SHARE))
    return cap


def _area_means(v: np.ndarray, areas: np.ndarray, n: int, weight: np.ndarray) -> np.ndarray:
    """(H, W, C): each of the N labelled AREAS filled with its WEIGHT-weighted mean of V (H, W, C); 0 outside."""
    idx = np.arange(1, n + 1)
    total = np.maximum(ndimage.sum(weight, areas, idx), 1e-12)
    means = np.stack([ndimage.sum(weight * v[..., c], areas, idx) / total for c in range(v.shape[-1])], -1)
    out: np.ndarray = np.concatenate([np.zeros((1, v.shape[-1])), means])[areas]
    return out


def _area_lows(v: np.ndarray, areas: np.ndarray, n: int, flat: np.ndarray, sigma: float) -> np.ndarray:
    """V's (H, W, C) low frequencies in each of the N labelled AREAS, from that area's own pixels only.

    A Gaussian of SIGMA px, weighted by FLAT and normalised, over the area's pixels: another area's colours, across
    an edge thinner than the Gaussian (a backdrop beside a bottle's cap), do not leak in. An area whose bounding box
    fits in 4 SIGMA (the Gaussian's reach) takes its weighted mean throughout: it is one blotch at this scale.
    Float64; 0 outside the areas."""
    out = _area_means(v, areas, n, flat)
    pad = int(4 * sigma + 1)
    height, width = areas.shape
    for label, box in enumerate(ndimage.find_objects(areas), start=1):
        if box is None or max(box[0].stop - box[0].start, box[1].stop - box[1].start) <= 4 * sigma:
            continue
        rows = slice(max(0, box[0].start - pad), min(height, box[0].stop + pad))
        cols = slice(max(0, box[1].start - pad), min(width, box[1].stop + pad))
        mine = areas[rows, cols] == label
        w = np.where(mine, flat[rows, cols], 0.0)
        low = ndimage.gaussian_filter(v[rows, cols] * w[..., None], (sigma, sigma, 0))
        low /= np.maximum(ndimage.gaussian_filter(w, sigma), 1e-12)[..., None]
        out[rows, cols][mine] = low[mine]
    return out


class FlatAreas(NamedTuple):
    """The photo's flat areas as ``even_flat_areas`` and ``keep_photograph`` read them (``photo_flat_areas``)."""

    flat: np.ndarray  # (H, W): 1 flat (luminance spread under FLAT[0]) .. 0 not flat (above FLAT[1])
    areas: np.ndarray  # (H, W) int: each connected area at least half flat, labelled 1..n; 0 elsewhere
    n: int
    weight: np.ndarray  # (H, W): how fully each pixel is its area's (flat 0.5 -> 0, 1 -> 1)
    lows: np.ndarray  # (H, W, 3) float64: the photo's colour as encoded, low frequencies (TONE_SIGMA) by area
    still: np.ndarray  # (H, W): 1 where the photo is still (see even_flat_areas), 0 where not


def photo_flat_areas(photo: np.ndarray) -> FlatAreas:
    """PHOTO's flat areas, their weights, low frequencies and still pixels (see ``even_flat_areas``)."""
    g = luminance(photo)
    flat = 1.0 - _ramp(local_spread(g, FLAT_SIGMA), *FLAT)
    areas, n = ndimage.label(flat > 0.5)
    weight = _ramp(flat, 0.5, 1.0)
    if n == 0:
        return FlatAreas(flat, areas, 0, weight, np.zeros(photo.shape), np.zeros(areas.shape))
    colour = np.asarray(photo, np.float64)
    lows = _area_lows(colour, areas, n, flat, TONE_SIGMA * max(photo.shape[:2]))
    still = (1.0 - _ramp(local_spread(g, STILL_SIGMA, weight), *STILL)) * weight
    still *= 1.0 - _ramp(np.abs(colour - lows).max(-1), *STILL_OFF)
    return FlatAreas(flat, areas, n, weight, lows, still)


def even_flat_areas(photo: np.ndarray, result: np.ndarray, areas: FlatAreas | None = None) -> np.ndarray:
    """RESULT with what varies across each of PHOTO's flat areas, and is no colour map of them, taken out.

    Flat: the photo's luminance spread over FLAT_SIGMA px windows, from 1 below FLAT[0] to 0 above FLAT[1]; each
    connected area at least half flat is one area. In each, RESULT's low frequencies (Oklab, TONE_SIGMA, averaged
    over the area's own flat pixels, so neither an edge's other side nor a neighbouring area leaks in:
    ``_area_lows``) are fitted by least squares as an affine function of the photo's own low-frequency colour: a
    colour map of that area. The photo's colour is taken as encoded (sRGB values), not in Oklab, whose cube root
    makes a one-level step in a black backdrop (0 to 1 of 255) as large as a sky's whole gradient: the fit would
    read the backdrop's noise as colour and keep a glow that follows it. The residual, what the photo's colour
    does not explain, is subtracted: in full where the photo is flat, fading to nothing at its edges. Where the
    photo is also still (its spread over STILL_SIGMA px, from its area's pixels only, below STILL, and each channel
    within STILL_OFF of the area's low frequencies, so a gradient's pixels, which its low frequencies miss, are
    not), RESULT's variation finer than TONE_SIGMA is subtracted too: what is left there is the fitted colour map
    of the photo's low frequencies. Float32; RESULT unchanged where the photo is not flat, and a colour map of the
    photo nearly so. AREAS: ``photo_flat_areas(photo)`` when already made."""
    fa = photo_flat_areas(photo) if areas is None else areas
    result = np.asarray(result, np.float32)
    if fa.n == 0:
        return result
    res_lab = rgb_to_oklab(result)
    y = _area_lows(res_lab, fa.areas, fa.n, fa.flat, TONE_SIGMA * max(photo.shape[:2]))  # (H, W, 3)
    x = np.concatenate([fa.lows, np.ones(fa.areas.shape + (1,))], -1)  # (H, W, 4)
    weight, labels = fa.weight, fa.areas
    idx = np.arange(1, fa.n + 1)
    # each area's weighted normal equations, from sums of products by area label: (n, 4, 4) and (n, 4, 3)
    xtx = np.array([[ndimage.sum(weight * x[..., i] * x[..., j], labels, idx) for j in range(4)] for i in range(4)])
    xty = np.array([[ndimage.sum(weight * x[..., i] * y[..., c], labels, idx) for c in range(3)] for i in range(4)])
    xtx, xty = np.moveaxis(xtx, -1, 0), np.moveaxis(xty, -1, 0)
    # a tiny ridge on the colour terms: an area of one colour is fitted by its mean
    ridge = 1e-6 * np.maximum(xtx[:, 3, 3], 1e-9)[:, None, None] * np.diag([1.0, 1.0, 1.0, 1e-3])
    coef = np.concatenate([np.zeros((1, 4, 3)), np.linalg.solve(xtx + ridge, xty)])
    on = weight > 0
    residual = y[on] - np.einsum("ni,nic->nc", x[on], coef[labels[on]])
    # where the photo is still, best's variation finer than the low frequencies goes too (the fitted map is left)
    still = fa.still[on]
    out = result.copy()
    out[on] = oklab_to_rgb(res_lab[on] - weight[on, None] * residual - still[:, None] * (res_lab[on] - y[on]))
    return out


def still_share(share: np.ndarray, areas: FlatAreas) -> np.ndarray:
    """SHARE (H, W) made one value across each flat area's still pixels: the area's mean over them, in full where the
    photo is still and fading with it. Best's look and the closed-form look blended in proportions that vary across
    a still area (a studio backdrop, the black inside a bottle) are a glow or a band the photo does not have."""
    if areas.n == 0:
        return share
    mean = _area_means(share[..., None], areas.areas, areas.n, areas.still)[..., 0]
    out: np.ndarray = share + areas.still * (mean - share)
    return out


def keep_photograph(
    photo: np.ndarray,
    guide: np.ndarray,
    result: np.ndarray,
    regions: np.ndarray | None = None,
    *,
    flat_areas: bool = True,
) -> tuple[np.ndarray, float]:
    """RESULT where it stays a photograph of PHOTO, GUIDE (the closed-form look) where it does not.

    All three (H, W, 3) in [0, 1] at one size; REGIONS, optional (K, H, W) soft masks of the photo's regions, adds
    the region rule; FLAT_AREAS False skips ``even_flat_areas`` and ``still_share`` (what each stage costs:
    bench/guard_stages.py).
    Returns the image and the share of RESULT kept (its mean).
    """
    fa = photo_flat_areas(photo) if flat_areas else None
    if fa is not None:
        result = even_flat_areas(photo, result, fa)
    share = best_share(photo, guide, result)
    if regions is not None and len(regions):
        share = np.minimum(share, region_cap(share, regions))
    if fa is not None:
        share = still_share(share, fa)
    guide = np.asarray(guide, np.float64)
    out = guide + share[..., None] * (np.asarray(result, np.float64) - guide)
    return np.clip(out, 0.0, 1.0).astype(np.float32), float(share.mean())
