"""Sweeps (and optimisers) under an eye-safety constraint: no zone above a risk group.

A light below a camera prim (a ring light, a strobe on the camera's bracket) moves with that camera when a
configuration moves it; every other light stays. Each configuration's lights are assessed over the zones
(``swb.safety.check``) and configurations that violate the limit are ranked after all others (or dropped with
``exclude``). When no light rides on a varied camera the verdict is the same for every configuration and is
computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..engine.model import CameraModel, LightModel
from .check import EyeGeometry, assess_items, group_index, load


@dataclass
class SweepSafety:
    """Per configuration: the worst zone's risk group and whether it keeps within the limit."""

    limit: int
    groups: np.ndarray  # (n_done,) 0..3
    ok: np.ndarray  # (n_done,) bool
    excluded: bool

    def to_json(self) -> dict[str, Any]:
        from .tables import RISK_GROUPS

        return {"limit": RISK_GROUPS[self.limit], "violating": int((~self.ok).sum()), "excluded": self.excluded}


def mounts(lights: Sequence[LightModel], cameras: Sequence[CameraModel]) -> dict[int, int]:
    """Light index -> camera index for lights below a camera prim."""
    out = {}
    for k, lt in enumerate(lights):
        for c, cam in enumerate(cameras):
            if lt.path.startswith(cam.path.rstrip("/") + "/"):
                out[k] = c
    return out


def moved_lights(lights: Sequence[LightModel], cameras: Sequence[CameraModel], records: np.ndarray,
                 mounted: dict[int, int]) -> list[LightModel]:
    """The lights with the mounted ones carried by their camera from its authored pose to ``records``' pose."""
    out = list(lights)
    for k, c in mounted.items():
        r0, p0 = np.asarray(cameras[c].rotation, np.float64), np.asarray(cameras[c].position, np.float64)
        r1, p1 = np.asarray(records[c]["rot"], np.float64), np.asarray(records[c]["pos"], np.float64)
        rel = r1 @ r0.T
        lt = lights[k]
        out[k] = replace(lt, position=p1 + rel @ (np.asarray(lt.position) - p0), direction=rel @ lt.direction)
    return out


def evaluate_configurations(scene: Any, cameras: Sequence[CameraModel], records_for: Callable[[int], np.ndarray],
                            n: int, limit: str | int, device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(worst zone group, ok) per configuration 0..n-1; ``records_for(i)`` gives configuration i's camera records
    (scene order, fields ``rot`` and ``pos``)."""
    g = group_index(limit)
    items = load(scene)
    mounted = mounts(items.lights, cameras)
    geo = EyeGeometry(items.parts, device)
    try:
        if not mounted or n == 0:
            rep = assess_items(items, geometry=geo)
            worst = rep.worst_zone_group
            ok = all(v.ok for v in rep.verdict(g))
            return np.full(n, worst, np.int64), np.full(n, ok)
        groups, oks = np.zeros(n, np.int64), np.zeros(n, bool)
        for i in range(n):
            rep = assess_items(items, geometry=geo,
                               lights=moved_lights(items.lights, cameras, records_for(i), mounted))
            groups[i] = rep.worst_zone_group
            oks[i] = all(v.ok for v in rep.verdict(g))
        return groups, oks
    finally:
        geo.close()


def constrain_sweep(scene: Any, result: Any, limit: str | int, *, exclude: bool = False,
                    device: str | None = None) -> SweepSafety:
    """Mark a finished sweep's configurations against the limit and re-rank them: violators after all others
    (``exclude``: dropped from the ranking). ``scene``: the simulation's stage (or a file, or SafetyItems);
    ``result``: a ``swb.sweep.results.SweepResult`` with its runner."""
    if getattr(result, "configs", None) is not None:
        from ..errors import SwbError

        raise SwbError("a safety limit re-ranks every configuration: this sweep kept only its best",
                       hint="run it without --rows")
    items = load(scene)
    cameras = list(result.runner.scene.cameras)
    groups, ok = evaluate_configurations(items, cameras, result.runner.cameras_for, result.n_done, limit, device)
    order = np.asarray(result.order, np.int64)
    good, bad = order[ok[order]], order[~ok[order]]
    result.order = good if exclude else np.concatenate([good, bad])
    safety = SweepSafety(group_index(limit), groups, ok, exclude)
    result.safety = safety
    return safety
