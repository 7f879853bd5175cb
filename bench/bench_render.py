"""Rendering benchmark and device check: ray-traced camera images and the validation study on one device,
against the CPU.

    python bench/bench_render.py [--device cuda] [--spp 16] [--study N] [--seed S] [--workers W] [--save DIR]
    python bench/bench_render.py --against DIR [--cpu-cases N]

1. The bundled scan tunnel: every camera's full frame on ``--device`` (timed after a warm-up: the whole image, and
   the ray tracing alone, read back; megasamples/s = pixels x samples per pixel / ray-tracing seconds; the sensor
   model runs on the host), and a 256 x 256 window in the middle of each frame.
2. The randomised validation study (``swb.render.study.run_study``): ``--study`` cases rendered and decoded on the
   device (the agreement of the zxing profile with zxing-cpp, cases per second).

The CPU check: the radiance of a pixel depends only on the seed and the pixel, and the sensor noise is drawn on
the host from the seed and the window, so the same window on the CPU must give the same 8-bit image up to float
rounding, and a study case the same decode outcome. Where the device's machine also compiles CPU kernels this
runs in the same process; elsewhere (the lent GPU machine carries no CPU compiler) ``--save DIR`` keeps the
device's windows and cases and ``--against DIR`` recomputes them on this machine's CPU and compares.
Prints a short table last.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

WINDOW = 256
SEED = 1


def log(msg: str) -> None:
    print(msg, flush=True)


def _tunnel_scene():  # noqa: ANN202
    import swb
    from swb.stage.load import load_stage

    return load_stage(swb.bundled_scene("scan_tunnel"))[1]


def _window(cam) -> tuple[int, int, int, int]:  # noqa: ANN001
    x0, y0 = (cam.width - WINDOW) // 2, (cam.height - WINDOW) // 2
    return x0, y0, x0 + WINDOW, y0 + WINDOW


def tunnel(device: str, spp: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Full frames timed on ``device``; the middle window of each (radiance and 8-bit) for the CPU check."""
    from swb.render.renderer import Renderer, RenderSettings

    scene = _tunnel_scene()
    r = Renderer(scene, device, RenderSettings(spp=spp, seed=SEED))
    rows, windows = [], {}
    for c, cam in enumerate(scene.cameras):
        r.render(c, (0, 0, 64, 64), spp=1)  # warm-up (kernel load, first launch)
        t0 = time.perf_counter()
        rad, _, origin = r.radiance(c)  # the ray tracing on the device, read back
        t1 = time.perf_counter()
        r.sensor(c, rad, origin)  # diffraction, noise and quantisation on the host
        seconds, traced = time.perf_counter() - t0, t1 - t0
        win = _window(cam)
        windows[f"rad{c}"] = r.radiance(c, win)[0]
        windows[f"img{c}"] = r.render(c, win).pixels
        rows.append({"camera": cam.path.rsplit("/", 1)[-1], "pixels": cam.width * cam.height, "seconds": seconds,
                     "traced": traced, "msps": cam.width * cam.height * spp / traced / 1e6})
        log(f"[render] {rows[-1]['camera']}: {cam.width}x{cam.height} x {spp} spp in {seconds:.3f} s, of which "
            f"ray tracing {traced:.3f} s ({rows[-1]['msps']:.1f} Msamples/s)")
    r.close()
    return rows, windows


def compare_windows(windows: dict[str, np.ndarray], spp: int) -> list[dict]:
    """The same windows rendered on the CPU: largest radiance difference and share of identical 8-bit pixels."""
    from swb.render.renderer import Renderer, RenderSettings

    scene = _tunnel_scene()
    r = Renderer(scene, "cpu", RenderSettings(spp=spp, seed=SEED))
    out = []
    for c, cam in enumerate(scene.cameras):
        win = _window(cam)
        rad = r.radiance(c, win)[0]
        img = r.render(c, win).pixels
        ref_rad, ref_img = windows[f"rad{c}"], windows[f"img{c}"]
        out.append({"camera": cam.path.rsplit("/", 1)[-1], "max_rad_diff": float(np.max(np.abs(rad - ref_rad))),
                    "same_pixels": float(np.mean(img == ref_img)),
                    "max_dn_diff": int(np.max(np.abs(img.astype(int) - ref_img.astype(int))))})
    r.close()
    return out


def study(device: str, n: int, seed: int, workers: int) -> tuple[list, float]:
    from swb.render.fitting import agreement
    from swb.render.study import run_study

    run_study(2, seed, device=device)  # warm-up
    t0 = time.perf_counter()
    cases = run_study(n, seed, device=device, workers=workers)
    seconds = time.perf_counter() - t0
    log(f"[study] {n} cases on {device} with {workers} workers in {seconds:.1f} s ({n / seconds:.1f} cases/s), "
        f"zxing profile agreement {100 * agreement(cases).rate:.1f} %")
    return cases, seconds


