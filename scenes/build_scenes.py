"""Build SWB's bundled example stations: ``python scenes/build_scenes.py [OUT_DIR]``.

Both stations are designed in one frame (metres, Z up) and authored through a ``StageFrame`` that converts
every length, vector and rotation into the stage's own units and up axis, so the same physical station can be
written at any ``metersPerUnit`` / ``upAxis`` (the loader must undo it; tests check that nothing changes).

- ``scan_tunnel.usda``: a parcel scan tunnel over a 2 m/s belt, metres, Z up, 8 sensor cameras.
- ``pick_station.usda``: a robot pick cell with a tote wall, centimetres, Y up, 3 sensor cameras.

Output is deterministic (no timestamps, fixed rounding) and written atomically (temp file, then os.replace).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

HERE = Path(__file__).resolve().parent
SCAN_TUNNEL_NAME = "scan_tunnel.usda"
PICK_STATION_NAME = "pick_station.usda"
SIX_SIDED_NAME = "six_sided_tunnel.usda"

BELT_SPEED = 2.0  # m/s along +X
BELT_TOP = 0.80  # m
LABEL_GAP = 0.001  # labels float 1 mm off their face

# Sensors (pixel pitch 3.45 um unless noted): resolution, sensor width and height in mm.
SENSOR_12MP = ((4096, 3000), (14.131, 10.35))
SENSOR_5MP = ((2448, 2048), (8.446, 7.066))
SENSOR_1MP = ((1280, 960), (4.8, 3.6))  # 3.75 um, a compact scan engine

_ROUND_LEN = 9  # decimals kept for lengths in scene units (1 nm on a metre stage)
_ROUND_DEG = 5


def _err(message: str, hint: str) -> Exception:
    """SwbError when the package is importable; imported late so the script runs without importing Warp."""
    try:
        from swb.errors import SwbError
    except ImportError:  # pragma: no cover - only when run outside an installed SWB
        return ValueError(f"{message} ({hint})")
    return SwbError(message, hint=hint)


# ----------------------------------------------------------------------------------------------------------
# Frames and small authoring helpers
# ----------------------------------------------------------------------------------------------------------


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _euler_xyz(r: np.ndarray) -> tuple[float, float, float]:
    """Angles (deg) for USD ``rotateXYZ`` (X applied first: R = Rz(c) Ry(b) Rx(a)), gimbal-safe."""
    sb = -float(np.clip(r[2, 0], -1.0, 1.0))
    b = math.asin(sb)
    if abs(sb) < 1.0 - 1e-9:
        a = math.atan2(r[2, 1], r[2, 2])
        c = math.atan2(r[1, 0], r[0, 0])
    else:  # cos b == 0: only a - c (or a + c) is defined; put it all in a
        a = math.atan2(-r[1, 2], r[1, 1])
        c = 0.0
    return tuple(round(math.degrees(v), _ROUND_DEG) + 0.0 for v in (a, b, c))  # type: ignore[return-value]


def _matrix_from_euler_xyz(angles: Sequence[float]) -> np.ndarray:
    a, b, c = (math.radians(v) for v in angles)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def look_at(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0, 0, 1)) -> np.ndarray:
    """Camera -> world rotation (columns right, up, back) for a USD camera at eye looking at target."""
    back = np.asarray(eye, float) - np.asarray(target, float)
    back /= np.linalg.norm(back)
    right = np.cross(np.asarray(up, float), back)
    if np.linalg.norm(right) < 1e-9:
        raise _err("camera up hint is parallel to its view direction", "pass another up vector")
    right /= np.linalg.norm(right)
    return np.column_stack([right, np.cross(back, right), back])


@dataclass(frozen=True)
class StageFrame:
    """Maps the design frame (metres, Z up) to a stage's units and up axis."""

    meters_per_unit: float = 1.0
    up_axis: str = "Z"

    @property
    def basis(self) -> np.ndarray:
        """Design -> stage rotation: identity for Z up, -90 deg about X for Y up (design Z -> stage Y)."""
        if self.up_axis == "Z":
            return np.eye(3)
        return np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

    def length(self, metres: float) -> float:
        return round(metres / self.meters_per_unit, _ROUND_LEN) + 0.0

    def point(self, p: Sequence[float]) -> Gf.Vec3d:
        q = self.basis @ np.asarray(p, float) / self.meters_per_unit
        return Gf.Vec3d(*(round(float(v), _ROUND_LEN) + 0.0 for v in q))

    def vector_f(self, v: Sequence[float]) -> Gf.Vec3f:
        q = self.basis @ np.asarray(v, float) / self.meters_per_unit
        return Gf.Vec3f(*(round(float(x), _ROUND_LEN) + 0.0 for x in q))

    def optics(self, millimetres: float) -> float:
        """Camera focal length / aperture: tenths of a scene unit (mm / (100 * metersPerUnit))."""
        return round(millimetres / (100.0 * self.meters_per_unit), _ROUND_LEN) + 0.0

    def rotation(self, r: np.ndarray) -> tuple[float, float, float]:
        """rotateXYZ angles of a design-frame local->world rotation, re-expressed in the stage frame."""
        stage_r = self.basis @ r
        angles = _euler_xyz(stage_r)
        if not np.allclose(_matrix_from_euler_xyz(angles), stage_r, atol=1e-6):
            raise RuntimeError(f"Euler decomposition failed for {stage_r}")  # a bug here, not user input
        return angles

    def yaw(self, deg: float) -> tuple[str, float]:
        """A rotation about the design's vertical axis as a single stage xformOp (name, angle)."""
        return ("rotateZ", deg) if self.up_axis == "Z" else ("rotateY", deg)

    def box_scale(self, size: Sequence[float]) -> Gf.Vec3f:
        """Box dimensions (design x, y, z) along the stage axes (a Y-up stage swaps the last two)."""
        sx, sy, sz = (self.length(v) for v in size)
        return Gf.Vec3f(sx, sy, sz) if self.up_axis == "Z" else Gf.Vec3f(sx, sz, sy)

    def quat(self, r: np.ndarray) -> Gf.Quatd:
        """Stage-frame orientation of a prototype authored in the stage frame, rotated by design rotation r."""
        stage_r = self.basis @ r @ self.basis.T
        q = Gf.Matrix3d(*stage_r.T.flatten().tolist()).ExtractRotation().GetQuat()
        return Gf.Quatd(round(q.GetReal(), 9), Gf.Vec3d(*(round(v, 9) + 0.0 for v in q.GetImaginary())))


def _new_stage(frame: StageFrame, doc: str) -> tuple[Usd.Stage, Sdf.Layer]:
    layer = Sdf.Layer.CreateAnonymous(".usda")
    stage = Usd.Stage.Open(layer)
    UsdGeom.SetStageMetersPerUnit(stage, frame.meters_per_unit)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y if frame.up_axis == "Y" else UsdGeom.Tokens.z)
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    layer.documentation = doc
    return stage, layer


