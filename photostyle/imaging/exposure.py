"""Shoot normalisation: each photo's exposure and white balance estimated against the shoot's, in linear light.

Arrays in, arrays out; the album (``pipelines/album/normalize.py``) cuts each small photo into regions (superpixels)
with a position-free descriptor (VGG-19 features), calls this once per shoot in planning, and applies each photo's
correction before the look.

The regions that "mean the same in every photo" are found by what they show, not where they are, so photos of one
scene with different framings (crop, zoom, mirror image, a small turn; a person who moved) are compared:

- ``region_stats``: per region, the mean *linear* RGB of its unclipped pixels (sRGB decoded; RAW files are decoded
  with the sRGB curve as their only tone curve, so decoding it gives back the linear data), the share of its pixels
  near saturation in each channel, its centre and descriptor. Regions with clipped or black pixels do not vote.
- ``match_regions``: regions that are each other's most similar region in the other photo (mutual nearest
  neighbours by descriptor). ``fit_reframing``: the matches must agree on one reframing (an affine map, RANSAC on
  the region centres, then made exact to the pixel on the photos' log luminance); photos whose matches agree on
  none show different scenes and are not compared (how bright a night scene "should" be next to a noon scene
  cannot be read off the pixels).
- ``pair_offset``: each region carried into the other photo by the reframing and compared with exactly the part
  that shows it, on the pixels unclipped and not black in both (pixels along region edges left out). The regions
  vote for the white-balance shift (log R/G and log B/G; near-neutral surfaces vote, or every region when too few
  are neutral) and then for the exposure shift (log2 luminance, after the white-balance shift is taken out).
  Medians over regions, not means of the frame: a red dress, a sunset or a person who moved changes a few regions,
  not the estimate; regions whose change disagrees with the median are dropped and the medians taken again; too few
  agreeing regions, and the two photos are not a match.
- ``shoot_corrections``: the pairwise offsets solved (least squares over the matched pairs) for each photo's own
  exposure and white balance; each connected group of matched photos is moved to its median. A photo matched with
  no other is left as shot (recorded with ``matched`` 0). A photo that is darkened in a channel it clipped also
  gets the level its clipped highlights come out at: the median of what the other photos show in its clipped
  regions, after their own correction (``Correction.highlights``).
- ``apply_correction``: exposure gain times a diagonal (von Kries) white-balance matrix, in linear light, as one
  exact per-channel table for 8- and 16-bit sources; with ``highlights``, the top of a channel bends smoothly from
  the gain up to that level, so a sky clipped in this photo but white in the others is not pushed into grey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from photostyle.imaging.colourspaces import linear_to_srgb, srgb_to_linear

Mode = Literal["exposure", "wb", "both"]
MODES: tuple[str, ...] = ("exposure", "wb", "both")

CLIP = 0.95  # linear value (sRGB 0.977) at or above which a channel counts as clipped
CLIPPED_SHARE = 0.05  # a region with more clipped pixels than this does not vote
CLIPPED_PIXELS = 8  # a region with at least this many pixels clipped in a channel tells what its highlights hold
BLACK = 0.004  # linear luminance below which a region is too dark (noise, crushed blacks) to vote
NEUTRAL = 0.12  # a region whose chroma (log R/G, log B/G distance from the photo's median) is below this is neutral
MIN_SIMILARITY = 0.6  # descriptors less alike than this (cosine) are not matched
MIN_INLIERS = 8  # fewest region matches that must agree on the reframing ...
INLIER_SHARE = 0.3  # ... and the share of all matches they must be
RANSAC_TOL = 0.05  # a match agrees with a reframing when its region centre lands this near (share of B's size)
RANSAC_TRIES = 300
REFINE_STEPS = 10  # Gauss-Newton steps that make the reframing exact on the pixels
MAX_SCALE = 4.0  # a reframing zooms at most this much ...
MAX_STRETCH = 1.5  # ... and stretches one direction at most this much more than the other
EDGE = 2  # pixels (at the statistics size) next to a region's edge are left out of the comparison
CARRIED_SHARE = 0.2  # a region votes when at least this share of its pixels land in the other photo, comparable
MIN_REGIONS = 12  # fewest agreeing regions that make two photos a match
MIN_AGREE = 0.5  # share of the voting regions that must agree
TOL_EV = 0.2  # a region agrees when its exposure change is within this of the median (EV) ...
TOL_WB = 0.06  # ... and its chroma change within this (natural log units)
MIN_NEUTRAL = 6  # fewer neutral regions than this: every agreeing region votes for white balance
MIN_CLIPPED = 3  # fewest regions with clipped pixels seen in other photos that set a photo's highlight level
KNEE = 0.8  # linear value where the highlight bend starts
WINDOW = 12  # each photo is compared with the next WINDOW photos of the shoot
REC709_Y = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True)
class RegionStats:
    """One small photo as the normalisation compares it: its linear RGB (H, W, 3) float32, its regions (label map
    (H, W), ids 0..n-1), each region's centre (n, 2; y, x in pixels), mean linear RGB of its unclipped pixels
    (n, 3), share of its pixels clipped in any channel (n,), whether it may vote (n,) and its L2-normalised
    position-free descriptor (n, d); per pixel, the lightly smoothed log2 luminance, which pixels are usable
    (unclipped, not black) and which lie EDGE pixels inside their region (H, W) each."""

    lin: np.ndarray
    labels: np.ndarray
    pos: np.ndarray
    rgb: np.ndarray
    clipped: np.ndarray
    valid: np.ndarray
    desc: np.ndarray
    luma: np.ndarray
    usable: np.ndarray
    core: np.ndarray


@dataclass(frozen=True)
class Correction:
    """Exposure (EV, log2 of the gain), the diagonal white-balance gains (R, G, B; a grey keeps its luminance) and
    the level (linear R, G, B) a clipped channel comes out at (None: the plain gain).

    MATCHED: how many other photos of the shoot this one was matched with (0: left as shot); REGIONS: its agreeing
    region matches, over all its matched photos."""

    ev: float = 0.0
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    matched: int = 0
    regions: int = 0
    highlights: tuple[float, float, float] | None = None

    @property
    def gains(self) -> np.ndarray:
        """The linear-light per-channel gains: 2**ev times the white-balance diagonal."""
        return (2.0**self.ev) * np.asarray(self.wb, np.float64)

    @property
    def is_identity(self) -> bool:
        return self.ev == 0.0 and tuple(self.wb) == (1.0, 1.0, 1.0) and self.highlights is None

    def to_dict(self) -> dict[str, float | int | list[float] | None]:
        return {
            "ev": round(self.ev, 3),
            "wb": [round(float(g), 4) for g in self.wb],
            "matched": self.matched,
            "regions": self.regions,
            "highlights": None if self.highlights is None else [round(float(h), 4) for h in self.highlights],
        }


def region_stats(srgb: np.ndarray, labels: np.ndarray, desc: np.ndarray) -> RegionStats:
    """The regions of a small sRGB image (H, W, 3) in [0, 1]: LABELS (H, W) ints 0..n-1, DESC (n, d) one
    descriptor per region."""
    img = np.asarray(srgb, np.float32)
    lab = np.asarray(labels, np.int32)
    n = int(lab.max()) + 1
    if desc.shape[0] != n:
        raise ValueError(f"{desc.shape[0]} descriptors for {n} regions")
    lin = srgb_to_linear(img).astype(np.float32)
    flat, ids = lin.reshape(-1, 3).astype(np.float64), lab.ravel()
    clip = flat.max(axis=1) >= CLIP
    count = np.maximum(np.bincount(ids, minlength=n).astype(np.float64), 1.0)
    keep = ~clip
    n_keep = np.bincount(ids[keep], minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(ids[keep], flat[keep, c], minlength=n) for c in range(3)], 1)
    rgb = sums / np.maximum(n_keep, 1.0)[:, None]
    clipped = 1.0 - n_keep / count
    valid = (clipped <= CLIPPED_SHARE) & (rgb @ REC709_Y >= BLACK) & (rgb.min(axis=1) > 0)
    yy, xx = np.mgrid[0 : lab.shape[0], 0 : lab.shape[1]]
    pos = np.stack([np.bincount(ids, yy.ravel(), minlength=n), np.bincount(ids, xx.ravel(), minlength=n)], 1)
    d = np.asarray(desc, np.float64)
    d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    y = lin.astype(np.float64) @ REC709_Y
    usable = ~clip.reshape(lab.shape) & (y >= BLACK)
    luma = ndimage.gaussian_filter(np.log2(np.maximum(y, BLACK)), 1.0)
    size = 2 * EDGE + 1  # pixels at least EDGE inside their region
    core = ndimage.maximum_filter(lab, size) == ndimage.minimum_filter(lab, size)
    return RegionStats(lin, lab, pos / count[:, None], rgb, clipped, valid, d, luma, usable, core)


def match_regions(a: RegionStats, b: RegionStats) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of the region pairs that are each other's most similar region (cosine of the descriptors,
    at least MIN_SIMILARITY)."""
    sim = a.desc @ b.desc.T
    ab, ba = sim.argmax(axis=1), sim.argmax(axis=0)
    ia = np.nonzero(ba[ab] == np.arange(len(ab)))[0]
    ib = ab[ia]
    keep = sim[ia, ib] >= MIN_SIMILARITY
    return ia[keep], ib[keep]


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """The (2, 3) affine map taking points SRC (k, 2) to DST by least squares; None when degenerate."""
    x = np.concatenate([src, np.ones((len(src), 1))], 1)
    m, _, rank, _ = np.linalg.lstsq(x, dst, rcond=None)
    return m.T if rank == 3 else None


