"""Benchmark of the photographer's controls on the DPST development pairs.

For each mode (plain transfer, preserve_color luminance / histogram, strength 0.5, and at best quality the
histogram style loss) it runs photostyle on ../shared/dpst-dev with the hand masks, scores the outputs with
../shared/metrics/score.py (structure, color_swd, gram, affine_frac, flat_hf_dev; medians) and measures the mean
chroma distance of each output to its photo: in YIQ's I/Q plane (the chroma luminance mode keeps; 0-255 RGB units)
and in CIELAB's a*b* plane. Outputs go to a scratch folder outside the project (the pairs are not ours to copy).

    .venv/bin/python bench/controls.py                          # preview on all 20 pairs, best on a subset
    .venv/bin/python bench/controls.py --best-ids 4,22 --size 160 --iterations 40 --threads 1

Writes bench/reports/controls-<date>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from skimage import color
from skimage.transform import resize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from photostyle import Settings, read_image, transfer, write_image  # noqa: E402
from photostyle.engine.controls import rgb_to_yiq  # noqa: E402
from photostyle.pipeline import make_pairs  # noqa: E402

PAIRS = ROOT.parent / "shared" / "dpst-dev"
SCORE = ROOT.parent / "shared" / "metrics" / "score.py"
METRICS = [("structure", "higher"), ("color_swd", "lower"), ("gram", "lower"), ("affine_frac", "lower"),
           ("flat_hf_dev", "lower")]  # fmt: skip

PREVIEW_MODES: dict[str, dict[str, object]] = {
    "none": {},
    "luminance": {"preserve_color": "luminance"},
    "histogram": {"preserve_color": "histogram"},
    "strength 0.5": {"strength": 0.5},
}
BEST_MODES: dict[str, dict[str, object]] = {  # strength is a blend after the engine: measured in preview only
    "none": {},
    "luminance": {"preserve_color": "luminance"},
    "histogram": {"preserve_color": "histogram"},
    "gram+histogram loss": {"style_loss": "histogram"},
}


def chroma_distance(out: np.ndarray, photo: np.ndarray) -> tuple[float, float]:
    """Mean |(I, Q) out - (I, Q) photo| in 0-255 RGB units, and mean |(a*, b*) out - (a*, b*) photo| (CIELAB)."""
    iq = np.linalg.norm(rgb_to_yiq(out)[..., 1:] - rgb_to_yiq(photo)[..., 1:], axis=-1).mean() * 255
    ab = np.linalg.norm(color.rgb2lab(out)[..., 1:] - color.rgb2lab(photo)[..., 1:], axis=-1).mean()
    return float(iq), float(ab)


def run_mode(ids: list[int], settings: Settings, out_dir: Path) -> list[dict[str, float]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in ids:
        photo = read_image(PAIRS / "input" / f"in{i}.png", role="photo")
        ref = read_image(PAIRS / "style" / f"tar{i}.png", role="reference")
        seg = PAIRS / "segmentation"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pairs = make_pairs(photo.pixels.shape[:2], ref.pixels.shape[:2], seg / f"in{i}.png", seg / f"tar{i}.png")
            t0 = time.perf_counter()
            res = transfer(photo, ref, masks=pairs, settings=settings)
            sec = time.perf_counter() - t0
        write_image(out_dir / f"{i}.png", res.image, like=photo, bit_depth=8, overwrite=True)
        iq, ab = chroma_distance(res.image, photo.pixels)
        rows.append({"id": i, "transfer_s": sec, "chroma_iq": iq, "chroma_ab": ab})
        print(f"  pair {i}: {sec:.1f}s, chroma IQ {iq:.2f}, ab {ab:.2f}", flush=True)
    return rows


def score(ids: list[int], pattern: str, jsonl: Path, no_gram: bool, threads: int | None) -> dict[int, dict[str, float]]:
    """score.py's per-pair metrics of the outputs PATTERN (with {i})."""
    cmd = [sys.executable, str(SCORE), str(PAIRS), pattern, "--ids", ",".join(map(str, ids)), "--jsonl", str(jsonl)]
    cmd += ["--no-gram"] if no_gram else []
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return {r["id"]: r for r in map(json.loads, jsonl.read_text().splitlines())}