def _xform(
    stage: Usd.Stage,
    path: str,
    frame: StageFrame,
    *,
    at: Sequence[float] | None = None,
    yaw: float = 0.0,
    rotation: np.ndarray | None = None,
) -> UsdGeom.Xform:
    """An Xform placed at a design-frame point, turned by a yaw or a full design-frame rotation."""
    xf = UsdGeom.Xform.Define(stage, path)
    if at is not None:
        xf.AddTranslateOp().Set(frame.point(at))
    if rotation is not None:
        xf.AddRotateXYZOp().Set(Gf.Vec3f(*frame.rotation(rotation)))
    elif yaw:
        name, angle = frame.yaw(yaw)
        op = xf.AddRotateZOp() if name == "rotateZ" else xf.AddRotateYOp()
        op.Set(float(angle))
    return xf


def _box(
    stage: Usd.Stage,
    path: str,
    frame: StageFrame,
    center: Sequence[float],
    size: Sequence[float],
    color: Sequence[float],
    *,
    yaw: float = 0.0,
) -> UsdGeom.Cube:
    """A unit Cube scaled to size (design metres), centred at a design point, turned by yaw."""
    cube = UsdGeom.Cube.Define(stage, path)
    cube.CreateSizeAttr(1.0)
    cube.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(-0.5), Gf.Vec3f(0.5)]))
    cube.CreateDisplayColorAttr(Vt.Vec3fArray([Gf.Vec3f(*color)]))
    if any(center):
        cube.AddTranslateOp().Set(frame.point(center))
    if yaw:
        name, angle = frame.yaw(yaw)
        op = cube.AddRotateZOp() if name == "rotateZ" else cube.AddRotateYOp()
        op.Set(float(angle))
    cube.AddScaleOp().Set(frame.box_scale(size))
    return cube


def _mesh(
    stage: Usd.Stage,
    path: str,
    frame: StageFrame,
    points: np.ndarray,
    quads: Sequence[Sequence[int]],
    color: Sequence[float],
) -> UsdGeom.Mesh:
    """A polygon mesh from design-frame points (right-handed, counter-clockwise seen from outside)."""
    mesh = UsdGeom.Mesh.Define(stage, path)
    stage_pts = [Gf.Vec3f(*frame.point(p)) for p in points]
    mesh.CreatePointsAttr(Vt.Vec3fArray(stage_pts))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray([len(q) for q in quads]))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray([i for q in quads for i in q]))
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    arr = np.array([[v[0], v[1], v[2]] for v in stage_pts])
    mesh.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*arr.min(axis=0)), Gf.Vec3f(*arr.max(axis=0))]))
    mesh.CreateDisplayColorAttr(Vt.Vec3fArray([Gf.Vec3f(*color)]))
    return mesh


def _open_box_mesh(length: float, width: float, height: float, wall: float) -> tuple[np.ndarray, list[list[int]]]:
    """A tote: a closed solid open at the top (outer shell, rim, inner walls, inner floor), origin at the
    centre of its base."""
    lx, ly, t = length / 2, width / 2, wall
    outer = [(-lx, -ly), (lx, -ly), (lx, ly), (-lx, ly)]
    inner = [(-lx + t, -ly + t), (lx - t, -ly + t), (lx - t, ly - t), (-lx + t, ly - t)]
    pts = (
        [(x, y, 0.0) for x, y in outer]  # 0-3 outer bottom
        + [(x, y, height) for x, y in outer]  # 4-7 outer top
        + [(x, y, height) for x, y in inner]  # 8-11 inner top
        + [(x, y, t) for x, y in inner]  # 12-15 inner floor
    )
    quads = [[0, 3, 2, 1]]  # bottom, facing -Z
    for i in range(4):
        j = (i + 1) % 4
        quads.append([i, j, 4 + j, 4 + i])  # outer wall, facing out
        quads.append([4 + i, 4 + j, 8 + j, 8 + i])  # rim, facing up
        quads.append([8 + i, 8 + j, 12 + j, 12 + i])  # inner wall, facing the inside
    quads.append([12, 13, 14, 15])  # inner floor, facing up
    return np.array(pts), quads


@dataclass(frozen=True)
class CameraSpec:
    """One sensor camera in design units (mm for optics, m for distances, s for exposure)."""

    name: str
    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float]
    sensor: tuple[tuple[int, int], tuple[float, float]]
    focal_mm: float
    f_stop: float
    focus_m: float
    exposure_s: float
    focus_mode: str = "fixed"
    focus_range_m: tuple[float, float] | None = None
    profile: str = "industrial"
    clipping_m: tuple[float, float] = (0.05, 10.0)
    max_tilt: float | None = None


def _camera(stage: Usd.Stage, path: str, frame: StageFrame, spec: CameraSpec, *, sensor_api: bool = True) -> None:
    cam = UsdGeom.Camera.Define(stage, path)
    cam.AddTranslateOp().Set(frame.point(spec.eye))
    cam.AddRotateXYZOp().Set(Gf.Vec3f(*frame.rotation(look_at(spec.eye, spec.target, spec.up))))
    (width, height), (ap_w, ap_h) = spec.sensor
    cam.CreateProjectionAttr(UsdGeom.Tokens.perspective)
    cam.CreateFocalLengthAttr(frame.optics(spec.focal_mm))
    cam.CreateHorizontalApertureAttr(frame.optics(ap_w))
    cam.CreateVerticalApertureAttr(frame.optics(ap_h))
    cam.CreateFStopAttr(spec.f_stop)
    cam.CreateFocusDistanceAttr(frame.length(spec.focus_m))
    cam.CreateClippingRangeAttr(Gf.Vec2f(frame.length(spec.clipping_m[0]), frame.length(spec.clipping_m[1])))
    cam.CreateExposureTimeAttr(spec.exposure_s)
    if not sensor_api:
        return
    prim = cam.GetPrim()
    prim.AddAppliedSchema("SwbSensorAPI")
    _attr(prim, "swb:sensor:resolution", Sdf.ValueTypeNames.Int2, Gf.Vec2i(width, height))
    _attr(prim, "swb:sensor:focusMode", Sdf.ValueTypeNames.Token, spec.focus_mode)
    if spec.focus_range_m is not None:
        near, far = spec.focus_range_m
        _attr(prim, "swb:sensor:focusRange", Sdf.ValueTypeNames.Float2, Gf.Vec2f(frame.length(near), frame.length(far)))
    _attr(prim, "swb:sensor:decoderProfile", Sdf.ValueTypeNames.Token, spec.profile)
    if spec.max_tilt is not None:
        _attr(prim, "swb:sensor:maxTilt", Sdf.ValueTypeNames.Float, spec.max_tilt)


def _attr(prim: Usd.Prim, name: str, type_name: Sdf.ValueTypeName, value: object) -> None:
    prim.CreateAttribute(name, type_name, custom=False).Set(value)


# ----------------------------------------------------------------------------------------------------------
# Barcode labels
# ----------------------------------------------------------------------------------------------------------

