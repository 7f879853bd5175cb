"""The same physical station in other units or up axis evaluates to the same metrics; instanced geometry occludes."""

from __future__ import annotations

import numpy as np
import pytest
from device import DEVICE
from pxr import Gf, Usd, UsdGeom
from swb.scenes.build_scenes import build_scan_tunnel

import swb
from swb.engine.pair_results import SCALAR_FIELDS


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = build_scan_tunnel(tmp_path_factory.mktemp("m") / "tunnel_m_z.usda")
    return swb.open(path, device=DEVICE).evaluate()


@pytest.mark.parametrize("mpu, up", [(0.01, "Y"), (0.001, "Z"), (0.0254, "Y")])
def test_units_and_up_axis_do_not_change_metrics(tmp_path, reference, mpu, up):
    path = build_scan_tunnel(tmp_path / f"tunnel_{mpu}_{up}.usda", meters_per_unit=mpu, up_axis=up)
    res = swb.open(path, device=DEVICE).evaluate()
    assert res.camera_paths == reference.camera_paths and res.target_paths == reference.target_paths
    a, b = res.pairs, reference.pairs
    np.testing.assert_array_equal(a.decodable, b.decodable)
    np.testing.assert_array_equal(a.limiting, b.limiting)
    for name in SCALAR_FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=2e-4, atol=2e-5, err_msg=name)


def _wall_stage(path, instanced: bool) -> None:
    """A camera square on to a QR code 2 m away, with a wall (plain or an instance of a prototype) between."""
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    cam = UsdGeom.Camera.Define(stage, "/World/Cam")
    cam.AddTranslateOp().Set(Gf.Vec3d(0, 0, 2))
    cam.CreateFocalLengthAttr(0.16)  # 16 mm in tenths of a metre
    cam.CreateHorizontalApertureAttr(0.1127)
    cam.CreateVerticalApertureAttr(0.0706)
    cam.CreateClippingRangeAttr(Gf.Vec2f(0.01, 100))
    cam.GetPrim().ApplyAPI("SwbSensorAPI")
    cam.GetPrim().GetAttribute("swb:sensor:resolution").Set(Gf.Vec2i(4096, 2560))
    label = UsdGeom.Xform.Define(stage, "/World/Label").GetPrim()
    label.ApplyAPI("SwbBarcodeAPI")
    label.GetAttribute("swb:barcode:symbology").Set("qrcode")
    label.GetAttribute("swb:barcode:moduleSize").Set(0.001)
    label.GetAttribute("swb:barcode:modules").Set(Gf.Vec2i(25, 25))
    if instanced:
        proto = stage.CreateClassPrim("/Library/Wall")
        UsdGeom.Cube.Define(stage, "/Library/Wall/Panel").CreateSizeAttr(0.5)
        wall = UsdGeom.Xform.Define(stage, "/World/Wall")
        wall.GetPrim().GetReferences().AddInternalReference(proto.GetPath())
        wall.GetPrim().SetInstanceable(True)
    else:
        wall = UsdGeom.Cube.Define(stage, "/World/Wall")
        wall.CreateSizeAttr(0.5)
    wall.AddTranslateOp().Set(Gf.Vec3d(0, 0, 1))
    stage.GetRootLayer().Save()


@pytest.mark.parametrize("instanced", [False, True])
def test_wall_occludes_plain_or_instanced(tmp_path, instanced):
    path = tmp_path / "wall.usda"
    _wall_stage(path, instanced)
    sim = swb.open(path, device=DEVICE)
    row = sim.evaluate().camera("/World/Cam")[0]
    assert not row.decodable and row.limiting == "occluded" and row.visible_fraction == 0.0
    sim.set_translation("/World/Wall", (3.0, 0.0, 1.0))  # out of the way
    row = sim.evaluate().camera("/World/Cam")[0]
    assert row.decodable and row.visible_fraction == 1.0
    # closed form: PPM = X f / (p d) with p = aperture / resolution
    expected = 0.001 * 0.016 / (0.01127 / 4096 * 2.0)
    assert row.ppm_u == pytest.approx(expected, rel=1e-3)
