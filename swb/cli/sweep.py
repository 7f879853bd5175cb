"""`swb sweep`: rank camera configurations (mounting positions, angles, lenses, settings) by sample coverage.

``add_sweep_commands(subparsers)`` adds the sub-command; its parser carries its handler as ``handler`` and the
function also returns {"sweep": handler}. ``run_demo_sweep`` is the small sweep `swb demo` runs on the bundled
scan tunnel. User errors raise ``SwbError`` before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from ..errors import SwbError
from ..sweep.run import stop_on_interrupt
from ..sweep.spec import SAMPLERS
from .cluster import add_cluster_args, cluster_from_args
from .common import add_device_args, positive_int, progress
from .transit import add_transit_arg, progress_every, transit_allowed

Handler = Callable[[argparse.Namespace], int]
DEMO_SPEC = "scan_tunnel_sweep.toml"
EXIT_INTERRUPTED = 130


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _which(text: str) -> str | int:
    if text == "best":
        return text
    try:
        return _non_negative(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be 'best' or a configuration number, got {text!r}") from None


def add_sweep_commands(subparsers: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add `sweep` to the `swb` command's sub-parsers."""
    p = subparsers.add_parser(
        "sweep", help="rank camera configurations (positions, angles, lenses, settings) by sample coverage",
        description="Evaluate every configuration of a sweep (a SwbSweep prim on the stage, or a TOML spec "
        "authored into it) over parcel orientations and positions, and rank the configurations by sample coverage "
        "(the weighted share of label samples some camera reads).")
    p.add_argument("scene", type=Path)
    p.add_argument("--spec", type=Path,
                   help="sweep TOML file to author into the stage (e.g. scenes/scan_tunnel_sweep.toml)")
    p.add_argument("--name", help="which of the stage's sweeps to run (default: its only one)")
    p.add_argument("--samples", type=positive_int, help="number of configurations (overrides the spec)")
    p.add_argument("--seed", type=_non_negative, help="sampler and orientation seed (overrides the spec)")
    p.add_argument("--sampler", choices=SAMPLERS, help="grid, random, lhs or sobol (overrides the spec)")
    p.add_argument("--top", type=positive_int, default=10, help="configurations to list (default 10)")
    p.add_argument("--safety", metavar="RG", help="eye safety: rank configurations with a zone above this risk "
                   "group (exempt, RG1, RG2) last (swb safety, docs/lighting.md)")
    p.add_argument("--chunk", type=positive_int, help="configurations per launch (default: sized to the device)")
    p.add_argument("--out", type=Path, help="folder for <scene>.swb.usda (a save with the sweep's arrays) and the "
                   "files below")
    p.add_argument("--csv", action="store_true", help="also write <scene>.<sweep>.csv (needs --out)")
    p.add_argument("--parquet", action="store_true", help="also write <scene>.<sweep>.parquet (needs --out, pyarrow)")
    p.add_argument("--rows", type=Path, metavar="FILE.parquet",
                   help="stream every configuration's row to this Parquet file as the sweep runs, and keep only the "
                   "--top best in memory (bounded memory for millions of configurations; docs/sweeps.md)")
    p.add_argument("--apply", type=_which, metavar="best|N",
                   help="write that configuration as a new stage <scene>.<sweep>.<best|N>.usda (needs --out) and "
                   "check that it reproduces")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_transit_arg(p)
    add_device_args(p)
    add_cluster_args(p, "configurations")
    p.set_defaults(handler=cmd_sweep)
    return {"sweep": cmd_sweep}


