"""An import plan -> separate USD layers, one kind of data each, written atomically.

- root (``station.usda``): stage metadata, the sublayers, and the prim tree only: specifiers, types, names,
  ``customData`` (source names), instanceable references to prototypes. No attribute values.
- geometry (``station.geometry.usdc``, binary): points, triangle topology, extents, ``subdivisionScheme``.
- materials (``station.materials.usda``): UsdPreviewSurface materials under ``<root>/Looks``, bindings and
  display colours.
- transforms (``station.transforms.usda``): ``xformOp:*`` and ``xformOpOrder``.
- joints (``station.joints.usda``, only when there are joints): UsdPhysics joints under ``<root>/Joints``.
The root lists them strongest first (joints, materials, transforms, geometry); each is an ``over`` of the
tree it adds data to, so a layer can be swapped or dropped without touching the others. Cameras and targets
go in yet another layer that sublayers the root (swb.stage.authoring), so the imported files are never edited.

Sdf is used directly (no stage): it writes exactly the specs meant for each layer and is fast on big meshes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Vt

from .tree import ImportPlan, MeshPlan

LAYER_KINDS = ("joints", "materials", "transforms", "geometry")  # strongest first
LAYER_SUFFIX = {"geometry": ".usdc", "materials": ".usda", "transforms": ".usda", "joints": ".usda"}
UP_AXIS_OP = "xformOp:rotateX:upAxis"
TRANSFORM_OP = "xformOp:transform"
T = Sdf.ValueTypeNames


@dataclass
class JointPlan:
    """One UsdPhysics joint: bodies, the joint frame in body0 (body1's origin at rest) and its limits."""

    path: Sdf.Path
    kind: str  # revolute | prismatic | fixed
    source_name: str
    body0: Sdf.Path | None
    body1: Sdf.Path
    local_pos0: tuple[float, float, float]
    local_rot0: tuple[float, float, float, float]  # quaternion w, x, y, z
    axis: str = "Z"
    limits: tuple[float, float] | None = None  # degrees (revolute) or stage units (prismatic)


def layer_paths(out: Path, with_joints: bool) -> dict[str, Path]:
    """File of each layer kind next to the root: station.usda -> station.geometry.usdc, ..."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    kinds = LAYER_KINDS if with_joints else LAYER_KINDS[1:]
    return {kind: out.with_name(f"{stem}.{kind}{LAYER_SUFFIX[kind]}") for kind in kinds}


def _new_layer(suffix: str, plan: ImportPlan, meters_per_unit: float, up_axis: str) -> Sdf.Layer:
    layer = Sdf.Layer.CreateAnonymous(suffix)
    layer.pseudoRoot.SetInfo("metersPerUnit", float(meters_per_unit))
    layer.pseudoRoot.SetInfo("upAxis", up_axis)
    layer.defaultPrim = plan.root.name
    _over(layer, Sdf.Path.absoluteRootPath.AppendChild(plan.root.name))  # so the default prim exists in every layer
    return layer


def _over(layer: Sdf.Layer, path: Sdf.Path) -> Sdf.PrimSpec:
    spec = layer.GetPrimAtPath(path)
    return spec if spec is not None else Sdf.CreatePrimInLayer(layer, path)


def _define(layer: Sdf.Layer, path: Sdf.Path, type_name: str, specifier: Sdf.Specifier = Sdf.SpecifierDef):
    spec = _over(layer, path)
    spec.specifier = specifier
    if type_name:
        spec.typeName = type_name
    return spec


def _attr(spec: Sdf.PrimSpec, name: str, type_name: Sdf.ValueTypeName, value, uniform: bool = False):
    attr = Sdf.AttributeSpec(spec, name, type_name, Sdf.VariabilityUniform if uniform else Sdf.VariabilityVarying)
    if value is not None:
        attr.default = value
    return attr


def _custom(spec: Sdf.PrimSpec, data: dict[str, str]) -> None:
    """customData keys like ``swb:sourceName`` are key paths: nested dictionaries, as Usd reads them."""
    nested: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        outer, _, inner = key.partition(":")
        nested.setdefault(outer, {})[inner] = value
    spec.customData = nested


def _gf(matrix: np.ndarray) -> Gf.Matrix4d:
    """Column-vector numpy -> row-vector Gf."""
    return Gf.Matrix4d(np.asarray(matrix, dtype=np.float64).T.tolist())


def root_layer(plan: ImportPlan, sublayers: list[str], meters_per_unit: float, up_axis: str,
               info: dict) -> Sdf.Layer:
    layer = _new_layer(".usda", plan, meters_per_unit, up_axis)
    layer.customLayerData = {"swb:import": info}
    layer.subLayerPaths = sublayers
    for prim in plan.prims:
        spec = _define(layer, prim.path, prim.type_name, prim.specifier)
        if prim.custom:
            _custom(spec, prim.custom)
        if prim.instance_of is not None:
            spec.referenceList.Prepend(Sdf.Reference("", prim.instance_of))
            spec.instanceable = True
    return layer


def geometry_layer(plan: ImportPlan, meters_per_unit: float, up_axis: str) -> Sdf.Layer:
    layer = _new_layer(".usdc", plan, meters_per_unit, up_axis)
    for prim in plan.prims:
        if prim.mesh is None:
            continue
        mesh = plan.meshes[prim.mesh]
        spec = _over(layer, prim.path)
        _attr(spec, "points", T.Point3fArray, Vt.Vec3fArray.FromNumpy(mesh.points))
        _attr(spec, "faceVertexCounts", T.IntArray,
              Vt.IntArray.FromNumpy(np.full(len(mesh.triangles), 3, dtype=np.int32)))
        _attr(spec, "faceVertexIndices", T.IntArray, Vt.IntArray.FromNumpy(mesh.triangles.reshape(-1)))
        lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
        _attr(spec, "extent", T.Float3Array, Vt.Vec3fArray([Gf.Vec3f(*map(float, lo)), Gf.Vec3f(*map(float, hi))]))
        _attr(spec, "subdivisionScheme", T.Token, "none", uniform=True)
    return layer


def transforms_layer(plan: ImportPlan, meters_per_unit: float, up_axis: str) -> Sdf.Layer:
    layer = _new_layer(".usda", plan, meters_per_unit, up_axis)
    if plan.up_rotation_deg:
        spec = _over(layer, plan.model)
        _attr(spec, UP_AXIS_OP, T.Double, float(plan.up_rotation_deg))
        _attr(spec, "xformOpOrder", T.TokenArray, Vt.TokenArray([UP_AXIS_OP]), uniform=True)
    for prim in plan.prims:
        if prim.matrix is None:
            continue
        spec = _over(layer, prim.path)
        _attr(spec, TRANSFORM_OP, T.Matrix4d, _gf(prim.matrix))
        _attr(spec, "xformOpOrder", T.TokenArray, Vt.TokenArray([TRANSFORM_OP]), uniform=True)
    return layer


def _display_colors(spec: Sdf.PrimSpec, mesh: MeshPlan, fallback: tuple[float, float, float] | None) -> None:
    color, interp = mesh.display_color, mesh.color_interpolation
    if color is None and fallback is not None:
        color, interp = np.asarray(fallback, dtype=np.float32), "constant"
    if color is None:
        return
    values = np.asarray(color, dtype=np.float32).reshape(-1, 3)
    attr = _attr(spec, "primvars:displayColor", T.Color3fArray, Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(values)))
    attr.SetInfo("interpolation", interp)
    if mesh.display_opacity is not None:
        opacity = np.asarray(mesh.display_opacity, dtype=np.float32).reshape(-1)
        attr = _attr(spec, "primvars:displayOpacity", T.FloatArray, Vt.FloatArray.FromNumpy(opacity))
        attr.SetInfo("interpolation", interp)


def materials_layer(plan: ImportPlan, meters_per_unit: float, up_axis: str) -> Sdf.Layer:
    layer = _new_layer(".usda", plan, meters_per_unit, up_axis)
    if plan.materials:
        _define(layer, plan.looks, "Scope")
    for path, mat in plan.materials.items():
        spec = _define(layer, path, "Material")
        _custom(spec, {"swb:sourceName": mat.source_name})
        shader_path = path.AppendChild("PreviewSurface")
        shader = _define(layer, shader_path, "Shader")
        _attr(shader, "info:id", T.Token, "UsdPreviewSurface", uniform=True)
        _attr(shader, "inputs:diffuseColor", T.Color3f, Gf.Vec3f(*mat.diffuse))
        _attr(shader, "inputs:opacity", T.Float, float(mat.opacity))
        if mat.metallic is not None:
            _attr(shader, "inputs:metallic", T.Float, float(mat.metallic))
        if mat.roughness is not None:
            _attr(shader, "inputs:roughness", T.Float, float(mat.roughness))
        if mat.emissive is not None:
            _attr(shader, "inputs:emissiveColor", T.Color3f, Gf.Vec3f(*mat.emissive))
        _attr(shader, "outputs:surface", T.Token, None)
        out = _attr(spec, "outputs:surface", T.Token, None)
        out.connectionPathList.Prepend(shader_path.AppendProperty("outputs:surface"))
    for prim in plan.prims:
        if prim.mesh is None:
            continue
        mesh = plan.meshes[prim.mesh]
        mat = plan.materials.get(mesh.material) if mesh.material is not None else None
        if mat is None and mesh.display_color is None:
            continue
        spec = _over(layer, prim.path)
        if mat is not None:
            spec.SetInfo("apiSchemas", Sdf.TokenListOp.Create(prependedItems=["MaterialBindingAPI"]))
            rel = Sdf.RelationshipSpec(spec, "material:binding", custom=False)
            rel.targetPathList.Prepend(mat.path)
        _display_colors(spec, mesh, mat.diffuse if mat is not None else None)
    return layer


_JOINT_TYPES = {"revolute": "PhysicsRevoluteJoint", "prismatic": "PhysicsPrismaticJoint", "fixed": "PhysicsFixedJoint"}


def joints_layer(plan: ImportPlan, joints: list[JointPlan], meters_per_unit: float, up_axis: str) -> Sdf.Layer:
    layer = _new_layer(".usda", plan, meters_per_unit, up_axis)
    _define(layer, plan.root.AppendChild("Joints"), "Scope")
    for joint in joints:
        spec = _define(layer, joint.path, _JOINT_TYPES[joint.kind])
        _custom(spec, {"swb:sourceName": joint.source_name})
        if joint.body0 is not None:
            Sdf.RelationshipSpec(spec, "physics:body0", custom=False).targetPathList.Prepend(joint.body0)
        Sdf.RelationshipSpec(spec, "physics:body1", custom=False).targetPathList.Prepend(joint.body1)
        _attr(spec, "physics:localPos0", T.Point3f, Gf.Vec3f(*joint.local_pos0))
        _attr(spec, "physics:localRot0", T.Quatf, Gf.Quatf(joint.local_rot0[0], *joint.local_rot0[1:]))
        _attr(spec, "physics:localPos1", T.Point3f, Gf.Vec3f(0.0, 0.0, 0.0))
        _attr(spec, "physics:localRot1", T.Quatf, Gf.Quatf(1.0, 0.0, 0.0, 0.0))
        if joint.kind != "fixed":
            _attr(spec, "physics:axis", T.Token, joint.axis, uniform=True)
            if joint.limits is not None:
                _attr(spec, "physics:lowerLimit", T.Float, float(joint.limits[0]))
                _attr(spec, "physics:upperLimit", T.Float, float(joint.limits[1]))
    return layer


def build_layers(plan: ImportPlan, out: Path, joints: list[JointPlan], meters_per_unit: float, up_axis: str,
                 info: dict) -> list[tuple[Sdf.Layer, Path]]:
    """(layer, destination) pairs, sublayers first and the root last (the order they are renamed in)."""
    files = layer_paths(out, bool(joints))
    built = {
        "geometry": geometry_layer(plan, meters_per_unit, up_axis),
        "materials": materials_layer(plan, meters_per_unit, up_axis),
        "transforms": transforms_layer(plan, meters_per_unit, up_axis),
    }
    if joints:
        built["joints"] = joints_layer(plan, joints, meters_per_unit, up_axis)
    sublayers = [f"./{files[kind].name}" for kind in LAYER_KINDS if kind in files]
    pairs = [(built[kind], files[kind]) for kind in reversed(LAYER_KINDS) if kind in files]
    pairs.append((root_layer(plan, sublayers, meters_per_unit, up_axis, info), out))
    return pairs
