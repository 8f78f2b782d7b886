from __future__ import annotations

import numpy as np
import torch

from photostyle.engine.regularise import affine_fraction, matting_energy, matting_laplacian, to_torch


def dense_matting_laplacian(img: np.ndarray, eps: float) -> np.ndarray:
    """Levin et al. 2008, eq. 12, written out window by window (3x3 windows)."""
    h, w, _ = img.shape
    n = h * w
    L = np.zeros((n, n))
    idx = np.arange(n).reshape(h, w)
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            win = idx[y - 1 : y + 2, x - 1 : x + 2].ravel()
            I = img[y - 1 : y + 2, x - 1 : x + 2].reshape(9, 3)
            mu = I.mean(0)
            cov = (I - mu).T @ (I - mu) / 9
            inv = np.linalg.inv(cov + eps / 9 * np.eye(3))
            for a in range(9):
                for b in range(9):
                    L[win[a], win[b]] += (a == b) - (1 + (I[a] - mu) @ inv @ (I[b] - mu)) / 9
    return L


def test_matches_dense_construction(cat: np.ndarray) -> None:
    img = cat[10:17, 20:29].astype(np.float64)
    for eps in (1e-7, 1e-4):
        assert np.allclose(matting_laplacian(img, eps).toarray(), dense_matting_laplacian(img, eps), atol=1e-6)


def test_energy_zero_for_local_affine_maps_and_gradient(cat: np.ndarray) -> None:
    img = cat[:40, :40]
    L = matting_laplacian(img, 1e-7)
    a = np.array([[0.8, 0.1, 0.0], [0.0, 0.9, 0.1], [0.2, 0.0, 0.6]])
    affine = img @ a.T + 0.05
    assert affine_fraction(affine, img, L) < 1e-4
    noisy = affine + np.random.default_rng(0).normal(0, 0.02, img.shape)
    assert affine_fraction(noisy, img, L) > 0.1

    Lt = to_torch(L)
    v = torch.from_numpy(noisy.astype(np.float32)).permute(2, 0, 1)[None].contiguous().requires_grad_(True)
    e = matting_energy(v, Lt)
    e.backward()
    flat = noisy.reshape(-1, 3)
    assert np.isclose(float(e), sum(flat[:, c] @ (L @ flat[:, c]) for c in range(3)), rtol=1e-3)
    grad = v.grad[0].permute(1, 2, 0).reshape(-1, 3).numpy()
    assert np.allclose(grad, 2 * (L @ flat), atol=1e-3)
