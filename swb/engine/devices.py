"""Turning a user's --device into a Warp device, with a one-line error instead of a traceback."""

from __future__ import annotations

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
