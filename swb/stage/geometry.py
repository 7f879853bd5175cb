"""Occluding geometry: gprims -> MeshPart (triangles in the prim's own frame + a to-world matrix).

Frames: ``MeshPart.points`` are in the prim's local frame and units (as authored, float32) and
``MeshPart.to_world`` = stage->world @ the prim's world transform, so it carries the unit scale and the
Y-up rotation; ``world_points()`` gives SI metres, Z up. Instances of one prototype share the same
(read-only) points and triangles arrays.

Supported: Mesh (n-gons triangulated: a fan for convex faces, ear clipping for concave ones; holeIndices
faces skipped; orientation = leftHanded flips the winding; faces with fewer than 3 vertices are skipped),
Cube, Sphere, Cylinder, Cone, Capsule, Cylinder_1 and Capsule_1 (radiusTop/radiusBottom) and Plane,
tessellated modestly. Other gprims (curves, points, NURBS) do not occlude and are ignored.
PointInstancers are expanded here: one MeshPart per visible instance and prototype gprim (barcode targets
inside prototypes become one target per instance; nested instancers are expanded too). Parts and targets
are named ``<instancer path>/instance_<index>/<prototype-relative path>``: a valid Sdf path below the
instancer (so ``HasPrefix`` tracks edits of the instancer) but not a prim on the stage. Prototype gprims are placed with
``instance transform (including the prototype root's own transform) @ unit scale @ prototype-relative
transform``, where the unit scale is prototype mpu / instancer mpu. Cameras inside prototypes are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pxr import Sdf, Usd, UsdGeom

from ..engine.model import MeshPart, TargetModel
from . import schema as S
from .attributes import check_type, core_def
from .targets import read_targets
from .units import LoadContext, gf_to_numpy

VISIBLE_PURPOSES = ("default", "render")
INSTANCE_PREFIX = "instance_"
SPHERE_RINGS = 12
SECTIONS = 24
CAPSULE_RINGS = 6

Geometry = tuple[np.ndarray, np.ndarray]  # points (n, 3) float32, triangles (m, 3) int32


@dataclass
class InstancedItems:
    """What a PointInstancer contributes: parts and per-instance barcode targets."""

    parts: list[MeshPart] = field(default_factory=list)
    targets: list[TargetModel] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# triangulation


def _ear_clip(poly: np.ndarray, normal: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangulate one simple polygon (k, 3) by ear clipping in its plane; local corner indices."""
    axis = int(np.argmax(np.abs(normal)))
    uv = poly[:, [(axis + 1) % 3, (axis + 2) % 3]]  # right-handed about +axis
    if normal[axis] < 0.0:
        uv = uv[:, ::-1]  # keep the polygon counter-clockwise in the projection
    remaining = list(range(len(poly)))
    out: list[tuple[int, int, int]] = []

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    guard = 0
    while len(remaining) > 3 and guard < 4 * len(poly) ** 2:
        guard += 1
        n = len(remaining)
        for i in range(n):
            ia, ib, ic = remaining[i - 1], remaining[i], remaining[(i + 1) % n]
            a, b, c = uv[ia], uv[ib], uv[ic]
            if cross(a, b, c) <= 0.0:
                continue  # reflex or degenerate corner
            inside = False
            for j in remaining:
                if j in (ia, ib, ic):
                    continue
                p = uv[j]
                if cross(a, b, p) >= 0.0 and cross(b, c, p) >= 0.0 and cross(c, a, p) >= 0.0:
                    inside = True
                    break
            if not inside:
                out.append((ia, ib, ic))
                remaining.pop(i)
                break
        else:
            break  # no ear (self-intersecting or degenerate): fan the rest
    out.extend((remaining[0], remaining[k], remaining[k + 1]) for k in range(1, len(remaining) - 1))
    return out


