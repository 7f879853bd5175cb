"""The bundled example stations: regenerated identically, in real units, with sane cameras and labels."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import swb.stage.schema as S

S.register()

import swb.scenes.build_scenes as B  # noqa: E402
from pxr import Sdf, Usd, UsdGeom  # noqa: E402

from swb.errors import SwbError  # noqa: E402
from swb.stage.load import load_stage  # noqa: E402

SCENES = Path(B.__file__).resolve().parent
TUNNEL = SCENES / B.SCAN_TUNNEL_NAME
PICK = SCENES / B.PICK_STATION_NAME
SIX = SCENES / B.SIX_SIDED_NAME
Z_TO_Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # design (Z up) -> Y-up stage


def _open(path: Path) -> Usd.Stage:
    stage = Usd.Stage.Open(str(path))
    assert stage is not None
    return stage


def _api(prim: Usd.Prim) -> list[str]:
    """Applied API schema names as authored (works whether or not the schemas are registered)."""
    ops = prim.GetMetadata("apiSchemas")
    return list(ops.GetAddedOrExplicitItems()) if ops else []


def _prims(stage: Usd.Stage, api: str) -> list[Usd.Prim]:
    return [p for p in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()) if api in _api(p)]


def _world(prim: Usd.Prim) -> np.ndarray:
    """Local-to-world 4x4 in column-vector convention, stage units and axes."""
    return np.array(UsdGeom.Xformable(prim).ComputeLocalToWorldTransform(Usd.TimeCode.Default())).T


def _to_metres_z_up(stage: Usd.Stage) -> tuple[np.ndarray, float]:
    mpu = UsdGeom.GetStageMetersPerUnit(stage)
    axes = np.eye(3) if UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.z else Z_TO_Y.T
    return axes, mpu


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    script = SCENES / "build_scenes.py"
    run = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return out


@pytest.mark.parametrize("name", [B.SCAN_TUNNEL_NAME, B.PICK_STATION_NAME, B.SIX_SIDED_NAME])
def test_script_regenerates_the_committed_files(rebuilt: Path, name: str) -> None:
    fresh = (rebuilt / name).read_text(encoding="utf-8")
    committed = (SCENES / name).read_text(encoding="utf-8")
    assert fresh == committed, f"{name} is stale: run python scenes/build_scenes.py"
    assert len(committed.encode()) < 1_000_000
    assert committed.startswith("#usda 1.0")
    assert sorted(p.name for p in rebuilt.iterdir()) == sorted([B.SCAN_TUNNEL_NAME, B.PICK_STATION_NAME,
                                                                 B.SIX_SIDED_NAME])


@pytest.mark.parametrize(("path", "mpu", "up"), [(TUNNEL, 1.0, "Z"), (PICK, 0.01, "Y"), (SIX, 1.0, "Z")])
def test_stage_units_and_axes(path: Path, mpu: float, up: str) -> None:
    stage = _open(path)
    assert UsdGeom.GetStageMetersPerUnit(stage) == mpu
    assert UsdGeom.GetStageUpAxis(stage) == up
    assert stage.GetDefaultPrim().GetPath() == Sdf.Path("/World")
    assert not stage.GetCompositionErrors()


@pytest.mark.parametrize("path", [TUNNEL, PICK, SIX])
def test_no_nan_or_inf_anywhere(path: Path) -> None:
    stage = _open(path)
    checked = 0
    for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()):
        for attr in prim.GetAttributes():
            value = attr.Get()
            if value is None:
                continue
            try:
                arr = np.asarray(value, dtype=np.float64)  # tokens, strings and asset paths do not convert
            except (TypeError, ValueError):
                continue
            assert np.all(np.isfinite(arr)), f"{attr.GetPath()} = {value}"
            checked += 1
    assert checked > 100


def test_scan_tunnel_sensor_cameras() -> None:
    stage = _open(TUNNEL)
    cams = _prims(stage, "SwbSensorAPI")
    assert len(cams) == 8
    specs = {s.name: s for s in B.TUNNEL_CAMERAS}
    profiles = []
    for prim in cams:
        assert prim.IsA(UsdGeom.Camera)
        cam = UsdGeom.Camera(prim)
        spec = specs[prim.GetName()]
        # 1 scene unit = 1 m: focal length and apertures are in tenths of a metre.
        assert cam.GetFocalLengthAttr().Get() * 1.0 * 0.1 == pytest.approx(spec.focal_mm / 1000.0, rel=1e-6)
        assert cam.GetHorizontalApertureAttr().Get() * 0.1 == pytest.approx(spec.sensor[1][0] / 1000.0, rel=1e-6)
        assert 0.004 <= cam.GetFocalLengthAttr().Get() * 0.1 <= 0.05
        assert 2.8 <= cam.GetFStopAttr().Get() <= 11.0
        assert 0.3 <= cam.GetFocusDistanceAttr().Get() <= 3.0
        assert 50e-6 <= cam.GetExposureTimeAttr().Get() <= 500e-6
        width, height = prim.GetAttribute("swb:sensor:resolution").Get()
        assert (width, height) == spec.sensor[0]
        pitch = cam.GetHorizontalApertureAttr().Get() * 0.1 / width
        assert 2e-6 < pitch < 5e-6  # real sensor pixels, 3.45 um / 3.75 um
        assert prim.GetAttribute("swb:sensor:focusMode").Get() in ("fixed", "autofocus")
        profiles.append(prim.GetAttribute("swb:sensor:decoderProfile").Get())
        near, far = cam.GetClippingRangeAttr().Get()
        assert 0 < near < far
    assert profiles.count("robust") == 1 and profiles.count("engine") == 1
    assert profiles.count("industrial") == 6
    viewer = stage.GetPrimAtPath("/World/ViewerCam")
    assert viewer.IsA(UsdGeom.Camera) and "SwbSensorAPI" not in _api(viewer)
    assert UsdGeom.Camera(viewer).GetExposureTimeAttr().HasAuthoredValue()


def test_cameras_look_at_their_targets() -> None:
    """The look-at helper must give USD's camera convention: -Z forward, +Y up, right-handed."""
    stage = _open(TUNNEL)
    for spec in B.TUNNEL_CAMERAS:
        m = _world(stage.GetPrimAtPath(f"/World/Cameras/{spec.name}"))
        rot, pos = m[:3, :3], m[:3, 3]
        np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-6)
        assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(pos, spec.eye, atol=1e-9)
        want = np.subtract(spec.target, spec.eye) / np.linalg.norm(np.subtract(spec.target, spec.eye))
        np.testing.assert_allclose(-rot[:, 2], want, atol=1e-6)


