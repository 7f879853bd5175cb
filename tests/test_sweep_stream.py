"""Bounded-memory sweeps: the top-k merge ranks exactly as ranking everything, a run that keeps only its best
configurations reports the same top and coverages, streamed rows hold every configuration, and bad rows files fail
in one line with nothing written. CPU only."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from device import DEVICE
from test_sweep import STATION_SPEC, station

import swb
from swb.engine.profiles import FACTORS
from swb.engine.world import World
from swb.sweep.results import SweepSums, ranking
from swb.sweep.rows import RowStream
from swb.sweep.run import SweepRunner
from swb.sweep.spec import spec_from_dict
from swb.sweep.topk import TopK

pq = pytest.importorskip("pyarrow.parquet")


def test_topk_merge_equals_the_full_ranking():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, k, chunk = int(rng.integers(1, 400)), int(rng.integers(1, 50)), int(rng.integers(1, 90))
        cov, red = rng.integers(0, 6, n), rng.integers(0, 3, n)  # many ties: the index decides
        want = ranking(SweepSums(cov, red, np.zeros((n, 1)), np.zeros((n, len(FACTORS)))))[:k]
        top = TopK(k)
        for a in range(0, n, chunk):
            top.add(np.arange(a, min(n, a + chunk)), cov[a:a + chunk], red[a:a + chunk])
        assert np.array_equal(top.order(), want), (n, k, chunk)


@pytest.fixture(scope="module")
def station_world():
    scene = station()
    world = World(scene, device=DEVICE)
    yield scene, world
    world.close()


def _spec(samples: int = 40):
    doc = {**STATION_SPEC, "sweep": {**STATION_SPEC["sweep"], "samples": samples}}
    return spec_from_dict(doc, 1.0)


@pytest.mark.parametrize("keep", [1, 5, 40])
def test_keeping_the_best_and_streaming_rows_changes_no_result(station_world, tmp_path, keep):
    scene, world = station_world
    full_runner = SweepRunner(scene, _spec(), world=world, chunk=3)
    lean_runner = SweepRunner(scene, _spec(), world=world, chunk=3)
    try:
        full = full_runner.run()
        stream = RowStream(tmp_path / "rows.parquet", lean_runner.columns, [c.path for c in scene.cameras],
                           int(lean_runner.samples.weight_int.sum()))
        lean = lean_runner.run(rows=stream, keep=keep)
        stream.close()
    finally:
        full_runner.close()
        lean_runner.close()
    assert lean.n_done == full.n_done == 40 and lean.n_rows == min(keep, 40)
    top = full.order[:keep]  # rows of the full result are configurations
    assert np.array_equal(lean.config_ids[lean.order], top)
    assert lean.best == full.best
    assert np.array_equal(lean.coverage[lean.order], full.coverage[top])
    assert np.array_equal(lean.redundancy[lean.order], full.redundancy[top])
    for name in ("covered", "redundant", "unique", "limiting"):
        assert np.array_equal(getattr(lean.sums, name)[lean.order], getattr(full.sums, name)[top]), name
    assert np.array_equal(lean.best_detail.decodable, full.best_detail.decodable)
    assert lean.ranked_table(keep) == full.ranked_table(keep)
    assert lean.to_json(keep)["top"] == full.to_json(keep)["top"]
    # the streamed rows: every configuration in design order, the values the full result holds
    table = pq.read_table(tmp_path / "rows.parquet")
    assert table.column("config").to_pylist() == list(range(40))
    assert np.array_equal(table.column("sample_coverage").to_numpy(), full.coverage)
    assert np.array_equal(table.column("redundancy").to_numpy(), full.redundancy)
    for k, cam in enumerate(full.cameras):
        assert np.array_equal(table.column(f"unique:{cam}").to_numpy(), full.share(full.sums.unique[:, k]))
    assert [p for p in os.listdir(tmp_path) if p != "rows.parquet"] == []


def test_ranked_parquet_matches_the_csv(station_world, tmp_path):
    scene, world = station_world
    runner = SweepRunner(scene, _spec(12), world=world)
    try:
        res = runner.run()
    finally:
        runner.close()
    res.write_parquet(tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet")
    lines = res.csv_text().splitlines()
    assert table.column_names == lines[0].split(",")
    rows = table.to_pylist()
    for line, row in zip(lines[1:], rows, strict=True):
        cells = line.split(",")
        for cell, (_, value) in zip(cells, row.items(), strict=True):
            assert cell == str(value)


def test_aborted_stream_leaves_no_file(station_world, tmp_path):
    scene, world = station_world
    runner = SweepRunner(scene, _spec(6), world=world, chunk=2)
    try:
        stream = RowStream(tmp_path / "rows.parquet", runner.columns, [c.path for c in scene.cameras], 1)

        def stop(done: int, total: int) -> None:
            if done >= 4:
                raise RuntimeError("writer side failed")

        with pytest.raises(RuntimeError):
            runner.run(stop, rows=stream)
        stream.abort()
    finally:
        runner.close()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name,message", [("rows.csv", "written as Parquet"),
                                          ("blocker/rows.parquet", "could not be written")])
def test_cli_bad_rows_file_is_one_line(tmp_path, capsys, name, message):
    from swb.cli import main

    tunnel = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), tunnel)
    (tmp_path / "blocker").write_text("a file")
    before = sorted(os.listdir(tmp_path))
    spec = str(swb.bundled_scene("scan_tunnel").parent / "scan_tunnel_sweep.toml")
    rc = main(["sweep", str(tunnel), "--spec", spec, "--samples", "8", "--rows", str(tmp_path / name),
               "--device", DEVICE])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[swb]")]
    assert rc == 2 and len(err) == 1 and message in err[0]
    assert sorted(os.listdir(tmp_path)) == before


def test_cli_rows_with_csv_is_refused(tmp_path, capsys):
    from swb.cli import main

    tunnel = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), tunnel)
    rc = main(["sweep", str(tunnel), "--rows", str(tmp_path / "r.parquet"), "--csv", "--out", str(tmp_path / "o"),
               "--device", DEVICE])
    assert rc == 2 and "--csv needs them all" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "r.parquet").exists()


def test_cli_rows_streams_and_keeps_the_top(tmp_path, capsys):
    from swb.cli import main

    tunnel = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), tunnel)
    spec = str(swb.bundled_scene("scan_tunnel").parent / "scan_tunnel_sweep.toml")
    common = ["sweep", str(tunnel), "--spec", spec, "--samples", "48", "--top", "3", "--chunk", "8", "--json",
              "--device", DEVICE]
    import json

    assert main(common) == 0
    full = json.loads(capsys.readouterr().out)
    assert main([*common, "--rows", str(tmp_path / "rows.parquet"), "--out", str(tmp_path / "o"),
                 "--apply", "best"]) == 0
    lean = json.loads(capsys.readouterr().out)
    assert lean["top"] == full["top"] and lean["configurations"] == 48
    assert lean["applied"]["verified"]
    assert pq.read_table(tmp_path / "rows.parquet").num_rows == 48
