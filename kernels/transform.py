"""Moving parts: place part-local vertices in the world, and find the pairs a move can affect.

Load and move run the same placement kernel, so a moved part lands on exactly the float32 vertices a fresh load
would give.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Light, Target
from .visibility import front_facing, in_fov

wp.set_module_options({"enable_backward": False})


@wp.kernel
def transform_points(
    local: wp.array(dtype=wp.vec3),
    vertex_part: wp.array(dtype=wp.int32),
    to_world: wp.array(dtype=wp.mat44),
    offset: int,
    world: wp.array(dtype=wp.vec3),
):
    """world[offset + i] = to_world[part] applied to local[offset + i] (column-vector 4x4 transforms)."""
    i = wp.tid() + offset
    world[i] = wp.transform_point(to_world[vertex_part[i]], local[i])


@wp.func
def segment_hits_box(p0: wp.vec3, p1: wp.vec3, lo: wp.vec3, hi: wp.vec3) -> bool:
    """Slab test: does the segment p0 -> p1 touch the box [lo, hi]? An empty box (lo > hi) is never hit."""
    if lo[0] > hi[0] or lo[1] > hi[1] or lo[2] > hi[2]:
        return False
    d = p1 - p0
    t_in = wp.float32(0.0)
    t_out = wp.float32(1.0)
    for k in range(3):
        if d[k] == 0.0:
            if p0[k] < lo[k] or p0[k] > hi[k]:
                return False
        else:
            a = (lo[k] - p0[k]) / d[k]
            b = (hi[k] - p0[k]) / d[k]
            t_in = wp.max(t_in, wp.min(a, b))
            t_out = wp.min(t_out, wp.max(a, b))
    return t_in <= t_out


@wp.func
def box_outside_view(cam: Camera, lo: wp.vec3, hi: wp.vec3, margin: float) -> bool:
    """Is the box [lo, hi] more than ``margin`` metres outside one side plane of the camera's view pyramid? Then no
    ray to a point within ``margin`` of a sight line inside the image (the occlusion samples of a pair in view) can
    meet it. The side planes pass through the centre of projection: u >= 0, u <= width, v >= 0, v <= height."""
    for k in range(4):
        n = wp.vec3(cam.fx, 0.0, -cam.cx)
        if k == 1:
            n = wp.vec3(-cam.fx, 0.0, -(cam.width - cam.cx))
        elif k == 2:
            n = wp.vec3(0.0, -cam.fy, -cam.cy)
        elif k == 3:
            n = wp.vec3(0.0, cam.fy, -(cam.height - cam.cy))
        nw = wp.normalize(cam.rot * n)
        out = wp.bool(True)
        for j in range(8):
            corner = lo
            if j % 2 == 1:
                corner = wp.vec3(hi[0], corner[1], corner[2])
            if (j // 2) % 2 == 1:
                corner = wp.vec3(corner[0], hi[1], corner[2])
            if j // 4 == 1:
                corner = wp.vec3(corner[0], corner[1], hi[2])
            if wp.dot(nw, corner - cam.pos) >= -margin:
                out = False
        if out:
            return True
    return False


@wp.kernel
def pairs_near_boxes(
    cameras: wp.array(dtype=Camera),
    targets: wp.array(dtype=Target),
    cam_pos: wp.array(dtype=wp.vec3),
    tgt_pos: wp.array(dtype=wp.vec3),
    tgt_half: wp.array(dtype=wp.vec2),
    max_radius: float,
    boxes: wp.array(dtype=wp.vec3),
    lights: wp.array(dtype=Light),
    n_lights: int,
    per_thread: int,
    mask: wp.array2d(dtype=wp.uint8),
):
    """mask[c, t] = 1 when the pair casts occlusion rays (in view, front-facing) and one of its rays can meet a box,
    or a moved box can change the target's light: it touches a shadow ray from one of the ``n_lights`` lights.

    ``boxes`` holds (lo, hi) pairs. Every ray from the camera to a symbol sample stays within the symbol's
    half-diagonal r of the segment camera -> centre, so testing that segment against each box grown by r is
    conservative; shadow rays end at the symbol centre, so the segment light -> centre is tested as it is.

    Speed: without lights, a box outside the camera's view pyramid (by more than the largest symbol radius) is
    skipped for that camera: sample rays of pairs in view stay inside it. Thread (c, chunk) runs targets
    chunk * per_thread up to the next chunk (on the CPU a long run per thread saves a launch's per-thread cost; on a
    GPU per_thread is small). Per box, a target outside the cone from the
    camera around a sphere holding the box grown by ``max_radius`` (the largest r) is skipped with one dot product
    before the slab test; the box tests read compact copies of the positions (``cam_pos``, ``tgt_pos``,
    ``tgt_half``), and only a pair near a box loads its full records for the view tests.
    """
    c, chunk = wp.tid()
    p_cam = cam_pos[c]
    t0 = chunk * per_thread
    t1 = wp.min(tgt_pos.shape[0], t0 + per_thread)
    for t in range(t0, t1):
        mask[c, t] = wp.uint8(0)
    for k in range(boxes.shape[0] // 2):
        lo = boxes[2 * k]
        hi = boxes[2 * k + 1]
        # an empty box, or (without lights, whose shadow rays go anywhere) one outside the camera's view by more
        # than a symbol's reach: no pair of this camera can change
        skip = lo[0] > hi[0] or lo[1] > hi[1] or lo[2] > hi[2]
        if not skip and n_lights == 0:
            skip = box_outside_view(cameras[c], lo, hi, 1.7320509 * max_radius + 1.0e-3)
        if not skip:
            centre = 0.5 * (lo + hi)
            axis = centre - p_cam
            d = wp.length(axis)
            big = 0.5 * wp.length(hi - lo) + 1.7320509 * max_radius + 1.0e-3 + 1.0e-5 * d
            cull = d > big
            cos_cone = wp.float32(-2.0)  # no cone (the camera is inside the sphere): every target passes
            reach = wp.float32(0.0)
            if cull:
                axis = axis / d
            else:
                axis = wp.vec3(0.0, 0.0, 0.0)
            if cull:
                cos_cone = wp.sqrt(wp.max(0.0, 1.0 - (big / d) * (big / d))) - 1.0e-5
                reach = d - big
            for t in range(t0, t1):
                p_tgt = tgt_pos[t]
                v = p_tgt - p_cam
                length = wp.length(v)
                if length >= reach and wp.dot(v, axis) >= length * cos_cone:
                    r = wp.length(tgt_half[t])
                    grow = wp.vec3(r, r, r)
                    if segment_hits_box(p_cam, p_tgt, lo - grow, hi + grow):
                        mask[c, t] = wp.uint8(1)
                for j in range(n_lights):
                    if segment_hits_box(lights[j].pos, p_tgt, lo, hi):
                        mask[c, t] = wp.uint8(1)
    for t in range(t0, t1):
        if mask[c, t] == wp.uint8(1):
            if not (in_fov(cameras[c], targets[t]) and front_facing(cameras[c], targets[t])):
                mask[c, t] = wp.uint8(0)
