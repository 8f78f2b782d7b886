"""``photostyle gimp install|uninstall``: the GIMP 3 plug-in installer (``photostyle.service.install``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from photostyle.service.install import engine_command, find_profiles, install, uninstall


def _targets(a: argparse.Namespace) -> list[tuple[str, Path]]:
    if a.gimp_dir:
        return [("custom", Path(a.gimp_dir).expanduser())]
    return find_profiles()


def run(a: argparse.Namespace) -> int:
    if a.action == "install":
        svc = Path(a.service_file).expanduser() if a.service_file else None
        for kind, profile in _targets(a):
            target = install(profile, kind=kind, svc_file=svc)
            print(target)
            if kind == "flatpak":
                print(
                    "note: GIMP from Flatpak may not be allowed to start programs outside its sandbox. If the filter "
                    "says the engine cannot be reached, run `photostyle serve` yourself (e.g. at login).",
                    file=sys.stderr,
                )
        print(f"engine: {' '.join(engine_command())}; restart GIMP, then use Filters > Photo Style.", file=sys.stderr)
        return 0
    removed = [f for _, p in _targets(a) if (f := uninstall(p)) is not None]
    for f in removed:
        print(f"removed {f}")
    if not removed:
        print("the photostyle plug-in was not installed there; nothing removed.", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "gimp",
        help="install or remove the GIMP 3 plug-in (Filters > Photo Style)",
        description="Copy the GIMP 3 plug-in into GIMP's plug-in folder (Linux, Flatpak, Snap, macOS, Windows) and "
        "record where this engine lives; or remove it.",
    )
    p.add_argument("action", choices=["install", "uninstall"])
    p.add_argument("--gimp-dir", help="the GIMP 3 profile folder (e.g. ~/.config/GIMP/3.0) instead of the found ones")
    p.add_argument("--service-file", help="the service file the plug-in should read (default: the service's)")
    p.set_defaults(func=run)
