"""Kernels behind the pictures: probe symbols evaluated against cameras, and rays cast from a camera's pixels.

A probe is an ordinary ``Target`` record (a symbol that exists only for the picture), so every picture runs
exactly the per-pair model of ``evaluate_pair``: a plane-mode cell and a real target in the same place give the
same number. Outputs are (n_cameras, n_probes) arrays; the best camera per probe is picked afterwards from
``rank``, which orders pairs by how close they come to decoding.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target
from .evaluate import evaluate_pair
from .lighting import Lighting
from .metrics import LINEAR
from .scoring import ANGLE, BACKFACING, EXPOSURE, FOV, GLARE, OCCLUDED, PairResult

wp.set_module_options({"enable_backward": False})

RANK_NEAR_MISS = wp.constant(0.999)  # a margin-limited miss ranks below every decodable pair


@wp.struct
class ProbeOutputs:
    """Per camera x probe: the verdict, the worst-axis pixels per module and a rank for picking the best camera."""

    decodable: wp.array2d(dtype=wp.uint8)
    limiting: wp.array2d(dtype=wp.int32)
    score: wp.array2d(dtype=wp.float32)
    ppm: wp.array2d(dtype=wp.float32)
    rank: wp.array2d(dtype=wp.float32)


@wp.func
def pair_rank(r: PairResult) -> float:
    """How close a pair comes to decoding: 3 + score when it decodes; 2..3 when only margins fail (by the
    smallest of the combined, angle, glare and exposure margins); 1..1.5 when occluded (by the visible
    fraction); 0.5 when it faces away; 0 out of view. The camera with the highest rank is the one a picture names."""
    if r.decodable != 0:
        return 3.0 + r.score
    if r.limiting == FOV:
        return 0.0
    if r.limiting == BACKFACING:
        return 0.5
    if r.limiting == OCCLUDED:
        return 1.0 + 0.5 * r.visible_fraction
    lights = wp.min(r.margins[GLARE - 1], r.margins[EXPOSURE - 1])
    margin = wp.min(wp.min(r.combined_margin, r.margins[ANGLE - 1]), lights)
    return 2.0 + wp.clamp(margin, 0.0, RANK_NEAR_MISS)


@wp.kernel
def probe_kernel(
    cameras: wp.array(dtype=Camera),
    probes: wp.array(dtype=Target),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    offset: int,
    out: ProbeOutputs,
):
    """Grid launch (n_cameras, n): thread (c, j) evaluates camera c against probe offset + j."""
    c, j = wp.tid()
    p = j + offset
    tgt = probes[p]
    r = evaluate_pair(cameras[c], tgt, mesh, has_mesh, lit, -1)
    out.decodable[c, p] = wp.uint8(r.decodable)
    out.limiting[c, p] = r.limiting
    out.score[c, p] = r.score
    ppm = r.ppm_u
    if tgt.cls != LINEAR:
        ppm = wp.min(r.ppm_u, r.ppm_w)
    out.ppm[c, p] = ppm
    out.rank[c, p] = pair_rank(r)


@wp.kernel
def pixel_rays_kernel(
    cameras: wp.array(dtype=Camera),
    c: int,
    mesh: wp.uint64,
    us: wp.array(dtype=wp.float32),
    vs: wp.array(dtype=wp.float32),
    hit: wp.array2d(dtype=wp.uint8),
    point: wp.array2d(dtype=wp.vec3),
    normal: wp.array2d(dtype=wp.vec3),
    distance: wp.array2d(dtype=wp.float32),
):
    """Grid launch (len(vs), len(us)): the ray through pixel (us[i], vs[j]) of camera c to the first surface.

    ``normal`` is the unit face normal turned to face the camera; ``distance`` is along the unit ray. Hits
    beyond the far clipping distance count as misses.
    """
    j, i = wp.tid()
    cam = cameras[c]
    x = (us[i] - cam.cx) / cam.fx
    y = (cam.cy - vs[j]) / cam.fy
    d = wp.normalize(cam.rot * wp.vec3(x, y, -1.0))
    q = wp.mesh_query_ray(mesh, cam.pos, d, cam.clip_far)
    if q.result:
        n = wp.normalize(q.normal)
        if wp.dot(n, d) > 0.0:
            n = -n
        hit[j, i] = wp.uint8(1)
        point[j, i] = cam.pos + q.t * d
        normal[j, i] = n
        distance[j, i] = q.t
    else:
        hit[j, i] = wp.uint8(0)
        point[j, i] = cam.pos
        normal[j, i] = -d
        distance[j, i] = 0.0
