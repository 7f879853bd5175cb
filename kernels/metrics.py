"""What the camera makes of a visible symbol: pixels per module, tilt, scan-line roll, defocus and motion blur.

All functions take camera-frame points as (x, y, depth) from ``camera.to_camera`` and need depth > 0.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target, image_step, to_camera, vector_to_camera
from .visibility import LINEAR, symbol_point, target_normal

wp.set_module_options({"enable_backward": False})
PDF417 = wp.constant(1)
DIFFRACTION_FWHM = wp.constant(1.03)  # Airy core FWHM in units of wavelength * N (docs/model.md, defocus)
RAD2DEG = wp.constant(57.29577951308232)


@wp.func
def module_u(cam: Camera, tgt: Target) -> wp.vec3:
    """Camera-frame (x, y, depth) components of the module vector X * u (across the bars / columns)."""
    return vector_to_camera(cam, wp.vec3(tgt.rot[0, 0], tgt.rot[1, 0], tgt.rot[2, 0]) * tgt.module_size)


@wp.func
def module_w(cam: Camera, tgt: Target) -> wp.vec3:
    """Camera-frame (x, y, depth) components of the module vector along w (along the bars / across the rows):
    X * w for square modules, the row height 3X * w for PDF417."""
    return vector_to_camera(cam, wp.vec3(tgt.rot[0, 1], tgt.rot[1, 1], tgt.rot[2, 1]) * tgt.module_size_w)


@wp.func
def min_corner_depth(cam: Camera, tgt: Target) -> float:
    """Smallest depth over the four symbol corners (without quiet zone)."""
    d = wp.float32(1.0e30)
    for k in range(4):
        su = float(2 * (k % 2) - 1)
        sw = float(2 * (k // 2) - 1)
        d = wp.min(d, to_camera(cam, symbol_point(tgt, su, sw, tgt.half_size))[2])
    return d


@wp.func
def grid_spacing(a: wp.vec2, b: wp.vec2) -> wp.vec2:
    """Pixels between neighbouring grid lines of a projected module cell with edges a (one module along u) and b
    (along w): the lines of constant u run along b and lie |a x b| / |b| apart, those of constant w |a x b| / |a|.
    A sheared cell (an obliquely tilted symbol) brings them closer than the edge lengths |a|, |b| say."""
    area = wp.abs(a[0] * b[1] - a[1] * b[0])
    la = wp.length(a)
    lb = wp.length(b)
    su = wp.float32(0.0)
    sw = wp.float32(0.0)
    if lb > 0.0:
        su = area / lb
    if la > 0.0:
        sw = area / la
    return wp.vec2(su, sw)


@wp.func
def pixels_per_module(cam: Camera, tgt: Target, centre: wp.vec3) -> wp.vec2:
    """(PPM_u, PPM_w): the grid-line spacings of the projected module cell (``grid_spacing``; X_w the module along
    w). 1-D at the centre, PPM_u across the bars and PPM_w = |J . X w| along them; 2-D the minimum over the
    corners."""
    u = module_u(cam, tgt)
    w = module_w(cam, tgt)
    if tgt.cls == LINEAR:
        a = image_step(cam, centre, u)
        b = image_step(cam, centre, w)
        return wp.vec2(grid_spacing(a, b)[0], wp.length(b))
    pu = wp.float32(1.0e30)
    pw = wp.float32(1.0e30)
    for k in range(4):
        su = float(2 * (k % 2) - 1)
        sw = float(2 * (k // 2) - 1)
        pc = to_camera(cam, symbol_point(tgt, su, sw, tgt.half_size))
        g = grid_spacing(image_step(cam, pc, u), image_step(cam, pc, w))
        pu = wp.min(pu, g[0])
        pw = wp.min(pw, g[1])
    return wp.vec2(pu, pw)


@wp.func
def ppm_u_bound(cam: Camera, tgt: Target) -> float:
    """An upper bound of ``pixels_per_module``'s PPM_u at a quarter of its cost: the same grid spacing at its first
    corner (2-D symbols take the least of four corners) or exactly (1-D: at the centre). The pair model's combined
    margin never exceeds PPM_u / T, so the sweep can rule a pair out with it (kernels/sweep.py, ``cannot_matter``)."""
    p = to_camera(cam, tgt.pos)
    if tgt.cls != LINEAR:
        p = to_camera(cam, symbol_point(tgt, -1.0, -1.0, tgt.half_size))
    return grid_spacing(image_step(cam, p, module_u(cam, tgt)), image_step(cam, p, module_w(cam, tgt)))[0]


@wp.func
def tilt_degrees(cam: Camera, tgt: Target) -> float:
    """Angle between the symbol normal and the direction to the camera (atan2 keeps small angles exact)."""
    return tilt_between(target_normal(tgt), cam.pos - tgt.pos)


@wp.func
def tilt_between(n: wp.vec3, to_cam: wp.vec3) -> float:
    """``tilt_degrees`` from the normal and the target-to-camera vector (the view pre-test's culled pairs)."""
    return wp.atan2(wp.length(wp.cross(n, to_cam)), wp.dot(n, to_cam)) * RAD2DEG


@wp.func
def scanline_margin(cam: Camera, tgt: Target, centre: wp.vec3) -> float:
    """(height / length) / tan(roll): a pixel row or column must cross the whole symbol; inf when not rolled.

    roll is the angle between the image of the u axis and the nearest image axis (0..45 degrees).
    """
    g = image_step(cam, centre, module_u(cam, tgt))
    big = wp.max(wp.abs(g[0]), wp.abs(g[1]))
    small = wp.min(wp.abs(g[0]), wp.abs(g[1]))
    if small <= 0.0 or big <= 0.0:
        return wp.inf
    return (tgt.half_size[1] / tgt.half_size[0]) / (small / big)


@wp.func
def defocus_pixels(cam: Camera, depth: float) -> float:
    """Thin-lens blur-disk diameter with the diffraction core in quadrature, in pixels; 0 for a pinhole."""
    if cam.f_number <= 0.0:
        return 0.0
    s = cam.focus_distance
    if cam.autofocus != 0:
        s = wp.clamp(depth, cam.focus_near, cam.focus_far)
    f = cam.focal_length
    n = cam.f_number
    c = f * f * wp.abs(depth - s) / (n * depth * wp.max(s - f, 1.0e-9))
    b_geo = c / cam.pitch
    b_diff = DIFFRACTION_FWHM * cam.wavelength * n / cam.pitch
    return wp.sqrt(b_geo * b_geo + b_diff * b_diff)


@wp.func
def motion_smear(cam: Camera, tgt: Target, centre: wp.vec3) -> wp.vec2:
    """Image smear during the exposure in pixels: J_centre . (R_world->cam v) * T (the camera is static)."""
    return image_step(cam, centre, vector_to_camera(cam, tgt.velocity)) * cam.exposure


@wp.func
def smear_along_axes(cam: Camera, tgt: Target, centre: wp.vec3, smear: wp.vec2) -> wp.vec2:
    """|m . a_img| for a = u, w with a_img the unit image direction of the module axis at the centre."""
    gu = image_step(cam, centre, module_u(cam, tgt))
    gw = image_step(cam, centre, module_w(cam, tgt))
    mu = wp.float32(0.0)
    mw = wp.float32(0.0)
    if wp.length(gu) > 0.0:
        mu = wp.abs(wp.dot(smear, wp.normalize(gu)))
    if wp.length(gw) > 0.0:
        mw = wp.abs(wp.dot(smear, wp.normalize(gw)))
    return wp.vec2(mu, mw)
