"""The skin guard (Settings.skin): the astronaut's skin stays on the skin-tone line under a blue night look with
'protect' and leaves it with 'free'; nothing outside the skin mask changes, and photos without people not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photostyle import transfer
from photostyle.engine.skin import CHROMA_RANGE, HUE_BAND, MAX_HUE_SHIFT, guard_skin, lab_hue_chroma
from photostyle.errors import SettingsError
from photostyle.imageio import read_image
from photostyle.imaging.resize import resize_longest
from photostyle.regions.person import PersonSegmenter
from photostyle.regions.skin import skin_mask
from photostyle.service.protocol import build_settings
from photostyle.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
needs_mediapipe = pytest.mark.skipif(not PersonSegmenter().available(), reason="mediapipe is not installed")


def small(name: str, longest: int = 200) -> np.ndarray:
    return resize_longest(read_image(SAMPLES / name).pixels, longest)


@pytest.fixture(scope="module")
def astronaut() -> dict[str, np.ndarray]:
    photo = small("astronaut.png")
    night = small("rocket.jpg", 256)
    mask = skin_mask(photo)
    assert mask is not None, "the person model found no skin on the astronaut"
    out = {
        skin: transfer(photo, night, settings=Settings(quality="preview", skin=skin)).image
        for skin in ("free", "protect")
    }
    return {"photo": photo, "mask": mask, **out}


def _median_hue(rgb: np.ndarray) -> float:
    _, hue, _ = lab_hue_chroma(rgb)
    rad = np.radians(hue)
    return float(np.degrees(np.arctan2(np.median(np.sin(rad)), np.median(np.cos(rad)))) % 360.0)


def _hue_change(a: float, b: float) -> float:
    return abs((b - a + 180.0) % 360.0 - 180.0)


@needs_mediapipe
def test_the_mask_is_the_face_not_the_suit_or_the_background(astronaut: dict[str, np.ndarray]) -> None:
    m = astronaut["mask"]
    h, w = m.shape
    assert set(np.unique(m[m > 0] <= 1)) == {True} and m.min() >= 0
    face = m[int(0.2 * h) : int(0.33 * h), int(0.38 * w) : int(0.5 * w)]  # the face, between eyes and chin
    assert face.mean() > 0.8
    assert m[: int(0.4 * h), : int(0.12 * w)].max() == 0  # the flag
    assert 0.01 < (m > 0.5).mean() < 0.2


@needs_mediapipe
def test_protect_keeps_the_skin_hue_on_the_skin_line_and_free_does_not(astronaut: dict[str, np.ndarray]) -> None:
    skin = astronaut["mask"] > 0.5
    before = _median_hue(astronaut["photo"][skin])
    assert HUE_BAND[0] <= before <= HUE_BAND[1]
    protect = _median_hue(astronaut["protect"][skin])
    free = _median_hue(astronaut["free"][skin])
    assert HUE_BAND[0] <= protect <= HUE_BAND[1]
    assert _hue_change(before, protect) <= 1.5 * MAX_HUE_SHIFT  # per pixel at most MAX_HUE_SHIFT
    assert not HUE_BAND[0] - 20 <= free <= HUE_BAND[1] + 20  # the blue night turns it blue
    assert _hue_change(before, free) > 5 * _hue_change(before, protect)
    # the look's lightness is kept on skin (the guard moves hue and chroma only)
    lp, _, cp = lab_hue_chroma(astronaut["protect"][skin])
    lf, _, _ = lab_hue_chroma(astronaut["free"][skin])
    assert np.median(np.abs(lp - lf)) < 1.0
    _, _, c0 = lab_hue_chroma(astronaut["photo"][skin])
    ratio = np.median(cp) / np.median(c0)
    assert CHROMA_RANGE[0] - 0.05 <= ratio <= CHROMA_RANGE[1] + 0.05


@needs_mediapipe
def test_nothing_outside_the_skin_mask_changes(astronaut: dict[str, np.ndarray]) -> None:
    off = astronaut["mask"] == 0
    assert off.mean() > 0.7
    np.testing.assert_array_equal(astronaut["protect"][off], astronaut["free"][off])
    assert not np.array_equal(astronaut["protect"], astronaut["free"])
    # the array function alone: the look comes back bit-identical where its mask is 0, and with no mask
    photo, look = astronaut["photo"], astronaut["free"]
    guarded = guard_skin(photo, look, astronaut["mask"])
    np.testing.assert_array_equal(guarded[off], look[off])
    np.testing.assert_array_equal(guard_skin(photo, look, None), look)


@needs_mediapipe
@pytest.mark.parametrize("name", ["chelsea.png", "coffee.png"])
def test_photos_without_people_come_out_bit_identical(name: str) -> None:
    photo = small(name)
    assert skin_mask(photo) is None
    night = small("rocket.jpg", 256)
    free = transfer(photo, night, settings=Settings(quality="preview", skin="free")).image
    said: list[str] = []
    protect = transfer(
        photo, night, settings=Settings(quality="preview", skin="protect"), progress=lambda f, m: said.append(m)
    ).image
    np.testing.assert_array_equal(free, protect)
    # the progress says it looked, and claims no protection where there is no one to protect
    assert "looking for skin" in said and not any(m.startswith("protecting skin") for m in said), said


@needs_mediapipe
def test_the_progress_names_the_skin_guard_only_where_it_finds_skin() -> None:
    said: list[str] = []
    transfer(
        small("astronaut.png"),
        small("rocket.jpg", 256),
        settings=Settings(quality="preview", skin="protect"),
        progress=lambda f, m: said.append(m),
    )
    assert said.index("looking for skin") < said.index("protecting skin tones") < said.index("done"), said


def test_the_setting_is_checked_and_travels_through_the_service() -> None:
    assert Settings().skin == "protect"
    with pytest.raises(SettingsError, match="skin must be 'protect'"):
        Settings(skin="keep")
    assert build_settings({"quality": "preview", "skin": "free"}).skin == "free"
    with pytest.raises(SettingsError, match="skin must be"):
        build_settings({"skin": 1})


def test_an_album_manifest_from_before_the_guard_reads_as_skin_free() -> None:
    from pipelines.album.manifest import settings_key

    old = Settings(quality="preview").to_dict()
    del old["skin"]  # what manifests written before the setting hold
    assert settings_key(old) == settings_key(Settings(quality="preview", skin="free").to_dict())
    assert settings_key(old) != settings_key(Settings(quality="preview").to_dict())  # protect: redone
