"""The numpy + Embree reference against closed forms on hand-built scenes, and against the Warp world."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from device import DEVICE
from verdict_checks import assert_same_verdicts

from swb.engine.model import CameraModel, MeshPart, Scene, TargetModel
from swb.engine.pair_results import SCALAR_FIELDS
from swb.engine.profiles import FACTOR_CODE, FACTORS, PROFILES, SCORE_RATE, SYMBOLOGIES, DecoderProfile
from swb.engine.reference import evaluate_reference
from swb.engine.station_generator import box_mesh, generate_station

F = 16e-3  # focal length
P = 3.45e-6  # pixel pitch
N_PX = 2000  # square sensor, 6.9 mm
HALF_VIEW = 0.5 * N_PX * P / F  # tan of the half field of view


def camera(height: float = 1.0, **kw) -> CameraModel:
    """Camera at (0, 0, height) looking straight down (camera axes = world axes)."""
    args = {
        "path": "/Cam",
        "rotation": np.eye(3),
        "position": np.array([0.0, 0.0, height]),
        "width": N_PX,
        "height": N_PX,
        "focal_length": F,
        "aperture": (N_PX * P, N_PX * P),
    }
    args.update(kw)
    return CameraModel(**args)


def rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def target(symbology: str = "qrcode", X: float = 1e-3, modules=(21, 21), pos=(0.0, 0.0, 0.0),
           rotation=None, **kw) -> TargetModel:
    return TargetModel(
        path="/Label",
        rotation=np.eye(3) if rotation is None else rotation,
        position=np.asarray(pos, dtype=np.float64),
        symbology=symbology,
        module_size=X,
        modules=modules,
        **kw,
    )


def box_part(extents, centre, path: str = "/Box") -> MeshPart:
    pts, tris = box_mesh(extents, (1, 1, 1))
    m = np.eye(4)
    m[:3, 3] = centre
    return MeshPart(path, pts.astype(np.float32), tris.astype(np.int32), m)


def run(cams, tgts, parts=()):
    return evaluate_reference(Scene("test", list(cams), list(tgts), list(parts)))


def square_on_ppm(X: float, d: float) -> float:
    return X * F / (P * d)


@pytest.mark.parametrize(("symbology", "modules", "d"), [("qrcode", (21, 21), 1.0), ("code128", (90, 1), 0.7)])
def test_square_on_ppm(symbology, modules, d):
    r = run([camera(d)], [target(symbology, 0.5e-3, modules)])
    expected = square_on_ppm(0.5e-3, d)
    assert r.ppm_u[0, 0] == pytest.approx(expected, rel=0.01)
    assert r.ppm_w[0, 0] == pytest.approx(expected, rel=0.01)
    assert r.tilt_deg[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert r.distance[0, 0] == pytest.approx(d)


def test_tilt_foreshortens_u_by_cosine():
    r = run([camera(1.0)], [target("qrcode", 0.5e-3, rotation=rot_y(30.0))])
    assert r.ppm_u[0, 0] == pytest.approx(square_on_ppm(0.5e-3, 1.0) * math.cos(math.radians(30)), rel=0.01)
    assert r.ppm_w[0, 0] == pytest.approx(square_on_ppm(0.5e-3, 1.0), rel=0.01)
    assert r.tilt_deg[0, 0] == pytest.approx(30.0, abs=1e-6)


def test_decodable_pair_score_and_margins():
    r = run([camera(0.8)], [target("qrcode", 1e-3)])
    ppm = square_on_ppm(1e-3, 0.8)
    T = PROFILES["industrial"].threshold("qrcode")
    assert r.decodable[0, 0] and r.limiting[0, 0] == 0
    assert r.combined_margin[0, 0] == pytest.approx(ppm / T, rel=1e-5)  # no blur: q = r_s
    assert r.score[0, 0] == pytest.approx(1 - math.exp(-SCORE_RATE * (ppm / T - 1)), rel=1e-5)
    m = r.margins[0, 0]
    assert m[FACTORS.index("resolution")] == pytest.approx(ppm / T, rel=1e-5)
    assert np.isinf(m[FACTORS.index("defocus")]) and np.isinf(m[FACTORS.index("motion")])
    assert np.isinf(m[FACTORS.index("fov")]) and np.isinf(m[FACTORS.index("angle")])
    assert m[FACTORS.index("occluded")] == 1.0 and r.visible_fraction[0, 0] == 1.0


def test_defocus_formula_and_limit():
    N, s, d, lam = 4.0, 1.0, 1.5, 625e-9
    cam = camera(d, f_number=N, focus_distance=s)
    r = run([cam], [target("qrcode", 1e-3)])
    b_geo = F**2 * abs(d - s) / (N * d * (s - F)) / P
    b_diff = 1.03 * lam * N / P
    assert r.defocus_px[0, 0] == pytest.approx(math.hypot(b_geo, b_diff), rel=1e-5)
    assert r.limiting[0, 0] == FACTOR_CODE["defocus"]
    # Autofocus inside its range: only diffraction is left; a pinhole has no blur at all.
    auto = run([dataclasses.replace(cam, focus_mode="autofocus", focus_range=(0.5, 3.0))], [target()])
    assert auto.defocus_px[0, 0] == pytest.approx(b_diff, rel=1e-5)
    clamped = run([dataclasses.replace(cam, focus_mode="autofocus", focus_range=(0.5, 1.0))], [target()])
    assert clamped.defocus_px[0, 0] == pytest.approx(r.defocus_px[0, 0], rel=1e-5)
    assert run([camera(d)], [target()]).defocus_px[0, 0] == 0.0


def test_motion_smear_formula_and_axis_projection():
    v, T, d = 2.0, 1e-3, 1.0
    cam = camera(d, exposure=T)
    across = target("code128", 0.5e-3, (90, 1), velocity=np.array([v, 0.0, 0.0]))  # u along the motion
    along = dataclasses.replace(across, rotation=rot_z(90.0))  # smear along the bars
    r = run([cam], [across, along])
    smear = v * T * F / (P * d)
    assert r.motion_px[0, 0] == pytest.approx(smear, rel=1e-5)
    assert r.motion_px[0, 1] == pytest.approx(smear, rel=1e-5)
    assert r.limiting[0, 0] == FACTOR_CODE["motion"]
    assert r.decodable[0, 1]  # smear along the bars does not matter for a 1-D code


def test_wall_occludes_and_partial_wall_hides_one_column():
    cam = camera(1.0)
    full = run([cam], [target()], [box_part((0.2, 0.2, 0.01), (0.0, 0.0, 0.5))])
    assert full.limiting[0, 0] == FACTOR_CODE["occluded"] and full.visible_fraction[0, 0] == 0.0
    # Rays to the +u column of samples (x = 0.98 * 10.5 mm) cross z = 0.5 at x = 5.1 mm; the wall starts at 2.5 mm.
    part = run([cam], [target()], [box_part((0.2, 0.2, 0.01), (0.1025, 0.0, 0.5))])
    assert part.visible_fraction[0, 0] == pytest.approx(6 / 9)
    assert part.margins[0, 0, FACTORS.index("occluded")] == pytest.approx(6 / 9)
    assert part.limiting[0, 0] == FACTOR_CODE["occluded"] and not part.decodable[0, 0]


def test_surface_under_the_label_does_not_occlude():
    oblique = camera(1.0, position=np.array([0.3, 0.0, 1.0]), rotation=rot_y(math.degrees(math.atan(0.3))))
    r = run([camera(1.0), oblique], [target()], [box_part((0.3, 0.3, 0.1), (0.0, 0.0, -0.05))])
    assert r.tilt_deg[1, 0] == pytest.approx(math.degrees(math.atan(0.3)))
    assert np.all(r.visible_fraction == 1.0) and r.decodable.all()


def test_fov_cases():
    edge = HALF_VIEW * 1.0  # half width of the view at d = 1
    tgts = [
        target(pos=(0.3, 0.0, 0.0)),  # outside the frustum
        target(pos=(0.0, 0.0, 2.0), rotation=np.diag([1.0, -1.0, -1.0])),  # behind the camera
        target(pos=(edge - 0.012, 0.0, 0.0)),  # symbol inside, quiet zone (14.5 mm half) crosses the edge
        target(pos=(edge - 0.016, 0.0, 0.0)),  # quiet zone just inside
    ]
    r = run([camera(1.0)], tgts)
    assert list(r.limiting[0, :3]) == [FACTOR_CODE["fov"]] * 3
    assert r.margins[0, 0, FACTORS.index("fov")] == 0.0
    assert r.limiting[0, 3] != FACTOR_CODE["fov"]
    assert r.visible_fraction[0, 0] == 0.0
    far = run([camera(1.0, clipping=(0.01, 0.5))], [target()])
    assert far.limiting[0, 0] == FACTOR_CODE["fov"]
    for name in SCALAR_FIELDS:
        assert not np.isnan(getattr(r, name)).any(), name
    assert not np.isnan(r.margins).any()


def test_backfacing():
    r = run([camera(1.0)], [target(rotation=np.diag([1.0, -1.0, -1.0]))])
    assert r.limiting[0, 0] == FACTOR_CODE["backfacing"]
    assert r.margins[0, 0, FACTORS.index("backfacing")] == 0.0
    assert r.tilt_deg[0, 0] == pytest.approx(180.0)


def test_angle_and_scanline_roll():
    tilted = run([camera(0.5)], [target("qrcode", 2e-3, rotation=rot_y(65.0))])
    assert tilted.limiting[0, 0] == FACTOR_CODE["angle"]
    assert tilted.margins[0, 0, FACTORS.index("angle")] == pytest.approx(60.0 / 65.0, rel=1e-5)
    rolled = target("code128", 0.5e-3, (90, 1), rotation=rot_z(30.0))  # bar height 15 % of the length
    r = run([camera(0.5, decoder_profile="robust"), camera(0.5, decoder_profile="engine")], [rolled])
    assert r.limiting[0, 0] == FACTOR_CODE["angle"]
    assert r.margins[0, 0, FACTORS.index("angle")] == pytest.approx(0.15 / math.tan(math.radians(30)), rel=1e-4)
    assert r.decodable[1, 0]  # imagers read at any in-plane rotation


def test_far_target_is_resolution_limited():
    r = run([camera(3.0)], [target("qrcode", 0.5e-3)])
    assert r.limiting[0, 0] == FACTOR_CODE["resolution"]
    assert r.margins[0, 0, FACTORS.index("resolution")] == pytest.approx(square_on_ppm(0.5e-3, 3.0) / 2.5, rel=1e-5)


@pytest.fixture(scope="module")
def small_station() -> Scene:
    return generate_station(n_triangles=20_000, n_cameras=4, n_targets=200)


def test_generator_meets_its_counts_and_is_deterministic(small_station):
    s = small_station
    assert sum(len(p.triangles) for p in s.parts) >= 20_000
    assert len(s.cameras) == 4 and len(s.targets) == 200
    assert len({t.path for t in s.targets}) == 200 and len({p.path for p in s.parts}) == len(s.parts)
    for obj in [*s.cameras, *s.targets]:
        R = np.asarray(obj.rotation)
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1.0)
    again = generate_station(n_triangles=20_000, n_cameras=4, n_targets=200)
    assert all(np.array_equal(a.position, b.position) for a, b in zip(s.targets, again.targets, strict=True))
    assert all(np.array_equal(a.points, b.points) for a, b in zip(s.parts, again.parts, strict=True))
    r = evaluate_reference(s)
    in_view = (r.margins[..., FACTORS.index("fov")] > 0).mean()
    assert 0.01 < in_view < 0.5  # culling matters, and some pairs are in view
    assert r.decodable.any()


def test_subset_matches_full(small_station):
    full = evaluate_reference(small_station)
    sub = evaluate_reference(small_station, cameras=[2, 0], targets=[5, 17, 3])
    rows, cols = np.ix_([2, 0], [5, 17, 3])
    assert np.array_equal(sub.limiting, full.limiting[rows, cols])
    assert np.array_equal(sub.ppm_u, full.ppm_u[rows, cols])


def test_world_agrees_with_reference(small_station):
    world_mod = pytest.importorskip("swb.engine.world")
    world = world_mod.World(small_station, device=DEVICE)
    world.evaluate()
    a = world.results()
    world.close()
    b = evaluate_reference(small_station)
    assert_same_verdicts(a, b)
    both = a.decodable & b.decodable
    assert both.any()
    for name in ("ppm_u", "ppm_w"):
        x, y = getattr(a, name)[both].astype(np.float64), getattr(b, name)[both].astype(np.float64)
        assert np.max(np.abs(x - y) / y) <= 1e-3


def test_pdf417_ppm_w_counts_rows():
    r = run([camera(1.0)], [target("pdf417", 0.5e-3, (103, 27))])
    assert r.ppm_u[0, 0] == pytest.approx(square_on_ppm(0.5e-3, 1.0), rel=0.01)
    assert r.ppm_w[0, 0] == pytest.approx(3.0 * square_on_ppm(0.5e-3, 1.0), rel=0.01)


def test_world_agrees_with_reference_on_decoder_traits(monkeypatch):
    """Every symbology, rolled and tilted, some partly behind walls, under strict and tolerant profiles."""
    monkeypatch.setitem(PROFILES, "traits", DecoderProfile(
        "traits", (1.0, 1.2, 1.5, 1.8, 2.2), (1.2, 0.9, 1.4, 1.6, 1.1), True, "test",
        min_visible=(1.0, 5 / 9, 7 / 9, 6 / 9, 1 / 3), clear_row=True, scan_cover=(0.1, 0.45, 0.0, 0.0, 0.0)))
    rng = np.random.default_rng(3)
    tgts, parts = [], []
    modules = {"pdf417": (103, 27), "datamatrix": (20, 20), "qrcode": (25, 25), "aztec": (19, 19)}
    for i in range(72):
        sym = list(SYMBOLOGIES)[i % len(SYMBOLOGIES)]
        pos = np.array([0.025 * (i % 9 - 4), 0.025 * (i // 9 - 4), 0.0])
        rot = rot_z(float(rng.uniform(0, 360))) @ rot_y(float(rng.uniform(0, 40)))
        tgts.append(target(sym, float(rng.uniform(0.25e-3, 0.5e-3)), modules.get(sym, (90, 1)), pos, rot,
                           velocity=np.array([float(rng.uniform(-1, 1)), 0.0, 0.0])))
        if i % 3:  # a thin plate over part of the label, 5 cm above it
            off = rng.uniform(-0.012, 0.012, size=2)
            parts.append(box_part((0.015, 0.015, 0.001), (pos[0] + 0.008 + off[0], pos[1] + 0.008 + off[1], 0.05),
                                  path=f"/Plate{i}"))
    cams = [camera(0.6, path=f"/{p}", decoder_profile=p, f_number=4.0, focus_distance=0.6, exposure=5e-4)
            for p in ("traits", "zxing", "industrial")]
    scene = Scene("traits", cams, tgts, parts)
    from swb.engine.world import World

    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    a = world.results()
    world.close()
    b = evaluate_reference(scene)
    assert np.array_equal(np.round(a.visible_fraction * 9), np.round(b.visible_fraction * 9))
    assert np.array_equal(a.limiting, b.limiting) and np.array_equal(a.decodable, b.decodable)
    partly = (b.visible_fraction > 0) & (b.visible_fraction < 1)
    assert (partly & b.decodable).any() and (partly & ~b.decodable.astype(bool)).any()  # the traits matter here
    for name in ("ppm_u", "ppm_w", "combined_margin"):
        x, y = getattr(a, name).astype(np.float64), getattr(b, name).astype(np.float64)
        assert np.allclose(x, y, rtol=1e-3), name
    angle = FACTORS.index("angle")
    assert np.allclose(a.margins[..., angle], b.margins[..., angle], rtol=1e-3)


def test_world_agrees_with_reference_on_view_traits_and_threshold_scales(monkeypatch):
    """Symbols of every symbology scattered across the image edge: partial quiet zones, 1-D bars leaving the
    image, per-symbology thresholds; the kernels and the reference give the same verdicts."""
    monkeypatch.setitem(PROFILES, "view", DecoderProfile(
        "view", (1.0, 1.2, 1.5, 1.8, 2.2), 1.5, True, "test", quiet_zone=(0.3, 0.5, 0.0, 0.05, 1.0), line_view=True,
        threshold_scale=(("code39", 1.3), ("itf", 0.6))))
    rng = np.random.default_rng(4)
    edge = HALF_VIEW * 0.6  # the image edge on the floor, 0.6 m below the camera
    modules = {"pdf417": (103, 27), "datamatrix": (20, 20), "qrcode": (25, 25), "aztec": (19, 19)}
    tgts = []
    for i in range(180):
        sym = list(SYMBOLOGIES)[i % len(SYMBOLOGIES)]
        along = float(rng.uniform(-edge, edge))
        across = edge + float(rng.uniform(-0.03, 0.01))
        pos = [(across, along, 0.0), (-across, along, 0.0), (along, across, 0.0), (along, -across, 0.0)][i % 4]
        tgts.append(target(sym, float(rng.uniform(0.25e-3, 0.5e-3)), modules.get(sym, (90, 1)), pos,
                           rot_z(float(rng.uniform(0, 360))) @ rot_y(float(rng.uniform(0, 30)))))
    cams = [camera(0.6, path=f"/{p}", decoder_profile=p) for p in ("view", "industrial")]
    scene = Scene("view", cams, tgts, [])
    from swb.engine.world import World

    world = World(scene, device=DEVICE, threads=1)
    world.evaluate()
    a = world.results()
    world.close()
    b = evaluate_reference(scene)
    assert np.array_equal(a.limiting, b.limiting) and np.array_equal(a.decodable, b.decodable)
    fov = FACTOR_CODE["fov"]
    # The tolerant profile sees symbols the strict one does not, and still leaves some out.
    assert ((b.limiting[0] != fov) & (b.limiting[1] == fov)).sum() >= 10 and (b.limiting[0] == fov).sum() >= 10
    lin = np.array([t.linear for t in tgts])
    assert ((b.limiting[0] != fov) & (b.limiting[1] == fov) & lin).any()
