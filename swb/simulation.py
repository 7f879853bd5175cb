"""A simulation: a user's stage composed under SWB's own layers, its Warp world, and live incremental updates.

Layer stack of the simulation's (anonymous) root, strongest first:
  ui       UI state on /SWB (active camera, selection, visualisation mode, viewer pose)
  results  result arrays on /SWB/Results and a summary over each target
  sweep    sweep result arrays on /SWB/SweepResults/<name> (see swb.sweep.results)
  config   configuration edits made through SWB (the edit target), sweep specs on /SWB/Sweeps included
  scene    the user's file, never written to
Every edit is authored into USD first; a Tf notice tells the simulation which prims changed, and only those are
re-read into the scene model, re-uploaded into the Warp world and re-evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pxr import Gf, Sdf, Tf, Usd, UsdGeom

from .engine.model import CameraModel, MeshPart, Scene, TargetModel
from .engine.pair_results import PairResults
from .engine.results import Results
from .engine.world import World
from .errors import SwbError
from .stage import load as loader
from .stage.attributes import create_attribute
from .stage.geometry import split_instance_path
from .stage.layers import copy_stage_metadata, open_layer, open_stage
from .stage.results_layer import SWB_PRIM, read_results, write_results
from .stage.save import SaveContent, check_save_target, read_save, write_save
from .stage.ui_state import UiState, read_ui_state, write_ui_state

# Properties whose change alters which prims take part, not just where they are: re-read the whole scene.
_STRUCTURAL_PROPERTIES = {"visibility", "purpose"}


@dataclass
class _Changes:
    """Freshly read models of everything a batch of edits touched, by index."""

    cameras: dict[int, CameraModel]
    targets: dict[int, TargetModel]
    parts: dict[int, MeshPart]


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
    ) -> None:
        self.scene_path = Path(scene_path).resolve()
        self.device = device
        self.threads = threads
        scene_layer = open_layer(self.scene_path)
        self.config_layer = _anonymous_copy(config, "config.usda")
        self.results_layer = Sdf.Layer.CreateAnonymous("results.usdc")
        self.sweep_layer = _anonymous_copy(sweep, "sweep.usdc")
        self.ui_layer = _anonymous_copy(ui, "ui.usda")
        self.root_layer = Sdf.Layer.CreateAnonymous("simulation.usda")
        copy_stage_metadata(scene_layer, self.root_layer)
        self.root_layer.subLayerPaths = [
            self.ui_layer.identifier,
            self.results_layer.identifier,
            self.sweep_layer.identifier,
            self.config_layer.identifier,
            scene_layer.identifier,
        ]
        self._scene_layer = scene_layer  # keep the user's layer open for the stage's lifetime
        self.stage = open_stage(self.root_layer)
        self.stage.SetEditTarget(Usd.EditTarget(self.config_layer))
        self.scene: Scene = loader.load_scene_from_stage(self.stage, str(self.scene_path))
        self.ui = read_ui_state(self.ui_layer)
        self._world: World | None = None
        self._world_current = False  # device results cover every pair of the current scene
        self._pairs: PairResults | None = None
        self._dirty: set[Sdf.Path] = set()
        self._structural = False
        self._muted = False
        self.last_update = UpdateStats()
        if results is not None:
            self._pairs = read_results(results, [c.path for c in self.scene.cameras],
                                       [t.path for t in self.scene.targets])
            self._write_results_layer()
        self._listener = Tf.Notice.Register(Usd.Notice.ObjectsChanged, self._on_objects_changed, self.stage)

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
        self._dirty.add(path.GetPrimPath())

    # ----- evaluation ------------------------------------------------------------------------------------------
    @property
    def world(self) -> World:
        """The Warp world, built on first use and kept for incremental updates."""
        if self._world is None:
            self._world = World(self.scene, device=self.device, threads=self.threads)
            self._world_current = False
        return self._world

    @property
    def results(self) -> Results | None:
        """The latest results (evaluated or restored), or None before the first evaluation."""
        return None if self._pairs is None else Results(self.scene.cameras, self.scene.targets, self._pairs)

    def evaluate(self, *, full: bool = False) -> Results:
        """Bring results up to date: everything on first use (or with full=True), afterwards only what changed.

        Changed prims are all read before anything is applied, so a bad edit raises SwbError and leaves the world
        and the results as they were (the edit stays pending and is reported again on the next call)."""
        if full:
            self._world_current = False
        if self._dirty and not self._world_current:
            self._structural = True  # edits before the first evaluation: read the scene afresh
        update = self._read_changes() if self._dirty and not self._structural else None
        if self._structural:
            self.scene = loader.load_scene_from_stage(self.stage, str(self.scene_path))
            self._world = None
            self._structural = False
            self._dirty.clear()
        world = self.world
        if not self._world_current:
            self._dirty.clear()
            world.evaluate()
            self.last_update = UpdateStats(full=True, pairs=len(self.scene.cameras) * len(self.scene.targets))
            self._world_current = True
        elif update is not None:
            self._dirty.clear()
            self._apply_changes(world, update)
        else:
            self.last_update = UpdateStats()
            if self._pairs is not None:
                return self.results  # type: ignore[return-value]
        self._pairs = world.results()
        self._write_results_layer()
        return self.results  # type: ignore[return-value]

    @property
    def has_pending_changes(self) -> bool:
        """Edits authored since the last evaluation (the results do not reflect them yet)."""
        return bool(self._dirty) or self._structural

    def _read_changes(self) -> _Changes | None:
        """Re-read every camera, target and part under a changed prim; None (and a rebuild) when a change is more
        than a move or a setting: a prototype edited, a PointInstancer changed, a part with other topology."""
        changed = list(self._dirty)
        cams = _affected(changed, [c.path for c in self.scene.cameras])
        tgts = _affected(changed, [t.path for t in self.scene.targets])
        parts = _affected(changed, [p.path for p in self.scene.parts])
        entity_paths = [self.scene.cameras[i].path for i in cams] + [self.scene.targets[i].path for i in tgts]
        entity_paths += [self.scene.parts[i].path for i in parts]
        if any(split_instance_path(path) is not None for path in entity_paths) or any(
            self._may_hold_geometry(c) and not any(Sdf.Path(e).HasPrefix(c) for e in entity_paths) for c in changed
        ):
            self._structural = True
            return None
        ctx = loader.LoadContext.for_stage(self.stage, str(self.scene_path))
        update = _Changes(
            cameras={i: loader.read_camera(self.stage.GetPrimAtPath(self.scene.cameras[i].path), ctx) for i in cams},
            targets={i: loader.read_target(self.stage.GetPrimAtPath(self.scene.targets[i].path), ctx) for i in tgts},
            parts={i: _reread_part(self.stage, self.scene.parts[i].path, ctx) for i in parts},
        )
        for i, new in update.parts.items():
            old = self.scene.parts[i]
            if new is None or new.points.shape != old.points.shape or new.triangles.shape != old.triangles.shape:
                self._structural = True  # the part changed shape, not place: rebuild from a fresh read
                return None
        return update

    def _may_hold_geometry(self, path: Sdf.Path) -> bool:
        """A changed prim that is no camera, target or part may still feed them: the source of native instances
        or a PointInstancer prototype is an Imageable outside every entity path; a removed prim counts too."""
        prim = self.stage.GetPrimAtPath(path)
        return not prim or prim.IsA(UsdGeom.Imageable)

    def _apply_changes(self, world: World, update: _Changes) -> None:
        for i, cam in update.cameras.items():
            self.scene.cameras[i] = cam
            world.update_camera(i, cam)
        for i, tgt in update.targets.items():
            self.scene.targets[i] = tgt
            world.update_target(i, tgt)
        n_pairs = 0
        if update.parts:
            c_idx, t_idx = world.pairs_affected_by_moves(update.parts)
            world.update_parts(update.parts)  # all slices placed, then one BVH refit
            for i, part in update.parts.items():
                self.scene.parts[i] = part
            if len(c_idx):
                world.evaluate_pairs(c_idx, t_idx)
            n_pairs += len(c_idx)
        cams, tgts = list(update.cameras), list(update.targets)
        if cams:
            world.evaluate(cameras=cams)
            n_pairs += len(cams) * len(self.scene.targets)
        if tgts:
            world.evaluate(targets=tgts)
            n_pairs += len(tgts) * len(self.scene.cameras)
        self.last_update = UpdateStats(False, cams, tgts, list(update.parts), n_pairs)

    def _write_results_layer(self) -> None:
        self._muted = True
        try:
            write_results(self.results_layer, self.results)  # type: ignore[arg-type]
        finally:
            self._muted = False

    # ----- edits (authored into the config layer, picked up by the change listener) ---------------------------
    def _prim(self, path: str) -> Usd.Prim:
        prim = self.stage.GetPrimAtPath(path)
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
              progress: Any = None) -> Any:
        """Run a configuration sweep and write its arrays into ``sweep_layer`` (returns a SweepResult).

        ``spec``: a TOML file, a dict shaped like one, or a SweepSpec; it is authored into the configuration layer
        (USD stays the ground truth). Without it the stage's sweep called ``name`` (or its only sweep) runs.
        ``samples``/``seed``/``sampler`` override the spec's and are authored too. ``progress(done, total)`` is
        called after each chunk; Ctrl-C keeps the configurations already done. See swb.sweep.api.
        """
        from .sweep.api import sweep_simulation

        return sweep_simulation(self, name, spec=spec, samples=samples, seed=seed, sampler=sampler, chunk=chunk,
                                progress=progress)

    def optimize(self, name: str | None = None, *, spec: Any = None, read_rate: float | None = None,
                 cameras: int | None = None, candidates: int | None = None, seed: int | None = None,
                 progress: Any = None) -> Any:
        """Design a camera placement: the fewest cameras reaching ``read_rate``, or the best ``cameras`` (returns a
        swb.optimize.result.DesignResult; ``swb.optimize.apply.write_design`` writes it as a new stage).

        ``spec``: a TOML file, a dict shaped like one, or a DesignSpec, authored into the configuration layer as a
        SwbDesign prim; without it the stage's design called ``name`` (or its only one) is solved. See
        docs/optimize.md."""
        from .optimize.api import optimize_simulation

        return optimize_simulation(self, name, spec=spec, read_rate=read_rate, cameras=cameras,
                                   candidates=candidates, seed=seed, progress=progress)

    # ----- persistence ------------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, companions: dict[str, bytes] | None = None) -> Path:
        """Write the whole state as a USD stage in one transaction: a root layer with named sublayers (see
        swb.stage.save). ``companions``: files beside the root (name -> bytes) written in the same transaction."""
        used = {Path(layer.realPath).resolve() for layer in self.stage.GetUsedLayers() if layer.realPath}
        root = check_save_target(Path(path), self.scene_path, used)
        if self.results is not None and self.has_pending_changes:
            self.evaluate()  # stored results must describe the configuration saved beside them
        return write_save(root, SaveContent(
            scene_path=self.scene_path, scene_layer=self._scene_layer, root_layer=self.root_layer,
            config=self.config_layer, results=self.results_layer, ui=self.ui_layer, sweep=self.sweep_layer,
            has_results=self.results is not None, companions=companions or {}, in_use=frozenset(used)))


def _anonymous_copy(layer: Sdf.Layer | None, tag: str) -> Sdf.Layer:
    """A fresh anonymous layer, holding a copy of layer's content when given (the saved file stays untouched)."""
    anon = Sdf.Layer.CreateAnonymous(tag)
    if layer is not None:
        anon.TransferContent(layer)
    return anon


