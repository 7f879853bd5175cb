"""CAD import: the part tree, names, transforms and units survive; layers hold one kind of data each;
the result loads in SWB once a camera and a target are added; bad input fails cleanly, writing nothing."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from pxr import Sdf, Usd, UsdGeom
from trimesh.transformations import rotation_matrix, translation_matrix

import swb  # noqa: F401  (registers SWB's schemas before any stage is opened)
from swb.cad.importer import import_model
from swb.cli.cad import add_import_commands
from swb.errors import SwbError
from swb.stage.authoring import add_camera, add_target
from swb.stage.load import load_stage

FIXTURES = Path(__file__).parent / "fixtures"
STEP = FIXTURES / "station_mm.step"


def _assembly() -> trimesh.Scene:
    """Nested groups, a part used three times, non-uniform and sheared transforms, awkward names."""
    scene = trimesh.Scene()
    base = scene.graph.base_frame
    plate = trimesh.creation.box([0.4, 0.2, 0.02])
    plate.visual.face_colors = [40, 60, 200, 255]
    bolt = trimesh.creation.cylinder(0.01, 0.05, sections=10)
    bracket = trimesh.creation.box([0.05, 0.05, 0.1])
    scene.graph.update(frame_to="frame group", frame_from=base,
                       matrix=translation_matrix([1.0, 2.0, 0.5]) @ np.diag([2.0, 1.0, 0.5, 1.0]))
    scene.add_geometry(plate, node_name="a b", geom_name="plate", parent_node_name="frame group",
                       transform=rotation_matrix(0.3, [0, 0, 1]))
    scene.add_geometry(bracket, node_name="a-b", geom_name="bracket", parent_node_name="frame group",
                       transform=translation_matrix([0.0, 0.3, 0.0]))
    scene.graph.update(frame_to="sub assembly", frame_from="frame group",
                       matrix=rotation_matrix(0.7, [1, 1, 0]) @ np.diag([1.0, 3.0, 1.0, 1.0]))
    scene.add_geometry(bolt, node_name="1st bolt", geom_name="bolt", parent_node_name="sub assembly")
    for i in (2, 3):
        scene.graph.update(frame_to=f"bolt {i}", frame_from="sub assembly", geometry="bolt",
                           matrix=translation_matrix([0.1 * i, 0, 0]) @ rotation_matrix(0.4 * i, [0, 1, 1]))
    # a part with geometry and a child of its own
    scene.add_geometry(bracket.copy(), node_name="carrier", geom_name="carrier", parent_node_name=base,
                       transform=translation_matrix([0, 0, 1.0]))
    scene.graph.update(frame_to="bolt 4", frame_from="carrier", geometry="bolt",
                       matrix=translation_matrix([0, 0, 0.1]))
    return scene


def _world_points(stage: Usd.Stage, prim: Usd.Prim) -> np.ndarray:
    pts = np.asarray(UsdGeom.Mesh(prim).GetPointsAttr().Get(), dtype=np.float64)
    m = np.array(UsdGeom.XformCache().GetLocalToWorldTransform(prim), dtype=np.float64)  # row-vector
    return pts @ m[:3, :3] + m[3, :3]


def _mesh_prim(prim: Usd.Prim) -> Usd.Prim:
    """The Mesh holding a node's triangles: the node itself, or a child (instance proxy) named mesh."""
    while not prim.IsA(UsdGeom.Mesh):
        children = [c for c in prim.GetFilteredChildren(Usd.TraverseInstanceProxies())
                    if c.GetCustomDataByKey("swb:sourceGeometry") is not None]
        assert len(children) == 1, prim.GetPath()
        prim = children[0]
    return prim


def _source_prims(stage: Usd.Stage) -> dict[str, Usd.Prim]:
    out = {}
    for prim in stage.Traverse():
        name = prim.GetCustomDataByKey("swb:sourceName")
        if name is not None and prim.GetPath().HasPrefix("/World") and not prim.IsA(UsdGeom.Scope):
            if prim.GetTypeName() not in ("Material",):
                out[name] = prim
    return out


