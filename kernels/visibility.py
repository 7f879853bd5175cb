"""Can the camera see the symbol at all: field of view, facing, and occlusion by the station geometry."""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target, in_view, to_camera

wp.set_module_options({"enable_backward": False})

# Occlusion samples sit 2 % inside the symbol edges so the label's own border does not decide the result.
SAMPLE_INSET = wp.constant(0.98)
# The ray stops short of the sample by a relative and an absolute gap, so the surface the label sits on
# (coplanar with the symbol) does not count as an occluder.
RAY_SHORTEN_REL = wp.constant(1.0e-4)
RAY_SHORTEN_ABS = wp.constant(1.0e-4)  # metres
N_SAMPLES = wp.constant(9)  # a 3 x 3 grid; sample k sits at (k % 3 - 1, k // 3 - 1) half-sizes, bit k of a mask
ALL_SEEN = wp.constant(511)
CULL_GROW = wp.constant(1.01)  # bounding-sphere margin of the view pre-test (relative, and metres)
CULL_PAD = wp.constant(1.0e-5)
ROW = wp.constant(7)  # the three samples of one row across u (constant w)
LINEAR = wp.constant(0)  # threshold class of 1-D symbols


@wp.struct
class ViewCull:
    """``surely_outside``'s test prepared once per camera (host side: swb/engine/view_cull.py view_records): the
    view axis and the unit normals of the four planes through the eye and an image edge, in world coordinates, so
    testing a camera x target costs five dot products and no square root, and the sweep and the pair kernel load
    the 292-byte ``Camera`` only for the few pairs that pass. Rounding here moves a plane by ~1e-6 m, far inside
    the pre-test's margin (CULL_GROW, CULL_PAD): it never rules out a pair ``in_fov`` would accept."""

    pos: wp.vec3
    depth: wp.vec3  # unit view axis: depth = depth . (p - pos)
    planes: wp.mat33  # rows: outward-facing unit normals of the u >= 0, u <= W, v >= 0 planes
    plane_v: wp.vec3  # the v <= H plane
    clip_near: float
    clip_far: float


@wp.func
def view_culled(v: ViewCull, p: wp.vec3, r: float) -> bool:
    """``surely_outside`` on a ``ViewCull`` for a symbol centred at ``p`` with bounding radius ``r`` (grown)."""
    d = p - v.pos
    depth = wp.dot(v.depth, d)
    if depth + r < v.clip_near or depth - r > v.clip_far:
        return True
    s = v.planes * d
    return s[0] < -r or s[1] < -r or s[2] < -r or wp.dot(v.plane_v, d) < -r


@wp.struct
class TargetCull:
    """What the view pre-test and a culled pair's record need of a target (28 B instead of the 112-byte
    ``Target``): its centre, normal and the grown bounding radius of ``surely_outside``."""

    pos: wp.vec3
    normal: wp.vec3
    radius: float


@wp.func
def symbol_point(tgt: Target, su: float, sw: float, half: wp.vec2) -> wp.vec3:
    """Point of the symbol plane at (su * half_u, sw * half_w) from the centre, in world coordinates."""
    u = wp.vec3(tgt.rot[0, 0], tgt.rot[1, 0], tgt.rot[2, 0])
    w = wp.vec3(tgt.rot[0, 1], tgt.rot[1, 1], tgt.rot[2, 1])
    return tgt.pos + (su * half[0]) * u + (sw * half[1]) * w


@wp.func
def target_normal(tgt: Target) -> wp.vec3:
    return wp.vec3(tgt.rot[0, 2], tgt.rot[1, 2], tgt.rot[2, 2])


@wp.func
def view_half_size(cam: Camera, tgt: Target) -> wp.vec2:
    """Half extents of the rectangle that must be in view: the symbol plus the decoder's share of its quiet zone;
    for a 1-D symbol read by a ``line_view`` decoder, only its centre scan line (no height)."""
    half = tgt.half_size + cam.quiet_zone[tgt.cls] * (tgt.half_size_qz - tgt.half_size)
    if cam.line_view != 0 and tgt.cls == LINEAR:
        half = wp.vec2(half[0], 0.0)
    return half