def _affected(changed: list[Sdf.Path], paths: Iterable[str]) -> list[int]:
    """Indices of entities at or below a changed prim (moving a parcel moves its labels)."""
    hits = []
    for i, p in enumerate(paths):
        sp = Sdf.Path(p)
        if any(sp.HasPrefix(c) for c in changed):
            hits.append(i)
    return hits


def _reread_part(stage: Usd.Stage, path: str, ctx: loader.LoadContext) -> MeshPart | None:
    if not Sdf.Path.IsValidPathString(path):
        return None
    prim = stage.GetPrimAtPath(path)
    if not prim:
        return None
    parts = loader.read_parts(prim, ctx)
    return parts[0] if len(parts) == 1 else None


def open_simulation(path: str | Path, *, device: str | None = None, threads: int | None = None) -> Simulation:
    """Open a user's stage for evaluation (the file itself is never modified)."""
    return Simulation(path, device=device, threads=threads)


def restore_simulation(path: str | Path, *, device: str | None = None, threads: int | None = None) -> Simulation:
    """Rebuild a saved simulation: same scene, configuration, results (bit for bit) and UI state."""
    saved = read_save(path)
    return Simulation(saved.scene_path, device=device, threads=threads, config=saved.config, ui=saved.ui,
                      results=saved.results, sweep=saved.sweep)
