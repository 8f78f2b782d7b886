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
its own model) or on Ray (--ray ADDRESS, see pipelines/ray_runner.py); all three call the same ``process_photo``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from photostyle import imageio
from photostyle.errors import InputError, OutputError, PhotostyleError, SettingsError
from photostyle.imageio import Photo
from photostyle.settings import Settings

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".photostyle-album.lock"
JOURNAL_DIR = ".album-journal"
DEFAULT_TEMPLATE = "{stem}_{look}.jpg"
TIMING_FIELDS = ("seconds", "worker", "finished")  # differ between runs of the same work
_NOT_IN_RESULT = ("device", "threads")  # settings that do not change what is written

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
    progress: bool = True


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


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker sets up once: the reference (read once per worker) and the settings."""

    reference: str
    settings: dict[str, Any]
    threads: int | None = None
    run_fields: dict[str, Any] = field(default_factory=dict)  # reference hash, settings ...: in every entry
    journal_dir: str | None = None  # where this worker journals each finished photo (OUT_DIR/.album-journal)


@dataclass
class AlbumSummary:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    planned: list[tuple[str, str, str]] = field(default_factory=list)  # (action, input, output)
    manifest: Path | None = None
    contact_sheet: tuple[Path, Path] | None = None
    lut: Path | None = None
    interrupted: bool = False

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0


# ------------------------------------------------------------------------------------------------ helpers
def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def settings_key(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that decide the output (JSON-normalised, without device and threads)."""
    d = {k: v for k, v in settings.items() if k not in _NOT_IN_RESULT}
    return json.loads(json.dumps(d))


def comparable(entry: Mapping[str, Any]) -> Entry:
    """ENTRY without the fields that differ between two runs of the same work (timings, worker, time of day)."""
    return {k: v for k, v in entry.items() if k not in TIMING_FIELDS}


def discover(shoot_dir: Path) -> list[Path]:
    """The photos of SHOOT_DIR (not its sub-folders), by name; hidden files (._IMG, .DS_Store) are left out."""
    return sorted(
        p
        for p in shoot_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in imageio.READ_SUFFIXES
    )


def output_name(template: str, photo: Path, look: str, *, tiff: bool = False) -> str:
    try:
        name = template.format(stem=photo.stem, look=look, ext=photo.suffix.lower().lstrip("."))
    except (KeyError, IndexError, ValueError) as exc:
        raise SettingsError(
            f"output name template {template!r} is not valid ({exc}); it may use {{stem}}, {{look}} and {{ext}}."
        ) from exc
    if tiff:
        name = str(Path(name).with_suffix(".tif"))
    if not name or "/" in name or os.sep in name or name.startswith("."):
        raise SettingsError(f"output name template {template!r} gives {name!r}: a plain file name is needed.")
    if Path(name).suffix.lower() not in imageio.WRITE_SUFFIXES:
        raise SettingsError(f"output name template {template!r} must end in .jpg, .png or .tif (use --tiff).")
    return name


def _version() -> str:
    from photostyle import __version__

    return __version__


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _error_entry(task: PhotoTask, message: str, error_type: str) -> Entry:
    return {
        "input": task.name,
        "output": task.output_name,
        "status": "failed",
        "error": message,
        "error_type": error_type,
    }


