"""The model's verdict in numpy: from per-pair metrics that no decoder profile changes to decodable, margins,
limiting factor and score under a profile.

This is the one numpy implementation of the verdict. The independent reference (``swb.engine.reference``)
computes the metrics from the geometry and calls it; the profile fitting (``swb.render.fitting``) calls the same
functions on the metrics stored with rendered study cases, many candidate profiles at a time. The Warp kernels
(``kernels/scoring.py``, ``kernels/visibility.py``) implement the same rules on the device and are checked
against this in the tests. Every function broadcasts: profile parameters may carry leading axes (a grid of
candidate values) against the pairs on the trailing axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .profiles import (
    CLASS_CODE,
    FACTOR_CODE,
    FACTORS,
    LIMIT_NORM_P,
    N_OCCLUSION_SAMPLES,
    SCORE_RATE,
    SYMBOLOGIES,
    SYMBOLOGY_CODE,
    DecoderProfile,
    read_floor,
    read_probability,
)

ALL_SEEN = (1 << N_OCCLUSION_SAMPLES) - 1
_SLOT = {name: i for i, name in enumerate(FACTORS)}
_CLASS_OF_SYMBOLOGY = np.array([CLASS_CODE[SYMBOLOGIES[s]] for s in SYMBOLOGY_CODE], np.int64)
_LINEAR = CLASS_CODE["linear"]
_SCAN_CLASSES = (CLASS_CODE["linear"], CLASS_CODE["pdf417"])


@dataclass
class PairMetrics:
    """What the geometry and optics give each camera x target pair, independent of any decoder profile.

    All arrays share one shape. ``qz_view`` / ``qz_line``: the largest share of the quiet zone with which the
    symbol (its centre scan line along u) lies inside the image and the clipping range, -1 when not even the
    symbol (line) does. ``seen``: bit k set when occlusion sample k (3 x 3 grid, row by row) is seen; 0 where no
    rays were cast. ``scan_ratio``: (height / length) / tan(roll of u to the nearest pixel axis), inf without roll.
    ``computable``: the symbol lies in front of the camera, so PPM and blur are defined.
    """

    sym: np.ndarray  # int symbology code (swb.engine.profiles.SYMBOLOGY_CODE)
    front: np.ndarray  # bool: the symbol faces the camera
    computable: np.ndarray  # bool
    ppm_u: np.ndarray  # pixels per module across the bars / columns
    ppm_w: np.ndarray  # pixels per module along w (PDF417: per row of 3X)
    blur: np.ndarray  # defocus blur disk (with diffraction), pixels
    smear_u: np.ndarray  # motion smear projected on the u axis' image direction, pixels
    smear_w: np.ndarray
    tilt: np.ndarray  # degrees between the symbol normal and the line to the camera
    max_tilt: np.ndarray  # the camera's swb:sensor:maxTilt, degrees
    scan_ratio: np.ndarray
    qz_view: np.ndarray
    qz_line: np.ndarray
    seen: np.ndarray  # int bit mask

    @property
    def cls(self) -> np.ndarray:
        """Threshold class code of each pair's symbology."""
        return _CLASS_OF_SYMBOLOGY[self.sym]

    @property
    def linear(self) -> np.ndarray:
        return self.cls == _LINEAR

    @property
    def n_seen(self) -> np.ndarray:
        bits = (np.asarray(self.seen, np.int64)[..., None] >> np.arange(N_OCCLUSION_SAMPLES)) & 1
        return bits.sum(axis=-1)

    def select(self, index: np.ndarray) -> PairMetrics:
        """The metrics of a subset of pairs (any numpy index on the arrays)."""
        return PairMetrics(**{k: np.asarray(v)[index] for k, v in self.__dict__.items()})


