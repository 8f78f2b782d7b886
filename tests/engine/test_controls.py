"""The photographer's controls on small real photos: colour preservation, strength, per-region looks, histogram loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import color

from photostyle import InputError, Settings, SettingsError, read_image, transfer, write_image
from photostyle.cli import main
from photostyle.engine.controls import blend, compose_references, match_luminance, strength_map, with_luminance
from photostyle.engine.dpst import HISTOGRAM_LAYERS, histogram_loss, histogram_targets
from photostyle.imaging.colourspaces import luminance, oklab_to_rgb, rgb_to_oklab, rgb_to_yiq, yiq_to_rgb
from photostyle.regions.labels import RegionPairs, colours_from_labels
from photostyle.settings import QUALITY_PRESETS
from photostyle.vgg import load_vgg

from ..conftest import SAMPLES

QUICK = Settings(scales=(64,), iterations=(10,))
PREVIEW = Settings(quality="preview", scales=(96,), iterations=(0,))


def halves(img: np.ndarray) -> np.ndarray:
    lab = np.zeros(img.shape[:2], np.int32)
    lab[:, img.shape[1] // 2 :] = 1
    return lab


def split_pairs(photo: np.ndarray, ref: np.ndarray) -> RegionPairs:
    return RegionPairs(halves(photo), halves(ref), {0: 0, 1: 1})


# ----------------------------------------------------------------------------------------------- colour spaces


def test_colour_spaces_round_trip(cat: np.ndarray) -> None:
    assert np.abs(yiq_to_rgb(rgb_to_yiq(cat)) - cat).max() < 1e-6
    assert np.abs(oklab_to_rgb(rgb_to_oklab(cat)) - cat).max() < 1e-6
    # Oklab reference values (Ottosson): white is L=1, a=b=0
    assert np.allclose(rgb_to_oklab(np.ones(3)), [1, 0, 0], atol=1e-4)


def test_with_luminance_keeps_chroma_and_gamut(cat: np.ndarray) -> None:
    y = np.clip(luminance(cat) * 1.8, 0, 1)  # far brighter: many pixels would leave the gamut
    out = with_luminance(y, cat)
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(rgb_to_yiq(out)[..., 1:] - rgb_to_yiq(cat)[..., 1:]).max() < 1e-5
    assert luminance(out).mean() > luminance(cat).mean() + 0.1


def test_match_luminance_takes_the_target_mean_and_spread(rocket: np.ndarray, cat: np.ndarray) -> None:
    m = match_luminance(luminance(rocket), luminance(cat))
    assert abs(m.mean() - luminance(cat).mean()) < 0.02
    assert abs(m.std() - luminance(cat).std()) < 0.02


# ----------------------------------------------------------------------------------------------- preserve colour


def test_luminance_mode_keeps_i_and_q(cat: np.ndarray, rocket: np.ndarray) -> None:
    res = transfer(cat, rocket, settings=QUICK.with_(preserve_color="luminance"))
    out, photo = rgb_to_yiq(res.image), rgb_to_yiq(cat)
    assert res.image.shape == cat.shape
    assert np.abs(out[..., 1:] - photo[..., 1:]).max() < 1e-5  # the photo's chroma, exactly
    assert np.abs(out[..., 0] - photo[..., 0]).mean() > 0.01  # the tonality moved
    # VGG saw grey images: the engine's photo is the luminance replicated to three channels
    assert res.small_photo is not None and np.ptp(res.small_photo, axis=2).max() < 1e-6


def test_histogram_mode_keeps_the_photo_mean_colour(cat: np.ndarray, rocket: np.ndarray) -> None:
    photo_mean = color.rgb2lab(cat).reshape(-1, 3).mean(0)
    plain = transfer(cat, rocket, settings=PREVIEW).image
    kept = transfer(cat, rocket, settings=QUICK.with_(preserve_color="histogram")).image
    d_plain = np.linalg.norm(color.rgb2lab(plain).reshape(-1, 3).mean(0) - photo_mean)
    d_kept = np.linalg.norm(color.rgb2lab(kept).reshape(-1, 3).mean(0) - photo_mean)
    assert d_plain > 15  # the night rocket pulls a plain transfer far from the cat's colours
    assert d_kept < 4, d_kept
    assert np.abs(kept - cat).mean() > 0.01  # yet it is not the photo


def test_grey_photo_with_luminance_warns_and_stays_grey(cat: np.ndarray, rocket: np.ndarray) -> None:
    grey = np.repeat(color.rgb2gray(cat)[..., None], 3, 2).astype(np.float32)
    with pytest.warns(UserWarning, match="no colour to preserve"):
        out = transfer(grey, rocket, settings=PREVIEW.with_(preserve_color="luminance")).image
    assert np.ptp(out, axis=2).max() < 1e-5


# ----------------------------------------------------------------------------------------------- strength


def test_strength_zero_is_the_photo_bit_identical() -> None:
    photo = read_image(SAMPLES / "chelsea.png")
    ref = read_image(SAMPLES / "rocket.jpg")
    res = transfer(photo, ref, settings=Settings(strength=0.0))  # best quality: returns at once, no engine
    assert res.image.dtype == np.float32 and np.array_equal(res.image, photo.pixels)
    assert res.trace == [] and res.seconds < 5


def test_strength_blends_in_oklab(cat: np.ndarray, rocket: np.ndarray) -> None:
    full = transfer(cat, rocket, settings=PREVIEW).image
    assert np.array_equal(transfer(cat, rocket, settings=PREVIEW.with_(strength=1.0)).image, full)
    half = transfer(cat, rocket, settings=PREVIEW.with_(strength=0.5)).image
    mid = 0.5 * (rgb_to_oklab(cat) + rgb_to_oklab(full))
    assert np.percentile(np.abs(rgb_to_oklab(half) - mid), 99) < 2e-3
    d = [np.abs(transfer(cat, rocket, settings=PREVIEW.with_(strength=t)).image - cat).mean() for t in (0.2, 0.6)]
    assert 0 < d[0] < d[1] < np.abs(full - cat).mean()


def test_blend_ends_are_exact(cat: np.ndarray, coffee: np.ndarray) -> None:
    other = np.ascontiguousarray(coffee[: cat.shape[0], : cat.shape[1]])
    other = np.pad(other, ((0, cat.shape[0] - other.shape[0]), (0, cat.shape[1] - other.shape[1]), (0, 0)))
    assert np.array_equal(blend(cat, other, 0.0), cat)
    assert np.array_equal(blend(cat, other, 1.0), other)
    w = np.zeros(cat.shape[:2])
    w[:, 40:] = 1.0
    w[:, 30:40] = 0.5
    out = blend(cat, other, w)
    assert np.array_equal(out[:, :30], cat[:, :30]) and np.array_equal(out[:, 40:], other[:, 40:])


def test_region_strength_zero_leaves_that_region_unchanged(cat: np.ndarray, rocket: np.ndarray) -> None:
    pairs = split_pairs(cat, rocket)
    s = PREVIEW.with_(region_blur=0.05)  # a wide feather, which must stay out of the strength-0 region
    full = transfer(cat, rocket, masks=pairs, settings=s).image
    out = transfer(cat, rocket, masks=pairs, settings=s.with_(region_strength={0: 0.0})).image
    left = halves(cat) == 0
    assert np.array_equal(out[left], cat[left])
    right = ~left
    right[:, : cat.shape[1] // 2 + 31] = False  # beyond the feather (2 x 3 sigma) the right half has the full look
    assert np.array_equal(out[right], full[right])
    assert np.abs(out[~left] - cat[~left]).mean() > 0.05


def test_strength_map_feathers_inside_the_stronger_region() -> None:
    lab = np.zeros((40, 80), np.int32)
    lab[:, 40:] = 1
    m = strength_map(lab, 1.0, {0: 0.25}, sigma=3.0)
    assert np.all(m[:, :40] == 0.25)
    assert np.all(np.diff(m[0]) >= 0) and m[0, 41] < 1.0 and m[0, -1] == 1.0


# ----------------------------------------------------------------------------------------------- per-region looks


def test_compose_references_points_regions_at_their_tiles(rocket: np.ndarray, coffee: np.ndarray) -> None:
    photo_lab = np.zeros((50, 60), np.int32)
    photo_lab[:20] = 1
    photo_lab[40:] = 2
    pairs = RegionPairs(photo_lab, halves(rocket), {0: 0, 1: 1, 2: -1})
    comp, cp = compose_references(rocket, pairs, {1: coffee})
    assert cp.reference.shape == comp.shape[:2]
    # region 0 keeps its partner; region 2 (the whole reference) gets a tile with the whole main reference;
    # region 1 gets coffee's tile
    assert cp.partner[0] == 0
    whole = cp.reference == cp.partner[2]
    assert whole.sum() == rocket.shape[0] * rocket.shape[1]
    assert np.allclose(comp[whole].mean(0), rocket.reshape(-1, 3).mean(0), atol=1e-5)
    tile = cp.reference == cp.partner[1]
    assert np.allclose(comp[tile].mean(0), coffee.reshape(-1, 3).mean(0), atol=0.01)
    assert len({cp.partner[0], cp.partner[1], cp.partner[2]}) == 3


@pytest.mark.parametrize("quality", [PREVIEW, QUICK])
def test_region_reference_gives_each_region_its_own_look(
    tmp_path: Path, cat: np.ndarray, rocket: np.ndarray, coffee: np.ndarray, quality: Settings
) -> None:
    """The cat's left half from the night rocket (the main reference), its right half from the warm coffee."""
    path = write_image(tmp_path / "coffee.png", coffee)
    lab = halves(cat)
    pairs = RegionPairs(lab, np.zeros(rocket.shape[:2], np.int32), {0: 0, 1: 0})
    out = transfer(cat, rocket, masks=pairs, settings=quality.with_(region_reference={1: str(path)})).image
    lab_out, lab_cat = color.rgb2lab(out), color.rgb2lab(cat)
    for k, ref in ((0, rocket), (1, coffee)):
        target = color.rgb2lab(ref).reshape(-1, 3).mean(0)
        before = np.linalg.norm(lab_cat[lab == k].mean(0) - target)
        after = np.linalg.norm(lab_out[lab == k].mean(0) - target)
        assert after < 0.6 * before, (k, before, after)


