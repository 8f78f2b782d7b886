"""The album job (pipelines/album/) on a small real shoot: JPEG, PNG, 16-bit TIFF, a DNG and a corrupt JPEG.

Preview quality throughout, so each photo takes well under a second; the Ray test starts a 2-CPU local Ray.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyexiv2
import pytest
import tifffile
from PIL import Image, ImageCms
from skimage import color, data

from photostyle.errors import InputError, OutputError, PhotostyleError, SettingsError
from photostyle.imageio import read_image
from photostyle.settings import Settings
from pipelines.album import (
    JOURNAL_DIR,
    MANIFEST_NAME,
    AlbumWorker,
    WorkerSpec,
    comparable,
    journal_files,
    plan_album,
    read_manifest,
    run_album,
)
from pipelines.album.lut import apply_lut, read_cube
from pipelines.album.options import AlbumOptions as _AlbumOptions
from tests.imageio.dng_writer import write_dng

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PREVIEW = Settings().with_(quality="preview", scales=(256,), iterations=(0,), threads=1)
XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
# these tests are not about masks: one global look (--masks none) keeps them fast; tests/pipelines/test_album_flags.py
# runs the album with its default automatic masks
AlbumOptions = functools.partial(_AlbumOptions, masks="none")
GOOD = ["astronaut.jpg", "cat.dng", "chelsea16.tif", "coffee.png", "rocket.jpg"]
BROKEN = "broken.jpg"


def _resized(name: str, longest: int) -> Image.Image:
    with Image.open(SAMPLES / name) as im:
        rgb = im.convert("RGB")
    rgb.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return rgb


_ICC = bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())  # (littleCMS stamps the time)


def _srgb_icc() -> bytes:
    return _ICC


def _camera_jpeg(im: Image.Image, path: Path) -> None:
    """A JPEG as a camera writes it: EXIF (with an Exif sub-IFD), an ICC profile and XMP."""
    exif = Image.Exif()
    exif[271], exif[272] = "Canon", "EOS Test"
    exif.get_ifd(0x8769)[0x9003] = "2021:02:03 04:05:06"  # DateTimeOriginal
    exif.get_ifd(0x8769)[0x829A] = 1 / 250  # ExposureTime
    im.save(path, quality=92, exif=exif, icc_profile=_srgb_icc(), xmp=XMP.encode())


def tree_hashes(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """SHOOT_DIR with five photos and a corrupt JPEG; checked unchanged (content and mtimes) after all tests."""
    d = tmp_path_factory.mktemp("shoot")
    _camera_jpeg(_resized("astronaut.png", 160), d / "astronaut.jpg")
    _resized("coffee.png", 180).save(d / "coffee.png")
    chelsea = np.asarray(_resized("chelsea.png", 150)).astype(np.uint16) * 257
    tifffile.imwrite(d / "chelsea16.tif", chelsea, photometric="rgb", extratags=[(34675, 7, 0, _srgb_icc(), True)])
    _camera_jpeg(_resized("rocket.jpg", 120), d / "rocket.jpg")
    cat = data.chelsea()[40:136, 120:248].astype(np.float32) / 255.0  # 96 x 128
    write_dng(d / "cat.dng", cat, neutral=(0.6, 1.0, 0.7))
    good = (d / "rocket.jpg").read_bytes()
    (d / BROKEN).write_bytes(good[: len(good) // 3])  # truncated mid-scan
    before = tree_hashes(d)
    yield d
    assert tree_hashes(d) == before, "the album job changed SHOOT_DIR"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("ref") / "night.jpg"
    _resized("rocket.jpg", 320).save(p, quality=95)
    return p


@pytest.fixture(scope="module")
def album(shoot: Path, reference: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One in-process run over the shoot, shared by the checks below."""
    out = tmp_path_factory.mktemp("album") / "out"
    lut = out.parent / "night.cube"
    summary = run_album(AlbumOptions(shoot, reference, out, settings=PREVIEW, export_lut=lut, progress=False))
    return out, summary


def _lab_mean(pixels: np.ndarray) -> np.ndarray:
    return color.rgb2lab(np.clip(pixels, 0, 1)).reshape(-1, 3).mean(0)


