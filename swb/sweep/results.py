"""Sweep results: sums per configuration, ranking, the best configuration's tables, and their outputs (a USD layer
of arrays on /SWB/SweepResults/<name>, CSV or Parquet, text and JSON).

In the USD layer (attributes ``swb:sweepResults:*``) ``values`` is the design matrix (``shape`` rows x columns,
row-major) in the stage's units like the sweep prim (an index for ``choices`` columns); ``values * toDisplay`` is in
``units``. ``unique`` (rows x ``cameras``) and ``limiting`` (rows x ``factors``) are shares of all sample weight;
``covered`` / ``totalWeight`` are the exact integer sums behind ``coverage``; ``order`` lists rows best first. The
``best*`` arrays describe the best configuration per target and per camera. Rows are the configurations, unless the
sweep kept only its best (``SweepRunner.run(keep=k)``, ``swb sweep --rows``): then ``configs`` gives each row's
design index and ``rows`` their count, while ``configurations`` stays the number evaluated.

Sample coverage of a configuration = the weight of target samples (targets x orientations x positions) that at
least one camera decodes, over the total; each target weighs the same. (`swb eval`'s label coverage is another
figure: labels in their authored pose.) Configurations rank by sample coverage, then by the weight that two or more
cameras read (redundancy), then by their index, so the ranking is exact and reproducible.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pxr import Gf, Sdf, Vt

from ..engine.profiles import FACTORS, factor_name
from ..errors import SwbError
from ..report import format_table
from ..stage.layers import write_text_atomic
from ..stage.results_layer import set_attribute
from .candidates import CandidateBuilder
from .sampling import Column
from .spec import SweepSpec


class RunnerHandle(Protocol):
    """What a finished sweep keeps of the run that made it, to rebuild one configuration's cameras and tables
    (``swb.sweep.run.SweepRunner`` is one; owned here so results need not import the runner)."""

    builder: CandidateBuilder

    def cameras_for(self, index: int | None) -> np.ndarray: ...

    def detail(self, index: int | None) -> BestDetail: ...

    def close(self) -> None: ...

SWB_PRIM = Sdf.Path("/SWB")
SWEEP_RESULTS_PRIM = SWB_PRIM.AppendChild("SweepResults")
NS = "swb:sweepResults:"


@dataclass
class SweepSums:
    """Integer weight sums per configuration (rows): exact, whatever the chunking and device."""

    covered: np.ndarray  # (n,) read by at least one camera
    redundant: np.ndarray  # (n,) read by two or more
    unique: np.ndarray  # (n, n_cameras) read by that camera only, scene camera order
    limiting: np.ndarray  # (n, len(FACTORS)) unread, by the closest camera's limiting factor

    @classmethod
    def concatenate(cls, parts: list[SweepSums], n_cameras: int) -> SweepSums:
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_cameras), np.int64),
                       np.zeros((0, len(FACTORS)), np.int64))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                     ("covered", "redundant", "unique", "limiting")))


@dataclass
class BestDetail:
    """One configuration evaluated in full: per sample x camera decodable and each sample's best camera."""

    index: int | None  # configuration index, None for the baseline (as authored)
    decodable: np.ndarray  # (n_samples, n_cameras) bool, scene camera order
    best_camera: np.ndarray  # (n_samples,) int32, -1 when no camera is in reach
    best_score: np.ndarray  # (n_samples,) float32, 0 when unread
    limiting: np.ndarray  # (n_samples,) int32 factor code of the best camera, 0 when read
    best_p_read: np.ndarray  # (n_samples,) float32: the highest one-frame read probability of any camera


@dataclass
class TargetRow:
    target: str
    samples: int
    coverage: float  # share of the target's sample weight read by some camera
    best_camera: str  # the camera reading most of its weight (or the closest one when none reads it)
    score: float  # weighted mean best score
    limiting: str  # for unread weight: the commonest limiting factor; "" when fully read
    p_read: float = 0.0  # weighted mean over samples of the best camera's one-frame read probability

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "samples": self.samples, "sample_coverage": self.coverage,
                "best_camera": self.best_camera or None, "score": self.score, "p_read": self.p_read,
                "limiting": self.limiting or None}


