"""Placing a prim at a pose given in SWB's world (metres, Z up): the local matrix its parent frame needs.

Shared by ``Simulation.set_world_pose`` (the live view's gizmo, configurations picked from a sweep) and
``swb sweep --apply``; whatever uniform scale the prim has is kept.
"""

from __future__ import annotations

import numpy as np
from pxr import Usd, UsdGeom

from ..errors import SwbError
from .units import LoadContext, gf_to_numpy


def local_for_world_pose(prim: Usd.Prim, ctx: LoadContext, base_rotation: np.ndarray, rotation: np.ndarray,
                         position: np.ndarray) -> np.ndarray:
    """The local matrix (column-vector, the prim's parent frame, stage units) that puts the prim at (rotation,
    position) in SWB's world; ``base_rotation`` is its current orthonormal world rotation, so the scale its
    world matrix carries beyond that rotation is kept."""
    xf = UsdGeom.Xformable(prim)
    frame, parent = ctx.unit_frame(prim), ctx.unit_frame(prim.GetParent())
    if frame.mpu != parent.mpu:
        raise SwbError("cannot move a prim that is the root of an asset in other units", file=ctx.file,
                       prim=str(prim.GetPath()), hint="move a prim inside the asset or reference it in stage units")
    local = gf_to_numpy(xf.GetLocalTransformation(ctx.time))
    above = ctx.raw_local_to_world(prim) @ np.linalg.inv(local)  # parent-to-world (identity after a reset)
    if frame.correction is not None:
        above = frame.correction @ above
    above = ctx.stage_to_world @ above
    world0 = ctx.to_world(prim)
    world1 = np.eye(4)
    world1[:3, :3] = np.asarray(rotation, np.float64) @ np.asarray(base_rotation, np.float64).T @ world0[:3, :3]
    world1[:3, 3] = np.asarray(position, np.float64)
    return np.linalg.solve(above, world1)
