"""The look's global colour part for other editors: a .cube, a darktable style and a RawTherapee profile.

``--export-look DIR`` writes four files named after the look (``photostyle-<look>``):

- ``<name>.cube``: the 3D LUT (``pipelines.album.lut``), read by Lightroom/ACR profiles, Photoshop, Resolve, GIMP
  and by darktable's lut3d module;
- ``<name>.dtstyle``: a darktable style (darktable 3.0 and later; checked with 4.2) holding one lut3d module that
  reads ``<name>.cube`` from darktable's LUT folder (preference "3D lut root folder",
  ``plugins/darkroom/lut3d/def_path``): lut3d stores the LUT's path relative to that folder, so the style is portable
  once the .cube is copied there. The module works in sRGB with trilinear interpolation, as ``apply_lut`` does;
- ``<name>-hald.png``: the same LUT as a level-8 Hald CLUT (512 x 512, 64 points a channel, 16-bit, sRGB);
- ``<name>.pp3``: a partial RawTherapee profile that turns on Film Simulation with that Hald CLUT at strength 100.
  RawTherapee reads an absolute ClutFilename as is and a relative one under its CLUT folder; the profile names the
  PNG's absolute path, so it works where it was written and the PNG can be moved into the CLUT folder (the name
  then edited to the bare file name) for another machine.

What a LUT cannot carry, none of these carry: the engine's per-region maps and its texture (local) changes.
"""

from __future__ import annotations

import re
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from photostyle.errors import OutputError
from photostyle.imageio import write_bytes_atomic, write_image
from pipelines.album.lut import apply_lut, write_cube

HALD_LEVEL = 8  # 64 grid points a channel, a 512 x 512 image
# darktable's lut3d parameters, version 3 (darktable 3.4 to 4.x): char filepath[512]; int colorspace;
# int interpolation; int nb_keypoints; char c_clut[2048 * 2 * 3]; char lutname[128] (no padding: 12940 bytes)
LUT3D_VERSION = 3
LUT3D_PATH_BYTES = 512
LUT3D_CLUT_BYTES = 2048 * 2 * 3
LUT3D_NAME_BYTES = 128
LUT3D_SRGB = 0  # dt_iop_lut3d_colorspace_t: the LUT is applied to sRGB-encoded values
LUT3D_TRILINEAR = 1  # dt_iop_lut3d_interpolation_t
KINDS = ("cube", "dtstyle", "hald", "pp3")


def export_stem(look: str) -> str:
    """The file-name stem of LOOK's exports: ``photostyle-<look>`` with anything but [A-Za-z0-9._-] as '_'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", look).strip("._-") or "look"
    return f"photostyle-{safe}"[:100]


def export_names(look: str) -> dict[str, str]:
    """The file names ``--export-look`` writes for LOOK, by kind (cube, dtstyle, hald, pp3)."""
    stem = export_stem(look)
    return {"cube": f"{stem}.cube", "dtstyle": f"{stem}.dtstyle", "hald": f"{stem}-hald.png", "pp3": f"{stem}.pp3"}


def hald_clut(lut: np.ndarray, level: int = HALD_LEVEL) -> np.ndarray:
    """LUT ([r, g, b, 3], sRGB) as a Hald CLUT image of LEVEL: (level^3, level^3, 3) floats, the pixel at row y,
    column x holding the colour for index x + y * level^3 = r + g * level^2 + b * level^4 (red fastest)."""
    n = level * level
    g = np.linspace(0.0, 1.0, n)
    b, gg, r = np.meshgrid(g, g, g, indexing="ij")  # b slowest, r fastest
    grid = np.stack([r, gg, b], -1).reshape(level**3, level**3, 3)
    return apply_lut(lut, grid)


def lut3d_params(cube_name: str) -> bytes:
    """darktable's lut3d parameters (version 3) reading CUBE_NAME from the LUT folder, sRGB, trilinear."""
    path = cube_name.encode("utf-8")
    if len(path) >= LUT3D_PATH_BYTES:
        raise OutputError(f"{cube_name}: too long a name for darktable's lut3d module; choose a shorter --look.")
    return b"".join(
        (
            path.ljust(LUT3D_PATH_BYTES, b"\0"),
            struct.pack("<iii", LUT3D_SRGB, LUT3D_TRILINEAR, 0),
            bytes(LUT3D_CLUT_BYTES),
            bytes(LUT3D_NAME_BYTES),
        )
    )


