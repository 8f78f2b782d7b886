"""The command line end to end: real files in, a styled file out, errors as one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from photostyle.cli import main
from photostyle.imageio import read_image
from photostyle.regions.labels import colours_from_labels

from ..conftest import SAMPLES, small


def make_photo(path, exif_make: str = "PhotostyleCam") -> None:
    ex = Image.Exif()
    ex[0x010F] = exif_make
    Image.fromarray((small("chelsea.png", 120) * 255).astype(np.uint8)).save(path, exif=ex.tobytes(), quality=95)


def test_transfer_writes_photo_size_with_exif(tmp_path, capsys) -> None:
    photo, ref, out = tmp_path / "cat.jpg", tmp_path / "night.png", tmp_path / "out.jpg"
    make_photo(photo)
    Image.fromarray((small("rocket.jpg", 80) * 255).astype(np.uint8)).save(ref)
    # masks: top and bottom halves, in DPST's colours (blue, green)
    pm, rm = np.zeros((80, 120), np.int32), np.zeros((53, 80), np.int32)  # each image's (height, width)
    pm[40:], rm[26:] = 1, 1
    Image.fromarray(colours_from_labels(pm)).save(tmp_path / "pm.png")
    Image.fromarray(colours_from_labels(rm)).save(tmp_path / "rm.png")
    args = [str(photo), str(ref), "-o", str(out), "--size", "64", "--iterations", "4", "--threads", "2"]
    args += ["--photo-mask", str(tmp_path / "pm.png"), "--reference-mask", str(tmp_path / "rm.png"), "-q"]
    assert main(["transfer", *args]) == 0
    res = read_image(out)
    assert res.size == read_image(photo).size
    ex = Image.Exif()
    ex.load(res.exif)
    assert ex[0x010F] == "PhotostyleCam"
    # a second run refuses to overwrite, names the file and the flag
    assert main(["transfer", *args]) == 2
    assert "out.jpg: already exists; pass --overwrite" in capsys.readouterr().err


def test_bad_mask_is_one_clear_error(tmp_path, capsys) -> None:
    photo = tmp_path / "cat.jpg"
    make_photo(photo)
    bad = np.zeros((80, 120, 3), np.uint8)
    bad[:] = (200, 120, 40)
    Image.fromarray(bad).save(tmp_path / "pm.png")
    code = main(
        ["transfer", str(photo), str(photo), "-o", str(tmp_path / "o.png"), "--photo-mask", str(tmp_path / "pm.png")]
        + ["--reference-mask", str(tmp_path / "pm.png")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "pm.png" in err and "match no colour" in err
    assert not (tmp_path / "o.png").exists()


def test_module_entry_point_reports_missing_file(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "photostyle", "transfer", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
        + ["-o", str(tmp_path / "o.jpg"), "--quality", "preview"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'a.jpg'}: photo not found. Check the path."


def test_engine_flags_become_settings() -> None:
    import argparse

    from photostyle.cli.common import add_settings_args, settings_from_args

    p = argparse.ArgumentParser()
    add_settings_args(p)
    s = settings_from_args(p.parse_args(["--precision", "float32", "--flat-weight", "0", "--size", "500"]))
    assert (s.precision, s.flat_weight) == ("float32", 0.0)
    assert s.scales == (256, 400, 500) and s.iterations == (30, 8, 21)  # coarser scales kept below --size
    assert settings_from_args(p.parse_args([])).precision == "auto"


def test_out_of_memory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A real allocation failure (the address space capped at 4 GB) in torch's allocator: one line, exit 2."""
    import resource

    Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((2400, 1600)).save(tmp_path / "big.png")
    Image.open(SAMPLES / "rocket.jpg").convert("RGB").save(tmp_path / "ref.jpg")
    out = tmp_path / "out.png"

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    cmd = [sys.executable, "-m", "photostyle", "transfer", str(tmp_path / "big.png"), str(tmp_path / "ref.jpg")]
    cmd += ["-o", str(out), "--masks", "none", "--size", "2400", "--iterations", "2", "-q", "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=cap, timeout=600)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: not enough memory. Use a smaller working size")
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
