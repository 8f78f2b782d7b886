"""Region masks: DPST's colour-code PNGs read into label maps, and the photo-to-reference region pairing.

A label map is an int32 array (H, W); label k >= 0 is a region. Deep Photo Style Transfer's masks use nine pure
colours (blue, green, black, white, red, yellow, grey, light blue, purple). Anti-aliased edge pixels close to a
code colour snap to it; pixels far from every code colour are filled from their nearest labelled neighbour when
they are a small share (edges, specks), and the mask is refused when they are a real share of the image.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from photostyle.errors import InputError, MaskError

PathLike = str | os.PathLike[str]

# DPST colour code, in the order of its label ids (as in shared/metrics/photoreal_metrics.py).
DPST_COLOURS: list[tuple[str, tuple[int, int, int]]] = [
    ("blue", (0, 0, 255)),
    ("green", (0, 255, 0)),
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("red", (255, 0, 0)),
    ("yellow", (255, 255, 0)),
    ("grey", (128, 128, 128)),
    ("light blue", (0, 255, 255)),
    ("purple", (255, 0, 255)),
]
SNAP_DISTANCE = 40  # max per-channel distance (0-255) at which a pixel snaps to a code colour
MAX_FOREIGN_SHARE = 0.05  # above this share of pixels far from every code colour, the mask is refused


def colour_name(label: int) -> str:
    return DPST_COLOURS[label][0] if 0 <= label < len(DPST_COLOURS) else f"region {label}"


def labels_from_colours(rgb: np.ndarray, *, source: str = "mask") -> np.ndarray:
    """DPST colour-code RGB array (uint8, H x W x 3) -> label map. Raises MaskError for foreign colours."""
    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, 2)
    a = a[..., :3].astype(np.int16)
    code = np.array([c for _, c in DPST_COLOURS], np.int16)  # (9, 3)
    dist = np.abs(a[:, :, None, :] - code[None, None]).max(-1)  # (H, W, 9) Chebyshev distance
    nearest = dist.argmin(-1).astype(np.int32)
    ok = dist.min(-1) <= SNAP_DISTANCE
    share = 1.0 - ok.mean()
    if share > MAX_FOREIGN_SHARE:
        bad = a[~ok].reshape(-1, 3)
        cols, counts = np.unique(bad, axis=0, return_counts=True)
        top = np.argsort(-counts)[:6]
        listed = ", ".join(f"rgb{tuple(int(v) for v in cols[i])}: {int(counts[i])} px" for i in top)
        names = ", ".join(n for n, _ in DPST_COLOURS)
        raise MaskError(
            f"{source}: {share:.1%} of the pixels match no colour of the mask code ({listed}"
            f"{', ...' if len(cols) > 6 else ''}). Paint regions only in these colours: {names}; "
            "or pass a grey-level label PNG (one grey value per region)."
        )
    # Anti-aliased edges between two code colours can land on a third one (a black|white edge looks grey):
    # pixels forming lines under 3 px wide (gone under a 3x3 opening) are refilled from their neighbours.
    for k in np.unique(nearest[ok]):
        region = (nearest == k) & ok
        ok &= ~(region & ~ndimage.binary_opening(region, np.ones((3, 3), bool)))
    if not ok.all():
        # fill the few foreign pixels (anti-aliasing, specks) from the nearest valid pixel
        idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
        nearest = nearest[tuple(idx)]
    return nearest


def read_mask(
    path: str | os.PathLike[str], size: tuple[int, int] | None = None, *, role: str = "mask", orientation: int = 1
) -> np.ndarray:
    """Read a mask PNG as a label map, resized (nearest neighbour, with a warning) to SIZE=(width, height).

    A mask whose aspect ratio differs from SIZE's by more than a pixel is refused (MaskError naming both sizes).
    ORIENTATION is the EXIF orientation of the mask's image (its pixels upright): a mask drawn on the unrotated
    pixels (its size SIZE turned by a quarter) gets that orientation applied.

    DPST colour masks and grey-level label maps (each grey value a region, e.g. GIMP channels exported as
    grey PNGs) are both accepted.
    """
    p = Path(path)
    if not p.is_file():
        raise MaskError(f"{p}: {role} not found. Check the path.")
    try:
        with Image.open(p) as im:
            im.load()
            grey = im.mode in ("L", "I", "I;16", "1", "P") and not _palette_has_colour(im)
            arr = np.asarray(im.convert("L" if grey else "RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise MaskError(f"{p}: cannot decode this {role} ({exc}); save it as a PNG.") from exc
    if grey:
        labels = labels_from_grey(arr, source=str(p))
    else:
        labels = labels_from_colours(arr, source=str(p))
    if size is not None and orientation in _TRANSPOSES and size[0] != size[1]:
        if same_aspect((labels.shape[1], labels.shape[0]), (size[1], size[0])):
            labels = _orient(labels, orientation)
    if size is not None and not same_aspect((labels.shape[1], labels.shape[0]), size):
        raise MaskError(
            f"{p}: {role} is {labels.shape[1]}x{labels.shape[0]} but its image is {size[0]}x{size[1]}, another "
            "shape; it would be stretched. Draw the mask on the image at its size (or the same shape, scaled)."
        )
    if size is not None and (labels.shape[1], labels.shape[0]) != tuple(size):
        warnings.warn(
            f"{p}: {role} is {labels.shape[1]}x{labels.shape[0]} but its image is {size[0]}x{size[1]}; "
            "resized with nearest neighbour. Draw masks at the image's size for exact edges.",
            stacklevel=2,
        )
        labels = resize_labels(labels, size)
    return labels


# EXIF orientations (2-8) -> the Pillow transpose that makes the pixels upright (as ImageOps.exif_transpose)
_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orient(labels: np.ndarray, orientation: int) -> np.ndarray:
    """LABELS drawn on a photo's stored (unrotated) pixels, turned upright like the photo (EXIF ORIENTATION)."""
    turned = Image.fromarray(labels.astype(np.int32)).transpose(_TRANSPOSES[orientation])
    return np.asarray(turned, np.int32)


