"""Synthetic images decoded by zxing-cpp, labels, determinism, and the validation / fitting machinery."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("zxingcpp")
pytest.importorskip("PIL")

from device import DEVICE  # noqa: E402

from swb.cli.render import add_render_commands, cmd_validate  # noqa: E402
from swb.engine.model import CameraModel, MeshPart, Scene, TargetModel  # noqa: E402
from swb.engine.profiles import FACTOR_CODE, DecoderProfile  # noqa: E402
from swb.errors import SwbError  # noqa: E402
from swb.render.fitting import ZXING_PROFILE, _fit_once, agreement, profile_verdict  # noqa: E402
from swb.render.renderer import (  # noqa: E402
    Renderer,
    RenderSettings,
    encode_symbol,
    export,
    project_points,
    symbol_corners_world,
)
from swb.render.study import Case, decode, quiet_zone_in_view, remodel_study, run_study, study_case  # noqa: E402

PITCH = 5e-6
W, H = 256, 192
CONTENT = "SWB render test"


def _box(path: str, centre, half) -> MeshPart:
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
    tris = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)
    m = np.eye(4)
    m[:3, 3] = centre
    return MeshPart(path, signs * np.asarray(half, np.float64), tris, m)


def _scene(*, f_number=0.0, focus=0.5, exposure=0.0, velocity=(0.0, 0.0, 0.0), wall=False) -> Scene:
    """A camera 0.5 m above a QR code (about 4 px per module) on a parcel, looking straight down (-Z)."""
    cam = CameraModel("/Cam", np.eye(3), np.array([0.0, 0.0, 0.5]), W, H, 0.016, (W * PITCH, H * PITCH),
                      f_number=f_number, focus_distance=focus, exposure=exposure)
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # rolled 90 degrees: u along world Y
    tgt = TargetModel("/Label", rot, np.array([0.004, -0.003, 0.001]), "qrcode", 0.6e-3, (21, 21),
                      velocity=np.asarray(velocity, np.float64), content=CONTENT)
    parts = [_box("/Parcel", [0.0, 0.0, -0.05], [0.1, 0.1, 0.05])]
    if wall:
        parts.append(_box("/Wall", [0.0, 0.0, 0.25], [0.05, 0.05, 0.002]))
    return Scene("test", [cam], [tgt], parts)


def _render(scene: Scene, spp: int = 4, seed: int = 1):
    r = Renderer(scene, DEVICE, RenderSettings(spp=spp, seed=seed))
    try:
        return r, r.render(0)
    finally:
        r.close()


def test_square_on_symbol_decodes_to_its_content():
    r, img = _render(_scene())
    assert img.pixels.shape == (H, W) and img.pixels.dtype == np.uint8
    ok, text = decode(img.pixels, "qrcode", r.bitmaps[0].text)
    assert ok and text == CONTENT


def test_heavy_defocus_and_motion_blur_do_not_decode():
    # Focused at 0.25 m with f/2: blur disk ~ 4 modules. Smear 1.5 m/s x 2 ms ~ 5 modules.
    for scene in (_scene(f_number=2.0, focus=0.25), _scene(exposure=2e-3, velocity=(1.5, 0.0, 0.0))):
        r, img = _render(scene, spp=16)
        assert not decode(img.pixels, "qrcode", r.bitmaps[0].text)[0]


def _edge_width(scene: Scene) -> float:
    """10-90 % width in pixels of the label's left edge (label white on the parcel), from the radiance."""
    r = Renderer(scene, DEVICE, RenderSettings(spp=1024, seed=3, diffraction=False))
    rad, _, _ = r.radiance(0, (70, 112, 112, 118))
    row = rad.mean(axis=0)
    e = np.maximum.accumulate((row - row[:5].mean()) / (row[34:38].max() - row[:5].mean()))
    x = np.arange(70, 112) + 0.5
    return float(np.interp(0.9, e, x) - np.interp(0.1, e, x))


def test_rendered_blur_matches_the_model():
    # Defocus: a disk of diameter b has a 10-90 % edge width of 0.687 b; a smear of length m: 0.8 m.
    f, n, d, s = 0.016, 2.0, 0.499, 0.45
    b = f * f * abs(d - s) / (n * d * (s - f)) / PITCH
    assert _edge_width(_scene(f_number=n, focus=s)) == pytest.approx(0.687 * b, rel=0.1)
    m = 1.0 * 1e-3 * (0.016 / PITCH) / d
    assert _edge_width(_scene(exposure=1e-3, velocity=(1.0, 0.0, 0.0))) == pytest.approx(0.8 * m, rel=0.1)
    assert _edge_width(_scene(exposure=1e-3, velocity=(0.0, 1.0, 0.0))) < 1.5  # smear along the edge


