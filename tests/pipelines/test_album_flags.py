"""The album's automatic masks (the same as transfer's), each photo's match confidence and the flags of looks that
may be unreliable, on small real photos (DPST dev pairs and the samples at 96-160 px, preview quality)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.imageio import read_image, to_uint
from photostyle.pipeline import transfer
from photostyle.regions import prepare_masks, segment_pair
from photostyle.settings import Settings
from pipelines.album import MANIFEST_NAME, plan_album, read_manifest, run_album
from pipelines.album.flags import look_flags
from pipelines.album.options import AlbumOptions

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
DPST = ROOT.parent / "shared" / "dpst-dev"
PREVIEW = Settings().with_(quality="preview", scales=(160,), iterations=(0,), threads=1)
needs_dpst = pytest.mark.skipif(not (DPST / "input" / "in1.png").exists(), reason="../shared/dpst-dev is not here")


def _small(src: Path, dst: Path, longest: int, gain: float = 1.0) -> Path:
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        a = np.asarray(im, np.float32) * gain
    Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8)).save(dst)
    return dst


def _seg(photo: Path, reference: Path):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment_pair(read_image(photo), read_image(reference), person=False)


@needs_dpst
def test_album_uses_transfer_s_automatic_masks_and_records_the_confidence(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    photo = _small(DPST / "input" / "in1.png", shoot / "in1.png", 160)
    ref = _small(DPST / "style" / "tar1.png", tmp_path / "tar1.png", 160)
    out = tmp_path / "out"
    s = run_album(AlbumOptions(shoot, ref, out, settings=PREVIEW, template="{stem}.png", progress=False))
    assert (s.succeeded, s.failed) == (1, 0)
    entry = read_manifest(out / MANIFEST_NAME)["in1.png"]
    assert entry["masks"] == "auto" and isinstance(entry["flags"], list)
    # the same regions, confidence and look as `transfer --masks auto` (and the GIMP dialog) give this photo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs, seg = prepare_masks(read_image(photo), read_image(ref), masks="auto", settings=PREVIEW)
        alone = transfer(read_image(photo), read_image(ref), masks=pairs, settings=PREVIEW)
    assert seg is not None and entry["match_confidence"] == seg.match_confidence
    assert 0.0 <= entry["match_confidence"] <= 1.0
    written = read_image(out / "in1.png").pixels
    assert np.abs(to_uint(written, 8).astype(int) - to_uint(alone.image, 8).astype(int)).max() <= 1
    glob = run_album(
        AlbumOptions(shoot, ref, tmp_path / "global", settings=PREVIEW, template="{stem}.png", masks="none",
                     progress=False)
    )  # fmt: skip
    assert glob.succeeded == 1
    flat = read_image(tmp_path / "global" / "in1.png").pixels
    assert np.abs(flat - written).mean() > 2 / 255  # the regions change the look: not the global map
    assert read_manifest(tmp_path / "global" / MANIFEST_NAME)["in1.png"]["match_confidence"] is None
    # the masks decide the output: another --masks styles the photo again rather than keeping it
    again = plan_album(AlbumOptions(shoot, ref, out, settings=PREVIEW, template="{stem}.png", masks="none"))
    assert [a[0] for a in again.actions] != ["skip"]


@needs_dpst
def test_matched_scenes_have_a_higher_confidence_than_unrelated_ones(tmp_path: Path) -> None:
    """A city photo with a city reference against the same photo with a flower (an unrelated cross pair)."""
    photo = _small(DPST / "input" / "in1.png", tmp_path / "in1.png", 128)
    same = _seg(photo, _small(DPST / "style" / "tar1.png", tmp_path / "tar1.png", 128))
    other = _seg(photo, _small(DPST / "style" / "tar22.png", tmp_path / "tar22.png", 128))
    assert same.match_confidence is not None and other.match_confidence is not None
    assert same.match_confidence > other.match_confidence + 0.05


def test_clipped_highlights_are_flagged_only_when_the_look_made_them() -> None:
    photo = read_image(SAMPLES / "coffee.png").pixels[::4, ::4]
    assert look_flags(photo, photo, 0.9)[0] == []
    bright = np.clip(photo * 1.8, 0.0, 1.0)  # a look that blows out the cup and the saucer
    reasons, measures = look_flags(photo, bright, 0.9)
    assert reasons == ["clipped_highlights"] and measures["clipped_after"] > measures["clipped_before"] + 0.02
    assert look_flags(bright, bright, 0.9)[0] == []  # the photo's own clipping is not the look's
    assert look_flags(photo, photo, 0.1)[0] == ["low_confidence"]
    assert look_flags(photo, photo, None)[0] == []  # no masks, no confidence: not flagged for it


def test_flagged_photos_come_first_on_the_contact_sheet_and_are_counted(tmp_path: Path) -> None:
    """A reference that is blown out everywhere: the photo of normal exposure comes out clipped (flagged), the
    photo as blown out as the reference does not (its clipping is its own)."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    ref = _small(SAMPLES / "coffee.png", tmp_path / "ref.png", 96, gain=2.2)
    _small(SAMPLES / "coffee.png", shoot / "z_normal.png", 96)
    _small(SAMPLES / "coffee.png", shoot / "a_blown.png", 96, gain=2.2)
    out = tmp_path / "out"
    s = run_album(AlbumOptions(shoot, ref, out, settings=PREVIEW, masks="none", progress=False))
    assert (s.succeeded, s.flagged) == (2, 1)
    m = read_manifest(out / MANIFEST_NAME)
    by_input = {e["input"]: e for e in m.values()}
    assert by_input["z_normal.png"]["flags"] == ["clipped_highlights"]
    assert by_input["a_blown.png"]["flags"] == []
    page = (out / "contact-sheet.html").read_text()
    assert page.index("z_normal.png") < page.index("a_blown.png")  # flagged first, though later by name
    assert "flagged: the look clipped highlights" in page and "1 flagged" in page
    lines = [json.loads(x) for x in (out / MANIFEST_NAME).read_text().splitlines()]
    assert all("flags" in e and "clipped_after" in e for e in lines if e["status"] == "done")


def test_skin_pushed_off_the_skin_line_is_flagged_without_the_guard_only() -> None:
    """The astronaut in the rocket's blue night: --skin free turns her face blue (flagged), the guard does not."""
    import importlib.util

    from photostyle.imaging.resize import resize_longest

    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip("the person model (mediapipe) is not installed")
    photo = resize_longest(read_image(SAMPLES / "astronaut.png").pixels, 200)
    night = resize_longest(read_image(SAMPLES / "rocket.jpg").pixels, 256)
    guarded = transfer(photo, night, settings=Settings(quality="preview", skin="protect"))
    free = transfer(photo, night, settings=Settings(quality="preview", skin="free"))
    assert guarded.skin is not None and free.skin is None  # the guard looked for skin; free did not
    flags_free, measures_free = look_flags(photo, free.image, None, guarded.skin)
    flags_guarded, measures_guarded = look_flags(photo, guarded.image, None, guarded.skin)
    assert "skin_off_line" in flags_free and measures_free["skin_off_line"] > 0.5
    assert "skin_off_line" not in flags_guarded and measures_guarded["skin_off_line"] < 0.2
    assert look_flags(photo, free.image, None, None)[0] == []  # no skin found: no skin flag
