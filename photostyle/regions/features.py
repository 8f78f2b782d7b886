"""The offline ``features`` segmenter: superpixels of both images described in one space by VGG-19 features,
colour and position; each image clustered there (k-means, the number of regions by silhouette); the clusters paired
across the images and split further where both images agree; "sky" named by a plain rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
from scipy import ndimage

from photostyle.imaging.kept import Kept, pixel_key
from photostyle.imaging.resize import resize_longest, resize_to
from photostyle.regions.cleanup import finish_labels
from photostyle.regions.labels import resize_labels
from photostyle.regions.segmentation import WORK_SIZE, PathLike

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


_DESCRIBED: Kept[_Described] = Kept(4)  # images whose descriptors a process keeps (an album's reference is described
# once per worker)


def describe(img: np.ndarray, vgg_weights: PathLike | None = None) -> _Described:
    """``_describe`` with a small per-process cache keyed by the pixels: the same image (an album's reference,
    styled with many photos; the confidence measured after segmentation) is described once."""
    a = np.ascontiguousarray(img)
    key = (pixel_key(a), str(vgg_weights or ""))
    hit = _DESCRIBED.get(key)
    return hit if hit is not None else _DESCRIBED.put(key, _describe(a, vgg_weights))


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


def _deep_axes(dp: _Described, dr: _Described) -> np.ndarray:
    """The deep features of both images' superpixels (rows: photo then reference), each image's centred and
    scaled on its own, projected on their DEEP_DIMS weighted principal axes and divided by their total spread.

    The axes are the leading eigenvectors of the small weighted Gram matrix (superpixels x superpixels, or
    channels x channels when that is smaller), found by Lanczos iteration (ARPACK, from a fixed start, to machine
    precision): the same axes as the full SVD. LAPACK's dense decompositions (the SVD, eigh) make hundreds of
    small threaded BLAS calls, each a wait for both cores: 0.1 s on a quiet machine, 1-5 s when another process
    holds the second core."""
    deep = np.concatenate([_centre_scale(dp.deep, dp.weight), _centre_scale(dr.deep, dr.weight)])
    w = np.concatenate([dp.weight, dr.weight])
    a = deep * np.sqrt(w / w.sum())[:, None]
    n, c = a.shape
    k = min(DEEP_DIMS, n, c)
    gram = a @ a.T if n <= c else a.T @ a
    m = gram.shape[0]
    if m > 2 * k + 1:
        vals, vecs = scipy.sparse.linalg.eigsh(gram, k=k, which="LA", v0=np.ones(m), tol=0.0)
    else:  # a tiny image: the dense decomposition is instant
        vals, vecs = scipy.linalg.eigh(gram, subset_by_index=[m - k, m - 1])
    order = np.argsort(vals)[::-1]  # largest first, as the SVD orders them
    vals, vecs = vals[order], vecs[:, order]
    keep = vals > 1e-12 * max(float(vals[0]), 1e-300)
    if n <= c:  # right singular vectors from the left ones: v = a^T u / s
        axes = (a.T @ vecs[:, keep]) / np.sqrt(vals[keep])
    else:
        axes = vecs[:, keep]
    proj = np.zeros((n, DEEP_DIMS))
    proj[:, np.nonzero(keep)[0]] = deep @ axes  # axes of a zero spread: zero, as the SVD's rows project there
    tot = float(np.sqrt(max(float((a * a).sum()), 1e-12)))
    return proj / tot


def _joint_descriptors(
    dp: _Described,
    dr: _Described,
    *,
    w_colour: float = W_COLOUR,
    w_y: float = W_Y,
    w_x: float = W_X,
    deep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows: superpixels of the photo then of the reference, in one space: the deep features centred per image
    (so a night reference and a day photo still agree) and projected on their joint principal axes, colour
    (CIELAB, centred and scaled per image) and position; each block has unit total variance before weighting.
    DEEP: ``_deep_axes(dp, dr)`` when already computed (the segmentation and matching spaces share it)."""
    if deep is None:
        deep = _deep_axes(dp, dr)
    w = np.concatenate([dp.weight, dr.weight])
    colour = np.concatenate([_centre_scale(dp.lab, dp.weight), _centre_scale(dr.lab, dr.weight)])
    pos = np.concatenate([dp.pos, dr.pos]) - 0.5
    x = np.concatenate([W_DEEP * deep, w_colour * colour, w_y * pos[:, :1] / 0.29, w_x * pos[:, 1:] / 0.29], 1)
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
    dp, dr = describe(photo, vgg_weights), describe(reference, vgg_weights)
    deep = _deep_axes(dp, dr)
    x_seg, w = _joint_descriptors(dp, dr, deep=deep)
    x_match, _ = _joint_descriptors(dp, dr, w_colour=0.0, w_y=W_Y_MATCH, w_x=0.0, deep=deep)
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
