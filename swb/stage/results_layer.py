"""Results into USD and back: bulk arrays on /SWB/Results and a short summary over each target prim.

Bulk values go in as whole arrays (one array is ~35x faster to author than as many scalar attributes), written
with the Sdf API inside one change block. The arrays are row-major (camera, target[, factor]).

``ResultsLayerWriter`` keeps one layer in step with changing results: the first write lays out every prim, later
writes replace the arrays and only the summaries of targets whose summary changed (a moved camera changes a few
hundred of ten thousand), giving the same layer content as a full write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pxr import Gf, Sdf, Vt

from ..engine.pair_records import DETAIL_DTYPE, RECORD_DTYPE, PairRecords
from ..engine.pair_results import SCALAR_FIELDS, PairResults
from ..engine.profiles import FACTORS, N_OCCLUSION_SAMPLES, factor_name
from ..engine.results import Results, SummaryArrays
from ..errors import SwbError
from .geometry import split_instance_path
from .schema import (
    SUMMARY_BEST_CAMERA,
    SUMMARY_CAMERAS_DECODING,
    SUMMARY_DECODABLE,
    SUMMARY_LIMITING,
    SUMMARY_READ_PROBABILITY,
    SUMMARY_SCORE,
)

SWB_PRIM = Sdf.Path("/SWB")
RESULTS_PRIM = SWB_PRIM.AppendChild("Results")
NS = "swb:results:"
SUMMARY_API = "SwbTargetSummaryAPI"

_T = Sdf.ValueTypeNames


def set_attribute(spec: Sdf.PrimSpec, name: str, type_name: Sdf.ValueTypeName, value: object) -> None:
    """Create or overwrite an attribute's default on a prim spec (Sdf level: fast inside a change block)."""
    attr = spec.attributes.get(name) or Sdf.AttributeSpec(spec, name, type_name)
    attr.default = value


def write_results(layer: Sdf.Layer, results: Results) -> None:
    """Replace the layer's content with these results (arrays + per-target summaries)."""
    ResultsLayerWriter(layer).write(results)


