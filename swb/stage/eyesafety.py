"""Eye-safety prims: zones where people's eyes can be (SwbZoneAPI) and aimer lasers (SwbAimerAPI) -> the models
of ``swb.engine.zones``, and the stage's lights, zones and aimers in one traversal (``read_safety_items``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pxr import Usd, UsdGeom

from ..engine.model import LightModel, MeshPart
from ..engine.zones import AimerModel, ZoneModel
from . import schema as S
from .lights import SUPPORTED, _at_least, _number, _token, is_light, read_light
from .load import read_subtree
from .units import LoadContext, rigid_pose


@dataclass
class SafetyItems:
    """What an eye-safety assessment reads from a stage."""

    source: str
    lights: list[LightModel] = field(default_factory=list)
    zones: list[ZoneModel] = field(default_factory=list)
    aimers: list[AimerModel] = field(default_factory=list)
    parts: list[MeshPart] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (prim, why) lights SWB does not assess
    meters_per_unit: float = 1.0
    up_axis: str = "Z"


def read_zone(prim: Usd.Prim, ctx: LoadContext) -> ZoneModel:
    """A zone box: a Cube's size, or any Boundable's extent, under its world transform."""
    if prim.IsA(UsdGeom.Cube):
        size = _at_least(prim, ctx, "size", 0.0, "scene units", strict=True)
        lo, hi, attr = np.full(3, -0.5 * size), np.full(3, 0.5 * size), "size"
    else:
        extent = ctx.value(prim.GetAttribute("extent"))
        if extent is None or len(extent) != 2:
            raise ctx.error("a zone needs a box: author its extent (or make it a Cube)", prim, "extent")
        lo, hi, attr = np.array(extent[0], np.float64), np.array(extent[1], np.float64), "extent"
    m = ctx.to_world(prim)
    half = 0.5 * (hi - lo)
    axes = np.asarray(m[:3, :3], np.float64) * half[None, :]
    if not np.all(np.isfinite(axes)) or np.any(np.linalg.norm(axes, axis=0) <= 1e-9):
        raise ctx.error(f"the zone has zero volume (its box is {(2 * half).round(6).tolist()} scene units)", prim,
                        attr, hint="give the box a size along every axis (eyes between 1.5 and 1.9 m: 0.4 m high)")
    centre = (m @ np.append(0.5 * (lo + hi), 1.0))[:3]
    spacing = _at_least(prim, ctx, S.ZONE_SPACING, 0.0, "scene units") * ctx.meters_per_unit
    exposure = _at_least(prim, ctx, S.ZONE_EXPOSURE_TIME, 0.0, "seconds")
    return ZoneModel(str(prim.GetPath()), _token(prim, ctx, S.ZONE_KIND, S.ZONE_KINDS), centre, axes, spacing,
                     exposure)


def read_aimer(prim: Usd.Prim, ctx: LoadContext) -> AimerModel:
    """An aimer laser at the prim's origin along its -Z axis."""
    rotation, position = rigid_pose(prim, ctx, "aimer", uniform=False)
    wavelength = _number(prim, ctx, S.AIMER_WAVELENGTH)
    if not 400.0 <= wavelength <= 1050.0:
        raise ctx.error(f"SWB classifies aimers of 400 to 1050 nm, got {wavelength:g} nm", prim, S.AIMER_WAVELENGTH)
    pulse = _at_least(prim, ctx, S.AIMER_PULSE_WIDTH, 0.0, "seconds")
    duty = _number(prim, ctx, S.AIMER_DUTY_CYCLE)
    if not 0.0 < duty <= 1.0:
        more = f": the {pulse:g} s pulse would be longer than its period" if duty > 1.0 and pulse > 0 else ""
        raise ctx.error(f"dutyCycle must be in (0, 1]{more}, got {duty:g}", prim, S.AIMER_DUTY_CYCLE)
    return AimerModel(
        path=str(prim.GetPath()), position=position, direction=-np.asarray(rotation)[:, 2], wavelength=wavelength,
        power=_at_least(prim, ctx, S.AIMER_POWER, 0.0, "watts"),
        divergence=math.radians(_at_least(prim, ctx, S.AIMER_DIVERGENCE, 0.0, "degrees")),
        diameter=_at_least(prim, ctx, S.AIMER_BEAM_DIAMETER, 0.0, "scene units") * ctx.unit_scale(prim),
        pulse_width=pulse if duty < 1.0 else 0.0, duty_cycle=duty)


def read_safety_items(stage: Usd.Stage, source: str | None = None) -> SafetyItems:
    """Lights (visible UsdLux Sphere/Disk/RectLights), zones, aimers and the occluding geometry of a stage."""
    file = source if source is not None else stage.GetRootLayer().identifier
    ctx = LoadContext.for_stage(stage, file)
    scene = read_subtree(stage.GetPseudoRoot(), ctx)
    items = SafetyItems(file, lights=scene.lights, parts=scene.parts, meters_per_unit=ctx.meters_per_unit,
                        up_axis=ctx.up_axis)
    for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()):
        if S.has_zone_api(prim):
            items.zones.append(read_zone(prim, ctx))
        if S.has_aimer_api(prim):
            items.aimers.append(read_aimer(prim, ctx))
        kind = prim.GetTypeName()
        if kind.endswith("Light") and kind not in SUPPORTED and not is_light(prim):
            items.skipped.append((str(prim.GetPath()), f"a {kind} (SWB assesses Sphere, Disk and Rect lights)"))
    return items


__all__ = ["SafetyItems", "read_aimer", "read_light", "read_safety_items", "read_zone"]
