"""Eye safety (docs/lighting.md): IEC 62471 hazard formulas against closed forms, risk-group bounds of Table 6.1,
zone hazard maps (Warp shadow rays against trimesh's), aimer classes (IEC 60825-1), the CLI and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from device import DEVICE

from swb.engine import spectra
from swb.engine.model import LightModel, MeshPart
from swb.engine.zones import AimerModel, ZoneModel
from swb.errors import SwbError
from swb.safety import tables as tb
from swb.safety.check import EyeGeometry, assess_items, eye_geometry_reference, group_index
from swb.safety.hazard import blue_time, classify, emitter, eye_values, ir_eye_time, thermal_time
from swb.safety.laser import classify_aimer
from swb.stage.eyesafety import SafetyItems

DOWN = np.array([0.0, 0.0, -1.0])


def disk(radiance_w: float, radius: float, wavelength: float, **kw) -> LightModel:
    """A Lambertian disk at the origin facing -Z emitting ``radiance_w`` W/(m^2 sr) at one wavelength."""
    area = math.pi * radius**2
    spec = spectra.monochromatic(wavelength)
    k = spec.efficacy()
    args = dict(path="/Disk", position=np.zeros(3), direction=DOWN, intensity=radiance_w * area * k, planar=1,
                area=area, size=(2 * radius, 2 * radius), spectrum=spec, radiant=radiance_w * area)
    args.update(kw)
    return LightModel(**args)


def test_lambertian_disk_radiance_irradiance_and_subtense_on_its_axis():
    radiance, radius, d = 2.0e4, 0.01, 0.2
    em = emitter(disk(radiance, radius, 440.0))  # B(440) = 1, R(440) = 10
    v = eye_values(em, np.array([d]), np.array([1.0]))
    assert v.L_B[0] == pytest.approx(radiance, rel=1e-9)
    assert v.L_R[0] == pytest.approx(10.0 * radiance, rel=1e-9)
    assert v.E_B[0] == pytest.approx(math.pi * radiance * radius**2 / (radius**2 + d**2), rel=1e-9)
    assert v.alpha[0] == pytest.approx(2.0 * math.atan(radius / d), rel=1e-9)
    assert v.L_v[0] == pytest.approx(radiance * 683.0 * 0.023, rel=1e-3)  # luminance: 683 V(440) L
    # 60 degrees off the axis: the same radiance, the projected area halves, the irradiance follows I cos.
    off = eye_values(em, np.array([d]), np.array([0.5]))
    assert off.L_B[0] == pytest.approx(radiance, rel=1e-9)
    a = 0.5 * math.pi * radius**2
    assert off.E_B[0] == pytest.approx(radiance * a / (d**2 + a / math.pi), rel=1e-9)


def test_blue_light_limits_in_time_and_field_of_view():
    em = emitter(disk(2.0e4, 0.01, 440.0))
    v = eye_values(em, np.array([0.2]), np.array([1.0]))  # alpha 0.1 rad: a large source
    assert blue_time(v)[0] == pytest.approx(1.0e6 / 2.0e4, rel=1e-6)  # 50 s: L_B t = 10^6 (4.3.3)
    weak = eye_values(emitter(disk(90.0, 0.01, 440.0)), np.array([0.2]), np.array([1.0]))
    assert math.isinf(blue_time(weak)[0])  # L_B <= 100: no limit
    # A small source (alpha < 11 mrad): E_B t <= 100 J/m^2 (4.3.4).
    far = eye_values(em, np.array([5.0]), np.array([1.0]))
    assert far.alpha[0] < tb.SMALL_SOURCE
    assert blue_time(far)[0] == pytest.approx(100.0 / far.E_B[0], rel=1e-9) if far.E_B[0] > 1 else True
    # The field of view grows with t: 0.011 sqrt(t / 10) ... 0.1 rad.
    assert tb.blue_field_of_view(np.array([0.25, 10.0, 50.0, 400.0, 1e5])).tolist() == pytest.approx(
        [0.011 * math.sqrt(0.025), 0.011, 0.011, 0.0011 * 20.0, 0.1])


def test_retinal_thermal_and_infrared_limits():
    em = emitter(disk(4.0e6, 0.005, 600.0))  # R(600) = 1
    v = eye_values(em, np.array([0.2]), np.array([1.0]))
    alpha = v.alpha[0]
    assert 0.011 < alpha < 0.1
    t = thermal_time(v)[0]
    assert t == pytest.approx((5.0e4 / (alpha * 4.0e6)) ** 4, rel=1e-9)  # L_R = 50000 / (alpha t^0.25)
    e_ir = np.array([50.0, 1000.0])
    times = ir_eye_time(e_ir)
    assert math.isinf(times[0]) and times[1] == pytest.approx((18000.0 / 1000.0) ** (4.0 / 3.0), rel=1e-12)
    assert burn(850.0) == pytest.approx(10 ** ((700 - 850) / 500), rel=1e-6)
    assert tb.blue_light_hazard(np.array([450.0, 550.0, 650.0, 800.0])).tolist() == pytest.approx(
        [0.94, 10 ** (-2), 0.001, 0.0])


def burn(lam: float) -> float:
    return float(tb.burn_hazard(np.array([lam]))[0])


@pytest.mark.parametrize(("factor", "group"), [(0.99, 0), (1.01, 1)])
def test_risk_group_bounds_of_table_6_1(factor, group):
    # A large blue source (alpha >= 0.1 rad at 200 mm): exempt while L_B <= 100 W/(m^2 sr), RG1 above.
    lt = disk(100.0 * factor, 0.02, 440.0)
    a = classify(emitter(lt))
    assert a.groups["blue"][0] == group
    # Infrared eye: E_IR bounds 100 / 570 / 3200 W/m^2.
    e = np.array([99.0, 101.0, 569.0, 571.0, 3199.0, 3201.0])
    from swb.safety.hazard import group_of
    assert group_of("ir_eye", lambda g: e).tolist() == [0, 1, 1, 2, 2, 3]


def test_strobe_is_judged_on_its_average_and_each_pulse():
    lt = disk(2.0e4, 0.02, 440.0)
    steady = classify(emitter(lt))
    strobe = classify(emitter(disk(2.0e4, 0.02, 440.0, pulse_width=1e-4, duty_cycle=0.01)))
    assert strobe.values.L_B[0] == pytest.approx(0.01 * steady.values.L_B[0], rel=1e-9)
    assert strobe.group[0] < steady.group[0]
    # One huge pulse exceeds the short-time thermal limit: RG3 whatever its average.
    flash = classify(emitter(disk(1.0e9, 0.02, 600.0, pulse_width=1e-3, duty_cycle=1e-4)))
    assert not flash.pulses_ok[0] and flash.group[0] == 3 and flash.allowed_time[0] == 0.0


def test_missing_spectrum_and_radiant_power_name_the_attribute():
    with pytest.raises(SwbError) as err:
        emitter(disk(1.0, 0.01, 440.0, spectrum=None))
    assert err.value.prim == "/Disk" and err.value.attribute == "swb:light:spectrum"
    with pytest.raises(SwbError) as err:
        emitter(disk(1.0, 0.01, 850.0, radiant=0.0, intensity=5.0))
    assert err.value.attribute == "swb:light:radiantIntensity"


def wall(x: float) -> MeshPart:
    pts = np.array([[x, -2, -2], [x, 2, -2], [x, 2, 2], [x, -2, 2]], float)
    return MeshPart("/Wall", pts, np.array([[0, 1, 2], [0, 2, 3]], np.int32), np.eye(4))


def test_zone_map_shadowed_by_a_wall_agrees_with_the_reference():
    lamp = disk(5.0e4, 0.02, 450.0, position=np.array([0.0, 0.0, 1.0]), direction=np.array([1.0, 0.0, 0.0]),
                planar=0)
    zone = ZoneModel("/Zone", "walkway", np.array([1.0, 0.0, 1.0]), np.diag([0.6, 0.6, 0.2]), spacing=0.1)
    items = SafetyItems("test", lights=[lamp], zones=[zone], parts=[wall(1.2)])
    pts = zone.grid()[0].reshape(-1, 3)
    geo = EyeGeometry(items.parts, DEVICE)
    d, c, v = geo(pts, [lamp])
    d2, c2, v2 = eye_geometry_reference(pts, [lamp], items.parts)
    np.testing.assert_allclose(d, d2, rtol=1e-5)
    np.testing.assert_allclose(c, c2, atol=1e-5)
    assert np.array_equal(v, v2) and v.any() and not v.all()  # the wall hides the far part of the zone
    rep = assess_items(items, DEVICE, geometry=geo)
    ref = assess_items(items, reference=True)
    geo.close()
    z, zr = rep.zones[0], ref.zones[0]
    assert np.array_equal(z.groups, zr.groups)
    np.testing.assert_allclose(z.times, zr.times, rtol=1e-4)
    assert np.all(z.groups[pts.reshape(z.groups.shape + (3,))[..., 0] > 1.2] == 0)  # behind the wall: nothing
    # The worst eye is the nearest one in the beam; its blue-light time is 10^6 / L_B.
    assert z.worst_position[0] == pytest.approx(0.4) and z.dominant_light == "/Disk"
    # There the retinal thermal limit binds first: L_R = 9.4 L (R(450)) <= 50000 / (alpha t^0.25).
    alpha = 2.0 * math.atan(0.02 / 0.4)
    assert z.allowed_time == pytest.approx((5.0e4 / (alpha * 9.4 * 5.0e4)) ** 4, rel=1e-4)
    assert z.dominant_hazard == "retinal thermal"
    assert z.group == 2 and rep.verdict("RG2")[0].ok and not rep.verdict("RG1")[0].ok


@pytest.mark.parametrize(("wavelength", "power", "expected"), [
    (650.0, 0.3e-3, "1"), (650.0, 0.9e-3, "2"), (650.0, 3e-3, "3R"), (650.0, 0.1, "3B"), (650.0, 1.0, "4"),
    (450.0, 0.1e-3, "2"), (450.0, 30e-6, "1"), (850.0, 0.7e-3, "1"), (850.0, 0.9e-3, "3R"),
])
def test_aimer_classes(wavelength, power, expected):
    aimer = AimerModel("/Aimer", np.zeros(3), DOWN, wavelength, power, divergence=1e-3, diameter=1e-3)
    assert classify_aimer(aimer).laser_class == expected


def test_aimer_aperture_share_and_pulses():
    # A wide beam: only the 7 mm aperture's share counts (Gaussian, 63 % diameter 20 mm at 100 mm).
    wide = AimerModel("/A", np.zeros(3), DOWN, 650.0, 2e-3, divergence=0.2, diameter=0.0)
    share = 1 - math.exp(-((7e-3 / 0.02) ** 2))
    assert classify_aimer(wide).accessible_power == pytest.approx(2e-3 * share, rel=1e-9)
    pulsed = AimerModel("/A", np.zeros(3), DOWN, 650.0, 2e-3, 1e-3, 1e-3, pulse_width=1e-3, duty_cycle=0.1)
    assert classify_aimer(pulsed).laser_class == "1"  # 0.2 mW average, 2 uJ per pulse


def test_group_names():
    assert [group_index(x) for x in ("exempt", "RG1", "rg2", "3", 0)] == [0, 1, 2, 3, 0]
    with pytest.raises(SwbError):
        group_index("RG5")


# ----------------------------------------------------------------------------------- from USD and the CLI


def safety_stage(tmp_path, *, colour=(1.0, 1.0, 1.0), duty=None, zone_size=(1.0, 0.4, 1.0), cube_size=1.0,
                 intensity=3.0e5, name="safety"):
    """A cm, Y-up station: a DiskLight 1 m up looking down, an operator zone below it, an aimer, a wall."""
    from pxr import Gf, Usd, UsdGeom, UsdLux

    import swb.stage.schema as S

    path = tmp_path / f"{name}.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    lamp = UsdLux.DiskLight.Define(stage, "/World/Lamp")
    lamp.AddTranslateOp().Set(Gf.Vec3d(0, 200, 0))
    lamp.AddRotateXOp().Set(-90.0)  # -Z (the beam) down the stage's -Y
    lamp.CreateRadiusAttr(2.0)
    lamp.CreateIntensityAttr(intensity)
    lamp.CreateColorAttr(Gf.Vec3f(*colour))
    if duty is not None:
        S.apply_light_api(lamp.GetPrim())
        lamp.GetPrim().GetAttribute(S.LIGHT_PULSE_WIDTH).Set(1e-3)
        lamp.GetPrim().GetAttribute(S.LIGHT_DUTY_CYCLE).Set(duty)
    zone = UsdGeom.Cube.Define(stage, "/World/Stand")
    zone.AddTranslateOp().Set(Gf.Vec3d(0, 120, 0))
    zone.AddScaleOp().Set(Gf.Vec3f(*(100.0 * np.asarray(zone_size))))
    zone.CreateSizeAttr(cube_size)
    S.apply_zone_api(zone.GetPrim())
    zone.GetPrim().GetAttribute(S.ZONE_SPACING).Set(25.0)
    aimer = UsdGeom.Xform.Define(stage, "/World/Aimer")
    aimer.AddTranslateOp().Set(Gf.Vec3d(50, 200, 0))
    S.apply_aimer_api(aimer.GetPrim())
    aimer.GetPrim().GetAttribute(S.AIMER_POWER).Set(0.9e-3)
    aimer.GetPrim().GetAttribute(S.AIMER_DIVERGENCE).Set(0.1)
    stage.GetRootLayer().Save()
    return path


def test_cli_writes_table_picture_layer_and_json(tmp_path):
    from pxr import Usd

    from swb.cli import main

    scene = safety_stage(tmp_path)
    before = scene.read_bytes()
    out = tmp_path / "out"
    rc = main(["safety", str(scene), "--out", str(out), "--json", "--limit", "RG2", "--device", DEVICE])
    assert rc == 0 and scene.read_bytes() == before
    doc = json.loads((out / "safety.safety.json").read_text())
    light = doc["lights"][0]
    assert light["path"] == "/World/Lamp" and light["kind"] == "DiskLight"
    zone = doc["zones"][0]
    assert zone["path"] == "/World/Stand" and zone["dominant_light"] == "/World/Lamp"
    # The worst eye is the top of the box under the lamp (0.4 m high, centred 1.2 m: its top at 1.4 m, Z up).
    np.testing.assert_allclose(zone["worst_position_m"], [0.0, 0.0, 1.4], atol=1e-6)
    assert doc["aimers"][0]["class"] == "2" and doc["ok"] is True
    png = out / "safety.safety.png"
    assert png.stat().st_size > 10_000
    layer = Usd.Stage.Open(str(out / "safety.safety.viz.usda"))
    stand = layer.GetPrimAtPath("/World/Stand")
    assert stand.GetAttribute("swb:safety:riskGroup").Get() == zone["risk_group"]
    np.testing.assert_allclose(stand.GetAttribute("swb:safety:worstPosition").Get(), [0.0, 140.0, 0.0], atol=1e-4)
    assert (out / "safety.safety.usda").exists()
    assert main(["safety", str(scene), "--limit", "exempt", "--device", DEVICE]) == (0 if zone["risk_group"] ==
                                                                                        "exempt" else 1)


@pytest.mark.parametrize(("kw", "prim", "attribute"), [
    ({"colour": (0.2, 0.9, 0.3)}, "/World/Lamp", "swb:light:spectrum"),
    ({"duty": 1.5}, "/World/Lamp", "swb:light:dutyCycle"),
    ({"cube_size": 0.0}, "/World/Stand", "size"),
    ({"intensity": -5.0}, "/World/Lamp", "inputs:intensity"),
])
def test_bad_input_is_one_line_naming_prim_and_attribute(tmp_path, capsys, kw, prim, attribute):
    from swb.cli import main
    from swb.safety import check

    scene = safety_stage(tmp_path, **kw)
    with pytest.raises(SwbError) as err:
        check(scene, "RG1", device=DEVICE)
    assert err.value.prim == prim and err.value.attribute == attribute
    assert main(["safety", str(scene), "--device", DEVICE]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("swb: error:") and prim in line and attribute in line


def test_sweep_constraint_moves_lights_mounted_on_cameras():
    from test_lights import camera

    from swb.safety.constraint import evaluate_configurations, mounts

    cam = camera((0.0, 0.0, 2.0), path="/Cam")
    ring = disk(5.0e3, 0.02, 450.0, path="/Cam/Ring", position=np.array([0.0, 0.0, 2.0]))
    fixed = disk(10.0, 0.02, 450.0, path="/Other", position=np.array([5.0, 5.0, 2.0]))
    zone = ZoneModel("/Walkway", "walkway", np.array([0.0, 0.0, 1.0]), np.diag([0.3, 0.3, 0.1]), spacing=0.1)
    items = SafetyItems("test", lights=[ring, fixed], zones=[zone])
    assert mounts(items.lights, [cam]) == {0: 0}
    from swb.engine.world import pack_cameras

    def records_for(i: int) -> np.ndarray:  # configuration i lifts the camera (and its ring light) by 2 i metres
        rec = pack_cameras([cam])
        rec[0]["pos"] = np.asarray(cam.position) + np.array([0.0, 0.0, 2.0 * i])
        return rec

    groups, ok = evaluate_configurations(items, [cam], records_for, 3, "exempt", DEVICE)
    near = assess_items(items, DEVICE)
    # Near the zone the blue-light radiance averaged over 0.1 rad exceeds 100 W/(m^2 sr): RG1; 2 m higher the
    # ring light subtends 14 mrad and its average falls below: exempt.
    assert groups.tolist() == [near.worst_zone_group, 0, 0] and near.worst_zone_group == 1
    assert ok.tolist() == [False, True, True]
