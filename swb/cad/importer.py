"""``swb import``: a CAD or mesh model -> a layered USD station that SWB loads directly.

    result = import_model("station.step", "out/station.usda")            # metres, Z up
    add_camera(result.root_layer, "out/sensors.usda", "/World/Cameras/Top", ...)  # swb.stage.authoring

The part tree, names and transforms come from trimesh's scene graph (swb.cad.tree), the layers are written by
swb.cad.layers. Joints come from a kinematic hint file (JSON), because trimesh reads neither glTF skins nor
animations:

    {"joints": [{"name": "lift", "type": "prismatic", "parent": "frame", "child": "carriage",
                 "axis": "Z", "limits": [0, 400]}]}

``parent`` / ``child`` are source node names (or prim paths of the imported stage); ``parent`` may be null
(jointed to the world); ``axis`` is X, Y or Z of the joint frame, which is the child's frame at rest;
``limits`` are degrees for revolute joints and source units for prismatic ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf

from ..errors import SwbError
from ..stage.layers import export_layers_atomic
from .layers import JointPlan, build_layers, layer_paths
from .tree import ImportPlan, SourceModel, build_plan, load_source, make_identifier

USD_SUFFIXES = (".usda", ".usd", ".usdc")
JOINT_KINDS = ("revolute", "prismatic", "fixed")


@dataclass
class ImportResult:
    root_layer: Path
    layers: dict[str, Path]  # kind -> file (geometry, materials, transforms, joints)
    source: SourceModel
    plan: ImportPlan
    joints: list[JointPlan]

    @property
    def notes(self) -> list[str]:
        return self.source.notes

    @property
    def triangle_count(self) -> int:
        return self.plan.triangle_count


def import_model(
    source: str | Path,
    out: str | Path,
    *,
    meters_per_unit: float = 1.0,
    up_axis: str = "Z",
    source_units: str | None = None,
    source_up_axis: str | None = None,
    root_name: str = "World",
    model_name: str | None = None,
    joints: str | Path | None = None,
    tolerance: float | None = None,
    angular_tolerance: float | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Import ``source`` into the USD root layer ``out`` plus its sublayers; returns what was written.

    Everything is read and checked before anything is written; then all layers go to temporary files and
    are renamed, the root last. ``meters_per_unit`` and ``up_axis`` are the stage's (always authored).
    """
    source, out = Path(source), Path(out)
    if out.suffix.lower() not in USD_SUFFIXES:
        raise SwbError(f"the output must be a USD file, not {out.suffix or 'a name without suffix'}", file=str(out),
                       hint="e.g. -o station.usda")
    if not (isinstance(meters_per_unit, (int, float)) and math.isfinite(meters_per_unit) and meters_per_unit > 0):
        raise SwbError(f"metersPerUnit must be a positive number, got {meters_per_unit}", file=str(out),
                       attribute="metersPerUnit")
    up_axis = str(up_axis).upper()
    if up_axis not in ("Y", "Z"):
        raise SwbError(f"the stage up axis must be Y or Z, got {up_axis!r}", file=str(out), attribute="upAxis")
    if source.exists() and out.exists() and out.resolve() == source.resolve():
        raise SwbError("the output would overwrite the model", file=str(out), hint="choose another -o")

    model = load_source(source, source_units=source_units, source_up_axis=source_up_axis, tolerance=tolerance,
                        angular_tolerance=angular_tolerance)
    plan = build_plan(model, meters_per_unit=float(meters_per_unit), up_axis=up_axis, root_name=root_name,
                      model_name=model_name)
    joint_plans = read_joint_hints(Path(joints), plan) if joints is not None else []

    files = layer_paths(out, bool(joint_plans))
    if not overwrite:
        existing = [p for p in [out, *files.values()] if p.exists()]
        if existing:
            raise SwbError("already exists", file=str(existing[0]), hint="pass --force to replace the import")
    pairs = build_layers(plan, out, joint_plans, float(meters_per_unit), up_axis, _info(model, plan))
    export_layers_atomic(pairs)
    return ImportResult(out, files, model, plan, joint_plans)


def _info(model: SourceModel, plan: ImportPlan) -> dict:
    """What the root layer records about the import (customLayerData ``swb:import``)."""
    import trimesh

    info = {
        "sourceFile": model.path.name,
        "sourceFormat": model.format,
        "sourceMetersPerUnit": float(model.meters_per_unit),
        "sourceUnitsAssumed": bool(model.units_assumed),
        "sourceUpAxis": model.up_axis,
        "sourceUpAxisAssumed": bool(model.up_axis_assumed),
        "unitScale": float(plan.scale),
        "upAxisRotationX": float(plan.up_rotation_deg),
        "trimeshVersion": str(trimesh.__version__),
    }
    if model.format in ("step", "stp", "iges", "igs"):
        import cascadio

        info["cascadioVersion"] = str(getattr(cascadio, "__version__", "unknown"))
    if model.notes:
        info["notes"] = "\n".join(model.notes)
    return info


