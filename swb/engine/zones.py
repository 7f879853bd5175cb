"""Where people's eyes can be (zones) and aimer lasers: the eye-safety part of the scene model (SI metres, Z up)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_SPACING = 0.1  # metres between sampled eye positions
MAX_POINTS = 20_000  # per zone: a coarser spacing beyond this


@dataclass(frozen=True)
class ZoneModel:
    """An oriented box of eye positions: ``centre`` plus the columns of ``half_axes`` times [-1, 1]."""

    path: str
    kind: str  # operator | walkway | maintenance | other
    centre: np.ndarray  # (3,) metres
    half_axes: np.ndarray  # (3, 3) columns: half-extent vectors, metres
    spacing: float = DEFAULT_SPACING  # metres; 0: DEFAULT_SPACING
    exposure_time: float = 0.0  # seconds a person stays (0: not judged)

    @property
    def half_lengths(self) -> np.ndarray:
        return np.linalg.norm(np.asarray(self.half_axes, np.float64), axis=0)

    def counts(self) -> np.ndarray:
        """Eye positions along each box axis (edges included), at most MAX_POINTS in all."""
        spacing = self.spacing if self.spacing > 0 else DEFAULT_SPACING
        lengths = 2.0 * self.half_lengths
        while True:
            n = np.maximum(1, np.ceil(lengths / spacing - 1e-9).astype(np.int64)) + 1
            n = np.where(lengths > 0, n, 1)
            if int(np.prod(n)) <= MAX_POINTS:
                return n
            spacing *= math.pow(float(np.prod(n)) / MAX_POINTS, 1.0 / 3.0) * 1.01

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """(points (n0, n1, n2, 3) metres, box coordinates per axis in [-1, 1] as a list of three arrays)."""
        n = self.counts()
        coords = [np.linspace(-1.0, 1.0, k) if k > 1 else np.zeros(1) for k in n]
        a, b, c = np.meshgrid(*coords, indexing="ij")
        axes = np.asarray(self.half_axes, np.float64)
        pts = np.asarray(self.centre, np.float64) + a[..., None] * axes[:, 0] + b[..., None] * axes[:, 1] \
            + c[..., None] * axes[:, 2]
        return pts, coords


@dataclass(frozen=True)
class AimerModel:
    """A laser aimer at ``position`` shining along ``direction``; beam sizes are 63 % (1/e) values."""

    path: str
    position: np.ndarray  # (3,) metres
    direction: np.ndarray  # (3,) unit
    wavelength: float  # nm
    power: float  # W (peak, for a pulsed aimer)
    divergence: float  # rad, full angle
    diameter: float  # m at the exit
    pulse_width: float = 0.0  # s; 0: continuous
    duty_cycle: float = 1.0
