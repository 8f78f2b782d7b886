"""Time and peak memory of a transfer at 1, 12 and 24 megapixels, preview and best quality.

    .venv/bin/python -m bench.speed                 # preview and best, 1/12/24 MP, 3 runs each (medians)
    .venv/bin/python -m bench.speed --modes preview --runs 5
    python -m bench.speed --device cuda --warmup  # on a GPU: writes bench/reports/speed-gpu-<date>.md
    .venv/bin/python -m bench.speed --modes preview-auto --sizes 1 --runs 5 --against /tmp/old-checkout
    .venv/bin/python -m bench.speed --modes best,best-auto --sizes 1   # best with no masks, and the default path

The photo is samples/chelsea.png upscaled (bicubic) to each size, the reference samples/rocket.jpg. Every run is a
fresh process, so its peak memory (max RSS) is its own; the time is the transfer call alone (no file I/O). The
baseline, in the same run: the same mode at 1 MP with no upsampling (the working size set to the photo's own size).
For best quality that baseline would take tens of minutes, so it is measured over a few L-BFGS evaluations and
scaled to the default budget (the per-evaluation cost is what changes). Writes bench/reports/speed-<date>.md
(speed-gpu-<date>.md on a GPU). --warmup first runs one small transfer in the same process, so the time leaves out
what a long-lived process (the GIMP service, an album job) pays once: loading VGG-19, starting CUDA.

``best-auto`` is best quality as ``photostyle transfer`` runs it by default: automatic masks (timed), then best
with the guard (photostyle/engine/guard.py); it has no baseline row of its own (best's is the same optimisation).
``preview-auto`` is the default preview as ``photostyle transfer --quality preview`` runs it: automatic masks
(``regions.prepare_masks``: the VGG-19 segmenter, mediapipe's person model, the sky rule, snapping, the
confidence) then ``transfer`` with the skin guard. Its row times masks and transfer together in a fresh process
(what a command-line call pays, VGG-19 and mediapipe loaded inside the timed call); the row after it, "warm", a
second photo with the same reference in the same process (what the GIMP service and an album worker pay per
photo: models loaded, the reference already analysed); the seconds of masks and transfer are given apart.
``--against TREE`` also runs every measurement with the photostyle package of another checkout (the old code),
interleaved with this one's runs so both see the same load, and gives the ratio; with ``--modes best,best-auto``
also best-auto's time over the old code's best, issue 15's measure (the default path against best as it was).
The report names VGG-19's arithmetic: best quality's time depends on whether the CPU has bfloat16 units.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from .common import ROOT, git_commit, machine, report_path


def _photo_at(mp: float, name: str = "chelsea.png") -> np.ndarray:
    """samples/NAME upscaled (bicubic) to MP megapixels."""
    import torch
    import torch.nn.functional as F

    from photostyle import read_image

    photo = read_image(ROOT / "samples" / name).pixels
    h = int(round((mp * 1e6 * photo.shape[0] / photo.shape[1]) ** 0.5))
    w = int(round(h * photo.shape[1] / photo.shape[0]))
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    big = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return np.ascontiguousarray(big[0].permute(1, 2, 0).numpy())


def run_auto(mp: float) -> dict:
    """The default preview with automatic masks: a cold photo (fresh process), then a warm one (same reference)."""
    import warnings

    from photostyle import Settings, read_image, transfer
    from photostyle.regions import prepare_masks

    ref = read_image(ROOT / "samples" / "rocket.jpg").pixels
    s = Settings.preset("preview")
    out: dict = {"mp": mp, "mode": "preview-auto"}
    # the first photo in a fresh process; another photo after it (the cat mirrored: the same work, new pixels);
    # a portrait (the person model finds her: person region and skin guard at work)
    for run, name in (("cold", "chelsea.png"), ("warm", "chelsea.png"), ("warm, a portrait", "astronaut.png")):
        photo = _photo_at(mp, name)
        if run == "warm":
            photo = np.ascontiguousarray(photo[:, ::-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0, c0 = time.perf_counter(), time.process_time()
            pairs, seg = prepare_masks(photo, ref, masks="auto", settings=s)
            t1 = time.perf_counter()
            res = transfer(photo, ref, masks=pairs, settings=s)
            t2, c2 = time.perf_counter(), time.process_time()
        assert res.image.shape == photo.shape and seg is not None
        out[run] = {"seconds": t2 - t0, "masks": t1 - t0, "transfer": t2 - t1, "cpu": c2 - c0}
        out[run]["size"] = f"{photo.shape[1]}x{photo.shape[0]}"
    out["seconds"], out["size"] = out["cold"]["seconds"], out["cold"]["size"]
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["gpu_peak_mib"] = None
    return out


def run_one(mp: float, mode: str, no_upsample: bool, evals: int | None, device: str, warmup: bool) -> dict:
    import torch

    from photostyle import Settings, read_image, transfer
    from photostyle.runtime import pick_device

    if mode == "preview-auto":
        return run_auto(mp)
    photo = read_image(ROOT / "samples" / "chelsea.png").pixels
    ref = read_image(ROOT / "samples" / "rocket.jpg").pixels
    big_np = _photo_at(mp)
    h, w = big_np.shape[:2]
    s = Settings.preset("best" if mode == "best-auto" else mode, device=device)
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
    if mode == "best-auto":  # the default path: automatic masks (segmentation timed), then best with its guard
        try:
            from photostyle.regions import prepare_masks
        except ImportError:  # an old checkout (--against): before the layout step it lived in photostyle.segment
            from photostyle.segment import prepare_masks  # type: ignore[import-not-found,no-redef]

        pairs, _ = prepare_masks(big_np, ref, masks="auto", settings=s)
        res = transfer(big_np, ref, masks=pairs, settings=s)
    else:
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


TREE_ENV = "BENCH_PHOTOSTYLE_TREE"  # a checkout whose photostyle package a child process times instead of this one


def child(
    mp: float,
    mode: str,
    device: str,
    warmup: bool,
    no_upsample: bool = False,
    evals: int | None = None,
    tree: str | None = None,
) -> dict:
    cmd = [sys.executable, "-m", "bench.speed", "--one", str(mp), "--modes", mode, "--device", device]
    if warmup:
        cmd.append("--warmup")
    if no_upsample:
        cmd.append("--no-upsample")
    if evals is not None:
        cmd += ["--evals", str(evals)]
    env = {**os.environ, TREE_ENV: tree} if tree else {k: v for k, v in os.environ.items() if k != TREE_ENV}
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def gpu_peak(runs: list[dict]) -> str:
    peaks = [r["gpu_peak_mib"] for r in runs if r.get("gpu_peak_mib") is not None]
    return f"{max(peaks):.0f}" if peaks else "-"


def median_row(label: str, mp: float, runs: list[dict]) -> tuple[str, float, float]:
    """The report's row for RUNS of one mode at MP megapixels, their median seconds and their peak MiB."""
    secs = [r["seconds"] for r in runs]
    med, peak = statistics.median(secs), max(r["peak_mib"] for r in runs)
    row = (
        f"| {label} | {runs[0]['size']} ({mp:g} MP) | {len(runs)} | {med:.2f} | {min(secs):.2f} | {max(secs):.2f} "
        f"| {peak:.0f} | {gpu_peak(runs)} |"
    )
    return row, med, peak


