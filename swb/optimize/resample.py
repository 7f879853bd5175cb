"""Adaptive candidate resampling: new candidates aimed at what the current selection still misses.

After a greedy round, passes still unread are drawn in proportion to their weight; half of the new candidates
look squarely at one of their label samples from the mount point (of several drawn) that faces it best, the other
half are chosen cameras moved a little and re-aimed at an unread sample (Kumar et al. 2024 sample near the
uncovered points in the same spirit). Deterministic for the generator's state.
"""

from __future__ import annotations

import numpy as np

from .candidates import CandidateFactory, Candidates
from .passes import PassSet

FACING_TRIES = 16  # mount points drawn per aimed candidate
JITTER_M = 0.15  # position jitter of moved chosen cameras (metres, per axis)


def unread_samples(passes: PassSet, miss: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n label samples of passes drawn by weight x miss (empty when everything is read)."""
    p = passes.weight.astype(np.float64) * miss
    if n <= 0 or p.sum() <= 0.0:
        return np.zeros(0, np.int64)
    picked = rng.choice(passes.n, size=n, p=p / p.sum())
    rows = passes.positions[picked]
    valid = (rows >= 0).sum(axis=1)
    col = (rng.random(n) * valid).astype(np.int64)
    return rows[np.arange(n), col]


def resample(factory: CandidateFactory, passes: PassSet, miss: np.ndarray, chosen: Candidates, n: int,
             rng: np.random.Generator, origin: str) -> Candidates:
    """Up to n new candidates near what ``miss`` says is still unread."""
    if n <= 0:
        return factory.random(0, rng, origin)
    samples = unread_samples(passes, miss, n, rng)
    if len(samples) == 0:  # everything is read: look for cameras that read as much from elsewhere
        samples = rng.integers(0, len(factory.label_points), n)
    n_moved = n // 2 if chosen.n else 0
    n_facing = n - n_moved
    parts = []
    options = rng.integers(0, len(factory.options), n_facing)
    parts.append(factory.facing(samples[:n_facing], FACING_TRIES, rng, options, origin))
    if n_moved:
        src = rng.integers(0, chosen.n, n_moved)
        region = chosen.region[src]
        pos, ok = factory.project(region, chosen.position[src] + rng.normal(0.0, JITTER_M, (n_moved, 3)))
        pos = np.where(ok[:, None], pos, chosen.position[src])
        aim = factory.label_points[samples[n_facing:n_facing + n_moved]]
        roll = np.asarray(factory.spec.rolls, dtype=np.float64)[rng.integers(0, len(factory.spec.rolls), n_moved)]
        parts.append(factory.build(pos, aim, chosen.option[src], region, roll, origin))
    return Candidates.concatenate(parts)