def same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether sizes A and B (width, height) have the same aspect ratio to within a pixel of the smaller one: its
    height, or its width, a pixel off what the larger one's shape gives (DPST's in7 mask is 700x393 for a 700x394
    photo, a rounding, not another shape)."""
    (aw, ah), (bw, bh) = sorted((a, b), key=lambda s: s[0] * s[1])
    return abs(aw - ah * bw / bh) <= 1.0 + 1e-9 or abs(ah - aw * bh / bw) <= 1.0 + 1e-9


def _palette_has_colour(im: Image.Image) -> bool:
    if im.mode != "P":
        return False
    rgb = np.asarray(im.convert("RGB"))
    return bool(np.any(rgb[..., 0] != rgb[..., 1]) or np.any(rgb[..., 1] != rgb[..., 2]))


MIN_LEVEL_SHARE = 0.01  # a grey level holding at least this share of the pixels is a region of a grey mask


def labels_from_grey(arr: np.ndarray, *, source: str = "grey-level mask") -> np.ndarray:
    """Grey PNG -> label map.

    A grey-level label map (at most 64 grey values) has one region per grey value (ids in increasing grey). A
    grey mask with anti-aliased edges (a few levels holding the pixels, in-between values along the borders) snaps
    like a colour mask: when its levels are DPST code greys (black, white, grey) it is read in the DPST code (so
    it pairs with a colour mask of the same colours); otherwise each level is a region (ids in increasing grey)
    and the edge pixels are refilled from their neighbours. A photograph-like grey image is refused.
    """
    a = np.asarray(arr)
    values, inv, counts = np.unique(a.ravel(), return_inverse=True, return_counts=True)
    if len(values) <= 64:
        return inv.reshape(a.shape).astype(np.int32)
    greys = np.array([c[0] for _, c in DPST_COLOURS if c[0] == c[1] == c[2]], np.int16)
    near_code = np.abs(a.astype(np.int16)[..., None] - greys).min(-1) <= SNAP_DISTANCE // 4
    if 1.0 - near_code.mean() <= MAX_FOREIGN_SHARE:
        return labels_from_colours(a, source=source)
    levels = values[counts >= MIN_LEVEL_SHARE * a.size].astype(np.int16)
    if len(levels):
        dist = np.abs(a.astype(np.int16)[..., None] - levels)
        nearest = dist.argmin(-1).astype(np.int32)
        ok = dist.min(-1) <= SNAP_DISTANCE // 4
        if 1.0 - ok.mean() <= MAX_FOREIGN_SHARE:
            if not ok.all():
                idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
                nearest = nearest[tuple(idx)]
            return nearest
    raise MaskError(
        f"{source}: a grey image with {len(values)} grey values and no few levels that hold its pixels; it looks "
        "like a photograph, not a mask. Paint each region in one grey (or in the DPST colours) and save it as a PNG."
    )


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map to SIZE=(width, height)."""
    w, h = size
    ys = np.minimum(((np.arange(h) + 0.5) * labels.shape[0] / h).astype(int), labels.shape[0] - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * labels.shape[1] / w).astype(int), labels.shape[1] - 1)
    return labels[ys][:, xs]


def colours_from_labels(labels: np.ndarray) -> np.ndarray:
    """Label map -> DPST colour PNG array (labels beyond the nine code colours are not allowed)."""
    if labels.max() >= len(DPST_COLOURS):
        raise MaskError(f"{labels.max() + 1} regions do not fit DPST's {len(DPST_COLOURS)}-colour code.")
    code = np.array([c for _, c in DPST_COLOURS], np.uint8)
    return code[np.clip(labels, 0, None)]


@dataclass(frozen=True)
class Correspondence:
    """Photo superpixel i takes its colour from reference superpixels ``index[i]`` with weights ``weight[i]``
    (``photostyle.regions.correspondence`` finds them).

    photo_sp, reference_sp: the superpixel label maps (0..n-1), at the size the segmenter described the images;
    they are resized (nearest) to whatever size the colours are read at.
    """

    photo_sp: np.ndarray  # (h, w) int32
    reference_sp: np.ndarray  # (h', w') int32
    index: np.ndarray  # (n, NEIGHBOURS) int64, reference superpixels
    weight: np.ndarray  # (n, NEIGHBOURS) float64, each row sums to 1


