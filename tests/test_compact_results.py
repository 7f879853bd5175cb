"""A simulation keeps 32 bytes a pair (device and host) and computes the blur metrics and margins on request: what a
user sees (summaries, rows, JSON, the results layer, saves, restores, results files) is bit for bit what a
simulation keeping every pair's detail shows, also after edits and for results held across them."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from device import DEVICE
from pxr import Sdf, UsdGeom

import swb
from swb.engine.pair_records import DETAIL_DTYPE, RECORD_DTYPE, PairRecords, detail_flat
from swb.engine.pair_results import PairResults
from swb.engine.profiles import FACTORS
from swb.engine.results_files import write_results
from swb.engine.station_generator import generate_station
from swb.engine.world import World
from swb.stage.export import write_scene

pq = pytest.importorskip("pyarrow.parquet")


def _pair(path) -> tuple[swb.Simulation, swb.Simulation]:
    return swb.open(path, device=DEVICE), swb.open(path, device=DEVICE, detail=True)


def _same(compact: swb.Simulation, full: swb.Simulation, tmp_path, tag: str) -> None:
    a, b = compact.evaluate(), full.evaluate()
    assert isinstance(a.pairs, PairRecords) and isinstance(b.pairs, PairResults)
    assert a.pairs.equal(b.pairs), tag
    assert a.summaries() == b.summaries(), tag
    assert [a.summary(t) for t in range(len(a.targets))] == [b.summary(t) for t in range(len(b.targets))], tag
    for cam in a.camera_paths:
        assert a.camera(cam) == b.camera(cam), tag
    for tgt in a.target_paths:
        assert a.target(tgt) == b.target(tgt), tag
    assert a.to_json() == b.to_json(), tag
    assert compact.results_layer.ExportToString() == full.results_layer.ExportToString(), tag
    for suffix in ("json", "parquet"):
        pa, pb = (write_results(tmp_path / f"{tag}_{k}.{suffix}", r, chunk_rows=7) for k, r in (("a", a), ("b", b)))
        if suffix == "json":
            assert pa.read_bytes() == pb.read_bytes(), tag
        else:
            assert pq.read_table(pa).equals(pq.read_table(pb)), tag
            assert pq.read_metadata(pa).metadata == pq.read_metadata(pb).metadata, tag


def _nudge(sim: swb.Simulation, path: str, dx: float, dz: float = 0.0) -> None:
    t = UsdGeom.Xformable(sim.stage.GetPrimAtPath(path)).GetLocalTransformation().ExtractTranslation()
    sim.set_translation(path, (t[0] + dx, t[1], t[2] + dz))


@pytest.fixture()
def tunnel(tmp_path):
    path = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), path)
    return path


def test_compact_simulation_keeps_32_bytes_a_pair(tunnel):
    compact, full = _pair(tunnel)
    res = compact.evaluate()
    assert compact.world.pair_bytes() <= 32 and res.pairs.nbytes_per_pair() <= 32
    assert res.pairs.records.nbytes == 32 * res.pairs.records.size  # nothing else per pair on the host
    full.evaluate()
    assert full.world.pair_bytes() == 76


def test_compact_equals_detail_through_edits(tunnel, tmp_path):
    """Camera move, sensor setting, label move, part move: after each the compact simulation shows what the
    detail one shows, and a Results held from before an edit keeps its old detail."""
    compact, full = _pair(tunnel)
    _same(compact, full, tmp_path, "start")
    cam = compact.scene.cameras[0].path
    label = compact.scene.targets[3].path
    guard = next(p.path for p in compact.scene.parts if "Guard" in p.path)
    parcel = str(Sdf.Path(compact.scene.targets[0].path).GetParentPath())
    edits = [
        ("camera move", lambda s: _nudge(s, cam, 0.05, -0.05)),
        ("sensor setting", lambda s: s.set_attribute(cam, "fStop", 11.0)),
        ("label move", lambda s: _nudge(s, label, 0.02)),
        ("part move", lambda s: _nudge(s, guard, 0.0, 0.3)),
        ("parcel move", lambda s: _nudge(s, parcel, 0.2)),
    ]
    for tag, edit in edits:
        held_a, held_b = compact.evaluate(), full.evaluate()
        kept = held_b.pairs.copy()
        edit(compact)
        edit(full)
        _same(compact, full, tmp_path, tag.replace(" ", "_"))
        assert not compact.last_update.full, tag
        assert held_a.pairs.equal(kept), tag  # held across the edit: its detail is still the old state's
        assert held_a.summaries() == held_b.summaries(), tag


def test_save_and_restore_are_the_same(tunnel, tmp_path):
    compact, full = _pair(tunnel)
    _nudge(compact, compact.scene.cameras[1].path, 0.1)
    _nudge(full, full.scene.cameras[1].path, 0.1)
    compact.evaluate()
    full.evaluate()
    pa, pb = compact.save(tmp_path / "a" / "t.swb.usda"), full.save(tmp_path / "b" / "t.swb.usda")
    (la,), (lb,) = (list(p.parent.glob("*.results.usdc")) for p in (pa, pb))
    a, b = (re.sub(r'generation = "\w+"', "", Sdf.Layer.FindOrOpen(str(p)).ExportToString()) for p in (la, lb))
    assert a == b  # the save's generation token (random per save) aside
    ra, rb = swb.restore(pa, device=DEVICE), swb.restore(pb, device=DEVICE)
    assert ra.results.pairs.equal(rb.results.pairs)
    assert ra.results.pairs.equal(full.results.pairs)
    assert ra.results.summaries() == full.results.summaries()
    # a restored simulation evaluates compactly again, with the same values as a detail world
    ra.set_attribute(ra.scene.cameras[0].path, "fStop", 5.6)
    full.set_attribute(full.scene.cameras[0].path, "fStop", 5.6)
    assert ra.evaluate(full=True).pairs.equal(full.evaluate().pairs)


def test_a_restored_simulation_keeps_records_and_its_save_keeps_the_detail(tunnel, tmp_path, monkeypatch):
    """Restored, a compact simulation holds 32-byte records; the blur metrics and margins stay in the save's
    layer arrays (read on request, no world built): rows, summaries, JSON and a second save are the save's."""
    from swb.stage.results_layer import StoredDetail

    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    saved = sim.save(tmp_path / "a" / "t.swb.usda")
    back = swb.restore(saved, device=DEVICE)
    res = back.results
    assert isinstance(res.pairs, PairRecords) and isinstance(res.pairs.source, StoredDetail)
    assert res.pairs.nbytes_per_pair() == 32 and back._world is None
    monkeypatch.setenv("SWB_DETAIL", "1")
    want = swb.restore(saved, device=DEVICE).results
    assert isinstance(want.pairs, PairResults) and res.pairs.equal(want.pairs)
    assert res.pairs.equal(sim.results.pairs) and res.summaries() == want.summaries()
    assert res.to_json() == want.to_json()
    for cam in res.camera_paths:
        assert res.camera(cam) == want.camera(cam)
    assert res.target(res.target_paths[5]) == want.target(res.target_paths[5])
    again = back.save(tmp_path / "b" / "t.swb.usda")
    (la,), (lb,) = (list(p.parent.glob("*.results.usdc")) for p in (saved, again))
    a, b = (re.sub(r'generation = "\w+"', "", Sdf.Layer.FindOrOpen(str(p)).ExportToString()) for p in (la, lb))
    assert a == b


