"""`swb render` (synthetic images with labels) and `swb validate` (the model against zxing-cpp).

``add_render_commands(subparsers)`` adds both sub-commands; each parser carries its handler as ``handler``
(a function of the parsed arguments returning an exit code). User errors raise ``SwbError``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import SwbError
from ..stage.layers import write_text_atomic
from .common import add_device_args, positive_int, progress

DEFAULT_SPP = 4


def add_render_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `render` and `validate` to the `swb` command's sub-parsers."""
    r = subparsers.add_parser("render", help="render every sensor camera's image with per-symbol labels")
    r.add_argument("scene", type=Path)
    r.add_argument("--out", type=Path, required=True, help="folder for <camera>.png and <camera>.json")
    r.add_argument("--camera", action="append", help="prim path of a camera to render (repeatable; default all)")
    r.add_argument("--spp", type=positive_int, default=DEFAULT_SPP,
                   help=f"samples per pixel, jointly over pixel area, aperture and exposure time (default "
                   f"{DEFAULT_SPP}; 16 gives smoother defocus and motion blur at 4x the time)")
    r.add_argument("--seed", type=int, default=0, help="sampling and noise seed (default 0)")
    add_device_args(r)
    r.set_defaults(handler=cmd_render)

    v = subparsers.add_parser(
        "validate", help="decode rendered symbols with zxing-cpp and compare with the model's verdict")
    v.add_argument("scene", type=Path, nargs="?", help="a USD station (or use --study)")
    v.add_argument("--study", type=positive_int, metavar="N", help="a randomised study of N single-pair scenes")
    v.add_argument("--seed", type=int, default=None, help="study and render seed (default 0)")
    v.add_argument("--design", metavar="FACTOR",
                   help="with --study: every case probes this factor (e.g. angle for a study of steep tilts)")
    v.add_argument("--profile", help="decoder profile to predict with (study default: zxing; scene: each camera's)")
    v.add_argument("--fit", action="store_true", help="fit a decoder profile to the cases and report it")
    v.add_argument("--transits", type=positive_int, metavar="N",
                   help="render the conveyor transits of N study indices (those whose outcome is uncertain), every "
                        "frame, and compare the transit read rate with zxing-cpp")
    v.add_argument("--phases", type=positive_int, default=6, help="frame phases per transit (default 6)")
    v.add_argument("--fit-link", action="store_true",
                   help="fit only the read-probability link (m90 and slope per class) of --profile (default zxing) "
                        "to the cases, keeping its thresholds; cross-validated by study (one per --cases file)")
    v.add_argument("--cases", type=Path, action="append",
                   help="reuse cases saved by an earlier --out instead of rendering (repeatable: the cases of several "
                        "studies together, e.g. to fit on them)")
    v.add_argument("--remodel", action="store_true",
                   help="with --cases from a study and its --seed: recompute the model's side of every case (after a "
                        "model change), keeping the decode outcomes")
    v.add_argument("--out", type=Path, help="folder for cases.json and report.json")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument("--workers", type=positive_int, default=None,
                   help="study cases rendered and decoded at once (default: all cores; results do not depend on it)")
    add_device_args(v, threads=False)
    v.set_defaults(handler=cmd_validate)


def cmd_render(args: argparse.Namespace) -> int:
    from ..render.renderer import RenderSettings, export
    from ..stage.load import load_stage

    progress(f"loading {args.scene}")
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
    chosen = cameras if cameras is not None else list(range(len(scene.cameras)))
    meter = RenderMeter(scene, chosen, args.spp)
    progress(meter.plan())
    threads = args.threads or os.cpu_count() or 1
    written = export(scene, args.out, device=args.device, settings=RenderSettings(spp=args.spp, seed=args.seed),
                     cameras=cameras, threads=threads, progress=meter)
    progress(f"rendered {len(written) // 2} images in {time.perf_counter() - meter.t0:.1f} s "
             f"({meter.rate() / 1e6:.2f} M samples/s)")
    for path in written:
        print(path)
    return 0


