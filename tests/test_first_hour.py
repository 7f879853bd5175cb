"""What a new user meets in the first hour: the README's Python snippet from a source checkout, every command after
the README's install (runtime dependencies only), render progress, informative pictures, restore --viz for every
kind of save, coverage figures named for what they count, and JSON that states its units and frame."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest
from device import DEVICE

import swb
from swb.cli import main
from swb.errors import SwbWarning

ROOT = Path(__file__).resolve().parent.parent
SITE = sysconfig.get_paths()["purelib"]


def _readme_snippet(out: Path) -> str:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 'swb.open("scenes/scan_tunnel.usda"' in code  # the snippet this test runs is the README's
    return code.replace('"out/', f'"{out.as_posix()}/').replace('device="cpu"', f'device="{DEVICE}"')


def _bare_python(code: str, cwd: Path, path: list[str]) -> subprocess.CompletedProcess:
    """Python without site (no .pth files, so no editable-install finder): only ``path`` and, for -c, the cwd."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run([sys.executable, "-S", "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_readme_snippet_runs_from_the_repository_root(tmp_path):
    """From the root the source folder swb/ shadows an installed package and has no kernels/schemas/scenes: the
    checkout's own top-level folders are found instead."""
    proc = _bare_python(_readme_snippet(tmp_path / "out"), ROOT, [SITE])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "out" / "tunnel.swb.usda").is_file()


def test_an_installed_package_imports_from_elsewhere(tmp_path):
    """The layout `pip install .` makes (kernels, schemas, scenes inside the package), used from another folder."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "swb", site / "swb", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("kernels", "schemas", "scenes"):
        shutil.copytree(ROOT / name, site / "swb" / name, ignore=shutil.ignore_patterns("__pycache__"))
    code = textwrap.dedent(f"""
        import sys, swb
        from swb._bootstrap import SiblingFinder
        assert swb.__file__.startswith({str(site)!r}), swb.__file__
        assert not any(isinstance(f, SiblingFinder) for f in sys.meta_path)
        sim = swb.open(swb.bundled_scene("pick_station"), device={DEVICE!r})
        print(len(sim.evaluate().targets))
    """)
    proc = _bare_python(code, tmp_path, [str(site), SITE])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "15"


SMOKE = textwrap.dedent("""
    import importlib.abc, sys
    from pathlib import Path

    BLOCKED = set(sys.argv[1].split(","))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"{name} is a test-only package", name=name)

    sys.meta_path.insert(0, Block())
    from swb.cli import main

    out, scene, spec, step = (Path(a) for a in sys.argv[2:6])
    device = sys.argv[6]
    cad, sensors = out / "cad" / "station.usda", out / "cad" / "sensors.usda"
    runs = [
        ["import", step, "-o", cad],
        ["add-camera", cad, "-o", sensors, "--path", "/World/Cameras/Top", "--position", 0, 0, 1.5,
         "--look-at", 0, 0, 0, "--resolution", 320, 240],
        ["add-target", cad, "-o", sensors, "--path", "/World/Labels/L1", "--position", 0, 0, 0.2, "--normal", 0, 0,
         1, "--symbology", "code128", "--module-size-mm", 0.5, "--modules", 90, 1],
        ["eval", sensors, "--json"],
        ["render", sensors, "--out", out / "images", "--spp", 1],
        ["eval", scene, "--out", out / "eval"],
        ["query", scene, "--camera", "/World/Cameras/TopWide", "--json"],
        ["restore", out / "eval" / "scan_tunnel.swb.usda", "--check", "--viz", out / "restored"],
        ["sweep", scene, "--spec", spec, "--samples", 4, "--out", out / "sweep", "--csv", "--apply", "best"],
        ["viz", "sphere", scene, "--out", out / "viz", "--point", 0, 0, 1.1, "--resolution", 16, "--rotations", 2],
        ["viz", "plane", scene, "--out", out / "viz", "--origin", 0, 0, 1, "--normal", 0, 0, 1, "--extent", 2.5, 1,
         "--resolution", 24, 16],
        ["viz", "projection", scene, "--out", out / "viz", "--camera", "/World/Cameras/TopWide", "--stride", 64],
        ["viz", "view", scene, "--out", out / "viz", "--width", 320, "--height", 200, "--samples", 1],
        ["validate", "--study", 2],
    ]
    for argv in runs:
        argv = [str(a) for a in argv] + ["--device", device]
        code = main(argv)
        if code != 0:
            sys.exit(f"swb {' '.join(argv)} exited {code}")
    print("all commands ran")
