"""Results survive a trip through a .usdc layer bit for bit, and summaries land on the target prims."""

from __future__ import annotations

import numpy as np
import pytest
from pxr import Sdf, Usd

import swb  # noqa: F401  (registers the schemas)
from swb.engine.model import CameraModel, TargetModel
from swb.engine.pair_results import SCALAR_FIELDS, PairResults
from swb.engine.profiles import FACTOR_CODE
from swb.engine.results import Results
from swb.errors import SwbError
from swb.stage.results_layer import read_results, write_results


def _results() -> Results:
    rng = np.random.default_rng(1)
    cams = [CameraModel(f"/W/Cam{i}", np.eye(3), np.zeros(3), 640, 480, 0.016, (0.0064, 0.0048)) for i in range(3)]
    tgts = [TargetModel(f"/W/T{j}", np.eye(3), np.zeros(3), "qrcode", 5e-4, (21, 21)) for j in range(4)]
    p = PairResults.empty(3, 4)
    for name in SCALAR_FIELDS:
        setattr(p, name, rng.random((3, 4)).astype(np.float32))
    p.margins = rng.random((3, 4, 9)).astype(np.float32)
    p.margins[0, 0, 0] = np.inf
    p.decodable = rng.random((3, 4)) > 0.5
    p.decodable[:, 3] = False
    p.limiting = np.where(p.decodable, 0, FACTOR_CODE["resolution"]).astype(np.int32)
    p.limiting[0, 3] = FACTOR_CODE["fov"]
    return Results(cams, tgts, p)


def test_round_trip_is_bit_exact(tmp_path):
    res = _results()
    layer = Sdf.Layer.CreateAnonymous("r.usdc")
    write_results(layer, res)
    path = tmp_path / "r.usdc"
    assert layer.Export(str(path))
    back = read_results(Sdf.Layer.OpenAsAnonymous(str(path)), res.camera_paths, res.target_paths)
    assert back.equal(res.pairs)
    assert np.isinf(back.margins[0, 0, 0])


def test_summary_on_targets_visible_through_composition(tmp_path):
    res = _results()
    scene = Sdf.Layer.CreateAnonymous("scene.usda")
    stage = Usd.Stage.Open(scene)
    for t in res.target_paths:
        stage.DefinePrim(t, "Xform")
    results_layer = Sdf.Layer.CreateAnonymous("results.usdc")
    write_results(results_layer, res)
    root = Sdf.Layer.CreateAnonymous("root.usda")
    root.subLayerPaths = [results_layer.identifier, scene.identifier]
    composed = Usd.Stage.Open(root)
    for s in res.summaries():
        prim = composed.GetPrimAtPath(s.target)
        assert prim.HasAPI("SwbTargetSummaryAPI")
        assert prim.GetAttribute("swb:summary:decodable").Get() == s.decodable
        assert prim.GetAttribute("swb:summary:camerasDecoding").Get() == s.cameras_decoding
    nobody = composed.GetPrimAtPath("/W/T3")
    assert nobody.GetAttribute("swb:summary:decodable").Get() is False
    assert nobody.GetAttribute("swb:summary:limiting").Get() == "resolution"  # got further than fov


def test_stale_results_are_refused():
    res = _results()
    layer = Sdf.Layer.CreateAnonymous("r.usdc")
    write_results(layer, res)
    with pytest.raises(SwbError, match="other cameras or targets"):
        read_results(layer, res.camera_paths[:2], res.target_paths)


def test_coverage_and_queries():
    res = _results()
    assert res.coverage() == pytest.approx(res.pairs.decodable.any(axis=0).mean())
    rows = res.camera("/W/Cam1")
    assert [r.target for r in rows] == res.target_paths
    assert all((r.limiting is None) == r.decodable for r in rows)
    with pytest.raises(SwbError, match="no sensor camera"):
        res.camera("/W/Nope")
    doc = res.to_json()
    assert len(doc["pairs"]) == 12
    assert set(doc["pairs"][0]) == {"camera", "target", "decodable", "score", "p_read", "limiting", "ppm_u", "ppm_w",
                                    "tilt_deg", "defocus_px", "motion_px", "visible_fraction"}
