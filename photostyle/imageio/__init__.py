"""Image I/O, the pipeline's edges: decode (``read_image``), encode (``write_image``), RAW, the atomic writer.

Pixels are float32 RGB in [0, 1], shape (H, W, 3), in sRGB, the engine's working space: a file with another
embedded ICC profile is converted on reading and the output converted back into it (``profiles``). Writes are atomic:
a temporary file beside the target, then a rename, so a failed or interrupted run never leaves a half-written
image, and an existing file is only replaced when asked.
"""

from photostyle.imageio.atomic import write_bytes_atomic, write_private, write_text_atomic
from photostyle.imageio.decode import read_image
from photostyle.imageio.encode import check_output_path, write_image
from photostyle.imageio.photo import (
    ORIENTATION_TAG,
    RAW_SUFFIXES,
    READ_SUFFIXES,
    WRITE_SUFFIXES,
    Photo,
    as_pixels,
    from_array,
    to_uint,
)

__all__ = [
    "ORIENTATION_TAG",
    "RAW_SUFFIXES",
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "Photo",
    "as_pixels",
    "check_output_path",
    "from_array",
    "read_image",
    "to_uint",
    "write_bytes_atomic",
    "write_image",
    "write_private",
    "write_text_atomic",
]
