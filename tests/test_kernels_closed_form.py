"""The fused Warp kernel against closed forms (docs/model.md, closed-form checks) on one-camera scenes built by hand,
on the CPU."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from device import DEVICE

from swb.engine.model import CameraModel, MeshPart, Scene, TargetModel
from swb.engine.pair_results import PairResults
from swb.engine.profiles import CLASS_CODE, FACTOR_CODE, FACTORS, PROFILES, DecoderProfile
from swb.engine.world import World

F = 0.016  # focal length, m
PITCH = 5e-6  # square pixels: 2000 x 1000 on a 10 x 5 mm sensor
FX = F / PITCH
M = {name: i for i, name in enumerate(FACTORS)}


def camera_rotation(forward, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera -> world rotation looking along ``forward`` (camera -Z), image up towards ``up``."""
    z = -np.asarray(forward, float) / np.linalg.norm(forward)
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def symbol_rotation(normal, u) -> np.ndarray:
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    u = np.asarray(u, float) / np.linalg.norm(u)
    return np.stack([u, np.cross(n, u), n], axis=1)


def make_camera(**kw) -> CameraModel:
    """At the origin looking along +Y, image x = world +X, image up = world +Z."""
    args = dict(
        path="/cam",
        rotation=camera_rotation((0.0, 1.0, 0.0)),
        position=np.zeros(3),
        width=2000,
        height=1000,
        focal_length=F,
        aperture=(0.010, 0.005),
    )
    args.update(kw)
    return CameraModel(**args)


def make_target(d: float = 0.5, **kw) -> TargetModel:
    """Facing the camera square-on at distance d on the optical axis; u along world +X, w along +Z."""
    args = dict(
        path="/t",
        rotation=symbol_rotation((0.0, -1.0, 0.0), (1.0, 0.0, 0.0)),
        position=np.array([0.0, d, 0.0]),
        symbology="code128",
        module_size=0.0005,
        modules=(60, 1),
    )
    args.update(kw)
    return TargetModel(**args)


def quad(path: str, centre, half_x: float, half_z: float) -> MeshPart:
    """A wall in the plane y = centre_y, as two triangles in its local frame placed by a translation."""
    pts = np.array([[-half_x, 0, -half_z], [half_x, 0, -half_z], [half_x, 0, half_z], [-half_x, 0, half_z]], float)
    to_world = np.eye(4)
    to_world[:3, 3] = centre
    return MeshPart(path, pts, np.array([[0, 1, 2], [0, 2, 3]], np.int32), to_world)


def evaluate(cameras, targets, parts=(), cull: bool = True) -> PairResults:
    world = World(Scene("test", list(cameras), list(targets), list(parts)), device=DEVICE, threads=1, cull=cull)
    world.evaluate()
    res = world.results()
    for name in ("score", "ppm_u", "ppm_w", "tilt_deg", "defocus_px", "motion_px", "distance", "margins"):
        assert not np.isnan(getattr(res, name)).any(), name
    return res


def one(cam: CameraModel, tgt: TargetModel, parts=(), cull: bool = True) -> dict:
    res = evaluate([cam], [tgt], parts, cull)
    return {name: getattr(res, name)[0, 0] for name in (
        "decodable", "limiting", "score", "ppm_u", "ppm_w", "tilt_deg", "defocus_px", "motion_px",
        "visible_fraction", "distance", "combined_margin", "margins")}


def test_square_on_ppm_1d_and_2d():
    d = 0.5
    expected = 0.0005 * F / (PITCH * d)
    r = one(make_camera(), make_target(d))
    assert r["ppm_u"] == pytest.approx(expected, rel=1e-3)
    assert r["decodable"] and r["limiting"] == 0 and 0 < r["score"] <= 1
    assert r["tilt_deg"] == pytest.approx(0.0, abs=1e-3)
    assert r["distance"] == pytest.approx(d, rel=1e-6)
    assert r["margins"][M["resolution"]] == pytest.approx(expected / 1.5, rel=1e-3)
    dm = one(make_camera(), make_target(d, symbology="datamatrix", modules=(20, 20)))
    assert dm["ppm_u"] == pytest.approx(expected, rel=1e-2)
    assert dm["ppm_w"] == pytest.approx(expected, rel=1e-2)


