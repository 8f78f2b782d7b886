"""Album throughput: photos per minute at 1 MP in preview mode, --jobs 1 vs 2, Ray local vs process pool.

    .venv/bin/python -m bench.album_throughput                  # 16 photos, 3 runs per configuration
    .venv/bin/python -m bench.album_throughput --photos 8 --runs 2

Builds an album of ~1 MP photos from samples/ (crops and flips, so no two are alike) in a temporary folder, styles
it with `photostyle album` semantics (pipelines.album.run_album) in each configuration, each run into a fresh output
folder, and reports medians over the runs:

- wall-clock photos per minute, worker start-up included (what a photographer waits for);
- per photo, from the manifest: the transfer itself, and the overhead beyond it (hashing, decode, encode, thumbnails,
  colour statistics);
- the bare transfer loop (photos already decoded, nothing written) as the floor the job is compared with.

Writes bench/reports/album-<date>.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from photostyle.settings import QUALITY_PRESETS

from .common import ROOT, git_commit, machine, report_path

SAMPLES = ROOT / "samples"
MP_SIZE = (1224, 816)  # 0.999 MP, 3:2


def make_album(folder: Path, n: int) -> Path:
    """N distinct ~1 MP JPEGs from the sample photos (crops, flips), plus a reference outside the album."""
    shoot = folder / "shoot"
    shoot.mkdir(parents=True)
    sources = [SAMPLES / name for name in ("chelsea.png", "coffee.png", "astronaut.png")]
    for i in range(n):
        with Image.open(sources[i % len(sources)]) as im:
            rgb = im.convert("RGB")
        w, h = rgb.size
        k = i // len(sources)
        crop = rgb.crop((k * w // 16, k * h // 20, w - (k % 3) * w // 16, h - (k % 2) * h // 20))
        if k % 2:
            crop = ImageOps.mirror(crop)
        crop.resize(MP_SIZE, Image.Resampling.LANCZOS).save(shoot / f"IMG_{i:04d}.jpg", quality=92)
    with Image.open(SAMPLES / "rocket.jpg") as im:
        im.convert("RGB").save(folder / "night.jpg", quality=95)
    return shoot


def run_config(shoot: Path, reference: Path, out: Path, jobs: int, ray: str | None) -> dict[str, Any]:
    from photostyle.settings import Settings
    from pipelines.album import MANIFEST_NAME, AlbumOptions, read_manifest, run_album

    settings = Settings.preset("preview")
    t0 = time.perf_counter()
    summary = run_album(AlbumOptions(shoot, reference, out, settings=settings, jobs=jobs, ray=ray, progress=False))
    wall = time.perf_counter() - t0
    if summary.failed or summary.succeeded == 0:
        raise SystemExit(f"bench run failed: {summary.failures}")
    entries = list(read_manifest(out / MANIFEST_NAME).values())
    secs = [e["seconds"] for e in entries]
    return {
        "wall": wall,
        "photos": summary.succeeded,
        "per_min": 60.0 * summary.succeeded / wall,
        "transfer": statistics.median(s["transfer"] for s in secs),
        "total": statistics.median(s["total"] for s in secs),
        "overhead": statistics.median(s["total"] - s["transfer"] for s in secs),
        "read": statistics.median(s["read"] for s in secs),
        "write": statistics.median(s["write"] for s in secs),
        # the job's own time beyond the photos' (start-up, planning, manifest, contact sheet), per photo
        "job_overhead": (wall - sum(s["total"] for s in secs) / max(1, jobs)) / summary.succeeded,
    }


def bare_loop(photos: list[Any], reference: Any) -> float:
    """Median seconds of transfer() alone on already decoded photos (this process, all cores, nothing written)."""
    from photostyle.pipeline import transfer
    from photostyle.settings import Settings

    settings = Settings.preset("preview")
    times = []
    for p in photos:
        t0 = time.perf_counter()
        transfer(p, reference, settings=settings)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args()
    configs: list[tuple[str, int, str | None]] = [("--jobs 1", 1, None), ("--jobs 2 (process pool)", 2, None)]
    if not a.no_ray:
        configs.append(("--ray local, 2 workers", 2, "auto"))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in configs}
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    with tempfile.TemporaryDirectory(prefix="album-bench-") as tmp:
        folder = Path(tmp)
        shoot = make_album(folder, a.photos)
        reference = folder / "night.jpg"
        from photostyle.imageio import read_image

        decoded = [read_image(p) for p in sorted(shoot.iterdir())]
        ref_photo = read_image(reference)
        bare_loop(decoded[:1], ref_photo)  # warm-up: imports and first-call set-up
        bare: list[float] = []
        ray_started = False
        for run in range(a.runs):
            bare.append(bare_loop(decoded, ref_photo))  # interleaved with the runs: the same machine load
            for name, jobs, ray in configs:
                if ray and not ray_started:
                    import ray as ray_mod

                    ray_mod.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, logging_level=logging.WARNING)
                    ray_started = True
                out = folder / f"out-{run}-{jobs}-{ray or 'local'}"
                r = run_config(shoot, reference, out, jobs, ray)
                results[name].append(r)
                print(f"run {run + 1}/{a.runs} {name}: {r['per_min']:.1f} photos/min ({r['wall']:.1f}s)", flush=True)
                shutil.rmtree(out)
        if ray_started:
            import ray as ray_mod

            ray_mod.shutdown()
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3

    def med(name: str, key: str) -> float:
        return float(np.median([r[key] for r in results[name]]))

    lines = [
        "# Album throughput",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; {a.photos} photos of {MP_SIZE[0]}x{MP_SIZE[1]} (1.0 MP) JPEG from samples/, "
        f"reference samples/rocket.jpg, preview quality (working size {QUALITY_PRESETS['preview']['scales'][-1]}), "
        "medians of "
        f"{a.runs} runs per configuration, each run into a fresh output folder (contact sheet included)",
        f"- load average before / after: {load[0]:.1f} / {load_after[0]:.1f} (the machine is shared: other "
        "jobs were running, so absolute numbers are noisy; the comparisons ran interleaved)",
        f"- bare `transfer()` on a decoded 1 MP photo, all cores, nothing written: {statistics.median(bare):.3f} s "
        f"(= {60 / statistics.median(bare):.0f} photos/min ceiling for one process; per run: "
        + ", ".join(f"{b:.3f}" for b in bare)
        + ")",
        "",
        "| configuration | photos/min (wall, start-up included) | wall s | transfer s/photo | "
        "overhead beyond transfer s/photo | of which read / write s | job overhead s/photo |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, _, _ in configs:
        lines.append(
            f"| {name} | {med(name, 'per_min'):.1f} | {med(name, 'wall'):.1f} | {med(name, 'transfer'):.3f} | "
            f"{med(name, 'overhead'):.3f} | {med(name, 'read'):.3f} / {med(name, 'write'):.3f} | "
            f"{med(name, 'job_overhead'):.3f} |"
        )
    lines += [
        "",
        "Columns: *transfer* is `photostyle.pipeline.transfer` inside the worker; *overhead beyond transfer* is the "
        "rest of the per-photo function (input hash, decode, encode with metadata, output hash, thumbnails, colour "
        "statistics); *job overhead* is the wall time not spent in the photos themselves (worker start-up with "
        "torch imports, planning, manifest, contact sheet), per photo. Raw runs:",
        "",
    ]
    for name, _, _ in configs:
        lines.append(f"- {name}: " + ", ".join(f"{r['per_min']:.1f}" for r in results[name]) + " photos/min")
    path = report_path("album")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(path)


if __name__ == "__main__":
    main()
