"""UI state is kept on the /SWB prim and read back identically."""

from __future__ import annotations

import pytest
from pxr import Sdf

import swb  # noqa: F401
from swb.errors import SwbError
from swb.stage.ui_state import UiState, read_ui_state, write_ui_state


def test_round_trip(tmp_path):
    ui = UiState(
        active_camera="/World/Cam1",
        selection=["/World/Parcel/Label1", "/World/Parcel/Label2"],
        visualisation_mode="limiting",
        viewer_camera_transform=((1, 0, 0, 0), (0, 0.6, 0.8, 0), (0, -0.8, 0.6, 0), (1.5, -2.0, 3.25, 1)),
        viz_parameters={"mode": "plane", "resolution": [64, 32]},
    )
    layer = Sdf.Layer.CreateAnonymous("ui.usda")
    write_ui_state(layer, ui)
    path = tmp_path / "ui.usda"
    layer.Export(str(path))
    back = read_ui_state(Sdf.Layer.OpenAsAnonymous(str(path)))
    assert back == UiState(
        active_camera=ui.active_camera,
        selection=ui.selection,
        visualisation_mode=ui.visualisation_mode,
        viewer_camera_transform=tuple(tuple(float(x) for x in r) for r in ui.viewer_camera_transform),
        viz_parameters=ui.viz_parameters,
    )


def test_defaults_without_swb_prim():
    assert read_ui_state(Sdf.Layer.CreateAnonymous("x.usda")) == UiState()


def test_unknown_mode_is_refused():
    with pytest.raises(SwbError, match="swb:ui:visualisationMode"):
        write_ui_state(Sdf.Layer.CreateAnonymous("x.usda"), UiState(visualisation_mode="xray"))
