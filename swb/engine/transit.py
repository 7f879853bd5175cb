"""Transit read rate: the share of moving labels read on their way through the station (docs/model.md, rule 12).

A label on a parcel is read when any frame of any camera decodes it. ``kernels/transit.py`` runs each label
through every frame of each camera and returns, per camera, the chance that none of its frames reads it; cameras
see the label from different places, so their misses are combined as independent. Successive frames of one camera
are not: they share the label, its print and most of the image. Two rules bound them, and both are reported:

- **safe** (the headline): the frames of one camera count as one look at their best frame;
- **independent looks**: a frame is a new look once the label's image has moved a module since the look began
  (its sampling phase then differs), a figure the safe one never exceeds.

Parcels move with their labels while the station stands still: the parts under a moving label's parent prim (its
parcel) are moving geometry, the rest static (``moving_parts``). A label at rest is one look per camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import warp as wp

from swb.kernels.transit import transit_kernel

from .model import CameraModel, MeshPart, TargetModel
from .profiles import factor_name
from .world import World

PHASES = 4  # frame phases averaged: cameras are not synchronised with the parcels


def label_speeds(targets: Sequence[TargetModel]) -> np.ndarray:
    """(T,) each label's speed in m/s: a label with speed > 0 is carried through the station."""
    return np.array([float(np.linalg.norm(t.velocity)) for t in targets], np.float64)


def moving_parts(targets: Sequence[TargetModel], parts: Sequence[MeshPart]) -> np.ndarray:
    """Per part: it moves with a moving label (it lies under the label's parent prim, e.g. the parcel's box)."""
    speed = label_speeds(targets)
    parents = {t.path.rsplit("/", 1)[0] for t, v in zip(targets, speed, strict=True) if v > 0.0}
    parents.discard("")
    return np.array([any(p.path == q or p.path.startswith(q + "/") for q in parents) for p in parts], bool)


def default_reach(cameras: Sequence[CameraModel], targets: Sequence[TargetModel]) -> np.ndarray:
    """Metres each label travels either side of its authored place: twice its distance to the farthest camera (a
    label that far from every camera has left the station)."""
    if not cameras or not targets:
        return np.zeros(len(targets), np.float32)
    cams = np.array([c.position for c in cameras], np.float64)
    tgts = np.array([t.position for t in targets], np.float64)
    return (2.0 * np.linalg.norm(tgts[:, None, :] - cams[None, :, :], axis=2).max(axis=1)).astype(np.float32)


@dataclass
class TransitResults:
    """Per camera x label (arrays (n_cameras, n_labels)) and per label: the transit read rates."""

    cameras: list[str]
    targets: list[str]
    moving: np.ndarray  # (T,) bool: the label has a velocity
    miss_frame: np.ndarray  # (C, T): no frame of the camera reads it, the camera's frames as one look
    miss_look: np.ndarray  # (C, T): ... its frames as independent looks (a module of image motion apart)
    best_p: np.ndarray  # (C, T): the camera's best one-frame read probability over the transit
    frames: np.ndarray  # (C, T) int: frames that could read it (first phase)
    looks: np.ndarray  # (C, T) int: independent looks among them
    limiting: np.ndarray  # (C, T) int: factor code that stopped the camera's closest frame (0: a frame decodes)
    rank: np.ndarray  # (C, T): how close that frame came (kernels.viz.pair_rank: 3 + score decodes ... 0 out of view)
    reach: np.ndarray  # (T,) metres travelled either side
    phases: int

    @property
    def read_rate(self) -> np.ndarray:
        """(T,) safe read rate per label: 1 - prod over cameras of the miss of its best frame."""
        return 1.0 - np.prod(self.miss_frame.astype(np.float64), axis=0)

    @property
    def read_rate_looks(self) -> np.ndarray:
        """(T,) read rate with a camera's frames as independent looks (never below ``read_rate``)."""
        return 1.0 - np.prod(self.miss_look.astype(np.float64), axis=0)

    def station_read_rate(self, looks: bool = False) -> float:
        """Mean over the labels (each label counts once)."""
        rates = self.read_rate_looks if looks else self.read_rate
        return float(rates.mean()) if len(rates) else 0.0

    def best_camera(self) -> np.ndarray:
        """(T,) index of the camera most likely to read each label (-1 without cameras)."""
        if not len(self.cameras):
            return np.full(len(self.targets), -1)
        return np.argmin(self.miss_frame, axis=0)

    def explaining_camera(self) -> np.ndarray:
        """(T,) the camera that says why a label reads as it does: its best reader, or when none reads it the one
        whose frames came closest (-1 without cameras)."""
        if not len(self.cameras):
            return np.full(len(self.targets), -1)
        return np.where(self.best_p.max(axis=0) > 0, self.best_camera(), np.argmax(self.rank, axis=0))

    def worst(self, k: int = 5) -> list[int]:
        """The labels that drag the read rate down most, lowest first."""
        return [int(i) for i in np.argsort(self.read_rate, kind="stable")[:k]]

    def to_json(self) -> dict[str, Any]:
        best = self.explaining_camera()
        rate, looks = self.read_rate, self.read_rate_looks
        return {
            "read_rate": self.station_read_rate(), "read_rate_independent_looks": self.station_read_rate(True),
            "phases": self.phases,
            "labels": [
                {"path": p, "moving": bool(self.moving[t]), "read_rate": float(rate[t]),
                 "read_rate_independent_looks": float(looks[t]),
                 "best_camera": self.cameras[best[t]] if best[t] >= 0 else None,
                 "limiting": factor_name(int(self.limiting[best[t], t])) if best[t] >= 0 else "fov",
                 "best_frame_p_read": float(self.best_p[:, t].max(initial=0.0)),
                 "frames": int(self.frames[:, t].sum()), "looks": int(self.looks[:, t].sum()),
                 "reach_m": float(self.reach[t])}
                for t, p in enumerate(self.targets)],
        }


