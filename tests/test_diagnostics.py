"""USD's own diagnostics never reach the user raw: composition errors are one SWB error line, unreadable looks
(MaterialX) one warning line, missing geometry an error unless --allow-missing; no Warp CUDA line without a GPU.

The CLI runs in a subprocess, so everything USD and Warp print from C++ is seen."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from device import DEVICE

import swb
from swb.errors import SwbError, SwbWarning

MTLX = """<?xml version="1.0"?>
<materialx version="1.38">
  <standard_surface name="SR_red" type="surfaceshader"/>
  <surfacematerial name="M_red" type="material">
    <input name="surfaceshader" type="surfaceshader" nodename="SR_red"/>
  </surfacematerial>
</materialx>
"""

STATION = """#usda 1.0
(
    metersPerUnit = 1
    upAxis = "Z"
    {sublayers}
)

def Xform "World"
{{
    def Scope "Looks" (
        references = @./looks.mtlx@</MaterialX>
    )
    {{
    }}

    def Material "Paint" (
        references = @./paint_library.usda@</Paint>
    )
    {{
    }}

    def Cube "Box" (
        {box_arc}
    )
    {{
        double size = 0.2
    }}
    {extra}
    def Camera "Cam" (
        apiSchemas = ["SwbSensorAPI"]
    )
    {{
        float focalLength = 16
        float3 xformOp:translate = (0, 0, 1.5)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }}

    def Xform "Label" (
        apiSchemas = ["SwbBarcodeAPI"]
    )
    {{
        float swb:barcode:moduleSize = 0.0005
        int2 swb:barcode:modules = (68, 1)
        token swb:barcode:symbology = "code128"
        float3 xformOp:translate = (0, 0, 0.2)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }}
}}
"""

CYCLE = """
    def Xform "A" (
        instanceable = true
        references = </World/B>
    )
    {
        def Xform "C" (references = </World/B>)
        {
        }
    }

    def Xform "B" (
        instanceable = true
        references = </World/A>
    )
    {
    }
"""


def _station(folder: Path, name: str, *, box_arc: str = "", sublayers: str = "", extra: str = "") -> Path:
    (folder / "looks.mtlx").write_text(MTLX)
    path = folder / f"{name}.usda"
    path.write_text(STATION.format(box_arc=box_arc, sublayers=sublayers, extra=extra))
    return path


def _cli(*args: str) -> tuple[int, list[str], str]:
    """Run `swb` in a subprocess; (exit status, stderr lines that are not progress lines, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "swb.cli", *args, "--device", DEVICE], capture_output=True,
                          text=True, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("[swb] ")]
    return proc.returncode, lines, proc.stderr


def test_a_stage_with_materialx_looks_loads_with_one_warning_line(tmp_path):
    path = _station(tmp_path, "looks")
    code, lines, err = _cli("eval", str(path))
    assert code == 0, err
    assert len(lines) == 1, err
    assert lines[0].startswith("swb: warning:") and "looks.mtlx" in lines[0] and "paint_library.usda" in lines[0]
    assert "CUDA" not in err  # Warp's native "no CUDA driver" line is not printed either


def test_composition_errors_are_one_error_line(tmp_path):
    """A missing sublayer, a missing payload and an instancing cycle: USD prints dozens of lines; SWB one."""
    path = _station(tmp_path, "broken", box_arc="payload = @./nowhere.usdc@",
                    sublayers="subLayers = [@./missing_sublayer.usda@]", extra=CYCLE)
    code, lines, err = _cli("eval", str(path))
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("swb: error:"), err
    assert "composition error" in lines[0] and "Cycle" in lines[0] and str(path) in lines[0]


def test_missing_geometry_is_an_error_unless_allowed(tmp_path):
    path = _station(tmp_path, "missing", box_arc="references = @./conveyor_frame.usda@",
                    sublayers="subLayers = [@./fixtures.usda@]")
    code, lines, err = _cli("eval", str(path))
    assert code == 2 and len(lines) == 1, err
    assert "conveyor_frame.usda at /World/Box" in lines[0] and "fixtures.usda" in lines[0]
    assert "--allow-missing" in lines[0]
    code, lines, err = _cli("eval", str(path), "--allow-missing")
    assert code == 0, err
    assert len(lines) == 2, err  # what is missing, and the looks
    assert "going on without 2 missing assets" in lines[0] and "conveyor_frame.usda" in lines[0]


def test_python_api_warns_and_allows(tmp_path):
    looks = _station(tmp_path, "looks")
    with pytest.warns(SwbWarning, match="looks.mtlx"):
        sim = swb.open(looks, device=DEVICE)
    assert len(sim.scene.targets) == 1
    missing = _station(tmp_path, "missing", box_arc="references = @./conveyor_frame.usda@")
    with pytest.raises(SwbError, match="conveyor_frame.usda"), warnings.catch_warnings():
        warnings.simplefilter("ignore", SwbWarning)
        swb.open(missing, device=DEVICE)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        sim = swb.open(missing, device=DEVICE, allow_missing=True)
        sim.evaluate()
        # a structural edit re-reads the whole stage: the permission given at opening still holds, no new warning
        sim.set_attribute("/World/Box", "visibility", "invisible")
        sim.evaluate()
    texts = [str(w.message) for w in seen if issubclass(w.category, SwbWarning)]
    assert sum("missing asset" in t for t in texts) == 1, texts
