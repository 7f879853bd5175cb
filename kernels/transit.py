"""Conveyor transits (docs/model.md, rule 12): a moving label carried through the station, seen by each camera
frame by frame.

One thread per camera x label runs the label along its velocity through every frame of the camera (frame times
(k + phase) / frameRate for each of ``n_phases`` phases, over ``reach`` metres either side of its authored
position) and evaluates the pair model at each frame (``evaluate_pair``: the lights and the smear at that place).
Occlusion is cast twice, because the label's parcel and the other parcels move with it while the station stands
still: against the static geometry from the camera to the moved label, and against the moving geometry from the
camera shifted back by the same offset to the label where it was authored (their relative positions).

Per camera and label it returns, averaged over the phases, the probability that no frame reads the label under
two rules for successive frames of one camera: ``miss_frame`` (frames of one camera share their outcome: only
its best frame counts, the safe rule) and ``miss_look`` (frames count as independent looks once the label's
image has moved at least one module since the look began; closer frames are one look at its best frame).
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target, project, to_camera, vector_to_camera
from .evaluate import evaluate_pair
from .lighting import Lighting
from .metrics import LINEAR
from .scoring import FOV, OCCLUDED, PairResult
from .visibility import (
    ALL_SEEN,
    CULL_GROW,
    CULL_PAD,
    N_SAMPLES,
    readable_despite_occlusion,
    samples_seen,
    surely_outside,
    visible_samples,
)
from .viz import pair_rank

wp.set_module_options({"enable_backward": False})

MAX_FRAMES = wp.constant(100000)  # per side and phase: a crawling belt is cut off rather than looping for ever


@wp.func
def moved(tgt: Target, offset: wp.vec3) -> Target:
    out = Target()
    out = tgt
    out.pos = tgt.pos + offset
    return out


@wp.func
def shifted(cam: Camera, offset: wp.vec3) -> Camera:
    out = Camera()
    out = cam
    out.pos = cam.pos - offset
    return out


@wp.func
def clip_interval(lo_hi: wp.vec2, a: float, b: float) -> wp.vec2:
    """[lo, hi] cut to the s with a s >= b (empty: lo > hi)."""
    out = lo_hi
    if a > 0.0:
        out[0] = wp.max(out[0], b / a)
    elif a < 0.0:
        out[1] = wp.min(out[1], b / a)
    elif b > 0.0:
        out[0] = 1.0
        out[1] = -1.0
    return out


@wp.func
def plane_interval(lo_hi: wp.vec2, nx: float, ny: float, nd: float, c0: wp.vec3, dc: wp.vec3, r: float) -> wp.vec2:
    """Cut to the s where the sphere at c0 + s dc is not wholly beyond the plane n . p = 0 (``beyond_plane``)."""
    n_len = wp.sqrt(nx * nx + ny * ny + nd * nd)
    a = nx * dc[0] + ny * dc[1] + nd * dc[2]
    return clip_interval(lo_hi, a, -r * n_len - (nx * c0[0] + ny * c0[1] + nd * c0[2]))


@wp.func
def view_interval(cam: Camera, tgt: Target, direction: wp.vec3, reach: float) -> wp.vec2:
    """The metres s in [-reach, reach] along the unit ``direction`` where the label, moved by s, is not
    ``surely_outside`` the camera's view: the same sphere and planes, each linear in s, so a transit visits only
    the frames inside (the frame test still runs on each; this interval only skips frames it would reject)."""
    c0 = to_camera(cam, tgt.pos)
    dc = vector_to_camera(cam, direction)
    r = wp.length(tgt.half_size_qz) * CULL_GROW + CULL_PAD
    out = wp.vec2(-reach, reach)
    out = clip_interval(out, dc[2], cam.clip_near - r - c0[2])  # depth + r >= near
    out = clip_interval(out, -dc[2], c0[2] - r - cam.clip_far)  # depth - r <= far
    out = plane_interval(out, cam.fx, 0.0, cam.cx, c0, dc, r)
    out = plane_interval(out, -cam.fx, 0.0, cam.width - cam.cx, c0, dc, r)
    out = plane_interval(out, 0.0, -cam.fy, cam.cy, c0, dc, r)
    return plane_interval(out, 0.0, cam.fy, cam.height - cam.cy, c0, dc, r)


@wp.struct
class Frame:
    """One frame of a transit: its read probability, where the label's centre is in the image (pixels), its pixels
    per module, and how close it came (``kernels.viz.pair_rank``) with the factor that stopped it."""

    p: float
    u: float
    v: float
    module_px: float
    rank: float
    limiting: int


@wp.func
def frame_read(cam: Camera, tgt0: Target, offset: wp.vec3, static_mesh: wp.uint64, has_static: int,
               moving_mesh: wp.uint64, has_moving: int, lit: Lighting, light_mesh: wp.uint64) -> Frame:
    """One frame with the label moved by ``offset`` (p 0 when hidden). Most frames of a transit lie outside the
    camera's view: a bounding-sphere test skips them. Shadows of the lights are cast against ``light_mesh`` (the
    world's, as authored)."""
    f = Frame()
    f.limiting = FOV
    tgt = moved(tgt0, offset)
    if surely_outside(cam, tgt):
        return f
    r = evaluate_pair(cam, tgt, light_mesh, 0, lit, -1)  # occlusion below, in both frames
    if r.limiting == 0 or r.p_read > 0.0:
        if has_static != 0 or has_moving != 0:
            mask = wp.int32(ALL_SEEN)
            if has_static != 0:
                mask = mask & visible_samples(cam, tgt, static_mesh)
            if has_moving != 0:
                mask = mask & visible_samples(shifted(cam, offset), tgt0, moving_mesh)
            if not readable_despite_occlusion(cam, tgt, mask):
                hidden = PairResult()
                hidden.limiting = OCCLUDED
                hidden.visible_fraction = float(samples_seen(mask)) / float(N_SAMPLES)
                r = hidden
    f.p = r.p_read
    f.rank = pair_rank(r)
    f.limiting = r.limiting
    f.module_px = r.ppm_u
    if tgt.cls != LINEAR:
        f.module_px = wp.min(r.ppm_u, r.ppm_w)
    if f.p > 0.0:
        uv = project(cam, to_camera(cam, tgt.pos))
        f.u = uv[0]
        f.v = uv[1]
    return f


