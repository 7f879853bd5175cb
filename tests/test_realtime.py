"""Edits answered in milliseconds give exactly what a full evaluation gives: the vectorised summaries, the results
layer written only when needed (and then only what changed), held results that stay what they were, and a long
sequence of mixed edits compared with fresh evaluations."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from device import DEVICE
from pxr import Sdf

import swb
from swb.engine.pair_results import PairResults
from swb.engine.profiles import FACTORS
from swb.engine.results import Results, summarize
from swb.stage.results_layer import ResultsLayerWriter, write_results


@pytest.fixture()
def tunnel(tmp_path):
    path = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), path)
    return path


def _fresh(sim: swb.Simulation, tmp_path, name: str) -> swb.Results:
    flat = tmp_path / f"{name}.usda"
    sim.stage.Export(str(flat))
    return swb.open(flat, device=DEVICE).evaluate()


def _random_pairs(rng: np.random.Generator, n_cam: int, n_tgt: int) -> PairResults:
    """Pair arrays with many ties, NaNs and undecodable columns: the cases where the choice rules matter."""
    p = PairResults.empty(n_cam, n_tgt)
    p.decodable[:] = rng.random((n_cam, n_tgt)) < 0.15
    p.score[:] = np.where(p.decodable, rng.choice([0.0, 0.25, 0.5, 0.5, 0.9], (n_cam, n_tgt)), 0.0)
    p.limiting[:] = np.where(p.decodable, 0, rng.integers(1, len(FACTORS) + 1, (n_cam, n_tgt)))
    p.combined_margin[:] = rng.choice([0.2, 0.5, 0.5, np.nan, np.inf, -np.inf], (n_cam, n_tgt))
    p.margins[:] = rng.choice([0.1, 0.5, 0.7, np.nan, np.inf], (n_cam, n_tgt, len(FACTORS)))
    return p


class _Model:
    def __init__(self, path: str) -> None:
        self.path = path


@pytest.mark.parametrize("n_cam", [1, 3, 7])
def test_vectorised_summaries_equal_the_per_target_rule(n_cam):
    rng = np.random.default_rng(n_cam)
    pairs = _random_pairs(rng, n_cam, 400)
    res = Results([_Model(f"/c{i}") for i in range(n_cam)], [_Model(f"/t{j}") for j in range(400)], pairs)
    fast = res.summaries()
    slow = [res.summary(ti) for ti in range(400)]
    assert fast == slow
    s = summarize(pairs)
    assert any(not x.decodable for x in slow) and any(x.decodable for x in slow)
    assert list(s.decoding) == [x.cameras_decoding for x in slow]


@pytest.mark.parametrize("scene", ["scan_tunnel", "pick_station"])
def test_vectorised_summaries_on_the_bundled_stations(scene):
    res = swb.open(swb.bundled_scene(scene), device=DEVICE).evaluate()
    assert res.summaries() == [res.summary(ti) for ti in range(len(res.targets))]


def test_no_cameras_summarise_as_out_of_view():
    res = Results([], [_Model("/t0")], PairResults.empty(0, 1))
    assert res.summaries() == [res.summary(0)]


def test_incremental_layer_writes_equal_a_full_write(tunnel):
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.evaluate()
    layer = Sdf.Layer.CreateAnonymous("inc.usdc")
    writer = ResultsLayerWriter(layer)
    assert writer.write(res) == len(res.targets)  # the first write lays out every summary
    sim.set_attribute(sim.scene.cameras[0].path, "fStop", 11.0)
    res2 = sim.evaluate()
    rewritten = writer.write(res2)
    assert 0 < rewritten < len(res2.targets)  # only the summaries that changed
    full = Sdf.Layer.CreateAnonymous("full.usdc")
    write_results(full, res2)
    assert layer.ExportToString() == full.ExportToString()


def test_results_layer_is_written_when_someone_asks(tunnel):
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.evaluate()
    assert sim.flush_results() is True  # pending after an evaluation
    assert sim.flush_results() is False  # and written once
    cam = sim.scene.cameras[1].path
    sim.set_attribute(cam, "fStop", 16.0)
    res = sim.evaluate()
    arr = sim.results_layer.GetAttributeAtPath("/SWB/Results.swb:results:score").default  # reading flushes
    assert np.array_equal(np.array(arr, np.float32), res.pairs.score.ravel())
    assert sim.flush_results() is False


def test_a_held_result_stays_what_it_was(tunnel):
    sim = swb.open(tunnel, device=DEVICE)
    first = sim.evaluate()
    kept = first.pairs.copy()
    sim.set_attribute(sim.scene.cameras[0].path, "fStop", 16.0)
    second = sim.evaluate()
    assert first.pairs.equal(kept)  # written copy-on-write: the held arrays did not change
    assert not second.pairs.equal(kept)
    assert sim.results.pairs.equal(second.pairs)


def test_a_long_sequence_of_edits_matches_fresh_evaluations(tunnel, tmp_path):
    """Camera moves and settings, label edits, parcel and occluder moves, a group move, one after another:
    every incremental answer equals a fresh load and evaluation of the same composed stage, bit for bit."""
    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    cams = [c.path for c in sim.scene.cameras]
    label = sim.scene.targets[3].path
    parcel = str(Sdf.Path(sim.scene.targets[0].path).GetParentPath())
    guard = next(p.path for p in sim.scene.parts if "Guard" in p.path)

    def nudge(path: str, dx: float, dz: float) -> None:
        m = sim.stage.GetPrimAtPath(path)
        from pxr import UsdGeom

        t = UsdGeom.Xformable(m).GetLocalTransformation().ExtractTranslation()
        sim.set_translation(path, (t[0] + dx, t[1], t[2] + dz))

    edits = [
        lambda: nudge(cams[0], 0.05, -0.05),
        lambda: sim.set_attribute(cams[1], "focalLength", 16.0),
        lambda: sim.set_attribute(cams[2], "swb:sensor:decoderProfile", "robust"),
        lambda: sim.set_attribute(label, "swb:barcode:moduleSize", 0.0004),
        lambda: nudge(parcel, 0.25, 0.0),
        lambda: nudge(guard, 0.0, 0.3),
        lambda: (nudge(cams[0], -0.1, 0.0), nudge(parcel, -0.1, 0.0)),  # two edits in one evaluation
        lambda: nudge("/World/Parcels", 0.15, 0.0),
    ]
    for k, edit in enumerate(edits):
        edit()
        res = sim.evaluate()
        assert not sim.last_update.full, k
        assert res.pairs.equal(_fresh(sim, tmp_path, f"step{k}").pairs), k
    assert sim.results_layer.GetPrimAtPath("/SWB/Results") is not None


def test_a_failed_read_puts_moved_parts_back(tunnel, tmp_path):
    """A part move read together with an invalid camera setting: nothing is applied, the world is as before."""
    sim = swb.open(tunnel, device=DEVICE)
    before = sim.evaluate().pairs.copy()
    guard = next(p for p in sim.scene.parts if "Guard" in p.path)
    t = sim.stage.GetPrimAtPath(guard.path).GetAttribute("xformOp:translate").Get()
    sim.set_translation(guard.path, (t[0], t[1], t[2] + 3.0))
    cam = sim.scene.cameras[0].path
    authored = sim.stage.GetPrimAtPath(cam).GetAttribute("focalLength").Get()
    sim.set_attribute(cam, "focalLength", 0.0)
    with pytest.raises(swb.SwbError, match="focalLength"):
        sim.evaluate()
    assert np.array_equal(sim.world.parts[sim.scene.parts.index(guard)].to_world, guard.to_world)
    assert sim.results.pairs.equal(before)
    sim.set_attribute(cam, "focalLength", authored)
    assert sim.evaluate().pairs.equal(_fresh(sim, tmp_path, "after").pairs)


@pytest.mark.parametrize("scene", ["scan_tunnel", "pick_station"])
def test_set_world_pose_places_a_camera_exactly_where_asked(scene, tmp_path):
    """A pose in SWB's world (metres, Z up) on a metre Z-up stage and on a centimetre Y-up one."""
    path = tmp_path / f"{scene}.usda"
    shutil.copy(swb.bundled_scene(scene), path)
    sim = swb.open(path, device=DEVICE)
    sim.evaluate()
    cam = sim.scene.cameras[0]
    a = 0.3
    turn = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    want_rot, want_pos = turn @ cam.rotation, np.asarray(cam.position) + [0.1, -0.05, 0.2]
    sim.set_world_pose(cam.path, want_rot, want_pos)
    res = sim.evaluate()
    assert sim.last_update.cameras == [0]
    np.testing.assert_allclose(sim.scene.cameras[0].rotation, want_rot, atol=1e-9)
    np.testing.assert_allclose(sim.scene.cameras[0].position, want_pos, atol=1e-9)
    assert res.pairs.equal(_fresh(sim, tmp_path, "posed").pairs)


def test_random_part_moves_match_fresh_worlds():
    """The affected-pairs search (cone test, then slab test) never misses a pair: after each of many random moves
    of an occluder, the incremental world equals a freshly built one bit for bit."""
    from test_world_updates import fresh, moved, station

    from swb.engine.world import World

    scene = station(n_cam=6, n_tgt=60, seed=3)
    world = World(scene, device=DEVICE, threads=2)
    world.evaluate()
    rng = np.random.default_rng(7)
    touched = 0
    for _ in range(16):  # in front of the cameras, beside them and out of their views (where the search skips them)
        new = moved(scene.parts[0], rng.uniform((-1.5, -0.4, -0.5), (1.5, 1.1, 1.5)))
        cam_idx, tgt_idx = world.move_parts({0: new})
        world.evaluate_pairs(cam_idx, tgt_idx)
        touched += len(cam_idx)
        scene.parts[0] = new
        assert world.results().equal(fresh(scene))
    assert 0 < touched < 16 * len(scene.cameras) * len(scene.targets)
    world.close()