# ------------------------------------------------------------------------------------------------ per photo
def process_photo(task: PhotoTask, reference: Photo, settings: Settings) -> Entry:
    """Style one photo and write its output; never raises: failures come back as a 'failed' entry."""
    from photostyle.imaging.resize import resize_longest
    from photostyle.pipeline import transfer

    from .contact_sheet import write_thumbnails
    from .lut import colour_stats

    t0 = time.perf_counter()
    times: dict[str, float] = {}
    entry: Entry = {"input": task.name, "output": task.output_name, "status": "failed"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            st = os.stat(task.input)
            entry.update(input_bytes=st.st_size, input_mtime_ns=st.st_mtime_ns, input_sha256=sha256_file(task.input))
            photo = imageio.read_image(task.input, role="photo")
            times["read"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            result = transfer(photo, reference, settings=settings)
            times["transfer"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            out = imageio.write_image(
                task.output,
                result.image,
                like=photo,
                bit_depth=task.bit_depth,
                overwrite=task.overwrite,
                quality=task.jpeg_quality,
            )
            entry.update(
                status="done",
                error=None,
                output_sha256=sha256_file(out),
                width=photo.size[0],
                height=photo.size[1],
                source_bit_depth=photo.bit_depth,
                colour_stats=colour_stats(resize_longest(photo.pixels, settings.scales[-1])),
            )
            times["write"] = time.perf_counter() - t2
            if task.thumbnails:
                try:
                    write_thumbnails(Path(task.out_dir), task.output_name, photo.pixels, result.image)
                except (PhotostyleError, OSError) as exc:
                    warnings.warn(f"contact-sheet thumbnails not written: {exc}", stacklevel=1)
        except PhotostyleError as exc:
            entry.update(error=str(exc), error_type=type(exc).__name__)
        except MemoryError:
            entry.update(
                error=f"{task.input}: not enough memory for this photo; use fewer --jobs, a smaller --size "
                "or --quality preview.",
                error_type="MemoryError",
            )
        except Exception as exc:  # noqa: BLE001 - one photo's bug must not stop the album; its trace is kept
            trace = traceback.format_exception(exc)
            entry.update(
                error=f"{task.input}: unexpected error: {trace[-1].strip()}",
                error_type=type(exc).__name__,
                traceback="".join(trace),
            )
    notes = sorted({str(w.message) for w in caught})
    if notes:
        entry["warnings"] = notes
    times["total"] = time.perf_counter() - t0
    entry["seconds"] = {k: round(v, 4) for k, v in times.items()}
    entry["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return entry


class AlbumWorker:
    """One worker's state: the reference Photo, read once, and the settings; called once per photo.

    The engine caches the reference analysis (features, statistics) across ``transfer`` calls in a process, so
    every photo a worker styles reuses it.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        if spec.threads:
            from photostyle.runtime import set_threads

            set_threads(spec.threads)
        self.settings = Settings.from_dict(spec.settings)
        if spec.threads:
            self.settings = self.settings.with_(threads=spec.threads)
        self.reference = imageio.read_image(spec.reference, role="reference")
        if self.settings.quality == "best":  # load this worker's model now (the engine keeps it per process)
            from photostyle.runtime import pick_device
            from photostyle.vgg import load_vgg

            load_vgg(self.settings.vgg_weights, pick_device(self.settings.device))

        self.run_fields = dict(spec.run_fields)
        self.journal = Journal(Path(spec.journal_dir)) if spec.journal_dir else None

    def __call__(self, task: PhotoTask) -> Entry:
        entry = {**process_photo(task, self.reference, self.settings), **self.run_fields, "finished": _now()}
        if self.journal is not None:
            self.journal.append(entry)
        return entry


# ------------------------------------------------------------------------------------------------ manifest
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _read_jsonl(path: Path) -> Iterator[Entry]:
    """The entries of a JSON-lines file; a line cut short by a killed run is skipped."""
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with f:
        for line in f:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(e, dict) and "output" in e and "input" in e:
                yield e


def journal_files(out_dir: Path) -> list[Path]:
    return sorted((out_dir / JOURNAL_DIR).glob("*.jsonl"))


def read_manifest(path: Path) -> dict[str, Entry]:
    """The latest entry per output name, from the manifest and the journals a killed run left beside it."""
    entries: dict[str, Entry] = {}
    for source in (path, *journal_files(path.parent)):
        for e in _read_jsonl(source):
            key = str(e["output"])
            if key not in entries or str(e.get("finished", "")) >= str(entries[key].get("finished", "")):
                entries[key] = e
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
        from photostyle.imageio.atomic import write_text_atomic

        journals = journal_files(self.path.parent)
        entries = sorted(read_manifest(self.path).values(), key=lambda e: (e["input"], e["output"]))
        text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
        write_text_atomic(self.path, text, overwrite=True)
        for j in journals:
            with contextlib.suppress(OSError):
                j.unlink()
        with contextlib.suppress(OSError):
            (self.path.parent / JOURNAL_DIR).rmdir()


# ------------------------------------------------------------------------------------------------ planning
@dataclass
class Plan:
    tasks: list[PhotoTask]
    kept: list[Entry]  # done in an earlier run and up to date
    refused: list[Entry]  # outputs that exist and may not be replaced
    actions: list[tuple[str, str, str]]
    reference: Photo
    run_fields: Entry
    look: str


def _up_to_date(prev: Entry | None, src: Path, out: Path, run_fields: Entry) -> tuple[bool, str]:
    if prev is None:
        return False, "no finished entry for it in the manifest"
    if prev.get("status") != "done":
        return False, "the manifest records it as failed"
    if prev.get("reference_sha256") != run_fields["reference_sha256"]:
        return False, "made with another reference"
    if settings_key(prev.get("settings", {})) != settings_key(run_fields["settings"]):
        return False, "made with other settings"
    st = src.stat()
    if (prev.get("input_bytes"), prev.get("input_mtime_ns")) != (st.st_size, st.st_mtime_ns):
        if sha256_file(src) != prev.get("input_sha256"):
            return False, "the photo has changed since"
    if not out.exists():
        return False, "the output is missing"
    if sha256_file(out) != prev.get("output_sha256"):
        return False, "the output was changed since"
    return True, "done"


def plan_album(o: AlbumOptions) -> Plan:
    """Check the folders, read the reference and decide, photo by photo, what this run does. Writes nothing."""
    shoot, out_dir = Path(o.shoot_dir), Path(o.out_dir)
    if not shoot.is_dir():
        raise InputError(f"{shoot}: shoot folder not found (or not a folder). Check the path.")
    if _is_inside(out_dir, shoot):
        raise OutputError(
            f"{out_dir}: is inside the shoot folder {shoot}; the album job never writes into the shoot. "
            "Choose an output folder outside it."
        )
    if o.export_lut is not None:
        if _is_inside(Path(o.export_lut), shoot):
            raise OutputError(f"{o.export_lut}: is inside the shoot folder {shoot}; write the LUT somewhere else.")
        if Path(o.export_lut).suffix.lower() != ".cube":
            raise SettingsError(f"{o.export_lut}: a 3D LUT is written as a .cube file; give a name ending in .cube.")
        if not 2 <= o.lut_size <= 256:
            raise SettingsError(f"--lut-size must be between 2 and 256, not {o.lut_size}.")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder; choose an output folder.")
    if not 1 <= o.jpeg_quality <= 100:
        raise SettingsError(f"JPEG quality must be between 1 and 100, not {o.jpeg_quality}.")
    reference = imageio.read_image(o.reference, role="reference")
    look = o.look or Path(o.reference).stem
    run_fields: Entry = {
        "photostyle_version": _version(),  # provenance only: a new version does not redo finished photos
        "reference": str(Path(o.reference).resolve()),
        "reference_sha256": sha256_file(o.reference),
        "settings": json.loads(json.dumps(o.settings.to_dict())),
    }
    photos = [p for p in discover(shoot) if p.resolve() != Path(o.reference).resolve()]
    if not photos:
        raise InputError(
            f"{shoot}: no photos found. The album job styles the JPEG, PNG, TIFF and camera RAW files directly in "
            "this folder (not in its sub-folders)."
        )
    names: dict[str, Path] = {}
    for p in photos:
        name = output_name(o.template, p, look, tiff=o.tiff)
        if name in names:
            raise SettingsError(
                f"{names[name].name} and {p.name} would both be written to {name}; "
                "add {ext} to the name template (--name '{stem}_{ext}_{look}.jpg')."
            )
        names[name] = p
    previous = read_manifest(out_dir / MANIFEST_NAME)
    tasks, kept, refused, actions = [], [], [], []
    for name, p in names.items():
        out = out_dir / name
        bit_depth = 16 if Path(name).suffix.lower() in {".tif", ".tiff"} else None
        rel = p.relative_to(shoot).as_posix()
        ok, why = _up_to_date(previous.get(name), p, out, run_fields)
        task = PhotoTask(
            input=str(p.resolve()),
            name=rel,
            output=str(out_dir.resolve() / name),
            output_name=name,
            out_dir=str(out_dir.resolve()),
            bit_depth=bit_depth,
            overwrite=out.exists() and (o.overwrite or o.redo),
            jpeg_quality=o.jpeg_quality,
            thumbnails=o.contact_sheet,
        )
        if ok and not o.redo:
            kept.append(previous[name])
            actions.append(("skip", rel, name))
        elif out.exists() and not (o.overwrite or o.redo):
            e = _error_entry(
                task,
                f"{out}: already exists and is not this job's up-to-date result ({why}); "
                "pass --overwrite to replace it, or choose another output folder.",
                "OutputError",
            )
            refused.append({**e, **run_fields})
            actions.append(("refuse", rel, name))
        else:
            tasks.append(task)
            actions.append(("overwrite" if out.exists() else "write", rel, name))
    return Plan(tasks, kept, refused, actions, reference, run_fields, look)


# ------------------------------------------------------------------------------------------------ executors
_POOL_WORKER: AlbumWorker | None = None
_POOL_SETUP_ERROR: PhotostyleError | None = None
_POOL_STOP: Any = None  # a multiprocessing Event: set by the parent on Ctrl-C, so queued photos are not started


def _die_with_parent() -> None:
    """Linux: end this worker when the parent is killed, so no orphan writes outputs the manifest never hears of."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _pool_init(spec: WorkerSpec, stop: Any) -> None:
    global _POOL_WORKER, _POOL_SETUP_ERROR, _POOL_STOP
    _die_with_parent()
    # Ctrl-C is the parent's to handle: it stops handing out photos and waits for those in progress
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _POOL_STOP = stop
    try:
        _POOL_WORKER = AlbumWorker(spec)
    except PhotostyleError as exc:  # raised again for the first photo, so the parent stops with this message
        _POOL_SETUP_ERROR = exc


def _pool_run(task: PhotoTask) -> Entry | None:
    if _POOL_SETUP_ERROR is not None:
        raise _POOL_SETUP_ERROR
    if _POOL_STOP is not None and _POOL_STOP.is_set():
        return None  # the job was interrupted before this photo started
    assert _POOL_WORKER is not None, "worker not initialised"
    return _POOL_WORKER(task)


def worker_threads(jobs: int, settings: Settings) -> int:
    """Threads per worker: the user's --threads, else the cores shared out between the workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return settings.threads or max(1, cores // max(1, jobs))


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _thread_env(threads: int | None) -> Iterator[None]:
    """Limit the BLAS/OpenMP pools of processes started inside, so N workers do not each use every core.

    They read these variables when numpy and torch load, before any initializer could set them.
    """
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    if threads:
        os.environ.update(dict.fromkeys(_THREAD_VARS, str(threads)))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_local(tasks: list[PhotoTask], spec: WorkerSpec, jobs: int, record: Record) -> None:
    """Style TASKS in this process (jobs == 1) or in a pool of JOBS processes, one AlbumWorker each."""
    if not tasks:
        return
    if jobs <= 1:
        worker = AlbumWorker(spec)
        for t in tasks:
            record(worker(t))
        return
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: safe with torch's thread pools
    stop = ctx.Event()
    ex = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=_pool_init, initargs=(spec, stop)
    )

    def collect(f: Future[Entry | None], task: PhotoTask) -> None:
        try:
            entry = f.result()
        except PhotostyleError:  # a worker could not set up (reference, weights, device): stop the job
            raise
        except KeyboardInterrupt:  # Ctrl-C reached the worker mid-photo: nothing was written, nothing to record
            return
        except Exception as exc:  # noqa: BLE001 - a worker that died (killed, out of memory) fails its photo
            entry = _error_entry(task, f"{task.input}: the worker styling it stopped ({exc!r}).", type(exc).__name__)
        if entry is not None:
            record(entry)

    try:
        with _thread_env(spec.threads):  # the workers are spawned by the first submits and inherit it
            futures = {ex.submit(_pool_run, t): t for t in tasks}
        left = set(futures)
        try:
            for f in as_completed(futures):
                left.discard(f)
                collect(f, futures[f])
        except KeyboardInterrupt:
            # Photos already handed to a worker may still finish and write their output: wait for them and
            # record them, so that a resumed run knows those outputs. Queued photos are not started.
            stop.set()
            running = [f for f in left if not f.cancel()]
            print("stopping: letting the photos in progress finish (Ctrl-C again to abandon them)", file=sys.stderr)
            try:
                for f in as_completed(running):
                    collect(f, futures[f])
            except KeyboardInterrupt:
                for proc in list(getattr(ex, "_processes", {}).values()):  # abandon: end the workers now
                    proc.terminate()
            raise
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------------ the job
def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    # disable=None: a bar on a terminal, none in logs and pipes
    return tqdm(total=total, unit="photo", desc="album", file=sys.stderr, disable=True if not enabled else None)


def run_album(o: AlbumOptions, *, plan: Plan | None = None) -> AlbumSummary:
    """Run the album job (or, with dry_run, only say what it would do). Returns the summary."""
    t0 = time.perf_counter()
    plan = plan or plan_album(o)
    summary = AlbumSummary(total=len(plan.actions), planned=list(plan.actions))
    if o.dry_run:
        summary.skipped = len(plan.kept)
        summary.failed = len(plan.refused)
        summary.failures = [(e["input"], e["error"]) for e in plan.refused]
        return summary
    out_dir = Path(o.out_dir)
    with contextlib.ExitStack() as stack:
        if o.ray and plan.tasks:  # connect first: a cluster that cannot be reached leaves nothing behind
            from .ray_runner import session

            stack.enter_context(session(o.ray))
        out_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_album_lock(out_dir))
        _remove_stale_parts(out_dir)
        manifest = Manifest(out_dir / MANIFEST_NAME)
        summary.manifest = manifest.path
        summary.skipped = len(plan.kept)
        bar = _progress_bar(len(plan.tasks), o.progress)

        def record(entry: Entry) -> None:
            full = {**plan.run_fields, "finished": _now(), **entry}  # (a worker's entry has both already)
            manifest.append(full)
            if full["status"] == "done":
                summary.succeeded += 1
            else:
                summary.failed += 1
                summary.failures.append((full["input"], full.get("error") or "failed"))
            bar.update(1)
            bar.set_postfix(failed=summary.failed, refresh=False)

        try:
            for e in plan.refused:  # reported, not recorded: the manifest keeps what made the existing output
                summary.failed += 1
                summary.failures.append((e["input"], e["error"]))
            jobs = o.jobs or (0 if o.ray else 1)
            journal = (plan.run_fields, str((out_dir / JOURNAL_DIR).resolve()))
            if o.ray:
                from .ray_runner import run_on_ray

                cpus = o.ray_cpus_per_worker or float(o.settings.threads or 1)
                spec = WorkerSpec(str(Path(o.reference).resolve()), o.settings.to_dict(), max(1, round(cpus)), *journal)
                run_on_ray(
                    plan.tasks, spec, o.ray, jobs=jobs or None, cpus=cpus, gpus=o.ray_gpus_per_worker, record=record
                )
            else:
                threads = worker_threads(jobs, o.settings) if jobs > 1 else o.settings.threads
                spec = WorkerSpec(str(Path(o.reference).resolve()), o.settings.to_dict(), threads, *journal)
                run_local(plan.tasks, spec, jobs, record)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            bar.close()
            manifest.close()
            manifest.compact()
        entries = [e for e in read_manifest(manifest.path).values() if e["output"] in {a[2] for a in plan.actions}]
        if o.contact_sheet and entries and not summary.interrupted:
            from .contact_sheet import write_contact_sheet

            summary.contact_sheet = write_contact_sheet(
                out_dir,
                Path(o.shoot_dir),
                entries,
                reference=plan.reference.pixels,
                title=f"look '{plan.look}' from {Path(o.reference).name}: {len(entries)} photo(s)",
            )
        if o.export_lut is not None and not summary.interrupted:
            try:
                summary.lut = export_lut(o, plan, entries)
            except PhotostyleError as exc:
                summary.failed += 1
                summary.failures.append((str(o.export_lut), str(exc)))
    summary.seconds = time.perf_counter() - t0
    return summary


def export_lut(o: AlbumOptions, plan: Plan, entries: Iterable[Entry]) -> Path:
    """Write the album's global look as a .cube (unchanged content is not rewritten; a different one needs
    --overwrite)."""
    from photostyle.imageio.atomic import write_text_atomic
    from photostyle.imaging.resize import resize_longest

    from .lut import colour_stats, look_lut, pool_stats, write_cube

    path = Path(o.export_lut or "look.cube")
    source = pool_stats(e["colour_stats"] for e in entries if e.get("status") == "done" and e.get("colour_stats"))
    target = colour_stats(resize_longest(plan.reference.pixels, o.settings.scales[-1]))
    lut = look_lut(source, target, o.lut_size)
    if path.exists():
        # write beside, compare, then replace or refuse: an identical LUT from a resumed run is not an error
        tmp = write_cube(path.with_name(f".{path.name}.new.cube"), lut, title=plan.look, overwrite=True)
        try:
            new = tmp.read_text()
            if new == path.read_text(errors="replace"):
                return path
            if not (o.overwrite or o.redo):
                raise OutputError(f"{path}: already exists with another LUT; pass --overwrite to replace it.")
            return write_text_atomic(path, new, overwrite=True)
        finally:
            tmp.unlink(missing_ok=True)
    return write_cube(path, lut, title=plan.look)


@contextlib.contextmanager
def _album_lock(out_dir: Path) -> Iterator[None]:
    """One album run per output folder at a time (the manifest has one writer)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        yield
        return
    with open(out_dir / LOCK_NAME, "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise OutputError(
                f"{out_dir}: another album run is writing into this folder; wait for it or choose another folder."
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _remove_stale_parts(out_dir: Path) -> None:
    """Temporary files a killed run left behind (the atomic writes' '.NAME.XXXX.part')."""
    from .contact_sheet import SHEET_DIR

    for folder in (out_dir, out_dir / SHEET_DIR):
        if folder.is_dir():
            for p in folder.glob(".*.part"):
                with contextlib.suppress(OSError):
                    p.unlink()


# ------------------------------------------------------------------------------------------------ CLI
def options_from_args(a: argparse.Namespace) -> AlbumOptions:
    from photostyle.cli.common import settings_from_args

    if a.jobs is not None and a.jobs < 1:
        raise SettingsError(f"--jobs must be at least 1, not {a.jobs}.")
    return AlbumOptions(
        shoot_dir=Path(a.shoot_dir),
        reference=Path(a.reference),
        out_dir=Path(a.output),
        settings=settings_from_args(a),
        template=a.name,
        look=a.look,
        tiff=a.tiff,
        jpeg_quality=a.jpeg_quality,
        overwrite=a.overwrite,
        redo=a.redo,
        dry_run=a.dry_run,
        jobs=a.jobs,
        ray=a.ray,
        ray_cpus_per_worker=a.ray_cpus_per_worker,
        ray_gpus_per_worker=a.ray_gpus_per_worker,
        contact_sheet=not a.no_contact_sheet,
        export_lut=Path(a.export_lut) if a.export_lut else None,
        lut_size=a.lut_size,
        progress=not a.quiet,
    )


def _cmd_album(a: argparse.Namespace) -> int:
    o = options_from_args(a)
    summary = run_album(o)
    err = sys.stderr
    if o.dry_run:
        for action, src, out in summary.planned:
            print(f"{action:9s} {src} -> {Path(o.out_dir) / out}")
        print(
            f"dry run: {sum(x[0] in ('write', 'overwrite') for x in summary.planned)} to style, "
            f"{summary.skipped} already done, {summary.failed} refused; nothing was written.",
            file=err,
        )
        return 1 if summary.failed else 0
    for src, message in summary.failures:
        print(f"failed: {message if src in message else f'{src}: {message}'}", file=err)
    if summary.interrupted:
        print("interrupted: finished photos are in the manifest; run the same command again to resume.", file=err)
    print(
        f"album: {summary.succeeded} succeeded, {summary.failed} failed, {summary.skipped} skipped "
        f"(of {summary.total}) in {summary.seconds:.1f}s -> {o.out_dir}",
        file=err,
    )
    for p in (*(summary.contact_sheet or ()), summary.lut):
        if p is not None:
            print(p)
    return summary.exit_status


def register(sub: Any) -> None:
    """Add `photostyle album` to the CLI."""
    from photostyle.cli.common import add_settings_args

    p = sub.add_parser(
        "album",
        help="apply one reference's look to every photo of a folder (resumable, never touches the originals)",
        description="Style every photo of SHOOT_DIR (JPEG, PNG, TIFF, camera RAW) with REF's look into OUT_DIR. "
        "A manifest in OUT_DIR lets a stopped run resume; exit status 1 when any photo failed.",
    )
    p.add_argument("shoot_dir", metavar="SHOOT_DIR", help="folder of photos (only read, never written)")
    p.add_argument("-r", "--reference", required=True, metavar="REF", help="the photo whose look to apply")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (outside SHOOT_DIR)")
    p.add_argument("--name", default=DEFAULT_TEMPLATE, help="output name template: {stem}, {look}, {ext} (%(default)s)")
    p.add_argument("--look", help="the {look} in output names (default: the reference's file name)")
    p.add_argument("--tiff", action="store_true", help="write 16-bit TIFFs (.tif) instead of JPEGs")
    p.add_argument("--jpeg-quality", type=int, default=95)
    p.add_argument("--overwrite", action="store_true", help="replace outputs that are not this job's current result")
    p.add_argument("--redo", action="store_true", help="style every photo again, even those already done")
    p.add_argument("--dry-run", action="store_true", help="list what would be written, and write nothing")
    p.add_argument("-j", "--jobs", type=int, help="worker processes (Ray: workers), each with its own model")
    p.add_argument("--ray", metavar="ADDRESS", help="run on Ray: local, auto, HOST:PORT or ray://HOST:10001")
    p.add_argument("--ray-cpus-per-worker", type=float, help="CPUs each Ray worker reserves (default: --threads or 1)")
    p.add_argument("--ray-gpus-per-worker", type=float, default=0.0, help="GPUs each Ray worker reserves")
    p.add_argument("--export-lut", metavar="LOOK.cube", help="also write the look's global colour part as a 3D LUT")
    p.add_argument("--lut-size", type=int, default=33, help="LUT grid points per channel (%(default)s)")
    p.add_argument("--no-contact-sheet", action="store_true", help="skip contact-sheet.html/.png and thumbnails")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_settings_args(p)
    p.set_defaults(func=_cmd_album)
