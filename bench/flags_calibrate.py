"""Calibration data for the match confidence: the raw measures (``photostyle.regions.confidence.components``) of
every region of the 20 DPST dev pairs (photo i with its own reference tar{i}: matched scenes) and the 20 cross pairs
(../shared/cross-dev/pairs.txt: unrelated scenes), with the default automatic masks. Cached in
out/bench/flags/components.json (one segmentation per pair, ~10 s each here); bench/flags.py reads it to pick the
confidence threshold.

    .venv/bin/python -m bench.flags_calibrate [--redo]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings

from photostyle.imageio import read_image
from photostyle.imaging.resize import resize_longest
from photostyle.regions import segment_pair
from photostyle.regions.confidence import components
from photostyle.regions.features import describe
from photostyle.regions.segmentation import SNAP_SIZE

from .common import DPST_DEV, ROOT, SHARED, pair_ids

CROSS = SHARED / "cross-dev" / "pairs.txt"
CACHE = ROOT / "out" / "bench" / "flags" / "components.json"


def cross_pairs() -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (line.split() for line in CROSS.read_text().splitlines() if line.strip())]


def measure(i: int, j: int) -> list[dict[str, float]]:
    """The components of each photo region of in{i} styled with tar{j}, automatic masks."""
    ph = read_image(DPST_DEV / "input" / f"in{i}.png", role="photo").pixels
    ref = read_image(DPST_DEV / "style" / f"tar{j}.png", role="reference").pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = segment_pair(ph, ref)
    dp = describe(resize_longest(ph, SNAP_SIZE, "skimage"))  # cached by segment_pair
    dr = describe(resize_longest(ref, SNAP_SIZE, "skimage"))
    comps = components(seg.pairs, dp, dr)
    return [dict(dataclasses.asdict(c), region=k) for k, c in comps.items()]


def load(redo: bool = False) -> dict[str, list[dict[str, float]]]:
    """{"i_j": [components of each region]} for the DPST and the cross pairs (computed once, then cached)."""
    data: dict[str, list[dict[str, float]]] = {}
    if CACHE.exists() and not redo:
        data = json.loads(CACHE.read_text())
    todo = [(i, i) for i in pair_ids()] + cross_pairs()
    for i, j in todo:
        key = f"{i}_{j}"
        if key in data:
            continue
        t0 = time.perf_counter()
        data[key] = measure(i, j)
        print(f"{key}: {len(data[key])} regions, {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(data))
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--redo", action="store_true")
    load(ap.parse_args().redo)


if __name__ == "__main__":
    main()
