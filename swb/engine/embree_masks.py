"""Visibility masks cast by Embree on the host and handed to ``evaluate_kernel`` (its ``seen`` input).

On the CPU, Warp's BVH walk is the slowest part of a big evaluation; Embree's any-hit answers the same rays
several times faster. The rays themselves come from Warp (``kernels/occlusion_rays.py``: the kernel's own test for
which pairs cast and its own float32 ray arithmetic) and Embree gets the World's float32 vertices, so both paths
cast the same segments against the same triangles and give the same verdicts (tests/test_embree_occlusion.py).
Whether a World uses this path: ``World(embree=...)``, else the ``SWB_EMBREE`` environment variable (1/0), else
``DEFAULT_ON`` (measured in docs/gpu.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import warp as wp

from swb.kernels.occlusion_rays import sample_rays
from swb.kernels.visibility import N_SAMPLES

from . import embree_occlusion
from .embree_occlusion import EmbreeOcclusion

ENV = "SWB_EMBREE"
DEFAULT_ON = True
MIN_PAIRS = 4096  # smaller launches (an edit's few rows) keep Warp's BVH: the host round trip would cost more
REBUILD_MIN_PAIRS = 1 << 17  # after a geometry change, rebuilding Embree's BVH pays off only for big launches
_BITS = (1 << np.arange(N_SAMPLES)).astype(np.int32)

Split = Callable[[int, int, Callable[[int, int], None]], None]


def wanted(option: bool | None, device: wp.context.Device) -> bool:
    """Whether a World on ``device`` casts occlusion through Embree: only on the CPU, only with embreex."""
    if not device.is_cpu or not embree_occlusion.available():
        return False
    if option is not None:
        return bool(option)
    env = os.environ.get(ENV, "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    return DEFAULT_ON


class HostMasks:
    """Embree's scene of a World's triangles and the visibility masks it casts for one launch's pairs at a time
    (``cast``): a world keeps nothing per pair for it between launches."""

    def __init__(self, device: wp.context.Device, threads: int) -> None:
        self.device = device
        self.threads = threads
        self._occ: EmbreeOcclusion | None = None
        self._version = -1
        self._done = (0, 0.0)  # rays and seconds of Embree scenes replaced after geometry changes
        wp.load_module("swb.kernels.occlusion_rays", device=device)  # before any threaded launch: no load race

    def ready(self, version: int, pairs: int) -> bool:
        """Whether a launch of ``pairs`` pairs should use the host masks at geometry ``version``."""
        if pairs < MIN_PAIRS:
            return False
        return version == self._version or pairs >= REBUILD_MIN_PAIRS

    def cast(self, points: wp.array, indices: wp.array, version: int, cams: wp.array, tgts: wp.array,
             pair_cam: np.ndarray, pair_tgt: np.ndarray, split: Split) -> wp.array:
        """The visibility masks of the pairs (pair_cam[k], pair_tgt[k]), which cast rays (in view and facing), as
        an (n, 1) int32 array for a sparse ``evaluate_kernel`` launch; the Embree scene is rebuilt when the
        geometry ``version`` changed."""
        if version != self._version:
            if self._occ is not None:
                self._done = (self._done[0] + self._occ.rays, self._done[1] + self._occ.seconds)
                self._occ.close()
            wp.synchronize_device(self.device)
            self._occ = EmbreeOcclusion(points.numpy(), indices.numpy().reshape(-1, 3), self.threads)
            self._version = version
        n = len(pair_cam)
        pc = wp.array(np.ascontiguousarray(pair_cam, np.int32), dtype=wp.int32, device=self.device)
        pt = wp.array(np.ascontiguousarray(pair_tgt, np.int32), dtype=wp.int32, device=self.device)
        origins = wp.empty(n * N_SAMPLES, dtype=wp.vec3, device=self.device)
        dirs = wp.empty(n * N_SAMPLES, dtype=wp.vec3, device=self.device)
        max_t = wp.empty(n * N_SAMPLES, dtype=wp.float32, device=self.device)

        def rays(a: int, b: int) -> None:
            s = slice(N_SAMPLES * a, N_SAMPLES * b)
            wp.launch(sample_rays, dim=(b - a, N_SAMPLES), device=self.device,
                      inputs=[cams, tgts, pc[a:b], pt[a:b], origins[s], dirs[s], max_t[s]])

        split(n, N_SAMPLES, rays)
        blocked = self._occ.occluded(origins.numpy(), dirs.numpy(), max_t.numpy()).reshape(n, N_SAMPLES)
        seen = ((~blocked).astype(np.int32) @ _BITS).reshape(n, 1)
        return wp.array(seen, dtype=wp.int32, device=self.device)

    def host_rays(self) -> tuple[int, float]:
        """Rays Embree cast so far and the wall seconds it took (0, 0.0 before the first launch)."""
        if self._occ is None:
            return self._done
        return self._done[0] + self._occ.rays, self._done[1] + self._occ.seconds

    def close(self) -> None:
        if self._occ is not None:
            self._occ.close()
            self._occ = None

