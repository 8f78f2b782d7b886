"""Gaussian colour transport: the affine maps that carry one colour distribution's mean and covariance to another's.

Used by the per-region colour transfer (``engine.colour``) and the album's LUT (``pipelines.album.lut``) alike.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-3  # covariance regulariser (colour units^2 of the space the statistics are in)


def sqrtm(c: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 1e-8, None))) @ v.T


def mean_cov_map(cs: np.ndarray, cd: np.ndarray) -> np.ndarray:
    """The symmetric positive map A with A cs A = cd (the optimal transport between two Gaussians)."""
    rs = sqrtm(cs)
    rs_inv = np.linalg.inv(rs)
    return rs_inv @ sqrtm(rs @ cd @ rs) @ rs_inv


def gaussian_map(
    mean_s: np.ndarray, cov_s: np.ndarray, mean_d: np.ndarray, cov_d: np.ndarray, eps: float = EPS
) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with A x + b carrying the Gaussian (mean_s, cov_s) onto (mean_d, cov_d), covariances regularised."""
    a = mean_cov_map(cov_s + eps * np.eye(len(cov_s)), cov_d + eps * np.eye(len(cov_d)))
    return a, mean_d - a @ mean_s