def test_symbol_behind_a_wall_is_absent():
    r, img = _render(_scene(wall=True))
    assert not (img.ids == 0).any()
    assert not decode(img.pixels, "qrcode", r.bitmaps[0].text)[0]


def test_rendered_corners_match_projected_corners():
    scene = _scene()
    r, img = _render(scene)
    cam, tgt = scene.cameras[0], scene.targets[0]
    corners, _ = project_points(cam, symbol_corners_world(tgt, r.bitmaps[0]))
    # The pixels whose sample lands on the bitmap span the projected rectangle to within a pixel.
    ys, xs = np.nonzero(img.ids == 0)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    assert abs(xs.min() - lo[0]) <= 1 and abs(xs.max() + 1 - hi[0]) <= 1
    assert abs(ys.min() - lo[1]) <= 1 and abs(ys.max() + 1 - hi[1]) <= 1
    # zxing-cpp's own corner estimate agrees too, to its whole-pixel precision.
    import zxingcpp

    found = zxingcpp.read_barcodes(img.pixels, formats=zxingcpp.BarcodeFormat.QRCode)
    pos = found[0].position
    zx = np.array([[p.x, p.y] for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)], float)
    dist = np.linalg.norm(zx[:, None, :] - corners[None, :, :], axis=2).min(axis=1)
    assert dist.max() <= 1.5


def test_cpu_render_is_deterministic_for_a_seed_and_windows_match():
    scene = _scene(f_number=2.8, focus=0.45, exposure=1e-3, velocity=(0.2, 0.0, 0.0))
    r = Renderer(scene, DEVICE, RenderSettings(spp=4, seed=7))
    a, b = r.render(0), r.render(0)
    assert np.array_equal(a.pixels, b.pixels)
    full, _, _ = r.radiance(0)
    win, _, origin = r.radiance(0, (100, 60, 180, 130))
    assert origin == (100, 60) and np.array_equal(win, full[60:130, 100:180])
    other = Renderer(scene, DEVICE, RenderSettings(spp=4, seed=8)).render(0)
    assert not np.array_equal(a.pixels, other.pixels)


def test_export_writes_png_and_labels(tmp_path):
    from PIL import Image

    scene = _scene()
    written = export(scene, tmp_path, device=DEVICE, settings=RenderSettings(spp=2))
    assert sorted(p.name for p in written) == ["Cam.json", "Cam.png"]
    assert Image.open(tmp_path / "Cam.png").size == (W, H)
    doc = json.loads((tmp_path / "Cam.json").read_text())
    assert doc["image"] == "Cam.png" and doc["width"] == W
    (sym,) = doc["symbols"]
    assert sym["content"] == CONTENT and sym["symbology"] == "qrcode" and sym["decodable"] is True
    assert len(sym["corners_px"]) == 4 and sym["metrics"]["ppm_u"] > 3
    assert sym["margins"]["fov"] is None  # passing: infinite margin written as null


def test_encoder_rejects_bad_content_naming_the_prim():
    tgt = TargetModel("/Bad", np.eye(3), np.zeros(3), "ean13", 0.33e-3, (95, 1), content="not digits")
    with pytest.raises(SwbError, match="/Bad.*swb:barcode:content"):
        encode_symbol(tgt)
    assert encode_symbol(replace(tgt, content="")).dark.shape == (1, 95)  # default content is valid


def _case(i: int, cls_symbology: str, ppm: float, blur: float, decoded: bool) -> Case:
    return Case(index=i, camera="/c", target="/t", symbology=cls_symbology, design="resolution", content="x",
                module_size=5e-4, modules=(21, 21), ppm_u=ppm, ppm_w=ppm, defocus_px=blur, smear_u=0.0, smear_w=0.0,
                tilt_deg=0.0, max_tilt=60.0, scan_margin=math.inf, fov=True, front=True, visible_fraction=1.0,
                predicted=False, limiting=None, decoded=decoded)


