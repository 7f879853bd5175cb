"""Pictures: sphere, plane, projection and view modes agree with the per-pair model, write real PNGs and USD
overlays, and come back byte for byte after save -> restore."""

from __future__ import annotations

import argparse
import math
import shutil

import matplotlib.image
import numpy as np
import pytest
from device import DEVICE
from pxr import Usd, UsdGeom
from stage_builders import Author, build_station, pose, rot

import swb
from swb.cli.viz import add_viz_commands, regenerate_pictures
from swb.engine.model import Scene, TargetModel
from swb.engine.profiles import FACTOR_CODE, PROFILES, SCORE_RATE
from swb.engine.world import World, pack_targets
from swb.errors import SwbError
from swb.viz import modes as vm
from swb.viz import output as vo
from swb.viz.probes import ProbeSymbol, orientation_grid, pack_probes, symbol_frames

BIG = ProbeSymbol(module_size=0.5e-3)  # reads from the tunnel's top cameras
TOP = "/World/Cameras/TopAutofocus"


@pytest.fixture(scope="module")
def tunnel(tmp_path_factory):
    path = tmp_path_factory.mktemp("tunnel") / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), path)
    return swb.open(path, device=DEVICE)


def _png(path):
    img = matplotlib.image.imread(str(path))
    return img[..., :3]


def _not_blank(img: np.ndarray) -> None:
    assert float(img.std()) > 0.05
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 20


# ----------------------------------------------------------------------------------------------- probes


def test_probe_records_match_packed_targets():
    sym = ProbeSymbol(symbology="datamatrix", module_size=0.6e-3, modules=(18, 18))
    frames = symbol_frames([[0.3, -0.2, 0.9], [0.0, 0.0, -1.0]], [0.4, 2.0])
    pos = np.array([[0.1, 0.2, 1.0], [-0.5, 0.0, 0.3]])
    probes = pack_probes(sym, pos, frames)
    targets = [TargetModel(path=f"/T{k}", rotation=frames[k], position=pos[k], symbology="datamatrix",
                           module_size=0.6e-3, modules=(18, 18)) for k in range(2)]
    ref = pack_targets(targets)
    for name in ref.dtype.names:
        np.testing.assert_array_equal(probes[name], ref[name], err_msg=name)
    for f in frames:  # right-handed orthonormal: columns u, w, normal
        np.testing.assert_allclose(f.T @ f, np.eye(3), atol=1e-12)
        assert np.linalg.det(f) == pytest.approx(1.0)


def test_orientation_grid_is_equal_area():
    grid = orientation_grid(16, 3)
    dz = np.diff(grid.z_edges)
    dlon = np.diff(grid.lon_edges)
    np.testing.assert_allclose(dz, dz[0])
    np.testing.assert_allclose(dlon, dlon[0])
    assert dz.sum() * dlon.sum() == pytest.approx(4 * math.pi)  # solid angle of the sphere
    n = grid.frames()[..., :, 2]
    np.testing.assert_allclose(n[:, :, 0], grid.normals())
    with pytest.raises(SwbError, match="even"):
        orientation_grid(15, 3)


# ----------------------------------------------------------------------------------------------- sphere


def test_orientations_facing_away_from_every_camera_score_zero(tunnel):
    point = np.array([1.3, 0.0, 1.2])  # past the exit: outside the cameras' hull, so some normals face away
    res = vm.sphere(tunnel, point, symbol=BIG, resolution=24, rotations=4, record=False)
    to_cams = np.array([c.position for c in tunnel.scene.cameras]) - point
    away = np.all(res.normals @ to_cams.T <= 0.0, axis=-1)
    assert away.any() and (~away).any()
    assert np.all(res.score[away] == 0.0)
    assert np.all(res.decodable_fraction[away] == 0.0)
    assert set(np.unique(res.limiting[away])) <= {FACTOR_CODE["fov"], FACTOR_CODE["backfacing"]}
    assert np.all(res.best_camera[away] == -1)
    assert res.score.max() > 0.3  # facing the front cameras, it reads
    assert res.summary()["decodable_orientations"] > 0.0


