"""Device records of cameras and targets, and the pinhole projection with its Jacobian.

Conventions follow ``swb.engine.model``: the camera looks along its -Z axis; a camera-frame point is handled here as
(x, y, d) with depth d = -z_cam, and projects to u = cx + fx * x / d, v = cy - fy * y / d.
"""

from __future__ import annotations

import warp as wp

wp.set_module_options({"enable_backward": False})

# One value per threshold class (swb.engine.profiles.CLASS_CODE): linear, pdf417, datamatrix, qr, aztec.
vec5 = wp.types.vector(length=5, dtype=wp.float32)
# One value per symbology (swb.engine.profiles.SYMBOLOGY_CODE).
vec_sym = wp.types.vector(length=9, dtype=wp.float32)


@wp.struct
class Camera:
    """One camera, packed for the kernels; lengths in metres, angles in degrees."""

    rot: wp.mat33  # camera -> world (columns: camera X, Y, Z axes in world coordinates)
    pos: wp.vec3
    fx: float
    fy: float
    cx: float
    cy: float
    width: float  # pixels
    height: float
    focal_length: float
    f_number: float  # 0: pinhole
    focus_distance: float
    autofocus: int  # 1: s = clamp(d, focus_near, focus_far)
    focus_near: float
    focus_far: float
    exposure: float  # seconds
    clip_near: float
    clip_far: float
    pitch: float  # sqrt(pitch_u * pitch_v), metres per pixel
    wavelength: float  # metres
    max_tilt: float  # degrees: the reader's rule (swb:sensor:maxTilt)
    decoder_tilt: vec5  # degrees: the decoder profile's own tilt limit by class (90: none)
    thresholds: vec5  # T in pixels per module by class: linear, pdf417, datamatrix, qr, aztec
    blur_limits: vec5  # B in modules by class
    min_visible: vec5  # share of the occlusion samples that must be seen, by class (1: all)
    scanline: int  # 1: reads 1-D / PDF417 only while a pixel row or column crosses the whole symbol
    scan_cover: vec5  # share of the symbol height the rows crossing it whole must cover, by class (scanline)
    clear_row: int  # 1: a 1-D symbol reads while one full row of occlusion samples across u is visible
    quiet_zone: vec5  # share of the required quiet zone that must lie inside the image, by class (1: all)
    line_view: int  # 1: a 1-D symbol is in view when its centre scan line (with that quiet zone) is
    threshold_scale: vec_sym  # factor on the class's T per symbology (1: none)
    min_exposure: float  # lux s on the sensor for a readable signal (only with lights)
    min_read: float  # swb:sensor:minReadProbability: decodable when one frame reads with at least this probability
    read_ln_m90: vec5  # the read-probability link by class: ln of the margin where one frame reads 9 times in 10
    read_slope: vec5  # ... and its slope in log-odds per unit of ln(margin)
    read_floor: vec5  # the margin where the link reaches min_read (decodable at or above it), by class
    frame_rate: float  # Hz: frames while labels pass (transits)


@wp.struct
class Target:
    """One symbol: its frame, its extent with and without the quiet zone, its class and motion."""

    rot: wp.mat33  # symbol -> world (columns: u, w, normal)
    pos: wp.vec3  # centre
    half_size: wp.vec2  # symbol without quiet zone, half extents along u, w
    half_size_qz: wp.vec2  # with the quiet zone
    module_size: float  # X, the module width along u
    module_size_w: float  # the module along w: X times the symbology's module aspect (PDF417 rows: 3X)
    cls: int  # threshold class: 0 linear, 1 pdf417, 2 datamatrix, 3 qr, 4 aztec
    sym: int  # symbology code (swb.engine.profiles.SYMBOLOGY_CODE), for per-symbology decoder traits
    velocity: wp.vec3  # m/s, world
    reflectance: float  # diffuse reflectance of the light modules (only with lights)
    print_contrast: float  # (light - dark) / light reflectance
    glossy: int  # 1: mirrors lights into the camera (glare)
    gloss_angle: float  # degrees: glare within this angle of a light's mirror direction


@wp.struct
class Light:
    """A point light (swb.engine.model.LightModel): candela on the axis times its angular pattern
    cos^planar * |cos|^focus * cone, while it is on; a strobe is on ``pulse`` s every ``period`` s."""

    pos: wp.vec3  # metres, world
    dir: wp.vec3  # unit beam axis, world
    intensity: float  # candela on the axis (a strobe's peak)
    cos_beam: float  # cosine of the cone half-angle (-1: every direction)
    planar: float  # 1: flat one-sided Lambertian emitter (I ~ cos), 0: none
    focus: float  # UsdLux shaping:focus exponent on |cos| (0: none)
    cut: float  # cone half-angle, radians
    soft_start: float  # radians where the soft cone edge starts (== cut: a hard edge)
    pulse: float  # seconds a strobe is on per period (0: continuous)
    period: float  # seconds between pulse starts (0: continuous)
    synced: int  # 1: pulses fire at the start of every camera exposure; 0: free-running (worst phase)


@wp.func
def to_camera(cam: Camera, p: wp.vec3) -> wp.vec3:
    """World point -> (x, y, depth) in the camera frame."""
    q = wp.transpose(cam.rot) * (p - cam.pos)
    return wp.vec3(q[0], q[1], -q[2])


@wp.func
def vector_to_camera(cam: Camera, v: wp.vec3) -> wp.vec3:
    """World direction -> (x, y, depth) components in the camera frame."""
    q = wp.transpose(cam.rot) * v
    return wp.vec3(q[0], q[1], -q[2])


@wp.func
def project(cam: Camera, pc: wp.vec3) -> wp.vec2:
    """Camera-frame point (x, y, depth > 0) -> pixel (u, v)."""
    return wp.vec2(cam.cx + cam.fx * pc[0] / pc[2], cam.cy - cam.fy * pc[1] / pc[2])


@wp.func
def image_step(cam: Camera, pc: wp.vec3, a: wp.vec3) -> wp.vec2:
    """J . a: the pixel displacement of a small camera-frame step a = (dx, dy, d depth) at pc.

    From u = cx + fx x / d and v = cy - fy y / d: du = fx (dx / d - x dd / d^2), dv = -fy (dy / d - y dd / d^2).
    """
    d = pc[2]
    du = cam.fx * (a[0] / d - pc[0] * a[2] / (d * d))
    dv = -cam.fy * (a[1] / d - pc[1] * a[2] / (d * d))
    return wp.vec2(du, dv)


@wp.func
def in_view(cam: Camera, pc: wp.vec3) -> bool:
    """Inside the clipping range and the image rectangle [0, W] x [0, H]."""
    if pc[2] < cam.clip_near or pc[2] > cam.clip_far:
        return False
    px = project(cam, pc)
    return px[0] >= 0.0 and px[0] <= cam.width and px[1] >= 0.0 and px[1] <= cam.height
