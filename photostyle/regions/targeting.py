"""Per-object targeting (``--only person|sky|<id>|mask.png``) and edge-aware soft mask borders.

A target is a set of photo pixels: the photo regions with a name (``person``, ``sky``), a region id as listed by
``photostyle masks``, or a black-and-white mask PNG (white = change). Its alpha is feathered inward and along the
photo's own edges with a guided filter (He, Sun and Tang 2013), then the styled image is blended in:

    out = alpha * styled + (1 - alpha) * photo,   alpha == 0 exactly outside the target,

and where alpha is 0 the photo's pixels are copied unchanged, so everything outside the target stays bit-identical
(in a lossless output format). The same guided filter gives the soft, edge-snapped region borders of the automatic
masks (``photostyle.regions.segment_pair``).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from photostyle.errors import MaskError
from photostyle.imaging.filters import guided_filter, kept_guided_filter
from photostyle.imaging.resize import resize_to
from photostyle.regions.labels import resize_labels, same_aspect
from photostyle.regions.segmentation import Segmentation

PathLike = str | os.PathLike[str]


SNAP_SUBSAMPLE = 2  # snapping fits its guided filter on the image shrunk 2x (He and Sun's fast guided filter)


def snap_labels(
    labels: np.ndarray, image: np.ndarray, radius: int | None = None, eps: float = 1e-3, rounds: int = 3
) -> np.ndarray:
    """A label map whose borders follow IMAGE's edges: each region's indicator is guided-filtered, then argmax;
    repeated (up to ROUNDS times) so a border a few pixels off an edge walks onto it. The filter keeps sums, so
    the last region's filtered indicator is one minus the others' (one filtering fewer)."""
    regions = np.unique(labels)
    out = labels.astype(np.int32, copy=True)
    if len(regions) < 2:
        return out
    h, w = labels.shape
    r = radius if radius is not None else max(2, round(max(h, w) / 80))
    gf = kept_guided_filter(image, r, eps, SNAP_SUBSAMPLE)
    for _ in range(rounds):
        soft = gf(np.stack([(out == k) for k in regions[:-1]], -1).astype(np.float32))
        soft = np.concatenate([soft, 1.0 - soft.sum(-1, keepdims=True)], -1)
        new = regions[np.argmax(soft, -1)].astype(np.int32)
        if np.array_equal(new, out):
            break
        out = new
    return out


def soft_region_masks(labels: np.ndarray, regions: Sequence[int], image: np.ndarray, radius: int | None = None,
                      eps: float = 1e-3) -> np.ndarray:  # fmt: skip
    """(K, H, W) float32 soft masks of REGIONS, feathered along IMAGE's edges, summing to 1 where regions cover."""
    h, w = labels.shape
    r = radius if radius is not None else max(1, round(max(h, w) / 100))
    onehot = np.stack([(labels == k) for k in regions], -1).astype(np.float32)
    soft = np.clip(guided_filter(image, onehot, r, eps), 0, None)
    soft /= np.maximum(soft.sum(-1, keepdims=True), 1e-6)
    return np.moveaxis(soft, -1, 0).astype(np.float32)


# ----------------------------------------------------------------------------------------------- targets
FEATHER = 0.01  # inward feather width, as a share of the photo's longest side
MAX_FILTER_SIZE = 2048  # the alpha is computed at most at this size, then upsampled
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".webp", ".jpg", ".jpeg")


@dataclass
class Target:
    """The pixels ``--only`` changes: a boolean mask at the photo's size, and what it was asked as."""

    mask: np.ndarray
    spec: str


