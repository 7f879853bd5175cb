"""Design problems: the SwbDesign prim on a stage, a TOML file authored into one, and their validation.

A design lives on the stage (USD is the ground truth): a ``SwbDesign`` prim, by default ``/SWB/Designs/<name>``,
with ``SwbDesignMount``, ``SwbDesignSensor`` and ``SwbDesignLens`` children (schemas/schema.usda documents every
attribute). Values on the prims are in the stage's units like the attributes of a camera: lengths in scene units,
focal lengths and pixel pitches in tenths of a scene unit (USD's camera convention), times in seconds.

A TOML file says the same in units a person reads (metres, millimetres for focal lengths, micrometres for pixel
pitch, seconds, Hz; coordinates along the stage's axes)::

    [design]
    goal = "minCameras"            # minCameras (reach read_rate with the fewest cameras) | maxReadRate (K cameras)
    read_rate = 0.995
    candidates = 4096
    positions = 9                  # label positions along the transit ...
    travel = [-1.0, 1.0]           # ... over this stretch of the belt (metres)

    [[mount]]                      # where cameras may go: boxes, mesh surfaces (prim paths), keep-out boxes
    kind = "box"
    box_min = [-0.8, -0.9, 1.7]
    box_max = [0.8, 0.9, 2.4]

    [[sensor]]
    resolution = [4096, 3000]
    pixel_pitch_um = 3.45
    frame_rate = 30
    exposure_s = [0.0001]
    profile = "industrial"

    [[lens]]
    focal_length_mm = 16
    f_stops = [4.0, 8.0]

Every key is checked (unknown keys, wrong types, impossible optics) before anything is authored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pxr import Gf, Sdf, Tf, Usd, Vt

from ..engine.profiles import PROFILES
from ..errors import SwbError
from ..safety.check import group_index
from ..safety.tables import RISK_GROUPS
from ..sweep.spec import FACES, ORIENTATION_MODES, TableReader

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DESIGN_TYPE = "SwbDesign"
MOUNT_TYPE = "SwbDesignMount"
SENSOR_TYPE = "SwbDesignSensor"
LENS_TYPE = "SwbDesignLens"
DESIGNS_ROOT = "/SWB/Designs"

GOALS = ("minCameras", "maxReadRate")
MINIMIZE = ("cameras", "cost")
EXISTING = ("replace", "keep")
SAFETY_LIMITS = ("none", "exempt", "RG1", "RG2", "RG3")
MOUNT_KINDS = ("box", "surface", "keepOut")
FOCUS_MODES = ("fixed", "autofocus")

# SwbDesign attributes
D_GOAL = "swb:design:goal"
D_READ_RATE = "swb:design:readRate"
D_CAMERAS = "swb:design:cameras"
D_BUDGET = "swb:design:budget"
D_MINIMIZE = "swb:design:minimize"
D_EXISTING = "swb:design:existing"
D_LABELS = "swb:design:labels"
D_CANDIDATES = "swb:design:candidates"
D_ROLLS = "swb:design:rolls"
D_ROUNDS = "swb:design:rounds"
D_RESAMPLE = "swb:design:resample"
D_REFINE = "swb:design:refineGenerations"
D_MILP_TIME = "swb:design:milpTimeLimit"
D_SEED = "swb:design:seed"
D_ORIENTATION_MODE = "swb:design:orientationMode"
D_ORIENTATIONS = "swb:design:orientations"
D_FACE_WEIGHTS = "swb:design:faceWeights"
D_PARCELS = "swb:design:parcels"
D_POSITIONS = "swb:design:positions"
D_TRAVEL = "swb:design:travel"
D_OUTPUT = "swb:design:output"
D_SAFETY = "swb:design:safetyLimit"
# SwbDesignMount
M_KIND = "swb:mount:kind"
M_BOX_MIN = "swb:mount:boxMin"
M_BOX_MAX = "swb:mount:boxMax"
M_SURFACES = "swb:mount:surfaces"
M_OFFSET = "swb:mount:offset"
# SwbDesignSensor and SwbDesignLens
C_RESOLUTION = "swb:catalog:resolution"
C_PIXEL_PITCH = "swb:catalog:pixelPitch"
C_FRAME_RATE = "swb:catalog:frameRate"
C_EXPOSURES = "swb:catalog:exposureTimes"
C_PROFILE = "swb:catalog:decoderProfile"
C_FOCUS_MODE = "swb:catalog:focusMode"
C_FOCAL_LENGTH = "swb:catalog:focalLength"
C_F_STOPS = "swb:catalog:fStops"
C_COST = "swb:catalog:cost"

Vec3 = tuple[float, float, float]


def _f32(x: float) -> float:
    """The value a float attribute stores: specs read from USD and built from TOML agree exactly."""
    return float(np.float32(x))


@dataclass(frozen=True)
class MountSpec:
    """A region cameras may be mounted in (box, mesh surfaces) or must stay out of (keepOut), stage units."""

    name: str
    kind: str = "box"
    box: tuple[Vec3, Vec3] | None = None
    surfaces: tuple[str, ...] = ()
    offset: float = 0.0  # surface: distance off the surface along its normal
    prim: str = ""


@dataclass(frozen=True)
class SensorSpec:
    """A camera body of the catalogue: pixels, pitch (tenths of a scene unit), frame rate, exposures, decoder."""

    name: str
    resolution: tuple[int, int] = (1920, 1200)
    pixel_pitch: float = 0.0
    frame_rate: float = 0.0  # Hz; 0: one frame anywhere along the transit is enough
    exposures: tuple[float, ...] = (0.0,)
    profile: str = "industrial"
    focus_mode: str = "fixed"
    cost: float = 1.0
    prim: str = ""


@dataclass(frozen=True)
class LensSpec:
    """A lens of the catalogue: focal length (tenths of a scene unit) and the f-numbers it may be set to."""

    name: str
    focal_length: float = 0.0
    f_stops: tuple[float, ...] = (0.0,)
    cost: float = 0.0
    prim: str = ""


@dataclass(frozen=True)
class DesignSpec:
    """A whole design problem, as read from a SwbDesign prim (or built from a TOML file for a stage's units)."""

    name: str
    mounts: tuple[MountSpec, ...]
    sensors: tuple[SensorSpec, ...]
    lenses: tuple[LensSpec, ...]
    goal: str = "minCameras"
    read_rate: float = 0.995
    cameras: int = 0  # maxReadRate: K; minCameras: at most this many (0: no limit)
    budget: float = 0.0  # maxReadRate: total cost limit instead of / besides K (0: none)
    minimize: str = "cameras"
    existing: str = "replace"
    labels: tuple[str, ...] = ()
    candidates: int = 2048
    rolls: tuple[float, ...] = (0.0, 90.0)
    rounds: int = 2
    resample: int = 0  # new candidates per adaptive round (0: a quarter of ``candidates``)
    refine_generations: int = 20
    milp_time_limit: float = 30.0
    seed: int = 0
    orientation_mode: str = "flatRandomYaw"
    orientations: int = 8
    face_weights: tuple[float, ...] = ()
    parcels: tuple[str, ...] = ()
    positions: int = 1
    travel: tuple[float, float] = (0.0, 0.0)
    output: str = "/World/DesignedCameras"
    safety: str = "none"  # eye-safety limit on the zones (SAFETY_LIMITS; none: not checked)
    path: str = ""
    source: str = ""

    @property
    def resample_count(self) -> int:
        return self.resample if self.resample > 0 else max(1, self.candidates // 4)

    def with_overrides(self, *, read_rate: float | None = None, cameras: int | None = None,
                       candidates: int | None = None, seed: int | None = None,
                       safety: str | None = None) -> DesignSpec:
        """The spec with a command line's goal or sizes (a read rate means minCameras, K means maxReadRate)."""
        spec = self
        if read_rate is not None:
            spec = replace(spec, goal="minCameras", read_rate=read_rate,
                           cameras=spec.cameras if spec.goal == "minCameras" else 0)
        if cameras is not None:
            spec = replace(spec, goal="maxReadRate", cameras=cameras)
        if candidates is not None:
            spec = replace(spec, candidates=candidates)
        if seed is not None:
            spec = replace(spec, seed=seed)
        if safety is not None:
            spec = replace(spec, safety=safety_token(safety, spec))
        validate(spec)
        return spec


def safety_token(limit: str, spec: DesignSpec) -> str:
    """A risk group as the user writes it (rg1, RG0, 2, exempt, none) -> its SAFETY_LIMITS token."""
    text = str(limit).strip()
    if text.lower() == "none":
        return "none"
    try:
        return RISK_GROUPS[group_index(text)]
    except SwbError:
        raise _err(spec, f"unknown safety limit {limit!r}", spec.path or spec.name, D_SAFETY,
                   hint=f"use one of {', '.join(SAFETY_LIMITS)}") from None


def design_path(name: str) -> str:
    return f"{DESIGNS_ROOT}/{name}"


# ----------------------------------------------------------------------------------------------------------
# validation shared by USD and TOML


def _err(spec: DesignSpec, message: str, prim: str | None, attribute: str | None = None,
         hint: str | None = None) -> SwbError:
    return SwbError(message, file=spec.source or None, prim=prim or None, attribute=attribute, hint=hint)


def _finite(values: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=np.float64))))


