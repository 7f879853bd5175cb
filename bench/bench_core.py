"""Core benchmark: SWB's world against an honest baseline on a generated 1 M-triangle station.

    python bench/bench_core.py [--device cpu|cuda] [--small] [--threads N] [--repeats N] [--embree auto|on|off]
                               [--cameras C] [--targets T] [--triangles N]

The baseline is the vectorised numpy model (swb/engine/reference.py, one Python thread) whose occlusion rays go
through Embree's any-hit query (rtcOccluded1) on every core (a thread pool; embreex releases the GIL), i.e. the
same rays SWB casts, through the fastest CPU ray engine at hand. SWB's world on the CPU casts its occlusion
rays through Embree as well where embreex is installed (``--embree``, swb/engine/embree_masks.py); the bench also
times the same world on Warp's BVH alone and reports the ratio.

A pair rate is pairs over the wall time of one full evaluation. A ray rate is rays over ray time: for Embree
(SWB's host path and the baseline) the wall time of its any-hit calls; for Warp's fused kernel, which casts its
rays inside the per-pair model, the full evaluation minus the same evaluation of a mesh-less copy of the world
(where that difference is under 5 % of the evaluation, as on a GPU, rays over the whole evaluation: a lower bound).

Prints progress lines, then a summary table of ratios with their bars:
  SWB / baseline pairs per second    >= 1x on the CPU
  full evaluation / one-camera move  >= 20x
  full evaluation / one-part move    (reported)
  agreement (decodable and limiting) >= 99.5 %
Kernel compilation is excluded (a warm-up world is built and evaluated first); times are medians of a few
repeats with time.perf_counter.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from peak_memory import report_peak

from swb.engine.embree_occlusion import EmbreeOcclusion
from swb.engine.embree_occlusion import available as embree_available
from swb.engine.pair_results import PairResults
from swb.engine.profiles import FACTORS
from swb.engine.reference import ReferenceOcclusion, evaluate_reference
from swb.engine.station_generator import generate_station

FULL = {"n_triangles": 1_000_000, "n_cameras": 64, "n_targets": 10_000}
SMALL = {"n_triangles": 50_000, "n_cameras": 8, "n_targets": 500}
REFERENCE_BUDGET_S = 90.0  # above this projected time the reference runs on a subset of cameras
AGREEMENT_BAR = 0.995


def log(msg: str) -> None:
    print(msg, flush=True)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_view_rays(res: PairResults) -> int:
    """Occlusion rays the model casts for these results: 9 per pair in view and front-facing."""
    fov = res.margins[..., FACTORS.index("fov")] > 0
    front = res.margins[..., FACTORS.index("backfacing")] > 0
    return int((fov & front).sum()) * 9


def agreement(a: PairResults, b: PairResults) -> tuple[float, int, float, np.ndarray]:
    """(share of pairs with equal decodable and limiting, mismatch count, max rel. ppm diff, mismatch idx)."""
    same = (a.decodable == b.decodable) & (a.limiting == b.limiting)
    both = a.decodable & b.decodable
    rel = 0.0
    if both.any():
        for name in ("ppm_u", "ppm_w"):
            x = getattr(a, name)[both].astype(np.float64)
            y = getattr(b, name)[both].astype(np.float64)
            rel = max(rel, float((np.abs(x - y) / np.maximum(np.abs(y), 1e-12)).max()))
    return float(same.mean()), int((~same).sum()), rel, np.argwhere(~same)


def subset(res: PairResults, rows: np.ndarray) -> PairResults:
    return PairResults(**{f.name: getattr(res, f.name)[rows] for f in dataclasses.fields(res)})


def pick_parcel(scene, cam_pos: np.ndarray) -> int:
    """The belt parcel nearest the first camera: moving it changes some occlusion rays."""
    best, best_d = 0, np.inf
    for i, part in enumerate(scene.parts):
        if "/Line" in part.path and "/Parcel" in part.path:
            d = float(np.linalg.norm(np.asarray(part.to_world)[:3, 3] - cam_pos))
            if d < best_d:
                best, best_d = i, d
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="Warp device (cpu, cuda); default: Warp's preferred")
    ap.add_argument("--small", action="store_true", help="reduced scene for a quick smoke check")
    ap.add_argument("--threads", type=int, default=None, help="CPU worker threads for the Warp world")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats (median) of cheap steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cameras", type=int, help="cameras (overrides the size; e.g. 64 with --targets 100000 on a GPU)")
    ap.add_argument("--targets", type=int, help="labels (overrides the size)")
    ap.add_argument("--triangles", type=int, help="triangles (overrides the size)")
    ap.add_argument("--embree", choices=("auto", "on", "off"), default="auto",
                    help="SWB's CPU occlusion rays through Embree (auto: the engine's default)")
    args = ap.parse_args(argv)
    embree_opt = {"auto": None, "on": True, "off": False}[args.embree]
    cores = args.threads or os.cpu_count() or 1
    size = dict(SMALL if args.small else FULL)
    for key, value in (("n_cameras", args.cameras), ("n_targets", args.targets), ("n_triangles", args.triangles)):
        if value:
            size[key] = value
    reps = max(1, args.repeats)

    log(f"[1] generating station {size} seed={args.seed}")
    t0 = time.perf_counter()
    scene = generate_station(**size, seed=args.seed)
    n_cam, n_tgt = len(scene.cameras), len(scene.targets)
    n_tri = sum(len(p.triangles) for p in scene.parts)
    n_pairs = n_cam * n_tgt
    log(f"    {n_tri:,} triangles in {len(scene.parts)} parts, {n_cam} cameras, {n_tgt:,} targets, "
        f"{n_pairs:,} pairs ({time.perf_counter() - t0:.2f} s)")

    # ---------------------------------------------------------------- Warp
    world = None
    try:
        import warp as wp

        wp.config.log_level = logging.WARNING
        from swb.engine.world import World
    except Exception as exc:  # the bench still runs the reference without a world
        log(f"[2] Warp world unavailable ({type(exc).__name__}: {exc}); reference only")
        World = None  # noqa: N806

    warp_full = warp_res = None
    ray_time = bvh_full = None
    if World is not None:
        log("[2] warm-up: compiling/loading kernels on a tiny station (excluded from timings)")
        warm = World(generate_station(n_triangles=2_000, n_cameras=4, n_targets=20, seed=1),
                     device=args.device, threads=args.threads)
        warm.evaluate()
        warm.close()
        t0 = time.perf_counter()
        world = World(scene, device=args.device, threads=args.threads, embree=embree_opt)
        wp.synchronize_device(world.device)
        log(f"    Warp world build: {time.perf_counter() - t0:.3f} s on {world.device} "
            f"(threads={world.threads})")

        def timed_full(w: World) -> tuple[float, int, float]:
            """(median full evaluation s, rays per evaluation, Embree ray seconds per evaluation or -1)."""

            def full_eval() -> None:
                w.evaluate()
                wp.synchronize_device(w.device)

            full_eval()  # warm-up (and, on the Embree path, its BVH build)
            before = w.host_rays()
            t = median_time(full_eval, reps)
            after = w.host_rays()
            host_s = (after[1] - before[1]) / reps if after[0] > before[0] else -1.0
            return t, w.stats["rays"], host_s

        warp_full, rays, host_s = timed_full(world)
        warp_res = world.results()
        bare = World(dataclasses.replace(scene, parts=[]), device=args.device, threads=args.threads)
        model_only = timed_full(bare)[0]  # the same pairs without occlusion rays
        bare.close()
        if host_s >= 0:
            how, ray_time = f"Embree any-hit on {world.threads} threads", host_s
            ray_note = "ray time = Embree calls"
        elif warp_full - model_only > 0.05 * warp_full:
            how, ray_time = "Warp BVH in the fused kernel", warp_full - model_only
            ray_note = "ray time = full - mesh-less evaluation"
        else:  # the rays hide in the launch's fixed costs: only a lower bound is honest
            how, ray_time = "Warp BVH in the fused kernel", warp_full
            ray_note = "rays not separable from the evaluation: rays over the whole evaluation, a lower bound"
        log(f"[3] SWB full evaluation (occlusion: {how}): {warp_full * 1e3:.1f} ms  {n_pairs / warp_full:,.0f} "
            f"pairs/s  {rays:,} occlusion rays in {ray_time * 1e3:.1f} ms  {rays / ray_time:,.0f} rays/s "
            f"({ray_note}; median of {reps}); mesh-less evaluation {model_only * 1e3:.1f} ms")
        # culled pairs (issue 17 item 1): every camera moved 100 m down, nothing in view, one CPU thread
        away = [dataclasses.replace(c, position=np.asarray(c.position) + np.array([0.0, 0.0, -100.0]))
                for c in scene.cameras]
        for keep in (True, False):
            culled = World(dataclasses.replace(scene, cameras=away), device=args.device, threads=1, detail=keep)
            t_culled = timed_full(culled)[0]
            log(f"    culled pairs (no camera sees anything), 1 thread{' on the CPU' if culled.device.is_cpu else ''}"
                f": {n_pairs / t_culled:,.0f} pairs/s, {culled.pair_bytes()} B kept per pair "
                f"({'record + detail' if keep else 'record only'})")
            culled.close()
        if host_s >= 0:
            bvh = World(scene, device=args.device, threads=args.threads, embree=False)
            bvh_full = timed_full(bvh)[0]
            same = bvh.results().equal(warp_res)
            bvh.close()
            bvh_ray = max(bvh_full - model_only, 0.05 * bvh_full)
            log(f"    same world on Warp's BVH only: {bvh_full * 1e3:.1f} ms  {n_pairs / bvh_full:,.0f} pairs/s  "
                f"{rays / bvh_ray:,.0f} rays/s (full - mesh-less); Embree path / Warp BVH: "
                f"{bvh_full / warp_full:.2f}x pairs/s, {bvh_ray / ray_time:.2f}x rays/s; identical results: {same}")

    # ---------------------------------------------------------------- reference
    t0 = time.perf_counter()
    occ = ReferenceOcclusion.from_parts(scene.parts)
    if embree_available() and occ.mesh is not None:
        occ = EmbreeOcclusion(occ.mesh.vertices, occ.mesh.faces, threads=cores)
        baseline = f"numpy model (1 thread) + Embree any-hit on {cores} threads"
    else:
        baseline = "numpy model (1 thread) + trimesh closest-hit (embreex missing)"
    log(f"[4] baseline: {baseline}")
    occ.blocked(np.zeros((1, 3)), np.ones((1, 3)))  # builds the Embree BVH now, not inside the timing
    log(f"    baseline mesh + BVH build: {time.perf_counter() - t0:.2f} s")
    probe = np.unique(np.linspace(0, n_cam - 1, min(n_cam, 4)).astype(int))
    t0 = time.perf_counter()
    evaluate_reference(scene, cameras=probe, occlusion=occ)
    projected = (time.perf_counter() - t0) * n_cam / len(probe)
    if projected <= REFERENCE_BUDGET_S:
        ref_cams = np.arange(n_cam)
        note = "all cameras"
    else:
        k = max(1, int(n_cam * REFERENCE_BUDGET_S / projected))
        ref_cams = np.unique(np.linspace(0, n_cam - 1, k).astype(int))
        note = f"SUBSET of {len(ref_cams)}/{n_cam} cameras (evenly spaced; full run projected {projected:.0f} s)"
    ref_pairs = len(ref_cams) * n_tgt
    ref_reps = 3 if projected < 10 else 1
    ref_res: PairResults | None = None

    def ref_eval() -> None:
        nonlocal ref_res
        ref_res = evaluate_reference(scene, cameras=ref_cams, occlusion=occ)

    counted = hasattr(occ, "seconds")
    ray0 = (occ.rays, occ.seconds) if counted else (0, 0.0)
    ref_time = median_time(ref_eval, ref_reps)
    assert ref_res is not None
    ref_rays = in_view_rays(ref_res)
    if counted:
        ref_ray_time = (occ.seconds - ray0[1]) / ref_reps
        ref_ray_note = "ray time = Embree calls"
    else:
        ref_ray_time = ref_time
        ref_ray_note = "ray time = whole evaluation"
    log(f"    baseline on {note}: {ref_time:.2f} s  {ref_pairs / ref_time:,.0f} pairs/s  "
        f"{ref_rays:,} occlusion rays in {ref_ray_time * 1e3:.1f} ms  {ref_rays / ref_ray_time:,.0f} rays/s  "
        f"({ref_ray_note}; median of {ref_reps})")
    in_view = ref_rays / 9 / ref_pairs
    log(f"    pairs in view and front-facing: {100 * in_view:.2f} %, decodable: "
        f"{100 * ref_res.decodable.mean():.3f} %")

    if world is None or warp_res is None or warp_full is None:
        log("\nWarp world unavailable: only the reference ran.")
        return 1

    # ---------------------------------------------------------------- agreement
    share, n_bad, ppm_rel, bad_idx = agreement(subset(warp_res, ref_cams), ref_res)
    log(f"[5] agreement on {ref_pairs:,} pairs: {100 * share:.4f} % same decodable+limiting, "
        f"{n_bad} mismatches, max rel. ppm diff (decodable in both) {ppm_rel:.2e}")
    for r, t in bad_idx[:5]:
        c = int(ref_cams[r])
        log(f"    mismatch cam {c} tgt {t}: warp dec={warp_res.decodable[c, t]} lim={warp_res.limiting[c, t]} "
            f"vis={warp_res.visible_fraction[c, t]:.3f} | ref dec={ref_res.decodable[r, t]} "
            f"lim={ref_res.limiting[r, t]} vis={ref_res.visible_fraction[r, t]:.3f}")
    speed = (n_pairs / warp_full) / (ref_pairs / ref_time)
    ray_speed = (rays / ray_time) / (ref_rays / ref_ray_time)
    log(f"    SWB / baseline: {speed:.1f}x pairs per second, {ray_speed:.2f}x rays per second")

    # ---------------------------------------------------------------- one camera moves
    cam_i = 0
    cam0 = scene.cameras[cam_i]
    moved = [dataclasses.replace(cam0, position=np.asarray(cam0.position) + np.array([dx, 0.0, 0.0]))
             for dx in (0.05, 0.0)]
    state = {"k": 0}

    def move_camera() -> None:
        world.update_camera(cam_i, moved[state["k"] % 2])
        state["k"] += 1
        world.evaluate(cameras=[cam_i])
        wp.synchronize_device(world.device)

    move_camera()
    cam_time = median_time(move_camera, reps * 2 + 1)  # odd count: ends on the moved pose
    world.update_camera(cam_i, moved[0])
    world.evaluate(cameras=[cam_i])
    row_ref = evaluate_reference(dataclasses.replace(scene, cameras=[moved[0]]), occlusion=occ)
    row_share, row_bad, _, _ = agreement(subset(world.results(), np.array([cam_i])), row_ref)
    log(f"[6] one camera moved: update_camera + evaluate(cameras=[{cam_i}]) {cam_time * 1e3:.2f} ms "
        f"({n_tgt:,} pairs); full / one-camera = {warp_full / cam_time:.1f}x; "
        f"row vs reference: {row_bad} mismatches")
    world.update_camera(cam_i, cam0)
    world.evaluate(cameras=[cam_i])

    # ---------------------------------------------------------------- one part moves
    part_i = pick_parcel(scene, np.asarray(cam0.position))
    part0 = scene.parts[part_i]
    shifted = []
    for dx in (0.3, 0.0):
        m = np.array(part0.to_world, dtype=np.float64)
        m[0, 3] += dx
        shifted.append(dataclasses.replace(part0, to_world=m))
    state["k"] = 0
    affected = {"n": 0}

    def move_part() -> None:
        c, _ = world.move_part(part_i, shifted[state["k"] % 2])
        state["k"] += 1
        affected["n"] = len(c)
        wp.synchronize_device(world.device)

    move_part()
    part_time = median_time(move_part, reps * 2 + 1)  # ends on the shifted pose
    incremental = world.results()
    world.evaluate()
    fresh = world.results()
    same_as_full = incremental.equal(fresh)
    log(f"[7] one part moved ({part0.path}, {len(part0.triangles):,} triangles, +0.3 m): update_part + "
        f"{affected['n']:,} affected pairs {part_time * 1e3:.2f} ms; full / one-part = "
        f"{warp_full / part_time:.1f}x; incremental == full re-evaluation: {same_as_full}")
    world.close()

    # ---------------------------------------------------------------- summary
    on_cpu = world.device.is_cpu
    summary = [
        ("SWB / baseline pairs per second", f"{speed:.1f}x", ">= 1x (CPU)" if on_cpu else "(GPU)",
         ("PASS" if speed >= 1.0 else "FAIL") if on_cpu else "-"),
        ("SWB / baseline rays per second", f"{ray_speed:.2f}x", "-", "-"),
        ("full eval / one-camera update", f"{warp_full / cam_time:.1f}x",
         ">= 20x" if n_cam >= 64 else f"(<= {n_cam}x)",
         ("PASS" if warp_full / cam_time >= 20 else "FAIL") if n_cam >= 64 else "-"),
        ("full eval / one-part update", f"{warp_full / part_time:.1f}x", "-", "-"),
        ("agreement decodable+limiting", f"{100 * share:.3f} %", ">= 99.5 %",
         "PASS" if share >= AGREEMENT_BAR else "FAIL"),
        ("max rel. ppm diff (decodable)", f"{ppm_rel:.1e}", "<= 1e-3", "PASS" if ppm_rel <= 1e-3 else "FAIL"),
        ("incremental part move == full", str(same_as_full), "True", "PASS" if same_as_full else "FAIL"),
    ]
    log(f"\nSummary ({world.device}, {n_tri:,} triangles, {n_cam} cameras, {n_tgt:,} targets; SWB occlusion: {how}; "
        f"baseline: {baseline}, {note})")
    log(f"  {'ratio':34s} {'value':>12s} {'bar':>14s}  result")
    for name, value, bar, result in summary:
        log(f"  {name:34s} {value:>12s} {bar:>14s}  {result}")
    log(f"  SWB: {n_pairs / warp_full:,.0f} pairs/s, {rays / ray_time:,.0f} rays/s | baseline: "
        f"{ref_pairs / ref_time:,.0f} pairs/s, {ref_rays / ref_ray_time:,.0f} rays/s")
    if bvh_full is not None:
        log(f"  SWB on Warp's BVH only: {n_pairs / bvh_full:,.0f} pairs/s; Embree path / Warp BVH "
            f"{bvh_full / warp_full:.2f}x")
    return 0 if all(r[3] in ("PASS", "-") for r in summary) else 1



if __name__ == "__main__":
    _code = main()
    report_peak()
    sys.exit(_code)