def test_generated_assembly_round_trips(tmp_path: Path) -> None:
    glb = tmp_path / "cell.glb"
    glb.write_bytes(_assembly().export(file_type="glb"))
    ref = trimesh.load_scene(glb)  # what trimesh reads is the reference
    result = import_model(glb, tmp_path / "out" / "cell.usda")
    stage = Usd.Stage.Open(str(result.root_layer))
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0 and UsdGeom.GetStageUpAxis(stage) == "Z"

    graph = ref.graph
    nodes = {n for n in graph.nodes if n != graph.base_frame}
    prims = _source_prims(stage)
    model = prims.pop(graph.base_frame)
    assert model.GetPath() == Sdf.Path("/World/cell")
    assert set(prims) == nodes  # same tree: every node once, reversibly named
    for node, prim in prims.items():
        parent = graph.transforms.parents[node]
        assert prim.GetParent() == (model if parent == graph.base_frame else prims[parent]), node
        assert Sdf.Path.IsValidIdentifier(prim.GetName())
    assert {prims["a b"].GetName(), prims["a-b"].GetName()} == {"a_b", "a_b_1"}  # siblings de-duplicated
    assert prims["1st bolt"].GetName() == "_1st_bolt"

    # glTF is Y up: the model prim turns it to the stage's Z up; every part keeps its own transform
    to_stage = rotation_matrix(np.pi / 2, [1, 0, 0])
    extent = float(np.ptp(ref.bounds))
    for node in graph.nodes_geometry:
        matrix, gname = graph[node]
        mesh = ref.geometry[gname]
        expected = trimesh.transform_points(mesh.vertices, to_stage @ matrix)
        got = _world_points(stage, _mesh_prim(prims[node]))
        assert got.shape == expected.shape
        assert np.max(np.abs(got - expected)) <= 1e-6 * extent, node

    # the bolt used four times is one prototype with instanceable references, not four copies
    bolt_nodes = [n for n in graph.nodes_geometry if graph[n][1] == "bolt"]
    assert len(bolt_nodes) == 4
    assert all(prims[n].IsInstance() for n in bolt_nodes)
    assert len({prims[n].GetPrototype() for n in bolt_nodes}) == 1
    assert all(_mesh_prim(prims[n]).IsInstanceProxy() for n in bolt_nodes)
    geometry = Sdf.Layer.FindOrOpen(str(result.layers["geometry"]))
    n_meshes = sum(1 for _ in _prim_specs(geometry) if _.attributes.get("points") is not None)
    # "carrier" is a copy of "bracket" (same triangles, same look): shared too, found by content
    assert n_meshes == len(ref.geometry) - 1 == 3
    carrier_mesh = _mesh_prim(prims["carrier"])
    assert prims["a-b"].IsInstance() and carrier_mesh.IsInstanceProxy()
    assert carrier_mesh.GetParent().GetPrototype() == prims["a-b"].GetPrototype()
    assert result.triangle_count == sum(len(ref.geometry[graph[n][1]].faces) for n in graph.nodes_geometry)


def _prim_specs(layer: Sdf.Layer):
    stack = list(layer.rootPrims)
    while stack:
        spec = stack.pop()
        yield spec
        stack.extend(spec.nameChildren)


def _attr_names(layer: Sdf.Layer) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for spec in _prim_specs(layer):
        for attr in spec.attributes:
            out.setdefault(attr.name, set()).add(str(spec.path))
    return out


