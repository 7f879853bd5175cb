"""Sweep specifications: the SwbSweep prim on a stage, a TOML file authored into one, and their validation.

A sweep lives on the stage (USD is the ground truth): a ``SwbSweep`` prim, by default ``/SWB/Sweeps/<name>``,
with ``SwbSweepParameter`` children applied in order (schemas/schema.usda documents every attribute). Values on
the prim are in the stage's units like the attributes they vary: lengths in scene units, focal lengths and
apertures in tenths of a scene unit, angles in degrees, times in seconds.

A TOML file says the same in units a person reads (metres, millimetres for focal length and apertures, degrees,
seconds; coordinates along the stage's axes)::

    [sweep]
    name = "tunnel"                      # default: the file name
    cameras = ["/World/Cameras/TopWide"]
    sampler = "lhs"                      # grid | random | lhs | sobol
    samples = 256
    seed = 0
    orientation_mode = "flatRandomYaw"   # asAuthored | flatRandomYaw | allFaces
    orientations = 8
    [[parameter]]
    kind = "translateZ"
    range = [-0.5, 0.0]                  # metres (or values = [...])

Every key is checked (unknown keys, wrong types, empty ranges) before anything is authored.
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

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SWEEP_TYPE = "SwbSweep"
PARAMETER_TYPE = "SwbSweepParameter"
SWEEPS_ROOT = "/SWB/Sweeps"

SAMPLERS = ("grid", "random", "lhs", "sobol")
ORIENTATION_MODES = ("asAuthored", "flatRandomYaw", "allFaces")
SPACES = ("camera", "world", "pivot")
RIGS = ("same", "mirror")
TRANSLATIONS = {"translateX": 0, "translateY": 1, "translateZ": 2}
ROTATIONS = {"pitch": 0, "yaw": 1, "roll": 2}
OPTICS = ("focalLength", "fStop", "focusDistance", "exposure")
KINDS = (*TRANSLATIONS, "translateBox", *ROTATIONS, *OPTICS, "resolution", "sensor", "decoderProfile")
SCALAR_KINDS = (*TRANSLATIONS, *ROTATIONS, *OPTICS)  # a range or a list of numbers
POSE_KINDS = (*TRANSLATIONS, "translateBox", *ROTATIONS)
FACES = ("+X", "-X", "+Y", "-Y", "+Z", "-Z")

# SwbSweep attributes
SWEEP_CAMERAS = "swb:sweep:cameras"
SWEEP_SAMPLER = "swb:sweep:sampler"
SWEEP_SAMPLES = "swb:sweep:samples"
SWEEP_SEED = "swb:sweep:seed"
SWEEP_ORIENTATION_MODE = "swb:sweep:orientationMode"
SWEEP_ORIENTATIONS = "swb:sweep:orientations"
SWEEP_FACE_WEIGHTS = "swb:sweep:faceWeights"
SWEEP_PARCELS = "swb:sweep:parcels"
SWEEP_POSITIONS = "swb:sweep:positions"
SWEEP_TRAVEL = "swb:sweep:travel"
# SwbSweepParameter attributes
PARAM_KIND = "swb:param:kind"
PARAM_RANGE = "swb:param:range"
PARAM_VALUES = "swb:param:values"
PARAM_RESOLUTIONS = "swb:param:resolutions"
PARAM_APERTURES = "swb:param:apertures"
PARAM_PROFILES = "swb:param:profiles"
PARAM_BOX_MIN = "swb:param:boxMin"
PARAM_BOX_MAX = "swb:param:boxMax"
PARAM_STEPS = "swb:param:steps"
PARAM_SPACE = "swb:param:space"
PARAM_PIVOT = "swb:param:pivot"
PARAM_AXIS = "swb:param:axis"
PARAM_CAMERAS = "swb:param:cameras"
PARAM_RIG = "swb:param:rig"
PARAM_MIRROR_NORMAL = "swb:param:mirrorNormal"

# Units of a kind's values: in a TOML file, on the stage, and in tables (see ``to_stage`` / ``display_scale``).
UNITS = {**{k: "m" for k in TRANSLATIONS}, "translateBox": "m", **{k: "deg" for k in ROTATIONS},
         "focalLength": "mm", "fStop": "", "focusDistance": "m", "exposure": "s"}

Vec3 = tuple[float, float, float]


def _f32(x: float) -> float:
    """The value a float attribute stores: specs read from USD and built from TOML agree exactly."""
    return float(np.float32(x))


@dataclass(frozen=True)
class ParamSpec:
    """One varied parameter, values in stage units (see the module docstring)."""

    name: str
    kind: str
    cameras: tuple[str, ...] = ()  # rig members in order; empty: every camera of the sweep
    range: tuple[float, float] | None = None
    values: tuple[float, ...] = ()
    resolutions: tuple[tuple[int, int], ...] = ()
    apertures: tuple[tuple[float, float], ...] = ()
    profiles: tuple[str, ...] = ()
    box: tuple[Vec3, Vec3] | None = None
    steps: int = 0
    space: str = "world"
    pivot: Vec3 = (0.0, 0.0, 0.0)
    axis: Vec3 = (0.0, 0.0, 0.0)
    rig: str = "same"
    mirror_normal: Vec3 = (0.0, 0.0, 0.0)
    prim: str = ""

    @property
    def dims(self) -> int:
        return 3 if self.kind == "translateBox" else 1

    @property
    def choices(self) -> int:
        """Number of discrete choices; 0 for a continuous range or box."""
        if self.kind in ("resolution", "sensor"):
            return len(self.resolutions)
        if self.kind == "decoderProfile":
            return len(self.profiles)
        if self.kind in SCALAR_KINDS and self.range is None:
            return len(self.values)
        return 0


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep, as read from a SwbSweep prim (or built from a TOML file for a stage's units)."""

    name: str
    cameras: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    sampler: str = "lhs"
    samples: int = 256
    seed: int = 0
    orientation_mode: str = "flatRandomYaw"
    orientations: int = 8
    face_weights: tuple[float, ...] = ()
    parcels: tuple[str, ...] = ()
    positions: int = 1
    travel: tuple[float, float] = (0.0, 0.0)
    path: str = ""
    source: str = ""

    def with_overrides(self, *, samples: int | None = None, seed: int | None = None,
                       sampler: str | None = None) -> SweepSpec:
        spec = replace(self, samples=self.samples if samples is None else samples,
                       seed=self.seed if seed is None else seed,
                       sampler=self.sampler if sampler is None else sampler)
        validate(spec)
        return spec

    @property
    def orientation_count(self) -> int:
        """Orientation samples per re-oriented target."""
        if self.orientation_mode == "asAuthored":
            return 1
        faces = 1 if self.orientation_mode == "flatRandomYaw" else sum(1 for w in self._face_weights() if w > 0)
        return faces * self.orientations

    def _face_weights(self) -> tuple[float, ...]:
        return self.face_weights if self.face_weights else (1.0,) * 6


