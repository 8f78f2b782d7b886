"""Superpixel correspondence: for each superpixel of the photo, the reference superpixels most like it.

The automatic regions are coarse (a handful per image) and their borders need not follow the semantic parts a
person would pair (on the DPST pairs one automatic region often holds two hand-drawn ones). Below the regions,
each photo superpixel is paired with the K reference superpixels whose VGG-19 features (relu3_1 and relu4_1,
centred per image, cosine) are most alike at a similar height, softly weighted. The preview's colour maps then
move each part of the photo toward the colours of its own counterparts (``engine.colour``), by a shift that is
smoothed along the photo's edges: a local colour transform, never the reference's shapes. It is made of the
descriptors the segmenter already computed (``features.describe``, cached), and holds indices, not colours: the
colours are read from the reference the transfer is given (which the colour controls may have changed).
"""

from __future__ import annotations

import numpy as np

from photostyle.regions.features import _Described, describe
from photostyle.regions.labels import Correspondence
from photostyle.regions.segmentation import PathLike

NEIGHBOURS = 10  # reference superpixels each photo superpixel takes its colour from
TEMPERATURE = 0.05  # softmax temperature on the cosine similarity (a 0.05 lower cosine: e^-1 the weight)
HEIGHT_PENALTY = 2.0  # subtracted from the cosine per squared difference of height (image heights)


def _centred(d: _Described) -> np.ndarray:
    m = (d.deep * d.weight[:, None]).sum(0) / d.weight.sum()
    x = d.deep - m
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def match(dp: _Described, dr: _Described) -> Correspondence:
    """The soft nearest reference superpixels of each photo superpixel of DP in DR."""
    sim = _centred(dp) @ _centred(dr).T - HEIGHT_PENALTY * (dp.pos[:, None, 0] - dr.pos[None, :, 0]) ** 2
    k = min(NEIGHBOURS, sim.shape[1])
    index = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(sim, index, 1)
    weight = np.exp((best - best[:, :1]) / TEMPERATURE)
    weight /= weight.sum(1, keepdims=True)
    return Correspondence(dp.sp, dr.sp, index, weight)


def superpixel_correspondence(
    photo: np.ndarray, reference: np.ndarray, *, vgg_weights: PathLike | None = None
) -> Correspondence:
    """``match`` of PHOTO's and REFERENCE's superpixels (float RGB at the size the segmenter described them,
    ``SNAP_SIZE``: the descriptors are then cached)."""
    return match(describe(photo, vgg_weights), describe(reference, vgg_weights))
