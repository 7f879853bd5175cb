"""The optimiser on the device: candidate cameras x label samples in batched Warp launches.

Samples, the station mesh and the lights are uploaded once (the World's mesh is shared, not copied); candidate
records are uploaded per chunk, chunks sized so a CPU chunk takes about a second (Ctrl-C and progress respond) and
a GPU chunk fills the device. On the CPU a chunk is split over a small thread pool (Warp's CPU launches release
the GIL). Results are bit-packed per sample and reduced to passes on the host (``PassSet.reduce``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import warp as wp

from swb.kernels.camera import Camera, Target
from swb.kernels.coverage import camera_verdicts, candidate_bits, closest_camera

from ..engine.model import LightModel
from ..engine.world import World, make_lighting
from .passes import PassSet

CPU_CHUNK_WORK = 2_000_000  # camera x sample evaluations per CPU chunk
GPU_CHUNK_WORK = 2_000_000_000
MIN_SPLIT_WORK = 20_000

Progress = Callable[[int, int], None]


@dataclass
class Verdicts:
    """Cameras x selected samples in full (``camera_verdicts``)."""

    decodable: np.ndarray  # (C, J) bool
    key: np.ndarray  # (C, J) float32: closeness, 4 when it decodes
    score: np.ndarray  # (C, J) float32
    limiting: np.ndarray  # (C, J) int32 factor code (0: decodes)


class DesignEvaluator:
    """Evaluate any camera records against a design's label samples on the World's device."""

    def __init__(self, world: World, passes: PassSet, threads: int | None = None,
                 lights: Sequence[LightModel] | None = None) -> None:
        self.world, self.passes = world, passes
        self.device = world.device
        self.threads = max(1, int(threads if threads is not None else (os.cpu_count() or 1)))
        smp = passes.samples
        dev = self.device
        face_group = smp.face_group if len(smp.face_group) else np.full(1, -1, np.int32)
        self._face_group = wp.array(face_group, dtype=wp.int32, device=dev)
        n = max(smp.n, 1)
        records = smp.records if smp.n else np.zeros(1, dtype=np.dtype(Target.numpy_dtype()))
        self._samples = wp.array(records, dtype=Target, device=dev)
        self._groups = wp.array(smp.group if smp.n else np.full(n, -1, np.int32), dtype=wp.int32, device=dev)
        mesh = world.mesh
        self._mesh_id = mesh.id if mesh is not None else wp.uint64(0)
        self._has_mesh = 1 if mesh is not None else 0
        # the lights the design keeps (swb.optimize.safety.design_lights); the World's own by default
        self._lit = make_lighting(world.lights if lights is None else lights, dev, mesh is not None, self._face_group)
        self.n_samples = smp.n
        self.words = (smp.n + 31) // 32
        self.evaluations = 0  # camera x sample pairs evaluated so far
        self.cameras_evaluated = 0
        self._pool: ThreadPoolExecutor | None = None
        wp.load_module("swb.kernels.coverage", device=dev)  # compile before any threaded launch

    # ----- launches
    def _pieces(self, n: int, work: int) -> list[tuple[int, int]]:
        pieces = self.threads if self.device.is_cpu and work >= MIN_SPLIT_WORK else 1
        pieces = max(1, min(pieces, n))
        bounds = np.linspace(0, n, pieces + 1).astype(int)
        return [(int(bounds[k]), int(bounds[k + 1])) for k in range(pieces) if bounds[k + 1] > bounds[k]]

    def _run(self, launch: Callable[[int, int], None], n: int, work: int) -> None:
        parts = self._pieces(n, work)
        if len(parts) <= 1:
            for a, b in parts:
                launch(a, b)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="swb-optimize")
        for fut in [self._pool.submit(launch, a, b) for a, b in parts]:
            fut.result()

    @property
    def chunk(self) -> int:
        work = CPU_CHUNK_WORK if self.device.is_cpu else GPU_CHUNK_WORK
        return max(1, work // max(1, self.n_samples))

    # ----- the matrix
    def sample_bits(self, records: np.ndarray) -> np.ndarray:
        """(n, words) uint32: bit k of word j set when camera i decodes sample 32 j + k."""
        n = len(records)
        out = np.zeros((n, self.words), np.uint32)
        if n == 0 or self.n_samples == 0:
            return out
        dev = self.device
        cams = wp.array(np.ascontiguousarray(records), dtype=Camera, device=dev)
        bits = wp.zeros((n, self.words), dtype=wp.uint32, device=dev)

        def launch(a: int, b: int) -> None:
            wp.launch(candidate_bits, dim=(b - a, self.words), device=dev,
                      inputs=[cams[a:b], self._samples, self._groups, self._face_group, self._mesh_id,
                              self._has_mesh, self._lit, self.n_samples, bits[a:b]])

        self._run(launch, n, n * self.n_samples)
        self.evaluations += n * self.n_samples
        self.cameras_evaluated += n
        return bits.numpy()

    def decodable(self, records: np.ndarray) -> np.ndarray:
        """(n, S) bool per-sample verdicts of these cameras."""
        bits = self.sample_bits(records)
        unpacked = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")
        return unpacked[:, :self.n_samples].astype(bool)

    def pass_rows(self, records: np.ndarray, frame_rate: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """(n, P) bool: which passes each camera reads, computed in chunks."""
        n = len(records)
        out = np.zeros((n, self.passes.n), bool)
        step = self.chunk
        for a in range(0, n, step):
            b = min(n, a + step)
            out[a:b] = self.passes.reduce(self.decodable(records[a:b]), frame_rate[a:b])
            if progress is not None:
                progress(b, n)
        return out

    # ----- details
    def verdicts(self, records: np.ndarray, sample_idx: np.ndarray | None = None) -> Verdicts:
        """Cameras x samples (all, or ``sample_idx``) in full."""
        idx = np.arange(self.n_samples, dtype=np.int32) if sample_idx is None else np.asarray(sample_idx, np.int32)
        n, j = len(records), len(idx)
        if n == 0 or j == 0:
            z = np.zeros((n, j))
            return Verdicts(z.astype(bool), z.astype(np.float32), z.astype(np.float32), z.astype(np.int32))
        dev = self.device
        cams = wp.array(np.ascontiguousarray(records), dtype=Camera, device=dev)
        sidx = wp.array(idx, dtype=wp.int32, device=dev)
        dec = wp.zeros((n, j), dtype=wp.uint8, device=dev)
        key = wp.zeros((n, j), dtype=wp.float32, device=dev)
        score = wp.zeros((n, j), dtype=wp.float32, device=dev)
        lim = wp.zeros((n, j), dtype=wp.int32, device=dev)

        def launch(a: int, b: int) -> None:
            wp.launch(camera_verdicts, dim=(b - a, j), device=dev,
                      inputs=[cams[a:b], self._samples, sidx, self._groups, self._face_group, self._mesh_id,
                              self._has_mesh, self._lit, dec[a:b], key[a:b], score[a:b], lim[a:b]])

        self._run(launch, n, n * j)
        self.evaluations += n * j
        return Verdicts(dec.numpy().astype(bool), key.numpy().copy(), score.numpy().copy(), lim.numpy().copy())

    def closest(self, records: np.ndarray, sample_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per sample of ``sample_idx``: the camera that comes closest to reading it, its key and limiting factor."""
        idx = np.asarray(sample_idx, np.int32)
        j = len(idx)
        if j == 0 or len(records) == 0:
            return np.full(j, -1, np.int32), np.full(j, -1.0, np.float32), np.zeros(j, np.int32)
        dev = self.device
        cams = wp.array(np.ascontiguousarray(records), dtype=Camera, device=dev)
        sidx = wp.array(idx, dtype=wp.int32, device=dev)
        best = wp.zeros(j, dtype=wp.int32, device=dev)
        key = wp.zeros(j, dtype=wp.float32, device=dev)
        lim = wp.zeros(j, dtype=wp.int32, device=dev)

        def launch(a: int, b: int) -> None:
            wp.launch(closest_camera, dim=b - a, device=dev,
                      inputs=[cams, self._samples, sidx[a:b], self._groups, self._face_group, self._mesh_id,
                              self._has_mesh, self._lit, best[a:b], key[a:b], lim[a:b]])

        self._run(launch, j, j * len(records))
        self.evaluations += j * len(records)
        return best.numpy().copy(), key.numpy().copy(), lim.numpy().copy()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
