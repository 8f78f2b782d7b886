"""The skin guard's figures: how far a look moves skin's hue and chroma with ``skin="protect"`` and ``"free"``.

Photos with people: the samples' astronaut and matplotlib's Grace Hopper portrait (the DPST development pairs hold
no portraits), each styled with every DPST development reference and the samples' rocket (a blue night), at preview
quality, and at best quality on a few pairs (``--best N``). The skin is where ``photostyle.regions.skin.skin_mask``
is over 0.5 (the person model's skin-coloured pixels). Per photo and look: the median over skin pixels of the
per-pixel CIELAB hue change (degrees), the share of skin pixels whose hue lies on the skin band
(``photostyle.engine.skin.HUE_BAND``), the median chroma ratio (result / photo) and the median |delta L*| between
protect and free (the guard keeps the look's lightness). The time the guard costs (person model and mask) is the
difference between protect and free. Report: bench/reports/skin-<date>.md; contact sheet skin-<date>.jpg.

    python -m bench.skin [--best 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .common import DPST_DEV, ROOT, fmt, git_commit, machine, median, report_path

SAMPLES = ROOT / "samples"
MODES = ("free", "protect")
SHEET_REFS = ("rocket", "tar13", "tar49", "tar43")  # blue night, red sunset, cyan, warm pastel


def photos() -> dict[str, np.ndarray]:
    import matplotlib.cbook

    from photostyle.imageio import read_image

    hopper = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return {"astronaut": read_image(SAMPLES / "astronaut.png").pixels, "grace_hopper": read_image(hopper).pixels}


def references() -> dict[str, np.ndarray]:
    from photostyle.imageio import read_image

    refs = {"rocket": read_image(SAMPLES / "rocket.jpg").pixels}
    for f in sorted((DPST_DEV / "style").glob("tar*.png"), key=lambda p: int(p.stem[3:])):
        refs[f.stem] = read_image(f).pixels
    return refs


def skin_figures(photo: np.ndarray, out: np.ndarray, skin: np.ndarray) -> dict[str, float]:
    from photostyle.engine.skin import HUE_BAND, lab_hue_chroma

    l0, h0, c0 = lab_hue_chroma(photo[skin])
    l1, h1, c1 = lab_hue_chroma(out[skin])
    dh = np.abs((h1 - h0 + 180.0) % 360.0 - 180.0)
    return {
        "hue_change": float(np.median(dh)),
        "on_band": float(((h1 >= HUE_BAND[0]) & (h1 <= HUE_BAND[1])).mean()),
        "chroma_ratio": float(np.median(c1) / max(float(np.median(c0)), 1e-6)),
        "L": l1,  # kept for the protect/free comparison, dropped before the report
    }


def contact_sheet(rows: list[tuple[str, list[tuple[str, np.ndarray]]]], path: Path) -> None:
    from PIL import Image, ImageDraw

    from photostyle.imaging.resize import resize_longest

    cell, pad, head = 200, 4, 14
    cols = max(len(r[1]) for r in rows)
    sheet = Image.new("RGB", (cols * (cell + pad) + pad, len(rows) * (cell + pad + head) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, tiles) in enumerate(rows):
        y = pad + i * (cell + pad + head)
        for j, (label, im) in enumerate(tiles):
            x = pad + j * (cell + pad)
            a = resize_longest(im if im.ndim == 3 else np.repeat(im[..., None], 3, 2), cell)
            sheet.paste(Image.fromarray(np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)), (x, y + head))
            draw.text((x, y), f"{name}: {label}" if j == 0 else label, fill="black")
    sheet.save(path, quality=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--best", type=int, default=2, help="pairs also run at best quality (0: none)")
    a = ap.parse_args()
    from photostyle import transfer
    from photostyle.regions.skin import skin_mask
    from photostyle.settings import Settings

    people, refs = photos(), references()
    runs: list[dict[str, object]] = []
    sheet: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
    best_pairs = [(p, r) for r in ("rocket", "tar13", "tar49") for p in people][: a.best]
    for pname, photo in people.items():
        t0 = time.perf_counter()
        mask = skin_mask(photo)
        mask_s = time.perf_counter() - t0
        if mask is None:
            print(f"{pname}: no skin found")
            continue
        skin = mask > 0.5
        tiles: list[tuple[str, np.ndarray]] = [("photo", photo), ("skin mask", mask)]
        todo = [(r, "preview") for r in refs] + [(r, "best") for p, r in best_pairs if p == pname]
        for rname, quality in todo:
            row: dict[str, object] = {"photo": pname, "ref": rname, "quality": quality, "mask_s": mask_s}
            outs = {}
            for mode in MODES:
                t0 = time.perf_counter()
                settings = Settings(quality=quality, skin=mode, seed=0)
                outs[mode] = transfer(photo, refs[rname], settings=settings).image
                row[f"{mode}_s"] = time.perf_counter() - t0
                figs = skin_figures(photo, outs[mode], skin)
                row[f"{mode}_L"] = figs.pop("L")
                row.update({f"{mode}_{k}": v for k, v in figs.items()})
            row["dL"] = float(np.median(np.abs(np.asarray(row.pop("protect_L")) - np.asarray(row.pop("free_L")))))
            off = mask == 0
            row["outside_identical"] = bool(np.array_equal(outs["free"][off], outs["protect"][off]))
            runs.append(row)
            print(
                f"{pname} x {rname} ({quality}): hue change free {row['free_hue_change']:.1f} "
                f"protect {row['protect_hue_change']:.1f}; chroma x{row['free_chroma_ratio']:.2f} / "
                f"x{row['protect_chroma_ratio']:.2f}",
                flush=True,
            )
            if rname in SHEET_REFS and quality == "preview":
                tiles += [(f"{rname} free", outs["free"]), (f"{rname} protect", outs["protect"])]
        sheet.append((pname, tiles))
    write_report(runs, sheet)
    return 0


def write_report(runs: list[dict[str, object]], sheet: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> None:
    from photostyle.engine.skin import CHROMA_RANGE, HUE_BAND, MAX_HUE_SHIFT

    path = report_path("skin")
    jpg = path.with_suffix(".jpg")
    contact_sheet(sheet, jpg)

    def med(rows: list[dict[str, object]], key: str) -> str:
        return fmt(median([float(r[key]) for r in rows]), 3)

    lines = [
        f"# Skin guard: skin hue and chroma with `skin=protect` and `free` ({path.stem[5:]})",
        "",
        f"Machine: {machine()}. Commit {git_commit()}. `python -m bench.skin`.",
        "",
        f"Guard: hue band {HUE_BAND[0]:g}-{HUE_BAND[1]:g} degrees (CIELAB h_ab), at most {MAX_HUE_SHIFT:g} degrees "
        f"of hue change, chroma {CHROMA_RANGE[0]:g}-{CHROMA_RANGE[1]:g} x the photo's. Skin: mask > 0.5.",
        "Per row: medians over the looks (the 20 DPST references and the samples' rocket at preview; the pairs",
        "named at best). hue change: the median over skin pixels of |delta h_ab| (degrees) against the photo; on",
        "band: the share of skin pixels whose hue is in the band; chroma: median C*ab of the result / the photo's;",
        "|dL*| protect-free: the median lightness difference the guard makes; seconds: one transfer, and the",
        "skin mask (person model) alone.",
        "",
        "| photo | quality | looks | hue change free | hue change protect | on band free | on band protect "
        "| chroma free | chroma protect | abs dL* | s free | s protect | s mask | outside mask identical |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for r in runs:
        groups.setdefault((str(r["photo"]), str(r["quality"])), []).append(r)
    for q in ("preview", "best"):
        qrows = [r for r in runs if r["quality"] == q]
        keys = [k for k in groups if k[1] == q] + ([("all photos", q)] if qrows else [])
        for key in keys:
            rows = groups.get(key, qrows)
            lines.append(
                f"| {key[0]} | {q} | {len(rows)} | {med(rows, 'free_hue_change')} | {med(rows, 'protect_hue_change')} "
                f"| {med(rows, 'free_on_band')} | {med(rows, 'protect_on_band')} | {med(rows, 'free_chroma_ratio')} "
                f"| {med(rows, 'protect_chroma_ratio')} | {med(rows, 'dL')} | {med(rows, 'free_s')} "
                f"| {med(rows, 'protect_s')} | {med(rows, 'mask_s')} | {all(r['outside_identical'] for r in rows)} |"
            )
    lines += [
        "",
        "Each pair (hue change free / protect, degrees; chroma ratio free / protect):",
        "",
        "| photo | look | quality | hue free | hue protect | chroma free | chroma protect |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['photo']} | {r['ref']} | {r['quality']} | {float(r['free_hue_change']):.1f} "
            f"| {float(r['protect_hue_change']):.1f} | {float(r['free_chroma_ratio']):.2f} "
            f"| {float(r['protect_chroma_ratio']):.2f} |"
        )
    lines += ["", f"Contact sheet: `{jpg.name}` (photo, skin mask, then free and protect for {', '.join(SHEET_REFS)})."]
    path.write_text("\n".join(lines) + "\n")
    print(path)


if __name__ == "__main__":
    raise SystemExit(main())
