"""The numbers of the standards SWB classifies by, each with its source (docs/lighting.md lists them again).

IEC 62471:2006 (identical to CIE S 009:2002), "Photobiological safety of lamps and lamp systems":
- Table 4.2: the blue-light hazard function B(lambda) (300-700 nm) and the burn (retinal thermal) hazard
  function R(lambda) (380-1400 nm); B is 10^((450 - lambda) / 50) from 500 to 600 nm and 0.001 from 600 to 700,
  R is 10^((700 - lambda) / 500) from 700 to 1050 nm, 0.2 to 1150, 0.2 * 10^(0.02 (1150 - lambda)) to 1200 and
  0.02 to 1400.
- Clause 4.3: the exposure limits (4.3.3 blue light, 4.3.4 blue light small source, 4.3.5 retinal thermal,
  4.3.6 retinal thermal for a weak visual stimulus, 4.3.7 infrared radiation for the eye) and 4.2.2 the
  measurement fields of view.
- Table 6.1: the emission limits of the risk groups of continuous-wave lamps; clause 6.1 the assessment distance
  (200 mm for lamps other than general lighting service lamps).
"""

from __future__ import annotations

import numpy as np

# --- IEC 62471:2006 Table 4.2 -------------------------------------------------------------------------------
_B_TABLE = {
    **{lam: 0.01 for lam in range(300, 385, 5)},
    385: 0.013, 390: 0.025, 395: 0.05, 400: 0.10, 405: 0.20, 410: 0.40, 415: 0.80, 420: 0.90, 425: 0.95,
    430: 0.98, 435: 1.00, 440: 1.00, 445: 0.97, 450: 0.94, 455: 0.90, 460: 0.80, 465: 0.70, 470: 0.62,
    475: 0.55, 480: 0.45, 485: 0.40, 490: 0.22, 495: 0.16, 500: 0.10,
}
_R_TABLE = {
    380: 0.1, 385: 0.13, 390: 0.25, 395: 0.5, 400: 1.0, 405: 2.0, 410: 4.0, 415: 8.0, 420: 9.0, 425: 9.5,
    430: 9.8, 435: 10.0, 440: 10.0, 445: 9.7, 450: 9.4, 455: 9.0, 460: 8.0, 465: 7.0, 470: 6.2, 475: 5.5,
    480: 4.5, 485: 4.0, 490: 2.2, 495: 1.6, 500: 1.0,
}


def blue_light_hazard(lam: np.ndarray) -> np.ndarray:
    """B(lambda), IEC 62471:2006 Table 4.2: tabulated 300-495 nm, 10^((450 - lambda) / 50) for 500-600 nm,
    0.001 for 600-700 nm, 0 outside 300-700 nm."""
    lam = np.asarray(lam, np.float64)
    keys = np.array(sorted(_B_TABLE), np.float64)
    table = np.interp(lam, keys, [_B_TABLE[int(k)] for k in keys])
    out = np.where(lam < 500.0, table, np.where(lam <= 600.0, 10.0 ** ((450.0 - lam) / 50.0), 0.001))
    return np.where((lam >= 300.0) & (lam <= 700.0), out, 0.0)


def burn_hazard(lam: np.ndarray) -> np.ndarray:
    """R(lambda), IEC 62471:2006 Table 4.2: tabulated 380-495 nm, 1 for 500-700, 10^((700 - lambda) / 500) for
    700-1050, 0.2 for 1050-1150, 0.2 * 10^(0.02 (1150 - lambda)) for 1150-1200, 0.02 for 1200-1400, 0 outside."""
    lam = np.asarray(lam, np.float64)
    keys = np.array(sorted(_R_TABLE), np.float64)
    table = np.interp(lam, keys, [_R_TABLE[int(k)] for k in keys])
    out = np.select(
        [lam < 500.0, lam <= 700.0, lam <= 1050.0, lam <= 1150.0, lam <= 1200.0],
        [table, 1.0, 10.0 ** ((700.0 - lam) / 500.0), 0.2, 0.2 * 10.0 ** (0.02 * (1150.0 - lam))],
        default=0.02,
    )
    return np.where((lam >= 380.0) & (lam <= 1400.0), out, 0.0)


