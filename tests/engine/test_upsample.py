"""Full-resolution output by local affine maps: exact for affine looks, sharp where a plain resize blurs."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.engine import upsample as upsample_module
from photostyle.engine.upsample import upsample
from photostyle.imageio import read_image
from photostyle.imaging.filters import fit_affine
from photostyle.imaging.resize import resize_longest

from ..conftest import SAMPLES, small

A = np.array([[0.6, 0.2, 0.0], [0.1, 0.7, 0.1], [0.0, 0.3, 0.5]])
B = np.array([0.05, 0.02, 0.1])


def grad_energy(img: np.ndarray) -> float:
    g = img.mean(-1)
    return float(np.mean(np.diff(g, axis=0) ** 2) + np.mean(np.diff(g, axis=1) ** 2))


def test_affine_look_is_reproduced_at_full_size() -> None:
    photo = read_image(SAMPLES / "astronaut.png").pixels  # 512 px
    small = resize_longest(photo, 128)
    out = upsample(small, (small @ A.T + B).astype(np.float32), photo, radius=2, eps=1e-6)
    err = np.abs(out - (photo @ A.T + B))
    assert out.shape == photo.shape
    assert err.mean() < 1e-3 and np.percentile(err, 99.9) < 5e-3


def test_edges_stay_sharp() -> None:
    photo = read_image(SAMPLES / "coffee.png").pixels  # 600 x 400
    small = resize_longest(photo, 100)
    look = np.clip(small @ A.T + B, 0, 1).astype(np.float32)
    out = upsample(small, look, photo, eps=1e-5)
    truth = photo @ A.T + B
    x = torch.from_numpy(look).permute(2, 0, 1)[None]
    resized = F.interpolate(x, size=photo.shape[:2], mode="bilinear")[0].permute(1, 2, 0).numpy()
    ratio = grad_energy(out) / grad_energy(truth)
    assert 0.8 < ratio < 1.25, ratio
    assert grad_energy(resized) / grad_energy(truth) < 0.5  # what a plain resize would give


def test_same_size_passes_through() -> None:
    img = resize_longest(read_image(SAMPLES / "chelsea.png").pixels, 64)
    other = np.clip(img * 0.5 + 0.2, 0, 1)
    assert np.array_equal(upsample(img, other, img), other)


def test_both_ways_of_applying_the_maps_agree(monkeypatch) -> None:
    """Below COMPILED_FROM pixels the maps are applied in torch, strip by strip; from there on by the numba kernel:
    the same image either way (float rounding aside), across strip borders and at every edge."""
    photo = read_image(SAMPLES / "coffee.png").pixels  # 600 x 400: a strip of 256 rows and a shorter one
    small = resize_longest(photo, 150)
    look = np.clip(small @ A.T + B + 0.1 * np.sin(small * 9), 0, 1).astype(np.float32)
    coef = fit_affine(small, look, 2, 1e-4)
    in_torch = upsample_module.apply_affine(coef, photo)
    monkeypatch.setattr(upsample_module, "COMPILED_FROM", 0)
    compiled = upsample_module.apply_affine(coef, photo)
    assert photo.shape[0] > upsample_module._STRIP
    assert in_torch.shape == compiled.shape == photo.shape and in_torch.dtype == compiled.dtype == np.float32
    assert np.abs(in_torch - compiled).max() < 1e-5
    assert np.abs(in_torch - photo).mean() > 0.02  # the maps do change the photo


def _stripes(shape: tuple[int, ...], period: int = 6) -> np.ndarray:
    """Vertical stripes of amplitude 1: a lattice painted over the photo."""
    x = np.arange(shape[1])
    return np.broadcast_to(np.sign(np.sin(2 * np.pi * x / period))[None, :, None], shape).astype(np.float32)


def test_photographic_removes_painted_structure_and_keeps_the_look() -> None:
    """A look (an affine colour change of the photo) with a lattice painted over it: the refit as local affine
    maps of the photo keeps the look and drops the lattice, which no colour map of the photo can make."""
    from photostyle.engine.upsample import photographic

    photo = small("chelsea.png", 160)
    look = np.clip(photo * np.array([0.8, 0.7, 0.9], np.float32) + 0.08, 0, 1)
    stripes = _stripes(photo.shape)
    painted = np.clip(look + 0.06 * stripes, 0, 1)
    out = photographic(photo, painted, 8, 1e-4, 0.5)

    def lattice(img: np.ndarray) -> float:  # the stripes' amplitude left in IMG beyond the look
        return float(((img - look) * stripes).mean())

    assert lattice(painted) > 0.05
    assert lattice(out) < 0.25 * lattice(painted)  # a fifth of it at most, as grain in the fur
    assert np.abs(photographic(photo, look, 8, 1e-4, 0.5) - look).mean() < 0.005  # the look itself passes
    assert photographic(photo, painted, 0, 1e-3, 1.0) is painted  # radius 0: off


def test_photographic_adds_grain_only_where_the_photo_has_texture() -> None:
    """The look's finest grain comes back at most DETAIL times the photo's own local detail: none in flat areas."""
    from photostyle.engine.upsample import photographic

    photo = small("chelsea.png", 160)
    flat = np.full_like(photo, 0.5)
    photo_with_flat = photo.copy()
    photo_with_flat[:, :60] = flat[:, :60]  # a flat band (a wall, a sky)
    rng = np.random.default_rng(0)
    grainy = np.clip(photo_with_flat + rng.normal(0, 0.05, photo.shape).astype(np.float32), 0, 1)
    out = photographic(photo_with_flat, grainy, 8, 1e-4, 0.5)
    band, rest = out[4:-4, 4:56], out[4:-4, 72:-4]
    assert band.std() < 0.01  # no grain where the photo is flat
    assert np.abs(rest - photo_with_flat[4:-4, 72:-4]).mean() > 0.005  # some grain on the cat's fur


def test_a_coarser_grain_keeps_more_of_the_look_s_texture_and_none_in_flat_areas() -> None:
    """The user's masks' refit (detail 2, grain 4 px) keeps most of a look's 3-px texture where the photo has
    texture, the automatic masks' (0.5, 1 px) a quarter of it; neither adds any in the photo's flat areas."""
    from scipy import ndimage

    from photostyle.engine.upsample import photographic

    photo = small("chelsea.png", 160)
    photo[:, :60] = 0.5  # a flat band (a wall, a sky)
    look = np.clip(photo * np.array([0.8, 0.7, 0.9], np.float32) + 0.08, 0, 1)
    tex = ndimage.gaussian_filter(np.random.default_rng(0).normal(0, 1, photo.shape[:2]), 1.5).astype(np.float32)
    tex = (tex * 0.04 / tex.std())[..., None]
    textured = np.clip(look + tex, 0, 1)

    def kept(out: np.ndarray) -> float:  # the share of the texture left, on the fur
        part = (slice(4, -4), slice(72, -4))
        return float(((out - look)[part] * tex[part]).mean() / (tex[part] ** 2).mean())

    auto, drawn = photographic(photo, textured, 8, 1e-4, 0.5, 1.0), photographic(photo, textured, 8, 1e-4, 2.0, 4.0)
    assert kept(auto) < 0.35 < 0.6 < kept(drawn)
    # in the flat band (away from the fur: the fit reaches 16 px) both are the affine fit alone: no texture added
    fit = photographic(photo, textured, 8, 1e-4, 0.0)
    for out in (auto, drawn):
        assert np.abs(out - fit)[4:-4, 4:36].max() < 1e-4


def test_the_refit_settings_are_checked() -> None:
    import pytest

    from photostyle.settings import Settings, SettingsError

    assert (Settings().affine_grain, Settings().drawn_detail, Settings().drawn_grain) == (1.0, 2.0, 4.0)
    for bad in ({"affine_grain": 0}, {"drawn_grain": -1.0}, {"drawn_detail": -0.5}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings.from_dict(bad)


def test_the_texture_kept_follows_where_the_regions_correspond() -> None:
    """TEXTURED weighs, pixel by pixel, the texture kept where the regions correspond (textured_detail and
    textured_grain) against the rest (detail, grain): all zero is the plain refit, all one the textured one, and a
    half each keeps each side's own."""
    from photostyle.engine.upsample import photographic

    photo = small("chelsea.png", 160)
    rng = np.random.default_rng(0)
    grainy = np.clip(photo * 0.8 + 0.1 + rng.normal(0, 0.05, photo.shape).astype(np.float32), 0, 1)
    plain = photographic(photo, grainy, 8, 1e-4, 0.5, 1.0)
    rich = photographic(photo, grainy, 8, 1e-4, 2.0, 4.0)
    assert np.abs(rich - plain).mean() > 0.005
    weight = np.zeros(photo.shape[:2], np.float32)
    assert np.array_equal(photographic(photo, grainy, 8, 1e-4, 0.5, 1.0, textured=weight, textured_detail=2.0,
                                       textured_grain=4.0), plain)  # fmt: skip
    kw = {"textured_detail": 2.0, "textured_grain": 4.0}
    assert np.allclose(photographic(photo, grainy, 8, 1e-4, 0.5, 1.0, textured=weight + 1, **kw), rich, atol=1e-6)
    weight[:, 80:] = 1
    half = photographic(photo, grainy, 8, 1e-4, 0.5, 1.0, textured=weight, **kw)
    assert np.allclose(half[:, :80], plain[:, :80], atol=1e-6)
    assert np.allclose(half[:, 80:], rich[:, 80:], atol=1e-6)


