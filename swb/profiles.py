"""Decoder profiles, symbology classes and limiting-factor names (DESIGN.md section 4.7 and 4.10).

Kept as plain tables so the kernels, the numpy reference and the docs read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

# Limiting factors: code 0 means "decodes"; codes 1..9 follow DESIGN.md 4.10.
FACTORS: tuple[str, ...] = (
    "fov",
    "occluded",
    "backfacing",
    "resolution",
    "defocus",
    "motion",
    "angle",
    "glare",
    "exposure",
)
FACTOR_CODE: dict[str, int] = {name: i + 1 for i, name in enumerate(FACTORS)}


def factor_name(code: int) -> str | None:
    """Name of a limiting-factor code, None for 0 (the pair decodes)."""
    return None if code == 0 else FACTORS[code - 1]


# Symbology -> threshold class. 1-D codes share one class; Aztec is read like QR.
SYMBOLOGIES: dict[str, str] = {
    "code128": "linear",
    "code39": "linear",
    "ean13": "linear",
    "upca": "linear",
    "itf": "linear",
    "pdf417": "pdf417",
    "datamatrix": "datamatrix",
    "qrcode": "qr",
    "aztec": "qr",
}
SYMBOLOGY_CODE: dict[str, int] = {name: i for i, name in enumerate(SYMBOLOGIES)}
CLASS_CODE: dict[str, int] = {"linear": 0, "pdf417": 1, "datamatrix": 2, "qr": 3}

# Default quiet zone in modules (DESIGN 4.1: 1-D >= 10X, QR 4X, DataMatrix 1X; PDF417 2X per ISO 15438;
# Aztec needs none by ISO 24778, one module is kept as a margin).
DEFAULT_QUIET_ZONE: dict[str, float] = {
    "code128": 10.0,
    "code39": 10.0,
    "ean13": 11.0,
    "upca": 9.0,
    "itf": 10.0,
    "pdf417": 2.0,
    "datamatrix": 1.0,
    "qrcode": 4.0,
    "aztec": 1.0,
}


def is_linear(symbology: str) -> bool:
    """1-D symbols: PPM along u at the centre, quiet zone along u only, bar height from barHeight."""
    return SYMBOLOGIES[symbology] == "linear"


@dataclass(frozen=True)
class DecoderProfile:
    """Thresholds of one decoder family: T in pixels per module by class, B in modules of blur."""

    name: str
    ppm_threshold: tuple[float, float, float, float]  # linear, pdf417, datamatrix, qr
    blur_limit: float
    scanline: bool  # reads 1-D/PDF417 only while a pixel row or column crosses the whole symbol
    source: str

    def threshold(self, symbology: str) -> float:
        return self.ppm_threshold[CLASS_CODE[SYMBOLOGIES[symbology]]]


PROFILES: dict[str, DecoderProfile] = {
    "engine": DecoderProfile(
        "engine", (0.7, 1.0, 1.4, 1.4), 1.5, False, "far limits implied by vendor read-range tables"
    ),
    "industrial": DecoderProfile(
        "industrial", (1.5, 2.0, 2.5, 2.5), 1.5, False, "Cognex, Omron, Dynamsoft, SICK application notes"
    ),
    "robust": DecoderProfile(
        "robust", (2.0, 3.0, 3.5, 3.5), 1.0, True, "Skurowski et al. 2022 (Sensors 22:7230), Omron, Beckhoff"
    ),
    "zxing": DecoderProfile(
        "zxing", (1.15, 1.65, 1.75, 2.0), 1.6, True,
        "fitted to zxing-cpp 3.1.1 on rendered symbols: swb validate --study 600 --seed 0 (docs/validation.md)",
    ),
}
PROFILE_CODE: dict[str, int] = {name: i for i, name in enumerate(PROFILES)}

# p-norm that combines the sampling and blur limits (DESIGN 4.6, fitted against zxing-cpp).
LIMIT_NORM_P = 4.0
# Score = 1 - exp(-SCORE_RATE * (margin - 1)) for a decodable pair: 0 at the limit, ~0.95 at margin 2.
SCORE_RATE = 3.0
