"""The stage loader: units/axes invariance, instancing, referenced units, shapes, and every bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from stage_builders import (
    CAMERA_POSE,
    L_POINTS,
    STATION_PARTS,
    STATION_SENSOR_CAMERAS,
    STATION_TARGETS,
    Author,
    build_station,
    pose,
)

import swb.stage.schema as S

S.register()

from pxr import Gf, Sdf, Usd, UsdGeom, Vt  # noqa: E402

from swb.errors import SwbError, SwbWarning  # noqa: E402
from swb.stage.geometry import read_shape, triangulate  # noqa: E402
from swb.stage.load import (  # noqa: E402
    LoadContext,
    load_scene_from_stage,
    load_stage,
    read_camera,
    read_parts,
    read_subtree,
    read_target,
)
from swb.stage.units import stage_to_world  # noqa: E402

VARIANTS = [(1.0, "Z"), (0.01, "Y"), (0.001, "Z"), (1.0, "Y"), (0.0254, "Y")]


@pytest.fixture(scope="module")
def stations(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stations")
    return {v: load_stage(build_station(folder / f"s_{v[0]}_{v[1]}.usda", *v))[1] for v in VARIANTS}


@pytest.fixture(scope="module")
def station_file(tmp_path_factory):
    return build_station(tmp_path_factory.mktemp("station") / "station.usda", 0.01, "Y")


def open_session(path: Path) -> Usd.Stage:
    """A fresh stage whose edits go to its own session layer (the shared root layer stays untouched)."""
    stage = Usd.Stage.Open(str(path))
    stage.SetEditTarget(stage.GetSessionLayer())
    return stage


# --------------------------------------------------------------------------------------------- units


def test_stage_to_world_matrix():
    m = stage_to_world(0.01, "Y")
    assert np.allclose(m @ [0, 100, 0, 1], [0, 0, 1, 1])  # +Y up becomes +Z
    assert np.allclose(m @ [0, 0, 100, 1], [0, -1, 0, 1])
    assert np.allclose(stage_to_world(2.0, "Z"), np.diag([2.0, 2.0, 2.0, 1.0]))


def test_unauthored_units_are_centimetres_y_up():
    stage = Usd.Stage.CreateInMemory()
    ctx = LoadContext.for_stage(stage)
    assert ctx.meters_per_unit == 0.01
    assert ctx.up_axis == UsdGeom.GetFallbackUpAxis()


@pytest.mark.parametrize("variant", VARIANTS[1:])
def test_units_and_axes_do_not_change_the_scene(stations, variant):
    ref, other = stations[VARIANTS[0]], stations[variant]
    assert other.meters_per_unit == variant[0] and other.up_axis == variant[1]
    assert [c.path for c in other.cameras] == [c.path for c in ref.cameras]
    for a, b in zip(ref.cameras, other.cameras, strict=True):
        for name in ("rotation", "position"):
            assert np.allclose(getattr(a, name), getattr(b, name), atol=1e-9), name
        for name in ("focal_length", "aperture", "aperture_offset", "focus_distance", "focus_range", "clipping",
                     "exposure", "fx", "fy", "cx", "cy", "pixel_pitch", "f_number", "wavelength"):
            assert np.allclose(getattr(a, name), getattr(b, name), rtol=1e-6, atol=0), name
    assert [t.path for t in other.targets] == [t.path for t in ref.targets]
    for a, b in zip(ref.targets, other.targets, strict=True):
        for name in ("rotation", "position", "velocity"):
            assert np.allclose(getattr(a, name), getattr(b, name), atol=1e-6), name
        assert math.isclose(a.module_size, b.module_size, rel_tol=1e-6)
        assert (a.symbology, a.modules) == (b.symbology, b.modules)
        assert np.allclose(a.size, b.size, rtol=1e-6)
    parts_a = {p.path: p for p in ref.parts}
    parts_b = {p.path: p for p in other.parts}
    assert parts_a.keys() == parts_b.keys()
    for path, a in parts_a.items():
        b = parts_b[path]
        assert np.array_equal(a.triangles, b.triangles), path
        assert np.allclose(a.world_points(), b.world_points(), atol=1e-6), path


# ----------------------------------------------------------------------------- content of a station


def test_station_content(stations):
    scene = stations[(0.01, "Y")]
    assert [c.path for c in scene.cameras] == STATION_SENSOR_CAMERAS  # the viewer camera is skipped
    assert [t.path for t in scene.targets] == STATION_TARGETS  # the masked parcel has no label
    assert sorted(p.path for p in scene.parts) == STATION_PARTS  # hidden, guide and prototypes skipped
    assert scene.source.endswith(".usda")


def test_instances_share_geometry(stations):
    parts = {p.path: p for p in stations[(1.0, "Z")].parts}
    a, b = parts["/World/Crate0/Ball"], parts["/World/Crate1/Ball"]
    assert a.points is b.points and a.triangles is b.triangles
    assert not a.points.flags.writeable
    assert not np.allclose(a.to_world, b.to_world)
    centre = b.world_points().mean(axis=0)
    assert np.allclose(centre, [-1.5, 1.0, 0.1], atol=1e-6)


def test_point_instancer_poses(stations):
    scene = stations[(0.01, "Y")]
    parts = {p.path: p for p in scene.parts}
    box = parts["/World/Parcels/instance_0/Box"].world_points()
    assert np.allclose(box.min(axis=0), [0.2, 0.4, 0.0], atol=1e-6)
    assert np.allclose(box.max(axis=0), [0.4, 0.6, 0.2], atol=1e-6)
    body = parts["/World/Parcels/instance_1/Parcel/Body"].world_points()
    assert np.allclose(body.mean(axis=0), [0.8, 0.5, 0.15], atol=1e-6)
    label = scene.targets[scene.target_index("/World/Parcels/instance_1/Parcel/Label")]
    assert np.allclose(label.position, [0.8, 0.5, 0.301], atol=1e-6)
    c, s = math.cos(math.radians(45)), math.sin(math.radians(45))
    assert np.allclose(label.rotation, [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-3)  # half-precision quat
    assert label.symbology == "datamatrix" and math.isclose(label.module_size, 0.0008, rel_tol=1e-6)


def test_camera_intrinsics_and_pose(stations):
    cam = stations[(0.01, "Y")].cameras[0]
    assert math.isclose(cam.focal_length, 0.016, rel_tol=1e-6)
    assert np.allclose(cam.aperture, (0.0113, 0.0071), rtol=1e-6)
    assert math.isclose(cam.fx, 0.016 / 0.0113 * 1920, rel_tol=1e-6)
    assert math.isclose(cam.fy, 0.016 / 0.0071 * 1200, rel_tol=1e-6)
    assert math.isclose(cam.cx, 960 - 0.1 / 11.3 * 1920, rel_tol=1e-6)
    assert math.isclose(cam.cy, 600 - 0.2 / 7.1 * 1200, rel_tol=1e-6)
    assert (cam.width, cam.height, cam.f_number, cam.focus_mode) == (1920, 1200, 4.0, "fixed")
    assert math.isclose(cam.focus_distance, 2.0, rel_tol=1e-6)
    assert np.allclose(cam.focus_range, (0.3, 5.0), rtol=1e-6)
    assert np.allclose(cam.clipping, (0.05, 50.0), rtol=1e-6)
    assert math.isclose(cam.exposure, 0.001, rel_tol=1e-6)
    assert cam.decoder_profile == "industrial" and cam.max_tilt_deg == 60.0
    assert math.isclose(cam.wavelength, 625e-9, rel_tol=1e-6)
    assert np.allclose(cam.rotation, CAMERA_POSE[:3, :3], atol=1e-9)
    assert np.allclose(cam.position, CAMERA_POSE[:3, 3], atol=1e-9)
    assert np.allclose(cam.rotation.T @ cam.rotation, np.eye(3), atol=1e-12)


def test_target_values(stations):
    scene = stations[(0.0254, "Y")]
    t = scene.targets[scene.target_index("/World/Label128")]
    assert (t.symbology, t.modules) == ("code128", (68, 1))
    assert math.isclose(t.module_size, 0.0005, rel_tol=1e-6)
    assert math.isclose(t.bar_height, 0.015, rel_tol=1e-6)
    assert t.quiet_zone is None and t.quiet_zone_modules == 10.0
    assert np.allclose(t.velocity, [0.5, 0.0, 0.0], atol=1e-7)
    assert np.allclose(t.normal, [0.0, -1.0, 0.0], atol=1e-9)  # faces the camera
    assert np.allclose(t.position, [0.1, 0.0, 1.0], atol=1e-9)


def test_concave_ngon_is_ear_clipped(stations):
    shape = {p.path: p for p in stations[(1.0, "Z")].parts}["/World/Shape"]
    assert len(shape.triangles) == 6
    pts = np.asarray(shape.points, dtype=np.float64)
    tri = pts[shape.triangles]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    areas = 0.5 * np.linalg.norm(normals, axis=1)
    assert math.isclose(areas.sum(), 0.4 * 0.1 + 0.1 * 0.2 + 0.2 * 0.2, rel_tol=1e-5)
    # All triangles wind like the polygons (the points lie in local XZ, authored counter-clockwise
    # seen from -Y): a fan from the first corner would produce a flipped, overlapping triangle.
    assert np.all(normals[:, 1] < 0.0)
    assert len(L_POINTS) == 10


# ------------------------------------------------------------------------------------ triangulation


def test_triangulate_holes_and_left_handed():
    pts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0]], dtype=np.float32)
    counts, indices = [4, 4], [0, 1, 2, 3, 1, 4, 5, 2]
    tris = triangulate(np.array(counts), np.array(indices), pts)
    assert tris.shape == (4, 3) and tris.dtype == np.int32
    holed = triangulate(np.array(counts), np.array(indices), pts, holes=np.array([1]))
    assert holed.tolist() == [[0, 1, 2], [0, 2, 3]]
    left = triangulate(np.array(counts), np.array(indices), pts, holes=np.array([1]), left_handed=True)
    assert left.tolist() == [[0, 2, 1], [0, 3, 2]]


def test_triangulate_concave_quad_with_reflex_corner_off_the_fan():
    # Dart (tip (0, 0), notch (0.5, 0)) listed from a wing, so the reflex notch is corner 1 and the
    # fan diagonal 0-2 would leave the polygon.
    pts = np.array([[0, 0, 0], [2, 1, 0], [0.5, 0, 0], [2, -1, 0]], dtype=np.float32)
    tris = triangulate(np.array([4]), np.array([3, 2, 1, 0]), pts)
    tri = pts[tris].astype(np.float64)
    z = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]
    assert np.all(z > 0.0)
    assert math.isclose(0.5 * z.sum(), 0.5, rel_tol=1e-6)


# ------------------------------------------------------------------------------------------- shapes


def _closed_volume(points: np.ndarray, tris: np.ndarray) -> float:
    p = points.astype(np.float64)[tris]
    return float(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0)


@pytest.mark.parametrize(
    ("type_name", "attrs", "extent", "volume"),
    [
        ("Cube", {"size": 2.0}, (2, 2, 2), 8.0),
        ("Sphere", {"radius": 1.5}, (3, 3, 3), 4 / 3 * math.pi * 1.5**3),
        ("Cylinder", {"radius": 0.5, "height": 2.0, "axis": "X"}, (2, 1, 1), math.pi * 0.25 * 2),
        ("Cone", {"radius": 0.5, "height": 3.0, "axis": "Y"}, (1, 3, 1), math.pi * 0.25 * 3 / 3),
        ("Capsule", {"radius": 0.5, "height": 1.0, "axis": "Z"}, (1, 1, 2),
         math.pi * 0.25 + 4 / 3 * math.pi * 0.125),
        ("Cylinder_1", {"radiusBottom": 0.5, "radiusTop": 0.0, "height": 3.0, "axis": "Z"}, (1, 1, 3),
         math.pi * 0.25),
    ],
)
def test_implicit_shapes(type_name, attrs, extent, volume):
    stage = Usd.Stage.CreateInMemory()
    prim = stage.DefinePrim("/S", type_name)
    for name, value in attrs.items():
        prim.GetAttribute(name).Set(value)
    ctx = LoadContext.for_stage(stage)
    pts, tris = read_shape(prim, ctx)
    assert pts.dtype == np.float32 and tris.dtype == np.int32
    assert np.allclose(pts.max(axis=0) - pts.min(axis=0), extent, rtol=0.02)
    assert np.allclose(pts.max(axis=0) + pts.min(axis=0), 0.0, atol=1e-6)  # centred on the origin
    assert _closed_volume(pts, tris) == pytest.approx(volume, rel=0.06)  # outward winding, modest tessellation


def test_plane_shape():
    stage = Usd.Stage.CreateInMemory()
    plane = UsdGeom.Plane.Define(stage, "/P")
    plane.CreateWidthAttr(2.0)
    plane.CreateLengthAttr(4.0)
    plane.CreateAxisAttr("X")
    pts, tris = read_shape(plane.GetPrim(), LoadContext.for_stage(stage))
    assert np.allclose(pts.max(axis=0) - pts.min(axis=0), (0, 4, 2))  # width along Z, length along Y
    tri = pts[tris]
    assert np.all(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 0] > 0)  # normal +X


def test_non_occluding_gprims_are_ignored():
    stage = Usd.Stage.CreateInMemory()
    curves = UsdGeom.BasisCurves.Define(stage, "/C")
    assert read_shape(curves.GetPrim(), LoadContext.for_stage(stage)) is None
    assert read_parts(curves.GetPrim(), LoadContext.for_stage(stage)) == []


# ---------------------------------------------------------------------- per-prim readers (updates)


def test_per_prim_readers_match_the_full_load(station_file, stations):
    stage = Usd.Stage.Open(str(station_file))
    ctx = LoadContext.for_stage(stage)
    scene = stations[(0.01, "Y")]
    cam = read_camera(stage.GetPrimAtPath("/World/Cam"), ctx)
    assert np.allclose(cam.position, scene.cameras[0].position) and cam.fx == scene.cameras[0].fx
    tgt = read_target(stage.GetPrimAtPath("/World/LabelQR"), ctx)
    assert np.allclose(tgt.rotation, scene.targets[1].rotation)
    assert read_parts(stage.GetPrimAtPath("/World/Hidden"), ctx) == []
    assert read_parts(stage.GetPrimAtPath("/World/Guide"), ctx) == []
    assert read_parts(stage.GetPrimAtPath("/World/Label128"), ctx) == []
    assert [p.path for p in read_parts(stage.GetPrimAtPath("/World/Parcels"), ctx)] == [
        "/World/Parcels/instance_0/Box", "/World/Parcels/instance_1/Parcel/Body"]
    proxy = stage.GetPrimAtPath("/World/Crate1/Post")
    assert proxy.IsInstanceProxy()
    (post,) = read_parts(proxy, ctx)
    assert np.allclose(post.world_points().mean(axis=0), [-1.5 + 0.2 * math.cos(math.radians(30)),
                                                        1.0 + 0.2 * math.sin(math.radians(30)), 0.2])
    sub = read_subtree(stage.GetPrimAtPath("/World/Crate0"), ctx)
    assert sorted(p.path for p in sub.parts) == ["/World/Crate0/Ball", "/World/Crate0/Post"]
    assert not sub.cameras and not sub.targets


def test_reset_xform_stack_and_invisible_parents(tmp_path):
    stage = Usd.Stage.CreateNew(str(tmp_path / "r.usda"))
    a = Author(stage, 1.0, "Z")
    rig = UsdGeom.Xform.Define(stage, "/Rig")
    rig.AddTranslateOp().Set(Gf.Vec3d(5, 0, 0))
    UsdGeom.Imageable(rig).CreateVisibilityAttr("invisible")
    cam = a.camera("/Rig/Cam", pose(None, (0.0, 0.0, 2.0)))
    UsdGeom.Xformable(cam).SetResetXformStack(True)
    a.barcode("/Rig/HiddenLabel", symbology="qrcode", module_m=0.001, modules=(21, 21))
    a.cube("/Rig/HiddenBox", 1.0)
    a.barcode("/Label", symbology="qrcode", module_m=0.001, modules=(21, 21), world=pose(None, (0, 0, 0)))
    scene = load_scene_from_stage(stage, "r.usda")
    assert np.allclose(scene.cameras[0].position, [0.0, 0.0, 2.0])  # parent ignored, camera kept
    assert [t.path for t in scene.targets] == ["/Label"]  # invisible target skipped
    assert scene.parts == []


# ------------------------------------------------------------------------ referenced assets, units


def _write_mm_asset(path: Path) -> None:
    stage = Usd.Stage.CreateNew(str(path))
    a = Author(stage, 0.001, "Z")
    root = UsdGeom.Xform.Define(stage, "/Asset").GetPrim()
    stage.SetDefaultPrim(root)
    a.cube("/Asset/Box", 0.1, local=pose(None, (0.0, 0.0, 0.5)))  # authored as size 100, z 500
    a.barcode("/Asset/Label", symbology="code39", module_m=0.0005, modules=(80, 1),
              local=pose(None, (0.0, 0.0, 0.6)))
    stage.GetRootLayer().Save()


def test_referenced_asset_in_other_units_is_rescaled(tmp_path):
    _write_mm_asset(tmp_path / "asset.usda")
    stage = Usd.Stage.CreateNew(str(tmp_path / "main.usda"))
    a = Author(stage, 1.0, "Z")
    a.camera("/World/Cam", CAMERA_POSE)

    def ref(path: str, x: float, instanceable: bool = False) -> Usd.Prim:
        prim = stage.DefinePrim(path, "Xform")
        prim.GetReferences().AddReference("./asset.usda")
        prim.SetInstanceable(instanceable)
        UsdGeom.Xformable(prim).AddTranslateOp().Set(Gf.Vec3d(x, 0, 0))
        return prim

    ref("/World/A", 1.0)
    ref("/World/B", 2.0, instanceable=True)
    chained = stage.DefinePrim("/World/C", "Xform")  # internal reference to a prim that references mm
    chained.GetReferences().AddInternalReference("/World/A")
    chained.CreateAttribute("xformOp:translate", Sdf.ValueTypeNames.Double3).Set(Gf.Vec3d(3, 0, 0))
    resolved = ref("/World/D", 4.0)  # already compensated by hand, the Omniverse way
    UsdGeom.Xformable(resolved).AddScaleOp(opSuffix="unitsResolve").Set(Gf.Vec3f(0.001))
    pi = UsdGeom.PointInstancer.Define(stage, "/World/PI")
    proto = ref("/World/PI/Protos/Asset", 0.0)
    pi.CreatePrototypesRel().SetTargets([proto.GetPath()])
    pi.CreateProtoIndicesAttr(Vt.IntArray([0, 0]))
    pi.CreatePositionsAttr(Vt.Vec3fArray([Gf.Vec3f(5, 0, 0), Gf.Vec3f(6, 0, 0)]))
    stage.GetRootLayer().Save()

    scene = load_scene_from_stage(stage, "main.usda")
    parts = {p.path: p for p in scene.parts}
    expected = {"/World/A/Box": 1, "/World/B/Box": 2, "/World/C/Box": 3, "/World/D/Box": 4,
                "/World/PI/instance_0/Asset/Box": 5, "/World/PI/instance_1/Asset/Box": 6}
    assert sorted(parts) == sorted(expected)
    for path, x in expected.items():
        pts = parts[path].world_points()
        assert np.allclose(pts.mean(axis=0), [x, 0.0, 0.5], atol=1e-6), path
        assert np.allclose(pts.max(axis=0) - pts.min(axis=0), 0.1, atol=1e-6), path
    targets = {t.path: t for t in scene.targets}
    assert len(targets) == 6
    for path, x in expected.items():
        label = targets[path.replace("/Box", "/Label")]
        assert np.allclose(label.position, [x, 0.0, 0.6], atol=1e-6), path
        assert math.isclose(label.module_size, 0.0005, rel_tol=1e-6), path
        assert np.allclose(label.rotation, np.eye(3), atol=1e-9), path  # scale ignored, rotation clean


# ------------------------------------------------------------------------------------- bad inputs


def _set(stage: Usd.Stage, path: str, attr: str, value, type_name=None) -> None:
    prim = stage.GetPrimAtPath(path)
    a = prim.GetAttribute(attr)
    if not a:
        a = prim.CreateAttribute(attr, type_name)
    a.Set(value)


NAN = float("nan")
BAD_INPUTS = [
    ("/World/Label128", S.BARCODE_SYMBOLOGY, "code93", "symbology"),
    ("/World/Cam", S.SENSOR_DECODER_PROFILE, "fast", "decoder profile"),
    ("/World/Cam", S.SENSOR_FOCUS_MODE, "manual", "focus mode"),
    ("/World/LabelQR", S.BARCODE_MODULE_SIZE, 0.0, "moduleSize"),
    ("/World/LabelQR", S.BARCODE_MODULE_SIZE, -1.0, "moduleSize"),
    ("/World/LabelQR", S.BARCODE_MODULES, Gf.Vec2i(0, 21), "modules"),
    ("/World/Label128", S.BARCODE_PRINT_CONTRAST, 1.5, "printContrast"),
    ("/World/Label128", S.BARCODE_BAR_HEIGHT, -1.0, "barHeight"),
    ("/World/Label128", S.BARCODE_VELOCITY, Gf.Vec3f(NAN, 0, 0), "velocity"),
    ("/World/Cam", S.SENSOR_RESOLUTION, Gf.Vec2i(0, 1200), "resolution"),
    ("/World/Cam", S.SENSOR_FOCUS_RANGE, Gf.Vec2f(50, 10), "focusRange"),
    ("/World/Cam", S.SENSOR_MAX_TILT, 0.0, "maxTilt"),
    ("/World/Cam", S.SENSOR_WAVELENGTH, -1.0, "wavelength"),
    ("/World/Cam", "exposure:time", -0.01, "exposure"),
    ("/World/Cam", "focalLength", 0.0, "focalLength"),
    ("/World/Cam", "focalLength", NAN, "focalLength"),
    ("/World/Cam", "horizontalAperture", -1.0, "horizontalAperture"),
    ("/World/Cam", "verticalAperture", 0.0, "verticalAperture"),
    ("/World/Cam", "fStop", -1.0, "fStop"),
    ("/World/Cam", "focusDistance", 0.1, "inside the focal length"),  # 1 mm on a cm stage
    ("/World/Cam", "clippingRange", Gf.Vec2f(0, 10), "clippingRange"),
    ("/World/Cam", "projection", "orthographic", "perspective"),
    ("/World/Wall", "size", 0.0, "size"),
    ("/World/Wall", "size", NAN, "size"),
    ("/World/Shape", "faceVertexIndices", Vt.IntArray([0, 1, 2, 3, 4, 99, 6, 7, 8, 9]), "outside"),
    ("/World/Shape", "faceVertexCounts", Vt.IntArray([6, 5]), "faceVertexCounts"),
    ("/World/Shape", "points", Vt.Vec3fArray(), "no points"),
    ("/World/Shape", "faceVertexCounts", Vt.IntArray(), "no faces"),
    ("/World/Shape", "points", Vt.Vec3fArray([Gf.Vec3f(NAN, 0, 0)] + [Gf.Vec3f(0)] * 9), "not finite"),
]


@pytest.mark.parametrize(("prim", "attr", "value", "words"), BAD_INPUTS, ids=[f"{b[1]}={b[2]}" for b in BAD_INPUTS])
def test_bad_input_names_prim_and_attribute(station_file, prim, attr, value, words):
    stage = open_session(station_file)
    _set(stage, prim, attr, value)
    with pytest.raises(SwbError) as err:
        load_scene_from_stage(stage, str(station_file))
    e = err.value
    assert (e.file, e.prim) == (str(station_file), prim)
    assert attr in e.attribute
    text = str(e)
    assert words in text and prim in text and attr in text and "\n" not in text


@pytest.mark.parametrize(
    ("prim", "op", "value", "words"),
    [
        ("/World/Cam", "xformOp:scale", Gf.Vec3f(1, 2, 1), "non-uniform"),
        ("/World/Cam", "xformOp:scale", Gf.Vec3f(-1, 1, 1), "mirrors"),
        ("/World/Cam", "xformOp:translate", Gf.Vec3d(NAN, 0, 0), "not finite"),
        ("/World/LabelQR", "xformOp:scale", Gf.Vec3f(1, 0, 1), "singular"),
        ("/World/Wall", "xformOp:scale", Gf.Vec3f(0, 1, 1), "singular"),
    ],
)
def test_bad_transforms(station_file, prim, op, value, words):
    stage = open_session(station_file)
    xf = UsdGeom.Xformable(stage.GetPrimAtPath(prim))
    new = xf.AddScaleOp() if "scale" in op else xf.AddTranslateOp()
    new.Set(value)
    with pytest.raises(SwbError, match=words) as err:
        load_scene_from_stage(stage, str(station_file))
    assert err.value.prim == prim and op in err.value.attribute


def test_bad_parent_transform_names_the_parent(station_file):
    stage = open_session(station_file)
    UsdGeom.Xformable(stage.GetPrimAtPath("/World")).AddScaleOp().Set(Gf.Vec3f(1, 1, 0))
    with pytest.raises(SwbError, match="singular") as err:
        load_scene_from_stage(stage, str(station_file))
    assert err.value.prim == "/World" and "xformOp:scale" in err.value.attribute


def test_api_on_wrong_prim_type(station_file):
    stage = open_session(station_file)
    stage.GetPrimAtPath("/World/Wall").AddAppliedSchema(S.SENSOR_API)
    with pytest.raises(SwbError, match="SwbSensorAPI") as err:
        load_scene_from_stage(stage)
    assert err.value.prim == "/World/Wall"


def test_no_sensor_camera(station_file):
    stage = open_session(station_file)
    stage.GetPrimAtPath("/World/Cam").RemoveAPI(S.SENSOR_API)
    with pytest.raises(SwbError, match="no sensor camera") as err, pytest.warns(SwbWarning, match="/World/Cam"):
        load_scene_from_stage(stage, "x.usda")  # its swb:sensor attributes are left: a warning says so
    assert "SwbSensorAPI" in str(err.value) and err.value.file == "x.usda"


def test_no_targets():
    stage = Usd.Stage.CreateInMemory()
    Author(stage, 1.0, "Z").camera("/Cam", CAMERA_POSE)
    with pytest.raises(SwbError, match="no barcode target") as err:
        load_scene_from_stage(stage, "x.usda")
    assert "SwbBarcodeAPI" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(SwbError, match="file not found") as err:
        load_stage(tmp_path / "nope.usda")
    assert err.value.file.endswith("nope.usda")


def test_unparsable_file_gives_one_line(tmp_path):
    path = tmp_path / "bad.usda"
    path.write_text('#usda 1.0\ndef Xform "W" { def "A" }\n')
    with pytest.raises(SwbError, match="cannot open the stage") as err:
        load_stage(path)
    assert "\n" not in str(err.value) and "bad.usda" in str(err.value)


def test_broken_reference_is_an_error(tmp_path):
    stage = Usd.Stage.CreateNew(str(tmp_path / "m.usda"))
    stage.DefinePrim("/W", "Xform").GetReferences().AddReference("./missing.usda")
    stage.GetRootLayer().Save()
    with pytest.raises(SwbError, match="missing.usda") as err:
        load_stage(tmp_path / "m.usda")
    assert err.value.prim == "/W" and "\n" not in str(err.value)


def test_plain_cameras_without_api_are_viewer_cameras(station_file):
    stage = open_session(station_file)
    scene = load_scene_from_stage(stage)
    assert "/World/ViewerCam" not in [c.path for c in scene.cameras]
    assert Sdf.Path("/World/ViewerCam") in [p.GetPath() for p in stage.Traverse()]


# ----------------------------------------------------------------------------- exposure and focus


def _one_camera_stage(**camera_kwargs) -> tuple[Usd.Stage, Usd.Prim]:
    stage = Usd.Stage.CreateInMemory()
    a = Author(stage, 0.01, "Z")
    cam = a.camera("/Cam", CAMERA_POSE, **camera_kwargs)
    a.barcode("/Label", symbology="qrcode", module_m=0.001, modules=(21, 21), world=pose(None, (0, 0, 0)))
    return stage, cam


def test_exposure_falls_back_to_the_shutter_interval():
    stage, cam = _one_camera_stage(exposure_s=None)
    assert load_scene_from_stage(stage).cameras[0].exposure == 0.0  # nothing authored: instantaneous
    stage.SetTimeCodesPerSecond(24.0)
    UsdGeom.Camera(cam).CreateShutterCloseAttr(0.5)
    assert load_scene_from_stage(stage).cameras[0].exposure == pytest.approx(0.5 / 24.0)
    UsdGeom.Camera(cam).CreateExposureTimeAttr(0.002)  # exposure:time wins when authored
    assert load_scene_from_stage(stage).cameras[0].exposure == pytest.approx(0.002)


def test_autofocus_and_pinhole_need_no_focus_distance():
    stage, cam = _one_camera_stage(focus_m=0.0)
    with pytest.raises(SwbError, match="inside the focal length"):
        load_scene_from_stage(stage)
    cam.GetAttribute(S.SENSOR_FOCUS_MODE).Set("autofocus")
    cam.GetAttribute(S.SENSOR_FOCUS_RANGE).Set(Gf.Vec2f(0, 0))
    c = load_scene_from_stage(stage).cameras[0]
    assert c.focus_mode == "autofocus" and c.focus_range == (0.0, math.inf)
    cam.GetAttribute(S.SENSOR_FOCUS_MODE).Set("fixed")
    cam.GetAttribute("fStop").Set(0.0)
    assert load_scene_from_stage(stage).cameras[0].f_number == 0.0  # pinhole: focus does not matter


def test_quiet_zone_and_content():
    stage, _ = _one_camera_stage()
    label = stage.GetPrimAtPath("/Label")
    label.GetAttribute(S.BARCODE_QUIET_ZONE).Set(2.0)
    label.GetAttribute(S.BARCODE_CONTENT).Set("HELLO")
    t = load_scene_from_stage(stage).targets[0]
    assert t.quiet_zone == 2.0 and t.content == "HELLO" and t.bar_height is None


def test_instance_paths_are_valid_sdf_paths(stations):
    from swb.stage.geometry import split_instance_path

    path = "/World/Parcels/instance_1/Parcel/Label"
    assert path in [t.path for t in stations[(1.0, "Z")].targets]
    assert Sdf.Path(path).HasPrefix(Sdf.Path("/World/Parcels"))
    assert split_instance_path(path) == ("/World/Parcels", 1, "Parcel/Label")
    assert split_instance_path("/World/Label128") is None


def test_prototypes_outside_the_instancer_are_not_read_in_place():
    stage, _ = _one_camera_stage()
    a = Author(stage, 0.01, "Z")
    a.cube("/Library/Box", 0.2, world=pose(None, (9.0, 9.0, 9.0)))  # a defined, visible prototype source
    hidden_src = a.cube("/Library/Hidden", 0.2)
    UsdGeom.Imageable(hidden_src).CreateVisibilityAttr("invisible")  # hiding the source is common
    pi = UsdGeom.PointInstancer.Define(stage, "/PI")
    pi.CreatePrototypesRel().SetTargets([Sdf.Path("/Library/Box"), Sdf.Path("/Library/Hidden")])
    pi.CreateProtoIndicesAttr(Vt.IntArray([0, 1]))
    pi.CreatePositionsAttr(Vt.Vec3fArray([Gf.Vec3f(0, 0, 0), Gf.Vec3f(100, 0, 0)]))
    scene = load_scene_from_stage(stage)
    assert sorted(p.path for p in scene.parts) == ["/PI/instance_0/Box", "/PI/instance_1/Hidden"]
    box = {p.path: p for p in scene.parts}["/PI/instance_0/Box"].world_points()
    assert np.allclose(box.mean(axis=0), [9.0, 9.0, 9.0], atol=1e-6)  # prototype root xform included


def test_time_sampled_attributes_are_read_at_the_first_frame():
    stage, cam = _one_camera_stage()
    focal = cam.GetAttribute("focalLength")
    focal.Clear()
    focal.Set(3.5, Usd.TimeCode(10.0))  # 3.5 mm = 3.5 tenths of a cm, only as time samples
    focal.Set(7.0, Usd.TimeCode(20.0))
    assert load_scene_from_stage(stage).cameras[0].focal_length == pytest.approx(0.0035)
    stage.SetStartTimeCode(20.0)
    stage.SetEndTimeCode(30.0)
    assert load_scene_from_stage(stage).cameras[0].focal_length == pytest.approx(0.0070)
