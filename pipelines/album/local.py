"""The album on this machine: in this process (--jobs 1) or in a pool of spawned worker processes (--jobs N)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing.synchronize import Event as EventType

from photostyle.errors import PhotostyleError
from photostyle.settings import Settings
from pipelines.album.options import Entry, PhotoTask, Record, WorkerSpec, error_entry
from pipelines.album.worker import AlbumWorker

_POOL_WORKER: AlbumWorker | None = None
_POOL_SETUP_ERROR: PhotostyleError | None = None
_POOL_STOP: EventType | None = (
    None  # a multiprocessing Event: set by the parent on Ctrl-C, so queued photos are not started
)


def _die_with_parent() -> None:
    """Linux: end this worker when the parent is killed, so no orphan writes outputs the manifest never hears of."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _pool_init(spec: WorkerSpec, stop: EventType) -> None:
    global _POOL_WORKER, _POOL_SETUP_ERROR, _POOL_STOP
    _die_with_parent()
    # Ctrl-C is the parent's to handle: it stops handing out photos and waits for those in progress
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _POOL_STOP = stop
    try:
        _POOL_WORKER = AlbumWorker(spec)
    except PhotostyleError as exc:  # raised again for the first photo, so the parent stops with this message
        _POOL_SETUP_ERROR = exc


def _pool_run(task: PhotoTask) -> Entry | None:
    if _POOL_SETUP_ERROR is not None:
        raise _POOL_SETUP_ERROR
    if _POOL_STOP is not None and _POOL_STOP.is_set():
        return None  # the job was interrupted before this photo started
    assert _POOL_WORKER is not None, "worker not initialised"
    return _POOL_WORKER(task)


def worker_threads(jobs: int, settings: Settings) -> int:
    """Threads per worker: the user's --threads, else the cores shared out between the workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return settings.threads or max(1, cores // max(1, jobs))


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _thread_env(threads: int | None) -> Iterator[None]:
    """Limit the BLAS/OpenMP pools of processes started inside, so N workers do not each use every core.

    They read these variables when numpy and torch load, before any initializer could set them.
    """
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    if threads:
        os.environ.update(dict.fromkeys(_THREAD_VARS, str(threads)))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_local(tasks: list[PhotoTask], spec: WorkerSpec, jobs: int, record: Record) -> None:
    """Style TASKS in this process (jobs == 1) or in a pool of JOBS processes, one AlbumWorker each."""
    if not tasks:
        return
    if jobs <= 1:
        worker = AlbumWorker(spec)
        for t in tasks:
            record(worker(t))
        return
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: safe with torch's thread pools
    stop = ctx.Event()
    ex = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=_pool_init, initargs=(spec, stop)
    )

    def collect(f: Future[Entry | None], task: PhotoTask) -> None:
        try:
            entry = f.result()
        except PhotostyleError:  # a worker could not set up (reference, weights, device): stop the job
            raise
        # (a KeyboardInterrupt here is this process's own Ctrl-C, the workers ignore SIGINT: it goes up to the
        # loop below, which stops the job, instead of being swallowed while the rest of the album runs on)
        except Exception as exc:  # noqa: BLE001 - a worker that died (killed, out of memory) fails its photo
            entry = error_entry(task, f"{task.input}: the worker styling it stopped ({exc!r}).", type(exc).__name__)
        if entry is not None:
            record(entry)

    try:
        with _thread_env(spec.threads):  # the workers are spawned by the first submits and inherit it
            futures = {ex.submit(_pool_run, t): t for t in tasks}
        left = set(futures)
        try:
            for f in as_completed(futures):
                left.discard(f)
                collect(f, futures[f])
        except KeyboardInterrupt:
            # Photos already handed to a worker may still finish and write their output: wait for them and
            # record them, so that a resumed run knows those outputs. Queued photos are not started.
            stop.set()
            running = [f for f in left if not f.cancel()]
            print("stopping: letting the photos in progress finish (Ctrl-C again to abandon them)", file=sys.stderr)
            try:
                for f in as_completed(running):
                    collect(f, futures[f])
            except KeyboardInterrupt:
                for proc in list(getattr(ex, "_processes", {}).values()):  # abandon: end the workers now
                    proc.terminate()
            raise
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
