"""Cluster benchmark: configurations per second of one sweep on a local Ray cluster with 1 and 2 workers, the
parallel efficiency, and the single-process sweep as the baseline, all measured in one run.

    python bench/bench_cluster.py [--configs N] [--generated] [--workers 2] [--address ray://HOST:PORT]

The baseline is what a skilled user runs on one machine without a cluster: `swb sweep` in one process, its
batched kernels on every core (Warp's CPU launches split over a thread pool), and the same with one thread, to
compare with one single-threaded worker. Each cluster worker gets one core (one thread), so 2 workers use the
same 2 cores as the 2-thread baseline. Efficiency = rate(N workers) / (N x rate(1 worker)).

Every run is warmed first (kernels compiled, worker processes started and holding the stage), then timed from
`sim.sweep(...)` to its ranked result: authoring the spec, the workers opening the stage for this run, the chunks,
and the best configuration's tables on the driver. Worker start-up (a fresh Ray cluster, processes importing SWB)
is printed apart. Each cluster result is checked bit for bit against the single-process sums.

The stage: the bundled scan tunnel and its sweep (scenes/scan_tunnel_sweep.toml), or --generated: a generated
station (50 000 triangles, 16 cameras, 1 000 labels) written as USD, for more work per configuration.

This machine's cores may be shared with other work: the load average is printed before and after, and the
figures are only as steady as that load. On a multi-node GPU cluster the same script with --address measures it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def log(msg: str) -> None:
    print(msg, flush=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def generated_stage(folder: Path) -> tuple[Path, dict]:
    from swb.engine.station_generator import generate_station
    from swb.stage.export import write_scene

    scene = generate_station(n_triangles=50_000, n_cameras=16, n_targets=1_000)
    path = folder / "generated.usda"
    write_scene(scene, path)
    gantry = [c.path for c in scene.cameras[:4]]
    doc = {
        "sweep": {"name": "gantry", "cameras": gantry, "sampler": "lhs", "seed": 1,
                  "orientation_mode": "flatRandomYaw", "orientations": 2},
        "parameter": [
            {"name": "height", "kind": "translateZ", "cameras": gantry[:1], "range": [-0.8, 0.4]},
            {"name": "lens", "kind": "focalLength", "cameras": gantry[:1], "values": [12.0, 16.0, 25.0, 35.0]},
            {"name": "sideTilt", "kind": "pitch", "space": "camera", "rig": "mirror", "cameras": gantry[1:3],
             "range": [-15.0, 15.0]},
            {"name": "obliqueYaw", "kind": "yaw", "cameras": gantry[3:4], "range": [-20.0, 20.0]},
        ],
    }
    return path, doc


def same(a, b) -> bool:  # noqa: ANN001
    return all(np.array_equal(getattr(a.sums, f.name), getattr(b.sums, f.name)) for f in dataclasses.fields(a.sums)) \
        and all(np.array_equal(getattr(a.baseline, f.name), getattr(b.baseline, f.name))
                for f in dataclasses.fields(a.baseline)) and np.array_equal(a.order, b.order)


def main(argv: list[str] | None = None) -> int:
    import warp as wp

    wp.config.log_level = logging.WARNING
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", type=int, default=20000, help="configurations per timed sweep (default 20000)")
    ap.add_argument("--generated", action="store_true", help="a generated 50 k-triangle station instead")
    ap.add_argument("--workers", type=int, default=2, help="the larger cluster (default 2)")
    ap.add_argument("--address", default="ray", help="ray (local, default) or ray://HOST:PORT of a cluster")
    ap.add_argument("--device", default="cpu", help="the driver's device and the baseline's (default cpu)")
    args = ap.parse_args(argv)

    import swb
    from swb.cluster import Cluster

    tmp = tempfile.TemporaryDirectory(prefix="swb-bench-cluster-")
    if args.generated:
        t0 = time.perf_counter()
        stage, spec = generated_stage(Path(tmp.name))
        log(f"[stage] generated station written in {time.perf_counter() - t0:.1f} s: {stage}")
    else:
        stage = swb.bundled_scene("scan_tunnel")
        from swb.cli.sweep import demo_spec_path
        spec = str(demo_spec_path())
    overrides = {"samples": args.configs}
    log(f"[machine] {load()}")

    def sweep(sim, cluster=None):  # noqa: ANN001, ANN202
        """(result, wall seconds, CPU seconds of this process and the workers)"""
        c0 = time.process_time() + (cluster.cpu_seconds() if cluster is not None else 0.0)
        t0 = time.perf_counter()
        res = sim.sweep(spec=spec, **overrides, cluster=cluster)
        seconds = time.perf_counter() - t0
        return res, seconds, time.process_time() + (cluster.cpu_seconds() if cluster is not None else 0.0) - c0

    # ----- the single-process baselines (warm: one small sweep first compiles the kernels)
    rates: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds per 1,000 configurations
    ref = None
    for threads in (1, os.cpu_count() or 1):
        sim = swb.open(stage, device=args.device, threads=threads)
        sim.sweep(spec=spec, samples=16)
        res, seconds, used = sweep(sim)
        key = f"single process, {threads} thread{'s' if threads > 1 else ''}"
        rates[key], cpu[key] = res.n_done / seconds, 1000 * used / res.n_done
        ref = ref or res
        log(f"[single] {threads} thread(s): {res.n_done:,} configurations in {seconds:.2f} s "
            f"({res.n_done / seconds:,.1f} configurations/s, {used:.2f} CPU s; {res.samples_text})")

    # ----- local clusters of 1 and N single-threaded workers
    identical = True
    chunk_rates: dict[int, float] = {}
    for n in sorted({1, args.workers}):
        t0 = time.perf_counter()
        cl = Cluster(args.address, workers=n, device="cpu", num_cpus=max(n, os.cpu_count() or 1) if
                     args.address == "ray" else None, timeout=600)
        try:
            cl.start()
            started = time.perf_counter() - t0
            sim = swb.open(stage, device=args.device, threads=1)
            sim.sweep(spec=spec, samples=16, cluster=cl)  # warm: workers compile or load kernels, open the stage
            res, seconds, used = sweep(sim, cluster=cl)
        finally:
            cl.close()
        ok = same(ref, res)
        identical &= ok
        key = f"cluster, {n} worker{'s' if n > 1 else ''}"
        rates[key], cpu[key] = res.n_done / seconds, 1000 * used / res.n_done
        run = cl.last_run
        chunk_rates[n] = res.n_done / run["chunks_s"]
        log(f"[cluster] {n} worker(s) x 1 thread: start-up {started:.1f} s; {res.n_done:,} configurations in "
            f"{seconds:.2f} s ({res.n_done / seconds:,.1f} configurations/s, {used:.2f} CPU s; workers opening the "
            f"stage "
            f"{run['prepare_s']:.2f} s, {run['chunks']} chunks of {run['chunk']:,} in {run['chunks_s']:.2f} s, per "
            f"worker {run['per_worker']}); sums "
            f"{'identical to' if ok else 'DIFFER from'} the single process")
    log(f"[machine] {load()}")

    # ----- summary
    one, many = rates["cluster, 1 worker"], rates.get(f"cluster, {args.workers} workers", float("nan"))
    best_single = max(v for k, v in rates.items() if k.startswith("single"))
    log("")
    log(f"{'':<30}{'configurations/s':>18}{'CPU s per 1,000':>18}")
    for k, v in rates.items():
        log(f"  {k:<28}{v:18,.1f}{cpu[k]:18.3f}")
    log(f"parallel efficiency, {args.workers} workers vs 1: {many / (args.workers * one):.2f} "
        f"(speed-up {many / one:.2f}x); chunks alone (without opening the stage, details): "
        f"{chunk_rates[args.workers] / (args.workers * chunk_rates[1]):.2f}")
    threads = os.cpu_count() or 1
    if threads > 1:
        gain = rates[f"single process, {threads} threads"] / rates["single process, 1 thread"]
        log(f"for scale: a single process on {threads} threads runs at {gain:.2f}x its 1-thread rate here now (what "
            "this machine's load leaves of its other cores; 2.0 on two idle cores)")
    log(f"1 worker vs a single process with 1 thread: {one / rates['single process, 1 thread']:.2f}x the rate")
    log(f"work efficiency (CPU time of 1 worker / CPU time of {args.workers}, this process included; not skewed by "
        f"other load): {cpu['cluster, 1 worker'] / cpu[f'cluster, {args.workers} workers']:.2f}; cluster vs single "
        f"process CPU time: {cpu['cluster, 1 worker'] / cpu['single process, 1 thread']:.2f}x")
    log(f"{args.workers} workers vs the best single process: {many / best_single:.2f}x")
    log(f"results identical to the single process, bit for bit: {'yes' if identical else 'NO'}")
    tmp.cleanup()
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
