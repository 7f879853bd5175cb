"""The k best configurations of a sweep, merged chunk by chunk: memory O(k + chunk) however many configurations run.

The order is ``results.ranking``'s: sample coverage (covered weight), then redundancy, then the configuration index,
all exact integers, so merging chunks in any order gives the same k and the same order as ranking everything.
"""

from __future__ import annotations

import numpy as np


class TopK:
    """Keeps the k best (covered, redundant, index) triples seen so far."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError(f"TopK needs k >= 1, got {k}")
        self.k = int(k)
        self.index = np.zeros(0, np.int64)
        self.covered = np.zeros(0, np.int64)
        self.redundant = np.zeros(0, np.int64)

    def add(self, index: np.ndarray, covered: np.ndarray, redundant: np.ndarray) -> None:
        """Merge one chunk (configuration indices and their integer sums)."""
        index, covered, redundant = (np.asarray(a, np.int64) for a in (index, covered, redundant))
        if len(index) > self.k:  # the chunk's own k best first: the merge then sorts at most 2k
            keep = select(covered, redundant, index, self.k)
            index, covered, redundant = index[keep], covered[keep], redundant[keep]
        idx = np.concatenate([self.index, index])
        cov = np.concatenate([self.covered, covered])
        red = np.concatenate([self.redundant, redundant])
        keep = select(cov, red, idx, self.k)
        self.index, self.covered, self.redundant = idx[keep], cov[keep], red[keep]

    def order(self) -> np.ndarray:
        """Configuration indices of the k best (fewer when fewer were added), best first."""
        return self.index.copy()


def select(covered: np.ndarray, redundant: np.ndarray, index: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best, best first: argpartition on coverage to cut the candidates, then an exact sort."""
    n = len(index)
    if n > 4 * k:
        cut = np.partition(covered, n - k)[n - k]  # the k-th largest coverage: anything below cannot be in the top k
        cand = np.flatnonzero(covered >= cut)
    else:
        cand = np.arange(n)
    order = np.lexsort((index[cand], -redundant[cand], -covered[cand]))[:k]
    return cand[order]
