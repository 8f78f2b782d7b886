"""Deep Photo Style Transfer (Luan, Paris, Shechtman, Bala, CVPR 2017): the transfer and regularise stages.

The output image O minimises, at the working size,

    E(O) = a * Lc(O) + b * sum_l Ls_l(O) + lambda * sum_c V_c[O]^T L V_c[O] / N

* Lc: content loss on conv4_2, ||F(O) - F(I)||^2 / ||F(I)||^2.
* Ls_l: the augmented style loss at conv1_1 ... conv5_1. For every photo region k with partner reference region
  k', G_k = (F m_k)(F m_k)^T / sum(m_k), masks m downsampled to the layer; the loss is sum_k area_k *
  ||G_k(O) - G_k'(S)||^2 / ||G_k'(S)||^2. Regions with no partner use the whole reference.
* the photorealism term: L the matting Laplacian of the photo (Levin et al. 2008, 3x3 windows, epsilon 1e-7),
  V_c the channels of O in [0, 1], N the pixel count, times (working size / 256)^2 so one weight means the same
  smoothness at every scale (neighbour differences shrink as the image grows).
* at the last scale only, the flat-area term mu * mean(w * |grad(O - I)|^2), w ~ 1 where the photo is smooth
  (Settings.flat_weight): the matting term allows texture that is locally affine in a flat area's faint noise.

Each loss is normalised by its target's energy so the three weights are comparable across layers and image
sizes (DPST's own weights, 5 / 100 / 10^4, are tied to Torch7's unnormalised losses and a 0-255 range).

The paper's code runs two stages of 1000 L-BFGS steps at 700 px: masked neural style from the photo, then the
regularised pass started from that result. That is over two hours on a laptop CPU. The equivalent here:
stage one is replaced by a closed-form per-region colour transfer (the look's colour statistics, photorealistic by
construction) and stage two runs coarse to fine: the colours and layout settle at small sizes, the texture is built
at the last (700 px in the best quality, where DPST works). The result is then refitted as local affine colour maps
of the photo over windows wider than the matting term's 3x3 (``Settings.affine_radius``), plus the look's finest
grain where the photo has texture (``upsample.photographic``): texture painted into fur or foliage is locally affine
in 3x3 windows, so the matting term alone lets the reference's structures through, the refit does not. Where the
refitted result still loses the photo's structure or moves its tone far from the closed-form look (ghosts and
blotches at the windows' scale and above), the closed-form look takes over there, and over the whole of a photo
region where it had to take over much (``guard.keep_photograph``, ``photo_region_masks``; with automatic masks only:
the user's masks are trusted as drawn). The result
is carried to the photo's full size by local affine maps (photostyle.upsample). ``Settings.init='neural'`` restores the
paper's first stage for those who want it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.engine.colour import region_colour_transfer
from photostyle.engine.guard import keep_photograph
from photostyle.engine.regularise import matting_energy, matting_laplacian, to_torch
from photostyle.engine.upsample import apply_affine, photographic, upsample
from photostyle.imaging.filters import box_mean, fit_affine
from photostyle.imaging.resize import resize_longest
from photostyle.regions.confidence import corresponds, textured_regions
from photostyle.regions.labels import RegionPairs, resize_labels, whole_image
from photostyle.regions.targeting import soft_region_masks
from photostyle.runtime import use_bf16
from photostyle.settings import CONTENT_LAYER, STYLE_LAYERS, Settings
from photostyle.vgg import VGG19

Progress = Callable[[float, str], None]

MATTING_REFERENCE_SIZE = 256  # the working size at which Settings.matting_weight applies unscaled
# the local affine fit that carries one scale's result to the next (Settings.upsample_* is the final one's)
STAGE_UPSAMPLE = (2, 1e-4)
STALL_WINDOW = 10  # L-BFGS iterations between two checks of Settings.stall_tolerance
# RMS pixel change (in [0, 1] colour units) of L-BFGS's first trial step at each scale; 0.001-0.03 all beat
# torch's default by the same margin, 0.003 never overshot (bench/reports/tuning-*.md)
FIRST_STEP = 0.003
# the style layers of the last scale when coarser ones ran before it: conv5_1's Gram (1/16 of the working size)
# is set at the coarser scales, and leaving out conv4_3..conv5_1 makes an evaluation at 700 px 20 % cheaper
FINAL_LAYERS = STYLE_LAYERS[:4]
# the layers whose Gram matrices carry tone and fine texture (receptive fields of a few pixels): the only ones a
# photo region whose confidence is too low for texture (``regions.confidence.textured_regions``) is styled with,
# toward its partner; the deeper layers carry shapes and objects and move only between regions that correspond
TONE_LAYERS = STYLE_LAYERS[:2]

# reference analysis (Gram targets per region and layer), reused when one look is applied to many photos
_REFERENCE_CACHE: dict[str, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = {}


def _reference_key(reference: np.ndarray, labels: np.ndarray, partners: list[int], model: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(reference).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    h.update(repr((reference.shape, partners, model)).encode())
    return h.hexdigest()


def _t(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None].contiguous().to(device)


def _layer_masks(labels: np.ndarray, regions: list[int], hw: tuple[int, int], device: torch.device) -> torch.Tensor:
    """(K, h*w) soft masks of REGIONS at a layer's resolution (area-averaged from the label map)."""
    m = torch.stack([torch.from_numpy((labels == k).astype(np.float32)) for k in regions])[:, None]
    m = F.interpolate(m, size=hw, mode="area") if m.shape[-2:] != hw else m
    if m.shape[-2] > hw[0]:
        m = F.interpolate(m, size=hw, mode="bilinear", align_corners=False, antialias=True)
    return m[:, 0].reshape(len(regions), -1).to(device)


