"""Barcode targets: Xformable prims with SwbBarcodeAPI -> TargetModel.

The symbol lies in the prim's local XY plane, centred on its origin, readable from +Z (docs/schemas.md).
Rotation is the orthonormalised world rotation and position the world origin in metres; the prim's scale
is ignored, because the symbol's size comes from moduleSize and modules (a mirroring transform is an error).
moduleSize and barHeight are scene units -> metres; velocity is scene units per second in the stage's world
frame -> m/s in SWB's world. quietZone < 0, and barHeight = 0, mean the defaults.

Every attribute is read typed and validated by ``attributes.read_columns`` against SwbBarcodeAPI's table entry
(type, fallback, valid interval, tokens). Targets are read many at once (``read_targets``): one pass over the
prims for the authored values and transforms, then the checks and the pose maths on whole columns; reading one
target is the same computation for a list of one, so incremental re-reads give exactly what a full load gives.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache

import numpy as np
from pxr import Usd, UsdGeom

from ..engine.model import TargetModel
from ..engine.profiles import SYMBOLOGIES
from . import schema as S
from .attributes import read_columns, swb_defs, with_tokens
from .units import LoadContext, rigid_poses, world_transforms

_HINTS = {
    S.BARCODE_MODULE_SIZE: "author it on the prim, e.g. float swb:barcode:moduleSize = 0.05 (scene units)",
    S.BARCODE_MODULES: "author e.g. int2 swb:barcode:modules = (68, 1) for a 1-D code or (21, 21) for QR",
    S.BARCODE_BAR_HEIGHT: "scene units; 0 means 15 % of the symbol length",
}


@cache
def _defs() -> dict:
    defs = swb_defs(S.BARCODE_API)
    defs[S.BARCODE_SYMBOLOGY] = with_tokens(defs[S.BARCODE_SYMBOLOGY], SYMBOLOGIES)
    return defs


def read_target(
    prim: Usd.Prim, ctx: LoadContext, to_world: np.ndarray | None = None, path: str | None = None
) -> TargetModel:
    """One barcode target; SwbError naming prim and attribute for anything unusable.

    ``to_world`` and ``path`` override the prim's own transform and name (one PointInstancer instance).
    """
    if not prim.IsValid():
        raise ctx.error("the target prim does not exist", path,
                        hint="targets inside a PointInstancer are re-read through the instancer (read_instancer)")
    worlds = None if to_world is None else np.asarray(to_world, dtype=np.float64)[None]
    return read_targets([prim], ctx, worlds=worlds, paths=None if path is None else [path])[0]


def read_targets(
    prims: Sequence[Usd.Prim],
    ctx: LoadContext,
    *,
    authored: Sequence[Collection[str]] | None = None,
    worlds: np.ndarray | None = None,
    paths: Sequence[str] | None = None,
    ops_checked: bool = False,
) -> list[TargetModel]:
    """Many barcode targets at once (see the module docstring); SwbError names the first unusable prim.

    ``authored``: the property names each prim authors, when the caller's traversal knows them (see
    ``attributes.read_columns``). ``worlds`` (n, 4, 4) and ``paths`` override the prims' own transforms and names
    (PointInstancer instances: the same prototype prim may then appear many times and is read once).
    ``ops_checked``: the caller has checked the prims' xformOpOrder (``LoadContext.check_xform_ops``) and that
    they are Xformables.
    """
    if not prims:
        return []
    if worlds is None:  # each prim once, in its own place
        firsts, index = list(prims), np.arange(len(prims))
    else:  # instances: read each prototype prim once
        firsts, seen, index = [], {}, np.empty(len(prims), dtype=np.int64)
        for i, prim in enumerate(prims):
            k = seen.get(prim.GetPath())
            if k is None:
                k = seen[prim.GetPath()] = len(firsts)
                firsts.append(prim)
            index[i] = k
        authored = authored if len(firsts) == len(prims) else None
    for prim in () if ops_checked else firsts:  # the loader's traversal checked the types
        if not prim.IsA(UsdGeom.Xformable):
            raise ctx.error(f"SwbBarcodeAPI is applied to a prim of type {prim.GetTypeName() or 'none'}", prim,
                            "apiSchemas", hint="apply SwbBarcodeAPI to an Xform (or any transformable prim)")
    cols = read_columns(firsts, ctx, _defs(), authored=authored, hints=_HINTS)
    bulk = len(firsts) > 8 and ctx.uniform_units  # (a few prims: no stage-wide facts, same numbers)
    mpus = [ctx.meters_per_unit] * len(firsts) if bulk else [ctx.unit_scale(p) for p in firsts]

    if worlds is None:
        if not ops_checked:
            for prim in firsts:
                ctx.check_xform_ops(prim)
        worlds = world_transforms(list(prims), ctx)
    rotations, positions = rigid_poses(list(prims), ctx, "barcode", False, worlds)

    velocity = cols[S.BARCODE_VELOCITY]  # (n, 3) float64
    # exact: the stage -> world rotation is a signed permutation; then metres per second (one multiply per value)
    world_velocity = (velocity @ ctx.world_rotation.T) * np.asarray(mpus, dtype=np.float64)[:, None]
    names = [str(p.GetPath()) for p in prims] if paths is None else list(paths)
    columns = zip(cols[S.BARCODE_SYMBOLOGY], cols[S.BARCODE_MODULE_SIZE], cols[S.BARCODE_MODULES].tolist(),
                  cols[S.BARCODE_BAR_HEIGHT], cols[S.BARCODE_QUIET_ZONE], cols[S.BARCODE_PRINT_CONTRAST],
                  cols[S.BARCODE_CONTENT], cols[S.BARCODE_REFLECTANCE], cols[S.BARCODE_GLOSSY],
                  cols[S.BARCODE_GLOSS_ANGLE], mpus, strict=True)
    per_prim = [
        (symbology, module * mpu, (int(modules[0]), int(modules[1])), bar * mpu if bar > 0.0 else None,
         quiet if quiet >= 0.0 else None, contrast, content or "", reflectance, bool(glossy), gloss, mpu)
        for symbology, module, modules, bar, quiet, contrast, content, reflectance, glossy, gloss, mpu in columns
    ]
    out = []
    for i, k in enumerate(index.tolist()):
        symbology, module, modules, bar, quiet, contrast, content, reflectance, glossy, gloss, mpu = per_prim[k]
        out.append(TargetModel(
            path=names[i], rotation=rotations[i], position=positions[i], symbology=symbology, module_size=module,
            modules=modules, bar_height=bar, quiet_zone=quiet, print_contrast=contrast,
            velocity=world_velocity[k], content=content, reflectance=reflectance, glossy=glossy,
            gloss_angle_deg=gloss,
        ))
    return out
