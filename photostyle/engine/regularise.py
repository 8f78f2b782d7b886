"""The photorealism regulariser of Deep Photo Style Transfer: the matting Laplacian of the photo (Levin et al. 2008).

L is built once per photo and working size (3x3 windows, small epsilon) with pymatting's closed-form matting
Laplacian, as a sparse matrix of 25 non-zeros per row (never dense). The penalty sum_c V_c^T L V_c is zero exactly
when the output is, in every 3x3 window, an affine function of the photo's colours; its gradient 2 L V_c is one
sparse product per step.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse
import torch

DEFAULT_EPSILON = 1e-7
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
# torch >= 2.11 warns on every CSR tensor built unchecked; scipy's CSR (sorted, in bounds) meets the invariants
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def matting_laplacian(photo: np.ndarray, epsilon: float = DEFAULT_EPSILON, radius: int = 1) -> scipy.sparse.csr_matrix:
    """The matting Laplacian of PHOTO (float RGB in [0, 1], H x W x 3) as an (HW x HW) CSR matrix."""
    from pymatting import cf_laplacian  # numba-compiled; imported only when needed (seconds of start-up)

    return cf_laplacian(np.ascontiguousarray(photo, dtype=np.float64), epsilon=epsilon, radius=radius).tocsr()


def to_torch(L: scipy.sparse.csr_matrix, device: str | torch.device = "cpu") -> torch.Tensor:
    """A scipy CSR matrix as a torch sparse CSR tensor (float32)."""
    L = L.astype(np.float32)
    return torch.sparse_csr_tensor(
        torch.from_numpy(L.indptr.astype(np.int64)),
        torch.from_numpy(L.indices.astype(np.int64)),
        torch.from_numpy(L.data),
        size=L.shape,
        check_invariants=False,
    ).to(device)


class _Quadratic(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: torch.Tensor, L: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        lv = L @ v
        ctx.save_for_backward(lv)
        return (v * lv).sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (lv,) = ctx.saved_tensors
        return 2.0 * grad * lv, None


def matting_energy(image: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """sum over channels of V_c^T L V_c for IMAGE (1, 3, H, W) and L the photo's Laplacian (HW x HW)."""
    v = image[0].reshape(image.shape[1], -1).T.contiguous()  # (HW, 3)
    return _Quadratic.apply(v, L)


def affine_fraction(output: np.ndarray, photo: np.ndarray, L: scipy.sparse.csr_matrix | None = None) -> float:
    """Share of the colour change (output - photo) that is not locally affine in the photo (0 = all affine)."""
    d = (output - photo).reshape(-1, 3).astype(np.float64)
    den = float(((d - d.mean(0)) ** 2).sum())
    if den <= 1e-12 * len(d):
        return 0.0
    L = matting_laplacian(photo) if L is None else L
    return float(sum(d[:, c] @ (L @ d[:, c]) for c in range(3)) / den)
