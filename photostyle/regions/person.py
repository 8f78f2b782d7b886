"""The ``person`` segmenter: mediapipe's selfie segmentation confirmed by pose and face detection, merged into
other regions as a region named "person"."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator

import numpy as np
from scipy import ndimage

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


class PersonSegmenter(Segmenter):
    """People, with mediapipe 0.10.21's legacy solutions (their models ship inside the wheel).

    Selfie segmentation outlines the foreground, but it also outlines cats, cups and clouds: a person is only
    accepted where pose detection's own person mask agrees with it (IoU >= 0.5) or a detected face lies on it;
    the person region is then the selfie-mask pieces that hold such evidence.
    """

    name = "person"
    threshold = 0.5
    min_share = 0.002  # fewer person pixels than this share of the image: no person

    def available(self) -> bool:
        return importlib.util.find_spec("mediapipe") is not None

    def probability(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 probability that a pixel belongs to a detected person (0 where no person was found)."""
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ log lines
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import mediapipe as mp

        small = resize_longest(image, 1024, "skimage")
        rgb = np.ascontiguousarray(np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8))
        h, w = rgb.shape[:2]
        solutions = mp.solutions
        with _quiet_stderr():
            with solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
                selfie = np.asarray(seg.process(rgb).segmentation_mask, np.float32)
            with solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True) as pose:
                res = pose.process(rgb)
            with solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as faces:
                found = faces.process(rgb).detections or []
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

    def segment(self, image: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """(labels: 1 = person, 0 = the rest; {1: "person"} or {} when no person was found)."""
        person = self.probability(image) > self.threshold
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
