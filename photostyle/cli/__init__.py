"""The ``photostyle`` command line: one module per subcommand, the settings flags in ``common``.

Arrows go down only: the CLI uses the library (``photostyle.pipeline`` and below) and ``pipelines``; nothing
outside this package imports it, and argparse lives nowhere else.
"""

from photostyle.cli.main import main

__all__ = ["main"]
