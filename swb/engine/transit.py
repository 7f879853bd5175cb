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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import warp as wp

from swb.kernels.camera import Camera
from swb.kernels.transit import transit_frames_kernel, transit_kernel

from .model import CameraModel, MeshPart, TargetModel
from .profiles import factor_name
from .world import World

PHASES = 4  # frame phases averaged: cameras are not synchronised with the parcels
SLICES = 64  # label slices of a big transit: progress, and balanced work across CPU threads
BIG_FRAMES = 2_000_000  # frames above which a transit is run in slices
# Frame evaluations a device does in about a minute (the pair model at each frame a camera may see, occlusion rays
# where it could read): what `swb eval` runs unasked (its --transit auto). CPU: measured on the generated stations
# (docs/results.md), per worker thread; a GPU: the CPU's per-thread rate times the ~1000x its ray rate shows.
FRAMES_PER_MINUTE_CPU_THREAD = 2.0e7
FRAMES_PER_MINUTE_GPU = 2.0e10


def label_speeds(targets: Sequence[TargetModel]) -> np.ndarray:
    """(T,) each label's speed in m/s: a label with speed > 0 is carried through the station."""
    if not len(targets):
        return np.zeros(0, np.float64)
    return np.linalg.norm(np.array([t.velocity for t in targets], np.float64).reshape(len(targets), 3), axis=1)


def moving_parts(targets: Sequence[TargetModel], parts: Sequence[MeshPart]) -> np.ndarray:
    """Per part: it moves with a moving label (it lies under the label's parent prim, e.g. the parcel's box)."""
    speed = label_speeds(targets)
    parents = {t.path.rsplit("/", 1)[0] for t, v in zip(targets, speed, strict=True) if v > 0.0}
    parents.discard("")
    return np.array([any(p.path == q or p.path.startswith(q + "/") for q in parents) for p in parts], bool)


def default_reach(cameras: Sequence[CameraModel] | np.ndarray, targets: Sequence[TargetModel]) -> np.ndarray:
    """Metres each label travels either side of its authored place: twice its distance to the farthest camera (a
    label that far from every camera has left the station). ``cameras``: the models, or their positions (C, 3)."""
    cams = np.asarray([c.position for c in cameras] if not isinstance(cameras, np.ndarray) else cameras,
                      np.float64).reshape(-1, 3)
    if not len(cams) or not targets:
        return np.zeros(len(targets), np.float32)
    tgts = np.array([t.position for t in targets], np.float64).reshape(len(targets), 3)
    far = np.zeros(len(targets), np.float64)
    for c in cams:  # one camera at a time: O(labels) memory on a big station
        np.maximum(far, np.linalg.norm(tgts - c, axis=1), out=far)
    return (2.0 * far).astype(np.float32)


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


def _reach(world: World, reach: float | np.ndarray | None, cameras: np.ndarray | None = None) -> np.ndarray:
    if reach is not None:
        return np.broadcast_to(np.asarray(reach, np.float32), (len(world.targets),))
    return default_reach(world.cameras if cameras is None else cameras["pos"].astype(np.float64), world.targets)


def _reach_array(world: World, far: np.ndarray) -> wp.array:
    return wp.array(np.asarray(far, np.float32) if len(far) else np.zeros(1, np.float32), dtype=wp.float32,
                    device=world.device)


def auto_frame_budget(device: Any, threads: int = 1) -> float:
    """Frame evaluations that take about a minute on ``device`` (a Warp device) with ``threads`` CPU workers."""
    if getattr(device, "is_cpu", True):
        return FRAMES_PER_MINUTE_CPU_THREAD * max(1, threads)
    return FRAMES_PER_MINUTE_GPU


def _camera_records(world: World, cameras: np.ndarray | None) -> wp.array:
    """The world's device cameras, or ``cameras`` (packed records, one per world camera: another configuration of
    the same cameras, e.g. a sweep's best) on its device."""
    if cameras is None:
        return world.camera_records
    if len(cameras) != len(world.cameras):
        raise ValueError(f"{len(cameras)} camera records for a world of {len(world.cameras)} cameras")
    return wp.array(cameras, dtype=Camera, device=world.device)