def sweep_path(name: str) -> str:
    return f"{SWEEPS_ROOT}/{name}"


# ----------------------------------------------------------------------------------------------------------
# validation shared by USD and TOML


def _err(spec_or_source: SweepSpec | str, message: str, prim: str | None = None, attribute: str | None = None,
         hint: str | None = None) -> SwbError:
    source = spec_or_source.source if isinstance(spec_or_source, SweepSpec) else spec_or_source
    return SwbError(message, file=source or None, prim=prim or None, attribute=attribute, hint=hint)


def _finite(values: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=np.float64))))


def validate(spec: SweepSpec) -> None:
    """Everything that can be checked without the scene: SwbError naming the prim and attribute."""
    where = spec.path or spec.name
    if not spec.cameras:
        raise _err(spec, "the sweep names no cameras to vary", where, SWEEP_CAMERAS,
                   hint="list the sensor cameras whose pose or optics the sweep changes")
    if len(set(spec.cameras)) != len(spec.cameras):
        raise _err(spec, "the sweep names a camera twice", where, SWEEP_CAMERAS)
    if spec.sampler not in SAMPLERS:
        raise _err(spec, f"unknown sampler {spec.sampler!r}", where, SWEEP_SAMPLER, hint=f"use one of {SAMPLERS}")
    if spec.samples < 1:
        raise _err(spec, f"samples must be at least 1, got {spec.samples}", where, SWEEP_SAMPLES)
    if spec.seed < 0:
        raise _err(spec, f"seed must not be negative, got {spec.seed}", where, SWEEP_SEED)
    if spec.orientation_mode not in ORIENTATION_MODES:
        raise _err(spec, f"unknown orientation mode {spec.orientation_mode!r}", where, SWEEP_ORIENTATION_MODE,
                   hint=f"use one of {ORIENTATION_MODES}")
    if spec.orientations < 1:
        raise _err(spec, f"orientations must be at least 1, got {spec.orientations}", where, SWEEP_ORIENTATIONS)
    fw = spec.face_weights
    if fw and (len(fw) != 6 or not _finite(fw) or min(fw) < 0.0 or sum(fw) <= 0.0):
        raise _err(spec, f"faceWeights needs six non-negative weights (+X, -X, +Y, -Y, +Z, -Z), not all zero; "
                   f"got {list(fw)}", where, SWEEP_FACE_WEIGHTS)
    if spec.positions < 1:
        raise _err(spec, f"positions must be at least 1, got {spec.positions}", where, SWEEP_POSITIONS)
    if not _finite(spec.travel) or spec.travel[0] > spec.travel[1]:
        raise _err(spec, f"travel must be (low, high) with low <= high, got {spec.travel}", where, SWEEP_TRAVEL)
    if spec.positions > 1 and spec.travel[0] == spec.travel[1]:
        raise _err(spec, f"{spec.positions} positions over an empty travel {spec.travel}", where, SWEEP_TRAVEL,
                   hint="give a travel range, or positions = 1")
    if not spec.params:
        raise _err(spec, "the sweep has no parameters", where,
                   hint=f"add {PARAMETER_TYPE} children (TOML: [[parameter]] tables)")
    names = [p.name for p in spec.params]
    if len(set(names)) != len(names):
        raise _err(spec, "two parameters share a name", where, hint="name each [[parameter]] differently")
    for p in spec.params:
        _validate_param(spec, p)


