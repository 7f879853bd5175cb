"""Photobiological hazard values of lights at people's eyes and what IEC 62471:2006 makes of them.

The eye looks straight into each light (the worst case the standard assumes). For a light of radiant intensity
I_e(theta) (W/sr, its axis value times its pattern) with projected emitting area A (m^2) at distance d:

    irradiance at the eye   E = I_e / (d^2 + A / pi)      (exact on the axis of a Lambertian disk, -> I_e / d^2)
    radiance of the source  L = I_e / A                    (uniform over the emitter, as UsdLux defines)
    angular subtense        alpha = 2 atan(sqrt(A / pi) / d)   (full angle of the equal-area disk)

Weighted with the light's spectrum S: E_B = E int B S / int S, L_B, L_R (R over 380-1400 nm), L_IR (R over
780-1400 nm), E_IR (780-3000 nm). The radiance a retina gets is averaged over the standard's field of view gamma:
L_gamma = L min(1, (alpha / gamma)^2) (a uniform circular source centred in the field). Limits, fields of view
and risk-group bounds: ``swb.safety.tables``. A strobe is assessed on its time-averaged emission (peak times duty
cycle) and each pulse against the short-time limits; one that exceeds them is RG3 (IEC 62471:2006, 6.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.model import LightModel
from ..engine.spectra import Spectrum
from ..errors import SwbError
from . import tables as tb

INF = math.inf


@dataclass(frozen=True)
class Emitter:
    """What the hazards need of one light: its radiant intensity on the axis while on (W/sr), time-average factor,
    emitting area, and the spectral shares (weighted watts per watt) of each hazard."""

    light: LightModel
    radiant: float  # W/sr on the axis while on
    duty: float  # 1 for a continuous light
    area: float  # m^2 facing along the axis
    efficacy: float  # lm/W
    k_blue: float  # int B S / int S
    k_burn: float  # int R S / int S, 380-1400 nm
    k_burn_ir: float  # int R S / int S, 780-1400 nm
    k_ir: float  # int S (780-3000 nm) / int S
    uv_share: float  # power below 380 nm (not assessed)

    @property
    def path(self) -> str:
        return self.light.path


def emitter(light: LightModel, source: str | None = None) -> Emitter:
    """The hazard constants of a light; SwbError naming the prim and attribute when its spectrum or its radiant
    output is unknown."""
    spec = light.spectrum
    if not isinstance(spec, Spectrum):
        raise SwbError("the light's spectrum is unknown, so its photobiological hazard cannot be assessed",
                       file=source, prim=light.path, attribute="swb:light:spectrum",
                       hint="author swb:light:spectrum (d65, blackbody, led, monochromatic, tabulated) - a "
                            "coloured UsdLux light has no defined spectrum")
    if light.area <= 0.0:
        raise SwbError("the light's emitting area is unknown (zero)", file=source, prim=light.path,
                       attribute="swb:light:emittingArea", hint="author swb:light:emittingArea (scene units^2)")
    efficacy = spec.efficacy()
    radiant = light.radiant if light.radiant > 0.0 else (light.intensity / efficacy if efficacy > 0 else 0.0)
    if radiant <= 0.0 and light.intensity > 0.0:
        raise SwbError("the light emits no visible light, so its candela say nothing of its radiant power",
                       file=source, prim=light.path, attribute="swb:light:radiantIntensity",
                       hint="author swb:light:radiantIntensity (W/sr on the axis) for an infrared source")
    return Emitter(
        light=light, radiant=radiant, duty=light.duty_cycle if light.pulsed else 1.0, area=light.area,
        efficacy=efficacy, k_blue=spec.share(tb.B_LAMBDA), k_burn=spec.share(tb.R_LAMBDA),
        k_burn_ir=spec.share(tb.R_LAMBDA, tb.IR_RETINAL_BAND), k_ir=spec.share(None, tb.IR_BAND),
        uv_share=spec.share(None, (0.0, 379.999)),
    )


@dataclass
class EyeValues:
    """Hazard quantities at eye positions from one light (arrays of one shape), while the light is on."""

    E_B: np.ndarray  # W/m^2, blue-light weighted irradiance
    L_B: np.ndarray  # W/(m^2 sr), blue-light weighted radiance (not averaged)
    L_R: np.ndarray  # burn-weighted radiance, 380-1400 nm
    L_IR: np.ndarray  # burn-weighted radiance, 780-1400 nm
    E_IR: np.ndarray  # W/m^2, 780-3000 nm
    alpha: np.ndarray  # rad
    L_v: np.ndarray  # cd/m^2, luminance

    def scaled(self, factor: float) -> EyeValues:
        """The time average of a strobe (factor = duty cycle); alpha stays."""
        return EyeValues(self.E_B * factor, self.L_B * factor, self.L_R * factor, self.L_IR * factor,
                         self.E_IR * factor, self.alpha, self.L_v * factor)


def eye_values(em: Emitter, distance: np.ndarray, cos_off: np.ndarray, visible: np.ndarray | bool = True
               ) -> EyeValues:
    """The light's hazard quantities at eyes ``distance`` metres away, ``cos_off`` the cosine of their direction
    off its axis; zero where ``visible`` is False (shadowed)."""
    light = em.light
    d = np.maximum(np.asarray(distance, np.float64), 1e-9)
    c = np.clip(np.asarray(cos_off, np.float64), -1.0, 1.0)
    shape = light.pattern(c)  # includes cos^planar
    facing = np.maximum(c, 0.0) if light.planar else np.ones_like(c)
    area = em.area * facing
    on = np.asarray(visible, bool) & (shape > 0.0) & (area > 0.0)
    intensity = em.radiant * shape
    with np.errstate(divide="ignore", invalid="ignore"):
        irradiance = np.where(on, intensity / (d**2 + area / math.pi), 0.0)
        radiance = np.where(on, intensity / np.where(area > 0, area, 1.0), 0.0)
    alpha = np.where(on, 2.0 * np.arctan(np.sqrt(area / math.pi) / d), 0.0)
    return EyeValues(E_B=irradiance * em.k_blue, L_B=radiance * em.k_blue, L_R=radiance * em.k_burn,
                     L_IR=radiance * em.k_burn_ir, E_IR=irradiance * em.k_ir, alpha=alpha,
                     L_v=radiance * em.efficacy)


def averaged(radiance: np.ndarray, alpha: np.ndarray, gamma: np.ndarray | float) -> np.ndarray:
    """Radiance averaged over a circular field of view gamma (rad): L min(1, (alpha / gamma)^2)."""
    return np.asarray(radiance) * np.minimum(1.0, (np.asarray(alpha) / gamma) ** 2)


def _thermal_alpha(alpha: np.ndarray, low: float = tb.ALPHA_MIN) -> np.ndarray:
    return np.clip(alpha, low, tb.ALPHA_MAX)


# ------------------------------------------------------------------------------ allowed exposure times


def blue_time(v: EyeValues) -> np.ndarray:
    """Longest exposure (s) within the blue-light limits (4.3.3 large sources, with the field of view growing with
    t; 4.3.4 below 11 mrad); inf when the long-term limit holds."""
    small = v.alpha < tb.SMALL_SOURCE
    with np.errstate(divide="ignore"):
        t_small = np.where(v.E_B > tb.BLUE_SMALL_RATE, tb.BLUE_SMALL_DOSE / v.E_B, INF)
    long_ok = averaged(v.L_B, v.alpha, 0.1) <= tb.BLUE_RATE

    def dose(t: np.ndarray) -> np.ndarray:  # L_gamma(t) t: non-decreasing in t
        return averaged(v.L_B, v.alpha, tb.blue_field_of_view(t)) * t

    lo = np.full(v.L_B.shape, 1e-6)
    hi = np.full(v.L_B.shape, 1e4)
    for _ in range(60):  # bisection in log t: the largest t with dose(t) <= 10^6
        mid = np.sqrt(lo * hi)
        ok = dose(mid) <= tb.BLUE_DOSE
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    t_large = np.where(long_ok, INF, np.where(dose(np.full_like(lo, 1e4)) <= tb.BLUE_DOSE, 1e4, lo))
    return np.where(small, t_small, t_large)


def thermal_time(v: EyeValues) -> np.ndarray:
    """Longest exposure within the retinal thermal limit L_R <= 50000 / (alpha t^0.25) (4.3.5), radiance averaged
    over 11 mrad (1.7 mrad below 0.25 s); inf when it holds at 10 s, the limit's longest duration."""
    a = _thermal_alpha(v.alpha)
    with np.errstate(divide="ignore"):
        t_wide = (tb.THERMAL_K / (a * averaged(v.L_R, v.alpha, 0.011))) ** 4
        t_narrow = (tb.THERMAL_K / (a * averaged(v.L_R, v.alpha, tb.ALPHA_MIN))) ** 4
    t = np.where(t_wide >= 0.25, t_wide, np.minimum(t_narrow, 0.25))
    return np.where(t >= tb.THERMAL_TMAX, INF, t)


