"""The fused per-pair kernel: one thread per camera x target runs the whole decodability model (docs/model.md).

A pair outside the view or facing away stops there (``cull``): only its distance and tilt are computed, the rest
of its metrics stay 0 like any metric that cannot be computed; the study's remodel asks for every metric of every
pair (``cull`` 0). Only pairs in view and facing the camera cast occlusion rays. Each pair's outputs are two
records, one store each: ``PairRecord`` (32 B, always) and ``PairDetail`` (the blur metrics and the margins,
when the world keeps them). ``evaluate_pair`` is a plain ``@wp.func`` so sweeps can call it with candidate cameras.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target, to_camera
from .lighting import Lighting, lighting_margins
from .metrics import (
    LINEAR,
    PDF417,
    defocus_pixels,
    min_corner_depth,
    motion_smear,
    pixels_per_module,
    scanline_margin,
    smear_along_axes,
    tilt_between,
    tilt_degrees,
)
from .scoring import (
    ANGLE,
    BACKFACING,
    DEFOCUS,
    EXPOSURE,
    FOV,
    GLARE,
    MOTION,
    OCCLUDED,
    RESOLUTION,
    PairResult,
    limit_norm,
    limit_terms,
    ratio_or_inf,
    read_probability,
    score_of,
    vec9,
)
from .visibility import (
    ALL_SEEN,
    N_SAMPLES,
    TargetCull,
    ViewCull,
    front_facing,
    in_fov,
    readable_despite_occlusion,
    samples_seen,
    surely_outside,
    target_normal,
    view_culled,
    visible_samples,
)

wp.set_module_options({"enable_backward": False})


@wp.struct
class PairRecord:
    """What every pair keeps (32 B; one store: a record array is far cheaper to fill than one array per field)."""

    score: wp.float32
    p_read: wp.float32
    ppm_u: wp.float32
    ppm_w: wp.float32
    tilt_deg: wp.float32
    distance: wp.float32
    combined_margin: wp.float32
    decodable: wp.uint8
    limiting: wp.uint8
    seen: wp.uint8  # occlusion samples seen (visible_fraction = seen / N_SAMPLES)
    spare: wp.uint8


@wp.struct
class PairDetail:
    """The rest of a pair's outputs (44 B), kept when the world keeps detail: blur metrics and every margin."""

    defocus_px: wp.float32
    motion_px: wp.float32
    margins: vec9


@wp.func
def pass_margin(ok: bool) -> float:
    if ok:
        return wp.inf
    return 0.0


@wp.func
def culled_result(cam_pos: wp.vec3, tgt_pos: wp.vec3, normal: wp.vec3, fov: bool) -> PairResult:
    """What a culling world keeps of a pair out of view (``fov`` False) or facing away: distance, tilt, the fov
    and backfacing margins, no lights (glare and exposure inf), every other metric 0. One function for the pair
    model and the kernel's pre-test, so both give the same bits."""
    r = PairResult()
    m = vec9(0.0)
    to_cam = cam_pos - tgt_pos
    m[GLARE - 1] = wp.inf
    m[EXPOSURE - 1] = wp.inf
    m[FOV - 1] = pass_margin(fov)
    m[BACKFACING - 1] = pass_margin(wp.dot(normal, to_cam) > 0.0)
    r.distance = wp.length(to_cam)
    r.tilt_deg = tilt_between(normal, to_cam)
    r.margins = m
    r.limiting = BACKFACING
    if not fov:
        r.limiting = FOV
    return r


