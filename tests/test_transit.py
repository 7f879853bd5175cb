"""Transit read rates (docs/model.md, rule 12) against closed forms: a label carried across one camera's view,
frame by frame; looks merged on a crawling belt; a parcel that moves with its label; the stage attribute."""

from __future__ import annotations

import math

import numpy as np
import pytest
from device import DEVICE
from test_kernels_closed_form import FX, camera_rotation, make_camera, make_target
from test_read_probability import one_camera_station

import swb
from swb.engine.model import MeshPart, Scene
from swb.engine.profiles import FACTOR_CODE, PROFILES, read_probability
from swb.engine.station_generator import box_mesh
from swb.engine.transit import evaluate_transits, moving_parts
from swb.engine.world import World
from swb.errors import SwbError

D = 0.5  # label depth in front of the camera, m
X = 0.0005


def _margin_target(margin: float, **kw):
    """A Code 128 square on at depth D whose resolution margin under ``industrial`` is ``margin``."""
    t = PROFILES["industrial"].threshold("code128")
    module = t * margin * D / FX
    return make_target(d=D, module_size=module, **kw), module


def _run(cameras, targets, parts=(), **kw):
    world = World(Scene("transit", list(cameras), list(targets), list(parts)), device=DEVICE, threads=1)
    try:
        world.evaluate()
        return world.results(), evaluate_transits(world, **kw)
    finally:
        world.close()


def _frames_in_view(speed: float, rate: float, half_qz: float, reach: float, phase: float) -> int:
    """Frames whose label (with its quiet zone) lies inside the 2000 px wide image: |x| + half <= D * 1000 / FX."""
    limit = D * 1000.0 / FX - half_qz
    k = np.arange(-math.ceil(reach / (speed / rate)) - 1, math.ceil(reach / (speed / rate)) + 2)
    x = (k + phase) * speed / rate
    return int(np.sum((np.abs(x) <= limit) & (np.abs(x) <= reach + speed / rate)))


def test_a_label_crossing_the_view_reads_in_every_frame_it_is_in_view():
    tgt, module = _margin_target(0.85, velocity=np.array([0.5, 0.0, 0.0]))
    cam = make_camera(decoder_profile="industrial", frame_rate=30.0)
    pairs, tr = _run([cam], [tgt], phases=1)
    p0 = float(pairs.p_read[0, 0])
    prof = PROFILES["industrial"]
    assert p0 == pytest.approx(float(read_probability(0.85, prof.read_m90[0], prof.read_slope[0])), rel=1e-4)
    assert 0.3 < p0 < 0.9 and not pairs.decodable[0, 0]
    half_qz = 0.5 * tgt.size_with_quiet_zone[0]
    n = _frames_in_view(0.5, 30.0, half_qz, float(tr.reach[0]), 0.5)
    assert n > 5
    assert tr.frames[0, 0] == n and tr.looks[0, 0] == n  # 16.7 mm per frame: every frame a new look
    # a fronto-parallel label keeps its pixels per module across the view: every frame reads with p0
    assert tr.best_p[0, 0] == pytest.approx(p0, rel=1e-4)
    assert tr.read_rate[0] == pytest.approx(p0, rel=1e-4)
    assert tr.read_rate_looks[0] == pytest.approx(1.0 - (1.0 - p0) ** n, rel=1e-4)
    assert module < 0.5 / 30.0
    assert tr.limiting[0, 0] == FACTOR_CODE["resolution"]  # why: its best frame lacks pixels per module
    sharp, _ = _margin_target(1.5, velocity=np.array([0.5, 0.0, 0.0]))
    _, tr_sharp = _run([cam], [sharp], phases=1)
    assert tr_sharp.limiting[0, 0] == 0 and tr_sharp.best_p[0, 0] >= 0.9  # a frame decodes
    away = make_camera(decoder_profile="industrial", rotation=camera_rotation((0.0, -1.0, 0.0)))
    _, tr_away = _run([away], [tgt], phases=1)
    assert tr_away.limiting[0, 0] == FACTOR_CODE["fov"] and tr_away.frames[0, 0] == 0


