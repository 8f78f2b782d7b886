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

Three rules keep the result a photograph when the regions come from the automatic masks:

* **correspondence** (``photostyle.regions.confidence.corresponds``): when the photo's automatic regions do not
  correspond to the reference's (a low match confidence), the whole photo takes one global look. Otherwise each
  region takes its partner's colours and tone, however alike the two are: the region most like it is a better
  source of colour than the whole reference (on the DPST pairs with automatic masks per-region color_swd 6.80 ->
  5.36, on the cross pairs the whole-image color_swd as good or better on 21 of 22; bench/reports/dpst-*-auto-*.md).
  Texture is what a region's confidence decides (best quality, ``regions.confidence.textured_regions``). Below
  the regions, each part of the photo is shifted toward its own counterparts' colours (``follow_correspondence``).
* **edge-aware blending**: the regions' soft masks are feathered along the photo's own edges (the guided filter of
  ``regions.targeting.soft_region_masks``), so a map changes across the photo's edges, and smoothly over flat
  areas where the automatic border crosses no edge (no halo along a skyline, no blotch in a sky split in two).
* **colours inside the reference's** (``confine``): an affine map extrapolates where the photo region has tones its
  partner lacks (its dark or bright end), and can make hues that appear nowhere in the reference (blue irises
  from a sky, blue table legs from a grey room). Each output pixel's chroma is limited to what the reference
  region has at that lightness and hue (``ChromaLimit``); a hue the reference lacks is turned toward grey, never
  into another hue.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import color

from photostyle.imaging.colourspaces import lab_to_srgb
from photostyle.imaging.filters import guided_filter
from photostyle.imaging.transport import mean_cov_map
from photostyle.regions.confidence import corresponds
from photostyle.regions.labels import Correspondence, RegionPairs, resize_labels, soft_masks, whole_image
from photostyle.regions.targeting import soft_region_masks

_MIN_PIXELS = 16
FEATHER = 0.12  # the edge-aware feather's radius, as a share of the longest side: wide, so a map changes gently
# across flat areas (a border the segmenter drew through fog or a sky) and sharply only at the photo's edges
# a map's largest gain (singular value of A on L* and on chroma): a flat photo region (fog, an overcast sky) given
# the spread of a busy reference region would have its faint noise and gradients blown up into blotches
MAX_GAIN = 3.0
# the correspondence shift's guided filter (``follow_correspondence``): radius as a share of the longest side, eps
FOLLOW_RADIUS, FOLLOW_EPS = 0.0625, 1e-2
FEATHER_EPS = (
    1e-2  # its guided filter's eps (colour units^2): only edges of the photo above this contrast hold a border
)


def _cap_gain(a: np.ndarray, max_gain: float) -> np.ndarray:
    """A with its singular values limited to MAX_GAIN (the directions kept)."""
    u, sv, vt = np.linalg.svd(a)
    return (u * np.minimum(sv, max_gain)) @ vt


def affine_map(
    src: np.ndarray, dst: np.ndarray, method: str, max_gain: float | None = MAX_GAIN
) -> tuple[np.ndarray, np.ndarray]:
    """A (3x3), b such that A x + b carries src's colour distribution to dst's (rows are pixels); the gains on
    lightness and on chroma at most MAX_GAIN (None: unlimited; Reinhard's baseline is never limited)."""
    ms, md = src.mean(0), dst.mean(0)
    if method == "reinhard":
        a = np.diag(dst.std(0) / np.maximum(src.std(0), 1e-3))
        return a, md - a @ ms
    cs = np.cov(src.T) + 1e-3 * np.eye(3)
    cd = np.cov(dst.T) + 1e-3 * np.eye(3)
    if method == "mean_cov":
        a = mean_cov_map(cs, cd)
        if max_gain is not None:
            a = _cap_gain(a, max_gain)
    elif method == "luma_first":
        # L' = k L; chroma = beta L + e, e uncorrelated with L: e' = M e, chroma' = beta_d L' + M (chroma - beta_s L)
        k = np.sqrt(cd[0, 0] / cs[0, 0])
        beta_s, beta_d = cs[1:, 0] / cs[0, 0], cd[1:, 0] / cd[0, 0]
        m = mean_cov_map(
            cs[1:, 1:] - np.outer(cs[1:, 0], cs[0, 1:]) / cs[0, 0],
            cd[1:, 1:] - np.outer(cd[1:, 0], cd[0, 1:]) / cd[0, 0],
        )
        if max_gain is not None:
            k, m = min(k, max_gain), _cap_gain(m, max_gain)
        a = np.zeros((3, 3))
        a[0, 0] = k
        a[1:, 0] = beta_d * k - m @ beta_s
        a[1:, 1:] = m
    else:
        raise ValueError(f"unknown colour transfer method {method!r}")
    return a, md - a @ ms


