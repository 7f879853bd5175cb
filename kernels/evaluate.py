"""The fused per-pair kernel: one thread per camera x target runs the whole decodability model (docs/model.md).

Only pairs that pass the field of view and face the camera cast occlusion rays; everything else is a few dozen
flops. ``evaluate_pair`` is a plain ``@wp.func`` so sweeps can call it with candidate cameras.
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
    front_facing,
    in_fov,
    readable_despite_occlusion,
    samples_seen,
    visible_samples,
)

wp.set_module_options({"enable_backward": False})


@wp.struct
class PairOutputs:
    """Persistent (n_cameras, n_targets) result arrays the kernel writes into (margins: trailing axis of 9)."""

    decodable: wp.array2d(dtype=wp.uint8)
    limiting: wp.array2d(dtype=wp.int32)
    score: wp.array2d(dtype=wp.float32)
    p_read: wp.array2d(dtype=wp.float32)
    ppm_u: wp.array2d(dtype=wp.float32)
    ppm_w: wp.array2d(dtype=wp.float32)
    tilt_deg: wp.array2d(dtype=wp.float32)
    defocus_px: wp.array2d(dtype=wp.float32)
    motion_px: wp.array2d(dtype=wp.float32)
    visible_fraction: wp.array2d(dtype=wp.float32)
    distance: wp.array2d(dtype=wp.float32)
    combined_margin: wp.array2d(dtype=wp.float32)
    margins: wp.array3d(dtype=wp.float32)


@wp.func
def pass_margin(ok: bool) -> float:
    if ok:
        return wp.inf
    return 0.0


@wp.func
def evaluate_pair_seen(cam: Camera, tgt: Target, mesh: wp.uint64, has_mesh: int, lit: Lighting,
                       group: int, seen: int) -> PairResult:
    """The decodability model for one camera x target. ``has_mesh`` != 0 casts occlusion rays against ``mesh``;
    ``lit`` gives the lights and whether they cast shadows, ``group`` the symbol's own parcel faces (sweep samples;
    -1 for none) that never shadow it. ``seen`` >= 0 is the visibility mask the host already cast for this pair
    (the same rays, through Embree on the CPU: swb/engine/embree_masks.py); -1 casts them here."""
    r = PairResult()
    m = vec9(0.0)
    fov = in_fov(cam, tgt)
    front = front_facing(cam, tgt)
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
    """``evaluate_pair_seen`` casting its own occlusion rays."""
    return evaluate_pair_seen(cam, tgt, mesh, has_mesh, lit, group, -1)


@wp.func
def store(out: PairOutputs, c: int, t: int, r: PairResult):
    out.decodable[c, t] = wp.uint8(r.decodable)
    out.limiting[c, t] = r.limiting
    out.score[c, t] = r.score
    out.p_read[c, t] = r.p_read
    out.ppm_u[c, t] = r.ppm_u
    out.ppm_w[c, t] = r.ppm_w
    out.tilt_deg[c, t] = r.tilt_deg
    out.defocus_px[c, t] = r.defocus_px
    out.motion_px[c, t] = r.motion_px
    out.visible_fraction[c, t] = r.visible_fraction
    out.distance[c, t] = r.distance
    out.combined_margin[c, t] = r.combined_margin
    for k in range(9):
        out.margins[c, t, k] = r.margins[k]


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
    out: PairOutputs,
    rays: wp.array(dtype=wp.int64),
    slot: int,
    seen: wp.array2d(dtype=wp.int32),
    use_seen: int,
):
    """Grid launch (len(cam_idx), len(tgt_idx)) for blocks of pairs; with ``sparse`` != 0 a (n, 1) launch where
    thread i evaluates the pair (cam_idx[i], tgt_idx[i]). ``rays[slot]`` counts the occlusion rays cast. With
    ``use_seen`` != 0, ``seen[c, t]`` >= 0 is a visibility mask cast on the host (-1: cast here)."""
    i, j = wp.tid()
    c = cam_idx[i]
    t = tgt_idx[j]
    if sparse != 0:
        t = tgt_idx[i]
    pre = wp.int32(-1)
    if use_seen != 0:
        pre = seen[c, t]
    r = evaluate_pair_seen(cameras[c], targets[t], mesh, has_mesh, lit, -1, pre)
    store(out, c, t, r)
    if r.rays > 0:
        wp.atomic_add(rays, slot, wp.int64(r.rays))
