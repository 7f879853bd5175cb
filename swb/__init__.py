"""SWB, the Sensor Workbench: which barcodes each camera of a USD station can decode, computed with Warp.

    sim = swb.open("scenes/scan_tunnel.usda")
    res = sim.evaluate()
    res.camera("/World/Cameras/TopWide")   # one row per target
    sim.save("out/tunnel.swb.usda"); swb.restore("out/tunnel.swb.usda")
"""

from __future__ import annotations

from ._bootstrap import StartupInterrupts, install_sibling_finder, started_as_command  # isort: skip (first)

import contextlib  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402

install_sibling_finder(Path(__file__).resolve().parent)  # swb.kernels/schemas/scenes in a source checkout

with StartupInterrupts() if started_as_command() else contextlib.nullcontext():
    import warp as wp

    from .engine.devices import init_warp as _init_warp
    from .stage.schema import register as _register_schemas

    # Warp's banner and per-module compile lines are INFO; keep stdout clean for tables and JSON.
    wp.config.log_level = logging.WARNING
    _init_warp()  # now, so that no later first use prints Warp's "no CUDA driver" line on a machine without a GPU
    _register_schemas()  # codeless schemas must be known before anything touches the schema registry

    from .errors import SwbError, SwbWarning
    from .simulation import Simulation, open_simulation, register_viewer, restore_simulation
    from .stage.diagnostics import allowing_missing



def _serve_view(sim: Simulation, **options):  # noqa: ANN202 - swb.view.LiveView
    """``Simulation.view``: imported on first use (the browser view pulls in viser)."""
    from .view import serve

    return serve(sim, **options)


register_viewer(_serve_view)

__all__ = ["SwbError", "SwbWarning", "Simulation", "open", "restore", "bundled_scene"]
__version__ = "0.1.0"


def open(path: str | Path, *, device: str | None = None, threads: int | None = None,  # noqa: A001
         allow_missing: bool | None = None, detail: bool | None = None) -> Simulation:
    """Open a USD station for evaluation; the file itself is never modified. ``allow_missing``: go on (with a
    warning listing them) when referenced geometry assets, payloads or sublayers cannot be opened (default: as the
    enclosing ``swb.stage.diagnostics.allowing_missing`` block says, else False). ``detail``: keep every pair's
    blur metrics and margins instead of computing them on request (docs/results.md; same values; None: the
    ``SWB_DETAIL`` environment variable)."""
    if allow_missing is None:
        return open_simulation(path, device=device, threads=threads, detail=detail)
    with allowing_missing(allow_missing):
        return open_simulation(path, device=device, threads=threads, detail=detail)


def restore(path: str | Path, *, device: str | None = None, threads: int | None = None) -> Simulation:
    """Rebuild a simulation saved with Simulation.save (results and UI state bit for bit)."""
    return restore_simulation(path, device=device, threads=threads)


def bundled_scene(name: str = "scan_tunnel") -> Path:
    """Path of a scene shipped with SWB (scan_tunnel, pick_station, six_sided_tunnel)."""
    from importlib.resources import files

    path = Path(str(files("swb.scenes").joinpath(f"{name}.usda")))
    if not path.exists():
        raise SwbError(f"no bundled scene named {name!r}", hint="try scan_tunnel, pick_station or six_sided_tunnel")
    return path
