"""`--cluster` options shared by `swb sweep` and `swb optimize` (docs/cluster.md)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import SwbError
from .common import positive_int, progress


def add_cluster_args(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_argument_group("cluster", f"run the {what} on Ray workers; the result is the same (docs/cluster.md)")
    g.add_argument("--cluster", metavar="ray[://ADDRESS]",
                   help="ray: a local Ray cluster for this run; ray://auto: the cluster this machine joined with "
                   "`ray start`; ray://HOST[:PORT]: a cluster's Ray client server (default port 10001)")
    g.add_argument("--workers", type=positive_int, metavar="N",
                   help="worker processes (default: one per GPU, or one per node using all its cores)")
    g.add_argument("--cluster-device", choices=("cpu", "cuda"),
                   help="the workers' device (default: one GPU each when the cluster has GPUs, else CPU)")
    g.add_argument("--ship-stage", action="store_true",
                   help="send the stage to the workers (a USDZ package of every layer it uses) instead of reading "
                   "it at the same path on every node")
    g.add_argument("--cluster-timeout", type=positive_int, default=600, metavar="S",
                   help="give up when no chunk finishes, or workers do not start, within S seconds (default 600)")


def cluster_from_args(args: argparse.Namespace) -> Any:
    """A ``swb.cluster.Cluster`` for ``--cluster`` (started on first use; the caller closes it), or None."""
    if args.cluster is None:
        extra = [flag for flag, on in (("--workers", args.workers is not None),
                                       ("--cluster-device", args.cluster_device is not None),
                                       ("--ship-stage", args.ship_stage)) if on]
        if extra:
            raise SwbError(f"{extra[0]} needs --cluster", hint="e.g. --cluster ray for a local cluster")
        return None
    from ..cluster import Cluster
    from ..cluster.address import check_reachable

    cluster = Cluster(args.cluster, workers=args.workers, device=args.cluster_device, ship=args.ship_stage,
                      timeout=args.cluster_timeout, setup_timeout=args.cluster_timeout, log=progress)
    check_reachable(cluster.address)  # before the stage is loaded: a wrong address is the first thing said
    return cluster