class ProgressBar:
    """A progress bar on a terminal's stderr; elsewhere (a log, a pipe) a line after the first chunk, then one
    every LOG_EVERY_S seconds and one at the end."""

    LOG_EVERY_S = 5.0

    def __init__(self, label: str = "sweep") -> None:
        self.label, self.t0, self.last = label, time.perf_counter(), None
        self.tty = sys.stderr.isatty()
        self.open_line = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.tty:
            if self.last is None or now - self.last >= self.LOG_EVERY_S or done >= total:
                self.last = now
                progress(f"{self.label}: {done:,}/{total:,} configurations {now - self.t0:.1f} s")
            return
        if self.last is not None and now - self.last < 0.1 and done < total:
            return
        self.last = now
        width = 30
        fill = int(width * done / max(total, 1))
        self.open_line = done < total
        print(f"\r[swb] {self.label} [{'#' * fill}{'.' * (width - fill)}] {done:,}/{total:,} configurations "
              f"{now - self.t0:.1f} s", end="" if done < total else "\n", file=sys.stderr, flush=True)

    def stopped(self) -> None:
        """End a bar a Ctrl-C left unfinished, so the next message starts on its own line."""
        if self.open_line:
            print(file=sys.stderr, flush=True)
            self.open_line = False


def _check_outputs(args: argparse.Namespace) -> None:
    wants = [flag for flag, on in (("--csv", args.csv), ("--parquet", args.parquet),
                                   ("--apply", args.apply is not None)) if on]
    if wants and args.out is None:
        raise SwbError(f"{wants[0]} writes files: give --out DIR")
    if args.rows is not None:
        clash = [flag for flag, on in (("--csv", args.csv), ("--parquet", args.parquet),
                                       ("--safety", getattr(args, "safety", None)),
                                       ("--cluster", getattr(args, "cluster", None))) if on]
        if clash:
            raise SwbError(f"--rows keeps only the --top best configurations in memory: {clash[0]} needs them all",
                           hint=f"drop --rows (the rows file already holds every configuration) or {clash[0]}")
        from ..sweep.api import check_rows_path

        check_rows_path(args.rows)
    if args.parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise SwbError("--parquet needs pyarrow", hint="pip install pyarrow, or use --csv") from None


def cmd_sweep(args: argparse.Namespace) -> int:
    import swb

    _check_outputs(args)
    cluster = cluster_from_args(args)
    # Ctrl-C is a request to stop at the next safe point (after loading, after the chunk under way, after the
    # files being written), never an exception inside NumPy, Warp or USD: see swb.sweep.run.stop_on_interrupt
    with stop_on_interrupt() as stop:
        progress(f"loading {args.scene}")
        sim = swb.open(args.scene, device=args.device, threads=args.threads)
        progress(f"{len(sim.scene.cameras)} sensor cameras, {len(sim.scene.targets)} targets")
        if stop.is_set():
            progress("interrupted while loading: nothing evaluated, nothing written")
            return EXIT_INTERRUPTED
        bar = ProgressBar(f"sweep {args.name or ''}".strip())
        try:
            result = sim.sweep(args.name, spec=args.spec, samples=args.samples, seed=args.seed,
                               sampler=args.sampler, chunk=args.chunk, progress=bar, cluster=cluster,
                               rows=args.rows, keep=args.top if args.rows is not None else None)
        finally:
            if cluster is not None:
                cluster.close()
        if not result.complete:  # the configurations done are kept, whole
            bar.stopped()
            progress(f"interrupted: {result.n_done:,} of {result.n_requested:,} configurations evaluated")
            if result.n_done == 0:
                progress("nothing to rank or write: no configuration was finished")
                return EXIT_INTERRUPTED
        if getattr(args, "safety", None):
            from ..safety.constraint import constrain_sweep

            safety = constrain_sweep(sim.stage, result, args.safety, device=args.device)
            progress(f"safety: {int((~safety.ok).sum())} of {result.n_done} configurations put a zone above "
                     f"{args.safety}; ranked last")
        code = _report_and_write(args, sim, result, _applied_index(args, result))
        if stop.is_set():
            progress("interrupted: the files above were finished first, each is whole")
        return EXIT_INTERRUPTED if stop.is_set() else code


