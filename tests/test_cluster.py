"""Sweeps and designs on a Ray cluster (swb.cluster): one local cluster of two CPU workers for the module, results
compared with a single process array by array, a worker killed mid-run, a shipped stage, and bad input (an
unreachable address, a stage the workers cannot read or read differently, a worker without SWB, no GPUs).

Every wait on the cluster has a timeout, so a hung cluster fails these tests instead of hanging CI."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys

import numpy as np
import pytest
import warp as wp
from device import DEVICE
from optimize_stages import build_ring, ring_design

import swb
from swb.cli.main import main
from swb.cluster import Cluster, parse_cluster
from swb.errors import SwbError
from swb.sweep.results import read_sweep_layer

ray = pytest.importorskip("ray")

TUNNEL = swb.bundled_scene("scan_tunnel")
SPEC = TUNNEL.with_name("scan_tunnel_sweep.toml")
SAMPLES = 40
TIMEOUT = 180  # seconds: a chunk, or workers starting and opening the stage


@pytest.fixture(scope="module")
def cluster():
    # the workers seed their own kernel caches from this process's: compile what they run first
    import swb.kernels.coverage  # noqa: F401
    import swb.kernels.sweep  # noqa: F401

    for module in ("swb.kernels.sweep", "swb.kernels.coverage"):
        wp.load_module(module, device="cpu")
    cl = Cluster("ray", workers=2, num_cpus=2, device="cpu", timeout=TIMEOUT, setup_timeout=TIMEOUT)
    try:
        yield cl.start()
    finally:
        cl.close()


@pytest.fixture(scope="module")
def single():
    """The reference: the same sweep in this process."""
    return swb.open(TUNNEL, device=DEVICE).sweep(spec=SPEC, samples=SAMPLES)


def assert_same_sweep(a, b) -> None:
    """Every array of two sweep results equal, bit for bit (new SweepSums fields included)."""
    for f in dataclasses.fields(a.sums):
        assert np.array_equal(getattr(a.sums, f.name), getattr(b.sums, f.name)), f.name
        assert np.array_equal(getattr(a.baseline, f.name), getattr(b.baseline, f.name)), f.name
    assert np.array_equal(a.values, b.values) and np.array_equal(a.order, b.order)
    assert a.total == b.total and a.n_done == b.n_done and a.complete == b.complete
    for da, db in ((a.best_detail, b.best_detail), (a.baseline_detail, b.baseline_detail)):
        for f in dataclasses.fields(da):
            assert np.array_equal(getattr(da, f.name), getattr(db, f.name)), f.name


def test_cluster_sweep_equals_a_single_process_bit_for_bit(cluster, single):
    sim = swb.open(TUNNEL, device=DEVICE)
    seen = []
    before = cluster.chunks
    res = sim.sweep(spec=SPEC, samples=SAMPLES, cluster=cluster, chunk=3,  # other chunks than the reference's
                    progress=lambda done, total: seen.append((done, total)))
    assert cluster.chunks - before == 1 + 14  # the baseline and ceil(40 / 3) ranges, all on the workers
    assert_same_sweep(single, res)
    assert seen[-1] == (SAMPLES, SAMPLES) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    # what lands in USD is the same too (apart from the run's time and device)
    ref_sim = swb.open(TUNNEL, device=DEVICE)
    ref_sim.sweep(spec=SPEC, samples=SAMPLES)
    ours, theirs = read_sweep_layer(sim.sweep_layer, res.name), read_sweep_layer(ref_sim.sweep_layer, res.name)
    assert set(ours) == set(theirs)
    for key in theirs:
        if key not in ("seconds", "device"):
            assert np.array_equal(np.asarray(ours[key]), np.asarray(theirs[key])), key
    assert "workers" in ours["device"]


def test_a_killed_worker_is_retried_and_the_result_is_the_same(cluster, single):
    victim = cluster.infos[0].pid
    killed = []

    def kill_once(done: int, total: int) -> None:
        if not killed:
            os.kill(victim, signal.SIGKILL)  # its queued chunks are lost with it
            killed.append(done)

    retried, restarts = cluster.retried, cluster.restarts
    res = swb.open(TUNNEL, device=DEVICE).sweep(spec=SPEC, samples=SAMPLES, cluster=cluster, chunk=2,
                                               progress=kill_once)
    assert killed and cluster.retried > retried
    assert_same_sweep(single, res)
    # Ray restarts the worker; a later run uses it again with a fresh process
    res2 = swb.open(TUNNEL, device=DEVICE).sweep(spec=SPEC, samples=SAMPLES, cluster=cluster, chunk=2)
    assert_same_sweep(single, res2)
    assert cluster.restarts > restarts and victim not in {i.pid for i in cluster.infos}


def test_cluster_design_equals_a_single_process(cluster, tmp_path):
    stage = build_ring(tmp_path / "ring.usda")
    a = swb.open(stage, device=DEVICE).optimize(spec=ring_design())
    before = cluster.chunks
    b = swb.open(stage, device=DEVICE).optimize(spec=ring_design(), cluster=cluster)
    assert cluster.chunks > before  # the candidate matrix came from the workers
    assert a.n_candidates == b.n_candidates and a.evaluations == b.evaluations
    assert a.read_rate == b.read_rate and a.greedy == b.greedy and a.discrete == b.discrete
    assert np.array_equal(a.pass_read, b.pass_read)
    for ca, cb in zip(a.cameras, b.cameras, strict=True):
        assert ca.option == cb.option and np.array_equal(ca.position, cb.position)
        assert np.array_equal(ca.forward, cb.forward)


def test_a_shipped_stage_needs_no_shared_path(cluster, single, tmp_path, monkeypatch):
    """ship: the workers open a USDZ package of the stage (every layer it uses), not the file; here the file is
    gone by the time they would look for it."""
    import swb.cluster.runs as runs
    from swb.cluster.jobs import package_stage

    own = tmp_path / "tunnel.usda"
    shutil.copy(TUNNEL, own)
    sim = swb.open(own, device=DEVICE)
    sim.evaluate()
    data = package_stage(own)
    own.rename(tmp_path / "gone.usda")
    monkeypatch.setattr(runs, "package_stage", lambda path: data)  # packaged while the file was there
    monkeypatch.setattr(cluster, "ship", True)
    res = sim.sweep(spec=SPEC, samples=SAMPLES, cluster=cluster)
    assert_same_sweep(single, res)


# ----- bad input: one clear line, nothing written

def test_a_stage_the_workers_cannot_read_is_one_clear_error(cluster, tmp_path):
    own = tmp_path / "tunnel.usda"
    shutil.copy(TUNNEL, own)
    sim = swb.open(own, device=DEVICE)
    sim.evaluate()
    own.rename(tmp_path / "elsewhere.usda")  # the driver has it open; the workers look at the path
    with pytest.raises(SwbError, match=r"worker \d on .*tunnel.usda: the stage is not readable at this path"):
        sim.sweep(spec=SPEC, samples=8, cluster=cluster)


def test_a_different_copy_of_the_stage_is_refused(cluster, tmp_path):
    """A node whose file differs from the driver's (here: edited after the driver read it) would give other sums:
    the worker's digest of its inputs differs and it refuses."""
    own = tmp_path / "tunnel.usda"
    shutil.copy(TUNNEL, own)
    sim = swb.open(own, device=DEVICE)
    sim.evaluate()
    text = own.read_text()
    assert text.count("(0, 0, 0.77)") == 1
    own.write_text(text.replace("(0, 0, 0.77)", "(0, 0, 0.78)"))  # the belt 1 cm higher on "that node"
    with pytest.raises(SwbError, match="gives another sweep than the driver's"):
        sim.sweep(spec=SPEC, samples=8, cluster=cluster)