# Face frames of a box in its own frame: outward normal n, and the face's in-plane axes (fu, fw) with
# fu x fw = n. Side faces keep fw vertical, so roll 0 puts 1-D bars upright ("picket fence").
_FACES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    "top": ((0, 0, 1), (1, 0, 0), (0, 1, 0)),
    "front": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),  # leading face (+X, the belt direction)
    "back": ((-1, 0, 0), (0, -1, 0), (0, 0, 1)),
    "left": ((0, 1, 0), (-1, 0, 0), (0, 0, 1)),  # +Y side
    "right": ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
    "bottom": ((0, 0, -1), (1, 0, 0), (0, -1, 0)),  # read from below, through a gap in the belt
}


def code128_modules(content: str) -> int:
    """Modules across a Code 128 symbol: 11 per symbol character, + start, check (11 each) and stop (13).

    All-digit content of even length is encoded in code set C (two digits per character)."""
    chars = len(content) // 2 if content.isdigit() and len(content) % 2 == 0 else len(content)
    return 11 * chars + 35


def itf_modules(content: str, ratio: float = 3.0) -> int:
    """Interleaved 2 of 5: each digit 2 wide + 3 narrow elements; start 4 narrow, stop wide + 2 narrow."""
    return round(len(content) * (2 * ratio + 3) + 4 + (ratio + 2))


def pdf417_modules(data_columns: int, rows: int, row_height: int = 3) -> tuple[int, int]:
    """PDF417 extent in modules: 17 per codeword column (+ start, stop, two row indicators) + 1 stop bar."""
    return (17 * (data_columns + 4) + 1, rows * row_height)


@dataclass(frozen=True)
class LabelSpec:
    """A symbol on one face of a box: offset (m) along the face axes (fu, fw), roll (deg) in the face plane."""

    name: str
    face: str
    offset: tuple[float, float]
    roll: float
    symbology: str
    module_mm: float
    content: str
    modules: tuple[int, int] | None = None  # None: derived from symbology and content
    bar_height_mm: float | None = None  # 1-D; None: symbology default
    print_contrast: float | None = None

    def module_counts(self) -> tuple[int, int]:
        if self.modules is not None:
            return self.modules
        if self.symbology == "code128":
            return (code128_modules(self.content), 1)
        if self.symbology in ("ean13", "upca"):
            return (95, 1)
        if self.symbology == "itf":
            return (itf_modules(self.content), 1)
        raise ValueError(f"label {self.name}: give modules for {self.symbology}")

    def bar_height_m(self) -> float | None:
        if self.module_counts()[1] != 1:
            return None
        if self.bar_height_mm is not None:
            return self.bar_height_mm / 1000.0
        if self.symbology in ("ean13", "upca"):
            return 69.24 * self.module_mm / 1000.0  # GS1 nominal bar height: 22.85 mm at X = 0.33 mm
        return max(0.15 * self.module_counts()[0] * self.module_mm, 10.0) / 1000.0

    def extent_m(self) -> tuple[float, float]:
        """Symbol size (u, w) without quiet zone, metres."""
        cols, rows = self.module_counts()
        x = self.module_mm / 1000.0
        bar = self.bar_height_m()
        return (cols * x, bar if bar is not None else rows * x)


def _label(
    stage: Usd.Stage,
    parent: str,
    frame: StageFrame,
    half: Sequence[float],
    spec: LabelSpec,
    velocity: Sequence[float] | None,
) -> None:
    """A barcode label 1 mm off a face of a box with half-extents half, as a child Xform of its parent.

    The parent's frame is the box frame (turned by yaw only), so the label's pose is authored relative to it."""
    n, fu, fw = (np.array(v, float) for v in _FACES[spec.face])
    depth = float(np.abs(n) @ np.asarray(half, float))
    centre = n * (depth + LABEL_GAP) + fu * spec.offset[0] + fw * spec.offset[1]
    roll = math.radians(spec.roll)
    u = math.cos(roll) * fu + math.sin(roll) * fw
    w = np.cross(n, u)
    rot = np.column_stack([u, w, n])
    xf = _xform(stage, f"{parent}/{spec.name}", frame, at=centre, rotation=rot)
    prim = xf.GetPrim()
    prim.AddAppliedSchema("SwbBarcodeAPI")
    cols, rows = spec.module_counts()
    _attr(prim, "swb:barcode:symbology", Sdf.ValueTypeNames.Token, spec.symbology)
    _attr(prim, "swb:barcode:moduleSize", Sdf.ValueTypeNames.Float, frame.length(spec.module_mm / 1000.0))
    _attr(prim, "swb:barcode:modules", Sdf.ValueTypeNames.Int2, Gf.Vec2i(cols, rows))
    bar = spec.bar_height_m()
    if bar is not None:
        _attr(prim, "swb:barcode:barHeight", Sdf.ValueTypeNames.Float, frame.length(bar))
    if spec.print_contrast is not None:
        _attr(prim, "swb:barcode:printContrast", Sdf.ValueTypeNames.Float, spec.print_contrast)
    if velocity is not None:
        _attr(prim, "swb:barcode:velocity", Sdf.ValueTypeNames.Float3, frame.vector_f(velocity))
    _attr(prim, "swb:barcode:content", Sdf.ValueTypeNames.String, spec.content)


# ----------------------------------------------------------------------------------------------------------
# Scan tunnel (metres, Z up in the bundled file)
# ----------------------------------------------------------------------------------------------------------

ALU = (0.72, 0.74, 0.76)
STEEL = (0.35, 0.37, 0.40)
BELT = (0.08, 0.08, 0.09)
GUARD = (0.95, 0.75, 0.10)
CARDBOARD = (0.66, 0.49, 0.30)


@dataclass(frozen=True)
class ParcelSpec:
    name: str
    xy: tuple[float, float]  # centre on the belt, m
    size: tuple[float, float, float]  # length (x), width (y), height (z) before yaw, m
    yaw: float  # deg
    labels: tuple[LabelSpec, ...]


def _l(
    name: str, face: str, offset: tuple[float, float], roll: float, sym: str, x_mm: float, content: str, **kw: object
) -> LabelSpec:
    """Table shorthand for LabelSpec."""
    return LabelSpec(name, face, offset, roll, sym, x_mm, content, **kw)


_12MP, _5MP, _1MP = SENSOR_12MP, SENSOR_5MP, SENSOR_1MP