def test_every_photo_is_styled_and_the_corrupt_one_reported(album: tuple[Path, object], shoot: Path) -> None:
    out, summary = album
    assert (summary.succeeded, summary.failed, summary.skipped, summary.total) == (5, 1, 0, 6)
    assert summary.exit_status == 1
    entries = read_manifest(out / MANIFEST_NAME)
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 6 and {json.loads(x)["input"] for x in lines} == set(GOOD) | {BROKEN}
    bad = entries["broken_night.jpg"]
    assert bad["status"] == "failed" and "broken.jpg" in bad["error"] and bad["error_type"] == "InputError"
    assert not (out / "broken_night.jpg").exists()
    ref_lab = _lab_mean(read_image(Path(entries["coffee_night.jpg"]["reference"])).pixels)
    for name in GOOD:
        stem = Path(name).stem
        e = entries[f"{stem}_night.jpg"]
        assert e["status"] == "done" and e["error"] is None
        assert e["input_sha256"] == hashlib.sha256((shoot / name).read_bytes()).hexdigest()
        assert e["output_sha256"] == hashlib.sha256((out / f"{stem}_night.jpg").read_bytes()).hexdigest()
        assert e["settings"]["quality"] == "preview" and set(e["seconds"]) >= {"read", "transfer", "write", "total"}
        src = read_image(shoot / name).pixels
        res = read_image(out / f"{stem}_night.jpg").pixels
        assert res.shape == src.shape
        # the look moved each photo's colours toward the reference's; rocket.jpg is the reference's own photo
        # (0.1 Lab units from it already): it must stay there
        before = np.linalg.norm(_lab_mean(src) - ref_lab)
        after = np.linalg.norm(_lab_mean(res) - ref_lab)
        assert after < 0.6 * before if before > 2.0 else after < 2.0, (name, before, after)
    assert not list(out.glob(".*.part"))
    # the contact sheet shows every photo, the failed one with its error
    page = (out / "contact-sheet.html").read_text()
    assert "broken.jpg" in page and "truncated" in page
    for name in GOOD:
        stem = Path(name).stem
        assert (
            f"contact-sheet/{stem}_night.before.jpg" in page
            and (out / f"contact-sheet/{stem}_night.after.jpg").exists()
        )
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.width > 400 and sheet.height > 300


def test_exif_icc_and_xmp_round_trip(album: tuple[Path, object], shoot: Path) -> None:
    out, _ = album
    with Image.open(out / "astronaut_night.jpg") as im:
        exif = im.getexif()
        assert (exif[271], exif[272]) == ("Canon", "EOS Test")
        assert exif.get_ifd(0x8769)[0x9003] == "2021:02:03 04:05:06"
        assert im.info["icc_profile"] == _srgb_icc()
    with pyexiv2.Image(str(out / "astronaut_night.jpg")) as meta:
        assert meta.read_xmp()["Xmp.xmp.Rating"] == "4"
    with Image.open(out / "chelsea16_night.jpg") as im:  # the TIFF's ICC profile
        assert im.info["icc_profile"] == _srgb_icc()
    with Image.open(out / "cat_night.jpg") as im:  # the DNG's camera EXIF, tagged sRGB
        assert (im.getexif()[271], im.getexif()[315]) == ("Photostyle", "Album Tester")
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"])))
        assert "sRGB" in desc


def test_the_cube_parses_and_approximates_the_global_look(album: tuple[Path, object], shoot: Path) -> None:
    out, summary = album
    assert summary.lut is not None and summary.lut.suffix == ".cube"
    text = summary.lut.read_text()
    assert "LUT_3D_SIZE 33" in text
    lut = read_cube(summary.lut)
    assert lut.shape == (33, 33, 33, 3) and 0.0 <= lut.min() and lut.max() <= 1.0
    # rocket.jpg is the reference's own scene (styling hardly changes it); one album-wide LUT is judged on the rest
    for name in set(GOOD) - {"rocket.jpg"}:
        src = read_image(shoot / name).pixels
        res = read_image(out / f"{Path(name).stem}_night.jpg").pixels
        graded = apply_lut(lut, src)
        # the LUT takes each photo most of the way to its styled result
        assert np.abs(graded - res).mean() < 0.4 * np.abs(src - res).mean(), name
        d_src, d_lut = (np.linalg.norm(_lab_mean(x) - _lab_mean(res)) for x in (src, graded))
        assert d_lut < 0.35 * d_src, name


