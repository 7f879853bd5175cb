"""The per-pair results as an Arrow table, built in row chunks straight from the result arrays.

One row per camera x target, camera-major (the order of the JSON ``pairs`` list). Columns are numpy views of
``PairResults`` wrapped by Arrow without copying; camera, target and limiting are dictionary columns (an int32 index
per row into the path or factor table), so millions of rows never become Python objects. Missing pyarrow is one
``SwbError`` line naming the ``parquet`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import SwbError
from .pair_records import Pairs, detail_flat, field_flat
from .pair_results import SCALAR_FIELDS, PairResults
from .profiles import FACTORS

# Rows per record batch (one Parquet row group): big enough for fast columnar writes, small enough that a chunk's
# temporaries (the index columns) stay a few tens of MB.
CHUNK_ROWS = 1 << 20

# Float columns in file order (``PairResults`` fields), then one ``margin:<factor>`` column per factor.
METRIC_COLUMNS: tuple[str, ...] = SCALAR_FIELDS


def require_pyarrow() -> Any:
    """The pyarrow module, or an SwbError saying which extra brings it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise SwbError("Parquet results need pyarrow, which is not installed",
                       hint="pip install 'swb[parquet]' (or pyarrow)") from None
    return pyarrow


def pair_schema(metadata: dict[bytes, bytes] | None = None) -> Any:
    """The Arrow schema of the pair table (``metadata``: the file's key-value metadata)."""
    pa = require_pyarrow()
    path = pa.dictionary(pa.int32(), pa.string())
    fields = [pa.field("camera", path, nullable=False), pa.field("target", path, nullable=False),
              pa.field("decodable", pa.bool_(), nullable=False), pa.field("limiting", path)]
    fields += [pa.field(name, pa.float32(), nullable=False) for name in METRIC_COLUMNS]
    fields += [pa.field(f"margin:{name}", pa.float32(), nullable=False) for name in FACTORS]
    return pa.schema(fields, metadata=metadata)


def pair_batches(pairs: Pairs, camera_paths: list[str], target_paths: list[str],
                 chunk_rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """Record batches of at most ``chunk_rows`` rows covering every pair, camera-major. The blur metrics and
    margins are asked chunk by chunk (compact results compute them then: one chunk's worth at a time)."""
    pa = require_pyarrow()
    if chunk_rows < 1:
        raise SwbError(f"the chunk size must be at least 1 row, got {chunk_rows}")
    n_cam, n_tgt = pairs.shape
    n = n_cam * n_tgt
    schema = pair_schema()
    cams = pa.array(camera_paths, pa.string())
    tgts = pa.array(target_paths, pa.string())
    factors = pa.array(list(FACTORS), pa.string())
    for a in range(0, n, chunk_rows):
        b = min(n, a + chunk_rows)
        rows = np.arange(a, b, dtype=np.int64)
        ci, ti = np.divmod(rows, max(n_tgt, 1))
        del rows
        code = field_flat(pairs, "limiting", a, b)
        limiting = pa.DictionaryArray.from_arrays(pa.array(code - 1, pa.int32(), mask=code == 0), factors)
        columns = [pa.DictionaryArray.from_arrays(pa.array(ci.astype(np.int32)), cams),
                   pa.DictionaryArray.from_arrays(pa.array(ti.astype(np.int32)), tgts),
                   pa.array(field_flat(pairs, "decodable", a, b)), limiting]
        defocus, motion, margins = detail_flat(pairs, a, b)
        chunk = {"defocus_px": defocus, "motion_px": motion}
        columns += [pa.array(np.ascontiguousarray(chunk[name]) if name in chunk
                             else np.ascontiguousarray(field_flat(pairs, name, a, b))) for name in METRIC_COLUMNS]
        columns += [pa.array(np.ascontiguousarray(margins[:, k])) for k in range(len(FACTORS))]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def dictionary_codes(column: Any, values: list[str]) -> np.ndarray:
    """Per row, the position in ``values`` of a dictionary (or string) column's entry; -1 for null (chunk by
    chunk, so a file's row groups may carry different dictionaries)."""
    pa = require_pyarrow()
    where = {v: i for i, v in enumerate(values)}
    parts = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        lookup = np.array([where.get(v, -2) for v in chunk.dictionary.to_pylist()] + [-1], np.int64)
        idx = chunk.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        parts.append(lookup[idx])
    out = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if (out == -2).any():
        raise SwbError("the pair table names a value that is not in its path or factor table")
    return out


def pairs_from_table(table: Any, camera_paths: list[str], target_paths: list[str]) -> PairResults:
    """The ``PairResults`` a pair table holds (the inverse of ``pair_batches``; tests and readers use it). Rows may
    come in any order: each lands at its camera and target."""
    shape = (len(camera_paths), len(target_paths))
    ci = dictionary_codes(table.column("camera"), camera_paths)
    ti = dictionary_codes(table.column("target"), target_paths)
    if len(ci) != shape[0] * shape[1]:
        raise SwbError(f"the pair table has {len(ci):,} rows, not one per camera x target ({shape[0] * shape[1]:,})")
    flat = ci * shape[1] + ti
    out = PairResults.empty(*shape)

    def put(target: np.ndarray, values: np.ndarray) -> None:
        target.reshape(len(flat), -1)[flat] = values.reshape(len(flat), -1)

    put(out.decodable, table.column("decodable").to_numpy().astype(bool))
    put(out.limiting, (dictionary_codes(table.column("limiting"), list(FACTORS)) + 1).astype(np.int32))
    for name in METRIC_COLUMNS:
        put(getattr(out, name), table.column(name).to_numpy().astype(np.float32))
    put(out.margins, np.stack([table.column(f"margin:{f}").to_numpy().astype(np.float32) for f in FACTORS], axis=-1))
    return out