def test_step_fixture_imports_in_metres_with_instances_and_materials(tmp_path: Path) -> None:
    result = import_model(STEP, tmp_path / "station.usda")
    stage = Usd.Stage.Open(str(result.root_layer))
    points = []
    for prim in Usd.PrimRange(stage.GetPrimAtPath("/World/station_mm"), Usd.TraverseInstanceProxies()):
        if prim.IsA(UsdGeom.Mesh):
            points.append(_world_points(stage, prim))
    pts = np.concatenate(points)
    # 600 x 300 mm plate 20 mm thick, rollers r = 25 mm on top: metres on a metre stage
    np.testing.assert_allclose(pts.min(axis=0), [-0.3, -0.15, -0.01], atol=1e-6)
    np.testing.assert_allclose(pts.max(axis=0), [0.3, 0.15, 0.06], atol=1e-6)
    info = Sdf.Layer.FindOrOpen(str(result.root_layer)).customLayerData["swb:import"]
    assert info["sourceFormat"] == "step" and info["sourceUpAxis"] == "Z" and info["upAxisRotationX"] == 0.0

    plate = stage.GetPrimAtPath("/World/station_mm/station/base_plate")
    assert plate.IsA(UsdGeom.Mesh) and plate.GetCustomDataByKey("swb:sourceName") == "base plate"
    rollers = stage.GetPrimAtPath("/World/station_mm/station/rollers").GetChildren()
    assert sorted(r.GetCustomDataByKey("swb:sourceName") for r in rollers) == ["roller-1", "roller-2", "roller-3"]
    assert all(r.IsInstance() for r in rollers) and len({r.GetPrototype() for r in rollers}) == 1
    roller_mesh = rollers[0].GetFilteredChildren(Usd.TraverseInstanceProxies())[0]
    bound = {_bound_material(p) for p in (plate, roller_mesh)}
    assert len(bound) == 2  # blue plate, orange rollers

    # a millimetre stage gets the same station in millimetres
    mm = import_model(STEP, tmp_path / "mm" / "station.usda", meters_per_unit=0.001)
    stage_mm = Usd.Stage.Open(str(mm.root_layer))
    assert UsdGeom.GetStageMetersPerUnit(stage_mm) == pytest.approx(0.001)
    box = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default"]).ComputeWorldBound(
        stage_mm.GetPrimAtPath("/World")).ComputeAlignedRange()
    np.testing.assert_allclose(box.GetMin(), [-300, -150, -10], atol=1e-3)
    np.testing.assert_allclose(box.GetMax(), [300, 150, 60], atol=1e-3)


def _bound_material(prim: Usd.Prim) -> Sdf.Path:
    from pxr import UsdShade

    material, _ = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()
    assert material, prim.GetPath()
    return material.GetPath()


def test_layers_are_separate_files_each_with_one_kind_of_data(tmp_path: Path) -> None:
    hints = tmp_path / "joints.json"
    hints.write_text(json.dumps({"joints": [
        {"name": "spin 1", "type": "revolute", "parent": "rollers", "child": "roller-1", "axis": "Y",
         "limits": [-180, 180]},
        {"name": "slide", "type": "prismatic", "parent": None, "child": "station", "axis": "X", "limits": [0, 500]},
    ]}))
    result = import_model(STEP, tmp_path / "station.usda", joints=hints)
    files = result.layers
    assert set(files) == {"geometry", "materials", "transforms", "joints"}
    assert len({p.resolve() for p in files.values()} | {result.root_layer.resolve()}) == 5
    assert files["geometry"].read_bytes()[:8] == b"PXR-USDC"  # binary crate
    root = Sdf.Layer.FindOrOpen(str(result.root_layer))
    assert list(root.subLayerPaths) == [f"./{files[k].name}" for k in ("joints", "materials", "transforms", "geometry")]
    assert root.pseudoRoot.GetInfo("metersPerUnit") == 1.0 and root.pseudoRoot.GetInfo("upAxis") == "Z"
    assert _attr_names(root) == {}  # the tree only: specifiers, types, names, instancing
    assert all(not spec.relationships for spec in _prim_specs(root))

    layers = {k: Sdf.Layer.FindOrOpen(str(p)) for k, p in files.items()}
    geom = _attr_names(layers["geometry"])
    assert set(geom) == {"points", "faceVertexCounts", "faceVertexIndices", "extent", "subdivisionScheme"}
    assert all(s.specifier == Sdf.SpecifierOver for s in _prim_specs(layers["geometry"]))
    assert all(n.startswith("xformOp:") or n == "xformOpOrder" for n in _attr_names(layers["transforms"]))
    for name, paths in _attr_names(layers["materials"]).items():
        assert name.startswith("primvars:display") or all(p.startswith("/World/Looks/") for p in paths), name
    rels = {r.name for s in _prim_specs(layers["materials"]) for r in s.relationships}
    assert rels == {"material:binding"}
    assert all(n.startswith("physics:") for n in _attr_names(layers["joints"]))
    assert all(p.startswith("/World/Joints") for ps in _attr_names(layers["joints"]).values() for p in ps)

    stage = Usd.Stage.Open(str(result.root_layer))
    spin = stage.GetPrimAtPath("/World/Joints/spin_1")
    assert spin.GetTypeName() == "PhysicsRevoluteJoint"
    assert spin.GetRelationship("physics:body1").GetTargets() == [Sdf.Path(
        "/World/station_mm/station/rollers/roller_1")]
    assert spin.GetAttribute("physics:localPos0").Get()[0] == pytest.approx(-0.2, abs=1e-6)
    slide = stage.GetPrimAtPath("/World/Joints/slide")
    assert not slide.GetRelationship("physics:body0").GetTargets()
    assert slide.GetAttribute("physics:upperLimit").Get() == pytest.approx(500.0)  # metres source, metre stage


