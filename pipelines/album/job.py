"""The album job: plan, lock the output folder, run the photos (locally or on Ray), record, contact sheet, LUT."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from photostyle.errors import OutputError, PhotostyleError
from photostyle.imageio.atomic import write_text_atomic
from photostyle.imaging.resize import resize_longest
from pipelines.album.contact_sheet import SHEET_DIR, write_contact_sheet
from pipelines.album.exports import write_look_exports
from pipelines.album.local import run_local, worker_threads
from pipelines.album.lut import colour_stats, look_lut, pool_stats, write_cube
from pipelines.album.manifest import Manifest, now, read_manifest
from pipelines.album.options import (
    DISK_FULL,
    JOURNAL_DIR,
    LOCK_NAME,
    MANIFEST_NAME,
    AlbumOptions,
    AlbumSummary,
    Entry,
    WorkerSpec,
)
from pipelines.album.plan import Plan, plan_album
from pipelines.album.ray_runner import run_on_ray, session


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
            stack.enter_context(session(o.ray))
        out_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_album_lock(out_dir))
        _remove_stale_parts(out_dir)
        manifest = Manifest(out_dir / MANIFEST_NAME)
        summary.manifest = manifest.path
        summary.skipped = len(plan.kept)
        bar = _progress_bar(len(plan.tasks), o.progress)

        lines = o.progress and not sys.stderr.isatty()  # a log: one line per photo instead of a bar

        def record(entry: Entry) -> None:
            full = {**plan.run_fields, "finished": now(), **entry}  # (a worker's entry has both already)
            try:
                manifest.append(full)
            except OSError as exc:
                raise _stopped(out_dir / MANIFEST_NAME, exc) from None
            if full["status"] == "done":
                summary.succeeded += 1
            else:
                summary.failed += 1
                summary.failures.append((full["input"], full.get("error") or "failed"))
            bar.update(1)
            bar.set_postfix(failed=summary.failed, refresh=False)
            if lines:
                took = (full.get("seconds") or {}).get("total", 0.0)
                print(f"album: {full['status']} {full['input']} -> {full['output']} ({took:.1f}s)", file=sys.stderr)
            if full.get("error_type") == DISK_FULL:
                raise OutputError(f"{full['error']} Free some space and run the same command again to resume.")

        if lines:
            for e in plan.kept:
                print(f"album: skipped {e['input']} -> {e['output']} (done in an earlier run)", file=sys.stderr)
        failed = True
        try:
            for e in plan.refused:  # reported, not recorded: the manifest keeps what made the existing output
                summary.failed += 1
                summary.failures.append((e["input"], e["error"]))
            jobs = o.jobs or (0 if o.ray else 1)
            journal = (plan.run_fields, str((out_dir / JOURNAL_DIR).resolve()))
            if o.ray:
                cpus = o.ray_cpus_per_worker or float(o.settings.threads or 1)
                spec = WorkerSpec(
                    str(Path(o.reference).resolve()), o.settings.to_dict(), max(1, round(cpus)), *journal, masks=o.masks
                )
                run_on_ray(
                    plan.tasks, spec, o.ray, jobs=jobs or None, cpus=cpus, gpus=o.ray_gpus_per_worker, record=record
                )
            else:
                threads = worker_threads(jobs, o.settings) if jobs > 1 else o.settings.threads
                spec = WorkerSpec(
                    str(Path(o.reference).resolve()), o.settings.to_dict(), threads, *journal, masks=o.masks
                )
                run_local(plan.tasks, spec, jobs, record)
            failed = False
        except KeyboardInterrupt:
            summary.interrupted = True
            failed = False
        finally:
            bar.close()
            try:
                manifest.close()
                manifest.compact()
            except OSError as exc:
                if not failed:  # (when the run already stopped on an error, that error is the one to report)
                    raise _stopped(manifest.path, exc) from None
        entries = [e for e in read_manifest(manifest.path).values() if e["output"] in {a[2] for a in plan.actions}]
        summary.flagged = sum(1 for e in entries if e.get("status") == "done" and e.get("flags"))
        if o.contact_sheet and entries and not summary.interrupted:
            summary.contact_sheet = write_contact_sheet(
                out_dir,
                Path(o.shoot_dir),
                entries,
                reference=plan.reference.pixels,
                title=f"look '{plan.look}' from {Path(o.reference).name}: {len(entries)} photo(s), "
                f"{summary.flagged} flagged",
            )
        if o.export_lut is not None and not summary.interrupted:
            try:
                summary.lut = export_lut(o, plan, entries)
            except PhotostyleError as exc:
                summary.failed += 1
                summary.failures.append((str(o.export_lut), str(exc)))
        if o.export_look is not None and not summary.interrupted:
            try:
                summary.look_exports = export_look(o, plan, entries)
            except PhotostyleError as exc:
                summary.failed += 1
                summary.failures.append((str(o.export_look), str(exc)))
    summary.seconds = time.perf_counter() - t0
    return summary


def export_lut(o: AlbumOptions, plan: Plan, entries: Iterable[Entry]) -> Path:
    """Write the album's global look as a .cube (unchanged content is not rewritten; a different one needs
    --overwrite)."""
    path = Path(o.export_lut or "look.cube")
    lut = album_lut(o, plan, entries)
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


def album_lut(o: AlbumOptions, plan: Plan, entries: Iterable[Entry]) -> np.ndarray:
    """The album's global look as a (lut_size,)*3 table: the pooled colour statistics of its styled photos carried
    onto the reference's."""
    source = pool_stats(e["colour_stats"] for e in entries if e.get("status") == "done" and e.get("colour_stats"))
    target = colour_stats(resize_longest(plan.reference.pixels, o.settings.scales[-1]))
    return look_lut(source, target, o.lut_size)


def export_look(o: AlbumOptions, plan: Plan, entries: Iterable[Entry]) -> tuple[Path, ...]:
    """Write the album's global look for other editors into --export-look DIR (see pipelines.album.exports)."""
    folder = Path(o.export_look or "look")
    files = write_look_exports(folder, album_lut(o, plan, entries), plan.look, overwrite=o.overwrite or o.redo)
    return tuple(files.values())


def _stopped(path: Path, exc: OSError) -> OutputError:
    """A write that failed mid-run (a disk that filled, a folder made read-only) as the one line that stops the job."""
    return OutputError(
        f"{path}: cannot write ({exc.strerror or exc}); the album stopped. Photos finished so far are kept; free "
        "some space (or make the folder writable) and run the same command again to resume."
    )


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
    for folder in (out_dir, out_dir / SHEET_DIR):
        if folder.is_dir():
            for p in folder.glob(".*.part"):
                with contextlib.suppress(OSError):
                    p.unlink()
