"""Eye safety of a station: every light's IEC 62471 risk group, the hazard over every zone where people's eyes can
be, every aimer's IEC 60825-1 class, and a verdict against a limit (``check``: what sweeps and optimisers call).

Eye positions are sampled over each ``SwbZoneAPI`` box; at each the eye looks into every light in turn (the worst
case), a shadow ray per light says whether the station's geometry hides it (Warp, ``kernels.lighting.eye_kernel``;
``reference=True`` uses trimesh's ray casting instead), and ``swb.safety.hazard`` turns distance and angle into
hazard values, risk groups and the longest allowed exposure. A zone's result is its worst position: the shortest
allowed exposure, then the highest risk group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.model import LightModel, MeshPart, Scene
from ..engine.zones import ZoneModel
from ..errors import SwbError
from . import tables as tb
from .hazard import Assessment, Emitter, assess, classify, combine, emitter, eye_values
from .laser import LaserClass, classify_aimer

HAZARD_NAMES = {"blue": "blue light", "thermal": "retinal thermal", "thermal_weak": "retinal thermal (IR)",
                "ir_eye": "infrared eye"}


def group_index(limit: str | int) -> int:
    """0..3 for exempt, RG1, RG2, RG3 (also 'RG0', '0'..'3'); SwbError for anything else."""
    if isinstance(limit, int | np.integer) and 0 <= int(limit) <= 3:
        return int(limit)
    text = str(limit).strip().lower()
    names = {"exempt": 0, "rg0": 0, "0": 0, "rg1": 1, "1": 1, "rg2": 2, "2": 2, "rg3": 3, "3": 3}
    if text not in names:
        raise SwbError(f"unknown risk group {limit!r}", attribute="limit", hint="use exempt, RG1, RG2 or RG3")
    return names[text]


def _values_dict(a: Assessment, i: Any = 0) -> dict[str, float]:
    v = a.values
    return {"E_B": float(v.E_B.flat[i]), "L_B": float(v.L_B.flat[i]), "L_R": float(v.L_R.flat[i]),
            "L_IR": float(v.L_IR.flat[i]), "E_IR": float(v.E_IR.flat[i]), "alpha": float(v.alpha.flat[i]),
            "luminance": float(v.L_v.flat[i])}


@dataclass
class LightSafety:
    """A light's risk group at the assessment distance (200 mm on its axis)."""

    path: str
    kind: str
    group: int
    groups: dict[str, int]
    values: dict[str, float]  # time-averaged, SI (W/m^2, W/(m^2 sr), rad, cd/m^2)
    allowed_time: float  # seconds at 200 mm (inf: no limit)
    pulsed: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "risk_group": tb.RISK_GROUPS[self.group],
                "by_hazard": {h: tb.RISK_GROUPS[g] for h, g in self.groups.items()}, "values_at_200mm": self.values,
                "allowed_time_s": _finite(self.allowed_time), "pulsed": self.pulsed, "notes": self.notes}


@dataclass
class ZoneSafety:
    """The hazard over one zone: its worst eye position and, per sampled position, group and allowed time."""

    path: str
    kind: str
    group: int
    allowed_time: float  # seconds at the worst position (inf: no limit)
    worst_position: np.ndarray  # metres, world
    values: dict[str, float]  # at the worst position
    dominant_light: str  # the light that limits there ("" when nothing reaches the zone)
    dominant_hazard: str
    exposure_time: float  # the zone's stated stay (0: not judged)
    points: np.ndarray  # (n0, n1, n2, 3) metres
    groups: np.ndarray  # (n0, n1, n2)
    times: np.ndarray  # (n0, n1, n2) seconds
    zone: ZoneModel | None = None

    @property
    def exceeds_stay(self) -> bool:
        return self.exposure_time > 0.0 and self.allowed_time < self.exposure_time

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "risk_group": tb.RISK_GROUPS[self.group],
                "allowed_time_s": _finite(self.allowed_time), "worst_position_m": self.worst_position.tolist(),
                "values": self.values, "dominant_light": self.dominant_light, "dominant_hazard": self.dominant_hazard,
                "exposure_time_s": self.exposure_time, "exceeds_stay": self.exceeds_stay,
                "eye_positions": int(self.groups.size)}