def test_imported_station_loads_in_swb_with_added_camera_and_target(tmp_path: Path) -> None:
    result = import_model(STEP, tmp_path / "station.usda")
    before = {p: p.read_bytes() for p in [result.root_layer, *result.layers.values()]}
    sensors = tmp_path / "sensors.usda"
    add_camera(result.root_layer, sensors, "/World/Cameras/Top", (0, 0, 1.2), (0, 0, 0), 12.0, (2448, 2048),
               f_number=4.0, exposure_time_s=0.0005)
    add_target(result.root_layer, sensors, "/World/Targets/Label", (0.1, 0.0, 0.0105), (0, 0, 1), "code128",
               0.33, (90, 1), velocity=(1.5, 0, 0))
    assert before == {p: p.read_bytes() for p in before}  # the imported files are not edited

    stage, scene = load_stage(sensors)
    ref = trimesh.load_scene(io.BytesIO(__import__("cascadio").load(STEP.read_bytes(), include_materials=True)),
                             file_type="glb")
    expected = sum(len(ref.geometry[ref.graph[n][1]].faces) for n in ref.graph.nodes_geometry)
    assert sum(len(p.triangles) for p in scene.parts) == expected == result.triangle_count
    cam = scene.cameras[0]
    assert cam.focal_length == pytest.approx(0.012, rel=1e-6)
    assert cam.pixel_pitch[0] == pytest.approx(3.45e-6, rel=1e-5) and (cam.width, cam.height) == (2448, 2048)
    np.testing.assert_allclose(cam.forward, [0, 0, -1], atol=1e-9)
    tgt = scene.targets[0]
    assert tgt.module_size == pytest.approx(0.33e-3, rel=1e-6) and tgt.modules == (90, 1)
    np.testing.assert_allclose(tgt.normal, [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(tgt.velocity, [1.5, 0, 0], atol=1e-6)

    # the same layer again: a second camera is added, the first kept
    add_camera(result.root_layer, sensors, "/World/Cameras/Side", (1.0, 0, 0.3), (0, 0, 0.03))
    _, scene = load_stage(sensors)
    assert sorted(c.path for c in scene.cameras) == ["/World/Cameras/Side", "/World/Cameras/Top"]


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("model.step", b"", "empty"),
        ("model.stl", b"solid x\nthis is not an stl file at all\n", "no geometry|cannot be read"),
        ("model.step", b"ISO-10303-21;\nHEADER;\nthis is not STEP\n", "no geometry|cannot be read"),
        ("model.glb", b"glTF\x02\x00\x00\x00garbage", "cannot be read"),
        ("model.dwg", b"AC1027", "unsupported model format"),
    ],
)
def test_bad_files_name_the_file_and_write_nothing(tmp_path: Path, name: str, content: bytes,
                                                   message: str) -> None:
    src = tmp_path / name
    src.write_bytes(content)
    with pytest.raises(SwbError, match=message) as err:
        import_model(src, tmp_path / "out.usda")
    assert str(src) in str(err.value)
    assert _listing(tmp_path) == {name}