@pytest.mark.parametrize("theta", [20.0, 45.0])
def test_tilt_about_w_axis_foreshortens_u(theta):
    d = 0.5
    t = math.radians(theta)
    normal = (math.sin(t), -math.cos(t), 0.0)  # rotated about world Z = the symbol's w axis
    u = (math.cos(t), math.sin(t), 0.0)
    r = one(make_camera(), make_target(d, rotation=symbol_rotation(normal, u)))
    assert r["tilt_deg"] == pytest.approx(theta, abs=0.01)
    assert r["ppm_u"] == pytest.approx(0.0005 * F * math.cos(t) / (PITCH * d), rel=1e-2)


@pytest.mark.parametrize("theta", [35.0, 60.0])
def test_a_sheared_module_cell_samples_at_its_grid_line_spacing(theta):
    """Tilted about the diagonal of its module axes, a symbol's cell projects to a parallelogram: at the centre
    (where J = f/d on the image plane) the bar edges lie |a x b| / |b| apart, closer than |a|."""
    d = 0.5
    t = math.radians(theta)
    axis = np.array([1.0, 0.0, 1.0]) / math.sqrt(2.0)  # the diagonal of u (world X) and w (world Z)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    turn = np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * k @ k
    rot = turn @ symbol_rotation((0.0, -1.0, 0.0), (1.0, 0.0, 0.0))
    r = one(make_camera(), make_target(d, rotation=rot))
    # image plane of the camera (looking along +Y): image x = world X, image up = world Z
    a = 0.0005 * F / (PITCH * d) * rot[[0, 2], 0]
    b = 0.0005 * F / (PITCH * d) * rot[[0, 2], 1]
    area = abs(a[0] * b[1] - a[1] * b[0])
    assert r["ppm_u"] == pytest.approx(area / np.linalg.norm(b), rel=1e-3)
    assert r["ppm_u"] < 0.99 * np.linalg.norm(a)  # the per-axis length overstates it
    assert r["ppm_w"] == pytest.approx(np.linalg.norm(b), rel=1e-3)  # 1-D: along the bars, their length


@pytest.mark.parametrize("with_diffraction", [False, True])
def test_defocus_thin_lens(with_diffraction):
    n, s, d = 2.8, 1.0, 0.6
    wavelength = 625e-9 if with_diffraction else 0.0
    cam = make_camera(f_number=n, focus_distance=s, wavelength=wavelength)
    r = one(cam, make_target(d))
    b_geo = F**2 * abs(d - s) / (n * d * (s - F)) / PITCH
    b_diff = 1.03 * wavelength * n / PITCH
    assert r["defocus_px"] == pytest.approx(math.hypot(b_geo, b_diff), rel=1e-3)
    assert r["margins"][M["defocus"]] == pytest.approx(1.5 * r["ppm_u"] / r["defocus_px"], rel=1e-4)


def test_pinhole_has_no_blur_and_autofocus_removes_defocus():
    assert one(make_camera(f_number=0.0, focus_distance=5.0), make_target(0.5))["defocus_px"] == 0.0
    fixed = make_camera(f_number=4.0, focus_distance=3.0, wavelength=0.0)
    r_fixed = one(fixed, make_target(0.5))
    assert r_fixed["defocus_px"] > 5.0 and r_fixed["limiting"] == FACTOR_CODE["defocus"]
    auto = replace(fixed, focus_mode="autofocus", focus_range=(0.2, 4.0))
    r_auto = one(auto, make_target(0.5))
    assert r_auto["defocus_px"] == pytest.approx(0.0, abs=1e-3) and r_auto["decodable"]
    clamped = one(replace(auto, focus_range=(1.0, 4.0)), make_target(0.5))  # focus stops at 1 m
    assert clamped["defocus_px"] == pytest.approx(F**2 * 0.5 / (4.0 * 0.5 * (1.0 - F)) / PITCH, rel=1e-3)


