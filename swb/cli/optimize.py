"""`swb optimize`: design a camera placement that reaches a read-rate goal with the fewest cameras (or the best
read rate with K cameras), and optionally write it as a new stage.

``add_optimize_commands(subparsers)`` adds the sub-command. User errors raise ``SwbError`` before anything is
written (the CLI prints one line and exits 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .cluster import add_cluster_args, cluster_from_args
from .common import add_device_args, positive_int, progress
from .transit import add_transit_arg, run_transit


def _rate(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a read rate such as 0.995 or 99.5%, got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1] (or (0, 100]%), got {text!r}")
    return value


def add_optimize_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "optimize", help="design the fewest cameras (poses, lenses, settings) that reach a read-rate goal",
        description="Solve a design problem (a SwbDesign prim on the stage, or a TOML spec authored into it): "
        "candidate cameras in the mount regions are evaluated against every label sample, then greedy, an exact "
        "integer program (HiGHS) and CMA-ES refinement choose the cameras. See docs/optimize.md.")
    p.add_argument("scene", type=Path, help="a USD station (.usd, .usda, .usdc)")
    p.add_argument("--spec", type=Path, help="design TOML file to author into the stage")
    p.add_argument("--name", help="which of the stage's designs to solve (default: its only one)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--goal-read-rate", type=_rate, metavar="R",
                      help="fewest cameras reaching this read rate (0.995 or 99.5%%; overrides the spec's goal)")
    goal.add_argument("--cameras", type=positive_int, metavar="K", help="best read rate with K cameras")
    p.add_argument("--candidates", type=positive_int, help="candidate cameras to start from (overrides the spec)")
    p.add_argument("--seed", type=int, help="seed of candidates and refinement (overrides the spec)")
    p.add_argument("--safety", metavar="RG", help="eye safety: no zone may exceed this risk group (exempt, RG1, "
                   "RG2, RG3; none) from the lights the design keeps (overrides the spec; docs/lighting.md)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--apply", type=Path, metavar="OUT.usda",
                   help="write the chosen cameras as a new stage (OUT.usda + OUT.design.usda; the scene is untouched) "
                   "and check that it reproduces the read rate")
    add_transit_arg(p)
    add_device_args(p)
    add_cluster_args(p, "candidate x label matrix")
    p.set_defaults(handler=cmd_optimize)


class PhaseProgress:
    """One line per phase on a terminal's stderr (a bar while it runs); phase ends elsewhere."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.phase = ""
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        new = phase != self.phase
        if new and self.phase and self.tty:
            print(file=sys.stderr)
        self.phase = phase
        if self.tty and (new or now - self.last > 0.1 or done >= total):
            fill = int(30 * done / max(total, 1))
            print(f"\r[swb] {phase:<11} [{'#' * fill}{'.' * (30 - fill)}] {done:,}/{total:,} {now - self.t0:.1f} s",
                  end="", file=sys.stderr, flush=True)
            self.last = now
        elif not self.tty and done >= total:
            progress(f"{phase}: {total:,} done at {now - self.t0:.1f} s")

    def close(self) -> None:
        if self.tty and self.phase:
            print(file=sys.stderr)


def cmd_optimize(args: argparse.Namespace) -> int:
    import swb

    from ..optimize.apply import verify_design, write_design

    if args.seed is not None and args.seed < 0:
        from ..errors import SwbError

        raise SwbError(f"--seed must not be negative, got {args.seed}")
    cluster = cluster_from_args(args)
    progress(f"loading {args.scene}")
    sim = swb.open(args.scene, device=args.device, threads=args.threads)
    progress(f"{len(sim.scene.cameras)} sensor cameras, {len(sim.scene.targets)} targets")
    bar = PhaseProgress()
    try:
        result = sim.optimize(args.name, spec=args.spec, read_rate=args.goal_read_rate, cameras=args.cameras,
                              candidates=args.candidates, seed=args.seed, safety=args.safety, progress=bar,
                              cluster=cluster)
    finally:
        bar.close()
        if cluster is not None:
            cluster.close()
    doc = result.to_json() if args.json else None
    status = 0
    transit_line = None
    if args.apply is not None:
        written = write_design(sim, result, args.apply)
        check = verify_design(written, result, device=args.device, threads=args.threads)
        if doc is not None:
            doc["applied"] = {"stage": str(written), "verified": check.ok, "read_rate": check.rate_applied}
        (progress if check.ok else _error)(check.message())
        progress(f"wrote {written} and {written.with_name(written.stem + '.design.usda')}")
        status = 0 if check.ok else 1
        transits = _design_transit(sim, written, args)
        if transits is not None:
            designed, authored = transits
            transit_line = (f"transit read rate of the written design (the moving labels as authored, every frame; "
                            f"docs/results.md): {100 * designed.station_read_rate():.2f} % (independent looks "
                            f"{100 * designed.station_read_rate(True):.2f} %), the station as authored "
                            f"{100 * authored.station_read_rate():.2f} %")
            if doc is not None:
                doc["applied"]["transit"] = {"read_rate": designed.station_read_rate(),
                                             "read_rate_independent_looks": designed.station_read_rate(True),
                                             "as_authored_read_rate": authored.station_read_rate()}
    print(json.dumps(doc, indent=1) if doc is not None else result.report())
    if transit_line is not None and doc is None:
        print(transit_line)
    return status


def _design_transit(sim, written: Path, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """(the written design's transits, the station's as authored) when labels move and --transit allows: the
    validated transit read rate of the designed cameras, beside the optimiser's own design read rate."""
    import swb

    from ..engine.transit import label_speeds

    if args.transit == "off" or not (label_speeds(sim.scene.targets) > 0.0).any():
        return None
    designed = run_transit(swb.open(written, device=args.device, threads=args.threads), args.transit)
    if designed is None:
        return None
    authored = run_transit(sim, args.transit)
    return None if authored is None else (designed, authored)


def _error(message: str) -> None:
    print(f"swb: error: {message}", file=sys.stderr, flush=True)