@wp.func
def evaluate_pair_seen(cam: Camera, tgt: Target, mesh: wp.uint64, has_mesh: int, lit: Lighting,
                       group: int, seen: int, cull: int) -> PairResult:
    """The decodability model for one camera x target. ``has_mesh`` != 0 casts occlusion rays against ``mesh``;
    ``lit`` gives the lights and whether they cast shadows, ``group`` the symbol's own parcel faces (sweep samples;
    -1 for none) that never shadow it. ``seen`` >= 0 is the visibility mask the host already cast for this pair
    (the same rays, through Embree on the CPU: swb/engine/embree_masks.py); -1 casts them here. ``cull`` != 0 stops
    at a pair out of view or facing away with its distance and tilt (its other metrics 0)."""
    fov = False
    if not surely_outside(cam, tgt):  # the bounding-sphere test first: it never rejects a pair in view
        fov = in_fov(cam, tgt)
    return pair_model(cam, tgt, mesh, has_mesh, lit, group, seen, cull, fov, front_facing(cam, tgt))


@wp.func
def pair_model(cam: Camera, tgt: Target, mesh: wp.uint64, has_mesh: int, lit: Lighting, group: int, seen: int,
               cull: int, fov: bool, front: bool) -> PairResult:
    """``evaluate_pair_seen`` given the view tests' answers (``fov``: in view, ``front``: facing the camera), for
    a caller that has run them already (the sweep)."""
    r = PairResult()
    m = vec9(0.0)
    # Lights only for pairs in view and facing the camera (like occlusion rays); inf otherwise and without lights.
    glare = wp.float32(wp.inf)
    exposure = wp.float32(wp.inf)
    motion_scale = wp.float32(1.0)  # strobes that dominate the exposure shorten the smear (kernels/lighting.py)
    if fov and front:
        light = lighting_margins(cam, tgt, mesh, lit, group)
        glare = light[0]
        exposure = light[1]
        if cam.exposure > 0.0:
            motion_scale = light[2] / cam.exposure
    m[GLARE - 1] = glare
    m[EXPOSURE - 1] = exposure
    m[FOV - 1] = pass_margin(fov)
    m[BACKFACING - 1] = pass_margin(front)

    if cull != 0 and not (fov and front):
        return culled_result(cam.pos, tgt.pos, target_normal(tgt), fov)
    r.distance = wp.length(cam.pos - tgt.pos)
    r.tilt_deg = tilt_degrees(cam, tgt)
    angle_margin = ratio_or_inf(wp.min(cam.max_tilt, cam.decoder_tilt[tgt.cls]), r.tilt_deg)
    centre = to_camera(cam, tgt.pos)
    scan = cam.scanline != 0 and (tgt.cls == LINEAR or tgt.cls == PDF417)

    # Depth-dependent metrics need the centre (and, for 2-D symbols, every corner) in front of the camera.
    combined = wp.float32(0.0)
    r_s = wp.float32(0.0)
    r_b = wp.float32(0.0)
    blur = wp.float32(0.0)
    smear_worst = wp.float32(0.0)
    computable = centre[2] > 0.0
    if computable and tgt.cls != LINEAR:
        computable = min_corner_depth(cam, tgt) > 0.0
    if computable:
        if scan:
            cover = 1.0 - cam.scan_cover[tgt.cls]
            angle_margin = wp.min(angle_margin, cover * scanline_margin(cam, tgt, centre))
        ppm = pixels_per_module(cam, tgt, centre)
        blur = defocus_pixels(cam, centre[2])
        smear = motion_smear(cam, tgt, centre) * motion_scale
        smear_axes = smear_along_axes(cam, tgt, centre, smear)
        threshold = cam.thresholds[tgt.cls] * cam.threshold_scale[tgt.sym]
        blur_limit = cam.blur_limits[tgt.cls]
        terms = limit_terms(threshold, blur_limit, ppm[0], blur, smear_axes[0])
        q = limit_norm(terms)
        ppm_worst = ppm[0]
        smear_worst = smear_axes[0]
        if tgt.cls != LINEAR:
            terms_w = limit_terms(threshold, blur_limit, ppm[1], blur, smear_axes[1])
            q_w = limit_norm(terms_w)
            if q_w > q:
                q = q_w
                terms = terms_w
                ppm_worst = ppm[1]
                smear_worst = smear_axes[1]
        r_s = terms[0]
        r_b = terms[1]
        combined = ratio_or_inf(1.0, q)
        m[RESOLUTION - 1] = ppm_worst / threshold
        m[DEFOCUS - 1] = ratio_or_inf(blur_limit * ppm_worst, blur)
        m[MOTION - 1] = ratio_or_inf(blur_limit * ppm_worst, smear_worst)
        r.ppm_u = ppm[0]
        r.ppm_w = ppm[1]
        r.defocus_px = blur
        r.motion_px = wp.length(smear)
    m[ANGLE - 1] = angle_margin
    r.combined_margin = combined

    mask = wp.int32(0)
    if fov and front:
        if has_mesh != 0:
            if seen >= 0:
                mask = seen
            else:
                mask = visible_samples(cam, tgt, mesh)
            r.rays = N_SAMPLES
        else:
            mask = ALL_SEEN
    r.visible_fraction = float(samples_seen(mask)) / float(N_SAMPLES)
    m[OCCLUDED - 1] = r.visible_fraction
    r.margins = m

    # The decisive margin: the read probability follows it; decodable from the camera's minimum probability on.
    least = wp.min(wp.min(combined, angle_margin), wp.min(glare, exposure))
    if not fov:
        r.limiting = FOV
    elif not front:
        r.limiting = BACKFACING
    elif not readable_despite_occlusion(cam, tgt, mask):
        r.limiting = OCCLUDED
    else:
        r.p_read = read_probability(cam, tgt.cls, least)
        if least >= cam.read_floor[tgt.cls]:
            r.decodable = 1
            r.score = score_of(least)
            r.p_read = wp.max(r.p_read, cam.min_read)  # the floor reads with min_read, whatever rounding says
        elif glare < wp.min(combined, angle_margin) and glare <= exposure:
            r.limiting = GLARE
        elif exposure < wp.min(combined, angle_margin):
            r.limiting = EXPOSURE
        elif angle_margin < combined:
            r.limiting = ANGLE
        elif r_s >= r_b:
            r.limiting = RESOLUTION
        elif blur >= smear_worst:
            r.limiting = DEFOCUS
        else:
            r.limiting = MOTION
    return r