def weak_stimulus_time(v: EyeValues) -> np.ndarray:
    """For a weak visual stimulus (luminance < 10 cd/m^2, an infrared source): L_IR <= 6000 / alpha beyond 10 s
    (4.3.6), the 4.3.5 limit on L_IR up to 10 s; inf for visible sources (their thermal hazard is 4.3.5's)."""
    weak = v.L_v < tb.WEAK_STIMULUS_LUMINANCE
    a = _thermal_alpha(v.alpha, tb.WEAK_STIMULUS_ALPHA_MIN)
    l_ir = averaged(v.L_IR, v.alpha, 0.011)
    ok = l_ir <= tb.WEAK_STIMULUS_K / a
    with np.errstate(divide="ignore"):
        short = np.minimum(tb.THERMAL_TMAX, (tb.THERMAL_K / (_thermal_alpha(v.alpha) * l_ir)) ** 4)
    return np.where(weak & ~ok, short, INF)


def ir_eye_time(e_ir: np.ndarray) -> np.ndarray:
    """Longest exposure within E_IR <= 18000 t^-0.75 (4.3.7); inf when E_IR <= 100 W/m^2."""
    with np.errstate(divide="ignore"):
        t = (tb.IR_EYE_K / np.asarray(e_ir)) ** (4.0 / 3.0)
    return np.where(np.asarray(e_ir) <= tb.IR_EYE_RATE, INF, np.minimum(t, tb.IR_EYE_TMAX))


