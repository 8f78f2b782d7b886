"""The album job on Ray: the same per-photo function, spread over a cluster with Ray Data.

Photos become rows of a Ray Data dataset; ``map_batches`` runs ``RayAlbumWorker``, a class whose constructor
reads the reference and settings once per actor (so each actor holds one model), over them. Results stream back to
the driver as they finish; the driver alone writes the manifest, exactly as with the local process pool, so resume,
skip and overwrite rules are the same. Ray does the scheduling, retries and placement.

Addresses: ``local`` starts a Ray instance on this machine; ``auto`` joins the cluster this machine belongs to
(after ``ray start``, or RAY_ADDRESS); ``HOST:PORT`` is a cluster's GCS address; ``ray://HOST:10001`` connects
through Ray Client from outside the cluster. Every node must see SHOOT_DIR, the reference and OUT_DIR at the same
paths (a shared file system) and have photostyle installed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from photostyle.errors import PhotostyleError, SettingsError
from pipelines.album.options import PhotoTask, Record, WorkerSpec
from pipelines.album.worker import AlbumWorker


class RayAlbumWorker:
    """A Ray Data actor: one AlbumWorker (reference read once, one model), styling a batch of photos per call."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.worker = AlbumWorker(WorkerSpec(**spec))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        entries = [json.dumps(self.worker(PhotoTask(**json.loads(str(t))))) for t in batch["task"]]
        return {"entry": np.array(entries, dtype=object)}


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise SettingsError(
            "--ray needs Ray: install it with `pip install 'photostyle[ray]'` (on every node of the cluster)."
        ) from exc
    return ray


@contextlib.contextmanager
def session(address: str) -> Iterator[None]:
    """Connected to Ray at ADDRESS for the duration (a connection this process already has is reused and kept)."""
    started = connect(address)
    try:
        yield
    finally:
        if started:
            _ray().shutdown()


def connect(address: str) -> bool:
    """Join (or start) Ray at ADDRESS unless this process is already connected; True when this call connected."""
    ray = _ray()
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a private, throw-away instance
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SettingsError(
            f"cannot connect to Ray at {address!r} ({exc}). Start the cluster first (`ray start --head` on the "
            "head node), give its address (HOST:6379, or ray://HOST:10001 from outside), or use --ray local."
        ) from exc
    return True


def run_on_ray(
    tasks: list[PhotoTask],
    spec: WorkerSpec,
    address: str,
    *,
    jobs: int | None,
    cpus: float,
    gpus: float,
    record: Record,
) -> None:
    """Style TASKS on Ray, calling RECORD with each photo's manifest entry as it finishes."""
    if not tasks:
        return
    ray = _ray()
    with session(address):
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # per-operator chatter; failures still raise
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the album job has its own
        ctx.execution_options.preserve_order = False  # results as they finish
        if jobs is None:
            cluster_cpus = float(ray.cluster_resources().get("CPU", 1.0))
            jobs = max(1, int(cluster_cpus // max(cpus, 1e-6)))
        jobs = max(1, min(jobs, len(tasks)))
        ds = ray.data.from_items([{"task": json.dumps(asdict(t))} for t in tasks], override_num_blocks=len(tasks))
        ds = ds.map_batches(
            RayAlbumWorker,
            fn_constructor_kwargs={"spec": asdict(spec)},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=jobs),
            num_cpus=cpus,
            num_gpus=gpus or None,
        )
        try:
            for row in ds.iter_rows():
                record(json.loads(row["entry"]))
        except PhotostyleError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray wraps worker failures in many exception types
            raise PhotostyleError(
                f"the Ray run stopped: {type(exc).__name__}: {exc}. Photos finished so far are in the manifest; "
                "run the same command again to resume. On a cluster, check that every node sees the photos, the "
                "reference and the output folder at the same paths and has photostyle installed."
            ) from exc
