"""Sweeps and designs on a Ray cluster (docs/cluster.md): ``Cluster`` (a local cluster, or one joined at
``ray://HOST:PORT`` / ``ray://auto``) and the seams that run chunks of configurations or candidate cameras on its
workers, with results identical to a single process."""

from .address import ClusterAddress, parse_cluster
from .session import Cluster

__all__ = ["Cluster", "ClusterAddress", "parse_cluster"]
