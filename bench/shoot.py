"""A shoot that looks like one shoot: `photostyle album --normalize` on a drifting shoot.

    .venv/bin/python -m bench.shoot                 # DPST inputs 1, 4, 7; 9 photos for throughput; 3 runs
    .venv/bin/python -m bench.shoot --runs 2 --photos 9

1. The drift shoot: three scenes (DPST development inputs in1, in4, in7, else the samples), each as three frames at
   -0.6 EV (warm), 0 and +0.6 EV (cool), made in linear light. Spread of each scene's mean Lab (mean Delta E 1976 of
   each frame's mean Lab from the scene's) with and without --normalize: on the photos themselves (what the
   normalisation controls) and on the album's preview outputs at strength 1 and 0.5. Twice: with the frames built
   around the photo as it is (its +0.6 EV frame clips what the photo had near white: information lost, no
   correction restores it) and around the photo 0.6 EV down (the camera's headroom: the +0.6 EV frame clips no more
   than the original).
2. Photos already consistent (the three scenes as shot, plus two reframings of each at the same exposure): mean
   CIEDE2000 between each photo and its normalised self.
3. Throughput: the album at preview quality on ~1 MP photos, --jobs 1, with and without --normalize, interleaved,
   medians; the ratio is the cost of normalisation (statistics pass in planning plus the per-photo correction).

Writes bench/reports/shoot-<date>.md and a contact image shoot-<date>.jpg (each scene's frames before | after).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from photostyle.imageio import read_image, write_image
from photostyle.imaging.exposure import apply_correction, drift, shoot_corrections, tile_stats
from photostyle.imaging.resize import resize_longest
from photostyle.settings import Settings

from .album_throughput import make_album
from .common import DPST_DEV, ROOT, git_commit, machine, report_path

DRIFT = [(-0.6, (1.12, 1.0, 0.86)), (0.0, (1.0, 1.0, 1.0)), (0.6, (0.9, 1.0, 1.14))]


def scenes() -> tuple[list[str], list[np.ndarray]]:
    paths = [DPST_DEV / "input" / f"in{i}.png" for i in (1, 4, 7)]
    if not all(p.exists() for p in paths):
        paths = [ROOT / "samples" / n for n in ("chelsea.png", "coffee.png", "astronaut.png")]
    return [p.name for p in paths], [resize_longest(read_image(p).pixels, 700) for p in paths]


def spread(imgs: list[np.ndarray]) -> float:
    m = np.array([rgb2lab(np.clip(x, 0, 1)).reshape(-1, 3).mean(axis=0) for x in imgs])
    return float(np.linalg.norm(m - m.mean(axis=0), axis=1).mean())


def small(img: np.ndarray) -> np.ndarray:
    return resize_longest(img, 256)


def album_spreads(frames: list[np.ndarray], folder: Path, strength: float) -> tuple[list[float], list[float]]:
    """Each scene's output spread without and with --normalize (album, preview)."""
    from pipelines.album import AlbumOptions, run_album

    shoot = folder / "drift"
    shutil.rmtree(shoot, ignore_errors=True)
    shoot.mkdir(parents=True)
    for i, f in enumerate(frames):
        write_image(shoot / f"s{i // 3}_f{i % 3}.png", f, bit_depth=16)
    settings = Settings.preset("preview").with_(strength=strength)
    out: list[list[float]] = []
    for normalize in (None, "both"):
        target = folder / f"out-{strength}-{normalize}"
        s = run_album(
            AlbumOptions(shoot, ROOT / "samples" / "rocket.jpg", target, settings=settings, normalize=normalize,
                         progress=False, contact_sheet=False)
        )  # fmt: skip
        assert s.failed == 0, s.failures
        outs = [read_image(target / f"s{i // 3}_f{i % 3}_rocket.jpg").pixels for i in range(len(frames))]
        out.append([spread(outs[3 * k : 3 * k + 3]) for k in range(len(frames) // 3)])
        shutil.rmtree(target)
    return out[0], out[1]


def contact(rows: list[tuple[list[np.ndarray], list[np.ndarray]]], path: Path) -> None:
    """Each scene a row: its three frames as shot | the same after normalisation."""
    th = 150
    tiles = []
    for before, after in rows:
        ims = [resize_longest(x, th) for x in (*before, *after)]
        h = min(i.shape[0] for i in ims)
        gap = np.ones((h, 12, 3), np.float32)
        parts = [i[:h] for i in ims[:3]] + [gap] + [i[:h] for i in ims[3:]]
        tiles.append(np.concatenate(parts, axis=1))
    w = min(t.shape[1] for t in tiles)
    sheet = np.concatenate([np.pad(t[:, :w], ((0, 6), (0, 0), (0, 0)), constant_values=1.0) for t in tiles])
    Image.fromarray(np.round(np.clip(sheet, 0, 1) * 255).astype(np.uint8)).save(path, quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=9)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    names, base = scenes()
    lines = [
        "# A shoot that looks like one shoot: `album --normalize`",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; scenes {', '.join(names)} at 700 px; frames at "
        + ", ".join(f"{ev:+.1f} EV x WB {wb}" for ev, wb in DRIFT)
        + " (linear light); album preview quality, reference samples/rocket.jpg",
        "- spread = mean Delta E 1976 of each frame's mean Lab from its scene's mean Lab; ratio = with / without",
        "",
    ]
    contact_rows = []
    with tempfile.TemporaryDirectory(prefix="shoot-bench-") as tmp:
        folder = Path(tmp)
        for label, head in (("photo as it is (+0.6 EV frame clips)", 0.0), ("photo 0.6 EV down (headroom)", -0.6)):
            frames = [drift(drift(s, head, (1, 1, 1)), ev, wb) for s in base for ev, wb in DRIFT]
            t0 = time.perf_counter()
            corr = shoot_corrections([tile_stats(small(f)) for f in frames])
            took = time.perf_counter() - t0
            fixed = [apply_correction(f, c) for f, c in zip(frames, corr, strict=True)]
            if head:
                contact_rows = [(frames[3 * k : 3 * k + 3], fixed[3 * k : 3 * k + 3]) for k in range(3)]
            lines += [f"## Drift shoot, scenes built around the {label}", ""]
            lines += ["| scene | frames: EV correction / WB gains | photos: spread without / with (ratio) |"]
            lines += ["| --- | --- | --- |"]
            ratios = []
            for k, name in enumerate(names):
                b, f = spread(frames[3 * k : 3 * k + 3]), spread(fixed[3 * k : 3 * k + 3])
                ratios.append(f / b)
                cs = "; ".join(f"{c.ev:+.2f} / {list(c.wb)}" for c in corr[3 * k : 3 * k + 3])
                lines.append(f"| {name} | {cs} | {b:.2f} / {f:.2f} ({f / b:.0%}) |")
            med, worst = statistics.median(ratios), max(ratios)
            lines += ["", f"Photos: median ratio {med:.0%}, worst {worst:.0%} (target at most 35 %); statistics "
                      f"of 9 photos at 256 px in {took * 1000:.0f} ms.", ""]  # fmt: skip
            for strength in (1.0, 0.5):
                without, with_ = album_spreads(frames, folder, strength)
                r = [w / max(o, 1e-9) for o, w in zip(without, with_, strict=True)]
                lines.append(
                    f"- album outputs, strength {strength}: spread without " + ", ".join(f"{x:.3f}" for x in without)
                    + "; with " + ", ".join(f"{x:.3f}" for x in with_)
                    + f" (ratios {', '.join(f'{x:.0%}' for x in r)})"
                )  # fmt: skip
            lines.append("")

        # photos already consistent: the scenes as shot and two reframings of each, same exposure
        consistent = []
        for s in base:
            h, w = s.shape[:2]
            dy, dx = h // 40, w // 30
            consistent += [s, s[dy : h - h // 20 + dy, dx : w - w // 15 + dx], s[: h - h // 20, : w - w // 15]]
        corr = shoot_corrections([tile_stats(small(f)) for f in consistent])
        des = [
            float(deltaE_ciede2000(rgb2lab(small(f)), rgb2lab(small(apply_correction(f, c)))).mean())
            for f, c in zip(consistent, corr, strict=True)
        ]
        lines += [
            "## Photos already consistent",
            "",
            f"The three scenes as shot plus two reframings of each (1/30-1/15 of the frame), same exposure: "
            f"mean CIEDE2000 to the normalised photo: max {max(des):.2f}, median {statistics.median(des):.2f} "
            f"(target under 1); corrections {', '.join(f'{c.ev:+.3f} EV' for c in corr)}; matched "
            f"{[c.matched for c in corr]}.",
            "",
        ]

        # throughput
        from pipelines.album import AlbumOptions, plan_album, run_album

        shoot = make_album(folder / "tp", a.photos)
        ref = folder / "tp" / "night.jpg"
        walls: dict[str, list[float]] = {"off": [], "both": []}
        stats_s: list[float] = []
        norm_s: list[float] = []
        settings = Settings.preset("preview")
        for run in range(a.runs):
            for mode in ("off", "both"):
                out = folder / f"tp-out-{run}-{mode}"
                o = AlbumOptions(shoot, ref, out, settings=settings, progress=False,
                                 normalize=None if mode == "off" else mode)  # fmt: skip
                t0 = time.perf_counter()
                plan = plan_album(o)
                s = run_album(o, plan=plan)
                walls[mode].append(time.perf_counter() - t0)
                assert s.failed == 0, s.failures
                if mode == "both":
                    stats_s.append(plan.normalize_seconds)
                    from pipelines.album import MANIFEST_NAME, read_manifest

                    norm_s += [e["seconds"].get("normalize", 0.0) for e in read_manifest(out / MANIFEST_NAME).values()]
                shutil.rmtree(out)
                print(f"run {run + 1} {mode}: {60 * a.photos / walls[mode][-1]:.1f} photos/min", flush=True)
    # the worker's correction on a 1 MP photo that needs one (the throughput shoot's photos match none: identity)
    mp = resize_longest(base[0], 1224) if max(base[0].shape) >= 1224 else np.resize(base[0], (816, 1224, 3))
    c1 = shoot_corrections([tile_stats(small(f)) for f in (drift(mp, 0.5, (0.9, 1, 1.1)), mp)])[0]
    apply_s = []
    for _ in range(5):
        t0 = time.perf_counter()
        apply_correction(mp, c1)
        apply_s.append(time.perf_counter() - t0)
    off, on = statistics.median(walls["off"]), statistics.median(walls["both"])
    lines += [
        "## Throughput (album, preview, --jobs 1, ~1 MP JPEGs)",
        "",
        f"{a.photos} photos, {a.runs} runs each, interleaved; wall time includes planning, worker start, contact "
        "sheet.",
        "",
        "| --normalize | photos/min (median) | runs (s) |",
        "| --- | --- | --- |",
        f"| off | {60 * a.photos / off:.1f} | {', '.join(f'{x:.1f}' for x in walls['off'])} |",
        f"| both | {60 * a.photos / on:.1f} | {', '.join(f'{x:.1f}' for x in walls['both'])} |",
        "",
        f"Throughput with / without: {off / on:.1%} (cost {1 - off / on:.1%}; target under 10 %). Of it: the "
        f"statistics pass in planning {statistics.median(stats_s):.2f} s per run "
        f"({statistics.median(stats_s) / a.photos * 1000:.0f} ms a photo), the correction in the worker "
        f"{statistics.median(norm_s) * 1000:.0f} ms a photo (median; these photos match no other, so their "
        f"correction is the identity); a real correction on a {mp.shape[1]}x{mp.shape[0]} photo takes "
        f"{statistics.median(apply_s) * 1000:.0f} ms (median of 5).",
        "",
        "Contact image: `" + report_path("shoot").with_suffix(".jpg").name + "` (each scene, built with headroom: "
        "its three frames as shot | after normalisation).",
    ]
    path = report_path("shoot")
    contact(contact_rows, path.with_suffix(".jpg"))
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(path)


if __name__ == "__main__":
    main()