def test_fit_recovers_a_known_threshold_and_blur_limit():
    rng = np.random.default_rng(0)
    cases = []
    for i in range(300):
        ppm, blur = float(rng.uniform(0.8, 5.0)), float(rng.uniform(0.0, 6.0))
        q = ((2.0 / ppm) ** 4 + (blur / ppm / 1.2) ** 4) ** 0.25  # truth: T = 2.0 for QR, B = 1.2
        cases.append(_case(i, "qrcode", ppm, blur, q <= 1.0))
    fit = _fit_once(cases)
    assert abs(fit.ppm_threshold[3] - 2.0) <= 0.1 and abs(fit.blur_limit[3] - 1.2) <= 0.1
    assert agreement(cases, fit).rate >= 0.98
    assert fit.ppm_threshold[4] == ZXING_PROFILE.ppm_threshold[4]  # no Aztec cases: Aztec keeps its value


def test_fit_finds_the_occlusion_traits():
    """Partly hidden 2-D symbols read down to 6 of 9 samples; 1-D symbols read with one clear row of samples."""
    cases = []
    masks = [0b111111110, 0b111111000, 0b111000000, 0b000000111, 0b110110110, 0b011011011]
    for mask in masks * 4:
        n_seen = bin(mask).count("1")
        row = any((mask >> (3 * r)) & 0b111 == 0b111 for r in range(3))
        for sym, decoded in (("datamatrix", n_seen >= 6), ("code128", row)):
            c = _case(len(cases), sym, 6.0, 0.0, decoded)
            c.visible_mask, c.visible_fraction = mask, n_seen / 9
            cases.append(c)
    fit = _fit_once(cases)
    assert fit.min_visible[2] == pytest.approx(6 / 9) and fit.clear_row
    assert agreement(cases, fit).rate == 1.0