def test_scan_tunnel_labels() -> None:
    stage = _open(TUNNEL)
    labels = _prims(stage, "SwbBarcodeAPI")
    assert 20 <= len(labels) <= 40
    assert len(labels) == sum(len(p.labels) for p in B.PARCELS)
    symbologies = {p.GetAttribute("swb:barcode:symbology").Get() for p in labels}
    assert {"code128", "ean13", "itf", "datamatrix", "qrcode", "pdf417"} <= symbologies
    for prim in labels:
        assert prim.IsA(UsdGeom.Xform)
        assert prim.GetParent().GetParent().GetPath() == Sdf.Path("/World/Parcels")
        sym = prim.GetAttribute("swb:barcode:symbology").Get()
        x = prim.GetAttribute("swb:barcode:moduleSize").Get()
        cols, rows = prim.GetAttribute("swb:barcode:modules").Get()
        if sym in ("code128", "ean13", "itf"):
            assert 0.33e-3 - 1e-9 <= x <= 0.5e-3 + 1e-9, prim.GetPath()
            assert rows == 1 and cols >= 95
            assert prim.GetAttribute("swb:barcode:barHeight").Get() > 5e-3
        else:
            assert 0.5e-3 - 1e-9 <= x <= 1.0e-3 + 1e-9, prim.GetPath()
            assert rows > 1
            assert not prim.GetAttribute("swb:barcode:barHeight").HasAuthoredValue()
        assert tuple(prim.GetAttribute("swb:barcode:velocity").Get()) == (2.0, 0.0, 0.0)
        assert prim.GetAttribute("swb:barcode:content").Get()
        # The attributes carry the declared value types (the schema's, before it is even registered).
        assert prim.GetAttribute("swb:barcode:symbology").GetTypeName() == Sdf.ValueTypeNames.Token
        assert prim.GetAttribute("swb:barcode:modules").GetTypeName() == Sdf.ValueTypeNames.Int2
    ean = next(p for p in labels if p.GetAttribute("swb:barcode:symbology").Get() == "ean13")
    assert tuple(ean.GetAttribute("swb:barcode:modules").Get()) == (95, 1)
    assert B.code128_modules("ABCDEFGHIJKLMNOPQRST") == 11 * 20 + 35
    assert B.code128_modules("00340123450000000018") == 11 * 10 + 35  # code set C packs digit pairs