def dtstyle_text(style_name: str, cube_name: str, description: str) -> str:
    """A darktable style with one lut3d module that applies CUBE_NAME (blending left to darktable's defaults)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<darktable_style version="1.0">\n'
        "<info>\n"
        f"<name>{escape(style_name)}</name>\n"
        f"<description>{escape(description)}</description>\n"
        "</info>\n"
        "<style>\n"
        "<plugin>\n"
        "<num>0</num>\n"
        f"<module>{LUT3D_VERSION}</module>\n"
        "<operation>lut3d</operation>\n"
        f"<op_params>{lut3d_params(cube_name).hex()}</op_params>\n"
        "<enabled>1</enabled>\n"
        "<blendop_params></blendop_params>\n"
        "<blendop_version>11</blendop_version>\n"
        "<multi_priority>0</multi_priority>\n"
        "<multi_name></multi_name>\n"
        "</plugin>\n"
        "</style>\n"
        "</darktable_style>\n"
    )


def pp3_text(hald_path: Path) -> str:
    """A partial RawTherapee profile: Film Simulation with the Hald CLUT at HALD_PATH, at full strength."""
    return (
        "[Version]\nAppVersion=5.9\nVersion=349\n\n"
        f"[Film Simulation]\nEnabled=true\nClutFilename={hald_path.as_posix()}\nStrength=100\n"
    )


def _png_bytes(pixels: np.ndarray) -> bytes:
    with tempfile.TemporaryDirectory(prefix="photostyle-hald-") as tmp:
        return write_image(Path(tmp) / "hald.png", pixels, bit_depth=16).read_bytes()


def _cube_bytes(lut: np.ndarray, title: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="photostyle-cube-") as tmp:
        return write_cube(Path(tmp) / "look.cube", lut, title=title).read_bytes()


def look_export_files(folder: Path, lut: np.ndarray, look: str) -> dict[str, tuple[Path, bytes]]:
    """What ``write_look_exports`` writes into FOLDER for LUT: {kind: (path, content)}."""
    names = export_names(look)
    folder = folder.absolute()
    hald_path = folder / names["hald"]
    style = f"photostyle {look}"
    description = (
        f"photostyle look '{look}', its global colour part: lut3d reads {names['cube']} from darktable's "
        "3D lut root folder; copy the .cube there"
    )
    return {
        "cube": (folder / names["cube"], _cube_bytes(lut, look)),
        "dtstyle": (folder / names["dtstyle"], dtstyle_text(style, names["cube"], description).encode("utf-8")),
        "hald": (hald_path, _png_bytes(hald_clut(lut))),
        "pp3": (folder / names["pp3"], pp3_text(hald_path).encode("utf-8")),
    }


def write_look_exports(folder: Path, lut: np.ndarray, look: str, *, overwrite: bool = False) -> dict[str, Path]:
    """Write LUT's .cube, .dtstyle, Hald CLUT and .pp3 into FOLDER (made if missing), each atomically.

    A file that is already there with the same content is left alone (a resumed run is not an error); one with
    other content is replaced only with OVERWRITE, and then none is written (checked before the first write)."""
    files = look_export_files(folder, lut, look)
    changed: Mapping[str, tuple[Path, bytes]] = {
        kind: (path, data) for kind, (path, data) in files.items() if not _same(path, data)
    }
    if not overwrite:
        for path, _ in changed.values():
            if path.exists() or path.is_symlink():
                raise OutputError(f"{path}: already exists with another look; pass --overwrite to replace it.")
    folder.mkdir(parents=True, exist_ok=True)
    for path, data in changed.values():
        write_bytes_atomic(path, data, overwrite=True)
    return {kind: path for kind, (path, _) in files.items()}


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.read_bytes() == data
    except OSError:
        return False
