"""Where the work runs: CUDA when torch sees a GPU (or when asked), the CPU otherwise, with sensible threads."""

from __future__ import annotations

import functools
import os

import torch

from photostyle.errors import SettingsError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError(f"device {name!r} asked for, but torch sees no CUDA GPU; use --device cpu or auto.")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise SettingsError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N.") from exc


def set_threads(threads: int | None = None) -> int:
    """Use every core (or THREADS) for torch's CPU kernels; returns the count set."""
    n = threads or len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (threads or os.cpu_count())
    n = max(1, int(n or 1))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The x86 feature flags of /proc/cpuinfo (empty elsewhere), read once per process."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether VGG runs in bfloat16 for Settings.precision on DEVICE. 'auto': where the hardware has bfloat16
    arithmetic (a CUDA GPU that supports it; an x86 CPU with AVX512-BF16 or AMX), as elsewhere emulated bfloat16
    is slower than float32."""
    if precision != "auto":
        return precision == "bfloat16"
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return False
