"""Lights on the symbols: exposure (DESIGN 4.9), specular glare (4.8) and strobes, per camera x target; and the
light reaching people's eyes (docs/lighting.md).

Illuminance at the symbol centre from each light that reaches it (not shadowed, in front of the label):
E_l = I_l(theta) * cos(i) / d^2 lux, with I_l(theta) the light's candela in that direction (its axis intensity
times its pattern cos^planar * |cos|^focus * cone, ``light_pattern``) and i the incidence from the symbol normal.
A Lambertian label of reflectance rho has luminance L = E rho / pi; the camera equation puts pi L / (4 N^2) on
the sensor (on axis, lens transmission 1, no cos^4 fall-off), so the exposure is H = sum_l E_l t_l rho / (4 N^2)
lux s, where t_l is the time light l is on during the exposure T (``on_time``: T for a continuous light; a strobe
of pulse w and period P: n w + min(w, r) when synced with the exposure, n w + max(0, r - (P - w)) at the worst
phase when free-running, n = floor(T / P), r = T - n P). Exposure margin = min(H / H_min, C / 0.2) with H_min the
sensor's ``min_exposure`` and C the print contrast (at least 20 %). A pinhole camera (fStop 0) counts as f/1.
Motion: when the lights that are on for less than the whole exposure (strobes) give at least half of H
(STROBE_DOMINANCE), the symbol is only lit while they flash: the smear lasts min(T, longest such pulse) instead
of T (``motion_time``). Glossy labels: the camera within the gloss angle of the mirror direction of a light that
reaches the label sees glare; margin = angle to the mirror direction / gloss angle (smallest over the lights).
Without lights both margins are inf and the motion time is T.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Light, Target
from .scoring import ratio_or_inf
from .visibility import RAY_SHORTEN_ABS, RAY_SHORTEN_REL, target_normal

wp.set_module_options({"enable_backward": False})

MIN_PRINT_CONTRAST = wp.constant(0.2)
PINHOLE_F_NUMBER = wp.constant(1.0)  # fStop 0 (no aperture modelled) counts as f/1 for the exposure
MAX_SKIPS = wp.constant(16)  # own-parcel triangles a shadow ray may pass through before it counts as blocked
SKIP_EPS = wp.constant(1.0e-4)  # metres: restart a ray this far beyond an ignored hit
RAD_TO_DEG = wp.constant(57.29577951308232)
STROBE_DOMINANCE = wp.constant(0.5)  # share of the exposure strobes must give to set the motion time


@wp.struct
class Lighting:
    """The lights of a world and how to shadow them: ``count`` 0 means no lights (``lights`` holds one unused row);
    ``shadows`` != 0 casts one shadow ray per light against the mesh; a symbol of ``group`` >= 0 (a sweep sample
    moved with its parcel) ignores the faces ``face_group`` marks with its group."""

    lights: wp.array(dtype=Light)
    count: int
    shadows: int
    face_group: wp.array(dtype=wp.int32)


@wp.func
def segment_clear(mesh: wp.uint64, start: wp.vec3, end: wp.vec3, face_group: wp.array(dtype=wp.int32),
                  group: int) -> bool:
    """Nothing lies on start -> end short of ``end`` (by the occlusion rays' gaps, so the surface a label sits on
    does not shadow it); hits on faces of ``group`` >= 0 are passed through."""
    seg = end - start
    length = wp.length(seg)
    max_t = length * (1.0 - RAY_SHORTEN_REL) - RAY_SHORTEN_ABS
    if max_t <= 0.0:
        return True
    d = seg / length
    if group < 0:
        return not wp.mesh_query_ray_anyhit(mesh, start, d, max_t)
    origin = start
    left = max_t
    for _hop in range(MAX_SKIPS):
        q = wp.mesh_query_ray(mesh, origin, d, left)
        if not q.result:
            return True
        if face_group[q.face] != group:
            return False
        step = q.t + SKIP_EPS
        origin = origin + d * step
        left = left - step
        if left <= 0.0:
            return True
    return False


@wp.func
def light_pattern(light: Light, cos_off: float) -> float:
    """I(theta) / I(axis) for the cosine of the angle off the light's axis: cos^planar * |cos|^focus * cone, the
    cone with UsdLux's soft edge 1 - smoothstep(theta, soft_start, cut)."""
    if cos_off < light.cos_beam:
        return 0.0
    f = wp.float32(1.0)
    if light.planar > 0.0:
        f = wp.max(cos_off, 0.0)
    if light.focus > 0.0:
        f = f * wp.pow(wp.abs(cos_off), light.focus)
    if light.soft_start < light.cut:
        theta = wp.acos(wp.clamp(cos_off, -1.0, 1.0))
        t = wp.clamp((theta - light.soft_start) / (light.cut - light.soft_start), 0.0, 1.0)
        f = f * (1.0 - t * t * (3.0 - 2.0 * t))
    return f


