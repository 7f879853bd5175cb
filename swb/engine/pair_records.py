"""Compact per-pair results: the 32-byte records a world keeps, with the detail computed on request.

A simulation keeps each pair's ``PairRecord`` (verdict, limiting factor, score, p_read, pixels per module, tilt,
distance, combined margin, seen samples) and nothing else, on the device and on the host. The blur metrics and the
nine margins (``PairDetail``, 44 B) come from a ``DetailSource`` for the pairs someone asks about: the rows a query
shows, the undecoded targets a summary explains, the row chunks a save or a results file streams. ``PairRecords``
reads like ``PairResults`` (same field names, same values); its ``defocus_px``, ``motion_px`` and ``margins`` compute
every pair's detail at once, so code that needs few pairs asks ``detail_at`` or ``detail_rows`` instead.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from swb.kernels.evaluate import PairDetail, PairRecord
from swb.kernels.visibility import N_SAMPLES

from .pair_results import PairResults

RECORD_DTYPE = np.dtype(PairRecord.numpy_dtype())
DETAIL_DTYPE = np.dtype(PairDetail.numpy_dtype())
_FLOAT_FIELDS = ("score", "p_read", "ppm_u", "ppm_w", "tilt_deg", "distance", "combined_margin")
if tuple(RECORD_DTYPE.names or ())[:8] != (*_FLOAT_FIELDS, "decodable") or RECORD_DTYPE.itemsize != 32:
    raise ImportError("PairRecord's layout changed: update PairRecords.columns")
# Pairs per detail computation when every pair is asked for (a chunk's temporaries stay tens of MB).
CHUNK_PAIRS = 1 << 20

Detail = tuple[np.ndarray, np.ndarray, np.ndarray]  # defocus_px, motion_px, margins (..., len(FACTORS))


class DetailSource(Protocol):
    """Recomputes ``PairDetail`` for kept records (``World.pair_detail``'s signature); ``cull``: the records come
    from a world that stops at pairs out of view or facing away (their margins other than fov and backfacing,
    and their combined margin, are 0)."""

    cull: bool

    def pair_detail(self, cam_idx: np.ndarray, tgt_idx: np.ndarray, seen: np.ndarray,
                    sparse: bool = False) -> np.ndarray: ...


def _split(detail: np.ndarray) -> Detail:
    return (np.ascontiguousarray(detail["defocus_px"]), np.ascontiguousarray(detail["motion_px"]),
            np.ascontiguousarray(detail["margins"]))


class PairRecords:
    """An evaluation's pairs as records ((cameras, targets), ``RECORD_DTYPE``) plus where their detail comes from.

    The fields read like ``PairResults``' (views where the record holds the value as is, conversions otherwise:
    nothing more is kept). ``source`` must describe the state the records were evaluated in (see
    swb/engine/detail_source.py)."""

    def __init__(self, records: np.ndarray, source: DetailSource) -> None:
        if records.dtype != RECORD_DTYPE or records.ndim != 2:
            raise ValueError(f"records must be a 2-D {PairRecord.__name__} array, got {records.dtype} {records.shape}")
        self.records = records
        self.source = source
        self._every: tuple[DetailSource, Detail] | None = None  # the field properties' detail, and its source

    @property
    def shape(self) -> tuple[int, int]:
        return self.records.shape  # type: ignore[return-value]

    @property
    def culled_zero(self) -> bool:
        """Whether a pair stopped at the view or facing test has combined and angle margins of 0 (a culling
        world's): a summary then needs no detail for it."""
        return bool(self.source.cull)

    def nbytes_per_pair(self) -> float:
        """Host bytes kept per pair."""
        return self.records.nbytes / max(self.records.size, 1)

    # ----- the record fields, as PairResults has them
    @property
    def decodable(self) -> np.ndarray:
        return self.records["decodable"].view(np.bool_)  # 0 or 1: a view, no copy

    @property
    def limiting(self) -> np.ndarray:
        return self.records["limiting"].astype(np.int32)

    @property
    def visible_fraction(self) -> np.ndarray:
        return self.records["seen"].astype(np.float32) / np.float32(N_SAMPLES)

    @property
    def score(self) -> np.ndarray:
        return self.records["score"]

    @property
    def p_read(self) -> np.ndarray:
        return self.records["p_read"]

    @property
    def ppm_u(self) -> np.ndarray:
        return self.records["ppm_u"]

    @property
    def ppm_w(self) -> np.ndarray:
        return self.records["ppm_w"]

    @property
    def tilt_deg(self) -> np.ndarray:
        return self.records["tilt_deg"]

    @property
    def distance(self) -> np.ndarray:
        return self.records["distance"]

    @property
    def combined_margin(self) -> np.ndarray:
        return self.records["combined_margin"]

    def columns(self) -> dict[str, np.ndarray]:
        """Every record field as its own contiguous ``PairResults`` array, from one transposing pass over the
        records (7 strided field reads cost 3x more): for code that reads most fields of every pair."""
        shape = self.shape
        words = np.ascontiguousarray(np.ascontiguousarray(self.records).view(np.float32).reshape(-1, 8).T)
        out = {name: words[k].reshape(shape) for k, name in enumerate(_FLOAT_FIELDS)}
        tail = words[len(_FLOAT_FIELDS)].view(np.uint8).reshape(-1, 4)  # decodable, limiting, seen, spare
        out["decodable"] = tail[:, 0].view(np.bool_).reshape(shape).copy()
        out["limiting"] = tail[:, 1].astype(np.int32).reshape(shape)
        out["visible_fraction"] = (tail[:, 2].astype(np.float32) / np.float32(N_SAMPLES)).reshape(shape)
        return out

    def at(self, name: str, where: object) -> np.ndarray:
        """Field ``name`` at index ``where``, indexing the records before converting (a row or a few pairs of a
        big station never convert the whole field)."""
        picked = self.records[where]
        return getattr(PairRecords(picked.reshape(1, -1), self.source), name).reshape(picked.shape)

    # ----- detail, on request
    def detail_at(self, cam_idx: np.ndarray, tgt_idx: np.ndarray) -> Detail:
        """Detail of the pairs (cam_idx[k], tgt_idx[k])."""
        ci = np.asarray(cam_idx, np.int64).ravel()
        ti = np.asarray(tgt_idx, np.int64).ravel()
        out = np.empty(len(ci), DETAIL_DTYPE)
        for a in range(0, len(ci), CHUNK_PAIRS):
            b = min(len(ci), a + CHUNK_PAIRS)
            seen = self.records["seen"][ci[a:b], ti[a:b]]
            out[a:b] = self.source.pair_detail(ci[a:b], ti[a:b], seen, sparse=True)
        return _split(out)

    def detail_rows(self, a: int, b: int) -> Detail:
        """Detail of every pair of camera rows a..b, shaped (b - a, n_targets)."""
        return self.detail_block(a, b, 0, self.shape[1])

    def detail_block(self, a: int, b: int, t0: int, t1: int) -> Detail:
        """Detail of camera rows a..b x targets t0..t1, shaped (b - a, t1 - t0)."""
        seen = self.records["seen"][a:b, t0:t1]
        return _split(self.source.pair_detail(np.arange(a, b), np.arange(t0, t1), seen))

    def detail_column(self, ti: int) -> Detail:
        """Detail of every camera for target ti, shaped (n_cameras,)."""
        n_cam = self.shape[0]
        return self.detail_at(np.arange(n_cam), np.full(n_cam, ti))

    def detail(self) -> Detail:
        """Every pair's detail (44 B a pair, computed in row chunks): for callers that want all of it."""
        n_cam, n_tgt = self.shape
        out = np.empty((n_cam, n_tgt), DETAIL_DTYPE)
        step = max(1, CHUNK_PAIRS // max(n_tgt, 1))
        for a in range(0, n_cam, step):
            b = min(n_cam, a + step)
            out[a:b] = self.source.pair_detail(np.arange(a, b), np.arange(n_tgt), self.records["seen"][a:b])
        return _split(out)

    def _kept_detail(self) -> Detail:
        """Every pair's detail for the field properties, computed on the first read and kept while the records
        describe the same state (an in-place update gives them a new source): a script reading ``margins[c, t]``
        in a loop computes it once. ``detail()`` keeps nothing, for code that streams it."""
        if self._every is None or self._every[0] is not self.source:
            self._every = (self.source, self.detail())
        return self._every[1]

    @property
    def defocus_px(self) -> np.ndarray:
        return self._kept_detail()[0]

    @property
    def motion_px(self) -> np.ndarray:
        return self._kept_detail()[1]

    @property
    def margins(self) -> np.ndarray:
        return self._kept_detail()[2]

    # ----- whole copies
    def copy(self) -> PairRecords:
        """A copy of the records (the detail source describes the same state: it is shared)."""
        return PairRecords(self.records.copy(), self.source)

    def full(self) -> PairResults:
        """Every field of every pair as a ``PairResults`` (81 B a pair)."""
        defocus, motion, margins = self.detail()
        return PairResults(decodable=self.decodable.copy(), limiting=self.limiting, score=self.score.copy(),
                           p_read=self.p_read.copy(), ppm_u=self.ppm_u.copy(), ppm_w=self.ppm_w.copy(),
                           tilt_deg=self.tilt_deg.copy(), defocus_px=defocus, motion_px=motion,
                           visible_fraction=self.visible_fraction, distance=self.distance.copy(),
                           combined_margin=self.combined_margin.copy(), margins=margins)

    def equal(self, other: PairRecords | PairResults) -> bool:
        """Bit-for-bit equality of every field (NaN-safe), detail included."""
        if isinstance(other, PairRecords) and other.source is self.source:
            return self.records.shape == other.records.shape and self.records.tobytes() == other.records.tobytes()
        return self.full().equal(other if isinstance(other, PairResults) else other.full())


Pairs = PairResults | PairRecords


def field_flat(pairs: Pairs, name: str, a: int, b: int) -> np.ndarray:
    """One record field of the camera-major flat pair range a..b, in ``PairResults``' dtype (only that range
    is converted: a results file's chunk never makes a whole-station temporary)."""
    if isinstance(pairs, PairResults):
        return np.ascontiguousarray(getattr(pairs, name)).reshape(-1)[a:b]
    return getattr(PairRecords(pairs.records.reshape(1, -1)[:, a:b], pairs.source), name)[0]


def detail_flat(pairs: Pairs, a: int, b: int) -> Detail:
    """Detail of the camera-major flat pair range a..b (a results file's row group): whole rows in one block, a
    partial first and last row as blocks of their own, so no pair outside the range is computed."""
    n_tgt = pairs.shape[1]
    if b <= a:
        return _split(np.zeros(0, DETAIL_DTYPE))
    pieces: list[Detail] = []
    r0, t0 = divmod(a, n_tgt)
    r1, t1 = divmod(b, n_tgt)
    if r0 == r1:
        pieces.append(pairs.detail_block(r0, r0 + 1, t0, t1))
    else:
        if t0:
            pieces.append(pairs.detail_block(r0, r0 + 1, t0, n_tgt))
            r0 += 1
        if r1 > r0:
            pieces.append(pairs.detail_block(r0, r1, 0, n_tgt))
        if t1:
            pieces.append(pairs.detail_block(r1, r1 + 1, 0, t1))
    n_f = pieces[0][2].shape[-1]
    return (np.concatenate([p[0].ravel() for p in pieces]), np.concatenate([p[1].ravel() for p in pieces]),
            np.concatenate([p[2].reshape(-1, n_f) for p in pieces]))