def test_release_world_keeps_detail_exact(tunnel, tmp_path):
    compact, full = _pair(tunnel)
    res = compact.evaluate()
    compact.release_world()
    assert res.pairs.equal(full.evaluate().pairs)
    assert compact.results_layer.ExportToString() == full.results_layer.ExportToString()


def test_embree_masks_and_detail_agree(tmp_path):
    """A station big enough for host (Embree) occlusion masks: the detail recomputed from the records' seen
    samples equals a detail world's, so the visibility is the one the evaluation used."""
    path = tmp_path / "station.usdc"
    write_scene(generate_station(n_triangles=20_000, n_cameras=6, n_targets=900, seed=3), path)
    compact, full = _pair(path)
    res = compact.evaluate()
    assert res.pairs.equal(full.evaluate().pairs)
    assert res.summaries() == full.results.summaries()
    world = World(compact.scene, device=DEVICE, embree=False)  # the same pairs through Warp's BVH alone
    world.evaluate()
    assert world.results().equal(res.pairs)
    # any flat range of the camera-major order, as a results file's chunks ask it
    n = res.pairs.shape[0] * res.pairs.shape[1]
    for a, b in ((0, n), (5, 905), (899, 2701), (n - 3, n)):
        got = detail_flat(res.pairs, a, b)
        want = detail_flat(full.results.pairs, a, b)
        for x, y in zip(got, want, strict=True):
            assert np.array_equal(x, y, equal_nan=True), (a, b)


def test_detail_twin_answers_after_the_world_is_rebuilt(tunnel):
    """A structural edit (a new world) leaves held results answering from a twin of their own scene."""
    compact, full = _pair(tunnel)
    held, kept = compact.evaluate(), full.evaluate().pairs.copy()
    first = compact.world
    cam = compact.scene.cameras[0].path
    compact.stage.GetPrimAtPath(cam).GetAttribute("visibility").Set("invisible")  # a structural edit
    compact.set_attribute(cam, "fStop", 16.0)
    compact.evaluate()
    assert compact.world is not first
    del first
    assert held.pairs.equal(kept)