RUNS = ("cold", "warm", "warm, a portrait")


def _load() -> str:
    return "load average " + " / ".join(f"{v:.1f}" for v in os.getloadavg())


def _tree_commit(tree: str) -> str:
    """TREE's short commit when it is a git checkout, else its path (a `git archive` export)."""
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else tree


def auto_rows(sizes: list[float], runs: int, device: str, against: str | None) -> list[str]:
    """The preview-auto rows: cold and warm medians (masks and transfer apart), and against another tree's code,
    its runs interleaved with this tree's."""
    trees: list[tuple[str, str | None]] = [("this commit", None)]
    if against:
        trees.append((f"old code ({_tree_commit(against)})", against))
    rows: list[str] = []
    for mp in sizes:
        got: dict[str, list[dict]] = {name: [] for name, _ in trees}
        loads = [_load()]
        for _ in range(runs):
            for name, tree in trees:
                got[name].append(child(mp, "preview-auto", device, False, tree=tree))
            loads.append(_load())
        med: dict[str, dict[str, float]] = {}
        for name, _ in trees:
            rs = got[name]
            for run in RUNS:
                m = {k: statistics.median(r[run][k] for r in rs) for k in ("seconds", "masks", "transfer", "cpu")}
                secs = [r[run]["seconds"] for r in rs]
                med[f"{name} {run}"] = m
                rows.append(
                    f"| preview-auto, {run}, {name} | {rs[0][run]['size']} ({mp:g} MP) | {runs} | {m['seconds']:.2f} "
                    f"| {min(secs):.2f} | {max(secs):.2f} | {max(r['peak_mib'] for r in rs):.0f} | - |"
                )
                rows.append(
                    f"| (masks {m['masks']:.2f} s, transfer with skin guard {m['transfer']:.2f} s, "
                    f"CPU time {m['cpu']:.2f} s) | | | | | | | |"
                )
                print(rows[-2], rows[-1], sep="\n", flush=True)
        if len(trees) > 1:
            for run in RUNS:
                new, old = med[f"this commit {run}"], med[f"{trees[1][0]} {run}"]
                rows.append(
                    f"| preview-auto, {run}: this commit / old code | | | ratio {new['seconds'] / old['seconds']:.3f} "
                    f"(masks {new['masks'] / old['masks']:.3f}, CPU {new['cpu'] / old['cpu']:.3f}) | | | | |"
                )
        rows.append(f"| (machine load while these ran: {'; '.join(loads)}) | | | | | | | |")
        print("\n".join(rows[-4:]), flush=True)
    return rows


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
    ap.add_argument("--against", metavar="TREE", help="also time every mode with TREE's photostyle (the old code)")
    a = ap.parse_args()
    if a.one is not None:
        if os.environ.get(TREE_ENV):
            sys.path.insert(0, os.environ[TREE_ENV])
        print(json.dumps(run_one(a.one, a.modes, a.no_upsample, a.evals, a.device, a.warmup)))
        return
    from photostyle import Settings
    from photostyle.runtime import pick_device, use_bf16

    dev = pick_device(a.device)
    sizes = [float(x) for x in a.sizes.split(",")]
    lines = [
        "# Speed and memory at camera sizes",
        "",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}; photo: samples/chelsea.png upscaled; reference: samples/rocket.jpg",
        f"- device: {a.device}; time: the `transfer()` call (no file I/O; preview-auto: `prepare_masks` and it)"
        + (", after one small warm-up transfer in the same process" if a.warmup else ", the process's first")
        + "; memory: peak RSS of the process (fresh process per run), and on a GPU the peak allocated there",
        f"- VGG-19's arithmetic (precision 'auto'): {'bfloat16' if use_bf16('auto', dev) else 'float32'}"
        + ("" if dev.type == "cuda" else " (bfloat16 where the CPU has AVX512-BF16 or AMX: about twice as fast)"),
        *([f"- old code (--against): {_tree_commit(a.against)}, runs interleaved with these"] if a.against else []),
        "",
        "| mode | size | runs | median s | min s | max s | peak MiB (max) | GPU peak MiB (max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    olds: dict[tuple[str, float], float] = {}  # (mode, MP) -> the old code's median seconds (--against)
    for mode in a.modes.split(","):
        if mode == "preview-auto":
            lines += auto_rows(sizes, a.runs, a.device, a.against)
            continue
        runs = a.runs if mode == "preview" else a.best_runs
        for mp in sizes:
            rs, old_rs = [], []
            for _ in range(runs):  # with --against, the two trees' runs interleaved: both see the same load
                rs.append(child(mp, mode, a.device, a.warmup))
                if a.against:
                    old_rs.append(child(mp, mode, a.device, a.warmup, tree=a.against))
            row, med, peak = median_row(mode, mp, rs)
            lines.append(row)
            print(row, flush=True)
            summary.append((mode, mp, med, peak))
            if old_rs:
                row, olds[(mode, mp)], _ = median_row(f"{mode}, old code", mp, old_rs)
                lines += [row, f"| {mode}: this commit / old code | | | ratio {med / olds[(mode, mp)]:.3f} | | | | |"]
                print(*lines[-2:], sep="\n", flush=True)
        if mode == "best-auto":  # the baseline below is best's own (no masks)
            if ("best", 1.0) in olds:  # the measure: the default path against old best
                new = next(m for (mo, mp, m, _) in summary if mo == "best-auto" and mp == 1.0)
                lines.append(
                    f"| best-auto (this commit) / best (old code), 1 MP | | | ratio {new / olds[('best', 1.0)]:.3f} "
                    "| | | | |"
                )
                print(lines[-1], flush=True)
            continue
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
    path = report_path("speed-gpu" if dev.type == "cuda" else "speed")
    path.write_text("\n".join(lines) + "\n")
    print(path)


if __name__ == "__main__":
    main()
