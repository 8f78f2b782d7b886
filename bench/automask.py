"""Automatic masks on the 20 DPST development pairs: agreement with the hand masks, and transfers made with them.

    .venv/bin/python -m bench.automask                 # all 20 pairs, 1 thread
    .venv/bin/python -m bench.automask --ids 1,4 --no-gram

For each pair: the automatic segmentation (photostyle.regions.segment_pair, backend 'auto' as installed) of photo
and reference, its area-weighted best-match IoU with the hand masks (for each hand region the IoU of the automatic
region that overlaps it best, weighted by the hand region's area; unlabelled hand pixels ignored), and how often
paired regions agree (the share of photo pixels whose automatic partner region in the reference holds mostly the
same hand label). Then preview-quality transfers with the automatic masks, with the hand masks and with no masks,
scored by ../shared/metrics/score.py with the hand masks, next to DPST's own results. Outputs go to
out/bench/automask/{auto,hand,none}/{i}.png and the report to bench/reports/automask-<date>.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from photostyle.settings import QUALITY_PRESETS

from .common import (
    DPST_DEV,
    METRICS,
    ROOT,
    fmt,
    git_commit,
    machine,
    median,
    pair_ids,
    report_path,
    score,
    shared_metrics,
)

IOU_TARGET = 0.5  # median area-weighted best-match IoU of the automatic photo masks
SWD_TARGET = 0.15  # median color_swd with automatic masks within 15 % of the same run with hand masks


def hand_labels(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A hand mask as score.py reads it (nearest resize to SIZE, DPST palette, -1 for other colours)."""
    from PIL import Image

    im = Image.open(path).convert("RGB")
    if im.size != size:
        im = im.resize(size, Image.NEAREST)
    return shared_metrics().labels_from_dpst_mask(np.asarray(im))


def best_match_iou(auto: np.ndarray, hand: np.ndarray) -> float:
    """Area-weighted over hand regions of the best IoU with any automatic region (hand pixels < 0 ignored)."""
    valid = hand >= 0
    total, acc = int(valid.sum()), 0.0
    autos = np.unique(auto[valid])
    for k in np.unique(hand[valid]):
        hk = hand == k
        best = max(float((hk & (auto == a)).sum()) / float(((hk | (auto == a)) & valid).sum()) for a in autos)
        acc += best * float(hk.sum())
    return acc / total if total else float("nan")


def pairing_agreement(seg_photo: np.ndarray, seg_ref: np.ndarray, partner: dict[int, int], hp: np.ndarray,
                      hr: np.ndarray) -> float:  # fmt: skip
    """Share of labelled photo pixels whose region's partner (or the whole reference) holds mostly the same hand
    label as the region itself."""
    total, agree = 0, 0
    for k in np.unique(seg_photo):
        sel = (seg_photo == k) & (hp >= 0)
        if not sel.any():
            continue
        h = int(np.bincount(hp[sel]).argmax())
        j = partner.get(int(k), -1)
        rsel = ((seg_ref == j) if j >= 0 else np.ones(hr.shape, bool)) & (hr >= 0)
        if rsel.any() and int(np.bincount(hr[rsel]).argmax()) == h:
            agree += int(sel.sum())
        total += int(sel.sum())
    return agree / total if total else float("nan")


