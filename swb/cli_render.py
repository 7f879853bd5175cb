"""`swb render` (synthetic images with labels) and `swb validate` (the model against zxing-cpp).

``add_render_commands(subparsers)`` adds both sub-commands; each parser carries its handler as ``handler``
(a function of the parsed arguments returning an exit code). User errors raise ``SwbError``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import SwbError


def _progress(message: str) -> None:
    print(f"[swb] {message}", file=sys.stderr, flush=True)


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="Warp device: cpu or cuda (default: the preferred device)")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def add_render_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `render` and `validate` to the `swb` command's sub-parsers."""
    r = subparsers.add_parser("render", help="render every sensor camera's image with per-symbol labels")
    r.add_argument("scene", type=Path)
    r.add_argument("--out", type=Path, required=True, help="folder for <camera>.png and <camera>.json")
    r.add_argument("--camera", action="append", help="prim path of a camera to render (repeatable; default all)")
    r.add_argument("--spp", type=_positive, default=16, help="samples per pixel (default 16)")
    r.add_argument("--seed", type=int, default=0, help="sampling and noise seed (default 0)")
    _add_device(r)
    r.set_defaults(handler=cmd_render)

    v = subparsers.add_parser(
        "validate", help="decode rendered symbols with zxing-cpp and compare with the model's verdict")
    v.add_argument("scene", type=Path, nargs="?", help="a USD station (or use --study)")
    v.add_argument("--study", type=_positive, metavar="N", help="a randomised study of N single-pair scenes")
    v.add_argument("--seed", type=int, default=0, help="study and render seed (default 0)")
    v.add_argument("--profile", help="decoder profile to predict with (study default: zxing; scene: each camera's)")
    v.add_argument("--fit", action="store_true", help="fit a decoder profile to the cases and report it")
    v.add_argument("--cases", type=Path, help="reuse cases saved by an earlier --out instead of rendering")
    v.add_argument("--out", type=Path, help="folder for cases.json and report.json")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_device(v)
    v.set_defaults(handler=cmd_validate)


def cmd_render(args: argparse.Namespace) -> int:
    from .load_stage import load_stage
    from .render import RenderSettings, export

    _progress(f"loading {args.scene}")
    _, scene = load_stage(args.scene)
    cameras = None
    if args.camera:
        paths = [c.path for c in scene.cameras]
        missing = [p for p in args.camera if p not in paths]
        if missing:
            raise SwbError(f"no sensor camera {missing[0]}", file=str(args.scene),
                           hint=f"cameras: {', '.join(paths) or 'none'}")
        cameras = [paths.index(p) for p in args.camera]
    if not scene.cameras:
        raise SwbError("the stage has no sensor cameras", file=str(args.scene),
                       hint="apply SwbSensorAPI to a UsdGeom.Camera")
    t0 = time.perf_counter()
    written = export(scene, args.out, device=args.device, settings=RenderSettings(spp=args.spp, seed=args.seed),
                     cameras=cameras)
    _progress(f"rendered {len(written) // 2} images in {time.perf_counter() - t0:.1f} s")
    for path in written:
        print(path)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .profiles import PROFILES
    from .render import RenderSettings
    from .validate import (
        agreement,
        fit_profile,
        format_report,
        load_cases,
        run_study,
        save_cases,
        validate_scene,
    )

    sources = [x for x in (args.scene, args.study, args.cases) if x is not None]
    if len(sources) != 1:
        raise SwbError("give exactly one of SCENE, --study N or --cases FILE",
                       hint="e.g. swb validate --study 600 --seed 0")
    if args.profile is not None and args.profile not in PROFILES:
        raise SwbError(f"unknown decoder profile {args.profile!r}", hint=f"use one of {', '.join(PROFILES)}")
    t0 = time.perf_counter()
    if args.cases is not None:
        if not args.cases.is_file():
            raise SwbError("file not found", file=str(args.cases), hint="write one with --out DIR (cases.json)")
        cases = load_cases(args.cases)
        title = f"cases from {args.cases}"
    elif args.study is not None:
        cases = run_study(args.study, args.seed, device=args.device,
                          progress=lambda k, n: _progress(f"{k}/{n} cases") if k % 50 == 0 or k == n else None)
        title = f"study of {args.study} randomised cases, seed {args.seed}"
    else:
        from .load_stage import load_stage

        _progress(f"loading {args.scene}")
        _, scene = load_stage(args.scene)
        cases = validate_scene(scene, device=args.device, settings=RenderSettings(seed=args.seed),
                               profile=args.profile)
        title = f"{args.scene}: {len(cases)} camera x target pairs in front of their camera"
    _progress(f"{len(cases)} cases in {time.perf_counter() - t0:.1f} s")

    # A study is scored under one profile (zxing unless --profile); a scene under each camera's own profile.
    profile = None
    if args.scene is None:
        profile = PROFILES[args.profile or "zxing"]
        title += f", profile {profile.name}"
    ag = agreement(cases, profile)
    report = {"title": title, "agreement": ag.to_json()}
    text = format_report(cases, ag, title)
    if args.fit:
        fit = fit_profile(cases)
        p = fit.profile
        report["fit"] = {"ppm_threshold": list(p.ppm_threshold), "blur_limit": list(p.blur_limit),
                         "scanline": p.scanline, "min_visible": list(p.min_visible), "clear_row": p.clear_row,
                         "agreement": fit.train_agreement, "held_out_agreement": fit.test_agreement,
                         "method": fit.method}
        held = "n/a" if fit.test_agreement is None else f"{100 * fit.test_agreement:.1f} %"
        text += (f"\n\nfitted profile (classes linear/pdf417/datamatrix/qr/aztec): T = {p.ppm_threshold}, "
                 f"B = {p.blur_limit}, scanline = {p.scanline}, min_visible = "
                 f"{tuple(round(v, 3) for v in p.min_visible)}, clear_row = {p.clear_row}\n"
                 f"  agreement {100 * fit.train_agreement:.1f} % "
                 f"(fitted on the even half, the odd half agrees {held})\n  method: {fit.method}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        save_cases(args.out / "cases.json", cases)
        (args.out / "report.json").write_text(json.dumps(report, indent=1))
        _progress(f"wrote {args.out / 'cases.json'} and {args.out / 'report.json'}")
    print(json.dumps(report, indent=1) if args.json else text)
    return 0
