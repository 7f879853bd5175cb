"""A simulation: a user's stage composed under SWB's own layers, its Warp world, and live incremental updates.

Layer stack of the simulation's (anonymous) root, strongest first:
  ui       UI state on /SWB (active camera, selection, visualisation mode, viewer pose)
  results  result arrays on /SWB/Results and a summary over each target
  sweep    sweep result arrays on /SWB/SweepResults/<name> (see swb.sweep.results)
  config   configuration edits made through SWB (the edit target), sweep specs on /SWB/Sweeps included
  scene    the user's file, never written to
Every edit is authored into USD first; a Tf notice tells the simulation which prims changed, and only those are
re-read into the scene model, re-uploaded into the Warp world and re-evaluated. A prim whose transform alone
changed is only re-placed (its pose and those below it), not re-read; an index from prim paths to the cameras,
targets and parts at or below them finds what an edit touches without a walk over every path.

The host results are updated in place (only the rows, columns and pairs recomputed are copied back); a Results
someone still holds is copied first, so it stays what it was. By default a simulation keeps each pair's 32-byte
record, on the device and on the host, and computes the blur metrics and margins on request for the pairs asked
(swb/engine/pair_records.py); ``Simulation(detail=True)`` keeps them all, as before (76 B a pair on the device,
81 B on the host). The results layer is written when someone needs
it: ``save``, ``flush_results``, or reading ``stage`` or ``results_layer`` (then only the arrays and the target
summaries that changed are rewritten).
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pxr import Gf, Sdf, Tf, Usd, UsdGeom

from .engine.detail_source import WorldDetail
from .engine.model import CameraModel, MeshPart, Scene, TargetModel
from .engine.pair_records import PairRecords, Pairs
from .engine.results import Results
from .engine.transit import PHASES, TransitResults, evaluate_transits, transit_frames
from .engine.world import World
from .errors import SwbError
from .stage import load as loader
from .stage.attributes import create_attribute
from .stage.geometry import split_instance_path
from .stage.layers import copy_stage_metadata, open_layer, open_stage
from .stage.placement import local_for_world_pose
from .stage.results_layer import SWB_PRIM, PairChanges, ResultsLayerWriter, read_records, read_results
from .stage.save import SaveContent, check_save_target, file_signature, read_save, write_save
from .stage.ui_state import UiState, read_ui_state, write_ui_state
from .stage.units import rigid_poses

# Properties whose change alters which prims take part, not just where they are: re-read the whole scene.
_STRUCTURAL_PROPERTIES = {"visibility", "purpose"}


def _is_transform(name: str) -> bool:
    """A property that only places a prim (and everything below it)."""
    return name.startswith("xformOp:") or name == "xformOpOrder"


@dataclass
class _Plan:
    """What a batch of edits touches, by index, and which of those need a full re-read (their own prim changed
    more than its transform; the rest are only re-placed)."""

    cameras: list[int]
    targets: list[int]
    parts: list[int]
    reread: set[str]


@dataclass
class UpdateStats:
    """What the last evaluate() recomputed: proof that a move touches only what it affects."""

    full: bool = False
    cameras: list[int] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    parts: list[int] = field(default_factory=list)
    pairs: int = 0


class Simulation:
    """Evaluate sensor cameras against barcode targets on one USD stage."""

    def __init__(
        self,
        scene_path: str | Path,
        *,
        device: str | None = None,
        threads: int | None = None,
        config: Sdf.Layer | None = None,
        ui: Sdf.Layer | None = None,
        results: Sdf.Layer | None = None,
        sweep: Sdf.Layer | None = None,
        detail: bool | None = None,
    ) -> None:
        """``detail``: keep every pair's blur metrics and margins (the old 76 + 81 B a pair) instead of computing
        them on request; the values are the same either way (None: the ``SWB_DETAIL`` environment variable, 1/0,
        else False)."""
        self.scene_path = Path(scene_path).resolve()
        self.device = device
        self.threads = threads
        self.detail = detail_wanted(detail)
        # the file as read, when this open read it (a layer already in USD's registry may predate the file on disk)
        signature = file_signature(self.scene_path) if Sdf.Layer.Find(str(self.scene_path)) is None else None
        scene_layer = open_layer(self.scene_path)
        self._scene_signature = signature if file_signature(self.scene_path) == signature else None
        self.config_layer = _anonymous_copy(config, "config.usda")
        self._results_layer_obj = Sdf.Layer.CreateAnonymous("results.usdc")
        self.sweep_layer = _anonymous_copy(sweep, "sweep.usdc")
        self.ui_layer = _anonymous_copy(ui, "ui.usda")
        self.root_layer = Sdf.Layer.CreateAnonymous("simulation.usda")
        copy_stage_metadata(scene_layer, self.root_layer)
        self.root_layer.subLayerPaths = [
            self.ui_layer.identifier,
            self._results_layer_obj.identifier,
            self.sweep_layer.identifier,
            self.config_layer.identifier,
            scene_layer.identifier,
        ]
        self._scene_layer = scene_layer  # keep the user's layer open for the stage's lifetime
        self._stage = open_stage(self.root_layer)
        self._stage.SetEditTarget(Usd.EditTarget(self.config_layer))
        self._results_writer = ResultsLayerWriter(self._results_layer_obj)
        self._layer_stale = False  # the results layer lags behind self._pairs
        # pairs recomputed since the layer was written (None: any may have changed): compact results compute the
        # detail the layer stores for those alone
        self._unwritten: PairChanges | None = None
        self.scene: Scene = loader.load_scene_from_stage(self._stage, str(self.scene_path))
        self.ui = read_ui_state(self.ui_layer)
        self._world: World | None = None
        self._world_current = False  # device results cover every pair of the current scene
        self._pairs: Pairs | None = None  # host results, updated in place (see _writable_pairs)
        self._handed_out: list[weakref.ref] = []  # views of them given to callers (copy before writing)
        self._results_ref: weakref.ref | None = None  # the Results last given out, reused while alive
        self._entity_index: _EntityIndex | None = None
        self._path_index: tuple[dict[str, int], dict[str, int]] | None = None
        self._dirty: dict[Sdf.Path, bool] = {}  # changed prim -> something other than its transform changed
        self._structural = False
        self._muted = False
        self.last_update = UpdateStats()
        if results is not None:
            read = read_results if self.detail else read_records  # compact: the detail stays in the layer's arrays
            self._pairs = read(results, [c.path for c in self.scene.cameras], [t.path for t in self.scene.targets])
            self._layer_stale = True
        self._listener = Tf.Notice.Register(Usd.Notice.ObjectsChanged, self._on_objects_changed, self._stage)

    # ----- change tracking -------------------------------------------------------------------------------------
    def _on_objects_changed(self, notice: Usd.Notice.ObjectsChanged, stage: Usd.Stage) -> None:
        if self._muted:
            return
        for path in notice.GetResyncedPaths():
            if path.HasPrefix(SWB_PRIM):
                continue
            if path.IsPrimPath() or path.IsAbsoluteRootPath():
                self._structural = True
            else:
                self._note_property(path)
        for path in notice.GetChangedInfoOnlyPaths():
            # a prim path here means metadata or a new over spec (authoring creates overs for ancestors):
            # nothing SWB reads; property paths are the values that matter
            if path.IsPropertyPath() and not path.HasPrefix(SWB_PRIM):
                self._note_property(path)

    def _note_property(self, path: Sdf.Path) -> None:
        if path.IsPropertyPath() and path.name in _STRUCTURAL_PROPERTIES:
            self._structural = True
        prim = path.GetPrimPath()
        settings = not (path.IsPropertyPath() and _is_transform(path.name))
        self._dirty[prim] = self._dirty.get(prim, False) or settings

    # ----- the stage and its results layer ----------------------------------------------------------------------
    @property
    def stage(self) -> Usd.Stage:
        """The composed stage (scene, config, sweep, results, ui), with the results layer brought up to date."""
        self.flush_results()
        return self._stage

    @property
    def results_layer(self) -> Sdf.Layer:
        """The layer holding the result arrays and target summaries, brought up to date."""
        self.flush_results()
        return self._results_layer_obj

    def flush_results(self, rewrite: bool = False) -> bool:
        """Write pending results into the results layer (only what changed since the last write; everything with
        ``rewrite``); returns whether anything was written. Saving, and reading ``stage`` or ``results_layer``,
        call it."""
        if rewrite:
            self._results_writer.reset()
            self._layer_stale = True
        if not self._layer_stale or self._pairs is None:
            return False
        self._muted = True
        try:
            self._results_writer.write(self.results, changed=self._unwritten)  # type: ignore[arg-type]
        finally:
            self._muted = False
        self._layer_stale = False
        self._unwritten = PairChanges()
        return True

    # ----- evaluation ------------------------------------------------------------------------------------------
    @property
    def world(self) -> World:
        """The Warp world, built on first use and kept for incremental updates."""
        if self._world is None:
            self._world = World(self.scene, device=self.device, threads=self.threads, detail=self.detail)
            self._world_current = False
        return self._world

    def transit(self, *, phases: int = PHASES, reach: float | None = None,
                progress: Callable[[float], None] | None = None) -> TransitResults:
        """Transit read rates of the moving labels (docs/model.md, rule 12), on the current world (pending edits
        are evaluated first). ``reach``: metres each label travels either side of its place (default: twice its
        distance to the farthest camera); ``progress(share done)`` is called as a big transit runs."""
        if self._pairs is None or self.has_pending_changes:
            self.evaluate()
        return evaluate_transits(self.world, phases=phases, reach=reach, progress=progress)

    def transit_work(self, *, phases: int = PHASES, reach: float | None = None) -> float:
        """How many frame evaluations ``transit`` will run at most (a cheap pass first: whether to run it now)."""
        if self._pairs is None or self.has_pending_changes:
            self.evaluate()
        return float(transit_frames(self.world, reach=reach).sum(dtype=np.float64)) * phases

    @property
    def results(self) -> Results | None:
        """The latest results (evaluated or restored), or None before the first evaluation. A Results stays what it
        was when later edits are evaluated (the simulation copies its arrays before writing into them)."""
        if self._pairs is None:
            return None
        held = self._results_ref() if self._results_ref is not None else None
        if held is not None:
            return held
        view = _view(self._pairs)
        self._handed_out = [r for r in self._handed_out if r() is not None]
        self._handed_out.append(weakref.ref(view))
        res = Results(self.scene.cameras, self.scene.targets, view, index=self._paths())
        self._results_ref = weakref.ref(res)
        return res

    def _paths(self) -> tuple[dict[str, int], dict[str, int]]:
        if self._path_index is None:
            self._path_index = ({c.path: i for i, c in enumerate(self.scene.cameras)},
                                {t.path: i for i, t in enumerate(self.scene.targets)})
        return self._path_index

    def _writable_pairs(self) -> Pairs:
        """The host results, ready to be written in place: copied first while a caller still holds a view."""
        assert self._pairs is not None
        self._results_ref = None
        if any(r() is not None for r in self._handed_out):
            self._pairs = self._pairs.copy()
        self._handed_out = []
        return self._pairs

    def _new_scene(self, scene: Scene) -> None:
        self.scene = scene
        self._world = None
        self._entity_index = None
        self._path_index = None
        self._results_ref = None

    def release_world(self) -> None:
        """Free the Warp world (mesh, BVH, device buffers) when no evaluation is coming next, e.g. before writing a
        large station's save: a 4 M-triangle world is about 0.4 GB of host memory. Results stay; the next
        evaluation builds the world again. Compact results still compute their detail from the world's cameras,
        targets and geometry: those stay with them (the per-pair arrays go)."""
        world, self._world = self._world, None
        if world is None:
            return
        if isinstance(self._pairs, PairRecords) and isinstance(self._pairs.source, WorldDetail):
            world.release_pairs()
            self._pairs.source.keep(world)
        else:
            world.close()

    def evaluate(self, *, full: bool = False) -> Results:
        """Bring results up to date: everything on first use (or with full=True), afterwards only what changed.

        Changed prims are all read before anything is applied, so a bad edit raises SwbError and leaves the world
        and the results as they were (the edit stays pending and is reported again on the next call)."""
        if full:
            self._world_current = False
        if self._dirty and not self._world_current:
            self._structural = True  # edits before the first evaluation: read the scene afresh
        plan = self._plan_changes() if self._dirty and not self._structural else None
        ctx = parts = None
        if plan is not None:
            ctx = loader.LoadContext.for_stage(self._stage, str(self.scene_path))
            parts = self._read_parts(plan, ctx)  # parts first: their refit runs while the rest is read
        if self._structural:
            self._new_scene(loader.load_scene_from_stage(self._stage, str(self.scene_path)))
            self._structural = False
            self._dirty.clear()
        world = self.world
        if not self._world_current:
            self._dirty.clear()
            world.evaluate()
            self.last_update = UpdateStats(full=True, pairs=len(self.scene.cameras) * len(self.scene.targets))
            self._world_current = True
            self._results_ref = None
            self._handed_out = []
            self._unwritten = None
            self._pairs = (world.results() if self.detail
                           else PairRecords(world.records(), WorldDetail(world, self.scene)))
        elif plan is not None and parts is not None and ctx is not None:
            self._apply_changes(world, plan, ctx, parts)
            self._dirty.clear()
        else:
            self.last_update = UpdateStats()
            if self._pairs is not None:
                return self.results  # type: ignore[return-value]
        self._layer_stale = True
        return self.results  # type: ignore[return-value]

    @property
    def has_pending_changes(self) -> bool:
        """Edits authored since the last evaluation (the results do not reflect them yet)."""
        return bool(self._dirty) or self._structural

    def _plan_changes(self) -> _Plan | None:
        """The cameras, targets and parts at or below a changed prim; None (and a rebuild) when a change is more
        than a move or a setting: a prototype edited, a PointInstancer changed, a new or removed prim."""
        index = self._index()
        cams: set[int] = set()
        tgts: set[int] = set()
        parts: set[int] = set()
        for c in self._dirty:
            hits = index.below.get(str(c))
            if hits is None:
                if self._may_hold_geometry(c):
                    self._structural = True
                    return None
                continue
            cams.update(hits[0])
            tgts.update(hits[1])
            parts.update(hits[2])
        if (cams & index.instanced[0]) or (tgts & index.instanced[1]) or (parts & index.instanced[2]):
            self._structural = True
            return None
        reread = {str(p) for p, settings in self._dirty.items() if settings}
        return _Plan(sorted(cams), sorted(tgts), sorted(parts), reread)

    def _read_parts(self, plan: _Plan, ctx: loader.LoadContext) -> dict[int, MeshPart] | None:
        """Moved parts re-placed, edited ones re-read; None (and a rebuild) when a part changed shape."""
        out = {}
        for i in plan.parts:
            old = self.scene.parts[i]
            if old.path in plan.reread:
                new = _reread_part(self._stage, old.path, ctx)
                if new is None or new.points.shape != old.points.shape or new.triangles.shape != old.triangles.shape:
                    self._structural = True  # the part changed shape, not place: rebuild from a fresh read
                    return None
            else:
                new = _with(old, to_world=ctx.to_world(self._stage.GetPrimAtPath(old.path)))
            out[i] = new
        return out

    def _read_entities(self, plan: _Plan, ctx: loader.LoadContext) -> tuple[dict[int, CameraModel],
                                                                             dict[int, TargetModel]]:
        """Cameras and targets under the changes: re-read when their own prim changed a setting, else re-placed
        (one batched pose computation for all the labels on a moved parcel)."""
        stage, scene = self._stage, self.scene

        def read(items: list, idx: list[int], reader, what: str, uniform: bool) -> dict:
            out = {}
            moved = []
            for i in idx:
                if items[i].path in plan.reread:
                    out[i] = reader(stage.GetPrimAtPath(items[i].path), ctx)
                else:
                    moved.append(i)
            rot, pos = rigid_poses([stage.GetPrimAtPath(items[i].path) for i in moved], ctx, what, uniform)
            for k, i in enumerate(moved):
                out[i] = _with(items[i], rotation=rot[k], position=pos[k])
            return out

        return (read(scene.cameras, plan.cameras, loader.read_camera, "camera", True),
                read(scene.targets, plan.targets, loader.read_target, "barcode", False))

    def prepare_edits(self) -> None:
        """Build what incremental edits use (the prim-path index) now, not on the first edit (an interactive view
        calls it so the first drag answers as fast as the rest)."""
        self._index()

    def _index(self) -> _EntityIndex:
        if self._entity_index is None:
            self._entity_index = _EntityIndex(self.scene)
        return self._entity_index

    def _may_hold_geometry(self, path: Sdf.Path) -> bool:
        """A changed prim that is no camera, target or part may still feed them: the source of native instances
        or a PointInstancer prototype is an Imageable outside every entity path; a removed prim counts too."""
        prim = self._stage.GetPrimAtPath(path)
        return not prim or prim.IsA(UsdGeom.Imageable)

    def _apply_changes(self, world: World, plan: _Plan, ctx: loader.LoadContext,
                       parts: dict[int, MeshPart]) -> None:
        """Upload and re-evaluate what changed. Moved parts are placed and their BVH refit starts first; cameras
        and targets are read meanwhile. A read that fails puts the parts back: nothing changes."""
        move = world.begin_move(parts) if parts else None
        try:
            cameras, targets = self._read_entities(plan, ctx)
        except BaseException:
            if move is not None:
                world.cancel_move(move)
            raise
        cams, tgts = plan.cameras, plan.targets
        world.update_cameras(cameras)
        world.update_targets(targets)
        for i, cam in cameras.items():
            self.scene.cameras[i] = cam
        for i, tgt in targets.items():
            self.scene.targets[i] = tgt
        n_pairs = 0
        c_idx = t_idx = np.zeros(0, np.int32)
        if move is not None:
            c_idx, t_idx = world.finish_move(move)  # all slices placed, then one BVH refit
            for i, part in parts.items():
                self.scene.parts[i] = part
            if cams or tgts:  # rows and columns recomputed below need no pair of their own
                keep = ~(np.isin(c_idx, cams) | np.isin(t_idx, tgts))
                c_idx, t_idx = c_idx[keep], t_idx[keep]
            if len(c_idx):
                world.evaluate_pairs(c_idx, t_idx)
            n_pairs += len(c_idx)
        if cams:
            world.evaluate(cameras=cams)
            n_pairs += len(cams) * len(self.scene.targets)
        if tgts:
            world.evaluate(targets=tgts)
            n_pairs += len(tgts) * len(self.scene.cameras)
        pairs = self._writable_pairs()
        if isinstance(pairs, PairRecords):
            world.read_back_records(pairs.records, cameras=cams, targets=tgts, pairs=(c_idx, t_idx))
            pairs.source = WorldDetail(world, self.scene)
        else:
            world.read_back(pairs, cameras=cams, targets=tgts, pairs=(c_idx, t_idx))
        self.last_update = UpdateStats(False, list(cams), list(tgts), list(parts), n_pairs)
        if self._unwritten is not None:
            self._unwritten.add(cams, tgts, (c_idx, t_idx))
            shape = (len(self.scene.cameras), len(self.scene.targets))
            if self._unwritten.count(shape) > shape[0] * shape[1] // 4:  # many edits unwritten: all at once
                self._unwritten = None

    # ----- edits (authored into the config layer, picked up by the change listener) ---------------------------
    def _prim(self, path: str) -> Usd.Prim:
        prim = self._stage.GetPrimAtPath(path)
        if not prim or not prim.IsValid():
            raise SwbError("no such prim", file=str(self.scene_path), prim=path)
        return prim

    def set_attribute(self, path: str, name: str, value: Any) -> None:
        """Author an attribute (a sensor setting, an optic, a barcode property) in the configuration layer."""
        prim = self._prim(path)
        attr = create_attribute(prim, name)  # an SWB attribute is created with its schema type if need be
        if not attr:
            raise SwbError("no such attribute", file=str(self.scene_path), prim=path, attribute=name,
                           hint="apply the SWB API schema first or check the name")
        try:
            attr.Set(value)
        except Tf.ErrorException as exc:
            raise SwbError(f"cannot take value {value!r}: {' '.join(str(exc).split())[:200]}",
                           file=str(self.scene_path), prim=path, attribute=name) from None

    def set_transform(self, path: str, matrix: Gf.Matrix4d | Iterable[Iterable[float]]) -> None:
        """Set a prim's local transform (USD row-vector convention, stage units) in the configuration layer."""
        prim = self._prim(path)
        xf = UsdGeom.Xformable(prim)
        if not xf:
            raise SwbError("is not transformable", file=str(self.scene_path), prim=path)
        m = matrix if isinstance(matrix, Gf.Matrix4d) else Gf.Matrix4d(*[float(x) for r in matrix for x in r])
        with Sdf.ChangeBlock():
            xf.ClearXformOpOrder()
            xf.AddTransformOp().Set(m)

    def set_translation(self, path: str, xyz: Iterable[float]) -> None:
        """Move a prim to a new local translation (stage units), keeping its rotation and scale."""
        prim = self._prim(path)
        xf = UsdGeom.Xformable(prim)
        local = xf.GetLocalTransformation() if xf else None
        if local is None:
            raise SwbError("is not transformable", file=str(self.scene_path), prim=path)
        m = Gf.Matrix4d(local)
        m.SetTranslateOnly(Gf.Vec3d(*[float(v) for v in xyz]))
        self.set_transform(path, m)

    def set_world_pose(self, path: str, rotation: Iterable[Iterable[float]], position: Iterable[float]) -> None:
        """Place a prim (a camera) at a pose in SWB's world frame (metres, Z up; ``rotation`` maps its local axes
        to world axes, like ``CameraModel.rotation``), keeping its scale; authored in the configuration layer."""
        prim = self._prim(path)
        if not UsdGeom.Xformable(prim):
            raise SwbError("is not transformable", file=str(self.scene_path), prim=path)
        ctx = loader.LoadContext.for_stage(self._stage, str(self.scene_path))
        base, _ = rigid_poses([prim], ctx, "prim", uniform=False)
        local = local_for_world_pose(prim, ctx, base[0], np.asarray(rotation, np.float64),
                                     np.asarray(position, np.float64))
        if not np.all(np.isfinite(local)):
            raise SwbError("the pose is not finite", file=str(self.scene_path), prim=path)
        self.set_transform(path, local.T.tolist())

    def get_attribute(self, path: str, name: str) -> Any:
        """The composed value of an attribute (what the simulation reads), None when it has no value."""
        attr = self._prim(path).GetAttribute(name)
        if not attr:
            raise SwbError("no such attribute", file=str(self.scene_path), prim=path, attribute=name)
        return attr.Get()

    def unit_scale(self, path: str) -> float:
        """Metres per unit of a prim's own lengths (the stage's metersPerUnit, or its referenced asset's)."""
        ctx = loader.LoadContext.for_stage(self._stage, str(self.scene_path))
        return float(ctx.unit_scale(self._prim(path)))

    def view(self, **options: Any) -> Any:
        """Open the live 3-D view of this simulation in the browser (``swb.view.serve``: host, port, save_dir,
        block). Edits made there are authored into the configuration layer like any other edit."""
        if _VIEWER is None:
            raise SwbError("the live view is not available", hint="import swb (it registers swb.view)")
        return _VIEWER(self, **options)

    def set_ui(self, **changes: Any) -> UiState:
        """Change UI state (active_camera, selection, visualisation_mode, viewer_camera_transform, viz_parameters)."""
        for key, value in changes.items():
            if not hasattr(self.ui, key):
                raise SwbError(f"unknown UI state field {key!r}", hint="see swb.stage.ui_state.UiState")
            setattr(self.ui, key, value)
        write_ui_state(self.ui_layer, self.ui)
        return self.ui

    # ----- sweeps ------------------------------------------------------------------------------------------------
    def sweep(self, name: str | None = None, *, spec: Any = None, samples: int | None = None,
              seed: int | None = None, sampler: str | None = None, chunk: int | None = None,
              progress: Any = None, cluster: Any = None, rows: str | Path | None = None,
              keep: int | None = None) -> Any:
        """Run a configuration sweep and write its arrays into ``sweep_layer`` (returns a SweepResult).

        ``spec``: a TOML file, a dict shaped like one, or a SweepSpec; it is authored into the configuration layer
        (USD stays the ground truth). Without it the stage's sweep called ``name`` (or its only sweep) runs.
        ``samples``/``seed``/``sampler`` override the spec's and are authored too. ``progress(done, total)`` is
        called after each chunk; Ctrl-C keeps the configurations already done. See swb.sweep.api.
        ``cluster``: "ray", "ray://HOST:PORT" or a swb.cluster.Cluster runs the configurations on Ray workers, with
        the same result (docs/cluster.md). ``rows``: a .parquet file that gets every configuration's row as the
        sweep runs; ``keep``: hold only that many best configurations in memory (docs/sweeps.md, bounded memory).
        """
        if cluster is not None:
            if rows is not None or keep is not None:
                from .errors import SwbError

                raise SwbError("a cluster sweep keeps every configuration: streamed rows are not available there",
                               hint="run it without --rows, or without --cluster")
            from .cluster.api import sweep_on_cluster

            return sweep_on_cluster(self, cluster, name, spec=spec, samples=samples, seed=seed, sampler=sampler,
                                    chunk=chunk, progress=progress)
        from .sweep.api import sweep_simulation

        return sweep_simulation(self, name, spec=spec, samples=samples, seed=seed, sampler=sampler, chunk=chunk,
                                progress=progress, rows=rows, keep=keep)

    def optimize(self, name: str | None = None, *, spec: Any = None, read_rate: float | None = None,
                 cameras: int | None = None, candidates: int | None = None, seed: int | None = None,
                 safety: str | None = None, progress: Any = None, cluster: Any = None) -> Any:
        """Design a camera placement: the fewest cameras reaching ``read_rate``, or the best ``cameras`` (returns a
        swb.optimize.result.DesignResult; ``swb.optimize.apply.write_design`` writes it as a new stage).

        ``spec``: a TOML file, a dict shaped like one, or a DesignSpec, authored into the configuration layer as a
        SwbDesign prim; without it the stage's design called ``name`` (or its only one) is solved. See
        docs/optimize.md. ``safety`` (exempt, RG1, RG2, RG3, none) overrides the design's eye-safety limit on its
        zones (docs/lighting.md). ``cluster`` computes the candidate matrix on Ray workers (docs/cluster.md)."""
        if cluster is not None:
            from .cluster.api import optimize_on_cluster

            return optimize_on_cluster(self, cluster, name, spec=spec, read_rate=read_rate, cameras=cameras,
                                       candidates=candidates, seed=seed, safety=safety, progress=progress)
        from .optimize.api import optimize_simulation

        return optimize_simulation(self, name, spec=spec, read_rate=read_rate, cameras=cameras,
                                   candidates=candidates, seed=seed, safety=safety, progress=progress)

    # ----- persistence ------------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, companions: dict[str, bytes | Callable[[Path], None]] | None = None) -> Path:
        """Write the whole state as a USD stage in one transaction: a root layer with named sublayers (see
        swb.stage.save). ``companions``: files beside the root written in the same transaction (name -> bytes, or
        a function writing the file at the temporary path it gets)."""
        used = {Path(layer.realPath).resolve() for layer in self._stage.GetUsedLayers() if layer.realPath}
        root = check_save_target(Path(path), self.scene_path, used)
        if self._pairs is not None and self.has_pending_changes:
            self.evaluate()  # stored results must describe the configuration saved beside them
        return write_save(root, SaveContent(
            scene_path=self.scene_path, scene_layer=self._scene_layer, root_layer=self.root_layer,
            config=self.config_layer, results=self.results_layer, ui=self.ui_layer, sweep=self.sweep_layer,
            has_results=self._pairs is not None, companions=companions or {}, in_use=frozenset(used),
            scene_signature=self._scene_signature))


