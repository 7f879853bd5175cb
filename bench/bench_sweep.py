"""Sweep benchmark: configurations per second and camera x target x orientation evaluations per second, against
a lean loop over the single evaluation (World.evaluate of the varied cameras only, once per configuration).

    python bench/bench_sweep.py [--device cpu|cuda] [--small] [--threads N] [--configs N] [--orientations K]
    python bench/bench_sweep.py --goal --device cuda [--configs N]

Two stations: the bundled scan tunnel (its sweep spec, scenes/scan_tunnel_sweep.toml) and a generated sorting
station (swb.engine.station_generator.generate_station; 1 M triangles, 64 cameras, 10 000 labels, or --small).

The baseline is the leanest loop the single evaluation allows: the fixed cameras are evaluated once up front and
their covered samples kept; per configuration only the varied cameras' rows are uploaded (one batched
update_cameras), only those rows are evaluated (World.evaluate(cameras=varied)), and only their decodable bits are
read back (World.decodable_rows), OR-ed with the fixed cover and summed by weight: exactly what ranking needs. It
runs the same candidate cameras and the same target samples as the sweep; its time per configuration is the median
over a few configurations. Kernel compilation is excluded (everything runs once before timing). A separate
as-authored run checks that the loop and the sweep find exactly the same coverage.

Prints progress lines, then a summary of rates and ratios with the bar (batched sweep >= 20x the lean loop on the
CPU), with the device and sizes.

``--goal`` times the GPU goal end to end instead: the bundled tunnel with all 8 cameras varied (height, pitch, yaw,
lens), 100 000 configurations (or --configs) and at least 1 000 label orientations, from opening the stage
(geometry uploaded once) to the ranked result. The goal is under 2 s on a GPU; it runs anywhere (smaller --configs
on a CPU) and prints its rates.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
from peak_memory import report_peak

SPEEDUP_BAR = 20.0
GOAL_SECONDS = 2.0
GOAL_SAMPLES = 1000
FULL = {"n_triangles": 1_000_000, "n_cameras": 64, "n_targets": 10_000}
SMALL = {"n_triangles": 50_000, "n_cameras": 16, "n_targets": 1_000}
LOOP_BUDGET_S = 30.0


def log(msg: str) -> None:
    print(msg, flush=True)


def loop_world(scene, samples, device, threads):  # noqa: ANN001, ANN201
    """A World whose targets are the sweep's target samples (same records the sweep kernels read)."""
    from swb.engine.model import Scene
    from swb.engine.world import World

    targets = [replace(scene.targets[int(t)], path=f"{scene.targets[int(t)].path}#{k}",
                       rotation=rec["rot"].astype(np.float64), position=rec["pos"].astype(np.float64))
               for k, (t, rec) in enumerate(zip(samples.target, samples.records, strict=True))]
    return World(Scene(scene.source, list(scene.cameras), targets, scene.parts), device=device, threads=threads)


def camera_model(cam, attrs: dict, rotation: np.ndarray, position: np.ndarray, mpu: float):  # noqa: ANN001, ANN201
    """The CameraModel a stage with these authored values loads to (the loader's unit conversions)."""
    tenth = mpu / 10.0
    kw = {"rotation": rotation, "position": position}
    for name, values in attrs.items():
        v = values[0]
        if name == "focalLength":
            kw["focal_length"] = float(v) * tenth
        elif name == "fStop":
            kw["f_number"] = float(v)
        elif name == "focusDistance":
            kw["focus_distance"] = float(v) * mpu
        elif name == "exposure:time":
            kw["exposure"] = float(v)
        elif name == "swb:sensor:resolution":
            kw["width"], kw["height"] = int(v[0]), int(v[1])
        elif name == "swb:sensor:decoderProfile":
            kw["decoder_profile"] = str(v)
    if "horizontalAperture" in attrs:
        kw["aperture"] = (float(attrs["horizontalAperture"][0]) * tenth, float(attrs["verticalAperture"][0]) * tenth)
    return replace(cam, **kw)


