"""Per-configuration rows of a sweep as an Arrow table, built from the sums arrays a chunk at a time (no Python
object per configuration), and a Parquet stream the runner feeds while the sweep runs.

Columns (names as in the CSV): ``rank`` (rank-ordered files only), ``config``, ``sample_coverage``, ``redundancy``,
one per design column in display units (``name[unit]``; a choice column holds its entry's label), then
``unique:<camera>`` and ``unread:<factor>``, shares of all sample weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_file import atomic_file
from ..engine.pair_table import require_pyarrow
from ..engine.profiles import FACTORS
from .sampling import Column

ROW_CHUNK = 1 << 16  # rows per batch when a finished result is written


def row_headers(columns: Sequence[Column], cameras: Sequence[str], ranked: bool = True) -> list[str]:
    params = [f"{c.name}[{c.unit}]" if c.unit and not c.is_index else c.name for c in columns]
    return [*(["rank"] if ranked else []), "config", "sample_coverage", "redundancy", *params,
            *[f"unique:{c}" for c in cameras], *[f"unread:{f}" for f in FACTORS]]


def row_batch(columns: Sequence[Column], cameras: Sequence[str], total: int, config: np.ndarray,
              covered: np.ndarray, redundant: np.ndarray, unique: np.ndarray, limiting: np.ndarray,
              values: np.ndarray, rank: np.ndarray | None = None) -> Any:
    """One record batch: rows for configurations ``config`` with their sums and design values (row-aligned)."""
    pa = require_pyarrow()
    def share(a: np.ndarray) -> Any:  # as SweepResult.share computes it, so files agree to the last bit
        a = np.asarray(a, np.float64)
        return pa.array(a / float(total) if total else np.zeros(a.shape))

    arrays: list[Any] = [] if rank is None else [pa.array(np.asarray(rank, np.int64))]
    arrays += [pa.array(np.asarray(config, np.int64)), share(covered), share(redundant)]
    for j, c in enumerate(columns):
        if c.is_index:
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(values[:, j].astype(np.int32)),
                                                         pa.array(list(c.labels), pa.string())))
        else:
            arrays.append(pa.array(values[:, j] * c.to_display))
    arrays += [share(unique[:, k]) for k in range(unique.shape[1])]
    arrays += [share(limiting[:, k]) for k in range(limiting.shape[1])]
    return pa.RecordBatch.from_arrays(arrays, names=row_headers(columns, cameras, rank is not None))


def write_ranked_rows(path: Path, res: Any, chunk: int = ROW_CHUNK) -> Path:
    """Every configuration of a finished ``SweepResult`` in rank order, written in batches of ``chunk`` rows."""
    pq = require_pyarrow().parquet
    with atomic_file(path) as fh:
        writer = None
        try:
            order = res.order
            for a in range(0, max(len(order), 1), chunk):
                rows = order[a:a + chunk]
                batch = row_batch(res.columns, res.cameras, res.total, res.config_ids[rows], res.sums.covered[rows],
                                  res.sums.redundant[rows], res.sums.unique[rows], res.sums.limiting[rows],
                                  res.values[rows], rank=np.arange(a + 1, a + 1 + len(rows)))
                if writer is None:
                    writer = pq.ParquetWriter(fh, batch.schema)
                writer.write_batch(batch)
        finally:
            if writer is not None:
                writer.close()
    return path


class RowStream:
    """A Parquet file of every configuration's row, in design order, written as each chunk of the sweep finishes
    (``swb sweep --rows``); it appears whole at ``close()`` and never in part (``abort()`` or an error removes it)."""

    def __init__(self, path: Path, columns: Sequence[Column], cameras: Sequence[str], total: int) -> None:
        pq = require_pyarrow().parquet
        self.path = Path(path)
        self.columns, self.cameras, self.total = list(columns), list(cameras), int(total)
        self.rows = 0
        self._stack = ExitStack()
        fh = self._stack.enter_context(atomic_file(self.path))
        empty = np.zeros(0, np.int64)
        schema = row_batch(self.columns, self.cameras, self.total, empty, empty, empty,
                           np.zeros((0, len(self.cameras)), np.int64), np.zeros((0, len(FACTORS)), np.int64),
                           np.zeros((0, len(self.columns)))).schema
        self._writer = pq.ParquetWriter(fh, schema)

    def write(self, start: int, sums: Any, values: np.ndarray) -> None:
        """Rows for configurations ``start ..`` (a chunk's ``SweepSums`` and design values)."""
        n = len(sums.covered)
        self._writer.write_batch(row_batch(self.columns, self.cameras, self.total, np.arange(start, start + n),
                                           sums.covered, sums.redundant, sums.unique, sums.limiting, values))
        self.rows += n

    def close(self) -> Path:
        self._writer.close()
        self._stack.close()  # fsync and rename
        return self.path

    def abort(self) -> None:
        """Remove the unfinished file (the temporary name; nothing appears at the path)."""
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - the writer may already be broken; the file is removed either way
            pass
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
