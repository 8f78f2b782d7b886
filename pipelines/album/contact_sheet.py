"""The album's contact sheet: every photo before and after, in one HTML page (thumbnails) and one PNG.

Workers write each photo's two thumbnails while they hold its pixels (``write_thumbnails``), so the sheet is
assembled at the end of a run without decoding the photos again; thumbnails missing for photos finished in an
earlier run are made from the input and output files. The sheet and its thumbnails belong to the job and are
rebuilt on every run.
"""

from __future__ import annotations

import html
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from photostyle import imageio
from photostyle.errors import PhotostyleError
from photostyle.imageio.atomic import write_text_atomic
from photostyle.imaging.resize import resize_longest
from pipelines.album.flags import describe_flags, flagged_first

SHEET_DIR = "contact-sheet"
THUMB = 320  # longest side of a thumbnail


def thumbnail(pixels: np.ndarray, longest: int = THUMB) -> np.ndarray:
    """A float RGB copy of PIXELS whose longest side is at most LONGEST (Lanczos)."""
    return resize_longest(pixels, longest, method="lanczos")


def thumb_paths(out_dir: Path, output_name: str) -> tuple[Path, Path]:
    stem = Path(output_name).stem
    folder = out_dir / SHEET_DIR
    return folder / f"{stem}.before.jpg", folder / f"{stem}.after.jpg"


def write_thumbnails(out_dir: Path, output_name: str, before: np.ndarray, after: np.ndarray) -> None:
    """Write the before/after thumbnails of one photo (job files: replaced freely)."""
    b, a = thumb_paths(out_dir, output_name)
    b.parent.mkdir(parents=True, exist_ok=True)
    imageio.write_image(b, thumbnail(before), overwrite=True, quality=85)
    imageio.write_image(a, thumbnail(after), overwrite=True, quality=85)


def _ensure_thumbnails(out_dir: Path, shoot_dir: Path, entry: Mapping[str, Any]) -> bool:
    b, a = thumb_paths(out_dir, entry["output"])
    if b.exists() and a.exists():
        return True
    try:
        before = imageio.read_image(shoot_dir / entry["input"], role="photo").pixels
        after = imageio.read_image(out_dir / entry["output"], role="output").pixels
    except PhotostyleError:
        return False
    write_thumbnails(out_dir, entry["output"], before, after)
    return True


def _href(relative: str) -> str:
    """A relative file path as an HTML attribute value: URL-quoted (#, ?, %, spaces), then HTML-escaped."""
    return html.escape(quote(relative, safe="/"))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _fit(path: Path, height: int) -> Image.Image:
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    w = max(1, round(rgb.width * height / rgb.height))
    return rgb.resize((w, height), Image.Resampling.LANCZOS)


