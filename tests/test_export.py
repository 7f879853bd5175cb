"""Scene model -> USD stage -> scene model: the loader reads back what the exporter wrote, in any units and axes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from device import DEVICE

import swb
from swb.engine.model import LightModel
from swb.engine.station_generator import generate_station
from swb.engine.world import World
from swb.errors import SwbError
from swb.stage.export import write_scene


def _evaluate(scene):
    world = World(scene, device=DEVICE)
    try:
        world.evaluate()
        return world.results()
    finally:
        world.close()


@pytest.fixture(scope="module")
def station():
    s = generate_station(n_triangles=20_000, n_cameras=4, n_targets=120)
    lights = [LightModel("/World/Lights/Strobe", np.array([0.5, 0.0, 2.5]), np.array([0.0, 0.0, -1.0]), 200000.0, 80.0)]
    return replace(s, lights=lights)


@pytest.mark.parametrize("mpu, up", [(1.0, "Z"), (0.01, "Y")])
def test_round_trip_gives_the_same_scene_and_results(tmp_path, station, mpu, up):
    path = write_scene(station, tmp_path / "station.usdc", meters_per_unit=mpu, up_axis=up)
    back = swb.open(path, device=DEVICE).scene
    assert [c.path for c in back.cameras] == [c.path for c in station.cameras]
    assert sorted(t.path for t in back.targets) == sorted(t.path for t in station.targets)
    assert sum(len(p.triangles) for p in back.parts) == sum(len(p.triangles) for p in station.parts)
    for a, b in zip(station.cameras, back.cameras, strict=True):
        assert np.allclose(a.position, b.position, atol=1e-6) and np.allclose(a.rotation, b.rotation, atol=1e-6)
        assert b.focal_length == pytest.approx(a.focal_length, rel=1e-6)
        assert (b.width, b.height, b.decoder_profile, b.focus_mode) == (a.width, a.height, a.decoder_profile,
                                                                        a.focus_mode)
    by_path = {t.path: t for t in back.targets}
    for a in station.targets:
        b = by_path[a.path]
        assert np.allclose(a.position, b.position, atol=1e-6) and np.allclose(a.rotation, b.rotation, atol=1e-6)
        assert np.allclose(a.velocity, b.velocity, atol=1e-6) and b.module_size == pytest.approx(a.module_size)
        assert (b.symbology, b.modules) == (a.symbology, a.modules)
    assert len(back.lights) == 1 and np.allclose(back.lights[0].direction, [0, 0, -1], atol=1e-9)
    order = [back.target_index(t.path) for t in station.targets]
    x, y = _evaluate(station), _evaluate(back)
    same = (x.decodable == y.decodable[:, order]) & (x.limiting == y.limiting[:, order])
    assert same.all() and x.decodable.any()
    assert np.allclose(x.ppm_u, y.ppm_u[:, order], rtol=1e-4)


def test_bad_paths_and_units_are_refused(tmp_path, station):
    with pytest.raises(SwbError, match="USD file name"):
        write_scene(station, tmp_path / "station.txt")
    with pytest.raises(SwbError, match="upAxis"):
        write_scene(station, tmp_path / "s.usda", up_axis="X")
    twice = replace(station, cameras=[station.cameras[0], replace(station.cameras[1], path=station.cameras[0].path)])
    with pytest.raises(SwbError, match="shares its path"):
        write_scene(twice, tmp_path / "s.usda")
    assert not (tmp_path / "s.usda").exists()