def test_keep_grain_gives_the_look_the_photos_own_grain_where_the_photo_is_smooth() -> None:
    """A look carried up from a quarter size waxes the rocket's sky (its grain regressed away), a gain of 1.8 lifts
    it: either way the sky's finest detail comes back to the photo's own, the look's colours stay, and where the
    photo is not smooth (the tower, the clouds' edges) the image is left exactly as it was."""
    from scipy import ndimage
    from skimage.color import rgb2lab

    from photostyle.engine.upsample import SMOOTH, keep_grain

    photo = read_image(SAMPLES / "rocket.jpg").pixels  # 640 x 427, the sky 60 % of it
    grey = photo @ np.array([0.299, 0.587, 0.114], np.float32)
    mean = ndimage.gaussian_filter(grey, 2.0)
    spread = np.sqrt(np.clip(ndimage.gaussian_filter(grey * grey, 2.0) - mean * mean, 0, None))
    smooth, busy = spread < SMOOTH[0], spread >= SMOOTH[1]

    def grain(img: np.ndarray) -> float:  # CIELAB detail finer than 1 px in the smooth areas, RMS
        lab = rgb2lab(img)
        d = lab - ndimage.gaussian_filter(lab, (1, 1, 0))
        return float(np.sqrt((d[smooth] ** 2).sum(-1).mean()))

    small_photo = resize_longest(photo, 160)
    waxed = upsample(small_photo, np.clip(small_photo @ A.T + B, 0, 1).astype(np.float32), photo)
    lifted = np.clip((photo - 0.4) * 1.8 + 0.4, 0, 1).astype(np.float32)
    own = grain(photo)
    assert grain(waxed) < 0.4 * own and grain(lifted) > 1.3 * own
    for look, (lo, hi) in ((waxed, (0.8, 1.2)), (lifted, (0.85, 1.15))):
        out = keep_grain(photo, look)
        assert lo < grain(out) / own < hi
        assert np.array_equal(out[busy], look[busy])
        colours = np.abs(ndimage.gaussian_filter(out - look, (3, 3, 0))).mean()
        assert colours < 2e-3, colours
        assert np.array_equal(keep_grain(photo, look, rows=50), out)  # strips do not show


