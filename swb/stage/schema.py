"""SWB's codeless USD schemas: their names, the one table SWB reads them by, and registration with USD.

The schemas live in ``schemas/`` (package ``swb.schemas``): ``schema.usda`` (the source), and the generated
``generatedSchema.usda`` + ``plugInfo.json`` that USD's schema registry loads.

SWB never needs USD's schema registry to *read* a stage. USD builds that registry once, the first time anything
asks for it, so in a host that opened a stage before importing SWB (usdview, Isaac Sim / Kit, a notebook) SWB's
schemas cannot be added any more. Therefore:
- applied API schemas are taken from the prim's composed ``apiSchemas`` list (``applied_schemas``), which USD
  keeps whether or not it knows the schema;
- types, fallbacks, allowed tokens and docs come from ``schema_table()``, parsed from ``generatedSchema.usda``
  with the Sdf API (no registry involved), plus SWB's validity ranges (``swbValid`` custom data in
  ``schema.usda``, which usdGenSchema does not copy);
- API schemas are applied with ``Usd.Prim.AddAppliedSchema`` (an edit of the list op, no registry lookup).
``register()`` still registers the plugin when that is possible, so the schemas' fallbacks and docs are visible to
other code in the process; ``registration()`` says what happened. Results are the same either way.
"""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pxr import Plug, Sdf, Usd, UsdGeom

from ..errors import SwbError

PLUGIN_NAME = "swb"
VERSION_KEY = "SwbSchemaVersion"  # in plugInfo.json's Info: bump it whenever generatedSchema.usda changes
VALID_KEY = "swbValid"  # custom data of an attribute in schema.usda: its valid interval, e.g. "(0, 90]"

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
SENSOR_MIN_READ_PROBABILITY = "swb:sensor:minReadProbability"
SENSOR_FRAME_RATE = "swb:sensor:frameRate"
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
SUMMARY_READ_PROBABILITY = "swb:summary:readProbability"

# SwbSimulation (the /SWB prim)
UI_ACTIVE_CAMERA = "swb:ui:activeCamera"
UI_SELECTION = "swb:ui:selection"
UI_VISUALISATION_MODE = "swb:ui:visualisationMode"
UI_VIEWER_CAMERA_TRANSFORM = "swb:ui:viewerCameraTransform"
UI_VIZ_PARAMETERS = "swb:ui:vizParameters"
VISUALISATION_MODES = ("none", "score", "p_read", "limiting", "ppm", "sphere", "plane", "projection", "view")


# ---------------------------------------------------------------------------------------------------
# the schema table


@dataclass(frozen=True)
class Interval:
    """A closed, open or half-open interval of valid values, written like ``(0, 90]`` or ``[0, inf)``."""

    low: float
    high: float
    low_open: bool
    high_open: bool

    @classmethod
    def parse(cls, text: str) -> Interval:
        body = text.strip()
        if len(body) < 5 or body[0] not in "([" or body[-1] not in ")]" or "," not in body:
            raise ValueError(f"not an interval: {text!r}")
        low, high = (float(part) for part in body[1:-1].split(","))
        return cls(low, high, body[0] == "(", body[-1] == ")")

    def __str__(self) -> str:
        def num(x: float) -> str:
            return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"

        return f"{'(' if self.low_open else '['}{num(self.low)}, {num(self.high)}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class AttributeDef:
    """What a schema says about one attribute: its type, fallback, allowed tokens, valid interval and doc."""

    name: str
    schema: str
    type_name: str  # Sdf value type name, e.g. "int2", "float", "token"
    fallback: Any  # as USD returns it for an unauthored attribute (Gf vectors, floats rounded to float32, ...)
    tokens: tuple[str, ...] | None = None
    valid: Interval | None = None
    doc: str = ""


@dataclass(frozen=True)
class SchemaDef:
    """One schema class: its kind and attributes (relationships are listed by name only)."""

    name: str
    kind: str  # "singleApplyAPI", "concreteTyped", ...
    attributes: dict[str, AttributeDef] = field(default_factory=dict)
    relationships: tuple[str, ...] = ()

    @property
    def namespace(self) -> str | None:
        """The ``swb:<ns>:`` prefix all its properties share, None when they share none."""
        names = [*self.attributes, *self.relationships]
        prefixes = {":".join(n.split(":")[:2]) + ":" for n in names if n.count(":") >= 2}
        return prefixes.pop() if len(prefixes) == 1 else None


