"""What an album run is given and gives back: options, one photo's task, a worker's set-up, the summary.

Plain data shared by the planner, the workers (local pool and Ray) and the job; it imports nothing of the album.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photostyle.settings import Settings

MASK_MODES = ("auto", "none")  # the album's --masks
MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".photostyle-album.lock"
JOURNAL_DIR = ".album-journal"
DEFAULT_TEMPLATE = "{stem}_{look}.jpg"
DISK_FULL = "DiskFull"  # the error_type of a photo whose write found no space: it stops the job
WRITING = "writing"  # a journal entry written before a photo's output: the name is this job's
TIMING_FIELDS = ("seconds", "worker", "finished")  # differ between runs of the same work

Entry = dict[str, Any]
Record = Callable[[Entry], None]


# ------------------------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class AlbumOptions:
    """Everything one album run needs; the CLI fills it from its flags."""

    shoot_dir: Path
    reference: Path
    out_dir: Path
    settings: Settings = field(default_factory=Settings)
    template: str = DEFAULT_TEMPLATE  # fields: {stem}, {look}, {ext}
    look: str | None = None  # the {look} field; default: the reference's file stem
    tiff: bool = False  # 16-bit TIFF outputs (.tif) instead of the template's suffix
    jpeg_quality: int = 95
    overwrite: bool = False  # replace outputs that are not this job's up-to-date result
    redo: bool = False  # style every photo again, even those already done (implies overwrite)
    dry_run: bool = False
    jobs: int | None = None  # worker processes (Ray: actors); default 1 locally, the cluster's CPUs on Ray
    ray: str | None = None  # None: local; "local", "auto", "HOST:PORT" or "ray://HOST:PORT"
    ray_cpus_per_worker: float | None = None
    ray_gpus_per_worker: float = 0.0
    contact_sheet: bool = True
    export_lut: Path | None = None
    lut_size: int = 33
    export_look: Path | None = None  # a folder: the look as .cube, darktable style, RawTherapee profile + Hald CLUT
    progress: bool = True
    normalize: str | None = None  # None (off), "exposure", "wb" or "both": the shoot's drift corrected first
    masks: str = "auto"  # automatic region masks per photo, as `transfer` (photostyle.regions), or "none" (global)


@dataclass(frozen=True)
class PhotoTask:
    """One photo to style: plain strings and numbers, so it pickles to a process or a Ray actor."""

    input: str  # absolute path of the photo
    name: str  # its path relative to SHOOT_DIR: the manifest's key
    output: str  # absolute path of the output
    output_name: str
    out_dir: str
    bit_depth: int | None  # None: the source's for PNG, 8 for JPEG; 16 for TIFF
    overwrite: bool
    jpeg_quality: int = 95
    thumbnails: bool = True
    normalize: dict[str, Any] | None = None  # {"mode", "ev", "wb", "matched"}: applied before the look (None: off)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker sets up once: the reference (read once per worker) and the settings."""

    reference: str
    settings: dict[str, Any]
    threads: int | None = None
    run_fields: dict[str, Any] = field(default_factory=dict)  # reference hash, settings ...: in every entry
    journal_dir: str | None = None  # where this worker journals each finished photo (OUT_DIR/.album-journal)
    masks: str = "auto"  # AlbumOptions.masks


@dataclass
class AlbumSummary:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    flagged: int = 0  # finished photos whose look may be unreliable (their manifest entry has flags)
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    planned: list[tuple[str, str, str]] = field(default_factory=list)  # (action, input, output)
    manifest: Path | None = None
    contact_sheet: tuple[Path, Path] | None = None
    lut: Path | None = None
    look_exports: tuple[Path, ...] = ()
    interrupted: bool = False

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0


def error_entry(task: PhotoTask, message: str, error_type: str) -> Entry:
    return {
        "input": task.name,
        "output": task.output_name,
        "status": "failed",
        "error": message,
        "error_type": error_type,
    }