def test_a_part_without_triangles_is_named(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), node_name="housing")
    scene.add_geometry(trimesh.PointCloud(np.random.default_rng(0).random((10, 3))), node_name="scan points",
                       geom_name="cloud")
    src = tmp_path / "cell.ply"
    src.write_bytes(trimesh.PointCloud(np.zeros((4, 3))).export(file_type="ply"))
    with pytest.raises(SwbError, match="not a triangle mesh") as err:
        import_model(src, tmp_path / "out.usda")
    assert "cell.ply" in str(err.value)
    glb = tmp_path / "cell.glb"
    glb.write_bytes(scene.export(file_type="glb"))
    with pytest.raises(SwbError) as err:
        import_model(glb, tmp_path / "out.usda")
    assert "scan points" in str(err.value) or "cloud" in str(err.value)
    assert _listing(tmp_path) == {"cell.ply", "cell.glb"}


def test_failed_write_leaves_nothing_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import swb.stage.layers as layers

    real = layers.os.replace

    def replace(src: str, dst: str | Path) -> None:
        if str(dst).endswith("station.usda"):  # the root, renamed last
            raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr(layers.os, "replace", replace)
    with pytest.raises(SwbError, match="disk full"):
        import_model(STEP, tmp_path / "station.usda")
    assert _listing(tmp_path) == set()


def test_existing_output_needs_overwrite_and_stl_units(tmp_path: Path) -> None:
    src = tmp_path / "bracket.stl"
    src.write_bytes(trimesh.creation.box([100.0, 50.0, 10.0]).export(file_type="stl"))
    out = tmp_path / "bracket.usda"
    result = import_model(src, out, source_units="mm")
    with pytest.raises(SwbError, match="already exists"):
        import_model(src, out)
    import_model(src, out, source_units="mm", overwrite=True)
    stage = Usd.Stage.Open(str(result.root_layer))
    box = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default"]).ComputeWorldBound(
        stage.GetPrimAtPath("/World")).ComputeAlignedRange()
    np.testing.assert_allclose(box.GetSize(), [0.1, 0.05, 0.01], rtol=1e-6)
    with pytest.raises(SwbError, match="not a part of the model"):
        hints = tmp_path / "j.json"
        hints.write_text(json.dumps({"joints": [{"type": "fixed", "child": "nope"}]}))
        import_model(src, tmp_path / "again.usda", joints=hints)
    assert not (tmp_path / "again.usda").exists()


def test_cli_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="swb")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers = add_import_commands(sub)
    out = tmp_path / "station.usda"
    sensors = tmp_path / "sensors.usda"
    runs = [
        ["import", str(STEP), "-o", str(out), "--meters-per-unit", "0.01"],
        ["add-camera", str(out), "-o", str(sensors), "--path", "/World/Cameras/A", "--position", "0", "-50", "80",
         "--look-at", "0", "0", "0", "--resolution", "1280", "1024", "--decoder-profile", "robust"],
        ["add-target", str(out), "-o", str(sensors), "--path", "/World/Targets/Q", "--position", "0", "0", "1.05",
         "--normal", "0", "0", "1", "--symbology", "qrcode", "--module-size-mm", "0.5", "--modules", "25", "25"],
    ]
    for argv in runs:
        args = parser.parse_args([*argv, "--device", "cpu"])  # every command takes --device
        assert handlers[args.command](args) == 0
    captured = capsys.readouterr()
    assert str(out) in captured.out
    # import says where the model is; add-camera says which optics it assumed
    bounds = next(ln for ln in captured.err.splitlines() if "model bounds" in ln)
    assert "stage units of 0.01 m, Z up" in bounds and " m;" in bounds
    assert "f/5.6" in captured.err and "exposure 0.5 ms" in captured.err
    _, scene = load_stage(sensors)
    assert scene.meters_per_unit == pytest.approx(0.01)
    assert scene.cameras[0].decoder_profile == "robust"
    # the default camera is a real one: an aperture (defocus) and an exposure time (motion blur)
    assert scene.cameras[0].f_number == pytest.approx(5.6) and scene.cameras[0].exposure == pytest.approx(5e-4)
    np.testing.assert_allclose(scene.cameras[0].position, [0, -0.5, 0.8], atol=1e-9)
    assert scene.targets[0].module_size == pytest.approx(0.5e-3, rel=1e-6)


