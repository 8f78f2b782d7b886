"""Automatic masks: the offline VGG-19 regions, mediapipe people, detectron2's panoptic output, user masks and the
``photostyle masks`` command, on real photos (samples/ and scikit-image's astronaut)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from skimage.transform import resize

from photostyle import regions as S
from photostyle.cli import main
from photostyle.errors import MaskError
from photostyle.imageio import read_image
from photostyle.regions import features, matching
from photostyle.regions.labels import MaskError as MasksMaskError
from photostyle.regions.labels import colours_from_labels, pair_by_label, read_mask

from ..conftest import SAMPLES, small


def _load(name: str) -> np.ndarray:
    return np.asarray(Image.open(SAMPLES / name).convert("RGB"), np.float32) / 255.0


def _crop(a: np.ndarray, box: tuple[int, int, int, int], hw: tuple[int, int]) -> np.ndarray:
    y0, y1, x0, x1 = box
    return resize(a[y0:y1, x0:x1], hw, order=1, anti_aliasing=True).astype(np.float32)


@pytest.fixture(scope="module")
def sky_pair() -> tuple[np.ndarray, np.ndarray]:
    """A constructed pair: dusk sky (from rocket.jpg) over cat fur (chelsea.png); the reference has a taller sky,
    other crops of both, and a warm cast over everything."""
    rocket, cat = _load("rocket.jpg"), _load("chelsea.png")
    photo = np.concatenate([_crop(rocket, (0, 150, 340, 430), (56, 160)), _crop(cat, (150, 300, 0, 220), (72, 160))])
    ref = np.concatenate([_crop(rocket, (0, 220, 90, 175), (80, 150)), _crop(cat, (170, 300, 230, 451), (56, 150))])
    ref = np.clip(ref * np.array([1.25, 0.95, 0.7], np.float32) + np.array([0.08, 0.02, 0.0], np.float32), 0, 1)
    return photo, ref


@pytest.fixture(scope="module")
def sky_seg(sky_pair) -> S.Segmentation:
    torch.set_num_threads(2)
    return S.segment_pair(*sky_pair, person=False)


def test_features_cover_every_pixel_and_are_deterministic(sky_pair, sky_seg) -> None:
    photo, ref = sky_pair
    again = S.segment_pair(photo, ref, person=False)
    assert np.array_equal(again.pairs.photo, sky_seg.pairs.photo)
    assert np.array_equal(again.pairs.reference, sky_seg.pairs.reference)
    assert again.pairs.partner == sky_seg.pairs.partner
    p, r = sky_seg.pairs.photo, sky_seg.pairs.reference
    assert p.shape == photo.shape[:2] and r.shape == ref.shape[:2]
    assert p.min() >= 0 and p.max() < 9 and r.min() >= 0 and r.max() < 9  # every pixel in one of nine regions
    # canonical: a photo region and its partner share their id, and the partner exists in the reference
    for k, j in sky_seg.pairs.partner.items():
        assert j in (k, -1)
        if j == k:
            assert (r == k).sum() >= 16
    assert set(sky_seg.pairs.partner) == {int(v) for v in np.unique(p)}
    # finer than the regions: every photo superpixel has its reference counterparts (engine.colour follows them)
    corr = sky_seg.pairs.correspondence
    assert corr is not None and corr.index.shape[0] == int(corr.photo_sp.max()) + 1
    assert corr.index.max() <= corr.reference_sp.max()


def test_sky_pairs_with_sky(sky_seg) -> None:
    p, r = sky_seg.pairs.photo, sky_seg.pairs.reference
    # the regions holding most of the fur (bottom rows) in each image; the sky may be split into bands (a dusk
    # gradient), each named sky and paired with a band of the reference's sky
    p_fur, r_fur = np.bincount(p[70:].ravel()).argmax(), np.bincount(r[90:].ravel()).argmax()
    p_sky = S.Segmentation.regions_named(sky_seg, "sky")
    r_sky = [k for k, n in sky_seg.reference_names.items() if n == "sky"]
    assert p_sky and r_sky and p_fur not in p_sky and r_fur not in r_sky
    assert np.isin(p[:40], p_sky).mean() > 0.95 and np.isin(r[:60], r_sky).mean() > 0.95
    assert all(sky_seg.pairs.partner[k] in r_sky for k in p_sky)
    assert sky_seg.pairs.partner[int(p_fur)] == r_fur
    # bands pair in order: the photo's top band with the reference's top band
    assert sky_seg.pairs.partner[int(np.bincount(p[:8].ravel()).argmax())] == np.bincount(r[:8].ravel()).argmax()
    # the regions follow the seam between sky and fur (row 56 in the photo, 80 in the reference)
    assert np.isin(p[:52], p_sky).mean() > 0.95 and (p[60:] == p_fur).mean() > 0.95
    assert np.isin(r[:76], r_sky).mean() > 0.95 and (r[84:] == r_fur).mean() > 0.95


def test_a_pair_is_split_only_where_both_images_have_the_split(sky_pair) -> None:
    """The joint 2-way split of a region pair: made when sky and fur are in both images (the halves pair sky with
    sky), refused when the reference region is fur only."""
    photo, ref = sky_pair
    fur_only = ref[-48:]  # the reference's fur
    for other, expect in ((ref, True), (fur_only, False)):
        dp, dr = features._describe(photo, None), features._describe(other, None)
        x_seg, _ = features._joint_descriptors(dp, dr)
        n = len(dp.weight)
        halves = features._consistent_split(
            dp, dr, x_seg[:n, : features.DEEP_DIMS], x_seg[n:, : features.DEEP_DIMS],
            np.ones(n, bool), np.ones(len(dr.weight), bool),
        )  # fmt: skip
        assert (halves is not None) == expect
        if halves:
            (p0, r0), (p1, r1) = halves
            # the half holding the photo's top rows also holds the reference's top rows
            top_p = np.isin(dp.sp[:20], np.nonzero(p0)[0]).mean()
            top_r = np.isin(dr.sp[:20], np.nonzero(r0)[0]).mean()
            assert (top_p > 0.9 and top_r > 0.9) or (top_p < 0.1 and top_r < 0.1)


def test_mediapipe_finds_the_astronaut() -> None:
    img = resize(data.astronaut(), (256, 256), anti_aliasing=True).astype(np.float32)
    labels, names = S.PersonSegmenter().segment(img)
    assert names == {1: "person"}
    person = labels == 1
    assert 0.3 < person.mean() < 0.75
    assert person[55, 115] and person[190, 70]  # her face, the sleeve of her suit
    assert not person[10, 200] and not person[20, 10]  # the wall behind her, the flag in the corner
    # the cat is a foreground, not a person
    cat = small("chelsea.png", 256)
    assert S.PersonSegmenter().segment(cat)[1] == {}


def test_person_merged_as_named_region_and_matched_by_name() -> None:
    astro = resize(data.astronaut(), (192, 192), anti_aliasing=True).astype(np.float32)
    ref = small("coffee.png", 192)
    with pytest.warns(UserWarning, match="nothing like the photo's person"):
        seg = S.segment_pair(astro, ref)
    assert seg.backend == "features+person"
    (k,) = seg.regions_named("person")
    assert k == 4  # persons get red, DPST's colour 4
    assert seg.pairs.partner[k] == -1  # no person in the coffee cup: the whole reference's look
    assert 0.3 < (seg.pairs.photo == k).mean() < 0.75


def _panoptic_output() -> tuple[torch.Tensor, list[dict[str, object]]]:
    """An output of the documented shape: (H, W) int tensor of segment ids and segments_info dicts."""
    seg = torch.zeros((40, 60), dtype=torch.int32)
    seg[:15] = 1  # sky
    seg[15:, :20] = 2  # tree
    seg[15:, 20:] = 3  # grass
    seg[20:35, 30:40] = 4  # a person
    seg[30:38, 45:58] = 5  # a car
    seg[14:16, 10:50] = 0  # a void seam (not in segments_info)
    stuff = S.COCO_STUFF_CLASSES_SEPARATED
    info: list[dict[str, object]] = [
        {"id": 1, "category_id": stuff.index("sky-other-merged"), "isthing": False, "area": 0},
        {"id": 2, "category_id": stuff.index("tree-merged"), "isthing": False},
        {"id": 3, "category_id": stuff.index("grass-merged"), "isthing": False},
        {"id": 4, "category_id": S.COCO_THING_CLASSES.index("person"), "isthing": True, "score": 0.99},
        {"id": 5, "category_id": S.COCO_THING_CLASSES.index("car"), "isthing": True, "score": 0.9},
    ]
    return seg, info


def test_detectron2_panoptic_output_to_labels() -> None:
    seg, info = _panoptic_output()
    labels, names = S.labels_from_panoptic(seg, info)
    assert labels.shape == (40, 60) and labels.dtype == np.int32
    assert sorted(names.values()) == ["person", "sky", "vegetation", "vehicle"]
    by = {n: k for k, n in names.items()}
    assert by["vegetation"] == 0  # tree and grass grouped, the largest region first
    assert (labels[:14] == by["sky"]).all()
    assert (labels[20:35, 30:40] == by["person"]).all()
    assert (labels[30:38, 45:58] == by["vehicle"]).all()
    assert (labels[16:, :20] == by["vegetation"]).all() and (labels[36:, 20:45] == by["vegetation"]).all()
    assert set(np.unique(labels[14:16])) <= {by["sky"], by["vegetation"]}  # void filled by its neighbours
    # the standard (non-separated) metadata: both lists are the 133 classes, as in detectron2's builtin_meta
    every = S.COCO_THING_CLASSES + S.COCO_STUFF_CLASSES
    std = [dict(d, category_id=every.index(S.COCO_STUFF_CLASSES_SEPARATED[d["category_id"]])) for d in info[:3]]  # type: ignore[index]
    std += [dict(d, category_id=every.index(S.COCO_THING_CLASSES[d["category_id"]])) for d in info[3:]]  # type: ignore[index]
    labels2, names2 = S.labels_from_panoptic(seg.numpy(), std, thing_classes=every, stuff_classes=every)
    assert np.array_equal(labels2, labels) and names2 == names
    # segments_info=None: pixel = category_id * label_divisor + instance
    sem = np.where(seg.numpy() == 4, 0 * 1000 + 1, np.where(seg.numpy() == 5, 2 * 1000 + 1, -1))
    sem[:15] = every.index("sky-other-merged") * 1000
    labels3, names3 = S.labels_from_panoptic(sem, None, thing_classes=every)
    assert sorted(names3.values()) == ["person", "sky", "vehicle"]


def test_detectron2_bad_output() -> None:
    seg, info = _panoptic_output()
    with pytest.raises(MaskError, match="category_id 99"):
        S.labels_from_panoptic(seg, info + [{"id": 6, "category_id": 99, "isthing": False}])
    with pytest.raises(MaskError, match="H, W"):
        S.labels_from_panoptic(np.zeros((2, 3, 4)), info)


def test_detectron2_pairs_by_name_when_installed_or_says_how(sky_pair) -> None:
    if S.PanopticSegmenter().available():
        pytest.skip("detectron2 is installed here; its model is exercised by the user's own runs")
    from photostyle.errors import SettingsError

    with pytest.raises(SettingsError, match="detectron2"):
        S.segment_pair(*sky_pair, backend="detectron2")


def test_match_by_name_then_similarity_both_ways() -> None:
    p = np.repeat(np.arange(4), 15).reshape(6, 10).astype(np.int32)
    r = np.repeat(np.array([5, 6, 7, 8]), 15).reshape(6, 10).astype(np.int32)
    desc_p = {0: np.zeros(3), 1: np.ones(3), 2: np.full(3, 9.0), 3: np.full(3, 2.0)}
    desc_r = {5: np.zeros(3), 6: np.ones(3) * 1.1, 7: np.ones(3) * 0.9, 8: np.full(3, 1.9)}
    with pytest.warns(UserWarning, match="person"):
        partner, r2, rn = S.match_regions(p, r, {0: "sky", 2: "person"}, {5: "sky"}, desc_p, desc_r)
    # sky by name; 6 and 7 both resemble 1 most: merged into one partner; 3 takes 8; no person in the reference
    assert partner == {0: 5, 1: 6, 2: -1, 3: 8}
    assert set(np.unique(r2)) == {5, 6, 8} and (r2[r == 7] == 6).all()
    assert rn == {5: "sky"}
    # a photo region that no reference region chose takes its most similar one
    two = np.zeros((4, 4), np.int32)
    two[2:] = 1
    partner, _, _ = S.match_regions(two, np.full((4, 4), 7, np.int32), {}, {}, desc_p, desc_r)
    assert partner == {0: 7, 1: 7}


def test_canonical_fits_nine_colours() -> None:
    p = np.repeat(np.arange(12), 10).reshape(12, 10).astype(np.int32)
    r = np.repeat(np.arange(12), 10).reshape(12, 10).astype(np.int32)
    seg = matching._canonical(p, r, {k: k for k in range(12)}, {}, {}, "test")
    assert len(np.unique(seg.pairs.photo)) <= 9 and seg.pairs.photo.max() < 9 and seg.pairs.reference.max() < 9
    assert all(j in (k, -1) for k, j in seg.pairs.partner.items())


def test_gimp_channels() -> None:
    sky = np.zeros((20, 30))
    sky[:8] = 255
    tree = np.zeros((20, 30))
    tree[8:14, :10] = 1.0
    labels, names = S.labels_from_channels([("sky", sky), ("tree", tree)])
    assert names == {0: "sky", 1: "tree", 2: "rest"}
    assert (labels[:8] == 0).all() and (labels[8:14, :10] == 1).all() and (labels[14:] == 2).all()
    with pytest.raises(MaskError, match="channel 'tree'"):
        S.labels_from_channels([("sky", sky), ("tree", tree[:10])])


def test_masks_command_writes_editable_masks(tmp_path, sky_pair, capsys) -> None:
    photo, ref = sky_pair
    pp, rp = tmp_path / "photo.png", tmp_path / "ref.png"
    Image.fromarray((photo * 255 + 0.5).astype(np.uint8)).save(pp)
    Image.fromarray((ref * 255 + 0.5).astype(np.uint8)).save(rp)
    out = tmp_path / "masks"
    assert main(["masks", str(pp), str(rp), "-o", str(out), "--no-person", "--threads", "2"]) == 0
    for name in S.MASK_FILES:
        assert (out / name).is_file()
    legend = json.loads((out / "legend.json").read_text())
    assert legend["backend"] == "features"
    assert any(row["name"] == "sky" and row["colour"] == "blue" for row in legend["regions"])
    assert abs(sum(row["photo_area_pct"] for row in legend["regions"]) - 100) < 0.1
    # the label PNGs read back as DPST masks and pair again by colour, as the automatic pairing did
    pl, rl = read_mask(out / "photo_labels.png"), read_mask(out / "reference_labels.png")
    seg = S.segment_pair(read_image(pp), read_image(rp), person=False)  # the same 8-bit pixels the command read
    assert np.array_equal(pl, seg.pairs.photo) and np.array_equal(rl, seg.pairs.reference)
    assert pair_by_label(pl, rl).partner == seg.pairs.partner
    # each photo region's confidence and the photo's match confidence (their area-weighted mean), as measured
    scores = {row["id"]: row["confidence"] for row in legend["regions"] if "confidence" in row}
    assert scores == seg.confidence and set(scores) == set(seg.pairs.photo_regions())
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    area = {row["id"]: row["photo_area_pct"] for row in legend["regions"]}
    mean = sum(scores[k] * area[k] for k in scores) / sum(area[k] for k in scores)
    assert legend["match_confidence"] == seg.match_confidence and abs(mean - seg.match_confidence) < 2e-3
    assert "match confidence" in capsys.readouterr().err
    overlay = np.asarray(Image.open(out / "photo_overlay.png"))
    assert overlay.shape == photo.shape
    # nothing is overwritten without --overwrite
    before = (out / "legend.json").read_bytes()
    assert main(["masks", str(pp), str(rp), "-o", str(out), "--no-person"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "legend.json").read_bytes() == before


def test_flat_reference_gives_a_clear_warning_and_a_styled_photo(sky_pair) -> None:
    from photostyle.pipeline import transfer
    from photostyle.settings import Settings

    photo, _ = sky_pair
    flat = np.full((60, 80, 3), (0.8, 0.5, 0.2), np.float32)
    with pytest.warns(UserWarning, match="one flat colour"):
        seg = S.segment_pair(photo, flat, person=False)
    assert len(np.unique(seg.pairs.photo)) >= 2  # the photo's regions are kept (for --only)
    assert all(j == -1 for j in seg.pairs.partner.values())
    res = transfer(photo, flat, masks=seg.pairs, settings=Settings(quality="preview", scales=(160,), iterations=(0,)))
    assert np.isfinite(res.image).all()
    assert (np.abs(res.image - photo).max(-1) > 1e-3).mean() > 0.95  # no unstyled hole


def test_region_absent_from_reference_falls_back_to_whole_reference(tmp_path, sky_pair) -> None:
    from photostyle.pipeline import transfer
    from photostyle.settings import Settings

    photo, ref = sky_pair
    pm = np.zeros(photo.shape[:2], np.int32)
    pm[56:] = 1
    pm[100:, 100:] = 4  # red: the reference mask has no red
    rm = np.zeros(ref.shape[:2], np.int32)
    rm[80:] = 1
    Image.fromarray(colours_from_labels(pm)).save(tmp_path / "pm.png")
    Image.fromarray(colours_from_labels(rm)).save(tmp_path / "rm.png")
    with pytest.warns(UserWarning, match="red have no counterpart"):
        pairs, seg = S.prepare_masks(photo, ref, photo_mask=tmp_path / "pm.png", reference_mask=tmp_path / "rm.png")
    assert pairs is not None and pairs.partner == {0: 0, 1: 1, 4: -1}
    res = transfer(photo, ref, masks=pairs, settings=Settings(quality="preview", scales=(160,), iterations=(0,)))
    assert np.abs(res.image[100:, 100:] - photo[100:, 100:]).max(-1).mean() > 0.02  # styled, not a hole


def test_unknown_mask_colours_are_refused(tmp_path, sky_pair) -> None:
    photo, ref = sky_pair
    bad = (np.random.default_rng(0).random((*photo.shape[:2], 3)) * 255).astype(np.uint8)
    Image.fromarray(bad).save(tmp_path / "bad.png")
    Image.fromarray(colours_from_labels(np.zeros(ref.shape[:2], np.int32))).save(tmp_path / "rm.png")
    with pytest.raises(MasksMaskError, match="bad.png: .* match no colour"):
        S.prepare_masks(photo, ref, photo_mask=tmp_path / "bad.png", reference_mask=tmp_path / "rm.png")


def test_tiny_object_in_user_masks_is_styled(tmp_path, sky_pair) -> None:
    from photostyle.pipeline import transfer
    from photostyle.settings import Settings

    photo, ref = sky_pair
    pm = np.zeros(photo.shape[:2], np.int32)
    pm[56:] = 1
    pm[90:93, 40:43] = 4  # a 3x3 red object; the reference has a red one too
    rm = np.zeros(ref.shape[:2], np.int32)
    rm[80:] = 1
    rm[100:110, 60:70] = 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairs, _ = S.prepare_masks(photo, ref, photo_mask=pm, reference_mask=rm)
    assert pairs is not None and pairs.partner[4] == 4
    res = transfer(photo, ref, masks=pairs, settings=Settings(quality="preview", scales=(160,), iterations=(0,)))
    assert np.abs(res.image[90:93, 40:43] - photo[90:93, 40:43]).max() > 0.01


def test_tiny_images_are_segmented() -> None:
    a = small("astronaut.png", 30)[:20]
    b = small("coffee.png", 12)
    seg = S.segment_pair(a, b)
    assert seg.pairs.photo.shape == a.shape[:2] and seg.pairs.reference.shape == b.shape[:2]
    assert all(j in (k, -1) for k, j in seg.pairs.partner.items())


def test_unknown_backend_is_refused(sky_pair) -> None:
    from photostyle.errors import SettingsError

    with pytest.raises(SettingsError, match="segmenter must be one of"):
        S.segment_pair(*sky_pair, backend="sam")
    with pytest.raises(SettingsError, match="--masks must be one of"):
        S.prepare_masks(*sky_pair, masks="magic")
