"""Comparing two evaluations' verdicts strictly: exact classes on the pairs that matter, float ties excepted."""

from __future__ import annotations

import numpy as np

from swb.engine.profiles import FACTOR_CODE, FACTORS


def near_the_line(r, tol: float = 1e-3) -> np.ndarray:
    """Pairs whose verdict rests on a float comparison within ``tol`` of its limit (a margin or the combined
    sampling/blur margin at 1): the only pairs where float32 kernels and the float64 reference may differ."""
    cont = [FACTORS.index(f) for f in ("resolution", "defocus", "motion", "angle", "glare", "exposure")]
    m = np.asarray(r.margins, np.float64)[..., cont]
    near = np.any(np.isfinite(m) & (np.abs(m - 1.0) < tol), axis=-1)
    return near | (np.abs(np.asarray(r.combined_margin, np.float64) - 1.0) < tol)


def assert_same_verdicts(a, b) -> None:
    """The kernels' and the reference's verdict classes agree exactly on every pair that matters: decodable and
    the limiting factor on each pair in view, except the few that sit on a limit (where float32 may round either
    way); both classes are present, so a swapped class cannot hide in an agreement share (about 1 % of the pairs
    of a station decode)."""
    free = ~near_the_line(b)
    assert free.mean() > 0.99
    in_view = b.margins[..., FACTORS.index("fov")] > 0
    assert np.array_equal(a.decodable[free], b.decodable[free])
    assert np.array_equal(a.limiting[free & in_view], b.limiting[free & in_view])
    assert np.array_equal(a.limiting == FACTOR_CODE["fov"], b.limiting == FACTOR_CODE["fov"])
    assert b.decodable[free].sum() >= 5 and (~b.decodable[free & in_view].astype(bool)).sum() >= 20
