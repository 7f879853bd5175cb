"""The `swb` command: evaluate a station, query a camera or target, save and restore, run the demo.

Every user error ends as one line on stderr and exit status 2; nothing is written when the input is bad.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import NoReturn

from ..errors import SwbError, SwbWarning
from .common import add_device_args, progress
from .transit import add_transit_arg, run_transit

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one readable line, not a usage dump
        self.exit(EXIT_USER_ERROR, f"swb: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="swb", description="Sensor Workbench: barcode decodability per camera on a USD station.",
                     epilog="Start with `swb demo`; `swb COMMAND --help` explains each command.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="evaluate the bundled scan tunnel, run a small placement sweep, write results")
    demo.add_argument("--out", type=Path, default=Path("swb-demo"), help="folder for results (default ./swb-demo)")
    add_device_args(demo)
    demo.set_defaults(handler=_cmd_demo)

    ev = sub.add_parser("eval", help="evaluate every sensor camera against every barcode target")
    ev.add_argument("scene", type=Path, help="a USD station (.usd, .usda, .usdc)")
    ev.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    ev.add_argument("--out", type=Path, help="folder for a saved simulation (<scene>.swb.usda) and its results file: "
                    "<scene>.results.json up to 1,000,000 pairs, <scene>.results.parquet above (docs/results.md)")
    ev.add_argument("--results", type=Path, metavar="FILE",
                    help="write the results to FILE alone: .json (up to 1,000,000 pairs) or .parquet (any size, "
                    "needs swb[parquet])")
    ev.add_argument("--save", type=Path, help="save the whole simulation state as this USD file")
    add_transit_arg(ev)
    add_device_args(ev)
    ev.set_defaults(handler=_cmd_eval)

    q = sub.add_parser("query", help="one camera's view of every target, or every camera's view of one target")
    q.add_argument("scene", type=Path, help="a USD station (.usd, .usda, .usdc)")
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--camera", help="prim path of a sensor camera")
    who.add_argument("--target", help="prim path of a barcode target")
    q.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    add_device_args(q)
    q.set_defaults(handler=_cmd_query)

    rs = sub.add_parser("restore", help="restore a saved simulation and show its results and UI state")
    rs.add_argument("save", type=Path, help="the root file written by `swb eval --save` or Simulation.save")
    rs.add_argument("--json", action="store_true", help="print results and UI state as JSON on stdout")
    rs.add_argument("--check", action="store_true", help="re-evaluate and verify the results are identical")
    rs.add_argument("--viz", type=Path, metavar="DIR",
                    help="re-create the saved picture (the UI state's visualisation mode) in DIR")
    add_transit_arg(rs)
    add_device_args(rs)
    rs.set_defaults(handler=_cmd_restore)

    from .cad import add_import_commands
    from .optimize import add_optimize_commands
    from .render import add_render_commands
    from .safety import add_safety_command
    from .schemas import add_schemas_commands
    from .sweep import add_sweep_commands
    from .view import add_view_commands
    from .viz import add_viz_commands

    add_sweep_commands(sub)
    add_import_commands(sub)
    add_viz_commands(sub)
    add_render_commands(sub)
    add_safety_command(sub)
    add_optimize_commands(sub)
    add_schemas_commands(sub)
    add_view_commands(sub)
    return parser


def _evaluate(sim, label: str):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    res = sim.evaluate()
    n = len(res.cameras) * len(res.targets)
    progress(f"{label}: {len(res.cameras)} cameras x {len(res.targets)} targets = {n} pairs "
              f"in {time.perf_counter() - t0:.2f} s")
    return res


def _open(path: Path, args: argparse.Namespace):  # noqa: ANN202
    import swb

    progress(f"loading {path}")
    sim = swb.open(path, device=args.device, threads=args.threads)
    progress(f"{len(sim.scene.cameras)} sensor cameras, {len(sim.scene.targets)} targets, "
              f"{sum(len(p.triangles) for p in sim.scene.parts)} triangles")
    return sim


def _write_outputs(sim, res, frame, out: Path | None, save: Path | None, stem: str,  # noqa: ANN001
                   extra: dict | None = None) -> list[Path]:
    """The save and its results file under --out (JSON, or Parquet above JSON_MAX_PAIRS pairs; ``extra``: more
    entries of its document), and a save at --save."""
    from ..engine.results_files import JSON_MAX_PAIRS, companion, pair_count

    written = []
    if out is not None:  # the results file is part of the save's transaction: both are new, or both as they were
        suffix, content = companion(res, frame, extra=extra)
        if suffix == ".parquet":
            progress(f"{pair_count(res):,} pairs: results as Parquet (JSON holds up to {JSON_MAX_PAIRS:,} pairs)")
        name = f"{stem}.results{suffix}"
        written.append(sim.save(out / f"{stem}.swb.usda", companions={name: content}))
        written.append(out / name)
    if save is not None:
        written.append(sim.save(save))
    return written


def _check_json_size(res) -> None:  # noqa: ANN001
    """--json prints every pair: refused above JSON_MAX_PAIRS (the text alone would be gigabytes)."""
    from ..engine.results_files import JSON_MAX_PAIRS, pair_count

    if pair_count(res) > JSON_MAX_PAIRS:
        raise SwbError(f"{pair_count(res):,} pairs are too many for --json (at most {JSON_MAX_PAIRS:,})",
                       hint="write them with --results FILE.parquet")


def json_frame(sim):  # noqa: ANN001, ANN201 - Simulation -> JsonFrame
    """The simulation's stage units and axes for JSON positions in the stage's own terms."""
    import numpy as np

    from ..engine.results import JsonFrame
    from ..stage.units import stage_to_world

    mpu, up = float(sim.scene.meters_per_unit), sim.scene.up_axis
    return JsonFrame(mpu, up, np.linalg.inv(stage_to_world(mpu, up)[:3, :3]))


def _transit_doc(tr) -> dict:  # noqa: ANN001
    """The results document's transit entry (none when no label moves)."""
    return {} if tr is None else {"transit": tr.to_json()}