def read_target_mask(path: PathLike, size: tuple[int, int]) -> np.ndarray:
    """A black-and-white mask PNG (white = change; or an alpha channel) as a boolean map of SIZE=(width, height)."""
    p = Path(path)
    if not p.is_file():
        raise MaskError(f"{p}: --only mask not found. Check the path.")
    try:
        with Image.open(p) as im:
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            rgba = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError) as exc:
        raise MaskError(f"{p}: cannot decode this --only mask ({exc}); save it as a PNG.") from exc
    alpha = rgba[..., 3]
    if has_alpha and alpha.min() < 255:
        sel = alpha >= 128
    else:
        rgb = rgba[..., :3].astype(np.int16)
        if np.abs(rgb - rgb.mean(-1, keepdims=True)).max() > 24:
            raise MaskError(
                f"{p}: an --only mask must be black and white (white = the pixels to change) or carry an alpha "
                "channel; this one has colours. To pick a region of a colour mask use --only with its id "
                "(photostyle masks lists them)."
            )
        sel = rgb.mean(-1) >= 128
    if not same_aspect((sel.shape[1], sel.shape[0]), size):
        raise MaskError(
            f"{p}: the --only mask is {sel.shape[1]}x{sel.shape[0]} but the photo is {size[0]}x{size[1]}, another "
            "shape; it would be stretched. Draw the mask on the photo at its size (or the same shape, scaled)."
        )
    if (sel.shape[1], sel.shape[0]) != tuple(size):
        warnings.warn(
            f"{p}: mask is {sel.shape[1]}x{sel.shape[0]} but the photo is {size[0]}x{size[1]}; resized.",
            stacklevel=2,
        )
        sel = resize_labels(sel.astype(np.int32), size).astype(bool)
    if not sel.any():
        raise MaskError(f"{p}: the --only mask selects no pixel; paint the pixels to change white.")
    return sel


def _is_mask_path(spec: str) -> bool:
    return spec.lower().endswith(MASK_SUFFIXES) or os.sep in spec or Path(spec).is_file()


def target_mask_files(spec: str | None) -> list[str]:
    """The parts of an ``--only`` SPEC that are mask files (the rest are region names and ids)."""
    return [s.strip() for s in str(spec or "").split(",") if s.strip() and _is_mask_path(s.strip())]


def resolve_target(
    spec: str, photo: np.ndarray, segmentation: Segmentation | None = None, *, source: str = "photo"
) -> Target:
    """``--only`` SPEC -> Target. SPEC: region names (person, sky ...), region ids from ``photostyle masks``, or a
    mask file; several joined by commas. SEGMENTATION (a photostyle.regions.Segmentation at the photo's size) is
    needed for names and ids."""
    h, w = photo.shape[:2]
    mask = np.zeros((h, w), bool)
    parts = [s.strip() for s in str(spec).split(",") if s.strip()]
    if not parts:
        raise MaskError("--only needs a region name (person, sky ...), a region id or a mask PNG.")
    for part in parts:
        if _is_mask_path(part):
            mask |= read_target_mask(part, (w, h))
            continue
        if segmentation is None:
            raise MaskError(f"--only {part}: region names and ids need masks; use --masks auto or give a mask PNG.")
        labels = segmentation.pairs.photo
        if labels.shape != (h, w):
            labels = resize_labels(labels, (w, h))
        ids = [int(k) for k in np.unique(labels)]
        names = segmentation.photo_names
        listing = ", ".join(f"{k}" + (f" ({names[k]})" if names.get(k) else "") for k in ids)
        if part.isdigit():
            k = int(part)
            if k not in ids:
                raise MaskError(f"{source}: it has no region {k}; its regions are {listing}.")
            mask |= labels == k
            continue
        name = part.lower()
        hits = [k for k in ids if names.get(k) == name]
        if not hits:
            hint = (
                " (people are found by mediapipe: install it, see scripts/setup.sh)"
                if name == "person" and not importlib.util.find_spec("mediapipe")
                else ""
            )
            raise MaskError(
                f"{source}: no {name} found in this photo{hint}, so --only {part} would change nothing. "
                f"Its regions are {listing}: pass one of these ids, or a black-and-white mask PNG "
                "(photostyle masks PHOTO REFERENCE -o DIR writes them to look at and edit)."
            )
        for k in hits:
            mask |= labels == k
    n = int(mask.sum())
    if n < 64:
        warnings.warn(
            f"--only {spec}: the target is only {n} pixel{'s' if n != 1 else ''}; it is styled without feathering.",
            stacklevel=2,
        )
    return Target(mask, str(spec))


