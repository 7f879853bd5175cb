"""SWB's codeless USD schemas: registration, names, and helpers to apply them.

The schemas live in ``schemas/`` (package ``swb.schemas``) as ``generatedSchema.usda`` + ``plugInfo.json``.
USD builds its schema registry once, the first time anything asks for it, and never looks again, so
``register()`` must run before any stage is created or opened (``import swb`` does it).
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path

from pxr import Plug, Usd, UsdGeom

from ..errors import SwbError

SENSOR_API = "SwbSensorAPI"
BARCODE_API = "SwbBarcodeAPI"
LIGHT_API = "SwbLightAPI"
TARGET_SUMMARY_API = "SwbTargetSummaryAPI"
SIMULATION_TYPE = "SwbSimulation"
SIMULATION_PATH = "/SWB"

# SwbSensorAPI (applied to UsdGeom.Camera)
SENSOR_RESOLUTION = "swb:sensor:resolution"
SENSOR_FOCUS_MODE = "swb:sensor:focusMode"
SENSOR_FOCUS_RANGE = "swb:sensor:focusRange"
SENSOR_DECODER_PROFILE = "swb:sensor:decoderProfile"
SENSOR_MAX_TILT = "swb:sensor:maxTilt"
SENSOR_WAVELENGTH = "swb:sensor:wavelength"
SENSOR_MIN_EXPOSURE = "swb:sensor:minExposure"
FOCUS_MODES = ("fixed", "autofocus")

# SwbBarcodeAPI (applied to UsdGeom.Xformable)
BARCODE_SYMBOLOGY = "swb:barcode:symbology"
BARCODE_MODULE_SIZE = "swb:barcode:moduleSize"
BARCODE_MODULES = "swb:barcode:modules"
BARCODE_BAR_HEIGHT = "swb:barcode:barHeight"
BARCODE_QUIET_ZONE = "swb:barcode:quietZone"
BARCODE_PRINT_CONTRAST = "swb:barcode:printContrast"
BARCODE_VELOCITY = "swb:barcode:velocity"
BARCODE_CONTENT = "swb:barcode:content"
BARCODE_REFLECTANCE = "swb:barcode:reflectance"
BARCODE_GLOSSY = "swb:barcode:glossy"
BARCODE_GLOSS_ANGLE = "swb:barcode:glossAngle"

# SwbLightAPI (applied to UsdLux SphereLight, DiskLight, RectLight)
LIGHT_INTENSITY = "swb:light:luminousIntensity"
LIGHT_BEAM_ANGLE = "swb:light:beamAngle"
LIGHT_SPECTRUM = "swb:light:spectrum"
LIGHT_PEAK_WAVELENGTH = "swb:light:peakWavelength"
LIGHT_BANDWIDTH = "swb:light:bandwidth"
LIGHT_SPECTRAL_DATA = "swb:light:spectralData"
LIGHT_RADIANT_INTENSITY = "swb:light:radiantIntensity"
LIGHT_EMITTING_AREA = "swb:light:emittingArea"
LIGHT_PULSE_WIDTH = "swb:light:pulseWidth"
LIGHT_DUTY_CYCLE = "swb:light:dutyCycle"
LIGHT_SYNC = "swb:light:sync"
SPECTRA = ("usdLux", "d65", "blackbody", "led", "monochromatic", "tabulated")
SYNC_MODES = ("exposure", "free")

# SwbZoneAPI (a box where people's eyes can be: a Cube or any Boundable) and SwbAimerAPI (an aimer laser)
ZONE_API = "SwbZoneAPI"
ZONE_KIND = "swb:zone:kind"
ZONE_SPACING = "swb:zone:spacing"
ZONE_EXPOSURE_TIME = "swb:zone:exposureTime"
ZONE_KINDS = ("operator", "walkway", "maintenance", "other")
AIMER_API = "SwbAimerAPI"
AIMER_WAVELENGTH = "swb:aimer:wavelength"
AIMER_POWER = "swb:aimer:power"
AIMER_DIVERGENCE = "swb:aimer:divergence"
AIMER_BEAM_DIAMETER = "swb:aimer:beamDiameter"
AIMER_PULSE_WIDTH = "swb:aimer:pulseWidth"
AIMER_DUTY_CYCLE = "swb:aimer:dutyCycle"

# SwbTargetSummaryAPI (written by SWB into its results layer)
SUMMARY_BEST_CAMERA = "swb:summary:bestCamera"
SUMMARY_DECODABLE = "swb:summary:decodable"
SUMMARY_LIMITING = "swb:summary:limiting"
SUMMARY_SCORE = "swb:summary:score"
SUMMARY_CAMERAS_DECODING = "swb:summary:camerasDecoding"

# SwbSimulation (the /SWB prim)
UI_ACTIVE_CAMERA = "swb:ui:activeCamera"
UI_SELECTION = "swb:ui:selection"
UI_VISUALISATION_MODE = "swb:ui:visualisationMode"
UI_VIEWER_CAMERA_TRANSFORM = "swb:ui:viewerCameraTransform"
UI_VIZ_PARAMETERS = "swb:ui:vizParameters"
VISUALISATION_MODES = ("none", "score", "limiting", "ppm", "sphere", "plane", "projection", "view")

_registered = False


def schema_dir() -> Path:
    """Folder holding plugInfo.json and generatedSchema.usda (the ``swb.schemas`` package)."""
    folder = resources.files("swb.schemas")
    if isinstance(folder, Path):
        return folder
    module = importlib.import_module("swb.schemas")
    return Path(module.__file__).resolve().parent  # type: ignore[arg-type]


def register() -> None:
    """Register SWB's schema plugin with USD; safe to call any number of times.

    Raises SwbError when USD's schema registry was already built without SWB's schemas (some code opened
    a stage before ``import swb``): USD cannot add schemas afterwards.
    """
    global _registered
    if _registered:
        return
    Plug.Registry().RegisterPlugins(str(schema_dir()))
    if Usd.SchemaRegistry().FindAppliedAPIPrimDefinition(SENSOR_API) is None:
        raise SwbError(
            "SWB's USD schemas could not be registered: USD's schema registry was built before SWB loaded",
            hint="import swb before creating or opening any USD stage",
        )
    _registered = True


def _apply(prim: Usd.Prim, api: str) -> Usd.Prim:
    register()
    if not prim.ApplyAPI(api):
        raise SwbError(f"could not apply {api}", prim=str(prim.GetPath()))
    return prim


def apply_sensor_api(prim: Usd.Prim) -> Usd.Prim:
    """Make a UsdGeom.Camera a barcode-reading sensor camera (its attributes fall back to the defaults)."""
    if not prim.IsA(UsdGeom.Camera):
        raise SwbError(
            f"{SENSOR_API} applies to Camera prims, not {prim.GetTypeName() or 'untyped prims'}",
            prim=str(prim.GetPath()),
        )
    return _apply(prim, SENSOR_API)


def apply_barcode_api(prim: Usd.Prim) -> Usd.Prim:
    """Make an Xformable a barcode target (author moduleSize and modules afterwards)."""
    if not prim.IsA(UsdGeom.Xformable):
        raise SwbError(
            f"{BARCODE_API} applies to transformable prims (Xform, Mesh, ...), not "
            f"{prim.GetTypeName() or 'untyped prims'}",
            prim=str(prim.GetPath()),
        )
    return _apply(prim, BARCODE_API)


def apply_target_summary_api(prim: Usd.Prim) -> Usd.Prim:
    """Mark a target prim as carrying SWB's per-target summary attributes."""
    return _apply(prim, TARGET_SUMMARY_API)