@dataclass
class SafetyReport:
    source: str
    lights: list[LightSafety]
    zones: list[ZoneSafety]
    aimers: list[LaserClass]
    skipped: list[tuple[str, str]]
    meters_per_unit: float = 1.0
    up_axis: str = "Z"

    @property
    def worst_zone_group(self) -> int:
        return max((z.group for z in self.zones), default=0)

    def verdict(self, limit: str | int) -> list[ZoneVerdict]:
        g = group_index(limit)
        return [ZoneVerdict(z.path, z.group, z.group <= g and not z.exceeds_stay, z.allowed_time) for z in self.zones]

    def to_json(self, limit: str | int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source, "standard": "IEC 62471:2006 (lights), IEC 60825-1:2014 (aimers)",
            "lights": [lt.to_json() for lt in self.lights], "zones": [z.to_json() for z in self.zones],
            "aimers": [{"path": a.path, "class": a.laser_class, "accessible_power_w": a.accessible_power,
                        "pulse_energy_j": a.pulse_energy, "limits_w": a.limits} for a in self.aimers],
            "not_assessed": [{"path": p, "why": w} for p, w in self.skipped]}
        if limit is not None:
            out["limit"] = tb.RISK_GROUPS[group_index(limit)]
            out["ok"] = all(v.ok for v in self.verdict(limit))
        return out


@dataclass(frozen=True)
class ZoneVerdict:
    """One zone against a limit: ok when its worst position is within the risk group (and the stated stay)."""

    path: str
    group: int
    ok: bool
    allowed_time: float

    @property
    def risk_group(self) -> str:
        return tb.RISK_GROUPS[self.group]


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


# ----------------------------------------------------------------------------------------- geometry