_VIEWER: Any = None  # swb.view.serve, registered by the swb package (the view imports the simulation, not back)


def register_viewer(serve: Any) -> None:
    """Make ``Simulation.view`` open ``serve(sim, **options)`` (done by ``import swb``)."""
    global _VIEWER
    _VIEWER = serve


def _anonymous_copy(layer: Sdf.Layer | None, tag: str) -> Sdf.Layer:
    """A fresh anonymous layer, holding a copy of layer's content when given (the saved file stays untouched)."""
    anon = Sdf.Layer.CreateAnonymous(tag)
    if layer is not None:
        anon.TransferContent(layer)
    return anon


class _EntityIndex:
    """Which cameras, targets and parts lie at or below each prim path (every prefix of every entity path), and
    which are PointInstancer instances: an edit finds what it touches by dictionary look-ups."""

    def __init__(self, scene: Scene) -> None:
        self.below: dict[str, tuple[set[int], set[int], set[int]]] = {}
        self.instanced: tuple[set[int], set[int], set[int]] = (set(), set(), set())
        for kind, items in enumerate((scene.cameras, scene.targets, scene.parts)):
            for i, item in enumerate(items):
                path = item.path
                if split_instance_path(path) is not None:
                    self.instanced[kind].add(i)
                k = path.find("/", 1)
                while k != -1:
                    self._add(path[:k], kind, i)
                    k = path.find("/", k + 1)
                self._add(path, kind, i)

    def _add(self, prefix: str, kind: int, i: int) -> None:
        hits = self.below.get(prefix)
        if hits is None:
            hits = self.below[prefix] = (set(), set(), set())
        hits[kind].add(i)