@wp.func
def evaluate_pair(cam: Camera, tgt: Target, mesh: wp.uint64, has_mesh: int, lit: Lighting,
                  group: int) -> PairResult:
    """``evaluate_pair_seen`` casting its own occlusion rays, stopping at pairs out of view or facing away."""
    return evaluate_pair_seen(cam, tgt, mesh, has_mesh, lit, group, -1, 1)


@wp.func
def record_of(r: PairResult, seen: int) -> PairRecord:
    out = PairRecord()
    out.score = r.score
    out.p_read = r.p_read
    out.ppm_u = r.ppm_u
    out.ppm_w = r.ppm_w
    out.tilt_deg = r.tilt_deg
    out.distance = r.distance
    out.combined_margin = r.combined_margin
    out.decodable = wp.uint8(r.decodable)
    out.limiting = wp.uint8(r.limiting)
    out.seen = wp.uint8(seen)
    return out


@wp.func
def detail_of(r: PairResult) -> PairDetail:
    out = PairDetail()
    out.defocus_px = r.defocus_px
    out.motion_px = r.motion_px
    out.margins = r.margins
    return out


@wp.kernel
def evaluate_kernel(
    cameras: wp.array(dtype=Camera),
    targets: wp.array(dtype=Target),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    cam_idx: wp.array(dtype=wp.int32),
    tgt_idx: wp.array(dtype=wp.int32),
    sparse: int,
    records: wp.array2d(dtype=PairRecord),
    detail: wp.array2d(dtype=PairDetail),
    with_detail: int,
    cull: int,
    rays: wp.array(dtype=wp.int64),
    slot: int,
    seen: wp.array2d(dtype=wp.int32),
    use_seen: int,
    views: wp.array(dtype=ViewCull),
    spheres: wp.array(dtype=TargetCull),
    defer: int,
    flags: wp.array2d(dtype=wp.uint8),
):
    """Grid launch (len(cam_idx), len(tgt_idx)) for blocks of pairs; with ``sparse`` != 0 a (n, 1) launch where
    thread i evaluates the pair (cam_idx[i], tgt_idx[i]). Writes ``records[c, t]`` and, with ``with_detail`` != 0,
    ``detail[c, t]``; ``cull``: see ``evaluate_pair_seen``. ``rays[slot]`` counts the occlusion rays cast. With
    ``use_seen`` != 0, ``seen[i, j]`` (shaped like the launch) >= 0 is a visibility mask cast on the host (-1: cast
    here). A culling world first tests the pair on ``views[c]`` and ``spheres[t]`` (108 bytes; most pairs of a
    station miss the view) and loads the camera and target only for the pairs that pass. With ``defer`` != 0 a
    pair that would cast occlusion rays (in view and facing: the model's own test) is only marked in
    ``flags[i, j]``, for a host engine to cast its rays and a later launch to evaluate it with them."""
    i, j = wp.tid()
    c = cam_idx[i]
    t = tgt_idx[j]
    if sparse != 0:
        t = tgt_idx[i]
    if cull != 0:
        v = views[c]
        sph = spheres[t]
        if view_culled(v, sph.pos, sph.radius):
            out = culled_result(v.pos, sph.pos, sph.normal, False)
            records[c, t] = record_of(out, 0)
            if with_detail != 0:
                detail[c, t] = detail_of(out)
            return
    cam = cameras[c]
    tgt = targets[t]
    if defer != 0 and has_mesh != 0:
        if not surely_outside(cam, tgt):
            if in_fov(cam, tgt) and front_facing(cam, tgt):
                flags[i, j] = wp.uint8(1)
                return
    pre = wp.int32(-1)
    if use_seen != 0:
        pre = seen[i, j]
    r = evaluate_pair_seen(cam, tgt, mesh, has_mesh, lit, -1, pre, cull)
    records[c, t] = record_of(r, wp.int32(r.visible_fraction * float(N_SAMPLES) + 0.5))
    if with_detail != 0:
        detail[c, t] = detail_of(r)
    if r.rays > 0:
        wp.atomic_add(rays, slot, wp.int64(r.rays))


