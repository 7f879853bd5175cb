"""Results files: JSON for small evaluations, Parquet (columnar, written in row-group chunks) for large ones.

The format follows the file name's suffix (``.json`` or ``.parquet``). JSON builds one Python object per pair and
holds the whole text in memory (about 3.5 KB of memory per pair while writing), so it is refused above
``JSON_MAX_PAIRS`` pairs; Parquet streams the pair table from the result arrays, one row group at a time. The
Parquet file's key-value metadata ``swb`` holds everything of the JSON document but the pairs (units, label
coverage, cameras, targets) as JSON text. See docs/results.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic_file import atomic_file
from ..errors import SwbError
from .pair_table import CHUNK_ROWS, pair_batches, pair_schema, require_pyarrow
from .results import JsonFrame, Results

JSON_MAX_PAIRS = 1_000_000  # above this many camera x target pairs results go to Parquet
FORMATS = {".json": "json", ".parquet": "parquet"}
FORMAT_VERSION = "swb.pairs/1"


def results_format(path: Path) -> str:
    """``json`` or ``parquet`` from the file name's suffix (an SwbError for any other)."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise SwbError(f"unknown results file type {Path(path).suffix or '(no suffix)'!r}", file=str(path),
                       hint="name it .json (up to 1,000,000 pairs) or .parquet")
    return fmt


def auto_format(results: Results) -> str:
    """The format a results file without an explicit suffix gets: JSON up to ``JSON_MAX_PAIRS`` pairs."""
    return "json" if pair_count(results) <= JSON_MAX_PAIRS else "parquet"


def pair_count(results: Results) -> int:
    return len(results.cameras) * len(results.targets)


def check_name(path: Path) -> str:
    """The format of ``path``, after the checks that need no results: its suffix and its folder."""
    fmt = results_format(path)
    _check_folder(Path(path))
    return fmt


def check_writable(path: Path, results: Results) -> str:
    """The format of ``path``, after the checks that need no writing (suffix, folder, size limit of JSON,
    pyarrow)."""
    fmt = check_name(path)
    n = pair_count(results)
    if fmt == "json" and n > JSON_MAX_PAIRS:
        raise SwbError(f"{n:,} pairs are too many for a JSON results file (at most {JSON_MAX_PAIRS:,})",
                       file=str(path), hint=f"name it {Path(path).with_suffix('.parquet').name}")
    if fmt == "parquet":
        require_pyarrow()
    return fmt


def _check_folder(path: Path) -> None:
    """Fail before any work when the file could not be created: a folder in its place, or the nearest existing
    folder above it not writable (or a file)."""
    if path.is_dir():
        raise SwbError("is a folder, not a file name", file=str(path))
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SwbError(f"could not be written: {parent} is not a writable folder", file=str(path))


def write_results(path: Path, results: Results, frame: JsonFrame | None = None,
                  chunk_rows: int = CHUNK_ROWS, extra: dict[str, Any] | None = None) -> Path:
    """Write ``results`` to ``path`` atomically in the format its suffix names; returns path. ``extra``: more
    top-level entries of the document (e.g. the transit read rates)."""
    path = Path(path)
    fmt = check_writable(path, results)
    with atomic_file(path) as fh:
        if fmt == "json":
            fh.write(json_bytes(results, frame, extra))
        else:
            write_parquet(fh, results, frame, chunk_rows, extra)
    return path


def companion(results: Results, frame: JsonFrame | None = None, fmt: str | None = None,
              chunk_rows: int = CHUNK_ROWS, extra: dict[str, Any] | None = None
              ) -> tuple[str, bytes | Callable[[Path], None]]:
    """The results file of a save (``swb eval --out``): its suffix and its content, JSON bytes or a function that
    streams the Parquet table to the path it is given (the save writes it under a temporary name, then renames)."""
    fmt = fmt or auto_format(results)
    if fmt == "json":
        return ".json", json_bytes(results, frame, extra)
    require_pyarrow()

    def write(path: Path) -> None:
        with open(path, "wb") as fh:
            write_parquet(fh, results, frame, chunk_rows, extra)
            fh.flush()
            os.fsync(fh.fileno())

    return ".parquet", write


def json_bytes(results: Results, frame: JsonFrame | None = None, extra: dict[str, Any] | None = None) -> bytes:
    """The results JSON document (as ``swb eval --json`` prints it), encoded."""
    return json.dumps(results.to_json(frame) | (extra or {}), indent=1).encode("utf-8")


def summary_metadata(results: Results, frame: JsonFrame | None = None,
                     extra: dict[str, Any] | None = None) -> dict[bytes, bytes]:
    """The Parquet file's ``swb`` metadata: the JSON document without its pairs, plus the table's format."""
    doc: dict[str, Any] = {"format": FORMAT_VERSION, **results.to_json(frame, pairs=False), **(extra or {})}
    return {b"swb": json.dumps(doc).encode("utf-8")}


def write_parquet(sink: Any, results: Results, frame: JsonFrame | None = None, chunk_rows: int = CHUNK_ROWS,
                  extra: dict[str, Any] | None = None) -> None:
    """Write the pair table to ``sink`` (a path or binary file), one row group per ``chunk_rows`` rows."""
    require_pyarrow()
    import pyarrow.parquet as pq

    schema = pair_schema(summary_metadata(results, frame, extra))
    # dictionary pages only for the path and factor columns: trying them on the float metrics costs more than
    # twice the write time for nothing
    with pq.ParquetWriter(sink, schema, use_dictionary=["camera", "target", "limiting"]) as writer:
        for batch in pair_batches(results.pairs, results.camera_paths, results.target_paths, chunk_rows):
            writer.write_batch(batch, row_group_size=chunk_rows)


def read_summary(path: Path) -> dict[str, Any]:
    """The ``swb`` metadata of a Parquet results file (units, label coverage, cameras, targets)."""
    pq = require_pyarrow().parquet
    meta = pq.read_schema(path).metadata or {}
    if b"swb" not in meta:
        raise SwbError("not an SWB results file (no swb metadata)", file=str(path))
    return json.loads(meta[b"swb"])
