"""Author small SWB stages for tests: the same physical station in any metersPerUnit and upAxis.

Everything is specified in SI metres, Z up (SWB's world) and converted to the stage's units and axes on
the way out, so loading any variant must give the same Scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

import swb.stage.schema as S

S.register()

_Z_TO_Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # world (Z-up) -> Y-up stage


def rot(axis: str, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def pose(rotation: np.ndarray | None = None, translation=(0.0, 0.0, 0.0), scale=None) -> np.ndarray:
    """4x4 column-vector matrix (metres)."""
    m = np.eye(4)
    lin = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    if scale is not None:
        lin = lin @ np.diag(np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,)))
    m[:3, :3] = lin
    m[:3, 3] = translation
    return m


class Author:
    """Writes prims of a physical (metres, Z-up) scene into a stage with given units and up axis."""

    def __init__(self, stage: Usd.Stage, mpu: float, up_axis: str) -> None:
        self.stage, self.mpu, self.up = stage, mpu, up_axis
        UsdGeom.SetStageMetersPerUnit(stage, mpu)
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y if up_axis == "Y" else UsdGeom.Tokens.z)
        self.axes = _Z_TO_Y if up_axis == "Y" else np.eye(3)

    def length(self, metres: float) -> float:
        return metres / self.mpu

    def vector(self, v) -> Gf.Vec3f:
        """A world direction/velocity (metres) in stage axes and units."""
        return Gf.Vec3f(*(self.axes @ np.asarray(v, dtype=np.float64) / self.mpu))

    def set_world(self, prim: Usd.Prim, world: np.ndarray) -> None:
        """Place a prim whose parent is at the stage origin at a world pose (metres, Z-up)."""
        m = np.eye(4)
        m[:3, :3] = self.axes @ world[:3, :3]
        m[:3, 3] = self.axes @ world[:3, 3] / self.mpu
        self._set(prim, m)

    def set_local(self, prim: Usd.Prim, local: np.ndarray) -> None:
        """Place a prim relative to its parent (translation in metres)."""
        m = np.array(local, dtype=np.float64)
        m[:3, 3] = m[:3, 3] / self.mpu
        self._set(prim, m)

    @staticmethod
    def _set(prim: Usd.Prim, m: np.ndarray) -> None:
        xf = UsdGeom.Xformable(prim)
        xf.ClearXformOpOrder()
        xf.AddTransformOp().Set(Gf.Matrix4d(m.T.tolist()))

    def camera(self, path: str, world: np.ndarray, *, sensor: bool = True, focal_mm: float = 16.0,
               aperture_mm=(11.3, 7.1), offset_mm=(0.1, -0.2), f_stop: float = 4.0, focus_m: float = 2.0,
               clip_m=(0.05, 50.0), exposure_s: float | None = 0.001) -> Usd.Prim:
        cam = UsdGeom.Camera.Define(self.stage, path)
        tenths = 1e-3 / self.mpu * 10.0  # scene tenths per millimetre
        cam.CreateFocalLengthAttr(focal_mm * tenths)
        cam.CreateHorizontalApertureAttr(aperture_mm[0] * tenths)
        cam.CreateVerticalApertureAttr(aperture_mm[1] * tenths)
        cam.CreateHorizontalApertureOffsetAttr(offset_mm[0] * tenths)
        cam.CreateVerticalApertureOffsetAttr(offset_mm[1] * tenths)
        cam.CreateFStopAttr(f_stop)
        cam.CreateFocusDistanceAttr(self.length(focus_m))
        cam.CreateClippingRangeAttr(Gf.Vec2f(self.length(clip_m[0]), self.length(clip_m[1])))
        if exposure_s is not None:
            cam.CreateExposureTimeAttr(exposure_s)
        self.set_world(cam.GetPrim(), world)
        if sensor:
            S.apply_sensor_api(cam.GetPrim())
            cam.GetPrim().GetAttribute(S.SENSOR_RESOLUTION).Set(Gf.Vec2i(1920, 1200))
            cam.GetPrim().GetAttribute(S.SENSOR_FOCUS_RANGE).Set(
                Gf.Vec2f(self.length(0.3), self.length(5.0)))
        return cam.GetPrim()

    def barcode(self, path: str, *, symbology: str, module_m: float, modules, velocity=(0.0, 0.0, 0.0),
                bar_height_m: float = 0.0, type_name: str = "Xform", world: np.ndarray | None = None,
                local: np.ndarray | None = None) -> Usd.Prim:
        prim = self.stage.DefinePrim(path, type_name)
        if world is not None:
            self.set_world(prim, world)
        if local is not None:
            self.set_local(prim, local)
        S.apply_barcode_api(prim)
        prim.GetAttribute(S.BARCODE_SYMBOLOGY).Set(symbology)
        prim.GetAttribute(S.BARCODE_MODULE_SIZE).Set(self.length(module_m))
        prim.GetAttribute(S.BARCODE_MODULES).Set(Gf.Vec2i(*modules))
        if bar_height_m:
            prim.GetAttribute(S.BARCODE_BAR_HEIGHT).Set(self.length(bar_height_m))
        if any(velocity):
            prim.GetAttribute(S.BARCODE_VELOCITY).Set(self.vector(velocity))
        return prim

    def cube(self, path: str, size_m: float, world: np.ndarray | None = None,
             local: np.ndarray | None = None) -> Usd.Prim:
        cube = UsdGeom.Cube.Define(self.stage, path)
        cube.CreateSizeAttr(self.length(size_m))
        if world is not None:
            self.set_world(cube.GetPrim(), world)
        if local is not None:
            self.set_local(cube.GetPrim(), local)
        return cube.GetPrim()

    def mesh(self, path: str, points_m, counts, indices, world: np.ndarray | None = None,
             local: np.ndarray | None = None) -> Usd.Prim:
        mesh = UsdGeom.Mesh.Define(self.stage, path)
        pts = np.asarray(points_m, dtype=np.float64) / self.mpu
        mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(pts.astype(np.float32)))
        mesh.CreateFaceVertexCountsAttr(Vt.IntArray(list(counts)))
        mesh.CreateFaceVertexIndicesAttr(Vt.IntArray(list(indices)))
        if world is not None:
            self.set_world(mesh.GetPrim(), world)
        if local is not None:
            self.set_local(mesh.GetPrim(), local)
        return mesh.GetPrim()


# An L-shaped hexagon (concave) and a quad, in metres, in the XZ plane.
L_POINTS = [(0, 0, 0), (0.4, 0, 0), (0.4, 0, 0.1), (0.1, 0, 0.1), (0.1, 0, 0.3), (0, 0, 0.3),
            (0.6, 0, 0), (0.8, 0, 0), (0.8, 0, 0.2), (0.6, 0, 0.2)]
L_COUNTS = [6, 4]
L_INDICES = [2, 3, 4, 5, 0, 1, 6, 7, 8, 9]  # starts next to the reflex corner: a fan would fail

CAMERA_POSE = pose(rot("x", 90.0) @ rot("y", 5.0), (0.05, -2.0, 1.0))  # looks along +Y (world)


def build_station(path: Path | str, mpu: float = 1.0, up_axis: str = "Z") -> Path:
    """The reference station: a sensor camera and a viewer camera; two free targets; a wall (Cube) and an
    L-shaped Mesh; a natively instanced crate (2 instances x 2 gprims); a PointInstancer of 3 parcels
    (a plain box, a box with a DataMatrix label, and a masked one); an invisible and a guide cube."""
    path = Path(path)
    stage = Usd.Stage.CreateNew(str(path))
    a = Author(stage, mpu, up_axis)
    world = UsdGeom.Xform.Define(stage, "/World").GetPrim()
    stage.SetDefaultPrim(world)

    a.camera("/World/Cam", CAMERA_POSE)
    a.camera("/World/ViewerCam", pose(None, (3.0, 3.0, 3.0)), sensor=False)

    a.barcode("/World/Label128", symbology="code128", module_m=0.0005, modules=(68, 1),
              velocity=(0.5, 0.0, 0.0), bar_height_m=0.015,
              world=pose(rot("x", 90.0), (0.1, 0.0, 1.0)))
    a.barcode("/World/LabelQR", symbology="qrcode", module_m=0.001, modules=(21, 21),
              world=pose(rot("x", 80.0) @ rot("z", 15.0), (-0.3, 0.1, 1.2)))

    a.cube("/World/Wall", 0.5, world=pose(rot("z", 10.0), (0.0, 1.5, 1.0), scale=(4.0, 0.1, 4.0)))
    a.mesh("/World/Shape", L_POINTS, L_COUNTS, L_INDICES, world=pose(rot("z", -20.0), (1.0, 0.5, 0.2)))

    hidden = a.cube("/World/Hidden", 0.3, world=pose(None, (0.0, 0.0, 0.5)))
    UsdGeom.Imageable(hidden).CreateVisibilityAttr(UsdGeom.Tokens.invisible)
    guide = a.cube("/World/Guide", 0.3, world=pose(None, (0.5, 0.0, 0.5)))
    UsdGeom.Imageable(guide).CreatePurposeAttr(UsdGeom.Tokens.guide)

    # A crate asset used by native instancing: a class prim referenced by instanceable prims.
    crate = stage.CreateClassPrim("/Library/Crate")
    crate.SetTypeName("Xform")
    sph = UsdGeom.Sphere.Define(stage, "/Library/Crate/Ball")
    sph.CreateRadiusAttr(a.length(0.1))
    a.set_local(sph.GetPrim(), pose(None, (0.0, 0.0, 0.1)))
    cyl = UsdGeom.Cylinder.Define(stage, "/Library/Crate/Post")
    cyl.CreateRadiusAttr(a.length(0.05))
    cyl.CreateHeightAttr(a.length(0.4))
    cyl.CreateAxisAttr(UsdGeom.Tokens.z)
    a.set_local(cyl.GetPrim(), pose(None, (0.2, 0.0, 0.2)))
    for i, x in enumerate((-1.0, -1.5)):
        inst = stage.DefinePrim(f"/World/Crate{i}", "Xform")
        inst.GetReferences().AddInternalReference("/Library/Crate")
        inst.SetInstanceable(True)
        a.set_world(inst, pose(rot("z", 30.0 * i), (x, 1.0, 0.0)))

    # A PointInstancer of parcels: prototype 0 a cube, prototype 1 a cube with a label on top.
    pi = UsdGeom.PointInstancer.Define(stage, "/World/Parcels")
    a.set_world(pi.GetPrim(), pose(None, (0.0, 0.5, 0.0)))
    protos = stage.DefinePrim("/World/Parcels/Prototypes", "Scope")
    a.cube("/World/Parcels/Prototypes/Box", 0.2)
    parcel = stage.DefinePrim("/World/Parcels/Prototypes/Parcel", "Xform")
    a.cube("/World/Parcels/Prototypes/Parcel/Body", 0.3)
    a.barcode("/World/Parcels/Prototypes/Parcel/Label", symbology="datamatrix", module_m=0.0008,
              modules=(16, 16), local=pose(None, (0.0, 0.0, 0.151)))
    assert protos and parcel
    pi.CreatePrototypesRel().SetTargets([Sdf.Path("/World/Parcels/Prototypes/Box"), parcel.GetPath()])
    pi.CreateProtoIndicesAttr(Vt.IntArray([0, 1, 1]))
    pos = np.array([[0.3, 0.0, 0.1], [0.8, 0.0, 0.15], [1.3, 0.0, 0.15]]) / mpu
    pi.CreatePositionsAttr(Vt.Vec3fArray.FromNumpy(pos.astype(np.float32)))
    q = Gf.Rotation(Gf.Vec3d(0, 0, 1), 45.0).GetQuat()
    quat = Gf.Quath(q.GetReal(), Gf.Vec3h(q.GetImaginary()))
    pi.CreateOrientationsAttr(Vt.QuathArray([Gf.Quath(1, 0, 0, 0), quat, Gf.Quath(1, 0, 0, 0)]))
    pi.CreateInvisibleIdsAttr(Vt.Int64Array([2]))  # the third instance is masked out
    stage.GetRootLayer().Save()
    return path


# Expected content of build_station.
STATION_SENSOR_CAMERAS = ["/World/Cam"]
STATION_TARGETS = ["/World/Label128", "/World/LabelQR", "/World/Parcels/instance_1/Parcel/Label"]
STATION_PARTS = sorted([
    "/World/Wall", "/World/Shape",
    "/World/Crate0/Ball", "/World/Crate0/Post", "/World/Crate1/Ball", "/World/Crate1/Post",
    "/World/Parcels/instance_0/Box", "/World/Parcels/instance_1/Parcel/Body",
])
