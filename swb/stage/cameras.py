"""Sensor cameras: UsdGeom.Camera prims with SwbSensorAPI -> CameraModel.

What is read (lengths converted with the prim's metersPerUnit, see stage_units):
- focalLength, horizontalAperture, verticalAperture and their offsets: tenths of a scene unit
  (mm on a cm stage), so metres = value * mpu / 10.
- focusDistance and clippingRange: scene units. fStop: 0 means a pinhole (no defocus, no diffraction).
- Exposure time in seconds: ``exposure:time`` when authored (USD's fallback of 1 s is ignored: unauthored
  means not set); otherwise ``shutter:close - shutter:open`` (UsdTimeCode units) / timeCodesPerSecond when
  either is authored; otherwise 0 (an instantaneous exposure, no motion blur).
- SwbSensorAPI: resolution, focusMode, focusRange (scene units; far <= 0 means unbounded), decoderProfile,
  maxTilt (degrees), wavelength (nanometres).
Pose: the world transform (honouring resetXformStack) in SI metres, Z up; the rotation is orthonormalised
and a uniform scale ignored. Non-uniform scale, a mirroring transform or a singular one is an error.
"""

from __future__ import annotations

import math
from functools import cache

from pxr import Usd, UsdGeom

from ..engine.model import CameraModel
from ..engine.profiles import PROFILES
from . import schema as S
from .attributes import core_defs, read_values, swb_defs, with_tokens
from .units import LoadContext, rigid_pose

_HINT_API = "apply SwbSensorAPI only to Camera prims"

# SWB's requirements on UsdGeom.Camera's own attributes (USD's schema gives their types and fallbacks)
_CAMERA_VALID = {
    "focalLength": "(0, inf)",
    "horizontalAperture": "(0, inf)",
    "verticalAperture": "(0, inf)",
    "fStop": "[0, inf)",
    "exposure:time": "[0, inf)",
}
_CAMERA_ATTRIBUTES = ("projection", "focalLength", "horizontalAperture", "verticalAperture",
                      "horizontalApertureOffset", "verticalApertureOffset", "fStop", "focusDistance",
                      "clippingRange")
_HINTS = {
    "focalLength": "tenths of a scene unit (millimetres on a centimetre stage), e.g. float focalLength = 16",
    "horizontalAperture": "tenths of a scene unit, e.g. float horizontalAperture = 11.3",
    "verticalAperture": "tenths of a scene unit, e.g. float verticalAperture = 7.1",
    "fStop": "0 means a pinhole (no defocus)",
    "exposure:time": "seconds, e.g. float exposure:time = 0.0005",
    S.SENSOR_RESOLUTION: "(width, height) in pixels, e.g. int2 swb:sensor:resolution = (1920, 1200)",
    S.SENSOR_WAVELENGTH: "nanometres, e.g. float swb:sensor:wavelength = 625",
    S.SENSOR_MAX_TILT: "degrees, e.g. float swb:sensor:maxTilt = 60",
    S.SENSOR_MIN_EXPOSURE: "lux seconds, e.g. float swb:sensor:minExposure = 0.002",
    S.SENSOR_FRAME_RATE: "frames per second, e.g. float swb:sensor:frameRate = 30",
    S.SENSOR_MIN_READ_PROBABILITY: "a probability strictly between 0 and 1, "
                                   "e.g. float swb:sensor:minReadProbability = 0.9",
}


def _defs() -> dict:
    return _defs_for(tuple(PROFILES))  # decoder profiles can be registered at run time


@cache
def _defs_for(profiles: tuple[str, ...]) -> dict:
    defs = {**core_defs("Camera", _CAMERA_ATTRIBUTES, _CAMERA_VALID), **swb_defs(S.SENSOR_API)}
    defs[S.SENSOR_DECODER_PROFILE] = with_tokens(defs[S.SENSOR_DECODER_PROFILE], profiles)
    return defs


