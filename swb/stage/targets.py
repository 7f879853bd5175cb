"""Barcode targets: Xformable prims with SwbBarcodeAPI -> TargetModel.

The symbol lies in the prim's local XY plane, centred on its origin, readable from +Z (docs/schemas.md).
Rotation is the orthonormalised world rotation and position the world origin in metres; the prim's scale
is ignored, because the symbol's size comes from moduleSize and modules (a mirroring transform is an error).
moduleSize and barHeight are scene units -> metres; velocity is scene units per second in the stage's world
frame -> m/s in SWB's world. quietZone < 0 or unauthored, and barHeight = 0, mean the defaults.
"""

from __future__ import annotations

import math

import numpy as np
from pxr import Usd, UsdGeom

from ..engine.model import TargetModel
from ..engine.profiles import SYMBOLOGIES
from . import schema as S
from .units import LoadContext, rigid_pose

_HINT_AUTHOR = "author it on the prim, e.g. float swb:barcode:moduleSize = 0.05 (scene units)"


def read_target(
    prim: Usd.Prim, ctx: LoadContext, to_world: np.ndarray | None = None, path: str | None = None
) -> TargetModel:
    """One barcode target; SwbError naming prim and attribute for anything unusable.

    ``to_world`` and ``path`` override the prim's own transform and name (one PointInstancer instance).
    """
    if not prim.IsValid():
        raise ctx.error("the target prim does not exist", path,
                        hint="targets inside a PointInstancer are re-read through the instancer (read_instancer)")
    if not prim.IsA(UsdGeom.Xformable):
        raise ctx.error(f"SwbBarcodeAPI is applied to a prim of type {prim.GetTypeName() or 'none'}", prim,
                        "apiSchemas", hint="apply SwbBarcodeAPI to an Xform (or any transformable prim)")
    mpu = ctx.unit_scale(prim)

    def get(name: str):
        return ctx.value(prim.GetAttribute(name))

    def number(name: str) -> float:
        value = float(get(name))
        if not math.isfinite(value):
            raise ctx.error(f"{name} is not a finite number ({value})", prim, name)
        return value

    symbology = str(get(S.BARCODE_SYMBOLOGY))
    if symbology not in SYMBOLOGIES:
        raise ctx.error(f"unknown symbology {symbology!r}", prim, S.BARCODE_SYMBOLOGY,
                        hint=f"use one of {', '.join(SYMBOLOGIES)}")

    module = number(S.BARCODE_MODULE_SIZE)
    if module <= 0.0:
        raise ctx.error(f"moduleSize must be positive, got {module}", prim, S.BARCODE_MODULE_SIZE,
                        hint=_HINT_AUTHOR)

    raw_modules = get(S.BARCODE_MODULES)
    modules = (int(raw_modules[0]), int(raw_modules[1])) if raw_modules is not None else (0, 0)
    if modules[0] <= 0 or modules[1] <= 0:
        raise ctx.error(f"modules must be positive (columns, rows), got {modules}", prim, S.BARCODE_MODULES,
                        hint="author e.g. int2 swb:barcode:modules = (68, 1) for a 1-D code or (21, 21) for QR")

    bar = number(S.BARCODE_BAR_HEIGHT)
    if bar < 0.0:
        raise ctx.error(f"barHeight must be positive, or 0 for the default, got {bar}", prim,
                        S.BARCODE_BAR_HEIGHT)

    quiet = number(S.BARCODE_QUIET_ZONE)  # fallback -1: the symbology default

    contrast = number(S.BARCODE_PRINT_CONTRAST)
    if not 0.0 < contrast <= 1.0:
        raise ctx.error(f"printContrast must be in (0, 1], got {contrast}", prim, S.BARCODE_PRINT_CONTRAST)

    raw_velocity = get(S.BARCODE_VELOCITY)
    velocity = np.array(raw_velocity if raw_velocity is not None else (0.0, 0.0, 0.0), dtype=np.float64)
    if not np.all(np.isfinite(velocity)):
        raise ctx.error(f"velocity is not finite ({tuple(velocity)})", prim, S.BARCODE_VELOCITY)

    reflectance = number(S.BARCODE_REFLECTANCE)
    if not 0.0 < reflectance <= 1.0:
        raise ctx.error(f"reflectance must be in (0, 1], got {reflectance}", prim, S.BARCODE_REFLECTANCE)
    gloss_angle = number(S.BARCODE_GLOSS_ANGLE)
    if not 0.0 < gloss_angle <= 90.0:
        raise ctx.error(f"glossAngle must be in (0, 90] degrees, got {gloss_angle}", prim, S.BARCODE_GLOSS_ANGLE)

    rotation, position = rigid_pose(prim, ctx, "barcode", uniform=False, to_world=to_world)
    return TargetModel(
        path=str(prim.GetPath()) if path is None else path,
        rotation=rotation,
        position=position,
        symbology=symbology,
        module_size=module * mpu,
        modules=modules,
        bar_height=bar * mpu if bar > 0.0 else None,
        quiet_zone=quiet if quiet >= 0.0 else None,
        print_contrast=contrast,
        velocity=ctx.world_rotation @ velocity * mpu,
        content=str(get(S.BARCODE_CONTENT) or ""),
        reflectance=reflectance,
        glossy=bool(get(S.BARCODE_GLOSSY)),
        gloss_angle_deg=gloss_angle,
    )
