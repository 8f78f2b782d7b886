"""The album job when things go wrong: killed runs, damaged manifests, outputs that are inputs, full or read-only
folders, names that need quoting. Every case runs the real CLI on small real photos."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from pipelines.album import MANIFEST_NAME, read_manifest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _photo(name: str, size: tuple[int, int], path: Path, angle: float = 0.0) -> None:
    with Image.open(SAMPLES / name) as im:
        im.convert("RGB").rotate(angle).resize(size).save(path, quality=90)


def _cli(shoot: Path, reference: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "photostyle", "album", str(shoot), "-r", str(reference), "-o", str(out),
        "--quality", "preview", "--size", "128", "--threads", "1", *extra,
    ]  # fmt: skip


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def small_shoot(tmp_path: Path) -> tuple[Path, Path]:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    _photo("chelsea.png", (120, 80), shoot / "a.jpg")
    _photo("coffee.png", (96, 64), shoot / "b.jpg")
    ref = tmp_path / "ref.jpg"
    _photo("rocket.jpg", (96, 64), ref)
    return shoot, ref


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_run_killed_between_the_write_and_its_record_resumes(tmp_path: Path, jobs: str) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    _photo("astronaut.png", (2400, 1600), shoot / "big.jpg")  # thumbnails and statistics after the write: ~0.1 s
    ref = tmp_path / "ref.jpg"
    _photo("rocket.jpg", (96, 64), ref)
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli(shoot, ref, out, "--jobs", jobs, "-q"), env=ENV, stderr=subprocess.DEVNULL)
    target = out / "big_ref.jpg"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not target.exists():
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert target.exists() and proc.returncode == -signal.SIGKILL
    if read_manifest(out / MANIFEST_NAME).get("big_ref.jpg", {}).get("status") == "done":
        pytest.skip("the kill came after the photo was recorded")
    resumed = subprocess.run(_cli(shoot, ref, out, "--jobs", jobs), env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "already exists" not in resumed.stderr
    entries = read_manifest(out / MANIFEST_NAME)
    assert entries["big_ref.jpg"]["status"] == "done"
    assert entries["big_ref.jpg"]["output_sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()


def test_a_damaged_manifest_line_is_skipped_with_one_warning(tmp_path: Path, small_shoot: tuple[Path, Path]) -> None:
    shoot, ref = small_shoot
    out = tmp_path / "out"
    first = subprocess.run(_cli(shoot, ref, out, "-q"), env=ENV, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    manifest = out / MANIFEST_NAME
    with open(manifest, "ab") as f:  # a power loss: garbage, then a line cut short
        f.write(b'\xff\xfe\x00garbage\n[1, 2]\n{"input": "a.jpg", "output": "a_ref.jpg", "sta')
    again = subprocess.run(_cli(shoot, ref, out, "-q"), env=ENV, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert again.stderr.count("damaged line") == 1, again.stderr
    assert "0 succeeded, 0 failed, 2 skipped" in again.stderr
    assert len(manifest.read_text().splitlines()) == 2  # compacted: the damage is gone
