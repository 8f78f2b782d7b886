"""The photographer's controls: colour preservation, strength and per-region looks (Gatys et al. 2017).

Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural Style Transfer" (CVPR 2017):

* ``preserve_color='luminance'``: the transfer runs on luminance only. The photo's and the reference's YIQ Y
  (the paper's choice; Y = 0.299 R + 0.587 G + 0.114 B of the encoded RGB) are replicated to three channels for
  VGG, the reference's luminance first matched to the photo's mean and spread (so the transfer carries the
  reference's tonal shape, local contrast and texture, not a global brightening or darkening). The result's Y
  is recombined with the photo's own I and Q, so the photo's chroma is kept exactly; where the photo's chroma
  cannot be shown at the new luminance (out of the sRGB gamut) the luminance is limited, never the chroma.
* ``preserve_color='histogram'``: the reference's colours are first mapped to the photo's colour distribution
  (the paper's linear mean/covariance map, done here in CIELAB by ``colour.region_colour_transfer`` and region by
  region when there are masks), then the full transfer runs; the result has the reference's tonality and
  texture in colours close to the photo's.
* ``strength`` (0..1): 0 returns the photo bit-identical (the engine does not run), 1 the full result; in between
  the two are blended in Oklab (Ottosson 2020), a perceptual space whose hue lines are straight, so the blend
  does not drift in hue the way RGB or CIELAB blues do (toward purple). With ``luminance`` only Y is blended,
  so the photo's chroma stays exact at every strength.
* ``region_strength``: a strength per photo region (label id) over the global one. Where strengths differ the
  transition is feathered (``Settings.region_blur``) inside the stronger region, so a region at strength 0 is
  left bit-identical to the photo.
* ``region_reference``: a reference image for some photo regions (e.g. the sky from A, the rest from the main
  reference B). The references are tiled into one composite reference with a label per tile, and the region
  pairing points each such photo region at its tile: the engine's mask machinery does the rest.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from photostyle.errors import SettingsError
from photostyle.imaging.colourspaces import YIQ_TO_RGB, luminance, oklab_to_rgb, rgb_to_oklab, rgb_to_yiq
from photostyle.imaging.resize import resize_to
from photostyle.regions.labels import DPST_COLOURS, RegionPairs, colour_name, resize_labels
from photostyle.settings import Settings

PRESERVE_MODES = ("none", "luminance", "histogram")

# ------------------------------------------------------------------------------------------------ YIQ


def grey3(y: np.ndarray) -> np.ndarray:
    """A luminance map replicated to three channels (what VGG sees in luminance mode), float32."""
    return np.repeat(np.clip(y, 0.0, 1.0)[..., None], 3, axis=2).astype(np.float32)


def match_luminance(y: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Y moved affinely to TARGET's mean and standard deviation (Gatys et al. 2017), clipped to [0, 1]."""
    sd = float(y.std())
    scale = float(target.std()) / sd if sd > 1e-6 else 1.0
    return np.clip((y - y.mean()) * scale + target.mean(), 0.0, 1.0)


