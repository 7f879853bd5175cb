"""The `swb` command: JSON output, queries, save/restore, and bad input as one line with exit status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from device import DEVICE
from pxr import Gf, Usd

import swb
from swb.cli import main


@pytest.fixture()
def tunnel(tmp_path):
    path = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), path)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; with ``capfd`` as the capture, what USD and Warp print from C++ is seen too."""
    rc = main([*argv, "--device", DEVICE])  # every command takes --device
    out, err = capsys.readouterr()
    return rc, out, err


def test_eval_json(tunnel, capsys):
    rc, out, _ = _run(capsys, "eval", str(tunnel), "--json")
    assert rc == 0
    doc = json.loads(out)
    assert set(doc) >= {"cameras", "targets", "pairs"}
    assert len(doc["pairs"]) == len(doc["cameras"]) * len(doc["targets"])
    for pair in doc["pairs"]:
        assert set(pair) == {"camera", "target", "decodable", "score", "p_read", "limiting", "ppm_u", "ppm_w",
                             "tilt_deg", "defocus_px", "motion_px", "visible_fraction"}
        assert (pair["limiting"] is None) == pair["decodable"]
        assert 0.0 <= pair["score"] <= 1.0
    assert any(p["decodable"] for p in doc["pairs"]) and any(not p["decodable"] for p in doc["pairs"])
    # agrees with the Python API
    res = swb.open(tunnel, device=DEVICE).evaluate()
    assert [p["decodable"] for p in doc["pairs"]] == res.pairs.decodable.ravel().tolist()


def test_eval_table_and_out(tunnel, tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc, out, err = _run(capsys, "eval", str(tunnel), "--out", str(out_dir))
    assert rc == 0
    assert "label coverage (as authored):" in out and "camera" in out and "limiting" in out
    assert (out_dir / "scan_tunnel.swb.usda").exists() and (out_dir / "scan_tunnel.results.json").exists()
    stage = Usd.Stage.Open(str(out_dir / "scan_tunnel.swb.usda"))
    assert stage.GetPrimAtPath("/SWB/Results").GetAttribute("swb:results:decodable").Get() is not None


def test_query_camera_and_target(tunnel, capsys):
    cam = swb.open(tunnel).scene.cameras[0].path
    rc, out, _ = _run(capsys, "query", str(tunnel), "--camera", cam, "--json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["query"] == cam and all(p["camera"] == cam for p in doc["pairs"])
    rc, out, _ = _run(capsys, "query", str(tunnel), "--camera", cam)
    assert rc == 0 and "ppm u" in out
    rc, out, err = _run(capsys, "query", str(tunnel), "--camera", "/World/NoSuchCam")
    errors = [ln for ln in err.splitlines() if ln.startswith("swb: error")]
    assert rc == 2 and len(errors) == 1 and "no sensor camera" in errors[0]


def test_save_and_restore_check(tunnel, tmp_path, capsys):
    saved = tmp_path / "s" / "tunnel.swb.usda"
    rc, out, _ = _run(capsys, "eval", str(tunnel), "--save", str(saved))
    assert rc == 0
    rc, out2, err = _run(capsys, "restore", str(saved), "--check")
    assert rc == 0 and "bit for bit" in err
    assert out2.split("\n\nUI state")[0].strip() == out.strip()
    rc, out3, _ = _run(capsys, "restore", str(saved), "--json")
    assert json.loads(out3)["ui"]["visualisation_mode"] == "none"


def _break(path, prim: str, attr: str, value, type_name=None) -> None:
    stage = Usd.Stage.Open(str(path))
    p = stage.GetPrimAtPath(prim)
    a = p.GetAttribute(attr) if type_name is None else p.CreateAttribute(attr, type_name)
    a.Set(value)
    stage.GetRootLayer().Save()


def _first(path, kind: str) -> str:
    sim = swb.open(path)
    return sim.scene.cameras[0].path if kind == "camera" else sim.scene.targets[0].path


@pytest.mark.parametrize(
    "kind, attr, value, words",
    [
        ("target", "swb:barcode:symbology", "code999", "swb:barcode:symbology"),
        ("target", "swb:barcode:moduleSize", -0.001, "swb:barcode:moduleSize"),
        ("camera", "swb:sensor:resolution", Gf.Vec2i(0, 480), "swb:sensor:resolution"),
        ("camera", "swb:sensor:decoderProfile", "magic", "swb:sensor:decoderProfile"),
        ("camera", "focalLength", float("nan"), "focalLength"),
        ("camera", "focusDistance", 0.001, "focusDistance"),
        ("camera", "horizontalAperture", 0.0, "horizontalAperture"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tunnel, tmp_path, capfd, kind, attr, value, words):
    prim = _first(tunnel, kind)
    _break(tunnel, prim, attr, value)
    before = tunnel.read_bytes()
    out_dir = tmp_path / "never"
    capfd.readouterr()
    rc, out, err = _run(capfd, "eval", str(tunnel), "--out", str(out_dir), "--json")
    # file-descriptor capture: USD's own C++ output would show here; every line but progress is the one error
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("[swb] ")]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("swb: error"), err
    assert words in lines[0] and prim in lines[0] and str(tunnel) in lines[0]
    assert "Traceback" not in err and out == ""
    assert not out_dir.exists()
    assert tunnel.read_bytes() == before


def test_missing_and_garbage_files(tmp_path, capfd):
    rc, _, err = _run(capfd, "eval", str(tmp_path / "nope.usda"))
    assert rc == 2 and "no such file" in err
    bad = tmp_path / "bad.usda"
    bad.write_text("#usda 1.0\n( this is not usd\n")
    rc, _, err = _run(capfd, "eval", str(bad))
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("[swb] ")]
    assert rc == 2 and len(lines) == 1 and "cannot be parsed" in lines[0], err


def test_console_script_exit_status(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "swb.cli", "eval", str(tmp_path / "x.usda")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("swb: error: file")
    assert "Traceback" not in proc.stderr