# Eight parcels moving along +X: one entering, five inside the tunnel, two leaving. Labels are placed so that
# the bundled cameras show every limiting factor: most labels are read by some camera; others fail on
# resolution (small modules far from the wide top camera), motion (the 400 us camera, bars across the belt),
# tilt, occlusion (the guard skirts, other parcels) or lie out of every camera's view.
# fmt: off
PARCELS: tuple[ParcelSpec, ...] = (
    ParcelSpec("Parcel_01", (-1.25, 0.05), (0.40, 0.30, 0.25), 0.0, (
        _l("Ship", "top", (0.02, -0.03), 0.0, "code128", 0.38, "1Z999AA10123456784"),
        _l("Sscc", "front", (0.0, 0.02), 0.0, "code128", 0.495, "00340123450000000018"),
        _l("Qr", "front", (0.09, -0.05), 0.0, "qrcode", 0.75, "https://swb.example/p/01", modules=(29, 29)),
    )),
    ParcelSpec("Parcel_02", (-0.55, -0.20), (0.25, 0.20, 0.15), 25.0, (
        _l("Ship", "top", (0.0, 0.0), 90.0, "code128", 0.33, "JD014600006281923456"),
        _l("Ean", "right", (0.03, 0.0), 0.0, "ean13", 0.33, "4006381333931"),
        _l("Dm", "front", (0.0, 0.02), 0.0, "datamatrix", 0.75, "(01)04006381333931(21)A1B2", modules=(22, 22)),
    )),
    ParcelSpec("Parcel_03", (-0.55, 0.20), (0.30, 0.22, 0.30), -5.0, (
        _l("Ship", "top", (0.0, 0.02), 0.0, "code128", 0.33, "9405511899223197428490"),
        _l("Itf", "left", (-0.11, -0.06), 0.0, "itf", 0.5, "10012345000017", bar_height_mm=32.0),
        _l("Qr", "front", (0.0, 0.05), 0.0, "qrcode", 0.8, "SWB-P03", modules=(21, 21)),
        _l("Pdf", "back", (0.0, 0.05), 0.0, "pdf417", 0.5, "DHL PIECE JJD000390007", modules=pdf417_modules(4, 12)),
    )),
    ParcelSpec("Parcel_04", (0.45, 0.0), (0.60, 0.40, 0.35), 0.0, (
        _l("Ship", "top", (-0.10, 0.05), 0.0, "code128", 0.33, "1Z999AA10123456785"),
        _l("Qr", "top", (0.15, -0.08), 30.0, "qrcode", 0.6, "SWB-P04-ROUTE-7", modules=(25, 25)),
        _l("Ean", "left", (0.26, 0.05), 0.0, "ean13", 0.33, "5901234123457"),
        _l("Sscc", "right", (-0.05, 0.10), 0.0, "code128", 0.495, "00340123450000000025"),
        _l("LowSide", "right", (-0.15, -0.12), 90.0, "code128", 0.38, "LOT2024-118"),
        _l("Dm", "top", (0.05, 0.12), 0.0, "datamatrix", 0.5, "P04-POSTAGE-0001", modules=(18, 18)),
        _l("Back", "back", (0.0, 0.10), 0.0, "code128", 0.4, "RMA-77821-04"),
    )),
    ParcelSpec("Parcel_05", (-0.05, -0.20), (0.20, 0.20, 0.20), 45.0, (
        _l("Ship", "top", (0.0, 0.0), 0.0, "datamatrix", 0.6, "SWB0005", modules=(16, 16)),
        _l("Ean", "right", (0.0, 0.0), 0.0, "ean13", 0.33, "4012345678901"),
        _l("Qr", "front", (0.0, 0.0), 0.0, "qrcode", 0.8, "P05", modules=(21, 21)),
    )),
    ParcelSpec("Parcel_06", (-0.05, 0.20), (0.30, 0.25, 0.35), -10.0, (
        _l("Ship", "top", (0.0, 0.0), 0.0, "code128", 0.38, "1Z999AA10123456786"),
        _l("Pdf", "left", (0.08, 0.05), 0.0, "pdf417", 0.5, "FEDEX 7712 3456 7890", modules=pdf417_modules(5, 10)),
        _l("Itf", "back", (0.0, -0.05), 0.0, "itf", 0.5, "20012345000014", bar_height_mm=32.0),
        _l("Qr", "top", (-0.08, 0.06), 0.0, "qrcode", 0.75, "P06-ROUTE-12", modules=(25, 25), print_contrast=0.6),
    )),
    ParcelSpec("Parcel_07", (1.08, 0.00), (0.45, 0.35, 0.12), 5.0, (
        _l("Ship", "top", (0.0, 0.0), 90.0, "code128", 0.5, "00340123450000000032"),
        _l("Qr", "top", (0.15, 0.10), 0.0, "qrcode", 1.0, "SWB-P07", modules=(21, 21)),
        _l("Ean", "back", (0.0, 0.0), 0.0, "ean13", 0.33, "7612345678900"),
        _l("Side", "right", (0.0, 0.0), 90.0, "code128", 0.33, "P07-SIDE-22"),
    )),
    ParcelSpec("Parcel_08", (1.47, -0.05), (0.25, 0.30, 0.55), 0.0, (
        _l("Back", "back", (0.0, 0.10), 0.0, "datamatrix", 0.75, "P08-TRAIL", modules=(24, 24)),
        _l("Side", "left", (0.0, 0.0), 0.0, "code128", 0.4, "P08-LEFT-09"),
    )),
)

# Top cameras hang from the camera bar, side cameras from the masts, front/back cameras from the end beams
# looking along the belt at the leading (+X) and trailing (-X) faces; a compact engine reads right-hand faces
# of parcels leaving the tunnel.
TUNNEL_CAMERAS: tuple[CameraSpec, ...] = (
    CameraSpec("TopWide", eye=(0.0, 0.0, 2.35), target=(0.0, 0.0, BELT_TOP), up=(0, 1, 0), sensor=_12MP,
               focal_mm=20.0, f_stop=8.0, focus_m=1.3, exposure_s=100e-6),
    CameraSpec("TopAutofocus", eye=(0.40, 0.0, 2.35), target=(0.40, 0.0, BELT_TOP), up=(1, 0, 0), sensor=_12MP,
               focal_mm=25.0, f_stop=4.0, focus_m=1.5, exposure_s=80e-6,
               focus_mode="autofocus", focus_range_m=(0.6, 1.8)),
    CameraSpec("TopLongExposure", eye=(-0.35, 0.0, 2.35), target=(-0.35, 0.0, BELT_TOP), up=(1, 0, 0),
               sensor=_12MP, focal_mm=25.0, f_stop=5.6, focus_m=1.5, exposure_s=400e-6,
               focus_mode="autofocus", focus_range_m=(0.6, 1.8)),
    CameraSpec("SideLeft", eye=(0.0, 0.86, 1.2), target=(-0.15, 0.0, 1.0), up=(0, 0, 1), sensor=_12MP,
               focal_mm=12.0, f_stop=5.6, focus_m=0.65, exposure_s=100e-6),
    CameraSpec("SideRight", eye=(0.0, -0.86, 1.2), target=(0.1, 0.0, 1.0), up=(0, 0, 1), sensor=_12MP,
               focal_mm=12.0, f_stop=5.6, focus_m=0.7, exposure_s=100e-6, profile="robust"),
    CameraSpec("Front", eye=(0.62, 0.0, 2.3), target=(-0.71, 0.0, 0.9), up=(0, 1, 0), sensor=_12MP,
               focal_mm=35.0, f_stop=8.0, focus_m=1.8, exposure_s=120e-6,
               focus_mode="autofocus", focus_range_m=(0.8, 3.0)),
    CameraSpec("Back", eye=(-0.62, 0.0, 2.3), target=(1.08, 0.0, 1.0), up=(0, 1, 0), sensor=_12MP,
               focal_mm=35.0, f_stop=8.0, focus_m=2.0, exposure_s=120e-6),
    CameraSpec("SideLowEngine", eye=(1.05, -0.62, 0.95), target=(1.05, 0.0, 0.88), up=(0, 0, 1), sensor=_1MP,
               focal_mm=8.0, f_stop=4.0, focus_m=0.45, exposure_s=150e-6, profile="engine", max_tilt=55.0),
)
# fmt: on


