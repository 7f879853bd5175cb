"""A save is one transaction: a kill at any step, a failure, or a concurrent save leaves exactly the old or exactly
the new save (never a mix), restore refuses a mixed set, and leftovers of killed saves are removed."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from device import DEVICE
from pxr import Sdf

import swb
import swb.stage.save as save_mod
from swb.errors import SwbError

CAM = 0
JSON = "r.json"


class _Killed(BaseException):
    """Stands for a kill: the save's error handling (which catches Exception) does not run."""


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    """One simulation saved in state A into base/, then moved to state B (other focus, other UI)."""
    tmp = tmp_path_factory.mktemp("states")
    scene = tmp / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), scene)
    sim = swb.open(scene, device=DEVICE)
    res_a = sim.evaluate().pairs.copy()
    sim.set_ui(visualisation_mode="score")
    ui_a = sim.ui.visualisation_mode
    sim.save(tmp / "base" / "s.swb.usda", companions={JSON: b"A"})
    cam = sim.scene.cameras[CAM].path
    sim.set_attribute(cam, "fStop", 22.0)
    res_b = sim.evaluate().pairs.copy()
    assert not res_b.equal(res_a)
    sim.set_ui(visualisation_mode="limiting", active_camera=cam)
    return {"sim": sim, "base": tmp / "base", "A": (res_a, ui_a), "B": (res_b, "limiting")}


def _which(root: Path, states) -> str:
    """'A' or 'B': the state a restore of root gives, checked in full (results, UI, companion JSON)."""
    again = swb.restore(root, device=DEVICE)
    found = [k for k in ("A", "B") if again.results.pairs.equal(states[k][0])]
    assert len(found) == 1, "restore gave results of neither state"
    state = found[0]
    assert again.ui.visualisation_mode == states[state][1]
    assert (root.parent / JSON).read_bytes().decode() == state, "the JSON belongs to the other state"
    return state


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _expected_files(root: Path) -> list[str]:
    gen = Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]["generation"]
    layers = [f"s.swb.{gen}.{r}" for r in ("ui.usda", "results.usdc", "config.usda", "scene.usdc")]
    return sorted([root.name, JSON, *layers])


def _save_b(states, root: Path) -> None:
    states["sim"].save(root, companions={JSON: b"B"})


def test_a_kill_at_every_step_leaves_the_old_or_the_new_save(states, tmp_path, monkeypatch):
    steps: list[str] = []
    monkeypatch.setattr(save_mod, "_step", steps.append)
    shutil.copytree(states["base"], tmp_path / "probe")
    _save_b(states, tmp_path / "probe" / "s.swb.usda")
    assert steps[-1] == "cleaned" and "switched" in steps and len(steps) >= 10
    commit = steps.index("switched")
    for k, step in enumerate(steps):
        folder = tmp_path / f"kill{k}"
        shutil.copytree(states["base"], folder)
        root = folder / "s.swb.usda"

        def kill(name: str, at: str = step) -> None:
            if name == at:
                raise _Killed(name)

        monkeypatch.setattr(save_mod, "_step", kill)
        with pytest.raises(_Killed):
            _save_b(states, root)
        monkeypatch.setattr(save_mod, "_step", lambda name: None)
        assert _which(root, states) == ("A" if k < commit else "B"), f"killed after step {step!r}"
        _save_b(states, root)  # the next save finishes cleanly and removes every leftover of the killed one
        assert _which(root, states) == "B"
        assert _listing(folder) == _expected_files(root), f"leftovers after a kill at {step!r}"


