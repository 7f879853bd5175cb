"""The Ray actor that evaluates chunks: one process per worker (Ray spawns it; nothing is forked from the driver),
one device (the GPU Ray assigned it, or the CPU with its share of the cores), its own Warp kernel cache, and the
stage opened once per job with its Warp world kept for every chunk of that job.

Ray restarts a worker whose process dies; a restarted worker has no stage open, so every call carries its job and
the worker opens the stage again when the job is not the one it holds (``_ensure``).
"""

from __future__ import annotations

import gc
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SwbError
from .jobs import kernel_cache, worker_folder


@dataclass(frozen=True)
class WorkerInfo:
    """Who a worker is, for messages and for the retry test (its process id)."""

    index: int
    host: str
    ip: str
    pid: int
    device: str
    threads: int

    def where(self) -> str:
        return f"worker {self.index} on {self.host} ({self.ip}, pid {self.pid})"


class Worker:
    """Evaluates chunks of sweeps and designs (see ``jobs.py``) on one device."""

    def __init__(self, index: int, device: str, threads: int, cache_root: str | None = None) -> None:
        import warp as wp

        self.index, self.device, self.threads = index, device, max(1, int(threads))
        wp.config.kernel_cache_dir = str(kernel_cache(index, cache_root))
        wp.config.quiet = True
        wp.init()
        self.folder = worker_folder(index)
        self._key: str | None = None
        self._job: Any = None
        self._state: Any = None
        self._host: Any = None
        self._host_key: str | None = None

    def info(self) -> WorkerInfo:
        import ray

        try:
            ip = ray.util.get_node_ip_address()
        except Exception:  # noqa: BLE001 - only for messages
            ip = "?"
        return WorkerInfo(self.index, socket.gethostname(), ip, os.getpid(), self.device, self.threads)

    def cpu_seconds(self) -> float:
        """CPU time this worker process has used (all its threads): what benchmarks weigh work by."""
        return time.process_time()

    def prepare(self, job: Any) -> dict[str, Any]:
        """Open the job's stage and build its runner; what the driver sizes chunks with."""
        t0 = time.perf_counter()
        self._ensure(job)
        return {"chunk": job.chunk_of(self._state), "seconds": time.perf_counter() - t0, "info": self.info()}

    def run(self, job: Any, item: Any) -> Any:
        self._ensure(job)
        return job.run(self._state, item)

    def _ensure(self, job: Any) -> None:
        if job.key == self._key:
            return
        self._release()
        try:
            if self._host_key != job.recipe.key:
                self._host, self._host_key = None, None
                gc.collect()  # let go of the last stage's layers, so the file is read afresh
                self._host = job.recipe.open(self.device, self.threads, _fetch, Path(self.folder))
                self._host_key = job.recipe.key
            self._state = job.prepare(self._host, self.threads)
        except SwbError as exc:
            raise SwbError(f"{self.info().where()}: {exc}") from None
        self._key, self._job = job.key, job

    def _release(self) -> None:
        if self._state is not None and self._job is not None:
            self._job.close(self._state)
        self._state, self._job, self._key = None, None, None


def _fetch(handle: Any) -> bytes:
    import ray

    return ray.get(handle)