@dataclass
class RegionPairs:
    """Label maps of photo and reference, and for each photo region the reference region it takes its look from.

    ``partner[k]`` is a reference label, or -1 for "the whole reference" (the fallback when the reference has no
    such region). ``confidence`` (automatic masks only) is how alike each photo region and its partner are, in
    [0, 1], and ``match_confidence`` their area-weighted mean (``photostyle.regions.confidence``); empty and None
    for the user's masks, which are trusted as drawn. ``drawn``: the regions are the user's masks (``make_pairs``),
    paired by the user, so best quality keeps more of the look's texture between them (``Settings.drawn_detail``);
    False for automatic masks and for no masks (the whole photo and the whole reference, which may be unrelated).
    ``correspondence`` (automatic masks only): each photo superpixel's counterparts in the reference, finer than
    the regions (``photostyle.regions.correspondence``); None otherwise.
    """

    photo: np.ndarray
    reference: np.ndarray
    partner: dict[int, int]
    confidence: dict[int, float] = field(default_factory=dict)
    match_confidence: float | None = None
    drawn: bool = False
    correspondence: Correspondence | None = None

    def photo_regions(self) -> list[int]:
        return [int(k) for k in np.unique(self.photo) if k >= 0]

    def resized(self, photo_hw: tuple[int, int], ref_hw: tuple[int, int]) -> RegionPairs:
        """The same pairing with both label maps resized (nearest neighbour) to (height, width) sizes."""
        p = self.photo if self.photo.shape == photo_hw else resize_labels(self.photo, photo_hw[::-1])
        r = self.reference if self.reference.shape == ref_hw else resize_labels(self.reference, ref_hw[::-1])
        return RegionPairs(
            p, r, dict(self.partner), dict(self.confidence), self.match_confidence, self.drawn, self.correspondence
        )


def pair_by_label(photo: np.ndarray, reference: np.ndarray, *, min_pixels: int = 16) -> RegionPairs:
    """Pair regions that share a label (same colour in DPST masks); others fall back to the whole reference."""
    partner: dict[int, int] = {}
    missing = []
    for k in np.unique(photo):
        if k < 0:
            continue
        if int((reference == k).sum()) >= min_pixels:
            partner[int(k)] = int(k)
        else:
            partner[int(k)] = -1
            missing.append(colour_name(int(k)))
    if missing:
        warnings.warn(
            f"photo region(s) {', '.join(missing)} have no counterpart in the reference mask: "
            "they take the look of the whole reference.",
            stacklevel=2,
        )
    return RegionPairs(photo, reference, partner)


def whole_image(photo_hw: tuple[int, int], ref_hw: tuple[int, int]) -> RegionPairs:
    """One region covering each image: a global transfer."""
    return RegionPairs(np.zeros(photo_hw, np.int32), np.zeros(ref_hw, np.int32), {0: 0})


def soft_masks(labels: np.ndarray, regions: list[int], sigma: float = 0.0) -> np.ndarray:
    """(K, H, W) float32 masks of the given regions, optionally blurred (sigma in pixels) and renormalised."""
    m = np.stack([(labels == k).astype(np.float32) for k in regions])
    if sigma > 0:
        m = np.stack([ndimage.gaussian_filter(x, sigma) for x in m])
        m /= np.maximum(m.sum(0, keepdims=True), 1e-6)
    return m


def make_pairs(
    photo_hw: tuple[int, int],
    ref_hw: tuple[int, int],
    photo_mask: np.ndarray | PathLike | None,
    reference_mask: np.ndarray | PathLike | None,
    *,
    orientations: tuple[int, int] = (1, 1),
) -> RegionPairs:
    """Label maps of both images (at their sizes) and the region pairing. ORIENTATIONS: the EXIF orientations of
    the photo and the reference (``Photo.orientation``), for masks drawn on their unrotated pixels."""
    if photo_mask is None and reference_mask is None:
        return whole_image(photo_hw, ref_hw)
    if photo_mask is None or reference_mask is None:
        raise InputError("masks come in pairs: give both --photo-mask and --reference-mask, or neither.")
    pl = _labels(photo_mask, photo_hw, "photo mask", orientations[0])
    rl = _labels(reference_mask, ref_hw, "reference mask", orientations[1])
    pairs = pair_by_label(pl, rl)
    pairs.drawn = True
    return pairs


def _labels(mask: np.ndarray | PathLike, hw: tuple[int, int], role: str, orientation: int = 1) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        lab = mask.astype(np.int32)
        if lab.shape != hw:
            warnings.warn(f"{role} is {lab.shape[::-1]} but its image is {hw[::-1]}; resized.", stacklevel=3)
            lab = resize_labels(lab, (hw[1], hw[0]))
        return lab
    return read_mask(mask, (hw[1], hw[0]), role=role, orientation=orientation)