def run(ids: list[int], out: Path) -> list[dict]:
    from photostyle import Settings, read_image, transfer, write_image
    from photostyle.pipeline import make_pairs
    from photostyle.regions import segment_pair

    s = Settings.preset("preview")
    rows = []
    for sub in ("auto", "hand", "none"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i in ids:
        photo = read_image(DPST_DEV / "input" / f"in{i}.png")
        ref = read_image(DPST_DEV / "style" / f"tar{i}.png")
        ph, pw = photo.pixels.shape[:2]
        rh, rw = ref.pixels.shape[:2]
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seg = segment_pair(photo, ref)
        seg_s = time.perf_counter() - t0
        hp = hand_labels(DPST_DEV / "segmentation" / f"in{i}.png", (pw, ph))
        hr = hand_labels(DPST_DEV / "segmentation" / f"tar{i}.png", (rw, rh))
        row = {
            "id": i,
            "seg_s": round(seg_s, 2),
            "backend": seg.backend,
            "regions": len(seg.pairs.photo_regions()),
            "hand_regions": len(np.unique(hp[hp >= 0])),
            "iou_photo": best_match_iou(seg.pairs.photo, hp),
            "iou_ref": best_match_iou(seg.pairs.reference, hr),
            "pairing": pairing_agreement(seg.pairs.photo, seg.pairs.reference, seg.pairs.partner, hp, hr),
            "names": sorted({n for n in seg.photo_names.values() if n}),
            "fallbacks": sum(1 for j in seg.pairs.partner.values() if j < 0),
            "warnings": [str(w.message)[:80] for w in caught],
        }
        hand = make_pairs(
            (ph, pw),
            (rh, rw),
            DPST_DEV / "segmentation" / f"in{i}.png",
            DPST_DEV / "segmentation" / f"tar{i}.png",
        )
        for sub, masks in (("auto", seg.pairs), ("hand", hand), ("none", None)):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = transfer(photo, ref, masks=masks, settings=s).image
            row[f"{sub}_s"] = round(time.perf_counter() - t0, 2)
            write_image(out / sub / f"{i}.png", np.asarray(image), overwrite=True)
        rows.append(row)
        print(
            f"pair {i}: {row['regions']} regions ({seg.backend}), IoU photo {row['iou_photo']:.2f} "
            f"ref {row['iou_ref']:.2f}, pairing {row['pairing']:.2f}, segmentation {seg_s:.1f} s",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ids", help="comma-separated pair ids (default: all 20)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: the machine is shared)")
    ap.add_argument("--no-gram", action="store_true", help="skip the gram metric (the slowest)")
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)  # also for score.py, run as a subprocess
    import torch

    torch.set_num_threads(a.threads)
    ids = [int(x) for x in a.ids.split(",")] if a.ids else pair_ids()
    out = ROOT / "out" / "bench" / "automask"
    rows = run(ids, out)
    (out / "segmentation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = {}
    for sub in ("auto", "hand", "none"):
        t0 = time.perf_counter()
        scores[sub] = {r["id"]: r for r in score(str(out / sub / "{i}.png"), ids, out / f"{sub}.jsonl", not a.no_gram)}
        print(f"scored {sub} in {time.perf_counter() - t0:.0f} s", flush=True)
    scores["dpst"] = {
        r["id"]: r for r in score("dpst_results/best{i}_t_1000.png", ids, out / "dpst.jsonl", not a.no_gram)
    }
    write_report(rows, scores, a)


def write_report(rows: list[dict], scores: dict[str, dict[int, dict]], a: argparse.Namespace) -> None:
    med_iou = median([r["iou_photo"] for r in rows])
    med_iou_ref = median([r["iou_ref"] for r in rows])
    med_pair = median([r["pairing"] for r in rows])
    med = {sub: {k: median([v.get(k) for v in scores[sub].values()]) for k in METRICS} for sub in scores}
    swd_auto, swd_hand = med["auto"]["color_swd"], med["hand"]["color_swd"]
    swd_ok = swd_auto is not None and swd_hand is not None and swd_auto <= swd_hand * (1 + SWD_TARGET)
    lines = [
        "# Automatic masks on the DPST development pairs",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; command: `python -m bench.automask"
        + (f" --ids {a.ids}" if a.ids else "")
        + (" --no-gram" if a.no_gram else "")
        + f" --threads {a.threads}`",
        f"- pairs: {len(rows)} of ../shared/dpst-dev; backend: {', '.join(sorted({r['backend'] for r in rows}))}",
        "- transfers: preview quality (closed-form per-region colour transfer at "
        f"{QUALITY_PRESETS['preview']['scales'][-1]} px, local affine upsampling), "
        "once with the automatic masks, once with the hand masks, once without masks; all scored by "
        "../shared/metrics/score.py **with the hand masks**",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| median area-weighted best-match IoU of the automatic photo masks >= {IOU_TARGET} | {fmt(med_iou)} "
        f"| {'yes' if med_iou is not None and med_iou >= IOU_TARGET else 'NO'} |",
        f"| median color_swd with automatic masks within {SWD_TARGET:.0%} of hand masks | {fmt(swd_auto)} vs "
        f"{fmt(swd_hand)} ({(swd_auto / swd_hand - 1) * 100 if swd_auto and swd_hand else float('nan'):+.1f} %) "
        f"| {'yes' if swd_ok else 'NO'} |",
        "",
        f"Also: median best-match IoU of the automatic reference masks {fmt(med_iou_ref)}; median pairing agreement "
        f"(photo pixels whose partner region holds the same hand label) {fmt(med_pair)}; segmentation time per pair "
        f"median {fmt(median([r['seg_s'] for r in rows]), 3)} s, max {max(r['seg_s'] for r in rows):.1f} s "
        f"({a.threads} thread{'s' if a.threads != 1 else ''}, photos ~700 px wide).",
        "",
        "## Metric medians (scored with the hand masks)",
        "",
        "| run | " + " | ".join(METRICS) + " |",
        "|---" * (len(METRICS) + 1) + "|",
    ]
    names = {
        "auto": "preview, automatic masks",
        "hand": "preview, hand masks",
        "none": "preview, no masks",
        "dpst": "DPST's own results",
    }
    for sub in ("auto", "hand", "none", "dpst"):
        lines.append(f"| {names[sub]} | " + " | ".join(fmt(med[sub][k]) for k in METRICS) + " |")
    wins = sum(
        1
        for r in rows
        if scores["auto"].get(r["id"], {}).get("color_swd") is not None
        and scores["hand"].get(r["id"], {}).get("color_swd") is not None
        and scores["auto"][r["id"]]["color_swd"] <= scores["hand"][r["id"]]["color_swd"]
    )
    lines += [
        "",
        f"Pairs where automatic masks reach a color_swd at or below the hand masks': {wins}/{len(rows)}.",
        "",
        "## Per pair",
        "",
        "| id | hand regions | auto regions | names | IoU photo | IoU ref | pairing | fallbacks | seg s "
        "| color_swd auto | color_swd hand | color_swd none | gram auto | gram hand |",
        "|---" * 14 + "|",
    ]
    for r in rows:
        sa, sh, sn = (scores[s].get(r["id"], {}) for s in ("auto", "hand", "none"))
        lines.append(
            f"| {r['id']} | {r['hand_regions']} | {r['regions']} | {', '.join(r['names']) or '-'} "
            f"| {r['iou_photo']:.2f} | {r['iou_ref']:.2f} | {r['pairing']:.2f} | {r['fallbacks']} | {r['seg_s']:.1f} "
            f"| {fmt(sa.get('color_swd'))} | {fmt(sh.get('color_swd'))} | {fmt(sn.get('color_swd'))} "
            f"| {fmt(sa.get('gram'))} | {fmt(sh.get('gram'))} |"
        )
    path = report_path("automask")
    path.write_text("\n".join(lines) + "\n")
    print(path)
    print("\n".join(lines[:24]))


if __name__ == "__main__":
    main()