def _validate_param(spec: SweepSpec, p: ParamSpec) -> None:
    where = p.prim or f"{spec.path or spec.name}/{p.name}"
    if p.kind not in KINDS:
        raise _err(spec, f"the sweep cannot vary {p.kind!r}", where, PARAM_KIND, hint=f"kinds: {', '.join(KINDS)}")
    if p.space not in SPACES:
        raise _err(spec, f"unknown space {p.space!r}", where, PARAM_SPACE, hint=f"use one of {SPACES}")
    if p.rig not in RIGS:
        raise _err(spec, f"unknown rig {p.rig!r}", where, PARAM_RIG, hint=f"use one of {RIGS}")
    if p.steps < 0:
        raise _err(spec, f"steps must not be negative, got {p.steps}", where, PARAM_STEPS)
    if p.space == "pivot" and p.kind not in ROTATIONS:
        raise _err(spec, f"space = pivot applies to rotations, not {p.kind}", where, PARAM_SPACE,
                   hint="use world or camera for offsets")
    for name, vec in ((PARAM_PIVOT, p.pivot), (PARAM_AXIS, p.axis), (PARAM_MIRROR_NORMAL, p.mirror_normal)):
        if not _finite(vec):
            raise _err(spec, f"{vec} is not finite", where, name)
    members = p.cameras or spec.cameras
    outside = [c for c in members if c not in spec.cameras]
    if outside:
        raise _err(spec, f"parameter camera {outside[0]} is not one of the sweep's cameras", where, PARAM_CAMERAS,
                   hint=f"add it to {SWEEP_CAMERAS}")
    if len(set(members)) != len(members):
        raise _err(spec, "a rig names a camera twice", where, PARAM_CAMERAS)
    if p.rig == "mirror" and len(members) < 2:
        raise _err(spec, "a mirror rig needs at least two cameras", where, PARAM_CAMERAS)
    if p.kind == "translateBox":
        if p.box is None:
            raise _err(spec, "translateBox needs boxMin and boxMax", where, PARAM_BOX_MIN)
        lo, hi = np.asarray(p.box[0], float), np.asarray(p.box[1], float)
        if not _finite(p.box) or np.any(lo > hi) or np.all(lo == hi):
            raise _err(spec, f"empty box {tuple(lo)} .. {tuple(hi)}", where, PARAM_BOX_MIN,
                       hint="boxMin must be below boxMax along at least one axis (and above it along none)")
        return
    if p.kind in SCALAR_KINDS:
        if p.range is None and not p.values:
            raise _err(spec, f"{p.kind} needs a range or values", where, PARAM_RANGE)
        numbers = p.range if p.range is not None else p.values
        if not _finite(numbers):
            raise _err(spec, f"values must be finite, got {list(numbers)}", where,
                       PARAM_RANGE if p.range is not None else PARAM_VALUES)
        if p.range is not None and not p.range[0] < p.range[1]:
            raise _err(spec, f"empty range {tuple(p.range)}", where, PARAM_RANGE,
                       hint="give (low, high) with low < high, or a list of values")
        low = min(numbers)
        attr = PARAM_RANGE if p.range is not None else PARAM_VALUES
        if p.kind in ("focalLength", "focusDistance") and low <= 0.0:
            raise _err(spec, f"{p.kind} must be positive, got {low}", where, attr)
        if p.kind in ("fStop", "exposure") and low < 0.0:
            raise _err(spec, f"{p.kind} must not be negative, got {low}", where, attr)
        return
    if p.kind in ("resolution", "sensor"):
        if not p.resolutions:
            raise _err(spec, f"{p.kind} needs a list of resolutions", where, PARAM_RESOLUTIONS)
        if any(w <= 0 or h <= 0 for w, h in p.resolutions):
            raise _err(spec, f"resolutions must be positive, got {list(p.resolutions)}", where, PARAM_RESOLUTIONS)
        if p.kind == "sensor":
            if len(p.apertures) != len(p.resolutions):
                raise _err(spec, f"sensor needs one aperture per resolution ({len(p.apertures)} apertures, "
                           f"{len(p.resolutions)} resolutions)", where, PARAM_APERTURES)
            if not _finite(p.apertures) or any(a <= 0 or b <= 0 for a, b in p.apertures):
                raise _err(spec, f"apertures must be positive, got {list(p.apertures)}", where, PARAM_APERTURES)
        return
    if not p.profiles:
        raise _err(spec, "decoderProfile needs a list of profiles", where, PARAM_PROFILES)
    unknown = [x for x in p.profiles if x not in PROFILES]
    if unknown:
        raise _err(spec, f"unknown decoder profile {unknown[0]!r}", where, PARAM_PROFILES,
                   hint=f"use one of {', '.join(PROFILES)}")