def _applied_index(args: argparse.Namespace, result) -> int | None:  # noqa: ANN001 - SweepResult
    """The configuration --apply names; after an interrupt 'best' is the best of those evaluated."""
    if args.apply is None:
        return None
    index = result.best if args.apply == "best" else int(args.apply)
    if index is not None and index < result.n_done:
        if args.apply == "best" and not result.complete:
            progress(f"--apply best: configuration {index}, the best of the {result.n_done:,} evaluated before the "
                     "interrupt")
        return index
    if not result.complete:  # the run was cut short: say so, keep the rest, exit 130
        progress(f"--apply {args.apply}: configuration {args.apply} was not reached before the interrupt (0 to "
                 f"{result.n_done - 1} were evaluated); nothing applied")
        return None
    raise SwbError(f"configuration {args.apply} was not evaluated ({result.n_done} were)",
                   hint=f"use --apply best or a number below {result.n_done}")


def _report_and_write(args: argparse.Namespace, sim, result, index: int | None) -> int:  # noqa: ANN001
    from ..sweep.apply import apply_configuration, verify_applied

    doc = result.to_json(args.top) if args.json else None
    if not args.json:
        print(result.report(args.top))
    transit = _configuration_transit(args, sim, result, index)
    if transit is not None:
        if doc is not None:
            doc["transit"] = transit.to_json()
        else:
            print(transit.line())
    written: list[Path] = [args.rows] if args.rows is not None else []
    stem = args.scene.stem
    if args.out is not None:
        written.append(sim.save(args.out / f"{stem}.swb.usda"))
        if args.csv:
            written.append(result.write_csv(args.out / f"{stem}.{result.name}.csv"))
        if args.parquet:
            written.append(result.write_parquet(args.out / f"{stem}.{result.name}.parquet"))
        if index is not None:
            label = "best" if args.apply == "best" else str(index)
            applied = apply_configuration(sim, result, args.out / f"{stem}.{result.name}.{label}.usda", index)
            written.append(applied)
            check = verify_applied(applied, sim, result, index)
            if doc is not None:
                doc["applied"] = {"stage": str(applied), "config": index, "verified": check.ok,
                                  "sample_coverage": check.coverage_applied}
            (progress if check.ok else _error)(check.message())
            if not check.ok:
                return 1
    if doc is not None:
        doc["written"] = [str(p) for p in written]
        print(json.dumps(doc, indent=1))
    for path in written:
        progress(f"wrote {path}")
    return 0


def _configuration_transit(args: argparse.Namespace, sim, result, index: int | None):  # noqa: ANN001, ANN202
    """The transit read rate of the applied (else the best) configuration next to the station's, when labels move
    and --transit allows (None otherwise)."""
    from ..engine.transit import PHASES
    from ..sweep.configuration_transit import configuration_transit, configuration_work, has_moving_labels

    index = result.best if index is None else index
    mode = getattr(args, "transit", "auto")
    if index is None or mode == "off" or not has_moving_labels(sim):
        return None
    if not transit_allowed(mode, configuration_work(sim, result, index, PHASES), sim.world):
        return None
    return configuration_transit(sim, result, index, progress=progress_every())


def _error(message: str) -> None:
    print(f"swb: error: {message}", file=sys.stderr, flush=True)


def demo_spec_path() -> Path:
    return Path(str(files("swb.scenes").joinpath(DEMO_SPEC)))


def run_demo_sweep(sim, *, samples: int = 1024, top: int = 5, progress: bool = True) -> str:  # noqa: ANN001
    """The bundled scan tunnel's small sweep (scenes/scan_tunnel_sweep.toml) on an open simulation; returns the
    ranked table. Its arrays land in ``sim.sweep_layer``, so a later ``sim.save`` keeps them."""
    result = sim.sweep(spec=demo_spec_path(), samples=samples, progress=ProgressBar("demo sweep") if progress else None)
    return "\n".join([*result.summary_lines(), "", result.ranked_table(top)])
