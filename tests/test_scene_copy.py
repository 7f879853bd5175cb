"""A save's scene copy: a crate scene that names no other file is copied byte for byte (then stamped), anything else
is flattened; either way the save restores to the same simulation."""

from __future__ import annotations

import os
import shutil

import pytest
from device import DEVICE
from pxr import Sdf, Usd

import swb
import swb.stage.save as save_mod


def _crate_scene(tmp_path, name: str = "tunnel.usdc"):
    """The bundled scan tunnel as a crate file (a stand-alone scene)."""
    path = tmp_path / name
    assert Sdf.Layer.FindOrOpen(str(swb.bundled_scene("scan_tunnel"))).Export(str(path))
    return path


def _flatten_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = Usd.Stage.Flatten

    class _Stage:  # Usd.Stage with Flatten counted (the module's Usd.Stage.Open(...).Flatten())
        @staticmethod
        def Open(*a, **kw):  # noqa: N802, ANN002, ANN003, ANN205
            stage = Usd.Stage.Open(*a, **kw)

            class _Counted:
                def Flatten(self, *fa):  # noqa: N802, ANN002, ANN202
                    calls.append(1)
                    return original(stage, *fa)
            return _Counted()

    class _Usd:
        Stage = _Stage

    monkeypatch.setattr(save_mod, "Usd", _Usd)
    return calls


def test_a_stand_alone_crate_scene_is_copied_not_flattened_and_restores(tmp_path, monkeypatch):
    scene = _crate_scene(tmp_path)
    sim = swb.open(scene, device=DEVICE)
    res = sim.evaluate().pairs.copy()
    calls = _flatten_calls(monkeypatch)
    root = sim.save(tmp_path / "out" / "t.swb.usda")
    assert calls == []  # the scene went over as bytes
    info = Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]
    copy = root.with_name(info["scene"])
    assert copy.read_bytes() == scene.read_bytes()
    assert info["sceneCopy"]["bytes"] == scene.stat().st_size
    again = swb.restore(root, device=DEVICE)
    assert again.results.pairs.equal(res)
    assert again.evaluate().pairs.equal(res)
    again.set_ui(visualisation_mode="score")
    again.save(root)  # re-saved in place: the copy is kept, and still restores
    info2 = Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]
    assert info2["scene"] == info["scene"] and info2["sceneCopy"] == info["sceneCopy"]
    assert info2["generation"] != info["generation"]
    assert swb.restore(root, device=DEVICE).ui.visualisation_mode == "score"


def test_a_changed_scene_copy_is_refused_on_restore(tmp_path):
    scene = _crate_scene(tmp_path)
    sim = swb.open(scene, device=DEVICE)
    sim.evaluate()
    root = sim.save(tmp_path / "out" / "t.swb.usda")
    other = _crate_scene(tmp_path, "other.usdc")
    layer = Sdf.Layer.FindOrOpen(str(other))
    layer.customLayerData = {"changed": True}
    layer.Save()
    copy = root.with_name(Sdf.Layer.OpenAsAnonymous(str(root)).customLayerData["swb"]["scene"])
    shutil.copyfile(other, copy)
    with pytest.raises(swb.SwbError, match="not the file this save wrote"):
        swb.restore(root, device=DEVICE)


@pytest.mark.parametrize("why", ["text", "sublayer", "asset", "changed on disk", "edited in memory"])
def test_anything_else_is_flattened(tmp_path, monkeypatch, why):
    scene = _crate_scene(tmp_path)
    if why == "text":
        scene = tmp_path / "tunnel.usda"
        shutil.copy(swb.bundled_scene("scan_tunnel"), scene)
    elif why in ("sublayer", "asset"):
        extra = Sdf.Layer.CreateNew(str(tmp_path / "extra.usda"))
        extra.Save()
        layer = Sdf.Layer.FindOrOpen(str(scene))
        if why == "sublayer":
            layer.subLayerPaths.append("./extra.usda")
        else:
            prim = layer.GetPrimAtPath(layer.defaultPrim and f"/{layer.defaultPrim}" or "/")
            attr = Sdf.AttributeSpec(prim, "notes", Sdf.ValueTypeNames.Asset)
            attr.default = Sdf.AssetPath("./extra.usda")
            del prim, attr
        layer.Save()
        del layer, extra
    assert Sdf.Layer.Find(str(scene.resolve())) is None  # the open reads the file (a registry layer is not trusted)
    sim = swb.open(scene, device=DEVICE)
    res = sim.evaluate().pairs.copy()
    if why == "changed on disk":
        st = os.stat(scene)
        os.utime(scene, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    elif why == "edited in memory":
        Sdf.Layer.Find(str(scene.resolve())).customLayerData = {"edited": True}
    calls = _flatten_calls(monkeypatch)
    root = sim.save(tmp_path / "out" / "t.swb.usda")
    assert calls == [1]
    assert swb.restore(root, device=DEVICE).results.pairs.equal(res)
