"""Scoring and fitting decoder profiles on validation cases (``swb.render.study``), with the model's verdict in
numpy (``swb.engine.verdict``, the same implementation the reference uses) on each case's stored metrics.

``fit_profile`` fits a decoder profile (T and B per class, the scan-line traits, the occlusion traits) to study
cases by maximising agreement with the decoder; ``agreement`` and ``format_report`` compare a profile (or the
stored verdicts) with the decode outcomes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..engine.profiles import (
    CLASS_CODE,
    FACTOR_CODE,
    FACTORS,
    N_OCCLUSION_SAMPLES,
    PROFILES,
    SYMBOLOGIES,
    SYMBOLOGY_CODE,
    DecoderProfile,
)
from ..engine.verdict import (
    ALL_SEEN,
    DecoderTerms,
    PairMetrics,
    angle_margin,
    sampling,
    verdict,
)
from .study import Case

# The profile fitted by ``fit_profile`` (docs/validation.md).
ZXING_PROFILE = PROFILES["zxing"]
CLASSES: tuple[str, ...] = tuple(CLASS_CODE)  # linear, pdf417, datamatrix, qr, aztec
NEAR_LIMIT = (0.8, 1.25)  # min(combined, angle margin) in this open range: a case near its limit


# --------------------------------------------------------------------------------------------- verdicts


def case_metrics(cases: list[Case]) -> PairMetrics:
    """The stored, profile-independent metrics of the cases, as the verdict takes them."""
    def get(name: str) -> np.ndarray:
        return np.array([getattr(c, name) for c in cases], dtype=np.float64)

    ppm_u, ppm_w = get("ppm_u"), get("ppm_w")
    return PairMetrics(
        sym=np.array([SYMBOLOGY_CODE[c.symbology] for c in cases], np.int64),
        front=np.array([c.front for c in cases], bool), computable=(ppm_u > 0) | (ppm_w > 0),
        ppm_u=ppm_u, ppm_w=ppm_w, blur=get("defocus_px"), smear_u=get("smear_u"), smear_w=get("smear_w"),
        tilt=get("tilt_deg"), max_tilt=get("max_tilt"), scan_ratio=get("scan_margin"),
        qz_view=get("qz_view"), qz_line=get("qz_line"), seen=np.array([c.visible_mask for c in cases], np.int64))


def _decoded(cases: list[Case]) -> np.ndarray:
    return np.array([c.decoded for c in cases], bool)


def profile_verdict(cases: list[Case], profile: DecoderProfile) -> tuple[np.ndarray, np.ndarray]:
    """The model's (decodable, deciding factor code) per case under ``profile``, from the stored metrics.

    The deciding factor is the model's limiting factor, and for decodable cases the factor that would limit
    first (the one nearest its threshold), so agreement can be broken down by factor for every case.
    """
    m = case_metrics(cases)
    v = verdict(m, DecoderTerms.of(profile, m.sym))
    return v.decodable, v.deciding


def profile_margin(cases: list[Case], profile: DecoderProfile) -> np.ndarray:
    """min(combined margin, angle margin) per case under ``profile`` (how near the case sits to a limit)."""
    m = case_metrics(cases)
    v = verdict(m, DecoderTerms.of(profile, m.sym))
    return np.minimum(v.combined, v.angle)


@dataclass
class Agreement:
    """Model vs decoder: totals, confusion matrix and the breakdown by deciding factor and by design."""

    n: int
    agree: int
    confusion: dict[str, int]  # tp: both read, fn: model no / decoder yes, fp: model yes / decoder no, tn
    by_factor: dict[str, dict[str, int]]
    by_design: dict[str, dict[str, int]]
    by_class: dict[str, dict[str, int]]
    by_margin: dict[str, dict[str, int]] = field(default_factory=dict)  # near a limit (0.8..1.25) or not

    @property
    def rate(self) -> float:
        return self.agree / self.n if self.n else 1.0

    def to_json(self) -> dict:
        d = asdict(self)
        d["rate"] = self.rate
        return d


def _tally(pred: np.ndarray, dec: np.ndarray) -> dict[str, int]:
    return {"n": int(len(pred)), "agree": int((pred == dec).sum()), "tp": int((pred & dec).sum()),
            "fn": int((~pred & dec).sum()), "fp": int((pred & ~dec).sum()), "tn": int((~pred & ~dec).sum())}


def agreement(cases: list[Case], profile: DecoderProfile | None = None) -> Agreement:
    """Compare the model (as stored per case, or recomputed under ``profile``) with the decode outcomes."""
    if not cases:
        empty = {"n": 0, "agree": 0, "tp": 0, "fn": 0, "fp": 0, "tn": 0}
        return Agreement(0, 0, {k: 0 for k in ("tp", "fn", "fp", "tn")}, {}, {}, {"all": empty})
    dec = np.array([c.decoded for c in cases])
    if profile is None:
        pred = np.array([c.predicted for c in cases])
        _, code = profile_verdict(cases, _stored_profile_guess(cases))
        code = np.where(pred, code, [FACTOR_CODE[c.limiting] if c.limiting else 0 for c in cases])
    else:
        pred, code = profile_verdict(cases, profile)
    total = _tally(pred, dec)
    by_factor = {}
    for k, name in enumerate(FACTORS, start=1):
        sel = code == k
        if sel.any():
            by_factor[name] = _tally(pred[sel], dec[sel])
    designs = np.array([c.design for c in cases])
    by_design = {d: _tally(pred[designs == d], dec[designs == d]) for d in dict.fromkeys(designs.tolist())}
    classes = np.array([c.cls for c in cases])
    by_class = {k: _tally(pred[classes == k], dec[classes == k]) for k in CLASSES if (classes == k).any()}
    margin = profile_margin(cases, profile or _stored_profile_guess(cases))
    near = (margin > NEAR_LIMIT[0]) & (margin < NEAR_LIMIT[1])
    by_margin = {"near": _tally(pred[near], dec[near]), "elsewhere": _tally(pred[~near], dec[~near])}
    conf = {k: total[k] for k in ("tp", "fn", "fp", "tn")}
    return Agreement(total["n"], total["agree"], conf, by_factor, by_design, by_class, by_margin)


def _stored_profile_guess(cases: list[Case]) -> DecoderProfile:
    """Deciding factors of decodable cases need a profile; the zxing one stands in (only ranks the terms)."""
    return PROFILES.get("zxing", ZXING_PROFILE)


# --------------------------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class Fit:
    profile: DecoderProfile
    train_agreement: float
    test_agreement: float | None  # on the held-out half, fitted on the other half
    method: str


def _best_plateau(values: np.ndarray, scores: np.ndarray) -> float:
    """Centre of the longest run of grid values reaching the best score (robust to a flat optimum)."""
    best = scores.max()
    runs, start = [], None
    for i, hit in enumerate(scores == best):
        if hit and start is None:
            start = i
        if not hit and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(scores) - 1))
    a, b = max(runs, key=lambda r: r[1] - r[0])
    return float(values[(a + b) // 2])


T_GRID = np.round(np.arange(0.5, 5.001, 0.05), 2)
B_GRID = np.round(np.arange(0.5, 3.001, 0.05), 2)


V_GRID = np.arange(1, N_OCCLUSION_SAMPLES + 1) / N_OCCLUSION_SAMPLES  # min_visible: 1/9 .. 9/9


C_GRID = np.round(np.arange(0.0, 0.801, 0.05), 2)  # scan_cover of scan-line classes
S_GRID = np.round(np.arange(0.4, 2.501, 0.05), 2)  # threshold_scale of one symbology
Q_GRID = np.round(np.arange(0.0, 1.001, 0.05), 2)  # quiet_zone share
A_GRID = np.arange(30.0, 90.001, 1.0)  # the decoder's tilt limit (max_tilt), degrees
# Symbologies fitted with their own threshold factor: two-width codes whose reader classifies bars as narrow or
# wide (Code 39 at 2:1, ITF at 3:1 in zxing-cpp's writer); the class's T and B come from the others (Code 128,
# EAN/UPC: elements of 1 to 4 modules measured edge to edge).
FIT_SCALED: tuple[str, ...] = ("code39", "itf")


def _class_scores(m: PairMetrics, dec: np.ndarray, sel: np.ndarray, scanline: bool, covers: np.ndarray,
                  t_grid: np.ndarray = T_GRID, decoder_tilt: float = 90.0) -> np.ndarray:
    """Agreeing cases among ``sel`` for every (scan_cover, B, T) of the grids: (len(covers), len(B), len(T)).
    The cases are seen whole and in view, so the sampling and angle terms of the verdict decide."""
    sub = m.select(sel)
    ok = np.stack([angle_margin(sub, decoder_tilt, scanline, c) >= 1.0 for c in covers])[:, None, None, :]
    reads = sampling(sub, t_grid[None, :, None], B_GRID[:, None, None]).combined >= 1.0
    return ((ok & reads[None]) == dec[sel]).sum(axis=3)


def _fit_cases(m: PairMetrics, whole: np.ndarray, scaled: np.ndarray, k: int) -> np.ndarray:
    """Class k's cases for fitting T, B and the tilt limit: seen whole, and for 1-D without the scaled symbologies."""
    sel = whole & (m.cls == k)
    return sel & ~scaled if (sel & ~scaled).any() else sel


