"""A sweep configuration's sums recomputed from its full per-camera detail (``SweepRunner.detail``), which
evaluates every camera x sample with no culling or skipping: the batched sums must equal these exactly."""

from __future__ import annotations

import numpy as np

from swb.engine.profiles import FACTORS
from swb.sweep.results import SweepSums


def assert_sums_match_detail(runner, sums: SweepSums, row: int, index: int) -> None:  # noqa: ANN001
    """``sums``' row ``row`` against the detail of design configuration ``index``."""
    w = runner.samples.weight_int
    det = runner.detail(index)
    dec = det.decodable
    n_dec = dec.sum(axis=1)
    assert sums.covered[row] == w[n_dec >= 1].sum()
    assert sums.redundant[row] == w[n_dec >= 2].sum()
    only = dec & (n_dec == 1)[:, None]
    assert np.array_equal(sums.unique[row], (only * w[:, None]).sum(axis=0))
    unread = n_dec == 0
    hist = np.bincount(det.limiting[unread] - 1, weights=w[unread], minlength=len(FACTORS))
    assert sums.limiting[row].sum() == w[unread].sum()
    assert np.array_equal(sums.limiting[row], hist.astype(np.int64))