def test_motion_across_and_along_the_bars():
    d, v, exposure = 0.5, 2.0, 1e-3
    cam = make_camera(exposure=exposure)
    across = one(cam, make_target(d, velocity=np.array([v, 0.0, 0.0])))
    expected = v * exposure * F / (PITCH * d)
    assert across["motion_px"] == pytest.approx(expected, rel=1e-3)
    assert across["margins"][M["motion"]] == pytest.approx(1.5 * across["ppm_u"] / expected, rel=1e-3)
    assert across["limiting"] == FACTOR_CODE["motion"]
    along = one(cam, make_target(d, velocity=np.array([0.0, 0.0, v])))  # along the bars of a 1-D code
    assert along["motion_px"] == pytest.approx(expected, rel=1e-3)
    assert along["decodable"] and math.isinf(along["margins"][M["motion"]])


def test_wall_occludes():
    wall = quad("/wall", (0.0, 0.25, 0.0), 0.5, 0.5)
    r = one(make_camera(), make_target(0.5), [wall])
    assert r["limiting"] == FACTOR_CODE["occluded"] and r["visible_fraction"] == 0.0
    assert not r["decodable"] and r["score"] == 0.0 and r["margins"][M["occluded"]] == 0.0
    half = quad("/half", (0.5 + 0.0037, 0.25, 0.0), 0.5, 0.5)  # hides the right column of samples
    r = one(make_camera(), make_target(0.5), [half])
    assert r["limiting"] == FACTOR_CODE["occluded"] and r["visible_fraction"] == pytest.approx(6 / 9)
    behind = quad("/backing", (0.0, 0.5, 0.0), 0.5, 0.5)  # the surface the label sits on
    assert one(make_camera(), make_target(0.5), [behind])["visible_fraction"] == 1.0


def test_outside_view_and_facing():
    cam = make_camera()
    behind = one(cam, make_target(-0.5, rotation=symbol_rotation((0, 1, 0), (1, 0, 0))))
    assert behind["limiting"] == FACTOR_CODE["fov"] and behind["visible_fraction"] == 0.0
    assert behind["ppm_u"] == 0.0 and behind["margins"][M["fov"]] == 0.0
    aside_at = make_target(0.5, position=np.array([0.5, 0.5, 0.0]))
    aside = one(cam, aside_at)  # culled: only its distance and tilt, its other metrics 0
    assert aside["limiting"] == FACTOR_CODE["fov"] and aside["ppm_u"] == 0.0 and aside["combined_margin"] == 0.0
    assert aside["distance"] == pytest.approx(math.hypot(0.5, 0.5)) and aside["tilt_deg"] > 0
    full = one(cam, aside_at, cull=False)  # the study's world: every metric of every pair
    assert full["limiting"] == FACTOR_CODE["fov"] and full["ppm_u"] > 0 and full["combined_margin"] > 0
    assert full["distance"] == aside["distance"] and full["tilt_deg"] == aside["tilt_deg"]
    for k in ("fov", "backfacing", "glare", "exposure", "occluded"):
        assert full["margins"][M[k]] == aside["margins"][M[k]], k
    away = one(cam, make_target(0.5, rotation=symbol_rotation((0, 1, 0), (1, 0, 0))))
    assert away["limiting"] == FACTOR_CODE["backfacing"] and away["margins"][M["backfacing"]] == 0.0
    assert math.isinf(away["margins"][M["fov"]])
    too_close = one(make_camera(clipping=(0.6, 100.0)), make_target(0.5))
    assert too_close["limiting"] == FACTOR_CODE["fov"]


def test_tilt_beyond_max_is_angle():
    t = math.radians(70.0)
    tgt = make_target(0.3, rotation=symbol_rotation((math.sin(t), -math.cos(t), 0.0), (math.cos(t), math.sin(t), 0)))
    r = one(make_camera(), tgt)
    assert r["tilt_deg"] == pytest.approx(70.0, abs=0.01)
    assert r["limiting"] == FACTOR_CODE["angle"]
    assert r["margins"][M["angle"]] == pytest.approx(60.0 / 70.0, rel=1e-4)
    assert r["combined_margin"] > 1.0
    r = one(make_camera(max_tilt_deg=75.0), tgt)
    assert r["decodable"]