@wp.kernel
def transit_kernel(
    cameras: wp.array(dtype=Camera),
    targets: wp.array(dtype=Target),
    reach: wp.array(dtype=wp.float32),
    n_phases: int,
    offset: int,
    static_mesh: wp.uint64,
    has_static: int,
    moving_mesh: wp.uint64,
    has_moving: int,
    lit: Lighting,
    light_mesh: wp.uint64,
    miss_frame: wp.array2d(dtype=wp.float32),
    miss_look: wp.array2d(dtype=wp.float32),
    best_p: wp.array2d(dtype=wp.float32),
    frames: wp.array2d(dtype=wp.int32),
    looks: wp.array2d(dtype=wp.int32),
    limiting: wp.array2d(dtype=wp.int32),
    rank: wp.array2d(dtype=wp.float32),
):
    """Thread (c, j): camera c's frames of label t = offset + j's transit (see the module docstring). ``frames`` and
    ``looks`` count, for the first phase, the frames that could read (p > 0) and the independent looks among them;
    ``limiting`` is the factor that stopped the camera's closest frame of any phase (0 when it decodes), ``rank``
    how close that frame came (``kernels.viz.pair_rank``)."""
    c, j0 = wp.tid()
    t = j0 + offset
    cam = cameras[c]
    tgt0 = targets[t]
    v = tgt0.velocity
    speed = wp.length(v)
    step = 1.0 / cam.frame_rate
    half = wp.int32(0)
    window = wp.vec2(0.0, 0.0)  # metres along the velocity where frames can see the label (view_interval)
    if speed > 0.0:
        half = wp.min(wp.int32(wp.ceil(reach[t] / (speed * step))), MAX_FRAMES)
        window = view_interval(cam, tgt0, v / speed, reach[t] + 2.0 * speed * step)
    sum_frame = wp.float32(0.0)
    sum_look = wp.float32(0.0)
    top = wp.float32(0.0)
    n_frames = wp.int32(0)
    n_looks = wp.int32(0)
    top_rank = wp.float32(-1.0)
    top_lim = wp.int32(FOV)
    for j in range(n_phases):
        phase = (float(j) + 0.5) / float(n_phases)
        best = wp.float32(0.0)
        miss = wp.float32(1.0)
        look_p = wp.float32(0.0)
        in_look = wp.int32(0)
        anchor = wp.vec2(0.0, 0.0)
        # frames k with (k + phase) step speed inside the window, one spare frame either side for rounding
        first = -half
        last = half
        if speed > 0.0:
            if window[0] > window[1]:
                last = first - 1
            else:
                first = wp.max(first, wp.int32(wp.floor(window[0] / (speed * step) - phase)) - 1)
                last = wp.min(last, wp.int32(wp.ceil(window[1] / (speed * step) - phase)) + 1)
        for k in range(first, last + 1):
            shift = v * ((float(k) + phase) * step)
            if speed <= 0.0:
                shift = wp.vec3(0.0, 0.0, 0.0)
            f = frame_read(cam, tgt0, shift, static_mesh, has_static, moving_mesh, has_moving, lit, light_mesh)
            p = f.p
            if f.rank > top_rank:
                top_rank = f.rank
                top_lim = f.limiting
            if p > 0.0:
                at = wp.vec2(f.u, f.v)  # image position, pixels
                if in_look != 0 and wp.length(at - anchor) < f.module_px:  # moved less than a module: one look
                    look_p = wp.max(look_p, p)
                else:
                    if in_look != 0:
                        miss = miss * (1.0 - look_p)
                    in_look = 1
                    look_p = p
                    anchor = at
                    if j == 0:
                        n_looks += 1
                if j == 0:
                    n_frames += 1
            best = wp.max(best, p)
        if in_look != 0:
            miss = miss * (1.0 - look_p)
        sum_frame += 1.0 - best
        sum_look += miss
        top = wp.max(top, best)
    if top_rank < 0.0:  # no frame could see it: out of view (as every skipped frame would have said)
        top_rank = 0.0
    miss_frame[c, t] = sum_frame / float(n_phases)
    miss_look[c, t] = sum_look / float(n_phases)
    best_p[c, t] = top
    frames[c, t] = n_frames
    looks[c, t] = n_looks
    limiting[c, t] = top_lim
    rank[c, t] = top_rank


@wp.kernel
def transit_frames_kernel(
    cameras: wp.array(dtype=Camera),
    targets: wp.array(dtype=Target),
    reach: wp.array(dtype=wp.float32),
    offset: int,
    frames: wp.array2d(dtype=wp.float32),
):
    """Thread (c, j): how many frames of one phase of label t = offset + j's transit camera c can see at most (the
    frames inside ``view_interval``; 1 for a label at rest): what ``transit_kernel`` will evaluate, before it runs."""
    c, j0 = wp.tid()
    t = j0 + offset
    cam = cameras[c]
    tgt = targets[t]
    speed = wp.length(tgt.velocity)
    n = wp.float32(1.0)
    if speed > 0.0:
        step = speed / cam.frame_rate
        window = view_interval(cam, tgt, tgt.velocity / speed, reach[t] + step)
        n = 0.0
        if window[0] <= window[1]:
            n = wp.min((window[1] - window[0]) / step + 1.0, 2.0 * reach[t] / step + 1.0)
    frames[c, t] = n
