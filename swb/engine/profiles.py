"""Decoder profiles, symbology classes and limiting-factor names (docs/profiles.md).

Kept as plain tables so the kernels, the numpy reference and the docs read the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Limiting factors: code 0 means "decodes"; codes 1..9 in the order of docs/model.md.
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


# Symbology -> threshold class. 1-D codes share one class; Aztec has its own (its bull's-eye finder and compact
# layers are read differently from QR's three finders; zxing-cpp needs more pixels per module for it).
SYMBOLOGIES: dict[str, str] = {
    "code128": "linear",
    "code39": "linear",
    "ean13": "linear",
    "upca": "linear",
    "itf": "linear",
    "pdf417": "pdf417",
    "datamatrix": "datamatrix",
    "qrcode": "qr",
    "aztec": "aztec",
}
SYMBOLOGY_CODE: dict[str, int] = {name: i for i, name in enumerate(SYMBOLOGIES)}
CLASS_CODE: dict[str, int] = {"linear": 0, "pdf417": 1, "datamatrix": 2, "qr": 3, "aztec": 4}
N_CLASSES = len(CLASS_CODE)

# Height of one module along the symbol's w axis in units of X. PDF417 rows are 3X tall (ISO 15438 default row
# height Y = 3X; zxing-cpp's writer uses it), so along w a PDF417 symbol is sampled in rows of 3X: its pixels per
# "module" and its blur in module units along w use 3X. Every other symbology has square modules.
MODULE_ASPECT: dict[str, float] = {"pdf417": 3.0}


def module_aspect(symbology: str) -> float:
    """Module height along w over the module width X (1 for square modules, 3 for PDF417 rows)."""
    return MODULE_ASPECT.get(symbology, 1.0)

# Default quiet zone in modules (docs/model.md, sources: 1-D >= 10X, QR 4X, DataMatrix 1X; PDF417 2X per ISO 15438;
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


Classes = tuple[float, float, float, float, float]  # one value per class: linear, pdf417, datamatrix, qr, aztec

# The read-probability link (docs/model.md, "Read probability"): one frame decodes with probability
# p = 1 / (1 + exp(-(logit(READ_ANCHOR) + slope * (ln M - ln m90)))) at the decisive margin M (the smallest of the
# combined, angle, glare and exposure margins): m90 is the margin where the decoder reads READ_ANCHOR of frames.
READ_ANCHOR = 0.9
# Slope for profiles without their own fit: the mean of the per-class slopes fitted to zxing-cpp (docs/validation.md);
# how fast reads come with margin is a property of the images near the limit more than of one decoder.
DEFAULT_READ_SLOPE = 9.2


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def read_floor(m90: np.ndarray, slope: np.ndarray, min_read: np.ndarray) -> np.ndarray:
    """The margin at which the link reaches ``min_read``: a pair is decodable from there on (broadcast). Exactly
    ``m90`` when ``min_read`` is the anchor, so a profile with m90 = 1 keeps the rule "every margin >= 1".
    Probabilities are compared as the float32 the stage and the kernels hold (0.9 read from USD is the anchor)."""
    p = np.asarray(min_read, np.float32).astype(np.float64)
    anchor = float(np.float32(READ_ANCHOR))
    shift = np.log(p / (1.0 - p)) - math.log(anchor / (1.0 - anchor))
    return np.asarray(m90, np.float64) * np.exp(shift / np.asarray(slope, np.float64))


def read_probability(margin: np.ndarray, m90: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """One frame's read probability at the decisive margin (0 at margin 0, 1 at an infinite margin)."""
    margin = np.asarray(margin, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = logit(READ_ANCHOR) + np.asarray(slope) * (np.log(np.where(margin > 0, margin, 1.0)) - np.log(m90))
        p = 1.0 / (1.0 + np.exp(-z))
    return np.where(margin <= 0, 0.0, np.where(np.isinf(margin), 1.0, p))


def _per_class(value: float | tuple[float, ...], what: str) -> Classes:
    """A value for every class: a scalar for all, 4 values (Aztec takes QR's) or 5."""
    if isinstance(value, int | float):
        return (float(value),) * N_CLASSES  # type: ignore[return-value]
    v = tuple(float(x) for x in value)
    if len(v) == N_CLASSES - 1:
        v = (*v, v[CLASS_CODE["qr"]])
    if len(v) != N_CLASSES:
        raise ValueError(f"{what}: give one value or one per class {tuple(CLASS_CODE)}, got {len(v)}")
    return v  # type: ignore[return-value]


@dataclass(frozen=True)
class DecoderProfile:
    """Thresholds and traits of one decoder family, per threshold class (linear, pdf417, datamatrix, qr, aztec).

    ``ppm_threshold`` T in pixels per module and ``blur_limit`` B in modules of blur; either may be given as 4
    values (Aztec then takes QR's) and ``blur_limit`` as one value for every class.
    ``min_visible``: the share of the symbol (of its occlusion samples) the decoder must see: 1 needs the whole
    symbol; below 1 models error correction that restores hidden codewords. ``clear_row``: a 1-D symbol still
    reads when one full row of samples across its bars is visible (one unobstructed scan line suffices).
    ``scan_cover`` (scan-line decoders, 1-D and PDF417): the share of the symbol's height that the pixel rows
    (or columns) crossing the whole symbol must cover; 0 means one such line suffices (a 1-D reader), about 0.5
    models a PDF417 reader that must find the start and stop patterns on many of the same rows.
    ``quiet_zone`` per class: the share of the required quiet zone that must lie inside the image (1: all of it;
    0: the symbol itself). ``line_view``: a 1-D symbol is in view when its centre scan line (with that quiet zone)
    is; its bars may leave the image along their height (one scan line is all a 1-D reader needs).
    ``threshold_scale``: (symbology, factor) pairs multiplying the class's T for one symbology; a reader that
    classifies bars as narrow or wide (Code 39 at 2:1, ITF at 3:1) needs other sampling than one that measures
    the 1 to 4 module elements of Code 128 or EAN/UPC.
    ``max_tilt`` per class: the decoder's own out-of-plane tilt limit in degrees. The angle limit of a pair is the
    smaller of it and the camera's ``swb:sensor:maxTilt`` (the reader's rule, default 60), so 90 leaves the
    camera's limit alone; a fitted decoder reads to its own limit only where the camera allows that much.
    ``read_m90`` and ``read_slope`` per class: the read-probability link (``read_probability``): the decisive
    margin at which one frame reads 9 times in 10, and how fast the odds rise with ln(margin). A profile whose
    thresholds are "reliable read" limits (the vendor-derived ones) keeps m90 = 1, so its margin rule is
    unchanged at the default minimum probability 0.9; the fitted zxing profile's limits are where reads halve,
    and its m90 lies above 1.
    """

    name: str
    ppm_threshold: Classes
    blur_limit: Classes
    scanline: bool  # reads 1-D/PDF417 only while a pixel row or column crosses the whole symbol
    source: str
    min_visible: Classes = (1.0, 1.0, 1.0, 1.0, 1.0)
    clear_row: bool = False
    scan_cover: Classes = (0.0, 0.0, 0.0, 0.0, 0.0)
    quiet_zone: Classes = (1.0, 1.0, 1.0, 1.0, 1.0)
    line_view: bool = False
    threshold_scale: tuple[tuple[str, float], ...] = ()
    max_tilt: Classes = (90.0, 90.0, 90.0, 90.0, 90.0)
    read_m90: Classes = (1.0, 1.0, 1.0, 1.0, 1.0)
    read_slope: Classes = (DEFAULT_READ_SLOPE,) * 5  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ppm_threshold", _per_class(self.ppm_threshold, "ppm_threshold"))
        object.__setattr__(self, "blur_limit", _per_class(self.blur_limit, "blur_limit"))
        object.__setattr__(self, "min_visible", _per_class(self.min_visible, "min_visible"))
        object.__setattr__(self, "scan_cover", _per_class(self.scan_cover, "scan_cover"))
        object.__setattr__(self, "quiet_zone", _per_class(self.quiet_zone, "quiet_zone"))
        object.__setattr__(self, "max_tilt", _per_class(self.max_tilt, "max_tilt"))
        object.__setattr__(self, "read_m90", _per_class(self.read_m90, "read_m90"))
        object.__setattr__(self, "read_slope", _per_class(self.read_slope, "read_slope"))
        if not all(m > 0.0 and math.isfinite(m) for m in self.read_m90):
            raise ValueError(f"read_m90: each class's margin must be positive and finite, got {self.read_m90}")
        if not all(s > 0.0 and math.isfinite(s) for s in self.read_slope):
            raise ValueError(f"read_slope: each class's slope must be positive (reads rise with margin), got "
                             f"{self.read_slope}")
        if not all(0.0 < t <= 90.0 for t in self.max_tilt):
            raise ValueError(f"max_tilt: each class's limit must be in (0, 90] degrees, got {self.max_tilt}")
        scale = tuple((str(s), float(f)) for s, f in dict(self.threshold_scale).items())
        unknown = [s for s, _ in scale if s not in SYMBOLOGIES]
        if unknown:
            raise ValueError(f"threshold_scale: unknown symbology {unknown[0]!r}")
        object.__setattr__(self, "threshold_scale", scale)

    def scale(self, symbology: str) -> float:
        """The factor on the class's T for one symbology (1 unless ``threshold_scale`` names it)."""
        return dict(self.threshold_scale).get(symbology, 1.0)

    def scales(self) -> tuple[float, ...]:
        """``scale`` for every symbology, in ``SYMBOLOGY_CODE`` order."""
        return tuple(self.scale(s) for s in SYMBOLOGIES)

    def threshold(self, symbology: str) -> float:
        return self.ppm_threshold[CLASS_CODE[SYMBOLOGIES[symbology]]] * self.scale(symbology)

    def blur(self, symbology: str) -> float:
        return self.blur_limit[CLASS_CODE[SYMBOLOGIES[symbology]]]

    def cover(self, symbology: str) -> float:
        return self.scan_cover[CLASS_CODE[SYMBOLOGIES[symbology]]]

    def visible_share(self, symbology: str) -> float:
        return self.min_visible[CLASS_CODE[SYMBOLOGIES[symbology]]]

    def quiet_share(self, symbology: str) -> float:
        return self.quiet_zone[CLASS_CODE[SYMBOLOGIES[symbology]]]

    def tilt_limit(self, symbology: str) -> float:
        return self.max_tilt[CLASS_CODE[SYMBOLOGIES[symbology]]]


# Every profile but zxing keeps one B for all classes, Aztec at its QR threshold, the strict occlusion rule and
# the geometric scan-line rule (scan_cover 0).
PROFILES: dict[str, DecoderProfile] = {
    "engine": DecoderProfile(
        "engine", (0.7, 1.0, 1.4, 1.4, 1.4), 1.5, False, "far limits implied by vendor read-range tables"
    ),
    "industrial": DecoderProfile(
        "industrial", (1.5, 2.0, 2.5, 2.5, 2.5), 1.5, False, "Cognex, Omron, Dynamsoft, SICK application notes"
    ),
    "robust": DecoderProfile(
        "robust", (2.0, 3.0, 3.5, 3.5, 3.5), 1.0, True, "Skurowski et al. 2022 (Sensors 22:7230), Omron, Beckhoff"
    ),
    # Fitted per class on 19 studies together (11 400 cases); Code 39 (bars 2:1) needs 1.35 times the 1-D T and ITF
    # (3:1) 0.75 times; error correction reads PDF417 and Aztec with 2 of 9 samples hidden and QR with 1 (1-D and
    # DataMatrix need the whole symbol, or for 1-D one clear row); one scan line with the symbol in the image puts
    # a 1-D code in view; PDF417 needs the rows crossing it whole to cover 55 % of its height; zxing-cpp reads to
    # 67-72 degrees of tilt (QR 65: a study of 1 200 tilted symbols put QR's reads below the 70 the random studies
    # gave), where a camera's maxTilt allows it. Its limits are where reads halve: the read link
    # (fitted on seeds 3-6, 10, 11 with those thresholds, swb validate --fit-link) puts 9 reads in 10 at margins
    # of 1.16 to 1.46.
    "zxing": DecoderProfile(
        "zxing", (1.35, 1.35, 1.85, 1.4, 2.65), (1.4, 2.1, 1.65, 1.6, 1.5), True,
        "fitted to zxing-cpp 3.1.1 on rendered symbols: swb validate --study 600, seeds 3-6 and 10-24 together, "
        "held out: seeds 30-34; QR's tilt limit from a study of steep tilts, seeds 60-61 (docs/validation.md)",
        min_visible=(1.0, 7 / 9, 1.0, 8 / 9, 7 / 9), clear_row=True, scan_cover=(0.1, 0.55, 0.0, 0.0, 0.0),
        quiet_zone=(0.0, 0.1, 0.15, 0.0, 0.15), line_view=True, threshold_scale=(("code39", 1.35), ("itf", 0.75)),
        max_tilt=(70.0, 72.0, 69.0, 65.0, 67.0),
        read_m90=(1.2566, 1.4577, 1.1552, 1.182, 1.3292), read_slope=(8.597, 5.798, 12.652, 12.839, 6.158),
    ),
}
PROFILE_CODE: dict[str, int] = {name: i for i, name in enumerate(PROFILES)}

# Occlusion samples: a 3 x 3 grid over the symbol (row-major from (-1, -1): k = 3 * (w + 1) + (u + 1)), so a
# sample stands for 1/9 of the symbol's area and each row of 3 spans the symbol along u.
N_OCCLUSION_SAMPLES = 9

# p-norm that combines the sampling and blur limits (docs/model.md, rule 8; fitted against zxing-cpp).
LIMIT_NORM_P = 4.0
# Score = 1 - exp(-SCORE_RATE * (margin - 1)) for a decodable pair: 0 at the limit, ~0.95 at margin 2.
SCORE_RATE = 3.0