@wp.func
def on_time(light: Light, exposure: float) -> float:
    """Seconds the light is on during an exposure (a continuous light: all of it; see the module docstring)."""
    if light.period <= 0.0 or exposure <= 0.0:
        return wp.max(exposure, 0.0)
    n = wp.floor(exposure / light.period)
    r = exposure - n * light.period
    if light.synced != 0:
        return n * light.pulse + wp.min(light.pulse, r)
    return n * light.pulse + wp.max(0.0, r - (light.period - light.pulse))


@wp.func
def lighting_margins(cam: Camera, tgt: Target, mesh: wp.uint64, lit: Lighting, group: int) -> wp.vec3:
    """(glare margin, exposure margin, motion time in seconds) of one pair; (inf, inf, exposure) without lights."""
    if lit.count == 0:
        return wp.vec3(wp.inf, wp.inf, cam.exposure)
    n = target_normal(tgt)
    to_cam = cam.pos - tgt.pos
    dose = wp.float32(0.0)  # sum of E_l t_l, lux s
    strobed = wp.float32(0.0)  # the part of it from lights on for less than the exposure
    flash = wp.float32(0.0)  # longest pulse among those
    glare = wp.float32(wp.inf)
    for k in range(lit.count):
        light = lit.lights[k]
        seg = light.pos - tgt.pos
        d2 = wp.dot(seg, seg)
        if d2 > 0.0 and light.intensity > 0.0:
            to_light = seg / wp.sqrt(d2)
            cos_i = wp.dot(n, to_light)
            shape = light_pattern(light, -wp.dot(light.dir, to_light))
            if cos_i > 0.0 and shape > 0.0:
                clear = True
                if lit.shadows != 0:
                    clear = segment_clear(mesh, light.pos, tgt.pos, lit.face_group, group)
                if clear:
                    t_on = on_time(light, cam.exposure)
                    part = light.intensity * shape * cos_i / d2 * t_on
                    dose += part
                    if t_on < cam.exposure and part > 0.0:
                        strobed += part
                        flash = wp.max(flash, light.pulse)
                    if tgt.glossy != 0:
                        mirror = 2.0 * cos_i * n - to_light
                        angle = wp.atan2(wp.length(wp.cross(mirror, to_cam)), wp.dot(mirror, to_cam)) * RAD_TO_DEG
                        glare = wp.min(glare, ratio_or_inf(angle, tgt.gloss_angle))
    n_f = cam.f_number
    if n_f <= 0.0:
        n_f = PINHOLE_F_NUMBER
    exposure = dose * tgt.reflectance / (4.0 * n_f * n_f)
    margin = wp.min(ratio_or_inf(exposure, cam.min_exposure), tgt.print_contrast / MIN_PRINT_CONTRAST)
    motion = cam.exposure
    if dose > 0.0 and strobed >= STROBE_DOMINANCE * dose:
        motion = wp.min(cam.exposure, flash)
    return wp.vec3(glare, margin, motion)


@wp.kernel
def eye_kernel(
    points: wp.array(dtype=wp.vec3),
    lights: wp.array(dtype=Light),
    mesh: wp.uint64,
    shadows: int,
    face_group: wp.array(dtype=wp.int32),
    distance: wp.array2d(dtype=wp.float32),
    cos_off: wp.array2d(dtype=wp.float32),
    visible: wp.array2d(dtype=wp.uint8),
):
    """Thread (i, k): eye position i looking into light k: distance (m), cosine of the direction off the light's
    axis, and whether the segment light -> eye is clear (``shadows`` != 0 casts it against ``mesh``)."""
    i, k = wp.tid()
    light = lights[k]
    seg = points[i] - light.pos
    d = wp.length(seg)
    distance[i, k] = d
    c = wp.float32(1.0)
    if d > 0.0:
        c = wp.dot(light.dir, seg / d)
    cos_off[i, k] = c
    seen = wp.uint8(1)
    if shadows != 0 and d > 0.0:
        if not segment_clear(mesh, light.pos, points[i], face_group, -1):
            seen = wp.uint8(0)
    visible[i, k] = seen