def transit_frames(world: World, *, reach: float | np.ndarray | None = None,
                   cameras: np.ndarray | None = None) -> np.ndarray:
    """(C, T) the frames of one phase that each camera may see of each label's transit (a label at rest: 1), from
    a cheap kernel before the transit runs: what it will cost (``evaluate_transits`` evaluates the pair model on
    ``phases`` times these frames)."""
    n_cam, n_tgt = len(world.cameras), len(world.targets)
    if not n_cam or not n_tgt:
        return np.zeros((n_cam, n_tgt), np.float32)
    out = wp.zeros((n_cam, n_tgt), dtype=wp.float32, device=world.device)
    reach_dev = _reach_array(world, _reach(world, reach, cameras))
    cams = _camera_records(world, cameras)

    def launch(a: int, b: int) -> None:
        wp.launch(transit_frames_kernel, dim=(n_cam, b - a), device=world.device,
                  inputs=[cams, world.target_records, reach_dev, a, out])

    world.split(n_tgt, n_cam, launch)
    return out.numpy()


def evaluate_transits(world: World, *, phases: int = PHASES, reach: float | np.ndarray | None = None,
                      progress: Callable[[float], None] | None = None,
                      cameras: np.ndarray | None = None) -> TransitResults:
    """Run every label through every camera's frames (``reach``: metres either side, default ``default_reach``).
    A big transit runs in slices of labels of about equal work; ``progress(share done)`` after each. ``cameras``:
    packed records of another configuration of the world's cameras (default: the world's own)."""
    n_cam, n_tgt = len(world.cameras), len(world.targets)
    if phases < 1:
        raise ValueError(f"phases must be at least 1, got {phases}")
    dev = world.device
    far = _reach(world, reach, cameras)
    moving = moving_parts(world.targets, world.parts)
    static_mesh = world.part_mesh(~moving)
    moving_mesh = world.part_mesh(moving)
    shape = (max(n_cam, 1), max(n_tgt, 1))
    out = {name: wp.zeros(shape, dtype=wp.float32, device=dev)
           for name in ("miss_frame", "miss_look", "best_p", "rank")}
    counts = {name: wp.zeros(shape, dtype=wp.int32, device=dev) for name in ("frames", "looks", "limiting")}
    reach_dev = _reach_array(world, far)
    speed = label_speeds(world.targets)
    cams = _camera_records(world, cameras)

    def launch(a: int, b: int) -> None:
        wp.launch(transit_kernel, dim=(n_cam, b - a), device=dev,
                  inputs=[cams, world.target_records, reach_dev, int(phases), a,
                          static_mesh.id if static_mesh is not None else wp.uint64(0), int(static_mesh is not None),
                          moving_mesh.id if moving_mesh is not None else wp.uint64(0), int(moving_mesh is not None),
                          world.lighting, world.mesh.id if world.mesh is not None else wp.uint64(0),
                          out["miss_frame"], out["miss_look"], out["best_p"], counts["frames"],
                          counts["looks"], counts["limiting"], out["rank"]])

    if n_cam and n_tgt:
        # the work of each label: its frames in view, plus one frame test per camera for the rest
        work = transit_frames(world, reach=far, cameras=cameras).sum(axis=0, dtype=np.float64) * phases + n_cam
        total = float(work.sum())
        slices = SLICES if total > BIG_FRAMES else 1
        bounds = np.unique(np.searchsorted(np.cumsum(work), np.linspace(0.0, total, slices + 1)[1:-1]))
        bounds = np.concatenate([[0], bounds[(bounds > 0) & (bounds < n_tgt)], [n_tgt]])
        if len(bounds) == 2:
            world.split(n_tgt, int(total / n_tgt) + 1, launch)
            if progress is not None:
                progress(1.0)
        else:
            done = [0.0]
            cumulative = np.concatenate([[0.0], np.cumsum(work)])

            def finished(a: int, b: int) -> None:
                done[0] += cumulative[b] - cumulative[a]
                if progress is not None:
                    progress(done[0] / total)

            world.run_slices(bounds, launch, finished)

    def host(a: wp.array) -> np.ndarray:
        return a.numpy()[:n_cam, :n_tgt].copy()

    return TransitResults(
        cameras=[c.path for c in world.cameras], targets=[t.path for t in world.targets],
        moving=speed > 0, miss_frame=host(out["miss_frame"]), miss_look=host(out["miss_look"]),
        best_p=host(out["best_p"]), frames=host(counts["frames"]), looks=host(counts["looks"]),
        limiting=host(counts["limiting"]), rank=host(out["rank"]),
        reach=np.asarray(far, np.float32).copy(), phases=int(phases))
