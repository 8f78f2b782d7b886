"""Regions: label maps and their pairing, automatic segmentation (features, people, panoptic), targeting."""
