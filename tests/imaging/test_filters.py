"""Box means and the guided filter: the two box means and the two guided filters agree with each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from photostyle.engine.upsample import apply_affine
from photostyle.imageio import read_image
from photostyle.imaging.filters import (
    GuidedFilter,
    box_mean,
    box_mean_array,
    fit_affine,
    guided_filter,
    kept_guided_filter,
    local_spread,
)
from photostyle.imaging.resize import resize_longest

from ..conftest import SAMPLES


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return resize_longest(read_image(SAMPLES / "chelsea.png").pixels, 96)


def test_box_means_agree_away_from_the_border(photo: np.ndarray) -> None:
    r = 3
    t = box_mean(torch.from_numpy(photo).permute(2, 0, 1)[None], r)[0].permute(1, 2, 0).numpy()
    a = box_mean_array(photo.astype(np.float64), r)
    inner = (slice(r, -r), slice(r, -r))
    np.testing.assert_allclose(t[inner], a[inner], atol=1e-5)
    # and each is the mean of its window
    y, x = 40, 50
    np.testing.assert_allclose(a[y, x], photo[y - r : y + r + 1, x - r : x + r + 1].mean((0, 1)), atol=1e-6)


def test_the_two_guided_filters_agree(photo: np.ndarray) -> None:
    """fit_affine's maps applied to the guide are the colour guided filter of the target (same regression)."""
    target = np.clip(photo[..., ::-1] * 0.8 + 0.1, 0, 1).astype(np.float32)  # a colour change of the photo
    r, eps = 2, 1e-4
    via_maps = apply_affine(fit_affine(photo, target, r, eps), photo)
    direct = GuidedFilter(photo, r, eps)(target)
    inner = (slice(2 * r, -2 * r), slice(2 * r, -2 * r))
    assert np.abs(via_maps[inner] - direct[inner]).mean() < 2e-3