def exposure_time(prim: Usd.Prim, ctx: LoadContext) -> tuple[float, str]:
    """Exposure in seconds and the attribute it came from (see the module docstring)."""
    attr = prim.GetAttribute("exposure:time")
    if attr and attr.HasAuthoredValue():
        name = "exposure:time"
        return read_values(prim, ctx, core_defs("Camera", (name,), _CAMERA_VALID), _HINTS)[name], name
    opened, closed = prim.GetAttribute("shutter:open"), prim.GetAttribute("shutter:close")
    if (opened and opened.HasAuthoredValue()) or (closed and closed.HasAuthoredValue()):
        tcps = prim.GetStage().GetTimeCodesPerSecond()
        shutter = read_values(prim, ctx, core_defs("Camera", ("shutter:open", "shutter:close")))
        exposure = (shutter["shutter:close"] - shutter["shutter:open"]) / tcps
        if exposure < 0.0:
            raise ctx.error(f"the exposure time must not be negative, got {exposure} s", prim, "shutter:close",
                            hint="shutter:close must not be before shutter:open")
        return exposure, "shutter:close"
    return 0.0, "exposure:time"


def read_camera(prim: Usd.Prim, ctx: LoadContext) -> CameraModel:
    """One sensor camera; SwbError naming prim and attribute for anything unusable."""
    if not prim.IsValid():
        raise ctx.error("the camera prim does not exist", hint="re-load the stage")
    path = str(prim.GetPath())
    if not prim.IsA(UsdGeom.Camera):
        raise ctx.error(f"SwbSensorAPI is applied to a prim of type {prim.GetTypeName() or 'none'}", prim,
                        "apiSchemas", hint=_HINT_API)
    v = read_values(prim, ctx, _defs(), _HINTS)
    if v["projection"] != "perspective":
        raise ctx.error("only perspective cameras are supported", prim, "projection",
                        hint='set projection = "perspective"')
    mpu = ctx.unit_scale(prim)
    tenth = mpu / 10.0

    focal = v["focalLength"] * tenth
    h_ap = v["horizontalAperture"] * tenth
    v_ap = v["verticalAperture"] * tenth
    h_off = v["horizontalApertureOffset"] * tenth
    v_off = v["verticalApertureOffset"] * tenth
    f_number = float(v["fStop"])

    clip = v["clippingRange"]
    if not 0.0 < clip[0] < clip[1]:
        raise ctx.error(f"clippingRange must satisfy 0 < near < far, got {clip}", prim, "clippingRange",
                        hint="scene units, e.g. float2 clippingRange = (1, 1000000)")

    exposure, _ = exposure_time(prim, ctx)
    width, height = v[S.SENSOR_RESOLUTION]
    mode = v[S.SENSOR_FOCUS_MODE]
    profile = v[S.SENSOR_DECODER_PROFILE]

    near, far = v[S.SENSOR_FOCUS_RANGE]
    if near < 0.0 or (far > 0.0 and far <= near):
        raise ctx.error(f"focusRange must be 0 <= near < far (far <= 0: unbounded), got ({near}, {far})",
                        prim, S.SENSOR_FOCUS_RANGE,
                        hint="scene units, e.g. float2 swb:sensor:focusRange = (0, 0) for no limits")
    focus_range = (near * mpu, far * mpu if far > 0.0 else math.inf)

    max_tilt = v[S.SENSOR_MAX_TILT]
    wavelength = v[S.SENSOR_WAVELENGTH]
    min_exposure = v[S.SENSOR_MIN_EXPOSURE]
    min_read = v[S.SENSOR_MIN_READ_PROBABILITY]
    frame_rate = v[S.SENSOR_FRAME_RATE]

    focus_raw = v["focusDistance"]
    focus = focus_raw * mpu
    if mode == "fixed" and f_number > 0.0 and focus <= focal:
        raise ctx.error(
            f"fixed focus at {focus_raw} scene units is inside the focal length",
            prim,
            "focusDistance",
            hint="author focusDistance (scene units) beyond the focal length, set fStop = 0 for a pinhole, "
            'or use swb:sensor:focusMode = "autofocus"',
        )
    if focus <= 0.0:
        focus = CameraModel.focus_distance  # unused: pinhole or autofocus

    rotation, position = rigid_pose(prim, ctx, "camera", uniform=True)
    return CameraModel(
        path=path,
        rotation=rotation,
        position=position,
        width=int(width),
        height=int(height),
        focal_length=focal,
        aperture=(h_ap, v_ap),
        aperture_offset=(h_off, v_off),
        f_number=f_number,
        focus_distance=focus,
        focus_mode=mode,
        focus_range=focus_range,
        exposure=exposure,
        clipping=(clip[0] * mpu, clip[1] * mpu),
        decoder_profile=profile,
        max_tilt_deg=max_tilt,
        wavelength=wavelength * 1e-9,
        min_exposure=min_exposure,
        min_read_probability=min_read,
        frame_rate=frame_rate,
    )