def test_keep_edges_turns_no_edge_of_the_photo_over_and_leaves_the_rest_as_it_was() -> None:
    """Two regions' maps that meet badly: the rocket photo's bright parts (sky, clouds, the rocket's white) taken
    down to a dim grade, the rest lifted, the two blended by tone, so across the blend the look darkens what the
    photo has light (a negative). keep_edges gives those edges back their direction and leaves every pixel whose
    windows are all mapped with gain enough exactly as it was; a low-contrast grade with no edge turned over is not
    touched."""
    from scipy import ndimage

    from photostyle.engine.guard import local_correlation
    from photostyle.engine.upsample import EDGE_PASSES, EDGE_RADIUS, keep_edges
    from photostyle.imaging.colourspaces import luminance

    photo = resize_longest(read_image(SAMPLES / "rocket.jpg").pixels, 320)
    y = luminance(photo)
    dim = np.clip((y - 0.45) / 0.3, 0, 1)[..., None]  # the bright region's soft mask, feathered by the photo's tones
    look = (dim * (0.15 + 0.3 * photo) + (1 - dim) * (0.35 + 0.6 * photo)).astype(np.float32)
    border = (y > 0.5) & (y < 0.7)  # where the dim grade takes over, the look darkens as the photo lightens
    near = ndimage.binary_dilation((y > 0.45) & (y < 0.75), iterations=EDGE_PASSES * (2 * EDGE_RADIUS + 1))

    def turned(img: np.ndarray) -> float:  # share of the borders' pixels whose local correlation is negative
        return float((local_correlation(luminance(img), luminance(photo), 1.5)[border] < 0).mean())

    out = keep_edges(photo, look)
    assert turned(look) > 0.3 and turned(out) < 0.25 * turned(look), (turned(look), turned(out))
    assert np.array_equal(out[~near], look[~near])  # far from the borders both maps have gain enough
    assert np.abs(out - look)[near].mean() < 0.05  # the colours stay the look's: only the edges' direction changes
    fog = np.clip(0.5 + 0.3 * (photo - 0.5), 0, 1).astype(np.float32)  # a flat grade, every edge kept in direction
    assert np.array_equal(keep_edges(photo, fog), fog)