def test_far_target_is_resolution():
    r = one(make_camera(clipping=(0.01, 1e3)), make_target(8.0))
    assert r["limiting"] == FACTOR_CODE["resolution"]
    ppm = 0.0005 * F / (PITCH * 8.0)
    assert r["ppm_u"] == pytest.approx(ppm, rel=1e-3)
    assert r["combined_margin"] == pytest.approx(ppm / 1.5, rel=1e-3)  # no blur: only the sampling term


def test_thresholds_follow_the_decoder_profile():
    d = 0.0005 * F / (PITCH * 1.0)  # PPM = 1.0: above engine (0.7), below industrial (1.5)
    tgt = make_target(d)
    for name, ok in (("engine", True), ("industrial", False), ("robust", False)):
        r = one(make_camera(decoder_profile=name), tgt)
        assert bool(r["decodable"]) is ok, name
        assert r["margins"][M["resolution"]] == pytest.approx(1.0 / PROFILES[name].threshold("code128"), rel=1e-3)
    qr = one(make_camera(decoder_profile="engine"), make_target(d, symbology="qrcode", modules=(21, 21)))
    assert qr["limiting"] == FACTOR_CODE["resolution"]  # 2-D threshold 1.4 > 1.0


def test_scanline_decoder_needs_small_roll():
    roll = math.radians(30.0)
    tgt = make_target(0.5, rotation=symbol_rotation((0, -1, 0), (math.cos(roll), 0.0, math.sin(roll))))
    robust = one(make_camera(decoder_profile="robust"), tgt)  # h/L = 0.15 < tan(30 deg)
    assert robust["limiting"] == FACTOR_CODE["angle"]
    assert robust["margins"][M["angle"]] == pytest.approx(0.15 / math.tan(roll), rel=1e-3)
    assert one(make_camera(decoder_profile="industrial"), tgt)["decodable"]  # imagers read any rotation


def test_aperture_offset_moves_the_principal_point():
    # Half width of the view at 0.5 m: 0.5 * 0.010 / 0.016 * 0.5 = 0.156 m; the padded symbol is 40 modules wide.
    tgt = make_target(0.5, position=np.array([0.15, 0.5, 0.0]))
    assert one(make_camera(), tgt)["limiting"] == FACTOR_CODE["fov"]
    shifted = make_camera(aperture_offset=(0.002, 0.0))
    assert shifted.cx < 1000.0
    assert one(shifted, tgt)["decodable"]


def test_unknown_profile_is_a_user_error():
    from swb.errors import SwbError

    with pytest.raises(SwbError, match="decoderProfile"):
        World(Scene("s.usda", [make_camera(decoder_profile="no-such-decoder")], [make_target()], []), device=DEVICE)


def test_degenerate_pairs_stay_finite():
    """Edge-on symbols, a symbol at the camera's centre and empty scenes give numbers, never NaN."""
    edge_on = make_target(0.5, rotation=symbol_rotation((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)))
    at_camera = make_target(0.0)
    res = evaluate([make_camera(), make_camera(f_number=2.0, exposure=1e-3)], [edge_on, at_camera, make_target()])
    assert res.limiting[0, 0] == FACTOR_CODE["backfacing"] and res.combined_margin[0, 0] == 0.0
    assert res.limiting[0, 1] == FACTOR_CODE["fov"] and res.distance[0, 1] == 0.0
    assert res.decodable[0, 2] and res.limiting[1, 2] == FACTOR_CODE["defocus"]
    assert evaluate([], [make_target()]).shape == (0, 1)
    assert evaluate([make_camera()], []).shape == (1, 0)


# ------------------------------------------------------------------ module aspect, classes and decoder traits


