"""Transit read rate benchmark: every frame of every camera along each moving label's path, on a generated station.

    python bench/bench_transit.py [--device cpu|cuda] [--small] [--phases N]

SWB's transit kernel (kernels/transit.py: one thread per camera x label looping over its frames, occlusion in the
static and the moving frame) against the baseline a user would write with SWB's own incremental API: per frame
time, move every moving label (``World.update_targets``) and re-evaluate all pairs (``World.evaluate``, the fused
pair kernel on every core), then combine the frames in numpy. The baseline runs a slice of the frames and is
projected to all of them (it costs the same per frame). Prints pairs x frames per second for both and their
ratio, measured in this run; kernel compilation is excluded (a warm-up first).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np
from peak_memory import report_peak

from swb.engine.station_generator import generate_station
from swb.engine.transit import default_reach, evaluate_transits
from swb.engine.world import World

FULL = {"n_triangles": 1_000_000, "n_cameras": 64, "n_targets": 10_000}
SMALL = {"n_triangles": 50_000, "n_cameras": 8, "n_targets": 500}
BASELINE_FRAMES = 6  # frame times the baseline runs (per phase), projected to the rest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--small", action="store_true", help=f"a small station {SMALL}")
    ap.add_argument("--phases", type=int, default=1, help="frame phases averaged (swb eval uses 4)")
    args = ap.parse_args()
    size = SMALL if args.small else FULL
    print(f"generating a station {size}", flush=True)
    scene = generate_station(**size, seed=0)
    speeds = np.array([np.linalg.norm(t.velocity) for t in scene.targets])
    if not (speeds > 0).any():  # the generator's labels sit still: put the parcels on a 2 m/s belt
        scene.targets = [dataclasses.replace(t, velocity=np.array([2.0, 0.0, 0.0])) for t in scene.targets]
        speeds = np.full(len(scene.targets), 2.0)
    world = World(scene, device=args.device)
    reach = default_reach(scene.cameras, scene.targets)
    rates = np.array([c.frame_rate for c in scene.cameras])
    with np.errstate(divide="ignore"):
        half = np.where(speeds[None, :] > 0, np.ceil(reach[None, :] * rates[:, None] / speeds[None, :]), 0.0)
    frames = float(((2 * half + 1) * args.phases).sum())  # pair x frame evaluations
    pairs = len(scene.cameras) * len(scene.targets)
    print(f"{len(scene.cameras)} cameras x {len(scene.targets)} labels ({int((speeds > 0).sum())} moving) = "
          f"{pairs:,} pairs, {frames:,.0f} pair-frames ({frames / pairs:.0f} per pair)", flush=True)

    evaluate_transits(world, phases=1, reach=0.01)  # compile and warm up
    t0 = time.perf_counter()
    tr = evaluate_transits(world, phases=args.phases)
    t_swb = time.perf_counter() - t0
    print(f"SWB transit kernel: {t_swb:.2f} s, {frames / t_swb:,.0f} pair-frames/s; station read rate "
          f"{100 * tr.station_read_rate():.2f} % (independent looks {100 * tr.station_read_rate(True):.2f} %)",
          flush=True)

    # Baseline: per frame time, move the labels and re-evaluate every pair (one frame rate: the first camera's).
    world.evaluate()
    step = 1.0 / float(rates[0])
    best = np.zeros((len(scene.cameras), len(scene.targets)))
    t0 = time.perf_counter()
    for k in range(BASELINE_FRAMES):
        offset = (k - BASELINE_FRAMES // 2 + 0.5) * step
        world.update_targets({i: dataclasses.replace(t, position=np.asarray(t.position) + offset * t.velocity)
                              for i, t in enumerate(scene.targets)})
        world.evaluate()
        best = np.maximum(best, world.results().p_read)
    t_base = (time.perf_counter() - t0) / BASELINE_FRAMES
    base_rate = pairs / t_base
    total_frames = frames / pairs
    print(f"baseline (move labels + World.evaluate per frame): {t_base:.3f} s per frame time, {base_rate:,.0f} "
          f"pair-frames/s; projected {t_base * total_frames:.1f} s for the {math.ceil(total_frames)} frame times",
          flush=True)
    print(f"\nratio SWB / baseline (pair-frames per second, same run, device {world.device}): "
          f"{frames / t_swb / base_rate:.1f}x")
    world.close()
    report_peak()


if __name__ == "__main__":
    main()