def test_sphere_single_camera_limits_to_that_camera(tunnel):
    point = [0.3, 0.0, 1.2]
    one = vm.sphere(tunnel, point, symbol=BIG, resolution=12, rotations=2, cameras=[TOP], record=False)
    every = vm.sphere(tunnel, point, symbol=BIG, resolution=12, rotations=2, record=False)
    assert one.camera_paths == [TOP]
    top = tunnel.scene.camera_index(TOP)
    assert set(np.unique(one.best_camera)) <= {-1, top}
    assert np.all(every.samples["score"] >= one.samples["score"])  # the best of all is never worse
    with pytest.raises(SwbError, match="not a sensor camera"):
        vm.sphere(tunnel, point, cameras=["/World/Nope"], record=False)


def test_points_and_overlay_follow_the_stage_units_and_up_axis(tmp_path):
    """A centimetre, Y-up stage: the point is given as the viewer shows it, the picture works in metres Z-up,
    and the overlay lands back on the given point."""
    sim_m = swb.open(build_station(tmp_path / "m.usda"), device=DEVICE)
    sim_cm = swb.open(build_station(tmp_path / "cm.usda", mpu=0.01, up_axis="Y"), device=DEVICE)
    world = np.array([0.1, -0.4, 1.0])
    stage_cm = np.array([world[0], world[2], -world[1]]) / 0.01
    a = vm.sphere(sim_m, world, resolution=8, rotations=2, radius=0.05, out_dir=tmp_path / "a", record=False)
    b = vm.sphere(sim_cm, stage_cm, resolution=8, rotations=2, radius=5.0, out_dir=tmp_path / "b", record=False)
    np.testing.assert_allclose(b.point, world, atol=1e-9)
    np.testing.assert_allclose(b.pairs.ppm, a.pairs.ppm, rtol=1e-4)
    stage = Usd.Stage.Open(str(b.files["stage"]))
    box = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default"]).ComputeWorldBound(
        stage.GetPrimAtPath("/SWB/Viz/sphere/Sphere")).ComputeAlignedRange()
    np.testing.assert_allclose(np.array(box.GetMidpoint()), stage_cm, atol=0.05)
    size = np.array(box.GetSize())
    assert size[1] == pytest.approx(10.0, rel=1e-4)  # pole to pole along the stage's up axis Y
    assert np.all(size[[0, 2]] < 10.0)  # the coarse grid's vertices sit at cell centres


# ------------------------------------------------------------------------------------------------ plane


def test_plane_cell_equals_the_same_symbol_evaluated_directly(tunnel):
    res = vm.plane(tunnel, (0.35, 0.0, 1.18), (0.2, 0.1, 1.0), (0.9, 0.6), (7, 5), symbol=BIG, roll_deg=20.0,
                   record=False)
    targets = [TargetModel(path=f"/Probe{k}", rotation=res.rotation, position=p, symbology=BIG.symbology,
                           module_size=BIG.module_size, modules=BIG.modules)
               for k, p in enumerate(res.points.reshape(-1, 3))]
    scene = tunnel.scene
    world = World(Scene(scene.source, list(scene.cameras), targets, list(scene.parts)), device=DEVICE)
    world.evaluate()
    direct = world.results()
    # every camera, every cell: the very same numbers
    np.testing.assert_array_equal(res.pairs.score, direct.score)
    np.testing.assert_array_equal(res.pairs.limiting, direct.limiting)
    np.testing.assert_array_equal(res.pairs.decodable, direct.decodable)
    # the picture shows the best camera per cell
    np.testing.assert_array_equal(res.score.ravel(), direct.score.max(axis=0))
    assert res.decodable.any() and not res.decodable.all()


