"""``album --normalize``: a shoot whose exposure and white balance drifted comes out consistent.

Drift shoots are made from the samples by changing exposure and white balance in linear light, as a camera's drift
does, and by reframing (crop, mirror image) as a photographer does; small images, preview quality. The spread is
measured on the part of the scene every frame shows (frames of different framings differ in content otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from photostyle.imageio import read_image, write_image
from photostyle.imaging.exposure import Correction, apply_correction, drift, pair_offset, shoot_corrections
from photostyle.imaging.resize import resize_longest
from photostyle.settings import Settings
from pipelines.album import MANIFEST_NAME, AlbumOptions, read_manifest, run_album
from pipelines.album.normalize import describe_regions

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
# half strength: the look keeps half of each photo's own colours, so a drift that is not corrected shows in the
# outputs (at full strength the preview look maps every photo's colour statistics to the reference's and absorbs
# most of a global drift by itself)
PREVIEW = Settings().with_(quality="preview", scales=(128,), iterations=(0,), threads=1, strength=0.5)
# (EV, white-balance gains): under-exposed and warm, as shot, over-exposed and cool
DRIFT = [(-0.6, (1.12, 1.0, 0.86)), (0.0, (1.0, 1.0, 1.0)), (0.6, (0.9, 1.0, 1.14))]
HEADROOM = -0.6  # the scenes' middle frame is the photo 0.6 EV down, so the +0.6 EV frame clips no more than it
Cut = tuple[float, float, float, float, bool]
# each frame's cut of the scene, as shares (top, bottom, left, right) and a mirror flag: the top-left 80 x 75 %,
# the whole scene, the bottom-right 80 x 75 % mirrored; all three show the middle (20-80 %, 25-75 %)
CUTS: list[Cut] = [(0.0, 0.8, 0.0, 0.75, False), (0.0, 1.0, 0.0, 1.0, False), (0.2, 1.0, 0.25, 1.0, True)]
COMMON = (0.2, 0.8, 0.25, 0.75)


def _scene(name: str, size: int = 256) -> np.ndarray:
    return resize_longest(read_image(SAMPLES / name).pixels, size)


def _box(shape: tuple[int, ...], cut: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    return round(cut[0] * h), round(cut[1] * h), round(cut[2] * w), round(cut[3] * w)


def _frame(scene: np.ndarray, cut: Cut) -> np.ndarray:
    y0, y1, x0, x1 = _box(scene.shape, cut[:4])
    part = scene[y0:y1, x0:x1]
    return part[:, ::-1] if cut[4] else part


def _common(frame: np.ndarray, scene_shape: tuple[int, ...], cut: Cut) -> np.ndarray:
    """The part of the scene every frame shows, cut out of FRAME (frame CUT of a scene of SCENE_SHAPE)."""
    y0, _, x0, _ = _box(scene_shape, cut[:4])
    c0, c1, d0, d1 = _box(scene_shape, COMMON)
    upright = frame[:, ::-1] if cut[4] else frame
    return upright[c0 - y0 : c1 - y0, d0 - x0 : d1 - x0]


def _spread(imgs: list[np.ndarray]) -> float:
    """Mean distance (Delta E 1976) of each photo's mean Lab from the scene's mean."""
    m = np.array([rgb2lab(np.clip(x, 0, 1)).reshape(-1, 3).mean(axis=0) for x in imgs])
    return float(np.linalg.norm(m - m.mean(axis=0), axis=1).mean())


def _reframed_shoot(scene: np.ndarray) -> list[np.ndarray]:
    return [drift(_frame(scene, cut), ev, wb) for cut, (ev, wb) in zip(CUTS, DRIFT, strict=True)]


def _common_spread(frames: list[np.ndarray], shape: tuple[int, ...]) -> float:
    return _spread([_common(f, shape, cut) for f, cut in zip(frames, CUTS, strict=True)])


def test_reframed_drift_shoot_is_corrected() -> None:
    """Crops and a mirror image of two scenes, each frame drifted: matched within its scene only, corrected."""
    scenes = [drift(_scene(n), HEADROOM, (1, 1, 1)) for n in ("astronaut.png", "coffee.png")]
    shoot = [f for s in scenes for f in _reframed_shoot(s)]
    corrections = shoot_corrections([describe_regions(p) for p in shoot])
    for k, scene in enumerate(scenes):
        frames, own = shoot[3 * k : 3 * k + 3], corrections[3 * k : 3 * k + 3]
        before = _common_spread(frames, scene.shape)
        after = _common_spread([apply_correction(p, c) for p, c in zip(frames, own, strict=True)], scene.shape)
        assert before > 3.0  # the drift is visible
        assert after <= 0.35 * before, (k, before, after, own)
        assert all(c.matched >= 1 and c.regions >= 12 for c in own), own  # matched within the scene ...
        assert sum(c.matched for c in own) <= 6  # ... and not across scenes
    # the warm, dark frame is brightened and cooled; the true change is known
    truth = 0.6 - np.log2(1.12 * 0.2126 + 0.7152 + 0.86 * 0.0722)
    assert corrections[0].ev == pytest.approx(truth, abs=0.08)
    assert corrections[0].wb[0] < 1.0 < corrections[0].wb[2]


def test_consistent_photos_change_by_under_one_delta_e() -> None:
    """Three scenes as shot and reframings of one at the same exposure: recognised as one scene, left alone."""
    scenes = [_scene(n) for n in ("astronaut.png", "coffee.png", "chelsea.png")]
    h, w = scenes[0].shape[:2]
    frames = [scenes[0][h // 10 :, : w - w // 8], scenes[0][: h - h // 6, w // 5 :][:, ::-1]]
    shoot = [*frames, *scenes]
    corrections = shoot_corrections([describe_regions(p) for p in shoot])
    assert corrections[0].matched >= 1 and corrections[1].matched >= 1  # the reframings are recognised
    for p, c in zip(shoot, corrections, strict=True):
        de = deltaE_ciede2000(rgb2lab(p), rgb2lab(apply_correction(p, c)))
        assert float(de.mean()) < 1.0, c


def test_clipped_frame_is_estimated_without_its_highlights_and_not_greyed() -> None:
    """The +0.6 EV frame of the photo as it is clips its bright parts (the white suit): the estimate leaves them
    out, and the correction brings them to what the other frames show there, not to the grey a plain gain gives."""
    scene = _scene("astronaut.png")
    frames = _reframed_shoot(scene)
    clipped = frames[2].max(axis=2) >= 0.99
    assert clipped.mean() > 0.05  # the frame really clips
    corrections = shoot_corrections([describe_regions(p) for p in frames])
    fix = corrections[2]
    truth = -0.6 - np.log2(0.9 * 0.2126 + 0.7152 + 1.14 * 0.0722)
    assert fix.ev == pytest.approx(truth, abs=0.08)
    assert corrections[1].is_identity  # the middle frame is the median: left as shot
    # the scene as the middle frame shows it, where the clipped frame clipped (mirrored back into the scene)
    y0, y1, x0, x1 = _box(scene.shape, CUTS[2][:4])
    shown = scene[y0:y1, x0:x1][:, ::-1][clipped]
    plain = Correction(fix.ev, fix.wb, fix.matched, fix.regions, None)
    assert fix.highlights is not None
    lift = np.asarray(fix.highlights) - plain.gains
    assert lift.min() >= 0.0 and lift.max() > 0.05, lift  # clipped channels come out brighter than the gain
    error = float(np.abs(apply_correction(frames[2], fix)[clipped] - shown).mean())
    error_plain = float(np.abs(apply_correction(frames[2], plain)[clipped] - shown).mean())
    assert error < 0.85 * error_plain, (error, error_plain)
    before = _common_spread(frames, scene.shape)
    after = _common_spread([apply_correction(p, c) for p, c in zip(frames, corrections, strict=True)], scene.shape)
    grey = _common_spread([*[apply_correction(p, c) for p, c in zip(frames[:2], corrections[:2], strict=True)],
                           apply_correction(frames[2], plain)], scene.shape)  # fmt: skip
    assert after <= 0.35 * before, (before, after)
    assert after < grey, (after, grey)


def test_a_red_dress_does_not_move_the_estimate() -> None:
    scene = drift(_scene("coffee.png"), HEADROOM, (1, 1, 1))
    a = scene
    b = drift(_frame(scene, CUTS[2]), 0.5, (0.9, 1.0, 1.1)).copy()
    h, w = b.shape[:2]
    b[h // 4 : h // 2, w // 4 : w // 2] = (0.8, 0.05, 0.08)  # a red dress walked in (1/16 of the frame)
    off = pair_offset(describe_regions(a), describe_regions(b))
    assert off is not None
    truth = 0.5 + np.log2(0.9 * 0.2126 + 0.7152 + 1.1 * 0.0722)
    assert off.ev == pytest.approx(truth, abs=0.05)
    assert off.wb == pytest.approx([np.log(0.9), np.log(1.1)], abs=0.03)
    # an unrelated scene is not a match
    assert pair_offset(describe_regions(a), describe_regions(_scene("chelsea.png"))) is None


def _write_shoot(folder: Path) -> tuple[list[str], np.ndarray]:
    folder.mkdir()
    scene = drift(_scene("astronaut.png", 160), HEADROOM, (1, 1, 1))
    names = []
    for i, frame in enumerate(_reframed_shoot(scene)):
        names.append(f"a{i}.png")
        write_image(folder / names[-1], frame, bit_depth=16)
    with Image.open(SAMPLES / "coffee.png") as im:  # an unrelated photo: matches none, left as shot
        im.convert("RGB").resize((128, 85)).save(folder / "b.png")
    return names, scene


def test_album_normalize_records_applies_and_restyles(tmp_path: Path) -> None:
    shoot, out = tmp_path / "shoot", tmp_path / "out"
    names, scene = _write_shoot(shoot)
    reference = SAMPLES / "rocket.jpg"
    plain = run_album(AlbumOptions(shoot, reference, out, settings=PREVIEW, progress=False, masks="none"))
    assert plain.succeeded == 4
    entries = read_manifest(out / MANIFEST_NAME)
    assert all("normalize" not in e for e in entries.values())
    outputs = [out / f"{Path(n).stem}_rocket.jpg" for n in names]
    before = _common_spread([read_image(p).pixels for p in outputs], scene.shape)

    # changing --normalize makes the outputs out of date, like other settings: refused without --overwrite ...
    o = AlbumOptions(shoot, reference, out, settings=PREVIEW, progress=False, masks="none", normalize="both")
    refused = run_album(o)
    assert refused.failed == 4 and "another --normalize correction" in refused.failures[0][1]
    # ... styled again with it
    o = AlbumOptions(
        shoot, reference, out, settings=PREVIEW, progress=False, masks="none", normalize="both", overwrite=True
    )
    fixed = run_album(o)
    assert (fixed.succeeded, fixed.skipped) == (4, 0), fixed.failures
    entries = read_manifest(out / MANIFEST_NAME)
    records = {e["input"]: e["normalize"] for e in entries.values()}
    # the unrelated photo: too few regions match any other photo, so it is left as shot, and recorded so
    assert records["b.png"] == {
        "mode": "both", "ev": 0.0, "wb": [1.0, 1.0, 1.0], "matched": 0, "regions": 0, "highlights": None
    }  # fmt: skip
    assert records["a0.png"]["ev"] > 0.4 and records["a2.png"]["ev"] < -0.4
    assert records["a0.png"]["wb"][0] < 1.0 < records["a0.png"]["wb"][2]  # the warm frame is cooled
    assert all(records[n]["matched"] >= 1 and records[n]["regions"] >= 12 for n in names)
    after = _common_spread([read_image(p).pixels for p in outputs], scene.shape)
    assert after <= 0.35 * before, (before, after)
    line = json.loads((out / MANIFEST_NAME).read_text().splitlines()[0])
    assert "normalize" in line

    again = run_album(o)  # same flag: all up to date
    assert (again.succeeded, again.skipped) == (0, 4)
    wb_only = run_album(
        AlbumOptions(
            shoot, reference, out, settings=PREVIEW, progress=False, masks="none", normalize="wb", overwrite=True
        )
    )
    assert wb_only.succeeded == 4  # the mode is part of each record
    records = {e["input"]: e["normalize"] for e in read_manifest(out / MANIFEST_NAME).values()}
    assert records["a0.png"]["ev"] == 0.0 and records["a0.png"]["mode"] == "wb"
