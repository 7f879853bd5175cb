"""SWB in any USD process (issue 19): the import order does not change a result, other USD tools find SWB's
schemas through ``swb schemas-path``, and every file SWB writes is clean for a process that has only pxr.

Each case runs fresh Python processes (tests/usd_process.py), because USD builds its schema registry once per
process; they run side by side to keep the suite quick.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from device import DEVICE

import swb
from swb.cli.main import main
from swb.engine.station_generator import generate_station
from swb.stage import schema as S
from swb.stage.authoring import add_camera, add_target
from swb.stage.export import write_scene
from swb.sweep.apply import apply_configuration
from swb.viz import modes as vm

HERE = Path(__file__).resolve().parent
PROCESS = HERE / "usd_process.py"

# A centimetre, Y-up station that leaves most SWB attributes to their schema fallbacks (a strobe light's too), with a
# sparse sweep.
SPARSE = """#usda 1.0
(
    defaultPrim = "World"
    metersPerUnit = 0.01
    upAxis = "Y"
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
        float fStop = 4
        float focusDistance = 150
        float exposure:time = 0.0005
        int2 swb:sensor:resolution = (1920, 1200)
        double3 xformOp:translate = (0, 150, 0)
        float3 xformOp:rotateXYZ = (-90, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateXYZ"]
    }

    def Xform "Label" (
        prepend apiSchemas = ["SwbBarcodeAPI"]
    )
    {
        float swb:barcode:moduleSize = 0.05
        int2 swb:barcode:modules = (60, 1)
        float3 xformOp:rotateXYZ = (-90, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:rotateXYZ"]
    }

    def Xform "Qr" (
        prepend apiSchemas = ["SwbBarcodeAPI"]
    )
    {
        token swb:barcode:symbology = "qrcode"
        float swb:barcode:moduleSize = 0.08
        int2 swb:barcode:modules = (21, 21)
        float3 swb:barcode:velocity = (50, 0, 0)
        double3 xformOp:translate = (20, 0, 10)
        float3 xformOp:rotateXYZ = (-90, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateXYZ"]
    }

    def SphereLight "Lamp" (
        prepend apiSchemas = ["SwbLightAPI"]
    )
    {
        float inputs:intensity = 30000
        float inputs:radius = 2
        float swb:light:pulseWidth = 0.0001
        double3 xformOp:translate = (5, 160, 10)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }

    def Cube "Box"
    {
        double size = 8
        double3 xformOp:translate = (-15, 60, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }
}

def Scope "SWB"
{
    def Scope "Sweeps"
    {
        def SwbSweep "tune"
        {
            rel swb:sweep:cameras = </World/Cam>

            def SwbSweepParameter "height"
            {
                token swb:param:kind = "translateY"
                float2 swb:param:range = (-20, 20)
            }
        }
    }
}
"""


def _run(args: list[str], env_extra: dict[str, str] | None = None, drop_plugin_path: bool = True
         ) -> subprocess.Popen:
    env = dict(os.environ)
    if drop_plugin_path:
        env.pop("PXR_PLUGINPATH_NAME", None)
    env.setdefault("SWB_TEST_DEVICE", DEVICE)
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, str(PROCESS), *args], env=env, cwd=HERE.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=600)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{out}\n{err}"
    return json.loads(lines[-1][len("RESULT "):]), err


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _usd_diagnostics(stderr: str) -> list[str]:
    """USD's own warning and error lines (Warp's CUDA notice on machines without a GPU is not one)."""
    return [line for line in stderr.splitlines() if line.strip() and "Warp CUDA" not in line]


def _evaluate_here(scene: Path) -> dict:
    """What usd_process.py's ``evaluate`` reports, in this process (which imported SWB before any stage)."""
    sys.path.insert(0, str(HERE))
    try:
        import usd_process
    finally:
        sys.path.remove(str(HERE))
    return json.loads(json.dumps(usd_process.evaluate("swb-first", str(scene))))


def test_results_do_not_depend_on_the_import_order_or_the_plugin_path(tmp_path):
    scene = tmp_path / "sparse.usda"
    scene.write_text(SPARSE)
    plugin = {"PXR_PLUGINPATH_NAME": str(S.schema_dir())}
    runs = {
        "stage first": _run(["evaluate", "stage-first", str(scene)]),
        "stage first, plugin path": _run(["evaluate", "stage-first", str(scene)], plugin),
        "swb first, plugin path": _run(["evaluate", "swb-first", str(scene)], plugin),
    }
    if os.environ.get("PXR_PLUGINPATH_NAME"):  # this process is no plain "swb first": ask a fresh one
        runs["swb first"] = _run(["evaluate", "swb-first", str(scene)])
    results = {name: _result(proc) for name, proc in runs.items()}
    if "swb first" not in results:
        results["swb first"] = (_evaluate_here(scene), "")
    # where SWB came too late for USD's registry it says so, and reads the stage from its own table
    assert results["stage first"][0]["in_registry"] is False
    assert results["swb first"][0]["in_registry"] is True
    assert results["stage first, plugin path"][0]["in_registry"] is True
    reference = {k: v for k, v in results["swb first"][0].items() if k != "in_registry"}
    assert reference["applied"] == ["SwbSensorAPI"] and len(reference["targets"]) == 2
    assert reference["lights"] == ["/World/Lamp"]  # its unauthored swb:light attributes come from the table
    assert "sampler='lhs'" in reference["sweep"] and "samples=256" in reference["sweep"]  # schema fallbacks
    for name, (result, err) in results.items():
        assert {k: v for k, v in result.items() if k != "in_registry"} == reference, name
        assert _usd_diagnostics(err) == [], (name, err)
    sim = swb.open(scene, device=DEVICE)  # fallbacks: code128, the industrial profile, 60 degrees
    assert [t.symbology for t in sim.scene.targets] == ["code128", "qrcode"]
    assert sim.scene.cameras[0].decoder_profile == "industrial" and sim.scene.cameras[0].max_tilt_deg == 60.0


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[Path]:
    """One of every kind of file SWB writes."""
    root = tmp_path_factory.mktemp("written")
    tunnel = swb.bundled_scene("scan_tunnel")
    sim = swb.open(tunnel, device=DEVICE)
    sim.evaluate()
    sim.save(root / "eval" / "tunnel.swb.usda")
    res = sim.sweep(spec=swb.bundled_scene("scan_tunnel").with_name("scan_tunnel_sweep.toml"), samples=4)
    apply_configuration(sim, res, root / "apply" / "tunnel.best.usda")
    sim.save(root / "sweep" / "tunnel.swb.usda")
    pic = vm.plane(sim, (0.0, 0.0, 1.2), (0, 0, 1), (1.6, 1.0), (8, 6), out_dir=root / "viz", record=True)
    sim.save(root / "viz" / "tunnel.swb.usda")
    station = generate_station(n_triangles=2_000, n_cameras=2, n_targets=20, seed=3)
    write_scene(station, root / "export" / "station.usdc", meters_per_unit=0.01, up_axis="Y")
    cell = trimesh.Scene()  # a glTF cell with an instanced part (STEP imports write the same layers, more slowly)
    crate = trimesh.creation.box((0.5, 0.4, 0.3))
    for name, x in (("crate_a", 1.0), ("crate_b", -1.0)):
        cell.add_geometry(crate, node_name=name, geom_name="crate",
                          transform=trimesh.transformations.translation_matrix([x, 0.0, 0.0]))
    cell.add_geometry(trimesh.creation.cylinder(radius=0.1, height=0.6), node_name="post", geom_name="post")
    cell.export(root / "cell.glb")
    assert main(["import", str(root / "cell.glb"), "-o", str(root / "cad" / "station.usda")]) == 0
    add_camera(root / "cad" / "station.usda", root / "cad" / "cameras.usda", "/World/Cameras/A",
               (0.0, 0.0, 2.0), (0.0, 0.0, 0.0))
    add_target(root / "cad" / "cameras.usda", root / "cad" / "targets.usda", "/World/Targets/T", (0.0, 0.0, 0.5),
               (0.0, 0.0, 1.0), "qrcode", 0.5, (21, 21))
    files = sorted(p for p in root.rglob("*") if p.suffix in (".usda", ".usdc", ".usd"))
    assert pic.files["layer"] in files and len(files) >= 20
    return files


def test_every_file_swb_writes_opens_cleanly_without_swb(written):
    """A process with only pxr (and one that also knows SWB's schemas) opens every file SWB writes without a
    warning or error from USD, and usd-core's validators find nothing."""
    runs = [_run(["inspect", *map(str, written)]),
            _run(["inspect", *map(str, written)], {"PXR_PLUGINPATH_NAME": str(S.schema_dir())})]
    for proc in runs:
        result, err = _result(proc)
        assert _usd_diagnostics(err) == [], err
        if not result["validation"]:
            pytest.skip("this usd-core has no UsdValidation")
        problems = {path: errors for path, errors in result["files"].items() if errors}
        assert problems == {}


def test_schemas_path_lets_a_plain_pxr_process_know_swb_schemas(tmp_path):
    assert main(["schemas-path"]) == 0
    folder = S.schema_dir()
    assert (folder / "plugInfo.json").is_file() and (folder / "generatedSchema.usda").is_file()
    sim = swb.open(swb.bundled_scene("scan_tunnel"), device=DEVICE)
    sim.evaluate()
    save = sim.save(tmp_path / "tunnel.swb.usda")
    with_path = _run(["schemas", str(save)], {"PXR_PLUGINPATH_NAME": str(folder)})
    without = _run(["schemas", str(save)])
    seen, err = _result(with_path)
    blind, _ = _result(without)
    assert _usd_diagnostics(err) == []
    assert all(seen["definitions"].values()), seen["definitions"]
    assert seen["applied"]["/World/Cameras/TopWide"] == ["SwbSensorAPI"]
    assert "SwbTargetSummaryAPI" in seen["applied"]["/World/Parcels/Parcel_01/Ship"]
    table = S.schema_table()
    for api in (S.SENSOR_API, S.BARCODE_API, S.LIGHT_API, S.TARGET_SUMMARY_API):
        for name, d in table.schemas[api].attributes.items():
            assert seen["docs"][name] == d.doc != "", name
            assert seen["fallbacks"][name] == repr(d.fallback), name
    assert blind["applied"] == {} and not any(blind["definitions"].values())


def test_another_versions_schemas_on_the_plugin_path_are_one_clear_line(tmp_path):
    other = tmp_path / "old_schemas"
    shutil.copytree(S.schema_dir(), other, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    info = other / "plugInfo.json"
    info.write_text(info.read_text().replace(f'"{S.VERSION_KEY}": {S.schema_table().version}',
                                             f'"{S.VERSION_KEY}": 99'))
    generated = other / "generatedSchema.usda"
    text = generated.read_text().replace("float swb:sensor:maxTilt = 60", "float swb:sensor:maxTilt = 45")
    generated.write_text(text)
    same = tmp_path / "same_schemas"
    shutil.copytree(S.schema_dir(), same, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    scene = str(swb.bundled_scene("pick_station"))
    runs = [subprocess.Popen([sys.executable, "-m", "swb.cli", *args], env={**os.environ, "PXR_PLUGINPATH_NAME": path},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for args, path in ((["eval", scene, "--device", DEVICE], str(other)),
                               (["schemas-path", "--check"], str(same)))]
    clash, copy = (_finish(p) for p in runs)
    assert clash.returncode == 2
    lines = [line for line in _usd_diagnostics(clash.stderr) if line.startswith("swb: error")]
    assert len(lines) == 1, clash.stderr
    assert "version 99" in lines[0] and f"version {S.schema_table().version}" in lines[0]
    assert str(other) in lines[0] and "swb schemas-path" in lines[0]
    # the same schemas in another folder (an installed copy) are no clash
    assert copy.returncode == 0, copy.stderr
    assert "USD knows SWB's schemas" in copy.stderr


def test_the_table_is_what_usd_registers():
    """One source of truth: the table SWB reads by is generatedSchema.usda as USD's registry loads it."""
    assert S.registration().in_registry  # the test process imported swb first
    reg = __import__("pxr").Usd.SchemaRegistry()
    table = S.schema_table()
    assert table.version == S.schema_version(S.schema_dir()) is not None
    for name, schema in table.schemas.items():
        definition = (reg.FindAppliedAPIPrimDefinition(name) if schema.kind.endswith("API")
                      else reg.FindConcretePrimDefinition(name))
        assert definition is not None, name
        for attr, d in schema.attributes.items():
            spec = definition.GetAttributeDefinition(attr)
            assert str(spec.GetTypeName()) == d.type_name, attr
            fallback = definition.GetAttributeFallbackValue(attr)
            assert fallback == d.fallback or (isinstance(fallback, float) and np.isclose(fallback, d.fallback)), attr
            tokens = definition.GetPropertyMetadata(attr, "allowedTokens")
            assert (tuple(tokens) if tokens else None) == d.tokens, attr
            assert definition.GetPropertyDocumentation(attr) == d.doc, attr
    # every validity rule names a real attribute and parses
    rules = {a: d.valid for s in table.schemas.values() for a, d in s.attributes.items() if d.valid}
    assert S.SENSOR_RESOLUTION in rules and S.BARCODE_MODULE_SIZE in rules and len(rules) >= 10
    assert table.api_namespaces() == {"swb:sensor:": S.SENSOR_API, "swb:barcode:": S.BARCODE_API,
                                      "swb:light:": S.LIGHT_API, "swb:summary:": S.TARGET_SUMMARY_API,
                                      "swb:zone:": S.ZONE_API, "swb:aimer:": S.AIMER_API}
