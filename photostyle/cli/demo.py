"""``photostyle demo``: style the bundled sample pairs (the library code is ``photostyle.demo``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from photostyle.cli.common import add_settings_args, settings_from_args
from photostyle.demo import run_demo

SAMPLES = Path(__file__).resolve().parent.parent.parent / "samples"


def run(a: argparse.Namespace) -> int:
    for path in run_demo(Path(a.samples), Path(a.output), settings_from_args(a), overwrite=a.overwrite):
        print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    d = sub.add_parser("demo", help="style the bundled samples and write results and side-by-side pictures")
    d.add_argument("--samples", default=str(SAMPLES))
    d.add_argument("-o", "--output", default="out/demo")
    d.add_argument("--overwrite", action="store_true", default=True)
    add_settings_args(d)
    # preview by default: seconds, and photographic on any pair. The samples are unrelated scenes (a cat, a launch
    # pad), and best quality without matching regions paints the reference's structures into the photo.
    d.set_defaults(func=run, quality="preview")
