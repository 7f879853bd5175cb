"""Batched sweep evaluation: every configuration x camera x target x orientation in a few kernel launches.

The station's geometry is the World's mesh (uploaded once); target samples and the fixed cameras' verdicts are
uploaded once; candidate cameras are built on the host and uploaded per chunk of configurations, chunks sized to
the device's memory. On the CPU each chunk is split across a small thread pool (Warp's CPU launches release the
GIL). Ctrl-C stops the sweep after the chunk under way and keeps the configurations already done.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import warp as wp

from swb.kernels.camera import Camera, Target
from swb.kernels.lighting import Lighting
from swb.kernels.sweep import bins_in_view, detail_pass, fixed_pass, sweep_configs
from swb.kernels.visibility import ViewCull

from ..engine.model import Scene
from ..engine.profiles import FACTORS
from ..engine.view_cull import view_records
from ..engine.world import World, make_lighting, pack_cameras
from ..errors import SwbError
from .candidates import CandidateBuilder, StageFrame
from .culling import BIN_SIZE, UnseenSums, sample_bins, unseen_sums
from .orientations import SampleSet, build_samples
from .results import BestDetail, SweepResult, SweepSums, ranking
from .sampling import Design, available_host_memory, columns_of, make_design
from .spec import SweepSpec
from .topk import select

Progress = Callable[[int, int], None]  # (configurations done, total)


class RowSink(Protocol):
    """Takes each chunk's sums as the sweep finishes it (``swb.sweep.rows.RowStream``)."""

    def write(self, start: int, sums: SweepSums, values: np.ndarray) -> None: ...

# Work per chunk (camera x sample evaluations) that keeps a CPU chunk near a second, so progress and Ctrl-C
# respond; a GPU takes much larger chunks.
CPU_CHUNK_WORK = 4_000_000
GPU_CHUNK_WORK = 4_000_000_000
MIN_SPLIT_WORK = 20_000  # below this a CPU chunk is not split across threads
_CAMERA_BYTES = np.dtype(Camera.numpy_dtype()).itemsize
_TARGET_BYTES = np.dtype(Target.numpy_dtype()).itemsize
_VIEW_BYTES = np.dtype(ViewCull.numpy_dtype()).itemsize


@dataclass
class _Device:
    """Everything uploaded once for a sweep: samples, fixed-camera verdicts, geometry handles."""

    device: wp.context.Device
    samples: wp.array
    groups: wp.array
    weights: wp.array
    face_group: wp.array
    mesh_id: wp.uint64
    has_mesh: int
    lit: Lighting
    fixed_count: wp.array
    fixed_sole: wp.array
    fixed_key: wp.array
    fixed_limiting: wp.array
    order: wp.array
    sample_bin: wp.array
    bin_centre: wp.array
    bin_radius: wp.array


def device_budget(device: wp.context.Device) -> int:
    """Bytes a sweep may allocate on ``device``: half its free memory (the host's for the CPU)."""
    if device.is_cpu:
        return available_host_memory()
    free = getattr(device, "free_memory", None)
    return int(free * 0.5) if free else 2 << 30


