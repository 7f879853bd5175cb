"""The simulation end to end on the bundled scan tunnel: incremental updates equal a fresh evaluation,
save -> restore gives identical results and UI state, and the user's file is never touched."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from device import DEVICE
from pxr import Sdf

import swb
from swb.errors import SwbError


@pytest.fixture()
def tunnel(tmp_path):
    path = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), path)
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fresh(sim: swb.Simulation, tmp_path, name: str) -> swb.Results:
    """Evaluate the simulation's current composed stage from scratch, in a new simulation."""
    flat = tmp_path / f"{name}.usda"
    sim.stage.Export(str(flat))
    return swb.open(flat, device=DEVICE).evaluate()


def test_camera_move_recomputes_one_row_and_matches_fresh(tunnel, tmp_path):
    sim = swb.open(tunnel, device=DEVICE)
    before = sim.evaluate().pairs.copy()
    assert sim.last_update.full
    cam = sim.scene.cameras[0].path
    prim = sim.stage.GetPrimAtPath(cam)
    t = prim.GetAttribute("xformOp:translate")
    moved = np.array(t.Get() if t and t.Get() is not None else (0, 0, 0)) + np.array([0.05, 0.0, -0.1])
    sim.set_translation(cam, moved)
    res = sim.evaluate()
    assert not sim.last_update.full
    assert sim.last_update.cameras == [0] and sim.last_update.targets == []
    assert sim.last_update.pairs == len(sim.scene.targets)
    assert res.pairs.equal(_fresh(sim, tmp_path, "moved").pairs)
    np.testing.assert_array_equal(res.pairs.score[1:], before.score[1:])  # other rows untouched


def test_sensor_parameter_change_updates_that_camera(tunnel, tmp_path):
    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    cam = sim.scene.cameras[1].path
    sim.set_attribute(cam, "fStop", 16.0)
    sim.set_attribute(cam, "swb:sensor:decoderProfile", "robust")
    res = sim.evaluate()
    assert sim.last_update.cameras == [1]
    assert sim.scene.cameras[1].f_number == 16.0 and sim.scene.cameras[1].decoder_profile == "robust"
    assert res.pairs.equal(_fresh(sim, tmp_path, "stopped").pairs)


def test_moving_a_parcel_moves_its_labels_and_occlusion(tunnel, tmp_path):
    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    label = sim.scene.targets[0].path
    parcel = str(Sdf.Path(label).GetParentPath())
    n_labels = sum(t.path.startswith(parcel + "/") for t in sim.scene.targets)
    local = sim.stage.GetPrimAtPath(parcel).GetAttribute("xformOp:translate").Get()
    sim.set_translation(parcel, (local[0] + 0.3, local[1], local[2]))
    res = sim.evaluate()
    up = sim.last_update
    assert not up.full and len(up.targets) == n_labels and up.parts
    assert up.pairs < len(sim.scene.cameras) * len(sim.scene.targets) + 1
    assert res.pairs.equal(_fresh(sim, tmp_path, "parcel").pairs)


def test_moving_an_occluder_recomputes_only_pairs_near_it(tunnel, tmp_path):
    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    guards = [i for i, p in enumerate(sim.scene.parts) if "Guard" in p.path]
    assert guards, "the scan tunnel has guard panels"
    # the guard panel that stands in the most lines of sight
    near = {i: len(sim.world.pairs_near_part(i, sim.world.part_bounds(i))[0]) for i in guards}
    busiest = max(near, key=near.get)
    assert near[busiest] > 0
    path = sim.scene.parts[busiest].path
    local = sim.stage.GetPrimAtPath(path).GetAttribute("xformOp:translate").Get()
    sim.set_translation(path, (local[0], local[1], local[2] + 5.0))  # lift it away
    res = sim.evaluate()
    up = sim.last_update
    assert not up.full and up.cameras == [] and up.targets == []
    assert 0 < up.pairs < len(sim.scene.cameras) * len(sim.scene.targets)
    assert res.pairs.equal(_fresh(sim, tmp_path, "guard").pairs)


