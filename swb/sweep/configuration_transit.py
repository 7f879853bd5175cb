"""The transit read rate of one configuration of a sweep (docs/sweeps.md): the station's moving labels, as
authored, carried at their velocity past that configuration's cameras, next to the station as authored.

A sweep ranks configurations by sample coverage (labels over orientations and positions, one frame each); a tunnel
engineer also asks what the chosen placement reads on the belt. The transit kernel runs once per configuration
asked for, with that configuration's camera records in place of the authored ones: the same figure
``swb eval --transit on`` gives on the stage ``swb sweep --apply`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.transit import TransitResults, evaluate_transits, label_speeds, transit_frames
from ..engine.world import pack_cameras
from ..simulation import Simulation
from .apply import candidate_builder, candidates_of
from .results import SweepResult


def configuration_cameras(sim: Simulation, result: SweepResult, index: int) -> np.ndarray:
    """Every sensor camera's packed record (scene order) in configuration ``index``."""
    records = pack_cameras(sim.scene.cameras, sim.scene.source)
    varied = candidate_builder(sim, result).varied
    if varied:
        records[varied] = candidates_of(sim, result, index).records[0]
    return records


@dataclass
class ConfigurationTransit:
    """The transit read rates of configuration ``index`` and of the station as authored."""

    index: int
    as_authored: TransitResults
    configured: TransitResults

    def line(self) -> str:
        a, c = self.as_authored, self.configured
        return (f"transit read rate (the moving labels as authored, every frame): configuration {self.index} "
                f"{100 * c.station_read_rate():.2f} % (independent looks {100 * c.station_read_rate(True):.2f} %), "
                f"as authored {100 * a.station_read_rate():.2f} %")

    def to_json(self) -> dict[str, Any]:
        return {"config": self.index, "read_rate": self.configured.station_read_rate(),
                "read_rate_independent_looks": self.configured.station_read_rate(True),
                "as_authored_read_rate": self.as_authored.station_read_rate()}


def has_moving_labels(sim: Simulation) -> bool:
    return bool((label_speeds(sim.scene.targets) > 0.0).any())


def configuration_work(sim: Simulation, result: SweepResult, index: int, phases: int) -> float:
    """Frame evaluations of both transits at most (``transit_frames``): whether to run them now."""
    world = sim.world
    configured = transit_frames(world, cameras=configuration_cameras(sim, result, index))
    return float(configured.sum(dtype=np.float64) + transit_frames(world).sum(dtype=np.float64)) * phases


def configuration_transit(sim: Simulation, result: SweepResult, index: int | None = None, *,
                          progress: Any = None) -> ConfigurationTransit:
    """Transit read rates of configuration ``index`` (default: the best) and of the station as authored."""
    index = result.best if index is None else index
    if index is None:
        raise ValueError("the sweep has no configuration evaluated")
    authored = sim.transit()
    configured = evaluate_transits(sim.world, cameras=configuration_cameras(sim, result, index), progress=progress)
    return ConfigurationTransit(int(index), authored, configured)
