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

from dataclasses import dataclass
from pathlib import Path

from pxr import Sdf, Usd

from ..errors import SwbError
from .layers import copy_stage_metadata, export_layers_atomic, open_layer, with_stage_metadata

ROLES = ("ui", "results", "config", "scene")
SWEEP_ROLE = "sweep"  # optional: written only when the simulation holds sweep results
_SUFFIX = {"ui": ".usda", "results": ".usdc", "config": ".usda", "scene": ".usdc"}
FORMAT_VERSION = 1


def layer_paths(root: Path) -> dict[str, Path]:
    """Where each role's layer goes for a save at root."""
    return {role: root.with_name(f"{root.stem}.{role}{_SUFFIX[role]}") for role in ROLES}


@dataclass
class SaveContent:
    """The layers a simulation saves (``swb.simulation.Simulation.save`` fills it; this module knows no Simulation)."""

    scene_path: Path  # the file the simulation reads its scene from
    scene_layer: Sdf.Layer  # that file's layer, flattened into the save's scene copy
    root_layer: Sdf.Layer  # the simulation's root, for the stage metadata
    config: Sdf.Layer
    results: Sdf.Layer
    ui: Sdf.Layer
    sweep: Sdf.Layer  # written only when it holds sweep results
    has_results: bool


@dataclass
class SavedLayers:
    """What a save holds, read back: the scene file and SWB's layers (results and sweep only when saved)."""

    scene_path: Path
    config: Sdf.Layer
    ui: Sdf.Layer
    results: Sdf.Layer | None
    sweep: Sdf.Layer | None


def check_save_target(root: Path, scene_path: Path, used: set[Path]) -> Path:
    """The resolved root of a save at ``root``, or SwbError when it is no USD name or would overwrite a file the
    scene is made of (``used``: the stage's layer files), except a restored save's own scene copy."""
    root = Path(root).resolve()
    if root.suffix.lower() not in (".usda", ".usd", ".usdc"):
        raise SwbError("a save needs a USD file name", file=str(root), hint="use e.g. station.swb.usda")
    paths = layer_paths(root)
    sweep_path = root.with_name(f"{root.stem}.{SWEEP_ROLE}.usdc")
    for target in (root, paths["ui"], paths["results"], paths["config"], sweep_path, paths["scene"]):
        if target in used and target != scene_path or target == scene_path and target != paths["scene"]:
            raise SwbError("saving here would overwrite a file the scene is made of",
                           file=str(target), hint="save under another name or in another folder")
    return root


def write_save(root: Path, content: SaveContent) -> Path:
    """Write ``content`` as a save at root (see the module docstring; ``check_save_target`` first); returns root."""
    paths = layer_paths(root)
    sweep_path = root.with_name(f"{root.stem}.{SWEEP_ROLE}.usdc")
    pending: list[tuple[Sdf.Layer, Path]] = []
    if paths["scene"] != content.scene_path:  # a restored save re-saved in place keeps its scene file as it is
        pending.append((Usd.Stage.Open(content.scene_layer).Flatten(), paths["scene"]))
    pending += [(with_stage_metadata(layer, content.root_layer), paths[role])
                for layer, role in ((content.config, "config"), (content.results, "results"), (content.ui, "ui"))]
    roles = list(ROLES)
    if content.sweep.rootPrims:  # optional role: saves without sweeps keep their five files
        pending.append((with_stage_metadata(content.sweep, content.root_layer), sweep_path))
        paths[SWEEP_ROLE] = sweep_path
        roles.insert(roles.index("config"), SWEEP_ROLE)
    layer = Sdf.Layer.CreateAnonymous("root.usda")
    copy_stage_metadata(content.root_layer, layer)
    layer.subLayerPaths = [f"./{paths[role].name}" for role in roles]
    layer.customLayerData = {
        "swb": {
            "formatVersion": FORMAT_VERSION,
            "source": str(content.scene_path),
            "hasResults": content.has_results,
            **{role: paths[role].name for role in roles},
        }
    }
    # every file is exported before any is renamed, and the root goes last: a failed save leaves no new file and
    # never a root that points at missing layers (files it already replaced in an earlier save stay replaced)
    export_layers_atomic([*pending, (layer, root)])
    return root


def read_save(path: str | Path) -> SavedLayers:
    """The layers of a save, for ``swb.restore`` to rebuild the simulation from."""
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
    sweep = info.get(SWEEP_ROLE)
    return SavedLayers(
        scene_path=root_path.parent / info["scene"],
        config=layers["config"],
        ui=layers["ui"],
        results=layers["results"] if info.get("hasResults") else None,
        sweep=open_layer(root_path.parent / sweep) if isinstance(sweep, str) else None,
    )
