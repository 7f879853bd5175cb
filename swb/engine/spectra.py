"""Spectral power distributions of lights and the integrals the photometry and the eye-safety weightings need.

A ``Spectrum`` holds relative spectral power (any scale) either as samples on a wavelength grid (integrated with
the trapezoid rule, weighting functions interpolated linearly at the samples) or as discrete lines (a laser,
``monochromatic``). CIE D65 and the CIE 1924 photopic luminous efficiency V(lambda) come from colour-science
(the CIE's published tables); Planck's law is written out. Wavelengths in nanometres throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.integrate import trapezoid

KM = 683.0  # lm/W, maximum luminous efficacy of radiation for photopic vision (CIE)
H_PLANCK = 6.62607015e-34  # J s
C_LIGHT = 2.99792458e8  # m/s
K_BOLTZMANN = 1.380649e-23  # J/K
VISIBLE = (380.0, 780.0)  # nm: what an RGB renderer's light colour describes


@dataclass(frozen=True)
class Spectrum:
    """Relative spectral power: ``values`` at ``wavelengths`` (nm, ascending); ``lines`` True for discrete lines."""

    wavelengths: np.ndarray
    values: np.ndarray
    lines: bool = False
    name: str = ""

    def weighted(self, weight: tuple[np.ndarray, np.ndarray] | None = None,
                 band: tuple[float, float] | None = None) -> float:
        """Integral of the spectrum times a tabulated weighting (wavelengths, values; 0 outside its table), within
        ``band`` (nm, inclusive) when given; the weighting is 1 when None."""
        lam = np.asarray(self.wavelengths, np.float64)
        val = np.asarray(self.values, np.float64)
        w = np.ones_like(lam) if weight is None else np.interp(lam, weight[0], weight[1], left=0.0, right=0.0)
        if band is not None:
            w = np.where((lam >= band[0]) & (lam <= band[1]), w, 0.0)
        if self.lines:
            return float(np.sum(w * val))
        return float(trapezoid(w * val, lam)) if len(lam) > 1 else 0.0

    @property
    def total(self) -> float:
        return self.weighted()

    def efficacy(self) -> float:
        """Luminous efficacy of the radiation K = 683 * int V S / int S, lumens per watt."""
        total = self.total
        return KM * self.weighted(photopic()) / total if total > 0 else 0.0

    def share(self, weight: tuple[np.ndarray, np.ndarray] | None = None,
              band: tuple[float, float] | None = None) -> float:
        """int w S / int S over the whole spectrum: weighted watts per watt."""
        total = self.total
        return self.weighted(weight, band) / total if total > 0 else 0.0

    def restricted(self, band: tuple[float, float]) -> Spectrum:
        """The part within ``band`` (the samples inside, ends interpolated)."""
        lam, val = np.asarray(self.wavelengths, np.float64), np.asarray(self.values, np.float64)
        if self.lines:
            keep = (lam >= band[0]) & (lam <= band[1])
            return Spectrum(lam[keep], val[keep], True, self.name)
        grid = np.unique(np.concatenate([[band[0], band[1]], lam[(lam > band[0]) & (lam < band[1])]]))
        return Spectrum(grid, np.interp(grid, lam, val, left=0.0, right=0.0), False, self.name)


@lru_cache(maxsize=1)
def photopic() -> tuple[np.ndarray, np.ndarray]:
    """CIE 1924 photopic luminous efficiency V(lambda), 360-830 nm in 1 nm steps (colour-science)."""
    from colour.colorimetry import SDS_LEFS_PHOTOPIC

    sd = SDS_LEFS_PHOTOPIC["CIE 1924 Photopic Standard Observer"]
    return np.asarray(sd.wavelengths, np.float64), np.asarray(sd.values, np.float64)


def d65(band: tuple[float, float] | None = None) -> Spectrum:
    """CIE standard illuminant D65 (300-780 nm, 5 nm; colour-science), optionally cut to ``band``."""
    from colour import SDS_ILLUMINANTS

    sd = SDS_ILLUMINANTS["D65"]
    spec = Spectrum(np.asarray(sd.wavelengths, np.float64), np.asarray(sd.values, np.float64), name="d65")
    return spec.restricted(band) if band is not None else spec


def blackbody(temperature: float, band: tuple[float, float] = (300.0, 3000.0), step: float = 1.0) -> Spectrum:
    """Planck's law, spectral radiance shape at ``temperature`` kelvin over ``band``."""
    lam = np.arange(band[0], band[1] + 0.5 * step, step)
    x = lam * 1e-9
    with np.errstate(over="ignore"):
        val = 2.0 * H_PLANCK * C_LIGHT**2 / x**5 / np.expm1(H_PLANCK * C_LIGHT / (x * K_BOLTZMANN * temperature))
    return Spectrum(lam, np.nan_to_num(val / val.max(), nan=0.0), name=f"blackbody {temperature:g} K")


def led(peak: float, fwhm: float, step: float = 0.5) -> Spectrum:
    """A Gaussian emission band (a single-colour LED) of peak wavelength and full width at half maximum (nm)."""
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    lam = np.arange(peak - 5.0 * sigma, peak + 5.0 * sigma + 0.5 * step, step)
    return Spectrum(lam, np.exp(-0.5 * ((lam - peak) / sigma) ** 2), name=f"led {peak:g} nm")


def monochromatic(wavelength: float) -> Spectrum:
    """One spectral line (a laser, or an idealised narrow-band source)."""
    return Spectrum(np.array([float(wavelength)]), np.array([1.0]), lines=True, name=f"line {wavelength:g} nm")


def tabulated(wavelengths: np.ndarray, values: np.ndarray) -> Spectrum:
    """A measured spectral power distribution (wavelengths ascending, values >= 0)."""
    return Spectrum(np.asarray(wavelengths, np.float64), np.asarray(values, np.float64), name="tabulated")