Support = list[tuple[torch.Tensor, torch.Tensor]]  # per region: (pixel ids where its mask is > 0, mask values there)


def _supports(masks: torch.Tensor) -> Support:
    """Each region's soft mask (K, n) as its non-zero pixels and their weights."""
    out = []
    for m in masks:
        idx = (m > 0).nonzero()[:, 0]
        out.append((idx, m[idx]))
    return out


def _region_grams(feat: torch.Tensor, support: Support) -> torch.Tensor:
    """(K, C, C) Gram matrices of FEAT (1, C, h, w) under each region's soft mask, normalised by mask area:
    G_k = (F m_k)(F m_k)^T / sum(m_k), computed on the region's own pixels only, so the cost is that of one Gram
    over the image (regions barely overlap), not one per region."""
    f = feat[0].reshape(feat.shape[1], -1)
    grams = []
    for idx, w in support:
        fm = f.index_select(1, idx) * w
        grams.append(fm @ fm.T / w.sum().clamp_min(1.0))
    return torch.stack(grams)


# Histogram loss (Risser, Wilmot, Barnes 2017, "Stable and Controllable Neural Texture Synthesis and Style Transfer
# Using Histogram Losses"), Settings.style_loss='histogram': beside the Gram loss, every feature channel of a photo
# region is pulled toward its own values re-ranked onto the partner reference region's distribution (exact histogram
# matching, recomputed at each evaluation, no gradient through the target); at relu1_1 and relu4_1 as in the paper.
HISTOGRAM_LAYERS = ("conv1_1", "conv4_1")
HistogramTargets = dict[str, list[tuple[torch.Tensor, torch.Tensor]]]  # layer -> [(pixel ids, sorted values (C, n))]


def _resample_sorted(values: torch.Tensor, n: int) -> torch.Tensor:
    """(C, m) values -> (C, n): each channel's sorted values at n evenly spaced quantiles."""
    s = values.sort(1).values
    m = s.shape[1]
    pos = ((torch.arange(n, device=s.device, dtype=s.dtype) + 0.5) * (m / n) - 0.5).clamp(0, m - 1)
    lo = pos.floor().long()
    t = pos - lo
    return s[:, lo] * (1 - t) + s[:, (lo + 1).clamp_max(m - 1)] * t