@dataclass
class DecoderTerms:
    """A decoder profile's parameters for each pair: arrays broadcastable against the pairs' metrics.

    ``threshold`` T in pixels per module with the symbology's factor, ``blur_limit`` B in modules, ``tilt_limit``
    the decoder's own tilt limit in degrees, ``cover`` the scan-line cover, ``quiet_share`` and ``min_visible``
    the view and occlusion shares; the booleans are the profile's traits.
    """

    threshold: np.ndarray
    blur_limit: np.ndarray
    tilt_limit: np.ndarray
    cover: np.ndarray
    quiet_share: np.ndarray
    min_visible: np.ndarray
    scanline: np.ndarray
    line_view: np.ndarray
    clear_row: np.ndarray
    read_m90: np.ndarray
    read_slope: np.ndarray

    @classmethod
    def of(cls, profile: DecoderProfile, sym: np.ndarray) -> DecoderTerms:
        """One profile's terms for pairs of the given symbology codes."""
        return cls.per_pair([profile], np.zeros_like(np.asarray(sym, np.int64)), sym)

    @classmethod
    def per_pair(cls, profiles: Sequence[DecoderProfile], which: np.ndarray, sym: np.ndarray) -> DecoderTerms:
        """Terms for pairs whose camera uses ``profiles[which]``, for symbology codes ``sym`` (broadcast)."""
        which, sym = np.broadcast_arrays(np.asarray(which, np.int64), np.asarray(sym, np.int64))
        k = _CLASS_OF_SYMBOLOGY[sym]

        def by_class(get) -> np.ndarray:  # noqa: ANN001
            return np.array([get(p) for p in profiles], np.float64)[which, k]

        def flag(get) -> np.ndarray:  # noqa: ANN001
            return np.array([bool(get(p)) for p in profiles])[which]

        scales = np.array([p.scales() for p in profiles], np.float64)
        return cls(
            threshold=by_class(lambda p: p.ppm_threshold) * scales[which, sym],
            blur_limit=by_class(lambda p: p.blur_limit),
            tilt_limit=by_class(lambda p: p.max_tilt),
            cover=by_class(lambda p: p.scan_cover),
            quiet_share=by_class(lambda p: p.quiet_zone),
            min_visible=by_class(lambda p: p.min_visible),
            scanline=flag(lambda p: p.scanline),
            line_view=flag(lambda p: p.line_view),
            clear_row=flag(lambda p: p.clear_row),
            read_m90=by_class(lambda p: p.read_m90),
            read_slope=by_class(lambda p: p.read_slope),
        )


def in_view(m: PairMetrics, quiet_share: np.ndarray, line_view: np.ndarray) -> np.ndarray:
    """Field of view: the symbol with the decoder's share of its quiet zone in the image (a 1-D symbol under a
    line-view decoder: its centre scan line)."""
    return np.where(np.asarray(line_view) & m.linear, m.qz_line, m.qz_view) >= quiet_share


def readable_despite_occlusion(m: PairMetrics, fov: np.ndarray, min_visible: np.ndarray,
                               clear_row: np.ndarray) -> np.ndarray:
    """In view, facing the camera, and enough of the symbol seen: every sample, or (1-D, clear-row decoders) one
    whole row of samples across the bars, or at least ``min_visible`` of the samples."""
    seen = np.asarray(m.seen, np.int64)
    bits = (seen[..., None] >> np.arange(N_OCCLUSION_SAMPLES)) & 1
    n_seen = bits.sum(axis=-1)
    rows = bits.reshape(*bits.shape[:-1], 3, 3).all(axis=-1).any(axis=-1)
    row = rows & np.asarray(clear_row) & m.linear
    need = np.ceil(np.asarray(min_visible) * N_OCCLUSION_SAMPLES - 1e-3)
    return fov & m.front & ((seen == ALL_SEEN) | row | (n_seen >= need))


