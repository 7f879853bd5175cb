"""Ray-traced grayscale camera images: what a sensor camera sees of the station and its barcode symbols.

One thread per pixel of a region of interest. Each pixel averages ``spp`` samples that jointly stratify five
dimensions (pixel area x, y; thin-lens aperture x, y; time within the exposure) with a Kronecker (R5) sequence
shifted per pixel by ``wp.rand_init(seed, pixel)``: the result depends only on the seed and the pixel, not on
the region rendered, so a crop equals the same window of a full frame.

Symbols are not part of the mesh: each target is a textured rectangle (the symbol plus its white quiet zone)
intersected analytically, moved by its velocity at the sample's time, so motion blur needs no mesh update.
Where a label and the surface it is stuck on coincide, the label wins within ``LABEL_TIE`` metres.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera

wp.set_module_options({"enable_backward": False})

LABEL_TIE = wp.constant(2.0e-4)  # metres: a label this close in front of (or behind) a mesh hit is seen
# R5 Kronecker sequence: alpha_i = phi^-(i+1) with phi the real root of x^6 = x + 1 (Roberts' generalised ratio).
PHI5 = wp.constant(1.1673039782614187)


@wp.struct
class RenderSymbol:
    """One target as the renderer sees it: a label rectangle with a module bitmap in its centre."""

    rot: wp.mat33  # symbol -> world (columns u, w, normal); printed side faces +normal
    pos: wp.vec3  # centre at time 0 (mid-exposure)
    velocity: wp.vec3  # m/s, world
    half_label: wp.vec2  # white label (symbol + quiet zone) half extents along u, w, metres
    half_symbol: wp.vec2  # module bitmap half extents
    cell: wp.vec2  # size of one bitmap cell along u, w (1-D: module size, bar height)
    cols: int
    rows: int
    offset: int  # first cell of this bitmap in the atlas (row-major, row 0 at +w)
    white: float  # reflectance of the label paper
    black: float  # reflectance of a dark module


@wp.struct
class Shading:
    """Lambertian lighting: a directional light (towards the light) or, when zero, a ring light at the camera."""

    light_dir: wp.vec3
    ambient: float  # share of the light that arrives from everywhere (no shadow, no cosine)
    surface: float  # reflectance of station geometry
    background: float  # radiance where a ray hits nothing


@wp.func
def lattice(shift: float, k: int, dim: int) -> float:
    """Dimension ``dim`` of the k-th R5 point, Cranley-Patterson rotated by ``shift``."""
    alpha = 1.0 / wp.pow(PHI5, float(dim + 1))
    x = shift + (float(k) + 0.5) * alpha
    return x - wp.floor(x)


@wp.func
def concentric_disk(a: float, b: float) -> wp.vec2:
    """Shirley-Chiu map of the unit square onto the unit disk (keeps strata compact)."""
    x = 2.0 * a - 1.0
    y = 2.0 * b - 1.0
    if x == 0.0 and y == 0.0:
        return wp.vec2(0.0, 0.0)
    r = wp.float32(0.0)
    theta = wp.float32(0.0)
    if wp.abs(x) > wp.abs(y):
        r = x
        theta = 0.7853981633974483 * (y / x)
    else:
        r = y
        theta = 1.5707963267948966 - 0.7853981633974483 * (x / y)
    return wp.vec2(r * wp.cos(theta), r * wp.sin(theta))


@wp.func
def symbol_albedo(sym: RenderSymbol, atlas: wp.array(dtype=wp.uint8), a: float, b: float) -> float:
    """Reflectance at symbol coordinates (a along u, b along w from the centre): nearest module, quiet zone white."""
    if wp.abs(a) >= sym.half_symbol[0] or wp.abs(b) >= sym.half_symbol[1]:
        return sym.white
    col = wp.clamp(int(wp.floor((a + sym.half_symbol[0]) / sym.cell[0])), 0, sym.cols - 1)
    row = wp.clamp(int(wp.floor((sym.half_symbol[1] - b) / sym.cell[1])), 0, sym.rows - 1)
    if atlas[sym.offset + row * sym.cols + col] != wp.uint8(0):
        return sym.black
    return sym.white


@wp.func
def lambert(shade: Shading, albedo: float, normal: wp.vec3, ray_dir: wp.vec3, lit: float) -> float:
    """Albedo x (ambient + direct x cos); ``lit`` is 0 in a shadow."""
    n = normal
    if wp.dot(n, ray_dir) > 0.0:
        n = -n
    to_light = -ray_dir
    if wp.length(shade.light_dir) > 0.0:
        to_light = shade.light_dir
    cos_l = wp.max(wp.dot(n, to_light), 0.0)
    return albedo * (shade.ambient + (1.0 - shade.ambient) * cos_l * lit)


@wp.func
def trace(
    origin: wp.vec3,
    direction: wp.vec3,
    time: float,
    symbols: wp.array(dtype=RenderSymbol),
    atlas: wp.array(dtype=wp.uint8),
    mesh: wp.uint64,
    has_mesh: int,
    shade: Shading,
) -> wp.vec2:
    """Radiance along one ray and the index of the symbol whose bitmap it hits (-1: none), as (value, index)."""
    best_t = wp.float32(1.0e30)
    normal = wp.vec3(0.0, 0.0, 1.0)
    hit_mesh = False
    if has_mesh != 0:
        q = wp.mesh_query_ray(mesh, origin, direction, best_t)
        if q.result:
            best_t = q.t
            normal = q.normal
            hit_mesh = True
    hit_sym = wp.int32(-1)
    sym_t = wp.float32(1.0e30)
    albedo = wp.float32(0.0)
    on_bitmap = wp.int32(-1)
    for s in range(symbols.shape[0]):
        sym = symbols[s]
        n = wp.vec3(sym.rot[0, 2], sym.rot[1, 2], sym.rot[2, 2])
        denom = wp.dot(direction, n)
        if wp.abs(denom) < 1.0e-12:
            continue
        centre = sym.pos + sym.velocity * time
        th = wp.dot(centre - origin, n) / denom
        if th <= 0.0 or th >= sym_t or th > best_t + LABEL_TIE:
            continue
        local = origin + direction * th - centre
        a = wp.dot(local, wp.vec3(sym.rot[0, 0], sym.rot[1, 0], sym.rot[2, 0]))
        b = wp.dot(local, wp.vec3(sym.rot[0, 1], sym.rot[1, 1], sym.rot[2, 1]))
        if wp.abs(a) > sym.half_label[0] or wp.abs(b) > sym.half_label[1]:
            continue
        sym_t = th
        hit_sym = s
        if denom < 0.0:  # printed side
            albedo = symbol_albedo(sym, atlas, a, b)
            if wp.abs(a) < sym.half_symbol[0] and wp.abs(b) < sym.half_symbol[1]:
                on_bitmap = s
            else:
                on_bitmap = -1
        else:  # back of the label: plain paper
            albedo = sym.white
            on_bitmap = -1
    t_hit = best_t
    if hit_sym >= 0:
        sym = symbols[hit_sym]
        normal = wp.vec3(sym.rot[0, 2], sym.rot[1, 2], sym.rot[2, 2])
        t_hit = sym_t
    elif hit_mesh:
        albedo = shade.surface
    else:
        return wp.vec2(shade.background, -1.0)
    lit = wp.float32(1.0)
    if has_mesh != 0 and wp.length(shade.light_dir) > 0.0:
        n_out = normal
        if wp.dot(n_out, direction) > 0.0:
            n_out = -n_out
        p = origin + direction * t_hit + n_out * 1.0e-4
        if wp.mesh_query_ray_anyhit(mesh, p, shade.light_dir, 1.0e30):
            lit = 0.0
    return wp.vec2(lambert(shade, albedo, normal, direction, lit), float(on_bitmap))


@wp.kernel
def render_kernel(
    cameras: wp.array(dtype=Camera),
    focus: float,
    symbols: wp.array(dtype=RenderSymbol),
    atlas: wp.array(dtype=wp.uint8),
    mesh: wp.uint64,
    has_mesh: int,
    shade: Shading,
    x0: int,
    y0: int,
    spp: int,
    seed: int,
    image: wp.array2d(dtype=wp.float32),
    ids: wp.array2d(dtype=wp.int32),
):
    """Pixel (x0 + i, y0 + j) of the image of camera ``cameras[0]`` into image[j, i]; ids[j, i] is the symbol
    whose bitmap the pixel's first sample hits (-1: none). ``focus`` is the focus distance in metres (the caller
    resolves autofocus)."""
    j, i = wp.tid()
    cam = cameras[0]
    px = x0 + i
    py = y0 + j
    state = wp.rand_init(seed, py * int(cam.width) + px)
    shifts = wp.vec4(wp.randf(state), wp.randf(state), wp.randf(state), wp.randf(state))
    shift_t = wp.randf(state)
    # Thin lens: rays through a point of the aperture converge on the plane at depth ``focus``; the radius is
    # scaled by s / (s - f) so the blur disk matches the model's c = f^2 |d - s| / (N d (s - f)) exactly.
    lens_radius = wp.float32(0.0)
    if cam.f_number > 0.0:
        lens_radius = 0.5 * cam.focal_length / cam.f_number * focus / wp.max(focus - cam.focal_length, 1.0e-9)
    total = wp.float32(0.0)
    for k in range(spp):
        sx = float(px) + lattice(shifts[0], k, 0)
        sy = float(py) + lattice(shifts[1], k, 1)
        # Camera frame (X right, Y up, looking along -Z), direction at unit depth.
        d_cam = wp.vec3((sx - cam.cx) / cam.fx, -(sy - cam.cy) / cam.fy, -1.0)
        o_cam = wp.vec3(0.0, 0.0, 0.0)
        if lens_radius > 0.0:
            disk = concentric_disk(lattice(shifts[2], k, 2), lattice(shifts[3], k, 3)) * lens_radius
            o_cam = wp.vec3(disk[0], disk[1], 0.0)
            d_cam = d_cam * focus - o_cam
        time = (lattice(shift_t, k, 4) - 0.5) * cam.exposure
        origin = cam.pos + cam.rot * o_cam
        direction = wp.normalize(cam.rot * d_cam)
        r = trace(origin, direction, time, symbols, atlas, mesh, has_mesh, shade)
        total += r[0]
        if k == 0:
            ids[j, i] = int(r[1])
    image[j, i] = total / float(spp)