def _tunnel_structure(stage: Usd.Stage, frame: StageFrame) -> None:
    """Conveyor, tunnel frame (instanced posts), beams, guards and a cable tray."""
    conv = "/World/Conveyor"
    _xform(stage, conv, frame)
    _box(stage, f"{conv}/Belt", frame, (0.0, 0.0, BELT_TOP - 0.03), (3.2, 0.8, 0.06), BELT)
    for side, y in (("L", 0.43), ("R", -0.43)):
        _box(stage, f"{conv}/Rail_{side}", frame, (0.0, y, 0.80), (3.2, 0.03, 0.12), STEEL)
        for i, x in enumerate((-1.5, 0.0, 1.5)):
            _box(stage, f"{conv}/Leg_{side}{i}", frame, (x, math.copysign(0.36, y), 0.37), (0.05, 0.05, 0.74), STEEL)
    _box(stage, f"{conv}/DriveMotor", frame, (1.45, -0.52, 0.62), (0.22, 0.16, 0.16), STEEL)

    # One post prototype (an 80 x 80 mm aluminium profile, 2.5 m), referenced by every instanceable post.
    protos = "/World/Prototypes"
    post = f"{protos}/Post"
    stage.CreateClassPrim(protos)
    post_prim = stage.CreateClassPrim(post)
    post_prim.SetTypeName("Xform")
    post_prim.SetInstanceable(True)
    _box(stage, f"{post}/Profile", frame, (0.0, 0.0, 1.25), (0.08, 0.08, 2.5), ALU)
    _box(stage, f"{post}/FootPlate", frame, (0.0, 0.0, 0.005), (0.16, 0.16, 0.01), STEEL)

    tunnel = "/World/Tunnel"
    _xform(stage, tunnel, frame)
    _xform(stage, f"{tunnel}/Frame", frame)
    posts = [
        ("EntryLeft", -0.7, 0.95),
        ("EntryRight", -0.7, -0.95),
        ("ExitLeft", 0.7, 0.95),
        ("ExitRight", 0.7, -0.95),
        ("MastLeft", 0.0, 0.95),
        ("MastRight", 0.0, -0.95),
    ]
    for name, x, y in posts:
        xf = _xform(stage, f"{tunnel}/Frame/Post_{name}", frame, at=(x, y, 0.0))
        xf.GetPrim().GetReferences().AddInternalReference(post)
        xf.GetPrim().SetInstanceable(True)
    top = 2.46
    _box(stage, f"{tunnel}/Frame/BeamLeft", frame, (0.0, 0.95, top), (1.48, 0.08, 0.08), ALU)
    _box(stage, f"{tunnel}/Frame/BeamRight", frame, (0.0, -0.95, top), (1.48, 0.08, 0.08), ALU)
    _box(stage, f"{tunnel}/Frame/BeamEntry", frame, (-0.7, 0.0, top), (0.08, 1.82, 0.08), ALU)
    _box(stage, f"{tunnel}/Frame/BeamExit", frame, (0.7, 0.0, top), (0.08, 1.82, 0.08), ALU)
    _box(stage, f"{tunnel}/Frame/CameraBar", frame, (0.0, 0.0, top), (0.06, 1.82, 0.06), ALU)

    guards = f"{tunnel}/Guards"
    _xform(stage, guards, frame)
    # Enclosure walls outside the cameras, low skirts above the rails, and a hanging light bar.
    _box(stage, f"{guards}/WallLeft", frame, (0.0, 1.0, 1.55), (1.32, 0.004, 1.3), GUARD)
    _box(stage, f"{guards}/WallRight", frame, (0.0, -1.0, 1.55), (1.32, 0.004, 1.3), GUARD)
    _box(stage, f"{guards}/SkirtLeft", frame, (0.0, 0.47, 0.93), (1.32, 0.004, 0.14), GUARD)
    _box(stage, f"{guards}/SkirtRight", frame, (0.0, -0.47, 0.93), (1.32, 0.004, 0.14), GUARD)
    _box(stage, f"{guards}/LightBar", frame, (0.18, 0.0, 2.28), (0.10, 1.2, 0.06), STEEL)


def _parcels(stage: Usd.Stage, frame: StageFrame, specs: Sequence[ParcelSpec]) -> None:
    """Parcels on the belt under /World/Parcels, each a box with its labels, all moving with the belt."""
    parcels = "/World/Parcels"
    _xform(stage, parcels, frame)
    velocity = (BELT_SPEED, 0.0, 0.0)
    for parcel in specs:
        length, width, h = parcel.size
        ppath = f"{parcels}/{parcel.name}"
        _xform(stage, ppath, frame, at=(*parcel.xy, BELT_TOP + h / 2), yaw=parcel.yaw)
        _box(stage, f"{ppath}/Box", frame, (0.0, 0.0, 0.0), parcel.size, CARDBOARD)
        for label in parcel.labels:
            _label(stage, ppath, frame, (length / 2, width / 2, h / 2), label, velocity)


def build_scan_tunnel(path: str | Path, *, meters_per_unit: float = 1.0, up_axis: str = "Z") -> Path:
    """Write the scan tunnel station to path in the given units and up axis (same physical station)."""
    if not (isinstance(meters_per_unit, int | float) and math.isfinite(meters_per_unit) and meters_per_unit > 0):
        raise _err(f"meters_per_unit must be a positive number, got {meters_per_unit!r}", "e.g. 1.0 or 0.01")
    if up_axis not in ("Y", "Z"):
        raise _err(f"up_axis must be 'Y' or 'Z', got {up_axis!r}", "USD supports only Y and Z up")
    frame = StageFrame(float(meters_per_unit), up_axis)
    stage, layer = _new_stage(
        frame,
        "SWB example: parcel scan tunnel over a 2 m/s belt conveyor. "
        "Generated by scenes/build_scenes.py; edit the script, not this file.",
    )
    _tunnel_structure(stage, frame)

    _parcels(stage, frame, PARCELS)

    cams = "/World/Cameras"
    _xform(stage, cams, frame)
    for spec in TUNNEL_CAMERAS:
        _camera(stage, f"{cams}/{spec.name}", frame, spec)
    viewer = CameraSpec(
        "ViewerCam", eye=(4.2, -3.6, 3.2), target=(0.0, 0.0, 1.0), up=(0, 0, 1), sensor=((1920, 1080), (36.0, 20.25)),
        focal_mm=24.0, f_stop=0.0, focus_m=6.0, exposure_s=0.01, clipping_m=(0.1, 100.0),
    )  # fmt: skip
    _camera(stage, "/World/ViewerCam", frame, viewer, sensor_api=False)
    return _write(layer, Path(path))


