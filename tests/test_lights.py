"""Lights (docs/model.md, rule 10): exposure from the illuminance at the symbol, shadows, and glare on glossy labels.

Closed forms on hand-built scenes, each checked on the Warp world and the numpy reference alike.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from device import DEVICE
from verdict_checks import assert_same_verdicts

from swb.engine.model import CameraModel, LightModel, MeshPart, Scene, TargetModel
from swb.engine.pair_results import PairResults
from swb.engine.profiles import FACTOR_CODE, FACTORS
from swb.engine.reference import evaluate_reference
from swb.engine.station_generator import generate_station
from swb.engine.world import World

M = {name: i for i, name in enumerate(FACTORS)}
N_PX = 2000
F = 16e-3
P = 3.45e-6
H_MIN = 0.002  # lux s
T_EXP = 1e-3  # s
F_NUMBER = 4.0
RHO = 0.8


def look_at(position, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Camera -> world rotation looking from ``position`` at ``target`` (image up roughly world +Y)."""
    z = np.asarray(position, float) - np.asarray(target, float)
    z /= np.linalg.norm(z)
    x = np.cross((0.0, 1.0, 0.0), z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def camera(position=(0.0, 0.0, 1.0), **kw) -> CameraModel:
    args = dict(path="/Cam", rotation=look_at(position), position=np.asarray(position, float), width=N_PX,
                height=N_PX, focal_length=F, aperture=(N_PX * P, N_PX * P), f_number=F_NUMBER, focus_mode="autofocus",
                exposure=T_EXP, min_exposure=H_MIN)
    args.update(kw)
    return CameraModel(**args)


def label(**kw) -> TargetModel:
    """A QR code at the origin facing +Z."""
    args = dict(path="/Label", rotation=np.eye(3), position=np.zeros(3), symbology="qrcode", module_size=1e-3,
                modules=(21, 21), reflectance=RHO)
    args.update(kw)
    return TargetModel(**args)


def light(position, intensity: float, toward=(0.0, 0.0, 0.0), beam: float = 180.0) -> LightModel:
    axis = np.asarray(toward, float) - np.asarray(position, float)
    return LightModel("/Light", np.asarray(position, float), axis / np.linalg.norm(axis), intensity, beam)


def wall(x: float, z: tuple[float, float]) -> MeshPart:
    """A wall in the plane x = const, spanning y -0.5..0.5 and the given z range."""
    pts = np.array([[x, -0.5, z[0]], [x, 0.5, z[0]], [x, 0.5, z[1]], [x, -0.5, z[1]]], float)
    return MeshPart("/Wall", pts, np.array([[0, 1, 2], [0, 2, 3]], np.int32), np.eye(4))


def evaluate(scene: Scene) -> PairResults:
    """World results, after checking the reference agrees on the verdict and the lighting margins."""
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    a = world.results()
    world.close()
    b = evaluate_reference(scene)
    assert np.array_equal(a.decodable, b.decodable)
    assert np.array_equal(a.limiting, b.limiting)
    for k in (M["glare"], M["exposure"]):
        np.testing.assert_allclose(a.margins[..., k], b.margins[..., k], rtol=1e-4, atol=1e-6)
    return a


def one(cam: CameraModel, tgt: TargetModel, lights, parts=()) -> tuple[bool, int, np.ndarray]:
    r = evaluate(Scene("test", [cam], [tgt], list(parts), lights=list(lights)))
    return bool(r.decodable[0, 0]), int(r.limiting[0, 0]), r.margins[0, 0]


def exposure_margin(intensity: float, d: float, cos_i: float = 1.0) -> float:
    """H / H_min with H = E rho T / (4 N^2) and E = I cos(i) / d^2."""
    return intensity * cos_i / d**2 * RHO * T_EXP / (4.0 * F_NUMBER**2) / H_MIN


def test_square_on_illuminance_sets_the_exposure_margin():
    intensity = 100.0  # cd: margin 2.5 at 0.5 m
    ok, lim, m = one(camera(), label(), [light((0.0, 0.0, 0.5), intensity)])
    assert m[M["exposure"]] == pytest.approx(exposure_margin(intensity, 0.5), rel=1e-5)
    assert m[M["exposure"]] == pytest.approx(2.5, rel=1e-5)
    assert ok and lim == 0 and math.isinf(m[M["glare"]])
    # sqrt(2) farther: half the illuminance, half the margin.
    _, _, far = one(camera(), label(), [light((0.0, 0.0, 0.5 * math.sqrt(2.0)), intensity)])
    assert far[M["exposure"]] == pytest.approx(0.5 * m[M["exposure"]], rel=1e-5)
    # Twice as far: a quarter, too dark.
    ok, lim, dark = one(camera(), label(), [light((0.0, 0.0, 1.0), intensity)])
    assert dark[M["exposure"]] == pytest.approx(0.625, rel=1e-5)
    assert not ok and lim == FACTOR_CODE["exposure"]


def test_incidence_cone_and_lights_behind_the_label():
    pos = (0.3, 0.0, 0.4)  # incidence cos = 0.8 at 0.5 m
    _, _, m = one(camera(), label(), [light(pos, 80.0)])
    assert m[M["exposure"]] == pytest.approx(exposure_margin(80.0, 0.5, 0.8), rel=1e-5)
    # Two lights add up.
    _, _, two = one(camera(), label(), [light(pos, 80.0), light((0.0, 0.0, 0.5), 80.0)])
    assert two[M["exposure"]] == pytest.approx(exposure_margin(80.0, 0.5, 0.8) + 2.0, rel=1e-5)
    # A narrow beam aimed away, and a light behind the label, leave it dark.
    aside = light(pos, 80.0, toward=(1.0, 0.0, 0.4), beam=10.0)
    behind = light((0.0, 0.0, -0.5), 80.0)
    ok, lim, m = one(camera(), label(), [aside, behind])
    assert m[M["exposure"]] == 0.0 and not ok and lim == FACTOR_CODE["exposure"]


def test_low_print_contrast_fails_exposure_under_light():
    ok, lim, m = one(camera(), label(print_contrast=0.1), [light((0.0, 0.0, 0.5), 800.0)])
    assert m[M["exposure"]] == pytest.approx(0.5, rel=1e-6)
    assert not ok and lim == FACTOR_CODE["exposure"]


def test_wall_between_light_and_label_fails_exposure():
    lamp = light((0.5, 0.0, 0.5), 400.0)
    ok, lim, m = one(camera(), label(), [lamp])
    assert ok and m[M["exposure"]] > 1.0
    # The wall at x = 0.25 crosses the light's ray (at z = 0.25), not the camera's (x ~ 0).
    ok, lim, m = one(camera(), label(), [lamp], [wall(0.25, (0.1, 0.4))])
    assert m[M["exposure"]] == 0.0 and m[M["occluded"]] == 1.0
    assert not ok and lim == FACTOR_CODE["exposure"]


def test_glossy_label_glares_at_the_mirror_direction():
    lamp = light((0.0, 0.0, 0.8), 2000.0)  # straight above: the mirror direction is the normal
    ok, lim, m = one(camera(), label(glossy=True), [lamp])
    assert m[M["glare"]] == pytest.approx(0.0, abs=1e-3)
    assert not ok and lim == FACTOR_CODE["glare"]
    # Matte: no glare.
    ok, _, m = one(camera(), label(), [lamp])
    assert ok and math.isinf(m[M["glare"]])
    # The camera 30 deg off the mirror direction: margin 30 / 15 = 2.
    a = math.radians(30.0)
    ok, lim, m = one(camera((math.sin(a), 0.0, math.cos(a))), label(glossy=True), [lamp])
    assert m[M["glare"]] == pytest.approx(2.0, rel=1e-4)
    assert ok and lim == 0
    # A wider gloss lobe (40 deg) still glares there.
    ok, lim, m = one(camera((math.sin(a), 0.0, math.cos(a))), label(glossy=True, gloss_angle_deg=40.0), [lamp])
    assert m[M["glare"]] == pytest.approx(0.75, rel=1e-4)
    assert not ok and lim == FACTOR_CODE["glare"]


def test_no_lights_changes_nothing():
    station = generate_station(n_triangles=2_000, n_cameras=2, n_targets=40)
    plain = World(station, device=DEVICE, threads=1)
    plain.evaluate()
    a = plain.results()
    assert np.all(np.isinf(a.margins[..., M["glare"]])) and np.all(np.isinf(a.margins[..., M["exposure"]]))
    # Lighting attributes matter only with lights.
    glossy = replace(station, targets=[replace(t, glossy=True, reflectance=0.1) for t in station.targets])
    other = World(glossy, device=DEVICE, threads=1)
    other.evaluate()
    assert a.equal(other.results())


def test_world_agrees_with_reference_on_a_lit_station():
    station = generate_station(n_triangles=20_000, n_cameras=4, n_targets=200)
    # A strobe beside each camera (its exposures are 0.1 to 0.3 ms), aimed with it (square-on glossy labels glare),
    # and one from the side.
    lights = [LightModel(f"/L{i}", c.position + 0.05 * np.asarray(c.rotation)[:, 0], c.forward, 20000.0, 40.0)
              for i, c in enumerate(station.cameras)]
    lights.append(LightModel("/Side", np.array([-1.0, 0.0, 1.5]), np.array([1.0, 0.0, 0.0]), 300.0))
    tgts = [replace(t, glossy=(k % 3 == 0), gloss_angle_deg=45.0) for k, t in enumerate(station.targets)]
    scene = replace(station, targets=tgts, lights=lights)
    world = World(scene, device=DEVICE)
    world.evaluate()
    a = world.results()
    world.close()
    b = evaluate_reference(scene)
    assert_same_verdicts(a, b)
    for factor in ("glare", "exposure"):
        x = a.margins[..., M[factor]].astype(np.float64)
        y = b.margins[..., M[factor]]
        assert np.array_equal(np.isinf(x), np.isinf(y))
        fin = np.isfinite(y) & (y > 1e-3)
        assert np.max(np.abs(x[fin] - y[fin]) / y[fin], initial=0.0) <= 1e-3
    # The lights decide some pairs both ways.
    limiting = a.limiting[a.margins[..., M["fov"]] > 0]
    assert (limiting == FACTOR_CODE["exposure"]).any() and (limiting == FACTOR_CODE["glare"]).any()
    assert a.decodable.any()


# ----------------------------------------------------------------------------- loading from USD


def lit_stage(tmp_path, *, intensity=2000.0, beam=30.0, hidden=False, mpu=0.01, light_type="SphereLight",
              name="lit"):
    """A cm, Y-up stage: a camera, a glossy label and a light 50 cm above the label, aimed at it."""
    from pxr import Gf, Usd, UsdGeom, UsdLux

    import swb.stage.schema as S

    path = tmp_path / f"{name}.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageMetersPerUnit(stage, mpu)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    cam = UsdGeom.Camera.Define(stage, "/Cam")
    cam.AddTranslateOp().Set(Gf.Vec3d(0, 100, 0))
    cam.AddRotateXOp().Set(-90.0)
    S.apply_sensor_api(cam.GetPrim())
    cam.GetPrim().GetAttribute(S.SENSOR_MIN_EXPOSURE).Set(0.01)
    cam.GetPrim().GetAttribute("exposure:time").Set(0.01)
    label_prim = UsdGeom.Xform.Define(stage, "/Label")
    label_prim.AddRotateXOp().Set(-90.0)  # readable from +Y (up)
    S.apply_barcode_api(label_prim.GetPrim())
    p = label_prim.GetPrim()
    p.GetAttribute(S.BARCODE_SYMBOLOGY).Set("qrcode")
    p.GetAttribute(S.BARCODE_MODULE_SIZE).Set(0.1)
    p.GetAttribute(S.BARCODE_MODULES).Set(Gf.Vec2i(21, 21))
    p.GetAttribute(S.BARCODE_GLOSSY).Set(True)
    p.GetAttribute(S.BARCODE_REFLECTANCE).Set(0.6)
    lamp = getattr(UsdLux, light_type).Define(stage, "/Lamp")
    lamp.AddTranslateOp().Set(Gf.Vec3d(0, 50, 0))
    lamp.AddRotateXOp().Set(-90.0)  # -Z (the beam) points down the stage's -Y
    if hidden:
        lamp.GetPrim().GetAttribute("visibility").Set(UsdGeom.Tokens.invisible)
    S.apply_light_api(lamp.GetPrim())
    lamp.GetPrim().GetAttribute(S.LIGHT_INTENSITY).Set(intensity)
    lamp.GetPrim().GetAttribute(S.LIGHT_BEAM_ANGLE).Set(beam)
    stage.GetRootLayer().Save()
    return path


def test_loader_reads_lights_in_si_z_up(tmp_path):
    from swb.stage.load import load_stage

    _, scene = load_stage(lit_stage(tmp_path))
    assert len(scene.lights) == 1
    lamp = scene.lights[0]
    np.testing.assert_allclose(lamp.position, [0.0, 0.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(lamp.direction, [0.0, 0.0, -1.0], atol=1e-9)
    assert lamp.intensity == 2000.0 and lamp.beam_angle_deg == 30.0
    tgt, cam = scene.targets[0], scene.cameras[0]
    assert tgt.glossy and tgt.reflectance == pytest.approx(0.6) and tgt.gloss_angle_deg == 15.0
    assert cam.min_exposure == pytest.approx(0.01)
    # The camera above the glossy label, the light straight above it: the camera sits on the mirror direction.
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    r = world.results()
    assert r.margins[0, 0, M["glare"]] == pytest.approx(0.0, abs=1e-3)
    assert r.limiting[0, 0] == FACTOR_CODE["glare"]
    # Hidden lights do not count; stages without SwbLightAPI lights have none.
    _, hidden = load_stage(lit_stage(tmp_path, hidden=True, name="hidden"))
    assert hidden.lights == []


@pytest.mark.parametrize(("kw", "attribute"), [
    ({"intensity": -1.0}, "swb:light:luminousIntensity"),
    ({"intensity": float("nan")}, "swb:light:luminousIntensity"),
    ({"beam": 0.0}, "swb:light:beamAngle"),
    ({"light_type": "DistantLight"}, "apiSchemas"),
])
def test_loader_rejects_bad_lights(tmp_path, kw, attribute):
    from swb.errors import SwbError
    from swb.stage.load import load_stage

    with pytest.raises(SwbError) as err:
        load_stage(lit_stage(tmp_path, **kw))
    assert err.value.prim == "/Lamp" and err.value.attribute == attribute


def test_sweep_as_authored_reads_what_the_world_reads_under_lights():
    from test_sweep import STATION_SPEC, station

    from swb.sweep.run import SweepRunner
    from swb.sweep.spec import spec_from_dict

    scene = station()
    lights = [LightModel("/Top", np.array([0.0, 0.0, 2.0]), np.array([0.0, 0.0, -1.0]), 20000.0, 60.0),
              LightModel("/Low", np.array([-2.0, 0.0, 0.3]), np.array([1.0, 0.0, 0.0]), 20000.0)]
    tgts = [replace(t, glossy=(k % 2 == 0), gloss_angle_deg=30.0) for k, t in enumerate(scene.targets)]
    scene = replace(scene, targets=tgts, lights=lights)
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    r = world.results()
    spec = spec_from_dict({**STATION_SPEC, "sweep": {**STATION_SPEC["sweep"], "orientation_mode": "asAuthored",
                                                     "orientations": 1, "positions": 1, "travel": [0.0, 0.0]}}, 1.0)
    runner = SweepRunner(scene, spec, world=world)
    try:
        det = runner.detail(None)
    finally:
        runner.close()
        world.close()
    assert det.decodable.shape == r.decodable.T.shape
    assert np.array_equal(det.decodable, r.decodable.T) and r.decodable.any()
    lit = r.limiting[r.margins[..., M["fov"]] > 0]
    assert (lit == FACTOR_CODE["exposure"]).any() or (lit == FACTOR_CODE["glare"]).any()


def test_moving_a_wall_into_a_shadow_ray_updates_only_the_pairs_it_can_shadow():
    """A part move is found by its boxes against camera ray fans and light -> target shadow rays."""
    lamp = light((0.5, 0.0, 0.5), 400.0)
    far_label = replace(label(), path="/Far", position=np.array([3.0, 0.0, 0.0]))
    away = wall(0.25, (5.1, 5.4))  # far above everything
    scene = Scene("test", [camera(), camera((3.0, 0.0, 1.0))], [label(), far_label], [away], lights=[lamp])
    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    assert world.results().decodable[0, 0]
    moved = wall(0.25, (0.1, 0.4))  # now across the light's ray to /Label, away from every camera's view of it
    cam_idx, tgt_idx = world.pairs_affected_by_move(0, moved)
    assert (0, 0) in set(zip(cam_idx.tolist(), tgt_idx.tolist(), strict=True))
    assert len(cam_idx) < 4  # the far label's pairs are untouched
    world.update_part(0, moved)
    world.evaluate_pairs(cam_idx, tgt_idx)
    fresh = World(Scene("test", scene.cameras, scene.targets, [moved], lights=[lamp]), device=DEVICE, threads=1)
    fresh.evaluate()
    assert world.results().equal(fresh.results())
    assert world.results().limiting[0, 0] == FACTOR_CODE["exposure"]
    world.close()
    fresh.close()
