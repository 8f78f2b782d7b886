"""Shared fixtures: small real photos from samples/ and the DPST development pairs beside the project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from photostyle.imageio import read_image
from photostyle.imaging.resize import resize_longest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
DPST_DEV = ROOT.parent / "shared" / "dpst-dev"

torch.set_num_threads(2)


def small(name: str, longest: int = 96) -> np.ndarray:
    return resize_longest(read_image(SAMPLES / name).pixels, longest)


@pytest.fixture(scope="session")
def cat() -> np.ndarray:
    return small("chelsea.png")


@pytest.fixture(scope="session")
def rocket() -> np.ndarray:
    return small("rocket.jpg")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return small("coffee.png")


@pytest.fixture(scope="session")
def dpst_dev() -> Path:
    if not (DPST_DEV / "segmentation").is_dir():
        pytest.skip(f"{DPST_DEV} not found: the DPST development pairs lie in ../shared beside the project")
    return DPST_DEV
