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

from pxr import Usd, UsdGeom

from ..engine.model import CameraModel
from ..engine.profiles import PROFILES
from . import schema as S
from .units import LoadContext, rigid_pose

_HINT_API = "apply SwbSensorAPI only to Camera prims"


def _finite(ctx: LoadContext, prim: Usd.Prim, name: str, value: float | tuple[float, ...]) -> None:
    values = value if isinstance(value, tuple) else (value,)
    if not all(math.isfinite(v) for v in values):
        raise ctx.error(f"{name} is not a finite number ({value})", prim, name)


def _get(prim: Usd.Prim, name: str, ctx: LoadContext):
    return ctx.value(prim.GetAttribute(name))


def exposure_time(prim: Usd.Prim, ctx: LoadContext) -> tuple[float, str]:
    """Exposure in seconds and the attribute it came from (see the module docstring)."""
    attr = prim.GetAttribute("exposure:time")
    if attr and attr.HasAuthoredValue():
        return float(ctx.value(attr)), "exposure:time"
    opened, closed = prim.GetAttribute("shutter:open"), prim.GetAttribute("shutter:close")
    if (opened and opened.HasAuthoredValue()) or (closed and closed.HasAuthoredValue()):
        tcps = prim.GetStage().GetTimeCodesPerSecond()
        t0 = float(ctx.value(opened)) if opened else 0.0
        t1 = float(ctx.value(closed)) if closed else 0.0
        return (t1 - t0) / tcps, "shutter:close"
    return 0.0, "exposure:time"


def read_camera(prim: Usd.Prim, ctx: LoadContext) -> CameraModel:
    """One sensor camera; SwbError naming prim and attribute for anything unusable."""
    if not prim.IsValid():
        raise ctx.error("the camera prim does not exist", hint="re-load the stage")
    path = str(prim.GetPath())
    if not prim.IsA(UsdGeom.Camera):
        raise ctx.error(f"SwbSensorAPI is applied to a prim of type {prim.GetTypeName() or 'none'}", prim,
                        "apiSchemas", hint=_HINT_API)
    cam = UsdGeom.Camera(prim)
    if str(cam.GetProjectionAttr().Get(ctx.time)) != "perspective":
        raise ctx.error("only perspective cameras are supported", prim, "projection",
                        hint='set projection = "perspective"')
    mpu = ctx.unit_scale(prim)
    tenth = mpu / 10.0

    def length(name: str, scale: float, positive: bool = True) -> float:
        value = float(_get(prim, name, ctx))
        _finite(ctx, prim, name, value)
        if positive and value <= 0.0:
            raise ctx.error(f"{name} must be positive, got {value}", prim, name)
        return value * scale

    focal = length("focalLength", tenth)
    h_ap = length("horizontalAperture", tenth)
    v_ap = length("verticalAperture", tenth)
    h_off = length("horizontalApertureOffset", tenth, positive=False)
    v_off = length("verticalApertureOffset", tenth, positive=False)

    f_number = float(_get(prim, "fStop", ctx))
    _finite(ctx, prim, "fStop", f_number)
    if f_number < 0.0:
        raise ctx.error(f"fStop must be 0 (pinhole) or positive, got {f_number}", prim, "fStop")

    clip = tuple(float(v) for v in _get(prim, "clippingRange", ctx))
    _finite(ctx, prim, "clippingRange", clip)
    if not 0.0 < clip[0] < clip[1]:
        raise ctx.error(f"clippingRange must satisfy 0 < near < far, got {clip}", prim, "clippingRange")

    exposure, exposure_attr = exposure_time(prim, ctx)
    _finite(ctx, prim, exposure_attr, exposure)
    if exposure < 0.0:
        raise ctx.error(f"the exposure time must not be negative, got {exposure} s", prim, exposure_attr)

    res = _get(prim, S.SENSOR_RESOLUTION, ctx)
    width, height = (int(res[0]), int(res[1])) if res is not None else (0, 0)
    if width <= 0 or height <= 0:
        raise ctx.error(f"resolution must be positive, got ({width}, {height})", prim, S.SENSOR_RESOLUTION)

    mode = str(_get(prim, S.SENSOR_FOCUS_MODE, ctx))
    if mode not in S.FOCUS_MODES:
        raise ctx.error(f"unknown focus mode {mode!r}", prim, S.SENSOR_FOCUS_MODE,
                        hint=f"use one of {', '.join(S.FOCUS_MODES)}")
    profile = str(_get(prim, S.SENSOR_DECODER_PROFILE, ctx))
    if profile not in PROFILES:
        raise ctx.error(f"unknown decoder profile {profile!r}", prim, S.SENSOR_DECODER_PROFILE,
                        hint=f"use one of {', '.join(PROFILES)}")

    near, far = (float(v) for v in _get(prim, S.SENSOR_FOCUS_RANGE, ctx))
    _finite(ctx, prim, S.SENSOR_FOCUS_RANGE, (near, far))
    if near < 0.0 or (far > 0.0 and far <= near):
        raise ctx.error(f"focusRange must be 0 <= near < far (far <= 0: unbounded), got ({near}, {far})",
                        prim, S.SENSOR_FOCUS_RANGE)
    focus_range = (near * mpu, far * mpu if far > 0.0 else math.inf)

    max_tilt = float(_get(prim, S.SENSOR_MAX_TILT, ctx))
    _finite(ctx, prim, S.SENSOR_MAX_TILT, max_tilt)
    if not 0.0 < max_tilt <= 90.0:
        raise ctx.error(f"maxTilt must be in (0, 90] degrees, got {max_tilt}", prim, S.SENSOR_MAX_TILT)
    wavelength = float(_get(prim, S.SENSOR_WAVELENGTH, ctx))
    _finite(ctx, prim, S.SENSOR_WAVELENGTH, wavelength)
    if wavelength <= 0.0:
        raise ctx.error(f"wavelength must be positive (nanometres), got {wavelength}", prim,
                        S.SENSOR_WAVELENGTH)

    min_exposure = float(_get(prim, S.SENSOR_MIN_EXPOSURE, ctx))
    _finite(ctx, prim, S.SENSOR_MIN_EXPOSURE, min_exposure)
    if min_exposure < 0.0:
        raise ctx.error(f"minExposure must not be negative (lux seconds), got {min_exposure}", prim,
                        S.SENSOR_MIN_EXPOSURE)

    focus_raw = float(_get(prim, "focusDistance", ctx))
    _finite(ctx, prim, "focusDistance", focus_raw)
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
        width=width,
        height=height,
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
    )
