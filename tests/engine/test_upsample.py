"""Full-resolution output by local affine maps: exact for affine looks, sharp where a plain resize blurs."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.engine.upsample import upsample
from photostyle.imageio import read_image
from photostyle.imaging.resize import resize_longest

from ..conftest import SAMPLES

A = np.array([[0.6, 0.2, 0.0], [0.1, 0.7, 0.1], [0.0, 0.3, 0.5]])
B = np.array([0.05, 0.02, 0.1])


def grad_energy(img: np.ndarray) -> float:
    g = img.mean(-1)
    return float(np.mean(np.diff(g, axis=0) ** 2) + np.mean(np.diff(g, axis=1) ** 2))


def test_affine_look_is_reproduced_at_full_size() -> None:
    photo = read_image(SAMPLES / "astronaut.png").pixels  # 512 px
    small = resize_longest(photo, 128)
    out = upsample(small, (small @ A.T + B).astype(np.float32), photo, radius=2, eps=1e-6)
    err = np.abs(out - (photo @ A.T + B))
    assert out.shape == photo.shape
    assert err.mean() < 1e-3 and np.percentile(err, 99.9) < 5e-3


def test_edges_stay_sharp() -> None:
    photo = read_image(SAMPLES / "coffee.png").pixels  # 600 x 400
    small = resize_longest(photo, 100)
    look = np.clip(small @ A.T + B, 0, 1).astype(np.float32)
    out = upsample(small, look, photo, eps=1e-5)
    truth = photo @ A.T + B
    x = torch.from_numpy(look).permute(2, 0, 1)[None]
    resized = F.interpolate(x, size=photo.shape[:2], mode="bilinear")[0].permute(1, 2, 0).numpy()
    ratio = grad_energy(out) / grad_energy(truth)
    assert 0.8 < ratio < 1.25, ratio
    assert grad_energy(resized) / grad_energy(truth) < 0.5  # what a plain resize would give


def test_same_size_passes_through() -> None:
    img = resize_longest(read_image(SAMPLES / "chelsea.png").pixels, 64)
    other = np.clip(img * 0.5 + 0.2, 0, 1)
    assert np.array_equal(upsample(img, other, img), other)
