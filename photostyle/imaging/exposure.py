"""Shoot normalisation: each photo's exposure and white balance estimated against the shoot's, in linear light.

Arrays in, arrays out; the album (``pipelines/album``) calls it once per shoot in planning and applies each photo's
correction before the look.

The regions that "mean the same in every photo" are tiles of a fixed grid over the frame (positions relative to the
frame, so sizes need not agree), matched across photos by position and chroma:

- ``tile_stats``: per tile, the mean *linear* RGB (sRGB decoded; RAW files are decoded with the sRGB curve as their
  only tone curve, so decoding it gives back the linear data); tiles with clipped or black pixels are left out.
- ``pair_offset``: for two photos, each tile pair votes for the white-balance shift (log R/G and log B/G; near-neutral
  tiles vote, or every matched tile when too few are neutral) and then for the exposure shift (log2 luminance, all
  well-exposed tiles, after the white-balance shift is taken out of each tile). Medians, not means: a red dress, a
  sunset or a person who moved changes a few tiles, not the estimate. Tiles whose change disagrees with the median
  (different content in the two photos) are dropped and the medians taken again; two photos are *matched* when most
  of their tiles agree, i.e. they show the same scene. Photos of different scenes are not compared: how bright a
  night scene "should" be next to a noon scene cannot be read off the pixels.
- ``shoot_corrections``: the pairwise offsets solved (least squares over the matched pairs) for each photo's own
  exposure and white balance; the common exposure and white balance of a group of matched photos is the median over
  its photos, and each photo's correction moves it there. A photo matched with no other is left as shot.
- ``apply_correction``: exposure gain times a diagonal (von Kries) white-balance matrix, in linear light, as one
  exact per-channel table for 8- and 16-bit sources (a few milliseconds per megapixel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from photostyle.imaging.colourspaces import linear_to_srgb, srgb_to_linear

Mode = Literal["exposure", "wb", "both"]
MODES: tuple[str, ...] = ("exposure", "wb", "both")

GRID = 10  # tiles per side
CLIP = 0.98  # sRGB value counted as clipped
CLIPPED_SHARE = 0.02  # a tile with more clipped pixels than this does not vote
BLACK = 0.004  # linear luminance below which a tile is too dark (noise, crushed blacks) to vote
NEUTRAL = 0.12  # a tile whose chroma (log R/G, log B/G distance from the photo's median) is below this is neutral
MIN_TILES = 12  # fewest agreeing tiles that make two photos a match
MIN_AGREE = 0.5  # share of the common tiles that must agree
TOL_EV = 0.2  # a tile agrees when its exposure change is within this of the median (EV) ...
TOL_WB = 0.06  # ... and its chroma change within this (natural log units)
MIN_NEUTRAL = 4  # fewer neutral tiles than this: every agreeing tile votes for white balance
WINDOW = 12  # each photo is compared with the next WINDOW photos of the shoot
REC709_Y = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True)
class TileStats:
    """One photo's tiles: mean linear RGB (n, 3) and which tiles may vote (n,)."""

    rgb: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class Correction:
    """Exposure (EV, log2 of the gain) and the diagonal white-balance gains (R, G, B; a grey keeps its luminance).

    MATCHED: how many other photos of the shoot this one was matched with (0: left as shot)."""

    ev: float = 0.0
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    matched: int = 0

    @property
    def gains(self) -> np.ndarray:
        """The linear-light per-channel gains: 2**ev times the white-balance diagonal."""
        return (2.0**self.ev) * np.asarray(self.wb, np.float64)

    @property
    def is_identity(self) -> bool:
        return self.ev == 0.0 and tuple(self.wb) == (1.0, 1.0, 1.0)

    def to_dict(self) -> dict[str, float | int | list[float]]:
        return {"ev": round(self.ev, 3), "wb": [round(float(g), 4) for g in self.wb], "matched": self.matched}