@dataclass(frozen=True)
class SchemaTable:
    """SWB's schemas as generated (types, fallbacks, tokens, docs) plus the validity ranges of schema.usda."""

    version: int | None
    schemas: dict[str, SchemaDef]

    def attribute(self, name: str) -> AttributeDef | None:
        for schema in self.schemas.values():
            found = schema.attributes.get(name)
            if found is not None:
                return found
        return None

    def api_namespaces(self) -> dict[str, str]:
        """``swb:<ns>:`` prefix -> the applied API schema whose attributes use it."""
        out = {}
        for schema in self.schemas.values():
            ns = schema.namespace
            if schema.kind.endswith("API") and ns is not None:
                out[ns] = schema.name
        return out


def schema_dir() -> Path:
    """Folder holding plugInfo.json and generatedSchema.usda (the ``swb.schemas`` package)."""
    folder = resources.files("swb.schemas")
    if isinstance(folder, Path):
        return folder
    module = importlib.import_module("swb.schemas")
    return Path(module.__file__).resolve().parent  # type: ignore[arg-type]


def read_plug_info(folder: Path) -> dict:
    """plugInfo.json of a schema folder (USD allows # comment lines, json does not)."""
    text = (folder / "plugInfo.json").read_text()
    return json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))


def schema_version(folder: Path) -> int | None:
    """The SwbSchemaVersion a schema folder declares, None for folders from before versions were recorded."""
    for plugin in read_plug_info(folder).get("Plugins", []):
        if plugin.get("Name") == PLUGIN_NAME:
            version = plugin.get("Info", {}).get(VERSION_KEY)
            return int(version) if version is not None else None
    return None


def _open_layer(path: Path) -> Sdf.Layer:
    # anonymous copy: never shares (or pre-empts) the layer object USD's schema registry opens from the same file
    layer = Sdf.Layer.OpenAsAnonymous(str(path))
    if layer is None:
        raise SwbError("SWB's schema files cannot be read", file=str(path), hint="reinstall swb")
    return layer


def _kinds(folder: Path) -> dict[str, str]:
    for plugin in read_plug_info(folder).get("Plugins", []):
        if plugin.get("Name") == PLUGIN_NAME:
            return {name: t.get("schemaKind", "") for name, t in plugin.get("Info", {}).get("Types", {}).items()}
    return {}


@cache
def schema_table() -> SchemaTable:
    """The table of SWB's schemas (see the module docstring); parsed once per process (a few milliseconds)."""
    folder = schema_dir()
    generated = _open_layer(folder / "generatedSchema.usda")
    source = _open_layer(folder / "schema.usda")
    kinds = _kinds(folder)
    schemas: dict[str, SchemaDef] = {}
    for cls in generated.rootPrims:
        src = source.GetPrimAtPath(cls.path)
        attrs: dict[str, AttributeDef] = {}
        for spec in cls.attributes:
            rule = src.attributes[spec.name].customData.get(VALID_KEY) if src and spec.name in src.attributes else None
            tokens = tuple(spec.allowedTokens) if spec.HasInfo("allowedTokens") else None
            attrs[spec.name] = AttributeDef(
                name=spec.name,
                schema=cls.name,
                type_name=str(spec.typeName),
                fallback=spec.default,
                tokens=tokens,
                valid=Interval.parse(rule) if rule else None,
                doc=str(spec.customData.get("userDocBrief", "")),
            )
        rels = tuple(spec.name for spec in cls.relationships)
        schemas[cls.name] = SchemaDef(cls.name, kinds.get(cls.name, ""), attrs, rels)
    return SchemaTable(schema_version(folder), schemas)


def attribute_def(name: str) -> AttributeDef:
    """The table entry of one SWB attribute (KeyError for names no SWB schema declares)."""
    found = schema_table().attribute(name)
    if found is None:
        raise KeyError(name)
    return found


# ---------------------------------------------------------------------------------------------------
# applied schemas, independent of USD's registry


def applied_schemas(prim: Usd.Prim) -> list[str]:
    """Names in the prim's composed ``apiSchemas`` list, known to USD's registry or not."""
    return list(prim.GetPrimTypeInfo().GetAppliedAPISchemas())


def has_api(prim: Usd.Prim, api: str) -> bool:
    return api in prim.GetPrimTypeInfo().GetAppliedAPISchemas()


def has_sensor_api(prim: Usd.Prim) -> bool:
    return has_api(prim, SENSOR_API)


def has_barcode_api(prim: Usd.Prim) -> bool:
    return has_api(prim, BARCODE_API)


def has_light_api(prim: Usd.Prim) -> bool:
    return has_api(prim, LIGHT_API)


# ---------------------------------------------------------------------------------------------------
# registration