def region_maps(
    photo_lab: np.ndarray,
    ref_lab: np.ndarray,
    pairs: RegionPairs,
    method: str = "luma_first",
    max_gain: float | None = MAX_GAIN,
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
        maps[k] = affine_map(src, dst, method, max_gain)
    return maps


# ------------------------------------------------------------------------------------------------ chroma limit
L_BINS, HUE_BINS = 10, 36  # the reference's chroma is tabulated by lightness (10 L* units) and hue (10 degrees)
CHROMA_QUANTILE = 0.98  # a cell's limit: this quantile of the reference pixels' chroma there
MIN_CELL = 8  # pixels a cell needs to count (fewer: no colour at that lightness and hue)
KNEE = 0.7  # chroma up to KNEE x the limit passes unchanged; above, it is compressed smoothly toward the limit


class ChromaLimit:
    """The most chroma the reference (a set of CIELAB pixels) has at each lightness and hue, and a soft clamp to it.

    A cell of the (L*, hue) table holds the CHROMA_QUANTILE of the chroma of the pixels in it; an empty cell is 0
    (that hue does not appear at that lightness). The table is widened by one cell each way (the reference's
    hues are a sample: a hue one cell away is still its colour), and looked up bilinearly so the limit varies
    smoothly with colour.
    """

    def __init__(self, lab: np.ndarray) -> None:
        px = lab.reshape(-1, 3)
        li, hi = self._cells(px)
        chroma = np.hypot(px[:, 1], px[:, 2])
        table = np.zeros((L_BINS, HUE_BINS))
        cell = li * HUE_BINS + hi
        order = np.argsort(cell, kind="stable")
        bounds = np.searchsorted(cell[order], np.arange(L_BINS * HUE_BINS + 1))
        for c in range(L_BINS * HUE_BINS):
            lo, up = bounds[c], bounds[c + 1]
            if up - lo >= MIN_CELL:
                table.flat[c] = np.quantile(chroma[order[lo:up]], CHROMA_QUANTILE)
        self.table = ndimage.maximum_filter(table, size=3, mode=("nearest", "wrap"))

    @staticmethod
    def _cells(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        li = np.clip((px[:, 0] / (100.0 / L_BINS)).astype(int), 0, L_BINS - 1)
        hue = np.mod(np.degrees(np.arctan2(px[:, 2], px[:, 1])), 360.0)
        return li, np.minimum((hue / (360.0 / HUE_BINS)).astype(int), HUE_BINS - 1)

    def limit(self, px: np.ndarray) -> np.ndarray:
        """The chroma limit (N,) at each pixel's (L*, hue), bilinear in the table (hue wraps around)."""
        lf = np.clip(px[:, 0] / (100.0 / L_BINS) - 0.5, 0, L_BINS - 1)
        hf = np.mod(np.degrees(np.arctan2(px[:, 2], px[:, 1])), 360.0) / (360.0 / HUE_BINS) - 0.5
        l0 = np.minimum(lf.astype(int), L_BINS - 2)
        tl = lf - l0
        h0 = np.floor(hf).astype(int)
        th = hf - h0
        h0, h1 = np.mod(h0, HUE_BINS), np.mod(h0 + 1, HUE_BINS)
        t = self.table
        top = t[l0, h0] * (1 - th) + t[l0, h1] * th
        bottom = t[l0 + 1, h0] * (1 - th) + t[l0 + 1, h1] * th
        return top * (1 - tl) + bottom * tl


def confine_chroma(px: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """CIELAB pixels (N, 3) with their chroma softly clamped to LIMIT (N,), hue and lightness unchanged."""
    c = np.hypot(px[:, 1], px[:, 2])
    knee = KNEE * limit
    span = np.maximum(limit - knee, 1e-6)
    squeezed = knee + span * np.tanh(np.maximum(c - knee, 0.0) / span)
    new = np.where(c > knee, squeezed, c)
    scale = np.where(c > 1e-9, new / np.maximum(c, 1e-9), 1.0)
    out = px.copy()
    out[:, 1:] *= scale[:, None]
    return out


# ------------------------------------------------------------------------------------------------ the transfer
def region_colour_transfer(
    photo: np.ndarray,
    reference: np.ndarray,
    pairs: RegionPairs,
    *,
    method: str = "luma_first",
    soft_sigma: float | None = None,
    feather: str = "edges",
    confine: bool = True,
    max_gain: float | None = MAX_GAIN,
    follow: bool = True,
) -> np.ndarray:
    """PHOTO recoloured region by region toward REFERENCE (float RGB in [0, 1]); soft masks blend the maps.

    soft_sigma: the feather's radius in pixels (None: FEATHER of the longest side; 0: hard borders).
    feather: 'edges' (along the photo's edges, the guided filter) or 'gaussian' (a plain blur, the bench's
    per-region Reinhard baseline). confine: keep each region's colours within its reference region's chroma
    (``ChromaLimit``). max_gain: the maps' largest gain (None: unlimited). follow: with automatic masks, shift
    each part of the photo toward its own counterparts' colours (``follow_correspondence``). When the regions do
    not correspond (``corresponds``) the whole photo takes the global map.
    """
    h, w = photo.shape[:2]
    pairs = pairs.resized((h, w), reference.shape[:2])
    lab = color.rgb2lab(photo).astype(np.float64)
    ref_lab = color.rgb2lab(reference).astype(np.float64)
    if not corresponds(pairs):  # nothing corresponds: one global look
        pairs = whole_image((h, w), reference.shape[:2])
    regions = pairs.photo_regions()
    # the gain limit is for the regions' own maps (a flat region against a busy one); the one global map of a
    # whole photo is left free, like Reinhard's
    maps = region_maps(lab, ref_lab, pairs, method, max_gain if len(regions) > 1 else None)
    flat = lab.reshape(-1, 3)
    sigma = max(h, w) * FEATHER if soft_sigma is None else soft_sigma
    weights = region_weights(pairs.photo, regions, photo, sigma, feather)
    out = np.zeros_like(flat)
    for wk, k in zip(weights, regions, strict=True):
        a, b = maps[k]
        out += wk.reshape(-1, 1) * (flat @ a.T + b)
    if follow and pairs.correspondence is not None:
        out += follow_correspondence(out.reshape(h, w, 3), photo, ref_lab, pairs.correspondence).reshape(-1, 3)
    out[:, 0] = np.clip(out[:, 0], 0, 100)
    if confine:
        out = confine_chroma(out, _chroma_cap(out, ref_lab, pairs, weights))
    return lab_to_srgb(out.reshape(h, w, 3)).astype(np.float32)


def follow_correspondence(
    out_lab: np.ndarray, photo: np.ndarray, ref_lab: np.ndarray, corr: Correspondence
) -> np.ndarray:
    """The CIELAB shift (H, W, 3) that brings each photo superpixel's mean colour in OUT_LAB to the mean colour of
    its reference counterparts (``regions.correspondence``, read in REF_LAB), smoothed along PHOTO's edges.

    The regions' maps give a region its partner's colours as a whole; an automatic region often spans parts that
    a person would pair apart (a lake and its shore), and its map gives them all the same shift. The superpixels'
    counterparts say which part of the reference each part of the photo is like. The shift is spread by the
    guided filter over FOLLOW_RADIUS of the image, stopping at the photo's edges: a smooth local colour change, so
    the reference's layout never comes through as blotches (a radius of 2 % did: a lake took the reference's red
    and cyan reflections as patches). On the 20 DPST pairs with automatic masks, preview: per-region color_swd
    5.36 -> 4.37, gram 7.96 -> 7.84, structure 0.993 -> 0.989 (bench/reports/dpst-preview-auto-*.md)."""
    h, w = out_lab.shape[:2]
    psp = resize_labels(corr.photo_sp, (w, h))
    rsp = resize_labels(corr.reference_sp, (ref_lab.shape[1], ref_lab.shape[0]))
    n, m = len(corr.index), int(corr.reference_sp.max()) + 1

    def means(labels: np.ndarray, lab: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        flat, px = labels.ravel(), lab.reshape(-1, 3)
        count = np.bincount(flat, minlength=size).astype(np.float64)
        total = np.stack([np.bincount(flat, px[:, c], minlength=size) for c in range(3)], 1)
        return total / np.maximum(count, 1)[:, None], count

    ref_means, ref_count = means(rsp, ref_lab, m)
    seen = (ref_count[corr.index] > 0) * corr.weight  # a superpixel lost to resizing gives no colour
    target = (seen[..., None] * ref_means[corr.index]).sum(1) / np.maximum(seen.sum(1), 1e-12)[:, None]
    now, count = means(psp, out_lab, n)
    shift = np.where((count > 0)[:, None] & (seen.sum(1) > 0)[:, None], target - now, 0.0)
    radius = max(1, round(FOLLOW_RADIUS * max(h, w)))
    return guided_filter(photo, shift[psp].astype(np.float32), radius, FOLLOW_EPS).astype(np.float64)


def region_weights(
    labels: np.ndarray, regions: list[int], photo: np.ndarray, radius: float, feather: str
) -> np.ndarray:
    """(K, H, W) soft masks of REGIONS of LABELS summing to 1: feathered over RADIUS pixels along PHOTO's edges
    (feather 'edges', the guided filter) or by a Gaussian blur of that sigma ('gaussian'); hard when RADIUS is 0."""
    if feather not in ("edges", "gaussian"):
        raise ValueError(f"unknown feather {feather!r}")
    if feather == "edges" and radius > 0 and len(regions) > 1:
        return soft_region_masks(labels, regions, photo, radius=max(1, round(radius)), eps=FEATHER_EPS)
    return soft_masks(labels, regions, radius if feather == "gaussian" else 0.0)


def _chroma_cap(out: np.ndarray, ref_lab: np.ndarray, pairs: RegionPairs, weights: np.ndarray) -> np.ndarray:
    """Per output pixel (N, 3 CIELAB), the chroma its regions' references allow at its lightness and hue: each
    region's partner's ``ChromaLimit`` (the whole reference's for regions with no partner), blended by the regions'
    soft masks."""
    ref_px = ref_lab.reshape(-1, 3)
    rl = pairs.reference.ravel()
    limits: dict[int, np.ndarray] = {}  # by reference region; -1 the whole reference, computed only when used

    def limit(j: int) -> np.ndarray:
        if j not in limits:
            limits[j] = ChromaLimit(ref_px if j < 0 else ref_px[rl == j]).limit(out)
        return limits[j]

    cap = np.zeros(len(out))
    for wk, k in zip(weights, pairs.photo_regions(), strict=True):
        j = pairs.partner.get(k, -1)
        cap += wk.reshape(-1) * limit(j if j >= 0 and int((rl == j).sum()) >= _MIN_PIXELS else -1)
    return cap
