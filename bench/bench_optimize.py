"""Optimiser benchmark: design vs an LHS sweep with the same evaluation budget, greedy vs the exact MILP, and time.

    python bench/bench_optimize.py [--device cuda] [--quick]

1. Bundled scan tunnel and a generated station (swb.engine.station_generator: one conveyor line, its gantry,
   racks): for K cameras, the optimiser (maxReadRate: candidates, lazy greedy, adaptive rounds, HiGHS MILP,
   CMA-ES) against the best of an LHS sweep of K-camera configurations drawn from the same design space (mount
   regions x aims x catalogue options x rolls) with as many camera evaluations as the optimiser spent in all
   (swb/optimize/baseline.py). Then minCameras: cameras the optimiser needs for a goal, and the fewest K for which
   the LHS sweep (same budget per K) reaches it.
2. Greedy vs MILP on instances small enough to solve exactly: random subsets of the tunnel's candidate matrix,
   K = 1..6: the greedy value, the proven optimum, the gap; and the greedy's own certified bound.
3. Time to answer on this device, by phase.
Every figure is measured in this run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from peak_memory import report_peak

import swb
from swb.engine.station_generator import generate_station
from swb.optimize import greedy as G
from swb.optimize.baseline import lhs_sweep
from swb.optimize.milp import solve_max
from swb.optimize.objective import BitMatrix
from swb.optimize.optimizer import Optimizer
from swb.optimize.spec import design_from_dict
from swb.sweep.api import stage_frame

HERE = Path(__file__).resolve().parent

CATALOGUE = {
    "sensor": [{"name": "s12MP", "resolution": [4096, 3000], "pixel_pitch_um": 3.45, "frame_rate": 30,
                "exposure_s": [0.0001], "profile": "industrial", "cost": 1.0},
               {"name": "s5MP", "resolution": [2448, 2048], "pixel_pitch_um": 3.45, "frame_rate": 60,
                "exposure_s": [0.0001], "profile": "industrial", "cost": 0.6}],
    "lens": [{"name": "f12", "focal_length_mm": 12, "f_stops": [8.0]},
             {"name": "f16", "focal_length_mm": 16, "f_stops": [8.0]},
             {"name": "f25", "focal_length_mm": 25, "f_stops": [8.0]}],
}


def tunnel_design(candidates: int) -> dict:
    return {"design": {"name": "tunnel", "candidates": candidates, "rounds": 2, "refine_generations": 12,
                       "milp_time_limit": 60, "orientation_mode": "flatRandomYaw", "orientations": 6,
                       "positions": 9, "travel": [-0.4, 0.4], "seed": 0, "goal": "maxReadRate", "cameras": 4},
            "mount": [{"name": "top", "box_min": [-1.0, -0.8, 1.8], "box_max": [1.0, 0.8, 2.4]},
                      {"name": "left", "box_min": [-1.0, 0.85, 0.9], "box_max": [1.0, 0.95, 1.7]},
                      {"name": "right", "box_min": [-1.0, -0.95, 0.9], "box_max": [1.0, -0.85, 1.7]},
                      {"name": "belt", "kind": "keepOut", "box_min": [-1.6, -0.45, 0.0],
                       "box_max": [1.6, 0.45, 1.45]}],
            **CATALOGUE}


def station_design(candidates: int) -> dict:
    return {"design": {"name": "station", "candidates": candidates, "rounds": 2, "refine_generations": 8,
                       "milp_time_limit": 60, "orientation_mode": "flatRandomYaw", "orientations": 4,
                       "positions": 17, "travel": [-2.0, 2.0], "seed": 0, "goal": "maxReadRate", "cameras": 4,
                       "labels": ["/World/Line0"]},
            "mount": [{"name": "top", "box_min": [1.5, -1.5, 2.0], "box_max": [4.0, 1.5, 3.3]},
                      {"name": "left", "box_min": [1.5, 1.2, 1.0], "box_max": [4.0, 1.6, 1.8]},
                      {"name": "right", "box_min": [1.5, -1.6, 1.0], "box_max": [4.0, -1.2, 1.8]}],
            **CATALOGUE}


def _budget(opt: Optimizer) -> int:
    """Camera evaluations the optimiser spent (candidates, rounds, refinement), in whole cameras."""
    return int(round(opt.evaluator.evaluations / max(1, opt.passes.samples.n)))


def compare(label: str, scene, frame, world, doc: dict, ks: list[int], goal: float, device: str) -> None:  # noqa: ANN001
    print(f"\n== {label}: optimiser vs LHS sweep, same camera-evaluation budget ({device}) ==")
    print(f"{'K':>3} {'optimiser':>10} {'LHS best':>9} {'budget (cameras)':>17} {'LHS configs':>12} "
          f"{'time s':>7} {'MILP':>12} {'gap %':>6}")
    budgets = {}
    for k in ks:
        doc["design"].update(goal="maxReadRate", cameras=k)
        spec = design_from_dict(doc, frame.meters_per_unit, source=label)
        t0 = time.perf_counter()
        opt = Optimizer(scene, spec, frame=frame, world=world)
        res = opt.run()
        seconds = time.perf_counter() - t0
        budget = _budget(opt)
        budgets[k] = budget
        lhs = lhs_sweep(opt.factory, opt.evaluator, k, budget, seed=1)
        m = res.milp
        gap = res.discrete.get("gap")
        print(f"{k:>3} {100 * res.read_rate:>9.2f}% {100 * lhs.best_rate:>8.2f}% {budget:>17,} "
              f"{lhs.configurations:>12,} {seconds:>7.1f} {m.status if m else '-':>12} "
              f"{'-' if gap is None else f'{100 * gap:.2f}':>6}")
        opt.close()
    doc["design"].update(goal="minCameras", read_rate=goal, cameras=0)
    spec = design_from_dict(doc, frame.meters_per_unit, source=label)
    t0 = time.perf_counter()
    opt = Optimizer(scene, spec, frame=frame, world=world)
    try:
        res = opt.run()
        seconds = time.perf_counter() - t0
        budget = _budget(opt)
        need_lhs = None
        cap = 2 * len(res.cameras)  # each K costs a whole budget of evaluations
        for k in range(1, cap + 1):
            if lhs_sweep(opt.factory, opt.evaluator, k, budget, seed=1).best_rate >= goal - 1e-12:
                need_lhs = k
                break
        d = res.discrete
        print(f"goal {100 * goal:.1f} %: optimiser {len(res.cameras)} cameras ({100 * res.read_rate:.2f} %, "
              f"{seconds:.1f} s; over the candidates greedy {res.greedy['cameras']}, {d['from']} optimum "
              f"{d['objective']:g} (MILP {res.milp.status if res.milp else '-'}, bound {d['bound']:g}), then "
              f"refined and pruned); LHS sweep with {budget:,} camera evaluations per K: "
              f"{need_lhs if need_lhs else f'not reached with up to {cap}'} cameras")
        print("phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in res.seconds.items()))
    except swb.SwbError as exc:
        print(f"goal {100 * goal:.1f} %: {exc}")
    opt.close()


def greedy_vs_milp(scene, frame, world, doc: dict, device: str, trials: int) -> None:  # noqa: ANN001
    print(f"\n== greedy vs exact MILP on subsets of the tunnel's candidate matrix ({device}) ==")
    doc["design"].update(goal="maxReadRate", cameras=4, candidates=1024, rounds=0)
    spec = design_from_dict(doc, frame.meters_per_unit, source="tunnel")
    opt = Optimizer(scene, spec, frame=frame, world=world)
    opt.add(opt.factory.random(spec.candidates, opt.rng), "candidates")
    full = opt.matrix
    rng = np.random.default_rng(5)
    print(f"{'K':>3} {'subsets':>8} {'mean gap %':>11} {'max gap %':>10} {'greedy = opt':>13} "
          f"{'greedy bound slack %':>21} {'MILP s (max)':>13}")
    for k in range(1, 7):
        gaps, slack, same, secs = [], [], 0, []
        for _ in range(trials):
            idx = np.sort(rng.choice(full.n, 150, replace=False))
            m = BitMatrix(full.weight, full.bools(idx))
            g = G.maximize(m, m.start(), k)
            r = solve_max(m, m.start(), np.ones(m.n), k=k, budget=None, incumbent=None, time_limit=60)
            assert r.status == "optimal"
            best = r.objective
            gaps.append((best - g.value) / best if best else 0.0)
            slack.append((g.upper_bound - best) / best if best else 0.0)
            same += int(abs(best - g.value) < 1e-9)
            secs.append(r.seconds)
        print(f"{k:>3} {trials:>8} {100 * np.mean(gaps):>11.2f} {100 * np.max(gaps):>10.2f} "
              f"{same:>7}/{trials:<5} {100 * np.mean(slack):>21.1f} {max(secs):>13.2f}")
    opt.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="fewer candidates and trials")
    args = ap.parse_args()
    n_cand = 1024 if args.quick else 4096
    trials = 5 if args.quick else 20

    sim = swb.open(swb.bundled_scene("scan_tunnel"), device=args.device)
    sim.evaluate()
    frame = stage_frame(sim.stage, sim.scene)
    compare("scan tunnel", sim.scene, frame, sim.world, tunnel_design(n_cand), [2, 4, 6], 0.80, args.device)
    greedy_vs_milp(sim.scene, frame, sim.world, tunnel_design(n_cand), args.device, trials)

    from swb.engine.world import World
    from swb.sweep.candidates import StageFrame

    t0 = time.perf_counter()
    station = generate_station(n_triangles=200_000 if args.quick else 1_000_000, n_cameras=4, n_targets=400, seed=0)
    world = World(station, device=args.device)
    print(f"\ngenerated station: {sum(len(p.triangles) for p in station.parts):,} triangles, "
          f"{len(station.targets)} labels ({time.perf_counter() - t0:.1f} s to build)")
    compare("generated station", station, StageFrame(), world, station_design(n_cand), [2, 4, 6], 0.50,
            args.device)
    return 0



if __name__ == "__main__":
    _code = main()
    report_peak()
    sys.exit(_code)
