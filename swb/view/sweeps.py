"""Sweep results stored on the stage, browsed in the live view: the ranked configurations of each sweep and the
camera poses and settings of one of them, to be authored through the simulation's edit methods.

The configurations are rebuilt from the stored design values with the sweep's own candidate builder, on the
cameras as they were when browsing started (the sweep's values are offsets from the authored poses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.model import Scene
from ..errors import SwbError
from ..simulation import Simulation
from ..sweep.api import stage_frame
from ..sweep.candidates import CandidateBuilder
from ..sweep.results import SWEEP_RESULTS_PRIM, read_sweep_layer
from ..sweep.sampling import columns_of
from ..sweep.spec import read_sweep

# Attributes a configuration may vary and the Python type each is authored as.
_KINDS = {"swb:sensor:resolution": "int2", "swb:sensor:decoderProfile": "token"}


@dataclass
class CameraSetting:
    """One camera of a configuration: its world pose and the attributes to author (USD names, stage values)."""

    path: str
    rotation: np.ndarray
    position: np.ndarray
    attributes: dict[str, Any]


@dataclass
class StoredSweep:
    name: str
    order: np.ndarray  # configurations, best first
    coverage: np.ndarray  # per configuration, over the sweep's samples
    values: np.ndarray  # design rows
    columns: list[str]
    builder: CandidateBuilder

    def label(self, rank: int) -> str:
        i = int(self.order[rank])
        params = ", ".join(f"{c}={v:.4g}" for c, v in zip(self.columns, self.values[i], strict=True))
        return f"#{rank + 1}: {100 * self.coverage[i]:.2f} % ({params})"

    def configuration(self, rank: int) -> list[CameraSetting]:
        """The cameras the sweep varied, as configuration ``order[rank]`` has them."""
        i = int(self.order[rank])
        cand = self.builder.build(self.values[i:i + 1])
        out = []
        for j, cam in enumerate(self.builder.cameras):
            attrs = {name: _value(name, values[0]) for name, values in cand.attributes[j].items()}
            out.append(CameraSetting(cam.path, cand.rotation[0, j], cand.position[0, j], attrs))
        return out


def sweep_names(sim: Simulation) -> list[str]:
    """Names of the sweep results the simulation holds (its sweep layer)."""
    spec = sim.sweep_layer.GetPrimAtPath(SWEEP_RESULTS_PRIM)
    return [] if spec is None else [child.name for child in spec.nameChildren]


def load_sweep(sim: Simulation, name: str, base: Scene) -> StoredSweep:
    """A stored sweep ready to browse; ``base``: the scene whose cameras its offsets apply to."""
    data = read_sweep_layer(sim.sweep_layer, name)
    prim = sim.stage.GetPrimAtPath(str(data["sweep"]))
    if not prim:
        raise SwbError(f"the sweep results {name!r} name a sweep the stage no longer holds", prim=str(data["sweep"]),
                       hint="run the sweep again")
    spec = read_sweep(prim, str(sim.scene_path))
    frame = stage_frame(sim.stage, base)
    builder = CandidateBuilder(base, spec, frame, columns_of(spec, frame.meters_per_unit))
    order = np.asarray(data["order"], np.int64)
    return StoredSweep(name=name, order=order, coverage=np.asarray(data["coverage"], np.float64),
                       values=np.asarray(data["values"], np.float64), columns=[str(c) for c in data["columns"]],
                       builder=builder)


def _value(name: str, value: Any) -> Any:
    kind = _KINDS.get(name)
    if kind == "int2":
        return (int(value[0]), int(value[1]))
    if kind == "token":
        return str(value)
    return float(np.float32(value))