def pulse_ok(v: EyeValues, pulse: float) -> np.ndarray:
    """Each pulse of a strobe within the short-time limits at its duration (4.3.3, 4.3.5, 4.3.7), durations below
    10 us counted as 10 us."""
    t = max(pulse, 1e-5)
    a = _thermal_alpha(v.alpha)
    return ((v.L_B * t <= tb.BLUE_DOSE)
            & (averaged(v.L_R, v.alpha, tb.ALPHA_MIN) <= tb.THERMAL_K / (a * t**0.25))
            & (v.E_IR <= tb.IR_EYE_K * t**-0.75))


# ----------------------------------------------------------------------------------------- risk groups


def group_of(hazard: str, value_by_group) -> np.ndarray:  # noqa: ANN001
    """0..3 (exempt..RG3): the first group whose Table 6.1 limit ``value_by_group(g)`` is within."""
    limits = tb.TABLE_6_1[hazard]["limits"]
    out = np.full(np.shape(value_by_group(0)), 3, np.int64)
    for g in (2, 1, 0):
        out = np.where(value_by_group(g) <= limits[g], g, out)
    return out


def risk_groups(v: EyeValues) -> dict[str, np.ndarray]:
    """Risk group (0 exempt .. 3 RG3) per hazard under IEC 62471:2006 Table 6.1, from (time-averaged) values."""
    fov = {h: tb.TABLE_6_1[h]["fov"] for h in ("blue", "thermal", "thermal_weak")}
    small = v.alpha < tb.SMALL_SOURCE
    blue_large = group_of("blue", lambda g: averaged(v.L_B, v.alpha, fov["blue"][g]))
    blue_small = group_of("blue_small", lambda g: v.E_B)
    a = _thermal_alpha(v.alpha)
    thermal = group_of("thermal", lambda g: averaged(v.L_R, v.alpha, fov["thermal"][g]) * a)
    a_weak = _thermal_alpha(v.alpha, tb.WEAK_STIMULUS_ALPHA_MIN)
    weak = group_of("thermal_weak", lambda g: averaged(v.L_IR, v.alpha, fov["thermal_weak"][g]) * a_weak)
    weak = np.where(v.L_v < tb.WEAK_STIMULUS_LUMINANCE, weak, 0)
    return {"blue": np.where(small, blue_small, blue_large), "thermal": thermal, "thermal_weak": weak,
            "ir_eye": group_of("ir_eye", lambda g: v.E_IR)}