def validate(spec: DesignSpec) -> None:
    """Everything that can be checked without the scene: SwbError naming the prim and attribute."""
    where = spec.path or spec.name
    if spec.goal not in GOALS:
        raise _err(spec, f"unknown goal {spec.goal!r}", where, D_GOAL, hint=f"use one of {', '.join(GOALS)}")
    if spec.goal == "minCameras" and not 0.0 < spec.read_rate <= 1.0:
        raise _err(spec, f"the read-rate goal must be in (0, 1], got {spec.read_rate}", where, D_READ_RATE,
                   hint="e.g. 0.995 for 99.5 %")
    if spec.cameras < 0:
        raise _err(spec, f"cameras must not be negative, got {spec.cameras}", where, D_CAMERAS)
    if not math.isfinite(spec.budget) or spec.budget < 0.0:
        raise _err(spec, f"the budget must be a non-negative number, got {spec.budget}", where, D_BUDGET)
    if spec.goal == "maxReadRate" and spec.cameras == 0 and spec.budget == 0.0:
        raise _err(spec, "maxReadRate needs a number of cameras or a budget", where, D_CAMERAS,
                   hint="give cameras = K (--cameras K) or budget = B")
    if spec.minimize not in MINIMIZE:
        raise _err(spec, f"unknown minimize {spec.minimize!r}", where, D_MINIMIZE, hint=f"use one of {MINIMIZE}")
    if spec.existing not in EXISTING:
        raise _err(spec, f"unknown existing {spec.existing!r}", where, D_EXISTING, hint=f"use one of {EXISTING}")
    if spec.safety not in SAFETY_LIMITS:
        raise _err(spec, f"unknown safety limit {spec.safety!r}", where, D_SAFETY,
                   hint=f"use one of {', '.join(SAFETY_LIMITS)}")
    for name, value, low in ((D_CANDIDATES, spec.candidates, 1), (D_ROUNDS, spec.rounds, 0),
                             (D_RESAMPLE, spec.resample, 0), (D_REFINE, spec.refine_generations, 0),
                             (D_SEED, spec.seed, 0), (D_ORIENTATIONS, spec.orientations, 1),
                             (D_POSITIONS, spec.positions, 1)):
        if value < low:
            raise _err(spec, f"must be at least {low}, got {value}", where, name)
    if not math.isfinite(spec.milp_time_limit) or spec.milp_time_limit < 0.0:
        raise _err(spec, f"the MILP time limit must be >= 0 seconds (0: no MILP), got {spec.milp_time_limit}",
                   where, D_MILP_TIME)
    if not spec.rolls or not _finite(spec.rolls):
        raise _err(spec, f"rolls must be a non-empty list of finite angles, got {list(spec.rolls)}", where, D_ROLLS)
    if spec.orientation_mode not in ORIENTATION_MODES:
        raise _err(spec, f"unknown orientation mode {spec.orientation_mode!r}", where, D_ORIENTATION_MODE,
                   hint=f"use one of {ORIENTATION_MODES}")
    fw = spec.face_weights
    if fw and (len(fw) != 6 or not _finite(fw) or min(fw) < 0.0 or sum(fw) <= 0.0):
        raise _err(spec, f"faceWeights needs six non-negative weights ({', '.join(FACES)}), not all zero; "
                   f"got {list(fw)}", where, D_FACE_WEIGHTS)
    if not _finite(spec.travel) or spec.travel[0] > spec.travel[1]:
        raise _err(spec, f"travel must be (low, high) with low <= high, got {spec.travel}", where, D_TRAVEL)
    if spec.positions > 1 and spec.travel[0] == spec.travel[1]:
        raise _err(spec, f"{spec.positions} positions over an empty travel {spec.travel}", where, D_TRAVEL,
                   hint="give a travel range, or positions = 1")
    if not (Sdf.Path.IsValidPathString(spec.output) and Sdf.Path(spec.output).IsAbsolutePath()
            and Sdf.Path(spec.output).IsPrimPath()):
        raise _err(spec, f"{spec.output!r} is not an absolute prim path", where, D_OUTPUT,
                   hint="e.g. /World/DesignedCameras")
    regions = [m for m in spec.mounts if m.kind != "keepOut"]
    if not regions:
        raise _err(spec, "the design has no mount region: cameras have nowhere to go", where,
                   hint=f"add {MOUNT_TYPE} children (TOML: [[mount]] tables with kind = \"box\" or \"surface\")")
    if not spec.sensors:
        raise _err(spec, "the camera catalogue has no sensor", where,
                   hint=f"add {SENSOR_TYPE} children (TOML: [[sensor]] tables)")
    if not spec.lenses:
        raise _err(spec, "the camera catalogue has no lens", where,
                   hint=f"add {LENS_TYPE} children (TOML: [[lens]] tables)")
    names = [x.name for x in (*spec.mounts, *spec.sensors, *spec.lenses)]
    if len(set(names)) != len(names):
        raise _err(spec, "two mounts, sensors or lenses share a name", where,
                   hint="name each [[mount]], [[sensor]] and [[lens]] differently")
    for m in spec.mounts:
        _validate_mount(spec, m)
    for s in spec.sensors:
        _validate_sensor(spec, s)
    for lens in spec.lenses:
        _validate_lens(spec, lens)