def _check_label_on_box_face(label: Usd.Prim, box: Usd.Prim, mpu: float) -> None:
    """1 mm off one face of the box, +Z along the face's outward normal, the symbol inside the face."""
    box_m, lab_m = _world(box), _world(label)
    inv = np.linalg.inv(box_m)
    centre = lab_m[:3, 3]
    unit = (inv @ np.append(centre, 1.0))[:3]  # in the unit cube's frame: faces at +-0.5
    k = int(np.argmax(np.abs(unit)))
    sign = math.copysign(1.0, unit[k])
    box_rot = box_m[:3, :3]
    scale = np.linalg.norm(box_rot, axis=0)
    outward = box_rot[:, k] / scale[k] * sign
    rot = lab_m[:3, :3] / np.linalg.norm(lab_m[:3, :3], axis=0)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(rot[:, 2], outward, atol=1e-6, err_msg=str(label.GetPath()))
    gap = (abs(unit[k]) - 0.5) * scale[k] * mpu
    assert gap == pytest.approx(1e-3, abs=1e-6), label.GetPath()
    x = label.GetAttribute("swb:barcode:moduleSize").Get()
    cols, rows = label.GetAttribute("swb:barcode:modules").Get()
    bar = label.GetAttribute("swb:barcode:barHeight").Get()
    half = np.array([cols * x, bar if rows == 1 else rows * x]) / 2
    for su in (-1, 1):
        for sw in (-1, 1):
            corner = centre + rot[:, 0] * su * half[0] + rot[:, 1] * sw * half[1]
            c = (inv @ np.append(corner, 1.0))[:3]
            others = [abs(c[i]) for i in range(3) if i != k]
            assert max(others) <= 0.5 + 1e-6, f"{label.GetPath()} hangs over its face"


def test_labels_sit_on_their_parcels_and_items() -> None:
    cases = ((TUNNEL, 1.0, "/World/Parcels/", B.PARCELS), (PICK, 0.01, "/World/Items/", B.ITEMS))
    for path, mpu, parent, boxes in cases:
        stage = _open(path)
        count = 0
        for label in _prims(stage, "SwbBarcodeAPI"):
            if not str(label.GetPath()).startswith(parent):
                continue
            _check_label_on_box_face(label, label.GetParent().GetChild("Box"), mpu)
            count += 1
        assert count == sum(len(box.labels) for box in boxes)


def _corners_2d(xy: tuple[float, float], size: tuple[float, float, float], yaw: float) -> np.ndarray:
    c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array(size[:2]) / 2
    return half @ np.array([[c, s], [-s, c]]) + np.array(xy)