def histogram_targets(
    vgg: VGG19,
    reference: np.ndarray,
    rlab: np.ndarray,
    partners: list[int],
    photo_masks: dict[str, torch.Tensor],
    bf16: bool = False,
) -> HistogramTargets:
    """Per histogram layer and photo region: the region's pixels (each pixel to its main region) and its partner
    reference region's sorted feature values resampled to that many (a partner of -1: the whole reference)."""
    dev = photo_masks[HISTOGRAM_LAYERS[0]].device
    with torch.no_grad():
        rf = vgg(_t(reference, dev), list(HISTOGRAM_LAYERS), bf16=bf16)
    out: HistogramTargets = {}
    for name in HISTOGRAM_LAYERS:
        h, w = rf[name].shape[-2:]
        feat = rf[name][0].flatten(1)
        lab = torch.from_numpy(resize_labels(rlab, (w, h)).ravel()).to(dev)
        owner = photo_masks[name].argmax(0)
        out[name] = []
        for i, j in enumerate(partners):
            idx = (owner == i).nonzero()[:, 0]
            sel = lab == j
            if len(idx):
                out[name].append((idx, _resample_sorted(feat[:, sel] if j >= 0 and sel.any() else feat, len(idx))))
    return out


def histogram_loss(feats: dict[str, torch.Tensor], targets: HistogramTargets) -> torch.Tensor:
    """sum over layers of ||F - H(F)||^2 / ||H(F)||^2, H(F) the histogram-matched features (regions re-ranked)."""
    loss = torch.zeros((), device=next(iter(feats.values())).device)
    for name, regions in targets.items():
        f = feats[name][0].flatten(1)
        t = f.detach().clone()
        for idx, values in regions:
            t[:, idx] = torch.empty_like(values).scatter_(1, t[:, idx].argsort(1), values)
        loss = loss + (f - t).pow(2).sum() / t.pow(2).sum().clamp_min(1e-8)
    return loss


@dataclass
class Stage:
    """The losses at one working size."""

    photo: np.ndarray
    content: dict[str, torch.Tensor]
    style_targets: dict[str, torch.Tensor]  # layer -> (K, C, C)
    style_norm: dict[str, torch.Tensor]  # layer -> (K,)
    photo_masks: dict[str, torch.Tensor]  # layer -> (K, n)
    supports: dict[str, Support]  # layer -> the masks as pixel ids and weights
    area: dict[str, torch.Tensor]  # layer -> (K,): each region's share of the photo, 0 where it takes no texture
    laplacian: torch.Tensor | None
    histogram: HistogramTargets | None = None  # Settings.style_loss == 'histogram'
    flat: tuple[torch.Tensor, torch.Tensor] | None = None  # the photo and its flatness weights (Settings.flat_weight)


def flatness(photo: torch.Tensor, variance: float) -> torch.Tensor:
    """(1, 1, h, w) weights exp(-var / VARIANCE), var the photo's (1, 3, h, w) luminance variance in 5x5 windows:
    about 1 where the photo is smooth (sky, walls, skin), about 0 on texture and edges."""
    g = photo.mean(1, keepdim=True)
    var = (box_mean(g * g, 2) - box_mean(g, 2) ** 2).clamp_min(0)
    return torch.exp(-var / variance)


