"""Designs under an eye-safety limit: the lights a design keeps are the ones it is judged on (and lit by), a
station above the limit is refused before the search with one line naming the zone and the light, and the limit
travels with the design in USD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from device import DEVICE
from optimize_stages import add_ring_light_and_zone, build_six_faces, six_faces_design

import swb
from swb.cli.main import main
from swb.errors import SwbError
from swb.optimize.safety import design_lights
from swb.optimize.spec import author_design, design_from_dict, read_design
from swb.safety.check import check


@pytest.fixture(scope="module")
def lit(tmp_path_factory) -> Path:
    return add_ring_light_and_zone(build_six_faces(tmp_path_factory.mktemp("lit") / "lit.usda"))


def _design(**kw) -> dict:
    return six_faces_design(("PX",), refine_generations=0, milp_time_limit=0, candidates=24, **kw)


def test_the_ring_light_of_a_replaced_camera_leaves_with_it(lit):
    sim = swb.open(lit, device=DEVICE)
    ring = [lt.path for lt in sim.scene.lights]
    assert ring == ["/World/Cameras/Old/Ring"]
    assert [lt.path for lt in design_lights(sim.scene, design_from_dict(_design(), 1.0))] == []
    assert [lt.path for lt in design_lights(sim.scene, design_from_dict(_design(existing="keep"), 1.0))] == ring


def test_a_zone_above_the_limit_is_refused_before_the_search(lit):
    assert not check(lit, "exempt", device=DEVICE)[0].ok  # the ring light puts the operator's zone at RG1
    sim = swb.open(lit, device=DEVICE)
    with pytest.raises(SwbError) as exc:
        sim.optimize(spec=_design(existing="keep", safety="exempt"), cameras=1)
    text = str(exc.value)
    assert "/World/Operator" in text and "RG1" in text and "/World/Cameras/Old/Ring" in text
    assert exc.value.attribute == "swb:design:safetyLimit"


def test_within_the_limit_the_result_says_so(lit):
    sim = swb.open(lit, device=DEVICE)
    kept = sim.optimize(spec=_design(existing="keep"), cameras=1, safety="RG1")
    assert kept.safety is not None and kept.safety.worst == "RG1" and kept.safety.lights == 1
    assert "eye safety: 1 zones within RG1 (worst RG1)" in kept.report()
    replaced = sim.optimize(spec=_design(safety="exempt"), cameras=1)  # the ring light leaves with the camera
    assert replaced.safety.worst == "exempt" and replaced.safety.lights == 0
    assert replaced.to_json()["safety"]["zones"] == [{"path": "/World/Operator", "risk_group": "exempt",
                                                      "ok": True, "allowed_time_s": None}]
    assert sim.optimize(spec=_design(), cameras=1).safety is None  # no limit: nothing checked


def test_the_limit_round_trips_through_usd_and_toml_spellings(lit):
    sim = swb.open(lit, device=DEVICE)
    spec = design_from_dict(_design(safety="rg2"), 1.0, source="t.toml")
    assert spec.safety == "RG2"
    assert read_design(author_design(sim.stage, spec), "t.toml") == spec
    for bad in ("RG4", "red"):
        with pytest.raises(SwbError, match="unknown safety limit") as exc:
            design_from_dict(_design(safety=bad), 1.0, source="t.toml")
        assert exc.value.attribute == "swb:design:safetyLimit"


def test_cli_refuses_in_one_line_and_reports_json(lit, tmp_path, capsys):
    from test_optimize import _toml

    spec = tmp_path / "keep.toml"
    spec.write_text(_toml(_design(existing="keep")))
    rc = main(["optimize", str(lit), "--spec", str(spec), "--cameras", "1", "--safety", "exempt", "--device", DEVICE])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and err[-1].startswith("swb: error:") and "/World/Operator" in err[-1]
    rc = main(["optimize", str(lit), "--spec", str(spec), "--cameras", "1", "--safety", "RG2", "--json",
               "--device", DEVICE])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["safety"]["limit"] == "RG2" and doc["safety"]["worst_zone_group"] == "RG1"
