"""The files of ``photostyle masks``: the label maps as DPST colour PNGs, legend.json and overlays to look at."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from photostyle.errors import OutputError
from photostyle.imageio import write_bytes_atomic
from photostyle.imageio.guard import check_folder_writable, check_not_inputs
from photostyle.regions.labels import colours_from_labels, resize_labels
from photostyle.regions.segmentation import MAX_REGIONS, PathLike, Segmentation


def overlay(image: np.ndarray, labels: np.ndarray, names: dict[int, str]) -> np.ndarray:
    """IMAGE (float RGB) tinted with the DPST colour of each region, borders drawn, each region's id and name
    written inside it: uint8 RGB."""
    lab = labels if labels.shape == image.shape[:2] else resize_labels(labels, (image.shape[1], image.shape[0]))
    tint = colours_from_labels(lab).astype(np.float32) / 255.0
    out = 0.55 * np.asarray(image, np.float32) + 0.45 * tint
    border = np.zeros(lab.shape, bool)
    border[:-1] |= lab[:-1] != lab[1:]
    border[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    grow = max(lab.shape) // 600  # thicker borders on big images; scipy reads iterations=0 as "until nothing changes"
    if grow:
        border = ndimage.binary_dilation(border, iterations=grow)
    out[border] = (1.0, 1.0, 1.0)
    pic = Image.fromarray(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pic)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=max(12, max(lab.shape) // 45))
    except (TypeError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    for k in np.unique(lab):
        inside = ndimage.distance_transform_edt(np.pad(lab == k, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(inside)), inside.shape)
        text = f"{k} {names.get(int(k), '')}".strip()
        draw.text((int(x), int(y)), text, fill=(255, 255, 255), font=font, anchor="mm", stroke_width=2,
                  stroke_fill=(0, 0, 0))  # fmt: skip
    return np.asarray(pic)


MASK_FILES = ("photo_labels.png", "reference_labels.png", "legend.json", "photo_overlay.png", "reference_overlay.png")


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def check_mask_outputs(out_dir: PathLike, *, overwrite: bool = False, inputs: Sequence[PathLike] = ()) -> list[Path]:
    """The paths ``write_masks`` writes into OUT_DIR, checked before any work: OUT_DIR is a folder (or can be made)
    that can be written, none of the files is one of INPUTS (refused even with OVERWRITE), and none exists unless
    OVERWRITE. Raises OutputError with one line naming the path and the fix."""
    d = Path(out_dir)
    if d.exists() and not d.is_dir():
        raise OutputError(f"{d}: exists and is not a folder; choose another -o.")
    paths = [d / n for n in MASK_FILES]
    check_not_inputs(paths, [(f"the input {i}", i) for i in inputs], fix="Choose another -o folder.")
    clash = [p.name for p in paths if p.exists() or p.is_symlink()]
    if clash and not overwrite:
        raise OutputError(f"{d}: already holds {', '.join(clash)}; pass --overwrite to replace them.")
    check_folder_writable(d, what="masks output", create=True)
    return paths


def write_masks(
    seg: Segmentation, photo: np.ndarray, reference: np.ndarray, out_dir: PathLike, *, overwrite: bool = False
) -> list[Path]:
    """Write the label maps (DPST colour PNGs), legend.json and the two overlays into OUT_DIR."""
    d = Path(out_dir)
    paths = check_mask_outputs(d, overwrite=overwrite)
    d.mkdir(parents=True, exist_ok=True)
    legend = seg.legend()
    legend["photo_size"] = [int(photo.shape[1]), int(photo.shape[0])]
    legend["reference_size"] = [int(reference.shape[1]), int(reference.shape[0])]
    names = {k: seg.name(k) for k in range(MAX_REGIONS)}
    blobs = [
        _png(colours_from_labels(seg.pairs.photo)),
        _png(colours_from_labels(seg.pairs.reference)),
        (json.dumps(legend, indent=2) + "\n").encode(),
        _png(overlay(photo, seg.pairs.photo, names)),
        _png(overlay(reference, seg.pairs.reference, names)),
    ]
    for p, blob in zip(paths, blobs, strict=True):
        write_bytes_atomic(p, blob, overwrite=True)  # clashes were refused above unless overwrite
    return paths