def test_save_restore_is_identical_and_input_untouched(tunnel, tmp_path):
    digest = _digest(tunnel)
    sim = swb.open(tunnel, device=DEVICE)
    cam = sim.scene.cameras[2].path
    sim.set_attribute(cam, "focusDistance", 1.3)
    res = sim.evaluate()
    sim.set_ui(active_camera=cam, selection=[t.path for t in sim.scene.targets[:3]], visualisation_mode="score",
               viewer_camera_transform=((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (2.5, -3, 2, 1)),
               viz_parameters={"plane": {"resolution": [32, 16]}})
    root = sim.save(tmp_path / "saved" / "tunnel.swb.usda")
    gen = Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]["generation"]
    names = sorted(p.name for p in root.parent.iterdir())
    assert names == sorted(["tunnel.swb.usda", *(f"tunnel.swb.{gen}.{role}" for role in (
        "ui.usda", "results.usdc", "config.usda", "scene.usdc"))])
    assert _digest(tunnel) == digest

    again = swb.restore(root, device=DEVICE)
    assert again.results is not None and again.results.pairs.equal(res.pairs)
    assert again.ui == sim.ui
    assert again.scene.cameras[2].focus_distance == sim.scene.cameras[2].focus_distance
    assert again.evaluate(full=True).pairs.equal(res.pairs)  # recomputed from the restored stage, bit for bit
    # the saved edit lives in the config layer, not in the scene copy
    config = Sdf.Layer.FindOrOpen(str(root.parent / f"tunnel.swb.{gen}.config.usda"))
    assert config.GetAttributeAtPath(f"{cam}.focusDistance") is not None


def test_resave_of_a_restore_keeps_state(tunnel, tmp_path):
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.evaluate()
    root = sim.save(tmp_path / "a.usda")
    again = swb.restore(root, device=DEVICE)
    root2 = again.save(tmp_path / "b.usda")
    third = swb.restore(root2, device=DEVICE)
    assert third.results.pairs.equal(res.pairs)


def test_save_never_overwrites_the_input(tunnel):
    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    with pytest.raises(SwbError, match="overwrite"):
        sim.save(tunnel)


def test_results_layer_is_in_the_composed_stage(tunnel):
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.evaluate()
    for s in res.summaries():
        prim = sim.stage.GetPrimAtPath(s.target)
        if prim and not prim.IsInstanceProxy():
            assert prim.GetAttribute("swb:summary:decodable").Get() == s.decodable
    arr = sim.stage.GetPrimAtPath("/SWB/Results").GetAttribute("swb:results:score").Get()
    assert np.array_equal(np.array(arr, dtype=np.float32), res.pairs.score.ravel())


def test_failed_save_leaves_nothing_behind(tunnel, tmp_path, monkeypatch):
    import swb.stage.layers as layers

    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    real = layers.os.replace

    def replace(src, dst):
        if str(dst).endswith("broken.usda"):  # the root, renamed last
            raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr(layers.os, "replace", replace)
    with pytest.raises(SwbError, match="disk full"):
        sim.save(tmp_path / "out" / "broken.usda")
    assert list((tmp_path / "out").iterdir()) == []


def test_moving_a_group_moves_every_part_with_one_refit(tunnel, tmp_path):
    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    group = "/World/Parcels"
    prim = sim.stage.GetPrimAtPath(group)
    under = [p.path for p in sim.scene.parts if p.path.startswith(group + "/")]
    assert len(under) > 1
    refits = []
    mesh = sim.world.mesh
    real_refit = mesh.refit
    mesh.refit = lambda: (refits.append(1), real_refit())[1]
    t = prim.GetAttribute("xformOp:translate")
    old = t.Get() if t and t.Get() is not None else (0.0, 0.0, 0.0)
    sim.set_translation(group, (old[0] + 0.4, old[1], old[2]))
    res = sim.evaluate()
    assert sorted(sim.scene.parts[i].path for i in sim.last_update.parts) == sorted(under)
    assert len(refits) == 1
    assert res.pairs.equal(_fresh(sim, tmp_path, "group").pairs)
