"""The read-probability link fitted to the decoder, and how well it is calibrated (docs/validation.md).

A yes/no per pair cannot match a real decoder near the limit: there the outcome depends on the exact image. So the
model gives each pair ``p_read``, the probability that one frame decodes, from its decisive margin M (the smallest
of the combined, angle, glare and exposure margins) through a logistic link in ln M per threshold class
(``swb.engine.profiles.read_probability``). ``fit_read_link`` fits that link on study cases (cross-validated by
study: each study's cases are predicted by a link fitted on the others); ``calibration`` reports what a user
needs to trust it: predicted vs observed read rates in bins, the expected calibration error, agreement far from
the limit and the share of "decodable" pairs that fail.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..engine.profiles import CLASS_CODE, FACTOR_CODE, READ_ANCHOR, DecoderProfile, read_floor, read_probability
from ..engine.verdict import DecoderTerms, verdict
from .fitting import case_metrics
from .study import Case

CLASSES: tuple[str, ...] = tuple(CLASS_CODE)
LN_CLIP = 2.5  # ln M beyond +-2.5 (M outside 0.08..12) carries no information about the transition
MIN_SLOPE = 1.0  # the link must rise with margin; a class with too few cases near its limit gets at least this
FAR = 0.25  # |ln(M / limit)| above this: a pair "far from the limit"
N_BINS = 10
HIGH_TILT = 60.0  # degrees: the per-symbology table also shows the cases tilted this much or more
_GATES = (FACTOR_CODE["fov"], FACTOR_CODE["backfacing"], FACTOR_CODE["occluded"])


@dataclass(frozen=True)
class CaseMargins:
    """Per case: the decisive margin, whether the gates pass (in view, facing, readable despite occlusion),
    the threshold class and the decode outcome."""

    margin: np.ndarray
    gated: np.ndarray  # True: fails a gate (p_read 0 whatever the margin)
    cls: np.ndarray
    decoded: np.ndarray


def case_margins(cases: list[Case], profile: DecoderProfile) -> CaseMargins:
    """The decisive margin of every case under ``profile`` (from the stored metrics; studies have no lights)."""
    m = case_metrics(cases)
    v = verdict(m, DecoderTerms.of(profile, m.sym))
    return CaseMargins(np.minimum(v.combined, v.angle), np.isin(v.deciding, _GATES), np.asarray(m.cls),
                       np.array([c.decoded for c in cases], bool))


def _logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> tuple[float, float]:
    """Maximum-likelihood (a, b) of P(y) = 1 / (1 + exp(-(a + b x))) by Newton's method (a tiny ridge keeps a
    class whose cases all read, or all fail, finite)."""
    a, b = 0.0, 1.0
    X = np.stack([np.ones_like(x), x], axis=1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a + b * x)))
        w = p * (1.0 - p)
        grad = X.T @ (y - p) - ridge * np.array([0.0, b])
        hess = (X * w[:, None]).T @ X + ridge * np.diag([1e-9, 1.0])
        step = np.linalg.solve(hess, grad)
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def fit_link(cm: CaseMargins, base: DecoderProfile) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per class (m90, slope) of the logistic link in ln M, fitted on the cases that pass the gates; a class
    without cases keeps ``base``'s link."""
    m90, slopes = list(base.read_m90), list(base.read_slope)
    ok = ~cm.gated & (cm.margin > 0) & np.isfinite(cm.margin)
    anchor = math.log(READ_ANCHOR / (1.0 - READ_ANCHOR))
    for k in range(len(CLASSES)):
        sel = ok & (cm.cls == k)
        if sel.sum() < 10 or cm.decoded[sel].all() or not cm.decoded[sel].any():
            continue
        x = np.clip(np.log(cm.margin[sel]), -LN_CLIP, LN_CLIP)
        a, b = _logistic(x, cm.decoded[sel].astype(np.float64))
        b = max(b, MIN_SLOPE)
        slopes[k] = round(b, 3)
        m90[k] = round(math.exp((anchor - a) / b), 4)
    return tuple(m90), tuple(slopes)


def predict(cm: CaseMargins, profile: DecoderProfile) -> np.ndarray:
    """p_read of every case under ``profile``'s link (0 where a gate fails)."""
    m90 = np.asarray(profile.read_m90)[cm.cls]
    slope = np.asarray(profile.read_slope)[cm.cls]
    return np.where(cm.gated, 0.0, read_probability(cm.margin, m90, slope))


