"""``swb sweep --apply``: write one configuration of a sweep into a new stage, and check that it reproduces.

The new stage is two files next to each other:
  <out>.usda         root: stage metadata, sublayers [<out>.apply.usda, the scene (relative path)]
  <out>.apply.usda   the simulation's configuration edits, then the configuration's camera transforms (one
                     ``xformOp:transform`` each, so the pose is exact in double precision) and optics
The user's scene is never written. ``verify_applied`` opens the new stage and measures it the way the sweep
measured the configuration: the coverage and every sample's decodability must be equal, and with orientation
mode asAuthored and one position per target ``swb eval``'s per-target decodability must match too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom

from ..engine.world import pack_cameras
from ..errors import SwbError
from ..simulation import Simulation
from ..stage.layers import copy_stage_metadata, export_layers_atomic, open_layer, with_stage_metadata
from ..stage.placement import local_for_world_pose
from ..stage.units import LoadContext
from .api import baseline_result, stage_frame
from .candidates import CandidateBuilder, Candidates
from .results import SweepResult

_TYPES = {
    "focalLength": Sdf.ValueTypeNames.Float,
    "fStop": Sdf.ValueTypeNames.Float,
    "focusDistance": Sdf.ValueTypeNames.Float,
    "exposure:time": Sdf.ValueTypeNames.Float,
    "horizontalAperture": Sdf.ValueTypeNames.Float,
    "verticalAperture": Sdf.ValueTypeNames.Float,
    "swb:sensor:resolution": Sdf.ValueTypeNames.Int2,
    "swb:sensor:decoderProfile": Sdf.ValueTypeNames.Token,
}


def candidate_builder(sim: Simulation, result: SweepResult) -> CandidateBuilder:
    if result.runner is not None:
        return result.runner.builder
    return CandidateBuilder(sim.scene, result.spec, stage_frame(sim.stage, sim.scene), result.columns)


def candidates_of(sim: Simulation, result: SweepResult, index: int) -> Candidates:
    if not 0 <= index < result.n_done:
        raise SwbError(f"configuration {index} is not among the {result.n_done} evaluated",
                       hint=f"use 0..{result.n_done - 1} or 'best'")
    row = result.row_of(index)
    return candidate_builder(sim, result).build(result.values[row:row + 1])


def apply_configuration(sim: Simulation, result: SweepResult, out: str | Path, index: int | None = None) -> Path:
    """Write configuration ``index`` (default: the best) as a new stage at ``out``; returns its path."""
    index = result.best if index is None else index
    if index is None:
        raise SwbError("the sweep evaluated no configuration", hint="run it again without interrupting")
    out = Path(out).resolve()
    if out.suffix.lower() not in (".usda", ".usd", ".usdc"):
        raise SwbError("the applied stage needs a USD file name", file=str(out), hint="e.g. station.best.usda")
    apply_path = out.with_name(f"{out.stem}.apply.usda")
    if sim.scene_path in (out, apply_path):
        raise SwbError("writing here would overwrite the scene the simulation was opened from", file=str(out),
                       hint="choose another file name")
    cand = candidates_of(sim, result, index)
    builder = candidate_builder(sim, result)
    scene_layer = open_layer(sim.scene_path)
    layer = Sdf.Layer.CreateAnonymous("apply.usda")
    layer.TransferContent(sim.config_layer)
    root = Sdf.Layer.CreateAnonymous("applied.usda")
    copy_stage_metadata(sim.root_layer, root)
    root.subLayerPaths = [layer.identifier, scene_layer.identifier]
    stage = Usd.Stage.Open(root, Usd.Stage.LoadAll)
    stage.SetEditTarget(Usd.EditTarget(layer))
    ctx = LoadContext.for_stage(stage, str(sim.scene_path))
    matrices = []
    for j, cam in enumerate(builder.cameras):
        prim = stage.GetPrimAtPath(cam.path)
        matrices.append(local_for_world_pose(prim, ctx, np.asarray(cam.rotation, dtype=np.float64),
                                         cand.rotation[0, j], cand.position[0, j]))
    for j, cam in enumerate(builder.cameras):
        prim = stage.GetPrimAtPath(cam.path)
        xf = UsdGeom.Xformable(prim)
        xf.ClearXformOpOrder()
        xf.AddTransformOp().Set(Gf.Matrix4d(matrices[j].T.tolist()))
        for name, values in cand.attributes[j].items():
            _author(prim, name, values[0])
    del stage
    rel = os.path.relpath(sim.scene_path, out.parent).replace(os.sep, "/")
    root.subLayerPaths = [f"./{apply_path.name}", rel if rel.startswith("..") else f"./{rel}"]
    root.customLayerData = {"swb": {"appliedSweep": result.spec.path, "configuration": int(index),
                                    "sampleCoverage": float(result.coverage[result.row_of(index)]),
                                    "parameters": result.parameters(index)}}
    export_layers_atomic([(with_stage_metadata(layer, root), apply_path), (root, out)])
    return out


def _author(prim: Usd.Prim, name: str, value: object) -> None:
    type_name = _TYPES[name]
    if type_name == Sdf.ValueTypeNames.Int2:
        value = Gf.Vec2i(int(value[0]), int(value[1]))  # type: ignore[index]
    elif type_name == Sdf.ValueTypeNames.Token:
        value = str(value)
    else:
        value = float(np.float32(value))
    attr = prim.GetAttribute(name)
    if not attr:
        attr = prim.CreateAttribute(name, type_name, custom=False)
    attr.Set(value)


@dataclass
class Verification:
    """How the applied stage compares with the sweep's numbers for that configuration."""

    coverage_sweep: float
    coverage_applied: float
    samples_equal: bool
    optics_equal: bool  # every optical field of every camera record bit for bit
    pose_difference: float  # largest difference of a rotation entry or position (metres), float32 records
    eval_checked: bool = False
    eval_equal: bool = True
    differing_targets: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.coverage_sweep == self.coverage_applied and self.samples_equal and self.eval_equal
                and self.optics_equal)

    def message(self) -> str:
        if self.ok:
            what = "swb eval's per-target decodability and " if self.eval_checked else ""
            return (f"check: the applied stage reproduces {what}the sweep's sample coverage "
                    f"{100 * self.coverage_sweep:.2f} % exactly")
        return (f"the applied stage gives sample coverage {100 * self.coverage_applied:.4f} % against the sweep's "
                f"{100 * self.coverage_sweep:.4f} %; differing targets: {', '.join(self.differing_targets) or '-'}")