def _cmd_eval(args: argparse.Namespace) -> int:
    from ..report import full_report

    if args.results is not None:  # a bad name fails before the evaluation
        from ..engine.results_files import check_name

        check_name(args.results)
    sim = _open(args.scene, args)
    res = _evaluate(sim, "evaluated")
    tr = run_transit(sim, args.transit)
    extra = _transit_doc(tr)
    frame = json_frame(sim)
    if args.json:
        _check_json_size(res)
    if args.results is not None:
        from ..engine.results_files import check_writable

        check_writable(args.results, res)
    sim.release_world()  # nothing is evaluated from here on: its memory goes before the files are written
    written = _write_outputs(sim, res, frame, args.out, args.save, args.scene.stem, extra)
    if args.results is not None:
        from ..engine.results_files import write_results

        t0 = time.perf_counter()
        written.append(write_results(args.results, res, frame, extra=extra))
        progress(f"results file written in {time.perf_counter() - t0:.2f} s")
    print(json.dumps(res.to_json(frame) | extra, indent=1) if args.json else full_report(res, tr))
    for path in written:
        progress(f"wrote {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import swb

    from ..report import full_report, transit_report

    scene = swb.bundled_scene("scan_tunnel")
    sim = _open(scene, args)
    res = _evaluate(sim, "evaluated")
    tr = run_transit(sim)
    print(full_report(res, tr))
    from .sweep import run_demo_sweep

    print()
    print(run_demo_sweep(sim))
    written = _write_outputs(sim, res, json_frame(sim), args.out, None, scene.stem, _transit_doc(tr))
    for path in written:
        progress(f"wrote {path}")

    # A station built to read: every face of every parcel, the bottom through a gap in the belt.
    six = swb.bundled_scene("six_sided_tunnel")
    sim6 = _open(six, args)
    res6 = _evaluate(sim6, "evaluated")
    tr6 = run_transit(sim6)
    print(f"\n\nsix-sided tunnel ({six.name}): 2 m/s belt with a bottom-read gap, parcels of 0.1 to 0.8 m, labels on "
          "every face, read as they pass\n")
    if tr6 is not None:
        print(transit_report(res6, tr6))
    written6 = _write_outputs(sim6, res6, json_frame(sim6), args.out, None, six.stem, _transit_doc(tr6))
    for path in written6:
        progress(f"wrote {path}")
    print(f"\nresults: {written[0]} and {written6[0]} (open them in a USD viewer; `swb restore {written[0]}` brings "
          "the first back)")
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from ..report import camera_rows_table, target_rows_table

    sim = _open(args.scene, args)
    res = _evaluate(sim, "evaluated")
    if args.camera:
        rows, text = res.camera(args.camera), camera_rows_table
        key = args.camera
    else:
        rows, text = res.target(args.target), target_rows_table
        key = args.target
    if args.json:
        from ..engine.results import json_units

        print(json.dumps({"query": key, "units": json_units(), "pairs": [r.to_json() for r in rows]}, indent=1))
    else:
        print(text(res, key))
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    import swb

    from ..report import full_report

    sim = swb.restore(args.save, device=args.device, threads=args.threads)
    res = sim.results
    if res is None:
        progress("the save holds no results; evaluating")
        res = _evaluate(sim, "evaluated")
    tr = run_transit(sim, args.transit)  # derived from the restored scene, like the tables
    ui = sim.ui
    picture = None
    if args.viz is not None:  # the recorded picture, or a view of the station coloured by the saved mode
        from ..viz.modes import regenerate

        picture = regenerate(sim, args.viz, name=f"{args.save.stem}.{ui.visualisation_mode.replace('none', 'view')}",
                             label=args.save.name)
    if args.json:
        doc = res.to_json(json_frame(sim)) | _transit_doc(tr)
        doc["ui"] = {"active_camera": ui.active_camera, "selection": ui.selection,
                     "visualisation_mode": ui.visualisation_mode,
                     "viewer_camera_transform": [list(r) for r in ui.viewer_camera_transform],  # stage units
                     "viz_parameters": ui.viz_parameters}
        if picture is not None:
            doc["viz"] = picture.summary()
        print(json.dumps(doc, indent=1))
    else:
        print(full_report(res, tr))
        print(f"\nUI state: active camera {ui.active_camera or '-'}, {len(ui.selection)} selected, "
              f"visualisation {ui.visualisation_mode}")
        if picture is not None:
            for kind, path in picture.files.items():
                progress(f"re-created {kind}: {path}")
    if args.check:
        stored = res.pairs.copy()
        t0 = time.perf_counter()
        fresh = sim.evaluate(full=True)  # every pair recomputed from the restored stage
        progress(f"re-evaluated in {time.perf_counter() - t0:.2f} s")
        if not fresh.pairs.equal(stored):
            print("swb: error: re-evaluating the restored stage does not reproduce the saved results", file=sys.stderr)
            return 1
        progress("check: re-evaluation reproduces the saved results bit for bit")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """SWB's warnings as one line each; other libraries' warnings stay as Python prints them."""
    if issubclass(category, SwbWarning):
        print(f"swb: warning: {message}", file=sys.stderr, flush=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


class _Interrupts:
    """Ctrl-C raises KeyboardInterrupt as usual, and is remembered: a library that catches the exception and
    raises another in its place (or goes on) cannot turn an interrupt into a traceback or a wrong status."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, signum: int, frame: object) -> None:
        self.seen = True
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run one `swb` command. USD's own diagnostics are caught for the whole command and folded into SWB's one
    error line, or printed as one warning line at the end; SWB's warnings are one line each. Ctrl-C ends it with
    status 130 (commands that write results first finish what they are writing)."""
    interrupts = _Interrupts()
    in_main = threading.current_thread() is threading.main_thread()
    previous_sigint = signal.signal(signal.SIGINT, interrupts) if in_main else None
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return _run(argv, interrupts)
    except KeyboardInterrupt:
        print("swb: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        warnings.showwarning = previous
        if in_main:
            signal.signal(signal.SIGINT, previous_sigint)


def _run(argv: list[str] | None, interrupts: _Interrupts) -> int:
    args = build_parser().parse_args(argv)
    from ..stage.diagnostics import allowing_missing, captured, summary

    with captured() as usd, allowing_missing(getattr(args, "allow_missing", False)):
        try:
            code = args.handler(args)
        except SwbError as exc:
            error, code = str(exc), EXIT_USER_ERROR
        except KeyboardInterrupt:
            error, code = "interrupted", EXIT_INTERRUPTED
        except Exception:
            if not interrupts.seen:
                raise
            error, code = "interrupted", EXIT_INTERRUPTED  # a library turned the interrupt into an error
        else:
            error = None
        if interrupts.seen and error is not None:
            error, code = "interrupted", EXIT_INTERRUPTED
    leftovers = usd.others()
    if error is not None:
        folded = f" [{summary(leftovers)}]" if leftovers else ""
        if code == EXIT_INTERRUPTED:
            print(f"swb: interrupted{folded}", file=sys.stderr)
            return code
        print(f"swb: error: {error}{folded}", file=sys.stderr)
        return EXIT_USER_ERROR
    if leftovers:
        print(f"swb: warning: {summary(leftovers)}", file=sys.stderr)
    return code

