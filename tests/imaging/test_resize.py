"""The one resizer: its variants agree with each other on a real photo (a drifting variant is caught here)."""

from __future__ import annotations

import numpy as np
import pytest

from photostyle.imageio import read_image
from photostyle.imaging.resize import longest_size, resize_longest, resize_to

from ..conftest import SAMPLES


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return read_image(SAMPLES / "chelsea.png").pixels


@pytest.mark.parametrize("method", ["bilinear", "skimage", "lanczos"])
def test_every_variant_shrinks_to_the_longest_side(photo: np.ndarray, method: str) -> None:
    out = resize_longest(photo, 100, method)  # type: ignore[arg-type]
    assert max(out.shape[:2]) == 100 and out.dtype == np.float32
    assert out.shape[:2] == longest_size(photo.shape[:2], 100)
    assert out.min() >= 0 and out.max() <= 1


def test_the_variants_agree(photo: np.ndarray) -> None:
    a = resize_longest(photo, 120, "bilinear")
    b = resize_longest(photo, 120, "skimage")
    c = resize_longest(photo, 120, "lanczos")
    assert np.abs(a - b).mean() < 0.01 and np.abs(a - c).mean() < 0.01
    assert np.percentile(np.abs(a - b), 99) < 0.06 and np.percentile(np.abs(a - c), 99) < 0.08


def test_never_enlarges_and_keeps_the_pixels(photo: np.ndarray) -> None:
    for method in ("bilinear", "skimage", "lanczos"):
        out = resize_longest(photo, 4000, method)  # type: ignore[arg-type]
        assert out.shape == photo.shape and np.array_equal(out, photo)


def test_resize_to_follows_skimage_rule_and_preserves_range() -> None:
    prob = np.linspace(-0.5, 1.5, 64 * 48, dtype=np.float32).reshape(48, 64)
    up = resize_to(prob, (96, 128))
    assert up.shape == (96, 128) and up.dtype == np.float32
    assert up.min() < 0 and up.max() > 1  # probabilities and soft masks are not clipped
    assert abs(float(up.mean()) - float(prob.mean())) < 1e-3


def test_unknown_method_is_refused(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown resize method"):
        resize_longest(photo, 10, "cubic")  # type: ignore[arg-type]
