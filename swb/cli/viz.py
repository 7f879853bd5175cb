"""`swb viz sphere|plane|projection|view SCENE ...`: pictures of decodability as PNG and a USD overlay.

``add_viz_commands(subparsers)`` adds `viz` with one sub-command per mode; each parser carries its handler as
``handler`` (a function of the parsed arguments returning an exit code). User errors raise ``swb.SwbError``.
SCENE may be a plain stage or a save written by `swb eval --save` (its configuration edits then apply).
``regenerate_pictures(sim, out_dir)`` is what `swb restore SAVE --viz DIR` calls.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..viz.probes import ProbeSymbol
from .common import add_device_args, positive_int, progress


def _modules(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        counts = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or COLSxROWS, got {text!r}") from None
    if len(counts) > 2 or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected N or COLSxROWS of positive counts, got {text!r}")
    return counts[0], counts[1] if len(counts) == 2 else 1


def _common(p: argparse.ArgumentParser, cameras: bool = True) -> None:
    p.add_argument("scene", type=Path, help="a USD station, or a save from `swb eval --save`")
    p.add_argument("--out", type=Path, required=True, help="folder for NAME.png, NAME.viz.usda and NAME.usda")
    p.add_argument("--name", help="file name stem of the picture (default: <scene>.<mode>)")
    p.add_argument("--save", type=Path, help="also save the simulation, its UI state recording this picture "
                   "(`swb restore SAVE --viz DIR` makes it again)")
    p.add_argument("--json", action="store_true", help="print a summary as JSON")
    if cameras:
        p.add_argument("--camera", action="append", dest="cameras", metavar="PATH",
                       help="judge by this sensor camera (repeatable; default: the best of all cameras)")
    add_device_args(p)


def _symbol_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("probe symbol")
    g.add_argument("--symbology", default="code128", help="code128, ean13, qrcode, datamatrix, ... (default code128)")
    g.add_argument("--module-size-mm", dest="module_mm", type=float, default=ProbeSymbol.module_size * 1e3,
                   help="module size (narrow element width X) in millimetres (default 0.5, a shipping label)")
    g.add_argument("--modules", type=_modules, default=(100, 1), metavar="N|COLSxROWS",
                   help="modules across (1-D, e.g. 100) or columns x rows (2-D, e.g. 21x21) (default 100)")
    g.add_argument("--bar-height-mm", type=float, default=None, help="1-D bar height (default 15 %% of the length)")
    g.add_argument("--quiet-zone", type=float, default=None, help="quiet zone in modules (default: by symbology)")


def add_viz_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `viz` with the sub-commands sphere, plane, projection and view."""
    viz = subparsers.add_parser("viz", help="pictures of decodability: sphere, plane, projection, view")
    modes = viz.add_subparsers(dest="viz_mode", required=True, metavar="MODE")

    s = modes.add_parser("sphere", help="every orientation of a symbol at a point, as an equal-area map")
    _common(s)
    s.add_argument("--point", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"),
                   help="symbol centre in stage units and axes")
    s.add_argument("--resolution", type=positive_int, default=64,
                   help="azimuth steps; elevation gets half (default 64)")
    s.add_argument("--rotations", type=positive_int, default=8, help="in-plane rotations over 180 deg (default 8)")
    s.add_argument("--reduce", choices=("mean", "min", "max"), default="mean",
                   help="score over the in-plane rotations (default mean)")
    s.add_argument("--color-by", dest="quantity", choices=("score", "camera"), default="score",
                   help="colour the sphere by score or by the best camera (default score)")
    s.add_argument("--radius", type=float, default=None, help="sphere radius in stage units (default 0.1 m)")
    _symbol_options(s)
    s.set_defaults(handler=cmd_viz)

    p = modes.add_parser("plane", help="a plane of symbol positions in one orientation, as a heat map")
    _common(p)
    p.add_argument("--origin", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"), help="plane centre")
    p.add_argument("--normal", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"), help="plane normal")
    p.add_argument("--extent", type=float, nargs=2, required=True, metavar=("A", "B"),
                   help="size along the two plane axes, stage units")
    p.add_argument("--resolution", type=positive_int, nargs=2, default=[96, 64], metavar=("NA", "NB"),
                   help="samples along the two plane axes (default 96 64)")
    p.add_argument("--u-axis", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                   help="direction of the first plane axis (default: horizontal)")
    p.add_argument("--symbol-normal", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                   help="symbols face this way instead of lying in the plane")
    p.add_argument("--roll", dest="roll_deg", type=float, default=0.0, help="in-plane rotation in degrees")
    p.add_argument("--quantity", choices=("score", "ppm", "limiting"), default="score")
    _symbol_options(p)
    p.set_defaults(handler=cmd_viz)

    r = modes.add_parser("projection", help="from a camera's pixels onto every surface: where a label reads")
    _common(r, cameras=False)
    r.add_argument("--camera", required=True, metavar="PATH", help="the sensor camera that casts the rays")
    r.add_argument("--stride", type=positive_int, default=8, help="one ray every N pixels (default 8)")
    r.add_argument("--all-cameras", action="store_true", help="judge by the best of all cameras, not this one")
    r.add_argument("--quantity", choices=("score", "ppm", "limiting"), default="score")
    _symbol_options(r)
    r.set_defaults(handler=cmd_viz)

    v = modes.add_parser("view", help="a shaded picture of the station with frusta and target status")
    _common(v, cameras=False)
    v.add_argument("--from-camera", metavar="PATH", help="look through this sensor camera (default: three-quarter)")
    v.add_argument("--width", type=positive_int, default=1280)
    v.add_argument("--height", type=positive_int, default=800, help="ignored with --from-camera (its aspect)")
    v.add_argument("--azimuth", dest="azimuth_deg", type=float, default=-40.0, help="eye azimuth from +X, degrees")
    v.add_argument("--elevation", dest="elevation_deg", type=float, default=35.0, help="eye elevation, degrees")
    v.add_argument("--fov", dest="fov_deg", type=float, default=40.0, help="vertical field of view, degrees")
    v.add_argument("--samples", type=positive_int, default=2, help="samples per pixel axis (default 2)")
    v.add_argument("--no-frusta", dest="frusta", action="store_false", help="leave the camera frusta out")
    v.add_argument("--frustum-length", type=float, default=None,
                   help="frustum length in stage units (default: to the first surface on the optical axis)")
    v.add_argument("--color-by", dest="color_by", choices=("status", "score", "p_read", "limiting", "ppm"),
                   default="status", help="what the targets' colours show (default status: decodes or not; p_read: "
                                          "the best camera's one-frame read probability)")
    v.set_defaults(handler=cmd_viz)


def _open(path: Path, device: str | None, threads: int | None):  # noqa: ANN202 - Simulation
    import swb

    from ..stage.layers import open_layer

    progress(f"loading {path}")
    if isinstance(open_layer(path).customLayerData.get("swb"), dict):
        return swb.restore(path, device=device, threads=threads)
    return swb.open(path, device=device, threads=threads)


def _symbol(args: argparse.Namespace) -> dict[str, Any]:
    from ..viz.probes import ProbeSymbol

    sym = ProbeSymbol(symbology=args.symbology, module_size=args.module_mm * 1e-3, modules=args.modules,
                      bar_height=None if args.bar_height_mm is None else args.bar_height_mm * 1e-3,
                      quiet_zone=args.quiet_zone)
    sym.validate("--symbology/--module-size-mm/--modules")
    return sym.to_json()


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    mode = args.viz_mode
    common = {"name": args.name}
    if mode == "sphere":
        return {**common, "point": args.point, "cameras": args.cameras, "symbol": _symbol(args),
                "resolution": args.resolution, "rotations": args.rotations, "reduce": args.reduce,
                "quantity": args.quantity, "radius": args.radius}
    if mode == "plane":
        return {**common, "origin": args.origin, "normal": args.normal, "extent": args.extent,
                "resolution": args.resolution, "u_axis": args.u_axis, "symbol_normal": args.symbol_normal,
                "roll_deg": args.roll_deg, "cameras": args.cameras, "symbol": _symbol(args),
                "quantity": args.quantity}
    if mode == "projection":
        return {**common, "camera": args.camera, "stride": args.stride, "symbol": _symbol(args),
                "quantity": args.quantity, "all_cameras": args.all_cameras}
    return {**common, "from_camera": args.from_camera, "width": args.width, "height": args.height,
            "azimuth_deg": args.azimuth_deg, "elevation_deg": args.elevation_deg, "fov_deg": args.fov_deg,
            "samples": args.samples, "frusta": args.frusta, "frustum_length": args.frustum_length,
            "color_by": args.color_by}


def _report(res, t0: float, as_json: bool) -> None:  # noqa: ANN001 - VizResult
    summary = res.summary()
    progress(f"{res.mode} picture in {time.perf_counter() - t0:.2f} s")
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    numbers = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()
                        if k not in ("mode", "files", "png_size", "nothing_decodes"))
    print(f"{res.mode}: {numbers}")
    for path in res.files.values():
        print(path)


def cmd_viz(args: argparse.Namespace) -> int:
    from ..viz.modes import run_mode

    params = _parameters(args)  # check the options before loading anything
    sim = _open(args.scene, args.device, args.threads)
    t0 = time.perf_counter()
    params["name"] = params["name"] or f"{args.scene.stem}.{args.viz_mode}"
    res = run_mode(sim, args.viz_mode, params, args.out, record=True)
    _report(res, t0, args.json)
    if args.save is not None:
        progress(f"saved {sim.save(args.save)}")
    return 0


def regenerate_pictures(sim, out_dir: Path, as_json: bool = False) -> int:  # noqa: ANN001 - Simulation
    """For `swb restore SAVE --viz DIR`: make the picture the saved UI state records again (exit code)."""
    from ..viz.modes import regenerate

    t0 = time.perf_counter()
    res = regenerate(sim, out_dir)
    _report(res, t0, as_json)
    return 0
