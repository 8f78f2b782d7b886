"""The ``photostyle`` command line. Each subcommand is a thin layer over the library API.

Subcommands live beside their library code: a module listed in COMMANDS provides ``register(subparsers)``,
which adds its parser and sets ``func`` (taking the parsed args, returning an exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from photostyle.cli.common import TextProgress, add_settings_args, settings_from_args
from photostyle.errors import PhotostyleError

# module:function pairs that add further subcommands (masks, album, serve, gimp ...)
COMMANDS: tuple[str, ...] = (
    "pipelines.album:register",
    "photostyle.service:register",
    "photostyle.gimp:register",
    "photostyle.cli.masks:register",
)


def _cmd_transfer(a: argparse.Namespace) -> int:
    from photostyle.pipeline import transfer_files

    out = transfer_files(
        a.photo,
        a.reference,
        a.output,
        photo_mask=a.photo_mask,
        reference_mask=a.reference_mask,
        masks=a.masks,
        only=a.only,
        settings=settings_from_args(a),
        overwrite=a.overwrite,
        bit_depth=a.bit_depth,
        progress=None if a.quiet else TextProgress(Path(a.photo).name),
    )
    print(out)
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from photostyle.demo import run_demo

    for path in run_demo(Path(a.samples), Path(a.output), settings_from_args(a), overwrite=a.overwrite):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="photostyle", description="Photorealistic look transfer.")
    sub = ap.add_subparsers(dest="command", required=True)

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
    t.set_defaults(func=_cmd_transfer)

    d = sub.add_parser("demo", help="style the bundled samples and write results and side-by-side pictures")
    d.add_argument("--samples", default=str(Path(__file__).resolve().parent.parent / "samples"))
    d.add_argument("-o", "--output", default="out/demo")
    d.add_argument("--overwrite", action="store_true", default=True)
    add_settings_args(d)
    # preview by default: seconds, and photographic on any pair. The samples are unrelated scenes (a cat, a launch
    # pad), and best quality without matching regions paints the reference's structures into the photo.
    d.set_defaults(func=_cmd_demo, quality="preview")

    for spec in COMMANDS:
        module, _, func = spec.partition(":")
        getattr(importlib.import_module(module), func or "register")(sub)
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return int(a.func(a) or 0)
    except PhotostyleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written.", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            "error: not enough memory. Use a smaller working size (--size) or --quality preview, "
            "or close other programs.",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
