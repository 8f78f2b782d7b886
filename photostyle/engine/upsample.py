"""Upsampling by local affine colour maps: the result at the photo's full resolution, sharp, with no VGG pass there.

The photorealistic result is locally an affine function of the photo's colours (the premise of the matting
regulariser). At the working size we fit, in every window, the regularised affine map from the small photo's
colours to the small result's (the guided filter's least-squares fit, He et al. 2013), smooth the coefficients,
upsample them bilinearly and apply them to the full-size photo. Edges come from the full-size photo itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage

from photostyle.imaging.colourspaces import RGB_TO_YIQ, lab_to_rgb, rgb_to_lab
from photostyle.imaging.filters import box_mean_array, fit_affine, local_spread


@functools.cache
def _kernel() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
    """The per-pixel kernel, compiled by numba once (and cached on disk): one pass over the photo."""
    import numba

    @numba.njit(parallel=True, cache=True, fastmath=True)
    def apply(coef: np.ndarray, photo: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
        h, w = coef.shape[0], coef.shape[1]
        H, W = photo.shape[0], photo.shape[1]
        sy_scale, sx_scale = h / H, w / W
        for y in numba.prange(H):
            sy = min(max((y + 0.5) * sy_scale - 0.5, 0.0), h - 1.0)
            y0 = int(sy)
            y1 = min(y0 + 1, h - 1)
            fy = sy - y0
            for x in range(W):
                sx = min(max((x + 0.5) * sx_scale - 0.5, 0.0), w - 1.0)
                x0 = int(sx)
                x1 = min(x0 + 1, w - 1)
                fx = sx - x0
                r, g, b = photo[y, x, 0], photo[y, x, 1], photo[y, x, 2]
                for c in range(3):
                    acc = 0.0
                    for k in range(4):
                        top = coef[y0, x0, c, k] * (1 - fx) + coef[y0, x1, c, k] * fx
                        bot = coef[y1, x0, c, k] * (1 - fx) + coef[y1, x1, c, k] * fx
                        v = top * (1 - fy) + bot * fy
                        acc += v * (r if k == 0 else g if k == 1 else b if k == 2 else 1.0)
                    out[y, x, c] = min(max(acc, 0.0), 1.0)

    return apply


# pixels: from this size on, the numba kernel. Below it torch, strip by strip: 0.06 s at 1 MP against the kernel's
# 0.015 s, but the kernel's import, set-up and load cost about 0.5 s once per process, a sixth of a fresh preview's
# first photo; at camera sizes the kernel's speed (0.4 s at 24 MP against 1.8 s) pays that back on the first photo.
COMPILED_FROM = 2e6
_STRIP = 256  # rows per strip of the torch path


def _axis(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel-centre bilinear sampling along one axis (as align_corners=False): lower index, upper, weight."""
    s = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(0, n_in - 1)
    lo = s.floor().long()
    return lo, (lo + 1).clamp(max=n_in - 1), (s - lo).float()