def compare_cases(cases: list, seed: int, k: int, workers: int) -> dict:
    """The first ``k`` study cases again on the CPU: same decode outcome and same model verdict?"""
    from swb.render.fitting import agreement
    from swb.render.study import run_study

    k = min(k, len(cases))
    t0 = time.perf_counter()
    cpu = run_study(k, seed, device="cpu", workers=workers)
    seconds = time.perf_counter() - t0
    return {"k": k, "seconds": seconds,
            "same_decode": sum(a.decoded == b.decoded for a, b in zip(cases, cpu, strict=False)),
            "same_verdict": sum(a.predicted == b.predicted for a, b in zip(cases, cpu, strict=False)),
            "agree_dev": agreement(cases[:k]).rate, "agree_cpu": agreement(cpu).rate}


def print_summary(device: str, rows: list[dict], cmp_rows: list[dict] | None, st: dict | None,
                  cmp_cases: dict | None) -> None:
    log("")
    log(f"device {device}")
    log(f"{'camera':<16} {'pixels':>10} {'seconds':>8} {'traced s':>8} {'Msamples/s':>11} {'CPU: max dRad':>14} "
        f"{'same 8-bit':>10} {'max dDN':>7}")
    cmp_by = {r["camera"]: r for r in cmp_rows or []}
    for r in rows:
        c = cmp_by.get(r["camera"])
        tail = (f"{c['max_rad_diff']:>14.1e} {100 * c['same_pixels']:>9.2f}% {c['max_dn_diff']:>7}" if c else
                f"{'-':>14} {'-':>10} {'-':>7}")
        traced = f"{r['traced']:>8.3f}" if "traced" in r else f"{'-':>8}"
        log(f"{r['camera']:<16} {r['pixels']:>10,} {r['seconds']:>8.3f} {traced} {r['msps']:>11.1f} {tail}")
    if st:
        log(f"study: {st['n']} cases in {st['seconds']:.1f} s ({st['n'] / st['seconds']:.1f} cases/s) on {device}, "
            f"zxing profile agreement {100 * st['agree']:.1f} %")
    if cmp_cases:
        k = cmp_cases["k"]
        log(f"  first {k} on the CPU ({cmp_cases['seconds']:.1f} s): same decode outcome "
            f"{cmp_cases['same_decode']}/{k}, same model verdict {cmp_cases['same_verdict']}/{k}; agreement "
            f"{100 * cmp_cases['agree_dev']:.1f} % ({device}) vs {100 * cmp_cases['agree_cpu']:.1f} % (cpu)")


def main(argv: list[str] | None = None) -> int:
    import warp as wp

    wp.config.log_level = logging.WARNING
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default=None, help="Warp device (cpu, cuda); default: Warp's preferred")
    ap.add_argument("--spp", type=int, default=16)
    ap.add_argument("--study", type=int, default=200, help="study cases on the device (0: skip the study)")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cpu-cases", type=int, default=60, help="study cases also rendered on the CPU and compared")
    ap.add_argument("--save", type=Path, help="keep the device's windows and cases here (for --against)")
    ap.add_argument("--against", type=Path, help="compare a --save folder from another machine on this CPU")
    args = ap.parse_args(argv)
    wp.init()
    from swb.render.fitting import agreement
    from swb.render.study import load_cases, save_cases

    if args.against:
        meta = json.loads((args.against / "meta.json").read_text())
        windows = dict(np.load(args.against / "windows.npz"))
        cases = load_cases(args.against / "cases.json") if (args.against / "cases.json").is_file() else []
        cmp_rows = compare_windows(windows, meta["spp"])
        st = meta.get("study")
        cmp_cases = compare_cases(cases, meta["seed"], args.cpu_cases, args.workers) if cases else None
        print_summary(meta["device"], meta["rows"], cmp_rows, st, cmp_cases)
        return 0

    device = str(args.device or wp.get_preferred_device())
    rows, windows = tunnel(device, args.spp)
    cases, st = [], None
    if args.study > 0:
        cases, seconds = study(device, args.study, args.seed, args.workers)
        st = {"n": len(cases), "seconds": seconds, "agree": agreement(cases).rate}
    name = f"{device} ({wp.get_device(device).name})"
    cpu_here = wp.is_cpu_available() and device != "cpu"
    cmp_rows = compare_windows(windows, args.spp) if cpu_here else None
    cmp_cases = compare_cases(cases, args.seed, args.cpu_cases, args.workers) if cpu_here and cases else None
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.save / "windows.npz", **windows)
        if cases:
            save_cases(args.save / "cases.json", cases)
        (args.save / "meta.json").write_text(json.dumps({"device": name, "spp": args.spp, "seed": args.seed,
                                                         "rows": rows, "study": st}))
    print_summary(name, rows, cmp_rows, st, cmp_cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
