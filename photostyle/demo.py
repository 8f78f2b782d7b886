"""The demo job: style the bundled sample pairs, write each result and a before / reference / after picture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from photostyle import imageio
from photostyle.pipeline import transfer
from photostyle.settings import Settings


def side_by_side(images: list[np.ndarray], height: int = 320, gap: int = 8) -> np.ndarray:
    """Images (float RGB) scaled to one height and laid out left to right on white."""
    tiles = []
    for im in images:
        pil = Image.fromarray(imageio.to_uint(np.clip(im, 0, 1), 8))
        w = max(1, round(pil.width * height / pil.height))
        tiles.append(np.asarray(pil.resize((w, height), Image.Resampling.LANCZOS)))
    width = sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1)
    canvas = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for t in tiles:
        canvas[:, x : x + t.shape[1]] = t
        x += t.shape[1] + gap
    return canvas.astype(np.float32) / 255.0


def run_demo(samples: Path, out_dir: Path, settings: Settings | None = None, overwrite: bool = True) -> Iterator[Path]:
    """Style every pair of SAMPLES/pairs.json into OUT_DIR; yields the paths written."""
    pairs = json.loads((samples / "pairs.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        photo = imageio.read_image(samples / pair["photo"], role="photo")
        ref = imageio.read_image(samples / pair["reference"], role="reference")
        res = transfer(photo, ref, settings=settings)
        stem = f"{Path(pair['photo']).stem}_{pair['look']}"
        yield imageio.write_image(out_dir / f"{stem}.jpg", res.image, like=photo, overwrite=overwrite)
        sbs = side_by_side([photo.pixels, ref.pixels, res.image])
        yield imageio.write_image(out_dir / f"{stem}_side_by_side.jpg", sbs, overwrite=overwrite)
