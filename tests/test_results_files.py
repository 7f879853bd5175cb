"""Results files: Parquet holds every pair column exactly, in any chunking; writes are atomic; bad names fail in
one line with nothing written."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import swb  # noqa: F401  (registers the schemas)
from swb.atomic_file import atomic_file
from swb.engine import results_files
from swb.engine.model import CameraModel, TargetModel
from swb.engine.pair_results import SCALAR_FIELDS, PairResults
from swb.engine.pair_table import pairs_from_table
from swb.engine.profiles import FACTOR_CODE
from swb.engine.results import Results
from swb.engine.results_files import read_summary, write_results
from swb.errors import SwbError

pq = pytest.importorskip("pyarrow.parquet")


def _results(n_cam: int = 3, n_tgt: int = 5, seed: int = 1) -> Results:
    rng = np.random.default_rng(seed)
    cams = [CameraModel(f"/W/Cam{i}", np.eye(3), np.zeros(3), 640, 480, 0.016, (0.0064, 0.0048)) for i in
            range(n_cam)]
    tgts = [TargetModel(f"/W/T{j}", np.eye(3), np.full(3, float(j)), "qrcode", 5e-4, (21, 21)) for j in range(n_tgt)]
    p = PairResults.empty(n_cam, n_tgt)
    for name in SCALAR_FIELDS:
        setattr(p, name, rng.random((n_cam, n_tgt)).astype(np.float32))
    p.margins = rng.random((n_cam, n_tgt, 9)).astype(np.float32)
    p.margins[0, 0, 0] = np.inf
    p.ppm_u[0, 1] = np.nan
    p.decodable = rng.random((n_cam, n_tgt)) > 0.5
    p.decodable[:, -1] = False
    p.limiting = np.where(p.decodable, 0, FACTOR_CODE["resolution"]).astype(np.int32)
    p.limiting[0, -1] = FACTOR_CODE["fov"]
    p.limiting[1, -1] = FACTOR_CODE["occluded"]
    return Results(cams, tgts, p)


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("[swb]")]


def _read(path, res: Results) -> PairResults:
    return pairs_from_table(pq.read_table(path), res.camera_paths, res.target_paths)


def test_parquet_round_trip_equals_every_column(tmp_path):
    res = _results()
    path = write_results(tmp_path / "r.parquet", res)
    table = pq.read_table(path)
    assert table.num_rows == 15
    assert _read(path, res).equal(res.pairs)  # every PairResults array, bit for bit, NaN and inf included
    # the rows read as the JSON pairs do: camera-major, names for paths and factors, null limiting when decodable
    rows = table.to_pylist()
    want = res.to_json()["pairs"]
    for got, exp in zip(rows, want, strict=True):
        for key, value in exp.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, nan_ok=True) or (value is None)
            elif value is None:
                assert got[key] is None or not np.isfinite(got[key])
            else:
                assert got[key] == value, key
    summary = read_summary(path)
    doc = res.to_json(pairs=False)
    assert summary["format"] == "swb.pairs/1"
    assert summary["label_coverage"] == doc["label_coverage"]
    assert summary["targets"] == json.loads(json.dumps(doc["targets"]))
    assert [c["path"] for c in summary["cameras"]] == res.camera_paths


@pytest.mark.parametrize("chunk", [1, 4, 7])
def test_tiny_chunks_equal_one_chunk(tmp_path, chunk):
    res = _results(4, 7)
    one = write_results(tmp_path / "one.parquet", res)
    many = write_results(tmp_path / "many.parquet", res, chunk_rows=chunk)
    assert pq.ParquetFile(many).metadata.num_row_groups == -(-28 // chunk)
    assert pq.ParquetFile(one).metadata.num_row_groups == 1
    a, b = pq.read_table(one), pq.read_table(many)
    assert a.schema.equals(b.schema, check_metadata=True)
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if str(x.type).startswith("dictionary"):
            assert x.cast("string").to_pylist() == y.cast("string").to_pylist(), name
        else:
            assert np.array_equal(x.to_numpy(), y.to_numpy(), equal_nan=x.type != "bool"), name
    assert _read(many, res).equal(res.pairs)


def test_json_file_is_the_eval_json(tmp_path):
    res = _results()
    path = write_results(tmp_path / "r.json", res)
    assert json.loads(path.read_text()) == json.loads(json.dumps(res.to_json()))


def test_writer_error_leaves_no_file(tmp_path, monkeypatch):
    res = _results()
    real = results_files.pair_batches

    def batches(*args, **kwargs):
        for k, batch in enumerate(real(*args, **kwargs)):
            if k == 2:
                raise KeyboardInterrupt  # as Ctrl-C in the middle of the table
            yield batch

    monkeypatch.setattr(results_files, "pair_batches", batches)
    (tmp_path / "r.parquet").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        write_results(tmp_path / "r.parquet", res, chunk_rows=2)
    assert sorted(os.listdir(tmp_path)) == ["r.parquet"]
    assert (tmp_path / "r.parquet").read_bytes() == b"old"  # the old file, untouched


def test_atomic_file_removes_temporary_on_error(tmp_path):
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "x.bin") as fh:
        fh.write(b"partial")
        raise RuntimeError("writer failed")
    assert os.listdir(tmp_path) == []


def test_unknown_suffix_is_one_line_and_writes_nothing(tmp_path):
    with pytest.raises(SwbError) as err:
        write_results(tmp_path / "r.csv", _results())
    assert "unknown results file type '.csv'" in str(err.value) and "\n" not in str(err.value)
    assert os.listdir(tmp_path) == []


def test_unwritable_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SwbError) as err:
        write_results(blocker / "r.parquet", _results())
    assert "could not be written" in str(err.value) and "\n" not in str(err.value)
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_json_refused_above_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(results_files, "JSON_MAX_PAIRS", 10)
    res = _results()
    with pytest.raises(SwbError) as err:
        write_results(tmp_path / "r.json", res)
    assert "15 pairs are too many for a JSON results file" in str(err.value)
    assert "r.parquet" in str(err.value)
    assert os.listdir(tmp_path) == []
    assert results_files.auto_format(res) == "parquet"


def test_missing_pyarrow_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(SwbError) as err:
        results_files.check_writable("r.parquet", _results())
    assert "swb[parquet]" in str(err.value)


def test_eval_results_parquet_and_out_switch(tmp_path, capsys, monkeypatch):
    import shutil

    from device import DEVICE

    from swb.cli import main

    tunnel = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), tunnel)
    res = swb.open(tunnel, device=DEVICE).evaluate()
    assert main(["eval", str(tunnel), "--results", str(tmp_path / "r.parquet"), "--device", DEVICE]) == 0
    assert _read(tmp_path / "r.parquet", res).equal(res.pairs)
    # above the JSON limit --out writes the save's results file as Parquet, and says so
    monkeypatch.setattr(results_files, "JSON_MAX_PAIRS", 3)
    capsys.readouterr()
    assert main(["eval", str(tunnel), "--out", str(tmp_path / "out"), "--device", DEVICE]) == 0
    err = capsys.readouterr().err
    assert "results as Parquet (JSON holds up to 3 pairs)" in err
    assert _read(tmp_path / "out" / "scan_tunnel.results.parquet", res).equal(res.pairs)
    assert not (tmp_path / "out" / "scan_tunnel.results.json").exists()
    assert not [p for p in os.listdir(tmp_path / "out") if p.endswith(".tmp")]
    # --json and --results x.json are refused above it: one line, exit 2, nothing written
    for extra in (["--json"], ["--results", str(tmp_path / "big.json")]):
        assert main(["eval", str(tunnel), *extra, "--device", DEVICE]) == 2
        err = _error_lines(capsys.readouterr().err)
        assert len(err) == 1 and "pairs are too many" in err[0]
    assert not (tmp_path / "big.json").exists()


@pytest.mark.parametrize("name", ["r.csv", "blocker/r.parquet"])
def test_eval_bad_results_name_is_one_line(tmp_path, capsys, name):
    import shutil

    from device import DEVICE

    from swb.cli import main

    tunnel = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), tunnel)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    before = sorted(os.listdir(tmp_path))
    assert main(["eval", str(tunnel), "--results", str(tmp_path / name), "--device", DEVICE]) == 2
    err = _error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("swb: error:")
    assert "loading" not in capsys.readouterr().err  # refused before the stage is opened
    assert sorted(os.listdir(tmp_path)) == before


def test_release_world_keeps_results_and_rebuilds_on_demand(tmp_path):
    import shutil

    from device import DEVICE

    tunnel = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), tunnel)
    sim = swb.open(tunnel, device=DEVICE)
    before = sim.evaluate().pairs.copy()
    sim.release_world()
    assert sim.results.pairs.equal(before)  # the results outlive the world
    write_results(tmp_path / "r.parquet", sim.results)
    assert _read(tmp_path / "r.parquet", sim.results).equal(before)
    assert sim.evaluate(full=True).pairs.equal(before)  # a new world, the same figures
