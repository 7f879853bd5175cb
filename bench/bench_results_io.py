"""Results-file benchmark: writing an evaluation's results as JSON against Parquet, with wall time and peak memory.

    python bench/bench_results_io.py [--device cpu|cuda] [--threads N] [--full] [--no-json] [--cameras C --targets T]

A generated sorting station (swb.engine.station_generator.generate_station; default 200 k triangles, 16 cameras,
12 500 labels = 200 000 pairs; ``--full``: 4 M triangles, 64 cameras, 80 000 labels = 5.12 M pairs) is evaluated
in a fresh subprocess per writer, so each peak is that writer's own: the process generates the station, builds the
Warp world, evaluates every pair (the evaluation time), then writes the results file the way ``swb eval`` does
(``swb.engine.results_files.write_results``: JSON, or the Parquet pair table in row groups). One more subprocess
only evaluates, for the evaluation's own peak. Each subprocess reports its wall times, its resident memory before
writing and its peak (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the high-water mark of the whole process,
station and Warp world included).

Prints one line per run, then the ratios measured in this run: write time / evaluation time and the writer's peak
against the evaluation's. No timing is asserted; ``--full`` is what issue 15 sizes (under 3 GB peak, the write under
3x the evaluation); JSON at that size takes minutes and tens of GB, so ``--no-json`` skips it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_bytes

DEFAULT = {"n_triangles": 200_000, "n_cameras": 16, "n_targets": 12_500}
FULL = {"n_triangles": 4_000_000, "n_cameras": 64, "n_targets": 80_000}
GB = 1 << 30


def log(msg: str) -> None:
    print(msg, flush=True)


def rss_bytes() -> int:
    """Resident memory now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def child(args: argparse.Namespace) -> dict:
    """One run: generate, evaluate, and write ``args.write`` (none, json, parquet); returns the figures."""
    import warp as wp

    wp.config.log_level = logging.WARNING
    wp.config.quiet = True
    from swb.atomic_file import atomic_file
    from swb.engine.detail_source import WorldDetail
    from swb.engine.pair_records import PairRecords
    from swb.engine.results import Results
    from swb.engine.results_files import json_bytes, write_results
    from swb.engine.station_generator import generate_station
    from swb.engine.world import World

    size = json.loads(args.size)
    scene = generate_station(**size, seed=0)
    warm = World(generate_station(n_triangles=2_000, n_cameras=2, n_targets=4, seed=1), device=args.device,
                 threads=args.threads)
    warm.evaluate()  # kernels compiled and loaded outside the timing
    warm.close()
    t0 = time.perf_counter()
    world = World(scene, device=args.device, threads=args.threads, detail=args.detail)
    world.evaluate()
    wp.synchronize_device(world.device)
    # as a simulation keeps them: compact records with detail on request, or (--detail) every array
    pairs = world.results() if args.detail else PairRecords(world.records(), WorldDetail(world, scene))
    res = Results(scene.cameras, scene.targets, pairs)
    evaluate_s = time.perf_counter() - t0
    n = len(scene.cameras) * len(scene.targets)
    out = {"writer": args.write, "pairs": n, "evaluate_s": evaluate_s, "device_bytes": world.pair_bytes(),
           "host_bytes": pairs.nbytes_per_pair(), "device": str(world.device), "rss_before_write": rss_bytes(),
           "peak_eval": peak_bytes()}
    if args.write != "none":
        if args.write == "parquet":
            import pyarrow.parquet  # noqa: F401  (the library's import, ~0.1 s once per process, is not the write)
        path = Path(args.dir) / f"results.{args.write}"
        t0 = time.perf_counter()
        if args.write == "json":  # as `swb eval --out` wrote it before Parquet, above the JSON limit too
            with atomic_file(path) as fh:
                fh.write(json_bytes(res))
        else:
            write_results(path, res)
        out["write_s"] = time.perf_counter() - t0
        out["file_bytes"] = path.stat().st_size
        path.unlink()
    out["peak"] = peak_bytes()
    return out


