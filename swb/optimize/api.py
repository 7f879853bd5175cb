"""What a simulation calls for ``sim.optimize(...)``: resolve the design (authored into the configuration layer,
USD stays the ground truth), run it on the simulation's world, return the result.

The simulation passes itself in through ``DesignHost`` (this module does not import it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pxr import Usd

from ..engine.model import Scene
from ..engine.world import World
from ..sweep.api import stage_frame
from ..sweep.candidates import StageFrame
from .optimizer import Optimizer, Progress, Rows, optimize_scene
from .result import DesignResult
from .safety import check_design_safety
from .spec import DesignSpec, author_design, design_from_dict, design_prim, load_toml_design, read_design


class DesignHost(Protocol):
    """What a design needs of a simulation (``swb.simulation.Simulation`` is one)."""

    stage: Usd.Stage
    scene: Scene
    scene_path: Path
    threads: int | None

    @property
    def world(self) -> World: ...

    def evaluate(self) -> Any: ...


def resolve_design(sim: DesignHost, name: str | None, spec: str | Path | dict[str, Any] | DesignSpec | None,
                   frame: StageFrame, overrides: dict[str, Any]) -> DesignSpec:
    """The design to solve: a given spec is authored into the configuration layer first, then read back."""
    source = str(sim.scene_path)
    if spec is None:
        found = read_design(design_prim(sim.stage, name, source), source)
        wanted = found.with_overrides(**overrides)
        if wanted == found:
            return found
        given = wanted
    elif isinstance(spec, DesignSpec):
        given = spec.with_overrides(**overrides)
    elif isinstance(spec, dict):
        given = design_from_dict(spec, frame.meters_per_unit, source=source,
                                 default_name=name or "design").with_overrides(**overrides)
    else:
        given = load_toml_design(spec, frame.meters_per_unit, name).with_overrides(**overrides)
    prim = author_design(sim.stage, given)
    got = read_design(prim, given.source or source)
    return got


def optimize_simulation(sim: DesignHost, name: str | None = None, *,
                        spec: str | Path | dict[str, Any] | DesignSpec | None = None,
                        read_rate: float | None = None, cameras: int | None = None, candidates: int | None = None,
                        seed: int | None = None, safety: str | None = None, progress: Progress | None = None,
                        rows: Callable[[Optimizer], Rows] | None = None) -> DesignResult:
    """Solve the simulation's design (see ``swb.optimize.optimizer``) on its world; ``rows`` computes the
    candidate matrix elsewhere (``swb.cluster``), called after the design is authored into the stage."""
    sim.evaluate()  # the scene model and the World (with its mesh) are current
    frame = stage_frame(sim.stage, sim.scene)
    overrides = {"read_rate": read_rate, "cameras": cameras, "candidates": candidates, "seed": seed,
                 "safety": safety}
    resolved = resolve_design(sim, name, spec, frame, overrides)
    verdict = check_design_safety(sim.stage, sim.scene, resolved, str(sim.world.device))  # before the search
    result = optimize_scene(sim.scene, resolved, frame=frame, world=sim.world, threads=sim.threads,
                            progress=progress, rows=rows)
    result.safety = verdict
    return result