def test_pdf417_rows_are_three_modules_tall():
    """PPM_w of a PDF417 symbol counts pixels per row (3X); a smear along the rows' height is judged in rows."""
    d = 0.5
    ppm = 0.0005 * F / (PITCH * d)
    tgt = make_target(d, symbology="pdf417", modules=(103, 27))
    r = one(make_camera(), tgt)
    assert r["ppm_u"] == pytest.approx(ppm, rel=1e-2)
    assert r["ppm_w"] == pytest.approx(3.0 * ppm, rel=1e-2)
    # 12 px of smear along w: 12 / (3 ppm) = 1.25 rows, within B = 1.5 (it would be 3.75 modules at X).
    smear = 12.0
    v = smear * PITCH * d / (F * 1e-3)
    moving = one(make_camera(exposure=1e-3), replace(tgt, velocity=np.array([0.0, 0.0, v])))
    assert moving["motion_px"] == pytest.approx(smear, rel=1e-3)
    T, B = PROFILES["industrial"].threshold("pdf417"), PROFILES["industrial"].blur("pdf417")
    q_w = ((T / (3 * ppm)) ** 4 + (smear / (3 * ppm) / B) ** 4) ** 0.25
    assert moving["decodable"] and moving["combined_margin"] == pytest.approx(1.0 / q_w, rel=1e-2)
    square = one(make_camera(), make_target(d, symbology="datamatrix", modules=(20, 20)))
    assert square["ppm_w"] == pytest.approx(ppm, rel=1e-2)  # other 2-D symbols keep square modules


def test_aztec_is_its_own_threshold_class(monkeypatch):
    assert CLASS_CODE["aztec"] != CLASS_CODE["qr"]
    for name in ("engine", "industrial", "robust"):  # the built-in profiles read Aztec like QR
        p = PROFILES[name]
        assert p.threshold("aztec") == p.threshold("qrcode") and p.blur("aztec") == p.blur("qrcode")
    monkeypatch.setitem(PROFILES, "split", DecoderProfile("split", (1.0, 1.0, 1.0, 1.0, 3.0), 1.5, False, "test"))
    d = 0.0005 * F / (PITCH * 2.0)  # PPM = 2
    qr = one(make_camera(decoder_profile="split"), make_target(d, symbology="qrcode", modules=(21, 21)))
    az = one(make_camera(decoder_profile="split"), make_target(d, symbology="aztec", modules=(19, 19)))
    assert qr["decodable"] and qr["margins"][M["resolution"]] == pytest.approx(2.0, rel=1e-2)
    assert az["limiting"] == FACTOR_CODE["resolution"]
    assert az["margins"][M["resolution"]] == pytest.approx(2.0 / 3.0, rel=1e-2)


def test_blur_limit_per_class(monkeypatch):
    monkeypatch.setitem(PROFILES, "blur", DecoderProfile("blur", 1.0, (1.5, 1.5, 0.5, 1.5, 1.5), False, "test"))
    d = 0.0005 * F / (PITCH * 4.0)  # PPM = 4, smear 4 px = 1 module along u
    v = 4.0 * PITCH * d / (F * 1e-3)
    cam = make_camera(decoder_profile="blur", exposure=1e-3)
    qr = one(cam, make_target(d, symbology="qrcode", modules=(21, 21), velocity=np.array([v, 0.0, 0.0])))
    dm = one(cam, make_target(d, symbology="datamatrix", modules=(20, 20), velocity=np.array([v, 0.0, 0.0])))
    assert qr["decodable"] and qr["margins"][M["motion"]] == pytest.approx(1.5, rel=2e-2)
    assert dm["limiting"] == FACTOR_CODE["motion"] and dm["margins"][M["motion"]] == pytest.approx(0.5, rel=2e-2)


