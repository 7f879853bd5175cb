"""Turning a user's --device into a Warp device, with a one-line error instead of a traceback."""

from __future__ import annotations

import os
import sys
import tempfile

import warp as wp

from ..errors import SwbError


def resolve_device(device: str | None) -> wp.context.Device:
    """The Warp device named by ``device`` ("cpu", "cuda", "cuda:1"), or the preferred one for None."""
    if device is None:
        return wp.get_preferred_device()
    try:
        return wp.get_device(device)
    except (ValueError, RuntimeError) as exc:
        known = ", ".join(str(d) for d in wp.get_devices())
        raise SwbError(f"unknown or unavailable Warp device {device!r} ({' '.join(str(exc).split())[:120]})",
                       hint=f"this machine has: {known}") from None


_NO_DRIVER = "Could not find or load the NVIDIA CUDA driver"


def init_warp() -> None:
    """Initialise Warp once, without its native "no CUDA driver" line on a machine without a GPU (the line is
    printed by Warp's C++ code, so it is caught at the file-descriptor level; anything else it prints passes)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to keep clean
        wp.init()
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            wp.init()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode("utf-8", errors="replace")
    kept = [line for line in text.splitlines() if _NO_DRIVER not in line]
    if kept:
        print("\n".join(kept), file=sys.stderr, flush=True)
