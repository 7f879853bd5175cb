"""`swb import`, `swb add-camera`, `swb add-target`: bring a CAD station into USD and equip it.

    swb import station.step -o out/station.usda
    swb add-camera out/station.usda -o out/sensors.usda --path /World/Cameras/Top \\
        --position 0 0 2 --look-at 0 0 0 --focal-length-mm 16 --resolution 1920 1200
    swb add-target out/station.usda -o out/sensors.usda --path /World/Targets/Label \\
        --position 0 0 0.5 --normal 0 0 1 --symbology code128 --module-size-mm 0.33 --modules 90 1
    swb eval out/sensors.usda

Handlers return an exit code and raise SwbError for user errors (the `swb` main prints it on one line).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from .common import add_device_args, progress

Handler = Callable[[argparse.Namespace], int]


def _cmd_import(args: argparse.Namespace) -> int:
    from ..cad.importer import import_model

    progress(f"importing {args.model}")
    result = import_model(
        args.model,
        args.out,
        meters_per_unit=args.meters_per_unit,
        up_axis=args.up_axis,
        source_units=args.source_units,
        source_up_axis=args.source_up_axis,
        root_name=args.root_name,
        model_name=args.name,
        joints=args.joints,
        tolerance=args.tolerance,
        angular_tolerance=args.angular_tolerance,
        overwrite=args.force,
    )
    for note in result.notes:
        progress(f"note: {note}")
    plan = result.plan
    n_instances = sum(1 for p in plan.prims if p.instance_of is not None)
    n_protos = len({p.instance_of for p in plan.prims if p.instance_of is not None})
    progress(f"{len(plan.node_paths) - 1} parts, {plan.triangle_count} triangles, "
              f"{n_instances} instances of {n_protos} prototypes, {len(plan.materials)} materials, "
              f"{len(result.joints)} joints; source {result.source.format.upper()} in "
              f"{result.source.meters_per_unit:g} m/unit, {result.source.up_axis} up")
    progress(_where_it_is(result.root_layer))
    for path in [*result.layers.values(), result.root_layer]:
        print(path)
    return 0


def _where_it_is(root: Path) -> str:
    """Where the imported model lies in the new stage: its bounds in stage units and metres, and the axes."""
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(root))
    mpu = UsdGeom.GetStageMetersPerUnit(stage)
    up = UsdGeom.GetStageUpAxis(stage)
    cache = UsdGeom.BBoxCache(Usd.TimeCode.Default(), [UsdGeom.Tokens.default_, UsdGeom.Tokens.render])
    box = cache.ComputeWorldBound(stage.GetPseudoRoot()).ComputeAlignedRange()
    if box.IsEmpty():
        return f"the model has no visible geometry (stage in {mpu:g} m/unit, {up} up)"
    lo, hi = box.GetMin(), box.GetMax()
    span = ", ".join(f"{axis} {lo[i]:.4g}..{hi[i]:.4g}" for i, axis in enumerate("XYZ"))
    size = " x ".join(f"{(hi[i] - lo[i]) * mpu:.3g}" for i in range(3))
    return (f"model bounds {span} (stage units of {mpu:g} m, {up} up): {size} m; place cameras and targets "
            f"in these units")


def _cmd_add_camera(args: argparse.Namespace) -> int:
    from ..stage.authoring import add_camera

    out = add_camera(
        args.stage,
        args.out,
        args.path,
        args.position,
        args.look_at,
        args.focal_length_mm,
        tuple(args.resolution),
        up=args.up,
        pixel_pitch_um=args.pixel_pitch_um,
        f_number=args.f_number,
        focus_distance=args.focus_distance,
        focus_mode=args.focus_mode,
        focus_range=args.focus_range,
        exposure_time_s=args.exposure_s,
        decoder_profile=args.decoder_profile,
        max_tilt_deg=args.max_tilt,
        wavelength_nm=args.wavelength_nm,
        clipping_range=args.clipping,
    )
    pinhole = "pinhole (no defocus)" if args.f_number == 0 else f"f/{args.f_number:g}"
    exposure = "no exposure time (no motion blur)" if args.exposure_s is None else \
        f"exposure {args.exposure_s * 1e3:g} ms"
    progress(f"camera {args.path} written to {out}: {args.resolution[0]} x {args.resolution[1]} pixels of "
             f"{args.pixel_pitch_um:g} um, {args.focal_length_mm:g} mm {pinhole}, {args.focus_mode} focus, {exposure}, "
             f"decoder profile {args.decoder_profile}")
    print(out)
    return 0


def _cmd_add_target(args: argparse.Namespace) -> int:
    from ..stage.authoring import add_target

    out = add_target(
        args.stage,
        args.out,
        args.path,
        args.position,
        args.normal,
        args.symbology,
        args.module_size_mm,
        tuple(args.modules),
        u_axis=args.u_axis,
        bar_height_mm=args.bar_height_mm,
        quiet_zone=args.quiet_zone,
        print_contrast=args.print_contrast,
        velocity=args.velocity,
        content=args.content,
    )
    progress(f"target {args.path} written to {out}")
    print(out)
    return 0


def _exposure(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be seconds or 'none', got {text!r}") from None
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _add_layer_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("stage", type=Path, help="the station (e.g. the root layer written by `swb import`)")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help=f"layer to author the {what} in: created (sublayering the station) or extended")
    p.add_argument("--path", required=True, help=f"prim path of the {what}, e.g. /World/{what.title()}s/A")


def add_import_commands(subparsers: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add `import`, `add-camera` and `add-target`; returns {command: handler} for the main dispatch."""
    from ..engine.profiles import PROFILES, SYMBOLOGIES
    from ..stage import authoring

    imp = subparsers.add_parser("import", help="import a CAD/mesh model (STEP, glTF, OBJ, STL, ...) as layered USD")
    imp.add_argument("model", type=Path, help="STEP/STP, IGES, glTF/GLB, OBJ, STL, PLY, OFF, 3MF, ...")
    imp.add_argument("-o", "--out", type=Path, required=True,
                     help="root USD layer to write; sublayers go next to it (NAME.geometry.usdc, ...)")
    imp.add_argument("--meters-per-unit", type=float, default=1.0,
                     help="stage units (default 1.0: metres; 0.001 for a millimetre stage)")
    imp.add_argument("--up-axis", choices=("Y", "Z"), default="Z", help="stage up axis (default Z)")
    imp.add_argument("--source-units", default=None,
                     help="units of the model (mm, cm, m, in, ft); default: from the file (STEP, glTF: "
                          "metres after conversion), else metres")
    imp.add_argument("--source-up-axis", choices=("Y", "Z"), default=None,
                     help="up axis of the model (default: Y for glTF and OBJ, Z otherwise)")
    imp.add_argument("--root-name", default="World", help="default prim of the stage (default World)")
    imp.add_argument("--name", default=None, help="prim name of the model under the root (default: file stem)")
    imp.add_argument("--joints", type=Path, default=None, help="kinematic hint file (JSON) -> a joints layer")
    imp.add_argument("--tolerance", type=float, default=None,
                     help="STEP/IGES meshing: linear deflection in the CAD file's units (cascadio default 0.01)")
    imp.add_argument("--angular-tolerance", type=float, default=None,
                     help="STEP/IGES meshing: angular deflection in radians (cascadio default 0.5)")
    imp.add_argument("--force", action="store_true", help="replace existing output files")

    cam = subparsers.add_parser("add-camera", help="add a sensor camera in a layer over a station")
    _add_layer_args(cam, "camera")
    cam.add_argument("--position", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"),
                     help="scene units, stage axes")
    cam.add_argument("--look-at", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"))
    cam.add_argument("--up", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                     help="image up direction (default: the stage's up axis)")
    d = authoring
    cam.add_argument("--focal-length-mm", type=float, default=d.DEFAULT_FOCAL_LENGTH_MM,
                     help=f"lens focal length (default {d.DEFAULT_FOCAL_LENGTH_MM:g})")
    cam.add_argument("--resolution", type=int, nargs=2, default=d.DEFAULT_RESOLUTION, metavar=("W", "H"),
                     help="sensor pixels (default {} {})".format(*d.DEFAULT_RESOLUTION))
    cam.add_argument("--pixel-pitch-um", type=float, default=d.DEFAULT_PIXEL_PITCH_UM,
                     help=f"pixel pitch (default {d.DEFAULT_PIXEL_PITCH_UM:g}, a Sony IMX392-class sensor)")
    cam.add_argument("--f-number", type=float, default=d.DEFAULT_F_NUMBER,
                     help=f"lens aperture (default {d.DEFAULT_F_NUMBER:g}; 0: a pinhole, no defocus)")
    cam.add_argument("--focus-distance", type=float, default=None,
                     help="scene units (default: the distance to --look-at)")
    cam.add_argument("--focus-mode", choices=("fixed", "autofocus"), default="fixed")
    cam.add_argument("--focus-range", type=float, nargs=2, default=None, metavar=("NEAR", "FAR"))
    cam.add_argument("--exposure-s", type=_exposure, default=d.DEFAULT_EXPOSURE_S,
                     help=f"exposure time in seconds (default {d.DEFAULT_EXPOSURE_S:g}; 'none': no exposure time, "
                     "so no motion blur and no light check)")
    cam.add_argument("--decoder-profile", choices=tuple(PROFILES), default="industrial")
    cam.add_argument("--max-tilt", type=float, default=None, help="degrees (default 60)")
    cam.add_argument("--wavelength-nm", type=float, default=None)
    cam.add_argument("--clipping", type=float, nargs=2, default=None, metavar=("NEAR", "FAR"),
                     help="scene units (default 1 cm to 1 km)")

    tgt = subparsers.add_parser("add-target", help="add a barcode target in a layer over a station")
    _add_layer_args(tgt, "target")
    tgt.add_argument("--position", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                     help="symbol centre, scene units (omit with --normal to label an existing prim in place)")
    tgt.add_argument("--normal", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                     help="the side the symbol is read from")
    tgt.add_argument("--u-axis", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                     help="direction across the bars (default horizontal)")
    tgt.add_argument("--symbology", choices=tuple(SYMBOLOGIES), required=True)
    tgt.add_argument("--module-size-mm", type=float, required=True, help="narrow element width X in mm")
    tgt.add_argument("--modules", type=int, nargs=2, required=True, metavar=("COLS", "ROWS"),
                     help="module counts (1-D: total modules across and 1)")
    tgt.add_argument("--bar-height-mm", type=float, default=None)
    tgt.add_argument("--quiet-zone", type=float, default=None, help="modules (default: by symbology)")
    tgt.add_argument("--print-contrast", type=float, default=None)
    tgt.add_argument("--velocity", type=float, nargs=3, default=None, metavar=("VX", "VY", "VZ"),
                     help="scene units per second")
    tgt.add_argument("--content", default=None)

    handlers: dict[str, Handler] = {"import": _cmd_import, "add-camera": _cmd_add_camera,
                                    "add-target": _cmd_add_target}
    for name, parser in (("import", imp), ("add-camera", cam), ("add-target", tgt)):
        add_device_args(parser, threads=False)  # accepted like everywhere; these commands run no kernel
        parser.set_defaults(handler=handlers[name])
    return handlers
