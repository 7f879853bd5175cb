"""The objective: a candidate x pass matrix of read probabilities and the read rate of a set of cameras.

Read rate of a set S = sum_p w_p (1 - prod_{c in S} (1 - p_cp)) / sum_p w_p: the weighted share of passes at least
one camera reads, for independent readers. It is monotone and submodular in S, which is what lazy greedy and its
(1 - 1/e) guarantee need. Today every p_cp is 0 or 1 (the model's decodable verdict, ``PassSet.reduce``) and the
rate is the weighted coverage; ``BitMatrix`` stores such a matrix packed (one bit per entry). A matrix of read
probabilities (``ProbMatrix``) plugs into the same code: everything below works on a *miss* vector, the probability
that each pass is still unread, and a block of rows as float64.

Weights are integers (``WEIGHT_ONE`` per target), so for 0/1 matrices every gain and rate is an exact integer sum
and results do not depend on chunking, BLAS threads or the device.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BLOCK_ENTRIES = 8_000_000  # rows x passes per float64 block (64 MB)


class ReadMatrix:
    """Candidates x passes read probabilities; subclasses store them."""

    binary = False

    def __init__(self, weight: np.ndarray) -> None:
        self.weight = np.asarray(weight, dtype=np.int64)
        self.w = self.weight.astype(np.float64)
        self.total = float(self.weight.sum())

    @property
    def n(self) -> int:
        raise NotImplementedError

    @property
    def n_passes(self) -> int:
        return int(len(self.weight))

    def rows(self, idx: np.ndarray | list[int]) -> np.ndarray:
        """(len(idx), P) float64 probabilities."""
        raise NotImplementedError

    def append(self, rows: np.ndarray) -> None:
        raise NotImplementedError

    def replace(self, i: int, row: np.ndarray) -> None:
        raise NotImplementedError

    def block_size(self) -> int:
        return max(1, BLOCK_ENTRIES // max(1, self.n_passes))

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        step = self.block_size()
        for a in range(0, self.n, step):
            yield a, self.rows(np.arange(a, min(self.n, a + step)))

    # ----- the objective on a miss vector
    def start(self, fixed: np.ndarray | None = None) -> np.ndarray:
        """Miss vector of the empty set, or of ``fixed`` rows (P,) / (k, P) already installed."""
        miss = np.ones(self.n_passes)
        if fixed is not None:
            for row in np.atleast_2d(fixed):
                miss *= 1.0 - row
        return miss

    def covered(self, miss: np.ndarray) -> float:
        """Weight read: sum w (1 - miss); an exact integer for 0/1 matrices."""
        return float(self.w @ (1.0 - miss))

    def rate(self, miss: np.ndarray) -> float:
        return self.covered(miss) / self.total if self.total else 0.0

    def gains(self, miss: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Weight each candidate (all, or ``idx``) would add to the set whose miss vector is ``miss``."""
        wm = self.w * miss
        if idx is not None:
            return self.rows(idx) @ wm if len(idx) else np.zeros(0)
        out = np.empty(self.n)
        for a, block in self.blocks():
            out[a:a + len(block)] = block @ wm
        return out

    def add(self, miss: np.ndarray, i: int) -> np.ndarray:
        return miss * (1.0 - self.rows([i])[0])

    def miss_of(self, chosen: list[int] | np.ndarray, fixed: np.ndarray | None = None) -> np.ndarray:
        miss = self.start(fixed)
        if len(chosen):
            for row in self.rows(np.asarray(chosen, dtype=np.int64)):
                miss = miss * (1.0 - row)
        return miss

    def union_miss(self, fixed: np.ndarray | None = None) -> np.ndarray:
        """Miss vector with every candidate installed: what no selection can beat."""
        miss = self.start(fixed)
        for _, block in self.blocks():
            miss = miss * np.prod(1.0 - block, axis=0)
        return miss


class BitMatrix(ReadMatrix):
    """A 0/1 matrix, one bit per entry (rows packed little-endian)."""

    binary = True

    def __init__(self, weight: np.ndarray, rows: np.ndarray | None = None) -> None:
        super().__init__(weight)
        self._bytes = (self.n_passes + 7) // 8
        self.packed = np.zeros((0, self._bytes), np.uint8)
        if rows is not None:
            self.append(rows)

    @property
    def n(self) -> int:
        return int(self.packed.shape[0])

    def pack(self, rows: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(rows, dtype=bool).reshape(-1, self.n_passes), axis=1, bitorder="little")

    def append(self, rows: np.ndarray) -> None:
        self.packed = np.concatenate([self.packed, self.pack(rows)])

    def replace(self, i: int, row: np.ndarray) -> None:
        self.packed[i] = self.pack(row)[0]

    def bools(self, idx: np.ndarray | list[int]) -> np.ndarray:
        bits = np.unpackbits(self.packed[np.asarray(idx, dtype=np.int64)], axis=1, bitorder="little")
        return bits[:, :self.n_passes].astype(bool)

    def rows(self, idx: np.ndarray | list[int]) -> np.ndarray:
        return self.bools(idx).astype(np.float64)

    def union_miss(self, fixed: np.ndarray | None = None) -> np.ndarray:
        union = np.bitwise_or.reduce(self.packed, axis=0) if self.n else np.zeros(self._bytes, np.uint8)
        read = np.unpackbits(union, bitorder="little")[:self.n_passes].astype(np.float64)
        return self.start(fixed) * (1.0 - read)

    @property
    def nbytes(self) -> int:
        return int(self.packed.nbytes)


class ProbMatrix(ReadMatrix):
    """Read probabilities in [0, 1], dense float32 (for a per-frame p_read model)."""

    def __init__(self, weight: np.ndarray, rows: np.ndarray | None = None) -> None:
        super().__init__(weight)
        self.p = np.zeros((0, self.n_passes), np.float32)
        if rows is not None:
            self.append(rows)

    @property
    def n(self) -> int:
        return int(self.p.shape[0])

    def append(self, rows: np.ndarray) -> None:
        r = np.asarray(rows, dtype=np.float32).reshape(-1, self.n_passes)
        if r.size and (np.any(r < 0.0) or np.any(r > 1.0) or not np.all(np.isfinite(r))):
            raise ValueError("read probabilities must lie in [0, 1]")
        self.p = np.concatenate([self.p, r])

    def replace(self, i: int, row: np.ndarray) -> None:
        self.p[i] = np.asarray(row, dtype=np.float32)

    def rows(self, idx: np.ndarray | list[int]) -> np.ndarray:
        return self.p[np.asarray(idx, dtype=np.int64)].astype(np.float64)
