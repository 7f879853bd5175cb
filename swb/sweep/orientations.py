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


def _pivots(scene: Scene, spec: SweepSpec, moving: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Per target: its pivot prim, and whether it is turned (oriented); ``moving``: per target, a velocity."""
    part_paths = {p.path for p in scene.parts}
    part_above = {q for p in part_paths for q in _strict_prefixes(p)}
    pivots, turned = [], []
    for t, moves in zip(scene.targets, moving, strict=True):
        listed = [p for p in spec.parcels if _under(t.path, p)]
        if listed:
            pivots.append(max(listed, key=len))
            turned.append(True)
            continue
        parent = t.path.rsplit("/", 1)[0] or "/"
        has_geometry = parent != "/" and (parent in part_paths or parent.rstrip("/") in part_above)
        pivots.append(parent if has_geometry else t.path)
        turned.append(not spec.parcels and bool(moves))
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


def _sample_index(counts: np.ndarray, per_rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target-major sample order: per sample its target, rotation and position index (``counts[i]`` samples of
    target i, rotation-major, ``per_rotation[i]`` positions per rotation)."""
    target = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    local = np.arange(len(target)) - first[target]
    return target, local // per_rotation[target], local % per_rotation[target]


def build_samples(scene: Scene, spec: SweepSpec, frame: StageFrame, face_part: np.ndarray | None) -> SampleSet:
    """Every target's samples (see the module docstring); deterministic for spec.seed."""
    base = pack_targets(scene.targets, scene.source)
    n_t = len(scene.targets)
    vel = np.array([t.velocity for t in scene.targets], dtype=np.float64).reshape(n_t, 3)
    moving = np.any(vel != 0.0, axis=1)
    pivots, turned = _pivots(scene, spec, moving)
    if spec.orientation_mode == "asAuthored":
        turned[:] = False
    lo, hi = (v * frame.meters_per_unit for v in spec.travel)
    travel = np.linspace(lo, hi, spec.positions) if spec.positions > 1 else np.array([0.5 * (lo + hi)])
    moved = moving & bool(np.any(travel != 0.0))
    reposed = turned | moved

    # parcel groups in order of first use, their parts, centres and frames
    group_of: dict[str, int] = {}
    members: dict[str, list[int]] = {}
    for i in np.flatnonzero(reposed):
        group_of.setdefault(pivots[i], len(group_of))
    for i, pv in enumerate(pivots):
        if pv in group_of:
            members.setdefault(pv, []).append(i)
    t_pos = np.array([t.position for t in scene.targets], dtype=np.float64).reshape(n_t, 3)
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
            centres.append(np.mean(t_pos[members[name]], axis=0))
            frames.append(np.eye(3))
        has_parts.append(bool(pts))
    rng = np.random.default_rng(spec.seed)
    phases = rng.random(len(names)) * 2.0 * math.pi / max(spec.orientations, 1)
    rotations = [orientations(spec, frames[g], float(phases[g])) for g in range(len(names))]

    k_rot = len(rotations[0][0]) if rotations else 1
    rot_table = np.stack([r for r, _ in rotations]) if rotations else np.zeros((0, k_rot, 3, 3))
    w_table = np.stack([w for _, w in rotations]) if rotations else np.zeros((0, k_rot))
    group = np.array([group_of[pivots[i]] if reposed[i] else -1 for i in range(n_t)], dtype=np.int64)
    k_i = np.where(turned & reposed, k_rot, 1)
    p_i = np.where(moved, len(travel), 1)
    target, rot, pos_i = _sample_index(k_i * p_i, p_i)
    rec = base[target]
    weight = np.ones(len(target))
    sample_group = np.full(len(target), -1, np.int64)
    # re-posed samples: turned about their parcel's centre, moved along their velocity (float64, then packed)
    rs = np.flatnonzero(reposed[target])
    if len(rs):
        t_of, g_of = target[rs], group[target[rs]]
        spin = turned[t_of]
        rots = np.broadcast_to(np.eye(3), (len(rs), 3, 3)).copy()
        rots[spin] = rot_table[g_of[spin], rot[rs][spin]]
        w_rot = np.ones(len(rs))
        w_rot[spin] = w_table[g_of[spin], rot[rs][spin]]
        speed = np.linalg.norm(vel, axis=1, keepdims=True)
        direction = np.where(moved[:, None], vel / np.where(speed > 0.0, speed, 1.0), 0.0)[t_of]
        offs = np.where(moved[t_of], travel[np.minimum(pos_i[rs], len(travel) - 1)], 0.0)
        centre = np.asarray(centres, dtype=np.float64).reshape(-1, 3)[g_of]
        t_rot = np.array([t.rotation for t in scene.targets], dtype=np.float64).reshape(n_t, 3, 3)[t_of]
        rec["pos"][rs] = centre + (rots @ (t_pos[t_of] - centre)[:, :, None])[:, :, 0] + offs[:, None] * direction
        rec["rot"][rs] = rots @ t_rot
        weight[rs] = w_rot * (1.0 / p_i[t_of])
        sample_group[rs] = np.where(np.asarray(has_parts, dtype=bool)[g_of], g_of, -1)
    fp = np.asarray(face_part, dtype=np.int64) if face_part is not None else np.zeros(0, np.int64)
    face_group = part_group[fp] if len(part_group) else np.full(len(fp), -1, np.int32)
    target = target.astype(np.int32)
    return SampleSet(
        records=rec,
        target=target,
        weight=weight,
        weight_int=np.rint(weight * WEIGHT_ONE).astype(np.int64),
        group=sample_group.astype(np.int32),
        face_group=np.ascontiguousarray(face_group, dtype=np.int32),
        parcels=names,
        n_targets=len(scene.targets),
        per_target=int(np.bincount(target).max()) if len(target) else 0,
        as_authored=not bool(reposed.any()),
    )