def test_guided_filter_keeps_constants_and_follows_edges(photo: np.ndarray) -> None:
    flat = guided_filter(photo, np.full(photo.shape[:2], 0.3), 4)
    np.testing.assert_allclose(flat, 0.3, atol=1e-6)
    step = np.zeros(photo.shape[:2])
    step[:, photo.shape[1] // 2 :] = 1
    smooth = guided_filter(photo, step, 4)
    assert smooth.shape == step.shape and 0.3 < smooth.mean() < 0.7


def test_the_guide_s_inverse_covariances_are_lapack_s(photo: np.ndarray) -> None:
    """The closed-form 3x3 inverses the colour guided filter uses equal LAPACK's on a real photo's window
    covariances (regularised as the filter does), and the filter's float32 output is a float64 filter's with
    LAPACK's inverses to rounding."""
    from photostyle.imaging import filters

    gf = GuidedFilter(photo, 4, 1e-3)
    g = photo.astype(np.float64)
    g -= g.reshape(-1, 3).mean(0)  # the filter centres its guide
    mean = box_mean_array(g, 4)
    cov = np.einsum("hwi,hwj->hwij", g, g)  # any symmetric stack; here the window statistics, as the filter has
    cov = box_mean_array(cov.reshape(g.shape[:2] + (9,)), 4).reshape(cov.shape)
    cov -= np.einsum("hwi,hwj->hwij", mean, mean)
    m = cov + 1e-3 * np.eye(3)
    inv = np.linalg.inv(m)
    np.testing.assert_allclose(filters._inverse(m), inv, rtol=1e-9, atol=1e-9)
    assert gf.inv.dtype == np.float32
    np.testing.assert_allclose(gf.inv, inv, rtol=1e-3, atol=1e-3 * np.abs(inv).max())
    # the whole filter, in float64 with LAPACK's inverses, on a soft step
    src = np.zeros(photo.shape[:2] + (1,))
    src[:, photo.shape[1] // 3 :] = 1.0
    mp = box_mean_array(src, 4)
    cross = box_mean_array(g * src, 4) - mean * mp  # (H, W, 3): one source channel
    a = np.einsum("hwij,hwj->hwi", inv, cross)
    b = mp[..., 0] - np.einsum("hwi,hwi->hw", mean, a)
    want = np.einsum("hwi,hwi->hw", g, box_mean_array(a, 4)) + box_mean_array(b, 4)
    got = gf(src[..., 0])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    grey = np.eye(2) * 2.0 + 0.5  # other sizes (grey guides) go to LAPACK
    np.testing.assert_allclose(filters._inverse(grey[None]), np.linalg.inv(grey[None]))


def test_a_kept_guided_filter_is_found_by_the_guide_s_pixels(photo: np.ndarray) -> None:
    """The same pixels (another array) find the filter kept for them; other pixels, radius or eps get their own,
    and every one filters as a fresh GuidedFilter does."""
    gf = kept_guided_filter(photo, 3)
    assert kept_guided_filter(photo.copy(), 3) is gf
    flipped = photo[::-1].copy()
    others = [kept_guided_filter(flipped, 3), kept_guided_filter(photo, 2), kept_guided_filter(photo, 3, 1e-2)]
    assert all(o is not gf for o in others)
    step = np.zeros(photo.shape[:2], np.float32)
    step[:, photo.shape[1] // 2 :] = 1
    np.testing.assert_array_equal(gf(step), GuidedFilter(photo, 3)(step))
    np.testing.assert_array_equal(others[0](step), GuidedFilter(photo[::-1], 3)(step))


def test_the_fast_guided_filter_stays_close_to_the_exact_one() -> None:
    """SUBSAMPLE 2 (He and Sun's fast guided filter: the maps fitted on the guide shrunk 2x, applied to the full
    guide) on a real photo's soft step: close to the exact filter, edges from the full-size guide (sharper than
    the exact filter run on the shrunk image and enlarged), and a kept filter keeps its subsample apart."""
    photo = resize_longest(read_image(SAMPLES / "coffee.png").pixels, 400)
    step = (photo.mean(-1) > 0.5).astype(np.float32)  # a mask that follows the photo's own edges
    exact = GuidedFilter(photo, 8, 1e-3)(step)
    fast_gf = GuidedFilter(photo, 8, 1e-3, subsample=2)
    fast = fast_gf(step)
    assert fast.shape == exact.shape and fast.dtype == np.float32
    assert fast_gf.inv.shape[:2] == (-(-photo.shape[0] // 2), -(-photo.shape[1] // 2)) and fast_gf.r == 4
    err = np.abs(fast - exact)
    assert err.mean() < 0.01 and ((fast > 0.5) == (exact > 0.5)).mean() > 0.99, (err.mean(), err.max())
    small = resize_longest(photo, 200)
    enlarged = F.interpolate(
        torch.from_numpy(GuidedFilter(small, 4, 1e-3)(resize_longest(step[..., None], 200)[..., 0]))[None, None],
        size=photo.shape[:2],
        mode="bilinear",
    )[0, 0].numpy()
    assert err.mean() < 0.5 * np.abs(enlarged - exact).mean()
    assert GuidedFilter(photo, 3, 1e-3, subsample=2).s == 1  # windows of radius 1.5 px: the exact filter
    assert kept_guided_filter(photo, 8, 1e-3, 2) is not kept_guided_filter(photo, 8, 1e-3)
    np.testing.assert_array_equal(kept_guided_filter(photo, 8, 1e-3, 2)(step), fast)


def test_the_local_spread_is_a_windowed_standard_deviation_and_a_weight_leaves_pixels_out(photo: np.ndarray) -> None:
    """Unweighted, a Gaussian-windowed standard deviation (checked against the weighted sum at one pixel); with a
    weight of 0 beyond a step, the step's other side does not count: a flat side next to an edge reads as flat."""
    from scipy import ndimage

    g = photo.mean(-1).astype(np.float64)
    spread = local_spread(g, 2.0)
    y, x = g.shape[0] // 2, g.shape[1] // 2
    impulse = np.zeros_like(g)
    impulse[y, x] = 1.0
    w = ndimage.gaussian_filter(impulse, 2.0)  # the window around (y, x), as the filter weighs it
    mu = (w * g).sum() / w.sum()
    assert spread[y, x] == pytest.approx(np.sqrt((w * (g - mu) ** 2).sum() / w.sum()), rel=1e-6)

    step = np.zeros((40, 40))
    step[:, 20:] = 1.0
    assert local_spread(step, 3.0)[:, 18].min() > 0.3  # the edge is seen from 2 px away
    left = (np.arange(40) < 20).astype(float)[None, :].repeat(40, 0)
    assert local_spread(step, 3.0, left)[:, :20].max() < 1e-6  # not when the other side weighs nothing
