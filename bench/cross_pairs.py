"""The real use: a look from any photo, no masks. The 20 unrelated cross pairs of ../shared/cross-dev plus the two
bundled sample pairs, with the default automatic masks, at preview and best quality, against a global Reinhard
transfer (CIELAB mean and spread of the whole image) measured in the same run.

    .venv/bin/python -m bench.cross_pairs                 # all 22 pairs, preview and best
    .venv/bin/python -m bench.cross_pairs --modes reinhard,preview --pairs 1_22,s1

Writes the outputs to out/bench/cross/<mode>/{i}_{j}.png, the scores of ../shared/metrics/score.py --cross, the
time per pair, and ``added_structure`` (below); a report bench/reports/cross-pairs-<date>.md and a contact sheet
bench/reports/cross-pairs-<date>.jpg (photo | reference | Reinhard | preview | best, one pair a row); ``--name``
for another name than cross-pairs.

``added_structure`` sees structure the photo does not have. Each result is explained, in every 15x15 window, by the
best affine function of the photo's colours (the guided filter's regression, eps 1e-3, at 512 px); what is left,
the residual, is what no smooth local colour transform of the photo makes: edges, stripes, textures and objects
painted in, but also halos and blotches where a colour map changes across a region border. The figure is the
residual's mean gradient magnitude over the photo's own (luminance). A global colour transfer (Reinhard) is not
exactly affine in RGB either, so its figure is the floor to compare with (about 0.15-0.2 on these pairs), not zero;
compare methods on the same pair. It misses changes that are locally affine over 15x15 windows but still wrong (a
false colour on a whole region, a sky turned green).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .common import DPST_DEV, ROOT, SCORE, SHARED, fmt, git_commit, machine, median, report_path

CROSS = SHARED / "cross-dev" / "pairs.txt"
OUT = ROOT / "out" / "bench" / "cross"
MODES = ("reinhard", "preview", "best")
METRICS = ("gram", "color_swd", "structure", "affine_frac", "flat_hf_dev", "added_structure")
FLAT_HF_ABOVE_PREVIEW = 0.1  # issue 15: best's flat_hf_dev at most this above the preview's, on every pair
SAMPLE_IDS = {"s1": 901, "s2": 902}  # the bundled sample pairs, laid out like dpst-dev for score.py


def pairs() -> list[tuple[str, Path, Path]]:
    """(key, photo, reference) for the cross pairs and the samples."""
    out = []
    for line in CROSS.read_text().split("\n"):
        if line.strip():
            i, j = line.split()
            out.append((f"{i}_{j}", DPST_DEV / "input" / f"in{i}.png", DPST_DEV / "style" / f"tar{j}.png"))
    samples = json.loads((ROOT / "samples" / "pairs.json").read_text())
    for n, p in enumerate(samples, 1):
        out.append((f"s{n}", ROOT / "samples" / p["photo"], ROOT / "samples" / p["reference"]))
    return out


def reinhard_global(photo: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001 on the whole image: each CIELAB channel given the reference's mean and spread."""
    from skimage import color

    p, r = color.rgb2lab(photo), color.rgb2lab(ref)
    mp, sp = p.reshape(-1, 3).mean(0), p.reshape(-1, 3).std(0)
    mr, sr = r.reshape(-1, 3).mean(0), r.reshape(-1, 3).std(0)
    out = (p - mp) * (sr / np.maximum(sp, 1e-3)) + mr
    return np.clip(color.lab2rgb(out), 0, 1).astype(np.float32)


def added_structure(photo: np.ndarray, result: np.ndarray, size: int = 512, radius: int = 7) -> float:
    """Mean gradient of what no local affine colour map of the photo explains, over the photo's mean gradient."""
    from photostyle.imaging.colourspaces import luminance
    from photostyle.imaging.filters import GuidedFilter
    from photostyle.imaging.resize import resize_longest

    p = resize_longest(photo, size, "bilinear")
    q = resize_longest(result, size, "bilinear")
    residual = q - GuidedFilter(p, radius, 1e-3)(q)

    def grad(y: np.ndarray) -> float:
        gy, gx = np.gradient(y)
        return float(np.hypot(gx, gy).mean())

    return grad(luminance(residual)) / max(grad(luminance(p)), 1e-6)


def run(mode: str, photo_path: Path, ref_path: Path, out: Path) -> float:
    """One pair through one mode, written to OUT; returns the seconds (segmentation included)."""
    from photostyle import Settings, read_image, transfer, write_image
    from photostyle.regions import prepare_masks

    photo, ref = read_image(photo_path), read_image(ref_path)
    t0 = time.perf_counter()
    if mode == "reinhard":
        image = reinhard_global(photo.pixels, ref.pixels)
    else:
        s = Settings(quality=mode)
        pairs, _ = prepare_masks(photo, ref, masks="auto", settings=s)
        image = transfer(photo, ref, masks=pairs, settings=s).image
    seconds = time.perf_counter() - t0
    write_image(out, image, overwrite=True)
    return seconds


