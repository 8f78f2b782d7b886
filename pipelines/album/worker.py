"""One photo's work (read, transfer, write, record), and a worker that holds the reference and model for many."""

from __future__ import annotations

import errno
import os
import socket
import time
import traceback
import warnings
from pathlib import Path

from photostyle import imageio
from photostyle.errors import PhotostyleError
from photostyle.imageio import Photo
from photostyle.imaging.exposure import apply_correction
from photostyle.imaging.resize import resize_longest
from photostyle.pipeline import load_model, transfer
from photostyle.regions import prepare_masks
from photostyle.regions.skin import skin_mask
from photostyle.settings import Settings
from pipelines.album.contact_sheet import write_thumbnails
from pipelines.album.flags import look_flags
from pipelines.album.lut import colour_stats
from pipelines.album.manifest import Journal, now, sha256_file
from pipelines.album.normalize import correction_of
from pipelines.album.options import DISK_FULL, WRITING, Entry, PhotoTask, Record, WorkerSpec


def process_photo(
    task: PhotoTask,
    reference: Photo,
    settings: Settings,
    *,
    before_write: Record | None = None,
    masks: str = "auto",
) -> Entry:
    """Style one photo and write its output; never raises: failures come back as a 'failed' entry.

    MASKS: 'auto' (automatic region masks, as ``transfer``; the entry records the regions' ``match_confidence``)
    or 'none' (one global look). The entry's ``flags`` list why the look may be unreliable (pipelines.album.flags).

    BEFORE_WRITE(entry) is called with a 'writing' entry just before the output is written: the worker journals it,
    so a run killed between the write and its record knows the file as its own."""
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
            source = photo.pixels  # as shot: the contact sheet's "before"
            if task.normalize is not None:
                t1 = time.perf_counter()
                photo.pixels = apply_correction(photo.pixels, correction_of(task.normalize))
                entry["normalize"] = task.normalize
                times["normalize"] = time.perf_counter() - t1
            pairs, confidence = None, None
            if masks != "none":
                t1 = time.perf_counter()
                pairs, seg = prepare_masks(photo, reference, masks=masks, settings=settings)
                confidence = seg.match_confidence if seg is not None else None
                times["masks"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            result = transfer(photo, reference, masks=pairs, settings=settings)
            times["transfer"] = time.perf_counter() - t1
            skin = result.skin
            if skin is None and settings.skin == "free":  # the guard did not look for skin: look for the flag
                skin = skin_mask(photo.pixels)
            flags, measures = look_flags(photo.pixels, result.image, confidence, skin)
            t2 = time.perf_counter()
            if before_write is not None:
                before_write({**entry, "status": WRITING})
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
                match_confidence=confidence,
                flags=flags,
                **measures,
            )
            times["write"] = time.perf_counter() - t2
            if task.thumbnails:
                try:
                    write_thumbnails(Path(task.out_dir), task.output_name, source, result.image)
                except (PhotostyleError, OSError) as exc:
                    warnings.warn(f"contact-sheet thumbnails not written: {exc}", stacklevel=1)
        except PhotostyleError as exc:
            entry.update(error=str(exc), error_type=type(exc).__name__)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                entry.update(error=f"{task.output}: cannot write ({exc.strerror}).", error_type=DISK_FULL)
            else:
                _unexpected(entry, task, exc)
        except MemoryError:
            entry.update(
                error=f"{task.input}: not enough memory for this photo; use fewer --jobs, a smaller --size "
                "or --quality preview.",
                error_type="MemoryError",
            )
        except Exception as exc:  # noqa: BLE001 - one photo's bug must not stop the album; its trace is kept
            _unexpected(entry, task, exc)
    notes = sorted({str(w.message) for w in caught})
    if notes:
        entry["warnings"] = notes
    times["total"] = time.perf_counter() - t0
    entry["seconds"] = {k: round(v, 4) for k, v in times.items()}
    entry["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return entry


def _unexpected(entry: Entry, task: PhotoTask, exc: BaseException) -> None:
    trace = traceback.format_exception(exc)
    entry.update(
        error=f"{task.input}: unexpected error: {trace[-1].strip()}",
        error_type=type(exc).__name__,
        traceback="".join(trace),
    )


class AlbumWorker:
    """One worker's state: the reference Photo, read once, and the settings; called once per photo.

    The engine caches the reference analysis (features, statistics) across ``transfer`` calls in a process, and
    the automatic masks the reference's side of theirs: its shrunk copies (``regions.auto._shrunk_reference``),
    its description (VGG-19 features and superpixels, ``regions.features.describe``) and its person map
    (``regions.person``), each kept by the pixels. So a worker analyses the reference once per shoot; per photo
    the person model runs once, its map shared by the regions and the skin guard.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        self.settings = Settings.from_dict(spec.settings)
        if spec.threads:
            self.settings = self.settings.with_(threads=spec.threads)
        load_model(self.settings)  # this worker's threads, and its model now (transfer reuses it)
        self.reference = imageio.read_image(spec.reference, role="reference")
        self.run_fields = dict(spec.run_fields)
        self.journal = Journal(Path(spec.journal_dir)) if spec.journal_dir else None
        self.masks = spec.masks

    def _intent(self, entry: Entry) -> None:
        if self.journal is not None:
            self.journal.append({**entry, **self.run_fields, "finished": now()})

    def __call__(self, task: PhotoTask) -> Entry:
        entry = {
            **process_photo(task, self.reference, self.settings, before_write=self._intent, masks=self.masks),
            **self.run_fields,
            "finished": now(),
        }
        if self.journal is not None:
            self.journal.append(entry)
        return entry
