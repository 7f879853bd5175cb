"""Lights: UsdLux SphereLight / DiskLight / RectLight (with or without SwbLightAPI) -> LightModel; zones where
people's eyes can be (SwbZoneAPI) and aimer lasers (SwbAimerAPI) for eye safety (docs/lighting.md).

UsdLux's units (the UsdLux schema shipped with usd-core, LightAPI "Quantities and Units" and inputs:intensity,
inputs:exposure, inputs:normalize): a light of intensity 1, exposure 0 and colour white has a luminance of 1 nit
(cd/m^2). SWB reads

    L = intensity * 2^exposure * Y(colour * blackbody(colorTemperature)) / (normalize ? world surface area : 1)

with Y the luminance of a linear Rec. 709 colour relative to white (0.2126 R + 0.7152 G + 0.0722 B) and the
blackbody colour UsdLux's own (luminance 1), and the candela on the axis I = L * A, A the emitter's area facing
along its -Z axis (a sphere: pi r^2; a disk pi r^2; a rectangle w h; world size, scale included). A disk or
rectangle emits I(theta) = I cos(theta) on its front side, a sphere I in every direction; ShapingAPI multiplies
|cos|^focus and the cone (angle, softness). An authored ``swb:light:luminousIntensity`` replaces all of that by a
measured uniform beam (``swb:light:beamAngle``, else the shaping cone angle). Positions are converted to metres
in SWB's Z-up world; candela, degrees and nits do not depend on the stage's units.
"""

from __future__ import annotations

import math

import numpy as np
from pxr import Usd, UsdGeom, UsdLux

from ..engine import spectra
from ..engine.model import LightModel
from . import schema as S
from .units import LoadContext, rigid_pose

SUPPORTED = ("SphereLight", "DiskLight", "RectLight")
REC709_LUMINANCE = (0.2126, 0.7152, 0.0722)
MIN_TEMPERATURE, MAX_TEMPERATURE = 1000.0, 10000.0  # UsdLux's valid colorTemperature range


def is_light(prim: Usd.Prim) -> bool:
    """A light SWB reads: SwbLightAPI applied, or a plain UsdLux Sphere/Disk/RectLight."""
    return S.has_light_api(prim) or prim.GetTypeName() in SUPPORTED


# ----------------------------------------------------------------------------------- attribute reading


def _number(prim: Usd.Prim, ctx: LoadContext, name: str) -> float:
    value = ctx.value(prim.GetAttribute(name))
    if value is None:
        raise ctx.error(f"{name} has no value", prim, name)
    value = float(value)
    if not math.isfinite(value):
        raise ctx.error(f"{name} is not a finite number ({value})", prim, name)
    return value


def _at_least(prim: Usd.Prim, ctx: LoadContext, name: str, low: float, what: str, strict: bool = False) -> float:
    value = _number(prim, ctx, name)
    if value < low or (strict and value == low):
        bound = ">" if strict else ">="
        raise ctx.error(f"{name} must be {bound} {low:g} ({what}), got {value:g}", prim, name)
    return value


def _authored(prim: Usd.Prim, name: str) -> bool:
    attr = prim.GetAttribute(name)
    return bool(attr) and attr.HasAuthoredValue()


def _token(prim: Usd.Prim, ctx: LoadContext, name: str, allowed: tuple[str, ...]) -> str:
    value = str(ctx.value(prim.GetAttribute(name)) or allowed[0])
    if value not in allowed:
        raise ctx.error(f"unknown {name} {value!r}", prim, name, hint=f"use one of {', '.join(allowed)}")
    return value


# ------------------------------------------------------------------------------------------ the shape


def _axis_scales(m: np.ndarray) -> tuple[float, float, float]:
    """Metres per local unit along the prim's X, Y, Z axes (its world transform's column lengths)."""
    lin = np.asarray(m, np.float64)[:3, :3]
    return tuple(float(np.linalg.norm(lin[:, k])) for k in range(3))  # type: ignore[return-value]


