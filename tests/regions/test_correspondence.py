"""Superpixel correspondence (photostyle/regions/correspondence.py) and the colour shift it drives
(engine.colour.follow_correspondence), on real photos."""

from __future__ import annotations

import numpy as np
from skimage import color

from photostyle.engine.colour import region_colour_transfer
from photostyle.regions.correspondence import superpixel_correspondence
from photostyle.regions.labels import whole_image
from tests.conftest import small


def test_a_photo_finds_itself() -> None:
    cat = small("chelsea.png", 160)
    corr = superpixel_correspondence(cat, cat)
    n = int(corr.photo_sp.max()) + 1
    assert corr.index.shape[0] == n and corr.weight.shape == corr.index.shape
    np.testing.assert_allclose(corr.weight.sum(1), 1.0, atol=1e-9)
    assert (np.diff(corr.weight, axis=1) <= 1e-12).all()  # best first
    assert (corr.index[:, 0] == np.arange(n)).mean() > 0.95


def test_each_part_takes_its_counterparts_colour() -> None:
    """A reference whose upper half is graded blue and lower half red: one region (a global map) gives both halves
    of the photo the same shift; the correspondence sends each half toward its own counterpart's colour."""
    cat = small("chelsea.png", 160)
    h = cat.shape[0]
    ref = cat.copy()
    ref[: h // 2] = np.clip(ref[: h // 2] * np.array([0.7, 0.85, 1.2], np.float32), 0, 1)
    ref[h // 2 :] = np.clip(ref[h // 2 :] * np.array([1.2, 0.85, 0.7], np.float32), 0, 1)
    pairs = whole_image(cat.shape[:2], ref.shape[:2])
    pairs.correspondence = superpixel_correspondence(cat, ref)

    def split(img: np.ndarray) -> float:  # b* (yellow-blue) of the lower half minus the upper's
        b = color.rgb2lab(img)[..., 2]
        return float(b[h // 2 + h // 8 :].mean() - b[: h // 2 - h // 8].mean())

    plain = split(region_colour_transfer(cat, ref, pairs, follow=False))
    followed = split(region_colour_transfer(cat, ref, pairs))
    wanted = split(ref)
    assert abs(plain - split(cat)) < 3.0  # the global map shifts both halves alike
    assert followed > plain + 0.7 * (wanted - plain), (plain, followed, wanted)