def _apply_strips(coef: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """apply_affine in torch, in strips of rows: the coefficients interpolated along x once at their own height,
    then along y and applied a strip at a time (a strip-sized array of coefficients, none at full size)."""
    h, w = coef.shape[:2]
    height, width = photo.shape[:2]
    x0, x1, fx = _axis(width, w)
    y0, y1, fy = _axis(height, h)
    c = torch.from_numpy(np.ascontiguousarray(coef, np.float32)).reshape(h, w, 12)
    along_x = torch.lerp(c[:, x0], c[:, x1], fx[None, :, None])  # (h, width, 12)
    p = torch.from_numpy(np.ascontiguousarray(photo, np.float32))
    out = np.empty((height, width, 3), np.float32)
    o = torch.from_numpy(out)
    for top in range(0, height, _STRIP):
        rows = slice(top, min(height, top + _STRIP))
        m = torch.lerp(along_x[y0[rows]], along_x[y1[rows]], fy[rows, None, None]).view(-1, width, 3, 4)
        q = p[rows]
        o[rows] = (m[..., 3] + m[..., 0] * q[..., 0:1] + m[..., 1] * q[..., 1:2] + m[..., 2] * q[..., 2:3]).clamp_(0, 1)
    return out


def apply_affine(coef: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Bilinearly upsample COEF (h, w, 3, 4) to PHOTO's size and apply it, pixel by pixel.

    Pixel-centre sampling (as align_corners=False). Memory: the photo and the output, nothing at full size else.
    Below COMPILED_FROM pixels in torch, strip by strip; from there on with the numba kernel, in one pass.
    """
    if photo.shape[0] * photo.shape[1] < COMPILED_FROM:
        return _apply_strips(coef, photo)
    out = np.empty(photo.shape[:2] + (3,), np.float32)
    _kernel()(np.ascontiguousarray(coef, dtype=np.float32), np.ascontiguousarray(photo, dtype=np.float32), out)
    return out


def upsample(
    small_photo: np.ndarray, small_result: np.ndarray, photo: np.ndarray, radius: int = 2, eps: float = 1e-4
) -> np.ndarray:
    """The result at PHOTO's size: local affine maps fitted at the working size, applied to the full photo."""
    if small_photo.shape == photo.shape and np.array_equal(small_photo, photo):
        return np.clip(small_result, 0, 1).astype(np.float32)
    return apply_affine(fit_affine(small_photo, small_result, radius, eps), photo)


def photographic(
    photo: np.ndarray,
    result: np.ndarray,
    radius: int,
    eps: float,
    detail: float,
    grain: float = 1.0,
    *,
    textured: np.ndarray | None = None,
    textured_detail: float = 0.0,
    textured_grain: float = 1.0,
) -> np.ndarray:
    """RESULT (the optimiser's free pixels) made a photograph of PHOTO again, at the same size.

    The result is refitted as local affine colour maps of the photo over (2 RADIUS + 1)^2 windows (the guided
    filter's regression, coefficients smoothed: a bilateral-grid-like edge-aware colour transform). Inside a
    window one affine map of the photo's colours cannot draw an edge, a stripe or a shape the photo does not have:
    the lattice of a launch tower painted into fur (affine in 3x3 windows, which is how it passed the matting
    term) is gone. What the fit leaves out is the look's texture; its part finer than GRAIN (the sigma of a
    Gaussian, in pixels) is added back, at most DETAIL times the photo's own local detail at that scale: texture
    where the photo has texture, nothing new in its flat areas. DETAIL 0 keeps the pure affine fit; RADIUS 0
    returns RESULT unchanged.

    TEXTURED, an (H, W) weight in [0, 1], marks where the regions correspond (a photo region and its partner of
    the same kind): there the texture kept is TEXTURED_DETAIL and TEXTURED_GRAIN's, blended by the weight.
    """
    if radius <= 0:
        return result
    fitted = apply_affine(fit_affine(photo, result, radius, eps), photo)
    rest = np.asarray(result, np.float32) - fitted
    grey = np.asarray(photo, np.float32).mean(-1)

    def texture(amount: float, sigma: float) -> np.ndarray:
        fine = rest - ndimage.gaussian_filter(rest, (sigma, sigma, 0))
        own = np.sqrt(np.maximum(box_mean_array((grey - ndimage.gaussian_filter(grey, sigma)) ** 2, 2), 0.0))
        return np.clip(fine, -amount * own[..., None], amount * own[..., None])

    w = None if textured is None or not textured.any() else np.clip(textured, 0, 1)[..., None].astype(np.float32)
    if detail > 0:
        fitted = fitted + (texture(detail, grain) if w is None else (1 - w) * texture(detail, grain))
    if w is not None and textured_detail > 0:
        fitted = fitted + w * texture(textured_detail, textured_grain)
    return np.clip(fitted, 0, 1).astype(np.float32)


GRAIN_SIGMA = 1.0  # the grain's scale: what is finer than a Gaussian of this many pixels
EDGE_RADIUS = 3  # keep_edges' windows: (2r+1)^2 px at the working size
EDGE_GAIN = 0.1  # the least luminance gain a look may give the photo's edges in a window (photo -> look)
EDGE_PASSES = 4  # the lifts are averaged over the windows holding a pixel: a few passes bring every gain up
EDGE_EPS = 1e-4  # regularises the gain in flat windows (variance in [0, 1] units^2), as the upsampling's fit


def keep_edges(
    photo: np.ndarray, image: np.ndarray, radius: int = EDGE_RADIUS, min_gain: float = EDGE_GAIN
) -> np.ndarray:
    """IMAGE (a look applied to PHOTO, same size) with none of the photo's edges flattened or turned over.

    Per-region colour maps meet at region borders, and one region's map may darken what the next one's lightens:
    a kitchen's white window frames dark against their panes (a negative), a dark ring around each lamp. In every
    window of (2 RADIUS + 1)^2 px the look's luminance is fitted as an affine function of the photo's (the guided
    filter's regression); where that gain is below MIN_GAIN the photo's own luminance detail is added back until it
    reaches MIN_GAIN, averaged over the windows that hold each pixel, as the guided filter does. Where every window
    holding a pixel has at least that gain, the pixel is left exactly as it is.
    """
    weights = RGB_TO_YIQ[0].astype(np.float32)
    yp = np.asarray(photo, np.float32) @ weights
    mean_p = box_mean_array(yp, radius)
    var = np.clip(box_mean_array(yp * yp, radius) - mean_p * mean_p, 0.0, None)
    # the least gain, regularised as the fitted gains are: an affine look of gain min_gain fits min_gain * var /
    # (var + eps), so a flat window (its spread under eps) asks for next to nothing
    least = min_gain * var / (var + EDGE_EPS)
    var += EDGE_EPS
    out: np.ndarray = np.asarray(image, np.float32)
    for _ in range(EDGE_PASSES):  # each pass lifts the windows' gains part of the way (their lifts are averaged)
        yr = out @ weights
        gain = (box_mean_array(yp * yr, radius) - mean_p * box_mean_array(yr, radius)) / var
        lift = np.clip(least - gain, 0.0, None)
        if not lift.any():
            break
        delta = box_mean_array(lift, radius) * yp - box_mean_array(lift * mean_p, radius)
        touched = box_mean_array((lift > 0).astype(np.float32), radius) > 0.5 / (2 * radius + 1) ** 2
        delta[~touched] = 0.0  # bit for bit where no window holding the pixel is lifted
        out = np.clip(out + delta[..., None], 0.0, 1.0)
    return out


SMOOTH = (2 / 255, 6 / 255)  # the photo's local spread (grey, Gaussian 2 px): below, its grain; above, the image's
_HALO = 10  # rows each strip reads beyond its own: more than the Gaussians reach (4 sigma)


def _finest(x: np.ndarray) -> np.ndarray:
    """(H, W, C): what is finer than GRAIN_SIGMA."""
    out: np.ndarray = x - ndimage.gaussian_filter(x, (GRAIN_SIGMA, GRAIN_SIGMA, 0))
    return out


def keep_grain(photo: np.ndarray, image: np.ndarray, rows: int = 512) -> np.ndarray:
    """IMAGE (a look applied to PHOTO, same size) with the photo's own grain where the photo is smooth.

    The local affine maps that carry a look to the photo (the upsampling here, best's refit, the closed-form look's
    refit) regress the grain of the photo's smooth areas (sky, fog, walls: a spread under the fits' eps) mostly
    away, and a map's gain lifts what is left: a look made a clean sky waxy or a foggy one noisy. Where the photo
    is smooth (its local spread under SMOOTH[0], fading to nothing at SMOOTH[1]) the image's finest detail, in
    CIELAB so that it reads the same at any tone, is replaced by the photo's own: the look's colours, the photo's
    noise. Elsewhere (edges, texture, the look's texture) the image is left exactly as it is.

    Worked in strips of ROWS rows (the result does not depend on it): a few strip-sized arrays, none at full size.
    """
    image = np.asarray(image, np.float32)
    out = image.copy()
    height = photo.shape[0]
    for top in range(0, height, rows):
        lo, hi = max(0, top - _HALO), min(height, top + rows + _HALO)
        p = np.asarray(photo[lo:hi], np.float32)
        grey = p @ RGB_TO_YIQ[0].astype(np.float32)  # luminance, in float32
        spread = local_spread(grey, 2.0)
        weight = np.clip((SMOOTH[1] - spread) / (SMOOTH[1] - SMOOTH[0]), 0.0, 1.0)
        if not weight[top - lo : top - lo + rows].any():
            continue
        lab = rgb_to_lab(image[lo:hi])
        lab += weight[..., None] * (_finest(rgb_to_lab(p)) - _finest(lab))
        mixed = lab_to_rgb(lab)  # out-of-gamut CIELAB (the image's own saturated blues) is clipped
        here = slice(top - lo, top - lo + min(rows, height - top))
        out[top : top + rows] = np.where(weight[here, :, None] > 0, mixed[here], image[top : top + rows])
    return out