def test_no_gpus_and_too_many_workers_are_refused(cluster):
    with pytest.raises(SwbError, match="has no GPUs .*--cluster-device cpu"):
        Cluster("ray", device="cuda").start()
    with pytest.raises(SwbError, match="3 CPU workers need 3 CPUs"):
        Cluster("ray", workers=3, device="cpu").start()


def test_cli_unreachable_cluster_and_no_gpus_write_nothing(tmp_path, capsys, cluster):
    out = tmp_path / "out"
    for extra, words in ((["--cluster", "ray://127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
                         (["--cluster", "ray", "--cluster-device", "cuda"], "has no GPUs"),
                         (["--cluster", "tcp://x"], "unknown cluster 'tcp://x'"),
                         (["--workers", "2"], "--workers needs --cluster")):
        rc = main(["sweep", str(TUNNEL), "--spec", str(SPEC), "--samples", "8", "--out", str(out), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and err[-1].startswith("swb: error: ") and words in err[-1], (extra, err)
        assert not out.exists()


class FakeRay:
    """What _plan reads of a cluster: its nodes (a multi-node GPU cluster cannot be had here)."""

    def __init__(self, *nodes: dict) -> None:
        self._nodes = [{"Alive": True, "NodeID": f"n{k}", "Resources": r} for k, r in enumerate(nodes)]

    def nodes(self) -> list[dict]:
        return self._nodes


def test_worker_plans_for_multi_node_clusters():
    two_gpu_nodes = FakeRay({"CPU": 16, "GPU": 2}, {"CPU": 16, "GPU": 2}, {"CPU": 8})
    slots = Cluster("ray://auto")._plan(two_gpu_nodes)
    assert len(slots) == 4 and all(s.num_gpus == 1 and s.device == "cuda" for s in slots)  # one worker per GPU
    assert len(Cluster("ray://auto", workers=3)._plan(two_gpu_nodes)) == 3
    with pytest.raises(SwbError, match="5 GPU workers need 5 GPUs"):
        Cluster("ray://auto", workers=5)._plan(two_gpu_nodes)
    cpu = Cluster("ray://auto", device="cpu")._plan(two_gpu_nodes)  # one per node, all its cores, pinned to it
    assert [(s.node, s.threads, s.num_gpus) for s in cpu] == [("n0", 16, 0), ("n1", 16, 0), ("n2", 8, 0)]
    spread = Cluster("ray://auto", device="cpu", workers=8)._plan(two_gpu_nodes)
    assert len(spread) == 8 and all(s.node is None and s.threads == 5 for s in spread)
    with pytest.raises(SwbError, match="has no GPUs .*--cluster-device cpu"):
        Cluster("ray://auto", device="cuda")._plan(FakeRay({"CPU": 4}, {"CPU": 4}))


def test_cluster_addresses():
    assert parse_cluster("ray").kind == "local"
    assert parse_cluster("ray://auto").ray_address == "auto"
    a = parse_cluster("ray://head.example:10002")
    assert (a.kind, a.host, a.port, a.ray_address) == ("client", "head.example", 10002, "ray://head.example:10002")
    assert parse_cluster("ray://[::1]").port == 10001
    for bad in ("ray:/x", "ray://", "ray://h:99999", "ray://h:x", "ray://a:b:c"):
        with pytest.raises(SwbError):
            parse_cluster(bad)


def test_ctrl_c_keeps_a_prefix_and_the_cli_matches(cluster, single, capsys):
    """Ctrl-C mid-run keeps the configurations done, in design order, as a single process does, and stops the
    workers; then the CLI's --cluster path (on the CPUs they freed) gives the JSON a single process gives."""
    class Interrupt:  # Ctrl-C arrives while the second chunk's result is taken in
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, done: int, total: int) -> None:
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt

    res = swb.open(TUNNEL, device=DEVICE).sweep(spec=SPEC, samples=SAMPLES, cluster=cluster, chunk=2,
                                               progress=Interrupt())
    assert not res.complete and 0 < res.n_done < SAMPLES and res.n_done % 2 == 0
    for f in dataclasses.fields(res.sums):
        assert np.array_equal(getattr(res.sums, f.name), getattr(single.sums, f.name)[:res.n_done]), f.name
    assert not cluster.started  # Ctrl-C stopped the workers

    rc = main(["sweep", str(TUNNEL), "--spec", str(SPEC), "--samples", str(SAMPLES), "--json", "--cluster", "ray",
               "--workers", "2", "--cluster-device", "cpu", "--cluster-timeout", str(TIMEOUT)])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["configurations"] == SAMPLES and "cpu workers" in doc["device"]
    assert [t["config"] for t in doc["top"]] == [int(i) for i in single.order[:10]]
    assert [t["sample_coverage"] for t in doc["top"]] == [float(single.coverage[i]) for i in single.order[:10]]


def test_a_worker_without_swb_is_one_clear_error(tmp_path, monkeypatch, cluster):
    """A worker class only this process can import stands for a node whose Python has no SWB."""
    (tmp_path / "driver_only_swb.py").write_text(
        "from swb.cluster.worker import Worker\n\nclass Broken(Worker):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import driver_only_swb

    import swb.cluster.session as session

    monkeypatch.setattr(session, "Worker", driver_only_swb.Broken)
    broken = Cluster("ray", workers=1, device="cpu", timeout=TIMEOUT, setup_timeout=TIMEOUT)
    with pytest.raises(SwbError, match=r"cannot import SWB \(No module named 'driver_only_swb'\).*pip install"):
        broken.start()
    assert not broken.started
    sys.modules.pop("driver_only_swb", None)
