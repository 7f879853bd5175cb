"""Scene model -> USD stage: write a station that exists only as ``swb.engine.model`` objects (a generated station,
an edited copy) as a stage that SWB and any USD tool can open.

The stage holds what the loader reads back: every part as a ``UsdGeom.Mesh`` (points in the part's own frame under
its transform; a part that has other parts below it becomes an ``Xform`` with its triangles in a child Mesh named
``Shape``, because USD allows no gprim below another, so that part reads back as ``<path>/Shape``), sensor
cameras (``UsdGeom.Camera`` + ``SwbSensorAPI``, optics in tenths of a scene unit), barcode targets (``Xform`` +
``SwbBarcodeAPI``) and lights (``SphereLight`` + ``SwbLightAPI``), in the requested ``metersPerUnit`` and
``upAxis``. Loading the file gives the same scene up to float32 rounding of what USD stores
as float. Everything is authored with the Sdf API inside one change block, so a station of a million triangles
and ten thousand labels is written in seconds; the file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Vt

from ..engine.model import CameraModel, LightModel, MeshPart, Scene, TargetModel
from ..errors import SwbError
from . import schema as S
from .layers import export_atomic
from .units import stage_to_world

_T = Sdf.ValueTypeNames
SHAPE_NAME = "Shape"  # the Mesh child of a part that has other parts below it


def _world_to_stage(mpu: float, up_axis: str) -> np.ndarray:
    """(4, 4) column-vector matrix: SWB world (metres, Z up) -> the stage's units and axes."""
    return np.linalg.inv(stage_to_world(mpu, up_axis))