# ------------------------------------------------------------------------------------------- projection


def _wall_scene(path):
    stage = Usd.Stage.CreateNew(str(path))
    a = Author(stage, 1.0, "Z")
    stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/World").GetPrim())
    a.camera("/World/Cam", pose(rot("x", 90.0), (0.0, 0.0, 0.0)), f_stop=0.0, offset_mm=(0.0, 0.0),
             exposure_s=None)
    quad = [(-3.0, 0.0, -3.0), (3.0, 0.0, -3.0), (3.0, 0.0, 3.0), (-3.0, 0.0, 3.0)]
    a.mesh("/World/Wall", quad, [4], [0, 1, 2, 3], world=pose(None, (0.0, 1.0, 0.0)))
    a.barcode("/World/Label", symbology="code128", module_m=0.0005, modules=(68, 1),
              world=pose(rot("x", 90.0), (0.0, -1.0, 0.0)))  # a stage needs a target; this one is out of sight
    stage.GetRootLayer().Save()
    return path


def test_projection_score_on_a_square_on_wall_falls_with_distance_as_ppm(tmp_path):
    sim = swb.open(_wall_scene(tmp_path / "wall.usda"), device=DEVICE)
    cam = sim.scene.cameras[0]
    sym = ProbeSymbol(module_size=1.0e-3)
    threshold = PROFILES[cam.decoder_profile].threshold("code128")
    scores = []
    for d in (0.8, 1.0, 1.3):
        sim.set_translation("/World/Wall", (0.0, d, 0.0))
        res = vm.projection(sim, "/World/Cam", stride=40, symbol=sym, record=False)
        centre = res.hit.shape[0] // 2, res.hit.shape[1] // 2
        assert res.hit.all()
        assert res.distance[centre] == pytest.approx(d, rel=1e-3)
        ppm = res.ppm[centre]
        # square-on: PPM = X f / (p d), the symbol sitting 1 mm in front of the wall
        assert ppm == pytest.approx(sym.module_size * cam.fx / (d - vm.SURFACE_OFFSET), rel=1e-4)
        # pinhole, static: only sampling limits, so the score is a function of PPM alone
        expected = 1.0 - math.exp(-SCORE_RATE * (ppm / threshold - 1.0))
        assert res.decodable[centre]
        assert res.score[centre] == pytest.approx(expected, abs=2e-5)
        scores.append(float(res.score[centre]))
    assert scores[0] > scores[1] > scores[2] > 0.0


# --------------------------------------------------------------------------------------- files, restore


EXPECTED_SIZE = {"sphere": (1400, 640), "plane": (1000, 800), "projection": (1000, 720), "view": (240, 160)}


def _run(sim, mode, out, **kw):
    if mode == "sphere":
        return vm.sphere(sim, (0.3, 0.0, 1.2), symbol=BIG, resolution=16, rotations=2, out_dir=out, **kw)
    if mode == "plane":
        return vm.plane(sim, (0.0, 0.0, 1.2), (0, 0, 1), (1.6, 1.0), (24, 16), symbol=BIG, quantity="limiting",
                        out_dir=out, **kw)
    if mode == "projection":
        return vm.projection(sim, TOP, stride=64, symbol=BIG, out_dir=out, **kw)
    return vm.view(sim, width=240, height=160, samples=1, out_dir=out, **kw)