class LeanLoop:
    """The baseline: the single evaluation once per configuration, recomputing and reading only what changes."""

    def __init__(self, runner, world) -> None:  # noqa: ANN001
        self.runner, self.world = runner, world
        self.varied = [int(c) for c in runner.builder.varied]
        fixed = [c for c in range(len(world.cameras)) if c not in set(self.varied)]
        self.fixed_read = np.zeros(len(world.targets), dtype=bool)
        if fixed:
            world.evaluate(cameras=fixed)
            self.fixed_read = world.decodable_rows(fixed).any(axis=0)

    def coverage(self, index: int) -> int:
        """Covered weight of configuration ``index``: upload, evaluate and read back the varied rows only."""
        r = self.runner
        cand = r.builder.build(r.design.values[index:index + 1])
        cams = {}
        for j, ci in enumerate(self.varied):
            cam = r.scene.cameras[ci]
            cams[ci] = camera_model(cam, cand.attributes[j], cand.rotation[0, j], cand.position[0, j],
                                    r.frame.camera_mpu(cam.path))
        self.world.update_cameras(cams)
        self.world.evaluate(cameras=self.varied)
        read = self.fixed_read | self.world.decodable_rows(self.varied).any(axis=0)
        return int(r.samples.weight_int[read].sum())


def time_loop(runner, world, n: int) -> tuple[float, list[int]]:  # noqa: ANN001
    times, sums = [], []
    loop = LeanLoop(runner, world)
    loop.coverage(0)  # warm
    t_start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        sums.append(loop.coverage(i))
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > LOOP_BUDGET_S and len(times) >= 3:
            break
    return statistics.median(times), sums


def bench_station(label: str, scene, spec, frame, world, device, threads) -> dict:  # noqa: ANN001
    from swb.sweep.run import SweepRunner

    log(f"[{label}] {len(scene.cameras)} cameras ({len(spec.cameras)} varied), {len(scene.targets)} targets, "
        f"{sum(len(p.triangles) for p in scene.parts):,} triangles")
    warm = SweepRunner(scene, replace(spec, samples=2), frame=frame, world=world, threads=threads)
    warm.run()
    warm.close()
    t0 = time.perf_counter()
    runner = SweepRunner(scene, spec, frame=frame, world=world, threads=threads)
    setup = time.perf_counter() - t0
    res = runner.run()
    log(f"[{label}] {res.samples_text}; setup {setup:.2f} s (samples, fixed cameras), sweep {res.seconds:.2f} s, "
        f"chunk {res.chunk}")
    lw = loop_world(scene, runner.samples, device, threads)
    per_config, _ = time_loop(runner, lw, min(res.n_done, 20))
    sweep_per_config = (res.seconds + setup) / res.n_done
    log(f"[{label}] lean loop ({len(runner.builder.varied)} varied cameras x {runner.samples.n:,} samples "
        f"evaluated and read per configuration): {per_config * 1e3:.2f} ms per configuration; sweep: "
        f"{sweep_per_config * 1e3:.3f} ms (setup included); sweep / lean loop {per_config / sweep_per_config:.1f}x")
    lw.close()
    runner.close()

    # exactness: as authored, the loop and the sweep must find the same coverage for every configuration
    exact = replace(spec, orientation_mode="asAuthored", positions=1, samples=min(spec.samples, 6))
    check = SweepRunner(scene, exact, frame=frame, world=world, threads=threads)
    got = check.run()
    cw = loop_world(scene, check.samples, device, threads)
    _, sums = time_loop(check, cw, got.n_done)
    agree = sums == got.sums.covered[:len(sums)].tolist()
    log(f"[{label}] as authored, {len(sums)} configurations: loop and sweep coverage "
        f"{'identical' if agree else 'DIFFER'}")
    cw.close()
    check.close()
    return {
        "label": label,
        "sizes": (f"{sum(len(p.triangles) for p in scene.parts):,} triangles, {len(scene.cameras)} cameras "
                  f"({len(runner.builder.varied)} varied), {runner.samples.n:,} samples, "
                  f"{res.n_done:,} configurations"),
        "loop_ms": per_config * 1e3,
        "configs_per_s": res.n_done / res.seconds,
        "evals_per_s": res.evaluations / res.seconds,
        "speedup": per_config / sweep_per_config,
        "agree": agree,
        "best": res.coverage[res.best] if res.best is not None else float("nan"),
        "baseline": float(res.share(res.baseline.covered)[0]),
    }