def _decodable(m: PairMetrics, profile: DecoderProfile) -> np.ndarray:
    return verdict(m, DecoderTerms.of(profile, m.sym)).decodable


def _fit_once(cases: list[Case], base: DecoderProfile | None = None) -> DecoderProfile:
    """Fit per class T and B (and the scan-line traits) on the cases seen whole, then the threshold factors of
    ``FIT_SCALED``, then the occlusion traits (min_visible per 2-D class, clear_row for 1-D) on the partly hidden
    cases, then the field-of-view traits (line_view for 1-D, quiet_zone per class) on the cases partly out of view.

    Per class, each choice is the centre of the longest plateau of best agreement: the scan_cover (scan-line
    classes only), then B (by the best agreement over T), then T at that B, then the decoder's tilt limit (30 to
    90 degrees) with them, and T, B and scan_cover once more under that limit; the 1-D class's T, B and tilt come
    from the symbologies not in ``FIT_SCALED``, and each of those then gets its factor on T (the plateau centre, T
    and B fixed). The scan-line trait (on/off) is the one with more agreeing cases over all classes. Occlusion and
    quiet zone: the strictest value (largest min_visible, largest quiet_zone) reaching the best agreement;
    clear_row and line_view only when they agree with more cases than without. Classes without cases keep
    ``base``'s values.
    """
    base = base or ZXING_PROFILE
    m, dec = case_metrics(cases), _decoded(cases)
    cls = m.cls
    seen = m.front & (m.qz_view >= 1.0)  # in view with the whole quiet zone
    whole = seen & (m.seen == ALL_SEEN)
    scaled = np.isin(m.sym, [SYMBOLOGY_CODE[s] for s in FIT_SCALED])
    scan_classes = (CLASS_CODE["linear"], CLASS_CODE["pdf417"])
    tilts = list(base.max_tilt)
    # T, B and scan_cover under the tilt limits, then the tilt limits under them; twice, so that each is fitted
    # with the other in place.
    for _ in range(2):
        fits: dict[bool, tuple[int, list[float], list[float], list[float]]] = {}
        for scan in (False, True):
            ts, bs, cs, total = list(base.ppm_threshold), list(base.blur_limit), list(base.scan_cover), 0
            for k in range(len(CLASSES)):
                sel = _fit_cases(m, whole, scaled, k)
                if not sel.any():
                    continue
                covers = C_GRID if scan and k in scan_classes else np.array([cs[k]])
                scores = _class_scores(m, dec, sel, scan, covers, decoder_tilt=tilts[k])
                ci = int(np.flatnonzero(covers == _best_plateau(covers, scores.max(axis=(1, 2))))[0])
                cs[k] = float(covers[ci])
                bs[k] = _best_plateau(B_GRID, scores[ci].max(axis=1))
                ts[k] = _best_plateau(T_GRID, scores[ci, int(np.flatnonzero(B_GRID == bs[k])[0])])
                total += int(scores.max())
            fits[scan] = (total, ts, bs, cs)
        scan = fits[True][0] > fits[False][0]
        _, ts, bs, cs = fits[scan]
        for k in range(len(CLASSES)):
            sel = _fit_cases(m, whole, scaled, k)
            if sel.any():
                scores = np.array([_class_scores(m, dec, sel, scan, np.array([cs[k]]), np.array([ts[k]]), tilt)[
                    0, int(np.flatnonzero(B_GRID == bs[k])[0]), 0] for tilt in A_GRID])
                tilts[k] = _best_plateau(A_GRID, scores)
    scale = dict(base.threshold_scale)
    for name in FIT_SCALED:
        sel = whole & (m.sym == SYMBOLOGY_CODE[name])
        k = CLASS_CODE[SYMBOLOGIES[name]]
        if sel.any():
            # T and B of the class fixed: a T grid of the class's T times each factor, at the class's B.
            row = _class_scores(m, dec, sel, scan, np.array([cs[k]]), ts[k] * S_GRID, tilts[k])[0, int(np.flatnonzero(
                B_GRID == bs[k])[0])]
            scale[name] = _best_plateau(S_GRID, row)
    fitted = DecoderProfile("zxing", tuple(ts), tuple(bs), scan, "fit", scan_cover=tuple(cs),  # type: ignore[arg-type]
                            threshold_scale=tuple(scale.items()), max_tilt=tuple(tilts))  # type: ignore[arg-type]
    fitted = replace(fitted, min_visible=base.min_visible, clear_row=False, quiet_zone=(1.0,) * len(CLASSES),
                     line_view=False)

    partial = seen & (m.seen != ALL_SEEN)
    visible = list(base.min_visible)
    for k in range(len(CLASSES)):
        sel = partial & (cls == k)
        if not sel.any() or k == CLASS_CODE["linear"]:
            continue
        scores = np.array([(_decodable(m, replace(fitted, min_visible=_with(visible, k, v)))[sel] == dec[sel]).sum()
                           for v in V_GRID])
        visible[k] = float(V_GRID[np.flatnonzero(scores == scores.max())[-1]])
    fitted = replace(fitted, min_visible=tuple(visible))
    lin = partial & (cls == CLASS_CODE["linear"])
    if lin.any():
        agree = [(_decodable(m, replace(fitted, clear_row=row))[lin] == dec[lin]).sum() for row in (False, True)]
        fitted = replace(fitted, clear_row=bool(agree[1] > agree[0]))

    out = m.front & ~seen  # partly out of view (or their quiet zone is)
    shares = list(fitted.quiet_zone)

    def best_share(profile: DecoderProfile, k: int, sel: np.ndarray) -> tuple[int, float]:
        scores = np.array([(_decodable(m, replace(profile, quiet_zone=_with(shares, k, q)))[sel] == dec[sel]).sum()
                           for q in Q_GRID])
        return int(scores.max()), float(Q_GRID[np.flatnonzero(scores == scores.max())[-1]])

    for k in range(len(CLASSES)):
        sel = out & (cls == k)
        if not sel.any():
            continue
        if k == CLASS_CODE["linear"]:  # line_view with its own best share, on only if it agrees with more cases
            (n_off, q_off), (n_on, q_on) = (best_share(replace(fitted, line_view=v), k, sel) for v in (False, True))
            fitted = replace(fitted, line_view=n_on > n_off)
            shares[k] = q_on if n_on > n_off else q_off
        else:
            shares[k] = best_share(fitted, k, sel)[1]
    return replace(fitted, quiet_zone=tuple(shares))


