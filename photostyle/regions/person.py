"""The ``person`` segmenter: mediapipe's selfie segmentation confirmed by pose and face detection, merged into
other regions as a region named "person"."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage

from photostyle.imaging.kept import Kept, pixel_key
from photostyle.imaging.resize import resize_longest, resize_to
from photostyle.regions.cleanup import fill_small
from photostyle.regions.segmentation import MIN_REGION, Segmenter
from photostyle.regions.targeting import snap_labels


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence what native code writes to file descriptor 2 (mediapipe's log lines) for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


WORK_SIZE = 1024  # the person model's input is the image shrunk to this longest side (the skin guard's size too)
PROBABILITY_CACHE = 4  # person maps a process keeps: the photo's (shared by the regions and the skin guard) and
# the reference's (an album styles many photos with one reference)


class _Models(NamedTuple):
    """mediapipe's three graphs, built once per process: building them costs about as much as running them."""

    selfie: Any  # mediapipe's solution objects (mediapipe has no type hints)
    pose: Any
    faces: Any


_MODELS: list[_Models] = []
_LOCK = threading.Lock()  # one image at a time through the graphs (the service styles photos in threads)
_PROBABILITY: Kept[np.ndarray] = Kept(PROBABILITY_CACHE)


def _models() -> _Models:
    """The graphs, built on first use (with ``_LOCK`` held)."""
    if not _MODELS:
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ log lines
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import mediapipe as mp

        solutions = mp.solutions
        with _quiet_stderr():
            _MODELS.append(
                _Models(
                    solutions.selfie_segmentation.SelfieSegmentation(model_selection=0),
                    # static_image_mode: every image on its own (no tracking), so one graph serves every photo
                    solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True),
                    solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5),
                )
            )
    return _MODELS[0]


class PersonSegmenter(Segmenter):
    """People, with mediapipe 0.10.21's legacy solutions (their models ship inside the wheel).

    Selfie segmentation outlines the foreground, but it also outlines cats, cups and clouds: a person is only
    accepted where pose detection's own person mask agrees with it (IoU >= 0.5) or a detected face lies on it;
    the person region is then the selfie-mask pieces that hold such evidence.

    The graphs are built once per process, and the last few probability maps are kept by the pixels they were
    computed from: the automatic masks and the skin guard look at the same photo (``person_probability``), and
    an album's reference is looked at once.
    """

    name = "person"
    threshold = 0.5
    min_share = 0.002  # fewer person pixels than this share of the image: no person

    def available(self) -> bool:
        return importlib.util.find_spec("mediapipe") is not None

    def probability(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 probability that a pixel belongs to a detected person (0 where no person was found);
        read-only, as it may be shared with the next caller that asks about the same pixels."""
        key = pixel_key(image)
        with _LOCK:  # held through the computation: one image at a time through the graphs
            hit = _PROBABILITY.get(key)
            if hit is not None:
                return hit
            prob = self._probability(image)
            prob.setflags(write=False)
            return _PROBABILITY.put(key, prob)

    def _probability(self, image: np.ndarray) -> np.ndarray:
        small = resize_longest(image, WORK_SIZE, "skimage")
        rgb = np.ascontiguousarray(np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8))
        h, w = rgb.shape[:2]
        models = _models()
        with _quiet_stderr():
            selfie = np.asarray(models.selfie.process(rgb).segmentation_mask, np.float32)
            res = models.pose.process(rgb)
            found = models.faces.process(rgb).detections or []
        fg = selfie > self.threshold
        evidence = np.zeros((h, w), bool)
        if res.pose_landmarks is not None and res.segmentation_mask is not None:
            body = np.asarray(res.segmentation_mask) > self.threshold
            if (body & fg).sum() >= 0.5 * max((body | fg).sum(), 1):
                evidence |= body
        for det in found:
            b = det.location_data.relative_bounding_box
            y0, y1 = max(0, int(b.ymin * h)), min(h, int((b.ymin + b.height) * h))
            x0, x1 = max(0, int(b.xmin * w)), min(w, int((b.xmin + b.width) * w))
            if y1 > y0 and x1 > x0 and fg[y0:y1, x0:x1].mean() >= 0.5:
                evidence[y0:y1, x0:x1] |= fg[y0:y1, x0:x1]
        pieces, n = ndimage.label(fg)
        keep = np.zeros(n + 1, bool)
        keep[np.unique(pieces[evidence & fg])] = True
        keep[0] = False
        prob = np.where(keep[pieces], selfie, 0.0).astype(np.float32)
        if prob.shape != image.shape[:2]:
            prob = resize_to(prob, image.shape[:2])
        return prob

    def person_probability(self, image: np.ndarray, hw: tuple[int, int] | None = None) -> np.ndarray:
        """The probability map of IMAGE (any size) computed on IMAGE shrunk to WORK_SIZE, as the skin guard
        (``photostyle.regions.skin.skin_mask``) computes it, so one of the two calls finds it cached; resized to
        HW (default: the WORK_SIZE image's size)."""
        prob = self.probability(resize_longest(image, WORK_SIZE, "skimage"))
        return prob if hw is None or prob.shape == tuple(hw) else resize_to(prob, hw)

    def segment(self, image: np.ndarray, probability: np.ndarray | None = None) -> tuple[np.ndarray, dict[int, str]]:
        """(labels: 1 = person, 0 = the rest; {1: "person"} or {} when no person was found). PROBABILITY: IMAGE's
        person map when already computed (``person_probability``)."""
        prob = self.probability(image) if probability is None else probability
        person = prob > self.threshold
        if person.mean() < self.min_share:
            return np.zeros(image.shape[:2], np.int32), {}
        labels = snap_labels(person.astype(np.int32), image)
        labels = fill_small(labels, max(4, round(self.min_share * labels.size)))
        if not labels.any():
            return labels, {}
        return labels, {1: "person"}


def merge_named(labels: np.ndarray, names: dict[int, str], mask: np.ndarray, name: str, new_id: int) -> np.ndarray:
    """LABELS with MASK's pixels made region NEW_ID called NAME (names updated in place); specks cleaned."""
    out = labels.copy()
    out[mask] = new_id
    out = fill_small(out, max(4, round(MIN_REGION * out.size)))
    if (out == new_id).any():
        names[new_id] = name
    for k in list(names):
        if not (out == k).any():
            del names[k]
    return out
