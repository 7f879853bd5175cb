"""Aimer lasers: their class under IEC 60825-1:2014 (edition 3) for small sources (C6 = 1), from the power
through the 7 mm aperture 100 mm from the aimer (the naked-eye measurement condition).

Accessible emission limits used (400-1050 nm, continuous or the time average of a pulsed aimer; a pulse also
against the single-pulse limit for its duration):
- Class 1, time base 100 s: retinal thermal 7e-4 C4 T2^-0.25 W with T2 = 10 s (3.9e-4 W in the visible), and
  for 400-600 nm the photochemical 3.9e-5 C3 W (C3 = 1 below 450 nm, 10^(0.02 (lambda - 450)) to 600 nm);
  C4 = 10^(0.002 (lambda - 700)) from 700 to 1050 nm (1 below). One pulse of t seconds: 7e-4 t^0.75 C4 J.
- Class 2 (400-700 nm only, t >= 0.25 s): 1e-3 W; a pulse shorter than 0.25 s: the Class 1 pulse limit.
- Class 3R: 5 times the Class 2 limit in the visible, 5 times the Class 1 limit outside it.
- Class 3B: 0.5 W; above: Class 4.
Not modelled: measurement condition 1 (telescopes; so no 1M / 2M), extended sources (C6 > 1), scanned beams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..engine.zones import AimerModel

CLASSES = ("1", "2", "3R", "3B", "4")
APERTURE = 7e-3  # m, measurement condition 3 (the naked eye) ...
APERTURE_DISTANCE = 0.1  # m ... at 100 mm from the aimer
T2 = 10.0  # s, for alpha <= alpha_min


def c3(lam: float) -> float:
    return 1.0 if lam < 450.0 else 10.0 ** (0.02 * (min(lam, 600.0) - 450.0))


def c4(lam: float) -> float:
    return 1.0 if lam < 700.0 else 10.0 ** (0.002 * (min(lam, 1050.0) - 700.0))


def class1_cw(lam: float) -> float:
    """Class 1 AEL in watts (time base 100 s)."""
    thermal = 7e-4 * c4(lam) * T2**-0.25
    return min(thermal, 3.9e-5 * c3(lam)) if lam <= 600.0 else thermal


def class1_pulse(lam: float, t: float) -> float:
    """Class 1 AEL for one pulse of t seconds, in joules (retinal thermal, 1.8e-5 s <= t <= 10 s)."""
    return 7e-4 * max(t, 1.8e-5) ** 0.75 * c4(lam)


def aperture_fraction(aimer: AimerModel, distance: float = APERTURE_DISTANCE, aperture: float = APERTURE) -> float:
    """Share of a Gaussian beam (63 % diameter d) through a circular aperture: 1 - exp(-(D / d)^2)."""
    d = math.hypot(aimer.diameter, aimer.divergence * distance)
    return 1.0 if d <= 0.0 else 1.0 - math.exp(-((aperture / d) ** 2))


@dataclass
class LaserClass:
    path: str
    laser_class: str
    accessible_power: float  # W through the aperture (time average for a pulsed aimer)
    limits: dict[str, float]  # W per class boundary
    pulse_energy: float  # J through the aperture per pulse (0: continuous)


def classify_aimer(aimer: AimerModel) -> LaserClass:
    """The aimer's class (IEC 60825-1:2014) for the naked eye."""
    lam = aimer.wavelength
    share = aperture_fraction(aimer)
    pulsed = aimer.pulse_width > 0.0 and aimer.duty_cycle < 1.0
    average = aimer.power * share * (aimer.duty_cycle if pulsed else 1.0)
    energy = aimer.power * share * aimer.pulse_width if pulsed else 0.0
    visible = lam <= 700.0
    one = class1_cw(lam)
    limits = {"1": one, "2": 1e-3 if visible else one, "3R": 5e-3 if visible else 5.0 * one, "3B": 0.5}
    pulse_limits = {}
    if pulsed:
        p1 = class1_pulse(lam, aimer.pulse_width)
        p2 = p1 if aimer.pulse_width < 0.25 or not visible else 1e-3 * aimer.pulse_width
        pulse_limits = {"1": p1, "2": p2, "3R": 5.0 * p2}
    for name in ("1", "2", "3R", "3B"):
        within = average <= limits[name] * (1 + 1e-12)
        if name in pulse_limits:
            within = within and energy <= pulse_limits[name] * (1 + 1e-12)
        if within and (name != "2" or visible):
            return LaserClass(aimer.path, name, average, limits, energy)
    return LaserClass(aimer.path, "4", average, limits, energy)
