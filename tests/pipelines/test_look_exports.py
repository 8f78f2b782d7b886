"""``--export-look DIR``: the look's global part for darktable (.dtstyle + .cube) and RawTherapee (.pp3 + Hald CLUT).

The real-editor tests render a 200-px photo through ``darktable-cli`` and ``rawtherapee-cli`` (Debian packages
``darktable`` and ``rawtherapee``, installed with apt-get when missing and this runs as root; skipped with a message
only where that cannot be done) and compare with photostyle's own rendering of the same look (``apply_lut`` of the
.cube): mean CIEDE2000 at most 2.
"""

from __future__ import annotations

import configparser
import os
import shutil
import socket
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image
from skimage import color

from photostyle.errors import OutputError
from photostyle.imageio import read_image, to_uint
from photostyle.imaging.resize import resize_longest
from photostyle.settings import Settings
from pipelines.album import AlbumOptions, export_names, run_album, write_look_exports
from pipelines.album.editors import DARKTABLE, RAWTHERAPEE, render_darktable, render_rawtherapee
from pipelines.album.exports import LUT3D_PATH_BYTES, export_stem, hald_clut, lut3d_params
from pipelines.album.lut import apply_lut, colour_stats, look_lut, read_cube

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PREVIEW = Settings().with_(quality="preview", scales=(256,), iterations=(0,), threads=1)
LOOK = "coffee"
MAX_MEAN_DE = 2.0


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(color.deltaE_ciede2000(color.rgb2lab(a), color.rgb2lab(b)))


class Look(NamedTuple):
    dir: Path
    photo: Path
    pixels: np.ndarray
    files: dict[str, Path]
    ours: np.ndarray


@pytest.fixture(scope="module")
def look(tmp_path_factory: pytest.TempPathFactory) -> Look:
    """A 200-px photo (8-bit PNG), the look of coffee.png as exports, and photostyle's own rendering of it."""
    d = tmp_path_factory.mktemp("look")
    photo = resize_longest(read_image(SAMPLES / "chelsea.png").pixels, 200)
    ref = resize_longest(read_image(SAMPLES / "coffee.png").pixels, 200)
    Image.fromarray(to_uint(photo, 8)).save(d / "photo.png")
    pixels = read_image(d / "photo.png").pixels
    files = write_look_exports(d / "exports", look_lut(colour_stats(pixels), colour_stats(ref)), LOOK)
    ours = apply_lut(read_cube(files["cube"]), pixels)
    assert delta_e(pixels, ours).mean() > 10, "the look must change the photo for the comparison to mean anything"
    return Look(d, d / "photo.png", pixels, files, ours)


# ------------------------------------------------------------------------------------------------ the files
def test_names_are_plain_file_names_after_the_look() -> None:
    assert export_names("tar1") == {
        "cube": "photostyle-tar1.cube",
        "dtstyle": "photostyle-tar1.dtstyle",
        "hald": "photostyle-tar1-hald.png",
        "pp3": "photostyle-tar1.pp3",
    }
    assert export_stem("../évening look/") == "photostyle-vening_look"
    assert export_stem("...") == "photostyle-look"


