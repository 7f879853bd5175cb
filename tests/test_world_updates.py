"""Incremental updates of the Warp world give exactly what a fresh build gives, whatever the thread count."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from device import DEVICE

from swb.engine.model import CameraModel, MeshPart, Scene, TargetModel
from swb.engine.profiles import FACTOR_CODE, FACTORS
from swb.engine.world import World

SYMBOLOGIES = ("code128", "datamatrix", "qrcode", "pdf417", "ean13")


def camera_rotation(forward, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    z = -np.asarray(forward, float) / np.linalg.norm(forward)
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def facing(normal, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Symbol rotation (u, w, n) with normal n and w as close to ``up`` as possible."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    u = np.cross(up, n)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(n, u), n], axis=1)


def box(path: str, centre, half) -> MeshPart:
    """An axis-aligned box as 12 triangles in its local frame, placed by a translation."""
    c = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * np.asarray(half, float)
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)
    to_world = np.eye(4)
    to_world[:3, 3] = centre
    return MeshPart(path, c, faces, to_world)


def moved(part: MeshPart, centre) -> MeshPart:
    to_world = np.array(part.to_world, float)
    to_world[:3, 3] = centre
    return replace(part, to_world=to_world)


def station(n_cam: int = 4, n_tgt: int = 40, seed: int = 1) -> Scene:
    """Targets on a 1 m wall at y = 1 facing -Y, cameras in front of it, a box and a pillar in between."""
    rng = np.random.default_rng(seed)
    cams = []
    for i in range(n_cam):
        pos = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.1, 0.2), rng.uniform(0.3, 0.7)])
        look = np.array([rng.uniform(-0.2, 0.2), 1.0, rng.uniform(0.3, 0.7)]) - pos
        cams.append(CameraModel(
            f"/cam{i}", camera_rotation(look), pos, 2448, 2048, 0.008, (0.00845, 0.00707),
            f_number=4.0, focus_distance=1.2, exposure=5e-4, decoder_profile=("industrial", "robust")[i % 2],
        ))
    tgts = []
    for j in range(n_tgt):
        sym = SYMBOLOGIES[j % len(SYMBOLOGIES)]
        modules = (70, 1) if sym in ("code128", "ean13") else (18, 18) if sym != "pdf417" else (60, 12)
        tilt = rng.uniform(-0.5, 0.5)
        normal = np.array([np.sin(tilt), -np.cos(tilt), rng.uniform(-0.3, 0.3)])
        tgts.append(TargetModel(
            f"/t{j}", facing(normal), np.array([rng.uniform(-0.5, 0.5), 1.0, rng.uniform(0.1, 0.9)]),
            sym, float(rng.uniform(0.0007, 0.0015)), modules, velocity=np.array([rng.uniform(-1, 1), 0.0, 0.0]),
        ))
    parts = [
        box("/box", (0.0, 0.5, 0.5), (0.15, 0.05, 0.15)),
        box("/pillar", (0.35, 0.6, 0.5), (0.03, 0.03, 0.5)),
        box("/backwall", (0.0, 1.08, 0.5), (1.0, 0.03, 1.0)),  # just behind the (tilted) labels
    ]
    return Scene("station", cams, tgts, parts)


def fresh(scene: Scene, threads: int = 1):
    world = World(scene, device=DEVICE, threads=threads)
    world.evaluate()
    return world.results()


def test_station_has_every_kind_of_outcome():
    res = fresh(station())
    codes = set(np.unique(res.limiting).tolist())
    assert {0, FACTOR_CODE["occluded"], FACTOR_CODE["fov"]} <= codes
    assert np.isfinite(res.score).all() and not np.isnan(res.margins).any()


def test_update_camera_matches_fresh_world():
    scene = station()
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    cam = scene.cameras[2]
    new_cam = replace(cam, position=cam.position + np.array([0.1, 0.05, -0.1]), decoder_profile="engine",
                      focus_mode="autofocus", focus_range=(0.3, 2.0))
    world.update_camera(2, new_cam)
    world.evaluate(cameras=[2])
    assert world.stats["pairs"] == len(scene.targets)
    scene.cameras[2] = new_cam
    assert world.results().equal(fresh(scene))


def test_update_target_matches_fresh_world():
    scene = station()
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    tgt = scene.targets[7]
    new_tgt = replace(tgt, position=np.array([0.05, 1.0, 0.5]), symbology="qrcode", modules=(25, 25))
    world.update_target(7, new_tgt)
    world.evaluate(targets=[7])
    scene.targets[7] = new_tgt
    assert world.results().equal(fresh(scene))


def test_moving_a_part_recomputes_only_affected_pairs():
    cam = CameraModel("/cam", camera_rotation((0, 1, 0)), np.zeros(3), 1280, 960, 0.012, (0.0064, 0.0048))
    tgts = [
        TargetModel("/behind_box", facing((0, -1, 0)), np.array([0.0, 1.0, 0.0]), "code128", 0.0008, (60, 1)),
        TargetModel("/aside", facing((0, -1, 0)), np.array([0.2, 1.0, 0.0]), "qrcode", 0.0015, (21, 21)),
    ]
    parts = [box("/box", (0.0, 0.5, 0.0), (0.05, 0.05, 0.05)), box("/far", (0.0, 3.0, 0.0), (0.1, 0.1, 0.1))]
    scene = Scene("move", [cam], tgts, parts)
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    before = world.results()
    assert before.limiting[0, 0] == FACTOR_CODE["occluded"] and before.visible_fraction[0, 0] == 0.0
    assert before.decodable[0, 1]
    assert world.stats == {"pairs": 2, "rays": 18}

    new_box = moved(parts[0], (-0.5, 0.5, 0.0))  # out of the way
    cam_idx, tgt_idx = world.move_part(0, new_box)
    assert list(zip(cam_idx.tolist(), tgt_idx.tolist(), strict=True)) == [(0, 0)]  # the aside pair is untouched
    assert world.stats["pairs"] == 1
    after = world.results()
    assert after.decodable[0, 0] and after.visible_fraction[0, 0] == 1.0
    scene.parts[0] = new_box
    assert after.equal(fresh(scene))

    far = moved(parts[1], (0.0, 3.5, 0.0))  # behind every target: no pair can change
    old = world.part_bounds(1)
    world.update_part(1, far)
    assert len(world.pairs_near_part(1, old)[0]) == 0


def test_station_part_move_matches_fresh_world():
    scene = station()
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    new_box = moved(scene.parts[0], (-0.2, 0.4, 0.3))
    cam_idx, tgt_idx = world.pairs_affected_by_move(0, new_box)
    world.update_part(0, new_box)
    world.evaluate_pairs(cam_idx, tgt_idx)
    assert 0 < len(cam_idx) < len(scene.cameras) * len(scene.targets)
    assert world.stats["pairs"] == len(cam_idx)
    scene.parts[0] = new_box
    assert world.results().equal(fresh(scene))


def test_topology_change():
    scene = station(2, 20)
    world = World(scene, device=DEVICE)
    world.evaluate()
    smaller = replace(scene.parts[0], triangles=scene.parts[0].triangles[:6])
    with pytest.raises(ValueError, match="rebuild"):
        world.update_part(0, smaller)
    # same counts, other triangles (every face of the pillar collapsed onto one): re-indexed, BVH rebuilt
    pillar = scene.parts[1]
    flat = replace(pillar, triangles=np.tile(pillar.triangles[:1], (len(pillar.triangles), 1)))
    world.update_part(1, flat)
    world.evaluate()
    scene.parts[1] = flat
    assert world.results().equal(fresh(scene))


def test_no_geometry_skips_occlusion():
    scene = station(2, 10)
    scene.parts = []
    world = World(scene, device=DEVICE)
    world.evaluate()
    res = world.results()
    assert world.mesh is None and world.stats["rays"] == 0
    in_view = (res.limiting != FACTOR_CODE["fov"]) & (res.limiting != FACTOR_CODE["backfacing"])
    assert in_view.any() and (res.visible_fraction[in_view] == 1.0).all()


def test_thread_count_does_not_change_results():
    scene = station(6, 50, seed=3)
    worlds = []
    for threads in (1, 2, 3):
        world = World(scene, device=DEVICE, threads=threads)
        world.min_split_pairs = 1  # force the split even on this small scene
        world.evaluate()
        worlds.append(world)
    ref = worlds[0].results()
    for world in worlds[1:]:
        assert world.results().equal(ref)
        assert world.stats == worlds[0].stats
    assert worlds[0].stats["rays"] > 0
    # a single camera row splits along the targets; a sparse list splits along the pairs
    for world in worlds:
        world.evaluate(cameras=[4])
        world.evaluate_pairs([0, 5, 3, 1], [49, 0, 7, 7])
    assert all(w.results().equal(ref) for w in worlds)


def test_decodable_rows_reads_only_those_rows():
    scene = station()
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    rows = [2, 0]
    got = world.decodable_rows(rows)
    assert got.dtype == bool and got.shape == (2, len(scene.targets))
    np.testing.assert_array_equal(got, world.results().decodable[rows])


M = {name: k for k, name in enumerate(FACTORS)}


def _pre_culled(world: World) -> np.ndarray:
    """The pairs the pair kernel's view pre-test rules out (kernels/visibility.py view_culled, in numpy)."""
    views, spheres = world._views.numpy(), world._spheres.numpy()
    d = spheres["pos"][None, :, :] - views["pos"][:, None, :]
    r = spheres["radius"][None, :]
    depth = np.einsum("ck,ctk->ct", views["depth"], d)
    planes = np.einsum("cjk,ctk->ctj", views["planes"], d)
    v = np.einsum("ck,ctk->ct", views["plane_v"], d)
    return ((depth + r < views["clip_near"][:, None]) | (depth - r > views["clip_far"][:, None])
            | (planes < -r[..., None]).any(axis=-1) | (v < -r))


