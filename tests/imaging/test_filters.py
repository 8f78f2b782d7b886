"""Box means and the guided filter: the two box means and the two guided filters agree with each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from photostyle.engine.upsample import apply_affine
from photostyle.imageio import read_image
from photostyle.imaging.filters import GuidedFilter, box_mean, box_mean_array, fit_affine, guided_filter
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
    covariances (regularised as the filter does), and the filter's output is LAPACK's to rounding."""
    from photostyle.imaging import filters

    gf = GuidedFilter(photo, 4, 1e-3)
    g = photo.astype(np.float64)
    cov = np.einsum("hwi,hwj->hwij", g, g)  # any symmetric stack; here the window statistics, as the filter has
    cov = box_mean_array(cov.reshape(g.shape[:2] + (9,)), 4).reshape(cov.shape)
    cov -= np.einsum("hwi,hwj->hwij", gf.mean, gf.mean)
    m = cov + 1e-3 * np.eye(3)
    np.testing.assert_allclose(filters._inverse(m), np.linalg.inv(m), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gf.inv, np.linalg.inv(m), rtol=1e-9, atol=1e-9)
    grey = np.eye(2) * 2.0 + 0.5  # other sizes (grey guides) go to LAPACK
    np.testing.assert_allclose(filters._inverse(grey[None]), np.linalg.inv(grey[None]))
