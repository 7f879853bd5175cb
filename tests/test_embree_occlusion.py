"""Embree's any-hit path for CPU occlusion rays gives exactly the verdicts of Warp's BVH (engine/embree_masks.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("embreex")

import swb  # noqa: E402
from swb.engine import embree_masks  # noqa: E402
from swb.engine.embree_occlusion import EmbreeOcclusion  # noqa: E402
from swb.engine.pair_results import PairResults  # noqa: E402
from swb.engine.profiles import FACTORS  # noqa: E402
from swb.engine.reference import ReferenceOcclusion  # noqa: E402
from swb.engine.station_generator import generate_station  # noqa: E402
from swb.engine.world import World  # noqa: E402
from swb.stage.load import load_stage  # noqa: E402

OCCLUDED = FACTORS.index("occluded")


@pytest.fixture
def every_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small test scenes take the Embree path on every launch, also right after a geometry change."""
    monkeypatch.setattr(embree_masks, "MIN_PAIRS", 1)
    monkeypatch.setattr(embree_masks, "REBUILD_MIN_PAIRS", 1)


def _both(scene, threads: int = 2) -> tuple[World, World]:
    return World(scene, device="cpu", threads=threads, embree=False), World(scene, device="cpu", threads=threads,
                                                                           embree=True)


def _assert_same(a: PairResults, b: PairResults) -> None:
    for f in dataclasses.fields(a):
        np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)


@pytest.mark.parametrize("name", ["scan_tunnel", "pick_station"])
def test_bundled_scenes_same_results(every_launch: None, name: str) -> None:
    _, scene = load_stage(swb.bundled_scene(name))
    warp_world, embree_world = _both(scene)
    for w in (warp_world, embree_world):
        w.evaluate()
    assert embree_world._host_masks is not None  # the Embree path really ran
    assert warp_world.stats == embree_world.stats
    _assert_same(warp_world.results(), embree_world.results())


def test_generated_station_same_results_through_edits(every_launch: None) -> None:
    scene = generate_station(n_triangles=20_000, n_cameras=6, n_targets=300, seed=3)
    warp_world, embree_world = _both(scene)
    for w in (warp_world, embree_world):
        w.evaluate()
    res = embree_world.results()
    partly = (res.margins[..., OCCLUDED] > 0) & (res.margins[..., OCCLUDED] < 1)
    assert partly.any(), "the station must have occluders for this test to mean something"
    _assert_same(warp_world.results(), res)

    # a camera moves (one row), a sparse list of pairs, a part moves (the Embree BVH is rebuilt)
    cam = scene.cameras[1]
    moved = dataclasses.replace(cam, position=np.asarray(cam.position) + np.array([0.07, -0.03, 0.02]))

    def shifted(i: int):
        m = np.array(scene.parts[i].to_world, dtype=np.float64)
        m[0, 3] += 0.25
        return dataclasses.replace(scene.parts[i], to_world=m)

    part_i = max(range(len(scene.parts)), key=lambda i: len(warp_world.pairs_affected_by_move(i, shifted(i))[0]))
    part = shifted(part_i)
    rng = np.random.default_rng(0)
    ci = rng.integers(0, len(scene.cameras), 500)
    ti = rng.integers(0, len(scene.targets), 500)
    for w in (warp_world, embree_world):
        w.update_camera(1, moved)
        w.evaluate(cameras=[1])
        w.evaluate_pairs(ci, ti)
        affected = w.move_part(part_i, part)
    assert len(affected[0]), "the moved parcel must change some pairs"
    _assert_same(warp_world.results(), embree_world.results())
    for w in (warp_world, embree_world):
        w.evaluate()
    assert embree_world._host_masks._version == embree_world._geometry_version > 0  # rebuilt after the move
    _assert_same(warp_world.results(), embree_world.results())


def test_small_launches_keep_warps_bvh() -> None:
    scene = generate_station(n_triangles=2_000, n_cameras=2, n_targets=20, seed=1)
    w = World(scene, device="cpu", embree=True)
    w.evaluate()  # 40 pairs < MIN_PAIRS
    assert w._host_masks is None


def test_option_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import warp as wp

    cpu = wp.get_device("cpu")
    monkeypatch.setenv(embree_masks.ENV, "0")
    assert not embree_masks.wanted(None, cpu)
    assert embree_masks.wanted(True, cpu)
    monkeypatch.setenv(embree_masks.ENV, "1")
    assert embree_masks.wanted(None, cpu)
    assert not embree_masks.wanted(False, cpu)
    monkeypatch.delenv(embree_masks.ENV)
    assert embree_masks.wanted(None, cpu) == embree_masks.DEFAULT_ON


def test_blocked_matches_the_reference_intersector() -> None:
    """The bench baseline's any-hit ``blocked`` answers like the reference's closest-hit one on random segments."""
    scene = generate_station(n_triangles=20_000, n_cameras=2, n_targets=10, seed=2)
    ref = ReferenceOcclusion.from_parts(scene.parts)
    occ = EmbreeOcclusion(ref.mesh.vertices, ref.mesh.faces, threads=2)
    rng = np.random.default_rng(1)
    lo, hi = ref.mesh.bounds
    origins = rng.uniform(lo, hi, (20_000, 3))
    points = rng.uniform(lo, hi, (20_000, 3))
    a, b = occ.blocked(origins, points), ref.blocked(origins, points)
    assert a.any() and not a.all()
    assert (a != b).mean() < 1e-3  # float32 any-hit vs float64 closest-hit: only grazing rays may differ
    occ.close()