def triangulate(
    counts: np.ndarray,
    indices: np.ndarray,
    points: np.ndarray,
    holes: np.ndarray | None = None,
    left_handed: bool = False,
) -> np.ndarray:
    """Triangles (m, 3) int32 of a polygon mesh; inputs already validated (see read_mesh)."""
    counts = np.asarray(counts, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 3 * len(counts) and (holes is None or not len(holes)) and np.all(counts == 3):
        tris = indices.reshape(-1, 3)  # a triangle mesh: the fan below gives exactly this, much more slowly
        return np.ascontiguousarray(tris[:, [0, 2, 1]] if left_handed else tris, dtype=np.int32)
    starts = np.cumsum(counts) - counts
    keep = counts >= 3
    if holes is not None and len(holes):
        keep[np.asarray(holes, dtype=np.int64)] = False
    faces = np.nonzero(keep)[0]
    c, s = counts[faces], starts[faces]

    # Concave n-gons (n >= 4): a corner turning against the face's Newell normal.
    concave = np.zeros(len(faces), dtype=bool)
    big = np.nonzero(c >= 4)[0]
    if len(big):
        bc, bs = c[big], s[big]
        total = int(bc.sum())
        first = np.cumsum(bc) - bc
        local = np.arange(total) - np.repeat(first, bc)
        nrep = np.repeat(bc, bc)
        base = np.repeat(bs, bc)
        pts = np.asarray(points, dtype=np.float64)
        cur = pts[indices[base + local]]
        nxt = pts[indices[base + (local + 1) % nrep]]
        prv = pts[indices[base + (local - 1) % nrep]]
        newell = np.add.reduceat(np.cross(cur, nxt), first, axis=0)
        turn = np.einsum("ij,ij->i", np.cross(cur - prv, nxt - cur), np.repeat(newell, bc, axis=0))
        scale = np.repeat(np.einsum("ij,ij->i", newell, newell), bc) + 1e-300
        reflex = turn < -1e-9 * scale
        concave[big] = np.logical_or.reduceat(reflex, first)

    convex = np.nonzero(~concave)[0]
    cc, cs = c[convex], s[convex]
    ntri = cc - 2
    owner = np.repeat(np.arange(len(cc)), ntri)
    k = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri)
    base = cs[owner]
    tris = np.stack([indices[base], indices[base + k + 1], indices[base + k + 2]], axis=1)

    extra: list[np.ndarray] = []
    if concave.any():
        pts = np.asarray(points, dtype=np.float64)
        for f in np.nonzero(concave)[0]:
            corner = indices[s[f] : s[f] + c[f]]
            poly = pts[corner]
            normal = np.cross(poly, np.roll(poly, -1, axis=0)).sum(axis=0)
            local = np.array(_ear_clip(poly, normal), dtype=np.int64).reshape(-1, 3)
            extra.append(corner[local])
    if extra:
        tris = np.concatenate([tris, *extra], axis=0)
    if left_handed:
        tris = tris[:, [0, 2, 1]]
    return np.ascontiguousarray(tris, dtype=np.int32)


# ---------------------------------------------------------------------------------------------------
# shapes


def _revolve(profile: list[tuple[float, float]], sections: int = SECTIONS) -> Geometry:
    """Closed surface of revolution about Z from a (radius, z) profile running pole to pole."""
    prof = [profile[0]]
    for p in profile[1:]:
        if p != prof[-1]:
            prof.append(p)
    rings = np.array(prof[1:-1], dtype=np.float64)
    theta = 2.0 * np.pi * np.arange(sections) / sections
    ring_pts = np.stack(
        [
            (rings[:, :1] * np.cos(theta)).ravel(),
            (rings[:, :1] * np.sin(theta)).ravel(),
            np.repeat(rings[:, 1], sections),
        ],
        axis=1,
    )
    pts = np.concatenate([[[0.0, 0.0, prof[0][1]]], ring_pts, [[0.0, 0.0, prof[-1][1]]]])
    nr = len(rings)
    top = 1 + nr * sections
    j = np.arange(sections)
    jn = (j + 1) % sections
    tris = [np.stack([np.zeros(sections, np.int64), 1 + jn, 1 + j], axis=1)]
    for r in range(nr - 1):
        a, b = 1 + r * sections + j, 1 + r * sections + jn
        c, d = b + sections, a + sections
        tris += [np.stack([a, b, c], axis=1), np.stack([a, c, d], axis=1)]
    last = 1 + (nr - 1) * sections
    tris.append(np.stack([last + j, last + jn, np.full(sections, top)], axis=1))
    return pts, np.concatenate(tris)