def _with(values: tuple[float, ...] | list[float], k: int, v: float) -> tuple[float, ...]:
    out = list(values)
    out[k] = float(v)
    return tuple(out)


def fit_profile(cases: list[Case]) -> Fit:
    """Fit the profile (T and B per class, threshold factors, scan-line, occlusion and field-of-view traits) on all
    cases; cross-check by fitting on the even-indexed half and scoring the odd half."""
    usable = [c for c in cases if c.front]
    even = [c for c in usable if c.index % 2 == 0]
    odd = [c for c in cases if c.index % 2 == 1]
    half = _fit_once(even) if even else None
    test = agreement(odd, half).rate if half is not None and odd else None
    full = _fit_once(usable) if usable else ZXING_PROFILE
    method = ("per class: grid search (T 0.5..5 step 0.05, B 0.5..3 step 0.05) maximising the number of cases where "
              "the model agrees with zxing-cpp, on cases seen whole (for each B the centre of the best T plateau, "
              "then the centre of the best B plateau; for 1-D and PDF417 first scan_cover 0..0.8 step 0.05, the "
              "plateau centre); then the decoder's tilt limit (30..90 degrees, plateau centre) and T, B and "
              "scan_cover once more under it; the 1-D class on Code 128 and EAN/UPC, then a factor on T for each of "
              f"{', '.join(FIT_SCALED)} (0.4..2.5 step 0.05, plateau centre, T and B fixed); scan-line trait on/off "
              "by total agreement; then, with T and B fixed, on partly hidden cases: min_visible per 2-D class "
              "(1/9..9/9, the strictest of the best) and clear_row for 1-D (only if it agrees more); then on cases "
              "partly out of view: line_view for 1-D (only if it agrees more) and quiet_zone per class (0..1 step "
              "0.05, the strictest of the best); back-facing cases do not depend on the profile and are left out")
    return Fit(full, agreement(cases, full).rate, test, method)


