"""Where a running service leaves its port and token, and whether the process behind it still runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def service_file() -> Path:
    """Where a running service leaves its port and token (PHOTOSTYLE_SERVICE_FILE overrides)."""
    env = os.environ.get("PHOTOSTYLE_SERVICE_FILE")
    if env:
        return Path(env)
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or home / ".local" / "state")
    return base / "photostyle" / "service.json"


def read_service_file(path: Path | None = None) -> dict[str, Any] | None:
    """The running service's {url, port, token, pid, ...}, or None when there is no usable file."""
    p = path or service_file()
    try:
        info = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "port" in info and "token" in info else None


def pid_alive(pid: int) -> bool:
    """Whether process PID still runs (always True where there is no cheap check)."""
    if pid <= 0:
        return False
    if os.name != "posix":
        return True  # no cheap check; the status request decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