# ----------------------------------------------------------------------------------------------------------
# reading from a stage


def find_sweeps(stage: Usd.Stage) -> list[Usd.Prim]:
    """Every SwbSweep prim on the stage, in traversal order."""
    return [p for p in stage.Traverse() if p.GetTypeName() == SWEEP_TYPE]


def sweep_prim(stage: Usd.Stage, name: str | None, source: str) -> Usd.Prim:
    """The sweep called ``name`` (a prim name or path), or the only sweep on the stage."""
    sweeps = find_sweeps(stage)
    if name is not None:
        hits = [p for p in sweeps if p.GetName() == name or str(p.GetPath()) == name]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise SwbError(f"several sweeps are named {name!r}", file=source,
                           hint=f"give the prim path: {', '.join(str(p.GetPath()) for p in hits)}")
        raise SwbError(f"no sweep named {name!r}", file=source,
                       hint=_available(sweeps) or "author a SwbSweep prim or pass --spec sweep.toml")
    if len(sweeps) == 1:
        return sweeps[0]
    if not sweeps:
        raise SwbError("the stage holds no sweep", file=source,
                       hint=f"pass a spec (swb sweep SCENE --spec sweep.toml) or author a {SWEEP_TYPE} prim")
    raise SwbError("the stage holds several sweeps", file=source, hint=f"name one: {_available(sweeps)}")


def _available(sweeps: list[Usd.Prim]) -> str:
    return "sweeps: " + ", ".join(str(p.GetPath()) for p in sweeps) if sweeps else ""


def _get(prim: Usd.Prim, name: str) -> Any:
    attr = prim.GetAttribute(name)
    return attr.Get() if attr else None


def _authored(prim: Usd.Prim, name: str) -> bool:
    attr = prim.GetAttribute(name)
    return bool(attr) and attr.HasAuthoredValue()


def _targets(prim: Usd.Prim, name: str) -> tuple[str, ...]:
    rel = prim.GetRelationship(name)
    return tuple(str(t) for t in rel.GetTargets()) if rel else ()


