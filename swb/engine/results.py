"""Queries over an evaluation: rows per camera or target, coverage, and the JSON form the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SwbError
from .model import CameraModel, TargetModel
from .pair_results import PairResults
from .profiles import FACTOR_CODE, FACTORS, factor_name

# How far a failing pair got through the checks: a pair that is occluded is "closer" to decoding than one out of view.
_STAGE = {0: 4, FACTOR_CODE["fov"]: 0, FACTOR_CODE["backfacing"]: 1, FACTOR_CODE["occluded"]: 2}


@dataclass(frozen=True)
class PairRow:
    """One camera x target result, lengths in metres, angles in degrees."""

    camera: str
    target: str
    decodable: bool
    score: float
    limiting: str | None
    ppm_u: float
    ppm_w: float
    tilt_deg: float
    defocus_px: float
    motion_px: float
    visible_fraction: float
    distance: float
    margins: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        keys = ("camera", "target", "decodable", "score", "limiting", "ppm_u", "ppm_w", "tilt_deg",
                "defocus_px", "motion_px", "visible_fraction")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class TargetSummary:
    """What a person wants per label: can anybody read it, who reads it best, and if nobody, why not."""

    target: str
    decodable: bool
    best_camera: str | None
    score: float
    limiting: str | None
    cameras_decoding: int


class Results:
    """An evaluation's arrays with the camera and target paths that index them."""

    def __init__(self, cameras: list[CameraModel], targets: list[TargetModel], pairs: PairResults) -> None:
        self.cameras = cameras
        self.targets = targets
        self.pairs = pairs
        self._cam_index = {c.path: i for i, c in enumerate(cameras)}
        self._tgt_index = {t.path: i for i, t in enumerate(targets)}

    @property
    def camera_paths(self) -> list[str]:
        return [c.path for c in self.cameras]

    @property
    def target_paths(self) -> list[str]:
        return [t.path for t in self.targets]

    def _camera_i(self, path: str) -> int:
        if path not in self._cam_index:
            raise SwbError(
                f"no sensor camera at {path}", prim=path,
                hint="known cameras: " + ", ".join(self._cam_index) if self._cam_index else None,
            )
        return self._cam_index[path]

    def _target_i(self, path: str) -> int:
        if path not in self._tgt_index:
            raise SwbError(f"no barcode target at {path}", prim=path, hint="apply SwbBarcodeAPI to it")
        return self._tgt_index[path]

    def row(self, ci: int, ti: int) -> PairRow:
        p = self.pairs
        return PairRow(
            camera=self.cameras[ci].path,
            target=self.targets[ti].path,
            decodable=bool(p.decodable[ci, ti]),
            score=float(p.score[ci, ti]),
            limiting=factor_name(int(p.limiting[ci, ti])),
            ppm_u=float(p.ppm_u[ci, ti]),
            ppm_w=float(p.ppm_w[ci, ti]),
            tilt_deg=float(p.tilt_deg[ci, ti]),
            defocus_px=float(p.defocus_px[ci, ti]),
            motion_px=float(p.motion_px[ci, ti]),
            visible_fraction=float(p.visible_fraction[ci, ti]),
            distance=float(p.distance[ci, ti]),
            margins={name: float(p.margins[ci, ti, k]) for k, name in enumerate(FACTORS)},
        )

    def camera(self, path: str) -> list[PairRow]:
        """One row per target as seen by this camera."""
        ci = self._camera_i(path)
        return [self.row(ci, ti) for ti in range(len(self.targets))]

    def target(self, path: str) -> list[PairRow]:
        """One row per camera for this target."""
        ti = self._target_i(path)
        return [self.row(ci, ti) for ci in range(len(self.cameras))]

    def summary(self, ti: int) -> TargetSummary:
        """Best camera by score; when no camera decodes, the factor of the pair that came closest."""
        p = self.pairs
        dec = p.decodable[:, ti]
        if len(self.cameras) == 0:
            return TargetSummary(self.targets[ti].path, False, None, 0.0, "fov", 0)
        if dec.any():
            ci = int(np.argmax(np.where(dec, p.score[:, ti], -1.0)))
        else:
            stage = np.array([_STAGE.get(int(code), 3) for code in p.limiting[:, ti]])
            closeness = np.minimum(p.combined_margin[:, ti], p.margins[:, ti, FACTOR_CODE["angle"] - 1])
            ci = int(np.lexsort((-closeness, -stage))[0])
        return TargetSummary(
            target=self.targets[ti].path,
            decodable=bool(dec.any()),
            best_camera=self.cameras[ci].path,
            score=float(p.score[ci, ti]),
            limiting=factor_name(int(p.limiting[ci, ti])),
            cameras_decoding=int(dec.sum()),
        )

    def summaries(self) -> list[TargetSummary]:
        return [self.summary(ti) for ti in range(len(self.targets))]

    def label_coverage(self) -> float:
        """Label coverage: the share of labels, each in its authored pose, that at least one camera decodes (a
        sweep's figure is another one: its sample coverage counts labels over orientations and positions)."""
        if not self.targets:
            return 0.0
        return float(self.pairs.decodable.any(axis=0).mean())

    def coverage(self) -> float:
        """The label coverage (``label_coverage``; the older name, kept for scripts)."""
        return self.label_coverage()

    def to_json(self, frame: JsonFrame | None = None) -> dict[str, Any]:
        """The CLI's JSON form: lengths in metres and positions in SWB's world frame (metres, Z up), limiting null
        when the pair decodes; with ``frame`` also ``position_stage`` in the stage's own units and axes (as
        authored in USD). ``units`` says all of this in the document itself."""
        to_stage = None if frame is None else np.asarray(frame.to_stage, np.float64)

        def stage_position(p: np.ndarray) -> dict[str, Any]:
            return {} if to_stage is None else {"position_stage": [float(x) for x in to_stage @ np.asarray(p)]}

        cams = [
            {
                "path": c.path,
                "resolution": [c.width, c.height],
                "focal_length": c.focal_length,
                "f_number": c.f_number,
                "focus_mode": c.focus_mode,
                "decoder_profile": c.decoder_profile,
                "position": [float(x) for x in c.position],
                **stage_position(c.position),
                "targets_decodable": int(self.pairs.decodable[i].sum()),
            }
            for i, c in enumerate(self.cameras)
        ]
        tgts = []
        for s, t in zip(self.summaries(), self.targets, strict=True):
            tgts.append(
                {
                    "path": t.path,
                    "symbology": t.symbology,
                    "module_size": t.module_size,
                    "position": [float(x) for x in t.position],
                    **stage_position(t.position),
                    "decodable": s.decodable,
                    "best_camera": s.best_camera if s.decodable else None,
                    "score": s.score,
                    "limiting": s.limiting,
                    "cameras_decoding": s.cameras_decoding,
                }
            )
        pairs = [
            _finite(self.row(ci, ti).to_json())
            for ci in range(len(self.cameras))
            for ti in range(len(self.targets))
        ]
        return {"units": json_units(frame), "label_coverage": self.label_coverage(), "cameras": cams,
                "targets": tgts, "pairs": pairs}


@dataclass(frozen=True)
class JsonFrame:
    """The stage a result came from, for positions in its own terms: ``to_stage`` (3x3) takes SWB world metres
    (Z up) to stage units and axes; the caller (which knows USD) builds it."""

    meters_per_unit: float
    up_axis: str
    to_stage: np.ndarray


def json_units(frame: JsonFrame | None = None) -> dict[str, Any]:
    """The units and frame block of SWB's JSON documents (documented in docs/results.md)."""
    doc: dict[str, Any] = {
        "length": "m (position, focal_length, module_size, distance)",
        "frame": "position: SWB's world frame, metres, Z up (a Y-up stage is turned +90 deg about X)",
        "angle": "deg (tilt_deg)",
        "image": "pixels (ppm_u, ppm_w: pixels per module; defocus_px, motion_px: blur diameters)",
        "share": "0..1 (label_coverage, score, visible_fraction)",
    }
    if frame is not None:
        doc["stage"] = {"meters_per_unit": float(frame.meters_per_unit), "up_axis": frame.up_axis,
                        "position_stage": "the same world point in the stage's own units and axes (as a USD viewer "
                                          "shows it)"}
    return doc


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no inf/NaN: such values (never expected in these fields) become null rather than invalid JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