def test_results_layer_patched_across_several_edits(tunnel):
    """Edits evaluated one by one with the layer written only after the last: the compact simulation patches the
    detail of every pair recomputed since its last write, and its layer equals a full rewrite's."""
    compact, full = _pair(tunnel)
    compact.evaluate()
    full.evaluate()
    assert compact.results_layer.ExportToString() == full.results_layer.ExportToString()
    cams = compact.scene.cameras
    guard = next(p.path for p in compact.scene.parts if "Guard" in p.path)
    for sim in (compact, full):
        _nudge(sim, cams[2].path, -0.04)
        sim.evaluate()
        sim.set_attribute(cams[4].path, "swb:sensor:decoderProfile", "robust")
        sim.evaluate()
        _nudge(sim, guard, 0.1, 0.2)
        sim.evaluate()
        _nudge(sim, sim.scene.targets[5].path, 0.03)
        sim.evaluate()
    patched = compact.results_layer.ExportToString()
    assert patched == full.results_layer.ExportToString()
    compact.flush_results(rewrite=True)
    assert compact.results_layer.ExportToString() == patched


def test_cli_output_is_the_same_with_detail_kept(tunnel, tmp_path, capsys, monkeypatch):
    """`swb eval --json`, its tables, `swb query` and the --out results file: the same text with SWB_DETAIL=1."""
    from swb.cli import main

    def run(detail: str, *argv: str) -> str:
        monkeypatch.setenv("SWB_DETAIL", detail)
        assert main([*argv, "--device", DEVICE]) == 0
        return capsys.readouterr().out

    cam = swb.open(tunnel).scene.cameras[0].path
    for argv in (("eval", str(tunnel), "--json"), ("eval", str(tunnel)), ("query", str(tunnel), "--camera", cam)):
        assert run("0", *argv) == run("1", *argv), argv
    run("0", "eval", str(tunnel), "--out", str(tmp_path / "a"))
    run("1", "eval", str(tunnel), "--out", str(tmp_path / "b"))
    a, b = ((tmp_path / k / "scan_tunnel.results.json").read_bytes() for k in "ab")
    assert a == b


def test_a_detail_only_world_is_never_evaluated(tunnel):
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.evaluate()
    kept = sim.world
    sim.release_world()
    with pytest.raises(RuntimeError, match="only recomputes detail"):
        kept.evaluate()
    full = swb.open(tunnel, device=DEVICE, detail=True).evaluate()
    assert res.camera(res.camera_paths[0]) == full.camera(full.camera_paths[0])  # detail from the kept geometry
    assert sim.evaluate(full=True).pairs.equal(res.pairs)  # a new world for the next evaluation


def test_lit_station_detail_on_request_is_exact():
    """Lights with shadows, strobes and moving labels (glare, exposure and motion come from the lights): the detail
    recomputed for compact records equals a detail world's, from the live world, after ``release_pairs`` and
    from a twin of the scene."""
    from test_lights_usdlux import usdlux_station

    from swb.engine.detail_source import WorldDetail

    scene = usdlux_station()
    full = World(scene, device=DEVICE)
    full.evaluate()
    want = full.results()
    lit = [FACTORS.index("glare"), FACTORS.index("exposure")]
    assert np.isfinite(want.margins[..., lit]).any()  # glare and exposure margins are in play
    compact = World(scene, device=DEVICE, detail=False)
    compact.evaluate()
    source = WorldDetail(compact, scene)
    pairs = PairRecords(compact.records(), source)
    assert pairs.equal(want)
    compact.release_pairs()
    source.keep(compact)
    assert compact.mesh is not None  # shadow rays need it
    assert pairs.equal(want)
    twin = PairRecords(pairs.records, WorldDetail(compact, scene))
    compact.update_cameras({0: scene.cameras[0]})  # the world moved on: the twin answers
    assert twin.equal(want)


def test_reading_a_detail_field_computes_every_pair_once():
    """``res.pairs.margins`` in a script's loop: the first read computes every pair, later reads reuse it while
    the records describe the same state; a new source (an in-place update) computes again."""
    calls = []

    class Counting:
        cull = True

        def pair_detail(self, cam_idx, tgt_idx, seen, sparse=False):  # noqa: ANN001, ANN202
            calls.append(np.size(seen))
            out = np.zeros(np.shape(seen), DETAIL_DTYPE)
            out["defocus_px"] = 1.5
            return out

    records = np.zeros((3, 4), RECORD_DTYPE)
    pairs = PairRecords(records, Counting())
    assert pairs.margins.shape == (3, 4, len(FACTORS)) and pairs.defocus_px[2, 3] == np.float32(1.5)
    for _ in range(5):
        pairs.margins[1, 2]
        pairs.motion_px[0, 0]
    assert calls == [12]
    pairs.source = Counting()
    pairs.defocus_px[0, 0]
    assert calls == [12, 12]
