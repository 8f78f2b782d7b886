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
        "--quality", "preview", "--size", "128", "--threads", "1", "--masks", "none", *extra,
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


def _mount_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")


@pytest.mark.parametrize("options", ["size=200k", "ro,size=1m"])
def test_a_full_or_read_only_output_folder_is_one_line_before_any_work(
    tmp_path: Path, small_shoot: tuple[Path, Path], options: str
) -> None:
    shoot, ref = small_shoot
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, options)
    try:
        before = _hashes(shoot)
        done = subprocess.run(_cli(shoot, ref, disk / "out", "-q"), env=ENV, capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        assert ("not enough free space" if "200k" in options else "cannot be written") in lines[0]
        assert _hashes(shoot) == before and not (disk / "out").exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_progress_lines_in_a_log_and_names_with_a_hash(tmp_path: Path, small_shoot: tuple[Path, Path]) -> None:
    shoot, ref = small_shoot
    (shoot / "b.jpg").rename(shoot / "b#1.jpg")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".b#1_ref.jpg.abc123.part"  # a temporary left by a killed run
    stale.write_bytes(b"half")
    done = subprocess.run(_cli(shoot, ref, out), env=ENV, capture_output=True, text=True)  # stderr: a pipe
    assert done.returncode == 0, done.stderr
    assert "album: done a.jpg -> a_ref.jpg" in done.stderr and "album: done b#1.jpg -> b#1_ref.jpg" in done.stderr
    page = (out / "contact-sheet.html").read_text()
    assert 'href="b%231_ref.jpg"' in page and 'src="contact-sheet/b%231_ref.after.jpg"' in page
    assert 'href="../shoot/b%231.jpg"' in page
    assert not list(out.rglob("*.part"))
    again = subprocess.run(_cli(shoot, ref, out), env=ENV, capture_output=True, text=True)
    assert "album: skipped a.jpg -> a_ref.jpg" in again.stderr


def test_twenty_runs_killed_at_random_moments_then_resumed(tmp_path: Path) -> None:
    """Fault injection: four albums side by side, each killed (SIGKILL) five times at a seeded random moment after
    its job starts (during a write, between a write and its record, during a manifest append), then resumed."""
    import json
    import random
    from concurrent.futures import ThreadPoolExecutor

    shoot = tmp_path / "shoot"
    shoot.mkdir()
    names = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
    for i in range(8):
        _photo(names[i % 4], (600 + 40 * i, 400), shoot / f"IMG_{i}.jpg", angle=7 * i)
    ref = tmp_path / "ref.jpg"
    _photo("rocket.jpg", (96, 64), ref)
    before = _hashes(shoot)

    def lane(k: int) -> tuple[int, str]:
        rng = random.Random(1000 + k)
        out = tmp_path / f"out{k}"
        jobs = "2" if k == 3 else "1"
        killed = 0
        for _ in range(5):
            proc = subprocess.Popen(
                _cli(shoot, ref, out, "--jobs", jobs, "-q"), env=ENV, stderr=subprocess.DEVNULL, start_new_session=True
            )
            deadline = time.monotonic() + 60
            while proc.poll() is None and not (out / ".photostyle-album.lock").exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.8))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                killed += 1
            proc.wait(timeout=60)
        done = subprocess.run(_cli(shoot, ref, out, "--jobs", jobs), env=ENV, capture_output=True, text=True)
        return killed, f"exit {done.returncode}: {done.stderr}"

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lane, range(4)))
    assert sum(k for k, _ in results) >= 10, results  # most runs were really killed mid-work
    for k, (_, final) in enumerate(results):
        assert final.startswith("exit 0"), final
        out = tmp_path / f"out{k}"
        lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]  # parses
        assert sorted(e["input"] for e in lines) == [f"IMG_{i}.jpg" for i in range(8)]  # each exactly once
        for e in lines:
            assert e["status"] == "done"
            assert e["output_sha256"] == hashlib.sha256((out / e["output"]).read_bytes()).hexdigest()
        assert not list(out.rglob("*.part")), list(out.rglob("*.part"))
        assert not (out / ".album-journal").exists()
    assert _hashes(shoot) == before