def _validate_mount(spec: DesignSpec, m: MountSpec) -> None:
    where = m.prim or f"{spec.path or spec.name}/{m.name}"
    if m.kind not in MOUNT_KINDS:
        raise _err(spec, f"unknown mount kind {m.kind!r}", where, M_KIND, hint=f"use one of {MOUNT_KINDS}")
    if m.kind == "surface":
        if not m.surfaces:
            raise _err(spec, "a surface mount names no prims", where, M_SURFACES,
                       hint="list the mesh prims (a gantry frame) cameras may sit on")
        if not math.isfinite(m.offset):
            raise _err(spec, f"offset must be finite, got {m.offset}", where, M_OFFSET)
        return
    if m.box is None:
        raise _err(spec, f"a {m.kind} mount needs boxMin and boxMax", where, M_BOX_MIN)
    lo, hi = np.asarray(m.box[0], float), np.asarray(m.box[1], float)
    if not _finite(m.box) or np.any(lo > hi):
        raise _err(spec, f"the box {tuple(lo)} .. {tuple(hi)} is empty", where, M_BOX_MIN,
                   hint="boxMin must not exceed boxMax along any axis")


def _validate_sensor(spec: DesignSpec, s: SensorSpec) -> None:
    where = s.prim or f"{spec.path or spec.name}/{s.name}"
    w, h = s.resolution
    if w <= 0 or h <= 0:
        raise _err(spec, f"resolution must be positive, got {s.resolution}", where, C_RESOLUTION)
    if not math.isfinite(s.pixel_pitch) or s.pixel_pitch <= 0.0:
        raise _err(spec, f"the pixel pitch must be positive, got {s.pixel_pitch}", where, C_PIXEL_PITCH,
                   hint="TOML: pixel_pitch_um, e.g. 3.45")
    if not math.isfinite(s.frame_rate) or s.frame_rate < 0.0:
        raise _err(spec, f"the frame rate must be >= 0 Hz, got {s.frame_rate}", where, C_FRAME_RATE)
    if not s.exposures or not _finite(s.exposures) or min(s.exposures) < 0.0:
        raise _err(spec, f"exposure times must be a non-empty list of seconds >= 0, got {list(s.exposures)}",
                   where, C_EXPOSURES)
    if s.frame_rate > 0.0 and max(s.exposures) > 1.0 / s.frame_rate:
        raise _err(spec, f"an exposure of {max(s.exposures)} s does not fit in a frame at {s.frame_rate} Hz",
                   where, C_EXPOSURES, hint="shorten the exposure or lower the frame rate")
    if s.profile not in PROFILES:
        raise _err(spec, f"unknown decoder profile {s.profile!r}", where, C_PROFILE,
                   hint=f"use one of {', '.join(PROFILES)}")
    if s.focus_mode not in FOCUS_MODES:
        raise _err(spec, f"unknown focus mode {s.focus_mode!r}", where, C_FOCUS_MODE, hint=f"use one of {FOCUS_MODES}")
    if not math.isfinite(s.cost) or s.cost < 0.0:
        raise _err(spec, f"the cost must be >= 0, got {s.cost}", where, C_COST)


