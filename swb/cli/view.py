"""`swb view SCENE`: the live 3-D view in the browser (see swb.view)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_device_args, positive_int, progress


def add_view_commands(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("view", help="open a station (or a save) in a live 3-D view in the browser, edit it there")
    v.add_argument("scene", type=Path, help="a USD station, or a save written by --save or the view itself")
    v.add_argument("--port", type=positive_int, default=8080, help="port to listen on (default 8080)")
    v.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    v.add_argument("--save-dir", type=Path, default=None,
                   help="the folder saves from the page go into (default: the current folder)")
    add_device_args(v)
    v.set_defaults(handler=_cmd_view)


def _cmd_view(args: argparse.Namespace) -> int:
    import swb

    from ..stage.layers import open_layer
    from ..view import check_port, serve

    check_port(args.host, args.port)  # before the (long) load
    path = args.scene
    progress(f"loading {path}")
    is_save = path.is_file() and isinstance(open_layer(path).customLayerData.get("swb"), dict)
    sim = (swb.restore if is_save else swb.open)(path, device=args.device, threads=args.threads)
    progress(f"{len(sim.scene.cameras)} sensor cameras, {len(sim.scene.targets)} targets; evaluating")
    view = serve(sim, host=args.host, port=args.port, save_dir=args.save_dir, log=progress, title=path.name)
    progress(f"open {view.url} in a browser; Ctrl-C stops")
    try:
        view.wait()
    finally:
        view.close()
        progress(view.latency_summary())
    return 0