def sweep_child(args: argparse.Namespace) -> dict:
    """One sweep of the bundled scan tunnel (its spec, ``args.configs`` configurations): every configuration kept
    (``keep``) or the rows streamed to Parquet with the 10 best kept (``rows``)."""
    import warp as wp

    wp.config.log_level = logging.WARNING
    wp.config.quiet = True
    import swb
    from swb.cli.sweep import demo_spec_path

    sim = swb.open(swb.bundled_scene("scan_tunnel"), device=args.device, threads=args.threads)
    sim.sweep(spec=demo_spec_path(), samples=16)  # kernels compiled, spec authored: outside the figures
    rows = Path(args.dir) / "rows.parquet" if args.write == "sweep-rows" else None
    if rows is not None:
        import pyarrow.parquet  # noqa: F401  (the library itself, ~40 MB, is not per-configuration memory)
    before = rss_bytes()
    t0 = time.perf_counter()
    res = sim.sweep(spec=demo_spec_path(), samples=args.configs, rows=rows, keep=10 if rows else None)
    seconds = time.perf_counter() - t0
    out = {"writer": args.write, "configs": res.n_done, "rows_held": res.n_rows, "sweep_s": seconds,
           "rss_before": before, "peak": peak_bytes(), "best": res.best,
           "top": [float(res.coverage[i]) for i in res.order[:10]]}
    if rows is not None:
        out["file_bytes"] = rows.stat().st_size
        rows.unlink()
    return out