def _validate_lens(spec: DesignSpec, lens: LensSpec) -> None:
    where = lens.prim or f"{spec.path or spec.name}/{lens.name}"
    if not math.isfinite(lens.focal_length) or lens.focal_length <= 0.0:
        raise _err(spec, f"the focal length must be positive, got {lens.focal_length}", where, C_FOCAL_LENGTH)
    if not lens.f_stops or not _finite(lens.f_stops) or min(lens.f_stops) < 0.0:
        raise _err(spec, f"f-stops must be a non-empty list of numbers >= 0 (0: pinhole), got {list(lens.f_stops)}",
                   where, C_F_STOPS)
    if not math.isfinite(lens.cost) or lens.cost < 0.0:
        raise _err(spec, f"the cost must be >= 0, got {lens.cost}", where, C_COST)


# ----------------------------------------------------------------------------------------------------------
# reading from a stage


def find_designs(stage: Usd.Stage) -> list[Usd.Prim]:
    return [p for p in stage.Traverse() if p.GetTypeName() == DESIGN_TYPE]


def design_prim(stage: Usd.Stage, name: str | None, source: str) -> Usd.Prim:
    """The design called ``name`` (a prim name or path), or the only design on the stage."""
    designs = find_designs(stage)
    listing = ", ".join(str(p.GetPath()) for p in designs)
    if name is not None:
        hits = [p for p in designs if p.GetName() == name or str(p.GetPath()) == name]
        if len(hits) == 1:
            return hits[0]
        raise SwbError(f"no single design named {name!r}", file=source,
                       hint=f"designs: {listing}" if designs else "author a SwbDesign prim or pass --spec")
    if len(designs) == 1:
        return designs[0]
    if not designs:
        raise SwbError("the stage holds no design", file=source,
                       hint=f"pass a spec (swb optimize SCENE --spec design.toml) or author a {DESIGN_TYPE} prim")
    raise SwbError("the stage holds several designs", file=source, hint=f"name one: {listing}")