def test_the_hald_clut_of_an_identity_lut_is_the_identity_pattern() -> None:
    g = np.linspace(0.0, 1.0, 5)
    identity = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1)
    hald = hald_clut(identity, 2)  # level 2: 4 points a channel, an 8 x 8 image
    assert hald.shape == (8, 8, 3)
    i = np.arange(64).reshape(8, 8)  # index x + 8 y = r + 4 g + 16 b
    expected = np.stack([i % 4, i // 4 % 4, i // 16], -1) / 3.0
    np.testing.assert_allclose(hald, expected, atol=1e-6)


def test_the_exports_on_disk(look: Look) -> None:
    files = look.files
    assert sorted(p.name for p in files["cube"].parent.iterdir()) == sorted(export_names(LOOK).values())
    hald = read_image(files["hald"])
    assert hald.pixels.shape == (512, 512, 3) and hald.bit_depth == 16
    # the Hald CLUT is the .cube sampled on its own 64-point grid: the same look
    assert delta_e(hald_clut(read_cube(files["cube"])), hald.pixels).max() < 0.05
    pp3 = configparser.ConfigParser()
    pp3.read(files["pp3"])
    sim = pp3["Film Simulation"]
    assert (sim["Enabled"], sim["Strength"], Path(sim["ClutFilename"])) == ("true", "100", files["hald"].absolute())
    plugin = ET.parse(files["dtstyle"]).getroot().find("style/plugin")
    assert plugin is not None and plugin.findtext("operation") == "lut3d" and plugin.findtext("module") == "3"
    params = bytes.fromhex(plugin.findtext("op_params") or "")
    assert len(params) == 12940 and params == lut3d_params(files["cube"].name)
    assert params[:LUT3D_PATH_BYTES].rstrip(b"\0") == files["cube"].name.encode()  # relative: the LUT folder's
    assert struct.unpack("<iii", params[LUT3D_PATH_BYTES : LUT3D_PATH_BYTES + 12]) == (0, 1, 0)  # sRGB, trilinear


def test_rewriting_the_same_look_is_quiet_and_another_needs_overwrite(tmp_path: Path) -> None:
    g = np.linspace(0.0, 1.0, 9)
    identity = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1)
    first = write_look_exports(tmp_path / "x", identity, "a")
    stamps = {k: p.stat().st_mtime_ns for k, p in first.items()}
    assert write_look_exports(tmp_path / "x", identity, "a") == first
    assert {k: p.stat().st_mtime_ns for k, p in first.items()} == stamps  # same content: not rewritten
    before = {k: p.read_bytes() for k, p in first.items()}
    with pytest.raises(OutputError, match="already exists with another look"):
        write_look_exports(tmp_path / "x", identity * 0.5, "a")
    assert {k: p.read_bytes() for k, p in first.items()} == before  # none written
    write_look_exports(tmp_path / "x", identity * 0.5, "a", overwrite=True)
    assert read_cube(first["cube"]).max() == pytest.approx(0.5, abs=1e-6)


def test_the_album_writes_the_exports_of_its_look(tmp_path: Path) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name in ("chelsea.png", "astronaut.png"):
        Image.fromarray(to_uint(resize_longest(read_image(SAMPLES / name).pixels, 128), 8)).save(shoot / name)
    ref = tmp_path / "coffee.png"
    Image.fromarray(to_uint(resize_longest(read_image(SAMPLES / "coffee.png").pixels, 128), 8)).save(ref)
    o = AlbumOptions(
        shoot,
        ref,
        tmp_path / "out",
        settings=PREVIEW,
        export_lut=tmp_path / "look.cube",
        export_look=tmp_path / "looks" / "coffee",
        contact_sheet=False,
        progress=False,
    )
    summary = run_album(o)
    assert (summary.succeeded, summary.failed) == (2, 0)
    assert [p.name for p in summary.look_exports] == list(export_names("coffee").values())
    cube = tmp_path / "looks" / "coffee" / "photostyle-coffee.cube"
    assert cube.read_bytes() == (tmp_path / "look.cube").read_bytes()  # the same LUT as --export-lut
    again = run_album(o)  # resumed: nothing to style, the same exports, no error
    assert (again.succeeded, again.failed, again.skipped) == (0, 0, 2)
    # the CLI prints the exports' paths
    r = subprocess.run(
        [sys.executable, "-m", "photostyle", "album", str(shoot), "-r", str(ref), "-o", str(tmp_path / "out2"),
         "--quality", "preview", "--no-contact-sheet", "-q", "--export-look", str(tmp_path / "l2")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert sorted(Path(x).name for x in r.stdout.split()) == sorted(export_names("coffee").values())


# ------------------------------------------------------------------------------------------------ the real editors
def _debian_reachable() -> bool:
    try:
        socket.create_connection(("deb.debian.org", 80), timeout=10).close()
        return True
    except OSError:
        return False


def ensure_tool(binary: str, package: str) -> str:
    """The path of BINARY, installing Debian's PACKAGE with apt-get when it is missing (as tests/test_gimp.py
    installs its tools); skips only where that cannot run (not root, no apt-get, no mirror)."""
    found = shutil.which(binary)
    if found:
        return found
    if not sys.platform.startswith("linux") or not shutil.which("apt-get"):
        pytest.skip(f"{binary} is not installed and there is no apt-get to install {package}")
    if os.geteuid() != 0:
        pytest.skip(f"{binary} is not installed; installing {package} with apt-get needs root (CI runs as root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=1800)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        r = subprocess.run(cmd, capture_output=True, env=env, timeout=1800)
    if r.returncode != 0 or not shutil.which(binary):
        if not _debian_reachable():
            pytest.skip(f"{binary} is missing and Debian's mirror cannot be reached to install {package}")
        pytest.fail(f"apt-get install {package} failed:\n{r.stderr.decode()[-2000:]}")
    return shutil.which(binary) or binary


def test_darktable_renders_the_style_like_photostyle(look: Look) -> None:
    out = look.dir / "darktable.png"
    binary = ensure_tool(DARKTABLE, "darktable")
    f = look.files
    r = render_darktable(f["dtstyle"], f["cube"], look.photo, out, look.dir / "dt", binary=binary)
    assert r.returncode == 0 and out.exists(), r.stdout[-2000:] + r.stderr[-2000:]
    de = delta_e(look.ours, read_image(out).pixels)
    assert de.mean() <= MAX_MEAN_DE, (de.mean(), np.percentile(de, 95))


def test_rawtherapee_renders_the_profile_like_photostyle(look: Look) -> None:
    out = look.dir / "rawtherapee.png"
    binary = ensure_tool(RAWTHERAPEE, "rawtherapee")
    r = render_rawtherapee(look.files["pp3"], look.photo, out, look.dir / "rt", binary=binary)
    assert r.returncode == 0 and out.exists(), r.stdout[-2000:] + r.stderr[-2000:]
    de = delta_e(look.ours, read_image(out).pixels)
    assert de.mean() <= MAX_MEAN_DE, (de.mean(), np.percentile(de, 95))