def with_luminance(y: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """PHOTO's I and Q with the luminance Y: float32 RGB in [0, 1].

    RGB = Y + d(I, Q) channel by channel, so for the photo's chroma the luminances that stay in gamut form the
    interval [max(-d), min(1 - d)] (it holds the photo's own Y). Y is clamped to it: the chroma is kept exactly.
    """
    iq = rgb_to_yiq(photo)[..., 1:]
    d = iq @ YIQ_TO_RGB[:, 1:].T  # (H, W, 3): each channel's offset from Y
    lo = (-d).max(-1)
    hi = (1.0 - d).min(-1)
    y = np.clip(np.minimum(np.maximum(y, lo), hi), 0.0, 1.0)
    return np.clip(y[..., None] + d, 0.0, 1.0).astype(np.float32)


def is_grey(rgb: np.ndarray, tol: float = 1.5 / 255) -> bool:
    """True when the image has no colour (all channels within TOL of each other)."""
    a = np.asarray(rgb)
    return bool(np.abs(a - a.mean(-1, keepdims=True)).max() <= tol)


def blend(
    photo: np.ndarray, result: np.ndarray, weight: float | np.ndarray, *, luminance_only: bool = False
) -> np.ndarray:
    """(1 - w) photo + w result in Oklab (or on YIQ Y only, keeping the photo's chroma); w scalar or (H, W).

    Where w is 0 the photo comes back bit-identical, where it is 1 the result.
    """
    w = np.asarray(weight, np.float64)
    if w.ndim == 0:
        if w <= 0:
            return np.array(photo, np.float32, copy=True)
        if w >= 1:
            return np.array(result, np.float32, copy=True)
    wc = np.clip(w, 0.0, 1.0)
    if luminance_only:
        y = (1 - wc) * luminance(photo) + wc * luminance(result)
        out = with_luminance(y, photo)
    else:
        wl = wc[..., None] if wc.ndim else wc
        out = oklab_to_rgb((1 - wl) * rgb_to_oklab(photo) + wl * rgb_to_oklab(result)).astype(np.float32)
    if w.ndim:  # exact ends of a strength map
        out = np.where((w <= 0)[..., None], photo, out)
        out = np.where((w >= 1)[..., None], result, out)
    return np.ascontiguousarray(out, dtype=np.float32)


def strength_map(labels: np.ndarray, strength: float, region_strength: dict[int, float], sigma: float) -> np.ndarray:
    """Per-pixel strength (H, W): REGION_STRENGTH where given, STRENGTH elsewhere, feathered over ~SIGMA pixels.

    The feather lies inside the stronger of two neighbouring regions (a minimum filter of the feather's radius
    before the Gaussian), so a region keeps its own strength exactly, a strength-0 region included.
    """
    table = {int(k): float(strength) for k in np.unique(labels)}
    table.update({int(k): float(v) for k, v in region_strength.items()})
    keys = np.array(sorted(table))
    vals = np.array([table[k] for k in keys])
    smap = vals[np.searchsorted(keys, labels)]
    radius = int(math.ceil(3 * sigma))
    if radius >= 1 and len(np.unique(vals)) > 1:
        smap = ndimage.minimum_filter(smap, size=2 * radius + 1, mode="nearest")
        smap = ndimage.gaussian_filter(smap, sigma, mode="nearest", radius=radius)
        smap[smap < 1e-6] = 0.0
        smap[smap > 1 - 1e-6] = 1.0
    return smap


# ------------------------------------------------------------------------------------------------ references


def match_reference_colours(reference: np.ndarray, photo: np.ndarray, pairs: RegionPairs) -> np.ndarray:
    """REFERENCE with its colours mapped to PHOTO's distribution (mean and covariance, CIELAB).

    With masks, each reference region that some photo regions take their look from is mapped to those regions'
    colours; a photo region that takes the whole reference makes the map global.
    """

    h, w = reference.shape[:2]
    pairs = pairs.resized(photo.shape[:2], (h, w))
    partners = {k: pairs.partner.get(k, -1) for k in pairs.photo_regions()}
    if len(partners) <= 1 or any(j < 0 for j in partners.values()):
        swapped = RegionPairs(np.zeros((h, w), np.int32), np.zeros(photo.shape[:2], np.int32), {0: 0})
    else:
        # the photo seen from the reference: photo pixels relabelled by the reference region they copy
        photo_by_ref = np.full(photo.shape[:2], -1, np.int32)
        for k, j in partners.items():
            photo_by_ref[pairs.photo == k] = j
        used = set(partners.values())
        partner = {int(j): (int(j) if j in used else -1) for j in np.unique(pairs.reference) if j >= 0}
        swapped = RegionPairs(pairs.reference, photo_by_ref, partner)
    return _map_twice(reference, photo, swapped)


def _map_twice(reference: np.ndarray, photo: np.ndarray, pairs: RegionPairs) -> np.ndarray:
    """The mean/covariance map, applied a second time to correct what the sRGB gamut clipping of the first bent
    (a dark, noisy sky mapped to a pale one otherwise keeps ~1.5x the photo's chroma spread). Hard region edges:
    each reference region takes exactly its photo regions' statistics (a seam in the reference is harmless)."""
    from photostyle.engine.colour import region_colour_transfer

    once = region_colour_transfer(
        reference, photo, pairs, soft_sigma=0.0, method="mean_cov", confine=False, max_gain=None
    )
    return region_colour_transfer(once, photo, pairs, soft_sigma=0.0, method="mean_cov", confine=False, max_gain=None)


def _grid(n: int, cell_hw: tuple[int, int]) -> tuple[int, int]:
    """Rows and columns of the most compact (smallest longest side) grid of N cells."""
    best = (n, 1)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        if max(rows * cell_hw[0], cols * cell_hw[1]) < max(best[0] * cell_hw[0], best[1] * cell_hw[1]):
            best = (rows, cols)
    return best


def compose_references(
    reference: np.ndarray, pairs: RegionPairs, region_references: dict[int, np.ndarray]
) -> tuple[np.ndarray, RegionPairs]:
    """One composite reference and the matching pairing, for a reference per photo region.

    Photo region k in REGION_REFERENCES takes its look from the whole of that image; the other regions keep their
    pairing with REFERENCE (a region that took the whole reference takes the whole main reference, not the
    composite). The images are tiled in a compact grid of cells of the main reference's size (each fitted inside its
    cell, keeping its aspect); unused cell space is labelled -1 and belongs to no region.
    """
    if not region_references:
        return reference, pairs
    rlab = pairs.reference
    if rlab.shape != reference.shape[:2]:
        rlab = resize_labels(rlab, (reference.shape[1], reference.shape[0]))
    next_label = int(max(rlab.max(initial=0), max(pairs.partner.values(), default=0))) + 1
    tiles: list[tuple[np.ndarray, np.ndarray]] = [(reference, rlab)]
    partner = dict(pairs.partner)
    others = [k for k in pairs.photo_regions() if k not in region_references]
    if any(partner.get(k, -1) < 0 for k in others):
        if len(np.unique(rlab)) == 1:
            whole = int(rlab.flat[0])
        else:  # the whole main reference as a tile of its own
            whole = next_label
            next_label += 1
            tiles.append((reference, np.full(rlab.shape, whole, np.int32)))
        for k in others:
            if partner.get(k, -1) < 0:
                partner[k] = whole
    for k, img in sorted(region_references.items()):
        tiles.append((img, np.full(img.shape[:2], next_label, np.int32)))
        partner[k] = next_label
        next_label += 1
    ch, cw = reference.shape[:2]
    rows, cols = _grid(len(tiles), (ch, cw))
    comp = np.full((rows * ch, cols * cw, 3), 0.5, np.float32)
    labels = np.full(comp.shape[:2], -1, np.int32)
    for i, (img, lab) in enumerate(tiles):
        s = min(ch / img.shape[0], cw / img.shape[1])
        hw = (max(1, min(ch, round(img.shape[0] * s))), max(1, min(cw, round(img.shape[1] * s))))
        if hw != img.shape[:2]:
            img = resize_to(img, hw, antialias=s < 1)
            lab = resize_labels(lab, (hw[1], hw[0]))
        y0, x0 = (i // cols) * ch, (i % cols) * cw
        comp[y0 : y0 + hw[0], x0 : x0 + hw[1]] = img
        labels[y0 : y0 + hw[0], x0 : x0 + hw[1]] = lab
    return comp, RegionPairs(pairs.photo, labels, partner, drawn=pairs.drawn)


# ------------------------------------------------------------------------------------------------ the pipeline hooks


def region_id(text: str) -> int:
    """A region given on the command line: a label id (0, 1, ...) or a DPST mask colour name ('blue', 'light blue')."""
    t = text.strip().lower()
    if t.lstrip("-").isdigit():
        return int(t)
    names = [n for n, _ in DPST_COLOURS]
    if t in names:
        return names.index(t)
    raise SettingsError(f"unknown region {text!r}: give a label id (0, 1, ...) or a mask colour ({', '.join(names)}).")


def _describe(regions: list[int]) -> str:
    return ", ".join(f"{k} ({colour_name(k)})" for k in regions)


def check_regions(settings: Settings, pairs: RegionPairs) -> None:
    """Raise SettingsError when region_strength or region_reference names a region the photo does not have."""
    have = pairs.photo_regions()
    for field_name, given in (
        ("region_strength", [k for k, _ in settings.region_strength]),
        ("region_reference", [k for k, _ in settings.region_reference]),
    ):
        if given and len(have) == 1:
            raise SettingsError(
                f"{field_name} needs a photo mask with regions (--photo-mask and --reference-mask, or masks=): "
                "without one the photo is a single region; use strength or the reference itself instead."
            )
        missing = [k for k in given if k not in have]
        if missing:
            raise SettingsError(
                f"{field_name} names region(s) {_describe(missing)} that the photo's mask does not have; "
                f"its regions are {_describe(have)}."
            )


@dataclass
class Prepared:
    """What the engine sees after the pre-processing, and what the post-processing needs."""

    photo: np.ndarray  # the engine's photo (luminance replicated to RGB in luminance mode)
    reference: np.ndarray  # the engine's reference (composite when regions have references of their own)
    pairs: RegionPairs
    luminance_only: bool  # recombine the result's Y with the photo's chroma
    weight: float | np.ndarray  # strength: scalar or a per-pixel map at the photo's size

    @property
    def skip(self) -> bool:
        """True when the strength is 0 everywhere: the photo is the result and the engine need not run."""
        return bool(np.all(np.asarray(self.weight) <= 0))


def prepare(
    photo: np.ndarray,
    reference: np.ndarray,
    pairs: RegionPairs,
    settings: Settings,
    region_references: dict[int, np.ndarray] | None = None,
) -> Prepared:
    """Pre-processing before the engine: region checks, per-region references, luminance or colour matching.

    REGION_REFERENCES: the images of ``settings.region_reference``, by photo region (read by the caller).
    """
    s = settings
    check_regions(s, pairs)
    hw = photo.shape[:2]
    if s.region_strength:
        labels = pairs.photo if pairs.photo.shape == hw else resize_labels(pairs.photo, (hw[1], hw[0]))
        weight: float | np.ndarray = strength_map(labels, s.strength, dict(s.region_strength), s.region_blur * max(hw))
    else:
        weight = float(s.strength)
    extra = dict(region_references or {})
    if np.all(np.asarray(weight) <= 0):
        return Prepared(photo, reference, pairs, False, weight)
    luminance_only = s.preserve_color == "luminance"
    if luminance_only:
        if is_grey(photo):
            warnings.warn(
                "preserve_color='luminance' on a grey-scale photo: it has no colour to preserve, so the result "
                "stays grey-scale (use preserve_color='none' to take the reference's colours). Going on.",
                stacklevel=3,
            )
        py = luminance(photo)
        photo = grey3(py)
        reference = grey3(match_luminance(luminance(reference), py))
        extra = {k: grey3(match_luminance(luminance(v), py)) for k, v in extra.items()}
    elif s.preserve_color == "histogram":
        reference = match_reference_colours(reference, photo, pairs)
        labels = pairs.photo if pairs.photo.shape == hw else resize_labels(pairs.photo, (hw[1], hw[0]))
        for k, v in extra.items():  # a region's own reference: mapped to that region's colours
            to_region = RegionPairs(np.zeros(v.shape[:2], np.int32), np.where(labels == k, 0, -1), {0: 0})
            extra[k] = _map_twice(v, photo, to_region)
    reference, pairs = compose_references(reference, pairs, extra)
    return Prepared(photo, reference, pairs, luminance_only, weight)


def finish(image: np.ndarray, photo: np.ndarray, prep: Prepared) -> np.ndarray:
    """Post-processing after upsampling: recombine with the photo's chroma, then blend by strength."""
    if prep.luminance_only:
        image = with_luminance(luminance(image), photo)
    return blend(photo, image, prep.weight, luminance_only=prep.luminance_only)