def _get(prim: Usd.Prim, name: str) -> Any:
    attr = prim.GetAttribute(name)
    return attr.Get() if attr else None


def _targets(prim: Usd.Prim, name: str) -> tuple[str, ...]:
    rel = prim.GetRelationship(name)
    return tuple(str(t) for t in rel.GetTargets()) if rel else ()


def _floats(value: Any) -> tuple[float, ...]:
    return tuple(float(x) for x in (value or ()))


def read_design(prim: Usd.Prim, source: str) -> DesignSpec:
    """The DesignSpec of a SwbDesign prim, validated (SwbError naming prim and attribute when not usable)."""
    path = str(prim.GetPath())
    if prim.GetTypeName() != DESIGN_TYPE:
        raise SwbError(f"is a {prim.GetTypeName() or 'typeless'} prim, not a {DESIGN_TYPE}", file=source, prim=path)
    mounts, sensors, lenses = [], [], []
    for child in prim.GetChildren():
        kind, cpath = child.GetTypeName(), str(child.GetPath())
        if kind == MOUNT_TYPE:
            box = None
            if child.GetAttribute(M_BOX_MIN).HasAuthoredValue() or child.GetAttribute(M_BOX_MAX).HasAuthoredValue():
                box = (tuple(float(v) for v in _get(child, M_BOX_MIN)), tuple(float(v) for v in _get(child, M_BOX_MAX)))
            mounts.append(MountSpec(child.GetName(), str(_get(child, M_KIND)), box, _targets(child, M_SURFACES),
                                    float(_get(child, M_OFFSET)), cpath))
        elif kind == SENSOR_TYPE:
            res = _get(child, C_RESOLUTION)
            sensors.append(SensorSpec(child.GetName(), (int(res[0]), int(res[1])), float(_get(child, C_PIXEL_PITCH)),
                                      float(_get(child, C_FRAME_RATE)), _floats(_get(child, C_EXPOSURES)),
                                      str(_get(child, C_PROFILE)), str(_get(child, C_FOCUS_MODE)),
                                      float(_get(child, C_COST)), cpath))
        elif kind == LENS_TYPE:
            lenses.append(LensSpec(child.GetName(), float(_get(child, C_FOCAL_LENGTH)),
                                   _floats(_get(child, C_F_STOPS)), float(_get(child, C_COST)), cpath))
        else:
            raise SwbError(f"a design's children must be {MOUNT_TYPE}, {SENSOR_TYPE} or {LENS_TYPE} prims, not "
                           f"{kind or 'typeless'}", file=source, prim=cpath, hint="move other prims out of the design")
    travel = _get(prim, D_TRAVEL)
    spec = DesignSpec(
        name=prim.GetName(), mounts=tuple(mounts), sensors=tuple(sensors), lenses=tuple(lenses),
        goal=str(_get(prim, D_GOAL)), read_rate=float(_get(prim, D_READ_RATE)), cameras=int(_get(prim, D_CAMERAS)),
        budget=float(_get(prim, D_BUDGET)), minimize=str(_get(prim, D_MINIMIZE)),
        existing=str(_get(prim, D_EXISTING)), labels=_targets(prim, D_LABELS),
        candidates=int(_get(prim, D_CANDIDATES)), rolls=_floats(_get(prim, D_ROLLS)),
        rounds=int(_get(prim, D_ROUNDS)), resample=int(_get(prim, D_RESAMPLE)),
        refine_generations=int(_get(prim, D_REFINE)), milp_time_limit=float(_get(prim, D_MILP_TIME)),
        seed=int(_get(prim, D_SEED)), orientation_mode=str(_get(prim, D_ORIENTATION_MODE)),
        orientations=int(_get(prim, D_ORIENTATIONS)), face_weights=_floats(_get(prim, D_FACE_WEIGHTS)),
        parcels=_targets(prim, D_PARCELS), positions=int(_get(prim, D_POSITIONS)),
        travel=(float(travel[0]), float(travel[1])), output=str(_get(prim, D_OUTPUT)),
        safety=str(_get(prim, D_SAFETY) or "none"), path=path, source=source)
    validate(spec)
    return spec


