"""The library entry point: ``photostyle.transfer(photo, reference, masks=..., settings=...) -> image``.

Stages, each a module with one entry point: decode (imageio.read_image), masks (masks.read_mask /
pair_by_label), transfer and regularise (dpst.DPST), upsample (upsample.upsample), encode (imageio.write_image).
The CLI, the GIMP service and the album job all call ``transfer`` (or ``transfer_files``).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photostyle import imageio
from photostyle.imageio.guard import check_folder_writable, check_free_space, check_not_input, estimated_bytes
from photostyle.regions.labels import RegionPairs, colour_name, make_pairs, whole_image
from photostyle.settings import Settings

Progress = Callable[[float, str], None]
PathLike = str | os.PathLike[str]


@dataclass
class Result:
    """The styled image at the photo's size, with what was measured on the way."""

    image: np.ndarray  # float32 (H, W, 3) in [0, 1]
    seconds: float
    small_photo: np.ndarray | None = None
    small_result: np.ndarray | None = None
    trace: list[dict[str, float]] = field(default_factory=list)
    skin: np.ndarray | None = None  # the skin mask the guard used ((H, W) in [0, 1]), None when none was looked for


def read_region_references(settings: Settings) -> dict[int, np.ndarray]:
    """The images of ``settings.region_reference`` (photo region -> its own reference), read from their files."""
    return {
        k: imageio.read_image(Path(path), role=f"reference for region {k} ({colour_name(k)})").pixels
        for k, path in settings.region_reference
    }


def transfer(
    photo: np.ndarray | imageio.Photo,
    reference: np.ndarray | imageio.Photo,
    *,
    masks: RegionPairs | tuple[np.ndarray | PathLike, np.ndarray | PathLike] | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    region_references: dict[int, np.ndarray] | None = None,
) -> Result:
    """Re-render PHOTO in REFERENCE's look. Returns a Result whose image has the photo's size.

    masks: None (one global region), a (photo_mask, reference_mask) pair of label arrays or mask paths, or a
    RegionPairs. settings: a Settings (defaults: best quality). region_references: the images of
    ``settings.region_reference`` when already read (else they are read from their files).
    """
    from photostyle.engine.upsample import keep_edges, keep_grain, upsample
    from photostyle.imaging.resize import resize_longest

    s = settings or Settings()
    t0 = time.perf_counter()
    p = imageio.as_pixels(photo)
    r = imageio.as_pixels(reference)
    if isinstance(masks, RegionPairs):
        pairs = masks
    elif masks is None:
        pairs = whole_image(p.shape[:2], r.shape[:2])
    else:
        pairs = make_pairs(p.shape[:2], r.shape[:2], masks[0], masks[1])
    from photostyle.engine.controls import finish, prepare

    refs = read_region_references(s) if region_references is None else region_references
    prep = prepare(p, r, pairs, s, refs)  # preserve_color, region references, strength
    if prep.skip:  # strength 0 everywhere: the photo itself, bit-identical
        if progress:
            progress(1.0, "done (strength 0)")
        return Result(p.copy(), time.perf_counter() - t0)
    photo_px, p, r, pairs = p, prep.photo, prep.reference, prep.pairs
    if max(r.shape[:2]) < min(s.scales[-1], max(p.shape[:2])) // 2:
        warnings.warn(
            f"the reference is only {r.shape[1]}x{r.shape[0]}: much smaller than the working size "
            f"{s.scales[-1]}; its look is taken from an enlarged copy. Use a larger reference for finer texture.",
            stacklevel=2,
        )
    if s.quality == "preview":
        from photostyle.engine.colour import region_colour_transfer

        small = resize_longest(p, s.scales[-1])
        out_small = region_colour_transfer(small, resize_longest(r, s.scales[-1]), pairs)
    else:
        from photostyle.engine.dpst import DPST  # torch, VGG and the matting Laplacian: only for best quality
        from photostyle.runtime import pick_device, set_threads
        from photostyle.vgg import load_vgg

        set_threads(s.threads)
        device = pick_device(s.device)
        engine = DPST(load_vgg(s.vgg_weights, device), s, device)
        # the engine's own 100 % is not the end: the skin guard (0.99) and "done" (1.0) follow
        stages = (lambda f, m: progress(min(f, 0.98), m)) if progress else None
        small, out_small = engine.run(p, r, pairs, stages)

    # the look's colours at the photo's size, none of the photo's edges turned over; in the photo's smooth areas,
    # its own grain (neither waxed nor lifted)
    out_small = keep_edges(small, out_small)
    image = keep_grain(p, upsample(small, out_small, p, s.upsample_radius, s.upsample_eps))
    image = finish(image, photo_px, prep)
    skin = None
    if s.skin != "free":
        from photostyle.engine.skin import guard_skin
        from photostyle.regions.skin import skin_mask

        if progress:
            progress(0.99, "looking for skin")
        skin = skin_mask(photo_px)
        if skin is not None and progress:
            progress(0.995, "protecting skin tones")
        image = guard_skin(photo_px, image, skin)
    if progress:
        progress(1.0, "done")
    trace = engine.trace if s.quality != "preview" else []
    return Result(image, time.perf_counter() - t0, small, out_small, trace, skin)