def run_child(size: dict, write: str, folder: str, device: str | None, threads: int | None,
              configs: int = 0, detail: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", "--write", write, "--dir", folder, "--size", json.dumps(size)]
    cmd += ["--detail"] if detail else []
    if device:
        cmd += ["--device", device]
    if threads:
        cmd += ["--threads", str(threads)]
    if configs:
        cmd += ["--configs", str(configs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{write} run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli_run(station: Path, option: str, folder: str, device: str | None, detail: bool = False) -> dict:
    """``swb eval STATION --out DIR`` (load, evaluate, save with its results file) or ``--results FILE.parquet``
    (the results file alone) end to end in a subprocess; its peak is that process's ru_maxrss."""
    import re

    target = Path(folder) / "out"
    argv = ["eval", str(station), option, str(target if option == "--out" else target / "station.results.parquet")]
    argv += ["--device", device] if device else []
    cmd = [sys.executable, __file__, "--child", "--write", "cli", "--size", json.dumps(argv)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"SWB_DETAIL": "1" if detail else "0"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"swb eval --out failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    own = json.loads(proc.stdout.strip().splitlines()[-1])  # that process's own high-water mark and write time
    m = re.search(r"pairs in ([0-9.]+) s", proc.stderr)
    files = {p.name: p.stat().st_size for p in target.iterdir() if "results" in p.name}
    shutil.rmtree(target)
    return {"wall_s": wall, "evaluate_s": float(m.group(1)) if m else float("nan"), "peak": own["peak"],
            "write_s": own["write_s"], "files": files}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="Warp device (cpu, cuda); default: Warp's preferred")
    ap.add_argument("--threads", type=int, default=None, help="CPU worker threads for the Warp world")
    ap.add_argument("--full", action="store_true", help="the 5.12 M-pair station of issue 15 (4 M triangles)")
    ap.add_argument("--cameras", type=int, help="cameras (overrides the size)")
    ap.add_argument("--targets", type=int, help="labels (overrides the size)")
    ap.add_argument("--triangles", type=int, help="triangles (overrides the size)")
    ap.add_argument("--no-json", action="store_true", help="skip the JSON writer (minutes and many GB at 5 M pairs)")
    ap.add_argument("--configs", type=int, default=100_000,
                    help="configurations of the sweep part (the bundled tunnel's sweep; 0 skips it)")
    ap.add_argument("--cli", action="store_true",
                    help="also time `swb eval STATION --out DIR` end to end (station written as USD first)")
    ap.add_argument("--detail", action="store_true",
                    help="keep every pair's detail (76 B a pair on the device, 81 B on the host) as simulations did "
                         "before; default: 32-byte records, detail computed while writing (as simulations do now)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--write", default="none", help=argparse.SUPPRESS)
    ap.add_argument("--dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--size", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child and args.write == "cli":
        import importlib

        cli = importlib.import_module("swb.cli.main")  # the module (swb.cli.main the attribute is its function)
        files = importlib.import_module("swb.engine.results_files")
        write_s: list[float] = []

        def timed(original):  # noqa: ANN001, ANN202 - the save with its results file, or the results file alone
            def call(*a, **kw):  # noqa: ANN002, ANN003, ANN202
                t0 = time.perf_counter()
                try:
                    return original(*a, **kw)
                finally:
                    write_s.append(time.perf_counter() - t0)
            return call

        cli._write_outputs = timed(cli._write_outputs)
        files.write_results = timed(files.write_results)
        code = cli.main(json.loads(args.size))
        print(json.dumps({"peak": peak_bytes(), "write_s": sum(write_s)}), flush=True)
        return code
    if args.child:
        print(json.dumps(sweep_child(args) if args.write.startswith("sweep") else child(args)), flush=True)
        return 0

    size = dict(FULL if args.full else DEFAULT)
    for key, value in (("n_cameras", args.cameras), ("n_targets", args.targets), ("n_triangles", args.triangles)):
        if value:
            size[key] = value
    log(f"[bench_results_io] station {size}: {size['n_cameras'] * size['n_targets']:,} pairs; one subprocess per run")
    writers = ["none", "parquet"] + ([] if args.no_json else ["json"])
    runs = {}
    with tempfile.TemporaryDirectory(prefix="swb-bench-io-") as folder:
        for write in writers:
            r = run_child(size, write, folder, args.device, args.threads, detail=args.detail)
            runs[write] = r
            line = (f"  {write:8s} evaluate {r['evaluate_s']:7.2f} s on {r['device']}, {r['device_bytes']} B a pair "
                    f"kept on the device, {r['host_bytes']:.0f} B on the host, peak after evaluation "
                    f"{r['peak_eval'] / GB:6.2f} GB")
            if write != "none":
                line += (f"; write {r['write_s']:7.2f} s, {r['file_bytes'] / 2**20:8.1f} MiB file, peak "
                         f"{r['peak'] / GB:6.2f} GB (+{(r['peak'] - r['rss_before_write']) / GB:.2f} GB over the "
                         "evaluated process)")
            log(line)
    log("summary (ratios measured in this run)")
    for write in writers[1:]:
        r = runs[write]
        log(f"  {write:8s} write / evaluation {r['write_s'] / r['evaluate_s']:6.2f}x   peak "
            f"{r['peak'] / GB:6.2f} GB ({r['peak'] / max(runs['none']['peak'], 1):.2f}x the evaluation's "
            f"{runs['none']['peak'] / GB:.2f} GB)   {r['write_s'] and r['pairs'] / r['write_s']:,.0f} pairs/s")
    if "json" in runs:
        j, p = runs["json"], runs["parquet"]
        log(f"  parquet against json: write {j['write_s'] / max(p['write_s'], 1e-9):.1f}x faster, file "
            f"{j['file_bytes'] / p['file_bytes']:.1f}x smaller, peak {j['peak'] / p['peak']:.1f}x lower")
    if args.cli:
        from swb.engine.station_generator import generate_station
        from swb.stage.export import write_scene

        with tempfile.TemporaryDirectory(prefix="swb-bench-io-") as folder:
            station = write_scene(generate_station(**size, seed=0), Path(folder) / "station.usdc")
            for option in ("--results", "--out"):
                r = cli_run(station, option, folder, args.device, args.detail)
                log(f"[cli] swb eval {option}: {r['wall_s']:.1f} s in all, evaluation {r['evaluate_s']:.2f} s, "
                    f"writing {r['write_s']:.2f} s ({r['write_s'] / r['evaluate_s']:.2f}x the evaluation), peak "
                    f"{r['peak'] / GB:.2f} GB; " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in r["files"].items()))
    if args.configs:
        log(f"[sweep] the bundled scan tunnel's sweep, {args.configs:,} configurations; one subprocess per run")
        sweeps = {}
        with tempfile.TemporaryDirectory(prefix="swb-bench-io-") as folder:
            for write in ("sweep-keep", "sweep-rows"):
                r = run_child(size, write, folder, args.device, args.threads, args.configs)
                sweeps[write] = r
                grew = r["peak"] - r["rss_before"]
                log(f"  {write:10s} {r['sweep_s']:7.2f} s, {r['rows_held']:,} configurations held, peak "
                    f"{r['peak'] / GB:.2f} GB (+{grew / 2**20:,.0f} MiB over the opened stage, "
                    f"{grew / max(r['configs'], 1):,.0f} B per configuration)"
                    + (f", rows file {r['file_bytes'] / 2**20:.1f} MiB" if "file_bytes" in r else ""))
        same = sweeps["sweep-keep"]["top"] == sweeps["sweep-rows"]["top"] and \
            sweeps["sweep-keep"]["best"] == sweeps["sweep-rows"]["best"]
        log(f"  top 10 and best configuration identical: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
