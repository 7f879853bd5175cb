"""p_read: the read-probability link in the kernels and the numpy reference, the verdict it defines
(decodable = p_read >= swb:sensor:minReadProbability), the attribute on the stage and the link's fit."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from device import DEVICE
from pxr import Usd
from test_kernels_closed_form import FX, evaluate, make_camera, make_target

import swb
from swb.cli.render import add_render_commands, cmd_validate
from swb.engine.profiles import CLASS_CODE, FACTOR_CODE, PROFILES, READ_ANCHOR, read_floor, read_probability
from swb.engine.reference import evaluate_reference
from swb.engine.results import Results, summarize
from swb.engine.station_generator import generate_station
from swb.errors import SwbError
from swb.render.calibration import CaseMargins, fit_link
from swb.render.study import Case, save_cases
from swb.stage.authoring import add_camera, add_target

LINEAR = CLASS_CODE["linear"]
X = 0.0005


def _logistic(m: float, m90: float, slope: float) -> float:
    return 1.0 / (1.0 + math.exp(-(math.log(READ_ANCHOR / (1 - READ_ANCHOR)) + slope * math.log(m / m90))))


def _at_margin(margin: float, profile: str = "zxing", **cam) -> tuple[object, float]:
    """A Code 128 square on to a pinhole camera at the distance that gives this resolution margin (PPM / T)."""
    t = PROFILES[profile].threshold("code128")
    d = X * FX / (t * margin)
    res = evaluate([make_camera(decoder_profile=profile, **cam)], [make_target(d=d, module_size=X)])
    return res, t


def test_the_fitted_profile_reads_half_the_time_at_its_limit_so_decodable_starts_above_it():
    zx = PROFILES["zxing"]
    m90, slope = zx.read_m90[LINEAR], zx.read_slope[LINEAR]
    assert m90 > 1.0, "the fitted limit is where reads halve: 9 in 10 needs more margin"
    below, _ = _at_margin(math.sqrt(m90))  # above the old limit, below the 90 % point
    assert not below.decodable[0, 0]
    assert below.limiting[0, 0] == FACTOR_CODE["resolution"]
    m = float(below.combined_margin[0, 0])
    assert 1.0 < m < m90
    assert below.p_read[0, 0] == pytest.approx(_logistic(m, m90, slope), rel=1e-5)
    assert 0.5 < below.p_read[0, 0] < READ_ANCHOR
    above, _ = _at_margin(1.2 * m90)
    assert above.decodable[0, 0] and above.limiting[0, 0] == 0
    assert above.p_read[0, 0] == pytest.approx(_logistic(float(above.combined_margin[0, 0]), m90, slope), rel=1e-5)
    assert above.p_read[0, 0] >= READ_ANCHOR


def test_a_stricter_minimum_probability_moves_the_floor_up():
    zx = PROFILES["zxing"]
    m90, slope = zx.read_m90[LINEAR], zx.read_slope[LINEAR]
    floor = float(read_floor(m90, slope, 0.99))
    assert floor == pytest.approx(m90 * math.exp((math.log(99) - math.log(9)) / slope))
    between, _ = _at_margin(0.5 * (m90 + floor), min_read_probability=0.99)
    assert not between.decodable[0, 0] and between.p_read[0, 0] < 0.99
    default, _ = _at_margin(0.5 * (m90 + floor))
    assert default.decodable[0, 0] and default.p_read[0, 0] >= 0.9
    beyond, _ = _at_margin(1.05 * floor, min_read_probability=0.99)
    assert beyond.decodable[0, 0] and beyond.p_read[0, 0] >= np.float32(0.99)


def test_vendor_profiles_keep_every_margin_at_least_one():
    """m90 = 1: at the default minimum 0.9 the floor is exactly 1, so the verdict is the margin rule."""
    for name in ("engine", "industrial", "robust"):
        assert PROFILES[name].read_m90 == (1.0,) * 5
        assert np.all(read_floor(np.array(PROFILES[name].read_m90), np.array(PROFILES[name].read_slope), 0.9) == 1.0)
    lo, _ = _at_margin(0.97, "industrial")
    hi, _ = _at_margin(1.03, "industrial")
    assert not lo.decodable[0, 0] and hi.decodable[0, 0]
    assert lo.p_read[0, 0] < 0.9 <= hi.p_read[0, 0]


def test_gated_pairs_never_read():
    res = evaluate([make_camera()], [make_target(d=0.5, rotation=np.eye(3))])  # facing along +Z: seen edge-on
    assert res.limiting[0, 0] in (FACTOR_CODE["backfacing"], FACTOR_CODE["fov"], FACTOR_CODE["angle"])
    behind = evaluate([make_camera()], [make_target(d=-0.5)])
    assert behind.limiting[0, 0] == FACTOR_CODE["fov"] and behind.p_read[0, 0] == 0.0


def test_kernels_and_reference_give_the_same_read_probability():
    scene = generate_station(n_triangles=2000, n_cameras=6, n_targets=300, seed=7)
    cams = [replace(c, decoder_profile=("zxing", "industrial")[i % 2], min_read_probability=(0.9, 0.9, 0.97)[i % 3])
            for i, c in enumerate(scene.cameras)]
    scene = replace(scene, cameras=cams)
    sim_res = evaluate(scene.cameras, scene.targets, scene.parts)
    ref = evaluate_reference(scene)
    np.testing.assert_allclose(sim_res.p_read, ref.p_read, atol=2e-5)
    margin = np.minimum(ref.combined_margin, ref.margins[..., FACTOR_CODE["angle"] - 1])
    near = np.abs(np.log(np.where(margin > 0, margin, 1.0))) < 1e-4  # float32 vs float64 at the floor
    assert np.array_equal(sim_res.decodable[~near], ref.decodable[~near])
    q = np.array([c.min_read_probability for c in cams], np.float32)[:, None] * np.ones_like(sim_res.p_read)
    assert (sim_res.p_read[sim_res.decodable] >= q[sim_res.decodable]).all()
    assert (sim_res.p_read[~sim_res.decodable] < q[~sim_res.decodable] + 1e-6).all()
    assert sim_res.decodable.any() and (~sim_res.decodable & (sim_res.p_read > 0.5)).any(), "both sides are tested"


def one_camera_station(tmp_path, camera: dict, target: dict):  # noqa: ANN001, ANN201
    """An empty metre stage, and a layer over it with one camera 1 m from one Code 128 label facing it."""
    src = tmp_path / "station.usda"
    stage = Usd.Stage.CreateNew(str(src))
    stage.SetMetadata("metersPerUnit", 1.0)
    stage.GetRootLayer().Save()
    out = tmp_path / "cams.usda"
    add_camera(src, out, "/World/cam", position=(0, -1, 0), look_at=(0, 0, 0), **camera)
    add_target(src, out, "/World/label", (0, 0, 0), (0, -1, 0), "code128", 0.33, (90, 1), **target)
    return src, out


def test_min_read_probability_on_the_stage(tmp_path):
    src, out = one_camera_station(tmp_path, {"min_read_probability": 0.95}, {})
    sim = swb.open(out, device=DEVICE)
    assert sim.scene.cameras[0].min_read_probability == pytest.approx(0.95)
    with pytest.raises(SwbError, match="min_read_probability"):
        add_camera(src, tmp_path / "bad.usda", "/World/cam", position=(0, -1, 0), look_at=(0, 0, 0),
                   min_read_probability=1.0)
    for bad in ("1.5", "0", "nan"):
        layer = tmp_path / f"bad_{bad}.usda"
        text = out.read_text().replace("swb:sensor:minReadProbability = 0.95",
                                       f"swb:sensor:minReadProbability = {bad}")
        layer.write_text(text)
        with pytest.raises(SwbError) as err:
            swb.open(layer, device=DEVICE)
        msg = str(err.value)
        assert "swb:sensor:minReadProbability" in msg and "/World/cam" in msg and "\n" not in msg


def test_the_summary_reports_the_best_camera_as_a_lower_bound():
    scene = generate_station(n_triangles=2000, n_cameras=5, n_targets=200, seed=3)
    res = evaluate(scene.cameras, scene.targets, scene.parts)
    assert res.p_read.max() > 0.5, "the station reads somewhere"
    s = summarize(res)
    np.testing.assert_array_equal(s.p_read, res.p_read.max(axis=0))
    rows = Results(scene.cameras, scene.targets, res).summaries()
    assert [r.p_read for r in rows] == pytest.approx(res.p_read.max(axis=0).tolist())
    assert all(r.p_read >= 0.9 for r in rows if r.decodable)


def test_the_link_fit_recovers_a_known_curve():
    """Cases drawn from a known logistic in ln M: the fitter returns its m90 and slope, and its predictions are
    calibrated (an independent check of the fitting code, no decoder involved)."""
    rng = np.random.default_rng(0)
    n = 6000
    cls = rng.integers(0, 5, n)
    margin = np.exp(rng.uniform(-0.6, 0.8, n))
    m90 = np.array([1.2, 1.35, 1.1, 1.25, 1.3])
    slope = np.array([9.0, 7.0, 12.0, 10.0, 8.0])
    p = read_probability(margin, m90[cls], slope[cls])
    decoded = rng.random(n) < p
    cm = CaseMargins(margin, np.zeros(n, bool), cls, decoded)
    got_m90, got_slope = fit_link(cm, PROFILES["industrial"])
    np.testing.assert_allclose(got_m90, m90, rtol=0.04)
    np.testing.assert_allclose(got_slope, slope, rtol=0.25)
    fitted = read_probability(margin, np.asarray(got_m90)[cls], np.asarray(got_slope)[cls])
    assert np.abs(fitted - p).max() < 0.05, "the fitted curve is the true one to a few points everywhere"


def test_validate_fits_the_link_cross_validated_by_study(tmp_path, capsys):
    """Two saved 'studies' of QR cases whose reads follow a known link: ``swb validate --fit-link`` recovers it,
    predicts each study from the other, and reports a calibration table."""
    rng = np.random.default_rng(1)
    zx = PROFILES["zxing"]
    t = zx.threshold("qrcode")
    truth_m90, truth_slope = 1.3, 10.0
    files = []
    for study in range(2):
        cases = []
        for i in range(700):
            margin = float(np.exp(rng.uniform(-0.5, 0.8)))
            p = read_probability(margin, truth_m90, truth_slope)
            cases.append(Case(index=i, camera="/c", target="/t", symbology="qrcode", design="resolution", content="x",
                              module_size=5e-4, modules=(21, 21), ppm_u=margin * t, ppm_w=margin * t, defocus_px=0.0,
                              smear_u=0.0, smear_w=0.0, tilt_deg=0.0, max_tilt=90.0, scan_margin=math.inf, fov=True,
                              front=True, visible_fraction=1.0, predicted=False, limiting=None,
                              decoded=bool(rng.random() < p)))
        files.append(tmp_path / f"s{study}.json")
        save_cases(files[-1], cases)
    parser = argparse.ArgumentParser()
    add_render_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", "--cases", str(files[0]), "--cases", str(files[1]), "--fit-link", "--json"])
    assert args.handler(args) == 0
    fit = json.loads(capsys.readouterr().out)["fit"]
    assert fit["read_link_folds"] == 2
    assert fit["read_m90"][CLASS_CODE["qr"]] == pytest.approx(truth_m90, rel=0.05)
    assert fit["read_slope"][CLASS_CODE["qr"]] == pytest.approx(truth_slope, rel=0.3)
    cal = fit["read_link_calibration"]
    assert cal["n"] == 1400 and sum(b["n"] for b in cal["bins"]) == 1400
    assert cal["ece"] < 0.04
    # reads drawn from the link: far from the limit the agreement is what the link itself expects (not 100 %)
    assert cal["far_n"] > 500 and cal["far_gated_read"] == 0
    assert cal["far_expected"] < 0.995 and abs(cal["far_agreement"] - cal["far_expected"]) < 0.02
    qr = cal["by_symbology"]["qrcode"]  # one symbology here: its row is the whole study, none of it tilted
    assert qr["n"] == 1400 and abs(qr["predicted"] - qr["observed"]) < 0.04
    assert qr["tilted_n"] == 0 and qr["tilted_predicted"] is None
    with pytest.raises(SwbError, match="--fit-link needs"):
        cmd_validate(parser.parse_args(["validate", "scene.usda", "--fit-link"]))


def test_a_save_without_read_probabilities_asks_for_a_new_evaluation(tmp_path):
    """Results saved before p_read existed cannot be restored as they were: the one-line error says what to do."""
    from pxr import Sdf

    sim = swb.open(swb.bundled_scene("pick_station"), device=DEVICE)
    sim.evaluate()
    root = sim.save(tmp_path / "s.swb.usda")
    (results,) = tmp_path.glob("s.swb.*.results.usdc")
    layer = Sdf.Layer.FindOrOpen(str(results))
    spec = next(p for p in layer.rootPrims[0].nameChildren if p.attributes.get("swb:results:p_read"))
    spec.RemoveProperty(spec.attributes["swb:results:p_read"])
    layer.Save()
    with pytest.raises(SwbError) as err:
        swb.restore(root, device=DEVICE)
    msg = str(err.value)
    assert "swb:results:p_read" in msg and "evaluate again" in msg and "\n" not in msg


def test_pictures_colour_targets_by_read_probability(tmp_path):
    from swb.viz.modes import target_colouring, view

    sim = swb.open(swb.bundled_scene("scan_tunnel"), device=DEVICE)
    res = sim.evaluate()
    values, colours = target_colouring(res, None, "p_read")
    np.testing.assert_allclose(values, res.pairs.p_read.max(axis=0))
    assert len({tuple(c) for c in np.round(colours, 3)}) > 3  # a ramp, not two colours
    pic = view(sim, color_by="p_read", width=320, height=200, out_dir=tmp_path, record=True)
    assert any(p.suffix == ".png" and p.stat().st_size > 0 for p in map(Path, pic.files.values()))
