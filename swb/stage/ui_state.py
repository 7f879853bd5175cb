"""Viewer/UI state kept on the /SWB prim (SwbSimulation schema), so a restore brings back what the user saw."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pxr import Gf, Sdf

from ..errors import SwbError
from .schema import VISUALISATION_MODES as VIS_MODES

SWB_PRIM = Sdf.Path("/SWB")
_IDENTITY = tuple(tuple(1.0 if i == j else 0.0 for j in range(4)) for i in range(4))


@dataclass
class UiState:
    """What the user is looking at: the active camera, the selection, the visualisation and the viewer pose."""

    active_camera: str | None = None
    selection: list[str] = field(default_factory=list)
    visualisation_mode: str = "none"
    viewer_camera_transform: tuple[tuple[float, ...], ...] = _IDENTITY  # USD row-vector matrix, stage units
    viz_parameters: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str = "UI state") -> None:
        if self.visualisation_mode not in VIS_MODES:
            raise SwbError(
                f"unknown visualisation mode {self.visualisation_mode!r}", prim=str(SWB_PRIM),
                attribute="swb:ui:visualisationMode", hint="use one of " + ", ".join(VIS_MODES),
            )
        flat = [x for row in self.viewer_camera_transform for x in row]
        if len(flat) != 16 or not all(math.isfinite(x) for x in flat):
            raise SwbError(f"{where}: the viewer camera transform must be 16 finite numbers",
                           prim=str(SWB_PRIM), attribute="swb:ui:viewerCameraTransform")


def write_ui_state(layer: Sdf.Layer, ui: UiState) -> None:
    """Replace the layer's content with the UI state, on a SwbSimulation prim at /SWB."""
    ui.validate()
    with Sdf.ChangeBlock():
        layer.Clear()
        spec = Sdf.CreatePrimInLayer(layer, SWB_PRIM)
        spec.specifier = Sdf.SpecifierDef
        spec.typeName = "SwbSimulation"
        active = Sdf.RelationshipSpec(spec, "swb:ui:activeCamera", custom=False)
        if ui.active_camera:
            active.targetPathList.explicitItems = [Sdf.Path(ui.active_camera)]
        sel = Sdf.RelationshipSpec(spec, "swb:ui:selection", custom=False)
        sel.targetPathList.explicitItems = [Sdf.Path(p) for p in ui.selection]
        mode = Sdf.AttributeSpec(spec, "swb:ui:visualisationMode", Sdf.ValueTypeNames.Token)
        mode.default = ui.visualisation_mode
        pose = Sdf.AttributeSpec(spec, "swb:ui:viewerCameraTransform", Sdf.ValueTypeNames.Matrix4d)
        pose.default = Gf.Matrix4d(*[x for row in ui.viewer_camera_transform for x in row])
        params = Sdf.AttributeSpec(spec, "swb:ui:vizParameters", Sdf.ValueTypeNames.String)
        params.default = json.dumps(ui.viz_parameters, sort_keys=True)


def read_ui_state(layer: Sdf.Layer) -> UiState:
    """UI state from a layer written by write_ui_state; a layer without /SWB gives the defaults."""
    spec = layer.GetPrimAtPath(SWB_PRIM)
    if spec is None:
        return UiState()

    def attr(name: str) -> Any:
        a = spec.attributes.get(name)
        return None if a is None else a.default

    def targets(name: str) -> list[str]:
        r = spec.relationships.get(name)
        return [] if r is None else [str(p) for p in r.targetPathList.explicitItems]

    active = targets("swb:ui:activeCamera")
    matrix = attr("swb:ui:viewerCameraTransform")
    raw = attr("swb:ui:vizParameters") or "{}"
    try:
        params = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SwbError(f"not valid JSON: {exc.msg}", file=layer.identifier, prim=str(SWB_PRIM),
                       attribute="swb:ui:vizParameters") from None
    ui = UiState(
        active_camera=active[0] if active else None,
        selection=targets("swb:ui:selection"),
        visualisation_mode=str(attr("swb:ui:visualisationMode") or "none"),
        viewer_camera_transform=_IDENTITY if matrix is None else tuple(tuple(row) for row in matrix),
        viz_parameters=params,
    )
    ui.validate(layer.identifier)
    return ui
