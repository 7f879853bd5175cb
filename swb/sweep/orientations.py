"""Parcel orientation and position samples: how labels really appear to the cameras, with weights.

Coverage is measured over samples of each target: a parcel on a conveyor lies flat at any yaw (``flatRandomYaw``:
K yaws evenly spread, with a seeded random phase per parcel so no yaw lines up with the cameras by accident),
or on any of its six faces (``allFaces``: faces x yaws, faces weighted by ``faceWeights``), and is seen at
``positions`` places along its motion. ``asAuthored`` keeps every label where it is (one sample, bit for bit the
target ``swb eval`` evaluates).

Which targets turn: the labels under the prims named in ``swb:sweep:parcels``; by default every moving target
(a conveyor's parcels). A label turns with its parcel about the parcel's centre: the named prim, or by default the
label's parent prim when that holds geometry (else the label turns about its own centre). A turned or moved label
ignores its own parcel's geometry for occlusion (the parcel itself is not turned; a label on its convex faces is
hidden by it only when it faces away, which the model checks anyway); all other geometry still occludes.

Weights: within a target the samples' weights sum to 1; every target counts the same. They are also given as
integers (``WEIGHT_ONE`` per target) so that sums are exact and independent of order, chunking and device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.model import Scene
from ..engine.world import pack_targets
from .candidates import StageFrame
from .spec import SweepSpec

WEIGHT_ONE = 1 << 32  # integer weight of one whole target
_UP = np.array([0.0, 0.0, 1.0])


@dataclass
class SampleSet:
    """Target samples for the kernels, target-major (all samples of target 0 first)."""

    records: np.ndarray  # packed Target records, (n_samples,)
    target: np.ndarray  # (n_samples,) int32 scene target index
    weight: np.ndarray  # (n_samples,) float64, summing to 1 per target
    weight_int: np.ndarray  # (n_samples,) int64
    group: np.ndarray  # (n_samples,) int32: parcel whose geometry the sample ignores, -1 none
    face_group: np.ndarray  # (n_faces,) int32: parcel of each mesh face, -1 none
    parcels: list[str]  # pivot prim of each group id
    n_targets: int
    per_target: int  # most samples of one target (orientations x positions)
    as_authored: bool  # every target exactly as authored, one sample each

    @property
    def n(self) -> int:
        return int(len(self.records))

    def describe(self) -> str:
        turned = int((np.bincount(self.target, minlength=self.n_targets) > 1).sum())
        return (f"{self.n_targets} targets, {turned} re-posed with up to {self.per_target} samples each: "
                f"{self.n} samples")


def _rot_z(angles: np.ndarray) -> np.ndarray:
    c, s = np.cos(angles), np.sin(angles)
    r = np.zeros((len(angles), 3, 3))
    r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1], r[:, 2, 2] = c, -s, s, c, 1.0
    return r


def _turn_up(n: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector n to +Z (a half turn about ``side`` when n points down)."""
    d = float(np.clip(n @ _UP, -1.0, 1.0))
    if d > 1.0 - 1e-12:
        return np.eye(3)
    axis = np.cross(n, _UP) if d > -1.0 + 1e-12 else side
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = math.acos(d)
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def orientations(spec: SweepSpec, parcel_frame: np.ndarray, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """(rotations (k, 3, 3) about the parcel centre, weights (k,) summing to 1) for one parcel."""
    if spec.orientation_mode == "asAuthored":
        return np.eye(3)[None], np.ones(1)
    k = spec.orientations
    yaws = _rot_z(phase + 2.0 * math.pi * np.arange(k) / k)
    if spec.orientation_mode == "flatRandomYaw":
        return yaws, np.full(k, 1.0 / k)
    fw = np.asarray(spec.face_weights if spec.face_weights else (1.0,) * 6, dtype=np.float64)
    rots, weights = [], []
    for f in range(6):
        if fw[f] <= 0.0:
            continue
        axis = np.eye(3)[f // 2] * (1.0 if f % 2 == 0 else -1.0)
        q = _turn_up(parcel_frame @ axis, parcel_frame[:, 0] if f // 2 == 2 else parcel_frame[:, 2])
        rots.append(yaws @ q)
        weights.append(np.full(k, fw[f] / fw.sum() / k))
    return np.concatenate(rots), np.concatenate(weights)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _strict_prefixes(path: str) -> list[str]:
    """Every p with path.startswith(p + "/"), so ``_under(path, prefix)`` is ``path == prefix`` or
    ``prefix.rstrip("/")`` among these: set look-ups instead of testing every prefix against every path (a station
    of thousands of labels and parcels)."""
    return [path[:i] for i, ch in enumerate(path) if ch == "/"]


def _pivots(scene: Scene, spec: SweepSpec) -> tuple[list[str], np.ndarray]:
    """Per target: its pivot prim, and whether it is turned (oriented)."""
    part_paths = {p.path for p in scene.parts}
    part_above = {q for p in part_paths for q in _strict_prefixes(p)}
    pivots, turned = [], []
    for t in scene.targets:
        listed = [p for p in spec.parcels if _under(t.path, p)]
        if listed:
            pivots.append(max(listed, key=len))
            turned.append(True)
            continue
        parent = t.path.rsplit("/", 1)[0] or "/"
        has_geometry = parent != "/" and (parent in part_paths or parent.rstrip("/") in part_above)
        pivots.append(parent if has_geometry else t.path)
        turned.append(not spec.parcels and bool(np.any(np.asarray(t.velocity) != 0.0)))
    return pivots, np.asarray(turned, dtype=bool)


def _part_groups(scene: Scene, names: list[str]) -> np.ndarray:
    """Per part, the group whose pivot ``names[g]`` it lies under, the innermost (longest name; among equal
    lengths the later group) when several do; -1 for none."""
    exact: dict[str, list[int]] = {}
    above: dict[str, list[int]] = {}
    for g, name in enumerate(names):
        exact.setdefault(name, []).append(g)
        above.setdefault(name.rstrip("/"), []).append(g)
    out = np.full(len(scene.parts), -1, dtype=np.int32)
    for k, part in enumerate(scene.parts):
        cands = list(exact.get(part.path, ()))
        for q in _strict_prefixes(part.path):
            cands.extend(above.get(q, ()))
        if cands:
            out[k] = max(set(cands), key=lambda g: (len(names[g]), g))
    return out


def build_samples(scene: Scene, spec: SweepSpec, frame: StageFrame, face_part: np.ndarray | None) -> SampleSet:
    """Every target's samples (see the module docstring); deterministic for spec.seed."""
    base = pack_targets(scene.targets, scene.source)
    pivots, turned = _pivots(scene, spec)
    if spec.orientation_mode == "asAuthored":
        turned[:] = False
    lo, hi = (v * frame.meters_per_unit for v in spec.travel)
    travel = np.linspace(lo, hi, spec.positions) if spec.positions > 1 else np.array([0.5 * (lo + hi)])
    moved = np.array([bool(np.any(np.asarray(t.velocity) != 0.0)) and bool(np.any(travel != 0.0))
                      for t in scene.targets], dtype=bool)
    reposed = turned | moved

    # parcel groups in order of first use, their parts, centres and frames
    group_of: dict[str, int] = {}
    for i in np.flatnonzero(reposed):
        group_of.setdefault(pivots[i], len(group_of))
    names = list(group_of)
    part_group = _part_groups(scene, names)
    centres, frames, has_parts = [], [], []
    for g, name in enumerate(names):
        parts = [scene.parts[k] for k in np.flatnonzero(part_group == g)]
        pts = [p.world_points() for p in parts if len(p.points)]
        if pts:
            allp = np.concatenate(pts)
            centres.append(0.5 * (allp.min(axis=0) + allp.max(axis=0)))
            u, _, vt = np.linalg.svd(np.asarray(parts[0].to_world, dtype=np.float64)[:3, :3])
            frames.append(u @ vt)
        else:
            members = [np.asarray(t.position) for t, pv in zip(scene.targets, pivots, strict=True) if pv == name]
            centres.append(np.mean(members, axis=0))
            frames.append(np.eye(3))
        has_parts.append(bool(pts))
    rng = np.random.default_rng(spec.seed)
    phases = rng.random(len(names)) * 2.0 * math.pi / max(spec.orientations, 1)
    rotations = [orientations(spec, frames[g], float(phases[g])) for g in range(len(names))]

    recs, tidx, weights, groups = [], [], [], []
    for i, t in enumerate(scene.targets):
        if not reposed[i]:
            recs.append(base[i:i + 1])
            tidx.append(np.array([i]))
            weights.append(np.ones(1))
            groups.append(np.array([-1]))
            continue
        g = group_of[pivots[i]]
        rots, w_rot = rotations[g] if turned[i] else (np.eye(3)[None], np.ones(1))
        offs = travel if moved[i] else np.zeros(1)
        w_pos = np.full(len(offs), 1.0 / len(offs))
        v = np.asarray(t.velocity, dtype=np.float64)
        direction = v / np.linalg.norm(v) if moved[i] else np.zeros(3)
        c = centres[g]
        pos = c + (rots @ (np.asarray(t.position, dtype=np.float64) - c))  # (k, 3)
        pos = pos[:, None, :] + offs[None, :, None] * direction  # (k, p, 3)
        rot = np.broadcast_to((rots @ np.asarray(t.rotation, dtype=np.float64))[:, None], (*pos.shape[:2], 3, 3))
        rec = np.repeat(base[i:i + 1], pos.shape[0] * pos.shape[1])
        rec["pos"] = pos.reshape(-1, 3)
        rec["rot"] = rot.reshape(-1, 3, 3)
        recs.append(rec)
        tidx.append(np.full(len(rec), i))
        weights.append((w_rot[:, None] * w_pos[None, :]).ravel())
        groups.append(np.full(len(rec), g if has_parts[g] else -1))
    weight = np.concatenate(weights) if weights else np.zeros(0)
    fp = np.asarray(face_part, dtype=np.int64) if face_part is not None else np.zeros(0, np.int64)
    face_group = part_group[fp] if len(part_group) else np.full(len(fp), -1, np.int32)
    target = np.concatenate(tidx).astype(np.int32) if tidx else np.zeros(0, np.int32)
    return SampleSet(
        records=np.concatenate(recs) if recs else base,
        target=target,
        weight=weight,
        weight_int=np.rint(weight * WEIGHT_ONE).astype(np.int64),
        group=np.concatenate(groups).astype(np.int32) if groups else np.zeros(0, np.int32),
        face_group=np.ascontiguousarray(face_group, dtype=np.int32),
        parcels=names,
        n_targets=len(scene.targets),
        per_target=int(np.bincount(target).max()) if len(target) else 0,
        as_authored=not bool(reposed.any()),
    )
