"""SWB's codeless schemas: registration, definitions, fallbacks, helpers, and that the committed
generatedSchema.usda matches schema.usda."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

import swb.stage.schema as S

S.register()

from pxr import Gf, Sdf, Usd, UsdGeom  # noqa: E402  (after registration on purpose)

from swb.errors import SwbError  # noqa: E402


def test_register_is_idempotent():
    S.register()
    S.register()
    assert (S.schema_dir() / "plugInfo.json").is_file()
    assert (S.schema_dir() / "generatedSchema.usda").is_file()


@pytest.mark.parametrize("api", [S.SENSOR_API, S.BARCODE_API, S.TARGET_SUMMARY_API])
def test_registry_knows_the_api_schemas(api):
    reg = Usd.SchemaRegistry()
    assert reg.FindAppliedAPIPrimDefinition(api) is not None
    assert Usd.SchemaRegistry.GetSchemaKind(api) == Usd.SchemaKind.SingleApplyAPI


def test_simulation_is_a_concrete_typed_schema():
    definition = Usd.SchemaRegistry().FindConcretePrimDefinition(S.SIMULATION_TYPE)
    assert definition is not None
    names = set(definition.GetPropertyNames())
    assert {S.UI_ACTIVE_CAMERA, S.UI_SELECTION, S.UI_VISUALISATION_MODE, S.UI_VIEWER_CAMERA_TRANSFORM,
            S.UI_VIZ_PARAMETERS} <= names
    stage = Usd.Stage.CreateInMemory()
    prim = S.define_simulation_prim(stage)
    assert prim.GetTypeName() == S.SIMULATION_TYPE and prim.IsA(Usd.Typed)
    assert prim.GetAttribute(S.UI_VISUALISATION_MODE).Get() == "none"
    assert prim.GetAttribute(S.UI_VIEWER_CAMERA_TRANSFORM).Get() == Gf.Matrix4d(1.0)
    assert prim.GetRelationship(S.UI_ACTIVE_CAMERA)
    modes = definition.GetAttributeDefinition(S.UI_VISUALISATION_MODE).GetMetadata("allowedTokens")
    assert tuple(modes) == S.VISUALISATION_MODES


def test_sensor_api_fallbacks():
    stage = Usd.Stage.CreateInMemory()
    cam = UsdGeom.Camera.Define(stage, "/Cam").GetPrim()
    assert not S.has_sensor_api(cam)
    S.apply_sensor_api(cam)
    assert cam.HasAPI(S.SENSOR_API) and S.has_sensor_api(cam)
    assert cam.GetAttribute(S.SENSOR_RESOLUTION).Get() == Gf.Vec2i(1920, 1200)
    assert cam.GetAttribute(S.SENSOR_FOCUS_MODE).Get() == "fixed"
    assert cam.GetAttribute(S.SENSOR_FOCUS_RANGE).Get() == Gf.Vec2f(0.0, 0.0)
    assert cam.GetAttribute(S.SENSOR_DECODER_PROFILE).Get() == "industrial"
    assert cam.GetAttribute(S.SENSOR_MAX_TILT).Get() == pytest.approx(60.0)
    assert cam.GetAttribute(S.SENSOR_WAVELENGTH).Get() == pytest.approx(625.0)
    # Fallbacks are not authored opinions: the layer stays sparse.
    assert not cam.GetAttribute(S.SENSOR_RESOLUTION).HasAuthoredValue()
    assert "SwbSensorAPI" in stage.GetRootLayer().ExportToString()


def test_barcode_api_fallbacks_and_allowed_tokens():
    stage = Usd.Stage.CreateInMemory()
    prim = UsdGeom.Xform.Define(stage, "/Label").GetPrim()
    S.apply_barcode_api(prim)
    assert prim.HasAPI(S.BARCODE_API)
    assert prim.GetAttribute(S.BARCODE_SYMBOLOGY).Get() == "code128"
    assert prim.GetAttribute(S.BARCODE_MODULE_SIZE).Get() == 0.0
    assert prim.GetAttribute(S.BARCODE_MODULES).Get() == Gf.Vec2i(0, 0)
    assert prim.GetAttribute(S.BARCODE_BAR_HEIGHT).Get() == 0.0
    assert prim.GetAttribute(S.BARCODE_QUIET_ZONE).Get() == -1.0
    assert prim.GetAttribute(S.BARCODE_PRINT_CONTRAST).Get() == pytest.approx(0.8)
    assert prim.GetAttribute(S.BARCODE_VELOCITY).Get() == Gf.Vec3f(0.0, 0.0, 0.0)
    assert prim.GetAttribute(S.BARCODE_CONTENT).Get() == ""
    definition = Usd.SchemaRegistry().FindAppliedAPIPrimDefinition(S.BARCODE_API)
    allowed = definition.GetAttributeDefinition(S.BARCODE_SYMBOLOGY).GetMetadata("allowedTokens")
    from swb.engine.profiles import SYMBOLOGIES

    assert set(allowed) == set(SYMBOLOGIES)
    sensor = Usd.SchemaRegistry().FindAppliedAPIPrimDefinition(S.SENSOR_API)
    profiles = sensor.GetAttributeDefinition(S.SENSOR_DECODER_PROFILE).GetMetadata("allowedTokens")
    from swb.engine.profiles import PROFILES

    # Other code may register extra profiles at run time; the schema names the built-in four.
    assert set(profiles) == {"engine", "industrial", "robust", "zxing"} <= set(PROFILES)


def test_target_summary_api():
    stage = Usd.Stage.CreateInMemory()
    prim = UsdGeom.Xform.Define(stage, "/Label").GetPrim()
    S.apply_target_summary_api(prim)
    assert prim.HasAPI(S.TARGET_SUMMARY_API)
    assert prim.GetAttribute(S.SUMMARY_DECODABLE).Get() is False
    assert prim.GetAttribute(S.SUMMARY_CAMERAS_DECODING).Get() == 0
    assert prim.GetAttribute(S.SUMMARY_BEST_CAMERA).GetTypeName() == Sdf.ValueTypeNames.String
    assert prim.GetAttribute(S.SUMMARY_LIMITING).GetTypeName() == Sdf.ValueTypeNames.Token
    assert prim.GetAttribute(S.SUMMARY_SCORE).GetTypeName() == Sdf.ValueTypeNames.Float


def test_apply_helpers_reject_wrong_prim_types():
    stage = Usd.Stage.CreateInMemory()
    scope = stage.DefinePrim("/Scope", "Scope")
    with pytest.raises(SwbError, match="Camera") as err:
        S.apply_sensor_api(scope)
    assert err.value.prim == "/Scope"
    with pytest.raises(SwbError, match="transformable"):
        S.apply_barcode_api(scope)


def test_applied_api_round_trips_through_a_file(tmp_path):
    path = tmp_path / "cam.usda"
    stage = Usd.Stage.CreateNew(str(path))
    cam = UsdGeom.Camera.Define(stage, "/Cam").GetPrim()
    S.apply_sensor_api(cam)
    cam.GetAttribute(S.SENSOR_DECODER_PROFILE).Set("robust")
    stage.GetRootLayer().Save()
    del stage, cam
    reopened = Usd.Stage.Open(str(path))
    again = reopened.GetPrimAtPath("/Cam")
    assert again.HasAPI(S.SENSOR_API)
    assert again.GetAttribute(S.SENSOR_DECODER_PROFILE).Get() == "robust"
    assert again.GetAttribute(S.SENSOR_WAVELENGTH).Get() == pytest.approx(625.0)


def test_plug_info_loads_from_its_own_folder():
    info = json.loads(
        "\n".join(
            line for line in (S.schema_dir() / "plugInfo.json").read_text().splitlines()
            if not line.lstrip().startswith("#")
        )
    )
    plugin = info["Plugins"][0]
    assert (plugin["LibraryPath"], plugin["ResourcePath"], plugin["Root"]) == ("", ".", ".")
    assert plugin["Name"] == "swb" and plugin["Type"] == "resource"


def test_registration_never_raises_and_reports_what_usd_knows():
    # a process that opened stages before SWB is covered by tests/test_usd_integration.py (fresh processes)
    reg = S.register()
    assert reg is S.registration() and reg.in_registry and reg.problem is None
    assert reg.plugin_path is not None and os.path.samefile(reg.plugin_path, S.schema_dir())
    S.check_schemas()


@pytest.mark.skipif(importlib.util.find_spec("jinja2") is None, reason="usdGenSchema needs jinja2")
def test_generated_schema_is_up_to_date(tmp_path):
    src = S.schema_dir() / "schema.usda"
    subprocess.run(
        [sys.executable, "-m", "pxr.Usd.usdGenSchema", str(src), str(tmp_path)],
        check=True, capture_output=True, timeout=120,
    )
    fresh = (tmp_path / "generatedSchema.usda").read_text()
    committed = (S.schema_dir() / "generatedSchema.usda").read_text()
    assert fresh == committed, "regenerate: python -m pxr.Usd.usdGenSchema schemas/schema.usda schemas/"