@dataclass(frozen=True)
class LinkFit:
    """The fitted link and its cross-validated calibration."""

    profile: DecoderProfile
    held_out_p: np.ndarray  # each case's p_read from a link fitted without its study
    folds: int


def fit_read_link(cases: list[Case], profile: DecoderProfile, groups: np.ndarray) -> LinkFit:
    """Fit ``profile``'s read link on all cases; with several studies (``groups``: one id per case, e.g. the
    study seed), predict each study's cases with a link fitted on the others (leave one study out)."""
    cm = case_margins(cases, profile)
    m90, slope = fit_link(cm, profile)
    fitted = replace(profile, read_m90=m90, read_slope=slope)
    groups = np.asarray(groups)
    ids = np.unique(groups)
    held = np.empty(len(cases))
    if len(ids) < 2:
        held[:] = predict(cm, fitted)
    for g in ids if len(ids) >= 2 else ():
        out = groups == g
        train = CaseMargins(cm.margin[~out], cm.gated[~out], cm.cls[~out], cm.decoded[~out])
        m, s = fit_link(train, profile)
        test = CaseMargins(cm.margin[out], cm.gated[out], cm.cls[out], cm.decoded[out])
        held[out] = predict(test, replace(profile, read_m90=m, read_slope=s))
    return LinkFit(fitted, held, int(len(ids)) if len(ids) >= 2 else 0)


@dataclass(frozen=True)
class Calibration:
    """Predicted p_read against the decoder: bins, expected calibration error and the verdict's errors."""

    n: int
    bins: list[dict]  # lo, hi, n, predicted (mean p_read), observed (read share)
    ece: float  # sum over bins of n_bin / n * |predicted - observed|
    far_n: int
    far_agreement: float  # (p_read >= 0.5) vs decoded where |ln(M / m50)| > FAR or a gate fails
    verdict_far_n: int
    verdict_far_agreement: float  # decodable vs decoded where |ln(M / floor)| > FAR or a gate fails
    decodable_n: int
    false_decodable: float  # of the pairs called decodable, the share the decoder failed
    by_class: dict[str, dict]
    # per symbology, with the cases tilted by HIGH_TILT or more apart: where decoders of one class could differ
    by_symbology: dict[str, dict] = field(default_factory=dict)
    # What far_agreement can reach: the agreement a decoder that reads each far case with exactly its p_read is
    # expected to show (mean of max(p, 1 - p)); a calibrated link cannot beat it, however good the model.
    far_expected: float = 1.0
    far_gated_read: int = 0  # far cases failing a gate (p_read 0) that the decoder read: the safe side's misses

    def to_json(self) -> dict:
        return asdict(self)


