"""Per camera x target results as numpy arrays: what the kernels write and everything downstream reads."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .profiles import FACTORS

# Scalar per-pair fields, in the order they are stored in USD and JSON.
SCALAR_FIELDS: tuple[str, ...] = (
    "score",
    "p_read",
    "ppm_u",
    "ppm_w",
    "tilt_deg",
    "defocus_px",
    "motion_px",
    "visible_fraction",
    "distance",
    "combined_margin",
)


@dataclass
class PairResults:
    """Arrays of shape (n_cameras, n_targets); ``margins`` has a trailing axis over ``profiles.FACTORS``.

    decodable         in view, facing, readable despite occlusion, and p_read >= the camera's minimum read
                      probability (swb:sensor:minReadProbability; default: every margin >= 1 for a profile
                      whose m90 is 1)
    limiting          0 when decodable, else 1 + index into FACTORS of the factor that stops the read
    score             0 when not decodable, else 1 - exp(-3 (m - 1)), m = min(combined_margin, angle, glare and
                      exposure margins)
    p_read            probability that one frame decodes: the profile's logistic link in ln(m) (0 outside the
                      view, facing away or hidden)
    ppm_u, ppm_w      pixels per module along the module axes (2-D: min over corners; 1-D: at the centre)
    tilt_deg          angle between the symbol normal and the direction to the camera
    defocus_px        blur-disk diameter on the sensor in pixels, diffraction added in quadrature
    motion_px         length of the smear during the exposure in pixels
    visible_fraction  share of the occlusion sample points the camera sees (0 when outside the view)
    distance          camera to symbol centre, metres
    combined_margin   1 / (r_s^4 + r_b^4)^(1/4) on the worst module axis (sampling and blur together)
    margins           value / threshold per factor; a factor passes when its margin >= 1
    A pair out of view or facing away (limiting fov or backfacing) keeps its distance and tilt; its other metrics,
    combined margin and resolution, defocus, motion and angle margins are 0 (``World(cull=False)``: all computed).
    """

    decodable: np.ndarray
    limiting: np.ndarray
    score: np.ndarray
    p_read: np.ndarray
    ppm_u: np.ndarray
    ppm_w: np.ndarray
    tilt_deg: np.ndarray
    defocus_px: np.ndarray
    motion_px: np.ndarray
    visible_fraction: np.ndarray
    distance: np.ndarray
    combined_margin: np.ndarray
    margins: np.ndarray

    @classmethod
    def empty(cls, n_cameras: int, n_targets: int) -> PairResults:
        shape = (n_cameras, n_targets)
        scalars = {name: np.zeros(shape, np.float32) for name in SCALAR_FIELDS}
        return cls(
            decodable=np.zeros(shape, bool),
            limiting=np.zeros(shape, np.int32),
            margins=np.zeros((*shape, len(FACTORS)), np.float32),
            **scalars,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return self.decodable.shape

    def columns(self) -> dict[str, np.ndarray]:
        """The record fields' arrays (as ``PairRecords.columns``; these are the arrays themselves)."""
        return {name: getattr(self, name) for name in ("score", "p_read", "ppm_u", "ppm_w", "tilt_deg", "distance",
                                                         "combined_margin", "decodable", "limiting",
                                                         "visible_fraction")}

    culled_zero = False  # arrays of any world: no margin is assumed (see PairRecords.culled_zero)

    def at(self, name: str, where: object) -> np.ndarray:
        """Field ``name`` at index ``where`` (as ``PairRecords.at``)."""
        return getattr(self, name)[where]

    # The detail queries of ``PairRecords`` (swb/engine/pair_records.py), answered from the arrays held here.
    def detail_at(self, cam_idx: np.ndarray, tgt_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(defocus_px, motion_px, margins) of the pairs (cam_idx[k], tgt_idx[k])."""
        where = (np.asarray(cam_idx, np.int64).ravel(), np.asarray(tgt_idx, np.int64).ravel())
        return self.defocus_px[where], self.motion_px[where], self.margins[where]

    def detail_rows(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(defocus_px, motion_px, margins) of camera rows a..b."""
        return self.defocus_px[a:b], self.motion_px[a:b], self.margins[a:b]

    def detail_block(self, a: int, b: int, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(defocus_px, motion_px, margins) of camera rows a..b x targets t0..t1."""
        return self.defocus_px[a:b, t0:t1], self.motion_px[a:b, t0:t1], self.margins[a:b, t0:t1]

    def detail_column(self, ti: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(defocus_px, motion_px, margins) of every camera for target ti."""
        return self.defocus_px[:, ti], self.motion_px[:, ti], self.margins[:, ti]

    def detail(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.defocus_px, self.motion_px, self.margins

    def full(self) -> PairResults:
        return self

    def nbytes_per_pair(self) -> float:
        """Host bytes held per pair, every array counted."""
        return sum(getattr(self, f.name).nbytes for f in fields(self)) / max(self.decodable.size, 1)

    def copy(self) -> PairResults:
        return PairResults(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def equal(self, other: PairResults) -> bool:
        """Bit-for-bit equality (NaN-safe), used by save/restore checks (compact records compare through
        ``full``)."""
        other = other.full()
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True) for f in fields(self)
        )
