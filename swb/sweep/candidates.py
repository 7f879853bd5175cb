"""Candidate cameras: a design's parameter values turned into packed ``Camera`` records, vectorised over
configurations.

The base cameras are packed once (``pack_cameras``); each parameter then changes the poses or optics of its rig
members for every configuration at once. Poses stay float64 until the record is written, and optics are derived
with the loader's own formulas from the values their float attributes store, so a configuration authored into a
stage and loaded again gives the same records.

Conventions (angles in degrees, right-handed: a positive pitch about the camera's X axis looks up):
- space ``camera``: offsets along, and rotations about, the camera's own X (right), Y (up), Z (back) axes;
- space ``world``: offsets along the stage axes; rotations about ``axis`` (default: pitch the stage X axis, yaw the
  up axis, roll the remaining one) through the camera;
- space ``pivot``: rotations about ``axis`` through ``pivot``: the camera orbits.
- rig ``mirror``: members at odd positions get the mirror image of the change through the mirror plane (normal
  ``mirrorNormal``, default along the line from the first member to the second, through their midpoint). In camera
  space that flips the X offset and the sign of yaw and roll, which is the mirror image for cameras that are mirror
  images of each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.model import Scene
from ..engine.profiles import PROFILES
from ..engine.world import pack_cameras, pack_profiles
from ..errors import SwbError
from .sampling import Column
from .spec import (
    PARAM_AXIS,
    PARAM_CAMERAS,
    PARAM_MIRROR_NORMAL,
    PARAM_RANGE,
    PARAM_VALUES,
    ROTATIONS,
    SWEEP_CAMERAS,
    TRANSLATIONS,
    ParamSpec,
    SweepSpec,
)


@dataclass(frozen=True)
class StageFrame:
    """How stage values become SI world values: metres per unit and the stage -> world (Z up) rotation."""

    meters_per_unit: float = 1.0
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    up_axis: str = "Z"
    camera_meters_per_unit: dict[str, float] = field(default_factory=dict)  # cameras in other-unit assets

    def vector(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=np.float64) @ self.rotation.T * self.meters_per_unit

    def direction(self, v: np.ndarray) -> np.ndarray:
        d = np.asarray(v, dtype=np.float64) @ self.rotation.T
        return d / np.linalg.norm(d)

    def camera_mpu(self, path: str) -> float:
        return self.camera_meters_per_unit.get(path, self.meters_per_unit)

    def default_axis(self, kind: str) -> np.ndarray:
        """World direction of a world-space rotation's default axis (pitch X, yaw up, roll the other one)."""
        up = 2 if self.up_axis == "Z" else 1
        other = 1 if self.up_axis == "Z" else 2
        e = np.eye(3)[{"pitch": 0, "yaw": up, "roll": other}[kind]]
        return self.direction(e)


@dataclass
class Candidates:
    """Records of the varied cameras for a block of configurations, and what to author to reproduce them."""

    records: np.ndarray  # (n, n_var) structured Camera records
    rotation: np.ndarray  # (n, n_var, 3, 3) float64 camera -> world
    position: np.ndarray  # (n, n_var, 3) float64 metres
    attributes: list[dict[str, np.ndarray]]  # per varied camera: USD attribute -> (n, ...) values (stage units)