def transfer_files(
    photo: PathLike,
    reference: PathLike,
    output: PathLike,
    *,
    photo_mask: PathLike | None = None,
    reference_mask: PathLike | None = None,
    masks: str = "auto",
    only: str | None = None,
    settings: Settings | None = None,
    overwrite: bool = False,
    bit_depth: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Read, transfer and write atomically; the output keeps the photo's size, EXIF and ICC profile.

    masks: 'auto' (automatic regions, photostyle.regions), 'features', 'detectron2' or 'none' (global); the
    user's photo_mask/reference_mask take precedence. only: change only these pixels (photostyle.targeting).
    """
    from photostyle.regions import prepare_masks
    from photostyle.regions.targeting import read_target_mask, target_mask_files

    s = settings or Settings()
    inputs: list[tuple[str, PathLike | None]] = [("the photo", photo), ("the reference", reference)]
    inputs += [("the photo mask", photo_mask), ("the reference mask", reference_mask)]
    inputs += [(f"the reference of region {k}", path) for k, path in s.region_reference]
    inputs += [("the --only mask", f) for f in target_mask_files(only)]
    check_not_input(output, inputs)  # before anything else: never write over what the run reads
    out = imageio.check_output_path(output, overwrite=overwrite)
    check_folder_writable(out.parent)
    ph = imageio.read_image(photo, role="photo")
    ref = imageio.read_image(reference, role="reference")
    references = read_region_references(s)
    w, h = ph.size
    for f in target_mask_files(only):
        read_target_mask(f, (w, h))
    check_free_space(out.parent, estimated_bytes(w, h, out.suffix, bit_depth or ph.bit_depth), what=str(out.name))
    if progress and masks != "none" and photo_mask is None:
        progress(0.0, "finding regions")
    pairs, seg = prepare_masks(
        ph, ref, masks=masks, photo_mask=photo_mask, reference_mask=reference_mask, only=only, settings=settings
    )
    res = transfer(ph, ref, masks=pairs, settings=s, progress=progress, region_references=references)
    image = res.image
    if only:
        from photostyle.regions.targeting import only_changes

        image = only_changes(only, ph.pixels, image, seg, source=str(photo), output=out)
    return imageio.write_image(out, image, like=ph, bit_depth=bit_depth, overwrite=overwrite)


# ------------------------------------------------------------------------------------------------ long-lived workers
def load_model(settings: Settings | None = None) -> None:
    """Prepare this process for ``transfer`` with SETTINGS once, before the first photo: its CPU threads (when
    ``settings.threads`` is given) and, for best quality, VGG-19 on its device. ``transfer`` reuses the loaded model
    (one per process, weights and device), so a worker styling many photos (the album job) pays for it once."""
    s = settings or Settings()
    from photostyle.runtime import pick_device, set_threads
    from photostyle.vgg import load_vgg

    if s.threads:
        set_threads(s.threads)
    if s.quality != "preview":
        load_vgg(s.vgg_weights, pick_device(s.device))
