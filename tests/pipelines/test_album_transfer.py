"""One default path: ``photostyle album`` and ``photostyle transfer`` with the same settings give a photo the same
image, bit for bit: the same automatic masks (people included), confidence, controls and skin guard. Run through
the command line, as a user would, on a portrait (the person model and the skin guard at work) and a photo
without a person, each with the whole shoot styled in one worker (the reference analysed once for both)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.cli import main
from photostyle.imageio import read_image
from photostyle.regions import PersonSegmenter
from pipelines.album import MANIFEST_NAME, read_manifest

from ..conftest import SAMPLES

needs_mediapipe = pytest.mark.skipif(not PersonSegmenter().available(), reason="mediapipe is not installed")


def _small(src: Path, dst: Path, longest: int) -> Path:
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        im.save(dst)
    return dst


@pytest.mark.parametrize("controls", [(), ("--strength", "0.7", "--preserve-color", "luminance")])
@needs_mediapipe
def test_album_and_transfer_give_the_same_image(tmp_path: Path, controls: tuple[str, ...]) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    photos = [_small(SAMPLES / n, shoot / f"{Path(n).stem}.png", 200) for n in ("astronaut.png", "chelsea.png")]
    ref = _small(SAMPLES / "rocket.jpg", tmp_path / "rocket.png", 200)
    settings = ("--quality", "preview", "--threads", "2", *controls)  # masks auto and skin protect: the defaults
    out = tmp_path / "album"
    assert main(["album", str(shoot), "-r", str(ref), "-o", str(out), "--name", "{stem}.png", "-q", *settings]) == 0
    manifest = read_manifest(out / MANIFEST_NAME)
    for photo in photos:
        alone = tmp_path / f"{photo.stem}_transfer.png"
        assert main(["transfer", str(photo), str(ref), "-o", str(alone), *settings]) == 0
        a, b = read_image(out / photo.name).pixels, read_image(alone).pixels
        assert a.shape == b.shape and np.array_equal(a, b), f"{photo.name}: album and transfer differ"
        # the same regions and confidence as `photostyle masks` finds for the pair
        masks = tmp_path / f"{photo.stem}_masks"
        assert main(["masks", str(photo), str(ref), "-o", str(masks)]) == 0
        legend = json.loads((masks / "legend.json").read_text())
        assert manifest[photo.name]["match_confidence"] == legend["match_confidence"]
    assert any(r["name"] == "person" for r in legend_of(tmp_path / "astronaut_masks"))  # the portrait's person


def legend_of(folder: Path) -> list[dict[str, object]]:
    regions: list[dict[str, object]] = json.loads((folder / "legend.json").read_text())["regions"]
    return regions


@needs_mediapipe
def test_an_album_analyses_its_reference_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three photos, one worker (--jobs 1 runs in this process): the reference is described (VGG-19, superpixels)
    and looked at by the person model once for the shoot; each photo's person map serves its regions and its
    skin guard."""
    from photostyle.regions import features, person
    from photostyle.settings import Settings
    from pipelines.album import run_album
    from pipelines.album.options import AlbumOptions

    described: list[tuple[int, int]] = []
    looked: list[tuple[int, int]] = []
    real_describe, real_person = features._describe, person.PersonSegmenter._probability

    def describe(img: np.ndarray, vgg_weights: str | None) -> features._Described:
        described.append(img.shape[:2])
        return real_describe(img, vgg_weights)

    def probability(self: person.PersonSegmenter, image: np.ndarray) -> np.ndarray:
        looked.append(image.shape[:2])
        return real_person(self, image)

    monkeypatch.setattr(features, "_describe", describe)
    monkeypatch.setattr(features, "_DESCRIBED", type(features._DESCRIBED)())
    monkeypatch.setattr(person.PersonSegmenter, "_probability", probability)
    monkeypatch.setattr(person, "_PROBABILITY", type(person._PROBABILITY)())
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for n in ("astronaut.png", "chelsea.png", "coffee.png"):
        _small(SAMPLES / n, shoot / f"{Path(n).stem}.png", 160)
    ref = _small(SAMPLES / "rocket.jpg", tmp_path / "rocket.png", 150)
    settings = Settings.preset("preview").with_(threads=2)
    s = run_album(AlbumOptions(shoot, ref, tmp_path / "out", settings=settings, progress=False, contact_sheet=False))
    assert (s.succeeded, s.failed) == (3, 0)
    ref_hw = read_image(ref).pixels.shape[:2]
    assert described.count(ref_hw) == 1 and len(described) == 4
    assert looked.count(ref_hw) == 1 and len(looked) == 4  # the skin guard ran the model on no photo again
