"""photostyle: photorealistic look transfer (Deep Photo Style Transfer with matting regularisation)."""

from photostyle.errors import InputError, MaskError, OutputError, PhotostyleError, SettingsError, WeightsError
from photostyle.imageio import Photo, read_image, write_image
from photostyle.pipeline import Result, transfer, transfer_files
from photostyle.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "MaskError",
    "OutputError",
    "Photo",
    "PhotostyleError",
    "Result",
    "Settings",
    "SettingsError",
    "WeightsError",
    "read_image",
    "transfer",
    "transfer_files",
    "write_image",
]