def test_a_real_kill_after_the_commit_is_finished_by_restore(states, tmp_path):
    """A real process killed (os._exit) between renaming the root and renaming the JSON: the new save stands and
    restore puts the JSON in place."""
    shutil.copytree(states["base"], tmp_path / "f")
    root = tmp_path / "f" / "s.swb.usda"
    code = (
        "import os, sys, swb, swb.stage.save as s\n"
        "sim = swb.restore(sys.argv[1], device=sys.argv[2])\n"
        f"sim.set_attribute(sim.scene.cameras[{CAM}].path, 'fStop', 22.0)\n"
        "sim.evaluate()\n"
        "sim.set_ui(visualisation_mode='limiting', active_camera=sim.scene.cameras[" + str(CAM) + "].path)\n"
        "s._step = lambda name: os._exit(9) if name == 'switched' else None\n"
        f"sim.save(sys.argv[1], companions={{{JSON!r}: b'B'}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(root), DEVICE], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)})
    assert proc.returncode == 9, proc.stderr
    assert (root.parent / JSON).read_bytes() == b"A"  # killed before the JSON was renamed
    assert any(p.name.endswith(f".{JSON}.tmp") for p in root.parent.iterdir())
    assert _which(root, states) == "B"  # restore finished the committed save
    assert not any(p.name.endswith(".tmp") for p in root.parent.iterdir())


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.mark.parametrize("failing", ["json", "layer"])
def test_a_failed_save_over_an_existing_save_leaves_it_intact(states, tmp_path, monkeypatch, failing):
    folder = tmp_path / "f"
    shutil.copytree(states["base"], folder)
    before = _digests(folder)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "json":
        monkeypatch.setattr(save_mod, "_write_file", disk_full)
    else:
        real = save_mod.export_layer

        def export(layer, path):
            if ".results." in path.name:
                raise SwbError("could not be written: No space left on device", file=str(path))
            real(layer, path)

        monkeypatch.setattr(save_mod, "export_layer", export)
    with pytest.raises(SwbError, match="No space left"):
        _save_b(states, folder / "s.swb.usda")
    assert _digests(folder) == before
    assert _which(folder / "s.swb.usda", states) == "A"


def test_concurrent_saves_never_mix(states, tmp_path):
    """Two simulations saving to one root at once (four times each): the result is one of them, whole."""
    folder = tmp_path / "f"
    shutil.copytree(states["base"], folder)
    root = folder / "s.swb.usda"
    other = swb.restore(root, device=DEVICE)  # state A
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(sim, text: bytes) -> None:
        try:
            start.wait()
            for _ in range(4):
                sim.save(root, companions={JSON: text})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(states["sim"], b"B")),
               threading.Thread(target=writer, args=(other, b"A"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _which(root, states) in ("A", "B")
    assert _listing(folder) == _expected_files(root)


def test_restore_refuses_a_mixed_set(states, tmp_path):
    """A layer of another save put in place by hand (or by an older SWB) is refused, not silently mixed."""
    shutil.copytree(states["base"], tmp_path / "old")
    shutil.copytree(states["base"], tmp_path / "new")
    _save_b(states, tmp_path / "new" / "s.swb.usda")
    old_gen = Sdf.Layer.OpenAsAnonymous(str(tmp_path / "old" / "s.swb.usda")).customLayerData["swb"]["generation"]
    new_gen = Sdf.Layer.OpenAsAnonymous(str(tmp_path / "new" / "s.swb.usda")).customLayerData["swb"]["generation"]
    shutil.copy(tmp_path / "new" / f"s.swb.{new_gen}.results.usdc",
                tmp_path / "old" / f"s.swb.{old_gen}.results.usdc")
    with pytest.raises(SwbError, match=f"results layer belongs to save generation {new_gen}"):
        swb.restore(tmp_path / "old" / "s.swb.usda", device=DEVICE)


def test_cli_restore_of_a_mixed_set_is_one_line_exit_2(states, tmp_path):
    shutil.copytree(states["base"], tmp_path / "old")
    gen = Sdf.Layer.OpenAsAnonymous(str(tmp_path / "old" / "s.swb.usda")).customLayerData["swb"]["generation"]
    (tmp_path / "old" / f"s.swb.{gen}.config.usda").unlink()
    proc = subprocess.run([sys.executable, "-m", "swb.cli", "restore", str(tmp_path / "old" / "s.swb.usda"),
                           "--device", DEVICE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "config layer is missing" in lines[0], proc.stderr


def test_leftovers_of_killed_saves_are_removed_and_nothing_else(states, tmp_path):
    folder = tmp_path / "f"
    shutil.copytree(states["base"], folder)
    leftovers = [".s.swb.usda.0badc0de.tmp.usda", ".s.swb.usda.0badc0de.tmp.Ab12Cd",  # root temporaries
                 ".s.swb.usda.0badc0de.r.json.tmp",  # a companion of a save that did not commit
                 "s.swb.0badc0de.results.usdc", "s.swb.0badc0de.scene.Xy12Zw",  # layers, USD's export temporary
                 ".s.swb.results.usdc.k2j4h5g6.usdc", ".s.swb.usda.k2j4h5g6.usda"]  # format-1 temporaries
    keep = ["s.usda", "s.swb.notes.txt", "other.swb.0badc0de.results.usdc", ".other.swb.usda.0badc0de.tmp.usda"]
    for name in leftovers + keep:
        (folder / name).write_bytes(b"x" * 100)
    _save_b(states, folder / "s.swb.usda")
    assert _listing(folder) == sorted(_expected_files(folder / "s.swb.usda") + keep)


def test_a_restored_save_saved_in_place_keeps_its_scene_copy(states, tmp_path):
    folder = tmp_path / "f"
    shutil.copytree(states["base"], folder)
    root = folder / "s.swb.usda"
    info = Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]
    sim = swb.restore(root, device=DEVICE)
    sim.set_ui(visualisation_mode="limiting")
    sim.save(root, companions={JSON: b"A"})
    again = Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]
    assert again["generation"] != info["generation"] and again["scene"] == info["scene"]
    assert (folder / info["scene"]).is_file() and not (folder / info["config"]).exists()
    assert swb.restore(root, device=DEVICE).results.pairs.equal(states["A"][0])


def test_a_save_refuses_to_replace_a_file_that_is_not_a_save(states, tmp_path):
    victim = tmp_path / "notes.usda"
    victim.write_text("#usda 1.0\n")
    with pytest.raises(SwbError, match="not an SWB save"):
        states["sim"].save(victim)
    assert victim.read_text() == "#usda 1.0\n"


def test_format_1_saves_still_restore_and_are_replaced_cleanly(states, tmp_path):
    """A save written before generations (fixed layer names) restores, and saving over it removes its layers."""
    folder = tmp_path / "v1"
    shutil.copytree(states["base"], folder)
    root = folder / "s.swb.usda"
    layer = Sdf.Layer.FindOrOpen(str(root))
    info = dict(layer.customLayerData["swb"])
    renamed = {}
    for role in save_mod.ROLES:
        old = folder / info[role]
        new = folder / f"s.swb.{role}{old.suffix}"
        stamped = Sdf.Layer.FindOrOpen(str(old))
        data = dict(stamped.customLayerData)
        data.pop(save_mod.STAMP_KEY)
        stamped.customLayerData = data
        stamped.Export(str(new))
        old.unlink()
        renamed[role] = new.name
    layer.customLayerData = {"swb": {"formatVersion": 1, "source": info["source"], "hasResults": True, **renamed}}
    layer.subLayerPaths = [f"./{renamed[r]}" for r in ("ui", "results", "config", "scene")]
    layer.Save()
    assert _which(root, states) == "A"
    _save_b(states, root)
    assert _listing(folder) == _expected_files(root)
    assert json.loads(json.dumps(_which(root, states))) == "B"


def test_saves_of_one_stem_with_other_suffixes_keep_each_others_layers(states, tmp_path):
    """station.usda and station.usdc name their layers alike: neither save's clean-up removes the other's."""
    folder = tmp_path / "f"
    shutil.copytree(states["base"], folder)
    other = folder / "s.swb.usdc"
    _save_b(states, other)
    _save_b(states, folder / "s.swb.usda")
    for root, state in ((folder / "s.swb.usda", "B"), (other, "B")):
        again = swb.restore(root, device=DEVICE)
        assert again.results.pairs.equal(states[state][0])
