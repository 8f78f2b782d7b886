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
    # the closed-form look itself passes (its flat areas fitted in Oklab, it a map in CIELAB: within 1 %)
    same, kept_same = keep_photograph(photo, guide, guide)
    assert np.abs(same - guide).max() < 0.01 and kept_same > 0.99


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
    from photostyle.engine.guard import photo_flat_areas
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
    # and the other region keeps best's as before, but in a still area reaching into both (one share across it)
    fa = photo_flat_areas(photo)
    both = np.intersect1d(fa.areas[(xx < w // 2) & (fa.still > 0)], fa.areas[right & (fa.still > 0)])
    own = right & ~np.isin(fa.areas, both[both > 0])
    assert own.sum() > 0.8 * right.sum() and np.abs(out - alone)[own].max() < 1e-6
    assert kept < kept_alone
    # a region the checks keep (a colour map) is untouched by the rule
    same, _ = keep_photograph(photo, guide, best, regions=regions)
    assert np.abs(same - keep_photograph(photo, guide, best)[0]).max() < 1e-6


def test_a_smudge_in_a_flat_sky_goes_and_the_skys_tone_stays() -> None:
    """A faint dark smoke in the rocket's flat night sky (cross pair 31_52's tower had one against an overcast sky):
    too faint for the tone check, gone from the flat sky; best's own shift of the sky's tone, its grain and its
    look where the photo has detail stay as they were."""
    from photostyle.engine.guard import even_flat_areas, photo_flat_areas

    photo = small("rocket.jpg", 200)
    guide, best = _looks(photo)
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-(((yy - h * 0.3) / (h * 0.1)) ** 2 + ((xx - w * 0.2) / (w * 0.07)) ** 2))
    rng = np.random.default_rng(0)
    grain = ndimage.gaussian_filter(rng.normal(0, 0.01, (h, w)), 0.7)
    smudged = np.clip(best + 0.02 - 0.04 * blob[..., None] + grain[..., None], 0, 1).astype(np.float32)
    g = luminance(photo)
    spread = np.sqrt(np.clip(ndimage.gaussian_filter(g * g, 1.0) - ndimage.gaussian_filter(g, 1.0) ** 2, 0, None))
    flat = ndimage.binary_erosion(spread < 0.005, iterations=2)
    centre, far = flat & (blob > 0.7), flat & (blob < 0.01)
    assert centre.sum() > 100 and far.sum() > 1000
    assert best_share(photo, guide, smudged)[centre].mean() > 0.8  # the pixel checks let the smudge through

    out = even_flat_areas(photo, smudged)
    clean = luminance(even_flat_areas(photo, np.clip(best + 0.02 + grain[..., None], 0, 1)))
    lum_out, lum_in = luminance(out), luminance(smudged)
    dip = lambda lum: float(np.median(lum[far]) - np.median(lum[centre]))  # noqa: E731
    # the smudge dims the sky there by about 0.03; after, the sky is as it is without one, within 0.007
    assert dip(lum_in) - dip(clean) > 0.025 and abs(dip(lum_out) - dip(clean)) < 0.007
    # the sky keeps best's tone, lifted by 0.02 as a whole (the closed-form look's own differs more)
    assert np.abs(lum_out[far] - lum_in[far]).mean() < 0.005
    # the grain (what a 2-px blur takes out) is the same where the sky is not still; where it is mostly still
    # (about a level over a few px, near half of this sky at 200 px), a colour map has none finer: most of it goes
    hp = lambda lum: lum - ndimage.gaussian_filter(lum, 2.0)  # noqa: E731
    still = photo_flat_areas(photo).still
    moving, stilled = flat & (still < 0.05), flat & (still > 0.5)
    assert moving.sum() > 1000 and stilled.sum() > 1000
    assert np.abs(hp(lum_out) - hp(lum_in))[moving].mean() < 0.1 * np.abs(hp(lum_in))[moving].mean()
    assert np.abs(hp(lum_out))[stilled].mean() < 0.5 * np.abs(hp(lum_in))[stilled].mean()
    # where the photo has detail, not a bit changes
    assert np.array_equal(out[spread > 0.03], smudged[spread > 0.03])
    # and through keep_photograph, the same
    kept, _ = keep_photograph(photo, guide, smudged)
    assert abs(dip(luminance(kept)) - dip(clean)) < 0.007
    # without the flat areas (bench/guard_stages.py's stages) the smudge stays, and that is the only difference
    unevened, _ = keep_photograph(photo, guide, smudged, flat_areas=False)
    assert dip(luminance(unevened)) - dip(clean) > 0.02
    share = best_share(photo, guide, smudged)[..., None]
    assert np.abs(unevened - np.clip(guide + share * (smudged - guide), 0, 1)).max() < 1e-5


def test_a_flat_area_takes_in_no_colour_of_its_neighbours() -> None:
    """A black backdrop with two grey objects that the per-region look maps to different colours (a bottle's pink
    cap and its blue glass, cross pair 16_37): each area's low frequencies are its own, so best's look, a colour
    map of each area, passes untouched. Averaged across the edges, the backdrop's fit would read the neighbours'
    colours and leave a glow of several levels around them."""
    from photostyle.engine.guard import even_flat_areas

    h, w = 240, 320
    a, b = np.zeros((h, w)), np.zeros((h, w))
    a[60:140, 60:130], b[60:140, 190:260] = 1.0, 1.0
    a, b = ndimage.gaussian_filter(a, 0.7), ndimage.gaussian_filter(b, 0.7)
    backdrop = 1 - a - b
    noise = np.random.default_rng(0).integers(0, 2, (h, w, 1)) / 255  # a black backdrop's levels 0 and 1
    photo = np.repeat((0.004 + noise) * backdrop[..., None] + 0.7 * (a + b)[..., None], 3, -1)
    looks = [np.array(c) for c in ([0.30, 0.33, 0.39], [0.95, 0.55, 0.65], [0.5, 0.8, 0.95])]
    best = sum(m[..., None] * c for m, c in zip((backdrop, a, b), looks, strict=True))
    out = even_flat_areas(photo.astype(np.float32), best.astype(np.float32))
    assert np.abs(out - best).max() * 255 < 0.5
    # and the same look with a smudge across the backdrop loses the smudge, as in the sky above
    objects = (a + b) > 0.5
    yy, xx = np.mgrid[:h, :w]
    smudge = 0.05 * np.exp(-(((yy - 200) / 25) ** 2 + ((xx - 160) / 40) ** 2))
    out = even_flat_areas(photo.astype(np.float32), (best - smudge[..., None] * backdrop[..., None]).astype(np.float32))
    clear = ~ndimage.binary_dilation(objects, iterations=4)
    assert np.abs(out - best)[clear].max() < 0.25 * smudge.max()


def test_where_the_photo_is_still_best_keeps_no_finer_detail_of_its_own() -> None:
    """Parts of the astronaut's backdrop at 300 px are still: they vary by under half a level over a few px. A
    colour map of them has no detail finer than their low frequencies either, so best's faint ripple there (a level
    and a half, as a halo's edge or the optimiser's waves, which 8-bit output draws as contour lines: cross pair
    16_37's black backdrop) goes; the same ripple where the photo has detail stays, and the colour map passes."""
    from photostyle.engine.guard import even_flat_areas

    photo = small("astronaut.png", 300)
    _, best = _looks(photo)
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    ripple = (1.5 / 255) * np.sin(2 * np.pi * (xx + 0.5 * yy) / 6.0)
    rippled = np.clip(best + ripple[..., None], 0, 1).astype(np.float32)
    g = luminance(photo)
    spread = lambda s: np.sqrt(np.clip(ndimage.gaussian_filter(g * g, s) - ndimage.gaussian_filter(g, s) ** 2, 0, None))  # noqa: E731
    still = ndimage.binary_erosion((spread(3.0) < 0.5 / 255) & (spread(1.0) < 0.005), iterations=2)
    assert still.sum() > 2000

    out = even_flat_areas(photo, rippled)
    plain = even_flat_areas(photo, best)
    # the ripple is gone from the still backdrop: what is left of it is under a tenth of a level
    left = luminance(out) - luminance(plain)
    assert np.abs(ripple[still]).mean() * 255 > 0.9 and np.abs(left[still]).mean() * 255 < 0.1
    # where the photo has detail, not a bit changes
    assert np.array_equal(out[spread(1.0) > 0.03], rippled[spread(1.0) > 0.03])
    # the colour map alone passes the still backdrop within half a level
    assert np.abs(plain - best)[still].max() * 255 < 0.5


def test_a_still_backdrop_takes_one_share_and_no_glow() -> None:
    """A black backdrop (levels 0 and 1) beside two textured objects, best's look of it a little bluer than the
    closed-form look's. Best washes one object out, so the checks hand that object to the closed-form look, and the
    share falls from 1 to 0 over a few px of the backdrop around it: blended, the two looks of the backdrop would
    make a glow of several levels round the object (cross pair 16_37's bottle as 8-bit files). The backdrop is
    still, so it takes one share throughout: one colour, between the two looks, with both objects as before."""
    from photostyle.engine.guard import even_flat_areas

    h, w = 240, 320
    a, b = np.zeros((h, w)), np.zeros((h, w))
    a[60:140, 60:130], b[60:140, 190:260] = 1.0, 1.0
    a, b = ndimage.gaussian_filter(a, 0.7), ndimage.gaussian_filter(b, 0.7)
    backdrop = 1 - a - b
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.normal(0, 0.15, (h, w)), 1.0)
    levels = rng.integers(0, 2, (h, w)) / 255
    photo = np.repeat(((0.004 + levels) * backdrop + (0.5 + texture) * (a + b))[..., None], 3, -1).astype(np.float32)
    closed, own = np.array([0.30, 0.33, 0.39]), np.array([0.27, 0.32, 0.42])
    guide = (backdrop[..., None] * closed + (a + b)[..., None] * photo * np.array([1.0, 0.9, 0.8])).astype(np.float32)
    best = backdrop[..., None] * own + (a + b)[..., None] * photo * np.array([0.9, 0.9, 1.0])
    best = np.where(a[..., None] > 0.01, ndimage.gaussian_filter(best, (6, 6, 0)), best).astype(np.float32)

    out, _ = keep_photograph(photo, guide, best)
    d = ndimage.distance_transform_edt((a + b) < 0.5)
    near_a = (np.abs(np.arange(w) - 95) < 40)[None, :] & (np.arange(h) < 200)[:, None]
    # the backdrop is still from about 8 px off the objects (nearer, their edges' soft fall-off): one colour there
    ring, far = (d > 8) & (d < 16), d > 40
    backdrop_out = out[ring | far] * 255
    assert (backdrop_out.max(0) - backdrop_out.min(0)).max() < 0.5
    # the pixel checks alone would have left a glow: the closed-form look's share rising towards object a
    evened = even_flat_areas(photo, best)
    share = best_share(photo, guide, evened)
    assert share[far].min() > 0.99 and share[ring & near_a].min() < 0.85
    unevened = (guide + share[..., None] * (evened - guide))[ring & near_a] * 255
    assert (unevened.max(0) - unevened.min(0)).max() > 1.0
    # the backdrop's colour lies between the two looks, nearer best's (its mean share over the backdrop)
    mid = np.median(out[far], 0)
    assert np.all((mid - own) * (closed - own) >= 0) and np.abs(mid - own).max() < 0.25 * np.abs(closed - own).max()
    # the objects: washed-out a takes the closed-form look, b keeps best's
    assert np.abs(out - guide)[a > 0.9].mean() < 0.005 and np.abs(out - best)[b > 0.9].mean() < 0.02
