"""Configuration sweeps on hand-built scenes (no USD): closed-form optima, determinism, chunk and thread
invariance, agreement of the batched sums with a full evaluation, and parcel orientation samples. CPU only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import warp as wp
from device import DEVICE
from swb.kernels.camera import Camera, Target
from swb.kernels.sweep import surely_outside
from swb.kernels.visibility import in_fov
from sweep_checks import assert_sums_match_detail

from swb.engine.model import CameraModel, MeshPart, Scene, TargetModel
from swb.engine.profiles import FACTORS, PROFILES
from swb.engine.station_generator import box_mesh
from swb.engine.world import World, pack_cameras, pack_targets
from swb.sweep.candidates import StageFrame
from swb.sweep.orientations import WEIGHT_ONE, build_samples
from swb.sweep.run import SweepRunner, run_sweep
from swb.sweep.spec import spec_from_dict

F = 0.016
APERTURE = (0.010, 0.005)  # 2000 x 1000 pixels of 5 um
RES = (2000, 1000)


def down_camera(path: str = "/cam", height: float = 1.0, x: float = 0.0, **kw) -> CameraModel:
    """Looking straight down (camera -Z = world -Z), image right = world +X, image up = world +Y; a pinhole."""
    args = dict(path=path, rotation=np.eye(3), position=np.array([x, 0.0, height]), width=RES[0], height=RES[1],
                focal_length=F, aperture=APERTURE)
    args.update(kw)
    return CameraModel(**args)


def floor_label(path: str, xy=(0.0, 0.0), z: float = 0.0, modules=(60, 1), module=0.0005, **kw) -> TargetModel:
    """Facing up (+Z), bars across world X."""
    return TargetModel(path=path, rotation=np.eye(3), position=np.array([xy[0], xy[1], z]), symbology="code128",
                       module_size=module, modules=modules, **kw)


def spec(params: list[dict], cameras=("/cam",), **sweep) -> object:
    doc = {"sweep": {"cameras": list(cameras), "orientation_mode": "asAuthored", **sweep}, "parameter": params}
    return spec_from_dict(doc, 1.0)


def test_highest_mounting_height_is_where_ppm_meets_the_threshold():
    """Square-on pinhole with no motion: a 1-D code reads iff PPM = fx X / d >= T, so d* = fx X / T."""
    cam = down_camera(height=0.8)
    tgt = floor_label("/t")
    scene = Scene("mem", [cam], [tgt], [])
    threshold = PROFILES["industrial"].threshold("code128")
    d_star = cam.fx * tgt.module_size / threshold
    steps = 41
    res = run_sweep(scene, spec([{"kind": "translateZ", "range": [0.0, 1.0], "steps": steps}], sampler="grid"),
                    device=DEVICE)
    heights = cam.position[2] + res.values[:, 0]
    assert res.n_done == steps and np.min(np.abs(heights - d_star)) > 1e-3  # no grid point on the edge
    read = res.coverage == 1.0
    assert np.array_equal(read, heights <= d_star)
    assert res.coverage[~read].max() == 0.0
    best_height = heights[read].max()
    assert d_star - best_height < 1.0 / (steps - 1)  # the next grid step is above d*
    # what stops the higher ones is resolution, for all their weight
    above = np.flatnonzero(~read)
    assert np.all(res.share(res.sums.limiting[above, FACTORS.index("resolution")]) == 1.0)
    assert res.share(res.baseline.covered)[0] == (1.0 if cam.position[2] <= d_star else 0.0)


def test_pitch_sweep_is_best_square_on():
    """Three labels across the view: the outer two sit just inside the top and bottom image edges, so only the
    untilted camera sees all three."""
    h = 1.0
    cam = down_camera(height=h)
    half_view = h * (APERTURE[1] / 2) / F  # half the footprint along world Y
    tgt = floor_label("/mid", modules=(30, 1), module=0.001)
    edge = 0.5 * tgt.size_with_quiet_zone[1]
    y = 0.985 * half_view - edge
    scene = Scene("mem", [cam], [tgt, floor_label("/up", (0.0, y), modules=(30, 1), module=0.001),
                                 floor_label("/down", (0.0, -y), modules=(30, 1), module=0.001)], [])
    res = run_sweep(scene, spec([{"kind": "pitch", "space": "camera", "range": [-10.0, 10.0], "steps": 21}],
                                sampler="grid"), device=DEVICE)
    pitch = res.values[:, 0]
    assert res.best is not None and pitch[res.best] == 0.0
    assert res.coverage[res.best] == 1.0
    assert np.all(res.coverage[pitch != 0.0] < 1.0)
    # tilting one way or the other loses the label at that edge: the limiting factor is the field of view
    tilted = np.flatnonzero(np.abs(pitch) == 1.0)
    assert np.all(res.share(res.sums.limiting[tilted, FACTORS.index("fov")]) > 0.0)


def station(n_labels: int = 6) -> Scene:
    """Two fixed and two varied cameras over a belt with boxes (occluders) and moving labels on box tops."""
    rng = np.random.default_rng(3)
    parts, targets = [], []
    for k in range(3):
        pts, tris = box_mesh((0.3, 0.2, 0.2), (2, 2, 2))
        to_world = np.eye(4)
        to_world[:3, 3] = (-0.6 + 0.6 * k, 0.0, 0.1)
        parts.append(MeshPart(f"/World/Box{k}", pts, tris, to_world))
        for j in range(n_labels // 3):
            targets.append(TargetModel(
                f"/World/Box{k}/Label{j}", np.eye(3), np.array([-0.6 + 0.6 * k + 0.08 * j - 0.04, 0.0, 0.2011]),
                "qrcode" if j % 2 else "code128", 0.0006, (21, 21) if j % 2 else (50, 1),
                velocity=np.array([1.0, 0.0, 0.0])))
    side = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # looking along +Y from -Y
    cams = [down_camera("/World/TopA", 1.2, -0.5, exposure=1e-4),
            down_camera("/World/TopB", 1.3, 0.5, f_number=4.0, focus_distance=1.1),
            CameraModel("/World/Side", side, np.array([0.0, -1.2, 0.3]), RES[0], RES[1], F, APERTURE),
            down_camera("/World/TopC", 1.5, 0.0, decoder_profile="robust")]
    rng.shuffle(targets)
    return Scene("mem", cams, targets, parts)


STATION_SPEC = {
    "sweep": {"cameras": ["/World/TopA", "/World/Side"], "sampler": "lhs", "samples": 24, "seed": 5,
              "orientation_mode": "flatRandomYaw", "orientations": 3, "positions": 2, "travel": [-0.1, 0.1]},
    "parameter": [
        {"kind": "translateBox", "cameras": ["/World/TopA"], "box_min": [-0.3, -0.2, -0.4],
         "box_max": [0.3, 0.2, 0.2]},
        {"kind": "focalLength", "cameras": ["/World/TopA"], "values": [12.0, 16.0, 25.0]},
        {"kind": "pitch", "space": "camera", "cameras": ["/World/Side"], "range": [-20.0, 20.0]},
        {"kind": "decoderProfile", "cameras": ["/World/Side"], "profiles": ["engine", "robust"]},
        {"kind": "exposure", "cameras": ["/World/TopA"], "range": [0.0, 0.002]},
    ],
}


@pytest.fixture(scope="module")
def station_world():
    scene = station()
    world = World(scene, device=DEVICE)
    yield scene, world
    world.close()


def test_batched_sums_match_a_full_evaluation_of_each_configuration(station_world):
    scene, world = station_world
    runner = SweepRunner(scene, spec_from_dict(STATION_SPEC, 1.0), world=world)
    try:
        res = runner.run()
        for i in range(res.n_done):
            assert_sums_match_detail(runner, res.sums, i, i)
            det = runner.detail(i)
            n_dec = det.decodable.sum(axis=1)
            unread = n_dec == 0
            # the best one-frame read probability: at least the floor's 0.9 where some camera decodes, below it
            # where none does (near misses keep their probability, hidden ones 0)
            assert (det.best_p_read[n_dec >= 1] >= np.float32(0.9)).all()
            assert (det.best_p_read[unread] < 0.9).all() and (det.best_p_read >= 0).all()
        assert res.sums.covered.min() < res.sums.covered.max()  # the sweep discriminates
    finally:
        runner.close()


def test_results_do_not_depend_on_chunk_size_or_threads(station_world):
    scene, world = station_world
    sp = spec_from_dict(STATION_SPEC, 1.0)
    results = [run_sweep(scene, sp, world=world, chunk=chunk, threads=threads)
               for chunk, threads in ((None, 2), (1, 1), (5, 2), (24, 1))]
    first = results[0]
    for other in results[1:]:
        for name in ("covered", "redundant", "unique", "limiting"):
            assert np.array_equal(getattr(first.sums, name), getattr(other.sums, name)), name
        assert np.array_equal(first.order, other.order)
    assert [r.chunk for r in results] != [first.chunk] * len(results)


@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_a_seed_fixes_the_sweep(station_world, sampler):
    scene, world = station_world
    doc = {**STATION_SPEC, "sweep": {**STATION_SPEC["sweep"], "sampler": sampler, "samples": 8}}
    a = run_sweep(scene, spec_from_dict(doc, 1.0), world=world)
    b = run_sweep(scene, spec_from_dict(doc, 1.0), world=world)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.sums.covered, b.sums.covered)
    doc["sweep"]["seed"] = 6
    c = run_sweep(scene, spec_from_dict(doc, 1.0), world=world)
    assert not np.array_equal(a.values, c.values)
    lo = np.array([-0.3, -0.2, -0.4, 12.0 * 0.01, -20.0, 0.0])
    cols = [c.name for c in a.columns]
    assert cols[:3] == ["translateBox1.x", "translateBox1.y", "translateBox1.z"]
    assert np.all(a.values[:, [0, 1, 2, 3, 4]] >= lo[:5] - 1e-6)


def test_grid_enumerates_lists_and_ranges():
    scene = Scene("mem", [down_camera()], [floor_label("/t")], [])
    sp = spec([{"kind": "focalLength", "values": [8.0, 16.0]}, {"kind": "translateX", "range": [-0.1, 0.1],
                                                                  "steps": 3}], sampler="grid")
    res = run_sweep(scene, sp, device=DEVICE)
    assert res.n_done == 6
    assert res.values[:, 0].tolist() == pytest.approx([0.08] * 3 + [0.16] * 3)  # tenths of a metre
    assert res.values[:, 1].tolist() == pytest.approx([-0.1, 0.0, 0.1] * 2)


def test_candidate_optics_follow_the_loader_formulas(station_world):
    """A focal length, sensor and profile change gives the record pack_cameras gives for that camera."""
    from dataclasses import replace

    scene, world = station_world
    sp = spec([{"kind": "focalLength", "values": [25.0]}, {"kind": "fStop", "values": [2.8]},
               {"kind": "sensor", "resolutions": [[1440, 1080]], "apertures": [[5.0, 3.75]]},
               {"kind": "decoderProfile", "profiles": ["robust"]}], cameras=("/World/TopB",), sampler="grid")
    runner = SweepRunner(scene, sp, world=world)
    try:
        got = runner.cameras_for(0)[1]
        cam = scene.cameras[1]
        want_cam = replace(cam, focal_length=float(np.float32(0.25)) * 0.1, f_number=float(np.float32(2.8)),
                           width=1440, height=1080,
                           aperture=(float(np.float32(0.05)) * 0.1, float(np.float32(0.0375)) * 0.1),
                           decoder_profile="robust")
        want = pack_cameras([want_cam])[0]
        for name in want.dtype.names:
            assert np.array_equal(got[name], want[name]), name
    finally:
        runner.close()


def test_mirror_rig_moves_and_tilts_a_pair_symmetrically():
    left = CameraModel("/L", np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]), np.array([0.2, 1.0, 0.5]),
                       RES[0], RES[1], F, APERTURE)  # looks along -Y
    right = CameraModel("/R", np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]), np.array([0.2, -1.0, 0.5]),
                        RES[0], RES[1], F, APERTURE)  # its mirror image through y = 0, looks along +Y
    scene = Scene("mem", [left, right], [floor_label("/t")], [])
    sp = spec([{"kind": "translateY", "rig": "mirror", "values": [0.1]},
               {"kind": "pitch", "space": "camera", "rig": "mirror", "values": [10.0]},
               {"kind": "yaw", "space": "camera", "rig": "mirror", "values": [5.0]}],
              cameras=("/L", "/R"), sampler="grid")
    runner = SweepRunner(scene, sp, device=DEVICE)
    try:
        cand = runner.builder.build(runner.design.values)
        mirror = np.diag([1.0, -1.0, 1.0])
        assert cand.position[0, 0] == pytest.approx([0.2, 1.1, 0.5])
        assert cand.position[0, 1] == pytest.approx(mirror @ cand.position[0, 0])
        fwd_l, fwd_r = -cand.rotation[0, 0][:, 2], -cand.rotation[0, 1][:, 2]
        assert fwd_r == pytest.approx(mirror @ fwd_l)
        assert fwd_l[2] > 0.0  # a positive pitch looks up
    finally:
        runner.close()


def test_flat_random_yaw_turns_labels_with_their_parcel():
    scene = station(6)
    sp = spec_from_dict({**STATION_SPEC, "sweep": {**STATION_SPEC["sweep"], "orientations": 5, "positions": 1,
                                                   "travel": [0.0, 0.0]}}, 1.0)
    world = World(scene, device=DEVICE)
    smp = build_samples(scene, sp, StageFrame(), world.face_part)
    assert smp.n == 5 * len(scene.targets) and not smp.as_authored
    per_target = np.bincount(smp.target, weights=smp.weight_int)
    assert np.all(np.abs(per_target - WEIGHT_ONE) <= 5)
    for t, tgt in enumerate(scene.targets):
        rows = smp.records[smp.target == t]
        k = int(tgt.path.split("Box")[1][0])
        centre = np.array([-0.6 + 0.6 * k, 0.0, 0.1])
        dist = np.linalg.norm(rows["pos"] - centre, axis=1)
        assert dist == pytest.approx(np.full(5, np.linalg.norm(tgt.position - centre)), abs=1e-6)
        assert rows["pos"][:, 2] == pytest.approx(np.full(5, tgt.position[2]), abs=1e-6)  # still on top
        assert np.all(smp.group[smp.target == t] == smp.parcels.index(f"/World/Box{k}"))
        yaws = np.degrees(np.arctan2(rows["rot"][:, 1, 0], rows["rot"][:, 0, 0])) % 360.0
        steps = np.diff(np.sort(yaws))
        assert steps == pytest.approx(np.full(4, 72.0), abs=1e-3)  # evenly spread, random phase
    world.close()


def test_all_faces_turns_each_face_up():
    scene = station(3)
    doc = {**STATION_SPEC, "sweep": {**STATION_SPEC["sweep"], "orientation_mode": "allFaces", "orientations": 2,
                                     "face_weights": [1, 1, 1, 1, 0, 2]}}
    smp = build_samples(scene, spec_from_dict(doc, 1.0), StageFrame(), None)
    rows = smp.records[smp.target == 0]
    w = smp.weight[smp.target == 0]
    assert len(rows) == 2 * 2 * 5  # 5 faces with weight, 2 yaws, 2 positions
    normals = rows["rot"][:, :, 2]
    down = normals[:, 2] < -0.99  # the label's face (+Z) turned to the floor: weight 2 of 6
    assert w[down].sum() == pytest.approx(2.0 / 6.0)
    assert w.sum() == pytest.approx(1.0)


def test_own_parcel_does_not_hide_a_turned_label():
    """A label on the narrow +X face of a box that is longer along Y: turned 90 deg it sits inside the box's
    untouched geometry, which must not hide it from a camera on that side."""
    pts, tris = box_mesh((0.2, 0.4, 0.2), (2, 2, 2))
    to_world = np.eye(4)
    to_world[:3, 3] = (0.0, 0.0, 0.1)
    box = MeshPart("/P/Box", pts, tris, to_world)
    rot = np.array([[0.0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]])  # u = +Y, w = +Z, normal = +X
    label = TargetModel("/P/Label", rot, np.array([0.1011, 0.0, 0.1]), "qrcode", 0.001, (21, 21),
                        velocity=np.array([0.5, 0.0, 0.0]))
    look_y = np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # camera on +Y looking along -Y
    cam = CameraModel("/cam", look_y, np.array([0.0, 1.0, 0.1]), RES[0], RES[1], F, APERTURE)
    other = CameraModel("/other", look_y, np.array([5.0, 5.0, 5.0]), RES[0], RES[1], F, APERTURE)
    scene = Scene("mem", [cam, other], [label], [box])
    sp = spec([{"kind": "translateX", "values": [0.0]}], cameras=("/other",), sampler="grid",
              orientation_mode="flatRandomYaw", orientations=4)
    res = run_sweep(scene, sp, device=DEVICE)
    det = res.baseline_detail
    facing = det.decodable[:, 0]
    assert facing.sum() == 1  # the yaw that turns the label towards the camera reads
    assert res.share(res.baseline.covered)[0] == 0.25


def test_no_mesh_and_fixed_only_paths():
    scene = Scene("mem", [down_camera("/a"), down_camera("/b", x=0.05)], [floor_label("/t")], [])
    res = run_sweep(scene, spec([{"kind": "translateX", "values": [0.0, 5.0]}], cameras=("/a",), sampler="grid"),
                    device=DEVICE)
    assert res.coverage.tolist() == [1.0, 1.0]
    assert res.redundancy.tolist() == [1.0, 0.0]
    assert res.share(res.sums.unique[1]).tolist() == [0.0, 1.0]  # the fixed camera alone reads it
    assert math.isclose(res.share(res.baseline.redundant)[0], 1.0)


@wp.kernel
def _cull_check(cams: wp.array(dtype=Camera), tgts: wp.array(dtype=Target), culled: wp.array2d(dtype=wp.int32),
                inside: wp.array2d(dtype=wp.int32)):
    c, t = wp.tid()
    culled[c, t] = wp.where(surely_outside(cams[c], tgts[t]), 1, 0)
    inside[c, t] = wp.where(in_fov(cams[c], tgts[t]), 1, 0)


def test_view_pre_test_never_culls_a_symbol_in_view():
    """The kernels' cheap bounding-sphere exit must imply the field-of-view test fails (random cameras near and
    far, symbols straddling every image edge)."""
    rng = np.random.default_rng(11)
    cams = []
    for k in range(40):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.linalg.det(q))
        cams.append(CameraModel(f"/c{k}", q, rng.normal(size=3) * 0.5, int(rng.integers(200, 3000)),
                                int(rng.integers(200, 3000)), float(rng.uniform(0.004, 0.05)),
                                (float(rng.uniform(0.003, 0.02)), float(rng.uniform(0.003, 0.02))),
                                aperture_offset=(float(rng.normal() * 1e-3), float(rng.normal() * 1e-3)),
                                clipping=(float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.6, 5.0)))))
    tgts = []
    for k in range(3000):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.linalg.det(q))
        cam = cams[k % len(cams)]
        depth = float(rng.uniform(0.0, 6.0))
        pos = cam.position + cam.rotation @ np.array([*(rng.normal(size=2) * depth * 0.4), -depth])
        tgts.append(TargetModel(f"/t{k}", q, pos, "qrcode" if k % 2 else "code128",
                                float(rng.uniform(2e-4, 5e-3)), (21, 21) if k % 2 else (60, 1)))
    c = wp.array(pack_cameras(cams), dtype=Camera, device=DEVICE)
    t = wp.array(pack_targets(tgts), dtype=Target, device=DEVICE)
    culled = wp.zeros((len(cams), len(tgts)), dtype=wp.int32, device=DEVICE)
    inside = wp.zeros_like(culled)
    wp.launch(_cull_check, dim=culled.shape, inputs=[c, t, culled, inside], device=DEVICE)
    cu, ins = culled.numpy().astype(bool), inside.numpy().astype(bool)
    assert not np.any(cu & ins)
    assert cu.sum() > 0.5 * (~ins).sum()  # and it does cull most of what is out of view
    assert ins.sum() > 100
