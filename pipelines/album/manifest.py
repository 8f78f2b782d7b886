"""The album's record of its work: OUT_DIR/manifest.jsonl (one JSON line per photo) and the workers' journals."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from photostyle.imageio.atomic import write_text_atomic
from pipelines.album.options import JOURNAL_DIR, TIMING_FIELDS, Entry

_NOT_IN_RESULT = ("device", "threads")  # settings that do not change what is written
# settings added after manifests were written, with the value that gives what those runs wrote
_BEFORE_THEY_EXISTED = {"skin": "free"}


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def settings_key(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that decide the output (JSON-normalised, without device and threads; a setting an older
    manifest lacks takes the value that reproduces what that run wrote)."""
    d = {k: v for k, v in {**_BEFORE_THEY_EXISTED, **settings}.items() if k not in _NOT_IN_RESULT}
    return json.loads(json.dumps(d))


def comparable(entry: Mapping[str, Any]) -> Entry:
    """ENTRY without the fields that differ between two runs of the same work (timings, worker, time of day)."""
    return {k: v for k, v in entry.items() if k not in TIMING_FIELDS}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _read_jsonl(path: Path, damaged: list[int]) -> Iterator[Entry]:
    """The entries of a JSON-lines file. A damaged line (cut short by a killed run, garbage from a full disk or a
    power loss) is skipped and counted in DAMAGED[0]."""
    try:
        f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except ValueError:
                e = None
            if isinstance(e, dict) and isinstance(e.get("output"), str) and isinstance(e.get("input"), str):
                yield e
            else:
                damaged[0] += 1


def journal_files(out_dir: Path) -> list[Path]:
    return sorted((out_dir / JOURNAL_DIR).glob("*.jsonl"))


def read_manifest(path: Path, *, warn: bool = False) -> dict[str, Entry]:
    """The latest entry per output name, from the manifest and the journals a killed run left beside it.

    Damaged lines are skipped (with WARN, one warning for them all): their photos are simply styled again."""
    entries: dict[str, Entry] = {}
    damaged = [0]
    for source in (path, *journal_files(path.parent)):
        for e in _read_jsonl(source, damaged):
            key = e["output"]
            if key not in entries or str(e.get("finished", "")) >= str(entries[key].get("finished", "")):
                entries[key] = e
    if warn and damaged[0]:
        warnings.warn(
            f"{path}: skipped {damaged[0]} damaged line(s), left by a run that was killed or ran out of disk "
            "space; the photos they recorded are checked again.",
            stacklevel=2,
        )
    return entries


class Journal:
    """One worker's own append-only record of the photos it finished, written right after each output.

    A worker has its own file (no two writers share one, even on a network file system), so a photo whose
    output was written is known even when the driver was killed before it heard of it. The driver merges the
    journals into the manifest and removes them when a run ends; a killed run's journals are merged on resume.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{socket.gethostname()}-{os.getpid()}.jsonl"

    def append(self, entry: Entry) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # the driver still records the entry in the manifest
            warnings.warn(f"{self.path}: cannot journal {entry['input']} ({exc}).", stacklevel=2)


class Manifest:
    """Append-only while the job runs (one fsync'd line per photo), compacted to one line per photo at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        needs_newline = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if needs_newline:  # a line cut short by a killed run
            self._f.write("\n")

    def append(self, entry: Entry) -> None:
        self._f.write(json.dumps(entry, sort_keys=True) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def compact(self) -> None:
        """Rewrite the manifest with one line per photo (journals merged in), then drop the merged journals."""
        journals = journal_files(self.path.parent)
        entries = sorted(read_manifest(self.path).values(), key=lambda e: (e["input"], e["output"]))
        text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
        write_text_atomic(self.path, text, overwrite=True)
        for j in journals:
            with contextlib.suppress(OSError):
                j.unlink()
        with contextlib.suppress(OSError):
            (self.path.parent / JOURNAL_DIR).rmdir()
