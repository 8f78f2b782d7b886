"""Planning: which photos a run styles, skips or refuses, decided before any work; writes nothing."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from photostyle import __version__, imageio
from photostyle.errors import InputError, OutputError, SettingsError
from photostyle.imageio import Photo
from photostyle.imaging.exposure import Mode
from pipelines.album.checks import check_not_inputs, check_writable, needed_bytes
from pipelines.album.exports import export_names
from pipelines.album.manifest import read_manifest, settings_key, sha256_file
from pipelines.album.normalize import MODES, normalise_shoot
from pipelines.album.options import (
    MANIFEST_NAME,
    MASK_MODES,
    WRITING,
    AlbumOptions,
    Entry,
    PhotoTask,
    error_entry,
)


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


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


@dataclass
class Plan:
    tasks: list[PhotoTask]
    kept: list[Entry]  # done in an earlier run and up to date
    refused: list[Entry]  # outputs that exist and may not be replaced
    actions: list[tuple[str, str, str]]
    reference: Photo
    run_fields: Entry
    look: str
    normalize_seconds: float = 0.0  # the --normalize statistics pass


def _up_to_date(
    prev: Entry | None, src: Path, out: Path, run_fields: Entry, normalize: Entry | None = None
) -> tuple[bool, str]:
    if prev is None:
        return False, "no finished entry for it in the manifest"
    if prev.get("status") != "done":
        return False, "the manifest records it as failed"
    if prev.get("reference_sha256") != run_fields["reference_sha256"]:
        return False, "made with another reference"
    if settings_key(prev.get("settings", {})) != settings_key(run_fields["settings"]):
        return False, "made with other settings"
    if prev.get("normalize") != normalize:
        return False, "made with another --normalize correction"
    if prev.get("masks", "none") != run_fields["masks"]:  # (manifests before --masks: the album had no masks)
        return False, "made with other masks"
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
    if o.export_look is not None:
        look_dir = Path(o.export_look)
        if (look_dir.exists() or look_dir.is_symlink()) and not look_dir.is_dir():
            raise OutputError(
                f"{look_dir}: is a file, not a folder; give --export-look a folder (it is made if missing)."
            )
        if _is_inside(look_dir, shoot):
            raise OutputError(f"{look_dir}: is inside the shoot folder {shoot}; write the exports somewhere else.")
    if o.masks not in MASK_MODES:
        raise SettingsError(f"--masks must be one of {', '.join(MASK_MODES)}, not {o.masks!r}.")
    for name, given in (
        ("region-strength", o.settings.region_strength),
        ("region-reference", o.settings.region_reference),
    ):
        if given and o.masks == "none":
            raise SettingsError(
                f"--{name}: with --masks none the album styles every photo as one region, so there is no region "
                "to set; drop it, or use photostyle transfer with --photo-mask/--reference-mask for per-region "
                "controls."
            )
        if given:
            raise SettingsError(
                f"--{name}: the album's masks are found anew in every photo, so a region id means nothing "
                "across the shoot; use photostyle transfer with --photo-mask/--reference-mask for per-region controls."
            )
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder; choose an output folder.")
    if o.normalize is not None and o.normalize not in MODES:
        raise SettingsError(f"--normalize must be one of {', '.join(MODES)}, not {o.normalize!r}.")
    if not 1 <= o.jpeg_quality <= 100:
        raise SettingsError(f"JPEG quality must be between 1 and 100, not {o.jpeg_quality}.")
    reference = imageio.read_image(o.reference, role="reference")
    look = o.look or Path(o.reference).stem
    run_fields: Entry = {
        "photostyle_version": __version__,  # provenance only: a new version does not redo finished photos
        "reference": str(Path(o.reference).resolve()),
        "reference_sha256": sha256_file(o.reference),
        "settings": json.loads(json.dumps(o.settings.to_dict())),
        "masks": o.masks,
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
    outputs = [out_dir / n for n in names]
    if o.export_lut is not None:
        outputs.append(Path(o.export_lut))
    if o.export_look is not None:
        outputs += [Path(o.export_look) / n for n in export_names(look).values()]
    check_not_inputs(outputs, photos, Path(o.reference))
    previous = read_manifest(out_dir / MANIFEST_NAME, warn=True)
    t_norm = time.perf_counter()
    corrections: list[Entry | None] = [None] * len(names)
    if o.normalize:  # one pass over the whole shoot (done photos too: each correction depends on the others)
        weights = o.settings.vgg_weights
        corrections = list(normalise_shoot(list(names.values()), cast(Mode, o.normalize), vgg_weights=weights))
    normalize_seconds = time.perf_counter() - t_norm if o.normalize else 0.0
    tasks, kept, refused, actions = [], [], [], []
    for (name, p), correction in zip(names.items(), corrections, strict=True):
        out = out_dir / name
        bit_depth = 16 if Path(name).suffix.lower() in {".tif", ".tiff"} else None
        rel = p.relative_to(shoot).as_posix()
        prev = previous.get(name)
        try:
            ok, why = _up_to_date(prev, p, out, run_fields, correction)
        except (TypeError, AttributeError, ValueError):  # a damaged entry: check the photo again
            ok, why = False, "its manifest entry is damaged"
        # this job began writing it (and was stopped before recording it): its own file, replaced freely
        own = prev is not None and prev.get("status") == WRITING and prev.get("input") == rel
        replace = o.overwrite or o.redo or own
        task = PhotoTask(
            input=str(p.resolve()),
            name=rel,
            output=str(out_dir.resolve() / name),
            output_name=name,
            out_dir=str(out_dir.resolve()),
            bit_depth=bit_depth,
            overwrite=out.exists() and replace,
            jpeg_quality=o.jpeg_quality,
            thumbnails=o.contact_sheet,
            normalize=correction,
        )
        if ok and not o.redo:
            kept.append(previous[name])
            actions.append(("skip", rel, name))
        elif out.exists() and not replace:
            e = error_entry(
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
    if not o.dry_run:
        needed = needed_bytes((Path(t.input) for t in tasks), tiff=o.tiff)
        check_writable(out_dir, o.export_lut, needed, export_look=o.export_look)
    return Plan(tasks, kept, refused, actions, reference, run_fields, look, normalize_seconds)