def tunnel_case(args) -> tuple:  # noqa: ANN001
    import swb
    from swb.cli.sweep import demo_spec_path
    from swb.sweep.api import stage_frame
    from swb.sweep.spec import load_toml_spec

    sim = swb.open(swb.bundled_scene("scan_tunnel"), device=args.device, threads=args.threads)
    sim.evaluate()
    frame = stage_frame(sim.stage, sim.scene)
    spec = load_toml_spec(demo_spec_path(), frame.meters_per_unit)
    spec = replace(spec, samples=args.configs, orientations=args.orientations)
    return sim.scene, spec, frame, sim.world


def generated_case(args) -> tuple:  # noqa: ANN001
    from swb.engine.station_generator import generate_station
    from swb.engine.world import World
    from swb.sweep.candidates import StageFrame
    from swb.sweep.spec import spec_from_dict

    t0 = time.perf_counter()
    scene = generate_station(**(SMALL if args.small else FULL))
    log(f"[generated] built in {time.perf_counter() - t0:.1f} s")
    gantry = [c.path for c in scene.cameras[:4]]  # top, two sides, oblique of the first gantry
    doc = {
        "sweep": {"name": "gantry", "cameras": gantry, "sampler": "lhs", "samples": args.configs, "seed": 1,
                  "orientation_mode": "flatRandomYaw", "orientations": args.orientations},
        "parameter": [
            {"name": "height", "kind": "translateZ", "cameras": gantry[:1], "range": [-0.8, 0.4]},
            {"name": "lens", "kind": "focalLength", "cameras": gantry[:1], "values": [12.0, 16.0, 25.0, 35.0]},
            {"name": "sideTilt", "kind": "pitch", "space": "camera", "rig": "mirror", "cameras": gantry[1:3],
             "range": [-15.0, 15.0]},
            {"name": "sideShift", "kind": "translateX", "cameras": gantry[1:3], "range": [-0.5, 0.5]},
            {"name": "obliqueYaw", "kind": "yaw", "cameras": gantry[3:4], "range": [-20.0, 20.0]},
        ],
    }
    t0 = time.perf_counter()
    world = World(scene, device=args.device, threads=args.threads)
    log(f"[generated] world built in {time.perf_counter() - t0:.1f} s")
    return scene, spec_from_dict(doc, 1.0), StageFrame(), world


def goal(args) -> int:  # noqa: ANN001
    """The GPU goal: >= 1e5 configurations x 8 cameras x >= 1000 label orientations in under 2 s, end to end
    (kernels compiled by a small run first, as in the other benchmarks)."""
    goal_run(argparse.Namespace(**{**vars(args), "configs": 64}), report=False)
    goal_run(args, report=True)
    return 0