def rotations_about(axis: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations by ``degrees`` (n,) about unit ``axis`` ((3,) or (n, 3))."""
    a = np.broadcast_to(np.asarray(axis, dtype=np.float64), (len(degrees), 3))
    t = np.radians(degrees)
    c, s = np.cos(t)[:, None, None], np.sin(t)[:, None, None]
    k = np.zeros((len(t), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -a[:, 2], a[:, 1], -a[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = a[:, 2], -a[:, 1], a[:, 0]
    outer = a[:, :, None] * a[:, None, :]
    return c * np.eye(3) + s * k + (1.0 - c) * outer


def _reflect(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    return v - 2.0 * (v @ n)[..., None] * n


@dataclass
class _Rig:
    """A parameter's members (positions among the varied cameras) and its mirror plane."""

    members: list[int]
    normal: np.ndarray | None = None  # world unit normal
    point: np.ndarray | None = None  # a world point on the plane

    def mirrored(self, m: int) -> bool:
        return self.normal is not None and m % 2 == 1


class CandidateBuilder:
    """Varied cameras of a sweep, checked against the scene, and the records of any block of configurations."""

    def __init__(self, scene: Scene, spec: SweepSpec, frame: StageFrame, columns: list[Column]) -> None:
        self.scene, self.spec, self.frame = scene, spec, frame
        paths = [c.path for c in scene.cameras]
        self.varied: list[int] = []
        for p in spec.cameras:
            if p not in paths:
                raise SwbError(f"{p} is not a sensor camera of the stage", file=spec.source or scene.source or None,
                               prim=spec.path or None, attribute=SWEEP_CAMERAS,
                               hint=f"sensor cameras: {', '.join(paths)}")
            self.varied.append(paths.index(p))
        self.fixed = [i for i in range(len(paths)) if i not in self.varied]
        self.cameras = [scene.cameras[i] for i in self.varied]
        self.base = pack_cameras(self.cameras, scene.source)
        self.columns = {(c.param, c.dim): j for j, c in enumerate(columns)}
        self.rigs = [self._rig(p) for p in spec.params]
        self._check_optics()

    # ----- set-up and checks
    def _where(self, p: ParamSpec) -> dict[str, str | None]:
        return {"file": self.spec.source or self.scene.source or None, "prim": p.prim or None}

    def _rig(self, p: ParamSpec) -> _Rig:
        members = [self.spec.cameras.index(c) for c in (p.cameras or self.spec.cameras)]
        if p.rig != "mirror":
            return _Rig(members)
        p0, p1 = (np.asarray(self.cameras[m].position, dtype=np.float64) for m in members[:2])
        if any(p.mirror_normal):
            normal = self.frame.direction(np.asarray(p.mirror_normal))
        else:
            gap = p1 - p0
            if np.linalg.norm(gap) < 1e-9:
                raise SwbError("the first two cameras of a mirror rig are at the same place", **self._where(p),
                               attribute=PARAM_MIRROR_NORMAL, hint="author swb:param:mirrorNormal")
            normal = gap / np.linalg.norm(gap)
        return _Rig(members, normal, 0.5 * (p0 + p1))

    def _check_optics(self) -> None:
        """Parameters that cannot act on a camera, and lens/focus combinations the loader would refuse."""
        for j, cam in enumerate(self.cameras):
            focal = [cam.focal_length]
            focus = [cam.focus_distance]
            fstop = [cam.f_number]
            mpu = self.frame.camera_mpu(cam.path)
            for p, rig in zip(self.spec.params, self.rigs, strict=True):
                if j not in rig.members or p.kind not in ("focalLength", "focusDistance", "fStop"):
                    continue
                numbers = list(p.range) if p.range is not None else list(p.values)
                if p.kind == "focusDistance" and cam.focus_mode == "autofocus":
                    raise SwbError(f"the sweep cannot vary the focus distance of {cam.path}: it autofocuses",
                                   **self._where(p), attribute=PARAM_CAMERAS,
                                   hint="vary swb:sensor:focusRange by hand, or drop this camera from the rig")
                scale = {"focalLength": mpu / 10.0, "focusDistance": mpu, "fStop": 1.0}[p.kind]
                {"focalLength": focal, "focusDistance": focus, "fStop": fstop}[p.kind].extend(
                    float(np.float32(v)) * scale for v in numbers)
            if cam.focus_mode == "fixed" and max(fstop) > 0.0 and min(focus) <= max(focal):
                p = next((q for q, r in zip(self.spec.params, self.rigs, strict=True)
                          if j in r.members and q.kind in ("focalLength", "focusDistance")), None)
                if p is not None:
                    raise SwbError(
                        f"{cam.path} would focus at {min(focus):.4g} m, inside a focal length of "
                        f"{max(focal) * 1000:.4g} mm", **self._where(p),
                        attribute=PARAM_RANGE if p.range is not None else PARAM_VALUES,
                        hint="keep focus distances beyond the longest focal length")

    # ----- building
    def baseline(self) -> np.ndarray:
        """(1, n_var) records of the varied cameras as authored."""
        return self.base[None, :].copy()

    def build(self, values: np.ndarray) -> Candidates:
        """Records for configurations with these design rows (n, n_columns)."""
        n = int(values.shape[0])
        n_var = len(self.cameras)
        records = np.repeat(self.base[None, :], n, axis=0)
        rot = np.empty((n, n_var, 3, 3))
        pos = np.empty((n, n_var, 3))
        attrs: list[dict[str, np.ndarray]] = []
        for j, cam in enumerate(self.cameras):
            state = _CameraState(cam, n, self.frame.camera_mpu(cam.path))
            for i, (p, rig) in enumerate(zip(self.spec.params, self.rigs, strict=True)):
                if j in rig.members:
                    self._apply(state, i, p, rig, rig.members.index(j), values)
            state.write(records[:, j])
            rot[:, j], pos[:, j] = state.rot, state.pos
            attrs.append(state.attrs)
        return Candidates(records, rot, pos, attrs)

    def _col(self, values: np.ndarray, i: int, dim: int = 0) -> np.ndarray:
        return values[:, self.columns[(i, dim)]]

    def _apply(self, st: _CameraState, i: int, p: ParamSpec, rig: _Rig, m: int, values: np.ndarray) -> None:
        fr = self.frame
        mirrored = rig.mirrored(m)
        if p.kind in TRANSLATIONS or p.kind == "translateBox":
            if p.kind == "translateBox":
                local = np.stack([self._col(values, i, d) for d in range(3)], axis=1)
            else:
                local = np.zeros((len(values), 3))
                local[:, TRANSLATIONS[p.kind]] = self._col(values, i)
            if p.space == "camera":
                if mirrored:
                    local = local * np.array([-1.0, 1.0, 1.0])
                delta = np.einsum("nij,nj->ni", st.rot, local) * fr.meters_per_unit
            else:
                delta = fr.vector(local)
                if mirrored:
                    delta = _reflect(delta, rig.normal)
            st.pos = st.pos + delta
            return
        if p.kind in ROTATIONS:
            angle = self._col(values, i)
            k = ROTATIONS[p.kind]
            if p.space == "camera":
                if mirrored and p.kind != "pitch":
                    angle = -angle
                st.rot = st.rot @ rotations_about(np.eye(3)[k], angle)
                return
            if any(p.axis) and np.linalg.norm(p.axis) < 1e-12:
                raise SwbError("the rotation axis is too short", **self._where(p), attribute=PARAM_AXIS)
            axis = fr.direction(np.asarray(p.axis)) if any(p.axis) else fr.default_axis(p.kind)
            centre = st.pos if p.space == "world" else np.broadcast_to(fr.vector(np.asarray(p.pivot)), st.pos.shape)
            if mirrored:
                axis, angle = _reflect(axis, rig.normal), -angle
                if p.space == "pivot":
                    centre = centre - 2.0 * ((centre - rig.point) @ rig.normal)[:, None] * rig.normal
            q = rotations_about(axis, angle)
            st.rot = q @ st.rot
            st.pos = centre + np.einsum("nij,nj->ni", q, st.pos - centre)
            return
        st.set_optic(p, self._col(values, i))


class _CameraState:
    """One varied camera over n configurations: float64 pose and the optics the loader would derive."""

    def __init__(self, cam, n: int, mpu: float) -> None:  # noqa: ANN001 - CameraModel
        self.cam, self.mpu = cam, mpu
        self.rot = np.broadcast_to(np.asarray(cam.rotation, dtype=np.float64), (n, 3, 3)).copy()
        self.pos = np.broadcast_to(np.asarray(cam.position, dtype=np.float64), (n, 3)).copy()
        self.attrs: dict[str, np.ndarray] = {}
        self.optics: dict[str, np.ndarray] = {}
        self.n = n

    def set_optic(self, p: ParamSpec, v: np.ndarray) -> None:
        tenth = self.mpu / 10.0
        if p.kind == "focalLength":
            self.attrs["focalLength"] = v
            self.optics["focal_length"] = v * tenth
        elif p.kind == "fStop":
            self.attrs["fStop"] = v
            self.optics["f_number"] = v.copy()
        elif p.kind == "focusDistance":
            self.attrs["focusDistance"] = v
            self.optics["focus_distance"] = v * self.mpu
        elif p.kind == "exposure":
            self.attrs["exposure:time"] = v
            self.optics["exposure"] = v.copy()
        elif p.kind in ("resolution", "sensor"):
            idx = v.astype(np.int64)
            res = np.asarray(p.resolutions, dtype=np.int64)[idx]
            self.attrs["swb:sensor:resolution"] = res
            self.optics["width"], self.optics["height"] = res[:, 0].astype(np.float64), res[:, 1].astype(np.float64)
            if p.kind == "sensor":
                ap = np.asarray(p.apertures, dtype=np.float32)[idx].astype(np.float64)
                self.attrs["horizontalAperture"], self.attrs["verticalAperture"] = ap[:, 0], ap[:, 1]
                self.optics["ap_h"], self.optics["ap_v"] = ap[:, 0] * tenth, ap[:, 1] * tenth
        elif p.kind == "decoderProfile":
            idx = v.astype(np.int64)
            self.attrs["swb:sensor:decoderProfile"] = np.asarray(p.profiles, dtype=object)[idx]
            self.optics["profile"] = idx
            self.profiles = p.profiles

    def write(self, rec: np.ndarray) -> None:
        """Fill the (n,) record column: pose always, optics where a parameter changed them."""
        rec["rot"] = self.rot
        rec["pos"] = self.pos
        o, cam = self.optics, self.cam
        if not o:
            return
        n = self.n
        focal = o.get("focal_length", np.full(n, cam.focal_length))
        width = o.get("width", np.full(n, float(cam.width)))
        height = o.get("height", np.full(n, float(cam.height)))
        ap_h = o.get("ap_h", np.full(n, cam.aperture[0]))
        ap_v = o.get("ap_v", np.full(n, cam.aperture[1]))
        off_h, off_v = cam.aperture_offset
        # the formulas of CameraModel.fx / fy / cx / cy / pixel_pitch, operation for operation
        rec["fx"] = focal / ap_h * width
        rec["fy"] = focal / ap_v * height
        rec["cx"] = 0.5 * width - off_h / ap_h * width
        rec["cy"] = 0.5 * height + off_v / ap_v * height
        rec["width"], rec["height"] = width, height
        rec["pitch"] = np.sqrt((ap_h / width) * (ap_v / height))
        rec["focal_length"] = focal
        for key in ("f_number", "focus_distance", "exposure"):
            if key in o:
                rec[key] = o[key]
        if "profile" in o:
            profiles = [PROFILES[name] for name in self.profiles]
            pack_profiles(rec, profiles, o["profile"])