@dataclass
class CameraRow:
    camera: str
    varied: bool
    reads: float  # share of all sample weight this camera reads
    unique: float  # share only it reads

    def to_json(self) -> dict[str, Any]:
        return {"camera": self.camera, "varied": self.varied, "reads": self.reads, "unique": self.unique}


@dataclass
class SweepResult:
    """Everything a sweep found; arrays are indexed by configuration (rows of ``values``)."""

    name: str
    spec: SweepSpec
    cameras: list[str]
    varied: list[str]
    targets: list[str]
    columns: list[Column]
    values: np.ndarray  # (n_done, n_columns) design values, stage units (index columns: entry index)
    sums: SweepSums
    baseline: SweepSums
    total: int  # integer weight of all samples
    sample_target: np.ndarray  # (n_samples,) target index
    sample_weight: np.ndarray  # (n_samples,) int64
    n_requested: int
    complete: bool
    seconds: float
    chunk: int
    device: str
    samples_text: str
    as_authored: bool = False  # one sample per target, exactly as authored (what swb eval evaluates)
    meters_per_unit: float = 1.0
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    best_detail: BestDetail | None = None
    baseline_detail: BestDetail | None = None
    runner: RunnerHandle | None = field(default=None, repr=False)
    safety: Any = None  # swb.safety.constraint.SweepSafety when a safety limit ranked the configurations
    # a sweep that kept only its best configurations (``SweepRunner.run(keep=k)``): the design index of each row
    # of ``values`` and ``sums`` (ascending), and how many configurations were evaluated; None: every one is a row
    configs: np.ndarray | None = None
    evaluated: int | None = None

    # ----- derived values
    @property
    def n_done(self) -> int:
        """Configurations evaluated (all of them rows, unless the sweep kept only its best)."""
        return int(self.values.shape[0]) if self.evaluated is None else int(self.evaluated)

    @property
    def n_rows(self) -> int:
        """Configurations held in ``values`` and ``sums``."""
        return int(self.values.shape[0])

    @property
    def config_ids(self) -> np.ndarray:
        """The design index of every row."""
        return np.arange(self.n_rows, dtype=np.int64) if self.configs is None else self.configs

    def row_of(self, index: int) -> int:
        """The row holding configuration ``index`` (SwbError when the sweep did not keep it)."""
        if self.configs is None:
            if not 0 <= index < self.n_rows:
                raise SwbError(f"configuration {index} is not among the {self.n_rows} evaluated")
            return int(index)
        found = np.flatnonzero(self.configs == index)
        if not found.size:
            raise SwbError(f"configuration {index} is not among the {len(self.configs)} best this sweep kept",
                           hint="use --apply best, or run without --rows to keep every configuration")
        return int(found[0])

    @property
    def n_samples(self) -> int:
        return int(len(self.sample_target))

    def share(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) / float(self.total) if self.total else np.zeros(values.shape)

    @property
    def sample_coverage(self) -> np.ndarray:
        """Per configuration: the weighted share of label samples (orientations x positions) some camera reads."""
        return self.share(self.sums.covered)

    @property
    def coverage(self) -> np.ndarray:
        """The sample coverage (``sample_coverage``; the older name, kept for scripts)."""
        return self.sample_coverage

    @property
    def redundancy(self) -> np.ndarray:
        return self.share(self.sums.redundant)

    @property
    def best(self) -> int | None:
        return int(self.config_ids[self.order[0]]) if self.order.size else None

    @property
    def rank(self) -> np.ndarray:
        """Rank (1 = best) of every row."""
        rank = np.empty(self.n_rows, np.int64)
        rank[self.order] = np.arange(1, self.n_rows + 1)
        return rank

    @property
    def evaluations(self) -> int:
        """Camera x sample evaluations this sweep stands for (varied cameras per configuration, fixed once)."""
        n_var = len(self.varied)
        return (self.n_done + 1) * n_var * self.n_samples + (len(self.cameras) - n_var) * self.n_samples

    def parameters(self, index: int) -> dict[str, str]:
        """Display values (TOML units) of one configuration's parameters."""
        row = self.row_of(index)
        return {c.name: c.display(float(self.values[row, j])) for j, c in enumerate(self.columns)}

    def target_rows(self, detail: BestDetail) -> list[TargetRow]:
        """Per target: covered share, best camera, mean score and the commonest limiting factor of unread weight."""
        w = self.sample_weight.astype(np.float64)
        read = detail.decodable.any(axis=1)
        rows = []
        n_cam = len(self.cameras)
        starts = np.searchsorted(self.sample_target, np.arange(len(self.targets) + 1))
        for t, path in enumerate(self.targets):
            a, b = int(starts[t]), int(starts[t + 1])
            wt = w[a:b]
            total = wt.sum()
            reads = (detail.decodable[a:b] * wt[:, None]).sum(axis=0)
            if reads.max(initial=0.0) > 0.0:
                best = int(np.argmax(reads))
            else:
                cams = detail.best_camera[a:b]
                near = np.bincount(cams[cams >= 0], weights=wt[cams >= 0], minlength=n_cam)
                best = int(np.argmax(near)) if near.sum() > 0 else -1
            unread = ~read[a:b]
            lim = ""
            if unread.any():
                hist = np.bincount(detail.limiting[a:b][unread], weights=wt[unread], minlength=len(FACTORS) + 1)
                hist[0] = 0.0
                if hist.sum() > 0:
                    lim = factor_name(int(np.argmax(hist))) or ""
            rows.append(TargetRow(path, b - a, float((wt * read[a:b]).sum() / total) if total else 0.0,
                                  self.cameras[best] if best >= 0 else "",
                                  float((wt * detail.best_score[a:b]).sum() / total) if total else 0.0, lim,
                                  float((wt * detail.best_p_read[a:b]).sum() / total) if total else 0.0))
        return rows

    def sample_p_read(self, detail: BestDetail) -> float:
        """Weighted mean over the label samples of the best camera's one-frame read probability."""
        w = self.sample_weight.astype(np.float64)
        return float((w * detail.best_p_read).sum() / w.sum()) if w.sum() > 0 else 0.0

    def camera_rows(self, detail: BestDetail) -> list[CameraRow]:
        w = self.sample_weight.astype(np.float64)
        total = w.sum() or 1.0
        dec = detail.decodable
        only = dec & (dec.sum(axis=1) == 1)[:, None]
        reads = (dec * w[:, None]).sum(axis=0) / total
        unique = (only * w[:, None]).sum(axis=0) / total
        return [CameraRow(c, c in self.varied, float(reads[i]), float(unique[i])) for i, c in enumerate(self.cameras)]

    def worst_factors(self, limiting: np.ndarray, k: int = 2) -> list[tuple[str, float]]:
        """The k factors that leave the most weight unread (name, share of all weight)."""
        share = self.share(limiting)
        top = np.argsort(-share, kind="stable")[:k]
        return [(FACTORS[i], float(share[i])) for i in top if share[i] > 0.0]

    # ----- text and JSON
    def summary_lines(self) -> list[str]:
        s = self.spec
        n_cam, n_var = len(self.cameras), len(self.varied)
        rate = self.n_done / self.seconds if self.seconds > 0 else float("inf")
        lines = [
            f"sweep {self.name}: {self.n_done:,} of {self.n_requested:,} configurations ({s.sampler}, seed {s.seed})"
            f"{'' if self.complete else ' - interrupted, partial results'}",
            f"  {n_var} varied + {n_cam - n_var} fixed cameras; {self.samples_text} "
            f"({s.orientation_mode}, {s.orientation_count} orientations, "
            f"{s.positions} position{'' if s.positions == 1 else 's'})",
            f"  {self.seconds:.2f} s on {self.device}: {rate:,.1f} configurations/s, "
            f"{self.evaluations / max(self.seconds, 1e-9):,.3g} camera x sample evaluations/s (chunk {self.chunk:,})",
            f"  baseline (cameras as authored): sample coverage {100 * self.share(self.baseline.covered)[0]:.1f} % "
            "(the weighted share of label samples over orientations and positions some camera reads; `swb eval`'s "
            "label coverage counts labels in their authored pose)",
        ]
        return lines

    def ranked_table(self, top: int = 10) -> str:
        headers = ["rank", "config", "sample coverage", "redundant", *[c.name for c in self.columns], "unread by"]
        rows = []
        cov, red = self.coverage, self.redundancy
        for r, i in enumerate(self.order[:top]):
            params = self.parameters(int(self.config_ids[i]))
            worst = ", ".join(f"{n} {100 * v:.1f}%" for n, v in self.worst_factors(self.sums.limiting[i])) or "-"
            rows.append([str(r + 1), str(int(self.config_ids[i])), f"{100 * cov[i]:.1f} %", f"{100 * red[i]:.1f} %",
                         *[params[c.name] for c in self.columns], worst])
        return format_table(headers, rows)

    def report(self, top: int = 10) -> str:
        parts = ["\n".join(self.summary_lines()), "", self.ranked_table(top)]
        if self.best_detail is not None and self.best is not None:
            det = self.best_detail
            parts += ["", f"best configuration {self.best}: per camera"]
            parts.append(format_table(["camera", "varied", "reads", "unique"],
                                [[c.camera, "yes" if c.varied else "", f"{100 * c.reads:.1f} %",
                                  f"{100 * c.unique:.1f} %"] for c in self.camera_rows(det)]))
            parts += ["", f"best configuration {self.best}: per target (sample read probability: the weighted mean "
                      f"over samples of the best camera's one-frame p_read, {100 * self.sample_p_read(det):.1f} % "
                      "over all)"]
            parts.append(format_table(["target", "samples", "sample coverage", "p_read", "best camera", "score",
                                       "limiting"],
                                [[t.target, str(t.samples), f"{100 * t.coverage:.1f} %", f"{t.p_read:.3f}",
                                  t.best_camera or "-", f"{t.score:.2f}", t.limiting or "-"]
                                 for t in self.target_rows(det)]))
        return "\n".join(parts)

    def config_json(self, index: int) -> dict[str, Any]:
        """One configuration (design index) as JSON."""
        i = self.row_of(index)
        return {
            "config": int(index),
            "rank": int(self.rank[i]),
            "sample_coverage": float(self.coverage[i]),
            "redundancy": float(self.redundancy[i]),
            "parameters": self.parameters(int(index)),
            "values": {c.name: float(self.values[i, j]) for j, c in enumerate(self.columns)},
            "unique": {c: float(v) for c, v in zip(self.cameras, self.share(self.sums.unique[i]), strict=True)},
            "unread_by": {FACTORS[k]: float(v) for k, v in enumerate(self.share(self.sums.limiting[i])) if v > 0},
        }

    def to_json(self, top: int = 10) -> dict[str, Any]:
        s = self.spec
        doc: dict[str, Any] = {
            "units": {"sample_coverage": "share 0..1 of the label sample weight (labels x orientations x "
                                         "positions) some camera reads; redundancy, unique, unread_by likewise",
                      "values": f"the design in stage units ({self.meters_per_unit:g} m per unit) and degrees, as "
                                "on the sweep prim; parameters: the same with display units",
                      "seconds": "s"},
            "sweep": self.name,
            "prim": s.path,
            "sampler": s.sampler,
            "seed": s.seed,
            "configurations": self.n_done,
            "requested": self.n_requested,
            "complete": self.complete,
            "orientation_mode": s.orientation_mode,
            "orientations": s.orientation_count,
            "positions": s.positions,
            "samples": self.n_samples,
            "cameras": self.cameras,
            "varied": self.varied,
            "seconds": self.seconds,
            "device": self.device,
            "configurations_per_second": self.n_done / self.seconds if self.seconds > 0 else None,
            "evaluations_per_second": self.evaluations / self.seconds if self.seconds > 0 else None,
            "baseline": {"sample_coverage": float(self.share(self.baseline.covered)[0]),
                         "redundancy": float(self.share(self.baseline.redundant)[0])},
            "top": [self.config_json(int(self.config_ids[i])) for i in self.order[:top]],
            "safety": self.safety.to_json() if self.safety is not None else None,
        }
        if self.best_detail is not None:
            doc["best"] = {
                "config": self.best,
                "sample_p_read": self.sample_p_read(self.best_detail),
                "cameras": [c.to_json() for c in self.camera_rows(self.best_detail)],
                "targets": [t.to_json() for t in self.target_rows(self.best_detail)],
            }
        return doc

    # ----- files
    def csv_text(self) -> str:
        """One row per configuration in rank order; parameters in TOML units (see the header)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(_flat_headers(self))
        for row in _flat_rows(self):
            w.writerow(row)
        return buf.getvalue()

    def write_csv(self, path: Path) -> Path:
        write_text_atomic(path, self.csv_text())
        return path

    def write_parquet(self, path: Path) -> Path:
        """One row per configuration in rank order (the CSV's columns), written from the arrays in batches."""
        from .rows import write_ranked_rows

        return write_ranked_rows(path, self)


def ranking(sums: SweepSums) -> np.ndarray:
    """Row indices best first: coverage, then redundancy (both exact integers), then row (configuration order)."""
    n = len(sums.covered)
    return np.lexsort((np.arange(n), -sums.redundant, -sums.covered)).astype(np.int64)


def _flat_headers(res: SweepResult) -> list[str]:
    from .rows import row_headers

    return row_headers(res.columns, res.cameras)


def _flat_rows(res: SweepResult) -> list[list[Any]]:
    rows = []
    cov, red = res.coverage, res.redundancy
    ids = res.config_ids
    for r, i in enumerate(res.order):
        params = [c.labels[int(res.values[i, j])] if c.is_index else float(res.values[i, j] * c.to_display)
                  for j, c in enumerate(res.columns)]
        rows.append([r + 1, int(ids[i]), float(cov[i]), float(red[i]), *params,
                     *[float(v) for v in res.share(res.sums.unique[i])],
                     *[float(v) for v in res.share(res.sums.limiting[i])]])
    return rows


# ----------------------------------------------------------------------------------------------------------
# USD

_T = Sdf.ValueTypeNames


def _set(spec: Sdf.PrimSpec, name: str, type_name: Sdf.ValueTypeName, value: object) -> None:
    set_attribute(spec, NS + name, type_name, value)


def results_path(name: str) -> Sdf.Path:
    return SWEEP_RESULTS_PRIM.AppendChild(name)


def write_sweep_layer(layer: Sdf.Layer, res: SweepResult) -> Sdf.Path:
    """Write (or replace) /SWB/SweepResults/<name> in ``layer`` as arrays, in one change block."""
    path = results_path(res.name)
    n, n_cam = res.n_done, len(res.cameras)
    with Sdf.ChangeBlock():
        for p, type_name in ((SWB_PRIM, ""), (SWEEP_RESULTS_PRIM, "Scope")):
            spec = layer.GetPrimAtPath(p) or Sdf.CreatePrimInLayer(layer, p)
            spec.specifier = Sdf.SpecifierDef
            if type_name:
                spec.typeName = type_name
        old = layer.GetPrimAtPath(path)
        if old:
            del layer.GetPrimAtPath(SWEEP_RESULTS_PRIM).nameChildren[res.name]
        spec = Sdf.CreatePrimInLayer(layer, path)
        spec.specifier = Sdf.SpecifierDef
        spec.typeName = "Scope"
        s = res.spec
        _set(spec, "sweep", _T.String, s.path)
        _set(spec, "sampler", _T.Token, s.sampler)
        _set(spec, "seed", _T.Int, int(s.seed))
        _set(spec, "orientationMode", _T.Token, s.orientation_mode)
        _set(spec, "orientations", _T.Int, int(s.orientation_count))
        _set(spec, "positions", _T.Int, int(s.positions))
        _set(spec, "complete", _T.Bool, bool(res.complete))
        _set(spec, "configurations", _T.Int, n)
        _set(spec, "requested", _T.Int, int(res.n_requested))
        _set(spec, "samples", _T.Int, res.n_samples)
        _set(spec, "seconds", _T.Double, float(res.seconds))
        _set(spec, "device", _T.String, res.device)
        _set(spec, "columns", _T.StringArray, Vt.StringArray([c.name for c in res.columns]))
        _set(spec, "kinds", _T.TokenArray, Vt.TokenArray([c.kind for c in res.columns]))
        _set(spec, "units", _T.StringArray, Vt.StringArray([c.unit for c in res.columns]))
        _set(spec, "toDisplay", _T.DoubleArray, Vt.DoubleArray([c.to_display for c in res.columns]))
        _set(spec, "choices", _T.StringArray, Vt.StringArray(["|".join(c.labels) for c in res.columns]))
        _set(spec, "shape", _T.Int2, Gf.Vec2i(res.n_rows, len(res.columns)))
        _set(spec, "values", _T.DoubleArray, Vt.DoubleArray.FromNumpy(np.ascontiguousarray(res.values).ravel()))
        _set(spec, "cameras", _T.StringArray, Vt.StringArray(res.cameras))
        _set(spec, "varied", _T.StringArray, Vt.StringArray(res.varied))
        _set(spec, "factors", _T.TokenArray, Vt.TokenArray(list(FACTORS)))
        _set(spec, "totalWeight", _T.Int64, int(res.total))
        _set(spec, "covered", _T.Int64Array, Vt.Int64Array.FromNumpy(res.sums.covered))
        _set(spec, "redundant", _T.Int64Array, Vt.Int64Array.FromNumpy(res.sums.redundant))
        _set(spec, "coverage", _T.DoubleArray, Vt.DoubleArray.FromNumpy(res.coverage))
        _set(spec, "redundancy", _T.DoubleArray, Vt.DoubleArray.FromNumpy(res.redundancy))
        _set(spec, "unique", _T.DoubleArray, Vt.DoubleArray.FromNumpy(res.share(res.sums.unique).ravel()))
        _set(spec, "limiting", _T.DoubleArray, Vt.DoubleArray.FromNumpy(res.share(res.sums.limiting).ravel()))
        _set(spec, "order", _T.IntArray, Vt.IntArray.FromNumpy(res.order.astype(np.int32)))
        _set(spec, "rank", _T.IntArray, Vt.IntArray.FromNumpy(res.rank.astype(np.int32)))
        _set(spec, "baselineCoverage", _T.Double, float(res.share(res.baseline.covered)[0]))
        _set(spec, "baselineUnique", _T.DoubleArray,
             Vt.DoubleArray.FromNumpy(res.share(res.baseline.unique[0]).reshape(n_cam)))
        _set(spec, "baselineLimiting", _T.DoubleArray, Vt.DoubleArray.FromNumpy(res.share(res.baseline.limiting[0])))
        _set(spec, "best", _T.Int, -1 if res.best is None else res.best)
        if res.configs is not None:  # only the best were kept: rows are these configurations (design indices)
            _set(spec, "rows", _T.Int, res.n_rows)
            _set(spec, "configs", _T.Int64Array, Vt.Int64Array.FromNumpy(np.asarray(res.configs, np.int64)))
        if res.best_detail is not None:
            rows = res.target_rows(res.best_detail)
            cams = res.camera_rows(res.best_detail)
            _set(spec, "targets", _T.StringArray, Vt.StringArray(res.targets))
            _set(spec, "bestTargetCoverage", _T.DoubleArray, Vt.DoubleArray([r.coverage for r in rows]))
            _set(spec, "bestTargetCamera", _T.StringArray, Vt.StringArray([r.best_camera for r in rows]))
            _set(spec, "bestTargetLimiting", _T.TokenArray, Vt.TokenArray([r.limiting or "none" for r in rows]))
            _set(spec, "bestTargetScore", _T.DoubleArray, Vt.DoubleArray([r.score for r in rows]))
            _set(spec, "bestCameraReads", _T.DoubleArray, Vt.DoubleArray([c.reads for c in cams]))
            _set(spec, "bestCameraUnique", _T.DoubleArray, Vt.DoubleArray([c.unique for c in cams]))
    return path


def read_sweep_layer(layer: Sdf.Layer, name: str) -> dict[str, Any]:
    """The arrays write_sweep_layer wrote, as numpy arrays and Python values (``values`` reshaped)."""
    spec = layer.GetPrimAtPath(results_path(name))
    if spec is None:
        raise SwbError(f"no sweep results named {name!r}", file=layer.identifier, prim=str(results_path(name)))
    out: dict[str, Any] = {}
    for attr in spec.attributes:
        if not attr.name.startswith(NS):
            continue
        value = attr.default
        key = attr.name[len(NS):]
        out[key] = np.array(value) if isinstance(value, Vt.DoubleArray | Vt.Int64Array | Vt.IntArray) else (
            list(value) if hasattr(value, "__len__") and not isinstance(value, str) else value)
    rows, cols = out["shape"]
    out["values"] = np.asarray(out["values"], dtype=np.float64).reshape(rows, cols)
    return out


def write_json(path: Path, res: SweepResult, top: int) -> Path:
    write_text_atomic(path, json.dumps(res.to_json(top), indent=1))
    return path
