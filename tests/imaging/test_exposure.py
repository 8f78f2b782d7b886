"""``photostyle.imaging.exposure`` without the album's descriptors: the reframing found from noisy region matches and
the drift measured through it, the highlight bend."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.segmentation import slic

from photostyle.imaging.colourspaces import linear_to_srgb, srgb_to_linear
from photostyle.imaging.exposure import (
    KNEE,
    Correction,
    apply_correction,
    drift,
    fit_reframing,
    match_regions,
    pair_offset,
    region_stats,
)
from tests.conftest import small


def _labels(img: np.ndarray) -> np.ndarray:
    labels = slic(img, n_segments=120, compactness=10.0, start_label=0)
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


def test_a_mirrored_crop_is_found_and_measured() -> None:
    """Regions of a scene and of a mirrored crop of it, drifted, with descriptors that say which region shows what
    (noisy, a quarter of them wrong: what a descriptor matcher gives): the reframing is found to the pixel and the
    drift measured."""
    scene = small("coffee.png", 192)
    h, w = scene.shape[:2]
    y0, x0 = h // 5, w // 4
    crop = drift(scene[y0:, x0:][:, ::-1], 0.4, (0.92, 1.0, 1.1))
    la, lb = _labels(scene), _labels(crop)
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(int(la.max()) + 1, 32))
    a = region_stats(scene, la, codes)
    # each region of the crop described as the scene's region under its centre (a pixel (y, x) of the scene is at
    # (y - y0, w - 1 - x) in the mirrored crop), a quarter of them as a random region
    probe = region_stats(crop, lb, np.zeros((int(lb.max()) + 1, 1)))
    cy, cx = np.rint(probe.pos[:, 0]).astype(int) + y0, w - 1 - np.rint(probe.pos[:, 1]).astype(int)
    source = la[np.clip(cy, 0, h - 1), np.clip(cx, 0, w - 1)]
    wrong = rng.random(len(source)) < 0.25
    source[wrong] = rng.integers(0, len(codes), wrong.sum())
    b = region_stats(crop, lb, codes[source] + 0.1 * rng.normal(size=(len(source), 32)))
    ia, ib = match_regions(a, b)
    fit = fit_reframing(a, b, ia, ib)
    assert fit is not None
    m, inliers = fit
    assert m == pytest.approx(np.array([[1.0, 0.0, -y0], [0.0, -1.0, w - 1]]), abs=0.5)
    assert inliers >= 8
    off = pair_offset(a, b)
    assert off is not None
    assert off.ev == pytest.approx(0.4 + np.log2(0.92 * 0.2126 + 0.7152 + 1.1 * 0.0722), abs=0.03)
    assert off.wb == pytest.approx([np.log(0.92), np.log(1.1)], abs=0.02)
    # the same regions with their descriptors shuffled (no region matched with what it shows): no reframing
    c = region_stats(crop, lb, codes[rng.permutation(source)])
    assert pair_offset(a, c) is None


def test_highlight_level_bends_only_the_top() -> None:
    ramp = np.linspace(0.0, 1.0, 4096, dtype=np.float32)
    img = np.stack([ramp] * 3, -1)[None]
    plain = Correction(-0.6, (1.0, 1.0, 1.0), 1, 20)
    bent = Correction(-0.6, (1.0, 1.0, 1.0), 1, 20, (0.95, 0.9, 0.66))
    p, q = apply_correction(img, plain)[0], apply_correction(img, bent)[0]
    below = srgb_to_linear(ramp) < KNEE
    assert np.array_equal(p[below], q[below])  # below the knee: the plain gain
    top = [float(linear_to_srgb(np.array(v))) for v in (0.95, 0.9)]
    assert q[-1] == pytest.approx([*top, p[-1, 2]], abs=2e-3)  # white comes out at the level
    assert np.all(np.diff(q, axis=0) >= 0)  # still monotonic
    assert q[-1, 0] > p[-1, 0] + 0.1  # clipped white is not pushed into grey
