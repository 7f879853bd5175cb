"""The benchmark's baseline: a Latin-hypercube sweep over the same design space with the same evaluation budget.

Each configuration is K cameras; each camera draws, from one LHS column block, its mount region and point, the
label sample it aims at, its catalogue option and its roll (``scipy.stats.qmc.LatinHypercube`` through the sweep's
``unit_samples``). A budget of N camera evaluations buys N // K configurations; the best configuration's read
rate is the sweep's answer. This is what ``swb sweep`` does today (sample configurations, rank them), given the
optimiser's own candidate space instead of offsets around an authored layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sweep.sampling import unit_samples
from .candidates import CandidateFactory, Candidates
from .evaluator import DesignEvaluator
from .objective import BitMatrix

DIMS = 7  # region, three position coordinates, aim sample, option, roll


@dataclass
class LhsSweep:
    k: int
    configurations: int
    best_rate: float
    best_index: int
    rates: np.ndarray


def _cameras(factory: CandidateFactory, u: np.ndarray) -> Candidates:
    n = len(u)
    regions = np.minimum((u[:, 0] * len(factory.regions)).astype(np.int64), len(factory.regions) - 1)
    pos = np.zeros((n, 3))
    for r in range(len(factory.regions)):
        sel = regions == r
        if not np.any(sel):
            continue
        if r in factory.boxes:
            lo, hi = factory.boxes[r]
            pos[sel] = lo + u[sel, 1:4] * (hi - lo)
        else:
            s = factory.surfaces[r]
            tri = np.minimum(np.searchsorted(s.cdf, u[sel, 1]), len(s.cdf) - 1)
            a, b = u[sel, 2].copy(), u[sel, 3].copy()
            flip = a + b > 1.0
            a[flip], b[flip] = 1.0 - a[flip], 1.0 - b[flip]
            t = s.points[tri]
            p = t[:, 0] + a[:, None] * (t[:, 1] - t[:, 0]) + b[:, None] * (t[:, 2] - t[:, 0])
            pos[sel] = p + factory.regions[r].offset * factory.mpu * s.normal[tri]
    n_pts = len(factory.label_points)
    aim = factory.label_points[np.minimum((u[:, 4] * n_pts).astype(np.int64), n_pts - 1)]
    option = np.minimum((u[:, 5] * len(factory.options)).astype(np.int64), len(factory.options) - 1)
    rolls = np.asarray(factory.spec.rolls, dtype=np.float64)
    roll = rolls[np.minimum((u[:, 6] * len(rolls)).astype(np.int64), len(rolls) - 1)]
    return factory.build(pos, aim, option, regions, roll, "lhs")


def lhs_sweep(factory: CandidateFactory, evaluator: DesignEvaluator, k: int, evaluations: int,
              seed: int, fixed_miss: np.ndarray | None = None) -> LhsSweep:
    """Best read rate of ``evaluations // k`` LHS configurations of k cameras (keep-out points stay: a sweep
    does not know them either, they only cost it evaluations)."""
    n_cfg = max(1, evaluations // k)
    u = unit_samples("lhs", n_cfg, DIMS * k, seed).reshape(n_cfg * k, DIMS)
    cams = _cameras(factory, u)
    rows = evaluator.pass_rows(cams.records, factory.frame_rate(cams.option))
    m = BitMatrix(evaluator.passes.weight)
    miss0 = np.ones(m.n_passes) if fixed_miss is None else fixed_miss
    read = rows.reshape(n_cfg, k, -1).any(axis=1)
    covered = ((1.0 - miss0 * (1.0 - read)) @ m.w) / m.total
    best = int(np.argmax(covered))
    return LhsSweep(k, n_cfg, float(covered[best]), best, covered)
