"""Write a file so that readers see the old file or the whole new one, never a part: a temporary file in the same
folder, fsync, then one rename. Any error or Ctrl-C removes the temporary file; OSError becomes one SwbError line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import SwbError


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """An open binary file that becomes ``path`` when the block ends without an exception."""
    path = Path(path)
    tmp: str | None = None
    try:
        if path.is_dir():
            raise SwbError("is a folder, not a file name", file=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise SwbError(f"could not be written: {exc.strerror or exc}", file=str(path)) from None
    finally:  # an error, SwbError or KeyboardInterrupt: no partial file stays behind
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
