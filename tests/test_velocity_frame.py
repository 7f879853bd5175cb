"""A label's velocity is authored in the stage's units and axes: on a Y-up centimetre stage it must be turned into
SWB's world (metres, Z up) like every position, or motion blur is computed along the wrong direction.

The same station twice, a metre Z-up stage and a centimetre Y-up one: a camera 1 m above a label looking straight
down, the label moving across the image at 2 m/s (along world -Y). The smear is v * exposure * fx / distance in
both; without the rotation the Y-up label would move along the optical axis and barely smear."""

from __future__ import annotations

import numpy as np
import pytest
from device import DEVICE

import swb

EXPOSURE = 1e-3  # s
SPEED = 2.0  # m/s

STATION = """#usda 1.0
(
    metersPerUnit = {mpu}
    upAxis = "{up}"
)

def Camera "Cam" (
    apiSchemas = ["SwbSensorAPI"]
)
{{
    float focalLength = {focal}
    float horizontalAperture = {h_ap}
    float verticalAperture = {v_ap}
    float exposure:time = {exposure}
    int2 swb:sensor:resolution = (2000, 1500)
    float3 xformOp:translate = {cam_pos}
    float3 xformOp:rotateXYZ = {rot}
    uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateXYZ"]
}}

def Xform "Label" (
    apiSchemas = ["SwbBarcodeAPI"]
)
{{
    float swb:barcode:moduleSize = {module}
    int2 swb:barcode:modules = (60, 1)
    token swb:barcode:symbology = "code128"
    float3 swb:barcode:velocity = {velocity}
    float3 xformOp:rotateXYZ = {rot}
    uniform token[] xformOpOrder = ["xformOp:rotateXYZ"]
}}
"""


def _station(tmp_path, up: str):
    mpu = 1.0 if up == "Z" else 0.01
    unit = 1.0 / mpu  # scene units per metre
    per_mm = unit / 100.0  # focalLength and apertures are tenths of a scene unit (mm on a cm stage)
    if up == "Z":  # camera 1 m up, looking down -Z; the label faces +Z and moves along -Y
        cam_pos, rot, velocity = (0, 0, 1.0 * unit), (0, 0, 0), (0, -SPEED * unit, 0)
    else:  # Y up: 1 m up is +Y; both turned -90 deg about X; world -Y is stage +Z
        cam_pos, rot, velocity = (0, 1.0 * unit, 0), (-90, 0, 0), (0, 0, SPEED * unit)
    text = STATION.format(mpu=mpu, up=up, focal=16.0 * per_mm, h_ap=2000 * 3.45e-3 * per_mm,
                          v_ap=1500 * 3.45e-3 * per_mm, exposure=EXPOSURE,
                          cam_pos=cam_pos, rot=rot, module=0.5e-3 * unit, velocity=velocity)
    path = tmp_path / f"station_{up}.usda"
    path.write_text(text)
    return path


@pytest.mark.parametrize("up", ["Z", "Y"])
def test_label_velocity_is_turned_into_the_world_frame(tmp_path, up):
    sim = swb.open(_station(tmp_path, up), device=DEVICE)
    tgt = sim.scene.targets[0]
    np.testing.assert_allclose(tgt.velocity, [0.0, -SPEED, 0.0], atol=1e-9)
    res = sim.evaluate()
    cam = sim.scene.cameras[0]
    expected = SPEED * EXPOSURE * cam.fx / 1.0  # pixels smeared across the image during the exposure
    assert res.pairs.motion_px[0, 0] == pytest.approx(expected, rel=1e-3)
    assert expected > 5.0  # far from the ~0 smear a label moving along the optical axis would give
