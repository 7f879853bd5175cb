"""Where a cluster run goes: ``--cluster ray`` (a local Ray cluster SWB starts and stops), ``ray://auto`` (the
cluster this machine joined with ``ray start``) or ``ray://HOST[:PORT]`` (a Ray client server, port 10001 unless
given). Parsed and checked (is the address reachable at all?) before anything is evaluated, so a typo or a head
node that is down is one clear line, not a minute of retries."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..errors import SwbError

CLIENT_PORT = 10001  # `ray start --head` serves Ray clients here by default
FORMS = "ray (a local cluster), ray://auto (the cluster this machine joined) or ray://HOST[:PORT] (a Ray client server)"


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed ``--cluster`` value."""

    kind: str  # "local", "auto" or "client"
    host: str = ""
    port: int = 0
    text: str = "ray"

    @property
    def ray_address(self) -> str:
        """What ``ray.init(address=...)`` gets."""
        return {"local": "local", "auto": "auto"}.get(self.kind, f"ray://{self.host}:{self.port}")

    def describe(self) -> str:
        return {"local": "a local Ray cluster", "auto": "the Ray cluster of this machine"}.get(
            self.kind, f"the Ray cluster at {self.host}:{self.port}")


def parse_cluster(text: str) -> ClusterAddress:
    """``ray``, ``ray://auto`` or ``ray://HOST[:PORT]`` (IPv6 hosts in brackets), or SwbError."""
    raw = str(text).strip()
    low = raw.lower()
    if low == "ray":
        return ClusterAddress("local", text=raw)
    if not low.startswith("ray://"):
        raise SwbError(f"unknown cluster {raw!r}", hint=f"use {FORMS}")
    rest = raw[len("ray://"):].rstrip("/")
    if rest.lower() == "auto":
        return ClusterAddress("auto", text=raw)
    host, port = _host_port(rest, raw)
    return ClusterAddress("client", host, port, raw)


def _host_port(rest: str, raw: str) -> tuple[str, int]:
    if not rest or "/" in rest or "@" in rest:
        raise SwbError(f"cannot read a host in cluster address {raw!r}", hint=f"use {FORMS}")
    if rest.startswith("["):  # [IPv6]:port
        host, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
        if tail and not tail.startswith(":"):
            raise SwbError(f"cannot read cluster address {raw!r}", hint=f"use {FORMS}")
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    elif ":" in rest:
        raise SwbError(f"cannot read cluster address {raw!r}", hint="write an IPv6 host in brackets: ray://[::1]:10001")
    else:
        host, port_text = rest, ""
    if not host:
        raise SwbError(f"no host in cluster address {raw!r}", hint=f"use {FORMS}")
    if not port_text:
        return host, CLIENT_PORT
    try:
        port = int(port_text)
    except ValueError:
        raise SwbError(f"the port of cluster address {raw!r} is not a number", hint=f"use {FORMS}") from None
    if not 0 < port < 65536:
        raise SwbError(f"the port of cluster address {raw!r} is out of range", hint=f"use {FORMS}")
    return host, port


def check_reachable(address: ClusterAddress, timeout: float = 5.0) -> None:
    """SwbError unless a TCP connection to a client address opens within ``timeout`` seconds."""
    if address.kind != "client":
        return
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise SwbError(f"cannot reach the Ray cluster at {address.host}:{address.port}: unknown host "
                       f"({exc.strerror or exc})", hint="check the head node's name or address") from None
    except TimeoutError:
        raise SwbError(f"cannot reach the Ray cluster at {address.host}:{address.port}: no answer within "
                       f"{timeout:g} s", hint="is the head node up, and the port open to this machine?") from None
    except OSError as exc:
        raise SwbError(f"cannot reach the Ray cluster at {address.host}:{address.port}: "
                       f"{exc.strerror or exc}", hint="start the head with `ray start --head` (its Ray client "
                       f"server listens on port {CLIENT_PORT}), or use --cluster ray for a local cluster") from None
