"""The album job: one reference's look applied to every photo of a shoot.

``photostyle album SHOOT_DIR --reference REF -o OUT_DIR`` styles each photo of SHOOT_DIR (JPEG, PNG, TIFF and camera
RAW) with ``photostyle.pipeline.transfer`` and writes OUT_DIR/{stem}_{look}.jpg (or a 16-bit TIFF), keeping EXIF, ICC
profile and XMP. The rules:

- SHOOT_DIR is only read. OUT_DIR may not be SHOOT_DIR or inside it.
- Every write is atomic (a temporary file beside the target, then a rename): a killed run leaves whole files only.
- OUT_DIR/manifest.jsonl has one JSON line per photo (input and output hashes, settings, reference, status, error,
  timings). A photo whose entry says done, with the same input, reference and settings and its output unchanged,
  is skipped; so a killed or interrupted run resumes where it stopped. Failed photos are tried again.
- An existing output that is not this job's up-to-date result is never replaced without --overwrite.
- A photo that cannot be read (corrupt, truncated, unsupported) is recorded as failed and the job goes on; the exit
  status is 0 when every photo is done (or skipped) and 1 when any failed.

Work runs in this process (--jobs 1), in a process pool (--jobs N: each worker reads the reference once and holds
its own model) or on Ray (--ray ADDRESS, see pipelines/album/ray_runner.py); all three call the same ``process_photo``.

Modules: ``options`` (what a run is given and returns), ``plan`` (what a run does, decided before any work),
``manifest`` (the record of the work), ``worker`` (one photo), ``local`` (this process or a process pool),
``ray_runner`` (Ray), ``job`` (``run_album``), ``lut``, ``exports`` (the look for darktable and RawTherapee)
and ``contact_sheet``. The CLI is ``photostyle.cli.album``.
"""

from pipelines.album.exports import export_names, write_look_exports
from pipelines.album.job import album_lut, export_look, export_lut, run_album
from pipelines.album.local import run_local, worker_threads
from pipelines.album.manifest import (
    Journal,
    Manifest,
    comparable,
    journal_files,
    read_manifest,
    settings_key,
    sha256_file,
)
from pipelines.album.options import (
    DEFAULT_TEMPLATE,
    JOURNAL_DIR,
    LOCK_NAME,
    MANIFEST_NAME,
    AlbumOptions,
    AlbumSummary,
    Entry,
    PhotoTask,
    WorkerSpec,
)
from pipelines.album.plan import Plan, discover, output_name, plan_album
from pipelines.album.worker import AlbumWorker, process_photo

__all__ = [
    "DEFAULT_TEMPLATE",
    "JOURNAL_DIR",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "AlbumOptions",
    "AlbumSummary",
    "AlbumWorker",
    "Entry",
    "Journal",
    "Manifest",
    "PhotoTask",
    "Plan",
    "WorkerSpec",
    "comparable",
    "discover",
    "album_lut",
    "export_look",
    "export_lut",
    "export_names",
    "journal_files",
    "output_name",
    "plan_album",
    "process_photo",
    "read_manifest",
    "run_album",
    "run_local",
    "settings_key",
    "sha256_file",
    "worker_threads",
    "write_look_exports",
]
