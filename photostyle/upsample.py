"""Upsampling by local affine colour maps: the result at the photo's full resolution, sharp, with no VGG pass there.

The photorealistic result is locally an affine function of the photo's colours (the premise of the matting
regulariser). At the working size we fit, in every window, the regularised affine map from the small photo's
colours to the small result's (the guided filter's least-squares fit, He et al. 2013), smooth the coefficients,
upsample them bilinearly and apply them to the full-size photo. Edges come from the full-size photo itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F


def resize_image(img: np.ndarray, longest: int) -> np.ndarray:
    """Antialiased bilinear resize so the longest side is LONGEST (never enlarges); float32 RGB."""
    h, w = img.shape[:2]
    s = min(1.0, longest / max(h, w))
    if s >= 1.0:
        return img.astype(np.float32)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).clamp(0, 1).contiguous().numpy()


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over (2r+1)^2 windows with edge replication; x is (N, C, H, W)."""
    k = 2 * r + 1
    x = F.pad(x, (r, r, r, r), mode="replicate")
    return F.avg_pool2d(x, k, stride=1)


def fit_affine(small_photo: np.ndarray, small_result: np.ndarray, radius: int = 2, eps: float = 1e-4) -> np.ndarray:
    """Per-pixel affine maps (H, W, 3, 4) with result ~= A @ [photo, 1], fitted over (2r+1)^2 windows.

    eps regularises A toward a constant shift (it is the guided filter's epsilon, in [0, 1] colour units^2).
    """
    p = torch.from_numpy(np.ascontiguousarray(small_photo, dtype=np.float32)).permute(2, 0, 1)
    q = torch.from_numpy(np.ascontiguousarray(small_result, dtype=np.float32)).permute(2, 0, 1)
    h, w = p.shape[1:]
    # centre the colours on their global means: better conditioned second moments in float32
    p = p - p.mean((1, 2), keepdim=True)
    qm = q.mean((1, 2), keepdim=True)
    q = q - qm
    iu = [(i, j) for i in range(3) for j in range(i, 3)]
    stack = torch.cat([p, q, torch.stack([p[i] * p[j] for i, j in iu]), (q[:, None] * p[None]).reshape(9, h, w)])
    m = box_mean(stack[None], radius)[0]  # one pass for all 21 moments
    mp, mq, pp, qp = m[:3], m[3:6], m[6:12], m[12:21].reshape(3, 3, h, w)
    cov = torch.empty(3, 3, h, w)
    for n, (i, j) in enumerate(iu):
        cov[i, j] = cov[j, i] = pp[n] - mp[i] * mp[j]
    cov_qp = qp - mq[:, None] * mp[None]
    cov = cov.permute(2, 3, 0, 1) + eps * torch.eye(3)
    a = torch.linalg.solve(cov, cov_qp.permute(2, 3, 1, 0)).transpose(-1, -2)  # (H, W, 3, 3)
    b = mq.permute(1, 2, 0) - (a @ mp.permute(1, 2, 0)[..., None])[..., 0]
    # back to uncentred colours: q + qm = A (p + pm - pm) + b + qm  =>  b' = b + qm - A pm
    pm = torch.from_numpy(np.asarray(small_photo, dtype=np.float32).reshape(-1, 3).mean(0))
    b = b + qm.view(3) - a @ pm
    coef = torch.cat([a, b[..., None]], -1).reshape(h, w, 12).permute(2, 0, 1)
    # smooth the coefficients (the guided filter's second pass) so the maps vary gently
    c = box_mean(coef[None], radius)[0]
    return c.permute(1, 2, 0).reshape(h, w, 3, 4).numpy()


@functools.cache
def _kernel() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
    """The per-pixel kernel, compiled by numba once (and cached on disk): one pass over the photo."""
    import numba

    @numba.njit(parallel=True, cache=True, fastmath=True)
    def apply(coef: np.ndarray, photo: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
        h, w = coef.shape[0], coef.shape[1]
        H, W = photo.shape[0], photo.shape[1]
        sy_scale, sx_scale = h / H, w / W
        for y in numba.prange(H):
            sy = min(max((y + 0.5) * sy_scale - 0.5, 0.0), h - 1.0)
            y0 = int(sy)
            y1 = min(y0 + 1, h - 1)
            fy = sy - y0
            for x in range(W):
                sx = min(max((x + 0.5) * sx_scale - 0.5, 0.0), w - 1.0)
                x0 = int(sx)
                x1 = min(x0 + 1, w - 1)
                fx = sx - x0
                r, g, b = photo[y, x, 0], photo[y, x, 1], photo[y, x, 2]
                for c in range(3):
                    acc = 0.0
                    for k in range(4):
                        top = coef[y0, x0, c, k] * (1 - fx) + coef[y0, x1, c, k] * fx
                        bot = coef[y1, x0, c, k] * (1 - fx) + coef[y1, x1, c, k] * fx
                        v = top * (1 - fy) + bot * fy
                        acc += v * (r if k == 0 else g if k == 1 else b if k == 2 else 1.0)
                    out[y, x, c] = min(max(acc, 0.0), 1.0)

    return apply


def apply_affine(coef: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Bilinearly upsample COEF (h, w, 3, 4) to PHOTO's size and apply it, pixel by pixel in one pass.

    Pixel-centre sampling (as align_corners=False). Memory: the photo and the output, nothing at full size else.
    """
    out = np.empty(photo.shape[:2] + (3,), np.float32)
    _kernel()(np.ascontiguousarray(coef, dtype=np.float32), np.ascontiguousarray(photo, dtype=np.float32), out)
    return out


def upsample(
    small_photo: np.ndarray, small_result: np.ndarray, photo: np.ndarray, radius: int = 2, eps: float = 1e-4
) -> np.ndarray:
    """The result at PHOTO's size: local affine maps fitted at the working size, applied to the full photo."""
    if small_photo.shape == photo.shape and np.array_equal(small_photo, photo):
        return np.clip(small_result, 0, 1).astype(np.float32)
    return apply_affine(fit_affine(small_photo, small_result, radius, eps), photo)