def _shape(prim: Usd.Prim, ctx: LoadContext, m: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """(area facing the axis m^2, whole surface area m^2, two dimensions m) of a UsdLux emitter."""
    sx, sy, sz = _axis_scales(m)
    kind = prim.GetTypeName()
    if kind == "RectLight":
        w = _at_least(prim, ctx, "inputs:width", 0.0, "scene units") * sx
        h = _at_least(prim, ctx, "inputs:height", 0.0, "scene units") * sy
        return w * h, w * h, (w, h)
    r = _at_least(prim, ctx, "inputs:radius", 0.0, "scene units")
    if kind == "DiskLight":
        a, b = r * sx, r * sy
        return math.pi * a * b, math.pi * a * b, (2.0 * a, 2.0 * b)
    s = (sx * sy * sz) ** (1.0 / 3.0)  # a sphere: the mean scale (an ellipsoid counts as its equal-volume sphere)
    return math.pi * (r * s) ** 2, 4.0 * math.pi * (r * s) ** 2, (2.0 * r * s, 2.0 * r * s)


def _colour_luminance(prim: Usd.Prim, ctx: LoadContext) -> tuple[float, bool, float | None]:
    """(relative luminance of the light's colour, whether it is white, colour temperature when enabled)."""
    colour = ctx.value(prim.GetAttribute("inputs:color"))
    rgb = np.array([1.0, 1.0, 1.0] if colour is None else [float(c) for c in colour], np.float64)
    if not np.all(np.isfinite(rgb)) or np.any(rgb < 0.0):
        raise ctx.error(f"inputs:color must be three finite values >= 0, got {rgb.tolist()}", prim, "inputs:color")
    white = bool(np.allclose(rgb, 1.0))
    temperature = None
    if bool(ctx.value(prim.GetAttribute("inputs:enableColorTemperature"))):
        temperature = _number(prim, ctx, "inputs:colorTemperature")
        if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
            raise ctx.error(f"inputs:colorTemperature must be within {MIN_TEMPERATURE:g}..{MAX_TEMPERATURE:g} K "
                            f"(UsdLux's range), got {temperature:g}", prim, "inputs:colorTemperature")
        rgb = rgb * np.array(UsdLux.BlackbodyTemperatureAsRgb(temperature), np.float64)
    return float(np.dot(REC709_LUMINANCE, rgb)), white, temperature


def _shaping(prim: Usd.Prim, ctx: LoadContext) -> tuple[float, float, float]:
    """(cone angle degrees, softness, focus) from UsdLux ShapingAPI; (180, 0, 0) without it."""
    if not prim.HasAPI(UsdLux.ShapingAPI):
        return 180.0, 0.0, 0.0
    angle = _number(prim, ctx, "inputs:shaping:cone:angle")
    if not 0.0 < angle:
        raise ctx.error(f"inputs:shaping:cone:angle must be > 0 degrees, got {angle:g}", prim,
                        "inputs:shaping:cone:angle")
    softness = min(max(_number(prim, ctx, "inputs:shaping:cone:softness"), 0.0), 1.0)  # UsdLux clamps
    focus = max(_number(prim, ctx, "inputs:shaping:focus"), 0.0)  # UsdLux ignores values < 0
    return min(angle, 180.0), softness, focus


# ---------------------------------------------------------------------------------------- the spectrum


def _spectrum(prim: Usd.Prim, ctx: LoadContext, white: bool, temperature: float | None) -> spectra.Spectrum | None:
    """The light's spectrum (swb:light:spectrum), None when only a coloured UsdLux light says what it is."""
    kind = _token(prim, ctx, S.LIGHT_SPECTRUM, S.SPECTRA) if S.has_light_api(prim) else "usdLux"
    if kind == "usdLux":
        if temperature is not None and white:
            return spectra.blackbody(temperature, spectra.VISIBLE)
        return spectra.d65(spectra.VISIBLE) if white and temperature is None else None
    if kind == "d65":
        return spectra.d65()
    if kind == "blackbody":
        return spectra.blackbody(_at_least(prim, ctx, "inputs:colorTemperature", 100.0, "kelvin", strict=True))
    if kind in ("led", "monochromatic"):
        peak = _number(prim, ctx, S.LIGHT_PEAK_WAVELENGTH)
        if not 180.0 <= peak <= 3000.0:
            raise ctx.error(f"{S.LIGHT_PEAK_WAVELENGTH} must be 180..3000 nm for a {kind} spectrum, got {peak:g}",
                            prim, S.LIGHT_PEAK_WAVELENGTH, hint="author the peak wavelength in nanometres")
        if kind == "monochromatic":
            return spectra.monochromatic(peak)
        return spectra.led(peak, _at_least(prim, ctx, S.LIGHT_BANDWIDTH, 0.0, "nanometres", strict=True))
    data = ctx.value(prim.GetAttribute(S.LIGHT_SPECTRAL_DATA))
    arr = np.array([[float(a), float(b)] for a, b in (data or [])], np.float64).reshape(-1, 2)
    if len(arr) < 2 or not np.all(np.isfinite(arr)) or np.any(arr[:, 1] < 0) or np.any(np.diff(arr[:, 0]) <= 0) \
            or arr[:, 1].sum() <= 0:
        raise ctx.error("spectralData must hold two or more (nm ascending, power >= 0) pairs, not all zero", prim,
                        S.LIGHT_SPECTRAL_DATA)
    return spectra.tabulated(arr[:, 0], arr[:, 1])


# ------------------------------------------------------------------------------------------- the light


def read_light(prim: Usd.Prim, ctx: LoadContext) -> LightModel:
    """One light; SwbError naming prim and attribute for anything unusable."""
    if not prim.IsValid():
        raise ctx.error("the light prim does not exist", hint="re-load the stage")
    type_name = prim.GetTypeName()
    if type_name not in SUPPORTED or not prim.IsA(UsdGeom.Xformable):
        raise ctx.error(f"SwbLightAPI is applied to a prim of type {type_name or 'none'}", prim, "apiSchemas",
                        hint="apply SwbLightAPI to a SphereLight, DiskLight or RectLight (a light with a position)")
    rotation, position = rigid_pose(prim, ctx, "light", uniform=False)
    m = ctx.to_world(prim)
    facing, surface, size = _shape(prim, ctx, m)
    luminance_rel, white, temperature = _colour_luminance(prim, ctx)
    cone, softness, focus = _shaping(prim, ctx)
    swb = S.has_light_api(prim)
    fields: dict = {}
    if swb and _authored(prim, S.LIGHT_INTENSITY):
        intensity = _at_least(prim, ctx, S.LIGHT_INTENSITY, 0.0, "candela")
        beam = _number(prim, ctx, S.LIGHT_BEAM_ANGLE) if _authored(prim, S.LIGHT_BEAM_ANGLE) else cone
        if not 0.0 < beam <= 180.0:
            raise ctx.error(f"beamAngle must be in (0, 180] degrees (cone half-angle), got {beam}", prim,
                            S.LIGHT_BEAM_ANGLE)
        fields.update(intensity=intensity, beam_angle_deg=beam, source="measured")
    else:
        base = _at_least(prim, ctx, "inputs:intensity", 0.0, "nits")
        exposure = _number(prim, ctx, "inputs:exposure")
        normalize = bool(ctx.value(prim.GetAttribute("inputs:normalize")))
        luminance = base * 2.0**exposure * luminance_rel
        if normalize:
            luminance = luminance / surface if surface > 0 else 0.0
        fields.update(intensity=luminance * facing, beam_angle_deg=cone, softness=softness, focus=focus,
                      planar=0 if type_name == "SphereLight" else 1, source="usdlux")
    area, radiant = facing, 0.0
    pulse, duty, synced = 0.0, 1.0, True
    if swb:
        if _authored(prim, S.LIGHT_EMITTING_AREA):
            area = _at_least(prim, ctx, S.LIGHT_EMITTING_AREA, 0.0, "scene units^2", strict=True) * \
                ctx.unit_scale(prim) ** 2
            size = (2.0 * math.sqrt(area / math.pi),) * 2
        radiant = _at_least(prim, ctx, S.LIGHT_RADIANT_INTENSITY, 0.0, "W/sr")
        pulse = _at_least(prim, ctx, S.LIGHT_PULSE_WIDTH, 0.0, "seconds")
        duty = _number(prim, ctx, S.LIGHT_DUTY_CYCLE)
        if not 0.0 < duty <= 1.0:
            more = (f": the {pulse:g} s pulse would be longer than its {pulse / duty:g} s period"
                    if duty > 1.0 and pulse > 0 else "")
            raise ctx.error(f"dutyCycle must be in (0, 1]{more}, got {duty:g}", prim, S.LIGHT_DUTY_CYCLE,
                            hint="dutyCycle = pulseWidth / period")
        synced = _token(prim, ctx, S.LIGHT_SYNC, S.SYNC_MODES) == "exposure"
    return LightModel(
        path=str(prim.GetPath()),
        position=position,
        direction=-np.asarray(rotation)[:, 2],
        pulse_width=pulse if duty < 1.0 else 0.0,
        duty_cycle=duty,
        synced=synced,
        area=area,
        size=size,
        spectrum=_spectrum(prim, ctx, white, temperature),
        radiant=radiant,
        kind=type_name,
        **fields,
    )
