"""What 8-bit output does to the flat areas: flat_hf_dev of each result before and after it is written as a PNG.

    .venv/bin/python -m bench.rounding                          # the 22 cross pairs, preview and best
    .venv/bin/python -m bench.rounding --pairs 16_37,31_52      # a few

Issue 15's cross-pair target reads best's flat_hf_dev against the preview's (at most 0.1 above, on every pair), on
the 8-bit files `bench.cross_pairs` writes. flat_hf_dev (../shared/metrics, ``flat_hf``) is the log ratio of the
result's finest CIELAB detail to the photo's over the photo's flat pixels. Where a look lifts a black backdrop,
the photo's own detail there is a level or two of a black that CIELAB draws very small, while the result's 8-bit
rounding (half a level either way, at a tone where a level is larger in CIELAB) is new detail of its own: wherever
the float result varies at all, by a fraction of a level, rounding turns it into single-level steps.

Each pair runs once per mode through ``transfer`` with automatic masks (made once per pair, shared by both modes),
as bench/cross_pairs.py runs it. The float result is scored as it leaves ``transfer``, and again after
``write_image`` wrote it as an 8-bit PNG and it was read back as score.py reads it (the PNGs: out/bench/rounding/).
The report, bench/reports/rounding-<date>.md, gives per pair and as medians each mode's flat_hf_dev both ways, and
issue 15's flat-area target read on the float results and on the files.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from .common import ROOT, fmt, git_commit, machine, median, report_path, shared_metrics
from .cross_pairs import FLAT_HF_ABOVE_PREVIEW, pairs

MODES = ("preview", "best")
OUT = ROOT / "out" / "bench" / "rounding"


def _load(path: Path) -> np.ndarray:
    """An image as score.py reads it: 8-bit RGB, float64 in [0, 1]."""
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), np.float64) / 255.0


def _dev(ratio: float | None) -> float | None:
    return abs(math.log(ratio)) if ratio else None


def run_pair(key: str, photo_path: Path, ref_path: Path, modes: list[str]) -> dict[str, dict[str, float | None]]:
    """flat_hf_dev of each mode's float result and of its 8-bit PNG, and the seconds the transfer took."""
    from photostyle import Settings, read_image, transfer, write_image
    from photostyle.regions import prepare_masks

    flat_hf = shared_metrics().flat_hf
    photo, ref = read_image(photo_path), read_image(ref_path)
    scored_photo = _load(photo_path)
    masks, _ = prepare_masks(photo, ref, masks="auto", settings=Settings())
    rows: dict[str, dict[str, float | None]] = {}
    for mode in modes:
        t0 = time.perf_counter()
        image = transfer(photo, ref, masks=masks, settings=Settings(quality=mode)).image
        seconds = time.perf_counter() - t0
        out = OUT / mode / f"{key}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_image(out, image, overwrite=True)
        rows[mode] = {
            "float": _dev(flat_hf(np.clip(np.asarray(image, np.float64), 0.0, 1.0), scored_photo)),
            "file": _dev(flat_hf(_load(out), scored_photo)),
            "seconds": seconds,
        }
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", help="keys to run (e.g. 16_37,s1); default all")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--name", default="rounding", help="the report's name, before its date")
    a = ap.parse_args()
    modes = a.modes.split(",")
    todo = [p for p in pairs() if not a.pairs or p[0] in a.pairs.split(",")]
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    for key, photo, ref in todo:
        results[key] = run_pair(key, photo, ref, modes)
        print(key, results[key], flush=True)

    lines = [
        "# 8-bit rounding and flat_hf_dev: each result scored as `transfer` returns it and as its PNG",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; automatic masks (one segmentation per pair, both modes), default settings",
        f"- pairs: {len(todo)} of `bench.cross_pairs` (../shared/cross-dev and the samples)",
        "- outputs: out/bench/rounding/<mode>/<pair>.png",
        "",
        "flat_hf_dev: |log| of the result's finest CIELAB detail over the photo's, on the photo's flat pixels",
        "(../shared/metrics). 'float': the result as `transfer` returns it; 'file': its 8-bit PNG read back.",
        "",
        "## Medians",
        "",
        "| mode | float | file |",
        "|---|---|---|",
    ]
    for mode in modes:
        lines.append(
            f"| {mode} | {fmt(median([results[k][mode]['float'] for k in results]))} "
            f"| {fmt(median([results[k][mode]['file'] for k in results]))} |"
        )
    if set(MODES) <= set(modes):
        title = f"## Issue 15's flat-area target (best at most {FLAT_HF_ABOVE_PREVIEW} above the preview, every pair)"
        lines += ["", title, ""]
        for kind in ("float", "file"):
            miss = []
            for k, r in results.items():
                b, p = r["best"][kind], r["preview"][kind]
                if b is not None and p is not None and b > p + FLAT_HF_ABOVE_PREVIEW:
                    miss.append(f"{k} ({b:.3f} against {p:.3f})")
            met = len(results) - len(miss)
            missed = f"; missed: {', '.join(miss)}" if miss else ""
            lines.append(f"- {kind}: {met}/{len(results)} pairs meet it{missed}")
    lines += ["", "## Per pair", "", "| pair | " + " | ".join(f"{m} float | {m} file | {m} s" for m in modes) + " |"]
    lines.append("|---|" + "---|---|---|" * len(modes))
    for k, r in results.items():
        cells = [f"{fmt(r[m]['float'])} | {fmt(r[m]['file'])} | {r[m]['seconds']:.1f}" for m in modes]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    path = report_path(a.name)
    path.write_text("\n".join(lines) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