""")


def _test_only_packages() -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs: list[str]) -> set[str]:
        return {re.split(r"[\s<>=;\[!~]", r, maxsplit=1)[0].strip().lower().replace("-", "_") for r in reqs}

    extras = project["optional-dependencies"]
    test = list(extras["test"])
    for req in list(test):  # "swb[cluster]": the test extra pulls in other extras of this project
        if req.startswith(project["name"] + "["):
            test.remove(req)
            for other in req.split("[", 1)[1].rstrip("]").split(","):
                test += extras[other.strip()]
    extra = names(test) - names(project["dependencies"])
    assert "embreex" in extra  # Embree would hide a missing rtree (trimesh's ray queries)
    return sorted(extra)


def test_every_command_runs_with_the_runtime_dependencies_only(tmp_path):
    """The README's install (`pip install .`) has the runtime dependencies only: every command must run without
    the test extras (imports of them fail here)."""
    scene = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), scene)
    spec = scene.with_name("scan_tunnel_sweep.toml")
    shutil.copy(ROOT / "scenes" / "scan_tunnel_sweep.toml", spec)
    proc = subprocess.run([sys.executable, "-c", SMOKE, ",".join(_test_only_packages()), str(tmp_path / "out"),
                           str(scene), str(spec), str(ROOT / "tests" / "fixtures" / "station_mm.step"), DEVICE],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "all commands ran" in proc.stdout
    assert "CUDA" not in proc.stderr


def _tiny_camera_scene():
    """The pick station seen by its overhead camera at an eighth of its resolution (same field of view)."""
    import dataclasses

    from swb.stage.load import load_stage

    _, scene = load_stage(swb.bundled_scene("pick_station"))
    cam = scene.cameras[0]
    small = dataclasses.replace(cam, width=cam.width // 8, height=cam.height // 8)
    return dataclasses.replace(scene, cameras=[small])


def test_banded_threaded_render_is_the_same_image_and_reports_progress(monkeypatch):
    import swb.render.renderer as rr

    scene = _tiny_camera_scene()
    r = rr.Renderer(scene, DEVICE, rr.RenderSettings(spp=2, seed=3))
    whole = r.render(0)
    monkeypatch.setattr(rr, "BAND_PIXELS", 4096)  # many bands on this small image
    seen = []
    banded = r.render(0, threads=2, progress=lambda done, total: seen.append((done, total)))
    assert np.array_equal(whole.pixels, banded.pixels) and np.array_equal(whole.ids, banded.ids)
    assert len(seen) > 3 and seen[-1][0] == seen[-1][1] == whole.pixels.size
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    r.close()


def test_render_command_says_what_it_costs_and_how_far_it_is(tmp_path, capsys, monkeypatch):
    import swb.cli.render as cr

    monkeypatch.setattr(cr.RenderMeter, "LOG_EVERY_S", 0.0)
    code = main(["render", str(swb.bundled_scene("pick_station")), "--out", str(tmp_path), "--camera",
                 "/World/Cameras/Wrist", "--spp", "1", "--threads", "2", "--device", DEVICE])
    err = capsys.readouterr().err
    assert code == 0
    assert "5.0 Mpixel at 1 samples per pixel" in err
    assert re.search(r"render camera 1/1 /World/Cameras/Wrist: 100 %, [\d.]+ M samples/s, about 0 s left", err)


@pytest.fixture(scope="module")
def tunnel_sim():
    return swb.open(swb.bundled_scene("scan_tunnel"), device=DEVICE)


def test_readme_pictures_show_decodable_and_failing_regions(tunnel_sim, tmp_path):
    """`swb viz sphere --point 0 0 1.1` and `swb viz projection --camera /World/Cameras/TopWide` as in the README,
    with the default probe symbol: some of the picture decodes and some does not."""
    from swb.viz.modes import projection, sphere

    readme = (ROOT / "README.md").read_text()
    assert "swb viz sphere scenes/scan_tunnel.usda --out pictures/ --point 0 0 1.1" in readme
    assert "swb viz projection scenes/scan_tunnel.usda --out pictures/ --camera /World/Cameras/TopWide" in readme
    sph = sphere(tunnel_sim, (0, 0, 1.1), resolution=32, rotations=4, record=False)
    assert 0.05 < sph.summary()["decodable_orientations"] < 0.95
    proj = projection(tunnel_sim, "/World/Cameras/TopWide", stride=32, record=False)
    assert 0.05 < proj.summary()["decodable_hits"] < 0.95
    assert sph.nothing_decodes() is None and proj.nothing_decodes() is None


def test_an_all_grey_picture_says_why(tunnel_sim, tmp_path, capsys):
    from swb.viz.modes import sphere

    with pytest.warns(SwbWarning, match="nothing decodes: limited by resolution"):
        res = sphere(tunnel_sim, (0, 0, 1.1), resolution=16, rotations=2, symbol={"module_size": 0.1e-3},
                     out_dir=tmp_path, record=False)
    assert "a larger --module-size-mm" in res.summary()["nothing_decodes"]
    code = main(["viz", "sphere", str(swb.bundled_scene("scan_tunnel")), "--out", str(tmp_path), "--point", "0", "0",
                 "1.1", "--resolution", "16", "--rotations", "2", "--module-size-mm", "0.1", "--device", DEVICE])
    err = capsys.readouterr().err
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.startswith("swb: warning")]
    assert len(lines) == 1 and "nothing decodes" in lines[0]


@pytest.mark.parametrize("how", ["eval --save", "set_ui score", "set_ui limiting"])
def test_restore_viz_makes_a_picture_for_every_save(tmp_path, capsys, how):
    saved = tmp_path / "s.swb.usda"
    if how == "eval --save":
        assert main(["eval", str(swb.bundled_scene("pick_station")), "--save", str(saved), "--device", DEVICE]) == 0
        stem = "s.swb.view"
    else:
        sim = swb.open(swb.bundled_scene("pick_station"), device=DEVICE)
        sim.evaluate()
        mode = how.split()[1]
        sim.set_ui(visualisation_mode=mode, active_camera="/World/Cameras/Overhead")
        sim.save(saved)
        stem = f"s.swb.{mode}"
    capsys.readouterr()
    assert main(["restore", str(saved), "--viz", str(tmp_path / "pics"), "--json", "--device", DEVICE]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["viz"]["mode"] == "view" and doc["viz"]["targets"] == 15
    png = tmp_path / "pics" / f"{stem}.png"
    assert png.is_file() and png.stat().st_size > 10_000
    assert (tmp_path / "pics" / f"{stem}.viz.usda").is_file()


def test_json_states_units_and_gives_positions_in_the_stage_frame(capsys):
    """The pick station is centimetres, Y up: its overhead camera is authored at (0, 180, 0)."""
    assert main(["eval", str(swb.bundled_scene("pick_station")), "--json", "--device", DEVICE]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["units"]["stage"]["meters_per_unit"] == 0.01 and doc["units"]["stage"]["up_axis"] == "Y"
    assert "metres, Z up" in doc["units"]["frame"]
    cam = next(c for c in doc["cameras"] if c["path"] == "/World/Cameras/Overhead")
    np.testing.assert_allclose(cam["position"], [0.0, 0.0, 1.8], atol=1e-6)
    np.testing.assert_allclose(cam["position_stage"], [0.0, 180.0, 0.0], atol=1e-4)
    assert 0.0 <= doc["label_coverage"] <= 1.0 and "coverage" not in doc


def test_coverage_figures_are_named_for_what_they_count(tmp_path, capsys):
    scene = swb.bundled_scene("scan_tunnel")
    assert main(["eval", str(scene), "--device", DEVICE]) == 0
    out = capsys.readouterr().out
    assert re.search(r"label coverage \(as authored\): \d+/30 labels", out)
    assert main(["sweep", str(scene), "--spec", str(ROOT / "scenes" / "scan_tunnel_sweep.toml"), "--samples", "4",
                 "--json", "--device", DEVICE]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "sample_coverage" in doc["baseline"] and "sample_coverage" in doc["top"][0]
    assert "coverage" not in doc["baseline"] and "label sample" in doc["units"]["sample_coverage"]
    best = doc["top"][0]["config"]
    assert doc["transit"]["config"] == best and 0.0 < doc["transit"]["read_rate"] <= 1.0  # the belt, too
    assert main(["sweep", str(scene), "--spec", str(ROOT / "scenes" / "scan_tunnel_sweep.toml"), "--samples", "4",
                 "--device", DEVICE]) == 0
    text = capsys.readouterr().out
    assert "sample coverage" in text and "label coverage" in text  # the sweep names both and says which is which
    assert f"transit read rate (the moving labels as authored, every frame): configuration {best} " in text
