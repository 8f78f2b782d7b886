"""The one resizer. Three callers need three kernels, so it is one function with named variants.

- ``bilinear`` (torch, antialiased, clipped to [0, 1]): the engine's working sizes; fast at 24 MP.
- ``skimage`` (scikit-image, order 1, antialiased when shrinking): regions and masks, float in, float out,
  values not clipped (probabilities, soft masks).
- ``lanczos`` (Pillow, through 8 bit): thumbnails and contact sheets, where the eye is the judge.

Two exact resamplings of any values (not clipped, no antialiasing), for the fast guided filter
(``imaging.filters.GuidedFilter(subsample=)``), which shrinks its inputs by an integer factor and enlarges its
fitted maps back: ``shrink_blocks`` (s x s block means) and ``enlarge_bilinear`` (pixel-centre bilinear).

``tests/imaging/test_resize.py`` keeps the variants within a small distance of each other on a real photo, so a
change to one that drifts from the others is caught.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Method = Literal["bilinear", "skimage", "lanczos"]


def longest_size(hw: tuple[int, int], longest: int) -> tuple[int, int]:
    """(h, w) scaled so the longest side is LONGEST, never enlarged; each side at least 1."""
    h, w = hw
    s = min(1.0, longest / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def resize_to(img: np.ndarray, hw: tuple[int, int], *, antialias: bool | None = None) -> np.ndarray:
    """IMG (H, W[, C]) resized to HW by scikit-image's order-1 interpolation; float32, range preserved.

    antialias None: scikit-image's own rule (on when shrinking a float image).
    """
    from skimage.transform import resize

    return resize(img, hw, order=1, anti_aliasing=antialias, preserve_range=True).astype(np.float32)


def resize_longest(img: np.ndarray, longest: int, method: Method = "bilinear") -> np.ndarray:
    """IMG shrunk so its longest side is at most LONGEST (never enlarged); float32."""
    h, w = img.shape[:2]
    if longest / max(h, w) >= 1.0:
        return np.asarray(img, np.float32)
    size = longest_size((h, w), longest)
    if method == "bilinear":
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        return x[0].permute(1, 2, 0).clamp(0, 1).contiguous().numpy()
    if method == "skimage":
        return resize_to(img, size, antialias=True)
    if method == "lanczos":
        from PIL import Image

        im = Image.fromarray(np.round(np.clip(img, 0, 1) * 255.0).astype(np.uint8))
        im.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        return np.asarray(im, np.float32) / 255.0
    raise ValueError(f"unknown resize method {method!r}")


def shrink_blocks(x: np.ndarray, s: int) -> np.ndarray:
    """(H, W, C) averaged over s x s blocks (area resampling; the last block of a side may be partial); float32."""
    if s == 1:
        return x
    import torch
    import torch.nn.functional as F

    h, w = -(-x.shape[0] // s), -(-x.shape[1] // s)
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=(h, w), mode="area")[0].permute(1, 2, 0).contiguous().numpy()


def enlarge_bilinear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, C) bilinearly resampled to SIZE (pixel centres, as align_corners=False), values as they are."""
    if x.shape[:2] == size:
        return x
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0].permute(1, 2, 0).contiguous().numpy()