def write_contact_sheet(
    out_dir: Path,
    shoot_dir: Path,
    entries: Sequence[Mapping[str, Any]],
    *,
    reference: np.ndarray,
    title: str,
    columns: int = 3,
    cell_height: int = 160,
) -> tuple[Path, Path]:
    """Write OUT_DIR/contact-sheet.html and .png for the manifest ENTRIES; returns both paths."""
    folder = out_dir / SHEET_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ref_path = folder / "reference.jpg"
    imageio.write_image(ref_path, thumbnail(reference), overwrite=True, quality=85)
    rows = flagged_first(entries)  # the photos whose look may be unreliable first
    flagged = sum(1 for e in rows if e.get("flags"))
    have = {e["output"]: e["status"] == "done" and _ensure_thumbnails(out_dir, shoot_dir, e) for e in rows}

    # ---- HTML: thumbnails link to the full-size input and output
    cards = []
    for e in rows:
        name = html.escape(e["input"])
        if have[e["output"]]:
            b, a = (_href(p.relative_to(out_dir).as_posix()) for p in thumb_paths(out_dir, e["output"]))
            out_link = _href(e["output"])
            in_link = _href(Path(os.path.relpath(shoot_dir / e["input"], out_dir)).as_posix())
            body = (
                f'<a href="{in_link}"><img src="{b}" alt="before: {name}"></a>'
                f'<a href="{out_link}"><img src="{a}" alt="after: {name}"></a>'
            )
            caption = f"{name} &rarr; {html.escape(e['output'])}"
            if e.get("flags"):
                caption += f'<br><span class="flag">flagged: {html.escape(describe_flags(e))}</span>'
        else:
            body = f'<div class="error">{html.escape(e.get("error") or e["status"])}</div>'
            caption = f"{name} ({html.escape(e['status'])})"
        kind = html.escape(e["status"]) + (" flagged" if e.get("flags") else "")
        cards.append(f'<figure class="{kind}">{body}<figcaption>{caption}</figcaption></figure>')
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; background: #222; color: #eee; margin: 1em; }}
header {{ display: flex; gap: 1em; align-items: center; }}
header img {{ height: 120px; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1em; }}
figure {{ margin: 0; background: #333; padding: .5em; }}
figure img {{ height: {cell_height}px; margin-right: 4px; }}
figure.failed {{ outline: 2px solid #d33; }}
figure.flagged {{ outline: 2px solid #f90; }}
.flag {{ color: #fb4; }}
.error {{ color: #f88; min-height: {cell_height}px; white-space: pre-wrap; font-size: 90%; }}
figcaption {{ font-size: 85%; margin-top: .3em; word-break: break-all; }}
</style></head><body>
<header><img src="{SHEET_DIR}/reference.jpg" alt="reference"><h1>{html.escape(title)}</h1></header>
<p>Before (left) and after (right) for {len(rows)} photo(s), {flagged} flagged (their look may be unreliable:
shown first, outlined in orange); click a thumbnail for the full-size file.</p>
<main>
{os.linesep.join(cards)}
</main></body></html>
"""
    html_path = write_text_atomic(out_dir / "contact-sheet.html", page, overwrite=True)

    # ---- PNG: a grid of before|after pairs with captions, the reference on top
    font, pad, cap = _font(14), 8, 20
    tiles: list[Image.Image] = []
    for e in rows:
        if have[e["output"]]:
            before, after = (_fit(p, cell_height) for p in thumb_paths(out_dir, e["output"]))
            tile = Image.new("RGB", (before.width + after.width + 4, cell_height + cap), (34, 34, 34))
            tile.paste(before, (0, 0))
            tile.paste(after, (before.width + 4, 0))
            text, fill = e["input"], (230, 230, 230)
            if e.get("flags"):
                text, fill = f"FLAGGED {e['input']}: {describe_flags(e)}", (255, 170, 60)
                ImageDraw.Draw(tile).rectangle((0, 0, tile.width - 1, cell_height - 1), outline=fill, width=3)
        else:
            tile = Image.new("RGB", (2 * cell_height, cell_height + cap), (60, 20, 20))
            text, fill = f"{e['input']}: {e['status']}", (255, 140, 140)
            wrapped = textwrap.wrap(str(e.get("error") or ""), width=max(10, (2 * cell_height) // 7))
            ImageDraw.Draw(tile).multiline_text((4, 4), "\n".join(wrapped[:9]), fill=fill, font=_font(11))
        ImageDraw.Draw(tile).text((2, cell_height + 3), text, fill=fill, font=font)
        tiles.append(tile)
    ref = _fit(ref_path, cell_height)
    header_h = cell_height + cap + pad
    cols = max(1, min(columns, len(tiles)))
    col_w = max([t.width for t in tiles] + [ref.width])
    grid_rows = (len(tiles) + cols - 1) // cols
    width = pad + cols * (col_w + pad)
    height = header_h + pad + grid_rows * (cell_height + cap + pad)
    sheet = Image.new("RGB", (width, height), (20, 20, 20))
    sheet.paste(ref, (pad, pad))
    ImageDraw.Draw(sheet).text((ref.width + 2 * pad, pad), title, fill=(240, 240, 240), font=_font(18))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet.paste(tile, (pad + c * (col_w + pad), header_h + pad + r * (cell_height + cap + pad)))
    png_path = imageio.write_image(
        out_dir / "contact-sheet.png", np.asarray(sheet, np.float32) / 255.0, bit_depth=8, overwrite=True
    )
    return html_path, png_path