def flat_energy(x: torch.Tensor, photo: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """mean over pixels of w * |grad(O - I)|^2: the output's neighbour differences must follow the photo's where
    the photo is flat (the weights from ``flatness``)."""
    d = x - photo
    dx = (d[..., :, 1:] - d[..., :, :-1]).pow(2).sum(1, keepdim=True) * weights[..., :, 1:]
    dy = (d[..., 1:, :] - d[..., :-1, :]).pow(2).sum(1, keepdim=True) * weights[..., 1:, :]
    return (dx.sum() + dy.sum()) / (x.shape[2] * x.shape[3])


def _texture_pairs(pairs: RegionPairs) -> tuple[RegionPairs, set[int]]:
    """The pairs the Gram loss uses and the photo regions that take texture (all style layers) from their partner.

    Regions whose confidence is too low for texture (``textured_regions``) take their partner's Gram targets at the
    TONE_LAYERS only: its tone and fine grain, never its shapes. Their partner is a better source of colour than
    the whole reference, as in the closed-form look (on 10 DPST pairs with automatic masks, best's per-region
    color_swd 6.19 toward the whole reference, 5.41 toward the partner). When the regions do not correspond at
    all the whole photo is one region (one global look).
    """
    if not corresponds(pairs):
        return whole_image(pairs.photo.shape[:2], pairs.reference.shape[:2]), set()
    return pairs, textured_regions(pairs)


def textured_weight(pairs: RegionPairs, photo: np.ndarray) -> np.ndarray | None:
    """(H, W) in [0, 1]: where PHOTO (at PAIRS' photo size) lies in an automatic region that takes texture from its
    partner (``_texture_pairs``), feathered along the photo's edges (``soft_region_masks``' default radius, 1 % of
    the longest side, finer than the colour maps' feather); None where none does
    and for pairs without a confidence (no masks: the whole reference, which may be unrelated)."""
    if not pairs.confidence:
        return None
    pairs, textured = _texture_pairs(pairs)
    regions = pairs.photo_regions()
    if not textured:
        return None
    if textured.issuperset(regions):
        return np.ones(photo.shape[:2], np.float32)
    soft = soft_region_masks(pairs.photo, regions, photo)
    return np.sum([m for k, m in zip(regions, soft, strict=True) if k in textured], axis=0).astype(np.float32)


def photo_region_masks(pairs: RegionPairs, photo: np.ndarray) -> np.ndarray:
    """(K, H, W): the soft masks of the photo regions the look was transferred by, at PHOTO's size, feathered along
    its edges (``soft_region_masks``' default); one region, the whole photo, when the regions do not correspond."""
    pairs = pairs.resized(photo.shape[:2], pairs.reference.shape[:2])
    if not corresponds(pairs):
        return np.ones((1, *photo.shape[:2]), np.float32)
    return soft_region_masks(pairs.photo, pairs.photo_regions(), photo)


class DPST:
    """The optimisation of Deep Photo Style Transfer for one photo/reference pair."""

    def __init__(self, vgg: VGG19, settings: Settings, device: torch.device) -> None:
        self.vgg = vgg
        self.s = settings
        self.device = device
        self.trace: list[dict[str, float]] = []  # per-evaluation losses, for tests and benchmarks
        self.kept = 1.0  # the share of best's own result the last run kept (photostyle.engine.guard)
        self.bf16 = use_bf16(settings.precision, device)

    # ------------------------------------------------------------------------------------------- set-up
    def stage(
        self,
        photo: np.ndarray,
        reference: np.ndarray,
        pairs: RegionPairs,
        *,
        matting: bool,
        flat: bool = False,
        all_layers: bool = True,
    ) -> Stage:
        dev = self.device
        h, w = photo.shape[:2]
        rh, rw = reference.shape[:2]
        pairs = pairs.resized((h, w), (rh, rw))
        pairs, textured = _texture_pairs(pairs)
        plab, rlab = pairs.photo, pairs.reference
        regions = pairs.photo_regions()
        pt = _t(photo, dev)
        with torch.no_grad():
            cf = self.vgg(pt, [CONTENT_LAYER], bf16=self.bf16)
        partners = [pairs.partner.get(k, -1) for k in regions]
        key = _reference_key(reference, rlab, partners, f"{dev}|{self.vgg.weights_path}|{self.bf16}")
        if key in _REFERENCE_CACHE:  # the same look applied again (an album): reuse its analysis
            targets, norms = _REFERENCE_CACHE[key]
        else:
            targets, norms = self._reference_grams(reference, rlab, regions, pairs)
            _REFERENCE_CACHE[key] = (targets, norms)
            while len(_REFERENCE_CACHE) > 8:
                _REFERENCE_CACHE.pop(next(iter(_REFERENCE_CACHE)))
        pmasks = {}
        for level, name in enumerate(STYLE_LAYERS):
            # 2x2 max pools floor the size: conv{i+1}_1 sees (h >> i, w >> i)
            pmasks[name] = _layer_masks(plab, regions, (h >> level, w >> level), dev)
        share = torch.tensor([(plab == k).mean() for k in regions], dtype=torch.float32, device=dev)
        deep = share * torch.tensor([k in textured for k in regions], dtype=torch.float32, device=dev)
        area = {name: share if name in TONE_LAYERS else deep for name in STYLE_LAYERS}
        lap = to_torch(matting_laplacian(photo, self.s.matting_epsilon), dev) if matting else None
        hist = (
            histogram_targets(self.vgg, reference, rlab, partners, pmasks, self.bf16)
            if self.s.style_loss == "histogram"
            else None
        )
        if not all_layers:  # the last of several scales: conv5_1's Gram comes from the coarser ones (FINAL_LAYERS)
            targets = {k: v for k, v in targets.items() if k in FINAL_LAYERS}
        supports = {name: _supports(m) for name, m in pmasks.items() if name in targets}
        flat_terms = (pt, flatness(pt, self.s.flat_variance)) if flat and self.s.flat_weight > 0 else None
        content = {CONTENT_LAYER: cf[CONTENT_LAYER]}
        return Stage(photo, content, targets, norms, pmasks, supports, area, lap, hist, flat_terms)

    def _reference_grams(
        self, reference: np.ndarray, rlab: np.ndarray, regions: list[int], pairs: RegionPairs
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Per-region Gram targets of the reference at every style layer (a partner of -1: the whole reference)."""
        with torch.no_grad():
            rf = self.vgg(_t(reference, self.device), list(STYLE_LAYERS), bf16=self.bf16)
        rm = []
        for k in regions:
            j = pairs.partner.get(k, -1)
            rm.append(rlab == j if j >= 0 and (rlab == j).any() else np.ones_like(rlab, dtype=bool))
        full = torch.stack([torch.from_numpy(m.astype(np.float32)) for m in rm])[:, None]
        targets, norms = {}, {}
        for name in STYLE_LAYERS:
            feat = rf[name]
            m = F.interpolate(full, size=tuple(feat.shape[-2:]), mode="bilinear", align_corners=False, antialias=True)
            g = _region_grams(feat, _supports(m[:, 0].reshape(len(regions), -1).to(self.device)))
            targets[name] = g
            norms[name] = g.pow(2).sum((1, 2)).clamp_min(1e-8)
        return targets, norms

    # ------------------------------------------------------------------------------------------- losses
    def losses(self, x: torch.Tensor, st: Stage) -> dict[str, torch.Tensor]:
        styled = [n for n in STYLE_LAYERS if n in st.style_targets]
        feats = self.vgg(x, styled + [CONTENT_LAYER], bf16=self.bf16)
        c = st.content[CONTENT_LAYER]
        content = (feats[CONTENT_LAYER] - c).pow(2).sum() / c.pow(2).sum().clamp_min(1e-8)
        style = x.new_zeros(())
        for name in styled:
            f = feats[name]
            g = _region_grams(f, st.supports[name])
            loss = (g - st.style_targets[name]).pow(2).sum((1, 2)) / st.style_norm[name]
            style = style + (loss * st.area[name]).sum()
        out = {"content": content, "style": style}
        if st.histogram is not None:  # Risser et al. 2017, beside the Gram loss
            out["histogram"] = histogram_loss(feats, st.histogram)
            out["style"] = style + out["histogram"]
        if st.laplacian is not None:
            # per pixel, times (size / 256 px)^2: colour differences between neighbours shrink as the working size
            # grows, so this keeps one weight meaning the same smoothness at every scale of the coarse-to-fine run
            n = x.shape[2] * x.shape[3]
            out["matting"] = matting_energy(x, st.laplacian) / n * (max(x.shape[2:]) / MATTING_REFERENCE_SIZE) ** 2
        if st.flat is not None:
            out["flat"] = flat_energy(x, *st.flat)
        return out

    def total(self, parts: dict[str, torch.Tensor], matting: bool) -> torch.Tensor:
        t = self.s.content_weight * parts["content"] + self.s.style_weight * parts["style"]
        if matting and "matting" in parts:
            t = t + self.s.matting_weight * parts["matting"]
        if matting and "flat" in parts:
            t = t + self.s.flat_weight * parts["flat"]
        return t

    # ------------------------------------------------------------------------------------------- optimise
    def optimise(
        self,
        init: np.ndarray,
        st: Stage,
        evaluations: int,
        *,
        matting: bool,
        on_eval: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """L-BFGS from INIT for at most EVALUATIONS loss evaluations; ON_EVAL(n) is called after each.

        Runs in windows of STALL_WINDOW iterations and stops early once a window improves the best loss by less
        than Settings.stall_tolerance (a fraction); the L-BFGS history carries over from window to window.
        """
        if evaluations <= 0:
            return init
        x = _t(init, self.device).clone().requires_grad_(True)
        opt = torch.optim.LBFGS(
            [x],
            lr=1.0,
            max_iter=STALL_WINDOW,
            max_eval=evaluations,
            history_size=50,
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )
        trace = self.trace
        first = len(trace)
        # each L-BFGS step() starts by evaluating the point the last one ended on: answered from this cache
        last: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            if last and torch.equal(x.detach(), last["x"]):
                x.grad = last["grad"].clone()
                return last["loss"]
            opt.zero_grad()
            parts = self.losses(x, st)
            loss = self.total(parts, matting)
            loss.backward()
            assert x.grad is not None
            last.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=loss.detach())
            trace.append(
                {k: float(v.detach()) for k, v in parts.items()}
                | {"total": float(loss.detach()), "size": max(init.shape)}
            )
            if on_eval:
                on_eval(len(trace) - first)
            return loss

        # L-BFGS's first step has no curvature to go by: torch tries 1 / |g|_1, a vanishing step on a whole image,
        # and the line search then spends 4-6 evaluations growing it tenfold at a time (a third of a short stage).
        # Instead the first trial moves the pixels by FIRST_STEP (RMS, in [0, 1] colour units); one L-BFGS
        # iteration with that guess, then lr 1 (the quasi-Newton step) as usual.
        closure()
        assert x.grad is not None
        g = x.grad.detach()
        t0 = FIRST_STEP / float(g.pow(2).mean().sqrt().clamp_min(1e-12))
        opt.param_groups[0]["lr"] = t0 / min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
        best = float("inf")
        while (spent := len(trace) - first) < evaluations:
            opt.param_groups[0]["max_eval"] = evaluations - spent + (1 if last else 0)
            opt.param_groups[0]["max_iter"] = 1 if opt.state[x].get("n_iter", 0) == 0 else STALL_WINDOW
            opt.step(closure)
            opt.param_groups[0]["lr"] = 1.0
            now = min((t["total"] for t in trace[first:]), default=float("inf"))
            stalled = best - now < self.s.stall_tolerance * abs(now)
            if len(trace) - first == spent or stalled:  # L-BFGS found nothing more to do, or the loss stalls
                break
            best = now
        return x.detach()[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy()

    # ------------------------------------------------------------------------------------------- run
    def run(
        self,
        photo: np.ndarray,
        reference: np.ndarray,
        pairs: RegionPairs,
        progress: Progress | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Returns (small photo, small result) at the final working size."""
        s = self.s
        torch.manual_seed(s.seed)
        # progress counts evaluations weighted by their pixel count (a 400-px evaluation costs ~2.5 at 256 px)
        costs = [n * size * size for size, n in zip(s.scales, s.iterations, strict=True)]
        if s.init == "neural":
            costs[0] *= 2
        total = float(max(1, sum(costs)))
        done = 0.0
        result: np.ndarray | None = None
        prev_photo: np.ndarray | None = None
        for i, (size, evals) in enumerate(zip(s.scales, s.iterations, strict=True)):
            p = resize_longest(photo, size)
            r = resize_longest(reference, max(size, 64))
            label = f"scale {i + 1}/{len(s.scales)} ({size} px): optimising at {p.shape[1]}x{p.shape[0]}"
            unit = size * size

            def report(n: int, base: float, unit: int = unit, label: str = label) -> None:
                if progress:
                    progress(min(1.0, (base + n * unit) / total), label)

            if result is None:
                if s.init == "photo":
                    start = p.copy()
                elif s.init == "neural":
                    st0 = self.stage(p, r, pairs, matting=False)
                    start = self.optimise(p, st0, evals, matting=False, on_eval=functools.partial(report, base=done))
                    done += evals * unit
                else:
                    blur = s.region_blur * max(p.shape[:2])
                    start = region_colour_transfer(p, r, pairs, soft_sigma=blur)
            else:
                assert prev_photo is not None
                start = upsample(prev_photo, result, p, *STAGE_UPSAMPLE)
            report(0, done)
            final = i == len(s.scales) - 1
            st = self.stage(p, r, pairs, matting=True, flat=final, all_layers=not (final and i > 0))
            result = self.optimise(start, st, evals, matting=True, on_eval=functools.partial(report, base=done))
            prev_photo = p
            done += evals * unit
        assert result is not None and prev_photo is not None
        # whatever the masks: an edge-aware local colour transform of the photo plus its fine texture, no shape
        # coarser than that texture (photostyle.engine.upsample.photographic). With the user's masks, whose regions
        # correspond as drawn, more of the look's texture is kept: finer than 4 px, up to twice the photo's own there
        # (on the 20 DPST pairs with hand masks the automatic masks' 1-px grain costs 0.16 of gram against the
        # unrefitted result, this 0.04; both keep more of the photo's structure than no refit). With automatic
        # masks the same, feathered, in the regions that take texture from their partner (``textured_weight``):
        # on 10 DPST pairs gram 7.79 -> 7.76, color_swd 4.41 -> 4.33 against the 1-px grain everywhere
        if pairs.drawn:
            result = photographic(prev_photo, result, s.affine_radius, s.affine_eps, s.drawn_detail, s.drawn_grain)
        else:
            result = photographic(
                prev_photo,
                result,
                s.affine_radius,
                s.affine_eps,
                s.affine_detail,
                s.affine_grain,
                textured=textured_weight(pairs.resized(prev_photo.shape[:2], pairs.reference.shape[:2]), prev_photo),
                textured_detail=s.drawn_detail,
                textured_grain=s.drawn_grain,
            )
        # and with automatic masks, where it still is not a photograph, the closed-form look (photostyle.engine.guard);
        # the user's masks (no confidence) are trusted as drawn, as by the confidence rule
        if s.guard and pairs.confidence:
            # the preview's look: the colour map with the preview's own feathering along the photo's edges (not
            # the optimiser's sharp start), refitted as local affine maps of the photo as the preview's upsampling
            # does (a map's gain would otherwise lift the photo's noise in flat areas with it)
            guide = region_colour_transfer(prev_photo, r, pairs)
            guide = apply_affine(fit_affine(prev_photo, guide, s.upsample_radius, s.upsample_eps), prev_photo)
            result, self.kept = keep_photograph(
                prev_photo, guide, result, regions=photo_region_masks(pairs, prev_photo)
            )
        return prev_photo, result