def test_partial_occlusion_follows_the_decoder_trait():
    """One hidden corner sample (8 of 9 seen): error correction reads it (zxing), the strict rule does not."""
    corner = quad("/corner", (0.5015, 0.25, 0.5015), 0.5, 0.5)  # x, z > 1.5 mm at y = 0.25: the (+u, +w) sample
    # 0.6 mm modules: 3.84 px per module, clear of the fitted link's 90 % point for Aztec (margin 1.45 > m90)
    tgt = make_target(0.5, symbology="aztec", modules=(19, 19), module_size=0.0006)
    strict = one(make_camera(decoder_profile="industrial"), tgt, [corner])
    assert strict["visible_fraction"] == pytest.approx(8 / 9) and strict["limiting"] == FACTOR_CODE["occluded"]
    assert PROFILES["zxing"].visible_share("aztec") <= 8 / 9
    ec = one(make_camera(decoder_profile="zxing"), tgt, [corner])
    assert ec["decodable"] and ec["visible_fraction"] == pytest.approx(8 / 9)
    assert ec["margins"][M["occluded"]] == pytest.approx(8 / 9)


def test_one_clear_row_reads_a_1d_code(monkeypatch):
    """A 1-D code with its top row of samples hidden still has a clear scan line; hiding its right end does not."""
    monkeypatch.setitem(PROFILES, "rows", DecoderProfile("rows", 1.0, 1.5, False, "test", clear_row=True))
    top = quad("/top", (0.0, 0.25, 0.5005), 1.0, 0.5)  # z > 0.5 mm: the top row (z = 2.2 mm, 1.1 mm at the wall)
    side = quad("/side", (0.5037, 0.25, 0.0), 0.5, 0.5)  # the +u column
    tgt = make_target(0.5)  # code128, bars 4.5 mm tall
    for wall, ok in ((top, True), (side, False)):
        r = one(make_camera(decoder_profile="rows"), tgt, [wall])
        assert r["visible_fraction"] == pytest.approx(6 / 9)
        assert bool(r["decodable"]) is ok and r["limiting"] == (0 if ok else FACTOR_CODE["occluded"])
        assert one(make_camera(decoder_profile="industrial"), tgt, [wall])["limiting"] == FACTOR_CODE["occluded"]


def test_scan_cover_shrinks_the_scanline_margin(monkeypatch):
    monkeypatch.setitem(PROFILES, "cover", DecoderProfile("cover", 1.0, 1.5, True, "test", scan_cover=0.5))
    roll = math.radians(5.0)
    tgt = make_target(0.5, rotation=symbol_rotation((0, -1, 0), (math.cos(roll), 0.0, math.sin(roll))))
    r = one(make_camera(decoder_profile="cover"), tgt)  # h/L = 0.15: (1 - 0.5) * 0.15 / tan(5 deg) = 0.857
    assert r["limiting"] == FACTOR_CODE["angle"]
    assert r["margins"][M["angle"]] == pytest.approx(0.5 * 0.15 / math.tan(roll), rel=1e-3)
    assert one(make_camera(decoder_profile="robust"), tgt)["decodable"]  # one crossing line is enough there


def _both(cam: CameraModel, tgt: TargetModel) -> tuple[dict, dict]:
    """The Warp kernel's and the numpy reference's results for one pair."""
    from swb.engine.reference import evaluate_reference

    ref = evaluate_reference(Scene("test", [cam], [tgt], []))
    return one(cam, tgt), {name: getattr(ref, name)[0, 0] for name in ("decodable", "limiting", "margins")}


def test_threshold_scale_multiplies_one_symbologys_threshold(monkeypatch):
    """Code 39 at 2x the 1-D T: PPM 3.2 gives a resolution margin of 3.2 / 2, Code 128 keeps 3.2 / 1."""
    monkeypatch.setitem(PROFILES, "c39", DecoderProfile("c39", 1.0, 1.5, False, "test",
                                                        threshold_scale=(("code39", 2.0),)))
    ppm = 0.0005 * F / (PITCH * 0.5)
    cam = make_camera(decoder_profile="c39")
    for sym, thr in (("code39", 2.0), ("code128", 1.0)):
        for r in _both(cam, make_target(0.5, symbology=sym)):
            assert r["margins"][M["resolution"]] == pytest.approx(ppm / thr, rel=1e-3)
    assert PROFILES["c39"].threshold("code39") == 2.0 and PROFILES["c39"].threshold("itf") == 1.0
    slow = one(make_camera(decoder_profile="c39"), make_target(1.2, symbology="code39"))  # PPM 1.33 < 2
    assert slow["limiting"] == FACTOR_CODE["resolution"]
    with pytest.raises(ValueError, match="unknown symbology"):
        DecoderProfile("bad", 1.0, 1.5, False, "test", threshold_scale=(("code93", 2.0),))


