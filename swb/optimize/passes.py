"""Label passes: what the optimiser counts, and how a camera's per-frame verdicts become "it reads this pass".

The label samples are the sweep's (``swb.sweep.orientations``): every counted target at each parcel orientation
and, for moving labels, at ``positions`` places along ``travel``. A *pass* is one label at one orientation going
through the station: its samples are the positions along its path. The read rate is the weighted share of passes
read (each target weighs the same; its orientations share its weight).

A camera reads a pass when it reads the label in a frame. Frames come ``speed / frame_rate`` apart along the
path with an unknown phase, so the safe rule (today's 0/1 model) is: the camera decodes the label over a run of
consecutive sampled positions at least one frame interval long, ``(k - 1) * spacing >= speed / frame_rate``, so
whatever the phase a frame falls in it. A static label, a single position, or a sensor without a frame rate needs
one decoding position. ``PassSet.reduce`` is the one place that rule lives; a per-frame read probability replaces
it by ``1 - prod(1 - p)`` over the frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..engine.model import Scene
from ..sweep.candidates import StageFrame
from ..sweep.orientations import SampleSet, build_samples
from ..sweep.spec import SweepSpec
from .spec import DesignSpec


@dataclass
class PassSet:
    """The label samples of a design grouped into passes (target-major, orientation, then position)."""

    samples: SampleSet
    targets: list[str]  # counted target paths (scene order)
    pass_target: np.ndarray  # (P,) int32 index into targets
    pass_orientation: np.ndarray  # (P,) int32 orientation sample of its target
    weight: np.ndarray  # (P,) int64: exact integer weights (WEIGHT_ONE per target)
    sample_pass: np.ndarray  # (S,) int32
    positions: np.ndarray  # (P, n_pos) int64 sample index per position along the path, -1 past its end
    speed: np.ndarray  # (P,) m/s
    spacing: np.ndarray  # (P,) metres between sampled positions (0: one position)

    @property
    def n(self) -> int:
        return int(len(self.weight))

    @property
    def total(self) -> int:
        return int(self.weight.sum())

    def needed_positions(self, frame_rate: np.ndarray) -> np.ndarray:
        """(C, P) consecutive decoding positions a camera with that frame rate (Hz, 0: none) needs per pass."""
        fps = np.asarray(frame_rate, dtype=np.float64)[:, None]
        moving = (self.spacing > 0.0) & (self.speed > 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            frames = np.where(fps > 0.0, self.speed[None, :] / fps, 0.0) / np.where(moving, self.spacing, 1.0)
        need = 1 + np.ceil(frames - 1e-9)
        return np.where(moving[None, :] & (fps > 0.0), np.maximum(need, 1), 1).astype(np.int64)

    def reduce(self, decodable: np.ndarray, frame_rate: np.ndarray) -> np.ndarray:
        """(C, P) bool: camera c reads pass p (see the module docstring), from (C, S) per-sample verdicts."""
        dec = np.asarray(decodable, dtype=bool)
        n_cam = dec.shape[0]
        padded = np.concatenate([dec, np.zeros((n_cam, 1), bool)], axis=1)  # index -1: past a path's end
        if self.positions.shape[1] == 1:
            return padded[:, self.positions[:, 0]]
        run = np.zeros((n_cam, self.n), np.int64)
        best = np.zeros((n_cam, self.n), np.int64)
        for k in range(self.positions.shape[1]):
            hit = padded[:, self.positions[:, k]]
            run = (run + 1) * hit
            np.maximum(best, run, out=best)
        return best >= self.needed_positions(frame_rate)

    def describe(self) -> str:
        per = self.positions.shape[1]
        return (f"{len(self.targets)} labels, {self.n:,} passes (orientations x labels), up to {per} positions "
                f"each: {self.samples.n:,} samples")


def counted_scene(scene: Scene, labels: tuple[str, ...]) -> tuple[Scene, list[int]]:
    """The scene with only the targets under ``labels`` (all when empty), and their scene indices."""
    def under(path: str, prefix: str) -> bool:
        return path == prefix or path.startswith(prefix.rstrip("/") + "/")

    keep = [i for i, t in enumerate(scene.targets) if not labels or any(under(t.path, p) for p in labels)]
    return replace(scene, targets=[scene.targets[i] for i in keep]), keep


def build_passes(scene: Scene, spec: DesignSpec, frame: StageFrame, face_part: np.ndarray | None) -> PassSet:
    """Samples of the counted labels grouped into passes; deterministic for spec.seed."""
    sweep_like = SweepSpec(name=spec.name, cameras=(), params=(), seed=spec.seed,
                           orientation_mode=spec.orientation_mode, orientations=spec.orientations,
                           face_weights=spec.face_weights, parcels=spec.parcels, positions=spec.positions,
                           travel=spec.travel)
    samples = build_samples(scene, sweep_like, frame, face_part)
    lo, hi = (v * frame.meters_per_unit for v in spec.travel)
    spacing_m = (hi - lo) / (spec.positions - 1) if spec.positions > 1 else 0.0
    counts = np.bincount(samples.target, minlength=len(scene.targets))
    p_target, p_orient, p_weight, p_speed, p_spacing, rows = [], [], [], [], [], []
    sample_pass = np.empty(samples.n, np.int32)
    start = 0
    for i, t in enumerate(scene.targets):
        n_i = int(counts[i])
        speed = float(np.linalg.norm(np.asarray(t.velocity, dtype=np.float64)))
        moved = speed > 0.0 and spacing_m > 0.0 and n_i % spec.positions == 0 and (hi != 0.0 or lo != 0.0)
        per = spec.positions if moved else 1
        for k in range(n_i // per):
            first = start + k * per
            sample_pass[first:first + per] = len(p_target)
            p_target.append(i)
            p_orient.append(k)
            p_weight.append(int(samples.weight_int[first:first + per].sum()))
            p_speed.append(speed if moved else 0.0)
            p_spacing.append(spacing_m if moved else 0.0)
            rows.append(np.arange(first, first + per))
        start += n_i
    width = max((len(r) for r in rows), default=1)
    positions = np.full((len(rows), width), -1, np.int64)
    for j, r in enumerate(rows):
        positions[j, :len(r)] = r
    return PassSet(samples, [t.path for t in scene.targets], np.asarray(p_target, np.int32),
                   np.asarray(p_orient, np.int32), np.asarray(p_weight, np.int64), sample_pass, positions,
                   np.asarray(p_speed), np.asarray(p_spacing))

