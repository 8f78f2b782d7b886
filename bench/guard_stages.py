"""What best quality's guard (photostyle.engine.guard) costs and buys, stage by stage, on one optimiser output.

    .venv/bin/python -m bench.guard_stages                          # 10 DPST pairs and 4 cross pairs
    .venv/bin/python -m bench.guard_stages --ids 13 --cross 31_52   # a few

Each pair runs best quality once through ``transfer`` with automatic masks, as bench/dpst_pairs.py and
bench/cross_pairs.py do, and the guard's inputs are recorded as the engine hands them over (the photo, the closed-form
look, the optimised and refitted result, the photo's region masks, all at the working size). Each stage then runs the
rest of the pipeline again from those inputs (the guard's variant, the upsampling to full size, the skin guard), so
the rows differ by the guard alone and cost seconds, not the optimiser's minute:

    refit    the optimiser's refitted result, no guard (what Settings(guard=False) gives)
    pixels   the pixel checks only (structure and tone)
    flat     the pixel checks after the flat areas are evened, one share across each still area
             (``even_flat_areas``, ``still_share``)
    region   the pixel checks and the region rule, no flat areas
    guard    all of it: the engine's own output (checked bit for bit against the first run's)
    guide    the closed-form look the guard falls back to

DPST pairs are scored with their hand masks, cross pairs with ``--cross`` (../shared/metrics/score.py). The report,
bench/reports/guard-stages-<date>.md (``--name`` for another name), gives the medians per stage and, per pair, the
figures the issue's targets read (DPST: gram and color_swd; cross: structure and flat_hf_dev), and a contact sheet
beside it (photo | reference | each stage). Outputs: out/bench/guard-stages/<stage>/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .common import DPST_DEV, METRICS, ROOT, SCORE, fmt, git_commit, machine, median, report_path, score
from .cross_pairs import contact_sheet

OUT = ROOT / "out" / "bench" / "guard-stages"
DEFAULT_IDS = "1,7,13,19,25,31,37,43,49,55"  # the DPST pairs of the dpst-best-auto reports
DEFAULT_CROSS = "31_52,16_37,28_49,43_4"  # the cross pairs each guard rule was made for

Inputs = dict[str, Any]
STAGES: dict[str, Callable[[Inputs], tuple[np.ndarray, float]]] = {}


def _stage(name: str) -> Callable[[Callable[[Inputs], tuple[np.ndarray, float]]], Any]:
    def add(fn: Callable[[Inputs], tuple[np.ndarray, float]]) -> Any:
        STAGES[name] = fn
        return fn

    return add


def _keep(z: Inputs, regions: bool, flat_areas: bool) -> tuple[np.ndarray, float]:
    from photostyle.engine.guard import keep_photograph

    out: tuple[np.ndarray, float] = keep_photograph(
        z["photo"], z["guide"], z["result"], regions=z["regions"] if regions else None, flat_areas=flat_areas
    )
    return out


_stage("refit")(lambda z: (z["result"], 1.0))
_stage("pixels")(lambda z: _keep(z, regions=False, flat_areas=False))
_stage("flat")(lambda z: _keep(z, regions=False, flat_areas=True))
_stage("region")(lambda z: _keep(z, regions=True, flat_areas=False))
_stage("guard")(lambda z: _keep(z, regions=True, flat_areas=True))
_stage("guide")(lambda z: (z["guide"], 0.0))


@contextmanager
def _recording(into: Inputs) -> Iterator[None]:
    """The engine's call to the guard, recorded into INTO on its way through."""
    from photostyle.engine import dpst

    real = dpst.keep_photograph

    def record(
        photo: np.ndarray, guide: np.ndarray, result: np.ndarray, regions: np.ndarray | None = None
    ) -> tuple[np.ndarray, float]:
        into.update(photo=photo.copy(), guide=guide.copy(), result=result.copy(), regions=regions)
        out: tuple[np.ndarray, float] = real(photo, guide, result, regions=regions)
        return out

    dpst.keep_photograph = record  # type: ignore[assignment]
    try:
        yield
    finally:
        dpst.keep_photograph = real