def calibration(cases: list[Case], profile: DecoderProfile, p_read: np.ndarray | None = None,
                min_read: float = READ_ANCHOR) -> Calibration:
    """How well ``p_read`` (default: ``profile``'s own prediction) matches the decode outcomes, and the errors
    of the verdict decodable = p_read >= ``min_read``."""
    cm = case_margins(cases, profile)
    p = predict(cm, profile) if p_read is None else np.asarray(p_read, np.float64)
    dec = cm.decoded
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, N_BINS - 1)
    bins, ece = [], 0.0
    for b in range(N_BINS):
        sel = which == b
        n = int(sel.sum())
        pred = float(p[sel].mean()) if n else float("nan")
        obs = float(dec[sel].mean()) if n else float("nan")
        if n:
            ece += n / len(p) * abs(pred - obs)
        bins.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": n, "predicted": pred, "observed": obs})
    m90 = np.asarray(profile.read_m90)[cm.cls]
    slope = np.asarray(profile.read_slope)[cm.cls]
    floor = read_floor(m90, slope, min_read)
    m50 = read_floor(m90, slope, 0.5)  # the decoder's own limit: half the frames read
    called = p >= min_read
    likely = p >= 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        far = cm.gated | (np.abs(np.log(cm.margin / m50)) > FAR)
        verdict_far = cm.gated | (np.abs(np.log(cm.margin / floor)) > FAR)
    by_class = {}
    for k, name in enumerate(CLASSES):
        sel = cm.cls == k
        if sel.any():
            by_class[name] = {"n": int(sel.sum()), "predicted": float(p[sel].mean()),
                              "observed": float(dec[sel].mean()), "decodable": int((called & sel).sum()),
                              "false_decodable": int((called & sel & ~dec).sum())}
    sym = np.array([c.symbology for c in cases])
    tilted = np.array([c.tilt_deg for c in cases], np.float64) >= HIGH_TILT
    by_symbology = {}
    for name in sorted(set(sym.tolist())):
        sel = sym == name
        steep = sel & tilted
        by_symbology[name] = {"n": int(sel.sum()), "predicted": float(p[sel].mean()),
                              "observed": float(dec[sel].mean()), "decodable": int((called & sel).sum()),
                              "false_decodable": int((called & sel & ~dec).sum()), "tilted_n": int(steep.sum()),
                              "tilted_predicted": float(p[steep].mean()) if steep.any() else None,
                              "tilted_observed": float(dec[steep].mean()) if steep.any() else None}
    return Calibration(
        n=len(p), bins=bins, ece=float(ece), far_n=int(far.sum()),
        far_agreement=float((likely[far] == dec[far]).mean()) if far.any() else 1.0,
        far_expected=float(np.maximum(p, 1.0 - p)[far].mean()) if far.any() else 1.0,
        far_gated_read=int((far & cm.gated & dec).sum()),
        verdict_far_n=int(verdict_far.sum()),
        verdict_far_agreement=float((called[verdict_far] == dec[verdict_far]).mean()) if verdict_far.any() else 1.0,
        decodable_n=int(called.sum()),
        false_decodable=float((called & ~dec).sum() / called.sum()) if called.any() else 0.0,
        by_class=by_class, by_symbology=by_symbology)


def format_calibration(c: Calibration, title: str) -> str:
    """Plain-text calibration table and the figures the targets are stated in."""
    lines = [title, f"{'p_read bin':<12} {'n':>5} {'predicted':>10} {'observed':>9}"]
    for b in c.bins:
        if b["n"]:
            lines.append(f"{b['lo']:.1f}-{b['hi']:.1f}     {b['n']:5d} {100 * b['predicted']:9.1f}% "
                         f"{100 * b['observed']:8.1f}%")
    lines += [f"expected calibration error {100 * c.ece:.1f} %",
              f"far from the decoder's limit (|ln(M / m50)| > {FAR} or a gate fails): {c.far_n} cases, "
              f"p_read >= 0.5 agrees with the decoder on {100 * c.far_agreement:.1f} % ({c.far_gated_read} misses "
              f"are pairs failing a gate that read; a decoder reading with exactly these p_read would agree on "
              f"{100 * c.far_expected:.1f} %)",
              f"far from the decodable floor (|ln(M / floor)| > {FAR} or a gate fails): {c.verdict_far_n} cases, "
              f"decodable agrees on {100 * c.verdict_far_agreement:.1f} %",
              f"called decodable (p_read >= min): {c.decodable_n}, of them failed: {100 * c.false_decodable:.1f} %",
              f"{'class':<12} {'n':>5} {'predicted':>10} {'observed':>9} {'decodable':>10} {'failed':>7}"]
    for name, r in c.by_class.items():
        lines.append(f"{name:<12} {r['n']:5d} {100 * r['predicted']:9.1f}% {100 * r['observed']:8.1f}% "
                     f"{r['decodable']:10d} {r['false_decodable']:7d}")
    lines.append(f"{'symbology':<12} {'n':>5} {'predicted':>10} {'observed':>9} {'decodable':>10} {'failed':>7}"
                 f"   tilt >= {HIGH_TILT:.0f} deg: {'n':>4} {'predicted':>10} {'observed':>9}")
    for name, r in c.by_symbology.items():
        steep = (f"{r['tilted_n']:4d} {100 * r['tilted_predicted']:9.1f}% {100 * r['tilted_observed']:8.1f}%"
                 if r["tilted_n"] else f"{0:4d} {'-':>10} {'-':>9}")
        lines.append(f"{name:<12} {r['n']:5d} {100 * r['predicted']:9.1f}% {100 * r['observed']:8.1f}% "
                     f"{r['decodable']:10d} {r['false_decodable']:7d}   {'':>18}{steep}")
    return "\n".join(lines)
