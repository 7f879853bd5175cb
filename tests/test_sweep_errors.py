"""Bad sweep input ends in one clear SwbError naming file, prim and attribute, with nothing authored or written;
Ctrl-C keeps the configurations already evaluated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from device import DEVICE
from pxr import Usd

import swb
from swb.cli import main
from swb.engine.model import CameraModel, Scene, TargetModel
from swb.errors import SwbError
from swb.sweep.run import run_sweep
from swb.sweep.spec import load_toml_spec, read_sweep, spec_from_dict, sweep_prim

CAMS = ["/World/Cameras/TopWide"]


def doc(params: list[dict], **sweep) -> dict:
    return {"sweep": {"cameras": CAMS, "orientation_mode": "asAuthored", **sweep}, "parameter": params}


@pytest.fixture(scope="module")
def tunnel() -> Path:
    return swb.bundled_scene("scan_tunnel")


@pytest.mark.parametrize(("params", "sweep", "match", "attribute"), [
    ([{"kind": "translateZ", "range": [0.2, 0.2]}], {}, "empty range", "swb:param:range"),
    ([{"kind": "translateZ", "range": [0.3, 0.1]}], {}, "empty range", "swb:param:range"),
    ([{"kind": "translateBox", "box_min": [0, 0, 0], "box_max": [0, 0, 0]}], {}, "empty box", "swb:param:boxMin"),
    ([{"kind": "focalLength", "values": []}], {}, "needs a range or values", "swb:param:range"),
    ([{"kind": "focalLength", "values": [0.0, 8.0]}], {}, "must be positive", "swb:param:values"),
    ([{"kind": "zoom", "values": [1.0]}], {}, "cannot vary 'zoom'", "kind"),
    ([{"kind": "pitch", "range": [0, 5], "rig": "mirror"}], {}, "mirror rig needs at least two", "swb:param:cameras"),
    ([{"kind": "pitch", "range": [0, 5], "cameras": ["/World/Cameras/Front"]}], {}, "not one of the sweep's",
     "swb:param:cameras"),
    ([{"kind": "decoderProfile", "profiles": ["magic"]}], {}, "unknown decoder profile", "swb:param:profiles"),
    ([{"kind": "translateX", "range": [0, 1], "space": "pivot"}], {}, "applies to rotations", "swb:param:space"),
    ([{"kind": "translateX", "range": [0, 1]}], {"sampler": "halton"}, "unknown sampler", "swb:sweep:sampler"),
    ([{"kind": "translateX", "range": [0, 1]}], {"samples": 0}, "at least 1", "swb:sweep:samples"),
    ([{"kind": "translateX", "range": [0, 1]}], {"positions": 3}, "empty travel", "swb:sweep:travel"),
    ([], {}, "no parameters", None),
])
def test_bad_specs_are_refused(params, sweep, match, attribute):
    with pytest.raises(SwbError, match=match) as err:
        spec_from_dict(doc(params, **sweep), 1.0, source="spec.toml")
    assert err.value.file == "spec.toml"
    assert err.value.attribute == attribute


def test_toml_unknown_keys_and_types(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\ncamras = ["/World/Cameras/TopWide"]\n')
    with pytest.raises(SwbError, match="unknown key 'camras' in \\[sweep\\]") as err:
        load_toml_spec(bad, 1.0)
    assert err.value.file == str(bad) and "known keys" in str(err.value)
    bad.write_text('[sweep]\ncameras = ["/A"]\n[[parameter]]\nkind = "pitch"\nrange = [0, 1]\nstep = 3\n')
    with pytest.raises(SwbError, match="unknown key 'step' in \\[parameter 1\\]"):
        load_toml_spec(bad, 1.0)
    bad.write_text('[sweep]\ncameras = ["/A"]\nsamples = "many"\n')
    with pytest.raises(SwbError, match="samples: must be an integer"):
        load_toml_spec(bad, 1.0)
    bad.write_text('[sweep]\ncameras = ["/A"]\n[extra]\n')
    with pytest.raises(SwbError, match="unknown key 'extra'"):
        load_toml_spec(bad, 1.0)
    bad.write_text('[sweep\n')
    with pytest.raises(SwbError, match="not valid TOML"):
        load_toml_spec(bad, 1.0)
    with pytest.raises(SwbError, match="no such sweep spec file"):
        load_toml_spec(tmp_path / "missing.toml", 1.0)


def _no_sweep_authored(sim) -> bool:
    return not sim.config_layer.GetPrimAtPath("/SWB/Sweeps") and not sim.sweep_layer.rootPrims


@pytest.mark.parametrize(("params", "sweep", "match"), [
    ([{"kind": "pitch", "range": [0, 5]}], {"cameras": ["/World/ViewerCam"]}, "not a sensor camera"),
    ([{"kind": "focusDistance", "range": [0.8, 1.2]}], {"cameras": ["/World/Cameras/TopAutofocus"]},
     "cannot vary the focus distance"),
    ([{"kind": "focalLength", "values": [16.0, 2000.0]}], {}, "inside a focal length"),
    ([{"kind": "translateX", "range": [0, 1]}], {"samples": 10**12}, "host memory"),
    ([{"kind": "translateX", "range": [0, 1], "steps": 10**5}, {"kind": "translateY", "range": [0, 1],
      "steps": 10**5}, {"kind": "pitch", "range": [0, 1], "steps": 10**5}], {"sampler": "grid"}, "fewer samples"),
])
def test_scene_errors_author_nothing(tunnel, params, sweep, match):
    sim = swb.open(tunnel, device=DEVICE)
    with pytest.raises(SwbError, match=match):
        sim.sweep(spec=doc(params, **sweep))
    assert _no_sweep_authored(sim)


def test_stage_sweep_lookup_errors(tunnel):
    sim = swb.open(tunnel, device=DEVICE)
    with pytest.raises(SwbError, match="holds no sweep"):
        sim.sweep()
    sim.sweep(spec=doc([{"kind": "translateX", "values": [0.0]}], name="one"), samples=1)
    with pytest.raises(SwbError, match="no sweep named 'two'"):
        sim.sweep("two")
    prim = sim.stage.DefinePrim("/SWB/Sweeps/one/Stray", "Xform")
    with pytest.raises(SwbError, match="must be SwbSweepParameter prims") as err:
        read_sweep(sweep_prim(sim.stage, "one", "x"), "x")
    assert err.value.prim == str(prim.GetPath())


def test_sweep_named_in_the_scene_is_not_overwritten(tmp_path, tunnel):
    stage = Usd.Stage.Open(str(tunnel))
    layer_text = stage.GetRootLayer().ExportToString()
    scene = tmp_path / "with_sweep.usda"
    scene.write_text(layer_text)
    user = Usd.Stage.Open(str(scene))
    from swb.sweep.spec import author_sweep

    author_sweep(user, spec_from_dict(doc([{"kind": "translateX", "values": [0.0, 0.1]}], name="mine",
                                          sampler="grid"), 1.0))
    user.GetRootLayer().Save()
    sim = swb.open(scene, device=DEVICE)
    res = sim.sweep()  # the stage's only sweep
    assert res.name == "mine" and res.n_done == 2
    with pytest.raises(SwbError, match="already defined"):
        sim.sweep(spec=doc([{"kind": "translateX", "values": [0.0]}], name="mine"))


def small_scene() -> Scene:
    cam = CameraModel("/cam", np.eye(3), np.array([0.0, 0.0, 1.0]), 2000, 1000, 0.016, (0.01, 0.005))
    tgt = TargetModel("/t", np.eye(3), np.zeros(3), "code128", 0.0005, (60, 1))
    return Scene("mem", [cam], [tgt], [])


def test_memory_limits_suggest_chunking_or_fewer_samples():
    sp = spec_from_dict({"sweep": {"cameras": ["/cam"], "orientation_mode": "asAuthored", "samples": 64},
                         "parameter": [{"kind": "translateZ", "range": [-0.5, 0.5]}]}, 1.0)
    with pytest.raises(SwbError, match="--chunk"):
        run_sweep(small_scene(), sp, device=DEVICE, chunk=64, memory_budget=4096)
    with pytest.raises(SwbError, match="fewer orientations"):
        run_sweep(small_scene(), sp, device=DEVICE, memory_budget=16)
    ok = run_sweep(small_scene(), sp, device=DEVICE, chunk=3, memory_budget=4096)
    assert ok.n_done == 64


def test_ctrl_c_keeps_the_chunks_already_done():
    sp = spec_from_dict({"sweep": {"cameras": ["/cam"], "orientation_mode": "asAuthored", "samples": 20},
                         "parameter": [{"kind": "translateZ", "range": [-0.5, 0.5]}]}, 1.0)
    full = run_sweep(small_scene(), sp, device=DEVICE, chunk=4)

    def interrupt(done: int, total: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt

    part = run_sweep(small_scene(), sp, device=DEVICE, chunk=4, progress=interrupt)
    assert not part.complete and part.n_done == 8 and part.n_requested == 20
    assert np.array_equal(part.sums.covered, full.sums.covered[:8])
    assert sorted(part.order.tolist()) == list(range(8))
    assert "interrupted" in part.report()


def _run_cli(argv: list[str]) -> int:
    """The `swb` command as a user runs it (one-line errors, exit status)."""
    return main(argv)


def test_cli_bad_input_writes_nothing(tunnel, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run_cli(["sweep", str(tunnel), "--csv", "--device", DEVICE]) == 2
    assert "--csv writes files: give --out" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\ncameras = ["/World/Cameras/TopWide"]\n[[parameter]]\nkind = "pitch"\nrange = [5, 5]\n')
    assert _run_cli(["sweep", str(tunnel), "--spec", str(bad), "--out", str(out), "--device", DEVICE]) == 2
    err = capsys.readouterr().err
    assert "empty range" in err and str(bad) in err
    assert not out.exists()