@wp.func
def seen_mask(seen: int) -> int:
    """A visibility mask with ``seen`` samples set: all the detail needs of a pair's occlusion (its fraction)."""
    return (wp.int32(1) << seen) - 1


@wp.kernel
def detail_kernel(
    cameras: wp.array(dtype=Camera),
    targets: wp.array(dtype=Target),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    cam_idx: wp.array(dtype=wp.int32),
    tgt_idx: wp.array(dtype=wp.int32),
    sparse: int,
    seen: wp.array2d(dtype=wp.int32),
    cull: int,
    out: wp.array2d(dtype=PairDetail),
):
    """A world's ``PairDetail`` recomputed for the pairs someone asks about, by the same ``evaluate_pair_seen``.
    Grid launch (len(cam_idx), len(tgt_idx)) writing ``out[i, j]``, or with ``sparse`` != 0 an (n, 1) launch for
    the pairs (cam_idx[i], tgt_idx[i]) writing ``out[i, 0]``. ``seen[i, j]`` is the pair's kept count of seen
    occlusion samples: no ray is cast again, so the visibility is the record's, whichever engine cast it."""
    i, j = wp.tid()
    c = cam_idx[i]
    t = tgt_idx[j]
    if sparse != 0:
        t = tgt_idx[i]
    r = evaluate_pair_seen(cameras[c], targets[t], mesh, has_mesh, lit, -1, seen_mask(seen[i, j]), cull)
    out[i, j] = detail_of(r)