def has_sensor_api(prim: Usd.Prim) -> bool:
    return prim.HasAPI(SENSOR_API)


def has_barcode_api(prim: Usd.Prim) -> bool:
    return prim.HasAPI(BARCODE_API)


def apply_light_api(prim: Usd.Prim) -> Usd.Prim:
    """Make a UsdLux light one SWB uses for exposure and glare (author swb:light:luminousIntensity afterwards)."""
    if not prim.IsA(UsdGeom.Xformable):
        raise SwbError(f"{LIGHT_API} applies to UsdLux lights, not {prim.GetTypeName() or 'untyped prims'}",
                       prim=str(prim.GetPath()))
    return _apply(prim, LIGHT_API)


def has_light_api(prim: Usd.Prim) -> bool:
    return prim.HasAPI(LIGHT_API)


def apply_zone_api(prim: Usd.Prim) -> Usd.Prim:
    """Make a Cube (or any Boundable) a zone where people's eyes can be (eye-safety maps)."""
    if not prim.IsA(UsdGeom.Boundable):
        kind = prim.GetTypeName() or "untyped prims"
        raise SwbError(f"{ZONE_API} applies to a Cube or another Boundable, not {kind}", prim=str(prim.GetPath()))
    return _apply(prim, ZONE_API)


def has_zone_api(prim: Usd.Prim) -> bool:
    return prim.HasAPI(ZONE_API)


def apply_aimer_api(prim: Usd.Prim) -> Usd.Prim:
    """Make an Xformable an aimer laser emitting along its -Z axis (IEC 60825-1 class)."""
    if not prim.IsA(UsdGeom.Xformable):
        raise SwbError(f"{AIMER_API} applies to transformable prims, not {prim.GetTypeName() or 'untyped prims'}",
                       prim=str(prim.GetPath()))
    return _apply(prim, AIMER_API)


def has_aimer_api(prim: Usd.Prim) -> bool:
    return prim.HasAPI(AIMER_API)


def define_simulation_prim(stage: Usd.Stage, path: str = SIMULATION_PATH) -> Usd.Prim:
    """Define (or fetch) the SwbSimulation prim that holds UI state and result arrays."""
    register()
    return stage.DefinePrim(path, SIMULATION_TYPE)
