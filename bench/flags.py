"""Match confidence and flags: the threshold and how well the album's flags find the photos whose look is unreliable.

1. Calibration: the match confidence of the 20 DPST dev pairs (photo in{i} with its own reference tar{i}: matched
   scenes) and of the 20 cross pairs (../shared/cross-dev: unrelated scenes), default automatic masks (the raw
   measures are cached by bench/flags_calibrate.py). The threshold that separates them best (Youden's J: recall of
   unrelated minus the share of matched flagged), with precision and recall of "flagged = unrelated".
2. Shoots: the album has one reference per shoot, so each shoot is one reference tar{k} with its own photo in{k}
   (matched) and photos of other scenes in{j} (unrelated; pairs not in the cross list, so not used to calibrate),
   styled by ``photostyle album`` at preview quality with its defaults (automatic masks). Precision and recall of
   the flagged photos (any flag, and the low-confidence flag alone) against those labels, the confidences, the
   clipped-highlight flags, and the time per photo.

    .venv/bin/python -m bench.flags [--refs 1,13,31,49] [--others 3]

Writes bench/reports/flags-<date>.md; the shoots' outputs and contact sheets under out/bench/flags/.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
import warnings

import numpy as np

from photostyle.regions.confidence import LOW_CONFIDENCE, Components, overall, score
from photostyle.settings import Settings
from pipelines.album import MANIFEST_NAME, AlbumOptions, read_manifest, run_album

from .common import DPST_DEV, ROOT, git_commit, machine, pair_ids, report_path
from .flags_calibrate import cross_pairs, load

OUT = ROOT / "out" / "bench" / "flags"


def confidences(data: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    out = {}
    for key, regions in data.items():
        comps = {int(r["region"]): Components(**{k: v for k, v in r.items() if k != "region"}) for r in regions}
        out[key] = overall({k: score(c) for k, c in comps.items()}, comps)
    return out


def pr(flagged: list[bool], unrelated: list[bool]) -> tuple[float, float, int, int]:
    """(precision, recall, true positives, false positives) of FLAGGED against UNRELATED."""
    tp = sum(f and u for f, u in zip(flagged, unrelated, strict=True))
    fp = sum(f and not u for f, u in zip(flagged, unrelated, strict=True))
    return (tp / max(tp + fp, 1), tp / max(sum(unrelated), 1), tp, fp)


def best_threshold(conf: list[float], unrelated: list[bool]) -> tuple[float, float]:
    """The threshold (to 0.01) with the highest Youden J, and that J."""
    n_m = max(sum(not u for u in unrelated), 1)
    best = (0.0, -1.0)
    for t in np.arange(0.20, 0.95, 0.01):
        flag = [c < t for c in conf]
        _, rec, _, fp = pr(flag, unrelated)
        j = rec - fp / n_m
        if j > best[1] + 1e-9:
            best = (round(float(t), 2), j)
    return best


def auc(conf: list[float], unrelated: list[bool]) -> float:
    m = [c for c, u in zip(conf, unrelated, strict=True) if not u]
    x = [c for c, u in zip(conf, unrelated, strict=True) if u]
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in m for b in x]))


def spread(values: list[float]) -> str:
    v = sorted(values)
    q = np.percentile(v, [0, 25, 50, 75, 100])
    return " / ".join(f"{x:.2f}" for x in q)


def shoot(k: int, others: list[int], settings: Settings) -> tuple[list[dict], float]:
    folder = OUT / f"shoot-{k}"
    if folder.exists():
        shutil.rmtree(folder)
    photos = folder / "photos"
    photos.mkdir(parents=True)
    for i in [k, *others]:
        shutil.copy(DPST_DEV / "input" / f"in{i}.png", photos / f"in{i}.png")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_album(AlbumOptions(photos, DPST_DEV / "style" / f"tar{k}.png", folder / "out", settings=settings,
                               progress=False))  # fmt: skip
    took = time.perf_counter() - t0
    entries = list(read_manifest(folder / "out" / MANIFEST_NAME).values())
    for e in entries:
        e["unrelated"] = e["input"] != f"in{k}.png"
        e["reference"] = k
    return entries, took / max(len(entries), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--refs", default="1,13,31,49", help="the shoots' references tar{k}")
    ap.add_argument("--others", type=int, default=3, help="unrelated photos per shoot")
    a = ap.parse_args()
    lines = [f"# Match confidence and flags ({git_commit()})", "", f"Machine: {machine()}", ""]

    # ---- 1. calibration
    conf = confidences(load())
    keys = list(conf)
    unrelated = [k.split("_")[0] != k.split("_")[1] for k in keys]
    values = [conf[k] for k in keys]
    matched_v = [v for v, u in zip(values, unrelated, strict=True) if not u]
    unrelated_v = [v for v, u in zip(values, unrelated, strict=True) if u]
    t_best, j = best_threshold(values, unrelated)
    lines += [
        "## 1. Calibration: DPST dev pairs (matched) against the cross pairs (unrelated)",
        "",
        f"AUC (a matched pair scores above an unrelated one): {auc(values, unrelated):.3f}",
        "",
        "| pairs | n | match_confidence min / q1 / median / q3 / max |",
        "|---|---|---|",
        f"| matched (DPST) | {unrelated.count(False)} | {spread(matched_v)} |",
        f"| unrelated (cross) | {unrelated.count(True)} | {spread(unrelated_v)} |",
        "",
        "| threshold | precision (flagged are unrelated) | recall (unrelated flagged) | matched flagged |",
        "|---|---|---|---|",
    ]
    for t in sorted({t_best, LOW_CONFIDENCE, 0.5, 0.65}):
        p, r, _, fp = pr([v < t for v in values], unrelated)
        mark = " (best J)" if t == t_best else ""
        mark += " (LOW_CONFIDENCE)" if t == LOW_CONFIDENCE else ""
        lines.append(f"| {t:.2f}{mark} | {p:.2f} | {r:.2f} | {fp} of {unrelated.count(False)} |")
    lines += ["", f"Best threshold by Youden's J: {t_best:.2f} (J {j:.2f}).", ""]
    lines += ["Per pair (sorted):", "", "| pair | kind | confidence |", "|---|---|---|"]
    for k in sorted(keys, key=lambda x: conf[x]):
        lines.append(f"| {k} | {'unrelated' if k.split('_')[0] != k.split('_')[1] else 'matched'} | {conf[k]:.3f} |")

    # ---- 2. shoots
    ids = pair_ids()
    cross = set(cross_pairs())
    settings = Settings.preset("preview").with_(threads=2)
    entries: list[dict] = []
    per_photo: list[float] = []
    for k in (int(x) for x in a.refs.split(",")):
        start = ids.index(k)
        others = [i for i in ids[start + 1 :] + ids[:start] if (i, k) not in cross][: a.others]
        got, sec = shoot(k, others, settings)
        entries += got
        per_photo.append(sec)
    done = [e for e in entries if e["status"] == "done"]
    un = [e["unrelated"] for e in done]
    lines += [
        "",
        "## 2. Shoots: one reference each, its own scene and unrelated scenes (album, preview, automatic masks)",
        "",
        f"{len(done)} photos ({un.count(False)} matched, {un.count(True)} unrelated) over {len(per_photo)} shoots; "
        f"median {statistics.median(per_photo):.1f} s a photo (segmentation included).",
        "",
        "| flags | precision | recall | true positives | false positives |",
        "|---|---|---|---|---|",
    ]
    for name, flag in (
        ("any flag", [bool(e["flags"]) for e in done]),
        ("low_confidence", ["low_confidence" in e["flags"] for e in done]),
        ("clipped_highlights", ["clipped_highlights" in e["flags"] for e in done]),
    ):
        p, r, tp, fp = pr(flag, un)
        lines.append(f"| {name} | {p:.2f} | {r:.2f} | {tp} | {fp} |")
    lines += [
        "",
        "| match_confidence | n | min / q1 / median / q3 / max |",
        "|---|---|---|",
        f"| matched | {un.count(False)} | {spread([e['match_confidence'] for e in done if not e['unrelated']])} |",
        f"| unrelated | {un.count(True)} | {spread([e['match_confidence'] for e in done if e['unrelated']])} |",
        "",
        "| reference | photo | kind | match_confidence | clipped before / after | flags |",
        "|---|---|---|---|---|---|",
    ]
    for e in sorted(done, key=lambda e: (e["reference"], e["unrelated"], e["input"])):
        lines.append(
            f"| tar{e['reference']} | {e['input']} | {'unrelated' if e['unrelated'] else 'matched'} | "
            f"{e['match_confidence']:.3f} | {e['clipped_before']:.3f} / {e['clipped_after']:.3f} | "
            f"{', '.join(e['flags']) or '-'} |"
        )
    lines += ["", f"Contact sheets: {OUT.relative_to(ROOT)}/shoot-K/out/contact-sheet.png", ""]
    path = report_path("flags")
    path.write_text("\n".join(lines))
    print(path)


if __name__ == "__main__":
    main()
