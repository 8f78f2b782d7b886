"""The errors photostyle raises: each names the file (or setting) at fault and what to do about it."""

from __future__ import annotations


class PhotostyleError(Exception):
    """Base class: a problem the user can fix. The message says what and how."""


class InputError(PhotostyleError):
    """A file that cannot be read or used (missing, corrupt, unsupported format, wrong size or colours)."""


class MaskError(InputError):
    """A mask that does not follow the colour code or does not fit its image."""


class WeightsError(PhotostyleError):
    """The VGG-19 weights are missing or not in a format photostyle reads."""


class OutputError(PhotostyleError):
    """An output that cannot be written, or would overwrite a file without --overwrite."""


class SettingsError(PhotostyleError):
    """A setting outside its allowed range or an unknown option."""
