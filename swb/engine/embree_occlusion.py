"""Occlusion rays through Embree's any-hit query (``rtcOccluded1``) on every CPU core.

On the CPU Embree answers "is anything on this segment" several times faster per thread than Warp's BVH walk,
so the engine (``swb.engine.embree_masks``) and the benchmarks' baseline (``bench/bench_core.py``) cast occlusion
rays here when ``embreex`` is installed. Rays are float32 like Warp's, start at t = 0 and stop at ``max_t``; a ray
with ``max_t <= 0`` is never blocked. Each worker thread casts a contiguous slice (embreex releases the GIL inside
its ray loop), so all cores work at once.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:  # optional: without it callers keep Warp's BVH (or trimesh) and never construct this class
    from embreex import mesh_construction as _embree_mesh
    from embreex import rtcore_scene as _embree_scene
except ImportError:  # pragma: no cover - embreex missing on exotic platforms
    _embree_mesh = _embree_scene = None

MIN_RAYS_PER_THREAD = 4096  # below this a thread's start-up costs more than the rays it would cast


def available() -> bool:
    """Whether embreex imports on this machine."""
    return _embree_scene is not None


class EmbreeOcclusion:
    """An Embree scene of one triangle soup and a thread pool that casts any-hit rays against it."""

    def __init__(self, points: np.ndarray, triangles: np.ndarray, threads: int | None = None) -> None:
        if not available():
            raise RuntimeError("embreex is not installed")
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        tris = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
        self.n_triangles = len(tris)
        self.threads = max(1, int(threads if threads is not None else (os.cpu_count() or 1)))
        self._scene = None
        if self.n_triangles:
            self._scene = _embree_scene.EmbreeScene()
            # Vertex + index form keeps the float32 vertices bit for bit (the BVH is built on the first query).
            _embree_mesh.TriangleMesh(self._scene, pts, tris.astype(np.int32))
        self._pool: ThreadPoolExecutor | None = None
        self.rays = 0  # rays cast so far, and the wall seconds spent casting them (a ray rate is rays / seconds)
        self.seconds = 0.0

    def occluded(self, origins: np.ndarray, directions: np.ndarray, max_t: np.ndarray) -> np.ndarray:
        """Whether any triangle lies on each ray origin + t * direction, 0 <= t <= max_t (bool, one per ray)."""
        n = len(max_t)
        hit = np.zeros(n, dtype=bool)
        if self._scene is None or n == 0:
            return hit
        max_t = np.asarray(max_t, dtype=np.float32)
        idx = np.flatnonzero(max_t > 0)
        if len(idx) == 0:
            return hit
        o = np.ascontiguousarray(np.asarray(origins, dtype=np.float32)[idx])
        d = np.ascontiguousarray(np.asarray(directions, dtype=np.float32)[idx])
        t = np.ascontiguousarray(max_t[idx])
        start = time.perf_counter()
        try:
            hit[idx] = self._cast(o, d, t)
        finally:
            self.rays += len(idx)
            self.seconds += time.perf_counter() - start
        return hit

    def _cast(self, o: np.ndarray, d: np.ndarray, t: np.ndarray) -> np.ndarray:
        n = len(t)
        pieces = max(1, min(self.threads, n // MIN_RAYS_PER_THREAD))
        bounds = np.linspace(0, n, pieces + 1).astype(int)

        def cast(a: int, b: int) -> np.ndarray:
            return self._scene.run(o[a:b], d[a:b], dists=t[a:b], query="OCCLUDED") != -1

        if pieces == 1:
            return cast(0, n)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="swb-embree")
        parts = [self._pool.submit(cast, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return np.concatenate([p.result() for p in parts])

    def blocked(self, origins: np.ndarray, points: np.ndarray) -> np.ndarray:
        """``ReferenceOcclusion.blocked``'s contract (segment origin -> point, shortened by the spec's epsilons) on
        any-hit rays, so the numpy reference can run on it."""
        from .reference import OCCLUSION_ABS_EPS, OCCLUSION_REL_EPS

        seg = np.asarray(points, dtype=np.float64) - np.asarray(origins, dtype=np.float64)
        length = np.linalg.norm(seg, axis=1)
        direction = seg / np.maximum(length, 1e-30)[:, None]
        max_t = length * (1.0 - OCCLUSION_REL_EPS) - OCCLUSION_ABS_EPS
        return self.occluded(origins, direction, max_t)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