def _scored(jsonl: Path, mode: str, keys: list[str]) -> bool:
    """Whether JSONL already scores these KEYS' outputs of MODE as they are now (written after each of them)."""
    if not jsonl.exists():
        return False
    done = set()
    for line in jsonl.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            i, j = row["id"], row.get("ref", row["id"])
            done.add(next((k for k, n in SAMPLE_IDS.items() if n == int(i)), f"{i}_{j}"))
    stamp = jsonl.stat().st_mtime
    return all(k in done and (OUT / mode / f"{k}.png").stat().st_mtime < stamp for k in keys)


def score_all(mode: str, keys: list[str], todo: list[tuple[str, Path, Path]]) -> dict[str, dict]:
    """score.py --cross on the cross pairs, and on the samples through a dpst-dev-like folder of their own."""
    rows: dict[str, dict] = {}
    cross = [k for k in keys if not k.startswith("s")]
    samples = [k for k in keys if k.startswith("s")]
    jobs: list[tuple[Path, str, Path, int | None]] = []
    if cross:
        subset = OUT / "cross-pairs.txt"
        subset.write_text("".join(k.replace("_", " ") + "\n" for k in cross))
        jobs.append((DPST_DEV, str(OUT / mode / "{i}_{j}.png"), subset, None))
    if samples:
        lay = OUT / "samples-pairs"
        for d in ("input", "style"):
            (lay / d).mkdir(parents=True, exist_ok=True)
        lines = []
        from PIL import Image

        by_key = {k: (p, r) for k, p, r in todo}
        for k in samples:
            n = SAMPLE_IDS[k]
            p, r = by_key[k]
            Image.open(p).convert("RGB").save(lay / "input" / f"in{n}.png")
            Image.open(r).convert("RGB").save(lay / "style" / f"tar{n}.png")
            (OUT / mode / f"{n}_{n}.png").unlink(missing_ok=True)
            (OUT / mode / f"{n}_{n}.png").symlink_to(OUT / mode / f"{k}.png")
            lines.append(f"{n} {n}")
        (lay / "pairs.txt").write_text("\n".join(lines) + "\n")
        jobs.append((lay, str(OUT / mode / "{i}_{j}.png"), lay / "pairs.txt", 1))
    for root, pattern, pairs_file, sample in jobs:
        jsonl = OUT / f"{mode}-{'samples' if sample else 'cross'}.jsonl"
        if not _scored(jsonl, mode, [k for k in keys if k.startswith("s") == bool(sample)]):
            cmd = [sys.executable, str(SCORE), str(root), pattern, "--cross", str(pairs_file), "--jsonl", str(jsonl)]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        for line in jsonl.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                i, j = row["id"], row.get("ref", row["id"])
                key = next((k for k, n in SAMPLE_IDS.items() if n == int(i)), None) if sample else f"{i}_{j}"
                if key in keys:
                    rows[key] = row
    return rows