def verify_applied(path: str | Path, sim: Simulation, result: SweepResult, index: int | None = None,
                   device: str | None = None) -> Verification:
    """Open the applied stage and measure it as the sweep measured configuration ``index`` (default: best)."""
    index = result.best if index is None else index
    assert index is not None
    applied = Simulation(path, device=device if device is not None else sim.device, threads=sim.threads)
    again = baseline_result(applied, result)
    runner = result.runner
    expected = runner.detail(index) if runner is not None else None
    if runner is not None:
        runner.close()  # detail() may have restarted its CPU thread pool
    got = again.baseline_detail
    assert got is not None
    read_got = got.decodable.any(axis=1)
    samples_equal = expected is not None and bool(np.array_equal(read_got, expected.decodable.any(axis=1)))
    got_rec = pack_cameras(applied.scene.cameras)
    want_rec = runner.cameras_for(index) if runner is not None else got_rec
    optics = [f for f in got_rec.dtype.names if f not in ("rot", "pos")]
    optics_equal = all(np.array_equal(got_rec[f], want_rec[f]) for f in optics)
    pose = max(float(np.abs(got_rec[f].astype(np.float64) - want_rec[f]).max(initial=0.0)) for f in ("rot", "pos"))
    differing = []
    if expected is not None:
        bad = np.unique(result.sample_target[read_got != expected.decodable.any(axis=1)])
        differing = [result.targets[int(t)] for t in bad]
    v = Verification(float(result.coverage[result.row_of(index)]), float(again.share(again.baseline.covered)[0]),
                     samples_equal, optics_equal, pose, differing_targets=differing)
    if result.as_authored:  # one sample per target, exactly as authored: swb eval must agree
        res = applied.evaluate()
        eval_read = res.pairs.decodable.any(axis=0)
        v.eval_checked = True
        v.eval_equal = bool(np.array_equal(eval_read, read_got)) and (
            expected is None or bool(np.array_equal(eval_read, expected.decodable.any(axis=1))))
        v.differing_targets += [result.targets[t] for t in np.flatnonzero(eval_read != read_got)]
    return v

