"""A shoot that looks like one shoot: `photostyle album --normalize` on a drifting shoot.

    .venv/bin/python -m bench.shoot                 # DPST inputs 1, 4, 7; 9 photos for throughput; 2 runs
    .venv/bin/python -m bench.shoot --runs 3 --photos 9

1. The drift shoot: three scenes (DPST development inputs in1, in4, in7, else the samples), each as three frames at
   -0.6 EV (warm), 0 and +0.6 EV (cool), made in linear light. Four cases: the frames share the framing, or are
   reframed (the top-left 80 x 75 %, the whole scene, the bottom-right 80 x 75 % mirrored); and the frames are built
   around the photo as it is (its +0.6 EV frame clips what the photo had near white: information lost) or around
   the photo 0.6 EV down (the camera's headroom: the +0.6 EV frame clips no more than the original). Spread of each
   scene's mean Lab (mean Delta E 1976 of each frame's mean Lab from the scene's), on the part of the scene all
   three frames show, with and without --normalize, in the same run: on the photos themselves (what the
   normalisation controls; for the clipped cases also with the plain gain, the highlight level left out) and, for
   the reframed cases, on the album's preview outputs at strength 1 and 0.5.
2. Photos already consistent (the three scenes as shot, a reframing and a mirrored crop of each at the same
   exposure): mean CIEDE2000 between each photo and its normalised self.
3. Different scenes: every pair of the 20 DPST inputs and the 4 samples; how many are (wrongly) matched.
4. Throughput: the album at preview quality on ~1 MP photos (crops and mirror images of the samples, so they match
   and get real corrections), --jobs 1, with and without --normalize, interleaved, medians; the ratio is the cost of
   normalisation (statistics pass in planning plus the per-photo correction).

Writes bench/reports/shoot-<date>.md and a contact image shoot-<date>.jpg (reframed scenes: frames before | after).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from photostyle.imageio import read_image, write_image
from photostyle.imaging.exposure import Correction, apply_correction, drift, pair_offset, shoot_corrections
from photostyle.imaging.resize import resize_longest
from photostyle.settings import Settings
from pipelines.album.normalize import describe_regions

from .album_throughput import make_album
from .common import DPST_DEV, ROOT, git_commit, machine, report_path

DRIFT = [(-0.6, (1.12, 1.0, 0.86)), (0.0, (1.0, 1.0, 1.0)), (0.6, (0.9, 1.0, 1.14))]
Cut = tuple[float, float, float, float, bool]  # (top, bottom, left, right) as shares of the scene, mirrored
SAME: list[Cut] = [(0.0, 1.0, 0.0, 1.0, False)] * 3
REFRAMED: list[Cut] = [(0.0, 0.8, 0.0, 0.75, False), (0.0, 1.0, 0.0, 1.0, False), (0.2, 1.0, 0.25, 1.0, True)]
COMMON = (0.2, 0.8, 0.25, 0.75)  # what every reframed frame shows


def scenes() -> tuple[list[str], list[np.ndarray]]:
    paths = [DPST_DEV / "input" / f"in{i}.png" for i in (1, 4, 7)]
    if not all(p.exists() for p in paths):
        paths = [ROOT / "samples" / n for n in ("chelsea.png", "coffee.png", "astronaut.png")]
    return [p.name for p in paths], [resize_longest(read_image(p).pixels, 700) for p in paths]


def _box(shape: tuple[int, ...], cut: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    return round(cut[0] * h), round(cut[1] * h), round(cut[2] * w), round(cut[3] * w)


def frame(scene: np.ndarray, cut: Cut) -> np.ndarray:
    y0, y1, x0, x1 = _box(scene.shape, cut[:4])
    part = scene[y0:y1, x0:x1]
    return part[:, ::-1] if cut[4] else part


def common(img: np.ndarray, scene_shape: tuple[int, ...], cut: Cut) -> np.ndarray:
    """The part of the scene every frame shows, cut out of IMG (frame CUT of a scene, or an output of it: any size
    proportional to the frame)."""
    y0, y1, x0, x1 = _box(scene_shape, cut[:4])
    c0, c1, d0, d1 = _box(scene_shape, COMMON)
    sy, sx = img.shape[0] / (y1 - y0), img.shape[1] / (x1 - x0)
    upright = img[:, ::-1] if cut[4] else img
    return upright[round((c0 - y0) * sy) : round((c1 - y0) * sy), round((d0 - x0) * sx) : round((d1 - x0) * sx)]


def spread(imgs: list[np.ndarray]) -> float:
    m = np.array([rgb2lab(np.clip(x, 0, 1)).reshape(-1, 3).mean(axis=0) for x in imgs])
    return float(np.linalg.norm(m - m.mean(axis=0), axis=1).mean())


def scene_spread(imgs: list[np.ndarray], shape: tuple[int, ...], cuts: list[Cut]) -> float:
    return spread([common(x, shape, c) for x, c in zip(imgs, cuts, strict=True)])


def small(img: np.ndarray) -> np.ndarray:
    return resize_longest(img, 256)


def album_spreads(
    frames: list[np.ndarray],
    shapes: list[tuple[int, ...]],
    cuts: list[Cut],
    folder: Path,
    strength: float,
    modes: tuple[str | None, ...] = (None, "both"),
) -> list[list[float]]:
    """Each scene's output spread for each --normalize mode of MODES (album, preview, its default automatic
    masks)."""
    from pipelines.album import AlbumOptions, run_album

    shoot = folder / "drift"
    shutil.rmtree(shoot, ignore_errors=True)
    shoot.mkdir(parents=True)
    for i, f in enumerate(frames):
        write_image(shoot / f"s{i // 3}_f{i % 3}.png", f, bit_depth=16)
    settings = Settings.preset("preview").with_(strength=strength)
    out: list[list[float]] = []
    for normalize in modes:
        target = folder / f"out-{strength}-{normalize}"
        s = run_album(
            AlbumOptions(shoot, ROOT / "samples" / "rocket.jpg", target, settings=settings, normalize=normalize,
                         progress=False, contact_sheet=False)
        )  # fmt: skip
        assert s.failed == 0, s.failures
        outs = [read_image(target / f"s{i // 3}_f{i % 3}_rocket.jpg").pixels for i in range(len(frames))]
        out.append([scene_spread(outs[3 * k : 3 * k + 3], shapes[k], cuts) for k in range(len(frames) // 3)])
        shutil.rmtree(target)
    return out


def contact(rows: list[list[np.ndarray]], path: Path) -> None:
    """Each row: images side by side (a gap after every third), rows stacked."""
    th = 130
    tiles = []
    for row in rows:
        ims = [resize_longest(x, th) for x in row]
        h = min(i.shape[0] for i in ims)
        parts: list[np.ndarray] = []
        for n, i in enumerate(ims):
            if n and n % 3 == 0:
                parts.append(np.ones((h, 12, 3), np.float32))
            parts.append(i[:h])
        tiles.append(np.concatenate(parts, axis=1))
    w = max(t.shape[1] for t in tiles)
    sheet = np.concatenate(
        [np.pad(t, ((0, 6), (0, w - t.shape[1]), (0, 0)), constant_values=1.0) for t in tiles]
    )  # fmt: skip
    Image.fromarray(np.round(np.clip(sheet, 0, 1) * 255).astype(np.uint8)).save(path, quality=90)


Summary = list[tuple[str, float, float, float]]  # case, median ratio, worst ratio, median ratio with the plain gain


def drift_cases(
    names: list[str], base: list[np.ndarray], folder: Path, album: bool
) -> tuple[list[str], list[list[np.ndarray]], Summary]:
    lines: list[str] = []
    sheet: list[list[np.ndarray]] = []
    summary: Summary = []
    cases = [
        ("same framing, headroom", SAME, -0.6),
        ("same framing, clipped", SAME, 0.0),
        ("reframed, headroom", REFRAMED, -0.6),
        ("reframed, clipped", REFRAMED, 0.0),
    ]
    for label, cuts, head in cases:
        shown = [drift(s, head, (1, 1, 1)) for s in base]
        frames = [drift(frame(s, c), ev, wb) for s in shown for c, (ev, wb) in zip(cuts, DRIFT, strict=True)]
        shapes = [s.shape for s in shown]
        t0 = time.perf_counter()
        stats = [describe_regions(f) for f in frames]
        t1 = time.perf_counter()
        corr = shoot_corrections(stats)
        t2 = time.perf_counter()
        fixed = [apply_correction(f, c) for f, c in zip(frames, corr, strict=True)]
        plain = [
            apply_correction(f, Correction(c.ev, c.wb, c.matched, c.regions)) for f, c in zip(frames, corr, strict=True)
        ]
        lines += [f"## Drift shoot: {label}", ""]
        lines += ["| scene | frames: EV / WB gains / highlight level | matched | photos: spread without / with "
                  "(ratio) | plain gain |", "| --- | --- | --- | --- | --- |"]  # fmt: skip
        ratios, plain_ratios = [], []
        for k, name in enumerate(names):
            sl = slice(3 * k, 3 * k + 3)
            b = scene_spread(frames[sl], shapes[k], cuts)
            f = scene_spread(fixed[sl], shapes[k], cuts)
            p = scene_spread(plain[sl], shapes[k], cuts)
            ratios.append(f / b)
            plain_ratios.append(p / b)
            cs = "; ".join(
                f"{c.ev:+.2f} / {list(c.wb)} / {'-' if c.highlights is None else list(c.highlights)}" for c in corr[sl]
            )
            lines.append(
                f"| {name} | {cs} | {[c.matched for c in corr[sl]]} | {b:.2f} / {f:.2f} ({f / b:.0%}) | {p / b:.0%} |"
            )
        summary.append((label, statistics.median(ratios), max(ratios), statistics.median(plain_ratios)))
        lines += ["", f"Photos: median ratio {statistics.median(ratios):.0%}, worst {max(ratios):.0%} (target at most "
                  f"35 %); with the plain gain (no highlight level) median {statistics.median(plain_ratios):.0%}, "
                  f"worst {max(plain_ratios):.0%}. Statistics of 9 photos: describing {(t1 - t0) * 1000 / 9:.0f} ms "
                  f"a photo, matching and solving {(t2 - t1) * 1000:.0f} ms.", ""]  # fmt: skip
        if album and cuts is REFRAMED:
            for strength in (1.0, 0.5):
                without, with_ = album_spreads(frames, shapes, cuts, folder, strength)
                r = [w / max(o, 1e-9) for o, w in zip(without, with_, strict=True)]
                lines.append(
                    f"- album outputs (automatic masks), strength {strength}: spread without "
                    + ", ".join(f"{x:.3f}" for x in without) + "; with " + ", ".join(f"{x:.3f}" for x in with_)
                    + f" (ratios {', '.join(f'{x:.0%}' for x in r)})"
                )  # fmt: skip
            # the floor: the same reframed frames with no drift at all, styled without --normalize; what is left is
            # the look's own difference between the framings (it maps each photo's statistics to the reference's)
            still = [frame(s, c) for s in shown for c in cuts]
            (floor,) = album_spreads(still, shapes, cuts, folder, 1.0, modes=(None,))
            lines += [
                "- album outputs of the same reframed frames with no drift (no --normalize), strength 1.0: spread "
                + ", ".join(f"{x:.3f}" for x in floor)
                + " (the look's own difference between the framings)",
                "",
            ]
        if cuts is REFRAMED:
            for k in range(3):
                sl = slice(3 * k, 3 * k + 3)
                sheet.append([*frames[sl], *fixed[sl]] + ([plain[3 * k + 2]] if head == 0.0 else []))
    return lines, sheet, summary


def consistent_case(base: list[np.ndarray]) -> list[str]:
    photos = []
    for s in base:
        h, w = s.shape[:2]
        photos += [s, s[h // 40 : h - h // 20, w // 30 : w - w // 15], s[h // 5 :, w // 4 :][:, ::-1]]
    corr = shoot_corrections([describe_regions(f) for f in photos])
    des = [
        float(deltaE_ciede2000(rgb2lab(small(f)), rgb2lab(small(apply_correction(f, c)))).mean())
        for f, c in zip(photos, corr, strict=True)
    ]
    return [
        "## Photos already consistent",
        "",
        "The three scenes as shot, a reframing of each (1/40-1/15 of the frame cut) and a mirrored crop of each "
        f"(the bottom-right 80 x 75 %), same exposure: mean CIEDE2000 to the normalised photo: max {max(des):.3f}, "
        f"median {statistics.median(des):.3f} (target under 1); corrections "
        f"{', '.join(f'{c.ev:+.3f} EV' for c in corr)}; matched {[c.matched for c in corr]}.",
        "",
    ]


def unrelated_case() -> list[str]:
    paths = sorted((DPST_DEV / "input").glob("in*.png")) + [
        ROOT / "samples" / n for n in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg")
    ]
    stats = [describe_regions(resize_longest(read_image(p).pixels, 700)) for p in paths]
    wrong = [
        f"{paths[i].name}-{paths[j].name}"
        for i, j in itertools.combinations(range(len(paths)), 2)
        if pair_offset(stats[i], stats[j]) is not None
    ]
    n = len(paths) * (len(paths) - 1) // 2
    return [
        "## Different scenes",
        "",
        f"Every pair of {len(paths)} photos of different scenes (the DPST inputs and the samples): {len(wrong)} of {n} "
        f"pairs matched{': ' + ', '.join(wrong) if wrong else ''} (a matched pair would pull one photo's exposure "
        "and white balance to the other's).",
        "",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=9)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-album", action="store_true", help="skip the album outputs of the drift shoot")
    a = ap.parse_args()
    names, base = scenes()
    lines = [
        "# A shoot that looks like one shoot: `album --normalize`",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; scenes {', '.join(names)} at 700 px; frames at "
        + ", ".join(f"{ev:+.1f} EV x WB {wb}" for ev, wb in DRIFT)
        + " (linear light); album preview quality, reference samples/rocket.jpg",
        "- spread = mean Delta E 1976 of each frame's mean Lab from its scene's mean Lab, on the part of the scene all "
        "three frames show; ratio = with / without --normalize, both measured in this run",
        "- reframed: the top-left 80 x 75 %, the whole scene, the bottom-right 80 x 75 % mirrored",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="shoot-bench-") as tmp:
        folder = Path(tmp)
        drift_lines, sheet, summary = drift_cases(names, base, folder, not a.no_album)
        head = ["## Summary (photos; ratio of the spread with / without --normalize, target at most 35 %)", "",
                "| case | median | worst | plain gain, median |", "| --- | --- | --- | --- |"]  # fmt: skip
        head += [f"| {label} | {m:.0%} | {w:.0%} | {p:.0%} |" for label, m, w, p in summary]
        lines += [*head, "", *drift_lines, *consistent_case(base), *unrelated_case()]
        lines += throughput(folder, a.photos, a.runs, base[0])
    path = report_path("shoot")
    lines.append(
        "Contact image: `" + path.with_suffix(".jpg").name + "`: the reframed scenes, first with headroom then "
        "clipped; each row the three frames as shot | after normalisation (| for the clipped rows, the +0.6 EV frame "
        "with the plain gain)."
    )
    contact(sheet, path.with_suffix(".jpg"))
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(path)


def throughput(folder: Path, photos: int, runs: int, scene: np.ndarray) -> list[str]:
    from pipelines.album import MANIFEST_NAME, AlbumOptions, plan_album, read_manifest, run_album

    shoot = make_album(folder / "tp", photos)
    ref = folder / "tp" / "night.jpg"
    walls: dict[str, list[float]] = {"off": [], "both": []}
    stats_s: list[float] = []
    norm_s: list[float] = []
    matched: list[int] = []
    settings = Settings.preset("preview")
    for run in range(runs):
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
                entries = read_manifest(out / MANIFEST_NAME).values()
                norm_s += [e["seconds"].get("normalize", 0.0) for e in entries]
                matched = [e["normalize"]["matched"] for e in entries]
            shutil.rmtree(out)
            print(f"run {run + 1} {mode}: {60 * photos / walls[mode][-1]:.1f} photos/min", flush=True)
    mp = resize_longest(scene, 1224)
    c1 = shoot_corrections([describe_regions(f) for f in (drift(mp, 0.5, (0.9, 1, 1.1)), mp)])[0]
    apply_s = []
    for _ in range(5):
        t0 = time.perf_counter()
        apply_correction(mp, c1)
        apply_s.append(time.perf_counter() - t0)
    off, on = statistics.median(walls["off"]), statistics.median(walls["both"])
    return [
        "## Throughput (album, preview, --jobs 1, ~1 MP JPEGs)",
        "",
        f"{photos} photos (crops and mirror images of the 3 samples; photos matched with others: {matched}), {runs} "
        "runs each, interleaved; wall time includes planning, worker start, contact sheet.",
        "",
        "| --normalize | photos/min (median) | runs (s) |",
        "| --- | --- | --- |",
        f"| off | {60 * photos / off:.1f} | {', '.join(f'{x:.1f}' for x in walls['off'])} |",
        f"| both | {60 * photos / on:.1f} | {', '.join(f'{x:.1f}' for x in walls['both'])} |",
        "",
        f"Throughput with / without: {off / on:.1%} (cost {1 - off / on:.1%}; target under 10 %). Of it: the "
        f"statistics pass in planning {statistics.median(stats_s):.2f} s per run "
        f"({statistics.median(stats_s) / photos * 1000:.0f} ms a photo: reading, VGG-19 description, matching), "
        f"the correction in the worker {statistics.median(norm_s) * 1000:.0f} ms a photo (median); a correction on "
        f"a {mp.shape[1]}x{mp.shape[0]} photo takes {statistics.median(apply_s) * 1000:.0f} ms (median of 5).",
        "",
    ]


if __name__ == "__main__":
    main()
