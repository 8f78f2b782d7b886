"""The ``photostyle`` command line: the parser built from an explicit list of subcommand modules.

Each module in SUBCOMMANDS provides ``register(subparsers)``, which adds its parser and sets ``func`` (taking the
parsed args, returning an exit status). Errors the user can fix are one line ``error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from photostyle.cli import demo, gimp, serve, transfer
from photostyle.errors import PhotostyleError

SUBCOMMANDS = [transfer, demo, serve, gimp]
# TODO(integrator): replace these two by the modules photostyle.cli.masks and photostyle.cli.album in SUBCOMMANDS
# (`from photostyle.cli import album, masks`) when merging; they are strings here only because those modules do not
# exist on this branch yet.
LEGACY_COMMANDS: tuple[str, ...] = ("pipelines.album:register", "photostyle.regions.segment:register")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="photostyle", description="Photorealistic look transfer.")
    sub = ap.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    for spec in LEGACY_COMMANDS:
        name, _, func = spec.partition(":")
        getattr(importlib.import_module(name), func)(sub)
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