def _rigid(rotation: np.ndarray, position: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = np.asarray(rotation, np.float64)
    m[:3, 3] = np.asarray(position, np.float64)
    return m


def _prim(layer: Sdf.Layer, path: str, type_name: str, what: str) -> Sdf.PrimSpec:
    if not Sdf.Path.IsValidPathString(path) or not Sdf.Path(path).IsAbsolutePath():
        raise SwbError(f"the {what} path {path!r} is not an absolute USD prim path", prim=path)
    existing = layer.GetPrimAtPath(path)
    if existing is not None and existing.specifier == Sdf.SpecifierDef:
        raise SwbError(f"the {what} shares its path with another entity of the scene", prim=path,
                       hint="give every camera, target, light and part its own path")
    spec = Sdf.CreatePrimInLayer(layer, Sdf.Path(path))
    spec.specifier = Sdf.SpecifierDef
    spec.typeName = type_name
    return spec


def _attr(spec: Sdf.PrimSpec, name: str, type_name: Sdf.ValueTypeName, value: object) -> None:
    attr = spec.attributes.get(name) or Sdf.AttributeSpec(spec, name, type_name)
    attr.default = value


def _apply(spec: Sdf.PrimSpec, api: str) -> None:
    spec.SetInfo("apiSchemas", Sdf.TokenListOp.Create(prependedItems=[api]))


class _Writer:
    """Authors prims with their stage-frame world matrices, local to the nearest authored ancestor."""

    def __init__(self, layer: Sdf.Layer, mpu: float, up_axis: str) -> None:
        self.layer, self.mpu = layer, mpu
        self.to_stage = _world_to_stage(mpu, up_axis)
        self.rot = self.to_stage[:3, :3] * mpu  # the pure rotation between the frames
        self.world: dict[str, np.ndarray] = {}  # stage-frame local-to-world of every authored prim

    def length(self, metres: float) -> float:
        return float(metres) / self.mpu

    def place(self, spec: Sdf.PrimSpec, world: np.ndarray) -> None:
        """Give ``spec`` the transform that puts it at ``world`` (stage frame, column-vector)."""
        path = Sdf.Path(spec.path)
        parent = next((self.world[str(p)] for p in path.GetParentPath().GetPrefixes()[::-1]
                       if str(p) in self.world), np.eye(4))
        local = np.linalg.solve(parent, world)
        _attr(spec, "xformOp:transform", _T.Matrix4d, Gf.Matrix4d(local.T.tolist()))
        _attr(spec, "xformOpOrder", _T.TokenArray, Vt.TokenArray(["xformOp:transform"]))
        self.world[str(path)] = world

    def rigid(self, rotation: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Stage-frame matrix of a rigid SI pose, without the unit scale (cameras, labels and lights stay rigid)."""
        m = np.eye(4)
        m[:3, :3] = self.rot @ np.asarray(rotation, np.float64)
        m[:3, 3] = self.to_stage[:3, :3] @ np.asarray(position, np.float64)
        return m

    def part(self, part: MeshPart, holds_parts: bool = False) -> None:
        if holds_parts:  # USD allows no gprim below a gprim: an Xform in its place, the triangles in a child Mesh
            holder = _prim(self.layer, part.path, "Xform", "part")
            self.place(holder, self.to_stage @ np.asarray(part.to_world, np.float64))
            spec = _prim(self.layer, f"{part.path}/{SHAPE_NAME}", "Mesh", "part")
        else:
            spec = _prim(self.layer, part.path, "Mesh", "part")
            self.place(spec, self.to_stage @ np.asarray(part.to_world, np.float64))
        points = np.ascontiguousarray(np.asarray(part.points, np.float32).reshape(-1, 3))
        tris = np.ascontiguousarray(np.asarray(part.triangles, np.int32).reshape(-1))
        _attr(spec, "points", _T.Point3fArray, Vt.Vec3fArray.FromNumpy(points))
        _attr(spec, "faceVertexCounts", _T.IntArray, Vt.IntArray.FromNumpy(np.full(len(tris) // 3, 3, np.int32)))
        _attr(spec, "faceVertexIndices", _T.IntArray, Vt.IntArray.FromNumpy(tris))

    def camera(self, cam: CameraModel) -> None:
        spec = _prim(self.layer, cam.path, "Camera", "camera")
        self.place(spec, self.rigid(cam.rotation, cam.position))
        tenths = 10.0 / self.mpu  # metres -> tenths of a scene unit
        _attr(spec, "projection", _T.Token, "perspective")
        _attr(spec, "focalLength", _T.Float, cam.focal_length * tenths)
        _attr(spec, "horizontalAperture", _T.Float, cam.aperture[0] * tenths)
        _attr(spec, "verticalAperture", _T.Float, cam.aperture[1] * tenths)
        _attr(spec, "horizontalApertureOffset", _T.Float, cam.aperture_offset[0] * tenths)
        _attr(spec, "verticalApertureOffset", _T.Float, cam.aperture_offset[1] * tenths)
        _attr(spec, "fStop", _T.Float, cam.f_number)
        _attr(spec, "focusDistance", _T.Float, self.length(cam.focus_distance))
        _attr(spec, "clippingRange", _T.Float2, Gf.Vec2f(self.length(cam.clipping[0]), self.length(cam.clipping[1])))
        _attr(spec, "exposure:time", _T.Float, cam.exposure)
        _apply(spec, S.SENSOR_API)
        _attr(spec, S.SENSOR_RESOLUTION, _T.Int2, Gf.Vec2i(int(cam.width), int(cam.height)))
        _attr(spec, S.SENSOR_FOCUS_MODE, _T.Token, cam.focus_mode)
        far = cam.focus_range[1]
        _attr(spec, S.SENSOR_FOCUS_RANGE, _T.Float2,
              Gf.Vec2f(self.length(cam.focus_range[0]), self.length(far) if math.isfinite(far) else 0.0))
        _attr(spec, S.SENSOR_DECODER_PROFILE, _T.Token, cam.decoder_profile)
        _attr(spec, S.SENSOR_MAX_TILT, _T.Float, cam.max_tilt_deg)
        _attr(spec, S.SENSOR_WAVELENGTH, _T.Float, cam.wavelength * 1e9)
        _attr(spec, S.SENSOR_MIN_EXPOSURE, _T.Float, cam.min_exposure)
        _attr(spec, S.SENSOR_MIN_READ_PROBABILITY, _T.Float, cam.min_read_probability)
        _attr(spec, S.SENSOR_FRAME_RATE, _T.Float, cam.frame_rate)

    def target(self, tgt: TargetModel) -> None:
        spec = _prim(self.layer, tgt.path, "Xform", "target")
        self.place(spec, self.rigid(tgt.rotation, tgt.position))
        _apply(spec, S.BARCODE_API)
        _attr(spec, S.BARCODE_SYMBOLOGY, _T.Token, tgt.symbology)
        _attr(spec, S.BARCODE_MODULE_SIZE, _T.Float, self.length(tgt.module_size))
        _attr(spec, S.BARCODE_MODULES, _T.Int2, Gf.Vec2i(int(tgt.modules[0]), int(tgt.modules[1])))
        if tgt.bar_height is not None:
            _attr(spec, S.BARCODE_BAR_HEIGHT, _T.Float, self.length(tgt.bar_height))
        if tgt.quiet_zone is not None:
            _attr(spec, S.BARCODE_QUIET_ZONE, _T.Float, float(tgt.quiet_zone))
        _attr(spec, S.BARCODE_PRINT_CONTRAST, _T.Float, tgt.print_contrast)
        velocity = self.to_stage[:3, :3] @ np.asarray(tgt.velocity, np.float64)
        if np.any(velocity):
            _attr(spec, S.BARCODE_VELOCITY, _T.Float3, Gf.Vec3f(*(float(v) for v in velocity)))
        if tgt.content:
            _attr(spec, S.BARCODE_CONTENT, _T.String, tgt.content)
        _attr(spec, S.BARCODE_REFLECTANCE, _T.Float, tgt.reflectance)
        _attr(spec, S.BARCODE_GLOSSY, _T.Bool, bool(tgt.glossy))
        _attr(spec, S.BARCODE_GLOSS_ANGLE, _T.Float, tgt.gloss_angle_deg)

    def light(self, light: LightModel) -> None:
        spec = _prim(self.layer, light.path, "SphereLight", "light")
        back = -np.asarray(light.direction, np.float64)
        back /= np.linalg.norm(back)
        helper = np.array([0.0, 0.0, 1.0]) if abs(back[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        x = np.cross(helper, back)
        x /= np.linalg.norm(x)
        self.place(spec, self.rigid(np.stack([x, np.cross(back, x), back], axis=1), light.position))
        _apply(spec, S.LIGHT_API)
        _attr(spec, S.LIGHT_INTENSITY, _T.Float, light.intensity)
        _attr(spec, S.LIGHT_BEAM_ANGLE, _T.Float, light.beam_angle_deg)


def _by_depth(items: Iterable, kind: str) -> list[tuple[int, str, object]]:
    return [(str(x.path).count("/"), kind, x) for x in items]


def scene_layer(scene: Scene, *, meters_per_unit: float = 1.0, up_axis: str = "Z") -> Sdf.Layer:
    """An anonymous layer holding ``scene`` as a stage in the given units and up axis (see the module docstring)."""
    if not (meters_per_unit > 0 and math.isfinite(meters_per_unit)):
        raise SwbError(f"metersPerUnit must be a positive number, got {meters_per_unit}")
    if up_axis not in ("Y", "Z"):
        raise SwbError(f"upAxis must be Y or Z, got {up_axis!r}")
    layer = Sdf.Layer.CreateAnonymous("scene.usda")
    layer.pseudoRoot.SetInfo("metersPerUnit", float(meters_per_unit))
    layer.pseudoRoot.SetInfo("upAxis", up_axis)
    writer = _Writer(layer, float(meters_per_unit), up_axis)
    items = (_by_depth(scene.parts, "part") + _by_depth(scene.cameras, "camera") + _by_depth(scene.targets, "target")
             + _by_depth(scene.lights, "light"))
    items.sort(key=lambda item: (item[0], item[1] != "part"))  # parents first; a part before a label on it
    part_paths = {str(p.path) for p in scene.parts}
    holders = {str(a) for p in scene.parts for a in Sdf.Path(str(p.path)).GetParentPath().GetPrefixes()
               if str(a) in part_paths}
    with Sdf.ChangeBlock():
        for _, kind, item in items:
            if kind == "part":
                writer.part(item, holds_parts=str(item.path) in holders)
            else:
                getattr(writer, kind)(item)
        _define_ancestors(layer)
    roots = list(layer.rootPrims)
    if roots:
        layer.defaultPrim = roots[0].name
    return layer


def _define_ancestors(layer: Sdf.Layer) -> None:
    """Ancestors created on the way to a prim are overs; make them Xforms so the stage shows them."""
    def visit(spec: Sdf.PrimSpec) -> None:
        if spec.specifier == Sdf.SpecifierOver:
            spec.specifier = Sdf.SpecifierDef
            spec.typeName = spec.typeName or "Xform"
        for child in spec.nameChildren:
            visit(child)

    for root in layer.rootPrims:
        visit(root)


def write_scene(scene: Scene, path: str | Path, *, meters_per_unit: float = 1.0, up_axis: str = "Z") -> Path:
    """Write ``scene`` as a USD stage at ``path`` (.usda, .usdc or .usd), atomically; returns the path."""
    out = Path(path)
    if out.suffix.lower() not in (".usd", ".usda", ".usdc"):
        raise SwbError("a stage needs a USD file name", file=str(out), hint="use e.g. station.usdc")
    export_atomic(scene_layer(scene, meters_per_unit=meters_per_unit, up_axis=up_axis), out)
    return out