def goal_run(args, report: bool) -> None:  # noqa: ANN001
    import swb
    from swb.sweep.api import stage_frame
    from swb.sweep.run import SweepRunner
    from swb.sweep.spec import spec_from_dict

    t0 = time.perf_counter()
    sim = swb.open(swb.bundled_scene("scan_tunnel"), device=args.device, threads=args.threads)
    frame = stage_frame(sim.stage, sim.scene)
    t_open = time.perf_counter() - t0
    cams = [c.path for c in sim.scene.cameras]
    per_label = -(-GOAL_SAMPLES // max(1, len(sim.scene.targets)))
    doc = {
        "sweep": {"name": "goal", "cameras": cams, "sampler": "lhs", "samples": args.configs, "seed": 3,
                  "orientation_mode": "flatRandomYaw", "orientations": per_label},
        "parameter": [
            {"name": "height", "kind": "translateZ", "cameras": cams, "range": [-0.15, 0.15]},
            {"name": "pitch", "kind": "pitch", "space": "camera", "cameras": cams, "range": [-10.0, 10.0]},
            {"name": "yaw", "kind": "yaw", "space": "camera", "cameras": cams, "range": [-10.0, 10.0]},
            {"name": "lens", "kind": "focalLength", "cameras": cams, "values": [12.0, 16.0, 20.0, 25.0]},
        ],
    }
    spec = spec_from_dict(doc, frame.meters_per_unit)
    t1 = time.perf_counter()
    runner = SweepRunner(sim.scene, spec, frame=frame, world=sim.world, threads=args.threads)
    t_setup = time.perf_counter() - t1
    res = runner.run()
    total = time.perf_counter() - t0
    runner.close()
    sim.world.close()
    if not report:
        return
    n_var = len(runner.builder.varied)
    log(f"[goal] device {sim.world.device}: {res.n_done:,} configurations x {n_var} cameras x "
        f"{runner.samples.n:,} label orientations = {res.evaluations:.3g} evaluations")
    log(f"[goal] open stage + world {t_open:.2f} s, samples + upload {t_setup:.2f} s, sweep {res.seconds:.2f} s "
        f"({res.n_done / res.seconds:,.0f} configurations/s, {res.evaluations / res.seconds:.3g} evaluations/s)")
    log(f"[goal] best coverage {100 * res.coverage[res.best]:.1f} % (as authored "
        f"{100 * float(res.share(res.baseline.covered)[0]):.1f} %)")
    met = total < GOAL_SECONDS and res.n_done >= 100_000 and n_var >= 8 and runner.samples.n >= GOAL_SAMPLES
    log(f"[goal] end to end {total:.2f} s: goal (>= 100 000 x 8 x >= {GOAL_SAMPLES} under {GOAL_SECONDS:.0f} s) "
        f"{'met' if met else 'not met'}")


def main(argv: list[str] | None = None) -> int:
    import warp as wp

    wp.config.log_level = logging.WARNING
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--small", action="store_true", help="a 50 k-triangle generated station instead of 1 M")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--configs", type=int, default=None,
                    help="configurations per sweep (default 1024; --goal: 100 000)")
    ap.add_argument("--orientations", type=int, default=4, help="yaw samples per parcel (default 4)")
    ap.add_argument("--goal", action="store_true", help="time the GPU goal end to end (see the module docstring)")
    args = ap.parse_args(argv)
    if args.goal:
        args.configs = args.configs or 100_000
        return goal(args)
    args.configs = args.configs or 1024
    rows = []
    for case in (tunnel_case, generated_case):
        scene, spec, frame, world = case(args)
        rows.append(bench_station(case.__name__.replace("_case", ""), scene, spec, frame, world, args.device,
                                  args.threads))
    log("")
    log(f"device {world.device}, {world.threads} threads")
    for r in rows:
        log(f"  {r['label']}: {r['sizes']}; lean loop {r['loop_ms']:.2f} ms per configuration")
    log(f"{'station':<10} {'configs/s':>11} {'evals/s':>10} {'speed-up':>9} {'bar':>5} {'exact':>6} "
        f"{'baseline':>9} {'best':>6}")
    ok = True
    for r in rows:
        passed = r["speedup"] >= SPEEDUP_BAR or args.device != "cpu"
        ok &= passed and r["agree"]
        log(f"{r['label']:<10} {r['configs_per_s']:>11,.1f} {r['evals_per_s']:>10.3g} {r['speedup']:>8.1f}x "
            f"{'ok' if passed else 'LOW':>5} {'yes' if r['agree'] else 'NO':>6} {100 * r['baseline']:>8.1f}% "
            f"{100 * r['best']:>5.1f}%")
    log(f"speed-up = batched sweep / lean loop (varied rows only, decodable bits only) in configurations per "
        f"second, same run: bar >= {SPEEDUP_BAR:.0f}x on the CPU")
    return 0 if ok else 1



if __name__ == "__main__":
    _code = main()
    report_peak()
    sys.exit(_code)