class RenderMeter:
    """Progress of `swb render`: what it will cost up front, then a line every LOG_EVERY_S seconds with the rate
    measured so far and the time left."""

    LOG_EVERY_S = 5.0

    def __init__(self, scene, cameras: list[int], spp: int) -> None:  # noqa: ANN001 - Scene
        self.scene, self.cameras, self.spp = scene, cameras, spp
        self.pixels = [scene.cameras[c].width * scene.cameras[c].height for c in cameras]
        self.total = sum(self.pixels)
        self.before = dict(zip(cameras, np.cumsum([0, *self.pixels[:-1]]).tolist(), strict=True))
        self.done = 0
        self.t0 = time.perf_counter()
        self.last = self.t0

    def plan(self) -> str:
        return (f"rendering {len(self.cameras)} camera{'s' if len(self.cameras) != 1 else ''}, "
                f"{self.total / 1e6:.1f} Mpixel at {self.spp} samples per pixel = {self.total * self.spp / 1e6:,.0f} "
                "M samples (a CPU core traces about 1 M samples/s: use --camera, a lower --spp or --device cuda "
                "for a quicker look)")

    def rate(self) -> float:
        return self.done * self.spp / max(time.perf_counter() - self.t0, 1e-9)

    def __call__(self, camera: int, done: int, total: int) -> None:
        self.done = self.before[camera] + done
        now = time.perf_counter()
        if now - self.last < self.LOG_EVERY_S and done < total:
            return
        self.last = now
        left = (self.total - self.done) * self.spp / max(self.rate(), 1e-9)
        k = self.cameras.index(camera) + 1
        progress(f"render camera {k}/{len(self.cameras)} {self.scene.cameras[camera].path}: {100 * done / total:.0f} "
                 f"%, {self.rate() / 1e6:.2f} M samples/s, about {_duration(left)} left")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def cmd_validate(args: argparse.Namespace) -> int:
    from ..engine.profiles import PROFILES
    from ..render.calibration import calibration, fit_read_link, format_calibration
    from ..render.fitting import agreement, fit_profile, format_report
    from ..render.renderer import RenderSettings
    from ..render.study import DESIGN_NAMES, load_cases, remodel_study, run_study, save_cases, validate_scene

    if args.transits is not None:
        return _validate_transits(args)
    sources = [x for x in (args.scene, args.study, args.cases) if x is not None]
    if len(sources) != 1:
        raise SwbError("give exactly one of SCENE, --study N, --transits N or --cases FILE",
                       hint="e.g. swb validate --study 600 --seed 0")
    if args.profile is not None and args.profile not in PROFILES:
        raise SwbError(f"unknown decoder profile {args.profile!r}", hint=f"use one of {', '.join(PROFILES)}")
    if args.remodel and (args.cases is None or len(args.cases) != 1 or args.seed is None):
        raise SwbError("--remodel needs one --cases FILE and the --seed of the study that wrote it",
                       hint="e.g. swb validate --cases study/cases.json --seed 0 --remodel")
    if args.fit_link and args.scene is not None:
        raise SwbError("--fit-link needs one profile for every case: a study (--study or --cases)",
                       hint="e.g. swb validate --cases s3/cases.json --cases s4/cases.json --fit-link")
    if args.design is not None and (args.study is None or args.design not in DESIGN_NAMES):
        raise SwbError(f"--design {args.design} needs --study N and one of: {', '.join(DESIGN_NAMES)}",
                       hint="e.g. swb validate --study 600 --seed 50 --design angle --out s50/")
    seed = 0 if args.seed is None else args.seed
    t0 = time.perf_counter()
    groups: list[int] = []  # the study each case comes from: the read link is cross-validated by study
    if args.cases is not None:
        cases = []
        for k, path in enumerate(args.cases):
            if not path.is_file():
                raise SwbError("file not found", file=str(path), hint="write one with --out DIR (cases.json)")
            cases += load_cases(path)
            groups += [k] * (len(cases) - len(groups))
        title = f"cases from {', '.join(map(str, args.cases))}"
        if args.remodel:
            cases = remodel_study(cases, seed, device=args.device)
            title += f" (model recomputed, seed {seed})"
    elif args.study is not None:
        workers = getattr(args, "workers", None) or os.cpu_count() or 1
        cases = run_study(args.study, seed, device=args.device, workers=workers, design=args.design,
                          progress=lambda k, n: progress(f"{k}/{n} cases") if k % 50 == 0 or k == n else None)
        title = f"study of {args.study} randomised cases, seed {seed}"
        if args.design:
            title += f", every case probing {args.design}"
    else:
        from ..stage.load import load_stage

        progress(f"loading {args.scene}")
        _, scene = load_stage(args.scene)
        cases = validate_scene(scene, device=args.device, settings=RenderSettings(seed=seed),
                               profile=args.profile)
        title = f"{args.scene}: {len(cases)} camera x target pairs in front of their camera"
    progress(f"{len(cases)} cases in {time.perf_counter() - t0:.1f} s")

    # A study is scored under one profile (zxing unless --profile); a scene under each camera's own profile.
    profile = None
    if args.scene is None:
        profile = PROFILES[args.profile or "zxing"]
        title += f", profile {profile.name}"
    ag = agreement(cases, profile)
    report = {"title": title, "agreement": ag.to_json()}
    text = format_report(cases, ag, title)
    if profile is not None:  # one profile for every case: its read probabilities can be checked
        cal = calibration(cases, profile)
        report["calibration"] = cal.to_json()
        text += "\n\n" + format_calibration(cal, f"read probability (p_read) under {profile.name}")
    if args.fit:
        fit = fit_profile(cases)
        p = fit.profile
        report["fit"] = {"ppm_threshold": list(p.ppm_threshold), "blur_limit": list(p.blur_limit),
                         "scanline": p.scanline, "min_visible": list(p.min_visible), "clear_row": p.clear_row,
                         "scan_cover": list(p.scan_cover), "threshold_scale": dict(p.threshold_scale),
                         "quiet_zone": list(p.quiet_zone), "line_view": p.line_view, "max_tilt": list(p.max_tilt),
                         "agreement": fit.train_agreement, "held_out_agreement": fit.test_agreement,
                         "method": fit.method}
        held = "n/a" if fit.test_agreement is None else f"{100 * fit.test_agreement:.1f} %"
        text += (f"\n\nfitted profile (classes linear/pdf417/datamatrix/qr/aztec): T = {p.ppm_threshold}, "
                 f"B = {p.blur_limit}, scanline = {p.scanline}, min_visible = "
                 f"{tuple(round(v, 3) for v in p.min_visible)}, clear_row = {p.clear_row}, scan_cover = "
                 f"{p.scan_cover}, threshold_scale = {dict(p.threshold_scale)}, quiet_zone = {p.quiet_zone}, "
                 f"line_view = {p.line_view}, max_tilt = {p.max_tilt}\n"
                 f"  agreement {100 * fit.train_agreement:.1f} % "
                 f"(fitted on the even half, the odd half agrees {held})\n  method: {fit.method}")
    if args.fit_link or (args.fit and profile is not None):
        base = p if args.fit else profile
        link = fit_read_link(cases, base, np.asarray(groups or [0] * len(cases)))
        cv = calibration(cases, link.profile, link.held_out_p)
        report.setdefault("fit", {})
        report["fit"] |= {"read_m90": list(link.profile.read_m90), "read_slope": list(link.profile.read_slope),
                          "read_link_folds": link.folds, "read_link_calibration": cv.to_json()}
        how = (f"each of {link.folds} studies predicted by a link fitted on the others" if link.folds
               else "one study: fitted and checked on the same cases")
        text += (f"\n\nread-probability link of {'the fitted profile' if args.fit else base.name} (logistic in ln "
                 f"of the decisive margin, per class): m90 = {link.profile.read_m90}, "
                 f"slope = {link.profile.read_slope}\n" + format_calibration(cv, f"  calibration, {how}"))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        save_cases(args.out / "cases.json", cases)
        write_text_atomic(args.out / "report.json", json.dumps(report, indent=1))
        progress(f"wrote {args.out / 'cases.json'} and {args.out / 'report.json'}")
    print(json.dumps(report, indent=1) if args.json else text)
    return 0


def _validate_transits(args: argparse.Namespace) -> int:
    from ..render.transit_study import format_transit_report, run_transit_study, transit_report

    if any(x is not None for x in (args.scene, args.study, args.cases)):
        raise SwbError("give exactly one of SCENE, --study N, --transits N or --cases FILE",
                       hint="e.g. swb validate --transits 200 --seed 40")
    seed = 0 if args.seed is None else args.seed
    workers = getattr(args, "workers", None) or os.cpu_count() or 1
    t0 = time.perf_counter()
    cases = run_transit_study(args.transits, seed, phases=args.phases, device=args.device, workers=workers,
                              progress=lambda k, n: progress(f"{k}/{n} study indices") if k % 10 == 0 or k == n
                              else None)
    progress(f"{len(cases)} uncertain transits rendered in {time.perf_counter() - t0:.0f} s")
    report = transit_report(cases) | {"seed": seed, "cases": [c.to_json() for c in cases]}
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out / "transits.json", json.dumps(report, indent=1))
        progress(f"wrote {args.out / 'transits.json'}")
    print(json.dumps(report, indent=1) if args.json else format_transit_report(report))
    return 0