class SweepRunner:
    """One sweep of a scene: design, samples and device buffers, then ``run()``."""

    def __init__(self, scene: Scene, spec: SweepSpec, *, frame: StageFrame | None = None, world: World | None = None,
                 device: str | None = None, threads: int | None = None, chunk: int | None = None,
                 memory_budget: int | None = None, host_budget: int | None = None) -> None:
        self.scene, self.spec = scene, spec
        self.frame = frame if frame is not None else StageFrame()
        self.columns = columns_of(spec, self.frame.meters_per_unit)
        self.builder = CandidateBuilder(scene, spec, self.frame, self.columns)
        n_cam = len(scene.cameras)
        self.design: Design = make_design(spec, self.frame.meters_per_unit, host_budget=host_budget,
                                          n_cameras=n_cam)
        self.world = world if world is not None else World(scene, device=device, threads=threads, detail=False)
        self.device = self.world.device
        self.threads = max(1, int(threads if threads is not None else (os.cpu_count() or 1)))
        self.samples: SampleSet = build_samples(scene, spec, self.frame, self.world.face_part)
        self.budget = memory_budget if memory_budget is not None else device_budget(self.device)
        self.chunk = self._chunk_size(chunk)
        # samples per sweep thread: a bin's run on the CPU, where a thread costs more than a sample; one on a GPU
        self.span = BIN_SIZE if self.device.is_cpu else 1
        wp.load_module("swb.kernels.sweep", device=self.device)  # compile before any threaded launch
        self._pool: ThreadPoolExecutor | None = None
        self._dev = self._upload()
        self._fixed_pass()
        self._unseen = self._unseen_sums()

    # ----- sizing
    def _chunk_size(self, requested: int | None) -> int:
        s, n_var = self.samples.n, len(self.builder.varied)
        sample_bytes = s * (_TARGET_BYTES + 4 + 8 + 16 + 8) + 4 * len(self.samples.face_group)
        sample_bytes += len(self.builder.fixed) * _CAMERA_BYTES
        if sample_bytes > self.budget:
            raise SwbError(
                f"{s:,} target samples ({self.samples.describe()}) need {sample_bytes / 2**20:,.0f} MiB on "
                f"{self.device}, more than the {self.budget / 2**20:,.0f} MiB available",
                file=self.spec.source or None, prim=self.spec.path or None,
                hint="use fewer orientations or positions, or name fewer parcels",
            )
        per_config = n_var * (_CAMERA_BYTES + _VIEW_BYTES) + 8 * (3 + len(self.scene.cameras) + len(FACTORS))
        per_config += -(-s // BIN_SIZE)  # the bins in view
        fit = (self.budget - sample_bytes) // per_config
        if requested is not None:
            if requested < 1:
                raise SwbError(f"the chunk size must be at least 1, got {requested}")
            if requested > fit:
                raise SwbError(
                    f"a chunk of {requested:,} configurations needs {requested * per_config / 2**20:,.0f} MiB on "
                    f"{self.device}, more than the {(self.budget - sample_bytes) / 2**20:,.0f} MiB left",
                    hint=f"use --chunk {max(1, int(fit)):,} or less (results do not depend on the chunk size)",
                )
            return int(requested)
        work = CPU_CHUNK_WORK if self.device.is_cpu else GPU_CHUNK_WORK
        by_work = max(1, work // max(1, s * max(1, n_var)))
        return int(max(1, min(self.design.n, fit, by_work)))

    # ----- device set-up
    def _upload(self) -> _Device:
        dev = self.device
        smp = self.samples
        mesh = self.world.mesh
        face_group = smp.face_group if len(smp.face_group) else np.full(1, -1, np.int32)
        face_group_dev = wp.array(face_group, dtype=wp.int32, device=dev)
        n = smp.n
        bins, centres, radii = sample_bins(smp.records)
        return _Device(
            device=dev,
            samples=wp.array(smp.records, dtype=Target, device=dev),
            groups=wp.array(smp.group, dtype=wp.int32, device=dev),
            weights=wp.array(smp.weight_int, dtype=wp.int64, device=dev),
            face_group=face_group_dev,
            mesh_id=mesh.id if mesh is not None else wp.uint64(0),
            has_mesh=1 if mesh is not None else 0,
            lit=make_lighting(self.world.lights, dev, mesh is not None, face_group_dev),
            fixed_count=wp.zeros(n, dtype=wp.int32, device=dev),
            fixed_sole=wp.zeros(n, dtype=wp.int32, device=dev),
            fixed_key=wp.zeros(n, dtype=wp.float32, device=dev),
            fixed_limiting=wp.zeros(n, dtype=wp.int32, device=dev),
            order=wp.array(np.argsort(bins, kind="stable").astype(np.int32) if n else np.zeros(1, np.int32),
                           dtype=wp.int32, device=dev),
            sample_bin=wp.array(bins if n else np.zeros(1, np.int32), dtype=wp.int32, device=dev),
            bin_centre=wp.array(centres if n else np.zeros((1, 3), np.float32), dtype=wp.vec3, device=dev),
            bin_radius=wp.array(radii if n else np.zeros(1, np.float32), dtype=wp.float32, device=dev),
        )

    def _split(self, n: int, work: int) -> list[tuple[int, int]]:
        pieces = self.threads if self.device.is_cpu and work >= MIN_SPLIT_WORK else 1
        pieces = max(1, min(pieces, n))
        bounds = np.linspace(0, n, pieces + 1).astype(int)
        return [(int(bounds[k]), int(bounds[k + 1])) for k in range(pieces) if bounds[k + 1] > bounds[k]]

    def _run_pieces(self, launch: Callable[[int, int], None], n: int, work: int) -> None:
        parts = self._split(n, work)
        if len(parts) <= 1:
            for a, b in parts:
                launch(a, b)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="swb-sweep")
        futures = [self._pool.submit(launch, a, b) for a, b in parts]
        try:
            for fut in futures:
                fut.result()
        except KeyboardInterrupt:
            _settle(futures)  # launches still running write into this chunk's arrays: they must outlive them
            raise

    def _fixed_pass(self) -> None:
        d, n = self._dev, self.samples.n
        n_fixed = len(self.builder.fixed)
        if n_fixed == 0 or n == 0:
            d.fixed_key.fill_(-1.0)
            return
        records = pack_cameras([self.scene.cameras[i] for i in self.builder.fixed], self.scene.source)
        cams = wp.array(records, dtype=Camera, device=self.device)
        views = wp.array(view_records(records), dtype=ViewCull, device=self.device)

        def launch(a: int, b: int) -> None:
            wp.launch(fixed_pass, dim=b - a, device=d.device,
                      inputs=[cams, d.samples, d.groups, d.face_group, d.mesh_id, d.has_mesh, d.lit, a,
                              d.fixed_count, d.fixed_sole, d.fixed_key, d.fixed_limiting, views])

        self._run_pieces(launch, n, n * n_fixed)

    # ----- configurations
    def evaluate_records(self, records: np.ndarray) -> SweepSums:
        """Sums for a block of configurations given their varied cameras' records (n, n_var)."""
        d = self._dev
        n, n_var = records.shape
        if n_var == 0:
            return self._fixed_only(n)
        n_cam = len(self.scene.cameras)
        s = self.samples.n
        u = self._unseen  # each configuration starts at the samples' unseen share; the kernel adds differences
        covered = wp.array(np.full(n, u.covered, np.int64), dtype=wp.int64, device=d.device)
        redundant = wp.array(np.full(n, u.redundant, np.int64), dtype=wp.int64, device=d.device)
        unique = wp.array(np.tile(u.unique, (n, 1)), dtype=wp.int64, device=d.device)
        limiting = wp.array(np.tile(u.limiting, (n, 1)), dtype=wp.int64, device=d.device)
        cams = wp.array(np.ascontiguousarray(records), dtype=Camera, device=d.device)
        views = wp.array(view_records(records), dtype=ViewCull, device=d.device)
        n_bins = d.bin_radius.shape[0]
        seen = wp.empty((n, n_bins), dtype=wp.uint8, device=d.device)

        def cull(a: int, b: int) -> None:
            wp.launch(bins_in_view, dim=(b - a, n_bins), device=d.device,
                      inputs=[views, d.bin_centre, d.bin_radius, a, seen])

        span = self.span

        def launch(a: int, b: int) -> None:
            wp.launch(sweep_configs, dim=(b - a, -(-s // span)), device=d.device,
                      inputs=[cams, views, d.samples, d.groups, d.weights, d.face_group, d.mesh_id, d.has_mesh, d.lit,
                              d.fixed_count, d.fixed_sole, d.fixed_key, d.fixed_limiting, d.order, d.sample_bin, seen,
                              span, a, covered, redundant, unique, limiting])

        if s:
            self._run_pieces(cull, n, n * n_bins * n_var)
            self._run_pieces(launch, n, n * s * n_var)
        by_camera = np.zeros((n, n_cam), np.int64)  # kernel columns: varied cameras, then fixed -> scene order
        by_camera[:, self.builder.varied + self.builder.fixed] = unique.numpy()
        return SweepSums(covered.numpy().copy(), redundant.numpy().copy(), by_camera, limiting.numpy().copy())

    def _unseen_sums(self) -> UnseenSums:
        """What the samples add to a configuration when no varied camera sees them (from the fixed pass)."""
        d = self._dev
        return unseen_sums(self.samples.weight_int, d.fixed_count.numpy(), d.fixed_sole.numpy(), d.fixed_key.numpy(),
                           d.fixed_limiting.numpy(), len(self.builder.varied), len(self.scene.cameras), len(FACTORS))

    def _fixed_only(self, n: int) -> SweepSums:
        """No varied camera: the fixed pass decides every sample (exact integer sums on the host)."""
        d = self._dev
        count, sole = d.fixed_count.numpy(), d.fixed_sole.numpy()
        lim = d.fixed_limiting.numpy()
        w = self.samples.weight_int
        n_cam = len(self.scene.cameras)
        unique = np.zeros(n_cam, np.int64)
        one = count == 1
        np.add.at(unique, np.asarray(self.builder.fixed, np.int64)[sole[one]], w[one])
        limiting = np.zeros(len(FACTORS), np.int64)
        none = (count == 0) & (lim > 0)
        np.add.at(limiting, lim[none] - 1, w[none])
        return SweepSums(np.full(n, w[count >= 1].sum(), np.int64), np.full(n, w[count >= 2].sum(), np.int64),
                         np.tile(unique, (n, 1)), np.tile(limiting, (n, 1)))

    def run(self, progress: Progress | None = None, *, rows: RowSink | None = None,
            keep: int | None = None) -> SweepResult:
        """Evaluate the baseline and every configuration (in chunks); Ctrl-C stops after the chunk under way and
        keeps the chunks done (so does a KeyboardInterrupt raised by ``progress``).

        ``rows``: gets each chunk's sums as it finishes (``swb.sweep.rows.RowStream`` streams them to Parquet).
        ``keep``: hold only the ``keep`` best configurations (``TopK``'s merge, memory O(keep + chunk)) instead of
        every configuration's sums; the ranking of those is the same as when all are kept."""
        t0 = time.perf_counter()
        n = self.design.n
        parts: list[SweepSums] = []
        kept = _Kept(keep, len(self.scene.cameras)) if keep is not None else None
        done = 0
        with stop_on_interrupt() as stop:
            baseline = self.evaluate_records(self.builder.baseline())
            try:
                while done < n and not stop.is_set():
                    b = min(n, done + self.chunk)
                    sums = self.evaluate_range(done, b)
                    if rows is not None:
                        rows.write(done, sums, self.design.values[done:b])
                    if kept is not None:
                        kept.add(done, sums)
                    else:
                        parts.append(sums)
                    done = b
                    if progress is not None:
                        progress(done, n)
            except KeyboardInterrupt:
                pass
        complete = done == n
        seconds = time.perf_counter() - t0
        if kept is not None:
            return self.finish(kept.sums, baseline, done, complete, seconds, configs=kept.index)
        return self.finish(SweepSums.concatenate(parts, len(self.scene.cameras)), baseline, done, complete, seconds)

    def evaluate_range(self, start: int, stop: int) -> SweepSums:
        """Sums of configurations ``start .. stop - 1`` of the design: one chunk, wherever it runs (a cluster
        worker holding the same stage calls this too; integer sums make the chunks' order irrelevant)."""
        return self.evaluate_records(self.builder.build(self.design.values[start:stop]).records)

    def finish(self, sums: SweepSums, baseline: SweepSums, done: int, complete: bool, seconds: float,
               configs: np.ndarray | None = None) -> SweepResult:
        """The result of the first ``done`` configurations' sums (in design order; ``configs``: the design indices
        of the rows when only the best were kept): ranked, with the best configuration's and the baseline's tables
        evaluated here."""
        result = assemble_result(self, sums, baseline, done, complete, seconds, configs)
        if result.best is not None:
            result.best_detail = self.detail(result.best)
        result.baseline_detail = self.detail(None)
        return result

    # ----- one configuration in full
    def cameras_for(self, index: int | None) -> np.ndarray:
        """All sensor cameras' records (scene order) for configuration ``index`` (None: as authored)."""
        records = pack_cameras(self.scene.cameras, self.scene.source)
        if index is not None and self.builder.varied:
            cand = self.builder.build(self.design.values[index:index + 1]).records[0]
            records[self.builder.varied] = cand
        return records

    def detail(self, index: int | None) -> BestDetail:
        """Per sample and camera decodability of one configuration, with each sample's best camera."""
        d = self._dev
        order = np.asarray(self.builder.varied + self.builder.fixed, dtype=np.int64)  # the order sweeps break ties
        records = self.cameras_for(index)[order]
        n_cam, s = len(records), self.samples.n
        cams = wp.array(records, dtype=Camera, device=d.device)
        dec = wp.zeros((max(s, 1), n_cam), dtype=wp.uint8, device=d.device)
        best = wp.zeros(max(s, 1), dtype=wp.int32, device=d.device)
        score = wp.zeros(max(s, 1), dtype=wp.float32, device=d.device)
        lim = wp.zeros(max(s, 1), dtype=wp.int32, device=d.device)
        p_read = wp.zeros(max(s, 1), dtype=wp.float32, device=d.device)

        def launch(a: int, b: int) -> None:
            wp.launch(detail_pass, dim=b - a, device=d.device,
                      inputs=[cams, d.samples, d.groups, d.face_group, d.mesh_id, d.has_mesh, d.lit, a, dec, best,
                              score, lim, p_read])

        if s:
            self._run_pieces(launch, s, s * n_cam)
        decodable = np.empty((s, n_cam), dtype=bool)
        decodable[:, order] = dec.numpy()[:s].astype(bool)
        best_camera = best.numpy()[:s]
        best_camera = np.where(best_camera >= 0, order[np.maximum(best_camera, 0)], -1).astype(np.int32)
        return BestDetail(index, decodable, best_camera, score.numpy()[:s].copy(), lim.numpy()[:s].copy(),
                          p_read.numpy()[:s].copy())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class _Kept:
    """The best ``k`` configurations' sums so far, merged chunk by chunk (``topk.select``)."""

    def __init__(self, k: int, n_cameras: int) -> None:
        if k < 1:
            raise SwbError(f"the sweep must keep at least 1 configuration, got {k}")
        self.k = k
        self._index = np.zeros(0, np.int64)
        self._sums = SweepSums.concatenate([], n_cameras)

    def add(self, start: int, sums: SweepSums) -> None:
        index = np.concatenate([self._index, np.arange(start, start + len(sums.covered), dtype=np.int64)])
        both = SweepSums.concatenate([self._sums, sums], self._sums.unique.shape[1])
        keep = select(both.covered, both.redundant, index, self.k)
        self._index = index[keep]
        self._sums = SweepSums(both.covered[keep], both.redundant[keep], both.unique[keep], both.limiting[keep])

    @property
    def index(self) -> np.ndarray:
        """Design indices of the kept configurations, ascending."""
        return np.sort(self._index)

    @property
    def sums(self) -> SweepSums:
        """Their sums, rows in ``index`` order."""
        o = np.argsort(self._index)
        s = self._sums
        return SweepSums(s.covered[o], s.redundant[o], s.unique[o], s.limiting[o])


_active_stop: threading.Event | None = None


@contextmanager
def stop_on_interrupt() -> Iterator[threading.Event]:
    """While the block runs, Ctrl-C (SIGINT) only sets the event the sweep loop checks between chunks: an
    exception raised at an arbitrary point inside NumPy or Warp can be swallowed or turned into another error, or
    free arrays a launch still writes. Nested blocks share the outer block's event (a command can hold Ctrl-C
    from loading to writing its files). Outside the main thread signals are not ours to handle: nothing changes."""
    global _active_stop
    if _active_stop is not None:
        yield _active_stop
        return
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    _active_stop = stop
    try:
        yield stop
    finally:
        _active_stop = None
        signal.signal(signal.SIGINT, previous)


def interrupt_requested() -> bool:
    """Whether Ctrl-C was pressed inside the active ``stop_on_interrupt`` block: long waits outside the sweep loop
    (a cluster run) poll this to stop at their next safe point."""
    return _active_stop is not None and _active_stop.is_set()


def _settle(futures: list[Future]) -> None:
    """After Ctrl-C: cancel the pieces not started and wait for the running ones (a second Ctrl-C waits too), so
    no Warp launch outlives the arrays it writes (freeing them under a running launch crashes the process)."""
    for fut in futures:
        fut.cancel()
    while True:
        try:
            wait(futures)
            return
        except KeyboardInterrupt:
            continue


def run_sweep(scene: Scene, spec: SweepSpec, *, frame: StageFrame | None = None, world: World | None = None,
              device: str | None = None, threads: int | None = None, chunk: int | None = None,
              progress: Progress | None = None, memory_budget: int | None = None,
              host_budget: int | None = None) -> SweepResult:
    """Run a sweep on a scene model (no USD needed: benchmarks and generated stations use this)."""
    runner = SweepRunner(scene, spec, frame=frame, world=world, device=device, threads=threads, chunk=chunk,
                         memory_budget=memory_budget, host_budget=host_budget)
    try:
        return runner.run(progress)
    finally:
        runner.close()


def assemble_result(runner: SweepRunner, sums: SweepSums, baseline: SweepSums, done: int, complete: bool,
                    seconds: float, configs: np.ndarray | None = None) -> SweepResult:
    """The SweepResult of a run: its sums ranked, the design values done (of ``configs`` only, when given:
    ascending design indices of the rows), and the runner kept for details."""
    smp = runner.samples
    res = SweepResult(
        name=runner.spec.name,
        spec=runner.spec,
        cameras=[c.path for c in runner.scene.cameras],
        varied=list(runner.spec.cameras),
        targets=[t.path for t in runner.scene.targets],
        columns=runner.columns,
        values=runner.design.values[:done].copy() if configs is None else runner.design.values[configs],
        sums=sums,
        baseline=baseline,
        total=int(smp.weight_int.sum()),
        sample_target=smp.target.copy(),
        sample_weight=smp.weight_int.copy(),
        n_requested=runner.design.n,
        complete=complete,
        seconds=seconds,
        chunk=runner.chunk,
        device=str(runner.device),
        samples_text=smp.describe(),
        as_authored=smp.as_authored,
        meters_per_unit=runner.frame.meters_per_unit,
        runner=runner,
        configs=configs,
        evaluated=None if configs is None else done,
    )
    res.order = ranking(sums)  # rows ascend by design index, so the tie-break by row is the one by index
    return res
