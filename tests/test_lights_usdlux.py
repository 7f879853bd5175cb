"""Standard UsdLux lights (nits, exposure, colour, normalize, ShapingAPI) and strobes (docs/lighting.md):
closed forms on the Warp world and the numpy reference alike."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from device import DEVICE
from test_lights import F_NUMBER, H_MIN, RHO, T_EXP, M, camera, evaluate, label, light

from swb.engine.model import LightModel, Scene, cone_window
from swb.engine.reference import evaluate_reference
from swb.engine.station_generator import generate_station
from swb.engine.world import World


def usdlux_stage(tmp_path, kind="DiskLight", *, intensity=1000.0, exposure=0.0, radius=10.0, normalize=False,
                 colour=None, temperature=None, cone=None, softness=None, focus=None, name="lux"):
    """A cm, Y-up stage: the light 50 cm above a label, beam down; a camera above."""
    from pxr import Gf, Usd, UsdGeom, UsdLux

    import swb.stage.schema as S

    path = tmp_path / f"{name}.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    cam = UsdGeom.Camera.Define(stage, "/Cam")
    cam.AddTranslateOp().Set(Gf.Vec3d(0, 100, 0))
    cam.AddRotateXOp().Set(-90.0)
    S.apply_sensor_api(cam.GetPrim())
    lab = UsdGeom.Xform.Define(stage, "/Label")
    lab.AddRotateXOp().Set(-90.0)
    S.apply_barcode_api(lab.GetPrim())
    lab.GetPrim().GetAttribute(S.BARCODE_MODULE_SIZE).Set(0.1)
    lab.GetPrim().GetAttribute(S.BARCODE_MODULES).Set(Gf.Vec2i(21, 21))
    lab.GetPrim().GetAttribute(S.BARCODE_SYMBOLOGY).Set("qrcode")
    lamp = getattr(UsdLux, kind).Define(stage, "/Lamp")
    lamp.AddTranslateOp().Set(Gf.Vec3d(0, 50, 0))
    lamp.AddRotateXOp().Set(-90.0)
    lamp.CreateIntensityAttr(intensity)
    lamp.CreateExposureAttr(exposure)
    lamp.CreateNormalizeAttr(normalize)
    if kind == "RectLight":
        lamp.CreateWidthAttr(2 * radius)
        lamp.CreateHeightAttr(radius)
    else:
        lamp.CreateRadiusAttr(radius)
    if colour is not None:
        lamp.CreateColorAttr(Gf.Vec3f(*colour))
    if temperature is not None:
        lamp.CreateEnableColorTemperatureAttr(True)
        lamp.CreateColorTemperatureAttr(temperature)
    if cone is not None:
        shaping = UsdLux.ShapingAPI.Apply(lamp.GetPrim())
        shaping.CreateShapingConeAngleAttr(cone)
        if softness is not None:
            shaping.CreateShapingConeSoftnessAttr(softness)
        if focus is not None:
            shaping.CreateShapingFocusAttr(focus)
    stage.GetRootLayer().Save()
    return path


def one_light(path) -> LightModel:
    from swb.stage.load import load_stage

    _, scene = load_stage(path)
    assert len(scene.lights) == 1
    return scene.lights[0]


def test_usdlux_intensity_is_luminance_times_area(tmp_path):
    # A 10 cm disk of 1000 nits at exposure 1: 2000 cd/m^2 * pi (0.1 m)^2, a cosine emitter along -Z.
    lt = one_light(usdlux_stage(tmp_path, intensity=1000.0, exposure=1.0))
    assert lt.source == "usdlux" and lt.planar == 1 and lt.kind == "DiskLight"
    assert lt.intensity == pytest.approx(2000.0 * math.pi * 0.01, rel=1e-6)
    assert lt.area == pytest.approx(math.pi * 0.01, rel=1e-6)
    np.testing.assert_allclose(lt.direction, [0, 0, -1], atol=1e-9)
    # normalize divides the luminance by the area: the intensity is the nits (x 2^exposure).
    norm = one_light(usdlux_stage(tmp_path, intensity=1000.0, exposure=1.0, normalize=True, name="n"))
    assert norm.intensity == pytest.approx(2000.0, rel=1e-6)
    # A sphere emits pi r^2 L in every direction; its normalised size is its whole surface 4 pi r^2.
    sph = one_light(usdlux_stage(tmp_path, "SphereLight", intensity=100.0, normalize=True, name="s"))
    assert sph.planar == 0 and sph.intensity == pytest.approx(100.0 / 4.0, rel=1e-6)
    rect = one_light(usdlux_stage(tmp_path, "RectLight", intensity=100.0, name="r"))
    assert rect.intensity == pytest.approx(100.0 * 0.2 * 0.1, rel=1e-6)
    # Colour luminance (Rec. 709 weights); a colour temperature keeps the luminance (UsdLux normalises it).
    green = one_light(usdlux_stage(tmp_path, intensity=1000.0, colour=(0, 1, 0), name="g"))
    assert green.intensity == pytest.approx(0.7152 * 1000.0 * math.pi * 0.01, rel=1e-5)
    assert green.spectrum is None  # a coloured light's spectrum is not defined by UsdLux
    warm = one_light(usdlux_stage(tmp_path, intensity=1000.0, temperature=3000.0, name="w"))
    assert warm.intensity == pytest.approx(1000.0 * math.pi * 0.01, rel=1e-5)
    assert warm.spectrum is not None and "blackbody" in warm.spectrum.name


def test_shaping_cone_softness_and_focus(tmp_path):
    lt = one_light(usdlux_stage(tmp_path, cone=40.0, softness=0.5, focus=2.0))
    assert lt.beam_angle_deg == pytest.approx(40.0) and lt.softness == 0.5 and lt.focus == 2.0
    theta = np.radians([0.0, 10.0, 25.0, 35.0, 45.0])
    # Soft edge from 20 to 40 degrees: 1 - smoothstep; times cos (disk) and cos^2 (focus).
    t = np.clip((np.degrees(theta) - 20.0) / 20.0, 0.0, 1.0)
    expected = np.cos(theta) ** 3 * (1.0 - t * t * (3 - 2 * t)) * (np.degrees(theta) <= 40.0)
    np.testing.assert_allclose(lt.pattern(np.cos(theta)), expected, atol=1e-12)
    assert cone_window(np.cos(theta), 40.0, 0.0).tolist() == [1, 1, 1, 1, 0]


def test_usdlux_light_lights_the_label_by_closed_form_in_world_and_reference():
    # A disk of luminance L, area A, 0.5 m above the label at 30 degrees off its axis: E = L A cos^2 / d^2 * cone.
    theta = math.radians(30.0)
    d = 0.5
    pos = (d * math.sin(theta), 0.0, d * math.cos(theta))
    lum, area = 2.0e5, 1e-3
    lamp = LightModel("/Disk", np.asarray(pos), np.array([0.0, 0.0, -1.0]), lum * area, 60.0, planar=1,
                      softness=0.5, area=area, source="usdlux")
    r = evaluate(Scene_of([lamp]))
    t = (30.0 - 30.0) / 30.0  # soft edge from 30 to 60 degrees: 30 is its start
    e = lum * area * math.cos(theta) * (1 - t * t * (3 - 2 * t)) * math.cos(theta) / d**2
    h = e * RHO * T_EXP / (4 * F_NUMBER**2)
    assert r.margins[0, 0, M["exposure"]] == pytest.approx(h / H_MIN, rel=1e-5)


def Scene_of(lights, tgt=None, cam=None):  # noqa: N802
    from swb.engine.model import Scene

    return Scene("test", [cam or camera()], [tgt or label()], [], lights=list(lights))


@pytest.mark.parametrize(("exposure", "synced", "expected"), [
    (1e-3, True, 1e-4),  # one pulse inside the exposure
    (5e-5, True, 5e-5),  # the exposure shorter than the pulse
    (2.5e-3, True, 2 * 1e-4 + 1e-4),  # two whole periods and the start of a third
    (0.8e-3, False, 0.0),  # free-running: the exposure can fall between pulses
    (1e-3, False, 1e-4),  # ... unless it lasts a whole period
    (2.5e-3, False, 2 * 1e-4 + 0.0),  # ... two whole periods, the rest in a gap
    (1.95e-3, False, 1e-4 + 5e-5),  # one period, and the remainder overlaps at least 50 us
])
def test_strobe_on_time_closed_forms(exposure, synced, expected):
    strobe = LightModel("/S", np.zeros(3), np.array([0, 0, -1.0]), 1.0, pulse_width=1e-4, duty_cycle=0.1,
                        synced=synced)
    assert strobe.period == pytest.approx(1e-3)
    assert strobe.on_time(exposure) == pytest.approx(expected, abs=1e-12)


def test_synced_strobe_sets_exposure_and_motion_time():
    moving = replace(label(), velocity=np.array([2.0, 0.0, 0.0]))
    steady = light((0.0, 0.0, 0.5), 100.0)
    strobe = replace(steady, path="/Strobe", intensity=1000.0, pulse_width=1e-4, duty_cycle=0.05)
    a = evaluate(Scene_of([steady], moving))
    b = evaluate(Scene_of([strobe], moving))
    # H = E t_on: 10x the intensity for a tenth of the 1 ms exposure: the same exposure margin ...
    assert b.margins[0, 0, M["exposure"]] == pytest.approx(a.margins[0, 0, M["exposure"]], rel=1e-5)
    # ... but the smear lasts the 0.1 ms pulse, not the exposure.
    assert b.motion_px[0, 0] == pytest.approx(0.1 * a.motion_px[0, 0], rel=1e-5)
    # A strobe that gives less than half the exposure does not freeze the motion.
    weak = replace(strobe, intensity=500.0)
    c = evaluate(Scene_of([steady, weak], moving))
    assert c.motion_px[0, 0] == pytest.approx(a.motion_px[0, 0], rel=1e-5)
    # Free-running with gaps longer than the exposure: it may contribute nothing (the worst phase).
    free = replace(strobe, synced=False, duty_cycle=0.05)
    d = evaluate(Scene_of([free], moving))
    assert d.margins[0, 0, M["exposure"]] == 0.0


def usdlux_station() -> Scene:
    """A small generated station lit by a strobed ring light per camera and a panel, its labels moving at 1.5 m/s
    (glare, exposure and strobe-shortened smear all in play)."""
    station = generate_station(n_triangles=5_000, n_cameras=3, n_targets=120)
    lights = [LightModel(f"/Ring{i}", c.position + 0.05 * np.asarray(c.rotation)[:, 0], c.forward, 4.0e4, 50.0,
                         planar=1, focus=1.0, softness=0.3, pulse_width=1e-4, duty_cycle=0.02, source="usdlux")
              for i, c in enumerate(station.cameras)]
    lights.append(LightModel("/Panel", np.array([-1.0, 0.0, 1.5]), np.array([1.0, 0.0, -0.3]) / math.hypot(1, 0.3),
                             800.0, 80.0, planar=1, source="usdlux"))
    tgts = [replace(t, velocity=np.array([1.5, 0.0, 0.0])) for t in station.targets]
    return replace(station, targets=tgts, lights=lights)


def test_world_agrees_with_reference_on_a_station_with_usdlux_lights_and_strobes():
    scene = usdlux_station()
    world = World(scene, device=DEVICE)
    world.evaluate()
    a = world.results()
    world.close()
    b = evaluate_reference(scene)
    assert ((a.decodable == b.decodable) & (a.limiting == b.limiting)).mean() >= 0.995
    for field in ("motion_px",):
        x, y = getattr(a, field).astype(np.float64), getattr(b, field)
        fin = y > 1e-3
        assert np.max(np.abs(x[fin] - y[fin]) / y[fin], initial=0.0) <= 1e-3
    x = a.margins[..., M["exposure"]].astype(np.float64)
    y = b.margins[..., M["exposure"]]
    fin = np.isfinite(y) & (y > 1e-3)
    assert np.array_equal(np.isinf(x), np.isinf(y))
    assert np.max(np.abs(x[fin] - y[fin]) / y[fin], initial=0.0) <= 1e-3
    assert fin.any()
