"""One request as a job: decoded and checked (``prepare``), run (``run_job``); the Engine that stays alive between
requests (the VGG-19 model, counters, one job at a time)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from photostyle import __version__, imageio
from photostyle.errors import InputError, PhotostyleError
from photostyle.imageio import Photo
from photostyle.pipeline import transfer
from photostyle.regions.confidence import LOW_CONFIDENCE
from photostyle.regions.labels import RegionPairs
from photostyle.regions.segmentation import Segmentation
from photostyle.service.protocol import MAX_REFERENCE_BYTES, PROTOCOL, build_settings, decode_pixels, encode_pixels
from photostyle.settings import Settings

MASK_MODES = ("auto", "none", "selection")
# what a request asks for: the styled photo (the default), or the automatic regions and their partners to look at
TASKS = ("transfer", "regions")


@dataclasses.dataclass
class Job:
    """A decoded, validated request, ready to run."""

    photo: Photo
    reference: Photo
    masks: RegionPairs | None
    settings: Settings
    dtype: str
    warnings: list[str]
    auto_masks: bool = False
    task: str = "transfer"


def prepare(header: dict[str, Any], blobs: dict[str, bytes], defaults: dict[str, Any] | None = None) -> Job:
    """Check and decode a request; every problem is a PhotostyleError naming what to fix."""
    if header.get("protocol", PROTOCOL) != PROTOCOL:
        raise InputError(f"request: protocol {header.get('protocol')!r}; this service speaks {PROTOCOL}.")
    task = header.get("task", "transfer")
    if task not in TASKS:
        raise InputError(f"request: task must be one of {', '.join(TASKS)}, not {task!r}.")
    spec = header.get("photo")
    if not isinstance(spec, dict) or "photo" not in blobs:
        raise InputError("request: no photo (a 'photo' header entry and blob are needed).")
    dtype = spec.get("dtype", "u8")
    pixels = decode_pixels(spec, blobs["photo"], 3, "photo")
    if min(pixels.shape[:2]) < 16:
        raise InputError(f"photo: only {pixels.shape[1]}x{pixels.shape[0]} pixels; at least 16 on each side.")
    photo = imageio.from_array(pixels if dtype != "f32" else np.clip(pixels, 0.0, 1.0))
    settings = build_settings(header.get("settings", {}), defaults)
    if "reference" not in blobs or not blobs["reference"]:
        raise InputError("no reference photo: choose the reference whose look you want.")
    name = Path(str(header.get("reference_name") or "reference.png")).name
    if name in ("", ".", "..") or "\x00" in name or len(name.encode("utf-8", "replace")) > 200:
        raise InputError(f"request: reference_name {name[:40]!r} is not a file name (such as 'reference.jpg').")
    reference = _reference(header, blobs["reference"], name)
    notes = [f"{name}: {note}" for note in reference.notes]
    mode = header.get("masks", "none")
    if mode not in MASK_MODES:
        raise InputError(f"request: masks must be one of {', '.join(MASK_MODES)}, not {mode!r}.")
    masks = None
    if mode == "selection":
        if "mask" not in blobs:
            raise InputError("masks 'selection' needs the selection ('mask' blob of the photo's size).")
        sel = decode_pixels(dict(header.get("mask") or {}, dtype="u8"), blobs["mask"], 1, "selection mask")
        if sel.shape != pixels.shape[:2]:
            raise InputError(
                f"selection mask is {sel.shape[1]}x{sel.shape[0]}, the photo {photo.size[0]}x{photo.size[1]}."
            )
        target = (sel >= 128).astype(np.int32)
        if not target.any():
            raise InputError("masks 'selection': the selection is empty. Select the object to style first.")
        if not target.all():
            # the selected object and the rest are two regions, each taking the look of the whole reference
            ref_labels = np.zeros(reference.pixels.shape[:2], np.int32)
            masks = RegionPairs(target, ref_labels, {0: 0, 1: 0})
    if task == "regions" and mode != "auto":
        raise InputError("request: the regions task shows the automatic regions; send masks 'auto'.")
    return Job(photo, reference, masks, settings, dtype, notes, auto_masks=mode == "auto", task=task)


def _reference(header: dict[str, Any], data: bytes, name: str) -> Photo:
    """The reference: its file's bytes, decoded as the CLI does, or (``reference_image`` in the header) pixels that
    the client decoded itself (GIMP opens formats the engine does not, and images that are open in it)."""
    spec = header.get("reference_image")
    if spec is not None:
        if not isinstance(spec, dict):
            raise InputError("request: reference_image must be an object with width, height and dtype.")
        pixels = decode_pixels(spec, data, 3, "reference")
        if min(pixels.shape[:2]) < 16:
            raise InputError(f"reference: only {pixels.shape[1]}x{pixels.shape[0]} pixels; at least 16 on each side.")
        return imageio.from_array(pixels if spec.get("dtype") != "f32" else np.clip(pixels, 0.0, 1.0))
    if len(data) > MAX_REFERENCE_BYTES:
        raise InputError(f"request: the reference is over {MAX_REFERENCE_BYTES >> 20} MiB; send a smaller file.")
    with tempfile.TemporaryDirectory(prefix="photostyle-ref-") as tmp:
        ref_path = Path(tmp) / name
        ref_path.write_bytes(data)
        try:
            return imageio.read_image(ref_path, role="reference")  # its notes go back in reference.notes
        except PhotostyleError as exc:
            raise type(exc)(str(exc).replace(str(ref_path), name)) from exc


def run_job(job: Job, progress: Callable[[float, str], None] | None = None) -> tuple[dict[str, Any], bytes]:
    """Run the transfer (or the regions task); the response header and the result's bytes (in the request's dtype;
    the regions task answers the overlay as u8 RGB)."""
    if job.task == "regions":
        return run_regions(job, progress)
    t0 = time.perf_counter()
    masks = job.masks
    notes = list(job.warnings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        confidence = None
        if job.auto_masks:
            masks, confidence = _automatic_masks(job, notes)
        res = transfer(job.photo, job.reference, masks=masks, settings=job.settings, progress=progress)
    notes += [m for m in (str(w.message) for w in caught) if m not in notes]
    h, w = res.image.shape[:2]
    header = {
        "ok": True,
        "width": w,
        "height": h,
        "dtype": job.dtype,
        "byteorder": "little",
        "seconds": round(time.perf_counter() - t0, 3),
        "warnings": notes,
    }
    if confidence is not None:  # the plug-in shows the warnings: the confidence is the last of them
        header["match_confidence"] = confidence
        notes.append(confidence_note(confidence))
    return header, encode_pixels(res.image, job.dtype)


def _automatic_masks(job: Job, notes: list[str]) -> tuple[RegionPairs | None, float | None]:
    """Automatic masks (photostyle.regions, the same as the CLI's --masks auto): the region pairs to use and how
    well the photo's regions correspond to the reference's (the match confidence, 0..1)."""
    pairs, seg = _segment(job, notes)
    return pairs, (seg.match_confidence if seg is not None else None)


def _segment(job: Job, notes: list[str]) -> tuple[RegionPairs | None, Segmentation | None]:
    from photostyle.regions import prepare_masks  # its segmenters load on first use

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs, seg = prepare_masks(job.photo, job.reference, masks="auto", settings=job.settings)
    notes.extend(str(w.message) for w in caught)
    return pairs, seg


def run_regions(job: Job, progress: Callable[[float, str], None] | None = None) -> tuple[dict[str, Any], bytes]:
    """The automatic regions of the photo, each with the reference region it takes its look from (its partner),
    and the photo tinted by region with each region's id and name written in it (the overlay, u8 RGB): what
    ``photostyle masks`` writes, for a client to show before the transfer. Region ids are the ones a transfer of
    the same photo and reference uses, so ``region_strength`` can name them."""
    from photostyle.regions.overlay import overlay

    t0 = time.perf_counter()
    if progress:
        progress(0.0, "finding regions")
    notes = list(job.warnings)
    _, seg = _segment(job, notes)
    regions = []
    if seg is not None:
        for entry in seg.legend()["regions"]:
            if entry["partner"] is None:
                continue  # a reference-only region
            k = int(entry["id"])
            partner = seg.pairs.partner.get(k, -1)
            # regions without a name (the feature backend's) go by their overlay colour; a partner has the same
            colour = f"{entry['colour']} area" if entry["colour"] else f"area {k}"
            regions.append(
                {
                    "id": k,
                    "name": seg.photo_names.get(k) or colour,
                    "partner": "the whole reference"
                    if partner < 0
                    else "the reference's " + (seg.reference_names.get(partner) or colour),
                    "area_pct": entry["photo_area_pct"],
                    "confidence": entry.get("confidence"),
                }
            )
        labels = seg.pairs.photo
        names = {r["id"]: r["name"] for r in regions}
    else:
        labels = np.zeros(job.photo.pixels.shape[:2], np.int32)
        names = {}
    pic = overlay(job.photo.pixels, labels, names)
    if progress:
        progress(1.0, "done")
    h, w = pic.shape[:2]
    header = {
        "ok": True,
        "task": "regions",
        "width": w,
        "height": h,
        "dtype": "u8",
        "byteorder": "little",
        "regions": regions,
        "match_confidence": seg.match_confidence if seg is not None else None,
        "seconds": round(time.perf_counter() - t0, 3),
        "warnings": notes,
    }
    return header, np.ascontiguousarray(pic, np.uint8).tobytes()


def confidence_note(confidence: float) -> str:
    """The match confidence as a line for the user (GIMP shows it with the warnings)."""
    verdict = "poorly: the look may not suit this photo" if confidence < LOW_CONFIDENCE else "well"
    return f"region match confidence {confidence:.2f}: the photo's regions match the reference's {verdict}."


class Engine:
    """What stays alive between requests: the model, counters, and the lock that runs one job at a time."""

    def __init__(self, defaults: dict[str, Any], preload: bool = True) -> None:
        self.defaults = defaults
        self.lock = threading.Lock()  # one job at a time
        self.model_lock = threading.Lock()  # one model load at a time
        self.models: set[tuple[str, str]] = set()
        self.model_loads = 0
        self.jobs = 0
        self.busy = False
        self.last_active = time.monotonic()
        self.preload_error: str | None = None
        if preload:
            threading.Thread(target=self._preload, name="photostyle-preload", daemon=True).start()

    def _preload(self) -> None:
        try:  # under the model lock only: preview jobs (no model) need not wait for it
            self.model(Settings().with_(**{k: v for k, v in self.defaults.items() if v is not None}))
        except PhotostyleError as exc:
            self.preload_error = str(exc)

    def model(self, settings: Settings) -> float:
        """Make sure the VGG-19 for these settings is loaded (once per process); seconds spent loading."""
        from photostyle.runtime import pick_device  # torch: not needed by preview jobs
        from photostyle.vgg import default_weights_path, load_vgg

        device = pick_device(settings.device)
        key = (str(settings.vgg_weights or default_weights_path()), str(device))
        t0 = time.perf_counter()
        with self.model_lock:
            load_vgg(settings.vgg_weights, device)
            if key not in self.models:
                self.models.add(key)
                self.model_loads += 1
        return time.perf_counter() - t0

    def status(self) -> dict[str, Any]:
        return {
            "ok": True,
            "service": "photostyle",
            "version": __version__,
            "protocol": PROTOCOL,
            "pid": os.getpid(),
            "model_loads": self.model_loads,
            "jobs": self.jobs,
            "busy": self.busy,
            "preload_error": self.preload_error,
        }

    def run(self, job: Job, progress: Callable[[float, str], None]) -> tuple[dict[str, Any], bytes]:
        with self.lock:
            self.busy = True
            try:
                progress(0.0, "starting")
                best = job.settings.quality == "best" and job.task == "transfer"
                if best and not self.models:
                    progress(0.0, "loading the style model (once per session)")
                model_s = self.model(job.settings) if best else 0.0
                header, data = run_job(job, progress)
                header["model_seconds"] = round(model_s, 3)
                self.jobs += 1
                return header, data
            finally:
                self.busy = False
                self.last_active = time.monotonic()