def test_a_single_photo_lut_is_close_to_the_preview(tmp_path: Path, shoot: Path, reference: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(shoot / "coffee.png", one)
    s = run_album(
        AlbumOptions(one, reference, tmp_path / "out", settings=PREVIEW, export_lut=tmp_path / "c.cube", progress=False)
    )
    assert s.succeeded == 1 and s.lut is not None
    src = read_image(one / "coffee.png").pixels
    res = read_image(tmp_path / "out" / "coffee_night.jpg").pixels
    assert np.abs(apply_lut(read_cube(s.lut), src) - res).mean() < 0.03


def test_rerun_skips_finished_photos_and_retries_failed(album: tuple[Path, object], shoot: Path, reference: Path):
    out, _ = album
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*_night.jpg")}
    shutil.rmtree(out / "contact-sheet")  # thumbnails of skipped photos are made again from the files
    again = run_album(AlbumOptions(shoot, reference, out, settings=PREVIEW, progress=False))
    assert (again.succeeded, again.failed, again.skipped) == (0, 1, 5)  # the corrupt one is tried again
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_night.jpg")} == before
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 6  # compacted: one line per photo
    assert len(list((out / "contact-sheet").glob("*_night.after.jpg"))) == 5


def test_a_photo_whose_driver_died_is_known_from_the_worker_journal(
    tmp_path: Path, shoot: Path, reference: Path
) -> None:
    out = tmp_path / "out"
    options = AlbumOptions(shoot, reference, out, settings=PREVIEW, progress=False, contact_sheet=False)
    plan = plan_album(options)
    task = next(t for t in plan.tasks if t.name == "coffee.png")
    out.mkdir()
    journal_dir = out / JOURNAL_DIR
    spec = WorkerSpec(str(reference), PREVIEW.to_dict(), 1, plan.run_fields, str(journal_dir), masks="none")
    entry = AlbumWorker(spec)(task)  # a worker finished the photo; its driver never heard of it
    assert entry["status"] == "done" and (out / "coffee_night.jpg").exists()
    assert not (out / MANIFEST_NAME).exists() and len(journal_files(out)) == 1
    s = run_album(options)
    assert (s.succeeded, s.failed, s.skipped) == (4, 1, 1)  # skipped, not refused as a stranger's file
    assert read_manifest(out / MANIFEST_NAME)["coffee_night.jpg"]["output_sha256"] == entry["output_sha256"]
    assert not journal_dir.exists()  # merged into the manifest


def test_dry_run_writes_nothing(tmp_path: Path, album: tuple[Path, object], shoot: Path, reference: Path) -> None:
    fresh = tmp_path / "new"
    s = run_album(AlbumOptions(shoot, reference, fresh, settings=PREVIEW, dry_run=True))
    assert not fresh.exists()
    assert sorted(a[0] for a in s.planned) == ["write"] * 6
    out, _ = album
    listing = tree_hashes(out)
    s = run_album(AlbumOptions(shoot, reference, out, settings=PREVIEW, dry_run=True))
    assert {a[1]: a[0] for a in s.planned} == {**dict.fromkeys(GOOD, "skip"), BROKEN: "write"}
    assert tree_hashes(out) == listing
    # other settings: the outputs exist and are not this run's result -> refused without --overwrite
    other = replace(AlbumOptions(shoot, reference, out, dry_run=True), settings=PREVIEW.with_(scales=(128,)))
    assert {a[0] for a in run_album(other).planned if a[1] != BROKEN} == {"refuse"}


def test_never_overwrites_without_permission(tmp_path: Path, shoot: Path, reference: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "coffee_night.jpg"
    mine.write_bytes(b"the photographer's own file")
    s = run_album(AlbumOptions(shoot, reference, out, settings=PREVIEW, progress=False, contact_sheet=False))
    assert mine.read_bytes() == b"the photographer's own file"
    assert s.failed == 2 and any("coffee_night.jpg" in m and "--overwrite" in m for _, m in s.failures)
    s = run_album(
        AlbumOptions(shoot, reference, out, settings=PREVIEW, progress=False, contact_sheet=False, overwrite=True)
    )
    assert s.succeeded == 1 and s.skipped == 4 and read_image(mine).size == (180, 120)


def test_refuses_to_write_into_the_shoot(tmp_path: Path, shoot: Path, reference: Path) -> None:
    for inside in (shoot, shoot / "styled"):
        with pytest.raises(OutputError, match="never writes into the shoot"):
            run_album(AlbumOptions(shoot, reference, inside, settings=PREVIEW))
    with pytest.raises(SettingsError, match="template"):
        run_album(AlbumOptions(shoot, reference, tmp_path / "o", settings=PREVIEW, template="{stem}_{nope}.jpg"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no photos found"):
        run_album(AlbumOptions(tmp_path / "empty", reference, tmp_path / "o", settings=PREVIEW))
    assert not (tmp_path / "o").exists()


def test_16_bit_tiff_outputs_keep_metadata(tmp_path: Path, shoot: Path, reference: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(shoot / "astronaut.jpg", one)
    s = run_album(AlbumOptions(one, reference, tmp_path / "out", settings=PREVIEW, tiff=True, progress=False))
    assert s.succeeded == 1
    tif = tmp_path / "out" / "astronaut_night.tif"
    with tifffile.TiffFile(tif) as t:
        assert t.pages.first.dtype == np.uint16 and t.pages.first.shape == (160, 160, 3)
    photo = read_image(tif)
    assert photo.icc_profile == _srgb_icc() and photo.xmp is not None and b"Rating" in photo.xmp
    with pyexiv2.Image(str(tif)) as meta:
        assert meta.read_exif()["Exif.Image.Make"] == "Canon"


def test_a_worker_that_cannot_set_up_stops_the_job(tmp_path: Path, shoot: Path, reference: Path) -> None:
    missing = tmp_path / "no-such-weights.pth"
    broken = PREVIEW.with_(quality="best", vgg_weights=str(missing))
    with pytest.raises(PhotostyleError, match="no-such-weights.pth"):
        run_album(AlbumOptions(shoot, reference, tmp_path / "out", settings=broken, jobs=2, progress=False))
    assert not list((tmp_path / "out").glob("*_night.jpg"))


def _cli(shoot: Path, reference: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "photostyle", "album", str(shoot), "--reference", str(reference), "-o", str(out),
        "--quality", "preview", "--size", "256", "--threads", "1", "--masks", "none", "--jobs", "1", "-q",
    ]  # fmt: skip


def test_a_killed_run_resumes_and_does_only_the_rest(tmp_path: Path, shoot: Path, reference: Path) -> None:
    d = tmp_path / "shoot"
    d.mkdir()
    for name in ("astronaut.jpg", "coffee.png"):
        shutil.copy(shoot / name, d / f"a_{name}")
    _resized("astronaut.png", 512).resize((2400, 1600)).save(d / "b_large.jpg", quality=90)  # ~1 s to style
    for name in ("chelsea16.tif", "cat.dng"):
        shutil.copy(shoot / name, d / f"c_{name}")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_cli(d, reference, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    first = read_manifest(manifest)  # (with the journal of a photo finished in the instant before the kill)
    assert {"a_astronaut_night.jpg", "a_coffee_night.jpg"} <= set(first) and len(first) < 5
    done_at = {name: (out / name).stat().st_mtime_ns for name in first}
    # the photo the kill interrupted left no half-written output under its final name
    assert {p.name for p in out.glob("*_night.jpg")} == set(first)
    resumed = subprocess.run(_cli(d, reference, out), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{5 - len(first)} succeeded, 0 failed, {len(first)} skipped (of 5)" in resumed.stderr
    assert {name: (out / name).stat().st_mtime_ns for name in first} == done_at  # not redone
    entries = read_manifest(manifest)
    assert len(entries) == 5 and all(e["status"] == "done" for e in entries.values())
    assert not list(out.glob(".*.part"))
    assert read_image(out / "b_large_night.jpg").size == (2400, 1600)


def test_ctrl_c_stops_a_pool_run_and_every_written_output_is_recorded(
    tmp_path: Path, shoot: Path, reference: Path
) -> None:
    d = tmp_path / "shoot"
    d.mkdir()
    big = _resized("astronaut.png", 512).resize((1200, 800))  # ~0.3 s each
    n = 12  # enough that work is left when Ctrl-C lands, now that a photo takes well under a second
    for i in range(n):
        big.rotate(3 * i).save(d / f"IMG_{i}.jpg", quality=90)
    out = tmp_path / "out"
    cmd = [*_cli(d, reference, out)[:-3], "--jobs", "2", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") >= 1:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    recorded = read_manifest(manifest)
    written = {p.name for p in out.glob("IMG_*_night.jpg")}
    assert written == {name for name, e in recorded.items() if e["status"] == "done"}  # no output unaccounted for
    assert 1 <= len(written) < n
    assert not list(out.glob(".*.part"))
    resumed = subprocess.run(_cli(d, reference, out), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{n - len(written)} succeeded, 0 failed, {len(written)} skipped (of {n})" in resumed.stderr


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from a test run
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def test_process_pool_and_ray_give_identical_manifests(
    tmp_path: Path, shoot: Path, reference: Path, local_ray: None
) -> None:
    pool = run_album(AlbumOptions(shoot, reference, tmp_path / "pool", settings=PREVIEW, jobs=2, progress=False))
    on_ray = run_album(
        AlbumOptions(shoot, reference, tmp_path / "ray", settings=PREVIEW, jobs=2, ray="auto", progress=False)
    )
    assert (pool.succeeded, pool.failed) == (on_ray.succeeded, on_ray.failed) == (5, 1)
    a = {k: comparable(v) for k, v in read_manifest(tmp_path / "pool" / MANIFEST_NAME).items()}
    b = {k: comparable(v) for k, v in read_manifest(tmp_path / "ray" / MANIFEST_NAME).items()}
    assert a == b
    workers = {e["worker"] for e in read_manifest(tmp_path / "ray" / MANIFEST_NAME).values()}
    assert all(w.split(":")[1] != str(os.getpid()) for w in workers)  # styled in Ray's workers, not here
    # and the Ray path resumes like the local one: everything finished is skipped
    again = run_album(
        AlbumOptions(shoot, reference, tmp_path / "ray", settings=PREVIEW, jobs=2, ray="auto", progress=False)
    )
    assert (again.succeeded, again.failed, again.skipped) == (0, 1, 5)
