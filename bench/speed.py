"""Time and peak memory of a transfer at 1, 12 and 24 megapixels, preview and best quality.

    .venv/bin/python -m bench.speed                 # preview and best, 1/12/24 MP, 3 runs each (medians)
    .venv/bin/python -m bench.speed --modes preview --runs 5
    python -m bench.speed --device cuda --warmup  # on a GPU: writes bench/reports/speed-gpu-<date>.md

The photo is samples/chelsea.png upscaled (bicubic) to each size, the reference samples/rocket.jpg. Every run is a
fresh process, so its peak memory (max RSS) is its own; the time is the transfer call alone (no file I/O). The
baseline, in the same run: the same mode at 1 MP with no upsampling (the working size set to the photo's own size).
For best quality that baseline would take tens of minutes, so it is measured over a few L-BFGS evaluations and
scaled to the default budget (the per-evaluation cost is what changes). Writes bench/reports/speed-<date>.md
(speed-gpu-<date>.md on a GPU). --warmup first runs one small transfer in the same process, so the time leaves out
what a long-lived process (the GIMP service, an album job) pays once: loading VGG-19, starting CUDA.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from .common import ROOT, git_commit, machine, report_path


def run_one(mp: float, mode: str, no_upsample: bool, evals: int | None, device: str, warmup: bool) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from photostyle import Settings, read_image, transfer
    from photostyle.runtime import pick_device

    photo = read_image(ROOT / "samples" / "chelsea.png").pixels
    ref = read_image(ROOT / "samples" / "rocket.jpg").pixels
    h = int(round((mp * 1e6 * photo.shape[0] / photo.shape[1]) ** 0.5))
    w = int(round(h * photo.shape[1] / photo.shape[0]))
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    big = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    big_np = np.ascontiguousarray(big[0].permute(1, 2, 0).numpy())
    del x, big
    s = Settings.preset(mode, device=device)
    if warmup:  # one small transfer first: VGG-19 loaded, CUDA started, kernels chosen
        transfer(photo, ref, settings=s.with_(iterations=tuple(min(n, 2) for n in s.iterations)))
    cuda = pick_device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    if no_upsample:
        s = s.with_(scales=(max(h, w),), iterations=(evals or s.iterations[-1],))
    elif evals is not None:
        s = s.with_(iterations=tuple(max(1, round(n * evals / sum(s.iterations))) for n in s.iterations))
    t0 = time.perf_counter()
    res = transfer(big_np, ref, settings=s)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    assert res.image.shape == big_np.shape
    return {
        "mp": mp,
        "size": f"{w}x{h}",
        "mode": mode,
        "no_upsample": no_upsample,
        "evals": len(res.trace),
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    }


def child(mp: float, mode: str, device: str, warmup: bool, no_upsample: bool = False, evals: int | None = None) -> dict:
    cmd = [sys.executable, "-m", "bench.speed", "--one", str(mp), "--modes", mode, "--device", device]
    if warmup:
        cmd.append("--warmup")
    if no_upsample:
        cmd.append("--no-upsample")
    if evals is not None:
        cmd += ["--evals", str(evals)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def gpu_peak(runs: list[dict]) -> str:
    peaks = [r["gpu_peak_mib"] for r in runs if r.get("gpu_peak_mib") is not None]
    return f"{max(peaks):.0f}" if peaks else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="preview,best")
    ap.add_argument("--sizes", default="1,12,24", help="megapixels")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--best-runs", type=int, default=1, help="runs of best quality per size (minutes each)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the engine's --device)")
    ap.add_argument("--warmup", action="store_true", help="time a second transfer in each process, not the first")
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--no-upsample", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--evals", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one is not None:
        print(json.dumps(run_one(a.one, a.modes, a.no_upsample, a.evals, a.device, a.warmup)))
        return
    from photostyle import Settings
    from photostyle.runtime import pick_device

    sizes = [float(x) for x in a.sizes.split(",")]
    lines = [
        "# Speed and memory at camera sizes",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; photo: samples/chelsea.png upscaled; reference: samples/rocket.jpg",
        f"- device: {a.device}; time: the `transfer()` call (no file I/O)"
        + (", after one small warm-up transfer in the same process" if a.warmup else ", the process's first")
        + "; memory: peak RSS of the process (fresh process per run), and on a GPU the peak allocated there",
        "",
        "| mode | size | runs | median s | min s | max s | peak MiB (max) | GPU peak MiB (max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    for mode in a.modes.split(","):
        runs = a.runs if mode == "preview" else a.best_runs
        for mp in sizes:
            rs = [child(mp, mode, a.device, a.warmup) for _ in range(runs)]
            secs = [r["seconds"] for r in rs]
            med = statistics.median(secs)
            peak = max(r["peak_mib"] for r in rs)
            lines.append(
                f"| {mode} | {rs[0]['size']} ({mp:g} MP) | {runs} | {med:.2f} | {min(secs):.2f} | {max(secs):.2f} "
                f"| {peak:.0f} | {gpu_peak(rs)} |"
            )
            print(lines[-1], flush=True)
            summary.append((mode, mp, med, peak))
        # baseline: same mode at 1 MP without upsampling (working size = the photo's size)
        if mode == "preview":
            base = [child(1.0, mode, a.device, a.warmup, no_upsample=True) for _ in range(runs)]
            b = statistics.median(r["seconds"] for r in base)
            note = "measured"
        else:
            probe_evals = 3
            base = [child(1.0, mode, a.device, a.warmup, no_upsample=True, evals=probe_evals)]
            per_eval = base[0]["seconds"] / max(1, base[0]["evals"])
            b = per_eval * sum(Settings().iterations)
            note = f"{probe_evals} evaluations measured ({per_eval:.1f} s each), scaled to {sum(Settings().iterations)}"
        with_up = next(m for (mo, mp, m, _) in summary if mo == mode and mp == 1.0) if 1.0 in sizes else None
        ratio = f"{with_up / b:.3f}" if with_up else "n/a"
        lines.append(
            f"| {mode} baseline: no upsampling | 1 MP | {len(base)} | {b:.2f} ({note}) | | | "
            f"{max(r['peak_mib'] for r in base):.0f} | {gpu_peak(base)} |"
        )
        lines.append(f"| {mode}: with / without upsampling at 1 MP | | | ratio {ratio} | | | | |")
        print(lines[-2], lines[-1], sep="\n", flush=True)
    path = report_path("speed-gpu" if pick_device(a.device).type == "cuda" else "speed")
    path.write_text("\n".join(lines) + "\n")
    print(path)


if __name__ == "__main__":
    main()
