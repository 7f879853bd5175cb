"""The occlusion rays of ``evaluate_pair`` as data, so another ray engine (Embree on the CPU) can cast them.

``evaluate_kernel`` with ``defer`` marks the pairs that cast rays (in view and front-facing, the model's own
test); ``sample_rays`` writes their 9 rays with the kernel's own ``sample_ray`` float32 arithmetic, so a host
engine sees bit-identical origins, directions and lengths.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target
from .visibility import N_SAMPLES, sample_ray

wp.set_module_options({"enable_backward": False})


@wp.kernel
def sample_rays(
    cameras: wp.array(dtype=Camera),
    targets: wp.array(dtype=Target),
    pair_cam: wp.array(dtype=wp.int32),
    pair_tgt: wp.array(dtype=wp.int32),
    origins: wp.array(dtype=wp.vec3),
    directions: wp.array(dtype=wp.vec3),
    max_t: wp.array(dtype=wp.float32),
):
    """Ray 9 * p + k: sample k of pair p (camera pair_cam[p], target pair_tgt[p])."""
    p, k = wp.tid()
    cam = cameras[pair_cam[p]]
    ray = sample_ray(cam, targets[pair_tgt[p]], k)
    n = p * N_SAMPLES + k
    origins[n] = cam.pos
    directions[n] = wp.vec3(ray[0], ray[1], ray[2])
    max_t[n] = ray[3]