@dataclass
class PairChanges:
    """Pairs recomputed since a results layer was written: whole camera rows, target columns, single pairs."""

    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    pairs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(self, rows: list[int], cols: list[int], pairs: tuple[np.ndarray, np.ndarray]) -> None:
        self.rows += rows
        self.cols += cols
        if len(pairs[0]):
            self.pairs.append(pairs)

    def count(self, shape: tuple[int, int]) -> int:
        """At most how many pairs ``index`` gives (repeats counted)."""
        return len(self.rows) * shape[1] + len(self.cols) * shape[0] + sum(len(c) for c, _ in self.pairs)

    def index(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(cam_idx, tgt_idx) of every changed pair (once each)."""
        n_cam, n_tgt = shape
        rows, cols = np.unique(np.asarray(self.rows, np.int64)), np.unique(np.asarray(self.cols, np.int64))
        ci = [np.repeat(rows, n_tgt), np.tile(np.arange(n_cam), len(cols))]
        ti = [np.tile(np.arange(n_tgt), len(rows)), np.repeat(cols, n_cam)]
        ci += [np.asarray(c, np.int64) for c, _ in self.pairs]
        ti += [np.asarray(t, np.int64) for _, t in self.pairs]
        flat = np.unique(np.concatenate(ci) * n_tgt + np.concatenate(ti))
        return np.divmod(flat, max(n_tgt, 1))


def _detail_arrays(spec: Sdf.PrimSpec, results: Results, changed: PairChanges | None) -> dict[str, np.ndarray]:
    """defocus_px, motion_px and margins to write. Compact results compute them: for every pair, or with
    ``changed`` only for the pairs recomputed since the layer's arrays were written (patched into those)."""
    p = results.pairs
    names = ("defocus_px", "motion_px", "margins")
    if changed is None or not isinstance(p, PairRecords):
        return dict(zip(names, p.detail(), strict=True))
    old = {name: spec.attributes.get(NS + name) for name in names}
    size = p.shape[0] * p.shape[1]
    widths = {"defocus_px": 1, "motion_px": 1, "margins": len(FACTORS)}
    if any(a is None or a.default is None or len(a.default) != size * widths[n] for n, a in old.items()):
        return dict(zip(names, p.detail(), strict=True))
    out = {name: np.array(old[name].default, np.float32).reshape(*p.shape, -1) for name in names}
    ci, ti = changed.index(p.shape)
    if not len(ci):
        return out
    for name, values in zip(names, p.detail_at(ci, ti), strict=True):
        out[name][ci, ti] = values.reshape(len(ci), -1)
    return out


def _write_arrays(spec: Sdf.PrimSpec, results: Results, changed: PairChanges | None = None) -> None:
    p = results.pairs
    cols = p.columns()
    set_attribute(spec, NS + "cameras", _T.StringArray, Vt.StringArray(results.camera_paths))
    set_attribute(spec, NS + "targets", _T.StringArray, Vt.StringArray(results.target_paths))
    set_attribute(spec, NS + "factors", _T.TokenArray, Vt.TokenArray(list(FACTORS)))
    set_attribute(spec, NS + "shape", _T.Int2, Gf.Vec2i(*(int(n) for n in p.shape)))
    decodable = Vt.BoolArray.FromNumpy(cols.pop("decodable").ravel())
    set_attribute(spec, NS + "decodable", _T.BoolArray, decodable)
    limiting = Vt.IntArray.FromNumpy(cols.pop("limiting").astype(np.int32).ravel())
    set_attribute(spec, NS + "limiting", _T.IntArray, limiting)
    detail = _detail_arrays(spec, results, changed)
    for name in SCALAR_FIELDS:
        values = np.ascontiguousarray(detail.pop(name) if name in detail else cols.pop(name), dtype=np.float32)
        set_attribute(spec, NS + name, _T.FloatArray, Vt.FloatArray.FromNumpy(values.ravel()))
        del values
    margins = np.ascontiguousarray(detail.pop("margins"), dtype=np.float32)
    set_attribute(spec, NS + "margins", _T.FloatArray, Vt.FloatArray.FromNumpy(margins.ravel()))
    set_attribute(spec, NS + "coverage", _T.Float, results.coverage())


def _summary_changed(new: SummaryArrays, old: SummaryArrays) -> np.ndarray:
    """Targets whose written summary differs (NaN scores count as equal)."""
    same_score = (new.score == old.score) | (np.isnan(new.score) & np.isnan(old.score))
    same_p = (new.p_read == old.p_read) | (np.isnan(new.p_read) & np.isnan(old.p_read))
    return ((new.best != old.best) | (new.decodable != old.decodable) | ~same_score | ~same_p
            | (new.limiting != old.limiting) | (new.decoding != old.decoding))


class ResultsLayerWriter:
    """Writes results into one layer; after the first write only the arrays and the summaries that changed."""

    def __init__(self, layer: Sdf.Layer) -> None:
        self.layer = layer
        self._written: SummaryArrays | None = None
        self._paths: tuple[list[str], list[str]] | None = None

    def reset(self) -> None:
        """Forget what was written (the next write lays the layer out afresh)."""
        self._written = None
        self._paths = None

    def write(self, results: Results, changed: PairChanges | None = None) -> int:
        """Bring the layer in step with ``results``; returns how many target summaries were (re)written.
        ``changed``: the pairs recomputed since this writer's last write (None: any)."""
        paths = (results.camera_paths, results.target_paths)
        summary = results.summary_arrays()
        layer = self.layer
        with Sdf.ChangeBlock():
            if self._written is None or self._paths != paths:
                layer.Clear()
                swb = Sdf.CreatePrimInLayer(layer, SWB_PRIM)
                swb.specifier = Sdf.SpecifierDef
                spec = Sdf.CreatePrimInLayer(layer, RESULTS_PRIM)
                spec.specifier = Sdf.SpecifierDef
                spec.typeName = "Scope"
                todo = np.arange(len(paths[1]))
                changed = None
            else:
                spec = layer.GetPrimAtPath(RESULTS_PRIM)
                todo = np.flatnonzero(_summary_changed(summary, self._written))
            _write_arrays(spec, results, changed)
            cams = paths[0]
            best, dec, score = summary.best.tolist(), summary.decodable.tolist(), summary.score.tolist()
            lim, n_dec = summary.limiting.tolist(), summary.decoding.tolist()
            p_read = summary.p_read.tolist()
            kinds = ((SUMMARY_BEST_CAMERA, _T.String), (SUMMARY_DECODABLE, _T.Bool), (SUMMARY_LIMITING, _T.Token),
                     (SUMMARY_SCORE, _T.Float), (SUMMARY_CAMERAS_DECODING, _T.Int),
                     (SUMMARY_READ_PROBABILITY, _T.Float))
            for ti in todo.tolist():
                target = paths[1][ti]
                if split_instance_path(target) is not None:
                    continue  # a PointInstancer instance is no prim: its summary lives in the arrays only
                values = (cams[best[ti]] if best[ti] >= 0 else "", bool(dec[ti]), factor_name(lim[ti]) or "none",
                          score[ti], n_dec[ti], p_read[ti])
                over = layer.GetPrimAtPath(target)
                if over is None:  # a new over: its attributes are new too (no lookups: most of a first write)
                    over = Sdf.CreatePrimInLayer(layer, Sdf.Path(target))
                    over.SetInfo("apiSchemas", Sdf.TokenListOp.Create(prependedItems=[SUMMARY_API]))
                    for (name, type_name), value in zip(kinds, values, strict=True):
                        Sdf.AttributeSpec(over, name, type_name).default = value
                else:
                    for (name, type_name), value in zip(kinds, values, strict=True):
                        set_attribute(over, name, type_name, value)
        self._written = summary
        self._paths = paths
        return len(todo)


def _stored(layer: Sdf.Layer, cameras: list[str], targets: list[str]) -> Callable[[str], np.ndarray]:
    """The stored arrays by name, as read-only views of the layer's own (no copy), after checking that they
    index these cameras and targets."""
    spec = layer.GetPrimAtPath(RESULTS_PRIM)
    where = {"file": layer.identifier, "prim": str(RESULTS_PRIM)}
    if spec is None:
        raise SwbError("the results layer holds no results", **where, hint="run `swb eval --save` again")

    def value(name: str) -> object:
        attr = spec.attributes.get(NS + name)
        if attr is None or attr.default is None:
            hint = ("saved by an SWB without read probabilities: open the stage and evaluate again"
                    if name == "p_read" else "the file is incomplete")
            raise SwbError("missing results array", attribute=NS + name, **where, hint=hint)
        return attr.default

    def get(name: str) -> np.ndarray:
        return np.asarray(value(name))

    if list(value("cameras")) != cameras or list(value("targets")) != targets:
        raise SwbError(
            "stored results index other cameras or targets than the stage holds", attribute=NS + "cameras",
            **where, hint="the scene changed after it was saved; evaluate again",
        )
    return get


def read_results(layer: Sdf.Layer, cameras: list[str], targets: list[str]) -> PairResults:
    """Arrays written by write_results, checked against the cameras and targets they claim to index."""
    get = _stored(layer, cameras, targets)
    shape = (len(cameras), len(targets))
    scalars = {name: np.array(get(name), dtype=np.float32).reshape(shape) for name in SCALAR_FIELDS}
    return PairResults(
        decodable=np.array(get("decodable"), dtype=bool).reshape(shape),
        limiting=np.array(get("limiting"), dtype=np.int32).reshape(shape),
        margins=np.array(get("margins"), dtype=np.float32).reshape((*shape, len(FACTORS))),
        **scalars,
    )


class StoredDetail:
    """The blur metrics and margins of records read from a results layer: the layer's arrays, indexed on request
    (a ``DetailSource``; nothing is recomputed, no world is needed). ``cull`` False: a save may hold margins for
    pairs out of view (before the pair model stopped at them), so summaries read them."""

    cull = False

    def __init__(self, defocus: np.ndarray, motion: np.ndarray, margins: np.ndarray) -> None:
        self._fields = {"defocus_px": defocus, "motion_px": motion, "margins": margins}

    def pair_detail(self, cam_idx: np.ndarray, tgt_idx: np.ndarray, seen: np.ndarray,
                    sparse: bool = False) -> np.ndarray:
        ci, ti = np.asarray(cam_idx, np.int64).ravel(), np.asarray(tgt_idx, np.int64).ravel()
        where = (ci, ti) if sparse else np.ix_(ci, ti)
        out = np.empty(np.shape(seen), DETAIL_DTYPE)
        for name, values in self._fields.items():
            out[name] = values[where].reshape(out[name].shape)
        return out


def read_records(layer: Sdf.Layer, cameras: list[str], targets: list[str]) -> PairRecords | PairResults:
    """``read_results`` as a compact simulation keeps it: 32-byte records, the blur metrics and margins left in
    the layer's own arrays (``StoredDetail``). Stored visible fractions that are not whole occlusion samples
    (another model's save) come back as ``read_results`` reads them."""
    get = _stored(layer, cameras, targets)
    shape = (len(cameras), len(targets))
    visible = get("visible_fraction").astype(np.float32).reshape(shape)
    seen = np.rint(visible * np.float32(N_OCCLUSION_SAMPLES)).astype(np.uint8)
    limiting = get("limiting").reshape(shape)
    whole = np.array_equal(seen.astype(np.float32) / np.float32(N_OCCLUSION_SAMPLES), visible)
    if not whole or limiting.max(initial=0) > 255:
        return read_results(layer, cameras, targets)
    records = np.zeros(shape, RECORD_DTYPE)
    records["seen"] = seen
    del visible, seen
    records["limiting"] = limiting
    records["decodable"] = get("decodable").reshape(shape)
    for name in ("score", "p_read", "ppm_u", "ppm_w", "tilt_deg", "distance", "combined_margin"):
        records[name] = get(name).reshape(shape)
    source = StoredDetail(get("defocus_px").reshape(shape), get("motion_px").reshape(shape),
                          get("margins").reshape((*shape, len(FACTORS))))
    return PairRecords(records, source)