@wp.func
def in_fov(cam: Camera, tgt: Target) -> bool:
    """All four corners of the symbol with the decoder's share of its quiet zone (``view_half_size``) lie in the
    clipping range and inside the image."""
    half = view_half_size(cam, tgt)
    for k in range(4):
        su = float(2 * (k % 2) - 1)
        sw = float(2 * (k // 2) - 1)
        if not in_view(cam, to_camera(cam, symbol_point(tgt, su, sw, half))):
            return False
    return True


@wp.func
def beyond_plane(nx: float, ny: float, nd: float, c: wp.vec3, r: float) -> bool:
    """The sphere (centre c, radius r) lies wholly on the outer side of the plane n . p = 0 through the eye."""
    return nx * c[0] + ny * c[1] + nd * c[2] < -r * wp.sqrt(nx * nx + ny * ny + nd * nd)


@wp.func
def surely_outside(cam: Camera, tgt: Target) -> bool:
    """A cheap test that implies ``not in_fov``: the symbol's bounding sphere (quiet zone included, grown by a
    margin for rounding) lies beyond the clipping range or beyond one of the four planes through the eye and
    an image edge (u >= 0: fx x + cx d >= 0, u <= W, v >= 0, v <= H in camera (x, y, depth))."""
    c = to_camera(cam, tgt.pos)
    r = wp.length(tgt.half_size_qz) * CULL_GROW + CULL_PAD
    if c[2] + r < cam.clip_near or c[2] - r > cam.clip_far:
        return True
    if beyond_plane(cam.fx, 0.0, cam.cx, c, r) or beyond_plane(-cam.fx, 0.0, cam.width - cam.cx, c, r):
        return True
    return beyond_plane(0.0, -cam.fy, cam.cy, c, r) or beyond_plane(0.0, cam.fy, cam.height - cam.cy, c, r)


@wp.func
def front_facing(cam: Camera, tgt: Target) -> bool:
    return wp.dot(target_normal(tgt), cam.pos - tgt.pos) > 0.0


@wp.func
def sample_ray(cam: Camera, tgt: Target, k: int) -> wp.vec4:
    """Occlusion ray to sample k of the 3 x 3 inset grid: unit direction (xyz) and the distance it must stay clear
    (w), shortened so the surface the label sits on does not occlude it; w <= 0 means nothing can be in between."""
    half = tgt.half_size * SAMPLE_INSET
    seg = symbol_point(tgt, float(k % 3 - 1), float(k // 3 - 1), half) - cam.pos
    length = wp.length(seg)
    max_t = length * (1.0 - RAY_SHORTEN_REL) - RAY_SHORTEN_ABS
    d = seg / wp.max(length, 1.0e-30)
    return wp.vec4(d[0], d[1], d[2], max_t)


@wp.func
def visible_samples(cam: Camera, tgt: Target, mesh: wp.uint64) -> int:
    """Bit mask of the 9 symbol samples (3 x 3 grid, inset) the camera sees: bit k for sample k."""
    seen = wp.int32(0)
    for k in range(N_SAMPLES):
        ray = sample_ray(cam, tgt, k)
        if ray[3] <= 0.0:
            seen = seen | (1 << k)
        elif not wp.mesh_query_ray_anyhit(mesh, cam.pos, wp.vec3(ray[0], ray[1], ray[2]), ray[3]):
            seen = seen | (1 << k)
    return seen


@wp.func
def samples_seen(mask: int) -> int:
    """How many samples a visibility mask marks as seen."""
    n = wp.int32(0)
    for k in range(N_SAMPLES):
        n += (mask >> k) & 1
    return n


@wp.func
def readable_despite_occlusion(cam: Camera, tgt: Target, mask: int) -> bool:
    """The decoder's occlusion trait: the whole symbol seen; or, for 1-D symbols with ``clear_row``, one full row
    of samples across the bars (an unobstructed scan line); or at least the class's ``min_visible`` share of the
    samples (error correction restores the hidden codewords)."""
    if mask == ALL_SEEN:
        return True
    if cam.clear_row != 0 and tgt.cls == LINEAR:
        for row in range(3):
            if (mask >> (3 * row)) & ROW == ROW:
                return True
    need = wp.ceil(cam.min_visible[tgt.cls] * float(N_SAMPLES) - 1.0e-3)
    return float(samples_seen(mask)) >= need