# --- kinematic hints -------------------------------------------------------------------------------


def _world_matrices(plan: ImportPlan) -> dict[Sdf.Path, np.ndarray]:
    """Each planned prim's transform relative to the root prim (column-vector, stage units)."""
    local = {p.path: (p.matrix if p.matrix is not None else np.eye(4)) for p in plan.prims}
    a = math.radians(plan.up_rotation_deg)
    model = np.eye(4)
    model[1:3, 1:3] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    world: dict[Sdf.Path, np.ndarray] = {plan.model: model}
    for prim in plan.prims:
        if prim.path == plan.model or not prim.path.HasPrefix(plan.model):
            continue
        world[prim.path] = world[prim.path.GetParentPath()] @ local[prim.path]
    return world


def _rotation_quat(m: np.ndarray) -> tuple[float, float, float, float]:
    """Nearest rotation of a 3x3 (polar decomposition) as a quaternion (w, x, y, z)."""
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    q = Gf.Matrix3d(r.T.tolist()).ExtractRotation().GetQuat()  # Gf is row-vector: pass the transpose
    return (float(q.GetReal()), *map(float, q.GetImaginary()))


def _body(entry: dict, key: str, plan: ImportPlan, by_path: dict[str, Sdf.Path], where: str, file: str,
          optional: bool = False) -> Sdf.Path | None:
    """The prim a joint's parent or child names (a source node name or a prim path)."""
    ref = entry.get(key)
    if ref is None and optional:
        return None
    found = plan.node_paths.get(str(ref)) or by_path.get(str(ref))
    if found is None:
        raise SwbError(f"{where}: {key} {ref!r} is not a part of the model", file=file,
                       hint="use the part's name in the source file or its prim path")
    return found


def read_joint_hints(path: Path, plan: ImportPlan) -> list[JointPlan]:
    """Joints from a JSON hint file; SwbError naming the file and the joint for anything wrong."""
    file = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SwbError("no such joint hint file", file=file) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SwbError(f"cannot be read as JSON: {exc}", file=file) from None
    entries = doc.get("joints") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise SwbError('expected {"joints": [...]}', file=file)
    by_path = {str(p): p for p in plan.node_paths.values()}
    world = _world_matrices(plan)
    joints_root = plan.root.AppendChild("Joints")
    used: set[str] = set()
    out: list[JointPlan] = []
    for i, entry in enumerate(entries):
        where = f"joint {i}"
        if not isinstance(entry, dict):
            raise SwbError(f"{where} is not an object", file=file)
        name = str(entry.get("name") or f"joint_{i}")
        where = f"joint {name!r}"
        kind = str(entry.get("type", "")).lower()
        if kind not in JOINT_KINDS:
            raise SwbError(f"{where}: type must be one of {', '.join(JOINT_KINDS)}, got {entry.get('type')!r}",
                           file=file)

        parent = _body(entry, "parent", plan, by_path, where, file, optional=True)
        child = _body(entry, "child", plan, by_path, where, file)
        axis = str(entry.get("axis", "Z")).upper()
        if axis not in ("X", "Y", "Z"):
            raise SwbError(f"{where}: axis must be X, Y or Z, got {entry.get('axis')!r}", file=file)
        limits = entry.get("limits")
        if limits is not None:
            try:
                lo, hi = (float(v) for v in limits)
            except (TypeError, ValueError):
                raise SwbError(f"{where}: limits must be [lower, upper] numbers", file=file) from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise SwbError(f"{where}: limits must be finite with lower <= upper, got {limits}", file=file)
            limits = (lo * plan.scale, hi * plan.scale) if kind == "prismatic" else (lo, hi)
        parent_world = world[parent] if parent is not None else np.eye(4)
        rel = np.linalg.inv(parent_world) @ world[child]
        ident = make_identifier(name)
        while ident in used:
            ident += "_"
        used.add(ident)
        out.append(JointPlan(
            path=joints_root.AppendChild(ident),
            kind=kind,
            source_name=name,
            body0=parent,
            body1=child,
            local_pos0=tuple(float(v) for v in rel[:3, 3]),
            local_rot0=_rotation_quat(rel[:3, :3]),
            axis=axis,
            limits=limits,
        ))
    return out
