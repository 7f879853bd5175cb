"""USD stage -> swb.engine.model.Scene: one traversal that finds cameras, targets and occluders.

- Cameras: UsdGeom.Camera prims with SwbSensorAPI (plain cameras are viewer cameras and are skipped).
  Cameras are read whatever their visibility (hiding a camera only hides its gizmo).
- Targets: Xformables with SwbBarcodeAPI, unless invisible. A target prim never occludes (its own geometry,
  if it is a gprim, is the label); its children do.
- Occluders: visible gprims with purpose default or render (see load_geometry).
- Lights: visible UsdLux Sphere/Disk/RectLights, with or without SwbLightAPI (see lights.py). They never occlude.
- Instances are expanded (Usd.TraverseInstanceProxies); PointInstancers are expanded by load_geometry and
  their prototypes are not read in place.
Per-prim readers for incremental updates: read_camera, read_target, read_parts, read_instancer, and
read_subtree for a resynced subtree. They share one LoadContext; call ctx.clear() after editing the stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pxr import Sdf, Tf, Usd, UsdGeom

from ..engine.model import CameraModel, LightModel, MeshPart, Scene, TargetModel
from ..errors import SwbError
from . import schema as S
from .cameras import read_camera
from .geometry import VISIBLE_PURPOSES, gprim_part, prototype_roots, read_instancer, read_parts
from .lights import is_light, read_light
from .targets import read_target
from .units import LoadContext

__all__ = [
    "LoadContext",
    "SceneItems",
    "load_scene_from_stage",
    "load_stage",
    "read_camera",
    "read_instancer",
    "read_light",
    "read_parts",
    "read_subtree",
    "read_target",
]


@dataclass
class SceneItems:
    cameras: list[CameraModel] = field(default_factory=list)
    targets: list[TargetModel] = field(default_factory=list)
    parts: list[MeshPart] = field(default_factory=list)
    lights: list[LightModel] = field(default_factory=list)


def _initial_state(prim: Usd.Prim, ctx: LoadContext) -> tuple[bool, str]:
    """(hidden, purpose) inherited by ``prim`` from its ancestors."""
    parent = prim.GetParent()
    if not parent or parent.GetPath() == Sdf.Path.absoluteRootPath:
        return False, "default"
    img = UsdGeom.Imageable(parent)
    if not img:
        return False, "default"
    return img.ComputeVisibility(ctx.time) == UsdGeom.Tokens.invisible, str(img.ComputePurpose())


def read_subtree(root: Usd.Prim, ctx: LoadContext) -> SceneItems:
    """Cameras, targets and occluder parts at and below ``root`` (the pseudo-root for a whole stage).

    Gprims and targets below a PointInstancer's prototypes are only read through the instancer; a
    ``root`` inside a prototype is read as ordinary prims (re-read the instancer instead).
    """
    items = SceneItems()  # met in place
    instanced = SceneItems()  # expanded from PointInstancers
    state: dict[Sdf.Path, tuple[bool, str]] = {}
    start = _initial_state(root, ctx)
    protos: set[Sdf.Path] = set()
    it = iter(Usd.PrimRange(root, Usd.TraverseInstanceProxies()))
    for prim in it:
        path = prim.GetPath()
        hidden, purpose = state.get(path.GetParentPath(), start)
        img = UsdGeom.Imageable(prim)
        if img:
            if ctx.value(img.GetVisibilityAttr()) == UsdGeom.Tokens.invisible:
                hidden = True
            purpose_attr = img.GetPurposeAttr()
            if purpose_attr.HasAuthoredValue():
                purpose = str(ctx.value(purpose_attr))
        state[path] = (hidden, purpose)

        if prim.IsA(UsdGeom.PointInstancer):
            it.PruneChildren()
            protos.update(prototype_roots(prim))
            if not hidden and purpose in VISIBLE_PURPOSES:
                inst = read_instancer(prim, ctx)
                instanced.parts += inst.parts
                instanced.targets += inst.targets
        elif S.has_sensor_api(prim):
            items.cameras.append(read_camera(prim, ctx))
        elif S.has_barcode_api(prim):
            if not hidden:
                items.targets.append(read_target(prim, ctx))
        elif is_light(prim):  # SwbLightAPI or a plain UsdLux Sphere/Disk/RectLight (swb.stage.lights)
            if not hidden:
                items.lights.append(read_light(prim, ctx))
        elif not hidden and purpose in VISIBLE_PURPOSES and prim.IsA(UsdGeom.Gprim):
            part = gprim_part(prim, ctx)
            if part is not None:
                items.parts.append(part)

    if protos:  # prototypes placed outside their instancer were also met in place: drop those
        def placed(path: str) -> bool:
            return not any(p in protos for p in Sdf.Path(path).GetPrefixes())

        items.parts = [p for p in items.parts if placed(p.path)]
        items.targets = [t for t in items.targets if placed(t.path)]
        items.cameras = [c for c in items.cameras if placed(c.path)]
        items.lights = [lt for lt in items.lights if placed(lt.path)]
    items.parts += instanced.parts
    items.targets += instanced.targets
    return items


def load_scene_from_stage(stage: Usd.Stage, source: str | None = None, time: Usd.TimeCode | None = None) -> Scene:
    """The Scene of an open stage; SwbError when it has no sensor camera or no target."""
    file = source if source is not None else stage.GetRootLayer().identifier
    _check_composition(stage, file)
    ctx = LoadContext.for_stage(stage, file, time)
    items = read_subtree(stage.GetPseudoRoot(), ctx)
    if not items.cameras:
        raise SwbError(
            "the stage has no sensor camera",
            file=file,
            hint="apply SwbSensorAPI to a Camera prim (apiSchemas = [\"SwbSensorAPI\"]); "
            "cameras without it are treated as viewer cameras",
        )
    if not items.targets:
        raise SwbError(
            "the stage has no barcode target",
            file=file,
            hint="apply SwbBarcodeAPI to an Xform placed where the label is and author "
            "swb:barcode:moduleSize and swb:barcode:modules",
        )
    return Scene(
        source=file,
        cameras=items.cameras,
        targets=items.targets,
        parts=items.parts,
        meters_per_unit=ctx.meters_per_unit,
        up_axis=ctx.up_axis,
        lights=items.lights,
    )


def open_stage(path: str | Path) -> Usd.Stage:
    """Open a USD file; SwbError (one line) when it is missing or cannot be read."""
    S.register()
    p = Path(path)
    if not p.is_file():
        raise SwbError("file not found", file=str(path), hint="check the path")
    try:
        stage = Usd.Stage.Open(str(p))
    except Tf.ErrorException as exc:
        raise SwbError(f"cannot open the stage: {one_line(exc)}", file=str(path)) from None
    if stage is None:
        raise SwbError("cannot open the stage", file=str(path), hint="is it a USD file (.usd, .usda, .usdc)?")
    return stage


def load_stage(path: str | Path) -> tuple[Usd.Stage, Scene]:
    """Open a USD file and load its Scene."""
    stage = open_stage(path)
    return stage, load_scene_from_stage(stage, str(path))


_TF_MESSAGE = re.compile(r"Error in '[^']*' at line \d+ in file [^:]+ : '(.*?)'\s*(?:Error in|$)", re.S)


def one_line(exc: BaseException) -> str:
    """The first USD error message in an exception, on one line."""
    text = str(exc)
    match = _TF_MESSAGE.search(text)
    if match:
        text = match.group(1)
    return " ".join(text.split())


def _check_composition(stage: Usd.Stage, file: str) -> None:
    """Missing or unreadable referenced assets silently lose geometry: refuse them."""
    errors = stage.GetCompositionErrors()
    if not errors:
        return
    first = errors[0]
    site = getattr(first, "rootSite", None)
    prim = str(site.path) if site is not None and hasattr(site, "path") else None
    more = f" (and {len(errors) - 1} more composition errors)" if len(errors) > 1 else ""
    raise SwbError(
        f"composition error: {' '.join(str(first).split())}{more}",
        file=file,
        prim=prim,
        hint="fix or remove the broken reference, payload or sublayer",
    )
