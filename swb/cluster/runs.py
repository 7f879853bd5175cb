"""Sweeps and designs on a cluster, driver side: what to ship, how to cut the work into chunks, and how the
chunks' results come back together, by index, into exactly what a single process computes.

A sweep's chunks are configuration ranges (plus the baseline); their ``SweepSums`` are exact integer sums, so the
merged arrays equal a single-process run's bit for bit whatever the chunking, order or retries. A design's chunks
are blocks of candidate cameras; their pass rows are bits. The driver keeps its own runner for the rest (the best
configuration's tables, the optimiser's selection), on its own device.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pxr import Sdf

from ..optimize.optimizer import Optimizer, Rows
from ..sweep.api import SweepHost
from ..sweep.results import SweepResult, SweepSums
from ..sweep.run import Progress, SweepRunner
from .fingerprint import design_fingerprint, sweep_fingerprint
from .jobs import BASELINE, DesignJob, StageRecipe, SweepJob, config_text, package_stage, unpack_rows
from .session import Cluster

CHUNKS_PER_WORKER = 4  # at least this many chunks per worker: load balance, progress and cheap retries


class DriverHost(SweepHost, Protocol):
    """The driver's simulation: its stage file and SWB's configuration layer are what the workers open."""

    config_layer: Sdf.Layer
    scene_path: Path


def stage_recipe(cluster: Cluster, sim: DriverHost) -> StageRecipe:
    """The stage as the driver has it now (the spec already authored into the configuration layer)."""
    package = cluster.put(package_stage(sim.scene_path)) if cluster.ship else None
    return StageRecipe(type(sim), str(sim.scene_path), config_text(sim.config_layer, sim.stage), package)


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + chunk)) for a in range(0, n, max(1, chunk))]


def cluster_chunk(n: int, worker_chunks: list[int], workers: int, requested: int | None) -> int:
    """The user's chunk, else the smallest a worker's memory allows, cut so each worker gets several chunks."""
    if requested is not None:
        return int(requested)
    fit = min(worker_chunks) if worker_chunks else n
    return int(max(1, min(fit, math.ceil(n / max(1, workers * CHUNKS_PER_WORKER)))))


class ClusterSweep:
    """``execute(runner, progress)`` for ``swb.sweep.api.sweep_simulation``: chunks of configurations on the
    cluster's workers, merged into the runner's result."""

    def __init__(self, cluster: Cluster, sim: DriverHost, chunk: int | None = None) -> None:
        self.cluster, self.sim, self.chunk = cluster, sim, chunk

    def __call__(self, runner: SweepRunner, progress: Progress | None) -> SweepResult:
        t0 = time.perf_counter()
        cl = self.cluster
        job = SweepJob(stage_recipe(cl, self.sim), runner.spec.path, sweep_fingerprint(runner), self.chunk)
        prepared = cl.prepare(job)
        t_chunks = time.perf_counter()
        n = runner.design.n
        chunk = cluster_chunk(n, [p["chunk"] for p in prepared], cl.n_workers, self.chunk)
        bounds = chunk_bounds(n, chunk)
        items: list[Any] = [BASELINE, *bounds]
        got: dict[int, SweepSums] = {}
        counted = [0]

        def on_result(index: int, sums: SweepSums) -> None:
            got[index] = sums
            if index > 0:
                a, b = bounds[index - 1]
                counted[0] += b - a
                if progress is not None:
                    progress(counted[0], n)

        complete = True
        retried, where = cl.retried, cl.describe()
        try:
            cl.map(job, items, on_result)
        except KeyboardInterrupt:
            complete = False  # keep the configurations done in design order, like a single-process run
        again = cl.retried - retried
        cl.last_run = {"prepare_s": t_chunks - t0, "chunks_s": time.perf_counter() - t_chunks, "chunks": len(items),
                       "chunk": chunk, "retried": again,
                       "per_worker": [cl.per_worker[k] for k in sorted(cl.per_worker)]}
        cl.log(f"cluster: {len(got) - (0 in got)} of {len(bounds)} chunks of up to {chunk:,} configurations on {where} "
               f"in {cl.last_run['chunks_s']:.2f} s (workers opened the stage in {cl.last_run['prepare_s']:.2f} s)"
               + (f"; {again} run again after a worker was lost" if again else ""))
        baseline = got.get(0)
        if baseline is None:
            baseline = runner.evaluate_records(runner.builder.baseline())
        parts, done = [], 0
        for k, (_, b) in enumerate(bounds, start=1):
            if k not in got:
                break
            parts.append(got[k])
            done = b
        if not complete and progress is not None:
            progress(done, n)
        sums = SweepSums.concatenate(parts, len(runner.scene.cameras))
        result = runner.finish(sums, baseline, done, complete, time.perf_counter() - t0)
        result.chunk = chunk
        result.device = f"{where}; details on {runner.device}"
        return result


def cluster_rows(cluster: Cluster, sim: DriverHost) -> Any:
    """``rows`` for ``swb.optimize.optimizer.Optimizer``: the candidate matrix in blocks on the workers."""

    def make(opt: Optimizer) -> Rows:
        job = DesignJob(stage_recipe(cluster, sim), opt.spec.path, design_fingerprint(opt.passes, opt.scene))
        prepared = cluster.prepare(job)
        worker_chunk = [p["chunk"] for p in prepared]
        n_passes = opt.passes.n

        def rows(records: np.ndarray, frame_rate: np.ndarray, progress: Any = None) -> np.ndarray:
            n = len(records)
            out = np.zeros((n, n_passes), bool)
            if n == 0:
                return out
            bounds = chunk_bounds(n, cluster_chunk(n, worker_chunk, cluster.n_workers, None))
            items = [(np.ascontiguousarray(records[a:b]), np.ascontiguousarray(frame_rate[a:b])) for a, b in bounds]
            counted = [0]

            def on_result(index: int, packed: np.ndarray) -> None:
                a, b = bounds[index]
                out[a:b] = unpack_rows(packed, n_passes)
                counted[0] += b - a
                if progress is not None:
                    progress(counted[0], n)

            cluster.map(job, items, on_result)
            opt.evaluator.evaluations += n * opt.evaluator.n_samples  # counted as if evaluated here
            opt.evaluator.cameras_evaluated += n
            return out

        return rows

    return make