def test_frames_less_than_a_module_apart_are_one_look():
    tgt, module = _margin_target(0.85, velocity=np.array([0.0, 0.0, 0.0]))
    speed = 0.4 * module * 30.0  # the image moves 0.4 modules per frame: three frames per look
    tgt, _ = _margin_target(0.85, velocity=np.array([speed, 0.0, 0.0]))
    cam = make_camera(decoder_profile="industrial", frame_rate=30.0)
    pairs, tr = _run([cam], [tgt], phases=1, reach=0.05)
    p0 = float(pairs.p_read[0, 0])
    frames, looks = int(tr.frames[0, 0]), int(tr.looks[0, 0])
    assert frames > 100
    assert looks == pytest.approx(frames / 3, abs=1)
    assert tr.read_rate_looks[0] == pytest.approx(1.0 - (1.0 - p0) ** looks, rel=1e-3)
    assert tr.read_rate[0] == pytest.approx(p0, rel=1e-4)


def test_a_label_at_rest_is_one_look_per_camera():
    tgt, _ = _margin_target(0.85)
    cams = [make_camera(path="/a", decoder_profile="industrial"), make_camera(path="/b", decoder_profile="industrial")]
    pairs, tr = _run(cams, [tgt])
    p = pairs.p_read[:, 0].astype(np.float64)
    assert (tr.frames[:, 0] == 1).all() and (tr.looks[:, 0] == 1).all() and not tr.moving[0]
    assert tr.read_rate[0] == pytest.approx(1.0 - np.prod(1.0 - p), rel=1e-5)  # cameras count as independent


def _box(path: str, centre, half) -> MeshPart:
    pts, tris = box_mesh(tuple(2.0 * np.asarray(half, float)), (1, 1, 1))
    to_world = np.eye(4)
    to_world[:3, 3] = centre
    return MeshPart(path, pts, tris, to_world)


def test_the_parcel_moves_with_its_label_and_the_station_stands_still():
    """A label on the back face of its parcel, seen from behind as the parcel drives away: moving with it, the box
    never hides it (a static box would from the first millimetre); a static wall half-way hides the later frames."""
    v = np.array([1.0, 0.0, 0.0])
    label_rot = np.stack([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]], axis=1)  # normal -X
    cam = make_camera(rotation=camera_rotation((1.0, 0.0, 0.0)), position=np.array([-0.6, 0.0, 0.0]),
                      decoder_profile="industrial")
    tgt = make_target(path="/P/Label", rotation=label_rot, position=np.array([-0.1005, 0.0, 0.0]), velocity=v)
    box = _box("/P/Box", (0.0, 0.0, 0.0), (0.1, 0.1, 0.1))
    assert moving_parts([tgt], [box]).tolist() == [True]
    _, free = _run([cam], [tgt], [box], phases=1)
    assert free.frames[0, 0] > 3 and free.read_rate[0] > 0.5
    wall = _box("/Station/Wall", (0.3, 0.0, 0.0), (0.005, 0.3, 0.3))  # between camera and the later positions
    assert moving_parts([tgt], [box, wall]).tolist() == [True, False]
    _, walled = _run([cam], [tgt], [box, wall], phases=1)
    assert 0 < walled.frames[0, 0] < free.frames[0, 0]


def test_frame_rate_on_the_stage(tmp_path):
    _, out = one_camera_station(tmp_path, {"frame_rate_hz": 60.0}, {"velocity": (1.0, 0, 0)})
    sim = swb.open(out, device=DEVICE)
    assert sim.scene.cameras[0].frame_rate == pytest.approx(60.0)
    tr = sim.transit()
    assert tr.moving.tolist() == [True] and tr.frames[0, 0] > 0
    layer = tmp_path / "bad.usda"
    layer.write_text(out.read_text().replace("swb:sensor:frameRate = 60", "swb:sensor:frameRate = 0"))
    with pytest.raises(SwbError) as err:
        swb.open(layer, device=DEVICE)
    assert "swb:sensor:frameRate" in str(err.value) and "\n" not in str(err.value)