def feather_alpha(mask: np.ndarray, photo: np.ndarray, width: float | None = None, eps: float = 1e-3) -> np.ndarray:
    """(H, W) float32 blend weight: 1 inside MASK, 0 exactly outside it, feathered inward along PHOTO's edges.

    Where the mask border lies on an edge of the photo the guided filter keeps the weight near 1 up to the border
    (a crisp cut along the object); in smooth areas it ramps from 0 at the border to 1 over WIDTH pixels (default
    1 % of the longest side, less for small objects) so no seam shows.
    """
    m = np.asarray(mask, bool)
    h, w = m.shape
    if not m.any():
        return np.zeros((h, w), np.float32)
    s = min(1.0, MAX_FILTER_SIZE / max(h, w))
    if s < 1.0:
        sh, sw = max(1, round(h * s)), max(1, round(w * s))
        small = resize_to(photo, (sh, sw), antialias=True)
        small_mask = resize_labels(m.astype(np.int32), (sw, sh)).astype(bool)
        a = feather_alpha(small_mask, small, None if width is None else width * s, eps)
        a = resize_to(a, (h, w))
        return np.where(m, np.clip(a, 0, 1), 0).astype(np.float32)
    inside = ndimage.distance_transform_edt(m)
    r = FEATHER * max(h, w) if width is None else float(width)
    r = max(1.0, min(r, float(inside.max())))
    ramp = np.clip(inside / r, 0, 1)
    if r <= 1.0:
        return m.astype(np.float32)
    g = guided_filter(photo, m.astype(np.float32), max(1, round(r)), eps)
    a = np.maximum(np.clip(2.0 * (g - 0.5), 0, 1), ramp)
    return np.where(m, a, 0).astype(np.float32)


def composite(photo: np.ndarray, styled: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """STYLED blended into PHOTO by ALPHA; where alpha is 0 the photo's own values are copied unchanged."""
    p = np.asarray(photo, np.float32)
    s = np.asarray(styled, np.float32)
    a = np.asarray(alpha, np.float32)[..., None]
    return np.where(a > 0, a * s + (1 - a) * p, p).astype(np.float32)


def needs_regions(spec: str | None) -> bool:
    """Whether ``--only`` SPEC names regions (names or ids) rather than only mask files."""
    if not spec:
        return False
    return any(not _is_mask_path(s.strip()) for s in str(spec).split(",") if s.strip())


def needs_names(spec: str | None) -> bool:
    """Whether ``--only`` SPEC holds region names (person, sky ...)."""
    if not spec:
        return False
    return any(not _is_mask_path(s.strip()) and not s.strip().isdigit() for s in str(spec).split(",") if s.strip())


def only_changes(
    spec: str,
    photo: np.ndarray,
    styled: np.ndarray,
    segmentation: Segmentation | None = None,
    *,
    source: str = "photo",
    output: PathLike | None = None,
) -> np.ndarray:
    """STYLED kept only on the ``--only`` target of PHOTO, feathered along the photo's edges; every other pixel is
    the photo's own value."""
    target = resolve_target(spec, photo, segmentation, source=source)
    if output is not None and Path(output).suffix.lower() in (".jpg", ".jpeg"):
        warnings.warn(
            f"{output}: JPEG re-encodes every pixel, so pixels outside --only {spec} cannot stay bit-identical; "
            "write .png or .tif for that.",
            stacklevel=2,
        )
    return composite(photo, styled, feather_alpha(target.mask, photo))
