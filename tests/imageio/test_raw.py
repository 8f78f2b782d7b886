"""Camera RAW decoding (photostyle.imageio.raw, through read_image) on small DNGs written with tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rawpy
from PIL import Image, ImageCms

from photostyle.errors import InputError
from photostyle.imageio import read_image, write_image
from tests.imageio.dng_writer import write_dng

PATCHES = {"grey": (0.5, 0.5, 0.5), "red": (0.8, 0.3, 0.2), "blue": (0.2, 0.4, 0.7)}


def patches() -> np.ndarray:
    img = np.zeros((64, 96, 3))
    for i, rgb in enumerate(PATCHES.values()):
        img[:, 32 * i : 32 * (i + 1)] = rgb
    return img


def patch_means(pixels: np.ndarray) -> dict[str, np.ndarray]:
    return {name: pixels[16:48, 32 * i + 8 : 32 * i + 24].mean((0, 1)) for i, name in enumerate(PATCHES)}


def test_decodes_colours_with_the_camera_white_balance(tmp_path: Path) -> None:
    # a camera whose red and blue channels record 0.5x and 0.8x of green for a neutral grey
    dng = write_dng(tmp_path / "tinted.dng", patches(), neutral=(0.5, 1.0, 0.8))
    photo = read_image(dng)
    assert photo.bit_depth == 16 and photo.pixels.dtype == np.float32 and photo.pixels.shape == (64, 96, 3)
    for name, mean in patch_means(photo.pixels).items():
        np.testing.assert_allclose(mean, PATCHES[name], atol=0.02, err_msg=name)
    # control: the same file decoded without the camera's white balance is visibly tinted
    with rawpy.imread(str(dng)) as raw:
        plain = raw.postprocess(use_camera_wb=False, no_auto_bright=True, output_bps=16, gamma=(2.4, 12.92))
    grey = patch_means(plain.astype(np.float32) / 65535.0)["grey"]
    assert grey[1] - grey[0] > 0.1


def test_no_auto_brightening(tmp_path: Path) -> None:
    dark = write_dng(tmp_path / "dark.dng", patches() * 0.2)
    means = patch_means(read_image(dark).pixels)
    np.testing.assert_allclose(means["grey"], 0.1, atol=0.01)  # as exposed, not stretched to the full range
    assert read_image(dark).pixels.max() < 0.25


def test_metadata_orientation_and_profile(tmp_path: Path) -> None:
    dng = write_dng(tmp_path / "turned.dng", patches(), orientation=6, artist="Ada Lovelace")
    photo = read_image(dng)
    assert photo.pixels.shape == (96, 64, 3)  # turned upright as the camera said
    exif = Image.Exif()
    assert photo.exif is not None
    exif.load(photo.exif)
    assert exif[271] == "Photostyle" and exif[272] == "Test Camera" and exif[315] == "Ada Lovelace"
    assert exif[306] == "2024:05:06 07:08:09"
    assert exif.get(0x0112) == 1  # the pixels are upright now
    assert 50721 not in exif and 33422 not in exif  # sensor tags (colour matrix, CFA) are not carried
    assert photo.icc_profile is not None
    profile = ImageCms.ImageCmsProfile(ImageCms.core.profile_frombytes(photo.icc_profile))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    out = write_image(tmp_path / "out.jpg", photo.pixels, like=photo)
    with Image.open(out) as im:
        assert im.getexif()[315] == "Ada Lovelace" and im.info.get("icc_profile") == photo.icc_profile


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_raw_is_a_clear_input_error(tmp_path: Path, damage: str) -> None:
    good = write_dng(tmp_path / "good.dng", patches()).read_bytes()
    bad = tmp_path / f"{damage}.dng"
    bad.write_bytes(good[:200] if damage == "truncated" else b"not a raw file at all" * 50)
    with pytest.raises(InputError, match=f"{damage}.dng") as err:
        read_image(bad)
    assert "RAW" in str(err.value) or "decode" in str(err.value)