def _with(model: Any, **changes: Any) -> Any:
    """A copy of a frozen model with some fields replaced (no validation runs: only poses change here), ~50x
    cheaper than dataclasses.replace for the hundreds of labels on a moved parcel."""
    new = object.__new__(type(model))
    new.__dict__.update(model.__dict__)
    new.__dict__.update(changes)
    return new


def _reread_part(stage: Usd.Stage, path: str, ctx: loader.LoadContext) -> MeshPart | None:
    if not Sdf.Path.IsValidPathString(path):
        return None
    prim = stage.GetPrimAtPath(path)
    if not prim:
        return None
    parts = loader.read_parts(prim, ctx)
    return parts[0] if len(parts) == 1 else None


DETAIL_ENV = "SWB_DETAIL"


def detail_wanted(option: bool | None) -> bool:
    """Whether a simulation keeps every pair's detail: ``option``, else ``SWB_DETAIL`` (1/0), else False."""
    if option is not None:
        return bool(option)
    return os.environ.get(DETAIL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _view(pairs: Pairs) -> Pairs:
    """A new object over the same arrays (the simulation tracks it to copy before writing)."""
    if isinstance(pairs, PairRecords):
        return PairRecords(pairs.records, pairs.source)
    return dataclasses.replace(pairs)


def open_simulation(path: str | Path, *, device: str | None = None, threads: int | None = None,
                    detail: bool | None = None) -> Simulation:
    """Open a user's stage for evaluation (the file itself is never modified)."""
    return Simulation(path, device=device, threads=threads, detail=detail)


def restore_simulation(path: str | Path, *, device: str | None = None, threads: int | None = None) -> Simulation:
    """Rebuild a saved simulation: same scene, configuration, results (bit for bit) and UI state."""
    saved = read_save(path)
    return Simulation(saved.scene_path, device=device, threads=threads, config=saved.config, ui=saved.ui,
                      results=saved.results, sweep=saved.sweep)