# ----------------------------------------------------------------------------------------------------------
# authoring onto a stage

_T = Sdf.ValueTypeNames


def _set(prim: Usd.Prim, name: str, type_name: Sdf.ValueTypeName, value: Any) -> None:
    prim.CreateAttribute(name, type_name, custom=False).Set(value)


def _rel(prim: Usd.Prim, name: str, paths: tuple[str, ...]) -> None:
    if paths:
        prim.CreateRelationship(name, custom=False).SetTargets([Sdf.Path(p) for p in paths])


def author_design(stage: Usd.Stage, spec: DesignSpec) -> Usd.Prim:
    """Write ``spec`` as a SwbDesign prim (at spec.path or /SWB/Designs/<name>) into the stage's edit target.

    A design of that name authored earlier in the same layer is replaced; one another layer defines is not
    touched (SwbError): its children would merge with the new ones.
    """
    validate(spec)
    path = Sdf.Path(spec.path or design_path(spec.name))
    layer = stage.GetEditTarget().GetLayer()
    existing = stage.GetPrimAtPath(path)
    if existing and any(s.layer != layer for s in existing.GetPrimStack()):
        raise SwbError(f"a design named {spec.name!r} is already defined in the stage", file=spec.source or None,
                       prim=str(path), hint="give the TOML design another name")
    with Sdf.ChangeBlock():
        if layer.GetPrimAtPath(path):
            del layer.GetPrimAtPath(path.GetParentPath()).nameChildren[path.name]
    prim = stage.DefinePrim(path, DESIGN_TYPE)
    _set(prim, D_GOAL, _T.Token, spec.goal)
    _set(prim, D_READ_RATE, _T.Float, spec.read_rate)
    _set(prim, D_CAMERAS, _T.Int, int(spec.cameras))
    _set(prim, D_BUDGET, _T.Float, spec.budget)
    _set(prim, D_MINIMIZE, _T.Token, spec.minimize)
    _set(prim, D_EXISTING, _T.Token, spec.existing)
    _rel(prim, D_LABELS, spec.labels)
    _set(prim, D_CANDIDATES, _T.Int, int(spec.candidates))
    _set(prim, D_ROLLS, _T.FloatArray, Vt.FloatArray(list(spec.rolls)))
    _set(prim, D_ROUNDS, _T.Int, int(spec.rounds))
    _set(prim, D_RESAMPLE, _T.Int, int(spec.resample))
    _set(prim, D_REFINE, _T.Int, int(spec.refine_generations))
    _set(prim, D_MILP_TIME, _T.Float, spec.milp_time_limit)
    _set(prim, D_SEED, _T.Int, int(spec.seed))
    _set(prim, D_ORIENTATION_MODE, _T.Token, spec.orientation_mode)
    _set(prim, D_ORIENTATIONS, _T.Int, int(spec.orientations))
    if spec.face_weights:
        _set(prim, D_FACE_WEIGHTS, _T.FloatArray, Vt.FloatArray(list(spec.face_weights)))
    _rel(prim, D_PARCELS, spec.parcels)
    _set(prim, D_POSITIONS, _T.Int, int(spec.positions))
    _set(prim, D_TRAVEL, _T.Float2, Gf.Vec2f(*spec.travel))
    _set(prim, D_OUTPUT, _T.String, spec.output)
    _set(prim, D_SAFETY, _T.Token, spec.safety)
    for m in spec.mounts:
        child = stage.DefinePrim(path.AppendChild(m.name), MOUNT_TYPE)
        _set(child, M_KIND, _T.Token, m.kind)
        if m.box is not None:
            _set(child, M_BOX_MIN, _T.Float3, Gf.Vec3f(*m.box[0]))
            _set(child, M_BOX_MAX, _T.Float3, Gf.Vec3f(*m.box[1]))
        _rel(child, M_SURFACES, m.surfaces)
        _set(child, M_OFFSET, _T.Float, m.offset)
    for s in spec.sensors:
        child = stage.DefinePrim(path.AppendChild(s.name), SENSOR_TYPE)
        _set(child, C_RESOLUTION, _T.Int2, Gf.Vec2i(*s.resolution))
        _set(child, C_PIXEL_PITCH, _T.Float, s.pixel_pitch)
        _set(child, C_FRAME_RATE, _T.Float, s.frame_rate)
        _set(child, C_EXPOSURES, _T.FloatArray, Vt.FloatArray(list(s.exposures)))
        _set(child, C_PROFILE, _T.Token, s.profile)
        _set(child, C_FOCUS_MODE, _T.Token, s.focus_mode)
        _set(child, C_COST, _T.Float, s.cost)
    for lens in spec.lenses:
        child = stage.DefinePrim(path.AppendChild(lens.name), LENS_TYPE)
        _set(child, C_FOCAL_LENGTH, _T.Float, lens.focal_length)
        _set(child, C_F_STOPS, _T.FloatArray, Vt.FloatArray(list(lens.f_stops)))
        _set(child, C_COST, _T.Float, lens.cost)
    return prim