# ----------------------------------------------------------------------------------------------- histogram loss


def test_histogram_loss_is_zero_on_its_own_distribution(cat: np.ndarray, rocket: np.ndarray) -> None:
    from photostyle.engine.dpst import _layer_masks, _t

    vgg = load_vgg()
    lab = np.zeros(cat.shape[:2], np.int32)
    cpu = torch.device("cpu")
    masks = {
        name: _layer_masks(lab, [0], (cat.shape[0] >> i, cat.shape[1] >> i), cpu)
        for i, name in ((0, "conv1_1"), (3, "conv4_1"))
    }
    with torch.no_grad():
        feats = vgg(_t(cat, torch.device("cpu")), list(HISTOGRAM_LAYERS))
        own = histogram_loss(feats, histogram_targets(vgg, cat, lab, [0], masks))
        other = histogram_loss(feats, histogram_targets(vgg, rocket, np.zeros(rocket.shape[:2], np.int32), [0], masks))
    assert float(own) < 1e-8 < 0.05 < float(other)


def test_histogram_style_loss_runs_and_falls(cat: np.ndarray, rocket: np.ndarray) -> None:
    res = transfer(cat, rocket, masks=split_pairs(cat, rocket), settings=QUICK.with_(style_loss="histogram"))
    hist = [t["histogram"] for t in res.trace]
    assert min(hist) < 0.9 * hist[0]
    assert np.isfinite(res.image).all() and res.image.shape == cat.shape


