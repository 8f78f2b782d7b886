"""Per-object targeting (``--only``) and the edge-aware borders: pixels outside the target stay bit-identical in
the written file, the target changes, its border follows the photo's edges, and bad targets say what to do."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photostyle import regions as S
from photostyle.cli import main
from photostyle.errors import MaskError
from photostyle.regions import targeting as T

from ..conftest import small
from .test_segment import sky_pair  # noqa: F401 - the constructed sky-over-fur pair, as a fixture


def _save(path, a: np.ndarray) -> None:
    Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_guided_filter_keeps_constants_and_snaps_to_edges() -> None:
    img = np.zeros((40, 80, 3), np.float32)
    img[:, 40:] = (0.9, 0.8, 0.2)  # a vertical edge at x = 40
    img += np.random.default_rng(0).normal(0, 0.01, img.shape).astype(np.float32)
    flat = T.guided_filter(img, np.full((40, 80), 0.3), 4)
    assert np.allclose(flat, 0.3, atol=1e-6)
    labels = np.zeros((40, 80), np.int32)
    labels[:, 36:] = 1  # a border 4 px off the edge
    snapped = T.snap_labels(labels, img, radius=6)
    assert (snapped[:, :39] == 0).all() and (snapped[:, 41:] == 1).all()
    soft = T.soft_region_masks(snapped, [0, 1], img, radius=6)
    assert soft.shape == (2, 40, 80) and np.allclose(soft.sum(0), 1, atol=1e-5)
    assert soft[1, :, 30].max() < 0.1 and soft[1, :, 45].min() > 0.9


def test_feather_is_zero_outside_and_crisp_on_edges() -> None:
    img = np.full((60, 90, 3), 0.5, np.float32)
    img[:, 45:] = (0.1, 0.2, 0.7)  # an edge at x = 45
    mask = np.zeros((60, 90), bool)
    mask[:, 45:] = True  # the target's left border lies on the edge ...
    mask[:, 80:] = False  # ... its right border at x = 80 in a smooth area
    a = T.feather_alpha(mask, img, width=6)
    assert (a[~mask] == 0).all()
    assert a[:, 45].min() > 0.9  # crisp along the photo's edge
    assert a[:, 79].max() < 0.5 and a[:, 70].min() == pytest.approx(1.0)  # ramps in where there is no edge
    assert np.all(np.diff(a[30, 70:80]) <= 1e-6)
    # a tiny object (3 pixels) is styled fully, not feathered away
    tiny = np.zeros((60, 90), bool)
    tiny[10, 10:13] = True
    assert (T.feather_alpha(tiny, img)[tiny] == 1).all()


def test_only_mask_png_changes_only_the_target(tmp_path) -> None:
    photo = small("chelsea.png", 120)
    ref = small("rocket.jpg", 100)
    pp, rp, out, mp = tmp_path / "cat.png", tmp_path / "ref.png", tmp_path / "out.png", tmp_path / "only.png"
    _save(pp, photo)
    _save(rp, ref)
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[20:60, 30:90] = 255
    Image.fromarray(mask).save(mp)
    args = ["transfer", str(pp), str(rp), "-o", str(out), "--quality", "preview", "--masks", "none", "-q"]
    assert main([*args, "--only", str(mp)]) == 0
    before, after = _pixels(pp), _pixels(out)
    outside = mask == 0
    assert np.array_equal(after[outside], before[outside])  # bit-identical outside
    inside = np.abs(after[25:55, 35:85].astype(int) - before[25:55, 35:85]).max(-1)
    assert (inside > 2).mean() > 0.9  # and the target really changed


def test_only_sky_with_automatic_masks(tmp_path, sky_pair) -> None:  # noqa: F811
    photo, ref = sky_pair
    pp, rp, out = tmp_path / "photo.png", tmp_path / "ref.png", tmp_path / "out.png"
    _save(pp, photo)
    _save(rp, ref)
    assert main(["transfer", str(pp), str(rp), "-o", str(out), "--quality", "preview", "--only", "sky", "-q"]) == 0
    before, after = _pixels(pp), _pixels(out)
    changed = (after != before).any(-1)
    assert changed[:50].mean() > 0.95  # the sky changed ...
    assert not changed[60:].any()  # ... the fur below it did not change at all


def test_only_region_id_and_unknown_id(sky_pair) -> None:  # noqa: F811
    photo, ref = sky_pair
    seg = S.segment_pair(photo, ref, person=False)
    sky = seg.regions_named("sky")  # the sky may come in bands, all named sky
    assert sky
    fur = next(k for k in seg.pairs.photo_regions() if k not in sky)
    t = T.resolve_target(str(fur), photo, seg)
    assert np.array_equal(t.mask, seg.pairs.photo == fur)
    both = T.resolve_target(f"sky,{fur}", photo, seg)
    assert both.mask.all()
    with pytest.raises(MaskError, match="has no region 8; its regions are"):
        T.resolve_target("8", photo, seg)
    with pytest.raises(MaskError, match="no water found"):
        T.resolve_target("water", photo, seg)


def test_only_person_without_a_person_is_a_clear_error(tmp_path, capsys, sky_pair) -> None:  # noqa: F811
    photo, ref = sky_pair
    pp, rp, out = tmp_path / "photo.png", tmp_path / "ref.png", tmp_path / "out.png"
    _save(pp, photo)
    _save(rp, ref)
    assert main(["transfer", str(pp), str(rp), "-o", str(out), "--quality", "preview", "--only", "person"]) == 2
    err = capsys.readouterr().err
    assert "no person found" in err and "photo.png" in err and "sky" in err
    assert not out.exists()


def test_only_person_on_the_astronaut(tmp_path) -> None:
    photo = small("astronaut.png", 160)
    ref = small("coffee.png", 120)
    pp, rp, out = tmp_path / "astro.png", tmp_path / "ref.png", tmp_path / "out.png"
    _save(pp, photo)
    _save(rp, ref)
    assert main(["transfer", str(pp), str(rp), "-o", str(out), "--quality", "preview", "--only", "person", "-q"]) == 0
    before, after = _pixels(pp), _pixels(out)
    changed = (after != before).any(-1)
    assert changed[35, 70] and changed[120, 40]  # her face and her suit
    assert not changed[:40, 125:].any() and not changed[:30, :10].any()  # the wall and the flag are untouched


def test_bad_only_masks(tmp_path) -> None:
    photo = small("chelsea.png", 80)
    colour = np.zeros((*photo.shape[:2], 3), np.uint8)
    colour[:10] = (255, 0, 0)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(MaskError, match="must be black and white"):
        T.resolve_target(str(tmp_path / "colour.png"), photo)
    Image.fromarray(np.zeros(photo.shape[:2], np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(MaskError, match="selects no pixel"):
        T.resolve_target(str(tmp_path / "empty.png"), photo)
    with pytest.raises(MaskError, match="not found"):
        T.resolve_target(str(tmp_path / "missing.png"), photo)
    with pytest.raises(MaskError, match="need masks"):
        T.resolve_target("sky", photo, None)
    # an alpha channel selects too; a mask of another size is resized with a warning
    rgba = np.zeros((photo.shape[0] * 2, photo.shape[1] * 2, 4), np.uint8)
    rgba[:40, :60, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    with pytest.warns(UserWarning, match="resized"):
        t = T.resolve_target(str(tmp_path / "alpha.png"), photo)
    assert t.mask[:20, :30].all() and not t.mask[25:].any()


def test_tiny_target_changes_just_those_pixels(tmp_path) -> None:
    photo = small("coffee.png", 120)
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[40, 50:53] = 255
    Image.fromarray(mask).save(tmp_path / "tiny.png")
    styled = np.clip(photo[..., ::-1] * 0.5 + 0.3, 0, 1)  # any different image
    with pytest.warns(UserWarning, match="only 3 pixels"):
        out = T.only_changes(str(tmp_path / "tiny.png"), photo, styled)
    assert np.array_equal(out[mask == 0], photo[mask == 0])
    assert np.allclose(out[40, 50:53], styled[40, 50:53])


def test_jpeg_output_warns_that_it_cannot_stay_identical(tmp_path) -> None:
    photo = small("coffee.png", 60)
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[:20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    with pytest.warns(UserWarning, match="JPEG re-encodes every pixel"):
        T.only_changes(str(tmp_path / "m.png"), photo, photo * 0.5, output=tmp_path / "out.jpg")
