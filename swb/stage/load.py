"""USD stage -> swb.engine.model.Scene: one traversal that finds cameras, targets and occluders.

- Cameras: UsdGeom.Camera prims with SwbSensorAPI (plain cameras are viewer cameras and are skipped).
  Cameras are read whatever their visibility (hiding a camera only hides its gizmo).
- Targets: Xformables with SwbBarcodeAPI, unless invisible. A target prim never occludes (its own geometry,
  if it is a gprim, is the label); its children do.
- Occluders: visible gprims with purpose default or render (see load_geometry).
- Lights: visible UsdLux Sphere/Disk/RectLights, with or without SwbLightAPI (see lights.py). They never occlude.
- Instances are expanded (Usd.TraverseInstanceProxies); PointInstancers are expanded by load_geometry and
  their prototypes are not read in place.
Applied APIs come from each prim's composed apiSchemas list, so USD's schema registry need not know SWB's schemas.
A prim that authors attributes of an SWB API (``swb:barcode:*``, ``swb:sensor:*``, ``swb:light:*``) without
having that API applied is not read as a camera, target or light: SWB warns once (SwbWarning) naming the prims and
the fix, because other USD tools would not see the API either. Unknown names in an applied API's namespace (a
typo such as ``swb:barcode:moduleSise``) are warned about too.

The traversal asks USD for each prim's type, applied APIs and authored property names once, reads visibility,
purpose and xformOpOrder only where they are authored, and hands the targets to ``read_targets`` in one batch.
Per-prim readers for incremental updates: read_camera, read_target, read_parts, read_instancer, and
read_subtree for a resynced subtree. They share one LoadContext; call ctx.clear() after editing the stage.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from time import process_time

from pxr import Sdf, Tf, Usd, UsdGeom

from ..engine.model import CameraModel, LightModel, MeshPart, Scene, TargetModel
from ..errors import SwbError, warn
from . import schema as S
from .cameras import read_camera
from .diagnostics import check_composition, open_quietly
from .geometry import VISIBLE_PURPOSES, gprim_part, prototype_roots, read_instancer, read_parts
from .lights import SUPPORTED as LIGHT_TYPES
from .lights import read_light
from .targets import read_target, read_targets
from .units import LoadContext, missing_xform_op

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


_EMPTY: frozenset[str] = frozenset()


@dataclass
class _Found:
    cameras: list[Usd.Prim] = field(default_factory=list)
    targets: list[Usd.Prim] = field(default_factory=list)
    target_names: list[list[str]] = field(default_factory=list)
    lights: list[Usd.Prim] = field(default_factory=list)
    gprims: list[Usd.Prim] = field(default_factory=list)
    instancers: list[Usd.Prim] = field(default_factory=list)
    protos: set[Sdf.Path] = field(default_factory=set)
    missing_api: dict[str, list[str]] = field(default_factory=dict)  # API -> prims authoring its attributes
    unknown: list[tuple[str, str, str]] = field(default_factory=list)  # (prim, attribute, API)
    bad_ops: list[Usd.Prim] = field(default_factory=list)  # prims below an xformOpOrder naming a missing op


def _walk(root: Usd.Prim, ctx: LoadContext) -> _Found:
    """One pass over the prims at and below ``root``: sort them by what SWB reads from them."""
    found = _Found()
    table = S.schema_table()
    namespaces = table.api_namespaces()
    known = {name for schema in table.schemas.values() for name in schema.attributes}
    api_attributes: dict[tuple[str, ...], frozenset[str]] = {(): _EMPTY}
    kinds: dict[str, tuple[bool, bool, bool, bool]] = {}  # type -> imageable, instancer, gprim, xformable
    parent = root.GetParent()
    start_ops = ctx._xform_ops_of(parent) if parent and not parent.IsPseudoRoot() else None
    start = (*_initial_state(root, ctx), start_ops)
    # path -> (hidden, purpose, first prim at or above with a missing xformOp)
    state: dict[Sdf.Path, tuple[bool, str, tuple[Sdf.Path, str] | None]] = {}
    invisible = UsdGeom.Tokens.invisible
    visible_purposes = VISIBLE_PURPOSES
    sensor, barcode, light = S.SENSOR_API, S.BARCODE_API, S.LIGHT_API
    sampled, time = ctx.has_time_samples, ctx.time
    it = iter(Usd.PrimRange(root, Usd.TraverseInstanceProxies()))
    for prim in it:
        info = prim.GetPrimTypeInfo()
        type_key = info.GetSchemaTypeName()
        kind = kinds.get(type_key)
        if kind is None:
            kind = kinds[type_key] = (prim.IsA(UsdGeom.Imageable), prim.IsA(UsdGeom.PointInstancer),
                                      prim.IsA(UsdGeom.Gprim), prim.IsA(UsdGeom.Xformable))
        imageable, instancer, gprim, xformable = kind
        apis = info.GetAppliedAPISchemas()
        names = prim.GetAuthoredPropertyNames()
        path = prim.GetPath()
        hidden, purpose, bad = state.get(path.GetParentPath(), start)
        if names:
            if imageable:
                if "visibility" in names and ctx.value(prim.GetAttribute("visibility")) == invisible:
                    hidden = True
                if "purpose" in names:
                    attr = prim.GetAttribute("purpose")
                    if attr.HasAuthoredValue():
                        purpose = str(ctx.value(attr))
            if bad is None and "xformOpOrder" in names:
                if sampled:
                    op = missing_xform_op(prim, names, ctx)
                else:  # the common case inline: every op named is authored
                    order = prim.GetAttribute("xformOpOrder").Get(time)
                    # index, do not iterate: iterating a Vt array from Python is ~10x slower
                    n = len(order) if order is not None else 0
                    op = None if n == 0 or (n == 1 and order[0] in names) else missing_xform_op(prim, names, ctx)
                if op is not None:
                    bad = (path, op)
            swb_names = [n for n in names if n[:4] == "swb:"]
            if swb_names:
                key = tuple(apis)
                allowed = api_attributes.get(key)
                if allowed is None:
                    allowed = api_attributes[key] = frozenset(
                        n for api in apis if api in table.schemas for n in table.schemas[api].attributes)
                if not allowed.issuperset(swb_names):
                    for name in swb_names:
                        if name not in allowed:
                            _note_swb_attribute(found, prim, name, apis, namespaces, known)
        state[path] = (hidden, purpose, bad)
        if bad is not None:
            found.bad_ops.append(prim)

        if instancer:
            it.PruneChildren()
            found.protos.update(prototype_roots(prim))
            if not hidden and purpose in visible_purposes:
                found.instancers.append(prim)
        elif not apis:
            if gprim and not hidden and purpose in visible_purposes:
                found.gprims.append(prim)
            elif type_key in LIGHT_TYPES and not hidden:  # a plain UsdLux light counts too (docs/lighting.md)
                found.lights.append(prim)
        elif sensor in apis:
            found.cameras.append(prim)
        elif barcode in apis:
            if not xformable:
                raise ctx.error(f"SwbBarcodeAPI is applied to a prim of type {prim.GetTypeName() or 'none'}", prim,
                                "apiSchemas", hint="apply SwbBarcodeAPI to an Xform (or any transformable prim)")
            if not hidden:
                found.targets.append(prim)
                found.target_names.append(names)
        elif light in apis or type_key in LIGHT_TYPES:  # SwbLightAPI, or a UsdLux light with other APIs (shaping)
            if not hidden:
                found.lights.append(prim)
        elif gprim and not hidden and purpose in visible_purposes:
            found.gprims.append(prim)
    ctx.xform_ops.update({p: s[2] for p, s in state.items()})
    return found


def _note_swb_attribute(found: _Found, prim: Usd.Prim, name: str, apis, namespaces: dict[str, str],
                        known: set[str]) -> None:
    prefix = ":".join(name.split(":")[:2]) + ":"
    api = namespaces.get(prefix)
    if api is None:
        return  # not an applied API's namespace (results arrays, UI state, sweeps are typed prims of their own)
    if api not in apis:
        prims = found.missing_api.setdefault(api, [])
        path = str(prim.GetPath())
        if not prims or prims[-1] != path:
            prims.append(path)
    elif name not in known:
        found.unknown.append((str(prim.GetPath()), name, api))


def _warn_about(found: _Found, file: str) -> None:
    for api, prims in found.missing_api.items():
        what = {S.SENSOR_API: "a sensor camera", S.BARCODE_API: "a barcode target",
                S.LIGHT_API: "a light"}.get(api, f"an {api} prim")
        fix = f'apply the API (prepend apiSchemas = ["{api}"]) or remove the attributes'
        if len(prims) == 1:
            warn(f"authors {api} attributes but does not apply {api}, so it is not read as {what}",
                 file=file, prim=prims[0], hint=fix)
        else:
            shown = ", ".join(prims[:5]) + (f" and {len(prims) - 5} more" if len(prims) > 5 else "")
            warn(f"{len(prims)} prims author {api} attributes but do not apply {api}, so they are not read "
                 f"({shown})", file=file, hint=fix)
    for prim, name, api in found.unknown[:10]:
        names = [n for n in S.schema_table().schemas[api].attributes]
        close = difflib.get_close_matches(name, names, n=1)
        warn(f"{name} is not an attribute of {api}; SWB ignores it", file=file, prim=prim, attribute=name,
             hint=f"did you mean {close[0]}?" if close else f"{api} has {', '.join(names)}")


def _placed(prims: list[Usd.Prim], protos: set[Sdf.Path]) -> list[Usd.Prim]:
    """Prims not inside a PointInstancer's prototype (those are read through the instancer)."""
    return [p for p in prims if not any(q in protos for q in p.GetPath().GetPrefixes())]