# ----------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"strength": 1.5}, "strength must be between 0"),
        ({"strength": -0.1}, "strength must be between 0"),
        ({"preserve_color": "colour"}, "preserve_color must be one of none, luminance, histogram"),
        ({"style_loss": "wasserstein"}, "style_loss must be one of gram, histogram"),
        ({"region_strength": {1: 2.0}}, "region_strength for region 1 must be between 0 and 1"),
        ({"region_strength": {-2: 0.5}}, "region ids are mask label ids"),
        ({"region_reference": {0: 7}}, "must be an image path"),
    ],
)
def test_bad_settings(bad: dict, match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        Settings(**bad)


def test_each_quality_brings_its_own_working_sizes() -> None:
    """Settings(quality=...) built by hand means what --quality means; explicit sizes always win."""
    for quality in ("preview", "best"):
        s = Settings(quality=quality)
        assert s == Settings.preset(quality)
        assert (s.scales, s.iterations) == (QUALITY_PRESETS[quality]["scales"], QUALITY_PRESETS[quality]["iterations"])
    assert Settings(quality="preview").scales == (640,) and Settings().scales == (256, 400, 700)
    # switching quality re-picks the sizes, unless they are given with it
    assert Settings().with_(quality="preview") == Settings(quality="preview")
    assert Settings(quality="preview").with_(quality="best", threads=1) == Settings(threads=1)
    assert Settings().with_(quality="preview", scales=(96,)).iterations == (0,)
    assert Settings(quality="preview", scales=(96,), iterations=(0,)).with_(strength=0.5).scales == (96,)
    with pytest.raises(SettingsError, match="same length"):
        Settings(scales=(64,))  # best quality's two-scale budget does not fit one scale


def test_settings_round_trip_through_json() -> None:
    s = Settings(preserve_color="luminance", strength=0.4, region_strength={2: 0.0}, region_reference={1: "a.jpg"})
    assert Settings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_unknown_region_ids_are_refused(cat: np.ndarray, rocket: np.ndarray) -> None:
    pairs = split_pairs(cat, rocket)
    with pytest.raises(SettingsError, match=r"region\(s\) 4 \(red\).*its regions are 0 \(blue\), 1 \(green\)"):
        transfer(cat, rocket, masks=pairs, settings=PREVIEW.with_(region_strength={4: 0.5}))
    with pytest.raises(SettingsError, match="needs a photo mask"):
        transfer(cat, rocket, settings=PREVIEW.with_(region_strength={0: 0.5}))
    with pytest.raises(InputError, match="nowhere.jpg"):
        transfer(cat, rocket, masks=pairs, settings=PREVIEW.with_(region_reference={1: "nowhere.jpg"}))


def test_cli_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, ref = str(SAMPLES / "chelsea.png"), str(SAMPLES / "rocket.jpg")
    out = tmp_path / "out.png"
    args = ["transfer", photo, ref, "-o", str(out), "-q", "--quality", "preview", "--size", "96", "--masks", "none"]
    assert main([*args, "--preserve-color", "luminance", "--strength", "0.8"]) == 0
    img = read_image(out).pixels
    assert img.shape == read_image(photo).pixels.shape
    assert main([*args, "--overwrite", "--strength", "0"]) == 0
    assert np.array_equal(read_image(out).pixels, read_image(photo).pixels)  # 8-bit in, 8-bit out, unchanged
    assert main([*args, "--overwrite", "--strength", "1.5"]) == 2
    assert "strength must be between 0" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--region-strength", "sky=0"]) == 2
    assert "unknown region 'sky'" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--region-strength", "blue"]) == 2
    assert "REGION=VALUE" in capsys.readouterr().err


def test_cli_region_strength_with_mask_files(tmp_path: Path) -> None:
    photo_path, ref_path = SAMPLES / "chelsea.png", SAMPLES / "rocket.jpg"
    photo, ref = read_image(photo_path).pixels, read_image(ref_path).pixels
    pm = write_image(tmp_path / "pm.png", colours_from_labels(halves(photo)))  # blue | green
    rm = write_image(tmp_path / "rm.png", colours_from_labels(halves(ref)))
    out = tmp_path / "out.png"
    args = ["transfer", str(photo_path), str(ref_path), "-o", str(out), "-q", "--quality", "preview"]
    args += ["--photo-mask", str(pm), "--reference-mask", str(rm), "--region-strength", "blue=0"]
    assert main(args) == 0
    res = read_image(out).pixels
    left = halves(photo) == 0
    assert np.array_equal(res[left], photo[left])  # the blue region, bit for bit
    assert np.abs(res[~left] - photo[~left]).mean() > 0.05
