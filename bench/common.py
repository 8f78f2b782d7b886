"""Helpers shared by the bench scripts: machine description, medians, the shared metrics and markdown tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DPST_DEV = SHARED / "dpst-dev"
SCORE = SHARED / "metrics" / "score.py"
REPORTS = ROOT / "bench" / "reports"
METRICS = ("gram", "color_swd", "structure", "affine_frac", "flat_hf_dev")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import torch

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    versions = f"Python {platform.python_version()}, torch {torch.__version__}"
    return f"{platform.node()}: {os.cpu_count()} x {cpu}{mem}{gpu}; {versions}"


def shared_metrics() -> ModuleType:
    """../shared/metrics/photoreal_metrics.py (the metrics score.py computes) as a module: it is not a package, so
    its folder goes on sys.path, once."""
    folder = str(SHARED / "metrics")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import photoreal_metrics  # noqa: PLC0415 - the shared metrics are not a package

    return photoreal_metrics


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


def pair_ids() -> list[int]:
    return sorted(int(f.stem[2:]) for f in (DPST_DEV / "input").glob("in*.png"))


def median(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def score(pattern: str, ids: list[int], jsonl: Path, with_gram: bool = True) -> list[dict]:
    """Run shared/metrics/score.py on OUT pattern for IDS; returns the per-pair rows."""
    cmd = [sys.executable, str(SCORE), str(DPST_DEV), pattern, "--ids", ",".join(map(str, ids)), "--jsonl", str(jsonl)]
    if not with_gram:
        cmd.append("--no-gram")
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]


def fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}" if abs(v) < 1e-2 else f"{v:.{digits}f}"


def report_path(name: str) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS / f"{name}-{date.today().isoformat()}.md"
