"""Edits the incremental path cannot express as a move fall back to a rebuild, and bad edits leave nothing stale."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from pxr import Vt

import swb
from swb.errors import SwbError

sys.path.insert(0, str(Path(__file__).parent))
from device import DEVICE  # noqa: E402
from stage_builders import build_station  # noqa: E402


@pytest.fixture()
def station(tmp_path):
    return build_station(tmp_path / "station.usda")


def _fresh(sim, tmp_path, name):
    flat = tmp_path / f"{name}.usda"
    sim.stage.Export(str(flat))
    return swb.open(flat, device=DEVICE).evaluate()


def test_a_part_that_changes_shape_rebuilds(station, tmp_path):
    sim = swb.open(station, device=DEVICE)
    sim.evaluate()
    pts = np.array(sim.stage.GetPrimAtPath("/World/Shape").GetAttribute("points").Get())
    quad = [(-1.0, 0.7, 0.0), (1.0, 0.7, 0.0), (1.0, 0.7, 2.0), (-1.0, 0.7, 2.0)]  # a sheet in front of the camera
    sim.set_attribute("/World/Shape", "points", Vt.Vec3fArray(quad))
    sim.set_attribute("/World/Shape", "faceVertexCounts", Vt.IntArray([4]))
    sim.set_attribute("/World/Shape", "faceVertexIndices", Vt.IntArray([0, 1, 2, 3]))
    res = sim.evaluate()
    assert sim.last_update.full and len(pts) != 4
    assert res.pairs.equal(_fresh(sim, tmp_path, "shape").pairs)


@pytest.mark.parametrize("path, attr, value", [
    ("/Library/Crate/Ball", "radius", 0.3),                       # source of native instances
    ("/World/Parcels/Prototypes/Parcel/Body", "size", 0.5),      # a PointInstancer prototype
])
def test_prototype_edits_rebuild(station, tmp_path, path, attr, value):
    sim = swb.open(station, device=DEVICE)
    sim.evaluate()
    sim.set_attribute(path, attr, value)
    res = sim.evaluate()
    assert sim.last_update.full
    assert res.pairs.equal(_fresh(sim, tmp_path, "proto").pairs)


def test_point_instancer_edit_moves_its_instances(station, tmp_path):
    sim = swb.open(station, device=DEVICE)
    sim.evaluate()
    pos = np.array(sim.stage.GetPrimAtPath("/World/Parcels").GetAttribute("positions").Get())
    pos[1] += (0.0, 0.0, 0.2)
    sim.set_attribute("/World/Parcels", "positions", Vt.Vec3fArray.FromNumpy(pos.astype(np.float32)))
    res = sim.evaluate()
    assert res.pairs.equal(_fresh(sim, tmp_path, "instancer").pairs)
    # a second edit goes through too: no stray prims were left behind by the results layer
    sim.set_attribute("/World/Parcels", "positions", Vt.Vec3fArray.FromNumpy((pos * 1.01).astype(np.float32)))
    assert sim.evaluate().pairs.equal(_fresh(sim, tmp_path, "instancer2").pairs)


def test_bad_edit_raises_and_stays_pending(station):
    sim = swb.open(station, device=DEVICE)
    before = sim.evaluate().pairs.copy()
    authored = sim.stage.GetPrimAtPath("/World/Cam").GetAttribute("focalLength").Get()
    sim.set_attribute("/World/Cam", "focalLength", -1.0)
    with pytest.raises(SwbError, match="focalLength"):
        sim.evaluate()
    assert sim.has_pending_changes
    with pytest.raises(SwbError, match="focalLength"):  # not silently stale on the next call
        sim.evaluate()
    assert sim.results.pairs.equal(before)  # the stored results were not touched by the failed update
    sim.set_attribute("/World/Cam", "focalLength", authored)
    assert sim.evaluate().pairs.equal(before)