def _sampled(fn, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    lam = np.arange(lo, hi + 0.25, 0.5)
    return lam, fn(lam)


B_LAMBDA = _sampled(blue_light_hazard, 300.0, 700.0)  # 0.5 nm samples for Spectrum.weighted
R_LAMBDA = _sampled(burn_hazard, 380.0, 1400.0)

# --- IEC 62471:2006 clause 4.3 (exposure limits) and 4.2.2 (fields of view) --------------------------------
BLUE_DOSE = 1.0e6  # J m^-2 sr^-1: L_B t <= 10^6 for t <= 10^4 s (4.3.3)
BLUE_RATE = 100.0  # W m^-2 sr^-1: L_B <= 100 for t > 10^4 s (4.3.3)
BLUE_SMALL_DOSE = 100.0  # J m^-2: E_B t <= 100 for t <= 100 s (4.3.4)
BLUE_SMALL_RATE = 1.0  # W m^-2: E_B <= 1 for t > 100 s (4.3.4)
SMALL_SOURCE = 0.011  # rad: below this angular subtense the blue-light limit is on irradiance (4.3.4)
THERMAL_K = 5.0e4  # W m^-2 sr^-1 rad s^0.25: L_R <= 50000 / (alpha t^0.25), 10 us <= t <= 10 s (4.3.5)
THERMAL_TMAX = 10.0  # s: the retinal thermal limit's longest duration (4.3.5)
ALPHA_MIN = 0.0017  # rad: alpha in the thermal limits is at least this ... (4.3.5, 4.3.6)
ALPHA_MAX = 0.1  # rad: ... and at most this
WEAK_STIMULUS_K = 6000.0  # W m^-2 sr^-1 rad: L_IR <= 6000 / alpha for t > 10 s (4.3.6)
WEAK_STIMULUS_ALPHA_MIN = 0.011  # rad: alpha in 4.3.6 is at least this
WEAK_STIMULUS_LUMINANCE = 10.0  # cd/m^2: below this a source is a weak visual stimulus (4.3.6)
IR_EYE_K = 18000.0  # W m^-2 s^0.75: E_IR <= 18000 t^-0.75 for t <= 1000 s (4.3.7)
IR_EYE_RATE = 100.0  # W m^-2: E_IR <= 100 for t > 1000 s (4.3.7)
IR_EYE_TMAX = 1000.0  # s
IR_BAND = (780.0, 3000.0)  # nm: E_IR (4.3.7)
IR_RETINAL_BAND = (780.0, 1400.0)  # nm: L_IR (4.3.6)


def blue_field_of_view(t: np.ndarray) -> np.ndarray:
    """Averaging field of view gamma (rad) of the blue-light radiance for an exposure of t seconds (4.2.2):
    0.011 sqrt(t / 10) for 0.25-10 s, 0.011 for 10-100 s, 0.0011 sqrt(t) for 100-10^4 s, 0.1 beyond."""
    t = np.asarray(t, np.float64)
    return np.select([t <= 10.0, t <= 100.0, t <= 1.0e4], [0.011 * np.sqrt(np.maximum(t, 0.25) / 10.0), 0.011,
                                                            0.0011 * np.sqrt(t)], default=0.1)


# --- IEC 62471:2006 Table 6.1 (continuous-wave lamps) and clause 6.1 ------------------------------------------
RISK_GROUPS = ("exempt", "RG1", "RG2", "RG3")
ASSESSMENT_DISTANCE = 0.2  # m (clause 6.1, lamps other than general lighting service lamps)
# Per hazard: the limit of exempt, RG1, RG2 and the field of view (rad) its radiance is averaged over.
TABLE_6_1 = {
    "blue": {"limits": (100.0, 1.0e4, 4.0e6), "fov": (0.1, 0.011, 0.0017), "unit": "W/(m2 sr)"},
    "blue_small": {"limits": (1.0, 1.0, 400.0), "fov": None, "unit": "W/m2"},
    "thermal": {"limits": (28000.0, 28000.0, 71000.0), "fov": (0.011, 0.011, 0.0017), "unit": "W/(m2 sr) x alpha"},
    "thermal_weak": {"limits": (6000.0, 6000.0, 6000.0), "fov": (0.011, 0.011, 0.011), "unit": "W/(m2 sr) x alpha"},
    "ir_eye": {"limits": (100.0, 570.0, 3200.0), "fov": None, "unit": "W/m2"},
}
# The exposure durations Table 6.1's limits stand for (exempt, RG1, RG2), from the clause 4.3 limits.
GROUP_TIMES = {"blue": (1.0e4, 100.0, 0.25), "blue_small": (1.0e4, 100.0, 0.25), "thermal": (10.0, 10.0, 0.25),
               "thermal_weak": (1.0e3, 1.0e3, 1.0e3), "ir_eye": (1.0e3, 100.0, 10.0)}