def test_culling_and_detail_change_what_is_kept_never_the_verdict():
    """Pairs out of view or facing away stop early (cull) and a world may keep only the 32-byte records (no detail):
    verdicts, limiting factors, p_read, scores, distances and tilts are those of the full computation; culled pairs'
    other metrics are 0, and a world without detail says NaN where it has nothing."""
    from swb.engine.station_generator import generate_station

    scene = generate_station(n_triangles=20_000, n_cameras=8, n_targets=400, seed=4)
    worlds = {(c, d): World(scene, device=DEVICE, threads=2, cull=c, detail=d) for c in (True, False)
              for d in (True, False)}
    try:
        for w in worlds.values():
            w.evaluate()
        res = {k: w.results() for k, w in worlds.items()}
        full = res[(False, True)]
        culled = (full.limiting == FACTOR_CODE["fov"]) | (full.limiting == FACTOR_CODE["backfacing"])
        assert 0.3 < culled.mean() < 1.0
        for key, r in res.items():
            for name in ("decodable", "limiting", "score", "p_read", "distance", "tilt_deg", "visible_fraction"):
                assert np.array_equal(getattr(r, name), getattr(full, name)), (key, name)
            keep = ~culled if key[0] else np.ones_like(culled)
            for name in ("ppm_u", "ppm_w", "combined_margin"):
                assert np.array_equal(getattr(r, name)[keep], getattr(full, name)[keep]), (key, name)
                assert not key[0] or not getattr(r, name)[culled].any(), (key, name)
            if key[1]:
                assert np.array_equal(r.margins[keep], full.margins[keep]) and np.array_equal(
                    r.defocus_px[keep], full.defocus_px[keep]), key
            else:
                assert np.isnan(r.margins).all() and np.isnan(r.motion_px).all(), key
        assert worlds[(True, True)].pair_bytes() == 76 and worlds[(True, False)].pair_bytes() == 32
        # the pair kernel's pre-test (108 bytes a pair) rules out many of them; its records are the full model's
        pre = _pre_culled(worlds[(True, True)])
        assert pre.sum() > 0.2 * pre.size and (full.limiting[pre] == FACTOR_CODE["fov"]).all()
        lean = res[(True, True)]
        for k in ("fov", "backfacing", "glare", "exposure", "occluded"):
            assert np.array_equal(lean.margins[culled][:, M[k]], full.margins[culled][:, M[k]]), k
    finally:
        for w in worlds.values():
            w.close()
