"""The ``detectron2`` segmenter (COCO panoptic segmentation, its classes grouped into region names) and label maps
from a panoptic output or from named selection channels."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from photostyle.errors import MaskError
from photostyle.regions.segmentation import Segmenter

# COCO panoptic categories in detectron2's contiguous order (detectron2/data/datasets/builtin_meta.py).
COCO_THING_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
COCO_STUFF_CLASSES: tuple[str, ...] = (
    "banner", "blanket", "bridge", "cardboard", "counter", "curtain", "door-stuff", "floor-wood", "flower", "fruit",
    "gravel", "house", "light", "mirror-stuff", "net", "pillow", "platform", "playingfield", "railroad", "river",
    "road", "roof", "sand", "sea", "shelf", "snow", "stairs", "tent", "towel", "wall-brick", "wall-stone",
    "wall-tile", "wall-wood", "water-other", "window-blind", "window-other", "tree-merged", "fence-merged",
    "ceiling-merged", "sky-other-merged", "cabinet-merged", "table-merged", "floor-other-merged", "pavement-merged",
    "mountain-merged", "grass-merged", "dirt-merged", "paper-merged", "food-other-merged", "building-other-merged",
    "rock-merged", "wall-other-merged", "rug-merged",
)  # fmt: skip
# Panoptic FPN (the model zoo's COCO-PanopticSegmentation configs) uses the "separated" metadata: stuff ids index
# ["things"] + the 53 stuff classes; thing ids index the 80 thing classes.
COCO_STUFF_CLASSES_SEPARATED: tuple[str, ...] = ("things",) + COCO_STUFF_CLASSES

# region name -> COCO class names (after dropping "-merged", "-other", "-stuff" and a "wall-"-like prefix's tail)
GROUPS: dict[str, tuple[str, ...]] = {
    "sky": ("sky",),
    "vegetation": ("tree", "grass", "flower", "potted plant", "plant", "bush", "leaves"),
    "water": ("river", "sea", "water", "lake"),
    "mountain": ("mountain", "rock", "hill"),
    "ground": ("road", "pavement", "dirt", "sand", "gravel", "snow", "playingfield", "railroad", "platform"),
    "floor": ("floor", "rug", "stairs"),
    "wall": ("wall", "ceiling", "window", "door", "curtain", "mirror"),
    "building": ("building", "house", "roof", "bridge", "tent", "fence"),
    "person": ("person",),
    "vehicle": ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"),
    "animal": ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"),
    "furniture": ("chair", "couch", "bed", "dining table", "table", "toilet", "bench", "cabinet", "shelf", "counter"),
}
_GROUP_OF = {c: g for g, classes in GROUPS.items() for c in classes}


def region_name(category: str, isthing: bool) -> str:
    """The region name (a key of GROUPS, or "object"/"other") of a COCO class name."""
    c = category.lower().strip()
    for suffix in ("-merged", "-other", "-stuff"):
        c = c.replace(suffix, "")
    if c in _GROUP_OF:
        return _GROUP_OF[c]
    head = c.split("-")[0]
    if head in _GROUP_OF:
        return _GROUP_OF[head]
    return "object" if isthing else "other"


def labels_from_panoptic(
    panoptic_seg: np.ndarray | torch.Tensor,
    segments_info: Sequence[dict[str, object]] | None,
    *,
    thing_classes: Sequence[str] = COCO_THING_CLASSES,
    stuff_classes: Sequence[str] = COCO_STUFF_CLASSES_SEPARATED,
    label_divisor: int = 1000,
) -> tuple[np.ndarray, dict[int, str]]:
    """detectron2's ``outputs["panoptic_seg"]`` -> (label map, {label: region name}).

    The documented format: ``panoptic_seg`` is an (H, W) int tensor (or array) of segment ids and
    ``segments_info`` a list of dicts with ``id``, ``category_id`` and ``isthing``; ``category_id`` indexes
    ``thing_classes`` when ``isthing`` and ``stuff_classes`` otherwise (the model's metadata; the defaults are
    Panoptic FPN's COCO metadata). Pixels whose id is not listed (0, void) take their nearest segment's region.
    With ``segments_info=None`` a pixel holds ``category_id * label_divisor + instance`` (-1 = void) and
    ``category_id`` indexes ``thing_classes``. Segments are grouped by region name (all trees, grass and
    flowers make one "vegetation" region); labels are numbered by decreasing area.
    """
    seg = np.asarray(panoptic_seg.cpu().numpy() if isinstance(panoptic_seg, torch.Tensor) else panoptic_seg)
    if seg.ndim != 2:
        raise MaskError(f"panoptic_seg must be an (H, W) map of segment ids, got shape {seg.shape}.")
    seg = seg.astype(np.int64)
    names_of: dict[int, str] = {}
    if segments_info is None:
        for sid in np.unique(seg):
            if sid < 0:
                continue
            cid = int(sid) // label_divisor
            cls = thing_classes[cid] if 0 <= cid < len(thing_classes) else "other"
            names_of[int(sid)] = region_name(cls, True)
    else:
        for info in segments_info:
            sid, cid, isthing = int(info["id"]), int(info["category_id"]), bool(info.get("isthing", False))  # type: ignore[call-overload]
            classes = thing_classes if isthing else stuff_classes
            if not 0 <= cid < len(classes):
                raise MaskError(
                    f"panoptic segment {sid} has category_id {cid}, outside the {len(classes)} "
                    f"{'thing' if isthing else 'stuff'} classes given; pass the model's metadata classes."
                )
            names_of[sid] = region_name(classes[cid], isthing)
    group_names = sorted(set(names_of.values()))
    gid = {n: i for i, n in enumerate(group_names)}
    lut_ids = np.array(sorted(names_of), np.int64)
    lut_groups = np.array([gid[names_of[s]] for s in lut_ids], np.int32)
    labels = np.full(seg.shape, -1, np.int32)
    if len(lut_ids):
        pos = np.clip(np.searchsorted(lut_ids, seg), 0, len(lut_ids) - 1)
        hit = lut_ids[pos] == seg
        labels[hit] = lut_groups[pos[hit]]
    void = labels < 0
    if void.all():
        return np.zeros(seg.shape, np.int32), {}
    if void.any():
        idx = ndimage.distance_transform_edt(void, return_distances=False, return_indices=True)
        labels = labels[tuple(idx)]
    # renumber by decreasing area
    ks, counts = np.unique(labels, return_counts=True)
    order = ks[np.argsort(-counts, kind="stable")]
    remap = np.zeros(len(group_names), np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    return remap[labels], {int(remap[k]): group_names[k] for k in order}


class PanopticSegmenter(Segmenter):
    """COCO panoptic segmentation with detectron2 (only where the user has installed it and its weights).

    The model: ``PHOTOSTYLE_DETECTRON2_CONFIG`` (a model-zoo config name or a .yaml path; default
    COCO-PanopticSegmentation/panoptic_fpn_R_101_3x.yaml) and ``PHOTOSTYLE_DETECTRON2_WEIGHTS`` (a checkpoint
    path or URL; default the model zoo's checkpoint for that config).
    """

    name = "detectron2"
    default_config = "COCO-PanopticSegmentation/panoptic_fpn_R_101_3x.yaml"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._predictor: Any = None
        self._meta: Any = None

    def available(self) -> bool:
        return importlib.util.find_spec("detectron2") is not None

    def _load(self) -> None:  # pragma: no cover - detectron2 cannot be installed on the development machines
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.data import MetadataCatalog
        from detectron2.engine import DefaultPredictor

        config = os.environ.get("PHOTOSTYLE_DETECTRON2_CONFIG", self.default_config)
        cfg = get_cfg()
        cfg.merge_from_file(config if os.path.isfile(config) else model_zoo.get_config_file(config))
        cfg.MODEL.WEIGHTS = os.environ.get("PHOTOSTYLE_DETECTRON2_WEIGHTS") or model_zoo.get_checkpoint_url(config)
        cfg.MODEL.DEVICE = self.device
        self._predictor = DefaultPredictor(cfg)
        self._meta = MetadataCatalog.get(cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "coco_2017_val_panoptic")

    def segment(self, image: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:  # pragma: no cover - see _load
        if self._predictor is None:
            self._load()
        bgr = np.ascontiguousarray(np.clip(image[..., ::-1] * 255.0 + 0.5, 0, 255).astype(np.uint8))
        seg, info = self._predictor(bgr)["panoptic_seg"]
        meta = self._meta
        return labels_from_panoptic(
            seg,
            info,
            thing_classes=getattr(meta, "thing_classes", COCO_THING_CLASSES),
            stuff_classes=getattr(meta, "stuff_classes", COCO_STUFF_CLASSES_SEPARATED),
            label_divisor=getattr(meta, "label_divisor", 1000),
        )


def labels_from_channels(
    channels: Sequence[tuple[str, np.ndarray]], *, source: str = "channels"
) -> tuple[np.ndarray, dict[int, str]]:
    """Named selection channels (GIMP channels: name, (H, W) coverage in [0, 1] or 0-255) -> (labels, names).

    Each pixel goes to the channel that covers it most; pixels no channel covers by half form one more region,
    "rest". Channel ids follow the channels' order; "rest" comes last.
    """
    if not channels:
        raise MaskError(f"{source}: no channels given; select at least one region.")
    arrs = []
    shape = np.asarray(channels[0][1]).shape
    for name, a in channels:
        v = np.asarray(a, np.float64)
        if v.shape != shape or v.ndim != 2:
            raise MaskError(f"{source}: channel {name!r} is {v.shape}, expected {shape} like the first channel.")
        arrs.append(v / 255.0 if v.max() > 1.0 else v)
    stack = np.stack(arrs)
    labels = stack.argmax(0).astype(np.int32)
    names = {i: str(n) for i, (n, _) in enumerate(channels)}
    rest = stack.max(0) < 0.5
    if rest.any():
        labels[rest] = len(channels)
        names[len(channels)] = "rest"
    present = set(np.unique(labels).tolist())
    return labels, {k: v for k, v in names.items() if k in present}
