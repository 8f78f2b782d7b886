"""Render a photo through the real editors with ``--export-look``'s files, as a user would apply them: the checks of
the exports (tests/pipelines/test_look_exports.py, bench/exports.py).

- darktable (``darktable-cli``, 4.2): a fresh config folder, the .dtstyle imported (through darktable's Lua API),
  the .cube copied into a LUT folder that ``plugins/darkroom/lut3d/def_path`` names, no default workflow modules,
  the photo exported with ``--style`` (a 16-bit PNG);
- RawTherapee (``rawtherapee-cli``, 5.9): the .pp3 over RawTherapee's neutral values (``-p`` without ``-d``), a
  fresh home folder, a 16-bit PNG out.

Each returns the finished process (its output path is OUT); the caller checks the exit status.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

DARKTABLE = "darktable-cli"
RAWTHERAPEE = "rawtherapee-cli"


def tool_version(binary: str) -> str | None:
    """BINARY's version line ('darktable-cli 4.2.1', 'RawTherapee 5.9'), or None when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        return None
    flag = "--version" if "darktable" in binary else "-v"
    try:
        r = subprocess.run([path, flag], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(darktable-cli|RawTherapee)[^0-9]*([0-9][0-9A-Za-z.+~-]*)", r.stdout + r.stderr)
    return f"{m.group(1)} {m.group(2)}" if m else (r.stdout + r.stderr).strip().splitlines()[0]


def render_darktable(
    dtstyle: Path, cube: Path, photo: Path, out: Path, work: Path, *, binary: str = DARKTABLE
) -> subprocess.CompletedProcess[str]:
    """PHOTO through darktable-cli with the style DTSTYLE only, its CUBE in a LUT folder under WORK, into OUT."""
    luts = work / "luts"
    luts.mkdir(parents=True, exist_ok=True)
    shutil.copy(cube, luts / cube.name)
    style = ET.parse(dtstyle).getroot().findtext("info/name") or ""
    lua = f'local dt = require "darktable"; dt.styles.import({str(dtstyle.absolute())!r})'
    cmd = [binary, str(photo), str(out), "--style", style, "--core", "--configdir", str(work / "config"),
           "--cachedir", str(work / "cache"), "--conf", f"plugins/darkroom/lut3d/def_path={luts.absolute()}",
           "--conf", "plugins/darkroom/workflow=none", "--conf", "plugins/imageio/format/png/bpp=16",
           "--luacmd", lua]  # fmt: skip
    env = dict(os.environ, HOME=str(work.absolute()))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def render_rawtherapee(
    pp3: Path, photo: Path, out: Path, work: Path, *, binary: str = RAWTHERAPEE
) -> subprocess.CompletedProcess[str]:
    """PHOTO through rawtherapee-cli with the profile PP3 over neutral values, into OUT (16-bit PNG)."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = [binary, "-q", "-a", "-Y", "-o", str(out), "-n", "-b16", "-p", str(pp3), "-c", str(photo)]
    env = dict(os.environ, HOME=str(work.absolute()), XDG_CONFIG_HOME=str(work.absolute() / ".config"))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