# ----------------------------------------------------------------------------------------------------------
# Six-sided scan tunnel (metres, Z up): a station built to read every face, the bottom through a belt gap
# ----------------------------------------------------------------------------------------------------------

GAP = 0.16  # m: the belt gap the bottom camera reads through
SIX_BELT = (-4.2, 4.2)  # belt extent along X, m
SIX_FPS = 40.0  # frames per second of the area cameras; the bottom one runs at 60

# Parcels from 0.1 to 0.8 m, 1.2 m apart (gapped by an upstream metering belt), labels on every face.
# fmt: off
SIX_PARCELS: tuple[ParcelSpec, ...] = (
    ParcelSpec("Parcel_A", (-3.6, 0.10), (0.60, 0.40, 0.40), 0.0, (
        _l("Ship", "top", (0.05, 0.0), 0.0, "code128", 0.5, "1Z999AA10123456784"),
        _l("Front", "front", (0.0, 0.0), 0.0, "code128", 0.5, "00340123450000000018"),
        _l("Bottom", "bottom", (0.0, 0.0), 0.0, "code128", 0.5, "1Z999AA10123456791"),
    )),
    ParcelSpec("Parcel_B", (-2.4, -0.15), (0.30, 0.25, 0.20), 0.0, (
        _l("Ship", "top", (0.0, 0.0), 90.0, "code128", 0.4, "JD014600006281923456"),
        _l("Left", "left", (0.0, 0.0), 0.0, "ean13", 0.4, "4006381333931"),
        _l("Back", "back", (0.0, 0.0), 0.0, "datamatrix", 0.6, "(01)04006381333931(21)B2", modules=(22, 22)),
    )),
    ParcelSpec("Parcel_C", (-1.2, 0.0), (0.80, 0.60, 0.80), 0.0, (
        _l("Ship", "top", (-0.1, 0.1), 0.0, "code128", 0.5, "9405511899223197428490"),
        _l("Right", "right", (0.1, 0.1), 0.0, "code128", 0.5, "00340123450000000025"),
        _l("Left", "left", (-0.1, -0.2), 0.0, "qrcode", 0.8, "https://swb.example/p/c", modules=(25, 25)),
        _l("Bottom", "bottom", (0.1, 0.05), 90.0, "code128", 0.5, "1Z999AA10123456808"),
    )),
    ParcelSpec("Parcel_D", (0.0, 0.20), (0.15, 0.10, 0.10), 0.0, (
        _l("Ship", "top", (0.0, 0.0), 0.0, "datamatrix", 0.5, "P04-POSTAGE-0001", modules=(18, 18)),
        _l("Front", "front", (0.0, 0.0), 0.0, "qrcode", 0.6, "SWB-D", modules=(21, 21)),
    )),
    ParcelSpec("Parcel_E", (1.2, -0.10), (0.50, 0.35, 0.30), 0.0, (
        _l("Ship", "top", (0.1, 0.0), 0.0, "code128", 0.38, "1Z999AA10123456815"),
        _l("Back", "back", (0.0, 0.05), 0.0, "code128", 0.5, "RMA-77821-05"),
        _l("Right", "right", (0.0, 0.0), 0.0, "pdf417", 0.5, "DHL PIECE JJD000390007", modules=pdf417_modules(4, 12)),
        _l("Bottom", "bottom", (0.0, 0.0), 0.0, "datamatrix", 0.6, "E-BOTTOM-0042", modules=(18, 18)),
    )),
    ParcelSpec("Parcel_F", (2.4, 0.05), (0.40, 0.30, 0.60), 0.0, (
        _l("Ship", "top", (0.0, 0.0), 0.0, "code128", 0.5, "JD014600006281923463"),
        _l("Left", "left", (0.0, 0.1), 0.0, "itf", 0.6, "10012345000017", bar_height_mm=32.0),
        _l("Front", "front", (0.0, 0.1), 0.0, "ean13", 0.4, "5901234123457"),
    )),
)

# Seven 12 MP cameras with 100 us exposures (strobed): two over the belt, one per side, one at the exit looking
# back at the leading faces, one at the entry looking on at the trailing faces, one under the belt gap.
SIX_CAMERAS: tuple[CameraSpec, ...] = (
    CameraSpec("TopLeft", eye=(0.0, 0.22, 2.4), target=(0.0, 0.22, BELT_TOP), up=(1, 0, 0), sensor=_12MP,
               focal_mm=35.0, f_stop=5.6, focus_m=1.1, exposure_s=100e-6, focus_mode="autofocus",
               focus_range_m=(0.5, 1.7)),
    CameraSpec("TopRight", eye=(0.0, -0.22, 2.4), target=(0.0, -0.22, BELT_TOP), up=(1, 0, 0), sensor=_12MP,
               focal_mm=35.0, f_stop=5.6, focus_m=1.1, exposure_s=100e-6, focus_mode="autofocus",
               focus_range_m=(0.5, 1.7)),
    CameraSpec("SideLeft", eye=(0.0, 1.25, 1.15), target=(0.0, 0.0, 1.15), up=(1, 0, 0), sensor=_12MP,
               focal_mm=25.0, f_stop=5.6, focus_m=1.1, exposure_s=100e-6, focus_mode="autofocus",
               focus_range_m=(0.5, 1.8)),
    CameraSpec("SideRight", eye=(0.0, -1.25, 1.15), target=(0.0, 0.0, 1.15), up=(1, 0, 0), sensor=_12MP,
               focal_mm=25.0, f_stop=5.6, focus_m=1.1, exposure_s=100e-6, focus_mode="autofocus",
               focus_range_m=(0.5, 1.8)),
    CameraSpec("Exit", eye=(1.2, 0.0, 1.9), target=(0.0, 0.0, 0.95), up=(0, 0, 1), sensor=_12MP,
               focal_mm=35.0, f_stop=5.6, focus_m=1.5, exposure_s=100e-6, focus_mode="autofocus",
               focus_range_m=(0.5, 2.6)),
    CameraSpec("Entry", eye=(-1.2, 0.0, 1.9), target=(0.0, 0.0, 0.95), up=(0, 0, 1), sensor=_12MP,
               focal_mm=35.0, f_stop=5.6, focus_m=1.5, exposure_s=100e-6, focus_mode="autofocus",
               focus_range_m=(0.5, 2.6)),
    CameraSpec("Bottom", eye=(0.0, 0.0, 0.25), target=(0.0, 0.0, BELT_TOP), up=(0, 1, 0), sensor=_12MP,
               focal_mm=12.0, f_stop=4.0, focus_m=0.55, exposure_s=100e-6),
)
# fmt: on
SIX_FRAME_RATE = {"Bottom": 60.0}