@pytest.mark.parametrize("mode", ["sphere", "plane", "projection", "view"])
def test_pictures_are_written_sized_and_not_blank(tunnel, tmp_path, mode):
    res = _run(tunnel, mode, tmp_path, record=False)
    assert set(res.files) == {"png", "layer", "stage"}
    img = _png(res.files["png"])
    assert (img.shape[1], img.shape[0]) == res.png_size == EXPECTED_SIZE[mode]
    _not_blank(img)
    # the overlay: coloured geometry under /SWB/Viz/<mode>, shown over the scene by the preview stage
    stage = Usd.Stage.Open(str(res.files["stage"]))
    prims = [p for p in Usd.PrimRange(stage.GetPrimAtPath(f"/SWB/Viz/{mode}")) if p.IsA(UsdGeom.PointBased)]
    assert prims
    for prim in prims:
        gprim = UsdGeom.PointBased(prim)
        colours = gprim.GetDisplayColorPrimvar()
        assert colours.GetInterpolation() == UsdGeom.Tokens.vertex
        assert len(colours.Get()) == len(gprim.GetPointsAttr().Get())
    assert stage.GetPrimAtPath("/World/Conveyor/Belt")  # the scene is there too


def test_view_colours_targets_by_status(tunnel):
    cam = "/World/Cameras/TopWide"
    res = vm.view(tunnel, from_camera=cam, width=320, samples=1, frusta=False, record=False)
    assert res.image.shape == (res.view_camera.height, 320, 3)
    np.testing.assert_array_equal(res.target_decodable,
                                  tunnel.evaluate().pairs.decodable[tunnel.scene.camera_index(cam)])
    assert res.target_decodable.any() and not res.target_decodable.all()
    # a shaded status colour is that colour times a light level: compare chromaticities
    chroma = res.image / np.maximum(res.image.sum(axis=-1, keepdims=True), 1e-9)

    def pixels_of(rgb) -> int:
        return int(np.sum(np.all(np.abs(chroma - np.asarray(rgb) / np.sum(rgb)) < 0.01, axis=-1)))

    assert pixels_of(vo.DECODES) > 50  # labels this camera decodes show green
    assert pixels_of(vo.FAILS) > 50  # and those it does not, red


def test_restore_brings_back_the_same_picture(tmp_path):
    src = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), src)
    sim = swb.open(src, device=DEVICE)
    first = _run(sim, "plane", tmp_path / "a", record=True)
    assert sim.ui.visualisation_mode == "plane"
    sim.save(tmp_path / "saved.swb.usda")
    again = swb.restore(tmp_path / "saved.swb.usda", device=DEVICE)
    assert again.ui.viz_parameters == first.parameters
    second = vm.regenerate(again, tmp_path / "b")
    assert second is not None and second.files["png"].name == first.files["png"].name
    assert second.files["png"].read_bytes() == first.files["png"].read_bytes()
    assert second.files["layer"].read_bytes() == first.files["layer"].read_bytes()
    assert regenerate_pictures(again, tmp_path / "c") == 0
    assert (tmp_path / "c" / first.files["png"].name).read_bytes() == first.files["png"].read_bytes()


# -------------------------------------------------------------------------------------------------- CLI


def _cli(argv):
    parser = argparse.ArgumentParser(prog="swb")
    add_viz_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_view_and_bad_input(tmp_path, capsys):
    scene = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), scene)
    out = tmp_path / "out"
    code = _cli(["viz", "view", str(scene), "--out", str(out), "--width", "200", "--height", "120",
                 "--samples", "1", "--device", DEVICE, "--save", str(tmp_path / "s.swb.usda")])
    assert code == 0
    assert (out / "scan_tunnel.view.png").is_file()
    assert "targets_decodable" in capsys.readouterr().out
    restored = swb.restore(tmp_path / "s.swb.usda", device=DEVICE)
    assert restored.ui.visualisation_mode == "view" and restored.ui.viz_parameters["width"] == 200
    with pytest.raises(SwbError, match="not a sensor camera"):
        _cli(["viz", "projection", str(scene), "--out", str(out), "--camera", "/World/Nope", "--device", DEVICE])
    with pytest.raises(SwbError, match="symbology"):
        _cli(["viz", "sphere", str(scene), "--out", str(out), "--point", "0", "0", "1", "--symbology", "nope",
              "--device", DEVICE])
    assert not (out / "scan_tunnel.sphere.png").exists()