def test_study_prediction_matches_the_numpy_verdict_and_cli_reads_saved_cases(tmp_path, capsys):
    from swb.render.study import save_cases

    scene, design = study_case(0, 3)
    assert len(scene.cameras) == 1 and len(scene.targets) == 1 and design
    cases = run_study(2, seed=5, device=DEVICE)
    assert [c.index for c in cases] == [0, 1]
    pred, _ = profile_verdict(cases, ZXING_PROFILE)
    assert pred.tolist() == [c.predicted for c in cases]  # World (kernels) and the fitting replica agree
    save_cases(tmp_path / "cases.json", cases)
    parser = argparse.ArgumentParser()
    add_render_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", "--cases", str(tmp_path / "cases.json"), "--json"])
    assert args.handler(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["agreement"]["n"] == 2
    with pytest.raises(SwbError, match="exactly one"):
        cmd_validate(parser.parse_args(["validate"]))
    # The model's side recomputed from the seed keeps the decode outcomes; a wrong seed is caught.
    again = remodel_study(cases, 5, device=DEVICE)
    assert [(c.predicted, c.decoded, c.qz_view) for c in again] == [(c.predicted, c.decoded, c.qz_view) for c in cases]
    with pytest.raises(SwbError, match="seed"):
        remodel_study(cases, 6, device=DEVICE)
    with pytest.raises(SwbError, match="--remodel needs"):
        cmd_validate(parser.parse_args(["validate", "--cases", str(tmp_path / "cases.json"), "--remodel"]))


def test_a_study_aimed_at_one_factor_keeps_every_other_draw():
    """``--design angle``: every case probes the tilt, with the symbology and content the unforced study draws."""
    for i in range(6):
        free, drawn = study_case(7, i)
        forced, design = study_case(7, i, "angle")
        assert design == "angle"
        assert forced.targets[0].symbology == free.targets[0].symbology
        assert forced.targets[0].content == free.targets[0].content
        if drawn == "angle":
            np.testing.assert_array_equal(forced.targets[0].position, free.targets[0].position)
        tgt, cam = forced.targets[0], forced.cameras[0]
        to_cam = (cam.position - tgt.position) / np.linalg.norm(cam.position - tgt.position)
        assert np.degrees(np.arccos(np.clip(tgt.rotation[:, 2] @ to_cam, -1, 1))) > 25  # the angle design: 30-85
    with pytest.raises(SwbError, match="unknown study design"):
        study_case(7, 0, "tilt")
    parser = argparse.ArgumentParser()
    add_render_commands(parser.add_subparsers(dest="command"))
    with pytest.raises(SwbError, match="--design angle needs --study"):
        cmd_validate(parser.parse_args(["validate", "--cases", "x.json", "--design", "angle"]))


def test_quiet_zone_in_view_closed_form():
    """Code 128 (60 modules, 10-module quiet zones, PPM 3.2): 16 of the right quiet zone's 32 px in the image."""
    f, d = 0.016, 0.5
    facing = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # columns x/u = +X, y/w = +Z, z/normal = -Y
    cam = CameraModel("/c", facing, np.zeros(3), 2000, 1000, f, (0.010, 0.005))  # looks along +Y
    fx = f / PITCH

    def tgt(u: float, v: float, symbology: str = "code128", modules=(60, 1)) -> TargetModel:
        return TargetModel("/t", facing, np.array([(u - 1000) / fx * d, d, (500 - v) / fx * d]), symbology, 5e-4,
                           modules)

    assert quiet_zone_in_view(cam, tgt(1000, 500)) == 1.0
    assert quiet_zone_in_view(cam, tgt(2000 - 96 - 16, 500)) == pytest.approx(0.5, abs=1e-4)
    assert quiet_zone_in_view(cam, tgt(2000 - 50, 500)) == -1.0  # the symbol itself crosses the edge
    top = tgt(1000, 10)  # bars 28.8 px tall: the centre line is in view, the bars' tops are not
    assert quiet_zone_in_view(cam, top) == -1.0 and quiet_zone_in_view(cam, top, line=True) == 1.0


def test_profile_verdict_applies_the_view_traits_and_threshold_scale():
    near_edge = _case(0, "qrcode", 3.0, 0.0, True)
    near_edge.qz_view = 0.3  # 30 % of the quiet zone in the image
    bars_cut = _case(1, "code128", 3.0, 0.0, True)
    bars_cut.qz_view, bars_cut.qz_line = -1.0, 1.0
    cases = [near_edge, bars_cut, _case(2, "code39", 3.0, 0.0, False)]
    base = DecoderProfile("t", 1.5, 1.5, False, "")
    pred, code = profile_verdict(cases, base)
    assert pred.tolist() == [False, False, True] and code[:2].tolist() == [FACTOR_CODE["fov"]] * 2
    tolerant = replace(base, quiet_zone=0.3, line_view=True, threshold_scale=(("code39", 2.5),))
    pred, code = profile_verdict(cases, tolerant)
    assert pred.tolist() == [True, True, False] and code[2] == FACTOR_CODE["resolution"]  # T = 3.75 > 3


def test_fit_finds_a_threshold_scale_and_the_view_traits():
    """Code 39 reads above 2.4 px/module where Code 128 reads above 1.2; partly out of view, QR reads with half
    its quiet zone and 1-D codes with their centre line in the image."""
    rng = np.random.default_rng(1)
    cases = []
    for i in range(400):
        sym = ("code128", "code39")[i % 2]
        ppm = float(rng.uniform(0.6, 5.0))
        cases.append(_case(i, sym, ppm, 0.0, ppm >= (1.2 if sym == "code128" else 2.4)))
    for share in np.round(np.linspace(-1.0, 0.95, 40), 2):
        c = _case(len(cases), "qrcode", 6.0, 0.0, bool(share >= 0.5))
        c.qz_view = c.qz_line = float(share)
        cases.append(c)
        c = _case(len(cases), "code128", 6.0, 0.0, bool(share >= 0.2))
        c.qz_view, c.qz_line = -1.0, float(share)
        cases.append(c)
    fit = _fit_once(cases)
    assert abs(fit.ppm_threshold[0] - 1.2) <= 0.1 and abs(fit.scale("code39") - 2.0) <= 0.1
    assert fit.line_view and fit.quiet_zone[3] == pytest.approx(0.5) and fit.quiet_zone[0] == pytest.approx(0.2)
    assert agreement(cases, fit).rate >= 0.98


def test_profile_verdict_applies_thresholds_and_the_occlusion_trait():
    cases = [_case(0, "qrcode", 3.0, 0.0, True), _case(1, "qrcode", 1.0, 0.0, False)]
    pred, code = profile_verdict(cases, DecoderProfile("t", (1.5, 2.0, 2.0, 2.0), 1.5, False, ""))
    assert pred.tolist() == [True, False] and code.tolist() == [4, 4]  # resolution decides both
    hidden = _case(2, "qrcode", 3.0, 0.0, True)
    hidden.visible_mask, hidden.visible_fraction = 0b011111111, 8 / 9
    strict = DecoderProfile("t", 1.5, 1.5, False, "")
    assert profile_verdict([hidden], strict)[1].tolist() == [FACTOR_CODE["occluded"]]
    assert profile_verdict([hidden], replace(strict, min_visible=8 / 9))[0].tolist() == [True]
