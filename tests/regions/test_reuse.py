"""What the automatic masks compute once and reuse: the person model's maps (shared with the skin guard and kept
for an album's reference), the reference's description, and the principal axes of the deep features (computed
once, from the small Gram matrix, equal to the SVD's)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage import data
from skimage.transform import resize

from photostyle.regions import features, person
from photostyle.regions.auto import segment_pair
from photostyle.regions.person import PersonSegmenter
from photostyle.regions.segmentation import PathLike
from photostyle.regions.skin import skin_mask

from ..conftest import small
from .test_segment import sky_pair  # noqa: F401 - the constructed sky-over-fur pair, as a fixture

needs_mediapipe = pytest.mark.skipif(not PersonSegmenter().available(), reason="mediapipe is not installed")


def _astronaut(longest: int) -> np.ndarray:
    a = data.astronaut()
    return resize(a, (longest, longest), anti_aliasing=True).astype(np.float32)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The shapes of the images the person model really runs on (the cache emptied first)."""
    seen: list[tuple[int, int]] = []
    real = PersonSegmenter._probability

    def spy(self: PersonSegmenter, image: np.ndarray) -> np.ndarray:
        seen.append(image.shape[:2])
        return real(self, image)

    monkeypatch.setattr(PersonSegmenter, "_probability", spy)
    monkeypatch.setattr(person, "_PROBABILITY", type(person._PROBABILITY)())
    return seen


@needs_mediapipe
def test_the_skin_guard_reuses_the_masks_person_map(counted: list[tuple[int, int]]) -> None:
    """Automatic masks then the skin guard on the same photo: the person model runs once on the photo (and once
    on the reference), not twice; the cached map is the one a fresh run gives."""
    photo, ref = _astronaut(1100), small("coffee.png", 300)  # over the model's 1024 px: the shrinking is shared
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = segment_pair(photo, ref)
    assert seg.regions_named("person")
    assert len(counted) == 2  # the photo and the reference
    mask = skin_mask(photo)
    assert mask is not None and len(counted) == 2  # the guard's call was served from the cache
    person._PROBABILITY.clear()
    assert np.array_equal(skin_mask(photo), mask) and len(counted) == 3  # computed afresh: the same mask


@needs_mediapipe
def test_an_album_reference_is_looked_at_once(counted: list[tuple[int, int]]) -> None:
    """Three photos with one reference (an album worker): the person model sees the reference once."""
    ref = _astronaut(300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
            segment_pair(small(name, 200), ref)
    assert counted.count(ref.shape[:2]) == 1 and len(counted) == 4
    cached = PersonSegmenter().probability(ref)
    assert not cached.flags.writeable  # shared between callers: nobody may change it in place


def test_deep_axes_are_the_svd_s(sky_pair: tuple[np.ndarray, np.ndarray]) -> None:  # noqa: F811
    """The projection on the principal axes from the small Gram matrix equals the SVD's (up to each axis's
    sign), in both orientations (more superpixels than channels and fewer)."""
    dp, dr = features._describe(sky_pair[0], None), features._describe(sky_pair[1], None)
    for keep in (None, 6):  # all channels; a few (the Gram matrix is then channels x channels)
        if keep is not None:
            dp.deep, dr.deep = dp.deep[:, :keep], dr.deep[:, :keep]
        got = features._deep_axes(dp, dr)
        deep = np.concatenate([features._centre_scale(dp.deep, dp.weight), features._centre_scale(dr.deep, dr.weight)])
        w = np.concatenate([dp.weight, dr.weight])
        _, sing, vt = np.linalg.svd(deep * np.sqrt(w / w.sum())[:, None], full_matrices=False)
        want = deep @ vt[: features.DEEP_DIMS].T / np.sqrt((sing**2).sum())
        assert got.shape == (len(w), features.DEEP_DIMS)
        k = want.shape[1]
        sign = np.sign((got[:, :k] * want).sum(0))
        assert np.allclose(got[:, :k] * sign, want, atol=1e-9)
        assert not got[:, k:].any()  # fewer channels than DEEP_DIMS: the missing axes are zero


def test_the_reference_is_described_once(
    sky_pair: tuple[np.ndarray, np.ndarray],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Segmenting several photos with one reference describes the reference (VGG-19, superpixels) once."""
    seen: list[tuple[int, int]] = []
    real = features._describe

    def spy(img: np.ndarray, vgg_weights: PathLike | None) -> features._Described:
        seen.append(img.shape[:2])
        return real(img, vgg_weights)

    monkeypatch.setattr(features, "_describe", spy)
    monkeypatch.setattr(features, "_DESCRIBED", type(features._DESCRIBED)())
    photo, ref = sky_pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for flip in (False, True):
            segment_pair(photo[:, ::-1].copy() if flip else photo, ref, person=False)
    assert seen.count(ref.shape[:2]) == 1 and len(seen) == 3


def test_a_large_reference_is_shrunk_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An album's reference larger than the snapping size: shrunk once for all its photos, to the same pixels."""
    from photostyle.regions import auto

    ref = _astronaut(900)  # over SNAP_SIZE (768)
    shrunk: list[int] = []
    real = auto.resize_longest

    def spy(img: np.ndarray, longest: int, method: str = "bilinear") -> np.ndarray:
        if img.shape[:2] == ref.shape[:2]:
            shrunk.append(longest)
        return real(img, longest, method)  # type: ignore[arg-type]

    monkeypatch.setattr(auto, "resize_longest", spy)
    monkeypatch.setattr(auto, "_SHRUNK", type(auto._SHRUNK)())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segs = [segment_pair(small(name, 160), ref.copy(), person=False) for name in ("chelsea.png", "coffee.png")]
    assert shrunk == [auto.SNAP_SIZE]  # the second photo's reference (a copy: the same pixels) was not shrunk again
    assert all(s.pairs.reference.shape == ref.shape[:2] for s in segs)
    again = auto._shrunk_reference(ref, auto.SNAP_SIZE)
    assert np.array_equal(again, real(ref, auto.SNAP_SIZE, "skimage"))