@dataclass(frozen=True)
class Registration:
    """What ``register()`` found: whether USD's schema registry knows SWB's schemas in this process, from where,
    and a one-line problem when another SWB version's schemas were loaded instead."""

    in_registry: bool
    plugin_path: str | None
    problem: str | None = None


_registration: Registration | None = None


def _version_text(version: int | None) -> str:
    return f"version {version}" if version is not None else "an unversioned (older) release"


def register() -> Registration:
    """Register SWB's schema plugin with USD where that is still possible; never raises (see ``check_schemas``).

    - No plugin named ``swb`` yet: register ours. When USD's schema registry was built earlier (something opened
      a stage before ``import swb``) USD cannot take the schemas any more; SWB then works from its table.
    - A plugin ``swb`` already loaded (``PXR_PLUGINPATH_NAME``): fine when its generatedSchema.usda is ours, a
      recorded problem when it is another version's.
    """
    global _registration
    if _registration is not None:
        return _registration
    ours = schema_dir()
    plug = Plug.Registry()
    plugin = plug.GetPluginWithName(PLUGIN_NAME)
    problem = None
    if plugin is None:
        plug.RegisterPlugins(str(ours))
        plugin = plug.GetPluginWithName(PLUGIN_NAME)
    elif Path(plugin.resourcePath).resolve() != ours.resolve():
        theirs = Path(plugin.resourcePath)
        try:
            same = (theirs / "generatedSchema.usda").read_text() == (ours / "generatedSchema.usda").read_text()
            their_version = schema_version(theirs)
        except (OSError, ValueError):
            same, their_version = False, None
        if not same:
            problem = (
                f"USD loaded SWB's schemas {_version_text(their_version)} from {theirs} (PXR_PLUGINPATH_NAME), "
                f"but this SWB uses schema {_version_text(schema_table().version)} from {ours}; "
                "set PXR_PLUGINPATH_NAME to the folder `swb schemas-path` prints (or remove that entry) and restart"
            )
    in_registry = Usd.SchemaRegistry().FindAppliedAPIPrimDefinition(SENSOR_API) is not None
    _registration = Registration(in_registry, plugin.resourcePath if plugin else None, problem)
    return _registration


def registration() -> Registration:
    return register()


def check_schemas() -> None:
    """SwbError (one line naming both versions and what to do) when another SWB version's schemas are loaded."""
    problem = register().problem
    if problem:
        raise SwbError(problem)


# ---------------------------------------------------------------------------------------------------
# applying schemas


def _apply(prim: Usd.Prim, api: str) -> Usd.Prim:
    check_schemas()
    if not prim.AddAppliedSchema(api):  # no registry lookup: works whether or not USD knows the schema
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


def apply_light_api(prim: Usd.Prim) -> Usd.Prim:
    """Make a UsdLux light one SWB uses for exposure and glare (author swb:light:luminousIntensity afterwards)."""
    if not prim.IsA(UsdGeom.Xformable):
        raise SwbError(f"{LIGHT_API} applies to UsdLux lights, not {prim.GetTypeName() or 'untyped prims'}",
                       prim=str(prim.GetPath()))
    return _apply(prim, LIGHT_API)


def apply_zone_api(prim: Usd.Prim) -> Usd.Prim:
    """Make a Cube (or any Boundable) a zone where people's eyes can be (eye-safety maps)."""
    if not prim.IsA(UsdGeom.Boundable):
        kind = prim.GetTypeName() or "untyped prims"
        raise SwbError(f"{ZONE_API} applies to a Cube or another Boundable, not {kind}", prim=str(prim.GetPath()))
    return _apply(prim, ZONE_API)


def has_zone_api(prim: Usd.Prim) -> bool:
    return has_api(prim, ZONE_API)


def apply_aimer_api(prim: Usd.Prim) -> Usd.Prim:
    """Make an Xformable an aimer laser emitting along its -Z axis (IEC 60825-1 class)."""
    if not prim.IsA(UsdGeom.Xformable):
        raise SwbError(f"{AIMER_API} applies to transformable prims, not {prim.GetTypeName() or 'untyped prims'}",
                       prim=str(prim.GetPath()))
    return _apply(prim, AIMER_API)


def has_aimer_api(prim: Usd.Prim) -> bool:
    return has_api(prim, AIMER_API)


def define_simulation_prim(stage: Usd.Stage, path: str = SIMULATION_PATH) -> Usd.Prim:
    """Define (or fetch) the SwbSimulation prim that holds UI state and result arrays."""
    check_schemas()
    return stage.DefinePrim(path, SIMULATION_TYPE)
