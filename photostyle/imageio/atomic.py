"""The one temp-file-then-rename writer: images, the album's text files, the service's private files.

A temporary ``.NAME.XXXX.part`` beside the target, fsync, then a rename: a failed or interrupted run never leaves a
half-written file, and an existing file is only replaced when asked.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from photostyle.errors import OutputError


def write_bytes_atomic(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    overwrite: bool = False,
    before_rename: Callable[[Path], None] | None = None,
    mode: int | None = None,
) -> Path:
    """Write DATA to PATH through a temporary file beside it and a rename; never replace a file without OVERWRITE.

    BEFORE_RENAME(temp_path) may finish the file (metadata) first. On any failure the temporary file is removed and
    PATH is untouched. MODE: the new file's permissions (default: 0666 less the umask). Used for images
    (write_image), the album job's text files and the service's private files alike.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p}: is a folder, not a file; give a file name to write to.")
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists; pass --overwrite to replace it, or choose another name.")
    if not p.parent.is_dir():
        raise OutputError(f"{p}: folder {p.parent} does not exist; create it first.")
    remove_stale_temporaries(p)
    # the writer's pid in the name: a later write knows a temporary whose writer is gone (killed) from a live one
    # The name is chosen before the file exists and the file is created inside the try: a signal (SIGTERM, Ctrl-C)
    # arriving at any moment after the creation still reaches the clean-up below.
    tmp = str(p.parent / f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o666 & ~_umask() if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename(Path(tmp))
        if not overwrite and p.exists():
            raise OutputError(f"{p}: appeared while writing; pass --overwrite to replace it.")
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


_OLD_STYLE_AGE = 600.0  # seconds: a pid-less temporary (photostyle before the pid was in the name) this old is stale


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries ``.NAME.PID.XXXX.part`` of PATH left by killed writes (their process is gone).

    A write killed by SIGKILL or a power loss leaves its temporary beside the target; the next write to the same
    target removes it. Temporaries of a live process (another thread or job writing now) are left alone; pid-less
    ones from older versions go once they are ten minutes old. Returns what was removed.
    """
    prefix = f".{path.name}."
    removed: list[Path] = []
    try:
        candidates = [c for c in path.parent.iterdir() if c.name.startswith(prefix) and c.name.endswith(".part")]
    except OSError:
        return removed
    for c in candidates:
        middle = c.name[len(prefix) : -len(".part")]
        pid, _, rest = middle.partition(".")
        try:
            if pid.isdigit() and rest:
                stale = not _alive(int(pid))
            else:
                stale = time.time() - c.stat().st_mtime > _OLD_STYLE_AGE
            if stale and c.is_file():
                c.unlink()
                removed.append(c)
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's live process (or a pid we cannot ask about): keep its file
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike[str], text: str, *, overwrite: bool = False) -> Path:
    """``write_bytes_atomic`` for UTF-8 text (the album's manifest, .cube LUTs, contact-sheet HTML)."""
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


def write_private(path: Path, data: bytes) -> None:
    """Write DATA to PATH readable by the user only (0600 in a folder made 0700), atomically; replaces PATH."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_bytes_atomic(path, data, overwrite=True, mode=0o600)
