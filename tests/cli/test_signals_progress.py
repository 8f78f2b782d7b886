"""The command line under interruption and its progress lines (issue 13 items 3, 7, 13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from photostyle.cli import main

from ..conftest import SAMPLES

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def test_sigterm_during_the_write_leaves_no_temporary(tmp_path: Path) -> None:
    """A 4000x3000 16-bit TIFF (72 MB) in preview quality, SIGTERM as soon as its temporary file appears."""
    big = Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR)
    big.save(tmp_path / "photo.png", compress_level=1)
    Image.open(SAMPLES / "rocket.jpg").convert("RGB").save(tmp_path / "ref.jpg")
    out = tmp_path / "out.tif"
    for _ in range(4):  # the write lasts a fraction of a second: a busy machine may miss it; then try again
        out.unlink(missing_ok=True)
        code, err = _run_and_terminate(tmp_path, out)
        assert not list(tmp_path.glob(".*.part")), err
        if code != 0:
            break
    assert code == 143, (code, err)
    assert err.strip().count("\n") == 0 and err.startswith("terminated"), err
    assert "Traceback" not in err and not out.exists()


def _run_and_terminate(tmp_path: Path, out: Path) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "photostyle", "transfer", str(tmp_path / "photo.png"), str(tmp_path / "ref.jpg")]
        + ["-o", str(out), "--quality", "preview", "--masks", "none", "--bit-depth", "16", "-q"],
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    t_end = time.monotonic() + 240
    while time.monotonic() < t_end and proc.poll() is None:
        if list(tmp_path.glob(".out.tif.*.part")):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.001)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_progress_names_each_scale_and_is_done_after_the_write(tmp_path: Path, capsys) -> None:
    cat = Image.open(SAMPLES / "chelsea.png").convert("RGB")
    cat.thumbnail((96, 96))
    cat.save(tmp_path / "photo.png")
    ref = Image.open(SAMPLES / "rocket.jpg").convert("RGB")
    ref.thumbnail((96, 96))
    ref.save(tmp_path / "ref.png")
    out = tmp_path / "out.png"
    args = ["transfer", str(tmp_path / "photo.png"), str(tmp_path / "ref.png"), "-o", str(out), "--masks", "none"]
    assert main([*args, "--size", "300", "--iterations", "3", "--threads", "2"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    text = "\n".join(lines)
    assert "scale 1/2 (256 px)" in text and "scale 2/2 (300 px)" in text, text
    assert "100%]" in lines[-1] and "done" in lines[-1], text
    assert sum("100%]" in line for line in lines) == 1, text
    assert f"writing {out}" in lines[-2], text
    assert sum("done" in line for line in lines) == 1, text
