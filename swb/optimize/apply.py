"""``swb optimize --apply``: write a design's cameras into a new stage, and check that it reproduces.

The new stage is two files next to each other (the user's scene is never written):
  <out>.usda          root: stage metadata, sublayers [<out>.design.usda, the scene (relative path)]
  <out>.design.usda   the simulation's configuration edits (the SwbDesign prim included), the chosen cameras as
                      UsdGeom.Camera + SwbSensorAPI prims under the design's output path (one ``xformOp:transform``
                      each, optics in the stage's units), and, for ``existing = "replace"``, the stage's own sensor
                      cameras deactivated
``verify_design`` opens the new stage, evaluates its cameras over the design's label passes and compares every
pass with what the optimiser reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

from ..errors import SwbError
from ..simulation import Simulation
from ..stage import schema as S
from ..stage.layers import copy_stage_metadata, export_layers_atomic, open_layer
from ..stage.units import LoadContext
from ..sweep.api import stage_frame
from .candidates import CLIPPING_M, f32
from .evaluator import DesignEvaluator
from .passes import build_passes, counted_scene
from .result import DesignResult


def _ensure_xforms(stage: Usd.Stage, path: Sdf.Path) -> None:
    for prefix in path.GetPrefixes():
        if not stage.GetPrimAtPath(prefix):
            UsdGeom.Xform.Define(stage, prefix)


def write_design(sim: Simulation, result: DesignResult, out: str | Path) -> Path:
    """Write the design's cameras as a new stage at ``out`` (see the module docstring); returns its path."""
    out = Path(out).resolve()
    if out.suffix.lower() not in (".usda", ".usd", ".usdc"):
        raise SwbError("the designed stage needs a USD file name", file=str(out), hint="e.g. station.design.usda")
    layer_path = out.with_name(f"{out.stem}.design.usda")
    if sim.scene_path in (out, layer_path):
        raise SwbError("writing here would overwrite the scene the simulation was opened from", file=str(out),
                       hint="choose another file name")
    spec = result.spec
    scene_layer = open_layer(sim.scene_path)
    layer = Sdf.Layer.CreateAnonymous("design.usda")
    layer.TransferContent(sim.config_layer)
    root = Sdf.Layer.CreateAnonymous("designed.usda")
    copy_stage_metadata(sim.root_layer, root)
    root.subLayerPaths = [layer.identifier, scene_layer.identifier]
    stage = Usd.Stage.Open(root, Usd.Stage.LoadAll)
    stage.SetEditTarget(Usd.EditTarget(layer))
    ctx = LoadContext.for_stage(stage, str(sim.scene_path))
    mpu = ctx.meters_per_unit
    deactivated = []
    if spec.existing == "replace":
        for cam in sim.scene.cameras:
            prim = stage.GetPrimAtPath(cam.path)
            while prim and prim.IsInstanceProxy():  # cannot author inside an instance: deactivate the instance
                prim = prim.GetParent()
            if prim and prim.IsActive():
                prim.SetActive(False)
                deactivated.append(str(prim.GetPath()))
    parent_path = Sdf.Path(spec.output)
    if stage.GetPrimAtPath(parent_path):
        raise SwbError(f"{spec.output} already exists in the stage", file=spec.source or None, prim=spec.path or None,
                       attribute="swb:design:output", hint="name a new prim path for the designed cameras")
    _ensure_xforms(stage, parent_path)
    parent_world = ctx.to_world(stage.GetPrimAtPath(parent_path))
    t = Sdf.ValueTypeNames
    for cam, j in zip(result.cameras, range(result.selection.n), strict=True):
        sel = result.selection
        opt_idx = int(sel.option[j])
        sensor_i, lens_i = _option_parts(result, opt_idx)
        sensor, lens = spec.sensors[sensor_i], spec.lenses[lens_i]
        f_stop, exposure = _option_settings(result, opt_idx)
        prim_path = parent_path.AppendChild(cam.name)
        ucam = UsdGeom.Camera.Define(stage, prim_path)
        prim = ucam.GetPrim()
        world = np.eye(4)
        world[:3, :3] = sel.rotation[j] * mpu
        world[:3, 3] = sel.position[j]
        local = np.linalg.solve(parent_world, world)
        UsdGeom.Xformable(prim).AddTransformOp().Set(Gf.Matrix4d(local.T.tolist()))
        w, h = sensor.resolution
        ucam.CreateProjectionAttr(UsdGeom.Tokens.perspective)
        ucam.CreateFocalLengthAttr(float(lens.focal_length))
        ucam.CreateHorizontalApertureAttr(float(f32(w * sensor.pixel_pitch)))
        ucam.CreateVerticalApertureAttr(float(f32(h * sensor.pixel_pitch)))
        ucam.CreateClippingRangeAttr(Gf.Vec2f(*(float(f32(v / mpu)) for v in CLIPPING_M)))
        ucam.CreateFStopAttr(float(f_stop))
        if sensor.focus_mode == "fixed":
            ucam.CreateFocusDistanceAttr(float(f32(sel.focus[j] / mpu)))
        ucam.CreateExposureTimeAttr(float(exposure))
        prim.AddAppliedSchema(S.SENSOR_API)
        prim.CreateAttribute(S.SENSOR_RESOLUTION, t.Int2, custom=False).Set(Gf.Vec2i(w, h))
        prim.CreateAttribute(S.SENSOR_FOCUS_MODE, t.Token, custom=False).Set(sensor.focus_mode)
        prim.CreateAttribute(S.SENSOR_DECODER_PROFILE, t.Token, custom=False).Set(sensor.profile)
        if sensor.frame_rate > 0.0:
            prim.CreateAttribute(S.SENSOR_FRAME_RATE, t.Float, custom=False).Set(float(sensor.frame_rate))
        prim.SetCustomDataByKey("swb:design", {"design": spec.path, "option": cam.option,
                                               "frameRate": float(sensor.frame_rate), "cost": float(cam.cost)})
    del stage
    rel = os.path.relpath(sim.scene_path, out.parent).replace(os.sep, "/")
    root.subLayerPaths = [f"./{layer_path.name}", rel if rel.startswith("..") else f"./{rel}"]
    root.customLayerData = {"swb": {"design": spec.path, "readRate": float(result.read_rate),
                                    "cameras": len(result.cameras),
                                    "deactivated": Vt.StringArray(deactivated)}}
    export_layers_atomic([(layer, layer_path), (root, out)])
    return out