def build_six_sided_tunnel(path: str | Path) -> Path:
    """Write the six-sided scan tunnel: a belt at 2 m/s with a gap, six parcels of 0.1-0.8 m with labels on every
    face (the bottom ones read through the gap), seven cameras."""
    frame = StageFrame(1.0, "Z")
    stage, layer = _new_stage(
        frame,
        "SWB example: six-sided parcel scan tunnel over a 2 m/s belt with a bottom-read gap. "
        "Generated by scenes/build_scenes.py; edit the script, not this file.",
    )
    conv = "/World/Conveyor"
    _xform(stage, conv, frame)
    lo, hi = SIX_BELT
    for name, a, b in (("BeltIn", lo, -GAP / 2), ("BeltOut", GAP / 2, hi)):
        _box(stage, f"{conv}/{name}", frame, ((a + b) / 2, 0.0, BELT_TOP - 0.03), (b - a, 1.0, 0.06), BELT)
    for side, y in (("L", 0.53), ("R", -0.53)):
        _box(stage, f"{conv}/Rail_{side}", frame, (0.0, y, BELT_TOP - 0.02), (hi - lo, 0.03, 0.10), STEEL)
    tunnel = "/World/Tunnel"
    _xform(stage, tunnel, frame)
    for name, x, y in (("EntryLeft", -0.9, 1.4), ("EntryRight", -0.9, -1.4), ("ExitLeft", 0.9, 1.4),
                       ("ExitRight", 0.9, -1.4)):
        _box(stage, f"{tunnel}/Post_{name}", frame, (x, y, 1.3), (0.08, 0.08, 2.6), ALU)
    _box(stage, f"{tunnel}/BeamLeft", frame, (0.0, 1.4, 2.6), (1.88, 0.08, 0.08), ALU)
    _box(stage, f"{tunnel}/BeamRight", frame, (0.0, -1.4, 2.6), (1.88, 0.08, 0.08), ALU)

    _parcels(stage, frame, SIX_PARCELS)

    cams = "/World/Cameras"
    _xform(stage, cams, frame)
    for spec in SIX_CAMERAS:
        _camera(stage, f"{cams}/{spec.name}", frame, spec)
        prim = stage.GetPrimAtPath(f"{cams}/{spec.name}")
        _attr(prim, "swb:sensor:frameRate", Sdf.ValueTypeNames.Float, SIX_FRAME_RATE.get(spec.name, SIX_FPS))
    return _write(layer, Path(path))


# ----------------------------------------------------------------------------------------------------------
# Pick station (centimetres, Y up)
# ----------------------------------------------------------------------------------------------------------

TOTE_SIZE = (0.60, 0.40, 0.22)  # Euro tote, m
TOTE_WALL = 0.015
TABLE_TOP = 0.75
BLUE = (0.12, 0.30, 0.62)
WOOD = (0.78, 0.68, 0.52)
ROBOT = (0.93, 0.55, 0.10)


@dataclass(frozen=True)
class ItemSpec:
    name: str
    xy: tuple[float, float]
    size: tuple[float, float, float]
    yaw: float
    labels: tuple[LabelSpec, ...]


# Pick totes on the table (design x, y of the tote centre) and the tote wall (3 bays x 2 levels).
TABLE_TOTES = ((-0.31, 0.0), (0.31, 0.0))
WALL_Y = 0.80
WALL_LEVELS = (0.55, 1.05)  # shelf board tops, m
WALL_BAYS = (-0.45, 0.0, 0.45)

# Items in the two table totes; labels on top, one on a side below the tote rim (hidden by the tote wall).
# fmt: off
ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec("Item_01", (-0.40, -0.07), (0.18, 0.12, 0.08), 15.0, (
        _l("Ean", "top", (0.0, 0.0), 0.0, "ean13", 0.33, "4006381333931"),
    )),
    ItemSpec("Item_02", (-0.17, 0.07), (0.15, 0.15, 0.15), -20.0, (
        _l("Dm", "top", (0.02, 0.02), 0.0, "datamatrix", 0.5, "(01)09501101530003(17)270101", modules=(22, 22)),
    )),
    ItemSpec("Item_03", (0.24, -0.05), (0.25, 0.18, 0.06), 0.0, (
        _l("Qr", "top", (0.05, 0.0), 0.0, "qrcode", 0.6, "https://swb.example/sku/03", modules=(29, 29)),
        _l("Ean", "top", (-0.07, 0.0), 90.0, "ean13", 0.33, "9501101530003"),
    )),
    ItemSpec("Item_04", (0.46, 0.09), (0.12, 0.08, 0.20), 30.0, (
        _l("Code", "top", (0.0, 0.0), 0.0, "code128", 0.25, "SKU-04-77", bar_height_mm=12.0),
        _l("SideEan", "front", (0.0, -0.03), 0.0, "ean13", 0.33, "4012345678901"),
    )),
    ItemSpec("Item_05", (0.15, 0.115), (0.09, 0.09, 0.09), 45.0, (
        _l("Dm", "top", (0.0, 0.0), 0.0, "datamatrix", 0.33, "SKU05", modules=(12, 12)),
    )),
)

# Overhead: the whole table; ToteWall: the tote licence plates; Wrist: a close camera on the gripper over tote A.
PICK_CAMERAS: tuple[CameraSpec, ...] = (
    CameraSpec("Overhead", eye=(0.0, 0.0, 1.80), target=(0.0, 0.0, TABLE_TOP), up=(0, 1, 0), sensor=_12MP,
               focal_mm=16.0, f_stop=5.6, focus_m=0.95, exposure_s=2e-3),
    CameraSpec("ToteWall", eye=(0.0, -0.35, 1.95), target=(0.0, WALL_Y, 0.95), up=(0, 0, 1), sensor=_12MP,
               focal_mm=16.0, f_stop=4.0, focus_m=1.4, exposure_s=1e-3,
               focus_mode="autofocus", focus_range_m=(0.5, 2.5)),
    CameraSpec("Wrist", eye=(-0.31, -0.10, 1.22), target=(-0.31, 0.0, 0.80), up=(0, 1, 0), sensor=_5MP,
               focal_mm=12.0, f_stop=4.0, focus_m=0.38, exposure_s=500e-6, profile="robust"),
)
# fmt: on