def _arc(radius: float, z0: float, phi0: float, phi1: float, steps: int) -> list[tuple[float, float]]:
    phi = np.linspace(phi0, phi1, steps + 1)
    return [(float(radius * np.cos(a)), float(z0 + radius * np.sin(a))) for a in phi]


def _along_axis(pts: np.ndarray, axis: str) -> np.ndarray:
    """Turn a Z-aligned shape to the prim's axis (cyclic permutation: keeps the winding)."""
    if axis == "X":
        return pts[:, [2, 0, 1]]
    if axis == "Y":
        return pts[:, [1, 2, 0]]
    return pts


def _cube(size: float) -> Geometry:
    h = 0.5 * size
    pts = np.array([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    return pts, np.array(tris)


def _plane(width: float, length: float, axis: str) -> Geometry:
    w, ln = 0.5 * width, 0.5 * length
    if axis == "Z":
        pts = [[-w, -ln, 0], [w, -ln, 0], [w, ln, 0], [-w, ln, 0]]
    elif axis == "Y":
        pts = [[-w, 0, ln], [w, 0, ln], [w, 0, -ln], [-w, 0, -ln]]
    else:
        pts = [[0, -ln, w], [0, -ln, -w], [0, ln, -w], [0, ln, w]]
    return np.array(pts, dtype=np.float64), np.array([[0, 1, 2], [0, 2, 3]])


def _frustum(r_bottom: float, r_top: float, height: float) -> Geometry:
    h = 0.5 * height
    return _revolve([(0.0, -h), (r_bottom, -h), (r_top, h), (0.0, h)])


def _capsule(r_bottom: float, r_top: float, height: float) -> Geometry:
    h = 0.5 * height
    lower = _arc(r_bottom, -h, -0.5 * np.pi, 0.0, CAPSULE_RINGS)
    upper = _arc(r_top, h, 0.0, 0.5 * np.pi, CAPSULE_RINGS)
    return _revolve([(0.0, lower[0][1]), *lower[1:], *upper[:-1], (0.0, upper[-1][1])])


def _sphere(radius: float) -> Geometry:
    prof = _arc(radius, 0.0, -0.5 * np.pi, 0.5 * np.pi, SPHERE_RINGS)
    return _revolve([(0.0, prof[0][1]), *prof[1:-1], (0.0, prof[-1][1])])


# ---------------------------------------------------------------------------------------------------
# reading one gprim


def _value(attr: Usd.Attribute, ctx: LoadContext):
    """An attribute's value, checked for the type family its (UsdGeom) schema declares."""
    value = ctx.value(attr)
    if value is not None:
        prim = attr.GetPrim()
        defn = core_def(prim.GetPrimTypeInfo().GetSchemaTypeName(), attr.GetName())
        if defn is not None:  # (an attribute the prim's schema does not declare has nothing to check against)
            check_type(ctx, prim, defn, value)
    return value


def _positive(prim: Usd.Prim, name: str, ctx: LoadContext, allow_zero: bool = False) -> float:
    value = _value(prim.GetAttribute(name), ctx)
    v = float(value) if value is not None else math.nan
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        raise ctx.error(f"{name} must be a positive number, got {value}", prim, name,
                        hint=f"author a finite {name} > 0 in scene units, or deactivate the prim")
    return v


def _axis(prim: Usd.Prim, ctx: LoadContext) -> str:
    axis = _value(prim.GetAttribute("axis"), ctx)
    if axis not in ("X", "Y", "Z"):
        raise ctx.error(f"axis must be X, Y or Z, got {axis!r}", prim, "axis", hint='author token axis = "Z"')
    return axis


def read_mesh(prim: Usd.Prim, ctx: LoadContext) -> Geometry:
    """Points and triangles of a UsdGeom.Mesh, validated (SwbError names the attribute)."""
    mesh = UsdGeom.Mesh(prim)
    raw = _value(mesh.GetPointsAttr(), ctx)
    points = np.asarray(raw if raw is not None else [], dtype=np.float32).reshape(-1, 3)
    if len(points) == 0:
        raise ctx.error("the mesh has no points", prim, "points",
                        hint="author points, or delete the empty mesh / deactivate it")
    if not np.all(np.isfinite(points)):
        bad = int(np.argmax(~np.all(np.isfinite(points), axis=1)))
        raise ctx.error(f"point {bad} is not finite ({tuple(points[bad])})", prim, "points",
                        hint="fix the exporter's output: every point needs three finite coordinates")
    counts = np.asarray(_value(mesh.GetFaceVertexCountsAttr(), ctx) or [], dtype=np.int64)
    indices = np.asarray(_value(mesh.GetFaceVertexIndicesAttr(), ctx) or [], dtype=np.int64)
    if len(counts) == 0 or len(indices) == 0:
        raise ctx.error("the mesh has no faces", prim, "faceVertexCounts",
                        hint="author faceVertexCounts and faceVertexIndices")
    if np.any(counts < 0) or int(counts.sum()) != len(indices):
        raise ctx.error(
            f"faceVertexCounts sum to {int(counts.sum())} but there are {len(indices)} faceVertexIndices",
            prim,
            "faceVertexCounts",
            hint="each face's count must match its indices; re-export the mesh",
        )
    if indices.min() < 0 or indices.max() >= len(points):
        bad = int(np.argmax((indices < 0) | (indices >= len(points))))
        raise ctx.error(
            f"faceVertexIndices[{bad}] = {int(indices[bad])} is outside the {len(points)} points",
            prim,
            "faceVertexIndices",
            hint=f"every index must be in 0..{len(points) - 1}; re-export the mesh",
        )
    holes = np.asarray(_value(mesh.GetHoleIndicesAttr(), ctx) or [], dtype=np.int64)
    if len(holes) and (holes.min() < 0 or holes.max() >= len(counts)):
        raise ctx.error(f"holeIndices must index the {len(counts)} faces", prim, "holeIndices",
                        hint="remove holeIndices or keep them below the number of faces")
    left = str(_value(mesh.GetOrientationAttr(), ctx)) == "leftHanded"
    tris = triangulate(counts, indices, points, holes, left)
    if len(tris) == 0:
        raise ctx.error("the mesh has no faces with three or more vertices", prim, "faceVertexCounts",
                        hint="delete or deactivate the mesh, or author its faces")
    return points, tris


def read_shape(prim: Usd.Prim, ctx: LoadContext) -> Geometry | None:
    """Local-frame geometry of a supported gprim, None for gprims that do not occlude."""
    type_name = str(prim.GetTypeName())
    if prim.IsA(UsdGeom.Mesh):
        return read_mesh(prim, ctx)
    if type_name == "Cube":
        pts, tris = _cube(_positive(prim, "size", ctx))
    elif type_name == "Sphere":
        pts, tris = _sphere(_positive(prim, "radius", ctx))
    elif type_name in ("Cylinder", "Cone", "Capsule"):
        r, h = _positive(prim, "radius", ctx), _positive(prim, "height", ctx)
        shape = {"Cylinder": _frustum(r, r, h), "Cone": _frustum(r, 0.0, h), "Capsule": _capsule(r, r, h)}
        pts, tris = shape[type_name]
        pts = _along_axis(pts, _axis(prim, ctx))
    elif type_name in ("Cylinder_1", "Capsule_1"):
        h = _positive(prim, "height", ctx)
        rb = _positive(prim, "radiusBottom", ctx, allow_zero=True)
        rt = _positive(prim, "radiusTop", ctx, allow_zero=True)
        if rb == 0.0 and rt == 0.0:
            raise ctx.error("radiusBottom and radiusTop are both 0", prim, "radiusBottom",
                            hint="author a positive radiusBottom or radiusTop")
        pts, tris = _frustum(rb, rt, h) if type_name == "Cylinder_1" else _capsule(rb, rt, h)
        pts = _along_axis(pts, _axis(prim, ctx))
    elif type_name == "Plane":
        pts, tris = _plane(_positive(prim, "width", ctx), _positive(prim, "length", ctx), _axis(prim, ctx))
    else:
        return None
    return np.asarray(pts, dtype=np.float32), np.asarray(tris, dtype=np.int32)


def cached_shape(prim: Usd.Prim, ctx: LoadContext) -> Geometry | None:
    """read_shape, shared between instances of one prototype prim (arrays made read-only)."""
    source = prim.GetPrimInPrototype() if prim.IsInstanceProxy() else prim
    key = source.GetPath()
    if key in ctx.geometry:
        return ctx.geometry[key]
    geo = read_shape(prim, ctx)
    if geo is not None:
        for a in geo:
            a.setflags(write=False)
    ctx.geometry[key] = geo
    return geo


def is_hidden(prim: Usd.Prim, ctx: LoadContext) -> bool:
    """Invisible, or a guide/proxy purpose: not part of the rendered (and simulated) scene."""
    img = UsdGeom.Imageable(prim)
    if not img:
        return False
    if img.ComputeVisibility(ctx.time) == UsdGeom.Tokens.invisible:
        return True
    return str(img.ComputePurpose()) not in VISIBLE_PURPOSES


def gprim_part(prim: Usd.Prim, ctx: LoadContext) -> MeshPart | None:
    """The MeshPart of one gprim without visibility checks; None when it does not occlude."""
    geo = cached_shape(prim, ctx)
    if geo is None:
        return None
    return MeshPart(str(prim.GetPath()), geo[0], geo[1], ctx.to_world(prim))


def read_parts(prim: Usd.Prim, ctx: LoadContext) -> list[MeshPart]:
    """Occluder parts of one prim: [] for targets, hidden prims and non-geometry; all instances for a
    PointInstancer (its per-instance targets come from read_instancer)."""
    if not prim.IsValid() or not prim.IsA(UsdGeom.Imageable) or S.has_barcode_api(prim) or is_hidden(prim, ctx):
        return []
    if prim.IsA(UsdGeom.PointInstancer):
        return read_instancer(prim, ctx).parts
    if not prim.IsA(UsdGeom.Gprim):
        return []
    part = gprim_part(prim, ctx)
    return [] if part is None else [part]


# ---------------------------------------------------------------------------------------------------
# point instancers

_PROTOTYPE_PREDICATE = Usd.TraverseInstanceProxies(Usd.PrimIsActive & Usd.PrimIsLoaded)


def split_instance_path(path: str) -> tuple[str, int, str] | None:
    """(instancer path, instance index, prototype-relative path) of a PointInstancer part or target name,
    None for an ordinary prim path. With nested instancers the outermost one (a real prim) is returned."""
    parts = path.split("/")
    for i in range(2, len(parts) - 1):
        tail = parts[i][len(INSTANCE_PREFIX):]
        if parts[i].startswith(INSTANCE_PREFIX) and tail.isdigit():
            return "/".join(parts[:i]), int(tail), "/".join(parts[i + 1 :])
    return None


def prototype_roots(prim: Usd.Prim) -> list[Sdf.Path]:
    return list(UsdGeom.PointInstancer(prim).GetPrototypesRel().GetForwardedTargets())


def _prototype_members(root: Usd.Prim, ctx: LoadContext):
    """(kind, prim, transform relative to the prototype root's parent frame, name) of a prototype's
    visible gprims, barcode targets and nested instancers; the root's own transform is excluded because
    the instance transform includes it."""
    out = []
    hidden_below: dict[Sdf.Path, bool] = {}
    it = iter(Usd.PrimRange(root, _PROTOTYPE_PREDICATE))
    for p in it:
        path = p.GetPath()
        img = UsdGeom.Imageable(p)
        vis = ctx.value(img.GetVisibilityAttr()) if img else None
        # The root's own visibility is not honoured: hiding the prototype source is common practice.
        hidden = hidden_below.get(path.GetParentPath(), False) or (p != root and vis == UsdGeom.Tokens.invisible)
        hidden_below[path] = hidden
        if hidden:
            it.PruneChildren()
            continue
        ctx.check_xform_ops(p)
        if p == root:
            rel = np.eye(4)
        else:
            rel = gf_to_numpy(ctx.xform_cache.ComputeRelativeTransform(p, root)[0])
        name = str(path.MakeRelativePath(root.GetPath().GetParentPath()))
        if S.has_barcode_api(p):
            out.append(("target", p, rel, name))
        elif p.IsA(UsdGeom.PointInstancer):
            out.append(("instancer", p, rel, name))
            it.PruneChildren()
        elif p.IsA(UsdGeom.Gprim) and str(img.ComputePurpose()) in VISIBLE_PURPOSES:
            out.append(("gprim", p, rel, name))
    return out


def read_instancer(
    prim: Usd.Prim, ctx: LoadContext, to_world: np.ndarray | None = None, name: str | None = None
) -> InstancedItems:
    """Expand a PointInstancer: parts and targets for every visible instance (mask applied)."""
    pi = UsdGeom.PointInstancer(prim)
    base_name = str(prim.GetPath()) if name is None else name
    items = InstancedItems()
    base = ctx.to_world(prim) if to_world is None else to_world
    roots = prototype_roots(prim)
    proto_idx = np.asarray(_value(pi.GetProtoIndicesAttr(), ctx) or [], dtype=np.int64)
    if len(proto_idx) == 0:
        return items
    if proto_idx.min() < 0 or proto_idx.max() >= len(roots):
        raise ctx.error(f"protoIndices must index the {len(roots)} prototypes", prim, "protoIndices",
                        hint="check the prototypes relationship and protoIndices")
    xforms = pi.ComputeInstanceTransformsAtTime(
        ctx.time, ctx.time, UsdGeom.PointInstancer.IncludeProtoXform, UsdGeom.PointInstancer.IgnoreMask
    )
    if len(xforms) != len(proto_idx):
        raise ctx.error("instance transforms could not be computed (positions, orientations, scales and "
                        "protoIndices must have one entry per instance)", prim, "positions")
    inst = np.asarray(xforms, dtype=np.float64).reshape(-1, 4, 4).transpose(0, 2, 1)
    mask = np.asarray(pi.ComputeMaskAtTime(ctx.time), dtype=bool)
    visible = mask if len(mask) == len(proto_idx) else np.ones(len(proto_idx), dtype=bool)
    if not np.all(np.isfinite(inst[visible])):
        raise ctx.error("an instance transform is not finite", prim, "positions")
    pi_mpu = ctx.unit_scale(prim)
    stage = prim.GetStage()
    # targets are read in one batch at the end; ``slots`` keeps their order among nested instancers' targets
    slots: list[TargetModel | int] = []
    pending: list[tuple[Usd.Prim, np.ndarray, str]] = []
    for j, root_path in enumerate(roots):
        ks = np.nonzero((proto_idx == j) & visible)[0]
        if len(ks) == 0:
            continue
        root = stage.GetPrimAtPath(root_path)
        if not root:
            raise ctx.error(f"prototype {root_path} does not exist", prim, "prototypes")
        unit = np.diag([ctx.unit_scale(root) / pi_mpu] * 3 + [1.0])
        per_instance = base @ inst[ks] @ unit  # (len(ks), 4, 4)
        for kind, member, rel, rel_name in _prototype_members(root, ctx):
            worlds = per_instance @ rel
            geo = cached_shape(member, ctx) if kind == "gprim" else None
            for k, world in zip(ks, worlds, strict=True):
                part_name = f"{base_name}/{INSTANCE_PREFIX}{k}/{rel_name}"
                if kind == "gprim":
                    if geo is not None:
                        ctx.check_transform(member, world)
                        items.parts.append(MeshPart(part_name, geo[0], geo[1], world))
                elif kind == "target":
                    slots.append(len(pending))
                    pending.append((member, world, part_name))
                else:
                    nested = read_instancer(member, ctx, world, part_name)
                    items.parts += nested.parts
                    slots += nested.targets
    if pending:
        read = read_targets([m for m, _, _ in pending], ctx, worlds=np.stack([w for _, w, _ in pending]),
                            paths=[n for _, _, n in pending])
        items.targets = [read[s] if isinstance(s, int) else s for s in slots]
    else:
        items.targets = [s for s in slots if not isinstance(s, int)]
    return items