class EyeGeometry:
    """Distances, angles and shadow rays from lights to eye positions on one device, the mesh built once."""

    def __init__(self, parts: Sequence[MeshPart], device: str | None = None, shadows: bool = True) -> None:
        from ..engine.world import World

        self.world = World(Scene("safety", [], [], list(parts)), device=device, threads=1)
        self.shadows = shadows and self.world.mesh is not None

    def __call__(self, points: np.ndarray, lights: Sequence[LightModel]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import warp as wp

        from swb.kernels.camera import Light
        from swb.kernels.lighting import eye_kernel

        from ..engine.world import pack_lights

        pts = np.asarray(points, np.float64).reshape(-1, 3)
        n, k = len(pts), len(lights)
        if n == 0 or k == 0:
            z = np.zeros((n, k))
            return z, z, np.zeros((n, k), bool)
        dev = self.world.device
        out = [wp.zeros((n, k), dtype=t, device=dev) for t in (wp.float32, wp.float32, wp.uint8)]
        mesh_id = self.world.mesh.id if self.world.mesh is not None else wp.uint64(0)
        wp.launch(eye_kernel, dim=(n, k), device=dev,
                  inputs=[wp.array(pts.astype(np.float32), dtype=wp.vec3, device=dev),
                          wp.array(pack_lights(lights), dtype=Light, device=dev), mesh_id, int(self.shadows),
                          wp.full(1, -1, dtype=wp.int32, device=dev), *out])
        d, c, v = (a.numpy() for a in out)
        return d.astype(np.float64), c.astype(np.float64), v.astype(bool)

    def close(self) -> None:
        self.world.close()


def eye_geometry_reference(points: np.ndarray, lights: Sequence[LightModel], parts: Sequence[MeshPart]
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same as ``EyeGeometry`` in numpy with trimesh's ray casting (an independent check)."""
    from ..engine.reference import ReferenceOcclusion

    pts = np.asarray(points, np.float64).reshape(-1, 3)
    pos = np.array([np.asarray(lt.position, np.float64) for lt in lights]).reshape(-1, 3)
    axis = np.array([np.asarray(lt.direction, np.float64) / np.linalg.norm(lt.direction) for lt in lights]
                    ).reshape(-1, 3)
    seg = pts[:, None, :] - pos[None, :, :]
    d = np.linalg.norm(seg, axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(d > 0, np.einsum("plj,lj->pl", seg, axis) / np.where(d > 0, d, 1.0), 1.0)
    occ = ReferenceOcclusion.from_parts(parts)
    pi, li = np.meshgrid(np.arange(len(pts)), np.arange(len(pos)), indexing="ij")
    blocked = occ.blocked(pos[li.ravel()], pts[pi.ravel()]).reshape(d.shape)
    return d, c, ~blocked


# ------------------------------------------------------------------------------------------ assessment


def assess_lights(emitters: Sequence[Emitter]) -> list[LightSafety]:
    """Each light's risk group at 200 mm on its axis (IEC 62471:2006, 6.1)."""
    out = []
    for em in emitters:
        a = classify(em)
        notes = []
        if em.uv_share > 0.01:
            notes.append(f"{100 * em.uv_share:.0f} % of its power lies below 380 nm: UV hazards not assessed")
        out.append(LightSafety(em.path, em.light.kind, int(a.group[0]), {h: int(g[0]) for h, g in a.groups.items()},
                               _values_dict(a), float(a.allowed_time[0]), em.light.pulsed, notes))
    return out


def assess_zone(zone: ZoneModel, emitters: Sequence[Emitter], geometry) -> ZoneSafety:  # noqa: ANN001
    """The hazard over a zone from every light (``geometry``: an EyeGeometry or a function like it)."""
    points, _ = zone.grid()
    shape = points.shape[:3]
    flat = points.reshape(-1, 3)
    lights = [em.light for em in emitters]
    if emitters:
        d, c, vis = geometry(flat, lights)
        parts = [assess(eye_values(em, d[:, k], c[:, k], vis[:, k]), em.duty, em.light.pulse_width)
                 for k, em in enumerate(emitters)]
        total = combine(parts)
        groups, times = total.group, total.allowed_time
    else:
        parts, total = [], None
        groups, times = np.zeros(len(flat), np.int64), np.full(len(flat), math.inf)
    strength = np.zeros(len(flat)) if total is None else \
        total.values.E_B + total.values.E_IR + total.values.L_R * total.values.alpha
    order = np.lexsort((-strength, -groups, times))  # shortest allowed time, highest group, then the strongest
    w = int(order[0])
    dominant, hazard = "", ""
    if parts:
        per_light = np.array([p.allowed_time[w] for p in parts])
        per_group = np.array([p.group[w] for p in parts])
        k = int(np.lexsort((-per_group, per_light))[0])
        if per_group[k] > 0 or math.isfinite(per_light[k]):
            dominant = emitters[k].path
            hz = {h: (float(parts[k].times[h][w]), -int(parts[k].groups[h][w])) for h in parts[k].times}
            hazard = HAZARD_NAMES[min(hz, key=lambda h: hz[h])]
    return ZoneSafety(zone.path, zone.kind, int(groups[w]), float(times[w]), flat[w].copy(),
                      _values_dict(total, w) if total is not None else {}, dominant, hazard, zone.exposure_time,
                      points, groups.reshape(shape), times.reshape(shape), zone)


def assess_items(items, device: str | None = None, *, lights: Sequence[LightModel] | None = None,  # noqa: ANN001
                 reference: bool = False, geometry: EyeGeometry | None = None) -> SafetyReport:
    """The whole assessment of ``swb.stage.eyesafety.SafetyItems`` (``lights`` overrides the stage's lights)."""
    lights = list(items.lights if lights is None else lights)
    emitters = [emitter(lt, items.source) for lt in lights if lt.intensity > 0.0 or lt.radiant > 0.0]
    own = None
    if reference:
        def geo(p, lt):  # noqa: ANN001, ANN202
            return eye_geometry_reference(p, lt, items.parts)
    else:
        geo = geometry if geometry is not None else (own := EyeGeometry(items.parts, device))
    try:
        zones = [assess_zone(z, emitters, geo) for z in items.zones]
    finally:
        if own is not None:
            own.close()
    return SafetyReport(items.source, assess_lights(emitters), zones, [classify_aimer(a) for a in items.aimers],
                        list(items.skipped), items.meters_per_unit, items.up_axis)


def load(scene: str | Path | Any):  # noqa: ANN201
    """SafetyItems of a USD file, an open Usd.Stage, or SafetyItems as they are."""
    from ..stage.eyesafety import SafetyItems, read_safety_items

    if isinstance(scene, SafetyItems):
        return scene
    if isinstance(scene, str | Path):
        from ..stage.load import open_stage

        return read_safety_items(open_stage(scene), str(scene))
    return read_safety_items(scene)


def check(scene: str | Path | Any, limit: str | int = "RG1", *, lights: Sequence[LightModel] | None = None,
          device: str | None = None) -> list[ZoneVerdict]:
    """Per zone: is every eye position within ``limit`` (exempt, RG1, RG2, RG3) and the zone's stated stay?

    ``scene``: a USD file, a Usd.Stage or ``swb.stage.eyesafety.SafetyItems``; ``lights`` replaces the stage's
    lights (a configuration that moves them). An empty list when the stage has no zones."""
    return assess_items(load(scene), device, lights=lights).verdict(limit)
