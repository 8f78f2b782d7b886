"""The closed-form per-region colour transfer (photostyle/colour.py) on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color

from photostyle.engine.colour import MAX_GAIN, ChromaLimit, affine_map, region_colour_transfer, region_weights
from photostyle.regions.labels import RegionPairs, whole_image


def _lab_rows(img: np.ndarray) -> np.ndarray:
    return color.rgb2lab(img).reshape(-1, 3).astype(np.float64)


@pytest.mark.parametrize("method", ["luma_first", "mean_cov"])
def test_maps_carry_mean_and_covariance(cat: np.ndarray, rocket: np.ndarray, method: str) -> None:
    src, dst = _lab_rows(cat), _lab_rows(rocket)
    a, b = affine_map(src, dst, method, max_gain=None)
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


def test_gain_is_limited(rocket: np.ndarray, coffee: np.ndarray) -> None:
    """A flat photo region (the rocket's overcast sky) given a busy reference's spread: without the limit its faint
    gradients are blown up many times (blotches); with it, no direction of the map gains more than MAX_GAIN."""
    sky = _lab_rows(rocket[: rocket.shape[0] // 5])
    free, _ = affine_map(sky, _lab_rows(coffee), "luma_first", max_gain=None)
    capped, _ = affine_map(sky, _lab_rows(coffee), "luma_first")
    assert free[0, 0] > MAX_GAIN * 1.5
    assert capped[0, 0] <= MAX_GAIN + 1e-9
    assert np.linalg.svd(capped[1:, 1:], compute_uv=False).max() <= MAX_GAIN + 1e-9


def _excess_chroma(out: np.ndarray, reference: np.ndarray) -> float:
    """Share of output pixels with over 5 units more chroma than the reference has at their lightness and hue."""
    lab = color.rgb2lab(out).reshape(-1, 3)
    limit = ChromaLimit(color.rgb2lab(reference)).limit(lab)
    return float((np.hypot(lab[:, 1], lab[:, 2]) - limit > 5.0).mean())


@pytest.mark.parametrize("photo_name,ref_name", [("cat", "rocket"), ("coffee", "cat")])
def test_no_colour_the_reference_lacks(photo_name: str, ref_name: str, request: pytest.FixtureRequest) -> None:
    """The affine map extrapolates where the photo has tones the reference lacks (the cat's yellow irises become
    the rocket sky's blue, and more); confined, every pixel stays within the reference's chroma at its lightness
    and hue."""
    photo, ref = request.getfixturevalue(photo_name), request.getfixturevalue(ref_name)
    pairs = whole_image(photo.shape[:2], ref.shape[:2])
    assert _excess_chroma(region_colour_transfer(photo, ref, pairs, confine=False), ref) > 0.03
    assert _excess_chroma(region_colour_transfer(photo, ref, pairs), ref) < 0.005


def _halves(img: np.ndarray) -> np.ndarray:
    labels = np.zeros(img.shape[:2], np.int32)
    labels[:, img.shape[1] // 2 :] = 1
    return labels


def test_colour_comes_from_the_partner_unless_nothing_corresponds(cat: np.ndarray, rocket: np.ndarray) -> None:
    """The correspondence rule for colour: every region takes its partner's map, however low its confidence (its
    texture is what the confidence decides, in best quality); when the photo's regions do not correspond at all
    (a low match confidence), the whole photo gets the one global look."""
    ref_labels = np.zeros(rocket.shape[:2], np.int32)
    ref_labels[: rocket.shape[0] // 2] = 1
    photo_labels = _halves(cat)
    glob = region_colour_transfer(cat, rocket, whole_image(cat.shape[:2], rocket.shape[:2]), soft_sigma=0.0)
    trusted = RegionPairs(photo_labels, ref_labels, {0: 0, 1: 1})
    own = region_colour_transfer(cat, rocket, trusted, soft_sigma=0.0)
    right = photo_labels == 1
    assert np.abs(own[right] - glob[right]).mean() > 0.02  # the two looks differ in region 1
    mixed = RegionPairs(photo_labels, ref_labels, {0: 0, 1: 1}, {0: 0.9, 1: 0.2}, 0.7)
    np.testing.assert_allclose(region_colour_transfer(cat, rocket, mixed, soft_sigma=0.0), own, atol=1e-6)
    unrelated = RegionPairs(photo_labels, ref_labels, {0: 0, 1: 1}, {0: 0.9, 1: 0.9}, 0.4)
    np.testing.assert_allclose(region_colour_transfer(cat, rocket, unrelated), region_colour_transfer(
        cat, rocket, whole_image(cat.shape[:2], rocket.shape[:2])), atol=1e-6)  # fmt: skip


def test_region_borders_follow_the_photos_edges(cat: np.ndarray, coffee: np.ndarray) -> None:
    """Two photos side by side make an edge; the regions' border is drawn 6 px off it, inside the right photo.
    Feathered along the photo's edges, the right region's map leaks across the edge into the left photo half as
    far as a plain blur of the same width lets it (the halo a skyline gets), and stays about as soft inside."""
    h = min(cat.shape[0], coffee.shape[0])
    photo = np.concatenate([cat[:h], coffee[:h]], 1)
    seam = cat.shape[1]
    labels = np.zeros(photo.shape[:2], np.int32)
    labels[:, seam + 6 :] = 1
    edges = region_weights(labels, [0, 1], photo, 16.0, "edges")[1]
    blur = region_weights(labels, [0, 1], photo, 16.0, "gaussian")[1]
    for band in (slice(seam - 6, seam), slice(seam - 12, seam - 6)):  # the left photo, across the edge
        assert edges[:, band].mean() < 0.55 * blur[:, band].mean()
    assert edges[:, seam : seam + 6].mean() >= blur[:, seam : seam + 6].mean() - 0.02


def test_a_look_beyond_srgb_is_clipped_and_the_library_says_nothing() -> None:
    # the rocket styled with the astronaut's orange suit at 160 px: the colour map reaches CIELAB colours beyond
    # sRGB (a negative XYZ Z), which scikit-image's lab2rgb clips with a UserWarning. The clipping is meant; the
    # warning reached every caller of the library (the CLI printed it, the service filtered it out itself).
    import warnings

    from photostyle import Settings, transfer

    from ..conftest import small

    photo, ref = small("rocket.jpg", 160), small("astronaut.png", 160)
    res_lab = color.rgb2lab(photo).reshape(-1, 3).astype(np.float64)
    a, b = affine_map(res_lab, color.rgb2lab(ref).reshape(-1, 3).astype(np.float64), "luma_first", max_gain=None)
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        color.lab2rgb((res_lab @ a.T + b).reshape(photo.shape))
    assert any("CIE-LAB" in str(w.message) for w in raw)  # the pair does reach beyond sRGB
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = transfer(photo, ref, settings=Settings.preset("preview"))
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]
    assert res.image.min() >= 0.0 and res.image.max() <= 1.0
