"""Upsampling by local affine colour maps: the result at the photo's full resolution, sharp, with no VGG pass there.

The photorealistic result is locally an affine function of the photo's colours (the premise of the matting
regulariser). At the working size we fit, in every window, the regularised affine map from the small photo's
colours to the small result's (the guided filter's least-squares fit, He et al. 2013), smooth the coefficients,
upsample them bilinearly and apply them to the full-size photo. Edges come from the full-size photo itself.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
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
    m = _box(stack[None], radius)[0]  # one pass for all 21 moments
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
    c = _box(coef[None], radius)[0]
    return c.permute(1, 2, 0).reshape(h, w, 3, 4).numpy()


def apply_affine(coef: np.ndarray, photo: np.ndarray, rows_per_tile: int = 512) -> np.ndarray:
    """Bilinearly upsample COEF (h, w, 3, 4) to PHOTO's size and apply it; processed in row tiles to bound memory."""
    H, W = photo.shape[:2]
    h, w = coef.shape[:2]
    c = torch.from_numpy(np.ascontiguousarray(coef.reshape(h, w, 12))).permute(2, 0, 1)[None]
    out = np.empty((H, W, 3), np.float32)
    # pixel-centre sampling (align_corners=False semantics), one band of rows at a time
    xs = (torch.arange(W, dtype=torch.float32) + 0.5) / W * 2 - 1
    for y0 in range(0, H, rows_per_tile):
        y1 = min(H, y0 + rows_per_tile)
        ys = (torch.arange(y0, y1, dtype=torch.float32) + 0.5) / H * 2 - 1
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None]
        band = F.grid_sample(c, grid, mode="bilinear", padding_mode="border", align_corners=False)
        band = band[0].permute(1, 2, 0).reshape(y1 - y0, W, 3, 4)
        p = torch.from_numpy(np.ascontiguousarray(photo[y0:y1], dtype=np.float32))
        res = (band[..., :3] @ p[..., None])[..., 0] + band[..., 3]
        out[y0:y1] = res.clamp_(0, 1).numpy()
    return out


def upsample(
    small_photo: np.ndarray, small_result: np.ndarray, photo: np.ndarray, radius: int = 2, eps: float = 1e-4
) -> np.ndarray:
    """The result at PHOTO's size: local affine maps fitted at the working size, applied to the full photo."""
    if small_photo.shape == photo.shape and np.array_equal(small_photo, photo):
        return np.clip(small_result, 0, 1).astype(np.float32)
    return apply_affine(fit_affine(small_photo, small_result, radius, eps), photo)