def tile_stats(srgb: np.ndarray, grid: int = GRID) -> TileStats:
    """The GRID x GRID tiles of a small sRGB image (H, W, 3) in [0, 1]: mean linear RGB and validity."""
    img = np.asarray(srgb, np.float32)
    h, w = img.shape[:2]
    if h < grid or w < grid:
        raise ValueError(f"image of {w}x{h} is smaller than the {grid}x{grid} tile grid")
    lin = srgb_to_linear(img)
    ys = np.minimum((np.arange(h) * grid) // h, grid - 1)
    xs = np.minimum((np.arange(w) * grid) // w, grid - 1)
    tile = (ys[:, None] * grid + xs[None, :]).ravel()
    n = grid * grid
    count = np.bincount(tile, minlength=n).astype(np.float64)
    rgb = np.stack([np.bincount(tile, lin[..., c].ravel(), minlength=n) for c in range(3)], axis=1) / count[:, None]
    clipped = np.bincount(tile, (img.max(axis=2) >= CLIP).ravel(), minlength=n) / count
    y = rgb @ REC709_Y
    valid = (clipped <= CLIPPED_SHARE) & (y >= BLACK) & (rgb.min(axis=1) > 0)
    return TileStats(rgb, valid)


def _log_chroma(rgb: np.ndarray) -> np.ndarray:
    """(n, 2) natural log of R/G and B/G."""
    lg = np.log(np.maximum(rgb, 1e-6))
    return np.stack([lg[:, 0] - lg[:, 1], lg[:, 2] - lg[:, 1]], axis=1)


def wb_gains(shift: np.ndarray) -> np.ndarray:
    """Diagonal gains (R, G, B) that move log R/G and log B/G by SHIFT, scaled so a grey keeps its luminance."""
    g = np.array([np.exp(shift[0]), 1.0, np.exp(shift[1])])
    return g / float(g @ REC709_Y)


def _neutral(c: np.ndarray, valid: np.ndarray) -> np.ndarray:
    centre = np.median(c[valid], axis=0)
    return np.linalg.norm(c - centre, axis=1) < NEUTRAL


@dataclass(frozen=True)
class PairOffset:
    """Photo B relative to photo A: white-balance shift (log R/G, log B/G), exposure shift (EV), agreeing tiles."""

    wb: np.ndarray
    ev: float
    tiles: int


def pair_offset(a: TileStats, b: TileStats) -> PairOffset | None:
    """How B's exposure and white balance differ from A's, from the tiles that mean the same in both; None when
    the two photos do not show the same scene (too few tiles agree)."""
    both = a.valid & b.valid
    if both.sum() < MIN_TILES:
        return None
    ca, cb = _log_chroma(a.rgb), _log_chroma(b.rgb)
    neutral = _neutral(ca, a.valid) & _neutral(cb, b.valid)
    agree = both.copy()
    for _ in range(2):  # estimate, drop the tiles that disagree, estimate again on the agreeing ones
        votes = agree & neutral if (agree & neutral).sum() >= MIN_NEUTRAL else agree
        wb = np.median(cb[votes] - ca[votes], axis=0)
        # each tile of A as it would look under B's white balance: what is left is the exposure change
        ya = (a.rgb * wb_gains(wb)) @ REC709_Y
        dev = np.log2(np.maximum(b.rgb @ REC709_Y, 1e-9)) - np.log2(np.maximum(ya, 1e-9))
        ev = float(np.median(dev[agree]))
        ok = (np.abs(dev - ev) <= TOL_EV) & (np.linalg.norm(cb - ca - wb, axis=1) <= TOL_WB)
        agree = both & ok
        if agree.sum() < max(MIN_TILES, MIN_AGREE * both.sum()):
            return None
    return PairOffset(wb, ev, int(agree.sum()))


def shoot_corrections(
    stats: Sequence[TileStats | None], mode: Mode = "both", *, window: int = WINDOW
) -> list[Correction]:
    """Each photo's correction to the common exposure and white balance of the photos it matches.

    STATS: one per photo in shooting order (None: unreadable, left as shot). Each photo is compared with the next
    WINDOW photos (a shoot's frames of one scene are taken together; this keeps a 500-photo shoot to a few thousand
    comparisons), and matched pairs (``pair_offset``) link photos into groups; each
    connected group's per-photo exposures and white balances are solved by weighted least squares over its matched
    pairs, and each photo is moved to the group's median. MODE limits the correction to exposure or white balance.
    """
    n = len(stats)
    edges: list[tuple[int, int, PairOffset]] = []
    for i in range(n):
        for j in range(i + 1, min(n, i + 1 + window)):
            si, sj = stats[i], stats[j]
            if si is not None and sj is not None:
                off = pair_offset(si, sj)
                if off is not None:
                    edges.append((i, j, off))
    parent = list(range(n))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j, _ in edges:
        parent[root(i)] = root(j)
    matched = [0] * n
    for i, j, _ in edges:
        matched[i] += 1
        matched[j] += 1
    out = [Correction() for _ in range(n)]
    groups: dict[int, list[int]] = {}
    for k in range(n):
        groups.setdefault(root(k), []).append(k)
    for members in groups.values():
        if len(members) < 2:
            continue
        index = {k: m for m, k in enumerate(members)}
        own = [(i, j, e) for i, j, e in edges if i in index]
        # unknowns: each member's (ev, log R/G, log B/G); rows: x_j - x_i = offset, weighted by agreeing tiles,
        # plus one row fixing the first member (the gauge; the median is taken afterwards)
        rows = np.zeros((len(own) + 1, len(members)))
        rhs = np.zeros((len(own) + 1, 3))
        for r, (i, j, e) in enumerate(own):
            w = np.sqrt(e.tiles)
            rows[r, index[i]], rows[r, index[j]] = -w, w
            rhs[r] = w * np.array([e.ev, e.wb[0], e.wb[1]])
        rows[-1, 0] = 1.0
        x = np.linalg.lstsq(rows, rhs, rcond=None)[0]  # (members, 3)
        shift = np.median(x, axis=0) - x  # to the group's median
        for k, m in index.items():
            ev = float(shift[m, 0]) if mode in ("exposure", "both") else 0.0
            wb = wb_gains(shift[m, 1:]) if mode in ("wb", "both") else np.ones(3)
            out[k] = Correction(round(ev, 3), tuple(round(float(g), 4) for g in wb), matched[k])  # type: ignore[arg-type]
    return out


def apply_correction(srgb: np.ndarray, correction: Correction) -> np.ndarray:
    """SRGB (H, W, 3) float32 in [0, 1] with CORRECTION applied in linear light (values past white clip to white).

    Each channel's change is a function of that channel alone, so it is one 65536-entry table per channel, exact
    for 8- and 16-bit sources."""
    img = np.asarray(srgb, np.float32)
    if correction.is_identity:
        return img
    levels = np.arange(65536, dtype=np.float64) / 65535.0
    lin = srgb_to_linear(levels)
    index = np.round(np.clip(img, 0.0, 1.0) * 65535.0).astype(np.uint16)
    out = np.empty_like(img)
    for c, gain in enumerate(correction.gains):
        table = np.clip(linear_to_srgb(np.minimum(lin * gain, 1.0)), 0.0, 1.0).astype(np.float32)
        out[..., c] = table[index[..., c]]
    return out


def drift(srgb: np.ndarray, ev: float, wb: Sequence[float]) -> np.ndarray:
    """SRGB with a camera's exposure and white-balance drift simulated in linear light: gain 2**EV times WB (R, G, B),
    clipped at white. The test and bench shoots are made with it."""
    lin = srgb_to_linear(np.asarray(srgb, np.float64)) * (2.0**ev) * np.asarray(wb, np.float64)
    return np.clip(linear_to_srgb(np.minimum(lin, 1.0)), 0.0, 1.0).astype(np.float32)
