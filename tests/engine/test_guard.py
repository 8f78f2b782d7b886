"""Best's last check: the closed-form look takes over where the result stops being a photograph of the photo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from photostyle.engine.guard import best_share, keep_photograph, local_correlation
from photostyle.imaging.colourspaces import luminance
from photostyle.settings import Settings, SettingsError

from ..conftest import small


def _looks(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The closed-form look (a warm colour map) and best's own (a slightly cooler, more contrasted one)."""
    guide = np.clip(photo * np.array([0.9, 0.8, 0.7], np.float32) + 0.06, 0, 1)
    best = np.clip((photo - 0.5) * 1.1 + 0.5, 0, 1) * np.array([0.88, 0.8, 0.76], np.float32) + 0.05
    return guide.astype(np.float32), np.clip(best, 0, 1).astype(np.float32)


def test_a_colour_map_of_the_photo_is_kept() -> None:
    photo = small("coffee.png", 200)
    guide, best = _looks(photo)
    out, kept = keep_photograph(photo, guide, best)
    assert kept > 0.97
    textured = ndimage.binary_erosion(ndimage.generic_filter(luminance(photo), np.std, 5) > 0.03, iterations=3)
    assert np.abs(out - best)[textured].mean() < 0.01  # best's own look where the photo has detail
    same, kept_same = keep_photograph(photo, guide, guide)
    assert np.abs(same - guide).max() < 1e-5 and kept_same > 0.99


def test_a_blotch_gives_way_to_the_closed_form_look() -> None:
    """A dark blotch the photo does not have (a night sky's shape on a wall): the guide there, best elsewhere."""
    photo = small("coffee.png", 200)
    guide, best = _looks(photo)
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-(((yy - h * 0.4) / (h * 0.12)) ** 2 + ((xx - w * 0.3) / (w * 0.1)) ** 2))[..., None]
    blotched = np.clip(best - 0.45 * blob, 0, 1).astype(np.float32)
    out, kept = keep_photograph(photo, guide, blotched)
    centre = blob[..., 0] > 0.8
    far = blob[..., 0] < 0.01
    assert np.abs(out - guide)[centre].mean() < 0.25 * np.abs(blotched - guide)[centre].mean()
    assert np.abs(out - blotched)[far].mean() < 0.02
    assert 0.5 < kept < 0.97


def test_washed_out_structure_gives_way() -> None:
    """Best blurs the photo's edges away over one half (an organ washed into a meadow's blur)."""
    photo = small("chelsea.png", 200)
    guide, best = _looks(photo)
    washed = best.copy()
    half = slice(0, photo.shape[1] // 2)
    washed[:, half] = ndimage.gaussian_filter(best[:, half], (4, 4, 0))
    out, _ = keep_photograph(photo, guide, washed)
    g = luminance(photo)
    left = (slice(8, -8), slice(8, photo.shape[1] // 2 - 12))
    before = local_correlation(luminance(washed), g, 1.5)[left].mean()
    after = local_correlation(luminance(out), g, 1.5)[left].mean()
    assert before < 0.8 and after > 0.9, (before, after)
    share = best_share(photo, guide, washed)
    assert share[:, -photo.shape[1] // 3 :].mean() > 0.8  # the sharp half stays best's


def test_the_setting() -> None:
    assert Settings().guard is True
    assert Settings.from_dict({"guard": False}).guard is False
    with pytest.raises(SettingsError, match="guard"):
        Settings(guard="no")  # type: ignore[arg-type]


def test_a_region_mostly_painted_takes_the_closed_form_look_throughout() -> None:
    """A band of cloud across fog: where the checks took most of a region back, its fainter rest goes too."""
    from photostyle.regions.targeting import soft_region_masks

    photo = small("coffee.png", 200)
    guide, best = _looks(photo)
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-(((yy - h * 0.5) / (h * 0.35)) ** 2 + ((xx - w * 0.25) / (w * 0.16)) ** 2))[..., None]
    painted = np.clip(best - 0.45 * blob, 0, 1).astype(np.float32)
    labels = (xx >= w // 2).astype(np.int32)  # region 0 the left half, region 1 the right
    regions = soft_region_masks(labels, [0, 1], photo)
    alone, kept_alone = keep_photograph(photo, guide, painted)
    out, kept = keep_photograph(photo, guide, painted, regions=regions)
    faint = (blob[..., 0] < 0.05) & (xx < w // 2 - 6)  # the painting's faint rest, in the painted region
    right = xx > w // 2 + 6
    assert np.abs(alone - painted)[faint].mean() < 0.02  # the pixel checks alone let it through
    assert np.abs(out - guide)[faint].mean() < 0.002  # the region rule does not
    assert np.abs(out - alone)[right].max() < 1e-6  # and the other region keeps best's as before
    assert kept < kept_alone
    # a region the checks keep (a colour map) is untouched by the rule
    same, _ = keep_photograph(photo, guide, best, regions=regions)
    assert np.abs(same - keep_photograph(photo, guide, best)[0]).max() < 1e-6