def contact_sheet(
    keys: list[str], todo: list[tuple[str, Path, Path]], modes: list[str], path: Path, out: Path = OUT
) -> None:
    """Photo | reference | each of MODES (OUT/<mode>/<key>.png), one pair a row, to PATH."""
    from PIL import Image, ImageDraw

    from photostyle import read_image
    from photostyle.imaging.resize import resize_longest

    cell, pad, head = 220, 4, 16
    by_key = {k: (p, r) for k, p, r in todo}
    cols = ["photo", "reference", *modes]
    rows = []
    for k in keys:
        files = [*by_key[k], *(out / m / f"{k}.png" for m in modes)]
        tiles = [resize_longest(read_image(f).pixels, cell, "lanczos") if Path(f).exists() else None for f in files]
        rows.append((k, tiles))
    heights = [max(t.shape[0] for t in tiles if t is not None) for _, tiles in rows]
    sheet = Image.new("RGB", (len(cols) * (cell + pad) + pad, head + sum(h + head + pad for h in heights)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(cols):
        draw.text((pad + c * (cell + pad), 2), name, fill="black")
    y = head
    for (k, tiles), h in zip(rows, heights, strict=True):
        draw.text((pad, y), k, fill="black")
        for c, im in enumerate(tiles):
            if im is not None:
                tile = Image.fromarray(np.round(im * 255).astype(np.uint8))
                sheet.paste(tile, (pad + c * (cell + pad), y + head))
        y += h + head + pad
    sheet.save(path, quality=88)


def targets(scores: dict[str, dict], keys: list[str], modes: list[str]) -> list[str]:
    """Issue 15's targets on the cross pairs, when reinhard, preview and best were all scored."""
    if not {"reinhard", "preview", "best"} <= set(modes):
        return []

    def med(mode: str, metric: str) -> float:
        return float(median([scores[mode].get(k, {}).get(metric) for k in keys]) or float("nan"))

    def per_pair(ok: Callable[[dict, dict], bool]) -> list[str]:
        return [k for k in keys if not ok(scores["best"].get(k, {}), scores["preview"].get(k, {}))]

    low = per_pair(lambda b, p: b.get("structure", 0) >= 0.95)
    flat = per_pair(lambda b, p: b.get("flat_hf_dev", 9) <= p.get("flat_hf_dev", 0) + FLAT_HF_ABOVE_PREVIEW)
    rows = [
        ("best's structure >= 0.95 on every pair", f"{len(keys) - len(low)}/{len(keys)}", not low, low),
        (f"best's flat_hf_dev at most {FLAT_HF_ABOVE_PREVIEW} above the preview's on every pair",
         f"{len(keys) - len(flat)}/{len(keys)}", not flat, flat),
        ("best's median gram below the preview's and Reinhard's",
         f"{med('best', 'gram'):.4f} vs {med('preview', 'gram'):.4f} / {med('reinhard', 'gram'):.4f}",
         med("best", "gram") < min(med("preview", "gram"), med("reinhard", "gram")), []),
        ("preview's and best's median color_swd no worse than Reinhard's",
         f"{med('preview', 'color_swd'):.4f} / {med('best', 'color_swd'):.4f} vs {med('reinhard', 'color_swd'):.4f}",
         max(med("preview", "color_swd"), med("best", "color_swd")) <= med("reinhard", "color_swd"), []),
    ]  # fmt: skip
    out = ["", "## Targets (issue 15)", "", "| target | measured | met | pairs missing it |", "|---|---|---|---|"]
    for name, got, ok, missing in rows:
        out.append(f"| {name} | {got} | {'yes' if ok else 'NO'} | {', '.join(missing)} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--pairs", help="keys to run (e.g. 1_22,s1); default all")
    ap.add_argument("--no-run", action="store_true", help="score and report the outputs already written")
    ap.add_argument("--name", default="cross-pairs", help="the report's and the sheet's name, before the date")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    todo = pairs()
    if a.pairs:
        want = set(a.pairs.split(","))
        todo = [t for t in todo if t[0] in want]
    keys = [k for k, _, _ in todo]
    times: dict[str, dict[str, float]] = {m: {} for m in modes}
    tfile = OUT / "times.json"
    if tfile.exists():
        old = json.loads(tfile.read_text())
        for m in modes:
            times[m].update(old.get(m, {}))
    from photostyle import read_image

    for m in modes:
        (OUT / m).mkdir(parents=True, exist_ok=True)
        for k, p, r in todo:
            if not a.no_run:
                times[m][k] = run(m, p, r, OUT / m / f"{k}.png")
                print(f"{m} {k}: {times[m][k]:.1f} s", file=sys.stderr, flush=True)
        merged = json.loads(tfile.read_text()) if tfile.exists() else {}  # other runs may have written meanwhile
        merged[m] = {**merged.get(m, {}), **times[m]}
        tfile.write_text(json.dumps(merged, indent=1))
    scores = {m: score_all(m, keys, todo) for m in modes}
    for m in modes:
        for k, p, _ in todo:
            if k in scores[m] and (OUT / m / f"{k}.png").exists():
                photo = read_image(p).pixels
                scores[m][k]["added_structure"] = added_structure(photo, read_image(OUT / m / f"{k}.png").pixels)
    (OUT / "scores.json").write_text(json.dumps(scores, indent=1))
    sheet = report_path(a.name).with_suffix(".jpg")
    contact_sheet(keys, todo, modes, sheet)
    lines = [
        "# The real use: unrelated photo and reference, automatic masks",
        "",
        f"Machine: {machine()}. Commit {git_commit()}. {len(keys)} pairs (../shared/cross-dev and the two samples).",
        f"Contact sheet: `{sheet.name}` (photo | reference | {' | '.join(modes)}).",
        "",
        "## Medians",
        "",
        "| mode | " + " | ".join(METRICS) + " | seconds |",
        "|---|" + "---|" * (len(METRICS) + 1),
    ]
    for m in modes:
        med = [median([scores[m].get(k, {}).get(x) for k in keys]) for x in METRICS]
        t = median([times[m].get(k) for k in keys])
        lines.append(f"| {m} | " + " | ".join(fmt(v) for v in med) + f" | {fmt(t, 3)} |")
    lines += targets(scores, keys, modes)
    lines += ["", "## Per pair", "", "| pair | mode | " + " | ".join(METRICS) + " | seconds |"]
    lines.append("|---|---|" + "---|" * (len(METRICS) + 1))
    for k in keys:
        for m in modes:
            row = scores[m].get(k, {})
            vals = " | ".join(fmt(row.get(x)) for x in METRICS)
            lines.append(f"| {k} | {m} | {vals} | {fmt(times[m].get(k), 3)} |")
    path = report_path(a.name)
    path.write_text("\n".join(lines) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
