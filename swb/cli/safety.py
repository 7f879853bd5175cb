"""`swb safety SCENE [--json] [--out DIR] [--limit RG]`: eye safety of every illuminator (IEC 62471 risk group),
a hazard map over every SwbZoneAPI zone, aimer laser classes (IEC 60825-1); with --limit the exit status is 1
when a zone is above it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .common import add_device_args, progress


def add_safety_command(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("safety", help="eye safety of lights (IEC 62471) over the zones where people are, "
                       "aimer laser classes (IEC 60825-1)")
    p.add_argument("scene", type=Path, help="a USD station with UsdLux lights and SwbZoneAPI zones")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", type=Path, help="folder for NAME.png, NAME.viz.usda, NAME.usda, NAME.json, NAME.txt")
    p.add_argument("--name", help="file name stem (default: <scene>.safety)")
    p.add_argument("--limit", help="highest risk group allowed in any zone (exempt, RG1, RG2): exit 1 above it")
    add_device_args(p, threads=False)
    p.set_defaults(handler=_cmd_safety)


def _cmd_safety(args: argparse.Namespace) -> int:
    from ..safety.check import assess_items, group_index, load
    from ..safety.output import table, write_outputs

    limit = group_index(args.limit) if args.limit is not None else None
    t0 = time.perf_counter()
    items = load(args.scene)
    points = sum(int(z.counts().prod()) for z in items.zones)
    progress(f"safety: {len(items.lights)} lights, {len(items.zones)} zones ({points} eye positions), "
             f"{len(items.aimers)} aimers")
    report = assess_items(items, args.device)
    progress(f"safety: assessed in {time.perf_counter() - t0:.2f} s")
    if args.out is not None:
        name = args.name or f"{args.scene.stem}.safety"
        files = write_outputs(report, items, args.scene, args.out, name, limit)
        progress("wrote " + ", ".join(str(f) for f in files.values()))
    if args.json:
        print(json.dumps(report.to_json(limit), indent=2))
    else:
        print(table(report, limit))
    if limit is not None and not all(v.ok for v in report.verdict(limit)):
        return 1
    return 0