# --------------------------------------------------------------------------------------------- reporting


def format_report(cases: list[Case], ag: Agreement, title: str) -> str:
    """Plain-text tables: totals, confusion matrix, by deciding factor, by design, by class."""
    lines = [title, f"cases {ag.n}, agreement {ag.agree}/{ag.n} = {100 * ag.rate:.1f} %", "",
             "confusion (rows: model, columns: zxing-cpp)",
             "                     decoded   not decoded",
             f"  decodable         {ag.confusion['tp']:7d}   {ag.confusion['fp']:11d}",
             f"  not decodable     {ag.confusion['fn']:7d}   {ag.confusion['tn']:11d}", ""]

    def table(name: str, rows: dict[str, dict[str, int]]) -> None:
        lines.append(f"{name:<12} {'n':>5} {'agree %':>8} {'model+ dec-':>11} {'model- dec+':>11} {'bias':>7}")
        for key, r in rows.items():
            bias = (r["fp"] - r["fn"]) / r["n"] if r["n"] else 0.0
            lines.append(f"{key:<12} {r['n']:5d} {100 * r['agree'] / max(r['n'], 1):8.1f} {r['fp']:11d} "
                         f"{r['fn']:11d} {100 * bias:+6.1f}%")
        lines.append("")

    table("factor", ag.by_factor)
    table("design", ag.by_design)
    table("class", ag.by_class)
    table("margin", ag.by_margin)
    lines.append("factor: the model's limiting factor (for decodable cases, the one nearest its limit); "
                 "bias = (model+ dec- minus model- dec+) / n; margin: near = min(combined, angle margin) in "
                 f"({NEAR_LIMIT[0]}, {NEAR_LIMIT[1]})")
    return "\n".join(lines)