def _vec3(value: Any) -> Vec3:
    return (0.0, 0.0, 0.0) if value is None else (float(value[0]), float(value[1]), float(value[2]))


def read_sweep(prim: Usd.Prim, source: str) -> SweepSpec:
    """The SweepSpec of a SwbSweep prim, validated (SwbError naming prim and attribute when not usable)."""
    path = str(prim.GetPath())
    if prim.GetTypeName() != SWEEP_TYPE:
        raise SwbError(f"is a {prim.GetTypeName() or 'typeless'} prim, not a {SWEEP_TYPE}", file=source, prim=path)
    params = []
    for child in prim.GetChildren():
        if child.GetTypeName() != PARAMETER_TYPE:
            raise SwbError(f"a sweep's children must be {PARAMETER_TYPE} prims, not "
                           f"{child.GetTypeName() or 'typeless'}", file=source, prim=str(child.GetPath()),
                           hint="move other prims out of the sweep")
        params.append(_read_param(child))
    travel = _get(prim, SWEEP_TRAVEL)
    spec = SweepSpec(
        name=prim.GetName(),
        cameras=_targets(prim, SWEEP_CAMERAS),
        params=tuple(params),
        sampler=str(_get(prim, SWEEP_SAMPLER)),
        samples=int(_get(prim, SWEEP_SAMPLES)),
        seed=int(_get(prim, SWEEP_SEED)),
        orientation_mode=str(_get(prim, SWEEP_ORIENTATION_MODE)),
        orientations=int(_get(prim, SWEEP_ORIENTATIONS)),
        face_weights=tuple(float(x) for x in (_get(prim, SWEEP_FACE_WEIGHTS) or ())),
        parcels=_targets(prim, SWEEP_PARCELS),
        positions=int(_get(prim, SWEEP_POSITIONS)),
        travel=(float(travel[0]), float(travel[1])),
        path=path,
        source=source,
    )
    validate(spec)
    return spec


def _read_param(prim: Usd.Prim) -> ParamSpec:
    kind = str(_get(prim, PARAM_KIND))
    values = tuple(float(x) for x in (_get(prim, PARAM_VALUES) or ()))
    rng = _get(prim, PARAM_RANGE)
    box = None
    if _authored(prim, PARAM_BOX_MIN) or _authored(prim, PARAM_BOX_MAX):
        box = (_vec3(_get(prim, PARAM_BOX_MIN)), _vec3(_get(prim, PARAM_BOX_MAX)))
    return ParamSpec(
        name=prim.GetName(),
        kind=kind,
        cameras=_targets(prim, PARAM_CAMERAS),
        range=(float(rng[0]), float(rng[1])) if _authored(prim, PARAM_RANGE) and not values else None,
        values=values,
        resolutions=tuple((int(r[0]), int(r[1])) for r in (_get(prim, PARAM_RESOLUTIONS) or ())),
        apertures=tuple((float(a[0]), float(a[1])) for a in (_get(prim, PARAM_APERTURES) or ())),
        profiles=tuple(str(x) for x in (_get(prim, PARAM_PROFILES) or ())),
        box=box,
        steps=int(_get(prim, PARAM_STEPS)),
        space=str(_get(prim, PARAM_SPACE)),
        pivot=_vec3(_get(prim, PARAM_PIVOT)),
        axis=_vec3(_get(prim, PARAM_AXIS)),
        rig=str(_get(prim, PARAM_RIG)),
        mirror_normal=_vec3(_get(prim, PARAM_MIRROR_NORMAL)),
        prim=str(prim.GetPath()),
    )


# ----------------------------------------------------------------------------------------------------------
# authoring onto a stage

_T = Sdf.ValueTypeNames


