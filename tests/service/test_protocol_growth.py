"""What the protocol grew for the GIMP dialog (issue 16), on a real service: a reference sent as pixels (GIMP
decoded it, or it is an open image), the regions task (the automatic regions and their partners, with an overlay),
per-region strength, and progress words that say why nothing moves yet. Old requests keep working."""

from __future__ import annotations

import json

import numpy as np
import pytest

from photostyle.imageio import read_image, to_uint
from photostyle.pipeline import transfer
from photostyle.regions import prepare_masks
from photostyle.service import build_settings, pack

from .test_service import call, pair, post_transfer, request_bytes, service  # noqa: F401 - fixtures

PREVIEW = {"quality": "preview", "threads": 1}


def pixel_request(pair: dict, settings: dict, **extra: object) -> bytes:  # noqa: F811
    photo = pair["photo"]
    ref = to_uint(read_image(pair["ref_path"]).pixels, 8)
    h, w = photo.shape[:2]
    header = {
        "protocol": 1,
        "photo": {"width": w, "height": h, "dtype": "u8", "byteorder": "little"},
        "reference_name": "open image.png",
        "reference_image": {"width": ref.shape[1], "height": ref.shape[0], "dtype": "u8", "byteorder": "little"},
        "settings": settings,
        "masks": "auto",
        **extra,
    }
    return pack(header, [("photo", photo.tobytes()), ("reference", ref.tobytes())])


def test_a_reference_sent_as_pixels_gives_the_file_s_look(service, pair) -> None:  # noqa: F811
    info = service["info"]
    from_file, img_file, _ = post_transfer(info, request_bytes(pair, PREVIEW, masks="auto"))
    from_pixels, img_pixels, lines = post_transfer(info, pixel_request(pair, PREVIEW))
    assert from_file["ok"] and from_pixels["ok"], from_pixels
    a = np.frombuffer(img_file, np.uint8).astype(int)
    b = np.frombuffer(img_pixels, np.uint8).astype(int)
    assert np.abs(a - b).max() <= 1
    assert from_pixels["match_confidence"] == from_file["match_confidence"]  # the confidence travels back
    # the first words are honest: nothing is loading and no other job runs
    # the first heartbeat says "starting" (nothing else runs), unless the job ended before it (cached regions)
    assert lines[0]["message"] in ("starting", "done") and lines[-1]["message"] == "done", lines[:3]
    assert not any("model loading, or another job" in m["message"] for m in lines)


def test_the_regions_task_lists_regions_partners_and_an_overlay(service, pair) -> None:  # noqa: F811
    info = service["info"]
    header, overlay, _ = post_transfer(info, pixel_request(pair, PREVIEW, task="regions"))
    assert header["ok"] and header["task"] == "regions", header
    h, w = pair["photo"].shape[:2]
    assert (header["width"], header["height"], header["dtype"]) == (w, h, "u8")
    pic = np.frombuffer(overlay, np.uint8).reshape(h, w, 3)
    assert np.abs(pic.astype(int) - pair["photo"].astype(int)).mean() > 5  # tinted by region
    assert (pic == 255).all(2).mean() < 0.2  # borders and names drawn, not the whole small photo painted white
    ref = read_image(pair["ref_path"])
    pairs, seg = prepare_masks(pair["photo"], ref, masks="auto", settings=build_settings(PREVIEW))
    assert seg is not None and pairs is not None
    assert sorted(r["id"] for r in header["regions"]) == pairs.photo_regions()  # the ids a transfer uses
    for r in header["regions"]:
        assert r["name"] and r["partner"] and 0 < r["area_pct"] <= 100, r
    assert header["match_confidence"] == seg.match_confidence

    # and a strength for one region reaches the engine: that region changes less, the others not at all
    k = max(header["regions"], key=lambda r: r["area_pct"])["id"]
    half = dict(PREVIEW, region_strength=[[k, 0.0]])
    full_h, full, _ = post_transfer(info, pixel_request(pair, PREVIEW))
    part_h, part, _ = post_transfer(info, pixel_request(pair, half))
    assert full_h["ok"] and part_h["ok"], part_h
    lib = transfer(pair["photo"], ref, masks=pairs, settings=build_settings(half))
    got = np.frombuffer(part, np.uint8).reshape(h, w, 3).astype(int)
    assert np.abs(got - to_uint(lib.image, 8).astype(int)).max() <= 1
    assert np.abs(got - np.frombuffer(full, np.uint8).reshape(h, w, 3).astype(int)).mean() > 1


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"task": "paint"}, "task must be one of transfer, regions"),
        ({"task": "regions", "masks": "none"}, "regions task shows the automatic regions"),
        ({"reference_image": {"width": 4, "height": 4, "dtype": "u8"}}, "reference data is"),
        ({"reference_image": "big"}, "reference_image must be an object"),
    ],
)
def test_bad_new_fields_are_named(service, pair, extra, words) -> None:  # noqa: F811
    status, data = call(service["info"], "POST", "/v1/transfer", pixel_request(pair, PREVIEW, **extra))
    assert status == 400 and words in json.loads(data)["error"], data
