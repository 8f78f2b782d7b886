"""Regions: label maps and their pairing, automatic segmentation (features, people, panoptic), targeting.

The public names are re-exported here; the modules hold the parts: ``labels`` (mask files, colour codes, pairs),
``segmentation`` (the result type), ``features``/``person``/``panoptic`` (the segmenters), ``matching`` and
``cleanup`` (pairing and tidying label maps), ``auto`` (``segment_pair``, ``prepare_masks``), ``overlay`` (the files
of ``photostyle masks``) and ``targeting`` (``--only``).
"""

from photostyle.regions.auto import available_backends, prepare_masks, segment_pair, user_masks
from photostyle.regions.cleanup import drop_thin, fill_small, finish_labels
from photostyle.regions.features import feature_regions
from photostyle.regions.labels import DPST_COLOURS, RegionPairs, colours_from_labels, make_pairs, read_mask
from photostyle.regions.matching import PREFERRED_IDS, match_regions
from photostyle.regions.overlay import MASK_FILES, check_mask_outputs, overlay, write_masks
from photostyle.regions.panoptic import (
    COCO_STUFF_CLASSES,
    COCO_STUFF_CLASSES_SEPARATED,
    COCO_THING_CLASSES,
    GROUPS,
    PanopticSegmenter,
    labels_from_channels,
    labels_from_panoptic,
    region_name,
)
from photostyle.regions.person import PersonSegmenter, merge_named
from photostyle.regions.segmentation import BACKENDS, MAX_REGIONS, Segmentation, Segmenter

__all__ = [
    "BACKENDS",
    "COCO_STUFF_CLASSES",
    "COCO_STUFF_CLASSES_SEPARATED",
    "COCO_THING_CLASSES",
    "DPST_COLOURS",
    "GROUPS",
    "MASK_FILES",
    "MAX_REGIONS",
    "PREFERRED_IDS",
    "PanopticSegmenter",
    "PersonSegmenter",
    "RegionPairs",
    "Segmentation",
    "Segmenter",
    "available_backends",
    "check_mask_outputs",
    "colours_from_labels",
    "drop_thin",
    "feature_regions",
    "fill_small",
    "finish_labels",
    "labels_from_channels",
    "labels_from_panoptic",
    "make_pairs",
    "match_regions",
    "merge_named",
    "overlay",
    "prepare_masks",
    "read_mask",
    "region_name",
    "segment_pair",
    "user_masks",
    "write_masks",
]