# ----------------------------------------------------------------------------------------------------------
# TOML and plain dictionaries

DESIGN_KEYS = {"name", "goal", "read_rate", "cameras", "budget", "minimize", "existing", "labels", "candidates",
               "rolls", "rounds", "resample", "refine_generations", "milp_time_limit", "seed", "orientation_mode",
               "orientations", "face_weights", "parcels", "positions", "travel", "output", "safety"}
MOUNT_KEYS = {"name", "kind", "box_min", "box_max", "surfaces", "offset"}
SENSOR_KEYS = {"name", "resolution", "pixel_pitch_um", "frame_rate", "exposure_s", "profile", "focus", "cost"}
LENS_KEYS = {"name", "focal_length_mm", "f_stops", "cost"}
TOP_KEYS = {"design", "mount", "sensor", "lens"}


def load_toml_design(path: str | Path, meters_per_unit: float, name: str | None = None) -> DesignSpec:
    """A TOML design converted to a stage with ``meters_per_unit`` (validated, nothing authored)."""
    path = Path(path)
    if not path.is_file():
        raise SwbError("no such design spec file", file=str(path), hint="check the path given to --spec")
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SwbError(f"is not valid TOML: {exc}", file=str(path)) from None
    default = name or Tf.MakeValidIdentifier(path.stem) or "design"
    return design_from_dict(doc, meters_per_unit, source=str(path), default_name=default)


def _name(r: TableReader, default: str) -> str:
    name = r.str_("name", default)
    if not Sdf.Path.IsValidIdentifier(name):
        raise r.error("name", f"{name!r} is not a valid prim name", hint="letters, digits and _ only")
    return name


def _float(r: TableReader, key: str, default: float) -> float:
    return r.num(r.t[key], key) if r.has(key) else float(default)


def _list_or_number(r: TableReader, key: str, default: tuple[float, ...]) -> tuple[float, ...]:
    if not r.has(key):
        return default
    if isinstance(r.t[key], list):
        return r.nums(key)
    return (r.num(r.t[key], key),)


def _tables(doc: dict[str, Any], key: str, source: str) -> list[Any]:
    tables = doc.get(key, [])
    if not isinstance(tables, list):
        raise SwbError(f"{key} entries must be [[{key}]] tables", file=source or None, attribute=key)
    return tables


