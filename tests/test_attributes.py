"""Typed, validated reading of every attribute SWB reads (issue 11 item 2; swb/stage/attributes.py): a wrong type,
NaN/inf, a fraction where whole numbers are meant, an out-of-range value or an xformOpOrder naming an op that is
not there is one SwbError naming file, prim, attribute and what to do; attributes of an API a prim does not apply
are a warning; reading many targets at once gives exactly what reading them one by one gives."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from device import DEVICE
from pxr import Gf, Sdf, Usd, Vt
from stage_builders import build_station

import swb
from swb.cli.main import main
from swb.errors import SwbError, SwbWarning
from swb.stage import schema as S
from swb.stage.attributes import core_defs, get_value, read_values, swb_defs
from swb.stage.load import LoadContext, load_scene_from_stage, read_target
from swb.stage.targets import read_targets

FILE = "station.usda"
INF, NAN = float("inf"), float("nan")
T = Sdf.ValueTypeNames

BASE = """#usda 1.0
(
    defaultPrim = "World"
    metersPerUnit = 0.01
    upAxis = "Z"
)

def Xform "World"
{
    def Camera "Cam" (
        prepend apiSchemas = ["SwbSensorAPI"]
    )
    {
        float focalLength = 16
        float horizontalAperture = 11.3
        float verticalAperture = 7.1
        float fStop = 0
        int2 swb:sensor:resolution = (1920, 1200)
        double3 xformOp:translate = (0, 0, 200)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }

    def Xform "Rig"
    {
        double3 xformOp:translate = (0, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"]

        def Xform "Label" (
            prepend apiSchemas = ["SwbBarcodeAPI"]
        )
        {
            token swb:barcode:symbology = "qrcode"
            float swb:barcode:moduleSize = 0.1
            int2 swb:barcode:modules = (21, 21)
        }
    }

    def Cube "Box"
    {
        double size = 10
        double3 xformOp:translate = (100, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }

    def Mesh "Wall"
    {
        point3f[] points = [(0, 0, 0), (10, 0, 0), (0, 10, 0)]
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        double3 xformOp:translate = (0, 100, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }
}
"""
CAM, LABEL, RIG, BOX, WALL = "/World/Cam", "/World/Rig/Label", "/World/Rig", "/World/Box", "/World/Wall"


def _stage(edits: list[tuple[str, str, Sdf.ValueTypeName | None, object]] = ()) -> Usd.Stage:
    """BASE with attributes authored (or, with type None, removed) through Sdf, which takes any type."""
    layer = Sdf.Layer.CreateAnonymous(".usda")
    layer.ImportFromString(BASE)
    for path, name, type_name, value in edits:
        prim = layer.GetPrimAtPath(path)
        if name in prim.attributes:
            prim.RemoveProperty(prim.attributes[name])
        if type_name is not None:
            Sdf.AttributeSpec(prim, name, type_name).default = value
    return Usd.Stage.Open(layer)


def _error(edits) -> SwbError:
    with pytest.raises(SwbError) as err:
        load_scene_from_stage(_stage(edits), FILE)
    e = err.value
    assert "\n" not in str(e) and str(e).startswith(f"file {FILE}, prim ")
    return e


BAD = [
    # (prim, attribute, authored type, value, words in the message)
    (CAM, S.SENSOR_RESOLUTION, T.Float2, Gf.Vec2f(4096.7, 3000), ["float2 (4096.7, 3000)", "whole numbers",
                                                                  "int2 swb:sensor:resolution = (4097, 3000)"]),
    (CAM, S.SENSOR_RESOLUTION, T.Float2, Gf.Vec2f(NAN, INF), ["authored as float2 (nan, inf)", "int2"]),
    (CAM, S.SENSOR_RESOLUTION, T.Double2, Gf.Vec2d(1920, 1200), ["authored as double2", "int2"]),
    (CAM, S.SENSOR_RESOLUTION, T.Int, 1920, ["authored as int 1920", "int2"]),
    (CAM, S.SENSOR_RESOLUTION, T.Int2, Gf.Vec2i(0, 1200), ["must be in [1, 100000], got (0, 1200)"]),
    (CAM, S.SENSOR_RESOLUTION, T.Int2, Gf.Vec2i(-5, 1200), ["must be in [1, 100000]"]),
    (CAM, S.SENSOR_FOCUS_RANGE, T.Float2, Gf.Vec2f(NAN, 0), ["not a finite number"]),
    (CAM, S.SENSOR_FOCUS_RANGE, T.Float2, Gf.Vec2f(50, 10), ["focusRange must be 0 <= near < far"]),
    (CAM, S.SENSOR_FOCUS_MODE, T.Token, "manual", ["unknown focus mode 'manual'", "fixed, autofocus"]),
    (CAM, S.SENSOR_DECODER_PROFILE, T.Token, "fast", ["unknown decoder profile 'fast'", "industrial"]),
    (CAM, S.SENSOR_DECODER_PROFILE, T.Int, 2, ["authored as int 2", "token"]),
    (CAM, S.SENSOR_MAX_TILT, T.Float, 95.0, ["must be in (0, 90], got 95"]),
    (CAM, S.SENSOR_MAX_TILT, T.String, "60", ["authored as string '60'", "a real number"]),
    (CAM, S.SENSOR_WAVELENGTH, T.Float, 0.625, ["must be in [200, 2000], got 0.625", "nanometres"]),
    (CAM, S.SENSOR_MIN_EXPOSURE, T.Float, -1.0, ["must be in [0, inf)"]),
    (CAM, "fStop", T.String, "f/2.8", ["fStop is authored as string 'f/2.8'", "float fStop ="]),
    (CAM, "fStop", T.Float, NAN, ["fStop is not a finite number (nan)"]),
    (CAM, "fStop", T.Float, -1.0, ["fStop must be in [0, inf), got -1"]),
    (CAM, "focalLength", T.Int, 16, ["focalLength is authored as int 16", "a real number"]),
    (CAM, "focalLength", T.Float, INF, ["focalLength is not a finite number (inf)"]),
    (CAM, "focalLength", T.Float, 0.0, ["focalLength must be in (0, inf), got 0", "tenths of a scene unit"]),
    (CAM, "horizontalAperture", T.Float, -11.3, ["horizontalAperture must be in (0, inf)"]),
    (CAM, "clippingRange", T.Float2, Gf.Vec2f(5, 1), ["clippingRange must satisfy 0 < near < far"]),
    (CAM, "clippingRange", T.Float3, Gf.Vec3f(1, 2, 3), ["authored as float3", "float2"]),
    (CAM, "exposure:time", T.Float, -0.01, ["exposure:time must be in [0, inf)"]),
    (CAM, "exposure:time", T.Double, NAN, ["exposure:time is not a finite number"]),
    (CAM, "projection", T.Token, "orthographic", ["only perspective cameras"]),
    (CAM, "focusDistance", T.Float, NAN, ["focusDistance is not a finite number"]),
    (LABEL, S.BARCODE_MODULES, T.String, "233x1", ["modules is authored as string '233x1'", "int2"]),
    (LABEL, S.BARCODE_MODULES, T.Float2, Gf.Vec2f(NAN, NAN), ["modules is authored as float2 (nan, nan)"]),
    (LABEL, S.BARCODE_MODULES, T.Float2, Gf.Vec2f(21.5, 21), ["whole numbers", "(22, 21)"]),
    (LABEL, S.BARCODE_MODULES, T.Int2, Gf.Vec2i(0, 21), ["modules must be in [1, 10000], got (0, 21)"]),
    (LABEL, S.BARCODE_MODULES, T.Int2, Gf.Vec2i(21, 210000), ["modules must be in [1, 10000]"]),
    (LABEL, S.BARCODE_MODULE_SIZE, T.Float, INF, ["moduleSize is not a finite number (inf)"]),
    (LABEL, S.BARCODE_MODULE_SIZE, T.Float, -0.001, ["moduleSize must be in (0, inf), got -0.001"]),
    (LABEL, S.BARCODE_MODULE_SIZE, None, None, ["moduleSize must be in (0, inf), got 0 (not authored",
                                                "float swb:barcode:moduleSize = 0.05"]),
    (LABEL, S.BARCODE_MODULE_SIZE, T.String, "0.5 mm", ["moduleSize is authored as string '0.5 mm'"]),
    (LABEL, S.BARCODE_SYMBOLOGY, T.Token, "code93", ["unknown symbology 'code93'", "qrcode"]),
    (LABEL, S.BARCODE_SYMBOLOGY, T.Int, 5, ["symbology is authored as int 5"]),
    (LABEL, S.BARCODE_PRINT_CONTRAST, T.Float, 1.5, ["printContrast must be in (0, 1], got 1.5"]),
    (LABEL, S.BARCODE_REFLECTANCE, T.Float, 0.0, ["reflectance must be in (0, 1], got 0"]),
    (LABEL, S.BARCODE_GLOSS_ANGLE, T.Float, 120.0, ["glossAngle must be in (0, 90]"]),
    (LABEL, S.BARCODE_BAR_HEIGHT, T.Float, -1.0, ["barHeight must be in [0, inf)"]),
    (LABEL, S.BARCODE_QUIET_ZONE, T.Float, NAN, ["quietZone is not a finite number"]),
    (LABEL, S.BARCODE_VELOCITY, T.Float3, Gf.Vec3f(NAN, 0, 0), ["velocity is not a finite number (nan, 0, 0)"]),
    (LABEL, S.BARCODE_VELOCITY, T.Float2, Gf.Vec2f(1, 0), ["velocity is authored as float2", "float3"]),
    (LABEL, S.BARCODE_GLOSSY, T.Int, 1, ["glossy is authored as int 1", "true or false"]),
    (LABEL, S.BARCODE_CONTENT, T.Int, 7, ["content is authored as int 7", "text"]),
    # the occluders' own attributes
    (BOX, "size", T.String, "big", ["size is authored as string 'big'", "double size"]),
    (BOX, "size", T.Double, NAN, ["size must be a positive number"]),
    (WALL, "faceVertexCounts", T.FloatArray, Vt.FloatArray([3.0]), ["authored as float[]",
                                                                    "int[] (a list of whole numbers)"]),
    (WALL, "points", T.StringArray, Vt.StringArray(["a"]), ["points is authored as string[]", "point3f[]"]),
    (WALL, "faceVertexIndices", T.IntArray, Vt.IntArray([0, 1, 7]), ["outside the 3 points"]),
]


@pytest.mark.parametrize(("prim", "attr", "type_name", "value", "words"), BAD,
                         ids=[f"{b[1]}={b[2]}:{b[3]!r}" for b in BAD])
def test_bad_values_are_one_line_naming_file_prim_attribute_and_fix(prim, attr, type_name, value, words):
    e = _error([(prim, attr, type_name, value)])
    assert (e.file, e.prim, e.attribute) == (FILE, prim, attr)
    for w in words:
        assert w in str(e), (w, str(e))
    assert e.hint, str(e)


@pytest.mark.parametrize(("prim", "attr", "type_name", "value", "field", "expected"), [
    (CAM, "focalLength", T.Double, 16.0, "focal_length", 0.016),  # double where float is declared: same number
    (CAM, "focalLength", T.Half, 16.0, "focal_length", 0.016),
    (LABEL, S.BARCODE_VELOCITY, T.Double3, Gf.Vec3d(50, 0, 0), "velocity", (0.5, 0.0, 0.0)),
    (LABEL, S.BARCODE_VELOCITY, T.Vector3f, Gf.Vec3f(0, 25, 0), "velocity", (0.0, 0.25, 0.0)),
    (LABEL, S.BARCODE_CONTENT, T.Token, "ABC-123", "content", "ABC-123"),  # token where string is declared
    (LABEL, S.BARCODE_SYMBOLOGY, T.String, "datamatrix", "symbology", "datamatrix"),
    (LABEL, S.BARCODE_GLOSSY, T.Bool, True, "glossy", True),
])
def test_values_of_the_right_family_are_read_as_authored(prim, attr, type_name, value, field, expected):
    scene = load_scene_from_stage(_stage([(prim, attr, type_name, value)]), FILE)
    got = getattr(scene.cameras[0] if prim == CAM else scene.targets[0], field)
    assert np.allclose(got, expected) if not isinstance(expected, str | bool) else got == expected


def test_fallbacks_are_the_schema_table():
    scene = load_scene_from_stage(_stage(), FILE)
    cam, tgt = scene.cameras[0], scene.targets[0]
    table = S.schema_table()
    sensor, barcode = table.schemas[S.SENSOR_API].attributes, table.schemas[S.BARCODE_API].attributes
    assert cam.focus_mode == sensor[S.SENSOR_FOCUS_MODE].fallback == "fixed"
    assert cam.max_tilt_deg == sensor[S.SENSOR_MAX_TILT].fallback == 60.0
    assert cam.wavelength == pytest.approx(sensor[S.SENSOR_WAVELENGTH].fallback * 1e-9)
    assert tgt.print_contrast == barcode[S.BARCODE_PRINT_CONTRAST].fallback  # 0.8 as float32, like USD's
    assert tgt.quiet_zone is None and tgt.bar_height is None and not tgt.glossy


def test_xform_op_order_naming_an_op_that_is_not_authored():
    e = _error([(CAM, "xformOpOrder", T.TokenArray, Vt.TokenArray(["xformOp:translate", "xformOp:rotateXYZ"]))])
    assert (e.prim, e.attribute) == (CAM, "xformOpOrder")
    assert "names xformOp:rotateXYZ, which is not an authored attribute" in str(e)
    assert f"author xformOp:rotateXYZ on {CAM}" in str(e)
    # on an ancestor: the error names the ancestor, whose op would silently be skipped
    e = _error([(RIG, "xformOpOrder", T.TokenArray, Vt.TokenArray(["xformOp:scale"]))])
    assert (e.prim, e.attribute) == (RIG, "xformOpOrder") and "xformOp:scale" in str(e)
    # a name outside the xformOp namespace is no op either
    e = _error([(CAM, "xformOpOrder", T.TokenArray, Vt.TokenArray(["translate"]))])
    assert "names translate" in str(e)


def test_inverted_ops_and_reset_xform_stack_are_fine():
    stage = _stage([(CAM, "xformOpOrder", T.TokenArray,
                     Vt.TokenArray(["!resetXformStack!", "xformOp:translate", "!invert!xformOp:translate"]))])
    cam = load_scene_from_stage(stage, FILE).cameras[0]
    assert np.allclose(cam.position, 0.0)


def test_swb_attributes_without_their_api_are_a_warning_and_the_prim_is_not_read():
    stage = _stage([("/World/Rig", S.BARCODE_MODULE_SIZE, T.Float, 0.002),
                    ("/World/Rig", S.BARCODE_MODULES, T.Int2, Gf.Vec2i(30, 1))])
    with pytest.warns(SwbWarning) as record:
        scene = load_scene_from_stage(stage, FILE)
    assert [t.path for t in scene.targets] == [LABEL]  # /World/Rig is not a target
    (w,) = [r.message for r in record]
    assert (w.file, w.prim) == (FILE, RIG)
    assert "authors SwbBarcodeAPI attributes but does not apply SwbBarcodeAPI" in str(w)
    assert 'prepend apiSchemas = ["SwbBarcodeAPI"]' in str(w) and "\n" not in str(w)


def test_many_prims_without_the_api_are_one_warning_and_typos_are_named():
    layer = Sdf.Layer.CreateAnonymous(".usda")
    layer.ImportFromString(BASE)
    for i in range(8):
        spec = Sdf.CreatePrimInLayer(layer, f"/World/Loose{i}")
        spec.specifier, spec.typeName = Sdf.SpecifierDef, "Xform"
        Sdf.AttributeSpec(spec, S.BARCODE_MODULE_SIZE, T.Float).default = 0.001
    Sdf.AttributeSpec(layer.GetPrimAtPath(LABEL), "swb:barcode:moduleSise", T.Float).default = 0.002
    with pytest.warns(SwbWarning) as record:
        load_scene_from_stage(Usd.Stage.Open(layer), FILE)
    texts = [str(r.message) for r in record]
    assert len(texts) == 2, texts
    assert "8 prims author SwbBarcodeAPI attributes" in texts[0] and "and 3 more" in texts[0]
    assert "swb:barcode:moduleSise is not an attribute of SwbBarcodeAPI" in texts[1]
    assert "did you mean swb:barcode:moduleSize?" in texts[1]


def test_a_clean_stage_warns_about_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SwbWarning)
        load_scene_from_stage(_stage(), FILE)
        load_scene_from_stage(Usd.Stage.Open(str(swb.bundled_scene("scan_tunnel"))), FILE)


def test_cli_prints_the_error_and_the_warning_as_one_line_each(tmp_path, capsys):
    bad = tmp_path / "bad.usda"
    _stage([(CAM, S.SENSOR_RESOLUTION, T.Float2, Gf.Vec2f(4096.7, 3000))]).GetRootLayer().Export(str(bad))
    assert main(["eval", str(bad), "--device", DEVICE]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("swb:")]
    assert len(lines) == 1 and "swb: error: file" in lines[0] and "whole numbers" in lines[0]
    assert "Traceback" not in err
    loose = tmp_path / "loose.usda"
    _stage([("/World/Rig", S.BARCODE_MODULE_SIZE, T.Float, 0.002)]).GetRootLayer().Export(str(loose))
    with warnings.catch_warnings():
        warnings.simplefilter("always", SwbWarning)
        assert main(["eval", str(loose), "--device", DEVICE]) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("swb: warning:")]
    assert len(warned) == 1 and RIG in warned[0] and "SwbBarcodeAPI" in warned[0]


def test_reading_many_targets_equals_reading_each(tmp_path):
    """The batched reader (and its instancer path) gives bit for bit what the one-prim reader gives."""
    for mpu, up in ((1.0, "Z"), (0.01, "Y")):
        path = build_station(tmp_path / f"s{mpu}{up}.usda", mpu, up)
        stage = Usd.Stage.Open(str(path))
        scene = load_scene_from_stage(stage, str(path))
        ctx = LoadContext.for_stage(stage, str(path))
        placed = [t for t in scene.targets if stage.GetPrimAtPath(t.path)]
        assert len(placed) >= 2 and len(placed) < len(scene.targets)  # some come from a PointInstancer
        for batch, one in zip(read_targets([stage.GetPrimAtPath(t.path) for t in placed], ctx), placed, strict=True):
            single = read_target(stage.GetPrimAtPath(one.path), ctx)
            for f in dataclasses.fields(one):
                a, b, c = getattr(batch, f.name), getattr(single, f.name), getattr(one, f.name)
                assert np.array_equal(a, b) and np.array_equal(a, c), (one.path, f.name)


def test_one_reader_for_core_and_swb_attributes():
    stage = _stage([(CAM, "fStop", T.Float, 2.8)])
    ctx = LoadContext.for_stage(stage, FILE)
    cam = stage.GetPrimAtPath(CAM)
    values = read_values(cam, ctx, {**core_defs("Camera", ["fStop", "clippingRange"]), **swb_defs(S.SENSOR_API)})
    assert values["fStop"] == pytest.approx(2.8) and values["clippingRange"] == (1.0, 1e6)
    assert values[S.SENSOR_RESOLUTION] == (1920, 1200) and values[S.SENSOR_FOCUS_MODE] == "fixed"
    assert all(isinstance(v, int) for v in values[S.SENSOR_RESOLUTION])
    # one SWB attribute outside the loader (sweep specs): typed, with its fallback
    sweep = stage.DefinePrim("/SWB/Sweeps/s", "SwbSweep")
    assert get_value(sweep, "swb:sweep:samples") == 256
    Sdf.AttributeSpec(stage.GetRootLayer().GetPrimAtPath("/SWB/Sweeps/s"), "swb:sweep:samples", T.String).default = "9"
    with pytest.raises(SwbError, match="samples is authored as string '9'"):
        get_value(sweep, "swb:sweep:samples")
    assert math.isfinite(get_value(sweep, "swb:sweep:travel")[1])
