"""Eye safety of a design: the lights it keeps, and their verdict over the stage's zones.

The catalogue's cameras carry no lights, so what a design changes is which installed lights stay: with
``existing = "replace"`` a light below a replaced camera prim (its ring light, its strobe) leaves with the camera,
as the applied stage deactivates those prims. The optimiser's illumination and this check both use the lights
that stay (``design_lights``), so the read rate and the safety verdict describe the stage ``--apply`` writes.
Which cameras are chosen does not change the hazard, so the limit is checked once, before the search: a station
above it cannot be fixed by placing cameras, and the error names the zone and the light that dominates it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pxr import Usd

from ..engine.model import LightModel, Scene
from ..errors import SwbError
from ..safety.check import ZoneVerdict, assess_items, load
from ..safety.constraint import mounts
from ..safety.tables import RISK_GROUPS
from .spec import D_SAFETY, DesignSpec


def design_lights(scene: Scene, spec: DesignSpec) -> list[LightModel]:
    """The scene's lights less those mounted below cameras the design replaces."""
    if spec.existing != "replace":
        return list(scene.lights)
    leaving = set(mounts(scene.lights, scene.cameras))
    return [lt for k, lt in enumerate(scene.lights) if k not in leaving]


@dataclass(frozen=True)
class DesignSafety:
    """The kept lights against the design's limit, zone by zone (all within it, or the design would not exist)."""

    limit: str
    zones: list[ZoneVerdict]
    lights: int  # lights assessed

    @property
    def worst(self) -> str:
        return RISK_GROUPS[max((z.group for z in self.zones), default=0)]

    def line(self) -> str:
        if not self.zones:
            return f"eye safety: limit {self.limit}, but the stage has no SwbZoneAPI zones: nothing was checked"
        return (f"eye safety: {len(self.zones)} zones within {self.limit} (worst {self.worst}) "
                f"from the {self.lights} lights the design keeps")

    def to_json(self) -> dict[str, Any]:
        return {"limit": self.limit, "worst_zone_group": self.worst, "lights": self.lights,
                "zones": [{"path": z.path, "risk_group": z.risk_group, "ok": z.ok,
                           "allowed_time_s": z.allowed_time if math.isfinite(z.allowed_time) else None}
                          for z in self.zones]}


def check_design_safety(stage: Usd.Stage, scene: Scene, spec: DesignSpec,
                        device: str | None = None) -> DesignSafety | None:
    """None without a limit; SwbError naming the worst zone and its dominant light when one is above it."""
    if spec.safety == "none":
        return None
    kept = design_lights(scene, spec)
    report = assess_items(load(stage), device, lights=kept)
    verdicts = report.verdict(spec.safety)
    bad = [(v, z) for v, z in zip(verdicts, report.zones, strict=True) if not v.ok]
    if bad:
        v, z = max(bad, key=lambda vz: (vz[0].group, -vz[0].allowed_time))
        why = (f"reaches {v.risk_group}" if v.group > RISK_GROUPS.index(spec.safety)
               else f"allows {z.allowed_time:.3g} s, less than its stay of {z.exposure_time:.3g} s")
        light = f" (dominated by {z.dominant_light}, {z.dominant_hazard})" if z.dominant_light else ""
        raise SwbError(f"eye safety: zone {v.path} {why} above the design's limit {spec.safety}{light}; "
                       "the optimiser's cameras carry no lights, so no placement changes this",
                       file=spec.source or None, prim=spec.path or None, attribute=D_SAFETY,
                       hint="dim, shield or move that light (swb safety shows the map), or raise the limit")
    return DesignSafety(spec.safety, verdicts, len(kept))