@dataclass
class Assessment:
    """One light (or the sum at one eye position) judged: values, risk group per hazard, allowed times."""

    values: EyeValues  # time-averaged
    groups: dict[str, np.ndarray]
    times: dict[str, np.ndarray]  # seconds, inf: no limit
    pulses_ok: np.ndarray

    @property
    def group(self) -> np.ndarray:
        g = np.max(np.stack(list(self.groups.values())), axis=0)
        return np.where(self.pulses_ok, g, 3)

    @property
    def allowed_time(self) -> np.ndarray:
        t = np.min(np.stack(list(self.times.values())), axis=0)
        return np.where(self.pulses_ok, t, 0.0)


def assess(peak: EyeValues, duty: float = 1.0, pulse: float = 0.0) -> Assessment:
    """Risk groups and allowed exposure times of the values one light gives while on (a strobe: on its time
    average, each pulse checked against the short-time limits)."""
    avg = peak.scaled(duty) if duty < 1.0 else peak
    ok = pulse_ok(peak, pulse) if duty < 1.0 else np.ones(np.shape(peak.L_B), bool)
    times = {"blue": blue_time(avg), "thermal": thermal_time(avg), "thermal_weak": weak_stimulus_time(avg),
             "ir_eye": ir_eye_time(avg.E_IR)}
    return Assessment(avg, risk_groups(avg), times, ok)


def combine(parts: list[Assessment]) -> Assessment:
    """Several lights at the same eye positions: irradiance hazards add (E_IR, and E_B for small sources), each
    radiance hazard is that of the worst light (each images on its own patch of retina)."""
    if len(parts) == 1:
        return parts[0]
    groups = {h: np.max(np.stack([p.groups[h] for p in parts]), axis=0) for h in ("blue", "thermal", "thermal_weak")}
    times = {h: np.min(np.stack([p.times[h] for p in parts]), axis=0) for h in ("blue", "thermal", "thermal_weak")}
    e_ir = np.sum(np.stack([p.values.E_IR for p in parts]), axis=0)
    e_b = np.sum(np.stack([np.where(p.values.alpha < tb.SMALL_SOURCE, p.values.E_B, 0.0) for p in parts]), axis=0)
    groups["ir_eye"] = group_of("ir_eye", lambda g: e_ir)
    times["ir_eye"] = ir_eye_time(e_ir)
    any_small = np.any(np.stack([p.values.alpha < tb.SMALL_SOURCE for p in parts]), axis=0)
    small_group = group_of("blue_small", lambda g: e_b)
    groups["blue"] = np.where(any_small, np.maximum(groups["blue"], small_group), groups["blue"])
    with np.errstate(divide="ignore"):
        t_small = np.where(e_b > tb.BLUE_SMALL_RATE, tb.BLUE_SMALL_DOSE / e_b, INF)
    times["blue"] = np.minimum(times["blue"], t_small)
    worst = int(np.argmax([np.max(p.values.L_B, initial=0.0) for p in parts]))
    values = EyeValues(E_B=e_b, L_B=np.max(np.stack([p.values.L_B for p in parts]), axis=0),
                       L_R=np.max(np.stack([p.values.L_R for p in parts]), axis=0),
                       L_IR=np.max(np.stack([p.values.L_IR for p in parts]), axis=0), E_IR=e_ir,
                       alpha=parts[worst].values.alpha, L_v=np.max(np.stack([p.values.L_v for p in parts]), axis=0))
    ok = np.all(np.stack([p.pulses_ok for p in parts]), axis=0)
    return Assessment(values, groups, times, ok)


def classify(em: Emitter) -> Assessment:
    """The light's risk group (IEC 62471:2006, 6.1): its emission on its axis at the assessment distance, 200 mm
    from the source."""
    peak = eye_values(em, np.array([tb.ASSESSMENT_DISTANCE]), np.array([1.0]))
    return assess(peak, em.duty, em.light.pulse_width)
