"""Edit latency: how long a user waits for updated results after one edit, through the public Python API.

    python bench/bench_edit.py [--device cpu|cuda] [--small] [--repeats N] [--scene station.usdc]

The station (1 M triangles, 64 cameras, 10 000 labels from ``swb.engine.station_generator``) is written as a USD
stage with ``swb.stage.export.write_scene`` and opened with ``swb.open``, exactly as a user's file would be. Each
edit is authored through ``Simulation`` (``set_translation``, ``set_attribute``) and timed until ``evaluate()``
returns the updated results; times are medians of ``--repeats`` edits that alternate between two values.

Printed per edit: the median latency (wall clock; with the CPU time this process spent on it, summed over its
threads, which other jobs on a shared machine disturb less), the latency when the results layer is also brought up
to date (``flush_results``: what a save or a viewer asking for the USD results pays), and the ratio of a full
evaluation to the edit. The baseline is the full evaluation a user would otherwise run after an edit: every
camera x target pair recomputed by the same Warp kernels on the same device (``evaluate(full=True)``), without any
USD writing.
After the timings every edit's results are checked bit for bit against that full evaluation.

Targets on a 2-core CPU: camera move or setting < 10 ms, label edit < 10 ms, part move < 50 ms.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from peak_memory import report_peak

FULL = {"n_triangles": 1_000_000, "n_cameras": 64, "n_targets": 10_000}
SMALL = {"n_triangles": 50_000, "n_cameras": 8, "n_targets": 500}
TARGETS_MS = {"camera move": 10.0, "camera setting": 10.0, "label edit": 10.0, "part move": 50.0}


def log(msg: str) -> None:
    print(msg, flush=True)


def timed(fn: Callable[[int], object], repeats: int) -> tuple[float, float]:
    """(median wall time, median CPU time of this process summed over its threads) per call."""
    wall, cpu = [], []
    for k in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(k)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="Warp device (cpu, cuda); default: Warp's preferred")
    ap.add_argument("--small", action="store_true", help="reduced station for a quick smoke check")
    ap.add_argument("--repeats", type=int, default=15, help="edits per kind (median)")
    ap.add_argument("--scene", type=Path, default=None,
                    help="use (or write, when missing) the generated station at this path instead of a temp file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    size = SMALL if args.small else FULL
    reps = max(3, args.repeats)

    import warp as wp

    import swb
    from swb.engine.station_generator import generate_station
    from swb.stage.export import write_scene

    wp.config.log_level = logging.WARNING
    tmp = tempfile.TemporaryDirectory(prefix="swb-bench-edit-")
    path = args.scene or Path(tmp.name) / "station.usdc"
    if not path.exists():
        log(f"[1] generating and writing the station {size} -> {path}")
        t0 = time.perf_counter()
        write_scene(generate_station(**size, seed=args.seed), path)
        log(f"    {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    sim = swb.open(path, device=args.device)
    t_open = time.perf_counter() - t0
    n_cam, n_tgt = len(sim.scene.cameras), len(sim.scene.targets)
    n_tri = sum(len(p.triangles) for p in sim.scene.parts)
    log(f"[2] swb.open: {t_open:.2f} s ({n_tri:,} triangles, {n_cam} cameras, {n_tgt:,} labels)")
    t0 = time.perf_counter()
    kept = sim.evaluate().pairs
    log(f"    first evaluation (world build, kernels loaded): {time.perf_counter() - t0:.2f} s on {sim.world.device}; "
        f"kept per pair: {sim.world.pair_bytes()} B on the device, {kept.nbytes_per_pair():.0f} B on the host "
        f"({'every detail: SWB_DETAIL=1' if sim.detail else 'records, detail on request'})")
    del kept

    def full(_: int) -> None:
        sim.evaluate(full=True)
        wp.synchronize_device(sim.world.device)

    full(0)
    t_full, c_full = timed(full, max(3, reps // 3))
    sim.flush_results()
    t0 = time.perf_counter()
    sim.flush_results(rewrite=True)  # the whole layer laid out afresh: what every evaluation used to pay
    t_layout = time.perf_counter() - t0
    log(f"[3] full evaluation (baseline): {t_full * 1e3:.1f} ms, CPU {c_full * 1e3:.0f} ms ({n_cam * n_tgt:,} pairs); "
        "writing the whole "
        f"results layer once: {t_layout * 1e3:.0f} ms")

    from pxr import UsdGeom

    def local(path: str) -> np.ndarray:
        xf = UsdGeom.Xformable(sim.stage.GetPrimAtPath(path))
        return np.array(xf.GetLocalTransformation().ExtractTranslation())

    cam = sim.scene.cameras[0].path
    cam_at = local(cam)
    parcel = next(p.path for p in sim.scene.parts if "/Line" in p.path and "/Parcel" in p.path)
    parcel_at = local(parcel)
    label = sim.scene.targets[n_tgt // 2].path
    module = float(sim.stage.GetPrimAtPath(label).GetAttribute("swb:barcode:moduleSize").Get())
    labels_on_parcel = sum(t.path.startswith(parcel + "/") for t in sim.scene.targets)

    edits: dict[str, Callable[[int], None]] = {
        "camera move": lambda k: sim.set_translation(cam, cam_at + np.array([0.01 * (k % 2 + 1), 0.0, 0.0])),
        "camera setting": lambda k: sim.set_attribute(cam, "fStop", 4.0 + 2.0 * (k % 2)),
        "label edit": lambda k: sim.set_attribute(label, "swb:barcode:moduleSize", module * (1.1 + 0.1 * (k % 2))),
        "part move": lambda k: sim.set_translation(parcel, parcel_at + np.array([0.05 * (k % 2 + 1), 0.0, 0.0])),
    }
    rows = []
    for name, edit in edits.items():
        def once(k: int, edit=edit) -> None:
            edit(k)
            sim.evaluate()
            wp.synchronize_device(sim.world.device)

        def with_layer(k: int, edit=edit) -> None:
            once(k, edit)
            sim.flush_results()

        once(0)  # warm-up (first launch of a kind, allocations)
        sim.flush_results()
        t_edit, c_edit = timed(once, reps)
        up = sim.last_update
        t_flush, _ = timed(with_layer, max(3, reps // 3))
        exact = sim.results.pairs.equal(sim.evaluate(full=True).pairs)
        detail = f"{up.pairs:,} pairs"
        if name == "part move":
            detail += f", {labels_on_parcel} labels ride on it"
        rows.append((name, t_edit, c_edit, t_flush, exact, detail))
        log(f"[4] {name}: {t_edit * 1e3:.2f} ms median of {reps} (CPU {c_edit * 1e3:.1f} ms; {detail}); with the "
            f"results layer written: {t_flush * 1e3:.1f} ms; equal to a full evaluation: {exact}")
    sim.world.close()

    log(f"\nSummary ({sim.world.device}, {n_tri:,} triangles, {n_cam} cameras, {n_tgt:,} labels; baseline: a full "
        f"evaluation, {t_full * 1e3:.0f} ms)")
    log(f"  {'edit':16s} {'median':>10s} {'CPU':>9s} {'target':>8s} {'+ layer':>10s} {'full / edit':>12s}  exact")
    ok = True
    for name, t_edit, c_edit, t_flush, exact, _ in rows:
        bar = TARGETS_MS[name]
        ok &= exact
        log(f"  {name:16s} {t_edit * 1e3:8.2f}ms {c_edit * 1e3:7.1f}ms {bar:6.0f}ms {t_flush * 1e3:8.1f}ms "
            f"{t_full / t_edit:11.1f}x  {exact}")
    log(f"  swb.open {t_open:.2f} s; the whole results layer written afresh {t_layout:.2f} s (after an edit only "
        "the arrays and the changed summaries are rewritten: '+ layer')")
    tmp.cleanup()
    return 0 if ok else 1



if __name__ == "__main__":
    _code = main()
    report_peak()
    sys.exit(_code)
