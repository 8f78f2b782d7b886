"""CIELAB in float32 (the full-size grain pass) against scikit-image's, on a real photo and on every corner of
CIELAB, out-of-gamut colours included."""

from __future__ import annotations

import warnings

import numpy as np
from skimage.color import lab2rgb, rgb2lab

from photostyle.imageio import read_image
from photostyle.imaging.colourspaces import lab_to_rgb, lab_to_srgb, rgb_to_lab

from ..conftest import SAMPLES


def test_rgb_to_lab_is_scikit_images() -> None:
    photo = read_image(SAMPLES / "coffee.png").pixels
    ours = rgb_to_lab(photo)
    assert ours.dtype == np.float32 and ours.shape == photo.shape
    assert np.abs(ours - rgb2lab(photo)).max() < 2e-3  # CIELAB units: L runs 0-100
    ramp = np.linspace(0, 1, 256, dtype=np.float32)[:, None, None] * np.ones((1, 1, 3), np.float32)
    assert np.abs(rgb_to_lab(ramp) - rgb2lab(ramp)).max() < 2e-3  # the darkest greys: the linear parts


def test_lab_to_rgb_is_scikit_images_and_clips() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    lab = np.stack([rng.uniform(0, 100, n), rng.uniform(-128, 127, n), rng.uniform(-128, 127, n)], -1)
    lab = lab.reshape(100, 200, 3).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scikit-image warns about the negative Z it clips
        theirs = np.clip(lab2rgb(lab), 0, 1)
    ours = lab_to_rgb(lab)
    assert ours.dtype == np.float32 and ours.min() >= 0.0 and ours.max() <= 1.0
    assert np.abs(ours - theirs).max() < 1e-4
    assert (theirs == 0).mean() > 0.1 and (theirs == 1).mean() > 0.1  # out-of-gamut colours were tried


def test_round_trip() -> None:
    photo = read_image(SAMPLES / "chelsea.png").pixels
    assert np.abs(lab_to_rgb(rgb_to_lab(photo)) - photo).max() < 1e-5


def test_lab_to_srgb_clips_beyond_srgb_quietly() -> None:
    # a saturated yellow past sRGB's gamut (b* 200 at L* 90: XYZ's Z below 0) and two colours inside it
    lab = np.array([[90.0, 0.0, 200.0], [50.0, 20.0, -30.0], [100.0, 0.0, 0.0]])
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        theirs = np.clip(lab2rgb(lab), 0.0, 1.0)
    assert any("CIE-LAB" in str(w.message) for w in raw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = lab_to_srgb(lab)
    assert not caught
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == np.float64 and ours.min() >= 0.0 and ours.max() <= 1.0
