"""The look for other editors (``album --export-look``): how closely darktable and RawTherapee reproduce it.

    .venv/bin/python -m bench.exports                      # in1, in4, in7 of shared/dpst-dev at 400 px, tar1's look
    .venv/bin/python -m bench.exports --ids 1,4,7,10 --size 400 --look-of 1

The look is built as the album builds it: the photos' pooled CIELAB mean and covariance carried onto the
reference's (``pipelines.album.lut``), sampled as a 33^3 .cube; ``write_look_exports`` writes the .cube, the
darktable style, the RawTherapee profile and its Hald CLUT. Each photo (an 8-bit PNG) is then rendered

- by photostyle: ``apply_lut`` of the .cube (trilinear, sRGB): the reference every export is compared with;
- by darktable (``darktable-cli`` with the imported style, the .cube in its LUT folder, no workflow modules);
- by RawTherapee (``rawtherapee-cli -p`` the .pp3 over neutral values);

and the CIEDE2000 of each against photostyle's rendering is reported per photo (mean and 95th percentile over the
pixels) and over all photos. One more row: the .cube against the exact affine Lab map it samples (what any LUT
export loses at 33 points a channel). Writes bench/reports/exports-<date>.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import color

from photostyle.imageio import read_image, to_uint
from photostyle.imaging.resize import resize_longest
from pipelines.album.editors import (
    DARKTABLE,
    RAWTHERAPEE,
    render_darktable,
    render_rawtherapee,
    tool_version,
)
from pipelines.album.exports import write_look_exports
from pipelines.album.lut import apply_lut, colour_stats, lab_affine_map, look_lut, pool_stats, read_cube

from .common import DPST_DEV, git_commit, machine, report_path


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(color.deltaE_ciede2000(color.rgb2lab(a), color.rgb2lab(b)))


def exact_map(pixels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The affine Lab map itself on PIXELS (what the .cube samples), clipped as look_lut clips."""
    lab = color.rgb2lab(pixels).reshape(-1, 3) @ a.T + b
    lab[:, 0] = np.clip(lab[:, 0], 0.0, 100.0)
    return np.clip(color.lab2rgb(lab.reshape(pixels.shape)), 0.0, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ids", default="1,4,7", help="DPST dev pairs whose inputs are the photos (%(default)s)")
    ap.add_argument("--look-of", type=int, default=1, help="the DPST style image whose look is exported")
    ap.add_argument("--size", type=int, default=400, help="longest side of the photos (%(default)s)")
    a = ap.parse_args()
    ids = [int(x) for x in a.ids.split(",")]
    versions = {DARKTABLE: tool_version(DARKTABLE), RAWTHERAPEE: tool_version(RAWTHERAPEE)}
    rows: dict[str, list[tuple[int, float, float, float]]] = {"cube": [], "darktable": [], "rawtherapee": []}
    with tempfile.TemporaryDirectory(prefix="exports-bench-") as tmp:
        d = Path(tmp)
        photos: dict[int, tuple[Path, np.ndarray]] = {}
        for i in ids:
            p = d / f"in{i}.png"
            Image.fromarray(
                to_uint(resize_longest(read_image(DPST_DEV / "input" / f"in{i}.png").pixels, a.size), 8)
            ).save(p)
            photos[i] = (p, read_image(p).pixels)
        ref = resize_longest(read_image(DPST_DEV / "style" / f"tar{a.look_of}.png").pixels, a.size)
        source = pool_stats(colour_stats(px) for _, px in photos.values())
        target = colour_stats(ref)
        look = f"tar{a.look_of}"
        files = write_look_exports(d / "exports", look_lut(source, target, 33), look)
        lut = read_cube(files["cube"])
        am, bm = lab_affine_map(source, target)
        for i, (p, px) in photos.items():
            ours = apply_lut(lut, px)
            t0 = time.perf_counter()
            de = delta_e(exact_map(px, am, bm), ours)
            rows["cube"].append((i, float(de.mean()), float(np.percentile(de, 95)), time.perf_counter() - t0))
            for name, binary in (("darktable", DARKTABLE), ("rawtherapee", RAWTHERAPEE)):
                if versions[binary] is None:
                    continue
                out = d / f"{name}-{i}.png"
                t0 = time.perf_counter()
                if name == "darktable":
                    r = render_darktable(files["dtstyle"], files["cube"], p, out, d / f"dt-{i}")
                else:
                    r = render_rawtherapee(files["pp3"], p, out, d / f"rt-{i}")
                took = time.perf_counter() - t0
                if r.returncode != 0 or not out.exists():
                    raise SystemExit(f"{name} failed on in{i}.png:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
                de = delta_e(ours, read_image(out).pixels)
                rows[name].append((i, float(de.mean()), float(np.percentile(de, 95)), took))
                print(f"in{i} {name}: mean {de.mean():.3f}, p95 {np.percentile(de, 95):.3f} ({took:.1f}s)", flush=True)
        unstyled = [float(delta_e(px, apply_lut(lut, px)).mean()) for _, px in photos.values()]

    label = {
        "cube": "`.cube` (photostyle `apply_lut`) vs the exact affine Lab map",
        "darktable": f"`.dtstyle` + `.cube` in {versions[DARKTABLE]} (lut3d, sRGB, trilinear)",
        "rawtherapee": f"`.pp3` + Hald CLUT (level 8, 16-bit) in {versions[RAWTHERAPEE]} (Film Simulation)",
    }
    lines = [
        "# The look for other editors: CIEDE2000 of each export",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; photos: DPST dev in{{{a.ids}}}.png at {a.size} px (8-bit PNG); look of "
        f"tar{a.look_of}.png (pooled Lab statistics of the photos carried onto it, 33^3 .cube)",
        f"- tools: {versions[DARKTABLE] or 'darktable-cli not installed'}; "
        f"{versions[RAWTHERAPEE] or 'rawtherapee-cli not installed'}",
        "- how much the look changes the photos (mean CIEDE2000, unstyled vs photostyle's rendering): "
        + ", ".join(f"{u:.1f}" for u in unstyled),
        "- each export is compared with photostyle's own rendering of the same global look (`apply_lut` of the "
        ".cube); the target in the tests is a mean of at most 2",
        "",
        "| export | photo | mean ΔE00 | p95 ΔE00 | render s |",
        "|---|---|---|---|---|",
    ]
    for name, items in rows.items():
        for i, mean, p95, took in items:
            lines.append(f"| {label[name]} | in{i} | {mean:.3f} | {p95:.3f} | {took:.2f} |")
        if items:
            lines.append(
                f"| {label[name]} | **all (median)** | **{statistics.median(x[1] for x in items):.3f}** | "
                f"**{statistics.median(x[2] for x in items):.3f}** | {statistics.median(x[3] for x in items):.2f} |"
            )
    lines += [
        "",
        "Both editors write 16-bit PNGs. Render times are the whole command (darktable-cli starts, imports the "
        "style and exports; rawtherapee-cli starts and exports); the `.cube` row's time is the comparison only.",
    ]
    path = report_path("exports")
    path.write_text("\n".join(lines) + "\n")
    print(path)


if __name__ == "__main__":
    main()
