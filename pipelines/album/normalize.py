"""``--normalize``: the shoot's exposure and white-balance statistics, computed once in planning.

One pass over the photos at NORMALIZE_SIZE px: each photo cut into superpixels, each superpixel described by what it
shows and not where it is (VGG-19 relu3_1 features of a grey-world balanced copy, averaged with those of its mirror
image, so a drifted, cropped or mirrored photo of the scene describes its regions alike), and its linear-light
statistics taken (``photostyle.imaging.exposure``: regions matched across photos, robust medians, clipped pixels
left out). Each photo's correction travels in its task to the worker, which applies it before the look, and into
the manifest, where it is part of what makes an output up to date.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from photostyle import imageio
from photostyle.errors import PhotostyleError
from photostyle.imaging.colourspaces import linear_to_srgb, srgb_to_linear
from photostyle.imaging.exposure import CLIP, MODES, Correction, Mode, RegionStats, region_stats, shoot_corrections
from photostyle.imaging.resize import resize_longest

NORMALIZE_SIZE = 192  # px, longest side, of the statistics pass
DESCRIBE_SIZE = 128  # px, longest side, of the image VGG-19 describes the superpixels in
SEGMENTS = 160  # superpixels a photo is cut into
LAYERS = ("conv3_1",)  # VGG-19 layers describing a superpixel (a texture and part-of-object level)

__all__ = ["MODES", "NORMALIZE_SIZE", "correction_of", "describe_regions", "normalise_shoot"]


def _balanced(small: np.ndarray) -> np.ndarray:
    """SMALL with its exposure and white balance set by the median of its unclipped pixels (grey world, in linear
    light): the copy the regions are found and described in, so a drift changes their descriptors little."""
    lin = srgb_to_linear(np.asarray(small, np.float64))
    ok = lin.max(axis=2) < CLIP
    px = lin[ok] if ok.sum() >= 64 else lin.reshape(-1, 3)
    scale = 0.18 / np.maximum(np.median(px, axis=0), 1e-4)
    return np.clip(linear_to_srgb(np.minimum(lin * scale, 1.0)), 0.0, 1.0).astype(np.float32)


def _deep(img: np.ndarray, labels: np.ndarray, vgg_weights: str | None) -> np.ndarray:
    """(n, C) mean of the L2-normalised VGG-19 features over each superpixel of LABELS, the image and its mirror
    image averaged (a mirrored photo of the scene gets the same descriptors)."""
    import torch
    import torch.nn.functional as F

    from photostyle.runtime import use_bf16
    from photostyle.vgg import load_vgg

    vgg = load_vgg(vgg_weights)
    small = resize_longest(img, DESCRIBE_SIZE)
    x = torch.from_numpy(np.ascontiguousarray(small, np.float32)).permute(2, 0, 1)[None]
    x = torch.cat([x, torch.flip(x, dims=[3])])
    with torch.no_grad():
        f = vgg(x, list(LAYERS), bf16=use_bf16("auto", torch.device("cpu")))
    h, w = labels.shape
    n = int(labels.max()) + 1
    parts = []
    for name in LAYERS:
        feat = F.normalize(f[name], dim=1)
        feat = 0.5 * (feat[0] + torch.flip(feat[1], dims=[2]))  # (C, fh, fw)
        fh, fw = feat.shape[1:]
        cy = np.minimum((np.arange(h) * fh) // h, fh - 1)
        cx = np.minimum((np.arange(w) * fw) // w, fw - 1)
        cell = (cy[:, None] * fw + cx[None, :]).ravel()
        overlap = np.bincount(labels.ravel() * (fh * fw) + cell, minlength=n * fh * fw).reshape(n, fh * fw)
        overlap = overlap / np.maximum(overlap.sum(1, keepdims=True), 1)
        parts.append(overlap @ feat.reshape(feat.shape[0], -1).T.double().numpy())
    return np.concatenate(parts, 1)


def describe_regions(srgb: np.ndarray, *, vgg_weights: str | None = None) -> RegionStats:
    """The regions of a photo (float sRGB (H, W, 3) in [0, 1], any size) as the normalisation compares them."""
    from skimage.segmentation import slic

    small = resize_longest(np.asarray(srgb, np.float32), NORMALIZE_SIZE)
    balanced = _balanced(small)
    labels = slic(balanced, n_segments=SEGMENTS, compactness=10.0, start_label=0)
    labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)  # ids 0..n-1 without gaps
    return region_stats(small, labels, _deep(balanced, labels, vgg_weights))


def _stats(path: Path, vgg_weights: str | None) -> RegionStats | None:
    try:
        return describe_regions(imageio.read_image(path, role="photo").pixels, vgg_weights=vgg_weights)
    except (PhotostyleError, OSError, ValueError):  # a photo that cannot be read fails in its worker, with its error
        return None


def normalise_shoot(photos: Sequence[Path], mode: Mode, *, vgg_weights: str | None = None) -> list[dict[str, Any]]:
    """Each photo's correction, as the manifest records it: {"mode", "ev", "wb": [r, g, b], "matched", "regions",
    "highlights": [r, g, b] or None}; "matched" 0 is a photo left as shot (no other photo shows its scene)."""
    corrections = shoot_corrections([_stats(p, vgg_weights) for p in photos], mode)
    return [{"mode": mode, **c.to_dict()} for c in corrections]


def correction_of(record: dict[str, Any]) -> Correction:
    """The Correction a manifest/task record describes."""
    r, g, b = (float(x) for x in record["wb"])
    high = record.get("highlights")
    hr, hg, hb = (float(x) for x in high) if high else (1.0, 1.0, 1.0)
    return Correction(
        float(record["ev"]),
        (r, g, b),
        int(record.get("matched", 0)),
        int(record.get("regions", 0)),
        (hr, hg, hb) if high else None,
    )
