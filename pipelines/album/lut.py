"""The global colour part of a look as a 3D LUT (.cube), for Lightroom/ACR profiles, darktable, Resolve and GIMP.

The look's global colour part is the affine map in CIELAB that carries the shoot's colour distribution (mean and
covariance, pooled over every photo of the album at the engine's working size) onto the reference's: the same
Monge-Kantorovich map that ``photostyle.colour`` uses for one region (the preview mode and the optimisation's
start). Sampled on an N x N x N grid of sRGB-encoded input colours it becomes a .cube file; what the engine adds
on top (local, region and texture changes) cannot be expressed as a LUT and is left out.

The album job stores each photo's Lab statistics in its manifest, so the LUT can be (re)made from a finished or
resumed run without decoding the photos again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from skimage import color

from photostyle.errors import InputError, SettingsError
from photostyle.imageio.atomic import write_text_atomic
from photostyle.imaging.colourspaces import lab_to_srgb
from photostyle.imaging.transport import gaussian_map

ColourStats = dict[str, Any]  # {"n": int, "mean": [L, a, b], "cov": 3x3 nested list}
_EPS = 1e-3  # covariance regulariser, as in photostyle.colour


def colour_stats(pixels: np.ndarray) -> ColourStats:
    """Sample count, mean and covariance of PIXELS (float RGB in [0, 1]) in CIELAB."""
    lab = color.rgb2lab(np.clip(pixels, 0.0, 1.0)).reshape(-1, 3).astype(np.float64)
    return {"n": int(len(lab)), "mean": lab.mean(0).tolist(), "cov": np.cov(lab.T).tolist()}


def pool_stats(stats: Iterable[Mapping[str, Any]]) -> ColourStats:
    """The statistics of the union of the samples behind STATS (each {"n", "mean", "cov"}, covariance with n-1)."""
    items = [s for s in stats if s and int(s["n"]) > 1]
    if not items:
        raise InputError("no colour statistics to build a LUT from: no photo of the album was styled.")
    n = np.array([int(s["n"]) for s in items], np.float64)
    means = np.array([s["mean"] for s in items], np.float64)
    covs = np.array([s["cov"] for s in items], np.float64)
    total = n.sum()
    mean = (n[:, None] * means).sum(0) / total
    scatter = ((n - 1)[:, None, None] * covs + n[:, None, None] * means[:, :, None] * means[:, None, :]).sum(0)
    cov = (scatter - total * np.outer(mean, mean)) / (total - 1)
    return {"n": int(total), "mean": mean.tolist(), "cov": cov.tolist()}


def lab_affine_map(source: Mapping[str, Any], target: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with A x + b carrying the Lab distribution SOURCE onto TARGET (the mean/covariance transport map)."""
    return gaussian_map(
        np.asarray(source["mean"], np.float64),
        np.asarray(source["cov"], np.float64),
        np.asarray(target["mean"], np.float64),
        np.asarray(target["cov"], np.float64),
        _EPS,
    )


def look_lut(source: Mapping[str, Any], target: Mapping[str, Any], size: int = 33) -> np.ndarray:
    """The (size, size, size, 3) table indexed [r, g, b] of sRGB colours: lab2rgb(A rgb2lab(x) + b), clipped."""
    if not 2 <= size <= 256:
        raise SettingsError(f"LUT size must be between 2 and 256, not {size}.")
    a, b = lab_affine_map(source, target)
    g = np.linspace(0.0, 1.0, size)
    rgb = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1)  # [r, g, b, 3]
    lab = color.rgb2lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    out = lab @ a.T + b
    out[:, 0] = np.clip(out[:, 0], 0.0, 100.0)
    return lab_to_srgb(out.reshape(-1, 1, 3)).reshape(size, size, size, 3)


def write_cube(path: str | os.PathLike[str], lut: np.ndarray, *, title: str, overwrite: bool = False) -> Path:
    """Write LUT ([r, g, b, 3]) as an Adobe/Resolve .cube file (red varies fastest), atomically."""
    p = Path(path)
    if p.suffix.lower() != ".cube":
        raise SettingsError(f"{p}: a 3D LUT is written as a .cube file; give a name ending in .cube.")
    n = lut.shape[0]
    safe_title = title.replace('"', "'").replace("\n", " ")
    lines = [
        f'TITLE "{safe_title}"',
        "# the global colour part of a photostyle look (sRGB-encoded input and output)",
        f"LUT_3D_SIZE {n}",
        "DOMAIN_MIN 0.0 0.0 0.0",
        "DOMAIN_MAX 1.0 1.0 1.0",
    ]
    rows = np.asarray(lut, np.float64).transpose(2, 1, 0, 3).reshape(-1, 3)  # b slowest, r fastest
    lines += [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows]
    return write_text_atomic(p, "\n".join(lines) + "\n", overwrite=overwrite)


def read_cube(path: str | os.PathLike[str]) -> np.ndarray:
    """Parse a 3D .cube file into a (N, N, N, 3) table indexed [r, g, b], its domain rescaled to [0, 1]."""
    p = Path(path)
    size = 0
    lo, hi = np.zeros(3), np.ones(3)
    values: list[list[float]] = []
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read this .cube file ({exc}).") from exc
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("TITLE"):
            continue
        key, *rest = line.split()
        try:
            if key == "LUT_3D_SIZE":
                size = int(rest[0])
            elif key == "LUT_1D_SIZE":
                raise InputError(f"{p}: a 1D LUT; photostyle reads 3D LUTs (LUT_3D_SIZE).")
            elif key == "DOMAIN_MIN":
                lo = np.array([float(v) for v in rest])
            elif key == "DOMAIN_MAX":
                hi = np.array([float(v) for v in rest])
            else:
                values.append([float(v) for v in (key, *rest)])
        except (ValueError, IndexError) as exc:
            raise InputError(f"{p}, line {number}: cannot parse {raw!r} ({exc}).") from exc
    if size < 2 or len(values) != size**3 or any(len(v) != 3 for v in values):
        raise InputError(f"{p}: expected LUT_3D_SIZE N >= 2 and N^3 rows of three numbers; found {len(values)} rows.")
    table = np.asarray(values, np.float64).reshape(size, size, size, 3).transpose(2, 1, 0, 3)
    return (table - lo) / np.where(hi > lo, hi - lo, 1.0)


def apply_lut(lut: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """PIXELS (float RGB in [0, 1]) through LUT ([r, g, b, 3]) with trilinear interpolation, as editors do."""
    n = lut.shape[0]
    x = np.clip(np.asarray(pixels, np.float64), 0.0, 1.0) * (n - 1)
    i0 = np.minimum(np.floor(x).astype(np.int64), n - 2)
    f = x - i0
    out = np.zeros(x.shape, np.float64)
    for dr in (0, 1):
        wr = f[..., 0] if dr else 1 - f[..., 0]
        for dg in (0, 1):
            wg = f[..., 1] if dg else 1 - f[..., 1]
            for db in (0, 1):
                wb = f[..., 2] if db else 1 - f[..., 2]
                corner = lut[i0[..., 0] + dr, i0[..., 1] + dg, i0[..., 2] + db]
                out += (wr * wg * wb)[..., None] * corner
    return np.clip(out, 0.0, 1.0).astype(np.float32)