def evaluate_transits(world: World, *, phases: int = PHASES,
                      reach: float | np.ndarray | None = None) -> TransitResults:
    """Run every label through every camera's frames (``reach``: metres either side, default ``default_reach``)."""
    n_cam, n_tgt = len(world.cameras), len(world.targets)
    if phases < 1:
        raise ValueError(f"phases must be at least 1, got {phases}")
    dev = world.device
    far = (default_reach(world.cameras, world.targets) if reach is None
           else np.broadcast_to(np.asarray(reach, np.float32), (n_tgt,)))
    moving = moving_parts(world.targets, world.parts)
    static_mesh = world.part_mesh(~moving)
    moving_mesh = world.part_mesh(moving)
    shape = (max(n_cam, 1), max(n_tgt, 1))
    out = {name: wp.zeros(shape, dtype=wp.float32, device=dev)
           for name in ("miss_frame", "miss_look", "best_p", "rank")}
    counts = {name: wp.zeros(shape, dtype=wp.int32, device=dev) for name in ("frames", "looks", "limiting")}
    reach_dev = wp.array(np.asarray(far, np.float32) if n_tgt else np.zeros(1, np.float32), dtype=wp.float32,
                         device=dev)
    speed = label_speeds(world.targets)
    rates = np.array([c.frame_rate for c in world.cameras])
    per_label = 2 * np.ceil(far * rates.max(initial=0.0) / np.where(speed > 0, speed, np.inf)) + 1
    frames_per_label = float(per_label.mean()) if n_tgt else 1.0

    def launch(a: int, b: int) -> None:
        wp.launch(transit_kernel, dim=(n_cam, b - a), device=dev,
                  inputs=[world.camera_records, world.target_records, reach_dev, int(phases), a,
                          static_mesh.id if static_mesh is not None else wp.uint64(0), int(static_mesh is not None),
                          moving_mesh.id if moving_mesh is not None else wp.uint64(0), int(moving_mesh is not None),
                          world.lighting, world.mesh.id if world.mesh is not None else wp.uint64(0),
                          out["miss_frame"], out["miss_look"], out["best_p"], counts["frames"],
                          counts["looks"], counts["limiting"], out["rank"]])

    if n_cam and n_tgt:
        world.split(n_tgt, int(n_cam * phases * frames_per_label), launch)

    def host(a: wp.array) -> np.ndarray:
        return a.numpy()[:n_cam, :n_tgt].copy()

    return TransitResults(
        cameras=[c.path for c in world.cameras], targets=[t.path for t in world.targets],
        moving=speed > 0, miss_frame=host(out["miss_frame"]), miss_look=host(out["miss_look"]),
        best_p=host(out["best_p"]), frames=host(counts["frames"]), looks=host(counts["looks"]),
        limiting=host(counts["limiting"]), rank=host(out["rank"]),
        reach=np.asarray(far, np.float32).copy(), phases=int(phases))
