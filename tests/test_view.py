"""The live view's server side (swb.view): edits from its controls are authored into the configuration layer and
answered incrementally with exactly a fresh evaluation's results; refused edits are put back; saves stay in the
chosen folder and bring the view back; stored sweep configurations can be applied. The page itself is tested in a
real browser in test_view_browser.py."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest
from device import DEVICE
from pxr import Sdf
from saved_layers import layer_text

import swb
from swb.cli.main import main
from swb.errors import SwbError
from swb.view import LiveView, check_port
from swb.view.colouring import COLOURINGS, Scalar, available
from swb.view.colouring import to_bytes as col_bytes
from swb.view.poses import StageAxes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("view")
    scene = folder / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), scene)
    sim = swb.open(scene, device=DEVICE)
    sim.sweep(spec=str(swb.bundled_scene("scan_tunnel").with_name("scan_tunnel_sweep.toml")), samples=16, seed=1)
    saves = folder / "saves"
    saves.mkdir()
    view = LiveView(sim, port=free_port(), save_dir=saves, log=lambda m: None)
    yield view
    view.close()


def _fresh(sim, tmp_path, name):
    flat = tmp_path / f"{name}.usda"
    sim.stage.Export(str(flat))
    return swb.open(flat, device=DEVICE).evaluate()


def test_a_dragged_camera_is_authored_and_evaluated_exactly(live, tmp_path):
    sim = live.sim
    cam = sim.scene.cameras[2]
    live.set_active_camera(cam.path)
    turn = np.array([[np.cos(0.1), -np.sin(0.1), 0.0], [np.sin(0.1), np.cos(0.1), 0.0], [0.0, 0.0, 1.0]])
    n = len(live.timings)
    for k in range(5):  # a drag: several events, merged while an update runs
        live.move_camera(cam.path, turn @ cam.rotation, np.asarray(cam.position) + [0.02 * (k + 1), 0.0, -0.01])
    live.flush()
    assert len(live.timings) > n and all(t.total > 0 for t in live.timings[n:])
    moved = sim.scene.cameras[2]
    np.testing.assert_allclose(moved.position, np.asarray(cam.position) + [0.1, 0.0, -0.01], atol=1e-9)
    np.testing.assert_allclose(moved.rotation, turn @ cam.rotation, atol=1e-9)
    assert sim.config_layer.GetAttributeAtPath(f"{cam.path}.xformOp:transform") is not None
    assert not sim.last_update.full
    assert sim.results.pairs.equal(_fresh(sim, tmp_path, "dragged").pairs)


def test_api_edits_show_after_a_refresh(live):
    """A script moves a parcel while the view runs (holding its lock): the labels it carries move on the page."""
    sim = live.sim
    label = sim.scene.targets[0].path
    parcel = str(Sdf.Path(label).GetParentPath())
    before = live._label_pos[0].copy()
    with live.lock:
        t = sim.get_attribute(parcel, "xformOp:translate")
        sim.set_translation(parcel, (t[0] + 0.2, t[1], t[2]))
    live.refresh()
    live.flush()
    np.testing.assert_allclose(live._label_pos[0] - before, [0.2, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(live._labels.batched_positions[0], live._label_pos[0], atol=1e-5)


def test_panel_settings_are_authored_in_stage_units(live):
    sim = live.sim
    cam = sim.scene.cameras[0].path
    live.set_active_camera(cam)
    live.set_setting("fStop", 5.6)
    live.set_setting("exposure:time", 0.25)  # ms
    live.set_setting("swb:sensor:decoderProfile", "robust")
    live.flush()
    model = sim.scene.cameras[0]
    assert model.f_number == pytest.approx(5.6) and model.exposure == pytest.approx(2.5e-4)
    assert model.decoder_profile == "robust"
    assert sim.config_layer.GetAttributeAtPath(f"{cam}.fStop").default == pytest.approx(5.6)
    assert live._focal.value == pytest.approx(model.focal_length * 1000.0)  # the panel shows what was read


def test_an_invalid_setting_is_refused_and_put_back(live):
    sim = live.sim
    cam = sim.scene.cameras[1].path
    live.set_active_camera(cam)
    before = sim.results.pairs.copy()
    focal = sim.get_attribute(cam, "focalLength")
    live.set_setting("focalLength", 0.0)
    live.flush()
    assert "focalLength" in live._message.content and "not applied" in live._message.content
    assert sim.get_attribute(cam, "focalLength") == focal  # the last valid value is authored again
    assert not sim.has_pending_changes
    assert sim.results.pairs.equal(before)
    live.set_setting("fStop", 4.5)  # and the view goes on
    live.flush()
    assert live._message.content == ""


def test_selecting_a_label_shows_its_cameras(live):
    sim = live.sim
    label = sim.scene.targets[0].path
    live.select_label(label)
    table = live._label_info.content
    assert "| camera | ppm | blur px | tilt | limiting | score |" in table
    assert sum(1 for c in sim.scene.cameras if c.path.rsplit("/", 1)[-1] in table) == len(sim.scene.cameras)
    assert live._marker.visible


def test_a_click_on_a_label_selects_it(live):
    """The page reports a click as a ray (and, where viser knows it, the instance): the label it hits is chosen."""
    from types import SimpleNamespace

    tgt = live.sim.scene.targets[7]
    normal = np.asarray(tgt.rotation)[:, 2]
    ray = SimpleNamespace(instance_index=None, ray_origin=tuple(np.asarray(tgt.position) + 0.8 * normal),
                          ray_direction=tuple(-normal))
    live._on_label_click(ray)
    assert live.selection == [tgt.path]
    live._on_label_click(SimpleNamespace(instance_index=3, ray_origin=(0, 0, 0), ray_direction=(0, 0, 1)))
    assert live.selection == [live.sim.scene.targets[3].path]


def test_overlays_and_colourings(live):
    live.select_label(live.sim.scene.targets[0].path)
    for name in ("sphere", "plane", "projection"):
        live.set_overlay(name, True)
    live.set_colouring("limiting")
    live.flush()
    assert set(live._overlay_nodes) == {"sphere", "plane", "projection"}
    for name in ("sphere", "plane", "projection"):
        live.set_overlay(name, False)
    live.set_colouring("score")
    live.flush()
    assert not live._overlay_nodes
    res = live.sim.results
    assert {"score", "p_read", "limiting", "ppm"} <= set(available(res))
    live.set_colouring("p_read")
    live.flush()
    np.testing.assert_allclose(live._labels.batched_colors,
                               col_bytes(COLOURINGS["p_read"].colours(res)))  # the best camera's read probability
    live.set_colouring("score")
    live.flush()


def test_the_panel_shows_the_transit_read_rate(live):
    with live.lock:
        tr = live.sim.transit()
    assert f"transit read rate {100 * tr.station_read_rate():.2f} %" in live._status.content


def test_a_new_per_pair_field_plugs_into_the_colouring(live):
    res = live.sim.results
    mine = Scalar("visible", "share of the symbol seen", field="visible_fraction", grey_when="not positive")
    rgb = mine.colours(res)
    assert rgb.shape == (len(res.targets), 3) and mine.available(res)
    assert not Scalar("p_missing", "absent", field="no_such_field").available(res)


def test_saves_stay_in_the_folder_and_bring_the_view_back(live, tmp_path):
    for bad in ("../escape.usda", "/tmp/abs.usda", "sub/dir.usda", "notes.txt", ".hidden.usda"):
        with pytest.raises(SwbError):
            live.save(bad)
    sim = live.sim
    live.set_active_camera(sim.scene.cameras[3].path)
    live.select_label(sim.scene.targets[5].path)
    live.set_colouring("limiting")
    live.set_overlay("plane", True)
    live._viewer_pose = StageAxes(1.0, "Z").viewer_to_stage([3.0, -4.0, 2.5], [0.3, 0.8, -0.2, 0.45])
    live.flush()
    root = live.save("kept.swb.usda")
    assert root.parent == live.save_dir and root.exists()
    again = swb.restore(root, device=DEVICE)
    view = LiveView(again, port=free_port(), save_dir=tmp_path, log=lambda m: None)
    try:
        assert view.active == sim.scene.cameras[3].path and view.selection == [sim.scene.targets[5].path]
        assert view.state.colouring == "limiting" and view.state.overlays == ["plane"]
        assert view._viewer_pose == live._viewer_pose
        assert again.results.pairs.equal(sim.results.pairs)
        root2 = view.save("again.swb.usda")
        assert layer_text(root, "ui") == layer_text(root2, "ui")
    finally:
        view.close()
    live.set_overlay("plane", False)
    live.set_colouring("score")
    live.flush()


def test_a_stored_sweep_configuration_can_be_applied(live):
    sim = live.sim
    assert live._sweep is not None
    best = live._sweep.configuration(0)
    live.apply_configuration(0)
    live.flush()
    for setting in best:
        cam = next(c for c in sim.scene.cameras if c.path == setting.path)
        np.testing.assert_allclose(cam.position, setting.position, atol=1e-9)
        np.testing.assert_allclose(cam.rotation, setting.rotation, atol=1e-9)
    live.restore_authored()
    live.flush()
    again = live._sweep.configuration(0)  # offsets still apply to the authored cameras
    for a, b in zip(best, again, strict=True):
        np.testing.assert_allclose(a.position, b.position, atol=1e-12)


def test_viewer_pose_round_trip():
    for mpu, up in ((1.0, "Z"), (0.01, "Y")):
        axes = StageAxes(mpu, up)
        q = np.array([0.3, 0.8, -0.2, 0.45])
        q /= np.linalg.norm(q)
        pos, back = axes.viewer_from_stage(axes.viewer_to_stage([1.0, 2.0, 3.0], q))
        np.testing.assert_allclose(pos, [1.0, 2.0, 3.0], atol=1e-9)
        assert min(np.abs(back - q).max(), np.abs(back + q).max()) < 1e-9


def test_a_port_in_use_is_a_clear_error(live):
    with pytest.raises(SwbError, match=f"port {live.port} on 127.0.0.1 is in use"):
        check_port("127.0.0.1", live.port)


def test_cli_errors_are_one_line(live, tmp_path, capsys):
    assert main(["view", str(tmp_path / "missing.usda"), "--port", str(free_port())]) == 2
    assert "missing.usda" in capsys.readouterr().err
    assert main(["view", str(live.sim.scene_path), "--port", str(live.port), "--device", DEVICE]) == 2
    assert f"port {live.port}" in capsys.readouterr().err
