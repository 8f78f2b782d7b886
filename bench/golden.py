"""Golden outputs: SHA-256 of what the public commands write, to prove a refactoring changed no pixel.

Runs the installed CLI (``python -m photostyle``) as a user would, on DPST development pairs 1, 4 and 7:
``transfer`` at preview and best quality (default automatic masks, and hand masks for best on pair 1),
``masks`` on pairs 1 and 4, and an ``album`` of three photos (preview) with its LUT. The hashes of the image
files (and the .cube) are compared with ``bench/golden-hashes.json``:

    python -m bench.golden --record   # before a change that must not change outputs
    python -m bench.golden            # after it: exit 1 and the differing files if anything changed

The hashes hold for one machine and library versions (bfloat16 VGG, BLAS): record and check on the same machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import DPST_DEV, ROOT

HASHES = ROOT / "bench" / "golden-hashes.json"
PAIRS = (1, 4, 7)


def _run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "photostyle", *args], check=True, capture_output=True, text=True)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def produce(work: Path) -> dict[str, str]:
    """Run every command into WORK and return {relative file name: sha256}."""
    inp, sty, seg = DPST_DEV / "input", DPST_DEV / "style", DPST_DEV / "segmentation"
    for i in PAIRS:
        for q in ("preview", "best"):
            _run(
                "transfer",
                str(inp / f"in{i}.png"),
                str(sty / f"tar{i}.png"),
                "-o",
                str(work / f"{q}{i}.png"),
                "--quality",
                q,
            )
    _run(
        "transfer",
        str(inp / "in1.png"),
        str(sty / "tar1.png"),
        "-o",
        str(work / "best1_hand.png"),
        "--photo-mask",
        str(seg / "in1.png"),
        "--reference-mask",
        str(seg / "tar1.png"),
    )
    for i in PAIRS[:2]:
        _run("masks", str(inp / f"in{i}.png"), str(sty / f"tar{i}.png"), "-o", str(work / f"masks{i}"))
    shoot = work / "shoot"
    shoot.mkdir()
    for i in PAIRS:
        shutil.copy(inp / f"in{i}.png", shoot / f"in{i}.png")
    _run(
        "album",
        str(shoot),
        "-r",
        str(sty / "tar1.png"),
        "-o",
        str(work / "album"),
        "--quality",
        "preview",
        "--export-lut",
        str(work / "album.cube"),
        "-q",
    )
    out = {}
    for f in sorted(work.rglob("*")):
        rel = f.relative_to(work).as_posix()
        if f.is_file() and f.suffix in (".png", ".jpg", ".tif", ".cube") and not rel.startswith("shoot/"):
            out[rel] = _sha(f)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help=f"write the hashes to {HASHES.name}")
    ap.add_argument("--keep", metavar="DIR", help="write the outputs to DIR and keep them")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.keep) if a.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        got = produce(work)
    if a.record:
        HASHES.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(got)} hashes in {HASHES}")
        return 0
    want = json.loads(HASHES.read_text())
    bad = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    for k in bad:
        print(f"differs: {k} (recorded {want.get(k, 'absent')[:12]}, now {got.get(k, 'absent')[:12]})")
    print(f"{len(want) - len(bad)} of {len(want)} outputs identical" if not bad else f"{len(bad)} outputs differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
