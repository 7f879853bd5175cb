"""What each picture mode returns: its parameters (enough to regenerate it), its arrays and the files written.

Owned here, below both ``swb.viz.modes`` (which computes them) and ``swb.viz.output`` (which draws them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.model import CameraModel
from .probes import OrientationGrid, PlaneGrid


@dataclass
class VizResult:
    """What every mode returns: its parameters (enough to regenerate it) and the files written."""

    mode: str
    parameters: dict[str, Any]
    camera_paths: list[str]  # the cameras the picture judges by (index space of ``pairs``)
    files: dict[str, Path] = field(default_factory=dict)  # png, layer (overlay), stage (overlay over scene)
    png_size: tuple[int, int] | None = None  # (width, height) pixels

    def summary(self) -> dict[str, Any]:
        """A few numbers for a person or a script (the CLI prints them)."""
        return {"mode": self.mode, "files": {k: str(v) for k, v in self.files.items()},
                "png_size": None if self.png_size is None else list(self.png_size), **self._numbers()}

    def _numbers(self) -> dict[str, Any]:
        return {}


@dataclass
class ProbeEval:
    """Per selected camera x probe, from one kernel launch."""

    decodable: np.ndarray  # (n_cam, n) bool
    limiting: np.ndarray  # int32 codes, 0 = decodes
    score: np.ndarray
    ppm: np.ndarray  # worst module axis
    rank: np.ndarray  # how close to decoding (see kernels.viz.pair_rank)

    def best(self) -> dict[str, np.ndarray]:
        """Per probe, the camera that comes closest to decoding it (first of equals) and its verdict; ``ppm`` is
        the most pixels per module of any camera that has the symbol in view and faces it (0 when none)."""
        cam = np.argmax(self.rank, axis=0)

        def pick(a: np.ndarray) -> np.ndarray:
            return np.take_along_axis(a, cam[None], axis=0)[0]

        seen = np.where(self.rank >= 1.0, self.ppm, 0.0)  # in view and facing the camera (maybe occluded)
        return {"camera": cam.astype(np.int32), "decodable": pick(self.decodable), "limiting": pick(self.limiting),
                "score": pick(self.score), "ppm": seen.max(axis=0).astype(np.float32), "rank": pick(self.rank)}


@dataclass
class SphereResult(VizResult):
    point: np.ndarray = field(default_factory=lambda: np.zeros(3))  # world metres
    grid: OrientationGrid = field(default_factory=lambda: OrientationGrid(2, 4, 1))
    normals: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))  # (rows, cols, 3)
    score: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # reduced over in-plane rotations
    decodable_fraction: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # share of rotations
    limiting: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))  # of the worst rotation
    best_camera: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))  # scene index, -1 none
    samples: dict[str, np.ndarray] = field(default_factory=dict)  # best camera per (rows, cols, rotations)
    pairs: ProbeEval | None = None  # raw (n_cam, rows * cols * rotations)

    def _numbers(self) -> dict[str, Any]:
        # equal-area cells: plain means are shares of all orientations
        return {"decodable_orientations": float(np.mean(self.samples["decodable"])) if self.samples else 0.0,
                "mean_score": float(np.mean(self.score)) if self.score.size else 0.0}


@dataclass
class PlaneResult(VizResult):
    grid: PlaneGrid | None = None
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))  # (n_t, n_s, 3) world metres
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))  # the symbol frame of every cell
    score: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (n_t, n_s), best camera
    decodable: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    limiting: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    ppm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # most of any camera seeing it, 0: none
    best_camera: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))  # scene index
    pairs: ProbeEval | None = None  # raw (n_cam, n_t * n_s)

    def _numbers(self) -> dict[str, Any]:
        return {"decodable_cells": float(np.mean(self.decodable)) if self.decodable.size else 0.0,
                "max_score": float(np.max(self.score)) if self.score.size else 0.0}


@dataclass
class ProjectionResult(VizResult):
    camera: str = ""
    us: np.ndarray = field(default_factory=lambda: np.zeros(0))  # pixel coordinates of the grid columns
    vs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hit: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # (n_v, n_u) a surface was met
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))  # hit points, world metres
    normals: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))  # facing the camera
    distance: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    score: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # 0 where nothing was hit
    decodable: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    limiting: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    ppm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    best_camera: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))  # scene index, -1
    pairs: ProbeEval | None = None  # raw (n_cam, number of hits)

    def _numbers(self) -> dict[str, Any]:
        hits = int(np.sum(self.hit))
        return {"rays": int(self.hit.size), "hits": hits,
                "decodable_hits": float(np.sum(self.decodable)) / hits if hits else 0.0}


@dataclass
class ViewResult(VizResult):
    image: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))  # (H, W, 3) float RGB
    depth: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # distance along each ray, 0: none
    view_camera: CameraModel | None = None
    target_decodable: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # status per target
    frusta: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (scene camera index, (8, 2, 3))

    def _numbers(self) -> dict[str, Any]:
        return {"targets": int(self.target_decodable.size), "targets_decodable": int(np.sum(self.target_decodable))}