def author_sweep(stage: Usd.Stage, spec: SweepSpec) -> Usd.Prim:
    """Write ``spec`` as a SwbSweep prim (at spec.path or /SWB/Sweeps/<name>) into the stage's edit target.

    A sweep of that name authored earlier in the same layer is replaced; one that other layers define is not
    touched (SwbError): parameters would merge with its children.
    """
    validate(spec)
    path = Sdf.Path(spec.path or sweep_path(spec.name))
    layer = stage.GetEditTarget().GetLayer()
    existing = stage.GetPrimAtPath(path)
    if existing:
        others = [s.layer.identifier for s in existing.GetPrimStack() if s.layer != layer]
        if others:
            raise SwbError(f"a sweep named {spec.name!r} is already defined in the stage", file=spec.source or None,
                           prim=str(path), hint="give the TOML sweep another name")
    with Sdf.ChangeBlock():
        if layer.GetPrimAtPath(path):
            parent = layer.GetPrimAtPath(path.GetParentPath())
            del parent.nameChildren[path.name]
    prim = stage.DefinePrim(path, SWEEP_TYPE)
    prim.CreateRelationship(SWEEP_CAMERAS, custom=False).SetTargets([Sdf.Path(c) for c in spec.cameras])
    _set(prim, SWEEP_SAMPLER, _T.Token, spec.sampler)
    _set(prim, SWEEP_SAMPLES, _T.Int, int(spec.samples))
    _set(prim, SWEEP_SEED, _T.Int, int(spec.seed))
    _set(prim, SWEEP_ORIENTATION_MODE, _T.Token, spec.orientation_mode)
    _set(prim, SWEEP_ORIENTATIONS, _T.Int, int(spec.orientations))
    if spec.face_weights:
        _set(prim, SWEEP_FACE_WEIGHTS, _T.FloatArray, Vt.FloatArray(list(spec.face_weights)))
    if spec.parcels:
        prim.CreateRelationship(SWEEP_PARCELS, custom=False).SetTargets([Sdf.Path(c) for c in spec.parcels])
    _set(prim, SWEEP_POSITIONS, _T.Int, int(spec.positions))
    _set(prim, SWEEP_TRAVEL, _T.Float2, Gf.Vec2f(*spec.travel))
    for p in spec.params:
        child = stage.DefinePrim(path.AppendChild(p.name), PARAMETER_TYPE)
        _author_param(child, p)
    return prim


def _set(prim: Usd.Prim, name: str, type_name: Sdf.ValueTypeName, value: Any) -> None:
    prim.CreateAttribute(name, type_name, custom=False).Set(value)


def _author_param(prim: Usd.Prim, p: ParamSpec) -> None:
    _set(prim, PARAM_KIND, _T.Token, p.kind)
    if p.range is not None:
        _set(prim, PARAM_RANGE, _T.Float2, Gf.Vec2f(*p.range))
    if p.values:
        _set(prim, PARAM_VALUES, _T.FloatArray, Vt.FloatArray(list(p.values)))
    if p.resolutions:
        _set(prim, PARAM_RESOLUTIONS, _T.Int2Array, Vt.Vec2iArray([Gf.Vec2i(*r) for r in p.resolutions]))
    if p.apertures:
        _set(prim, PARAM_APERTURES, _T.Float2Array, Vt.Vec2fArray([Gf.Vec2f(*a) for a in p.apertures]))
    if p.profiles:
        _set(prim, PARAM_PROFILES, _T.TokenArray, Vt.TokenArray(list(p.profiles)))
    if p.box is not None:
        _set(prim, PARAM_BOX_MIN, _T.Float3, Gf.Vec3f(*p.box[0]))
        _set(prim, PARAM_BOX_MAX, _T.Float3, Gf.Vec3f(*p.box[1]))
    if p.steps:
        _set(prim, PARAM_STEPS, _T.Int, int(p.steps))
    _set(prim, PARAM_SPACE, _T.Token, p.space)
    if any(p.pivot):
        _set(prim, PARAM_PIVOT, _T.Point3d, Gf.Vec3d(*p.pivot))
    if any(p.axis):
        _set(prim, PARAM_AXIS, _T.Vector3d, Gf.Vec3d(*p.axis))
    if p.cameras:
        prim.CreateRelationship(PARAM_CAMERAS, custom=False).SetTargets([Sdf.Path(c) for c in p.cameras])
    _set(prim, PARAM_RIG, _T.Token, p.rig)
    if any(p.mirror_normal):
        _set(prim, PARAM_MIRROR_NORMAL, _T.Vector3d, Gf.Vec3d(*p.mirror_normal))


# ----------------------------------------------------------------------------------------------------------
# TOML and plain dictionaries

SWEEP_KEYS = {"name", "cameras", "sampler", "samples", "seed", "orientation_mode", "orientations", "face_weights",
              "parcels", "positions", "travel"}