@pytest.mark.parametrize(("mpu", "up"), [(0.001, "Z"), (1.0, "Y"), (0.01, "Y")])
def test_stage_units_and_up_axis_do_not_move_the_station(tmp_path: Path, mpu: float, up: str) -> None:
    """The same STEP station on a metre Z-up stage and on mm / cm / Y-up stages loads to the same world."""
    worlds = []
    for folder, m, axis in (("ref", 1.0, "Z"), ("other", mpu, up)):
        result = import_model(STEP, tmp_path / folder / "station.usda", meters_per_unit=m, up_axis=axis)
        assert result.plan.up_rotation_deg == (0.0 if axis == "Z" else -90.0)
        sensors = tmp_path / folder / "sensors.usda"
        add_camera(result.root_layer, sensors, "/World/Cameras/A", (0, 0, 1 / m), (0, 0, 0))
        add_target(result.root_layer, sensors, "/World/Targets/T", (0, 0, 0.5 / m), (0, 0, 1), "qrcode", 0.5,
                   (21, 21))
        _, scene = load_stage(sensors)
        assert scene.up_axis == axis and scene.meters_per_unit == pytest.approx(m)
        worlds.append(np.concatenate([p.world_points() for p in sorted(scene.parts, key=lambda p: p.path)]))
    np.testing.assert_allclose(worlds[1], worlds[0], atol=1e-6)


def test_authoring_labels_existing_parts_and_refuses_bad_input(tmp_path: Path) -> None:
    result = import_model(STEP, tmp_path / "station.usda")
    layer = tmp_path / "labels.usda"
    plate = "/World/station_mm/station/base_plate"
    add_target(result.root_layer, layer, plate, None, None, "datamatrix", 0.4, (18, 18))
    stage = Usd.Stage.Open(str(layer))
    prim = stage.GetPrimAtPath(plate)
    assert prim.HasAPI("SwbBarcodeAPI") and prim.IsA(UsdGeom.Mesh)
    assert prim.GetAttribute("xformOpOrder").GetPropertyStack()[0].layer.identifier.endswith("transforms.usda")
    before = layer.read_bytes()
    bad = [
        lambda: add_target(result.root_layer, layer, "/World/T", (0, 0, 1), (0, 0, 1), "code999", 0.3, (90, 1)),
        lambda: add_target(result.root_layer, layer, "/World/T", (0, 0, 1), (0, 0, 0), "code128", 0.3, (90, 1)),
        lambda: add_target(result.root_layer, layer, "/World/Nowhere", None, None, "code128", 0.3, (90, 1)),
        lambda: add_camera(result.root_layer, layer, "/World/C", (0, 0, 1), (0, 0, 1)),
        lambda: add_camera(result.root_layer, layer, "/World/C", (0, 0, 1), (0, 0, 0), resolution=(0, 10)),
        lambda: add_camera(result.root_layer, layer, plate, (0, 0, 1), (0, 0, 0)),
        lambda: add_camera(tmp_path / "missing.usda", layer, "/World/C", (0, 0, 1), (0, 0, 0)),
    ]
    for call in bad:
        with pytest.raises(SwbError):
            call()
    assert layer.read_bytes() == before  # a refused edit writes nothing
    assert Usd.Stage.Open(str(layer)).GetPrimAtPath("/World/C").IsValid() is False