def _plausible(m: np.ndarray) -> np.ndarray:
    """Which maps M (..., 2, 3) are reframings: scale between 1/MAX_SCALE and MAX_SCALE, little shear or stretch (a
    mirror image is allowed)."""
    sv = np.linalg.svd(m[..., :2], compute_uv=False)
    big, small = sv[..., 0], sv[..., 1]
    return (small > 0) & (big >= 1.0 / MAX_SCALE) & (big <= MAX_SCALE) & (big <= MAX_STRETCH * small)


def fit_reframing(a: RegionStats, b: RegionStats, ia: np.ndarray, ib: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The geometry of the matched regions: an affine map from A's pixels to B's (crop, zoom, mirror, a small turn)
    agreed by at least MIN_INLIERS region matches and INLIER_SHARE of them (RANSAC, fixed seed), refitted on its
    inliers; (map, inliers), or None when the matches agree on no such map (different scenes)."""
    if len(ia) < MIN_INLIERS:
        return None
    src, dst = a.pos[ia], b.pos[ib]
    tol = RANSAC_TOL * max(b.labels.shape)
    rng = np.random.default_rng(0)
    picks = rng.random((RANSAC_TRIES, len(ia))).argsort(axis=1)[:, :3]  # (T, 3) distinct matches
    x = np.concatenate([src[picks], np.ones((RANSAC_TRIES, 3, 1))], 2)  # (T, 3, 3)
    solvable = np.abs(np.linalg.det(x)) > 1e-6
    maps = np.linalg.solve(x[solvable], dst[picks[solvable]]).transpose(0, 2, 1)  # (T', 2, 3)
    maps = maps[_plausible(maps)]
    if not len(maps):
        return None
    landed = np.einsum("tij,kj->tki", maps[:, :, :2], src) + maps[:, None, :, 2]
    inliers = np.linalg.norm(landed - dst[None], axis=2) <= tol  # (T', k)
    best = inliers[int(inliers.sum(axis=1).argmax())]
    if best.sum() < max(MIN_INLIERS, INLIER_SHARE * len(ia)):
        return None
    m = _affine(src[best], dst[best])
    if m is None or not _plausible(m):
        return None
    return _refine(a, b, m), int(best.sum())


def _refine(a: RegionStats, b: RegionStats, m: np.ndarray) -> np.ndarray:
    """The map M from the region centres made exact on the pixels: Gauss-Newton on A's and B's log luminance
    (affine map plus one exposure offset; residuals beyond 3 robust deviations left out). Region centres are a few
    pixels off (superpixel edges fall differently in each photo); comparing regions needs the map to a pixel."""
    la, ok_a, lb, ok_b = a.luma, a.usable, b.luma, b.usable
    gy, gx = np.gradient(lb)
    yy, xx = np.mgrid[0 : la.shape[0] : 2, 0 : la.shape[1] : 2]
    keep = ok_a[yy, xx]
    y, x, va = yy[keep].astype(np.float64), xx[keep].astype(np.float64), la[yy, xx][keep]
    p, offset = m.copy(), 0.0
    bh, bw = lb.shape
    for _ in range(REFINE_STEPS):
        ty, tx = p[0, 0] * y + p[0, 1] * x + p[0, 2], p[1, 0] * y + p[1, 1] * x + p[1, 2]
        inside = (ty >= 0) & (ty <= bh - 1) & (tx >= 0) & (tx <= bw - 1)
        inside[inside] &= ndimage.map_coordinates(ok_b, [ty[inside], tx[inside]], order=0)
        if inside.sum() < 100:
            return m
        at = [ty[inside], tx[inside]]
        r = ndimage.map_coordinates(lb, at, order=1) - va[inside] - offset
        dy, dx = ndimage.map_coordinates(gy, at, order=1), ndimage.map_coordinates(gx, at, order=1)
        yi, xi = y[inside], x[inside]
        jac = np.stack([dy * yi, dy * xi, dy, dx * yi, dx * xi, dx, np.ones_like(r)], 1)
        dev = np.abs(r - np.median(r))
        use = dev <= 3.0 * 1.4826 * max(float(np.median(dev)), 1e-3)
        ju = jac[use]
        try:
            step = np.linalg.solve(ju.T @ ju, -(ju.T @ r[use]))
        except np.linalg.LinAlgError:
            return m
        p = p + step[:6].reshape(2, 3)
        offset += float(step[6])
        if np.abs(step[[2, 5]]).max() < 0.02:
            break
    return p if bool(_plausible(p)) and np.linalg.norm(p[:, 2] - m[:, 2]) < RANSAC_TOL * max(bh, bw) else m


def _carry(a: RegionStats, b: RegionStats, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A's regions carried into B by the map M: for each region of A, the mean linear RGB of its pixels that land
    inside B and are unclipped and not black in both (A's, B's: (n, 3) each), how many such pixels (n,), and, per
    channel, the mean of B where A clipped that channel and over how many pixels ((n, 6): R, G, B means, then
    counts; NaN where A clipped fewer than CLIPPED_PIXELS)."""
    h, w = a.labels.shape
    yy, xx = np.mgrid[0:h, 0:w]
    pts = np.stack([yy.ravel(), xx.ravel()], 1).astype(np.float64)
    to = np.rint(pts @ m[:, :2].T + m[:, 2]).astype(np.int64)
    bh, bw = b.labels.shape
    inside = (to[:, 0] >= 0) & (to[:, 0] < bh) & (to[:, 1] >= 0) & (to[:, 1] < bw)
    ids = a.labels.ravel()[inside]
    ty, tx = to[inside, 0], to[inside, 1]
    pa = a.lin.reshape(-1, 3)[inside].astype(np.float64)
    pb = b.lin[ty, tx].astype(np.float64)
    n = len(a.rgb)
    ok = a.core.ravel()[inside] & a.usable.ravel()[inside] & b.usable[ty, tx]
    cnt = np.bincount(ids[ok], minlength=n).astype(np.float64)
    mean_a = np.stack([np.bincount(ids[ok], pa[ok, c], minlength=n) for c in range(3)], 1) / np.maximum(cnt, 1)[:, None]
    mean_b = np.stack([np.bincount(ids[ok], pb[ok, c], minlength=n) for c in range(3)], 1) / np.maximum(cnt, 1)[:, None]
    seen_b = np.full((n, 6), np.nan)
    for c in range(3):
        hit = pa[:, c] >= CLIP
        k = np.bincount(ids[hit], minlength=n)
        enough = k >= CLIPPED_PIXELS
        seen_b[enough, c] = np.bincount(ids[hit], pb[hit, c], minlength=n)[enough] / k[enough]
        seen_b[enough, 3 + c] = k[enough]
    return mean_a, mean_b, cnt, seen_b


def _log_chroma(rgb: np.ndarray) -> np.ndarray:
    """(n, 2) natural log of R/G and B/G."""
    lg = np.log(np.maximum(rgb, 1e-6))
    return np.stack([lg[:, 0] - lg[:, 1], lg[:, 2] - lg[:, 1]], axis=1)


def wb_gains(shift: np.ndarray) -> np.ndarray:
    """Diagonal gains (R, G, B) that move log R/G and log B/G by SHIFT, scaled so a grey keeps its luminance."""
    g = np.array([np.exp(shift[0]), 1.0, np.exp(shift[1])])
    return g / float(g @ REC709_Y)


def _neutral(c: np.ndarray, valid: np.ndarray) -> np.ndarray:
    centre = np.median(c[valid], axis=0) if valid.any() else np.zeros(2)
    return np.linalg.norm(c - centre, axis=1) < NEUTRAL


@dataclass(frozen=True)
class PairOffset:
    """Photo B relative to photo A: white-balance shift (log R/G, log B/G), exposure shift (EV), agreeing regions,
    and what each photo's clipped regions show in the other (A's seen in B, B's seen in A: (k, 6), linear R, G, B
    where the region clipped that channel, then how many pixels it clipped; NaN for a channel it did not clip)."""

    wb: np.ndarray
    ev: float
    regions: int
    clipped_a: np.ndarray
    clipped_b: np.ndarray


def _estimate(ra: np.ndarray, rb: np.ndarray, neutral: np.ndarray) -> tuple[np.ndarray, float, np.ndarray] | None:
    """White-balance shift, exposure shift and agreeing rows from region pairs RA, RB (linear RGB (k, 3)): medians,
    the disagreeing rows dropped and the medians taken again; None when too few agree."""
    ca, cb = _log_chroma(ra), _log_chroma(rb)
    agree = np.ones(len(ra), bool)
    for _ in range(3):
        votes = agree & neutral if (agree & neutral).sum() >= MIN_NEUTRAL else agree
        wb = np.median(cb[votes] - ca[votes], axis=0)
        # each region of A as it would look under B's white balance: what is left is the exposure change
        ya = (ra * wb_gains(wb)) @ REC709_Y
        dev = np.log2(np.maximum(rb @ REC709_Y, 1e-9)) - np.log2(np.maximum(ya, 1e-9))
        ev = float(np.median(dev[agree]))
        agree = (np.abs(dev - ev) <= TOL_EV) & (np.linalg.norm(cb - ca - wb, axis=1) <= TOL_WB)
        if agree.sum() < max(MIN_REGIONS, MIN_AGREE * len(ra)):
            return None
    return wb, ev, agree


def pair_offset(a: RegionStats, b: RegionStats) -> PairOffset | None:
    """How B's exposure and white balance differ from A's, from the regions that show the same in both; None when
    the two photos do not show the same scene.

    Regions are matched by descriptor (``match_regions``), the matches checked for one reframing
    (``fit_reframing``), and A's regions carried into B by it (``_carry``): each region is compared with exactly
    the part of B that shows it, its clipped and black pixels left out in both photos."""
    ia, ib = match_regions(a, b)
    fit = fit_reframing(a, b, ia, ib)
    if fit is None:
        return None
    m = fit[0]
    mean_a, mean_b, cnt, seen_b = _carry(a, b, m)
    size = np.bincount(a.labels.ravel(), minlength=len(a.rgb))
    vote = (cnt >= CARRIED_SHARE * size) & (cnt > 0) & a.valid
    if vote.sum() < MIN_REGIONS:
        return None
    neutral = _neutral(_log_chroma(a.rgb), a.valid)[vote]
    est = _estimate(mean_a[vote], mean_b[vote], neutral)
    if est is None:
        return None
    wb, ev, agree = est
    inverse = np.linalg.inv(np.concatenate([m, [[0.0, 0.0, 1.0]]]))[:2]
    seen_a = _carry(b, a, inverse)[3]
    return PairOffset(wb, ev, int(agree.sum()), _clipped_seen(seen_b), _clipped_seen(seen_a))


def _clipped_seen(seen: np.ndarray) -> np.ndarray:
    """The rows of SEEN (``_carry``'s last) of the regions clipped in some channel: (k, 6), NaN where not clipped."""
    return seen[~np.isnan(seen[:, :3]).all(axis=1)]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _highlights(k: int, gains: np.ndarray, partners: list[tuple[int, np.ndarray]]) -> tuple[float, float, float] | None:
    """The level (linear R, G, B) photo K's clipped channels come out at: per channel, the median over K's clipped
    pixels (regions weighted by their clipped pixels) of what the other photos show there after their own
    correction (GAINS: every photo's), between K's gain and white (K's gain where fewer than MIN_CLIPPED regions
    are seen); None when that is K's gain in every channel (the plain gain)."""
    if gains[k].min() >= 1.0:
        return None
    seen = [np.concatenate([np.minimum(v[:, :3] * gains[m], 1.0), v[:, 3:]], 1) for m, v in partners if len(v)]
    if not seen:
        return None
    values = np.concatenate(seen)
    low = np.minimum(gains[k], 1.0)
    level = low.copy()
    for c in range(3):
        has = ~np.isnan(values[:, c])
        if has.sum() >= MIN_CLIPPED:
            level[c] = np.clip(_weighted_median(values[has, c], values[has, 3 + c]), low[c], 1.0)
    if np.allclose(level, low, atol=0.01):
        return None
    r, g, b = (round(float(x), 4) for x in level)
    return (r, g, b)


def shoot_corrections(
    stats: Sequence[RegionStats | None], mode: Mode = "both", *, window: int = WINDOW
) -> list[Correction]:
    """Each photo's correction to the common exposure and white balance of the photos it matches.

    STATS: one per photo in shooting order (None: unreadable, left as shot). Each photo is compared with the next
    WINDOW photos (a shoot's frames of one scene are taken together; this keeps a 500-photo shoot to a few thousand
    comparisons), and matched pairs (``pair_offset``) link photos into groups; each
    connected group's per-photo exposures and white balances are solved by weighted least squares over its matched
    pairs, and each photo is moved to the group's median. MODE limits the correction to exposure or white balance.
    """
    n = len(stats)
    edges: list[tuple[int, int, PairOffset]] = []
    for i in range(n):
        for j in range(i + 1, min(n, i + 1 + window)):
            si, sj = stats[i], stats[j]
            if si is not None and sj is not None:
                off = pair_offset(si, sj)
                if off is not None:
                    edges.append((i, j, off))
    parent = list(range(n))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j, _ in edges:
        parent[root(i)] = root(j)
    matched, regions = [0] * n, [0] * n
    # per photo: (other photo, what it shows where this photo is clipped)
    partners: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
    for i, j, e in edges:
        matched[i] += 1
        matched[j] += 1
        regions[i] += e.regions
        regions[j] += e.regions
        partners[i].append((j, e.clipped_a))
        partners[j].append((i, e.clipped_b))
    shifts = np.zeros((n, 3))  # each photo's (ev, log R/G, log B/G) change
    groups: dict[int, list[int]] = {}
    for k in range(n):
        groups.setdefault(root(k), []).append(k)
    for members in groups.values():
        if len(members) < 2:
            continue
        index = {k: m for m, k in enumerate(members)}
        own = [(i, j, e) for i, j, e in edges if i in index]
        # unknowns: each member's (ev, log R/G, log B/G); rows: x_j - x_i = offset, weighted by agreeing regions,
        # plus one row fixing the first member (the gauge; the median is taken afterwards)
        rows = np.zeros((len(own) + 1, len(members)))
        rhs = np.zeros((len(own) + 1, 3))
        for r, (i, j, e) in enumerate(own):
            w = np.sqrt(e.regions)
            rows[r, index[i]], rows[r, index[j]] = -w, w
            rhs[r] = w * np.array([e.ev, e.wb[0], e.wb[1]])
        rows[-1, 0] = 1.0
        x = np.linalg.lstsq(rows, rhs, rcond=None)[0]  # (members, 3)
        shift = np.median(x, axis=0) - x  # to the group's median
        for k, m in index.items():
            shifts[k] = np.round(shift[m], 3)
    use_ev, use_wb = mode in ("exposure", "both"), mode in ("wb", "both")
    evs = [float(s[0]) if use_ev else 0.0 for s in shifts]
    wbs = [wb_gains(s[1:]) if use_wb else np.ones(3) for s in shifts]
    gains = np.array([(2.0**ev) * np.round(wb, 4) for ev, wb in zip(evs, wbs, strict=True)])
    out = []
    for k in range(n):
        if not matched[k]:
            out.append(Correction())
            continue
        wr, wg, wb = (round(float(x), 4) for x in wbs[k])
        high = _highlights(k, gains, partners[k])
        out.append(Correction(round(evs[k], 3), (wr, wg, wb), matched[k], regions[k], high))
    return out


def _channel_curve(lin: np.ndarray, gain: float, level: float | None) -> np.ndarray:
    """Linear values LIN times GAIN, bent above KNEE so that 1 (clipped) comes out at LEVEL; clipped at white."""
    y = lin * gain
    if level is not None and level > gain:
        t = np.clip((lin - KNEE) / (1.0 - KNEE), 0.0, 1.0)
        y = y + (level - gain) * t * t
    return np.minimum(y, 1.0)


def apply_correction(srgb: np.ndarray, correction: Correction) -> np.ndarray:
    """SRGB (H, W, 3) float32 in [0, 1] with CORRECTION applied in linear light (values past white clip to white).

    Each channel's change is a function of that channel alone, so it is one 65536-entry table per channel, exact
    for 8- and 16-bit sources."""
    img = np.asarray(srgb, np.float32)
    if correction.is_identity:
        return img
    levels = np.arange(65536, dtype=np.float64) / 65535.0
    lin = srgb_to_linear(levels)
    index = np.round(np.clip(img, 0.0, 1.0) * 65535.0).astype(np.uint16)
    out = np.empty_like(img)
    high = correction.highlights
    for c, gain in enumerate(correction.gains):
        curve = _channel_curve(lin, float(gain), None if high is None else high[c])
        table = np.clip(linear_to_srgb(curve), 0.0, 1.0).astype(np.float32)
        out[..., c] = table[index[..., c]]
    return out


def drift(srgb: np.ndarray, ev: float, wb: Sequence[float]) -> np.ndarray:
    """SRGB with a camera's exposure and white-balance drift simulated in linear light: gain 2**EV times WB (R, G, B),
    clipped at white. The test and bench shoots are made with it."""
    lin = srgb_to_linear(np.asarray(srgb, np.float64)) * (2.0**ev) * np.asarray(wb, np.float64)
    return np.clip(linear_to_srgb(np.minimum(lin, 1.0)), 0.0, 1.0).astype(np.float32)
