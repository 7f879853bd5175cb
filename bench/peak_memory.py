"""The peak resident memory of a benchmark process, so every benchmark reports what it needed."""

from __future__ import annotations

import resource
import sys


def peak_bytes() -> int:
    """The process's peak resident memory (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def report_peak() -> None:
    print(f"peak memory {peak_bytes() / 2**30:.2f} GB (ru_maxrss of this process)", flush=True)
