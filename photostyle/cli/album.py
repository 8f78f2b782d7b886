"""``photostyle album``: the album job's flags, turned into ``pipelines.album.AlbumOptions``, and its report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from photostyle.cli.common import add_settings_args, settings_from_args
from photostyle.errors import SettingsError
from pipelines.album import DEFAULT_TEMPLATE, AlbumOptions, run_album
from pipelines.album.normalize import MODES
from pipelines.album.options import MASK_MODES


def options_from_args(a: argparse.Namespace) -> AlbumOptions:
    if a.jobs is not None and a.jobs < 1:
        raise SettingsError(f"--jobs must be at least 1, not {a.jobs}.")
    return AlbumOptions(
        shoot_dir=Path(a.shoot_dir),
        reference=Path(a.reference),
        out_dir=Path(a.output),
        settings=settings_from_args(a),
        template=a.name,
        look=a.look,
        tiff=a.tiff,
        jpeg_quality=a.jpeg_quality,
        overwrite=a.overwrite,
        redo=a.redo,
        dry_run=a.dry_run,
        jobs=a.jobs,
        ray=a.ray,
        ray_cpus_per_worker=a.ray_cpus_per_worker,
        ray_gpus_per_worker=a.ray_gpus_per_worker,
        contact_sheet=not a.no_contact_sheet,
        export_lut=Path(a.export_lut) if a.export_lut else None,
        lut_size=a.lut_size,
        export_look=Path(a.export_look) if a.export_look else None,
        progress=not a.quiet,
        normalize=a.normalize,
        masks=a.masks,
    )


def _cmd_album(a: argparse.Namespace) -> int:
    o = options_from_args(a)
    summary = run_album(o)
    err = sys.stderr
    if o.dry_run:
        for action, src, out in summary.planned:
            print(f"{action:9s} {src} -> {Path(o.out_dir) / out}")
        print(
            f"dry run: {sum(x[0] in ('write', 'overwrite') for x in summary.planned)} to style, "
            f"{summary.skipped} already done, {summary.failed} refused; nothing was written.",
            file=err,
        )
        return 1 if summary.failed else 0
    for src, message in summary.failures:
        print(f"failed: {message if src in message else f'{src}: {message}'}", file=err)
    if summary.interrupted:
        print("interrupted: finished photos are in the manifest; run the same command again to resume.", file=err)
    print(
        f"album: {summary.succeeded} succeeded, {summary.failed} failed, {summary.skipped} skipped "
        f"(of {summary.total}), {summary.flagged} flagged in {summary.seconds:.1f}s -> {o.out_dir}",
        file=err,
    )
    for p in (*(summary.contact_sheet or ()), summary.lut, *summary.look_exports):
        if p is not None:
            print(p)
    return summary.exit_status


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `photostyle album` to the CLI."""
    p = sub.add_parser(
        "album",
        help="apply one reference's look to every photo of a folder (resumable, never touches the originals)",
        description="Style every photo of SHOOT_DIR (JPEG, PNG, TIFF, camera RAW) with REF's look into OUT_DIR. "
        "A manifest in OUT_DIR lets a stopped run resume; exit status 1 when any photo failed.",
    )
    p.add_argument("shoot_dir", metavar="SHOOT_DIR", help="folder of photos (only read, never written)")
    p.add_argument("-r", "--reference", required=True, metavar="REF", help="the photo whose look to apply")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (outside SHOOT_DIR)")
    p.add_argument("--name", default=DEFAULT_TEMPLATE, help="output name template: {stem}, {look}, {ext} (%(default)s)")
    p.add_argument("--look", help="the {look} in output names (default: the reference's file name)")
    p.add_argument(
        "--masks",
        default="auto",
        metavar="|".join(MASK_MODES),  # checked by the planner, before any work
        help="auto: regions found in each photo and paired with the reference's, as transfer does; none: one "
        "global look (%(default)s)",
    )
    p.add_argument("--tiff", action="store_true", help="write 16-bit TIFFs (.tif) instead of JPEGs")
    p.add_argument("--jpeg-quality", type=int, default=95)
    p.add_argument("--overwrite", action="store_true", help="replace outputs that are not this job's current result")
    p.add_argument("--redo", action="store_true", help="style every photo again, even those already done")
    p.add_argument("--dry-run", action="store_true", help="list what would be written, and write nothing")
    p.add_argument("-j", "--jobs", type=int, help="worker processes (Ray: workers), each with its own model")
    p.add_argument("--ray", metavar="ADDRESS", help="run on Ray: local, auto, HOST:PORT or ray://HOST:10001")
    p.add_argument("--ray-cpus-per-worker", type=float, help="CPUs each Ray worker reserves (default: --threads or 1)")
    p.add_argument("--ray-gpus-per-worker", type=float, default=0.0, help="GPUs each Ray worker reserves")
    p.add_argument("--export-lut", metavar="LOOK.cube", help="also write the look's global colour part as a 3D LUT")
    p.add_argument(
        "--export-look",
        metavar="DIR",
        help="also write the look's global colour part for other editors into DIR: a .cube, a darktable style "
        "(.dtstyle, lut3d) and a RawTherapee profile (.pp3) with its Hald CLUT (.png)",
    )
    p.add_argument("--lut-size", type=int, default=33, help="LUT grid points per channel (%(default)s)")
    p.add_argument(
        "--normalize",
        nargs="?",
        const="both",
        choices=MODES,
        metavar="{exposure,wb,both}",
        help="before the look, bring every photo to the shoot's common exposure and/or white balance, estimated "
        "in linear light from the regions that match between photos of the same scene (a median over tiles); "
        "photos matching no other are left as shot; the correction is recorded in the manifest. Without a value: "
        "both. Off by default",
    )
    p.add_argument("--no-contact-sheet", action="store_true", help="skip contact-sheet.html/.png and thumbnails")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_settings_args(p)
    p.set_defaults(func=_cmd_album)
