"""The occlusion rays of ``evaluate_pair`` as data, so another ray engine (Embree on the CPU) can cast them.

``cast_flags`` marks the pairs that cast rays (in view and front-facing, the kernel's own test); ``sample_rays``
writes their 9 rays with the kernel's own ``sample_ray`` float32 arithmetic, so a host engine sees bit-identical
origins, directions and lengths.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target
from .visibility import N_SAMPLES, front_facing, in_fov, sample_ray

wp.set_module_options({"enable_backward": False})


@wp.kernel
def cast_flags(
    cameras: wp.array(dtype=Camera),
    targets: wp.array(dtype=Target),
    cam_idx: wp.array(dtype=wp.int32),
    tgt_idx: wp.array(dtype=wp.int32),
    sparse: int,
    flags: wp.array2d(dtype=wp.uint8),
):
    """flags[i, j] = 1 where the pair of launch cell (i, j) casts occlusion rays (same launch shape and pair
    indexing as ``evaluate_kernel``)."""
    i, j = wp.tid()
    c = cam_idx[i]
    t = tgt_idx[j]
    if sparse != 0:
        t = tgt_idx[i]
    cam = cameras[c]
    tgt = targets[t]
    if in_fov(cam, tgt) and front_facing(cam, tgt):
        flags[i, j] = wp.uint8(1)
    else:
        flags[i, j] = wp.uint8(0)


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
