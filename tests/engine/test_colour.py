"""The closed-form per-region colour transfer (photostyle/colour.py) on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color

from photostyle.engine.colour import affine_map, region_colour_transfer
from photostyle.regions.labels import RegionPairs, whole_image


def _lab_rows(img: np.ndarray) -> np.ndarray:
    return color.rgb2lab(img).reshape(-1, 3).astype(np.float64)


@pytest.mark.parametrize("method", ["luma_first", "mean_cov"])
def test_maps_carry_mean_and_covariance(cat: np.ndarray, rocket: np.ndarray, method: str) -> None:
    src, dst = _lab_rows(cat), _lab_rows(rocket)
    a, b = affine_map(src, dst, method)
    out = src @ a.T + b
    np.testing.assert_allclose(out.mean(0), dst.mean(0), atol=1e-6)
    # the maps are fitted with 1e-3 added to both covariances
    np.testing.assert_allclose(np.cov(out.T) + 1e-3 * a @ a.T, np.cov(dst.T) + 1e-3 * np.eye(3), rtol=1e-6, atol=1e-6)


def test_luma_first_takes_lightness_from_lightness_alone(cat: np.ndarray, rocket: np.ndarray) -> None:
    a, _ = affine_map(_lab_rows(cat), _lab_rows(rocket), "luma_first")
    assert a[0, 1] == 0.0 and a[0, 2] == 0.0 and a[0, 0] > 0
    full, _ = affine_map(_lab_rows(cat), _lab_rows(rocket), "mean_cov")
    assert abs(full[0, 1]) + abs(full[0, 2]) > 1e-3  # the symmetric map mixes chroma into lightness on this pair


def test_transfer_keeps_the_photos_lightness_order(cat: np.ndarray, coffee: np.ndarray) -> None:
    pairs = whole_image(cat.shape[:2], coffee.shape[:2])
    lp = color.rgb2lab(cat)[..., 0].ravel()

    def lightness_corr(method: str) -> float:
        lo = color.rgb2lab(region_colour_transfer(cat, coffee, pairs, method=method))[..., 0].ravel()
        return float(np.corrcoef(lo, lp)[0, 1])

    # only the sRGB gamut clipping bends lightness under luma_first; mean_cov also mixes the cat's chroma into it
    assert lightness_corr("luma_first") > 0.98
    assert lightness_corr("luma_first") > lightness_corr("mean_cov") + 0.005


def test_regions_take_their_partners_colours(cat: np.ndarray, rocket: np.ndarray) -> None:
    h, w = cat.shape[:2]
    rh, rw = rocket.shape[:2]
    photo_labels = np.zeros((h, w), np.int32)
    photo_labels[:, w // 2 :] = 1
    ref_labels = np.zeros((rh, rw), np.int32)
    ref_labels[: rh // 2] = 1  # the rocket's upper half (sky) for the cat's right half
    out = region_colour_transfer(cat, rocket, RegionPairs(photo_labels, ref_labels, {0: 0, 1: 1}), soft_sigma=0.0)
    lab, rlab = color.rgb2lab(out), color.rgb2lab(rocket)
    for k in (0, 1):
        got = lab[photo_labels == k].mean(0)
        want = rlab[ref_labels == k].mean(0)
        assert np.abs(got - want).max() < 4.0, (k, got, want)


def test_unknown_method_is_refused(cat: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown colour transfer method"):
        affine_map(_lab_rows(cat), _lab_rows(cat), "nope")