def build_pick_station(path: str | Path) -> Path:
    """Write the robot pick cell: centimetres, Y up, totes instanced with a PointInstancer."""
    frame = StageFrame(0.01, "Y")
    stage, layer = _new_stage(
        frame,
        "SWB example: robot pick cell with a tote wall (centimetres, Y up). "
        "Generated by scenes/build_scenes.py; edit the script, not this file.",
    )
    # Table with legs.
    table = "/World/Table"
    _xform(stage, table, frame)
    _box(stage, f"{table}/Top", frame, (0.0, 0.0, TABLE_TOP - 0.02), (1.40, 0.80, 0.04), WOOD)
    for i, (x, y) in enumerate(((-0.65, -0.35), (0.65, -0.35), (0.65, 0.35), (-0.65, 0.35))):
        _box(stage, f"{table}/Leg_{i}", frame, (x, y, (TABLE_TOP - 0.04) / 2), (0.05, 0.05, TABLE_TOP - 0.04), STEEL)

    # Tote wall: two shelf boards on four uprights behind the table.
    wall = "/World/ToteWall"
    _xform(stage, wall, frame)
    for i, z in enumerate(WALL_LEVELS):
        _box(stage, f"{wall}/Shelf_{i}", frame, (0.0, WALL_Y, z - 0.015), (1.40, 0.66, 0.03), STEEL)
    for i, x in enumerate((-0.70, 0.70)):
        for j, y in enumerate((WALL_Y - 0.33, WALL_Y + 0.33)):
            _box(stage, f"{wall}/Upright_{i}{j}", frame, (x, y, 0.80), (0.04, 0.04, 1.60), STEEL)

    # All totes are instances of one Mesh prototype; the prototype sits under an `over` so plain traversal
    # skips it and only the PointInstancer places it.
    inst_path = "/World/Totes"
    inst = UsdGeom.PointInstancer.Define(stage, inst_path)
    proto_root = f"{inst_path}/Prototypes"
    pts, quads = _open_box_mesh(*TOTE_SIZE, TOTE_WALL)
    _mesh(stage, f"{proto_root}/Tote", frame, pts, quads, BLUE)
    layer.GetPrimAtPath(proto_root).specifier = Sdf.SpecifierOver
    inst.CreatePrototypesRel().SetTargets([Sdf.Path(f"{proto_root}/Tote")])
    placements = [((x, y, TABLE_TOP), 0.0) for x, y in TABLE_TOTES]
    placements += [((x, WALL_Y, z), 90.0) for z in WALL_LEVELS for x in WALL_BAYS]
    inst.CreatePositionsAttr(Vt.Vec3fArray([Gf.Vec3f(*frame.point(p)) for p, _ in placements]))
    quats = [frame.quat(_rot_z(yaw)) for _, yaw in placements]
    # Half-precision `orientations` for every reader; newer USD prefers the exact float `orientationsf`.
    inst.CreateOrientationsAttr(Vt.QuathArray([Gf.Quath(q) for q in quats]))
    inst.CreateOrientationsfAttr(Vt.QuatfArray([Gf.Quatf(q) for q in quats]))
    inst.CreateProtoIndicesAttr(Vt.IntArray([0] * len(placements)))
    inst.CreateExtentAttr(inst.ComputeExtentAtTime(Usd.TimeCode.Default(), Usd.TimeCode.Default()))

    # Items in the two table totes, labels on top (and one on a side, hidden by the tote wall).
    items = "/World/Items"
    _xform(stage, items, frame)
    floor = TABLE_TOP + TOTE_WALL
    for item in ITEMS:
        ipath = f"{items}/{item.name}"
        _xform(stage, ipath, frame, at=(*item.xy, floor + item.size[2] / 2), yaw=item.yaw)
        _box(stage, f"{ipath}/Box", frame, (0.0, 0.0, 0.0), item.size, CARDBOARD)
        half = tuple(v / 2 for v in item.size)
        for label in item.labels:
            _label(stage, ipath, frame, half, label, None)

    # Tote licence plates on the wall totes' fronts (facing the table), and rack location labels on the shelves.
    tags = f"{wall}/Labels"
    _xform(stage, tags, frame)
    front_y = WALL_Y - TOTE_SIZE[0] / 2
    for k, ((x, _y, z), _yaw) in enumerate(placements[len(TABLE_TOTES) :]):
        spec = _l(
            f"Tote_{k + 1:02d}", "right", (0.0, 0.0), 0.0, "code128", 0.5, f"TOTE{100231 + k:06d}", bar_height_mm=20.0
        )
        holder = f"{tags}/Holder_{k + 1:02d}"
        _xform(stage, holder, frame, at=(x, front_y, z + 0.15))
        _label(stage, holder, frame, (0.0, 0.0, 0.0), spec, None)
    for i, z in enumerate(WALL_LEVELS):
        spec = _l(f"Location_{i}", "right", (0.0, 0.0), 0.0, "code128", 0.4, f"A-01-0{i + 1}", bar_height_mm=12.0)
        holder = f"{tags}/Shelf_{i}"
        _xform(stage, holder, frame, at=(0.22, WALL_Y - 0.33, z - 0.015))
        _label(stage, holder, frame, (0.0, 0.0, 0.0), spec, None)

    # A simple robot arm reaching over tote A (an occluder for the overhead camera), the wrist camera on it.
    robot = "/World/Robot"
    _xform(stage, robot, frame)
    _box(stage, f"{robot}/Base", frame, (0.0, -0.62, 0.45), (0.30, 0.30, 0.90), ROBOT)
    _box(stage, f"{robot}/Column", frame, (0.0, -0.62, 1.05), (0.16, 0.16, 0.30), ROBOT)
    reach = np.array([-0.31, -0.16]) - np.array([0.0, -0.62])
    arm_yaw = math.degrees(math.atan2(reach[1], reach[0]))
    arm_mid = (0.0 + reach[0] / 2, -0.62 + reach[1] / 2, 1.32)
    _box(
        stage,
        f"{robot}/Arm",
        frame,
        arm_mid,
        (float(np.hypot(*reach)) + 0.10, 0.10, 0.10),
        ROBOT,
        yaw=round(arm_yaw, 3),
    )
    _box(stage, f"{robot}/Gripper", frame, (-0.31, -0.16, 1.30), (0.08, 0.08, 0.12), STEEL)

    cams = "/World/Cameras"
    _xform(stage, cams, frame)
    for spec in PICK_CAMERAS:
        _camera(stage, f"{cams}/{spec.name}", frame, spec)
    viewer = CameraSpec(
        "ViewerCam", eye=(2.8, -2.4, 2.2), target=(0.0, 0.2, 0.9), up=(0, 0, 1), sensor=((1920, 1080), (36.0, 20.25)),
        focal_mm=28.0, f_stop=0.0, focus_m=4.0, exposure_s=0.01, clipping_m=(0.1, 50.0),
    )  # fmt: skip
    _camera(stage, "/World/ViewerCam", frame, viewer, sensor_api=False)
    return _write(layer, Path(path))


# ----------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------


def _write(layer: Sdf.Layer, path: Path) -> Path:
    """Write the layer as usda text atomically: a temp file in the same folder, then os.replace."""
    text = layer.ExportToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; the scenes ship with the package
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def build_all(out_dir: str | Path = HERE) -> list[Path]:
    """Regenerate the bundled stations into out_dir (the scenes folder by default)."""
    out = Path(out_dir)
    return [build_scan_tunnel(out / SCAN_TUNNEL_NAME), build_pick_station(out / PICK_STATION_NAME),
            build_six_sided_tunnel(out / SIX_SIDED_NAME)]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        print("usage: python scenes/build_scenes.py [OUT_DIR]", file=sys.stderr)
        return 2
    for path in build_all(args[0] if args else HERE):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
