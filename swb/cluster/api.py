"""``sim.sweep(..., cluster=...)`` and ``sim.optimize(..., cluster=...)``: the usual sweep and design, with the
heavy part (configurations; the candidate matrix) run on Ray workers. ``cluster`` is a ``--cluster`` string (a
cluster for this call) or a started-on-demand ``swb.cluster.Cluster`` (kept for later calls)."""

from __future__ import annotations

from typing import Any

from ..optimize.api import optimize_simulation
from ..optimize.result import DesignResult
from ..sweep.api import sweep_simulation
from ..sweep.results import SweepResult
from .runs import ClusterSweep, DriverHost, cluster_rows
from .session import Cluster, using


def sweep_on_cluster(sim: DriverHost, cluster: str | Cluster, name: str | None = None, *,
                     chunk: int | None = None, **options: Any) -> SweepResult:
    """``swb.sweep.api.sweep_simulation`` with the configurations evaluated on ``cluster``."""
    with using(cluster) as cl:
        return sweep_simulation(sim, name, chunk=chunk, execute=ClusterSweep(cl, sim, chunk), **options)


def optimize_on_cluster(sim: DriverHost, cluster: str | Cluster, name: str | None = None,
                        **options: Any) -> DesignResult:
    """``swb.optimize.api.optimize_simulation`` with the candidate x pass matrix computed on ``cluster``."""
    with using(cluster) as cl:
        return optimize_simulation(sim, name, rows=cluster_rows(cl, sim), **options)