def test_transit_study_scenes_and_report():
    """The rendered-transit study's scenes cross the view with the parcel as moving geometry; its report compares
    both frame rules with the observed share of phases that read."""
    from swb.render.transit_study import TransitCase, transit_report, transit_scene

    made = [transit_scene(3, i) for i in range(12)]
    kept = [m for m in made if m is not None]
    assert kept and len(kept) < len(made)  # fov, occluded and back-facing designs are left out
    for scene, _ in kept:
        cam, tgt = scene.cameras[0], scene.targets[0]
        assert abs(float(np.dot(tgt.velocity, cam.forward))) < 1e-9 and 0.5 <= np.linalg.norm(tgt.velocity) <= 3.0
        assert moving_parts(scene.targets, scene.parts).all()
        assert 20.0 <= cam.frame_rate <= 60.0
    cases = [TransitCase(0, "qrcode", "resolution", 2.0, 30.0, [3, 3], [True, False], 0.4, 0.7, 0.4),
             TransitCase(1, "ean13", "motion", 1.0, 30.0, [2, 2], [True, True], 0.99, 1.0, 0.9)]
    rep = transit_report(cases)
    assert rep["observed_mean"] == pytest.approx(0.75)
    assert rep["safe"]["mean_error"] == pytest.approx(((0.4 - 0.5) + (0.99 - 1.0)) / 2)
    assert rep["independent_looks"]["mean_abs_error"] == pytest.approx((0.2 + 0.0) / 2)
    assert rep["independent_looks"]["optimistic_by_10_points"] == 1 and rep["safe"]["within_2_points"] == 0.5


def test_validate_takes_one_source():
    import argparse

    from swb.cli.render import add_render_commands, cmd_validate

    parser = argparse.ArgumentParser()
    add_render_commands(parser.add_subparsers(dest="command"))
    with pytest.raises(SwbError, match="exactly one"):
        cmd_validate(parser.parse_args(["validate", "--transits", "5", "--study", "5"]))


def test_a_moved_part_is_refitted_into_the_transit_geometry():
    """The static and moving BVHs of a transit are kept in the world: after a part moves they are refitted, and the
    transit equals that of a world built with the part already there."""
    v = np.array([1.0, 0.0, 0.0])
    label_rot = np.stack([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]], axis=1)
    cam = make_camera(rotation=camera_rotation((1.0, 0.0, 0.0)), position=np.array([-0.6, 0.0, 0.0]),
                      decoder_profile="industrial")
    tgt = make_target(path="/P/Label", rotation=label_rot, position=np.array([-0.1005, 0.0, 0.0]), velocity=v)
    box = _box("/P/Box", (0.0, 0.0, 0.0), (0.1, 0.1, 0.1))
    away = _box("/Station/Wall", (0.3, 2.0, 0.0), (0.005, 0.3, 0.3))  # beside the path
    blocking = _box("/Station/Wall", (0.3, 0.0, 0.0), (0.005, 0.3, 0.3))  # between the camera and later frames
    world = World(Scene("transit", [cam], [tgt], [box, away]), device=DEVICE, threads=1)
    try:
        world.evaluate()
        before = evaluate_transits(world, phases=1)
        world.move_part(1, blocking)
        after = evaluate_transits(world, phases=1)
    finally:
        world.close()
    _, fresh = _run([cam], [tgt], [box, blocking], phases=1)
    assert after.frames[0, 0] < before.frames[0, 0]
    for name in ("miss_frame", "miss_look", "best_p", "frames", "looks"):
        assert np.array_equal(getattr(after, name), getattr(fresh, name)), name