def read_subtree(root: Usd.Prim, ctx: LoadContext, timings: dict[str, float] | None = None) -> SceneItems:
    """Cameras, targets and occluder parts at and below ``root`` (the pseudo-root for a whole stage).

    Gprims and targets below a PointInstancer's prototypes are only read through the instancer; a
    ``root`` inside a prototype is read as ordinary prims (re-read the instancer instead).
    ``timings`` (optional) receives the CPU seconds spent in each step (traversal, cameras, targets, lights,
    geometry, instancers), for benchmarks (CPU time: robust on a shared machine).
    """
    clock = _Clock(timings)
    found = _walk(root, ctx)
    _warn_about(found, ctx.file)
    if found.protos:  # prototypes placed outside their instancer are met in place too: skip those
        keep = {p.GetPath() for p in _placed(found.targets, found.protos)}
        names = [n for p, n in zip(found.targets, found.target_names, strict=True) if p.GetPath() in keep]
        found.targets = [p for p in found.targets if p.GetPath() in keep]
        found.target_names = names
        found.cameras = _placed(found.cameras, found.protos)
        found.lights = _placed(found.lights, found.protos)
        found.gprims = _placed(found.gprims, found.protos)
    if found.bad_ops:  # the first prim SWB reads whose transform (or an ancestor's) names a missing op
        read = {p.GetPath() for p in [*found.cameras, *found.targets, *found.lights, *found.gprims,
                                      *found.instancers]}
        for prim in found.bad_ops:
            if prim.GetPath() in read:
                ctx.check_xform_ops(prim)
    clock.lap("traversal")
    items = SceneItems()
    items.cameras = [read_camera(p, ctx) for p in found.cameras]
    clock.lap("cameras")
    items.targets = read_targets(found.targets, ctx, authored=found.target_names, ops_checked=True)
    clock.lap("targets")
    items.lights = [read_light(p, ctx) for p in found.lights]
    clock.lap("lights")
    for prim in found.gprims:
        part = gprim_part(prim, ctx)
        if part is not None:
            items.parts.append(part)
    clock.lap("geometry")
    for prim in found.instancers:
        inst = read_instancer(prim, ctx)
        items.parts += inst.parts
        items.targets += inst.targets
    clock.lap("instancers")
    return items


class _Clock:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings, self.t = timings, process_time()

    def lap(self, name: str) -> None:
        if self.timings is not None:
            now = process_time()
            self.timings[name] = self.timings.get(name, 0.0) + now - self.t
            self.t = now


def load_scene_from_stage(stage: Usd.Stage, source: str | None = None, time: Usd.TimeCode | None = None,
                          timings: dict[str, float] | None = None) -> Scene:
    """The Scene of an open stage; SwbError when it has no sensor camera or no target (``timings``: see
    read_subtree)."""
    file = source if source is not None else stage.GetRootLayer().identifier
    S.check_schemas()
    _check_composition(stage, file)
    ctx = LoadContext.for_stage(stage, file, time)
    items = read_subtree(stage.GetPseudoRoot(), ctx, timings)
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
    S.check_schemas()
    p = Path(path)
    if not p.is_file():
        raise SwbError("file not found", file=str(path), hint="check the path")
    try:
        stage = open_quietly(lambda: Usd.Stage.Open(str(p)), str(path))
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
    """Missing geometry assets and cycles are errors; unreadable looks (MaterialX, textures) a warning line (see
    swb.stage.diagnostics)."""
    check_composition(stage, file)
