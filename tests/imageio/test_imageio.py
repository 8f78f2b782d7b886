from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from photostyle.errors import InputError, OutputError
from photostyle.imageio import read_image, write_image
from tests.conftest import SAMPLES, small


def exif_bytes(make: str = "PhotostyleCam") -> bytes:
    ex = Image.Exif()
    ex[0x010F] = make
    ex[0x0110] = "Model 1"
    return ex.tobytes()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize(("suffix", "depth"), [(".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".jpg", 8)])
def test_round_trip_keeps_depth_exif_and_icc(tmp_path, suffix: str, depth: int) -> None:
    src = tmp_path / "src.jpg"
    Image.fromarray((small("chelsea.png", 64) * 255).astype(np.uint8)).save(
        src, exif=exif_bytes(), icc_profile=srgb_icc(), quality=95
    )
    photo = read_image(src)
    gradient = np.linspace(0, 1, 64 * 43 * 3, dtype=np.float32).reshape(43, 64, 3)
    out = write_image(tmp_path / f"out{suffix}", gradient, like=photo, bit_depth=depth)
    back = read_image(out)
    assert back.bit_depth == depth and back.size == (64, 43)
    assert out.stat().st_mode & 0o644 == 0o644  # readable like any image, not mkstemp's 0600
    tol = 0.02 if suffix == ".jpg" else (1 / 65535 if depth == 16 else 1 / 255)
    assert np.abs(back.pixels - gradient).max() <= tol + 1e-6
    assert back.icc_profile == photo.icc_profile
    ex = Image.Exif()
    ex.load(back.exif)
    assert ex[0x010F] == "PhotostyleCam"


def test_sixteen_bit_tiff_keeps_precision(tmp_path) -> None:
    a = np.random.default_rng(0).integers(0, 65535, (30, 40, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    p = read_image(tmp_path / "a.tif")
    assert p.bit_depth == 16 and np.array_equal(np.round(p.pixels * 65535).astype(np.uint16), a)


def test_exif_orientation_is_applied(tmp_path) -> None:
    img = (small("chelsea.png", 64) * 255).astype(np.uint8)
    ex = Image.Exif()
    ex[0x0112] = 6  # rotate 90 CW to display
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=ex.tobytes(), quality=98)
    p = read_image(tmp_path / "r.jpg")
    assert p.size == (img.shape[0], img.shape[1])  # upright: width and height swapped
    out = Image.Exif()
    out.load(p.exif)
    assert out.get(0x0112, 1) == 1


def test_grey_alpha_and_cmyk_convert_with_a_warning(tmp_path) -> None:
    rgb = (small("chelsea.png", 64) * 255).astype(np.uint8)
    Image.fromarray(rgb).convert("L").save(tmp_path / "g.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg")
    for name, what in [("g.png", "grey-scale"), ("a.png", "alpha"), ("c.jpg", "CMYK")]:
        with pytest.warns(UserWarning, match=f"{name}.*{what}"):
            p = read_image(tmp_path / name)
        assert p.pixels.shape[2] == 3


def test_bad_files_give_one_clear_error(tmp_path) -> None:
    with pytest.raises(InputError, match="nope.jpg: photo not found"):
        read_image(tmp_path / "nope.jpg", role="photo")
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(InputError, match="x.gif: unsupported image format"):
        read_image(tmp_path / "x.gif")
    good = (SAMPLES / "rocket.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(good[:200])
    with pytest.raises(InputError, match="cut.jpg: cannot decode.*corrupt"):
        read_image(tmp_path / "cut.jpg")


def test_never_overwrites_and_leaves_no_partial_file(tmp_path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"the user's file")
    with pytest.raises(OutputError, match="already exists.*--overwrite"):
        write_image(target, np.zeros((20, 20, 3), np.float32))
    assert target.read_bytes() == b"the user's file"
    with pytest.raises(OutputError, match="does not exist"):
        write_image(tmp_path / "no" / "dir.png", np.zeros((20, 20, 3), np.float32))
    with pytest.raises(OutputError, match=r"bad.png: expected RGB pixels"):
        write_image(tmp_path / "bad.png", np.zeros((20, 20, 7), np.float32))


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_image(tmp_path / "out.tif", np.zeros((20, 20, 3), np.float32))
    assert os.listdir(tmp_path) == []


def test_float_tiff_nan_is_repaired_and_hdr_clipping_is_reported(tmp_path) -> None:
    a = np.tile(np.linspace(0.2, 0.8, 40, dtype=np.float32)[None, :, None], (30, 1, 3))
    a[10, 10] = np.nan
    a[5, 20, 1] = np.inf
    a[20, 30] = [np.nan, 0.5, -np.inf]
    tifffile.imwrite(tmp_path / "nan.tif", a, photometric="rgb")
    with pytest.warns(UserWarning, match=r"nan.tif: 3 pixels with NaN or infinite values") as got:
        p = read_image(tmp_path / "nan.tif")
    assert len(got) == 1 and np.isfinite(p.pixels).all()
    np.testing.assert_allclose(p.pixels[10, 10], a[10, 9], atol=0.02)  # from its neighbours, not black
    hdr = a.copy()
    hdr[np.isnan(hdr) | np.isinf(hdr)] = 0.5
    hdr[:2] *= 3.0
    tifffile.imwrite(tmp_path / "hdr.tif", hdr, photometric="rgb")
    with pytest.warns(UserWarning, match=r"hdr.tif: \d+ pixels with values outside 0-1.*clipped") as got:
        p = read_image(tmp_path / "hdr.tif")
    assert len(got) == 1 and p.pixels.max() == 1.0


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and header chunk: what is read before any pixel."""
    import struct
    import zlib

    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + body + struct.pack(">I", zlib.crc32(b"IHDR" + body))


@pytest.mark.parametrize(("width", "height"), [(30000, 30000), (40000, 50000)])
def test_images_over_800_mp_are_refused_from_the_header(tmp_path, width: int, height: int) -> None:
    (tmp_path / "big.png").write_bytes(png_header(width, height))
    mp = width * height // 1_000_000
    with pytest.raises(InputError, match=rf"big.png: photo is {width}x{height} pixels \({mp} MP\).*at most 800 MP"):
        read_image(tmp_path / "big.png", role="photo")
    # a real (sparse) 900-MP TIFF: refused before its 2.7 GB of pixels are read
    tifffile.imwrite(tmp_path / "big.tif", shape=(30000, 30000, 3), dtype="uint8", photometric="rgb")
    with pytest.raises(InputError, match=r"big.tif: image is 30000x30000 pixels \(900 MP\)"):
        read_image(tmp_path / "big.tif")


def test_messages_say_what_the_file_is(tmp_path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty.png: photo is an empty file"):
        read_image(tmp_path / "empty.png", role="photo")
    (tmp_path / "page.jpg").write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n" * 20)
    with pytest.raises(InputError, match="page.jpg: image is not an image: it is a text file .*'<!DOCTYPE html>"):
        read_image(tmp_path / "page.jpg")
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(InputError, match="folder.jpg: reference is a folder"):
        read_image(tmp_path / "folder.jpg", role="reference")
    with pytest.raises(OutputError, match="folder.jpg: output is a folder; give a file name"):
        write_image(tmp_path / "folder.jpg", np.zeros((20, 20, 3), np.float32), overwrite=True)


def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path) -> None:
    import signal
    import subprocess
    import sys

    target = tmp_path / "out.tif"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from photostyle.imageio import write_bytes_atomic\n"
            "def hang(tmp):\n    print('writing', flush=True)\n    time.sleep(60)\n"
            f"write_bytes_atomic({str(target)!r}, b'x' * 100000, before_rename=hang)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = list(tmp_path.glob(".out.tif.*.part"))
    assert len(left) == 1 and left[0].stat().st_size == 100000
    other = tmp_path / f".other.tif.{writer.pid}.abcd1234.part"  # another target's: not this write's business
    other.write_bytes(b"y")
    live = tmp_path / f".out.tif.{os.getpid()}.abcd1234.part"  # a live writer's (this process): kept
    live.write_bytes(b"z")
    write_image(target, np.zeros((20, 20, 3), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.tif", other.name, live.name])
