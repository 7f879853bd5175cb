"""Small stages with a known optimum for the optimiser's tests: labels on the six faces of a box, and a ring."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

import swb.stage.schema as S

S.register()


def _label(stage: Usd.Stage, path: str, position, normal, module_m: float = 0.002) -> None:
    n = np.asarray(normal, dtype=np.float64)
    n /= np.linalg.norm(n)
    u = np.cross([0.0, 0.0, 1.0], n)
    if np.linalg.norm(u) < 1e-6:
        u = np.array([1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(n, u)
    rows = [[*u, 0.0], [*w, 0.0], [*n, 0.0], [*position, 1.0]]
    prim = UsdGeom.Xform.Define(stage, path).GetPrim()
    UsdGeom.Xformable(prim).AddTransformOp().Set(Gf.Matrix4d(rows))
    prim.AddAppliedSchema(S.BARCODE_API)
    t = Sdf.ValueTypeNames
    prim.CreateAttribute(S.BARCODE_SYMBOLOGY, t.Token, custom=False).Set("qrcode")
    prim.CreateAttribute(S.BARCODE_MODULE_SIZE, t.Float, custom=False).Set(module_m)
    prim.CreateAttribute(S.BARCODE_MODULES, t.Int2, custom=False).Set(Gf.Vec2i(21, 21))


def _stage(path: Path) -> Usd.Stage:
    """A metre, Z-up stage with one sensor camera high up looking at the sky (SWB loads stages with at least one;
    the designs replace it)."""
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/World").GetPrim())
    cam = UsdGeom.Camera.Define(stage, "/World/Cameras/Old")
    UsdGeom.Xformable(cam).AddTranslateOp().Set(Gf.Vec3d(0.0, 0.0, 6.0))
    cam.GetPrim().AddAppliedSchema(S.SENSOR_API)
    return stage


FACES = {"PX": (1, 0, 0), "NX": (-1, 0, 0), "PY": (0, 1, 0), "NY": (0, -1, 0), "PZ": (0, 0, 1), "NZ": (0, 0, -1)}
BOX_CENTRE = np.array([0.0, 0.0, 1.0])


def build_six_faces(path: Path) -> Path:
    """A 0.4 m cube at (0, 0, 1) with a 2 mm QR code on each face; nothing else."""
    stage = _stage(path)
    cube = UsdGeom.Cube.Define(stage, "/World/Box")
    cube.CreateSizeAttr(0.4)
    UsdGeom.Xformable(cube).AddTranslateOp().Set(Gf.Vec3d(*BOX_CENTRE))
    for name, n in FACES.items():
        _label(stage, f"/World/Labels/{name}", BOX_CENTRE + 0.201 * np.asarray(n, float), n)
    stage.GetRootLayer().Save()
    return path


def six_faces_design(faces: tuple[str, ...] = tuple(FACES), **design) -> dict:
    """One small mount box 0.9 m out from the centre of each listed face: a camera there reads only that face."""
    mounts = []
    for name in faces:
        c = BOX_CENTRE + 0.9 * np.asarray(FACES[name], float)
        mounts.append({"name": f"m{name}", "kind": "box", "box_min": list(c - 0.05), "box_max": list(c + 0.05)})
    base = {"name": "box", "goal": "minCameras", "read_rate": 1.0, "candidates": 96, "rounds": 1,
            "refine_generations": 3, "milp_time_limit": 20, "orientation_mode": "asAuthored", "seed": 3}
    base.update(design)
    return {"design": base, "mount": mounts,
            "sensor": [{"name": "cam", "resolution": [1920, 1200], "pixel_pitch_um": 3.45}],
            "lens": [{"name": "f12", "focal_length_mm": 12}]}


RING_LABELS = 8
RING_RADIUS = 0.3
MOUNT_RADIUS = 1.5


def build_ring(path: Path) -> Path:
    """An octagonal prism (circumradius 0.3 m) at z = 1 with a QR code facing out of each side, inside a
    cylindrical band (radius 1.5 m, 0.2 m tall) that cameras may be mounted on."""
    stage = _stage(path)
    k = RING_LABELS
    ang = 2 * math.pi * (np.arange(k) + 0.5) / k
    apothem = RING_RADIUS * math.cos(math.pi / k)
    pts, faces = [], []
    for a in ang:
        for z in (0.85, 1.15):
            pts += [(RING_RADIUS * math.cos(a), RING_RADIUS * math.sin(a), z)]
    for i in range(k):
        j = (i + 1) % k
        faces += [2 * i, 2 * j, 2 * j + 1, 2 * i + 1]
    prism = UsdGeom.Mesh.Define(stage, "/World/Prism")
    prism.CreatePointsAttr(Vt.Vec3fArray([Gf.Vec3f(*p) for p in pts]))
    prism.CreateFaceVertexCountsAttr(Vt.IntArray([4] * k))
    prism.CreateFaceVertexIndicesAttr(Vt.IntArray(faces))
    for i in range(k):
        phi = 2 * math.pi * (i + 1) / k  # the side between corners i and i + 1
        n = np.array([math.cos(phi), math.sin(phi), 0.0])
        _label(stage, f"/World/Labels/L{i}", np.array([0, 0, 1.0]) + (apothem + 0.001) * n, n, 0.003)
    seg = 48
    band_pts, band_faces = [], []
    for s in range(seg):
        a = 2 * math.pi * s / seg
        for z in (0.9, 1.1):
            band_pts.append((MOUNT_RADIUS * math.cos(a), MOUNT_RADIUS * math.sin(a), z))
    for s in range(seg):
        t = (s + 1) % seg
        band_faces += [2 * s, 2 * s + 1, 2 * t + 1, 2 * t]  # counter-clockwise seen from inside: normals inward
    band = UsdGeom.Mesh.Define(stage, "/World/Band")
    band.CreatePointsAttr(Vt.Vec3fArray([Gf.Vec3f(*p) for p in band_pts]))
    band.CreateFaceVertexCountsAttr(Vt.IntArray([4] * seg))
    band.CreateFaceVertexIndicesAttr(Vt.IntArray(band_faces))
    stage.GetRootLayer().Save()
    return path


def ring_design(**design) -> dict:
    base = {"name": "ring", "goal": "minCameras", "read_rate": 1.0, "candidates": 160, "rounds": 2,
            "refine_generations": 3, "milp_time_limit": 20, "orientation_mode": "asAuthored", "seed": 1}
    base.update(design)
    return {"design": base, "mount": [{"name": "band", "kind": "surface", "surfaces": ["/World/Band"],
                                       "offset": 0.02}],
            "sensor": [{"name": "cam", "resolution": [1920, 1200], "pixel_pitch_um": 3.45}],
            "lens": [{"name": "f8", "focal_length_mm": 8}]}


def add_ring_light_and_zone(path: Path, intensity: float = 3.0e5) -> Path:
    """A bright DiskLight mounted below the stage's old camera (its ring light), shining down on an operator zone
    0.6 to 1 m below it."""
    from pxr import UsdLux

    stage = Usd.Stage.Open(str(path))
    lamp = UsdLux.DiskLight.Define(stage, "/World/Cameras/Old/Ring")  # shines along its -Z: down
    lamp.CreateRadiusAttr(0.02)
    lamp.CreateIntensityAttr(intensity)
    zone = UsdGeom.Cube.Define(stage, "/World/Operator")
    zone.CreateSizeAttr(0.4)
    UsdGeom.Xformable(zone).AddTranslateOp().Set(Gf.Vec3d(0.0, 0.0, 5.2))
    S.apply_zone_api(zone.GetPrim())
    zone.GetPrim().GetAttribute(S.ZONE_SPACING).Set(0.2)
    stage.GetRootLayer().Save()
    return path
