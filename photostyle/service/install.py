"""The GIMP plug-in installer (``photostyle gimp install|uninstall``): put the GIMP 3 plug-in where GIMP looks,
and tell it where the engine is.

The plug-in (``plugins/gimp/photostyle/``: ``photostyle.py`` and its modules, GI + standard library only, and its
help page) is copied to ``<GIMP profile>/plug-ins/photostyle/`` (GIMP wants the folder and the file it runs to share
a name, and that file executable). Beside it, ``photostyle.json`` records the command that runs this engine (this
Python with ``-m photostyle``) and the service file, so the plug-in can reach ``photostyle serve`` or start it.

GIMP 3 profile folders, newest 3.x first when several exist:
  Linux      $XDG_CONFIG_HOME/GIMP/3.x (default ~/.config/GIMP/3.x)
  Flatpak    ~/.var/app/org.gimp.GIMP/config/GIMP/3.x
  Snap       ~/snap/gimp/current/.config/GIMP/3.x
  macOS      ~/Library/Application Support/GIMP/3.x
  Windows    %APPDATA%\\GIMP\\3.x
GIMP3_DIRECTORY (GIMP's own override) and ``--gimp-dir`` take precedence.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

from photostyle import __version__
from photostyle.errors import OutputError, PhotostyleError
from photostyle.service.paths import service_file

PLUGIN_NAME = "photostyle"
CONFIG_NAME = "photostyle.json"
MARKER = "Photo Style for GIMP 3"  # in the plug-in's docstring: only our own files are replaced or removed


def plugin_source() -> Path:
    """The plug-in file shipped with this checkout or installed package."""
    here = Path(__file__).resolve().parent.parent  # the photostyle package
    for cand in (
        here.parent / "plugins" / "gimp" / PLUGIN_NAME / f"{PLUGIN_NAME}.py",
        here / "data" / "gimp" / f"{PLUGIN_NAME}.py",
    ):
        if cand.is_file():
            return cand
    raise PhotostyleError(
        f"the GIMP plug-in file was not found next to {here}; reinstall photostyle from its source tree "
        "(pip install -e .)."
    )


def _version_key(p: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", p.name))


def candidate_bases(
    home: Path | None = None, platform: str | None = None, env: dict[str, str] | None = None
) -> list[tuple[str, Path]]:
    """(kind, GIMP folder holding the 3.x profiles) for this platform, most usual first."""
    home = home or Path.home()
    platform = platform or sys.platform
    env = dict(os.environ) if env is None else env
    if platform == "win32":
        appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        return [("windows", appdata / "GIMP")]
    if platform == "darwin":
        return [("macos", home / "Library" / "Application Support" / "GIMP")]
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [
        ("linux", xdg / "GIMP"),
        ("flatpak", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP"),
        ("snap", home / "snap" / "gimp" / "current" / ".config" / "GIMP"),
    ]


def find_profiles(
    home: Path | None = None, platform: str | None = None, env: dict[str, str] | None = None
) -> list[tuple[str, Path]]:
    """(kind, profile folder) of every GIMP 3 profile found; when none exists yet, the platform's default 3.0."""
    env = dict(os.environ) if env is None else env
    if env.get("GIMP3_DIRECTORY"):
        return [("GIMP3_DIRECTORY", Path(env["GIMP3_DIRECTORY"]))]
    bases = candidate_bases(home, platform, env)
    found: list[tuple[str, Path]] = []
    for kind, base in bases:
        if base.is_dir():
            versions = sorted((d for d in base.iterdir() if d.is_dir() and re.fullmatch(r"3\.\d+", d.name)),
                              key=_version_key, reverse=True)  # fmt: skip
            if versions:
                found.append((kind, versions[0]))
    if found:
        return found
    # No profile yet (GIMP 3 never started): the one GIMP will create, Flatpak's if GIMP is only there.
    flatpak_app = [b for k, b in bases if k == "flatpak" and b.parent.parent.is_dir()]
    if flatpak_app:
        return [("flatpak", flatpak_app[0] / "3.0")]
    return [(bases[0][0], bases[0][1] / "3.0")]


def engine_command() -> list[str]:
    """The command that runs this engine: this interpreter with ``-m photostyle``."""
    return [sys.executable, "-m", "photostyle"]


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text("utf-8", errors="replace")[:4000]
    except OSError:
        return False


def plugin_files(src: Path) -> list[Path]:
    """The plug-in's files beside SRC (its modules and the help folder), relative to SRC's folder."""
    folder = src.parent
    files = [p for p in sorted(folder.glob(f"{PLUGIN_NAME}*.py")) if p.is_file()]
    files += [p for p in sorted((folder / "help").rglob("*")) if p.is_file()]
    return [p.relative_to(folder) for p in files]


def install(
    profile: Path, *, kind: str = "custom", svc_file: Path | None = None, engine: list[str] | None = None
) -> Path:
    """Copy the plug-in into PROFILE/plug-ins/photostyle and record the engine; returns the plug-in file."""
    src = plugin_source()
    folder = Path(profile) / "plug-ins" / PLUGIN_NAME
    target = folder / f"{PLUGIN_NAME}.py"
    if target.exists() and not _is_ours(target):
        raise OutputError(f"{target}: a different plug-in of that name is installed; remove it first.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for rel in plugin_files(src):  # the modules and the help first, the file GIMP runs last
            if rel.name == target.name:
                continue
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            part = (folder / rel).with_name(f".{rel.name}.part")
            shutil.copyfile(src.parent / rel, part)
            os.replace(part, folder / rel)
        tmp = target.with_name(f".{target.name}.part")
        shutil.copyfile(src, tmp)
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR)
        os.replace(tmp, target)
        config = {
            "engine": engine or engine_command(),
            "service_file": str(svc_file or service_file()),
            "installed_by": f"photostyle {__version__}",
            "gimp": kind,
        }
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise OutputError(f"{folder}: cannot install the plug-in there ({exc}); check the folder's permissions "
                          "or pass --gimp-dir.") from exc  # fmt: skip
    return target


def uninstall(profile: Path) -> Path | None:
    """Remove our plug-in folder from PROFILE; returns the folder removed, or None when it was not installed."""
    folder = Path(profile) / "plug-ins" / PLUGIN_NAME
    target = folder / f"{PLUGIN_NAME}.py"
    if not target.exists():
        return None
    if not _is_ours(target):
        raise OutputError(f"{target}: not photostyle's plug-in; left in place.")
    for path in [*folder.glob(f"{PLUGIN_NAME}*.py"), folder / CONFIG_NAME]:
        path.unlink(missing_ok=True)
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)
    shutil.rmtree(folder / "help", ignore_errors=True)
    try:
        folder.rmdir()
    except OSError:
        print(f"note: {folder} holds other files; they were left in place.", file=sys.stderr)
    return folder