@contextmanager
def _replaying(z: Inputs, stage: Callable[[Inputs], tuple[np.ndarray, float]]) -> Iterator[None]:
    """The engine's optimisation replaced by the recorded inputs and STAGE's guard; the rest of ``transfer`` runs."""
    from photostyle.engine.dpst import DPST

    real = DPST.run

    def run(self: Any, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        image, self.kept = stage(z)
        return z["photo"], image

    DPST.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        DPST.run = real  # type: ignore[method-assign]


def run_pair(key: str, photo_path: Path, ref_path: Path, stages: list[str]) -> None:
    """Best quality on one pair, then each stage from the same optimiser output; OUT/<stage>/<key>.png."""
    from photostyle import Settings, read_image, transfer, write_image
    from photostyle.regions import prepare_masks

    photo, ref = read_image(photo_path), read_image(ref_path)
    s = Settings(quality="best")
    pairs, _ = prepare_masks(photo, ref, masks="auto", settings=s)
    inputs: Inputs = {}
    with _recording(inputs):
        engine = np.asarray(transfer(photo, ref, masks=pairs, settings=s).image)
    if not inputs:  # the guard did not run (the regions did not correspond at all: one global look)
        print(f"{key}: no guard ran", flush=True)
    for name in stages:
        if inputs:
            with _replaying(inputs, STAGES[name]):
                image = np.asarray(transfer(photo, ref, masks=pairs, settings=s).image)
        else:
            image = engine
        if name == "guard" and not np.array_equal(image, engine):
            raise SystemExit(f"{key}: the replayed guard differs from the engine's own output; the bench is stale")
        (OUT / name).mkdir(parents=True, exist_ok=True)
        write_image(OUT / name / f"{key}.png", image, overwrite=True)
    print(f"{key}: done", flush=True)


def score_cross(stage: str, keys: list[str]) -> dict[str, dict]:
    listing = OUT / "cross-pairs.txt"
    listing.write_text("".join(k.replace("_", " ") + "\n" for k in keys))
    jsonl = OUT / f"{stage}-cross.jsonl"
    pattern = str(OUT / stage / "{i}_{j}.png")
    cmd = [sys.executable, str(SCORE), str(DPST_DEV), pattern, "--cross", str(listing), "--jsonl", str(jsonl)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    return {f"{r['id']}_{r['ref']}": r for r in rows}


def _medians_table(scores: dict[str, dict[str, dict]], stages: list[str], extra: list[tuple[str, dict]]) -> list[str]:
    lines = ["| stage | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for name, rows in [(s, scores[s]) for s in stages] + extra:
        meds = [fmt(median([r.get(m) for r in rows.values()])) for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(meds) + " |")
    return lines


def _per_pair(scores: dict[str, dict[str, dict]], stages: list[str], keys: list[str], a: str, b: str) -> list[str]:
    lines = ["| pair | " + " | ".join(stages) + " |", "|---" * (len(stages) + 1) + "|"]
    for k in keys:
        cells = []
        for s in stages:
            r = scores[s].get(k, {})
            cells.append(f"{fmt(r.get(a))} / {fmt(r.get(b))}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ids", default=DEFAULT_IDS, help="DPST pair ids ('' for none)")
    ap.add_argument("--cross", default=DEFAULT_CROSS, help="cross pairs i_j ('' for none)")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--score-only", action="store_true", help="score the outputs already in out/bench/guard-stages")
    ap.add_argument("--name", default="guard-stages", help="the report's name, before its date")
    a = ap.parse_args()
    ids = [int(x) for x in a.ids.split(",") if x]
    cross = [k for k in a.cross.split(",") if k]
    stages = [s for s in a.stages.split(",") if s]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        ap.error(f"unknown stages {unknown}; the stages are {', '.join(STAGES)}")
    todo = [(f"d{i}", DPST_DEV / "input" / f"in{i}.png", DPST_DEV / "style" / f"tar{i}.png") for i in ids]
    for k in cross:
        i, j = k.split("_")
        todo.append((k, DPST_DEV / "input" / f"in{i}.png", DPST_DEV / "style" / f"tar{j}.png"))
    missing = [str(p) for _, p, r in todo for p in (p, r) if not p.exists()]
    if missing:
        ap.error(f"missing pair images: {', '.join(missing)} (is ../shared beside the project?)")
    if not a.score_only:
        for key, p, r in todo:
            run_pair(key, p, r, stages)

    report = [
        "# Best's guard, stage by stage, on one optimiser output per pair",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; best quality, automatic masks, defaults (`bench/guard_stages.py`)",
        "- stages: refit (no guard), pixels (structure and tone checks), flat (pixels after `even_flat_areas`, "
        "`still_share`), "
        "region (pixels and the region rule), guard (all: the engine's output, checked bit for bit), guide "
        "(the closed-form look)",
        "",
    ]
    if ids:
        dpst = {}
        for s in stages:
            rows = score(str(OUT / s / "d{i}.png"), ids, OUT / f"{s}-dpst.jsonl")
            dpst[s] = {str(r["id"]): r for r in rows}
        own = score("dpst_results/best{i}_t_1000.png", ids, OUT / "dpst-own.jsonl")
        report += [
            f"## DPST pairs {', '.join(map(str, ids))}: medians (scored with the hand masks)",
            "",
            *_medians_table(dpst, stages, [("DPST's own results (hand masks)", {str(r["id"]): r for r in own})]),
            "",
            "Per pair, gram / color_swd:",
            "",
            *_per_pair(dpst, stages, [str(i) for i in ids], "gram", "color_swd"),
            "",
        ]
    if cross:
        cs = {s: score_cross(s, cross) for s in stages}
        report += [
            f"## Cross pairs {', '.join(cross)}: medians (whole images)",
            "",
            *_medians_table(cs, stages, []),
            "",
            "Per pair, structure / flat_hf_dev:",
            "",
            *_per_pair(cs, stages, cross, "structure", "flat_hf_dev"),
            "",
        ]
    path = report_path(a.name)
    sheet = path.with_suffix(".jpg")
    contact_sheet([k for k, _, _ in todo], todo, stages, sheet, out=OUT)
    report += [f"Contact sheet (photo | reference | {' | '.join(stages)}): `{sheet.name}`.", ""]
    path.write_text("\n".join(report))
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
