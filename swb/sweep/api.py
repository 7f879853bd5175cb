"""``Simulation.sweep``: the sweep spec from the stage (or a TOML file authored into it first), the batched run on
the simulation's Warp world, and the results into the simulation's sweep layer.

Everything the user can get wrong (unknown keys, cameras that are not sensor cameras, empty ranges, sample counts
that cannot fit) is checked before anything is authored or evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from pxr import Sdf, Usd

from ..engine.model import Scene
from ..engine.world import World
from ..errors import SwbError
from ..stage.attributes import author
from ..stage.units import LoadContext
from .candidates import CandidateBuilder, StageFrame
from .results import SweepResult, write_sweep_layer
from .run import Progress, SweepRunner
from .sampling import check_host_memory, columns_of, count_configurations
from .spec import (
    SWEEP_SAMPLER,
    SWEEP_SAMPLES,
    SWEEP_SEED,
    SweepSpec,
    author_sweep,
    load_toml_spec,
    read_sweep,
    spec_from_dict,
    sweep_prim,
)

Execute = Callable[[SweepRunner, Progress | None], SweepResult]  # how a runner's configurations are run


class SweepHost(Protocol):
    """What a sweep needs of a simulation (``swb.simulation.Simulation`` is one; the simulation passes itself in,
    so this module does not import it): the composed stage, its scene model and Warp world, and the layer that
    takes the sweep's arrays."""

    stage: Usd.Stage
    scene: Scene
    scene_path: Path
    threads: int | None
    sweep_layer: Sdf.Layer

    @property
    def world(self) -> World: ...

    def evaluate(self) -> Any: ...


def stage_frame(stage: Usd.Stage, scene: Scene) -> StageFrame:
    """Units and axes of the stage, and the units of cameras that come from assets in other units."""
    ctx = LoadContext.for_stage(stage)
    per_camera = {}
    for cam in scene.cameras:
        prim = stage.GetPrimAtPath(cam.path)
        if prim:
            mpu = ctx.unit_scale(prim)
            if mpu != ctx.meters_per_unit:
                per_camera[cam.path] = mpu
    return StageFrame(ctx.meters_per_unit, ctx.world_rotation, ctx.up_axis, per_camera)


def check_against_scene(spec: SweepSpec, scene: Scene, frame: StageFrame, host_budget: int | None = None) -> None:
    """Scene-dependent checks (cameras, optics, memory) without evaluating anything."""
    CandidateBuilder(scene, spec, frame, columns_of(spec, frame.meters_per_unit))
    check_host_memory(spec, count_configurations(spec), len(scene.cameras), host_budget)


def resolve_spec(sim: SweepHost, name: str | None, spec: str | Path | dict[str, Any] | SweepSpec | None,
                 frame: StageFrame, overrides: dict[str, Any], host_budget: int | None) -> SweepSpec:
    """The sweep to run: authored into the configuration layer when given, else read from the stage."""
    source = str(sim.scene_path)
    if spec is None:
        found = read_sweep(sweep_prim(sim.stage, name, source), source)
        wanted = found.with_overrides(**overrides)
        check_against_scene(wanted, sim.scene, frame, host_budget)
        if wanted != found:
            prim = sim.stage.GetPrimAtPath(found.path)
            author(prim, SWEEP_SAMPLER, wanted.sampler)
            author(prim, SWEEP_SAMPLES, int(wanted.samples))
            author(prim, SWEEP_SEED, int(wanted.seed))
        return read_sweep(sim.stage.GetPrimAtPath(found.path), source)
    if isinstance(spec, SweepSpec):
        given = spec
    elif isinstance(spec, dict):
        given = spec_from_dict(spec, frame.meters_per_unit, source=source, default_name=name or "sweep")
    else:
        given = load_toml_spec(spec, frame.meters_per_unit, name)
    given = given.with_overrides(**overrides)
    check_against_scene(given, sim.scene, frame, host_budget)
    prim = author_sweep(sim.stage, given)
    return read_sweep(prim, source)


def sweep_simulation(sim: SweepHost, name: str | None = None, *,
                     spec: str | Path | dict[str, Any] | SweepSpec | None = None, samples: int | None = None,
                     seed: int | None = None, sampler: str | None = None, chunk: int | None = None,
                     progress: Progress | None = None, memory_budget: int | None = None,
                     host_budget: int | None = None, execute: Execute | None = None,
                     rows: str | Path | None = None, keep: int | None = None) -> SweepResult:
    """Run a sweep of the simulation's stage and write its arrays into ``sim.sweep_layer``.

    ``execute(runner, progress)`` runs the configurations (default ``runner.run``; ``swb.cluster`` passes one that
    spreads chunks of ``runner.evaluate_range`` over Ray workers and ends with ``runner.finish``). It is called
    after the spec is authored, so it sees the configuration layer the run evaluates. ``rows`` (a .parquet file)
    gets every configuration's row as its chunk finishes; ``keep`` holds only that many best configurations (see
    ``SweepRunner.run``); the rows file appears whole when the sweep ends, never in part."""
    if rows is not None:
        check_rows_path(Path(rows))
    if execute is not None and (rows is not None or keep is not None):
        raise SwbError("streamed rows and keeping only the best are for a local run", hint="drop rows= and keep=")
    sim.evaluate()  # the scene model and the World (with its mesh) are current
    frame = stage_frame(sim.stage, sim.scene)
    overrides = {"samples": samples, "seed": seed, "sampler": sampler}
    resolved = resolve_spec(sim, name, spec, frame, overrides, host_budget)
    runner = SweepRunner(sim.scene, resolved, frame=frame, world=sim.world, chunk=chunk,
                         threads=sim.threads, memory_budget=memory_budget, host_budget=host_budget)
    stream = None
    try:
        if rows is not None:
            from .rows import RowStream

            stream = RowStream(Path(rows), runner.columns, [c.path for c in sim.scene.cameras],
                               int(runner.samples.weight_int.sum()))
        if execute is None:
            result = runner.run(progress, rows=stream, keep=keep)
        else:
            result = execute(runner, progress)
        if stream is not None and result.n_done == 0 and not result.complete:
            stream.abort()  # interrupted before any configuration finished: nothing is written
        elif stream is not None:
            stream.close()
    except BaseException:
        if stream is not None:
            stream.abort()
        raise
    finally:
        runner.close()
    write_sweep_layer(sim.sweep_layer, result)
    return result


def check_rows_path(path: Path) -> None:
    """A rows file is Parquet (the suffix says so) in a folder that can take it; pyarrow is installed."""
    from ..engine.pair_table import require_pyarrow
    from ..engine.results_files import check_name

    if path.suffix.lower() != ".parquet":
        raise SwbError(f"the rows of a sweep are written as Parquet, not {path.suffix or '(no suffix)'!r}",
                       file=str(path), hint="name the file .parquet")
    check_name(path)
    require_pyarrow()


def baseline_result(sim: SweepHost, like: SweepResult) -> SweepResult:
    """The stage as it is, measured the way ``like`` measured its configurations (same samples and seed)."""
    sim.evaluate()
    frame = stage_frame(sim.stage, sim.scene)
    spec = replace(like.spec, cameras=(), params=(), sampler="random", samples=0)
    runner = SweepRunner(sim.scene, spec, frame=frame, world=sim.world, threads=sim.threads)
    try:
        return runner.run()
    finally:
        runner.close()