def test_lights_in_a_station_whose_only_geometry_moves():
    """Shadows see the station as authored even when every part rides on the belt (no static geometry): a bright
    light at the camera reads the label frame by frame, a dim one fails on exposure."""
    from swb.engine.model import LightModel

    v = np.array([0.5, 0.0, 0.0])
    cam = make_camera(decoder_profile="industrial", exposure=1e-4, f_number=4.0, focus_distance=D)
    tgt = make_target(path="/P/Label", d=D, velocity=v, module_size=0.0006)
    box = _box("/P/Box", (0.0, D + 0.06, 0.0), (0.1, 0.05, 0.1))
    rates = {}
    for name, candela in (("bright", 2.0e5), ("dim", 1.0)):
        light = LightModel("/Light", np.array([0.0, -0.05, 0.0]), np.array([0.0, 1.0, 0.0]), candela, 60.0)
        world = World(Scene("transit", [cam], [tgt], [box], lights=[light]), device=DEVICE, threads=1)
        try:
            world.evaluate()
            rates[name] = evaluate_transits(world, phases=1)
        finally:
            world.close()
    assert rates["bright"].read_rate[0] > 0.9 and rates["bright"].frames[0, 0] > 0
    assert rates["dim"].read_rate[0] == 0.0 and rates["dim"].limiting[0, 0] == FACTOR_CODE["exposure"]


def _station_world(threads: int = 2) -> World:
    from swb.engine.station_generator import generate_station

    scene = generate_station(n_triangles=20_000, n_cameras=8, n_targets=300, seed=5)
    world = World(scene, device=DEVICE, threads=threads)
    world.evaluate()
    return world


def test_slices_give_the_same_transit_and_report_progress(monkeypatch):
    """A big transit runs in label slices of equal work (balanced threads, progress); the numbers do not change,
    and the cheap frame count bounds the frames that could read (the kernel visits only those frames)."""
    import swb.engine.transit as transit

    world = _station_world()
    try:
        whole = evaluate_transits(world)
        monkeypatch.setattr(transit, "BIG_FRAMES", 0)
        seen: list[float] = []
        sliced = evaluate_transits(world, progress=seen.append)
        bound = transit.transit_frames(world)
    finally:
        world.close()
    assert whole.moving.sum() > 50 and whole.frames.sum() > 100
    for name in ("miss_frame", "miss_look", "best_p", "frames", "looks", "limiting", "rank"):
        assert np.array_equal(getattr(whole, name), getattr(sliced, name)), name
    assert len(seen) > 8 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert np.all(whole.frames <= np.ceil(bound))
    assert np.all(bound[:, ~whole.moving] == 1.0)


def test_eval_skips_a_transit_too_big_for_the_device_unless_asked(monkeypatch, capsys):
    """`--transit auto` runs it when it fits in about a minute of the device, says so and how to ask otherwise."""
    import json

    import swb.engine.transit as transit
    from swb.cli import main

    scene = str(swb.bundled_scene("six_sided_tunnel"))
    args = ["eval", scene, "--json", "--device", DEVICE]
    assert main([*args]) == 0
    out = capsys.readouterr()
    assert "transit" in json.loads(out.out) and "frame evaluations at most" in out.err
    monkeypatch.setattr(transit, "FRAMES_PER_MINUTE_CPU_THREAD", 1.0)
    monkeypatch.setattr(transit, "FRAMES_PER_MINUTE_GPU", 1.0)
    assert main([*args]) == 0
    out = capsys.readouterr()
    assert "transit" not in json.loads(out.out)
    assert "transits not run" in out.err and "--transit on" in out.err
    assert main([*args, "--transit", "on"]) == 0
    assert "transit" in json.loads(capsys.readouterr().out)
    assert main([*args, "--transit", "off"]) == 0
    out = capsys.readouterr()
    assert "transit" not in json.loads(out.out) and "transit" not in out.err