def axis_terms(ppm: np.ndarray, blur: np.ndarray, smear: np.ndarray, threshold: np.ndarray,
               blur_limit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampling and blur on one module axis: r_s = T / PPM, r_b = sqrt(b^2 + m^2) / PPM / B and their p-norm q
    (the pair reads on this axis when q <= 1); inf where PPM is 0."""
    p = LIMIT_NORM_P
    ok = ppm > 0
    safe = np.where(ok, ppm, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        r_s = np.where(ok, threshold / safe, np.inf)
        r_b = np.where(ok, np.sqrt(blur**2 + smear**2) / safe / blur_limit, np.inf)
        q = (r_s**p + r_b**p) ** (1.0 / p)
    return r_s, r_b, q


@dataclass
class Sampling:
    """Both module axes combined: the worse axis decides (1-D symbols: u only)."""

    combined: np.ndarray  # 1 / q of the deciding axis: >= 1 reads
    r_s: np.ndarray
    r_b: np.ndarray
    use_w: np.ndarray  # the w axis decides
    ppm: np.ndarray  # PPM of the deciding axis
    smear: np.ndarray  # smear on the deciding axis


def sampling(m: PairMetrics, threshold: np.ndarray, blur_limit: np.ndarray) -> Sampling:
    """The sampling / blur limit of each pair, both axes (docs/model.md, rule 8)."""
    rs_u, rb_u, q_u = axis_terms(m.ppm_u, m.blur, m.smear_u, threshold, blur_limit)
    rs_w, rb_w, q_w = axis_terms(m.ppm_w, m.blur, m.smear_w, threshold, blur_limit)
    use_w = ~m.linear & (q_w > q_u)
    q = np.where(use_w, q_w, q_u)
    with np.errstate(divide="ignore"):
        combined = np.where(q > 0, 1.0 / q, np.inf)
    return Sampling(combined, np.where(use_w, rs_w, rs_u), np.where(use_w, rb_w, rb_u), use_w,
                    np.where(use_w, m.ppm_w, m.ppm_u), np.where(use_w, m.smear_w, m.smear_u))


def angle_margin(m: PairMetrics, tilt_limit: np.ndarray, scanline: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Tilt margin against the smaller of the camera's and the decoder's limits; for scan-line decoders on 1-D and
    PDF417 symbols also the scan-line margin (1 - cover) (h/L) / tan(roll)."""
    limit = np.minimum(m.max_tilt, tilt_limit)
    tilt = np.asarray(m.tilt, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tilt_m = np.where(tilt > 0, limit / np.where(tilt > 0, tilt, 1.0), np.inf)
    scan_kind = np.isin(m.cls, _SCAN_CLASSES) & m.computable
    with np.errstate(invalid="ignore"):
        scan = (1.0 - np.asarray(cover)) * m.scan_ratio
    return np.where(np.asarray(scanline) & scan_kind, np.minimum(tilt_m, scan), tilt_m)


@dataclass
class Verdict:
    """The model's answer per pair (arrays of the metrics' shape, broadcast with the terms)."""

    decodable: np.ndarray
    limiting: np.ndarray  # int32 factor code, 0 when decodable
    deciding: np.ndarray  # the limiting factor, and for decodable pairs the factor nearest its limit
    score: np.ndarray
    p_read: np.ndarray  # one frame's read probability (0 unless in view, facing and readable despite occlusion)
    margins: np.ndarray  # (..., len(FACTORS)) value / threshold per factor (fov, backfacing: 0 or inf)
    combined: np.ndarray
    angle: np.ndarray
    visible: np.ndarray  # share of occlusion samples seen


def verdict(m: PairMetrics, t: DecoderTerms, glare: np.ndarray | None = None,
            exposure: np.ndarray | None = None, min_read: np.ndarray | float = 0.9) -> Verdict:
    """Decodable, margins, limiting factor, score and read probability (docs/model.md, rules 9 and 10): decodable
    when in view, facing the camera, readable despite occlusion, and the read probability at the decisive margin
    (the smallest of the combined, angle, glare and exposure margins) at least ``min_read`` (the camera's
    swb:sensor:minReadProbability), i.e. that margin at least the link's floor (1 for a profile with m90 = 1 at
    0.9). The limiting factor, in order: fov, backfacing, occluded, glare, exposure, angle, then the largest of
    the sampling terms (resolution, defocus or motion). ``glare`` and ``exposure`` margins come from the lights
    (None: no lights, both infinite)."""
    fov = in_view(m, t.quiet_share, t.line_view)
    readable = readable_despite_occlusion(m, fov, t.min_visible, t.clear_row)
    s = sampling(m, t.threshold, t.blur_limit)
    angle = angle_margin(m, t.tilt_limit, t.scanline, t.cover)
    shape = np.broadcast(fov, s.combined, angle).shape
    on = fov & m.front
    glare = np.where(on, np.inf if glare is None else glare, np.inf)
    exposure = np.where(on, np.inf if exposure is None else exposure, np.inf)
    least = np.minimum(np.minimum(s.combined, angle), np.minimum(glare, exposure))
    # float32 like the kernels: a margin on the floor compares the same on both sides
    floor = read_floor(t.read_m90, t.read_slope, min_read).astype(np.float32)
    decodable = readable & (least >= floor)
    p_read = np.where(readable, read_probability(least, t.read_m90, t.read_slope), 0.0)
    p_read = np.where(decodable, np.maximum(p_read, np.float32(min_read)), p_read)

    sampling_code = np.where(s.r_s >= s.r_b, FACTOR_CODE["resolution"],
                             np.where(m.blur >= s.smear, FACTOR_CODE["defocus"], FACTOR_CODE["motion"]))
    geometric = np.minimum(s.combined, angle)
    deciding = np.select(
        [~fov, ~m.front, ~readable, (glare < geometric) & (glare <= exposure), exposure < geometric,
         angle < s.combined],
        [FACTOR_CODE["fov"], FACTOR_CODE["backfacing"], FACTOR_CODE["occluded"], FACTOR_CODE["glare"],
         FACTOR_CODE["exposure"], FACTOR_CODE["angle"]],
        default=sampling_code,
    ).astype(np.int32)
    limiting = np.where(decodable, 0, deciding).astype(np.int32)

    with np.errstate(over="ignore", invalid="ignore"):
        score = np.where(decodable, 1.0 - np.exp(-SCORE_RATE * (least - 1.0)), 0.0)
    score = np.where(decodable & np.isinf(least), 1.0, score)

    visible = np.where(on, m.n_seen / N_OCCLUSION_SAMPLES, 0.0)
    margins = np.zeros((*shape, len(FACTORS)), np.float64)
    margins[..., _SLOT["fov"]] = np.where(fov, np.inf, 0.0)
    margins[..., _SLOT["backfacing"]] = np.where(m.front, np.inf, 0.0)
    margins[..., _SLOT["occluded"]] = visible
    with np.errstate(divide="ignore", invalid="ignore"):
        margins[..., _SLOT["resolution"]] = s.ppm / t.threshold
        bp = t.blur_limit * s.ppm
        margins[..., _SLOT["defocus"]] = np.where(m.computable, np.where(m.blur != 0, bp / m.blur, np.inf), 0.0)
        margins[..., _SLOT["motion"]] = np.where(m.computable, np.where(s.smear != 0, bp / s.smear, np.inf), 0.0)
    margins[..., _SLOT["angle"]] = angle
    margins[..., _SLOT["glare"]] = glare
    margins[..., _SLOT["exposure"]] = exposure
    return Verdict(np.broadcast_to(decodable, shape), np.broadcast_to(limiting, shape),
                   np.broadcast_to(deciding, shape), np.broadcast_to(score, shape),
                   np.broadcast_to(p_read, shape), margins,
                   np.broadcast_to(s.combined, shape), np.broadcast_to(angle, shape), np.broadcast_to(visible, shape))
