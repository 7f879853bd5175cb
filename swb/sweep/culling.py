"""Host side of the sweep's view culling (kernels/sweep.py): per-camera pre-test records, sample bins, and the
sums every sample adds when no varied camera sees it.

The sweep kernel starts each configuration's sums at ``unseen_sums`` and lets a sample add only its difference
from that share, so the bins every varied camera surely misses (``bins_in_view``) cost nothing per sample. The
results are the same sums as evaluating every sample: a culled camera x sample gets exactly the verdict the
kernel gives out of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swb.kernels.scoring import FOV
from swb.kernels.visibility import CULL_GROW, CULL_PAD

BIN_SIZE = 32  # samples per bin: near ones (a space-filling-curve order) share one bounding sphere
BIN_GROW = 1.0e-4  # relative and absolute (metres) growth of a bin's sphere against float32 rounding
BIN_PAD = 1.0e-5


def _spread(v: np.ndarray) -> np.ndarray:
    """Bits of a 10-bit integer spread three apart (one axis of a Morton code)."""
    v = (v | (v << 16)) & 0x030000FF
    v = (v | (v << 8)) & 0x0300F00F
    v = (v | (v << 4)) & 0x030C30C3
    return (v | (v << 2)) & 0x09249249


def sample_bins(records: np.ndarray, size: int = BIN_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin of each sample, bin centres, bin radii): runs of ``size`` samples along a Morton curve, each bin a
    sphere holding the pre-test sphere (``surely_outside``'s) of every sample in it, grown for rounding."""
    n = len(records)
    if n == 0:
        return np.zeros(0, np.int32), np.zeros((0, 3), np.float32), np.zeros(0, np.float32)
    pos = records["pos"].astype(np.float64)
    reach = np.linalg.norm(records["half_size_qz"].astype(np.float64), axis=1) * CULL_GROW + CULL_PAD
    lo, extent = pos.min(axis=0), np.ptp(pos, axis=0).max()
    q = np.clip(((pos - lo) / max(extent, 1e-9) * 1023).astype(np.int64), 0, 1023)
    code = _spread(q[:, 0]) | (_spread(q[:, 1]) << 1) | (_spread(q[:, 2]) << 2)
    bins = np.empty(n, dtype=np.int64)
    bins[np.argsort(code, kind="stable")] = np.arange(n) // size
    nb = int(bins.max()) + 1
    box_lo = np.full((nb, 3), np.inf)
    box_hi = np.full((nb, 3), -np.inf)
    np.minimum.at(box_lo, bins, pos)
    np.maximum.at(box_hi, bins, pos)
    centre = 0.5 * (box_lo + box_hi)
    radius = np.zeros(nb)
    np.maximum.at(radius, bins, np.linalg.norm(pos - centre[bins], axis=1) + reach)
    return bins.astype(np.int32), centre.astype(np.float32), (radius * (1.0 + BIN_GROW) + BIN_PAD).astype(np.float32)


@dataclass(frozen=True)
class UnseenSums:
    """What every sample adds to one configuration's sums when no varied camera sees it (columns of ``unique``:
    varied cameras, then fixed ones, as in ``sweep_configs``)."""

    covered: int
    redundant: int
    unique: np.ndarray  # (n_var + n_fixed,) int64
    limiting: np.ndarray  # (len(FACTORS),) int64


def unseen_sums(weights: np.ndarray, count: np.ndarray, sole: np.ndarray, key: np.ndarray, limiting: np.ndarray,
                n_var: int, n_cam: int, n_factors: int) -> UnseenSums:
    """``sweep_configs``' sums for all samples with every varied camera out of view (key 0, the first varied
    camera winning ties), from the fixed pass (count, sole reader, best key and its limiting factor)."""
    w = np.asarray(weights, np.int64)
    unique = np.zeros(n_cam, np.int64)
    one = count == 1
    np.add.at(unique, n_var + sole[one].astype(np.int64), w[one])
    factor = np.where(key <= 0.0, FOV, limiting)
    lim = np.zeros(n_factors, np.int64)
    none = (count == 0) & (factor > 0)
    np.add.at(lim, factor[none].astype(np.int64) - 1, w[none])
    return UnseenSums(int(w[count >= 1].sum()), int(w[count >= 2].sum()), unique, lim)
