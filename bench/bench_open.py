"""How long ``swb.open`` takes on a large station, and where the time goes.

    python bench/bench_open.py                     # the generated station (1 M triangles, 64 cameras, 10 000 labels)
    python bench/bench_open.py --baseline 3ee8415  # ... and the same station opened by that revision's code
    python bench/bench_open.py --station my.usdc --repeats 5

The station is ``swb.engine.station_generator.generate_station()`` written with ``swb.stage.export.write_scene``
into a temporary folder (or ``--station``). Each measurement runs in a fresh process (what a user who calls
``swb.open`` once sees), ``--repeats`` times, alternating between this tree and ``--baseline`` so both see the same
machine load; the figures are the median wall and CPU seconds. The breakdown (compose, traversal, cameras, targets,
lights, geometry, instancers; CPU seconds, robust on a shared machine) comes from one more instrumented load in the
same process (for older code, by timing its per-prim readers from outside). With ``--baseline REV``
the revision's ``swb`` package is exported with ``git archive`` and imported instead of this one (kernels and
schemas are shared); the scene models both load are compared field by field (they must be identical).
No timing is asserted: the ratio is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import report_peak

ROOT = Path(__file__).resolve().parent.parent


def _digest(scene) -> str:  # noqa: ANN001
    import numpy as np

    h = hashlib.sha256()
    for obj in [*scene.cameras, *scene.targets, *scene.parts, *scene.lights]:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            h.update(f.name.encode())
            if isinstance(value, np.ndarray):
                h.update(value.dtype.str.encode() + repr(value.shape).encode() + np.ascontiguousarray(value).tobytes())
            else:
                h.update(repr(value).encode())
    return h.hexdigest()


def child(path: str) -> None:
    """One fresh process: time swb.open once, then one instrumented load for the breakdown."""
    t0 = time.perf_counter()
    from pxr import Sdf

    import swb
    from swb.stage.layers import copy_stage_metadata, open_layer, open_stage
    from swb.stage.load import load_scene_from_stage

    imported = time.perf_counter() - t0
    t, c = time.perf_counter(), time.process_time()
    sim = swb.open(path)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    out = {"import": imported, "wall": wall, "cpu": cpu, "digest": _digest(sim.scene),
           "counts": [len(sim.scene.cameras), len(sim.scene.targets), len(sim.scene.parts),
                      sum(len(p.triangles) for p in sim.scene.parts)]}
    del sim
    timings: dict[str, float] = {}
    scene = open_layer(path)
    root = Sdf.Layer.CreateAnonymous("simulation.usda")
    copy_stage_metadata(scene, root)
    root.subLayerPaths = [scene.identifier]
    t = time.process_time()
    stage = open_stage(root)
    timings["compose"] = time.process_time() - t
    if "timings" in inspect.signature(load_scene_from_stage).parameters:
        load_scene_from_stage(stage, path, timings=timings)
    else:  # older code: time its per-prim readers from outside; the traversal is what remains
        _time_readers(timings)
        t = time.process_time()
        load_scene_from_stage(stage, path)
        total = time.process_time() - t
        timings["traversal"] = total - sum(v for k, v in timings.items() if k != "compose")
    out["breakdown"] = timings
    print("RESULT " + json.dumps(out))


def _time_readers(timings: dict[str, float]) -> None:
    """Wrap the per-prim readers an older ``swb.stage.load`` calls, adding their time to ``timings``."""
    from swb.stage import load

    for name, key in (("read_camera", "cameras"), ("read_target", "targets"), ("read_light", "lights"),
                      ("gprim_part", "geometry"), ("read_instancer", "instancers")):
        reader = getattr(load, name, None)
        if reader is None:
            continue

        def timed(*args, _reader=reader, _key=key, **kwargs):  # noqa: ANN002, ANN003, ANN202
            t = time.process_time()
            try:
                return _reader(*args, **kwargs)
            finally:
                timings[_key] = timings.get(_key, 0.0) + time.process_time() - t

        setattr(load, name, timed)


def _run_child(path: Path, pythonpath: Path | None) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(path)], env=env,
                          capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"measurement failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def _export_revision(rev: str, into: Path) -> Path:
    """``swb/`` of revision ``rev`` under ``into`` (kernels/schemas/scenes come from this install)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "swb"], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {rev} failed: {archive.stderr.decode().strip()}")
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _station(folder: Path) -> Path:
    from swb.engine.station_generator import generate_station
    from swb.stage.export import write_scene

    t = time.perf_counter()
    scene = generate_station()
    path = write_scene(scene, folder / "station.usdc")
    print(f"station: generated and written in {time.perf_counter() - t:.1f} s -> {path}")
    return path


def _line(name: str, runs: list[dict]) -> str:
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    return f"{name:<22} swb.open {wall:6.2f} s wall  {cpu:6.2f} s CPU   (median of {len(runs)}; import swb " \
           f"{statistics.median(r['import'] for r in runs):.2f} s)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--station", type=Path, help="a USD station (default: generate the 1 M-triangle one)")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per code path (default 3)")
    ap.add_argument("--baseline", metavar="REV", help="also open the station with this git revision's swb package")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="swb-bench-open-") as tmp:
        path = args.station or _station(Path(tmp))
        base = _export_revision(args.baseline, Path(tmp) / "baseline") if args.baseline else None
        new, old = [], []
        for _ in range(args.repeats):
            new.append(_run_child(path, None))
            if base is not None:
                old.append(_run_child(path, base))
    cams, labels, parts, tris = new[0]["counts"]
    print(f"{path.name}: {cams} cameras, {labels} labels, {parts} parts, {tris} triangles "
          f"({os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f})")
    print(_line("this tree", new))
    parts_s = new[-1]["breakdown"]
    print("  breakdown (CPU s): " + ", ".join(f"{k} {v:.3f}" for k, v in parts_s.items()))
    if "targets" in parts_s and labels:
        print(f"  labels: {1e6 * parts_s['targets'] / labels:.0f} us per label")
    if old:
        print(_line(f"baseline {args.baseline}", old))
        base_s = old[-1]["breakdown"]
        print("  breakdown (CPU s): " + ", ".join(f"{k} {v:.3f}" for k, v in base_s.items()))
        if "targets" in base_s and labels:
            print(f"  labels: {1e6 * base_s['targets'] / labels:.0f} us per label")
        ratio = statistics.median(r["wall"] for r in old) / statistics.median(r["wall"] for r in new)
        cpu_ratio = statistics.median(r["cpu"] for r in old) / statistics.median(r["cpu"] for r in new)
        same = {r["digest"] for r in new} == {r["digest"] for r in old} and len({r["digest"] for r in new}) == 1
        print(f"speed-up: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU; scene models identical: {'yes' if same else 'NO'}")



if __name__ == "__main__":
    main()
    report_peak()
