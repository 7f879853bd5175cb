"""Sweeps on USD stages: the SwbSweep schema, TOML authored into the stage, results layer, save/restore,
`--apply` round trips (bit for bit against `swb eval` for as-authored samples), units and axes, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from device import DEVICE
from pxr import Sdf, Usd
from stage_builders import build_station

import swb
from swb.cli import main
from swb.sweep.apply import apply_configuration, verify_applied
from swb.sweep.configuration_transit import configuration_transit
from swb.sweep.results import read_sweep_layer
from swb.sweep.spec import (
    PARAMETER_TYPE,
    SWEEP_TYPE,
    author_sweep,
    find_sweeps,
    read_sweep,
    spec_from_dict,
)

TUNNEL_CAMS = ["/World/Cameras/TopWide", "/World/Cameras/SideLeft", "/World/Cameras/SideRight"]
SMALL = {
    "sweep": {"name": "small", "cameras": TUNNEL_CAMS, "sampler": "lhs", "samples": 12, "seed": 3,
              "orientation_mode": "asAuthored"},
    "parameter": [
        {"name": "topHeight", "kind": "translateZ", "cameras": TUNNEL_CAMS[:1], "range": [-0.5, 0.0]},
        {"name": "topLens", "kind": "focalLength", "cameras": TUNNEL_CAMS[:1], "values": [16.0, 20.0, 25.0]},
        {"name": "topFocus", "kind": "focusDistance", "cameras": TUNNEL_CAMS[:1], "range": [0.9, 1.6]},
        {"name": "sidePitch", "kind": "pitch", "space": "camera", "rig": "mirror", "cameras": TUNNEL_CAMS[1:],
         "range": [-10.0, 10.0]},
        {"name": "sideYaw", "kind": "yaw", "space": "pivot", "pivot": [0.0, 0.0, 1.0], "rig": "mirror",
         "cameras": TUNNEL_CAMS[1:], "range": [-8.0, 8.0]},
        {"name": "sideExposure", "kind": "exposure", "cameras": TUNNEL_CAMS[1:], "values": [5e-5, 1e-4]},
    ],
}


def toml_text(doc: dict) -> str:
    """A tiny TOML writer for the specs used here (tables of scalars and lists)."""
    def value(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = ["[sweep]", *[f"{k} = {value(v)}" for k, v in doc["sweep"].items()]]
    for p in doc.get("parameter", []):
        lines += ["", "[[parameter]]", *[f"{k} = {value(v)}" for k, v in p.items()]]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tunnel() -> Path:
    return swb.bundled_scene("scan_tunnel")


def test_sweep_schemas_are_registered_typed_prims():
    reg = Usd.SchemaRegistry()
    sweep = reg.FindConcretePrimDefinition(SWEEP_TYPE)
    param = reg.FindConcretePrimDefinition(PARAMETER_TYPE)
    assert sweep is not None and param is not None
    assert "swb:sweep:cameras" in sweep.GetPropertyNames()
    kinds = param.GetAttributeDefinition("swb:param:kind").GetMetadata("allowedTokens")
    from swb.sweep.spec import KINDS

    assert tuple(kinds) == KINDS
    samplers = sweep.GetAttributeDefinition("swb:sweep:sampler").GetMetadata("allowedTokens")
    assert tuple(samplers) == ("grid", "random", "lhs", "sobol")


def test_toml_spec_round_trips_through_usd(tmp_path):
    stage = Usd.Stage.CreateInMemory()
    built = spec_from_dict(SMALL, 0.01, source="x.toml")  # a centimetre stage: metres / 0.01
    assert built.params[0].range == (-50.0, 0.0)
    assert built.params[1].values == (16.0, 20.0, 25.0)  # focalLength: tenths of a scene unit, mm on a cm stage
    prim = author_sweep(stage, built)
    assert prim.GetPath() == Sdf.Path("/SWB/Sweeps/small")
    assert [c.GetTypeName() for c in prim.GetChildren()] == [PARAMETER_TYPE] * len(SMALL["parameter"])
    back = read_sweep(prim, "x.toml")
    assert back.params == built.params
    assert (back.name, back.cameras, back.sampler, back.samples, back.seed) == (
        built.name, built.cameras, built.sampler, built.samples, built.seed)
    assert find_sweeps(stage) == [prim]
    # re-authoring the same name in the same layer replaces it (no merged parameters)
    fewer = spec_from_dict({**SMALL, "parameter": SMALL["parameter"][:2]}, 0.01)
    author_sweep(stage, fewer)
    assert len(stage.GetPrimAtPath("/SWB/Sweeps/small").GetChildren()) == 2


def test_simulation_sweep_writes_results_and_survives_save_restore(tunnel, tmp_path):
    spec_file = tmp_path / "small.toml"
    spec_file.write_text(toml_text(SMALL))
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.sweep(spec=spec_file)
    assert res.n_done == 12 and res.complete
    assert sim.stage.GetPrimAtPath("/SWB/Sweeps/small").GetTypeName() == SWEEP_TYPE
    arrays = read_sweep_layer(sim.sweep_layer, "small")
    assert np.array_equal(arrays["covered"], res.sums.covered)
    assert np.array_equal(arrays["values"], res.values)
    assert arrays["order"].tolist() == res.order.tolist() and arrays["best"] == res.best
    assert arrays["cameras"] == res.cameras and arrays["columns"] == [c.name for c in res.columns]
    assert sim.stage.GetPrimAtPath("/SWB/SweepResults/small")  # composed into the stage
    root = sim.save(tmp_path / "saved" / "tunnel.swb.usda")
    sweep_file = Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]["sweep"]
    assert sweep_file.endswith(".sweep.usdc") and (root.parent / sweep_file).is_file()
    again = swb.restore(root, device=DEVICE)
    stored = read_sweep_layer(again.sweep_layer, "small")
    assert np.array_equal(stored["coverage"], res.coverage)
    # the restored stage holds the spec: running it again by name reproduces the sweep exactly
    rerun = again.sweep("small")
    assert np.array_equal(rerun.sums.covered, res.sums.covered) and np.array_equal(rerun.values, res.values)


def test_apply_best_matches_swb_eval_bit_for_bit(tunnel, tmp_path):
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.sweep(spec=SMALL)
    assert res.as_authored
    # the baseline, as authored, is what swb eval finds
    base = sim.evaluate().pairs.decodable.any(axis=0)
    assert np.array_equal(res.baseline_detail.decodable.any(axis=1), base)
    out = apply_configuration(sim, res, tmp_path / "best" / "tunnel.best.usda")
    assert (out.parent / "tunnel.best.apply.usda").is_file()
    check = verify_applied(out, sim, res)
    assert check.ok and check.eval_checked and check.optics_equal, check.message()
    assert check.pose_difference < 1e-6
    applied = swb.open(out, device=DEVICE)
    read = applied.evaluate().pairs.decodable.any(axis=0)
    assert np.array_equal(read, res.best_detail.decodable.any(axis=1))
    assert read.mean() == pytest.approx(res.coverage[res.best])
    # the user's scene is untouched and the applied stage references it by a relative path
    root = Sdf.Layer.FindOrOpen(str(out))
    assert root.subLayerPaths[0] == "./tunnel.best.apply.usda" and not Path(root.subLayerPaths[1]).is_absolute()


def test_a_configurations_transit_read_rate_is_that_of_its_applied_stage(tunnel, tmp_path):
    """The sweep's transit read rate of a configuration (its camera records in the transit kernel) equals the
    transit of the stage --apply writes for it, and the station's as authored equals swb eval's."""
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.sweep(spec=SMALL)
    worst = int(res.config_ids[res.order[-1]])
    for index in (res.best, worst):
        got = configuration_transit(sim, res, index)
        applied = swb.open(apply_configuration(sim, res, tmp_path / f"c{index}" / "t.usda", index), device=DEVICE)
        want = applied.transit()
        assert got.configured.moving.sum() > 3
        for name in ("miss_frame", "miss_look", "best_p", "frames"):
            assert np.allclose(getattr(got.configured, name), getattr(want, name), atol=1e-6), name
        assert got.as_authored.station_read_rate() == sim.transit().station_read_rate()
    assert configuration_transit(sim, res, res.best).configured.station_read_rate() != \
        configuration_transit(sim, res, worst).configured.station_read_rate()


def test_apply_reproduces_oriented_coverage(tunnel, tmp_path):
    doc = {**SMALL, "sweep": {**SMALL["sweep"], "orientation_mode": "flatRandomYaw", "orientations": 3,
                              "samples": 6}}
    sim = swb.open(tunnel, device=DEVICE)
    res = sim.sweep(spec=doc)
    assert not res.as_authored and res.n_samples == 3 * len(res.targets)
    index = int(res.order[-1])  # any configuration, not only the best
    out = apply_configuration(sim, res, tmp_path / "worst.usda", index)
    check = verify_applied(out, sim, res, index)
    assert check.ok and not check.eval_checked, check.message()


def test_units_and_up_axis_do_not_change_a_sweep(tmp_path):
    doc = {
        "sweep": {"name": "u", "cameras": ["/World/Cam"], "sampler": "grid", "orientation_mode": "asAuthored"},
        "parameter": [
            {"kind": "translateX", "range": [-0.3, 0.3], "steps": 4},
            {"kind": "pitch", "space": "camera", "values": [-6.0, 0.0, 6.0]},
            {"kind": "yaw", "space": "world", "values": [-4.0, 4.0]},
            {"kind": "focalLength", "values": [16.0, 50.0]},
        ],
    }
    results = []
    for mpu, up in ((1.0, "Z"), (0.01, "Y")):
        path = build_station(tmp_path / f"station_{up}.usda", mpu, up)
        sim = swb.open(path, device=DEVICE)
        results.append((sim, sim.sweep(spec=doc)))
    (_, a), (sim_b, b) = results
    assert np.array_equal(a.sums.covered, b.sums.covered)
    assert np.array_equal(a.sums.limiting, b.sums.limiting)
    assert a.coverage.max() > a.coverage.min()
    out = apply_configuration(sim_b, b, tmp_path / "applied" / "station_y.best.usda")
    check = verify_applied(out, sim_b, b)
    assert check.ok and check.eval_checked, check.message()


def _run_cli(argv: list[str]) -> int:
    """The `swb` command as a user runs it (one-line errors, exit status)."""
    return main(argv)


def test_cli_sweep_writes_results_csv_and_a_verified_best_stage(tunnel, tmp_path, capsys):
    spec_file = tmp_path / "small.toml"
    spec_file.write_text(toml_text(SMALL))
    out = tmp_path / "out"
    code = _run_cli(["sweep", str(tunnel), "--spec", str(spec_file), "--samples", "6", "--top", "3", "--out",
                     str(out), "--csv", "--apply", "best", "--json", "--device", DEVICE])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    assert doc["configurations"] == 6 and len(doc["top"]) == 3 and doc["applied"]["verified"] is True
    assert doc["top"][0]["config"] == doc["best"]["config"]
    names = sorted(p.name for p in out.iterdir())
    assert "scan_tunnel.small.csv" in names and "scan_tunnel.small.best.usda" in names
    assert Sdf.Layer.OpenAsAnonymous(str(out / "scan_tunnel.swb.usda")).customLayerData["swb"]["sweep"] in names
    rows = (out / "scan_tunnel.small.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith("rank,config,sample_coverage,redundancy,topHeight[m]")
    assert "check: the applied stage reproduces swb eval" in captured.err
    # text output
    code = _run_cli(["sweep", str(tunnel), "--spec", str(spec_file), "--samples", "4", "--top", "2", "--device",
                     DEVICE])
    text = capsys.readouterr().out
    assert code == 0 and "best configuration" in text and "per target" in text


def test_demo_sweep_prints_a_ranked_table(tunnel):
    from swb.cli.sweep import demo_spec_path, run_demo_sweep

    assert demo_spec_path().is_file()
    sim = swb.open(tunnel, device=DEVICE)
    text = run_demo_sweep(sim, samples=4, top=3, progress=False)
    assert "sweep tunnel" in text and "rank" in text and "topHeight" in text
    assert sim.sweep_layer.GetPrimAtPath("/SWB/SweepResults/tunnel")
