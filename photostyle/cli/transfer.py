"""``photostyle transfer PHOTO REFERENCE -o OUTPUT``: one photo in one reference's look."""

from __future__ import annotations

import argparse
from pathlib import Path

from photostyle.cli.common import TextProgress, add_settings_args, settings_from_args
from photostyle.errors import SettingsError
from photostyle.pipeline import transfer_files


def run(a: argparse.Namespace) -> int:
    if a.bit_depth == 16 and Path(a.output).suffix.lower() in (".jpg", ".jpeg"):
        raise SettingsError(f"{a.output}: JPEG holds 8 bits only; for --bit-depth 16 write a .png or .tif.")
    settings = settings_from_args(a)
    progress = None if a.quiet else TextProgress(Path(a.photo).name, writing=a.output)
    out = transfer_files(
        a.photo,
        a.reference,
        a.output,
        photo_mask=a.photo_mask,
        reference_mask=a.reference_mask,
        masks=a.masks,
        only=a.only,
        settings=settings,
        overwrite=a.overwrite,
        bit_depth=a.bit_depth,
        progress=progress,
    )
    if progress is not None:
        progress.done()
    print(out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("transfer", help="re-render PHOTO in REFERENCE's look")
    t.add_argument("photo")
    t.add_argument("reference")
    t.add_argument("-o", "--output", required=True, help="output image (.jpg, .png, .tif)")
    t.add_argument("--photo-mask", help="the photo's regions: a DPST colour-code PNG or a grey-level label PNG")
    t.add_argument("--reference-mask", help="the reference's regions, in the same colours")
    t.add_argument(
        "--masks",
        choices=["auto", "none", "features", "detectron2"],
        default="auto",
        help="automatic matching regions (auto: detectron2 when installed, else VGG-19 regions and mediapipe people), "
        "or none for one global look; --photo-mask/--reference-mask take precedence",
    )
    t.add_argument(
        "--only",
        metavar="TARGET",
        help="change only these pixels: person, sky, a region id from `photostyle masks`, or a black-and-white "
        "mask PNG (white = change); several joined by commas. The rest stays bit-identical (in PNG/TIFF output)",
    )
    t.add_argument("--bit-depth", type=int, choices=[8, 16], help="output bit depth (default: the photo's)")
    t.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    t.add_argument("-q", "--quiet", action="store_true")
    add_settings_args(t)
    t.set_defaults(func=run)
