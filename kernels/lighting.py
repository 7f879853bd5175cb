"""Lights on the symbols: exposure and specular glare (docs/model.md, rule 10), per camera x target.

Illuminance at the symbol centre, summed over the lights that reach it (not shadowed, inside their cone, in front
of the label): E = sum I * cos(i) / d^2 lux (I in candela, i the incidence from the symbol normal, d in metres).
A Lambertian label of reflectance rho has luminance L = E rho / pi; the camera equation puts pi L / (4 N^2) on the
sensor (on axis, lens transmission 1, no cos^4 fall-off), so the exposure is H = E * rho * T / (4 N^2) lux s for
an exposure time T. Exposure margin = min(H / H_min, C / 0.2) with H_min the sensor's ``min_exposure`` and C the
print contrast (at least 20 %, docs/model.md). A pinhole camera (fStop 0) counts as f/1. Glossy labels: the camera
within the gloss angle of the mirror direction of a light that reaches the label sees glare; margin = angle to the
mirror direction / gloss angle (smallest over the lights). Without lights both margins are inf.
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
def lighting_margins(cam: Camera, tgt: Target, mesh: wp.uint64, lit: Lighting, group: int) -> wp.vec2:
    """(glare margin, exposure margin) of one pair; (inf, inf) without lights."""
    if lit.count == 0:
        return wp.vec2(wp.inf, wp.inf)
    n = target_normal(tgt)
    to_cam = cam.pos - tgt.pos
    illuminance = wp.float32(0.0)
    glare = wp.float32(wp.inf)
    for k in range(lit.count):
        light = lit.lights[k]
        seg = light.pos - tgt.pos
        d2 = wp.dot(seg, seg)
        if d2 > 0.0 and light.intensity > 0.0:
            to_light = seg / wp.sqrt(d2)
            cos_i = wp.dot(n, to_light)
            if cos_i > 0.0 and -wp.dot(light.dir, to_light) >= light.cos_beam:
                clear = True
                if lit.shadows != 0:
                    clear = segment_clear(mesh, light.pos, tgt.pos, lit.face_group, group)
                if clear:
                    illuminance += light.intensity * cos_i / d2
                    if tgt.glossy != 0:
                        mirror = 2.0 * cos_i * n - to_light
                        angle = wp.atan2(wp.length(wp.cross(mirror, to_cam)), wp.dot(mirror, to_cam)) * RAD_TO_DEG
                        glare = wp.min(glare, ratio_or_inf(angle, tgt.gloss_angle))
    n_f = cam.f_number
    if n_f <= 0.0:
        n_f = PINHOLE_F_NUMBER
    exposure = illuminance * tgt.reflectance * cam.exposure / (4.0 * n_f * n_f)
    margin = wp.min(ratio_or_inf(exposure, cam.min_exposure), tgt.print_contrast / MIN_PRINT_CONTRAST)
    return wp.vec2(glare, margin)
