"""What each picture mode returns: its parameters (enough to regenerate it), its arrays and the files written.

Owned here, below both ``swb.viz.modes`` (which computes them) and ``swb.viz.output`` (which draws them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.model import CameraModel
from ..engine.profiles import factor_name
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
        """A few numbers for a person or a script (the CLI prints them); ``nothing_decodes`` says why when no
        probe of the picture decodes."""
        out = {"mode": self.mode, "files": {k: str(v) for k, v in self.files.items()},
               "png_size": None if self.png_size is None else list(self.png_size), **self._numbers()}
        why = self.nothing_decodes()
        if why is not None:
            out["nothing_decodes"] = why
        return out

    def _numbers(self) -> dict[str, Any]:
        return {}

    def verdicts(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(decodable, limiting code) of every probe the picture shows; None for pictures without probes."""
        return None

    def nothing_decodes(self) -> str | None:
        """Why a picture in which no probe decodes is all grey (the limiting factors and what to change); None
        when some probe decodes or the picture has no probes."""
        found = self.verdicts()
        if found is None:
            return None
        decodable, limiting = (np.asarray(a).ravel() for a in found)
        if decodable.any():
            return None
        if limiting.size == 0:
            return "nothing decodes: the camera sees no surface"
        codes, counts = np.unique(limiting, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        shares = ", ".join(f"{factor_name(int(codes[k])) or 'decodes'} {100 * counts[k] / limiting.size:.0f} %"
                           for k in order[:3])
        advice = _ADVICE.get(factor_name(int(codes[order[0]])) or "", "")
        return f"nothing decodes: limited by {shares}" + (f"; {advice}" if advice else "")


# What to change when one factor stops every probe of a picture.
_ADVICE = {
    "fov": "no camera sees this region: choose a point, plane or camera that looks at it",
    "occluded": "the probes are hidden (inside or behind parts): move them out, or choose another camera",
    "backfacing": "the symbols face away from the cameras: turn them (--normal / --symbol-normal)",
    "resolution": "too few pixels per module: a larger --module-size-mm, a longer lens or a nearer camera",
    "defocus": "out of focus: move the probes to the cameras' focus distance or use a smaller aperture",
    "motion": "motion blur: a shorter exposure time or a slower belt",
    "angle": "viewed too obliquely: turn the symbols towards a camera",
    "glare": "specular glare from a light: move the light or the camera",
    "exposure": "too little light: a longer exposure, more light or a larger aperture",
}


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

    def verdicts(self) -> tuple[np.ndarray, np.ndarray]:
        return self.decodable_fraction > 0.0, self.limiting

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

    def verdicts(self) -> tuple[np.ndarray, np.ndarray]:
        return self.decodable, self.limiting

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

    def verdicts(self) -> tuple[np.ndarray, np.ndarray]:
        return self.decodable[self.hit], self.limiting[self.hit]

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
    color_by: str = "status"  # status | score | limiting | ppm: what the target colours show
    target_values: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per target, the shown quantity
    target_colours: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # RGB per target

    def _numbers(self) -> dict[str, Any]:
        return {"targets": int(self.target_decodable.size), "targets_decodable": int(np.sum(self.target_decodable))}