def _separated(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex polygons (corners in order)."""
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return True
    return False


def test_parcels_fit_on_the_belt_and_items_in_their_totes() -> None:
    parcels = [_corners_2d(p.xy, p.size, p.yaw) for p in B.PARCELS]
    for corners in parcels:
        assert np.all(np.abs(corners[:, 1]) <= 0.4) and np.all(np.abs(corners[:, 0]) <= 1.6)
    items = [_corners_2d(i.xy, i.size, i.yaw) for i in B.ITEMS]
    inner = np.array(B.TOTE_SIZE[:2]) / 2 - B.TOTE_WALL
    for corners in items:
        inside = [np.all(np.abs(corners - np.array(t)) <= inner) for t in B.TABLE_TOTES]
        assert sum(inside) == 1
    for group in (parcels, items):
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                assert _separated(group[i], group[j]), (i, j)


def test_instanceable_posts() -> None:
    stage = _open(TUNNEL)
    proto = stage.GetPrimAtPath("/World/Prototypes/Post")
    assert proto.IsAbstract() and proto.IsInstanceable()
    frame = stage.GetPrimAtPath("/World/Tunnel/Frame")
    posts = [p for p in frame.GetChildren() if p.GetName().startswith("Post_")]
    assert len(posts) == 6
    for post in posts:
        assert post.IsInstance() and post.IsInstanceable()
        assert post.GetPrototype() == posts[0].GetPrototype()
        refs = post.GetMetadata("references").GetAddedOrExplicitItems()
        assert [r.primPath for r in refs] == [Sdf.Path("/World/Prototypes/Post")]
    cubes = [
        p
        for p in Usd.PrimRange(frame, Usd.TraverseInstanceProxies())
        if p.IsInstanceProxy() and p.GetName() == "Profile"
    ]
    assert len(cubes) == 6
    heights = {round(float(_world(c)[2, 2]), 6) for c in cubes}
    assert heights == {2.5}
    # The abstract prototype itself is not part of the station.
    assert not any(str(p.GetPath()).startswith("/World/Prototypes") for p in stage.Traverse())


def test_pick_station_cameras_in_centimetres() -> None:
    stage = _open(PICK)
    cams = _prims(stage, "SwbSensorAPI")
    assert [c.GetName() for c in cams] == [s.name for s in B.PICK_CAMERAS]
    specs = {s.name: s for s in B.PICK_CAMERAS}
    for prim in cams:
        cam, spec = UsdGeom.Camera(prim), specs[prim.GetName()]
        # Tenths of a centimetre are millimetres.
        assert cam.GetFocalLengthAttr().Get() == pytest.approx(spec.focal_mm, rel=1e-6)
        assert cam.GetFocalLengthAttr().Get() * 0.01 * 0.1 == pytest.approx(spec.focal_mm / 1000.0, rel=1e-6)
        assert cam.GetHorizontalApertureAttr().Get() == pytest.approx(spec.sensor[1][0], rel=1e-6)
        assert cam.GetFocusDistanceAttr().Get() == pytest.approx(spec.focus_m * 100.0, rel=1e-6)
        m = _world(prim)
        forward_world = Z_TO_Y.T @ -m[:3, 2]
        want = np.subtract(spec.target, spec.eye)
        np.testing.assert_allclose(forward_world, want / np.linalg.norm(want), atol=1e-6)
        if spec.focus_range_m is not None:
            near, far = prim.GetAttribute("swb:sensor:focusRange").Get()
            assert (near, far) == pytest.approx((spec.focus_range_m[0] * 100, spec.focus_range_m[1] * 100))
    viewer = stage.GetPrimAtPath("/World/ViewerCam")
    assert viewer.IsA(UsdGeom.Camera) and "SwbSensorAPI" not in _api(viewer)


def test_pick_station_point_instanced_totes() -> None:
    stage = _open(PICK)
    inst = UsdGeom.PointInstancer(stage.GetPrimAtPath("/World/Totes"))
    assert inst
    xforms = inst.ComputeInstanceTransformsAtTime(Usd.TimeCode.Default(), Usd.TimeCode.Default())
    assert len(xforms) == 8
    (proto_path,) = inst.GetPrototypesRel().GetTargets()
    proto = stage.GetPrimAtPath(proto_path)
    assert proto.IsA(UsdGeom.Mesh)
    assert proto.GetParent().GetSpecifier() == Sdf.SpecifierOver  # hidden from plain traversal
    assert proto not in list(stage.Traverse())
    points = np.array(UsdGeom.Mesh(proto).GetPointsAttr().Get(), dtype=np.float64)
    sizes = []
    for m in xforms:
        mat = np.array(m).T
        world = (points @ mat[:3, :3].T + mat[:3, 3]) @ Z_TO_Y * 0.01  # -> metres, Z up
        sizes.append(np.round(world.max(axis=0) - world.min(axis=0), 6))
        assert world[:, 2].min() >= B.TABLE_TOP - 1e-6 or world[:, 2].min() in B.WALL_LEVELS
    assert [tuple(s) for s in sizes[:2]] == [(0.6, 0.4, 0.22)] * 2  # on the table
    assert [tuple(s) for s in sizes[2:]] == [(0.4, 0.6, 0.22)] * 6  # turned 90 degrees on the wall
    counts = UsdGeom.Mesh(proto).GetFaceVertexCountsAttr().Get()
    assert len(counts) == 14 and set(counts) == {4}


def _metric_poses(path: Path) -> dict[str, np.ndarray]:
    """World pose of every camera and label in metres, Z up, plus their length attributes in metres."""
    stage = _open(path)
    axes, mpu = _to_metres_z_up(stage)
    out: dict[str, np.ndarray] = {}
    for prim in _prims(stage, "SwbSensorAPI") + _prims(stage, "SwbBarcodeAPI"):
        m = _world(prim)
        rot = axes @ m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
        pos = axes @ m[:3, 3] * mpu
        if prim.IsA(UsdGeom.Camera):
            cam = UsdGeom.Camera(prim)
            lengths = [cam.GetFocalLengthAttr().Get() * 0.1, cam.GetHorizontalApertureAttr().Get() * 0.1]
            lengths += [cam.GetFocusDistanceAttr().Get(), *cam.GetClippingRangeAttr().Get()]
        else:
            lengths = [prim.GetAttribute("swb:barcode:moduleSize").Get()]
            lengths += list(axes @ np.array(prim.GetAttribute("swb:barcode:velocity").Get(), dtype=np.float64))
        out[str(prim.GetPath())] = np.concatenate([rot.ravel(), pos, np.array(lengths) * mpu])
    return out


@pytest.mark.parametrize(("mpu", "up"), [(0.01, "Y"), (0.001, "Z"), (0.3048, "Y")])
def test_build_scan_tunnel_in_other_units_is_the_same_station(tmp_path: Path, mpu: float, up: str) -> None:
    path = B.build_scan_tunnel(tmp_path / "tunnel.usda", meters_per_unit=mpu, up_axis=up)
    stage = _open(path)
    assert UsdGeom.GetStageMetersPerUnit(stage) == mpu and UsdGeom.GetStageUpAxis(stage) == up
    ref, got = _metric_poses(TUNNEL), _metric_poses(path)
    assert ref.keys() == got.keys() and len(ref) == 38
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_build_scan_tunnel_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(SwbError, match="meters_per_unit"):
        B.build_scan_tunnel(tmp_path / "a.usda", meters_per_unit=0.0)
    with pytest.raises(SwbError, match="up_axis"):
        B.build_scan_tunnel(tmp_path / "a.usda", up_axis="X")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("path", "cameras", "targets"), [(TUNNEL, 8, 30), (PICK, 3, 15), (SIX, 7, 19)])
def test_loader_reads_the_bundled_scenes(path: Path, cameras: int, targets: int) -> None:
    _, scene = load_stage(path)
    assert len(scene.cameras) == cameras and len(scene.targets) == targets
    assert all(not c.path.endswith("ViewerCam") for c in scene.cameras)
    assert scene.parts
    for cam in scene.cameras:
        assert 0.004 <= cam.focal_length <= 0.05  # metres whatever the stage units
        assert 0.05 <= cam.focus_distance <= 3.0
    for tgt in scene.targets:
        assert 0.2e-3 <= tgt.module_size <= 1.0e-3 * (1 + 1e-6)


def test_loader_sees_the_same_station_in_any_units(tmp_path: Path) -> None:
    _, ref = load_stage(TUNNEL)
    _, got = load_stage(B.build_scan_tunnel(tmp_path / "t.usda", meters_per_unit=0.01, up_axis="Y"))
    for a, b in zip(ref.cameras + ref.targets, got.cameras + got.targets, strict=True):
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if isinstance(va, str):
                assert va == vb
            else:
                np.testing.assert_allclose(np.asarray(vb, float), np.asarray(va, float), rtol=1e-5, atol=1e-7)


def test_six_sided_tunnel_reads_every_face_as_parcels_pass() -> None:
    """The station built to read: parcels of 0.1 to 0.8 m on a 2 m/s belt, labels on all six faces (the bottom
    through the belt gap), 6 to 10 cameras; its transit read rate is at least 99 %, and every label reads."""
    import swb

    _, scene = load_stage(SIX)
    assert 6 <= len(scene.cameras) <= 10
    assert all(np.allclose(t.velocity, (B.BELT_SPEED, 0.0, 0.0)) for t in scene.targets)
    sizes = [max(p.size) for p in B.SIX_PARCELS] + [min(p.size) for p in B.SIX_PARCELS]
    assert min(sizes) == pytest.approx(0.1) and max(sizes) == pytest.approx(0.8)
    faces = {label.face for p in B.SIX_PARCELS for label in p.labels}
    assert faces == {"top", "bottom", "front", "back", "left", "right"}
    sim = swb.open(SIX, device="cpu")
    tr = sim.transit()
    assert tr.station_read_rate() >= 0.99
    assert tr.read_rate.min() >= 0.95
    bottom = [i for i, t in enumerate(tr.targets) if t.endswith("/Bottom")]
    assert bottom and all(tr.best_camera()[i] == tr.cameras.index("/World/Cameras/Bottom") for i in bottom)

