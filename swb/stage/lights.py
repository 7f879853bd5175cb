"""Lights: UsdLux lights with SwbLightAPI -> LightModel (docs/model.md, rule 10; docs/schemas.md).

A light is a point source at the prim's world origin, its beam along the prim's -Z axis (UsdLux's convention),
a uniform cone of ``swb:light:beamAngle`` half-angle with ``swb:light:luminousIntensity`` candela inside. Candela
and degrees do not depend on the stage's units; the position is converted to metres in SWB's Z-up world.
UsdLux's own intensity/exposure inputs are renderer units (no photometric meaning), so they are not used.
"""

from __future__ import annotations

import math

import numpy as np
from pxr import Usd, UsdGeom

from ..engine.model import LightModel
from . import schema as S
from .units import LoadContext, rigid_pose


def read_light(prim: Usd.Prim, ctx: LoadContext) -> LightModel:
    """One light; SwbError naming prim and attribute for anything unusable."""
    if not prim.IsValid():
        raise ctx.error("the light prim does not exist", hint="re-load the stage")
    type_name = prim.GetTypeName()
    if type_name == "DistantLight" or not prim.IsA(UsdGeom.Xformable):
        raise ctx.error(f"SwbLightAPI is applied to a prim of type {type_name or 'none'}", prim, "apiSchemas",
                        hint="apply SwbLightAPI to a SphereLight, DiskLight or RectLight (a light with a position)")

    def number(name: str) -> float:
        value = float(ctx.value(prim.GetAttribute(name)))
        if not math.isfinite(value):
            raise ctx.error(f"{name} is not a finite number ({value})", prim, name)
        return value

    intensity = number(S.LIGHT_INTENSITY)
    if intensity < 0.0:
        raise ctx.error(f"luminousIntensity must not be negative (candela), got {intensity}", prim,
                        S.LIGHT_INTENSITY, hint="author e.g. float swb:light:luminousIntensity = 2000")
    beam = number(S.LIGHT_BEAM_ANGLE)
    if not 0.0 < beam <= 180.0:
        raise ctx.error(f"beamAngle must be in (0, 180] degrees (cone half-angle), got {beam}", prim,
                        S.LIGHT_BEAM_ANGLE)
    rotation, position = rigid_pose(prim, ctx, "light", uniform=False)
    return LightModel(
        path=str(prim.GetPath()),
        position=position,
        direction=-np.asarray(rotation)[:, 2],
        intensity=intensity,
        beam_angle_deg=beam,
    )
