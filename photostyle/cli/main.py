"""The ``photostyle`` command line: the parser built from an explicit list of subcommand modules.

Each module in SUBCOMMANDS provides ``register(subparsers)``, which adds its parser and sets ``func`` (taking the
parsed args, returning an exit status). Errors the user can fix are one line ``error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from types import FrameType

from photostyle import __version__
from photostyle.cli import album, demo, gimp, masks, serve, transfer
from photostyle.errors import PhotostyleError

SUBCOMMANDS = [transfer, demo, serve, gimp, album, masks]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="photostyle", description="Photorealistic look transfer.")
    ap.add_argument("--version", action="version", version=f"photostyle {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


OUT_OF_MEMORY = (
    "error: not enough memory. Use a smaller working size (--size) or --quality preview, or close other programs."
)


def _out_of_memory(exc: RuntimeError) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread so that every ``except BaseException`` clean-up (the atomic
    writer's removal of its temporary file) runs on the way out."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)  # `serve` installs its own stop handler
    try:
        return int(a.func(a) or 0)
    except PhotostyleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: stopped; no partial output was left.", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: stopped; no partial output was left.", file=sys.stderr)
        return 143
    except MemoryError:
        print(OUT_OF_MEMORY, file=sys.stderr)
        return 2
    except RuntimeError as exc:  # torch's allocators (CPU and CUDA) raise RuntimeErrors, not MemoryError
        if not _out_of_memory(exc):
            raise
        print(OUT_OF_MEMORY, file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