def median(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else None


def fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"


def bench(
    label: str, ids: list[int], base: Settings, modes: dict[str, dict[str, object]], args: argparse.Namespace
) -> tuple[list[str], dict[str, dict[int, dict[str, float]]]]:
    """Runs and scores every mode; returns the summary table's rows and the per-pair rows."""
    table: list[str] = []
    per_pair: dict[str, dict[int, dict[str, float]]] = {}
    for name, changes in modes.items():
        print(f"{label}: {name}", flush=True)
        out_dir = Path(args.work) / label / name.replace(" ", "_").replace(",", "").replace("+", "_")
        rows = run_mode(ids, base.with_(**changes), out_dir)
        scores = score(ids, str(out_dir / "{i}.png"), out_dir / "scores.jsonl", args.no_gram, args.threads)
        merged: dict[int, dict[str, float]] = {int(r["id"]): {**r, **scores.get(int(r["id"]), {})} for r in rows}
        per_pair[name] = merged
        table.append(_row(name, merged))
    if args.anchor:  # DPST's own results (700 px, 2 x 1000 iterations) on the same pairs
        print(f"{label}: DPST's own results", flush=True)
        anchor = Path(args.work) / label / "dpst"
        anchor.mkdir(parents=True, exist_ok=True)
        scores = score(ids, "dpst_results/best{i}_t_1000.png", anchor / "scores.jsonl", args.no_gram, args.threads)
        merged = {}
        for i in ids:
            photo = read_image(PAIRS / "input" / f"in{i}.png").pixels
            out = read_image(PAIRS / "dpst_results" / f"best{i}_t_1000.png").pixels
            if out.shape != photo.shape:
                out = np.clip(resize(out, photo.shape[:2], order=3, preserve_range=True), 0, 1)
            iq, ab = chroma_distance(out, photo)
            merged[i] = {"id": i, "chroma_iq": iq, "chroma_ab": ab, **scores.get(i, {})}
        table.append(_row("DPST's own results (anchor)", merged))
    return table, per_pair


def _row(name: str, merged: dict[int, dict[str, float]]) -> str:
    cells = [median([m.get(k) for m in merged.values()]) for k, _ in METRICS]
    chroma = [median([m[k] for m in merged.values()]) for k in ("chroma_iq", "chroma_ab")]
    secs = [m["transfer_s"] for m in merged.values() if "transfer_s" in m]
    sec = f"{np.mean(secs):.1f}" if secs else "-"
    return f"| {name} | {len(merged)} | " + " | ".join(fmt(c) for c in cells + chroma) + f" | {sec} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ids", help="pairs for the preview runs (default: all)")
    ap.add_argument("--best-ids", default="4,10,22,40", help="pairs for the best-quality runs ('' to skip)")
    ap.add_argument("--size", type=int, default=160, help="working size of the best-quality runs")
    ap.add_argument("--iterations", type=int, default=40, help="L-BFGS evaluations of the best-quality runs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-gram", action="store_true", help="skip score.py's VGG gram metric (faster)")
    ap.add_argument("--anchor", action="store_true", help="also score DPST's own results on the same pairs")
    ap.add_argument("--work", default="/tmp/photostyle-bench-controls", help="scratch folder for the outputs")
    ap.add_argument("--report", default=str(ROOT / "bench" / "reports" / f"controls-{dt.date.today()}.md"))
    args = ap.parse_args()
    if not (PAIRS / "input").is_dir() or not SCORE.is_file():
        print(f"error: {PAIRS} and {SCORE} are needed beside the project.", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    all_ids = sorted(int(f.stem[2:]) for f in (PAIRS / "input").glob("in*.png"))
    ids = [int(x) for x in args.ids.split(",")] if args.ids else all_ids
    best_ids = [int(x) for x in args.best_ids.split(",") if x.strip()]
    t0 = time.perf_counter()
    header = "| mode | n | " + " | ".join(f"{k} ({b})" for k, b in METRICS)
    header += " | chroma IQ to photo | chroma a*b* to photo | transfer s/pair |\n|" + "---|" * (len(METRICS) + 5)
    lines = [
        f"# Controls benchmark, {dt.date.today()}",
        "",
        f"`bench/controls.py` on `../shared/dpst-dev` with the hand masks; medians of `../shared/metrics/score.py`"
        f" over the pairs; chroma distances are per-pair mean distances of the output's chroma to the photo's "
        f"(YIQ I/Q in 0-255 RGB units, and CIELAB a*b*), medians over pairs. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other jobs, {args.threads} thread(s): timings are indicative only.",
        "",
    ]
    per_pair_all: dict[str, dict[int, dict[str, float]]] = {}
    if ids:
        base = Settings.preset("preview", threads=args.threads)
        table, _ = bench("preview", ids, base, PREVIEW_MODES, args)
        title = f"## Preview quality (closed-form colour transfer, working size {base.scales[-1]}), pairs {ids}"
        lines += [title, "", header]
        lines += table + [""]
    if best_ids:
        base = Settings(scales=(args.size,), iterations=(args.iterations,), threads=args.threads)
        table, per_pair_all = bench("best", best_ids, base, BEST_MODES, args)
        lines += [
            f"## Best quality (DPST optimisation) on a subset, pairs {best_ids}: working size {args.size}, "
            f"{args.iterations} L-BFGS evaluations (the default is 256+400 px, 120+60)",
            "",
            header,
        ]
        lines += table + ["", "Per pair (gram / color_swd / affine_frac / chroma IQ):", ""]
        names = list(per_pair_all)
        lines += ["| pair | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for i in best_ids:
            cells = []
            for n in names:
                r = per_pair_all[n].get(i, {})
                cells.append(" / ".join(fmt(r.get(k)) for k in ("gram", "color_swd", "affine_frac", "chroma_iq")))
            lines.append(f"| {i} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"Total bench time {time.perf_counter() - t0:.0f} s.")
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text("\n".join(lines) + "\n")
    print(args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
