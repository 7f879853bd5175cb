"""A shaded picture of the station by SWB's own ray casting (no OpenGL): one ray per sub-pixel sample.

Surfaces take their part's colour, lit by a headlight (Lambert, |cos| so both sides of thin walls show) plus
ambient light. Barcode targets are not part of the mesh: each is a rectangle intersected analytically and drawn
in its status colour; a label lying on a surface wins against it within a small distance.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera

wp.set_module_options({"enable_backward": False})

LABEL_TIE_ABS = wp.constant(1.0e-3)  # metres: a label this close in front of (or behind) a surface is seen
LABEL_TIE_REL = wp.constant(1.0e-4)


@wp.struct
class Label:
    """A target as the picture shows it: a flat rectangle in a flat colour."""

    rot: wp.mat33  # symbol -> world (columns u, w, normal)
    pos: wp.vec3
    half: wp.vec2  # half extents along u, w
    colour: wp.vec3


@wp.struct
class Shading:
    background_top: wp.vec3
    background_bottom: wp.vec3
    ambient: float
    samples: int  # sub-pixel samples per axis (samples^2 rays per pixel)


@wp.func
def label_hit(lab: Label, o: wp.vec3, d: wp.vec3) -> float:
    """Ray parameter of the hit with the label rectangle, or -1."""
    n = wp.vec3(lab.rot[0, 2], lab.rot[1, 2], lab.rot[2, 2])
    denom = wp.dot(n, d)
    if wp.abs(denom) < 1.0e-9:
        return -1.0
    t = wp.dot(n, lab.pos - o) / denom
    if t <= 0.0:
        return -1.0
    local = wp.transpose(lab.rot) * (o + t * d - lab.pos)
    if wp.abs(local[0]) > lab.half[0] or wp.abs(local[1]) > lab.half[1]:
        return -1.0
    return t


@wp.kernel
def render_view_kernel(
    cameras: wp.array(dtype=Camera),
    c: int,
    mesh: wp.uint64,
    has_mesh: int,
    face_colour: wp.array(dtype=wp.vec3),
    labels: wp.array(dtype=Label),
    n_labels: int,
    shading: Shading,
    row_offset: int,
    rgb: wp.array2d(dtype=wp.vec3),
    depth: wp.array2d(dtype=wp.float32),
):
    """Grid launch (rows, width) from ``row_offset``: colour and distance (along the central ray, 0 for the
    background) of every pixel of the picture taken by camera c (a pinhole; only pose and intrinsics are used)."""
    jr, i = wp.tid()
    cam = cameras[c]
    j = jr + row_offset
    s = shading.samples
    acc = wp.vec3(0.0, 0.0, 0.0)
    for k in range(s * s):
        u = float(i) + (float(k % s) + 0.5) / float(s)
        v = float(j) + (float(k // s) + 0.5) / float(s)
        d = wp.normalize(cam.rot * wp.vec3((u - cam.cx) / cam.fx, (cam.cy - v) / cam.fy, -1.0))
        t_best = wp.float32(1.0e30)
        n = wp.vec3(0.0, 0.0, 1.0)
        base = wp.vec3(0.0, 0.0, 0.0)
        found = False
        if has_mesh != 0:
            q = wp.mesh_query_ray(mesh, cam.pos, d, 1.0e6)
            if q.result:
                t_best = q.t
                n = wp.normalize(q.normal)
                base = face_colour[q.face]
                found = True
        for b in range(n_labels):
            lab = labels[b]
            t = label_hit(lab, cam.pos, d)
            if t > 0.0 and t <= t_best + LABEL_TIE_ABS + LABEL_TIE_REL * t:
                t_best = t
                n = wp.vec3(lab.rot[0, 2], lab.rot[1, 2], lab.rot[2, 2])
                base = lab.colour
                found = True
        if found:
            lit = shading.ambient + (1.0 - shading.ambient) * wp.abs(wp.dot(n, d))
            acc = acc + base * lit
        else:
            up = wp.clamp(0.5 - 0.5 * (v - cam.cy) / cam.cy, 0.0, 1.0)
            acc = acc + shading.background_bottom * (1.0 - up) + shading.background_top * up
    rgb[j, i] = acc / float(s * s)
    uc = float(i) + 0.5
    vc = float(j) + 0.5
    dc = wp.normalize(cam.rot * wp.vec3((uc - cam.cx) / cam.fx, (cam.cy - vc) / cam.fy, -1.0))
    t_c = wp.float32(0.0)
    if has_mesh != 0:
        qc = wp.mesh_query_ray(mesh, cam.pos, dc, 1.0e6)
        if qc.result:
            t_c = qc.t
    for b in range(n_labels):
        t = label_hit(labels[b], cam.pos, dc)
        if t > 0.0 and (t_c == 0.0 or t < t_c):
            t_c = t
    depth[j, i] = t_c
