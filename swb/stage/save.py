"""Save a simulation as a layered USD stage and restore it exactly.

A save of ``station.usda`` writes five files next to each other:
  station.usda          root: the sublayers below (relative paths) and the stage metadata
  station.ui.usda       UI state on /SWB
  station.results.usdc  result arrays and target summaries
  station.sweep.usdc    sweep result arrays (only when the simulation ran a sweep)
  station.config.usda   configuration edits made through SWB
  station.scene.usdc    the user's scene, flattened, so the save does not depend on the original file
All files are exported under temporary names first and renamed into place only when every one was written (the
root last), so a failed save leaves nothing half-written. The roles are recorded in the root's customLayerData.
"""

from __future__ import annotations

from pathlib import Path

from pxr import Sdf, Usd

from ..errors import SwbError
from ..simulation import Simulation
from .layers import copy_stage_metadata, export_layers_atomic, open_layer

ROLES = ("ui", "results", "config", "scene")
SWEEP_ROLE = "sweep"  # optional: written only when the simulation holds sweep results
_SUFFIX = {"ui": ".usda", "results": ".usdc", "config": ".usda", "scene": ".usdc"}
FORMAT_VERSION = 1


def layer_paths(root: Path) -> dict[str, Path]:
    """Where each role's layer goes for a save at root."""
    return {role: root.with_name(f"{root.stem}.{role}{_SUFFIX[role]}") for role in ROLES}


def save_simulation(sim: Simulation, root: Path) -> Path:
    """Write sim's full state at root (see the module docstring); returns the root path."""
    root = Path(root).resolve()
    if root.suffix.lower() not in (".usda", ".usd", ".usdc"):
        raise SwbError("a save needs a USD file name", file=str(root), hint="use e.g. station.swb.usda")
    paths = layer_paths(root)
    sweep_path = root.with_name(f"{root.stem}.{SWEEP_ROLE}.usdc")
    # never write over a file the scene is made of (its root, sublayers, references), except a restored save's own
    # scene copy, which is kept as it is
    used = {Path(layer.realPath).resolve() for layer in sim.stage.GetUsedLayers() if layer.realPath}
    for target in (root, paths["ui"], paths["results"], paths["config"], sweep_path, paths["scene"]):
        if target in used and target != sim.scene_path or target == sim.scene_path and target != paths["scene"]:
            raise SwbError("saving here would overwrite a file the scene is made of",
                           file=str(target), hint="save under another name or in another folder")
    if sim.results is not None and sim.has_pending_changes:
        sim.evaluate()  # stored results must describe the configuration saved beside them
    pending: list[tuple[Sdf.Layer, Path]] = []
    if paths["scene"] != sim.scene_path:  # a restored save re-saved in place keeps its scene file as it is
        pending.append((Usd.Stage.Open(sim._scene_layer).Flatten(), paths["scene"]))
    pending += [(sim.config_layer, paths["config"]), (sim.results_layer, paths["results"]), (sim.ui_layer, paths["ui"])]
    roles = list(ROLES)
    if sim.sweep_layer.rootPrims:  # optional role: saves without sweeps keep their five files
        pending.append((sim.sweep_layer, sweep_path))
        paths[SWEEP_ROLE] = sweep_path
        roles.insert(roles.index("config"), SWEEP_ROLE)
    layer = Sdf.Layer.CreateAnonymous("root.usda")
    copy_stage_metadata(sim.root_layer, layer)
    layer.subLayerPaths = [f"./{paths[role].name}" for role in roles]
    layer.customLayerData = {
        "swb": {
            "formatVersion": FORMAT_VERSION,
            "source": str(sim.scene_path),
            "hasResults": sim.results is not None,
            **{role: paths[role].name for role in roles},
        }
    }
    # every file is exported before any is renamed, and the root goes last: a failed save leaves no new file and
    # never a root that points at missing layers (files it already replaced in an earlier save stay replaced)
    export_layers_atomic([*pending, (layer, root)])
    return root


def restore_simulation(path: str | Path, *, device: str | None = None, threads: int | None = None) -> Simulation:
    """Rebuild a saved simulation: same scene, configuration, results (bit for bit) and UI state."""
    root_path = Path(path).resolve()
    root = open_layer(root_path)
    info = root.customLayerData.get("swb")
    if not isinstance(info, dict):
        raise SwbError("is not an SWB save (no 'swb' entry in customLayerData)", file=str(root_path),
                       hint="open a plain scene with `swb eval` instead")
    layers: dict[str, Sdf.Layer] = {}
    for role in ROLES:
        name = info.get(role)
        if not isinstance(name, str):
            raise SwbError(f"the save names no {role} layer", file=str(root_path),
                           attribute=f"customLayerData:swb:{role}")
        layers[role] = open_layer(root_path.parent / name)
    results = layers["results"] if info.get("hasResults") else None
    sweep = info.get(SWEEP_ROLE)
    return Simulation(
        root_path.parent / info["scene"],
        device=device,
        threads=threads,
        config=layers["config"],
        ui=layers["ui"],
        results=results,
        sweep=open_layer(root_path.parent / sweep) if isinstance(sweep, str) else None,
    )