PARAM_KEYS = {"name", "kind", "range", "values", "resolutions", "apertures", "profiles", "box_min", "box_max",
              "steps", "space", "pivot", "axis", "cameras", "rig", "mirror_normal"}
TOP_KEYS = {"sweep", "parameter"}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a sweep TOML file (keys are checked by ``spec_from_dict``)."""
    path = Path(path)
    if not path.is_file():
        raise SwbError("no such sweep spec file", file=str(path), hint="check the path given to --spec")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SwbError(f"is not valid TOML: {exc}", file=str(path)) from None


def load_toml_spec(path: str | Path, meters_per_unit: float, name: str | None = None) -> SweepSpec:
    """A TOML sweep spec converted to a stage with ``meters_per_unit`` (validated, nothing authored)."""
    doc = read_toml(path)
    default = name or _prim_name(Path(path).stem)
    return spec_from_dict(doc, meters_per_unit, source=str(path), default_name=default)


def _prim_name(text: str) -> str:
    name = Tf.MakeValidIdentifier(text)
    return name or "sweep"


class TableReader:
    """Typed access to one TOML table, naming the file and key in every error."""

    def __init__(self, table: Any, where: str, source: str, allowed: set[str]) -> None:
        if not isinstance(table, dict):
            raise SwbError(f"[{where}] must be a table", file=source)
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise SwbError(f"unknown key {unknown[0]!r} in [{where}]", file=source, attribute=unknown[0],
                           hint=f"known keys: {', '.join(sorted(allowed))}")
        self.t, self.where, self.source = table, where, source

    def error(self, key: str, message: str, hint: str | None = None) -> SwbError:
        return SwbError(f"[{self.where}] {key}: {message}", file=self.source, attribute=key, hint=hint)

    def has(self, key: str) -> bool:
        return key in self.t

    def str_(self, key: str, default: str | None = None) -> str:
        v = self.t.get(key, default)
        if not isinstance(v, str):
            raise self.error(key, f"must be a string, got {v!r}")
        return v

    def int_(self, key: str, default: int) -> int:
        v = self.t.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, f"must be an integer, got {v!r}")
        return v

    def num(self, v: Any, key: str) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.error(key, f"must be a finite number, got {v!r}")
        return float(v)

    def nums(self, key: str, length: int | None = None) -> tuple[float, ...]:
        v = self.t.get(key)
        if not isinstance(v, list):
            raise self.error(key, f"must be a list of numbers, got {v!r}")
        if length is not None and len(v) != length:
            raise self.error(key, f"must hold {length} numbers, got {len(v)}")
        return tuple(self.num(x, key) for x in v)

    def pairs(self, key: str, integer: bool) -> tuple[tuple[Any, Any], ...]:
        v = self.t.get(key)
        if not isinstance(v, list) or not all(isinstance(x, list) and len(x) == 2 for x in v):
            raise self.error(key, f"must be a list of [a, b] pairs, got {v!r}")
        if integer:
            if not all(isinstance(a, int) and not isinstance(a, bool) for x in v for a in x):
                raise self.error(key, f"must hold integers, got {v!r}")
            return tuple((int(x[0]), int(x[1])) for x in v)
        return tuple((self.num(x[0], key), self.num(x[1], key)) for x in v)

    def paths(self, key: str) -> tuple[str, ...]:
        v = self.t.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(key, f"must be a list of prim paths, got {v!r}")
        for x in v:
            if not (Sdf.Path.IsValidPathString(x) and Sdf.Path(x).IsAbsolutePath() and Sdf.Path(x).IsPrimPath()):
                raise self.error(key, f"{x!r} is not an absolute prim path", hint="e.g. /World/Cameras/Top")
        return tuple(v)

    def tokens(self, key: str) -> tuple[str, ...]:
        v = self.t.get(key)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(key, f"must be a list of names, got {v!r}")
        return tuple(v)


def spec_from_dict(doc: dict[str, Any], meters_per_unit: float, *, source: str = "",
                   default_name: str = "sweep") -> SweepSpec:
    """A SweepSpec from a TOML-shaped dictionary in person units (see the module docstring), converted to a
    stage with ``meters_per_unit`` and validated. Float values are rounded as USD's float attributes store them,
    so the result equals what ``read_sweep`` gives after ``author_sweep``."""
    top = TableReader(doc, "top level", source, TOP_KEYS)
    if not top.has("sweep"):
        raise SwbError("the spec has no [sweep] table", file=source or None,
                       hint="start with [sweep] naming the cameras, then [[parameter]] tables")
    s = TableReader(doc["sweep"], "sweep", source, SWEEP_KEYS)
    params_doc = doc.get("parameter", [])
    if not isinstance(params_doc, list):
        raise SwbError("parameters must be [[parameter]] tables", file=source or None, attribute="parameter")
    length = 1.0 / meters_per_unit
    name = s.str_("name", default_name)
    if not Sdf.Path.IsValidIdentifier(name):
        raise s.error("name", f"{name!r} is not a valid prim name", hint="letters, digits and _ only")
    travel = s.nums("travel", 2) if s.has("travel") else (0.0, 0.0)
    params = []
    for i, table in enumerate(params_doc):
        reader = TableReader(table, f"parameter {i + 1}", source, PARAM_KEYS)
        params.append(_param_from_dict(reader, i, length, sweep_path(name)))
    spec = SweepSpec(
        name=name,
        cameras=s.paths("cameras"),
        params=tuple(params),
        sampler=s.str_("sampler", "lhs"),
        samples=s.int_("samples", 256),
        seed=s.int_("seed", 0),
        orientation_mode=s.str_("orientation_mode", "flatRandomYaw"),
        orientations=s.int_("orientations", 8),
        face_weights=tuple(_f32(x) for x in s.nums("face_weights")) if s.has("face_weights") else (),
        parcels=s.paths("parcels"),
        positions=s.int_("positions", 1),
        travel=(_f32(travel[0] * length), _f32(travel[1] * length)),
        path=sweep_path(name),
        source=source,
    )
    validate(spec)
    return spec


def _param_from_dict(r: TableReader, index: int, length: float, base: str) -> ParamSpec:
    if not r.has("kind"):
        raise r.error("kind", "is missing", hint=f"one of {', '.join(KINDS)}")
    kind = r.str_("kind")
    if kind not in KINDS:
        raise r.error("kind", f"the sweep cannot vary {kind!r}", hint=f"kinds: {', '.join(KINDS)}")
    unit = UNITS.get(kind, "")
    scale = {"m": length, "mm": length / 1000.0 * 10.0}.get(unit, 1.0)  # focal: tenths of a scene unit
    name = r.str_("name", f"{kind}{index + 1}")
    if not Sdf.Path.IsValidIdentifier(name):
        raise r.error("name", f"{name!r} is not a valid prim name", hint="letters, digits and _ only")
    if r.has("range") and r.has("values"):
        raise r.error("range", "give either range or values, not both")
    rng = None
    if r.has("range"):
        lo, hi = r.nums("range", 2)
        rng = (_f32(lo * scale), _f32(hi * scale))
    values = tuple(_f32(v * scale) for v in r.nums("values")) if r.has("values") else ()
    box = None
    if r.has("box_min") or r.has("box_max"):
        box = (tuple(_f32(v * length) for v in r.nums("box_min", 3)),
               tuple(_f32(v * length) for v in r.nums("box_max", 3)))
    aperture_scale = length / 1000.0 * 10.0
    return ParamSpec(
        name=name,
        kind=kind,
        cameras=r.paths("cameras"),
        range=rng,
        values=values,
        resolutions=r.pairs("resolutions", integer=True) if r.has("resolutions") else (),
        apertures=tuple((_f32(a * aperture_scale), _f32(b * aperture_scale))
                        for a, b in r.pairs("apertures", integer=False)) if r.has("apertures") else (),
        profiles=r.tokens("profiles") if r.has("profiles") else (),
        box=box,  # type: ignore[arg-type]
        steps=r.int_("steps", 0),
        space=r.str_("space", "world"),
        pivot=tuple(v * length for v in r.nums("pivot", 3)) if r.has("pivot") else (0.0, 0.0, 0.0),  # type: ignore
        axis=r.nums("axis", 3) if r.has("axis") else (0.0, 0.0, 0.0),  # type: ignore[arg-type]
        rig=r.str_("rig", "same"),
        mirror_normal=r.nums("mirror_normal", 3) if r.has("mirror_normal") else (0.0, 0.0, 0.0),  # type: ignore
        prim=f"{base}/{name}",
    )