def design_from_dict(doc: dict[str, Any], meters_per_unit: float, *, source: str = "",
                     default_name: str = "design") -> DesignSpec:
    """A DesignSpec from a TOML-shaped dictionary in person units (see the module docstring), converted to a stage
    with ``meters_per_unit`` and validated. Floats are rounded as USD's float attributes store them, so the result
    equals what ``read_design`` gives after ``author_design``."""
    TableReader(doc, "top level", source, TOP_KEYS)  # unknown top-level tables
    d = TableReader(doc.get("design", {}), "design", source, DESIGN_KEYS)
    length = 1.0 / meters_per_unit
    tenth_mm = length / 1000.0 * 10.0  # mm -> tenths of a scene unit
    name = _name(d, default_name)
    base = design_path(name)
    mounts = []
    for i, table in enumerate(_tables(doc, "mount", source)):
        r = TableReader(table, f"mount {i + 1}", source, MOUNT_KEYS)
        box = None
        if r.has("box_min") or r.has("box_max"):
            box = (tuple(_f32(v * length) for v in r.nums("box_min", 3)),
                   tuple(_f32(v * length) for v in r.nums("box_max", 3)))
        mname = _name(r, f"mount{i + 1}")
        mounts.append(MountSpec(mname, r.str_("kind", "box"), box, r.paths("surfaces"),  # type: ignore[arg-type]
                                _f32(_float(r, "offset", 0.0) * length), f"{base}/{mname}"))
    sensors = []
    for i, table in enumerate(_tables(doc, "sensor", source)):
        r = TableReader(table, f"sensor {i + 1}", source, SENSOR_KEYS)
        sname = _name(r, f"sensor{i + 1}")
        if r.has("resolution"):
            v = r.t["resolution"]
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                                 for x in v)):
                raise r.error("resolution", f"must be [width, height] in pixels, got {v!r}")
            res = (int(v[0]), int(v[1]))
        else:
            raise r.error("resolution", "is missing", hint="e.g. resolution = [4096, 3000]")
        if not r.has("pixel_pitch_um"):
            raise r.error("pixel_pitch_um", "is missing", hint="e.g. pixel_pitch_um = 3.45")
        sensors.append(SensorSpec(
            sname, res, _f32(_float(r, "pixel_pitch_um", 0.0) * 1e-3 * tenth_mm),
            _f32(_float(r, "frame_rate", 0.0)),
            tuple(_f32(x) for x in _list_or_number(r, "exposure_s", (0.0,))),
            r.str_("profile", "industrial"), r.str_("focus", "fixed"), _f32(_float(r, "cost", 1.0)),
            f"{base}/{sname}"))
    lenses = []
    for i, table in enumerate(_tables(doc, "lens", source)):
        r = TableReader(table, f"lens {i + 1}", source, LENS_KEYS)
        lname = _name(r, f"lens{i + 1}")
        if not r.has("focal_length_mm"):
            raise r.error("focal_length_mm", "is missing", hint="e.g. focal_length_mm = 16")
        lenses.append(LensSpec(lname, _f32(_float(r, "focal_length_mm", 0.0) * tenth_mm),
                               tuple(_f32(x) for x in _list_or_number(r, "f_stops", (0.0,))),
                               _f32(_float(r, "cost", 0.0)), f"{base}/{lname}"))
    travel = d.nums("travel", 2) if d.has("travel") else (0.0, 0.0)
    spec = DesignSpec(
        name=name, mounts=tuple(mounts), sensors=tuple(sensors), lenses=tuple(lenses),
        goal=d.str_("goal", "minCameras"), read_rate=_f32(_float(d, "read_rate", 0.995)),
        cameras=d.int_("cameras", 0), budget=_f32(_float(d, "budget", 0.0)), minimize=d.str_("minimize", "cameras"),
        existing=d.str_("existing", "replace"), labels=d.paths("labels"), candidates=d.int_("candidates", 2048),
        rolls=tuple(_f32(x) for x in _list_or_number(d, "rolls", (0.0, 90.0))), rounds=d.int_("rounds", 2),
        resample=d.int_("resample", 0), refine_generations=d.int_("refine_generations", 20),
        milp_time_limit=_f32(_float(d, "milp_time_limit", 30.0)), seed=d.int_("seed", 0),
        orientation_mode=d.str_("orientation_mode", "flatRandomYaw"), orientations=d.int_("orientations", 8),
        face_weights=tuple(_f32(x) for x in d.nums("face_weights")) if d.has("face_weights") else (),
        parcels=d.paths("parcels"), positions=d.int_("positions", 1),
        travel=(_f32(travel[0] * length), _f32(travel[1] * length)),
        output=d.str_("output", "/World/DesignedCameras"), path=base, source=source)
    if d.has("safety"):
        spec = replace(spec, safety=safety_token(d.str_("safety", "none"), spec))
    validate(spec)
    return spec
