"""Queries over an evaluation: rows per camera or target, coverage, and the JSON form the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SwbError
from .model import CameraModel, TargetModel
from .pair_records import Pairs
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
    p_read: float
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
        keys = ("camera", "target", "decodable", "score", "p_read", "limiting", "ppm_u", "ppm_w", "tilt_deg",
                "defocus_px", "motion_px", "visible_fraction")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class SummaryArrays:
    """Every target's summary as arrays over targets, from one numpy pass over the pair arrays (``summarize``).

    best         camera index chosen for the target (-1 only when there is no camera)
    decodable    some camera decodes it
    score        the chosen camera's score
    limiting     the chosen camera's limiting code (0: decodes)
    decoding     how many cameras decode it
    p_read       the best single camera's read probability for one frame: a lower bound on the chance that
                 some camera reads it in one frame (that chance is at least each camera's, whatever the images share)
    """

    best: np.ndarray
    decodable: np.ndarray
    score: np.ndarray
    limiting: np.ndarray
    decoding: np.ndarray
    p_read: np.ndarray


_ANGLE = FACTOR_CODE["angle"] - 1


def summarize(p: Pairs) -> SummaryArrays:
    """``Results.summary`` for every target at once: the best decoding camera by score (first of equals); when none
    decodes, the camera that came closest: furthest through the checks, then the largest margin (NaN last), then
    the first. Same choices as the per-target rule, without a Python loop over targets. The angle margin is asked
    only for the pairs that can be chosen that way (compact results compute it for those alone)."""
    n_cam, n_tgt = p.shape
    if n_cam == 0:
        z = np.zeros(n_tgt, np.float32)
        return SummaryArrays(np.full(n_tgt, -1, np.int64), np.zeros(n_tgt, bool), z,
                             np.full(n_tgt, FACTOR_CODE["fov"], np.int32), np.zeros(n_tgt, np.int64), z.copy())
    cols = p.columns()  # contiguous arrays (compact records: one pass)
    dec, score, combined = cols["decodable"], cols["score"], cols["combined_margin"]
    decoding = dec.sum(axis=0)
    any_dec = decoding > 0
    # decoding targets: first argmax of the score among decoding cameras
    best_dec = np.argmax(np.where(dec, score, np.float32(-1.0)), axis=0)
    # the rest: furthest stage, then the largest closeness (NaN ranks below every number), then the first camera
    limiting = cols["limiting"]
    stage_table = np.full(max(int(limiting.max(initial=0)), max(_STAGE)) + 1, 3, np.int8)
    for code, st in _STAGE.items():
        stage_table[code] = st
    stage = stage_table[np.clip(limiting, 0, len(stage_table) - 1)]
    top = stage == stage.max(axis=0)
    closeness = np.array(combined, np.float32)  # only entries of undecoded targets' top stage count
    need = top & ~any_dec & (top.sum(axis=0) > 1)  # a lone camera at the furthest check is chosen whatever it is
    if p.culled_zero:  # stopped at the view or facing test: combined = angle margin = 0, the closeness is 0
        need &= stage > _STAGE[FACTOR_CODE["backfacing"]]
    ci, ti = np.nonzero(need)
    del need
    if len(ci):
        closeness[ci, ti] = np.minimum(closeness[ci, ti], p.detail_at(ci, ti)[2][:, _ANGLE])
    del ci, ti
    number = top & ~np.isnan(closeness)
    masked = np.where(number, closeness, -np.inf)
    best_close = masked.max(axis=0)
    pick = number & (masked == best_close)
    has_number = number.any(axis=0)
    best_fail = np.where(has_number, np.argmax(pick, axis=0), np.argmax(top, axis=0))
    best = np.where(any_dec, best_dec, best_fail)
    idx = np.arange(n_tgt)
    return SummaryArrays(best=best.astype(np.int64), decodable=any_dec, score=score[best, idx],
                         limiting=limiting[best, idx].astype(np.int32), decoding=decoding.astype(np.int64),
                         p_read=cols["p_read"].max(axis=0))


@dataclass(frozen=True)
class TargetSummary:
    """What a person wants per label: can anybody read it, who reads it best, and if nobody, why not."""

    target: str
    decodable: bool
    best_camera: str | None
    score: float
    limiting: str | None
    cameras_decoding: int
    p_read: float = 0.0  # the best camera's one-frame read probability (a lower bound for any camera)


class Results:
    """An evaluation's arrays with the camera and target paths that index them."""

    def __init__(self, cameras: list[CameraModel], targets: list[TargetModel], pairs: Pairs,
                 index: tuple[dict[str, int], dict[str, int]] | None = None,
                 summary_arrays: SummaryArrays | None = None) -> None:
        """``index``: (camera path -> row, target path -> column) when the caller already holds them;
        ``summary_arrays``: ``summarize(pairs)`` when the caller already computed it."""
        self.cameras = cameras
        self.targets = targets
        self.pairs = pairs
        if index is None:
            index = ({c.path: i for i, c in enumerate(cameras)}, {t.path: i for i, t in enumerate(targets)})
        self._cam_index, self._tgt_index = index
        self._summary_arrays = summary_arrays

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

    def target_index(self, path: str) -> int:
        """Column of a target (SwbError naming it when it is none of these results' targets)."""
        return self._target_i(path)

    def row(self, ci: int, ti: int) -> PairRow:
        return self.rows(np.array([ci]), np.array([ti]))[0]

    def rows(self, cam_idx: np.ndarray, tgt_idx: np.ndarray,
             detail: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[PairRow]:
        """The rows of the pairs (cam_idx[k], tgt_idx[k]); their detail is asked once for all of them (or given:
        ``detail`` = (defocus_px, motion_px, margins) of those pairs)."""
        p = self.pairs
        ci = np.asarray(cam_idx, np.int64).ravel()
        ti = np.asarray(tgt_idx, np.int64).ravel()
        defocus, motion, margins = p.detail_at(ci, ti) if detail is None else detail
        rec = {name: p.at(name, (ci, ti)).tolist() for name in
               ("decodable", "score", "p_read", "limiting", "ppm_u", "ppm_w", "tilt_deg", "distance",
                "visible_fraction")}
        defocus_l, motion_l = np.asarray(defocus).ravel().tolist(), np.asarray(motion).ravel().tolist()
        margins_l = np.asarray(margins).reshape(len(ci), len(FACTORS)).tolist()
        cams, tgts = self.cameras, self.targets
        return [
            PairRow(camera=cams[c].path, target=tgts[t].path, decodable=bool(rec["decodable"][k]),
                    score=rec["score"][k], p_read=rec["p_read"][k], limiting=factor_name(int(rec["limiting"][k])),
                    ppm_u=rec["ppm_u"][k], ppm_w=rec["ppm_w"][k], tilt_deg=rec["tilt_deg"][k],
                    defocus_px=defocus_l[k], motion_px=motion_l[k], visible_fraction=rec["visible_fraction"][k],
                    distance=rec["distance"][k], margins=dict(zip(FACTORS, margins_l[k], strict=True)))
            for k, (c, t) in enumerate(zip(ci.tolist(), ti.tolist(), strict=True))
        ]

    def camera(self, path: str) -> list[PairRow]:
        """One row per target as seen by this camera."""
        ci = self._camera_i(path)
        n = len(self.targets)
        return self.rows(np.full(n, ci), np.arange(n), self.pairs.detail_rows(ci, ci + 1))

    def target(self, path: str) -> list[PairRow]:
        """One row per camera for this target."""
        ti = self._target_i(path)
        n = len(self.cameras)
        return self.rows(np.arange(n), np.full(n, ti), self.pairs.detail_column(ti))

    def summary(self, ti: int) -> TargetSummary:
        """Best camera by score; when no camera decodes, the factor of the pair that came closest."""
        p = self.pairs
        dec = p.at("decodable", np.s_[:, ti])
        limiting = p.at("limiting", np.s_[:, ti])
        if len(self.cameras) == 0:
            return TargetSummary(self.targets[ti].path, False, None, 0.0, "fov", 0)
        if dec.any():
            ci = int(np.argmax(np.where(dec, p.score[:, ti], -1.0)))
        else:
            stage = np.array([_STAGE.get(int(code), 3) for code in limiting])
            closeness = np.array(p.combined_margin[:, ti], np.float32)
            need = np.flatnonzero(stage > _STAGE[FACTOR_CODE["backfacing"]] if p.culled_zero else stage >= 0)
            closeness[need] = np.minimum(closeness[need], p.detail_at(need, np.full(len(need), ti))[2][:, _ANGLE])
            ci = int(np.lexsort((-closeness, -stage))[0])
        return TargetSummary(
            target=self.targets[ti].path,
            decodable=bool(dec.any()),
            best_camera=self.cameras[ci].path,
            score=float(p.score[ci, ti]),
            limiting=factor_name(int(limiting[ci])),
            cameras_decoding=int(dec.sum()),
            p_read=float(p.p_read[:, ti].max()),
        )

    def summary_arrays(self) -> SummaryArrays:
        """Every target's summary as arrays (one numpy pass, computed once per Results)."""
        if self._summary_arrays is None:
            self._summary_arrays = summarize(self.pairs)
        return self._summary_arrays

    def summaries(self) -> list[TargetSummary]:
        if not self.cameras:
            return [self.summary(ti) for ti in range(len(self.targets))]
        s = self.summary_arrays()
        cams = self.camera_paths
        return [
            TargetSummary(target=t.path, decodable=bool(dec), best_camera=cams[b], score=float(sc),
                          limiting=factor_name(int(lim)), cameras_decoding=int(n), p_read=float(pr))
            for t, b, dec, sc, lim, n, pr in zip(self.targets, s.best.tolist(), s.decodable.tolist(),
                                                 s.score.tolist(), s.limiting.tolist(), s.decoding.tolist(),
                                                 s.p_read.tolist(), strict=True)
        ]

    def label_coverage(self) -> float:
        """Label coverage: the share of labels, each in its authored pose, that at least one camera decodes (a
        sweep's figure is another one: its sample coverage counts labels over orientations and positions)."""
        if not self.targets:
            return 0.0
        return float(self.pairs.decodable.any(axis=0).mean())

    def coverage(self) -> float:
        """The label coverage (``label_coverage``; the older name, kept for scripts)."""
        return self.label_coverage()

    def to_json(self, frame: JsonFrame | None = None, *, pairs: bool = True) -> dict[str, Any]:
        """The CLI's JSON form: lengths in metres and positions in SWB's world frame (metres, Z up), limiting null
        when the pair decodes; with ``frame`` also ``position_stage`` in the stage's own units and axes (as
        authored in USD). ``units`` says all of this in the document itself. ``pairs=False`` leaves the per-pair
        list out (a Parquet results file carries the pairs as a table and this document as metadata)."""
        to_stage = None if frame is None else np.asarray(frame.to_stage, np.float64)

        def stage_position(p: np.ndarray) -> dict[str, Any]:
            return {} if to_stage is None else {"position_stage": [float(x) for x in to_stage @ np.asarray(p)]}

        decoding = self.pairs.decodable.sum(axis=1)
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
                "targets_decodable": int(decoding[i]),
            }
            for i, c in enumerate(self.cameras)
        ]
        # positions for every target at once (a big station has tens of thousands)
        world = np.array([t.position for t in self.targets], np.float64).reshape(len(self.targets), 3)
        positions = world.tolist()
        staged = (world @ to_stage.T).tolist() if to_stage is not None else None
        tgts = []
        for k, (s, t) in enumerate(zip(self.summaries(), self.targets, strict=True)):
            tgts.append(
                {
                    "path": t.path,
                    "symbology": t.symbology,
                    "module_size": t.module_size,
                    "position": positions[k],
                    **({} if staged is None else {"position_stage": staged[k]}),
                    "decodable": s.decodable,
                    "best_camera": s.best_camera if s.decodable else None,
                    "score": s.score,
                    "p_read": s.p_read,
                    "limiting": s.limiting,
                    "cameras_decoding": s.cameras_decoding,
                }
            )
        doc = {"units": json_units(frame), "label_coverage": self.label_coverage(), "cameras": cams,
               "targets": tgts}
        if pairs:
            n_tgt = len(self.targets)
            doc["pairs"] = [_finite(r.to_json()) for ci in range(len(self.cameras)) for r in
                            self.rows(np.full(n_tgt, ci), np.arange(n_tgt), self.pairs.detail_rows(ci, ci + 1))]
        return doc


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
        "probability": "0..1 (p_read: one frame decodes; a target's: its best camera's, a lower bound for any)",
    }
    if frame is not None:
        doc["stage"] = {"meters_per_unit": float(frame.meters_per_unit), "up_axis": frame.up_axis,
                        "position_stage": "the same world point in the stage's own units and axes (as a USD viewer "
                                          "shows it)"}
    return doc


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no inf/NaN: such values (never expected in these fields) become null rather than invalid JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