def test_decoder_tilt_limit_is_the_stricter_of_camera_and_profile(monkeypatch):
    """A decoder reading 2-D codes to 65 degrees: at 70 degrees of tilt under a camera allowing 80, the QR pair's angle
    margin is 65 / 70 and the 1-D pair keeps the camera's 80 / 70; under the default camera (60) the camera's rule
    decides for both."""
    monkeypatch.setitem(PROFILES, "t65", DecoderProfile("t65", 1.0, 1.5, False, "test",
                                                        max_tilt=(90.0, 90.0, 65.0, 65.0, 65.0)))
    t = math.radians(70.0)
    rot = symbol_rotation((math.sin(t), -math.cos(t), 0.0), (math.cos(t), math.sin(t), 0))
    qr = make_target(0.3, symbology="qrcode", modules=(21, 21), rotation=rot)
    linear = make_target(0.3, rotation=rot)
    for tgt, limit in ((qr, 65.0), (linear, 80.0)):
        for r in _both(make_camera(decoder_profile="t65", max_tilt_deg=80.0), tgt):
            assert r["margins"][M["angle"]] == pytest.approx(limit / 70.0, rel=1e-4)
            assert (r["limiting"] == FACTOR_CODE["angle"]) == (limit < 70.0)
        for r in _both(make_camera(decoder_profile="t65"), tgt):
            assert r["margins"][M["angle"]] == pytest.approx(60.0 / 70.0, rel=1e-4)
    assert PROFILES["t65"].tilt_limit("aztec") == 65.0 and PROFILES["engine"].tilt_limit("qrcode") == 90.0
    with pytest.raises(ValueError, match="max_tilt"):
        DecoderProfile("bad", 1.0, 1.5, False, "test", max_tilt=95.0)


@pytest.mark.parametrize("share, ok", [(1.0, False), (0.6, False), (0.4, True), (0.0, True)])
def test_quiet_zone_share_in_view(monkeypatch, share, ok):
    """A Code 128 symbol whose right quiet zone (10 modules = 32 px at PPM 3.2) has 16 px inside the image."""
    monkeypatch.setitem(PROFILES, "qz", DecoderProfile("qz", 1.0, 1.5, False, "test", quiet_zone=share))
    d = 0.5
    u_centre = 2000 - 30 * 3.2 - 16  # symbol half length 30 modules; 16 of the 32 quiet-zone pixels in view
    tgt = make_target(d, position=np.array([(u_centre - 1000) / FX * d, d, 0.0]))
    for r in _both(make_camera(decoder_profile="qz"), tgt):
        assert bool(r["decodable"]) is ok
        assert r["limiting"] == (0 if ok else FACTOR_CODE["fov"])
    assert one(make_camera(decoder_profile="industrial"), tgt)["limiting"] == FACTOR_CODE["fov"]


@pytest.mark.parametrize("line_view", [False, True])
def test_line_view_lets_1d_bars_leave_the_image(monkeypatch, line_view):
    """Bars 28.8 px tall centred 10 px below the top edge: the centre scan line is in view, the bars' tops are
    not. A 2-D symbol there stays out of view either way."""
    monkeypatch.setitem(PROFILES, "lv", DecoderProfile("lv", 1.0, 1.5, False, "test", line_view=line_view))
    d = 0.5
    pos = np.array([0.0, d, (500 - 10) / FX * d])
    for r in _both(make_camera(decoder_profile="lv"), make_target(d, position=pos)):
        assert bool(r["decodable"]) is line_view
    dm = make_target(d, position=pos, symbology="datamatrix", modules=(20, 20))
    for r in _both(make_camera(decoder_profile="lv"), dm):
        assert r["limiting"] == FACTOR_CODE["fov"]