def _option_parts(result: DesignResult, option: int) -> tuple[int, int]:
    spec = result.spec
    k = 0
    for si, s in enumerate(spec.sensors):
        for li, lens in enumerate(spec.lenses):
            n = len(lens.f_stops) * len(s.exposures)
            if option < k + n:
                return si, li
            k += n
    raise IndexError(option)


def _option_settings(result: DesignResult, option: int) -> tuple[float, float]:
    spec = result.spec
    k = 0
    for s in spec.sensors:
        for lens in spec.lenses:
            for fs in lens.f_stops:
                for ex in s.exposures:
                    if k == option:
                        return fs, ex
                    k += 1
    raise IndexError(option)


@dataclass
class DesignCheck:
    """How the written stage compares with the optimiser's figures."""

    rate_reported: float
    rate_applied: float
    passes_equal: bool
    cameras: int

    @property
    def ok(self) -> bool:
        return self.passes_equal and self.rate_reported == self.rate_applied

    def message(self) -> str:
        if self.ok:
            return (f"check: the designed stage's {self.cameras} cameras reproduce the read rate "
                    f"{100 * self.rate_applied:.2f} % pass for pass")
        return (f"the designed stage reads {100 * self.rate_applied:.4f} % against the optimiser's "
                f"{100 * self.rate_reported:.4f} %")


def verify_design(path: str | Path, result: DesignResult, device: str | None = None,
                  threads: int | None = None) -> DesignCheck:
    """Open the written stage and evaluate its sensor cameras over the design's passes."""
    applied = Simulation(path, device=device, threads=threads)
    applied.evaluate()
    frame = stage_frame(applied.stage, applied.scene)
    counted, _ = counted_scene(applied.scene, result.spec.labels)
    passes = build_passes(counted, result.spec, frame, applied.world.face_part)
    evaluator = DesignEvaluator(applied.world, passes, threads)
    try:
        from ..engine.world import pack_cameras

        records = pack_cameras(applied.scene.cameras, applied.scene.source)
        prefix = result.spec.output.rstrip("/") + "/"
        fps = {prefix + c.name: c.frame_rate for c in result.cameras}
        rates = np.array([fps.get(c.path, 0.0) for c in applied.scene.cameras])
        rows = evaluator.pass_rows(records, rates)
    finally:
        evaluator.close()
    read = rows.any(axis=0) if len(rows) else np.zeros(passes.n, bool)
    rate = float(passes.weight[read].sum()) / float(passes.weight.sum())
    equal = len(read) == len(result.pass_read) and bool(np.array_equal(read, result.pass_read))
    return DesignCheck(result.read_rate, rate, equal, len(result.cameras))
