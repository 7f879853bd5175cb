"""The transit read rate on the command line: `--transit auto|on|off`, its budget check and its progress lines."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from .common import progress


def add_transit_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transit", choices=("auto", "on", "off"), default="auto",
                   help="transit read rates of moving labels: auto (default) runs them unless the station needs "
                   "more frame evaluations than the device does in about a minute (docs/results.md); on, off")


def transit_allowed(mode: str, work: float, world: Any) -> bool:  # world: swb.engine.world.World
    """Whether to run a transit of ``work`` frame evaluations on ``world``'s device: ``on`` always, ``off`` never,
    ``auto`` within about a minute of the device (else one line says how much it would be and how to ask)."""
    from ..engine.transit import auto_frame_budget

    if mode == "off":
        return False
    budget = auto_frame_budget(world.device, world.threads)
    if mode == "auto" and work > budget:
        progress(f"transits not run: about {work:,.0f} frame evaluations, more than {budget:,.0f} (about a minute "
                 f"on {world.device}); `--transit on` runs them, with progress")
        return False
    return True


def progress_every(seconds: float = 10.0) -> Callable[[float], None]:
    """A ``progress(share done)`` callback for a long transit: a line with the share and the time left, at most
    every ``seconds``."""
    t0 = time.perf_counter()
    last = [t0]

    def report(done: float) -> None:
        now = time.perf_counter()
        if now - last[0] >= seconds and done < 1.0:
            last[0] = now
            eta = (now - t0) * (1.0 - done) / max(done, 1e-9)
            progress(f"transits: {100 * done:.0f} % after {now - t0:.0f} s, about {eta:.0f} s to go")

    return report


def run_transit(sim: Any, mode: str = "auto") -> Any:  # swb.Simulation -> TransitResults | None
    """Transit read rates when some label moves and ``mode`` allows (None otherwise)."""
    from ..engine.transit import label_speeds

    if mode == "off" or not (label_speeds(sim.scene.targets) > 0.0).any():
        return None
    frames = sim.transit_work()
    if not transit_allowed(mode, frames, sim.world):
        return None
    t0 = time.perf_counter()
    tr = sim.transit(progress=progress_every())
    progress(f"transits: {int(tr.moving.sum())} moving labels x {len(tr.cameras)} cameras, every frame "
             f"({frames:,.0f} frame evaluations at most), in {time.perf_counter() - t0:.2f} s")
    return tr
