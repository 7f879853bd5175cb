"""CAD and mesh files -> an import plan: the part tree as USD prims, meshes, materials, in stage units.

Reading goes through trimesh (glTF/GLB, OBJ, STL, PLY, OFF, 3MF, ... whatever ``trimesh.available_formats()``
lists); STEP and IGES go through cascadio (OpenCASCADE) to GLB first, with materials, then trimesh. The plan
keeps trimesh's scene graph as it is: one prim per node, each node's own transform, names made valid USD
identifiers (the original kept in customData ``swb:sourceName``). Only two things change, and the plan says so:
- units: points and translations are scaled by ``source metres per unit / stage metres per unit``
  (conjugating every matrix by a uniform scale keeps non-uniform and sheared transforms exact);
- up axis: the model prim carries one ``xformOp:rotateX:upAxis`` op (+90 turns a Y-up source into a Z-up
  stage), so every part's own transform stays the source's.
Geometry used by several nodes (same trimesh geometry, or identical vertices, faces and look) becomes one
prototype under ``<root>/Prototypes`` (a class prim) that instanceable prims reference.

Source conventions, as read: STEP/IGES come out of cascadio in metres with the CAD frame kept (Z up);
glTF is metres and Y up by its spec; other formats carry no units (trimesh's ``scene.units`` when it knows
them, else metres, recorded as assumed) and are taken as Z up, except OBJ (Y up, the exporters' habit).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh
from pxr import Sdf, Tf

from ..errors import SwbError

CASCADE_FORMATS = {"step": "step", "stp": "step", "iges": "iges", "igs": "iges"}
Y_UP_FORMATS = ("gltf", "glb", "obj")
RESERVED_ROOT_CHILDREN = ("Prototypes", "Looks", "Joints", "Cameras", "Targets")
SOURCE_NAME = "swb:sourceName"
SOURCE_GEOMETRY = "swb:sourceGeometry"
MESH_CHILD = "mesh"


def supported_formats() -> list[str]:
    """File suffixes (without the dot) the importer reads."""
    return sorted(set(trimesh.available_formats()) | set(CASCADE_FORMATS))


def units_to_meters(units: str, *, file: str | None = None) -> float:
    """Metres per source unit for a unit name trimesh knows (mm, cm, m, in, ft, millimeters, ...)."""
    try:
        return float(trimesh.units.to_inch(units.strip().lower())) * 0.0254
    except (ValueError, KeyError, AttributeError):
        raise SwbError(f"unknown unit {units!r}", file=file, hint="use mm, cm, m, in or ft") from None


@dataclass
class SourceModel:
    """A loaded model and what is known about its units and axes (``*_assumed``: not stated by the file)."""

    path: Path
    format: str
    scene: trimesh.Scene
    meters_per_unit: float
    units_assumed: bool
    up_axis: str
    up_axis_assumed: bool
    notes: list[str] = field(default_factory=list)


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for fmt in sorted(supported_formats(), key=len, reverse=True):  # "tar.gz" before "gz"
        if name.endswith("." + fmt):
            return fmt
    raise SwbError(
        f"unsupported model format {path.suffix or '(no suffix)'}",
        file=str(path),
        hint=f"give one of {', '.join('.' + f for f in supported_formats())}",
    )


def _glb_extras(data: bytes) -> dict:
    """The JSON chunk of a GLB (for skins and animations trimesh does not read)."""
    import json
    import struct

    if len(data) < 20 or data[:4] != b"glTF":
        return {}
    length = struct.unpack("<I", data[12:16])[0]
    try:
        return json.loads(data[20 : 20 + length])
    except ValueError:
        return {}


def load_source(
    path: str | Path,
    *,
    source_units: str | None = None,
    source_up_axis: str | None = None,
    tolerance: float | None = None,
    angular_tolerance: float | None = None,
) -> SourceModel:
    """Read a model file into a trimesh Scene; SwbError naming the file when it cannot be read.

    ``tolerance`` / ``angular_tolerance`` (radians) are OpenCASCADE's linear and angular deflection for
    meshing STEP/IGES (cascadio's defaults when None; the linear one is in the CAD file's units).
    """
    path = Path(path)
    if not path.exists():
        raise SwbError("no such file", file=str(path), hint="check the path")
    if path.is_dir():
        raise SwbError("is a folder, not a model file", file=str(path))
    fmt = _format_of(path)
    notes: list[str] = []
    if path.stat().st_size == 0:
        raise SwbError("the file is empty", file=str(path))
    data = path.read_bytes() if fmt in CASCADE_FORMATS or fmt in ("gltf", "glb") else b""
    try:
        if fmt in CASCADE_FORMATS:
            scene = _load_cascade(data, CASCADE_FORMATS[fmt], tolerance, angular_tolerance)
        else:  # from the path, so .mtl files, .bin buffers and textures next to it are found
            scene = trimesh.load_scene(str(path), file_type=fmt)
    except SwbError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a user-facing "cannot read"
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise SwbError(f"cannot be read as {fmt.upper()}: {text}", file=str(path),
                       hint="is the file complete and of the type its suffix says?") from None
    if fmt == "glb":
        doc = _glb_extras(data)
    elif fmt == "gltf":
        import json

        try:
            doc = json.loads(data)
        except ValueError:
            doc = {}
    else:
        doc = {}
    for key in ("skins", "animations"):
        if doc.get(key):
            notes.append(f"{len(doc[key])} glTF {key} not imported (trimesh does not read them); "
                         "describe the joints in a hint file (--joints) instead")

    if source_units is not None:
        mpu, units_assumed = units_to_meters(source_units, file=str(path)), False
    elif fmt in CASCADE_FORMATS or fmt in ("gltf", "glb"):
        mpu, units_assumed = 1.0, False  # OpenCASCADE converts to metres; glTF is metres by spec
    elif scene.units:
        mpu, units_assumed = units_to_meters(scene.units, file=str(path)), False
    else:
        mpu, units_assumed = 1.0, True
        notes.append(f"{fmt.upper()} carries no units: taken as metres (give --source-units mm if it is in mm)")

    if source_up_axis is not None:
        axis = source_up_axis.upper()
        if axis not in ("Y", "Z"):
            raise SwbError(f"up axis must be Y or Z, got {source_up_axis!r}", file=str(path))
        axis_assumed = False
    elif fmt in ("gltf", "glb"):
        axis, axis_assumed = "Y", False
    elif fmt in CASCADE_FORMATS:
        axis, axis_assumed = "Z", False
    else:
        axis, axis_assumed = ("Y" if fmt in Y_UP_FORMATS else "Z"), True
    return SourceModel(path, fmt, scene, mpu, units_assumed, axis, axis_assumed, notes)


def _load_cascade(data: bytes, kind: str, tolerance: float | None, angular: float | None) -> trimesh.Scene:
    try:
        import cascadio
    except ImportError:
        raise SwbError("reading STEP/IGES needs cascadio", hint="pip install cascadio (or swb[import])") from None
    kwargs: dict = {"file_type": kind, "include_materials": True}
    if tolerance is not None:
        kwargs["tol_linear"] = float(tolerance)
    if angular is not None:
        kwargs["tol_angular"] = float(angular)
    glb = cascadio.load(data, **kwargs)
    if not glb:
        raise ValueError("OpenCASCADE produced no geometry")
    return trimesh.load_scene(io.BytesIO(glb), file_type="glb")


# --- the plan ---------------------------------------------------------------------------------------


@dataclass
class MaterialPlan:
    """A UsdPreviewSurface material from a source material (colours linear RGB in 0..1)."""

    path: Sdf.Path
    source_name: str
    diffuse: tuple[float, float, float]
    opacity: float = 1.0
    metallic: float | None = None
    roughness: float | None = None
    emissive: tuple[float, float, float] | None = None


@dataclass
class MeshPlan:
    """Triangles of one geometry (points already in stage units) and how it looks."""

    source_name: str
    points: np.ndarray  # (n, 3) float32
    triangles: np.ndarray  # (m, 3) int32
    material: Sdf.Path | None = None
    display_color: np.ndarray | None = None  # (3,), (m, 3) or (n, 3) float32
    display_opacity: np.ndarray | None = None  # (), (m,) or (n,) float32
    color_interpolation: str = "constant"  # constant | uniform | vertex


@dataclass
class PrimPlan:
    """One prim of the tree: type, names, its local transform and what it holds."""

    path: Sdf.Path
    type_name: str  # Xform | Mesh
    custom: dict[str, str] = field(default_factory=dict)
    matrix: np.ndarray | None = None  # local, column-vector, stage units; None: no transform op
    mesh: str | None = None  # key in ImportPlan.meshes when this prim is a Mesh with data
    instance_of: Sdf.Path | None = None  # prototype referenced by an instanceable prim
    specifier: Sdf.Specifier = Sdf.SpecifierDef


@dataclass
class ImportPlan:
    root: Sdf.Path
    model: Sdf.Path
    prototypes: Sdf.Path
    looks: Sdf.Path
    prims: list[PrimPlan]  # parents before children
    meshes: dict[str, MeshPlan]
    materials: dict[Sdf.Path, MaterialPlan]
    up_rotation_deg: float  # rotateX on the model prim (0: none)
    scale: float  # source units -> stage units
    node_paths: dict[str, Sdf.Path]  # trimesh node name -> prim path
    geometry_paths: dict[str, Sdf.Path]  # trimesh node name -> the Mesh prim (or instance) holding its triangles

    @property
    def triangle_count(self) -> int:
        """Triangles of the expanded stage (each instance counted)."""
        counts = {key: len(m.triangles) for key, m in self.meshes.items()}
        proto_mesh = {p.path.GetParentPath(): p.mesh for p in self.prims
                      if p.mesh is not None and p.path.HasPrefix(self.prototypes)}
        total = 0
        for prim in self.prims:
            if prim.mesh is not None and not prim.path.HasPrefix(self.prototypes):
                total += counts[prim.mesh]
            elif prim.instance_of is not None:
                total += counts[proto_mesh[prim.instance_of]]
        return total


def make_identifier(name: str) -> str:
    """A valid USD prim name for ``name`` (a leading digit gets an underscore instead of being replaced)."""
    text = str(name)
    if text[:1].isdigit():
        text = "_" + text
    return Tf.MakeValidIdentifier(text) if text else "_"


class _Names:
    """Sibling de-duplication: the first ``bolt`` stays ``bolt``, then ``bolt_1``, ``bolt_2``, ..."""

    def __init__(self, taken: tuple[str, ...] = ()) -> None:
        self._taken: dict[Sdf.Path, set[str]] = {}
        self._reserved = set(taken)

    def take(self, parent: Sdf.Path, name: str, reserve: bool = False) -> str:
        used = self._taken.setdefault(parent, set(self._reserved) if reserve else set())
        base = make_identifier(name)
        candidate, i = base, 0
        while candidate in used:
            i += 1
            candidate = f"{base}_{i}"
        used.add(candidate)
        return candidate


def _check_matrix(matrix: np.ndarray, node: str, file: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise SwbError("the part's transform is not finite", file=file, prim=node, hint="fix it in the CAD tool")
    lin = m[:3, :3]
    scale = float(np.max(np.abs(lin)))
    if scale == 0.0 or abs(float(np.linalg.det(lin))) <= 1e-12 * scale**3:
        raise SwbError("the part's transform is singular (a zero scale?)", file=file, prim=node,
                       hint="fix the part's scale in the CAD tool")
    if not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0)):
        raise SwbError("the part's transform is projective, not affine", file=file, prim=node)
    return m


def _rgba01(color: object) -> np.ndarray | None:
    if color is None:
        return None
    c = np.asarray(color, dtype=np.float64).reshape(-1)
    if c.size < 3:
        return None
    if c.dtype.kind in "ui" or np.max(c) > 1.0:
        c = c / 255.0
    return np.concatenate([c[:3], c[3:4] if c.size > 3 else [1.0]])


def _material_look(material: object) -> dict | None:
    """Colour, opacity, metallic, roughness and emission of a trimesh material (None: nothing usable)."""
    from trimesh.visual.material import PBRMaterial, SimpleMaterial

    if isinstance(material, PBRMaterial):
        base = _rgba01(material.baseColorFactor)
        if base is None:
            base = _rgba01(material.main_color)
        emissive = _rgba01(material.emissiveFactor)
        return {
            "diffuse": tuple(float(v) for v in base[:3]),
            "opacity": float(base[3]),
            "metallic": None if material.metallicFactor is None else float(material.metallicFactor),
            "roughness": None if material.roughnessFactor is None else float(material.roughnessFactor),
            "emissive": None if emissive is None or not np.any(emissive[:3]) else tuple(float(v) for v in emissive[:3]),
        }
    if isinstance(material, SimpleMaterial):
        diffuse = _rgba01(material.diffuse)
        if diffuse is None:
            return None
        return {"diffuse": tuple(float(v) for v in diffuse[:3]), "opacity": float(diffuse[3]),
                "metallic": None, "roughness": None, "emissive": None}
    return None


@dataclass
class _Look:
    material_key: tuple | None = None
    material_name: str = ""
    material: dict | None = None
    color: np.ndarray | None = None
    interpolation: str = "constant"


def _look(mesh: trimesh.Trimesh) -> _Look:
    visual = mesh.visual
    kind = getattr(visual, "kind", None)
    if isinstance(visual, trimesh.visual.TextureVisuals):
        mat = _material_look(visual.material)
        if mat is None:
            return _Look()
        key = tuple(sorted((k, v) for k, v in mat.items()))
        name = getattr(visual.material, "name", None) or "Material"
        rgba = np.array([*mat["diffuse"], mat["opacity"]], dtype=np.float32)
        return _Look(key, str(name), mat, rgba, "constant")
    if isinstance(visual, trimesh.visual.ColorVisuals) and kind in ("face", "vertex"):
        colors = np.asarray(visual.face_colors if kind == "face" else visual.vertex_colors, dtype=np.float32) / 255.0
        if len(colors) and np.all(colors == colors[0]):
            return _Look(color=colors[0], interpolation="constant")
        return _Look(color=colors, interpolation="uniform" if kind == "face" else "vertex")
    return _Look()


def _geometry_key(mesh: trimesh.Trimesh, look: _Look) -> str:
    h = hashlib.sha1()
    vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
    for arr in (vertices, np.ascontiguousarray(mesh.faces, dtype=np.int64)):
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    h.update(repr(look.material_key).encode())
    if look.color is not None:
        h.update(np.ascontiguousarray(look.color).tobytes())
    return h.hexdigest()


def _check_mesh(geom: object, geom_name: str, node: str, file: str) -> trimesh.Trimesh:
    where = f"{node} (geometry {geom_name!r})"
    if not isinstance(geom, trimesh.Trimesh):
        raise SwbError(f"the part is a {type(geom).__name__}, not a triangle mesh", file=file, prim=where,
                       hint="export surfaces (a mesh), not points or curves")
    if len(geom.faces) == 0:
        raise SwbError("the part has no triangles", file=file, prim=where,
                       hint="remove the empty part or export it with its surfaces")
    if not np.all(np.isfinite(geom.vertices)):
        raise SwbError("the part has non-finite vertices (NaN or infinity)", file=file, prim=where)
    return geom


def _walk(graph: trimesh.scene.transforms.SceneGraph) -> Iterator[tuple[str, str]]:
    """(parent, child) edges of the scene graph, depth first from the base frame, in source order."""
    children = graph.transforms.children
    stack = [(graph.base_frame, c) for c in reversed(children.get(graph.base_frame, []))]
    while stack:
        parent, node = stack.pop()
        yield parent, node
        stack.extend((node, c) for c in reversed(children.get(node, [])))


def build_plan(
    source: SourceModel,
    *,
    meters_per_unit: float = 1.0,
    up_axis: str = "Z",
    root_name: str = "World",
    model_name: str | None = None,
) -> ImportPlan:
    """The whole stage as plain data; SwbError naming the file and part for anything unusable."""
    file = str(source.path)
    scene, graph = source.scene, source.scene.graph
    if not scene.geometry or not graph.nodes_geometry:
        raise SwbError("the model holds no geometry", file=file, hint="is it an empty assembly?")
    scale = source.meters_per_unit / meters_per_unit
    up_rotation = 0.0 if source.up_axis == up_axis else (90.0 if source.up_axis == "Y" else -90.0)

    names = _Names()
    root = Sdf.Path.absoluteRootPath.AppendChild(make_identifier(root_name))
    model = root.AppendChild(names.take(root, model_name or source.path.stem.split(".")[0], reserve=True))
    prototypes, looks = root.AppendChild("Prototypes"), root.AppendChild("Looks")
    base = graph.base_frame
    prims = [PrimPlan(root, "Xform"),
             PrimPlan(model, "Xform", {SOURCE_NAME: str(base), "swb:sourceFile": source.path.name})]
    node_paths: dict[str, Sdf.Path] = {base: model}
    geometry_paths: dict[str, Sdf.Path] = {}
    edges = list(_walk(graph))

    # Which nodes share geometry: by trimesh geometry name, then by identical content and look.
    looks_of: dict[str, _Look] = {}
    key_of: dict[str, str] = {}
    users: dict[str, int] = {}
    for _, node in edges:
        gname = graph.transforms.node_data.get(node, {}).get("geometry")
        if gname is None:
            continue
        if gname not in scene.geometry:
            raise SwbError(f"the part refers to geometry {gname!r} that the file does not hold", file=file,
                           prim=str(node))
        mesh = _check_mesh(scene.geometry[gname], str(gname), str(node), file)
        if gname not in key_of:
            looks_of[gname] = _look(mesh)
            key_of[gname] = _geometry_key(mesh, looks_of[gname])
        users[key_of[gname]] = users.get(key_of[gname], 0) + 1

    meshes: dict[str, MeshPlan] = {}
    materials: dict[Sdf.Path, MaterialPlan] = {}
    material_by_key: dict[tuple, Sdf.Path] = {}
    proto_of: dict[str, Sdf.Path] = {}
    proto_prims: list[PrimPlan] = []

    def mesh_plan(gname: str) -> str:
        key = key_of[gname]
        if key in meshes:
            return key
        mesh = scene.geometry[gname]
        look = looks_of[gname]
        mat_path = None
        if look.material is not None:
            mat_path = material_by_key.get(look.material_key)
            if mat_path is None:
                mat_path = looks.AppendChild(names.take(looks, look.material_name))
                material_by_key[look.material_key] = mat_path
                materials[mat_path] = MaterialPlan(mat_path, look.material_name, **look.material)
        color = opacity = None
        if look.color is not None:
            color = np.ascontiguousarray(look.color[..., :3], dtype=np.float32)
            opacity = np.ascontiguousarray(look.color[..., 3], dtype=np.float32)
            if np.all(opacity == 1.0):
                opacity = None
        meshes[key] = MeshPlan(
            source_name=str(gname),
            points=np.ascontiguousarray(np.asarray(mesh.vertices, dtype=np.float64) * scale, dtype=np.float32),
            triangles=np.ascontiguousarray(mesh.faces, dtype=np.int32),
            material=mat_path,
            display_color=color,
            display_opacity=opacity,
            color_interpolation=look.interpolation,
        )
        return key

    def prototype(gname: str) -> Sdf.Path:
        key = key_of[gname]
        if key not in proto_of:
            if not proto_prims:
                proto_prims.append(PrimPlan(prototypes, "", specifier=Sdf.SpecifierClass))
            path = prototypes.AppendChild(names.take(prototypes, str(gname)))
            proto_of[key] = path
            proto_prims.append(PrimPlan(path, "Xform"))  # no customData: instances would compose it
            proto_prims.append(PrimPlan(path.AppendChild(MESH_CHILD), "Mesh", {SOURCE_GEOMETRY: str(gname)},
                                        mesh=mesh_plan(gname)))
        return proto_of[key]

    children = graph.transforms.children
    for parent, node in edges:
        parent_path = node_paths[parent]
        path = parent_path.AppendChild(names.take(parent_path, str(node)))
        node_paths[node] = path
        edge = graph.transforms.edge_data.get((parent, node), {})
        matrix = _check_matrix(edge.get("matrix", np.eye(4)), str(node), file).copy()
        matrix[:3, 3] *= scale
        gname = graph.transforms.node_data.get(node, {}).get("geometry")
        custom = {SOURCE_NAME: str(node)}
        if gname is None:
            prims.append(PrimPlan(path, "Xform", custom, matrix))
            continue
        shared = users[key_of[gname]] > 1
        has_children = bool(children.get(node))
        if not has_children:
            if shared:
                prims.append(PrimPlan(path, "Xform", custom, matrix, instance_of=prototype(gname)))
            else:
                custom[SOURCE_GEOMETRY] = str(gname)
                prims.append(PrimPlan(path, "Mesh", custom, matrix, mesh=mesh_plan(gname)))
            geometry_paths[node] = path
            continue
        prims.append(PrimPlan(path, "Xform", custom, matrix))
        holder = path.AppendChild(names.take(path, MESH_CHILD))
        geo_custom = {SOURCE_GEOMETRY: str(gname)}
        if shared:
            prims.append(PrimPlan(holder, "Xform", geo_custom, instance_of=prototype(gname)))
        else:
            prims.append(PrimPlan(holder, "Mesh", geo_custom, mesh=mesh_plan(gname)))
        geometry_paths[node] = holder

    return ImportPlan(root, model, prototypes, looks, prims + proto_prims, meshes, materials, up_rotation, scale,
                      node_paths, geometry_paths)
